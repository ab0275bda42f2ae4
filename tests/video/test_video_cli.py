"""Video training entry point and CLI (train on a folder, sample, eval) with a tiny DVD-GAN."""

import json

import pytest
import torch

from multigan.io.video import read_video, write_video
from multigan.video import DVDGAN
from multigan.video.cli import cli, train_options
from multigan.video.evaluate import evaluate_model, format_metrics
from multigan.video.recipe import train

TINY = {"frames": 4, "size": 32, "channels": 1, "latent_dim": 8, "embed_dim": 8, "width": 4, "k_frames": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("videos")
    for label, shift in (("left", -1), ("right", 1)):
        for i in range(2):
            frames = torch.zeros(8, 1, 32, 32)
            for t in range(8):
                x = 12 + shift * t + i
                frames[t, :, 10:20, x:x + 6] = 1.0
            write_video(frames, root / label / f"{i}.mp4", fps=8)
    out = tmp_path_factory.mktemp("run")
    final = train(out, steps=2, preset=TINY, folder=str(root), batch_size=2, device="cpu", precision="fp32",
                  log_every=1, checkpoint_every=2, seed=0, command="pytest")
    return root, final


def test_train_on_folder_writes_model(trained):
    _, final = trained
    info = json.loads((final / "training.json").read_text())
    assert info["iterations"] == 2 and info["command"] == "pytest" and info["examples"] == 8
    model = DVDGAN.from_pretrained(final)
    assert model.classes == ["left", "right"]


def test_cli_sample_writes_videos(trained, tmp_path):
    _, final = trained
    assert cli("sample", ["--model", str(final), "--label", "right", "-n", "2", "--seed", "0",
                          "--out", str(tmp_path / "c_{i}.mp4")]) == 0
    frames = read_video(tmp_path / "c_0.mp4")
    assert len(frames) == 4 and (tmp_path / "c_1.mp4").is_file()
    assert cli("sample", ["--model", str(final), "--label", "left", "-n", "2", "--grid",
                          "--out", str(tmp_path / "g.gif")]) == 0
    assert (tmp_path / "g.gif").stat().st_size > 100
    with pytest.raises(ValueError):
        cli("sample", ["--model", str(final), "--label", "up", "--out", str(tmp_path / "x.mp4")])
    with pytest.raises(NotImplementedError):
        cli("score", [])


def test_evaluate_model_on_moving_mnist():
    torch.manual_seed(0)
    model = DVDGAN(**TINY, classes=[str(d) for d in range(10)])
    table = evaluate_model(model, n=6, seed=0)
    assert set(table) >= {"generated", "reference", "motion_in_data_range"}
    assert 0.0 <= table["generated"]["frame_accuracy"] <= 1.0
    assert table["reference"]["frame_accuracy"] > 0.8            # real clips, shipped classifier
    assert "| frame_accuracy |" in format_metrics(table)


def test_train_passes_optimiser_options(trained, tmp_path):
    root, _ = trained
    final = train(tmp_path, steps=1, preset=TINY, folder=str(root), batch_size=2, device="cpu", precision="fp32",
                  lr_g=3e-4, lr_d=2e-4, n_critic=1, ema_decay=0.9, seed=0, command="pytest")
    trainer = json.loads((final / "training.json").read_text())["trainer"]
    assert (trainer["lr_g"], trainer["lr_d"], trainer["n_critic"], trainer["ema_decay"]) == (3e-4, 2e-4, 1, 0.9)
    args = train_options(["--out", "x", "--lr-g", "3e-4", "--n-critic", "1", "--ema-decay", "0.99"])
    assert (args.lr_g, args.lr_d, args.n_critic, args.ema_decay) == (3e-4, None, 1, 0.99)


def test_cli_eval_reads_a_run_checkpoint(trained, capsys):
    root, final = trained
    step = final.parent / "checkpoints" / "step-0000002"
    for extra in ([], ["--raw"]):
        assert cli("eval", ["--model", str(step), "--n", "4", "--data", str(root), *extra]) == 0
        out = capsys.readouterr().out
        assert "| motion |" in out and "| diversity_l1 |" in out and "frame_accuracy" not in out
    with pytest.raises(ValueError, match="no built-in test data"):          # left/right: no digits, no footage
        cli("eval", ["--model", str(step), "--n", "4"])
    raw, ema = DVDGAN.from_pretrained(step, ema=False), DVDGAN.from_pretrained(final.parent)
    z = torch.randn(1, TINY["latent_dim"])
    assert not torch.equal(raw.generator(z, torch.tensor([0])), ema.generator(z, torch.tensor([0])))


def test_resume_after_a_lost_export_keeps_the_command_lineage(trained, tmp_path):
    import shutil

    root, _ = trained
    kw = dict(preset=TINY, folder=str(root), batch_size=2, device="cpu", precision="fp32", checkpoint_every=1, seed=0)
    shutil.rmtree(train(tmp_path, steps=1, command="first", **kw))            # as if stopped before exporting
    final = train(tmp_path, steps=2, resume=True, command="second", **kw)
    info = json.loads((final / "training.json").read_text())
    assert info["commands"] == ["first", "second"] and info["iterations"] == 2
    assert info["seconds_total"] > info["seconds_this_run"]


def test_time_limit_exports_the_iteration_reached_and_resume_goes_on(trained, tmp_path):
    root, _ = trained
    kw = dict(preset=TINY, folder=str(root), batch_size=2, device="cpu", precision="fp32", checkpoint_every=10, seed=0)
    final = train(tmp_path, steps=3, time_limit=1e-9, command="first", **kw)     # spent after one iteration
    info = json.loads((final / "training.json").read_text())
    assert info["iterations"] == 1 and info["stopped_by_time_limit"] is True
    assert info["trainer"]["time_limit"] == 1e-9
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-0000001"]
    final = train(tmp_path, steps=3, resume=True, command="second", **kw)
    info = json.loads((final / "training.json").read_text())
    assert info["iterations"] == 3 and info["stopped_by_time_limit"] is False
    assert info["commands"] == ["first", "second"]
    args = train_options(["--out", "x", "--time-limit", "2h30m"])
    assert args.time_limit == 9000.0
    with pytest.raises(SystemExit):
        train_options(["--out", "x", "--time-limit", "soon"])


def test_train_on_the_shipped_footage(tmp_path):
    final = train(tmp_path, steps=1, preset={k: v for k, v in TINY.items() if k != "channels"}, dataset="footage",
                  batch_size=2, device="cpu", precision="fp32", checkpoint_every=10, seed=0, command="pytest")
    info = json.loads((final / "training.json").read_text())
    assert info["data"] == "Footage (multigan/assets/video/footage)"
    gen, ref = info["metrics"]["generated"], info["metrics"]["reference"]     # no digit metrics for footage
    assert "frame_accuracy" not in gen and gen["motion"] > 0 and ref["motion"] > 0 and ref["diversity_l1"] > 0
    model = DVDGAN.from_pretrained(final)
    assert model.classes == ["box", "cup", "pedestrians"] and model.config["channels"] == 3
    clips = model.generate(1, label="pedestrians", seed=0)
    assert clips.clips.shape == (1, 4, 3, 32, 32) and clips.labels == ["pedestrians"]
    with pytest.raises(ValueError, match=r"no built-in test data for a model of classes \['left', 'right'\]"):
        evaluate_model(DVDGAN(**{**TINY, "channels": 3}, classes=["left", "right"]), n=2)
    with pytest.raises(ValueError, match="dataset must be one of"):
        train(tmp_path, steps=1, dataset="ucf")
    assert train_options(["--out", "x", "--dataset", "footage"]).dataset == "footage"


def test_in_training_evaluation_scores_digits_on_moving_mnist_and_motion_on_a_folder(trained, tmp_path):
    kw = dict(preset=TINY, batch_size=2, device="cpu", precision="fp32", checkpoint_every=10, seed=0, eval_n=0,
              eval_every=1, eval_size=4, command="pytest")
    train(tmp_path / "mnist", steps=2, **kw)
    rows = [json.loads(line) for line in (tmp_path / "mnist" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert 0.0 <= row["frame_accuracy"] <= 1.0 and 0.0 <= row["label_consistency"] <= 1.0
        assert row["motion"] >= 0 and row["motion_in_data_range"] in (0.0, 1.0)
    # the row is the EMA generator's at that iteration: the exported model at 2 scores the same
    info = json.loads((tmp_path / "mnist" / "final" / "training.json").read_text())
    assert info["eval"] == rows[-1] and info["python"] and info["iterations"] == 2      # the last one travels
    model = DVDGAN.from_pretrained(tmp_path / "mnist" / "final")
    assert model.training_metrics(None, n=4, seed=0)["frame_accuracy"] == pytest.approx(rows[-1]["frame_accuracy"])
    root, _ = trained                                              # your videos: compared with themselves
    train(tmp_path / "folder", steps=1, folder=str(root), **kw)
    row = json.loads((tmp_path / "folder" / "eval.jsonl").read_text())
    assert "frame_accuracy" not in row and row["motion"] > 0 and row["diversity_l1"] >= 0
    args = train_options(["--out", "x", "--eval-every", "500", "--eval-size", "32"])
    assert (args.eval_every, args.eval_size) == (500, 32)
