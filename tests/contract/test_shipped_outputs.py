"""Every shipped model gives the outputs recorded for it (same inputs, same seed): a refactor must
not change what the shipped models draw or score. The record comes from
``scripts/record_shipped_outputs.py``."""

from __future__ import annotations

import json
import math

import pytest

from shipped_outputs import RECORD, SHIPPED, fingerprint


def test_every_shipped_model_is_recorded():
    from multigan.core.module import assets_dir

    shipped = sorted(f"{p.parent.name}/{p.name}" for p in (assets_dir() / "checkpoints").glob("*/*")
                     if (p / "config.json").is_file())
    assert sorted(SHIPPED) == shipped == sorted(json.loads(RECORD.read_text()))


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_output_matches_the_record(name):
    want = json.loads(RECORD.read_text())[name]
    got = fingerprint(SHIPPED[name]())
    assert got["shape"] == want["shape"]
    scale = max(1.0, want["abs_sum"])
    assert math.isclose(got["sum"], want["sum"], abs_tol=1e-4 * scale)
    assert math.isclose(got["abs_sum"], want["abs_sum"], abs_tol=1e-4 * scale)
    for a, b in zip(got["values"], want["values"]):
        assert math.isclose(a, b, abs_tol=1e-3), (got["values"], want["values"])
