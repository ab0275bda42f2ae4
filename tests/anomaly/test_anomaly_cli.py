"""Anomaly CLI: score a folder into a report (CSV + JSON + overlays), eval a labelled folder, train end to end."""

import csv
import json
import math
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from multigan.anomaly import AnoGAN
from multigan.anomaly.cli import cli, train_options
from multigan.anomaly.evaluate import balanced_subset, evaluate_model
from multigan.anomaly.recipe import train


def _disc(size, radius, value):
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size), 40, np.uint8)
    img[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius ** 2] = value
    return img


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for sub in ("normal", "abnormal", "masks"):
        (root / "labelled" / sub).mkdir(parents=True)
    (root / "healthy").mkdir()
    for i in range(24):
        Image.fromarray(_disc(16, 5 + rng.integers(0, 2), 200)).save(root / "healthy" / f"h{i}.png")
    for i in range(4):
        Image.fromarray(_disc(16, 5, 200)).save(root / "labelled" / "normal" / f"n{i}.png")
        img = _disc(16, 5, 200)
        img[2:5, 2:5] = 255
        mask = np.zeros((16, 16), np.uint8)
        mask[2:5, 2:5] = 255
        Image.fromarray(img).save(root / "labelled" / "abnormal" / f"a{i}.png")
        Image.fromarray(mask).save(root / "labelled" / "masks" / f"a{i}.png")
    (root / "labelled" / "abnormal" / "junk.png").write_bytes(b"not a png")
    return root


