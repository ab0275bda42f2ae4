"""Faults a careless or unlucky user meets: runs are never mixed, a corrupt checkpoint is skipped,
replayed log rows are replaced, a diverged model is not exported, and errors are one line."""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch

from multigan.cli import _describe, main
from multigan.core import Trainer
from multigan.core.checkpoint import STATE_NAME, latest_checkpoint
from multigan.core.toys import MixtureGAN, ring_of_gaussians
from multigan.core.trainer import check_finite_weights, prepare_run_folder


def _trainer(out, steps=4, **options):
    torch.manual_seed(0)
    config = dict(steps=steps, batch_size=16, progress=False, out_dir=str(out), tensorboard=False, device="cpu",
                  checkpoint_every=2, log_every=1, ema_decay=0.9, keep_checkpoints=5)
    return Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), **{**config, **options})


def _steps_logged(out):
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_folder_holding_a_run_is_refused_without_resume_or_overwrite(tmp_path):
    first = _trainer(tmp_path)
    first.resume_run(False, "first")
    first.fit()
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    with pytest.raises(FileExistsError, match="already holds a run .*--resume .*--overwrite"):
        _trainer(tmp_path).resume_run(False, "second")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before        # untouched
    with pytest.raises(ValueError, match="give one of them"):
        _trainer(tmp_path).resume_run(True, "both", overwrite=True)
    (tmp_path / "notes.txt").write_text("mine")
    fresh = _trainer(tmp_path, steps=1)
    assert fresh.resume_run(False, "again", overwrite=True) == {"commands": [], "seconds_total": 0.0}
    assert fresh.step == 0 and not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.jsonl").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"                       # only the run's own files go
    fresh.fit()
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-0000001"]


def test_cli_refuses_to_mix_runs_in_one_line(tmp_path, capsys):
    args = ["train", "music", "--out", str(tmp_path), "--steps", "1", "--device", "cpu", "--eval-n", "2"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0] and "--overwrite" in err[0]
    assert main([*args, "--overwrite"]) == 0


def test_stale_temporaries_are_removed_when_a_run_starts(tmp_path):
    (tmp_path / "checkpoints" / ".step-0000004.abc.tmp").mkdir(parents=True)
    (tmp_path / "checkpoints" / ".step-0000002.old-77").mkdir()
    (tmp_path / "checkpoints" / ".step-0000004.abc.tmp" / "model").mkdir()
    (tmp_path / "checkpoints" / ".step-0000004.abc.tmp" / "model" / "config.json").write_text("{}")
    (tmp_path / ".final.x1.tmp" / "model").mkdir(parents=True)          # an interrupted export,
    (tmp_path / ".final.x1.tmp" / "model" / "config.json").write_text("{}")
    (tmp_path / ".metrics.x2.tmp.jsonl").write_text("{}")                # log rewrite and sample grid
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / ".step-0000002.x3.tmp.png").write_bytes(b"png")
    (tmp_path / ".my-notes.txt").write_text("mine")
    prepare_run_folder(tmp_path, resume=False)                  # temporaries alone are not a run
    assert list((tmp_path / "checkpoints").iterdir()) == [] and list((tmp_path / "samples").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".my-notes.txt", "checkpoints", "samples"]
    (tmp_path / "checkpoints" / ".step-0000005.abc.tmp").mkdir()
    (tmp_path / "checkpoints" / "keep.txt").write_text("x")
    prepare_run_folder(tmp_path, resume=True)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["keep.txt"]


def test_a_folder_with_only_the_logs_of_a_killed_run_is_refused_too(tmp_path, capsys):
    """A run killed before its first checkpoint leaves logs; a new run there would mix its rows in."""
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n')
    with pytest.raises(FileExistsError, match=r"already holds a run \(metrics.jsonl\)"):
        prepare_run_folder(tmp_path, resume=False)
    args = ["train", "music", "--out", str(tmp_path), "--steps", "1", "--device", "cpu", "--eval-n", "2"]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 2 and "nothing to resume" in capsys.readouterr().err
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'          # untouched
    assert main([*args, "--overwrite"]) == 0 and _steps_logged(tmp_path) == [1]


