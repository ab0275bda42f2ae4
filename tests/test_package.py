"""Package-level behaviour: cheap import, CLI basics, device resolution."""

import json
import subprocess
import sys

import pytest
import torch

import multigan
from multigan.cli import main
from multigan.core.device import resolve_device, resolve_precision


def test_import_is_cheap_beyond_torch():
    code = ("import time, sys; import torch; start = time.perf_counter(); "
            "import multigan, multigan.core, multigan.io, multigan.cli; print(time.perf_counter() - start); "
            "print(sorted(m for m in ('trimesh', 'av', 'pretty_midi', 'transformers', 'skimage', 'torchaudio', "
            "'matplotlib') if m in sys.modules))")
    seconds, heavy = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                    text=True).stdout.split("\n")[:2]
    assert float(seconds) < 1.0 and heavy == "[]"


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


def test_cpu_bf16_names_the_native_instructions(monkeypatch):
    from multigan.core.device import cpu_bf16

    def capabilities(**flags):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, **flags}, raising=False)

    capabilities(avx512_bf16=True, amx_bf16=False)
    assert cpu_bf16() == "AVX512-BF16"
    capabilities(avx512_bf16=True, amx_bf16=True)
    assert cpu_bf16() == "AMX-BF16"
    capabilities(sve_bf16=True)
    assert cpu_bf16() == "SVE-BF16"
    capabilities(avx512_bf16=False, amx_tile=True)
    assert cpu_bf16() == ""                                   # AMX tiles without AMX-BF16: not native
    monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    assert cpu_bf16() == ""                                   # a torch without the helper: not native
    with pytest.warns(UserWarning, match="no native bf16 dot products"):
        assert resolve_precision("bf16", torch.device("cpu")) == "bf16"        # allowed, with the reason it is slow


def test_cli_info_and_unbuilt_modality(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "multigan " + multigan.__version__ in out and "wgan-gp" in out
    assert "anomaly/brain-mri" in out and "music/bach" in out                  # shipped checkpoints listed
    assert "CPU bf16: " in out
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
    from multigan.anomaly.evaluate import format_scoring_speed, scoring_speed

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


def test_cli_demo_reports_each_failing_modality_and_runs_the_rest(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MULTIGAN_ASSETS", str(tmp_path / "no-assets"))
    assert main(["demo", "--out", str(tmp_path / "out"), "--patterns"]) == 1
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    for modality in ("music", "video", "voxel", "anomaly", "text2image"):
        line = [e for e in err if e.startswith(f"multigan demo: {modality} failed: FileNotFoundError: ")]
        assert len(line) == 1 and "no checkpoint folder" in line[0], (modality, err)
    assert err[-1] == "multigan demo: 5 of the modalities failed: music, voxel, video, text2image, anomaly"
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["image/grid.png", "index.html", "music/scale.mid", "music/scale.wav", "video/square.gif",
                       "video/square.mp4", "voxel/torus.glb", "voxel/torus.obj"]      # --patterns: the writers' own
    assert "wrote 8 files" in captured.out


def test_cli_demo_lists_the_files_a_failing_modality_wrote(tmp_path, capsys, monkeypatch):
    import multigan.music as music

    def half_demo(out_dir, seed=0):
        out_dir.mkdir(parents=True)
        (out_dir / "melody.mid").write_bytes(b"MThd")
        raise RuntimeError("synthesiser crashed\nsecond line")

    monkeypatch.setattr(music, "demo", half_demo)
    monkeypatch.setattr(multigan, "available_modalities", lambda: ["music"])
    assert main(["demo", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "multigan demo: music failed: RuntimeError: synthesiser crashed\n" in captured.err
    assert str(tmp_path / "music" / "melody.mid") in captured.out and "wrote 2 files" in captured.out
    assert 'href="music/melody.mid"' in (tmp_path / "index.html").read_text()


def test_bench_times_shipped_configurations_with_their_training_rules(capsys):
    """Shipped configurations run the trainer alone (no bare loop) with the training.json's rules; rounds are
    sized by time unless --steps is given; --option overrides a TrainerConfig field and is checked."""
    from multigan.bench import BENCHMARKS, run_benchmark
    from multigan.music import MidiNet

    import multigan.music  # noqa: F401  (registers music-bach)

    options = BENCHMARKS["music-bach"].trainer_options()
    assert options["g_steps"] == 2 and options["feature_matching"] == 0.1 and options["ema_decay"] == 0.999
    assert {k: options[k] for k in ("reuse_fake", "channels_last") if k in options} == \
        {k: v for k, v in MidiNet.trainer_defaults().items() if k in ("reuse_fake", "channels_last")}
    row = run_benchmark("music-bach", device="cpu", warmup=1, rounds=2, round_seconds=0.01,
                        options={"reuse_fake": True})
    assert row["bare_it_s"] is None and row["overhead_pct"] is None and row["batch"] == 72
    assert row["steps_per_round"] == 1 and row["options"]["reuse_fake"] is True
    low, high = row["trainer_s_it_range"]
    assert low <= row["trainer_s_it"] <= high
    assert main(["bench", "--configs", "gaussians", "--option", "nonsense=1"]) == 2
    assert "--option 'nonsense=1'" in capsys.readouterr().err


def test_sample_without_seed_prints_the_seed_that_repeats_it(tmp_path, capsys):
    import re

    import torch

    from multigan.music import MidiNet

    torch.manual_seed(0)
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "m")
    base = ["sample", "music", "--chords", "C G Am F", "--model", str(tmp_path / "m")]
    assert main([*base, "--out", str(tmp_path / "a.mid")]) == 0
    seed = int(re.search(r"add --seed (\d+) to make the same samples again", capsys.readouterr().err).group(1))
    assert main([*base, "--out", str(tmp_path / "b.mid"), "--seed", str(seed)]) == 0
    assert "--seed" not in capsys.readouterr().err                   # given: nothing to report
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