@pytest.fixture(scope="module")
def model_dir(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    final = train(out, normal=str(folders / "healthy"), size=16, width=4, steps=2, encoder_steps=5, batch_size=8,
                  search_iterations=3, search_calibration_images=5, checkpoint_every=2, log_every=1, device="cpu", precision="fp32",
                  command="pytest")
    return final


def test_train_writes_calibrated_model(model_dir):
    info = json.loads((model_dir / "training.json").read_text())
    assert info["iterations"] == 2 and info["encoder_iterations"] == 5 and info["command"] == "pytest"
    assert info["encoder_lr"] == 1e-4
    assert info["train_images"] + info["val_images"] == 24
    det = AnoGAN.from_pretrained(model_dir)
    assert det.image_size == 16 and not det.training
    assert float(det.thresholds[0]) == pytest.approx(info["thresholds"]["izif"], rel=1e-3)
    assert int(det.calibration_iterations) == 3
    assert info["search_calibration_images"] == 5 and set(info["thresholds"]) == {"izif", "search"}


def _script(name):
    """A module of ``scripts/`` (maintenance tools, not part of the package), imported by path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_set_search_options_recalibrates_only_the_search(model_dir, folders, tmp_path):
    from multigan.anomaly.metrics import threshold_at_fpr
    from multigan.anomaly.recipe import normal_sets

    set_scoring_options = _script("set_anomaly_scoring_options").set_scoring_options
    before = AnoGAN.from_pretrained(model_dir)
    out = set_scoring_options(model_dir, tmp_path / "m", normal=str(folders / "healthy"), search_starts=3,
                              search_lr=0.05, search_restarts=2, search_iterations=2, search_calibration_images=4,
                              fpr=0.25, command="set options")
    det = AnoGAN.from_pretrained(out)
    assert (det.search_starts, det.search_lr, det.search_restarts, det.image_size) == (3, 0.05, 2, 16)
    for key, value in before.state_dict().items():                 # the networks are not touched
        if key not in ("thresholds", "calibration_iterations"):
            assert torch.equal(det.state_dict()[key], value), key
    assert float(det.thresholds[0]) == float(before.thresholds[0]) and int(det.calibration_iterations) == 2
    assert det.domain == before.domain is not None                  # the training profile travels along
    _, val = normal_sets(str(folders / "healthy"), 16, 1, det.preprocess)
    first4 = val.subset(torch.arange(4))
    scores = det.score(first4, method="search", iterations=2).scores     # the model's own search options
    assert float(det.thresholds[1]) == pytest.approx(float(threshold_at_fpr(scores, 0.25)), rel=1e-3)
    info = json.loads((out / "training.json").read_text())
    assert info["commands"][-2:] == ["pytest", "set options"] and info["command"] == "set options"
    assert {k: info["scoring_options"][k] for k in ("search_starts", "search_lr", "search_restarts", "fpr")} == {
        "search_starts": 3, "search_lr": 0.05, "search_restarts": 2, "fpr": 0.25}
    assert info["thresholds"]["search"] == pytest.approx(float(det.thresholds[1]), rel=1e-3)
    assert info["thresholds"]["izif"] == json.loads((model_dir / "training.json").read_text())["thresholds"]["izif"]
    with pytest.raises(ValueError, match="search_starts"):
        set_scoring_options(model_dir, tmp_path / "bad", normal=str(folders / "healthy"), search_starts=0)
    with pytest.raises(ValueError, match="unknown scoring option"):
        set_scoring_options(model_dir, tmp_path / "bad", width=8)
    assert not (tmp_path / "bad").exists()


def test_set_map_options_recalibrates_f_anogan(model_dir, folders, tmp_path):
    from multigan.anomaly.metrics import threshold_at_fpr
    from multigan.anomaly.recipe import normal_sets

    set_scoring_options = _script("set_anomaly_scoring_options").set_scoring_options
    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    (folder / "README.md").write_text("# the model card\n")
    opts = dict(normal=str(folders / "healthy"), search_iterations=2, search_calibration_images=4, fpr=0.25)
    out = set_scoring_options(folder, folder, map_margin=1, map_top=0.05, image_score="map", **opts)   # in place
    assert out == folder and (folder / "README.md").read_text() == "# the model card\n"   # the card is kept
    det = AnoGAN.from_pretrained(out)
    assert (det.map_margin, det.map_top, det.image_score) == (1, 0.05, "map")
    _, val = normal_sets(str(folders / "healthy"), 16, 1, det.preprocess)
    scores = det.score(val, method="izif").scores                  # margin 1, top 5 % of the map
    assert float(det.thresholds[0]) == pytest.approx(float(threshold_at_fpr(scores, 0.25)), rel=1e-3)
    whole = det.score(val, method="izif", map_margin=0).scores
    assert not torch.allclose(scores, whole)                       # the margin changed the scores calibrated on
    info = json.loads((out / "training.json").read_text())
    assert info["thresholds"]["izif"] == pytest.approx(float(det.thresholds[0]), rel=1e-3)
    assert info["scoring_options"]["map_margin"] == 1
    n_commands = len(info["commands"])
    set_scoring_options(folder, tmp_path / "same", map_margin=1, **opts)   # the model's own value: nothing changes
    same = json.loads((tmp_path / "same" / "training.json").read_text())
    assert same["thresholds"] == info["thresholds"] and len(same["commands"]) == n_commands + 1
    info["calibration"] = {"rule": "f1", "on": "labelled/"}
    (folder / "training.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="calibrated by best F1"):
        set_scoring_options(folder, tmp_path / "f1", map_margin=2, **opts)


def test_set_map_views_recalibrates_f_anogan_alone(model_dir, folders, tmp_path):
    from multigan.anomaly.metrics import threshold_at_fpr
    from multigan.anomaly.recipe import normal_sets

    set_scoring_options = _script("set_anomaly_scoring_options").set_scoring_options
    opts = dict(normal=str(folders / "healthy"), search_iterations=2, search_calibration_images=4, fpr=0.25)
    first = AnoGAN.from_pretrained(set_scoring_options(model_dir, tmp_path / "a", image_score="map", **opts))
    out = set_scoring_options(tmp_path / "a", tmp_path / "b", map_views="flip", **opts)
    det = AnoGAN.from_pretrained(out)
    assert det.map_views == "flip"
    assert float(det.thresholds[1]) == float(first.thresholds[1])    # the search does not use the views
    _, val = normal_sets(str(folders / "healthy"), 16, 1, det.preprocess)
    scores = det.score(val, method="izif").scores
    assert not torch.allclose(scores, det.score(val, method="izif", map_views="one").scores)
    assert float(det.thresholds[0]) == pytest.approx(float(threshold_at_fpr(scores, 0.25)), rel=1e-3)
    assert json.loads((out / "training.json").read_text())["scoring_options"]["map_views"] == "flip"


def test_train_with_ema_exports_averaged_generator(folders, tmp_path):
    from safetensors.torch import load_file

    from multigan.core.checkpoint import EMA_NAME, latest_checkpoint

    final = train(tmp_path, normal=str(folders / "healthy"), size=16, width=4, steps=3, encoder_steps=2, batch_size=8,
                  calibrate_search=False, ema_decay=0.5, checkpoint_every=3, device="cpu", precision="fp32",
                  command="pytest")
    assert json.loads((final / "training.json").read_text())["trainer"]["ema_decay"] == 0.5
    ckpt = latest_checkpoint(tmp_path / "checkpoints")
    ema = load_file(str(ckpt / EMA_NAME))
    raw = load_file(str(ckpt / "model" / "model.safetensors"))
    exported = AnoGAN.from_pretrained(final).generator.state_dict()
    weights = [k for k in ema if k.endswith("weight") or k.endswith("bias")]
    assert weights and any(not torch.equal(ema[k], raw["generator." + k]) for k in weights)
    for k in weights:                                              # the averaged weights are exported
        assert torch.equal(exported[k], ema[k].half().float()), k
    stats = [k for k in ema if k.endswith("running_mean")]
    assert stats and all(not torch.equal(exported[k], ema[k].half().float()) for k in stats)   # re-estimated
    loaded = AnoGAN.from_pretrained(ckpt).generator.state_dict()  # a checkpoint's EMA G: statistics re-estimated too
    by_hand = AnoGAN.from_pretrained(ckpt / "model")
    by_hand.generator.load_state_dict(ema)
    by_hand.recalibrate_generator()
    for k, value in by_hand.generator.state_dict().items():
        assert torch.equal(loaded[k], value), k
    assert all(not torch.equal(loaded[k], ema[k]) for k in stats)


def test_init_from_warm_starts_every_network(model_dir, folders, tmp_path):
    """--init-from: G, D and E start from an exported model, iterations count on, its commands carry over."""
    opts = dict(normal=str(folders / "healthy"), size=16, width=4, batch_size=8, calibrate_search=False,
                checkpoint_every=10, device="cpu", precision="fp32", init_from=str(model_dir))
    before = AnoGAN.from_pretrained(model_dir).state_dict()
    same = train(tmp_path / "same", steps=2, encoder_steps=0, **opts, command="warm")    # nothing left to train
    after = AnoGAN.from_pretrained(same).state_dict()
    nets = [k for k in before if k.split(".")[0] in ("generator", "discriminator", "encoder")]
    assert {k.split(".")[0] for k in nets} == {"generator", "discriminator", "encoder"}
    for key in nets:
        assert torch.equal(after[key], before[key]), key
    assert float(after["thresholds"][0]) == pytest.approx(float(before["thresholds"][0]), rel=1e-3)
    more = train(tmp_path / "more", steps=3, encoder_steps=1, map_shift=1, **opts, command="more")
    info = json.loads((more / "training.json").read_text())
    assert info["iterations"] == 3 and info["init_from"] == {"model": str(model_dir), "iterations": 2}
    assert info["commands"] == ["pytest", "more"] and AnoGAN.from_pretrained(more).map_shift == 1
    trained = AnoGAN.from_pretrained(more).state_dict()
    assert any(not torch.equal(trained[k], before[k]) for k in nets if k.startswith("generator."))
    with pytest.raises(ValueError, match=r"init-from .*width"):
        train(tmp_path / "wide", steps=3, encoder_steps=0, **{**opts, "width": 8}, command="wide")
    assert not (tmp_path / "wide").exists()                                  # refused before anything is written
    assert train_options(["--out", "x", "--init-from", "brain-mri"]).init_from == "brain-mri"
    assert train_options(["--out", "x"]).init_from is None


def test_init_from_a_smaller_model_grows_it(model_dir, folders, tmp_path):
    """--init-from a model of half the image size and twice the width: its layers become the grown
    model's deeper ones (AnoGAN.load_grown_weights), the rest start fresh, and training goes on."""
    small = AnoGAN.from_pretrained(model_dir)
    opts = dict(normal=str(folders / "healthy"), size=32, width=2, batch_size=8, calibrate_search=False,
                checkpoint_every=10, device="cpu", precision="fp32", init_from=str(model_dir))
    grown = train(tmp_path / "grown", steps=2, encoder_steps=0, **opts, command="grow")  # nothing left to train
    info = json.loads((grown / "training.json").read_text())
    assert info["init_from"] == {"model": str(model_dir), "iterations": 2,
                                 "grown_from": {"image_size": 16, "width": 4}, "new_tensors": 18}
    det = AnoGAN.from_pretrained(grown)
    assert det.image_size == 32 and torch.isfinite(det.thresholds[0])          # calibrated anew
    assert torch.equal(det.discriminator.out.weight, small.discriminator.out.weight)
    assert torch.equal(det.generator.net[0].weight, small.generator.net[0].weight)
    from multigan.anomaly.recipe import normal_sets
    assert det.score(normal_sets(str(folders / "healthy"), 32, 1)[1]).scores.shape == (5,)
    on = train(tmp_path / "on", steps=3, encoder_steps=1, **opts, command="on")
    assert json.loads((on / "training.json").read_text())["iterations"] == 3
    with pytest.raises(ValueError, match=r"init-from .*cannot grow a 32×32 model of width 4"):
        train(tmp_path / "bad", steps=3, encoder_steps=0, **{**opts, "width": 4}, command="bad")
    assert not (tmp_path / "bad").exists()


def test_resume_exports_with_new_scoring_options(folders, tmp_path, capsys):
    """Scoring options do not touch training: a finished run resumes to export and calibrate them."""
    opts = dict(normal=str(folders / "healthy"), size=16, width=4, steps=2, encoder_steps=2, batch_size=8,
                calibrate_search=False, checkpoint_every=2, device="cpu", precision="fp32")
    first = AnoGAN.from_pretrained(train(tmp_path, **opts, command="first"))
    final = train(tmp_path, **opts, resume=True, map_shift=1, map_sigma=1.0, image_score="map", search_starts=3,
                  search_lr=0.05, search_restarts=2, command="second")
    det = AnoGAN.from_pretrained(final)
    assert (det.map_shift, det.map_sigma, det.image_score, det.search_starts, det.search_lr, det.search_restarts) == (
        1, 1.0, "map", 3, 0.05, 2)
    for key, value in first.state_dict().items():                  # same networks, nothing retrained
        if key != "thresholds":
            assert torch.equal(det.state_dict()[key], value), key
    info = json.loads((final / "training.json").read_text())
    assert info["commands"][-2:] == ["first", "second"]
    from multigan.anomaly.metrics import threshold_at_fpr
    from multigan.anomaly.recipe import normal_sets
    _, val = normal_sets(str(folders / "healthy"), 16, 1)
    expect = threshold_at_fpr(det.score(val).scores, 0.05)            # calibrated on the new image scores
    assert float(det.thresholds[0]) == pytest.approx(float(expect), rel=0.05)
    assert float(det.thresholds[0]) != pytest.approx(float(first.thresholds[0]), rel=0.05)
    assert cli("eval", ["--model", str(final), "--data", str(folders / "labelled"), "--methods", "izif",
                        "--json", str(tmp_path / "eval.json")]) == 0
    assert 0 <= json.loads((tmp_path / "eval.json").read_text())["izif"]["image_auroc"] <= 1
    assert ("shift tolerance 1 px, Gaussian smoothing σ = 1 px; f-AnoGAN views: one; image score: map (tissue "
            "margin 0 px); search: best of 2 search(es), each from the best of 3 start(s), Adam lr 0.05"
            ) in capsys.readouterr().out
    assert cli("eval", ["--model", str(final), "--data", str(folders / "labelled"), "--methods", "izif",
                        "--search-starts", "2", "--search-lr", "0.01", "--search-restarts", "5",
                        "--map-views", "flip"]) == 0
    shown = capsys.readouterr().out
    assert "search: best of 5 search(es), each from the best of 2 start(s), Adam lr 0.01" in shown
    assert "f-AnoGAN views: flip;" in shown
    assert cli("eval", ["--model", str(final), "--data", str(folders / "labelled"), "--methods", "izif",
                        "--map-margin", "2", "--json", str(tmp_path / "margin.json")]) == 0
    assert "image score: map (tissue margin 2 px)" in capsys.readouterr().out
    margin = json.loads((tmp_path / "margin.json").read_text())["izif"]
    assert "f1" not in margin                                          # other scores: the threshold does not hold
    parsed = train_options(["--out", "x", "--map-margin", "3", "--map-top", "0.005"])
    assert (parsed.map_margin, parsed.map_top) == (3, 0.005)
    parsed = train_options(["--out", "x", "--search-starts", "4", "--search-lr", "0.005", "--search-restarts", "2"])
    assert (parsed.search_starts, parsed.search_lr, parsed.search_restarts) == (4, 0.005, 2)
    assert train_options(["--out", "x", "--no-crop"]).preprocess == "none"
    assert train_options(["--out", "x"]).grouped()["scoring"]["search_lr"] == 0.02


def test_cli_score_report_lists_failures(model_dir, folders, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli("score", [str(folders / "labelled"), "--model", str(model_dir), "--out", str(tmp_path / "r")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "r" / "scores.csv")))
    assert len(rows) == 9                                            # 8 images + the unreadable one
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and "junk.png" in failed[0]["name"]
    assert all(r["label"] in ("anomalous", "normal") for r in rows if r["status"] != "failed")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["method"] == "izif" and report["counts"]["failed"] == 1
    assert len(list((tmp_path / "r" / "overlays").glob("*.png"))) == 8


def test_cli_score_volume_writes_map_volume_and_montage(model_dir, tmp_path, capsys):
    """A NIfTI volume in: per-slice rows, a volume verdict, the map as NIfTI on the input's grid."""
    nib = pytest.importorskip("nibabel")
    volume = np.zeros((16, 16, 6), np.float32)
    for z in range(1, 5):
        volume[:, :, z] = _disc(16, 5, 200).astype(np.float32)
    affine = np.diag([1.5, 1.5, 4.0, 1.0])
    nib.save(nib.Nifti1Image(volume, affine), str(tmp_path / "scan.nii.gz"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli("score", [str(tmp_path / "scan.nii.gz"), "--model", str(model_dir), "--out",
                             str(tmp_path / "r")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "r" / "scores.csv")))
    assert [(r["volume"], r["slice"]) for r in rows] == [("scan.nii.gz", str(z)) for z in range(1, 5)]
    (vol,) = json.loads((tmp_path / "r" / "report.json").read_text())["volumes"]
    assert vol["file"] == "scan.nii.gz" and vol["slices"] == 4
    judged = [r for r in rows if r.get("unlike_training", "no") != "yes"] or rows       # equal heads: no share cut
    assert vol["score"] == pytest.approx(max(float(r["score"]) for r in judged))
    assert vol["slices_not_judged"] == len(rows) - len(judged)
    written = nib.load(str(tmp_path / "r" / "scan_anomaly.nii.gz"))
    assert written.shape == (16, 16, 6)
    np.testing.assert_array_equal(written.affine, affine)
    data = written.get_fdata()
    assert data[:, :, 1:5].any() and not data[:, :, [0, 5]].any() and (data >= 0).all()
    assert Image.open(tmp_path / "r" / "scan_montage.png").size[1] > 4 * 64
    assert "scan.nii.gz: score" in capsys.readouterr().out


def test_cli_eval_prints_metrics(model_dir, folders, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli("eval", ["--model", str(model_dir), "--data", str(folders / "labelled"),
                            "--methods", "izif", "search", "--iterations", "3"]) == 0
    out = capsys.readouterr().out
    assert "| izif |" in out and "| search |" in out and "image_auroc" in out and "pixel_auroc" in out


def test_cli_eval_csv_holds_the_scores_it_evaluated(model_dir, folders, tmp_path, monkeypatch):
    """``--csv`` writes the first method's scores from the evaluation itself: the set is scored once."""
    from multigan.anomaly import read_images

    calls = []
    score = AnoGAN.score
    monkeypatch.setattr(AnoGAN, "score", lambda self, *a, **k: calls.append(k["method"]) or score(self, *a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli("eval", ["--model", str(model_dir), "--data", str(folders / "labelled"), "--methods", "search",
                            "izif", "--iterations", "2", "--csv", str(tmp_path / "s.csv")]) == 0
        assert calls == ["search", "izif"]
        data = read_images(str(folders / "labelled"), size=16)
        expect = score(AnoGAN.from_pretrained(model_dir), data, method="search", iterations=2)
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["name"] for r in ok] == list(expect.names) and len(ok) == 8
    assert [float(r["score"]) for r in ok] == pytest.approx(expect.scores.tolist(), rel=1e-5)
    assert {r["truth"] for r in ok} == {"normal", "anomalous"}


def test_map_sigma_in_eval_and_score(model_dir, folders, tmp_path, capsys):
    from multigan.anomaly import read_images
    from multigan.anomaly.models import gaussian_blur

    det = AnoGAN.from_pretrained(model_dir)
    data = read_images(str(folders / "labelled"), size=16)
    raw = evaluate_model(det, data, methods=["izif"])["izif"]
    smooth = evaluate_model(det, data, methods=["izif"], map_sigma=1.5)["izif"]
    assert smooth["image_auroc"] == raw["image_auroc"] and smooth["pixel_auroc"] != raw["pixel_auroc"]
    assert cli("eval", ["--model", str(model_dir), "--data", str(folders / "labelled"), "--methods", "izif",
                        "--map-sigma", "1.5"]) == 0
    assert "σ = 1.5 px" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli("score", [str(folders / "labelled" / "normal"), "--model", str(model_dir), "--out",
                             str(tmp_path / "r"), "--map-sigma", "1.5"]) == 0
    got = {r["name"]: r for r in csv.DictReader(open(tmp_path / "r" / "scores.csv"))}
    res = det.score(read_images(str(folders / "labelled" / "normal"), size=16))
    expect = gaussian_blur(res.maps, 1.5).flatten(1).max(1).values
    for name, value in zip(res.names, expect.tolist()):
        assert float(got[name]["max_map"]) == pytest.approx(value, rel=1e-4)


def test_cli_bad_input(model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises((FileNotFoundError, ValueError)):
        cli("score", [str(tmp_path / "empty"), "--model", str(model_dir), "--out", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()
    with pytest.raises(NotImplementedError):
        cli("sample", [])
    rgb = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="greyscale"):
        AnoGAN.from_pretrained(model_dir).score(rgb)


def test_balanced_subset_and_search_limit(model_dir, folders):
    labels = torch.tensor([0] * 6 + [1] * 3)
    idx = balanced_subset(labels, 4, seed=1)
    assert idx.tolist() == sorted(idx.tolist()) and len(set(idx.tolist())) == 4
    assert int((labels[idx] == 0).sum()) == 2 and int((labels[idx] == 1).sum()) == 2
    assert torch.equal(idx, balanced_subset(labels, 4, seed=1))
    with pytest.raises(ValueError, match="label 1"):
        balanced_subset(labels, 8)
    from multigan.anomaly import read_images
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = read_images(str(folders / "labelled"), size=16)
    table = evaluate_model(AnoGAN.from_pretrained(model_dir), test, methods=("izif", "search"), iterations=2,
                           search_images=4)
    assert table["izif"]["images"] == 8 and table["search"]["images"] == 4


def test_example_script_writes_report(model_dir, folders, tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "score_medical_images.py"
    out = tmp_path / "report"
    monkeypatch.setattr(sys, "argv", [str(script), str(folders / "labelled" / "normal"), "--model", str(model_dir),
                                      "--out", str(out)])
    with pytest.raises(SystemExit) as done, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runpy.run_path(str(script), run_name="__main__")
    assert done.value.code == 0
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert len(list((out / "overlays").glob("*.png"))) == 4
    assert "score" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", [str(script), "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit) as failed:
        runpy.run_path(str(script), run_name="__main__")
    assert failed.value.code == 1 and not (tmp_path / "x").exists()


def test_train_selects_encoder_on_labelled_folder(folders, tmp_path):
    """--select-on: the exported encoder is the checkpoint with the best image AUROC on the labelled set."""
    from multigan.anomaly import read_images
    from multigan.anomaly.recipe import _selection_auroc

    final = train(tmp_path, normal=str(folders / "healthy"), size=16, width=4, steps=2, encoder_steps=6, batch_size=8,
                  encoder_lr=3e-3, calibrate_search=False, checkpoint_every=2, log_every=1, device="cpu",
                  precision="fp32", select_on=str(folders / "labelled"), command="pytest")
    info = json.loads((final / "training.json").read_text())["encoder_selection"]
    curve = [row["auroc"] for row in info["curve"]]
    assert [row["step"] for row in info["curve"]] == [1, 2, 3, 4, 5, 6]
    assert info["images"] == 8 and info["abnormal"] == 4 and info["on"].endswith("labelled")
    assert info["auroc"] == max(curve) and info["step"] == info["curve"][curve.index(max(curve))]["step"]
    det = AnoGAN.from_pretrained(final)
    labelled = read_images(str(folders / "labelled"), size=16)
    assert _selection_auroc(det, labelled) == pytest.approx(info["auroc"], abs=1e-6)
    with pytest.raises(ValueError, match="healthy' is not labelled"):
        train(tmp_path / "again", normal=str(folders / "healthy"), size=16, width=4, steps=1, encoder_steps=1,
              batch_size=8, calibrate_search=False, device="cpu", select_on=str(folders / "healthy"))
    assert not (tmp_path / "again" / "checkpoints").exists()          # refused before any training


def test_train_calibrates_by_f1_on_a_labelled_folder(folders, tmp_path):
    """--calibrate-on: thresholds are the best-F1 splits on the labelled folder, not the --fpr rule."""
    from multigan.anomaly import read_images
    from multigan.anomaly.evaluate import stratified_subset
    from multigan.anomaly.metrics import best_f1_threshold

    final = train(tmp_path, normal=str(folders / "healthy"), size=16, width=4, steps=2, encoder_steps=3, batch_size=8,
                  search_iterations=2, search_calibration_images=6, checkpoint_every=2, device="cpu",
                  precision="fp32", calibrate_on=str(folders / "labelled"), command="pytest")
    info = json.loads((final / "training.json").read_text())
    assert info["calibration"]["rule"] == "f1" and info["calibration"]["images"] == 8 and info["fpr"] is None
    assert info["calibration"]["on"].endswith("labelled") and info["search_calibration_images"] == 6
    det = AnoGAN.from_pretrained(final)
    labelled = read_images(str(folders / "labelled"), size=16)
    scores = det.score(labelled, method="izif").scores                  # fp16 export: scores move slightly
    assert info["thresholds"]["izif"] == pytest.approx(best_f1_threshold(scores, labelled.labels)[0], rel=1e-2)
    assert float(det.thresholds[0]) == pytest.approx(info["thresholds"]["izif"], rel=1e-3)
    assert not math.isnan(info["thresholds"]["search"])
    picked = stratified_subset(torch.tensor([0] * 30 + [1] * 10), 8, seed=1)
    assert len(picked) == 8 and int((picked >= 30).sum()) == 2 and torch.equal(picked, picked.sort().values)
    with pytest.raises(ValueError, match="calibrate_on '.*healthy' is not labelled"):
        train(tmp_path / "again", normal=str(folders / "healthy"), size=16, width=4, steps=1, encoder_steps=1,
              batch_size=8, calibrate_search=False, device="cpu", calibrate_on=str(folders / "healthy"))
    assert not (tmp_path / "again" / "checkpoints").exists()          # refused before any training


def test_train_refuses_a_torchrun_job(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="runs in one process"):
        train(tmp_path / "run", steps=1)
    assert not (tmp_path / "run").exists()


def test_time_limit_returns_the_checkpoint_and_resume_finishes(folders, tmp_path, capsys):
    """Cut by the time limit, nothing is exported (the encoder is not trained); --resume finishes the run."""
    from multigan.anomaly.recipe import train_encoder

    opts = dict(normal=str(folders / "healthy"), size=16, width=4, steps=3, encoder_steps=2, batch_size=8,
                calibrate_search=False, checkpoint_every=10, device="cpu", precision="fp32")
    stopped = train(tmp_path, **opts, time_limit=1e-9, command="first")
    assert stopped == tmp_path / "checkpoints" / "step-0000001" and not (tmp_path / "final").exists()
    final = train(tmp_path, **opts, resume=True, command="second")
    info = json.loads((final / "training.json").read_text())
    assert info["iterations"] == 3 and info["commands"] == ["first", "second"]
    det = AnoGAN.from_pretrained(final)
    log = train_encoder(det, torch.rand(16, 1, 16, 16) * 2 - 1, steps=5, batch_size=4, progress=False,
                        state_file=tmp_path / "enc.pt", time_limit=1e-9)
    assert log[-1]["step"] == 1 and log[-1]["stopped_by_time_limit"] is True
    assert torch.load(tmp_path / "enc.pt", weights_only=True)["step"] == 1
    assert cli("train", ["--normal", str(folders / "healthy"), "--out", str(tmp_path / "cli"), "--size", "16",
                         "--width", "4", "--steps", "2", "--batch-size", "8", "--device", "cpu",
                         "--time-limit", "0.000001"]) == 0
    assert "time limit reached" in capsys.readouterr().out


def test_ctrl_c_in_the_encoder_stage_keeps_its_state_and_resume_finishes(folders, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the encoder trains: the state of the finished iteration is written, the command to go
    on is printed, the log holds no row past it; --resume then finishes the run and exports it."""
    import os
    import signal

    from multigan.cli import main

    izif = AnoGAN.izif_loss
    calls = []

    def interrupted_loss(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)           # as a terminal's Ctrl-C, in encoder iteration 2
        return izif(self, *args, **kwargs)

    monkeypatch.setattr(AnoGAN, "izif_loss", interrupted_loss)
    out = tmp_path / "run"
    argv = ["train", "anomaly", "--normal", str(folders / "healthy"), "--out", str(out), "--size", "16", "--width",
            "4", "--steps", "2", "--encoder-steps", "6", "--batch-size", "8", "--device", "cpu",
            "--search-iterations", "2", "--search-calibration-images", "4"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted at encoder iteration 2/6" in err and "continue with: multigan train anomaly" in err
    assert "--resume" in err and "Traceback" not in err and not (out / "final").exists()
    assert torch.load(out / "encoder_state.pt", weights_only=True)["step"] == 2
    rows = [json.loads(line) for line in (out / "encoder_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2] and rows[-1]["interrupted"] is True
    monkeypatch.setattr(AnoGAN, "izif_loss", izif)
    assert main(argv + ["--resume"]) == 0
    rows = [json.loads(line) for line in (out / "encoder_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 6]
    info = json.loads((out / "final" / "training.json").read_text())
    assert info["encoder_iterations"] == 6 and len(info["commands"]) == 2