def test_a_corrupt_newest_checkpoint_is_reported_and_the_previous_used(tmp_path):
    run = _trainer(tmp_path)
    run.resume_run(False)
    run.fit()
    newest = latest_checkpoint(tmp_path / "checkpoints")
    assert newest.name == "step-0000004"
    state = newest / STATE_NAME
    state.write_bytes(state.read_bytes()[:100])                                  # truncated by a crash
    resumed = _trainer(tmp_path)
    with pytest.warns(RuntimeWarning, match="step-0000004 is unreadable .*resuming from step-0000002"):
        resumed.resume_run(True)
    assert resumed.step == 2
    weights = newest / "model" / "model.safetensors"
    weights.write_bytes(b"\x00" * 16)                                            # a bad header
    for other in (tmp_path / "checkpoints").glob("step-*"):
        if other != newest:
            shutil.rmtree(other)
    with pytest.raises(RuntimeError, match="no readable checkpoint"):
        _trainer(tmp_path).resume_run(True)


def test_a_training_state_holding_code_or_garbage_is_refused_in_one_line_without_unsafe_advice(tmp_path):
    import os
    import pickle

    run = _trainer(tmp_path)
    run.resume_run(False)
    run.fit()
    newest = latest_checkpoint(tmp_path / "checkpoints")

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    for content in (pickle.dumps(Payload()), b"x\n"):
        (newest / STATE_NAME).write_bytes(content)
        with pytest.warns(RuntimeWarning) as caught:
            _trainer(tmp_path).resume_run(True)
        text = str(caught[0].message)
        assert "step-0000004 is unreadable (UnreadableStateError: " in text and "resuming from step-0000002" in text
        assert "\n" not in text and "weights_only" not in text and not (tmp_path / "pwned").exists()
    assert "could run code" in text or "damaged" in text


def test_log_rows_of_replayed_iterations_are_replaced(tmp_path):
    run = _trainer(tmp_path)
    run.resume_run(False)
    run.fit()
    assert _steps_logged(tmp_path) == [1, 2, 3, 4]
    shutil.rmtree(tmp_path / "checkpoints" / "step-0000004")                    # killed before it was written
    resumed = _trainer(tmp_path, steps=5)
    resumed.resume_run(True)
    assert _steps_logged(tmp_path) == [1, 2]
    resumed.fit()
    assert _steps_logged(tmp_path) == [1, 2, 3, 4, 5]


def test_a_diverged_model_is_not_exported(tmp_path):
    run = _trainer(tmp_path / "run", steps=1)
    run.resume_run(False)
    run.fit()
    with torch.no_grad():
        run.ema.state_dict()[next(iter(run.ema.state_dict()))].view(-1)[0] = 1e6   # beyond fp16's 65504
    run.export(tmp_path / "fp32")                                                  # finite in fp32
    with pytest.raises(ValueError, match=r"not exported: 1 weight tensor\(s\) are not finite in float16"):
        run.export(tmp_path / "fp16", dtype=torch.float16)
    assert not (tmp_path / "fp16").exists()
    with pytest.raises(ValueError, match="not finite"):
        check_finite_weights({"generator.w": torch.tensor([float("nan")])})
    check_finite_weights({"discriminator.w": torch.tensor([float("inf")])}, components=["generator"])


