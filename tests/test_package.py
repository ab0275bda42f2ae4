"""Package-level behaviour: cheap import, CLI basics, device resolution."""

import json
import subprocess
import sys
import time

import pytest
import torch

import multigan
from multigan.cli import main
from multigan.core.device import resolve_device, resolve_precision


def _import_seconds(code: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def test_import_is_cheap_beyond_torch():
    torch_only = _import_seconds("import torch")
    with_multigan = _import_seconds("import torch, multigan, multigan.core, multigan.io, multigan.cli")
    assert with_multigan - torch_only < 1.0
    heavy = subprocess.run([sys.executable, "-c", "import sys, multigan.core, multigan.io, multigan.cli; "
                            "print(sorted(m for m in ('trimesh', 'av', 'pretty_midi', 'transformers', 'skimage', "
                            "'torchaudio', 'matplotlib') if m in sys.modules))"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert heavy == "[]"


def test_device_and_precision_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device("auto")
    assert auto.type in ("cuda", "mps", "cpu")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu:9")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_cli_info_and_unbuilt_modality(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "multigan " + multigan.__version__ in out and "wgan-gp" in out
    assert "anomaly/brain-mri" in out and "music/bach" in out                  # shipped checkpoints listed
    assert main(["sample", "nonsense"]) == 2
    assert "unknown modality 'nonsense'" in capsys.readouterr().err


def test_cli_bench_runs_a_tiny_config(capsys, tmp_path):
    assert main(["bench", "--configs", "gaussians", "--device", "cpu", "--steps", "3", "--rounds", "1",
                 "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "| gaussians | cpu | fp32 |" in out
    assert (tmp_path / "b.json").read_text().count("trainer_it_s") == 1
    assert main(["bench", "--configs", "nope"]) == 2


def test_scoring_speed_times_both_methods(capsys, tmp_path):
    from multigan.anomaly.train import format_scoring_speed, scoring_speed

    rows = scoring_speed(n=3, iterations=4, width=4, size=16)
    assert [(r["method"], r["iterations"], r["images"]) for r in rows] == [("izif", 0, 3), ("search", 4, 3)]
    assert all(r["images_per_s"] > 0 for r in rows)
    assert rows[1]["ratio"] == pytest.approx(rows[0]["images_per_s"] / rows[1]["images_per_s"])
    table = format_scoring_speed(rows)
    assert "| search | 4 | 3 |" in table and f"ratio: {rows[1]['ratio']:.0f}×" in table
    with pytest.raises(ValueError, match="iterations must be an int >= 1"):
        scoring_speed(n=2, iterations=0, width=4, size=16)
    assert main(["bench", "--configs", "gaussians", "--device", "cpu", "--steps", "2", "--rounds", "1", "--scoring",
                 "--scoring-images", "2", "--scoring-iterations", "2", "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "anomaly scoring" in out and "| izif | — | 2 |" in out and "| search | 2 | 2 |" in out
    saved = json.loads((tmp_path / "b.json").read_text())
    assert [r.get("method") for r in saved] == [None, "izif", "search"]
    assert main(["bench", "--configs", "gaussians", "--scoring", "--scoring-images", "0"]) == 2
    assert "n must be an int >= 1" in capsys.readouterr().err


def test_cli_demo_writes_every_kind(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    overlays = [f"anomaly/overlays/brain_mri_test_{name}.png" for name in
                ("00000_z031", "00001_z111", "00002_z059", "00003_z119", "00004_z091", "00005_z127",
                 "00006_z127", "00010_z043")]                      # 4 normal + 4 lesioned test slices
    assert written == [*overlays, "anomaly/scores.csv", "image/grid.png", "music/melody.mid", "music/melody.wav",
                       "music/roll.png", "music/scale.mid", "music/scale.wav", "text2image/grid.png",
                       "video/clip.mp4", "video/grid.gif", "video/square.gif", "video/square.mp4", "voxel/chair.glb", "voxel/preview.png", "voxel/table.obj",
                       "voxel/torus.glb", "voxel/torus.obj"]
    assert all((tmp_path / w).stat().st_size > 100 for w in written)
    assert "wrote 25 files" in capsys.readouterr().out
    import csv
    rows = list(csv.DictReader(open(tmp_path / "anomaly" / "scores.csv")))
    flagged = [r["truth"] for r in rows if r["label"] == "anomalous"]
    assert len(rows) == 8 and flagged.count("anomalous") >= 2                  # the shipped model finds lesions
    score = {r["name"]: float(r["score"]) for r in rows}
    assert min(score[r["name"]] for r in rows if r["label"] == "anomalous") > \
        max(score[r["name"]] for r in rows if r["label"] == "normal")          # one threshold splits them
    mean = {t: sum(score[r["name"]] for r in rows if r["truth"] == t) / 4 for t in ("normal", "anomalous")}
    assert mean["anomalous"] > mean["normal"]


def test_cli_demo_without_shipped_models_skips_each_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MULTIGAN_ASSETS", str(tmp_path / "no-assets"))
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    for modality in ("music", "video", "voxel", "anomaly", "text2image"):
        assert err.count(f"{modality} demo skipped: no checkpoint folder") == 1, modality
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert not [w for w in written if w.startswith(("anomaly/", "text2image/", "voxel/chair", "video/clip"))]
