"""benchmarks/compare_reference.py: paired timing of an adapter's reference iteration against multigan."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _harness():
    spec = importlib.util.spec_from_file_location("compare_reference", ROOT / "benchmarks" / "compare_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ADAPTER = '''
import torch
OURS = "gaussians"
BATCH = 8
CALLS = []
AUTOCAST = []

def build(reference, batch_size):
    net = torch.nn.Linear(2, 3)
    CALLS.append((str(reference), batch_size))
    def step():
        AUTOCAST.append(torch.is_autocast_enabled("cpu"))
        net(torch.randn(batch_size, 2)).sum().backward()
    return step, {"G": net}
'''


def test_paired_timing_of_an_adapter(tmp_path, capsys):
    harness = _harness()
    (tmp_path / "toy.py").write_text(ADAPTER)
    adapter = harness.load_adapter(tmp_path / "toy.py")
    row = harness.compare(adapter, tmp_path / "ref", pairs=2, steps=1, threads=1, progress=False)
    assert adapter.CALLS == [(str(tmp_path / "ref"), 8)] and row["batch"] == 8 and row["ours"] == "gaussians"
    assert row["reference_params"] == {"G": 9} and row["multigan_params"]["G"] > 0
    assert row["multigan_range"][0] <= row["multigan_s_it"] <= row["multigan_range"][1]
    assert row["ratio_range"][0] <= row["ratio"] <= row["ratio_range"][1] and row["ratio"] > 0
    assert set(adapter.AUTOCAST) == {False} and row["precision"] == row["reference_precision"] == "fp32"
    text = harness.format_result(row)
    assert "multigan `gaussians`, fp32" in text and "G 0.00 M" in text and "2 pairs of 1 iterations" in text
    (tmp_path / "bad.py").write_text("OURS = 'x'\n")
    with pytest.raises(ValueError, match="lacks BATCH, build"):
        harness.load_adapter(tmp_path / "bad.py")
    with pytest.raises(FileNotFoundError):
        harness.load_adapter(tmp_path / "none.py")


def test_both_sides_can_run_in_bf16(tmp_path):
    harness = _harness()
    (tmp_path / "toy.py").write_text(ADAPTER)
    adapter = harness.load_adapter(tmp_path / "toy.py")
    row = harness.compare(adapter, tmp_path / "ref", pairs=1, steps=1, threads=1, progress=False,
                          precision="bf16", reference_precision="bf16")
    assert set(adapter.AUTOCAST) == {True}           # warm-up and timed rounds of the reference in autocast
    assert row["precision"] == row["reference_precision"] == "bf16"
    text = harness.format_result(row)
    assert "multigan `gaussians`, bf16" in text and "reference, bf16" in text
    with pytest.raises(ValueError, match="reference_precision must be one of fp32, bf16, got 'fp16'"):
        harness.compare(adapter, tmp_path / "ref", pairs=1, steps=1, threads=1, progress=False,
                        reference_precision="fp16")