def test_errors_users_cause_read_as_one_line(tmp_path, capsys):
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.mid"))
    assert _describe(full) == f"disk full while writing ({tmp_path / 'x.mid'}); free space or choose another --out"
    assert _describe(OSError(errno.EROFS, "Read-only file system", "/ro/x")) == \
        "cannot write (/ro/x): read-only file system"
    assert "disk full" in _describe(RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos 64"))
    from multigan.music import MidiNet
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    assert main(["sample", "music", "--chords", "C", "--model", str(tmp_path / "m"),
                 "--out", str(tmp_path / "o.mid")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt" in err[0] and not (tmp_path / "o.mid").exists()


def test_a_class_label_never_writes_outside_out(tmp_path):
    from multigan.io.utils import safe_file_stems
    from multigan.voxel import GAN3D

    assert safe_file_stems(["../../x", "a b/c", "..", "chair"]) == ["x", "a_b_c", "image_2", "chair"]
    torch.manual_seed(0)
    GAN3D(resolution=16, latent_dim=8, channels=(16, 8), embed_dim=4,
          classes=["../../escaped", "ok"]).save_pretrained(tmp_path / "m")
    assert main(["sample", "voxel", "--model", str(tmp_path / "m"), "--label", "../../escaped", "-n", "1", "--seed", "0",
                 "--format", "obj", "--out", str(tmp_path / "a" / "b")]) == 0
    assert not list(tmp_path.glob("escaped*"))
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["escaped_0.mtl", "escaped_0.obj"]


def test_a_diverging_run_stops_with_one_line_and_saves_nothing(tmp_path, capsys):
    from multigan.core.trainer import NonFiniteLossError

    run = _trainer(tmp_path / "run", steps=6, lr_g=1e6, lr_d=1e6)
    run.resume_run(False)
    with pytest.raises(NonFiniteLossError, match=r"weights reached .* \(max_weight 1e\+06\); the run has diverged"):
        run.fit()
    assert run.step == 1 and not list((tmp_path / "run").glob("checkpoints/step-*"))
    calm = _trainer(tmp_path / "calm", steps=2, lr_g=1e6, lr_d=1e6, max_weight=None)   # the check can be off
    calm.resume_run(False)
    calm.fit()
    assert calm.step == 2


def test_weights_are_checked_against_the_sha256_config_json_records(tmp_path):
    import warnings

    import multigan
    from multigan.core.module import ModelMixin, assets_dir
    from multigan.music import MidiNet

    for modality in multigan.available_modalities():                        # register every model type
        multigan.load_modality(modality)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                        # every shipped model is intact
        for config in sorted(assets_dir().glob("checkpoints/*/*/config.json")):
            assert len(json.loads(config.read_text())["weights_sha256"]) == 64, config
            ModelMixin.from_pretrained(config.parent)
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01                                                          # one bit of one weight flipped
    weights.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="SHA-256 differs"):
        MidiNet.from_pretrained(tmp_path / "m")


def test_a_prime_in_another_meter_is_refused_like_training_data(tmp_path):
    import pretty_midi

    from multigan.music import MidiNet

    def song(path, meter):
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        if meter:
            pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
        piano = pretty_midi.Instrument(0)
        piano.notes += [pretty_midi.Note(90, 60 + i, 0.5 * i, 0.5 * i + 0.5) for i in range(8)]
        pm.instruments.append(piano)
        pm.write(str(path))
        return path

    model = MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4)
    with pytest.raises(ValueError, match="first bar is in 3/4; a prime must be a 4/4 bar"):
        model.generate("C G", seed=0, prime=song(tmp_path / "waltz.mid", (3, 4)))
    for meter in ((4, 4), None):                                               # 4/4, stated or implied
        assert model.generate("C G", seed=0, prime=song(tmp_path / "four.mid", meter)).roll.shape[0] == 32


def test_a_bad_second_output_is_refused_before_the_first_is_written(tmp_path, capsys):
    from multigan.music import MidiNet
    from multigan.voxel import GAN3D

    torch.manual_seed(0)
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "m")
    assert main(["sample", "music", "--chords", "C G", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "a.mid"),
                 "--audio", str(tmp_path / "a.mp3")]) == 2
    assert "--audio" in capsys.readouterr().err and not (tmp_path / "a.mid").exists()
    assert main(["sample", "music", "--chords", "C G", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "a.mid"),
                 "--plot", str(tmp_path / "roll.svg")]) == 2
    assert not (tmp_path / "a.mid").exists()
    GAN3D(resolution=16, latent_dim=8, channels=(16, 8), embed_dim=4, classes=["a"]).save_pretrained(tmp_path / "v")
    assert main(["sample", "voxel", "--model", str(tmp_path / "v"), "--label", "a", "-n", "1",
                 "--out", str(tmp_path / "meshes"), "--preview", str(tmp_path / "p.xyz")]) == 2
    assert "--preview" in capsys.readouterr().err and not (tmp_path / "meshes").exists()


