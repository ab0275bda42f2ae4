"""Exact resume across processes, and DDP over 2 CPU processes equals 1 process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

JOB = Path(__file__).with_name("_jobs.py")


def run(*args: str) -> None:
    run_together([*args])


def run_together(*jobs: list[str]) -> None:
    """Run each job in its own process (one thread each), all at once; fail if any fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    procs = [subprocess.Popen([sys.executable, *args], env=env) for args in jobs]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * len(jobs), (jobs, codes)


def test_resume_is_bit_exact(tmp_path):
    n = 7   # crosses data epochs (8 batches each, 2 per iteration) and the R1 interval
    run_together([str(JOB), "resume", str(tmp_path / "straight.safetensors"), str(2 * n)],
                 [str(JOB), "resume", str(tmp_path / "half.safetensors"), str(n), "--save", str(tmp_path / "ckpt")])
    run(str(JOB), "resume", str(tmp_path / "resumed.safetensors"), str(2 * n), "--from", str(tmp_path / "ckpt"))
    straight, resumed = load_file(tmp_path / "straight.safetensors"), load_file(tmp_path / "resumed.safetensors")
    half = load_file(tmp_path / "half.safetensors")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert not all(torch.equal(straight[k], half[k]) for k in straight)    # training went on after resume


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_ddp_two_processes_match_one(tmp_path):
    run(str(JOB), "ddp", str(tmp_path / "one.safetensors"))
    run("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(JOB), "ddp",
        str(tmp_path / "two.safetensors"))
    one, two = load_file(tmp_path / "one.safetensors"), load_file(tmp_path / "two.safetensors")
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5, rtol=1e-4), key
    assert {p.name for p in tmp_path.iterdir()} == {"one.safetensors", "two.safetensors", "one.safetensors.final",
                                                   "two.safetensors.final"}   # export: no second or temp copy
    moved = load_file(tmp_path / "one.safetensors")
    assert any(v.abs().sum() > 0 for v in moved.values())