def test_files_that_belong_together_are_written_together_or_not_at_all(tmp_path, capsys, monkeypatch):
    """A failed audio rendering leaves no new MIDI file beside an old WAV; a failed preview leaves no meshes."""
    from multigan.music import MidiNet, Song
    from multigan.voxel import GAN3D, Shapes

    torch.manual_seed(0)
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "m")
    (tmp_path / "a.wav").write_bytes(b"old")

    def broken(self, path, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(Song, "write_audio", broken)
    argv = ["sample", "music", "--chords", "C G", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "a.mid"),
            "--audio", str(tmp_path / "a.wav")]
    assert main(argv) == 2
    assert "disk full" in capsys.readouterr().err
    assert not (tmp_path / "a.mid").exists() and (tmp_path / "a.wav").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "m"]          # no temporaries left
    monkeypatch.undo()
    assert main(argv) == 0 and (tmp_path / "a.mid").stat().st_size > 0 and (tmp_path / "a.wav").stat().st_size > 100
    GAN3D(resolution=16, latent_dim=8, channels=(16, 8), embed_dim=4, classes=["a"]).save_pretrained(tmp_path / "v")
    voxel = ["sample", "voxel", "--model", str(tmp_path / "v"), "--label", "a", "-n", "2", "--format", "obj",
             "--out", str(tmp_path / "meshes"), "--preview", str(tmp_path / "p.png")]
    monkeypatch.setattr(Shapes, "render", broken)
    assert main(voxel) == 2
    assert not (tmp_path / "meshes").exists() and not (tmp_path / "p.png").exists()
    monkeypatch.undo()
    assert main([*voxel, "--seed", "0"]) == 0                      # the user's earlier meshes and preview …
    before = {p.name: p.read_bytes() for p in [*(tmp_path / "meshes").iterdir(), tmp_path / "p.png"]}
    assert sorted(before) == ["a_0.mtl", "a_0.obj", "a_1.mtl", "a_1.obj", "p.png"]
    for part in ("render", "write_mesh"):                           # … survive a failed preview or a failed mesh
        monkeypatch.setattr(Shapes, part, broken)
        assert main([*voxel, "--seed", "5"]) == 2
        assert {p.name: p.read_bytes() for p in [*(tmp_path / "meshes").iterdir(), tmp_path / "p.png"]} == before
        assert not [p for p in tmp_path.rglob(".*") if p.is_file()]                     # no temporaries left
        monkeypatch.undo()


def test_work_is_bounded_with_one_line_before_anything_is_written(tmp_path, capsys):
    """-n above --max-n, and songs too long to plot or render, are refused before the first file."""
    from multigan.music import MidiNet
    from multigan.music.pipeline import MAX_PLOT_BARS
    from multigan.voxel import GAN3D

    GAN3D(resolution=16, latent_dim=8, channels=(16, 8), embed_dim=4, classes=["a"]).save_pretrained(tmp_path / "v")
    assert main(["sample", "voxel", "--model", str(tmp_path / "v"), "--label", "a", "-n", "300",
                 "--out", str(tmp_path / "meshes")]) == 2
    assert "--max-n 256" in capsys.readouterr().err and not (tmp_path / "meshes").exists()
    assert main(["sample", "voxel", "--model", str(tmp_path / "v"), "--label", "a", "-n", "3", "--max-n", "2",
                 "--out", str(tmp_path / "meshes")]) == 2
    assert main(["sample", "video", "-n", "65", "--out", str(tmp_path / "c.mp4")]) == 2
    assert "pass --max-n 65" in capsys.readouterr().err and not (tmp_path / "c.mp4").exists()
    torch.manual_seed(0)
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "m")
    chords = " ".join(["C"] * (MAX_PLOT_BARS + 1))
    assert main(["sample", "music", "--chords", chords, "--model", str(tmp_path / "m"), "--out",
                 str(tmp_path / "long.mid"), "--plot", str(tmp_path / "roll.png")]) == 2
    assert f"{MAX_PLOT_BARS + 1} bars" in capsys.readouterr().err and not (tmp_path / "long.mid").exists()
    assert main(["sample", "music", "--chords", chords, "--model", str(tmp_path / "m"), "--out",
                 str(tmp_path / "long.mid"), "--tempo", "2", "--audio", str(tmp_path / "long.wav")]) == 2
    assert "more than the 1800 s" in capsys.readouterr().err and not (tmp_path / "long.mid").exists()


def test_a_refused_training_folder_leaves_nothing_and_warnings_are_one_line(tmp_path):
    """Run as a user runs it (a process of its own: pytest would catch the warning itself)."""
    import subprocess
    import sys

    (tmp_path / "junk" / "chair").mkdir(parents=True)
    (tmp_path / "junk" / "chair" / "a.obj").write_text("not a mesh\n")
    done = subprocess.run([sys.executable, "-m", "multigan.cli", "train", "voxel", "--folder", str(tmp_path / "junk"),
                           "--out", str(tmp_path / "run"), "--steps", "1"], capture_output=True, text=True,
                          timeout=120)
    err = done.stderr.splitlines()
    assert done.returncode == 2 and len(err) == 2, done.stderr
    assert err[0].startswith("multigan train: warning: skipped 1 of 1 shape files")
    assert err[1].startswith("multigan train: error: no shape file") and not (tmp_path / "run").exists()


def test_keeping_k_checkpoints_never_holds_more_than_k_on_disk(tmp_path, monkeypatch):
    """The oldest checkpoint is removed before the next is written: a disk with room for two runs keep=2."""
    import multigan.core.checkpoint as ckpt_module

    seen = []
    trainer = _trainer(tmp_path, steps=8, checkpoint_every=1, keep_checkpoints=2)
    save = ckpt_module.save_training_checkpoint

    def counting(path, *args, **kwargs):
        seen.append(len(list((tmp_path / "checkpoints").glob("step-*"))))
        return save(path, *args, **kwargs)

    monkeypatch.setattr(ckpt_module, "save_training_checkpoint", counting)
    trainer.fit()
    assert max(seen) == 1 and len(seen) == 8                    # at most one old one while a new one is written
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*")) == ["step-0000007", "step-0000008"]


def test_a_checkpoint_that_cannot_fit_is_refused_before_anything_is_deleted_or_written(tmp_path, monkeypatch):
    """Free space is checked before a checkpoint write (counting what pruning frees): a disk too full
    refuses with ENOSPC and the size needed, keeps every checkpoint there is and leaves no temporary."""
    import collections

    import multigan.core.atomic as atomic

    trainer = _trainer(tmp_path, steps=2, checkpoint_every=1, keep_checkpoints=2)
    trainer.fit()
    folder = tmp_path / "checkpoints"
    size = atomic.folder_bytes(folder / "step-0000002")
    assert sorted(p.name for p in folder.iterdir()) == ["step-0000001", "step-0000002"] and size > 0
    usage = collections.namedtuple("usage", "total used free")
    free = {"bytes": 0}
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda _: usage(10**12, 10**12, free["bytes"]))
    trainer.step = 3
    with pytest.raises(OSError) as refused:              # pruning step-1 frees ~size; a new one needs ~1.1 size
        trainer.save_checkpoint()
    assert refused.value.errno == errno.ENOSPC and "the checkpoint step-0000003" in str(refused.value)
    assert sorted(p.name for p in folder.iterdir()) == ["step-0000001", "step-0000002"]    # nothing gone, no .tmp
    line = _describe(refused.value)
    assert line.startswith("not enough free space for the checkpoint step-0000003: it needs about")
    assert line.endswith(f"in {folder}; free space or choose another --out")
    free["bytes"] = size                                  # with what pruning frees, it fits
    trainer.save_checkpoint()
    assert sorted(p.name for p in folder.iterdir()) == ["step-0000002", "step-0000003"]


def test_sample_voxel_colour_is_checked_and_written_to_the_material(tmp_path, capsys):
    from multigan.voxel import GAN3D

    GAN3D(resolution=16, latent_dim=8, channels=(16, 8), embed_dim=4, classes=["a"]).save_pretrained(tmp_path / "v")
    base = ["sample", "voxel", "--model", str(tmp_path / "v"), "--label", "a", "-n", "1", "--seed", "0",
            "--out", str(tmp_path / "m")]
    assert main([*base, "--color", "2,0,0"]) == 2
    assert "--color must be three values" in capsys.readouterr().err and not (tmp_path / "m").exists()
    assert main([*base, "--color", "#cc4d33", "--format", "obj"]) == 0
    assert "Kd 0.8000 0.3020 0.2000" in (tmp_path / "m" / "a_0.mtl").read_text()


def test_a_bad_file_in_the_anomaly_training_folder_is_skipped_with_one_counted_warning(tmp_path):
    import numpy as np
    from PIL import Image

    from multigan.anomaly.recipe import normal_sets

    (tmp_path / "normal").mkdir()
    rng = np.random.default_rng(0)
    for i in range(11):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "normal" / f"{i}.png")
    (tmp_path / "normal" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match=r"skipped 1 of 12 inputs in .*broken\.png"):
        train_set, val_set = normal_sets(str(tmp_path / "normal"), 16, 1)
    assert len(train_set) + len(val_set) == 11
    (tmp_path / "normal" / "0.png").unlink()
    (tmp_path / "normal" / "1.png").unlink()
    with pytest.warns(UserWarning, match="skipped 1 of 10"), pytest.raises(ValueError, match="need at least 10"):
        normal_sets(str(tmp_path / "normal"), 16, 1)
