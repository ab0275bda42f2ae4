"""Time a reference implementation's training iteration against multigan's at the same architecture.

    python benchmarks/compare_reference.py benchmarks/reference_adapters/midinet.py ~/src/MidiNet-by-pytorch

The reference code is a folder you fetched yourself (nothing of it is part of multigan). An
*adapter* file says how to drive it; it defines

* ``OURS``: the ``multigan bench`` configuration with the same architecture (e.g. ``"music-bach"``);
* ``BATCH``: the batch both sides use (the reference's);
* ``build(reference: Path, batch_size: int) -> (step, networks)``: ``step()`` runs one full training
  iteration of the reference (its D and G updates, on in-memory random or real data) and
  ``networks`` maps names to its ``nn.Module`` s, whose parameters are counted.

Both sides run on the CPU with ``--threads`` threads, one warm-up iteration each, then ``--pairs``
pairs of timed rounds in alternating order (ours first, then the reference first, …); the table
gives each side's median seconds per iteration with its range, and the median and range of the
per-pair ratio reference ÷ multigan (above 1: multigan is faster). Parameter counts of both sides
are printed so the architectures can be checked to match. ``--precision bf16`` trains multigan's
side under bf16 autocast; ``--reference-precision bf16`` runs the reference iteration inside
``torch.autocast("cpu", torch.bfloat16)`` too, so both sides can be compared at the same
arithmetic. Adapters for the references the speed issue names are in
``benchmarks/reference_adapters/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Sequence

import torch

#: what either side can run in on a CPU
PRECISIONS = ("fp32", "bf16")

def load_adapter(path: str | Path) -> ModuleType:
    """Import an adapter file and check it defines ``OURS``, ``BATCH`` and ``build``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such adapter file: {str(path)!r}")
    spec = importlib.util.spec_from_file_location(f"multigan_reference_adapter_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [name for name in ("OURS", "BATCH", "build") if not hasattr(module, name)]
    if missing:
        raise ValueError(f"adapter {str(path)!r} lacks {', '.join(missing)} (see benchmarks/compare_reference.py)")
    return module


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _timed(run, steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return (time.perf_counter() - start) / steps


def compare(adapter: ModuleType, reference: str | Path, *, ours: Optional[str] = None, batch_size: Optional[int] = None,
            threads: int = 2, pairs: int = 5, steps: int = 3, options: Optional[dict] = None,
            precision: str = "fp32", reference_precision: str = "fp32", progress: bool = True) -> dict[str, Any]:
    """Paired timing of ``adapter``'s reference iteration and multigan's configuration ``ours``."""
    import multigan

    if pairs < 1 or steps < 1 or threads < 1:
        raise ValueError(f"pairs, steps and threads must be >= 1, got {pairs}, {steps}, {threads}")
    for name, value in (("precision", precision), ("reference_precision", reference_precision)):
        if value not in PRECISIONS:
            raise ValueError(f"{name} must be one of {', '.join(PRECISIONS)}, got {value!r}")
    for name in multigan.available_modalities():          # each registers its shipped configuration
        multigan.load_modality(name)
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return _compare(adapter, reference, ours or adapter.OURS, int(batch_size or adapter.BATCH), int(threads),
                        pairs, steps, options, precision, reference_precision, progress)
    finally:
        torch.set_num_threads(before)


def _compare(adapter: ModuleType, reference: str | Path, ours: str, batch: int, threads: int, pairs: int, steps: int,
             options: Optional[dict], precision: str, reference_precision: str, progress: bool) -> dict[str, Any]:
    from multigan.bench import training_loop
    from multigan.core.device import autocast

    step, networks = adapter.build(Path(reference), batch)
    ours_run, model = training_loop(ours, device="cpu", precision=precision, batch_size=batch, options=options)

    def theirs_run(k: int) -> None:
        with autocast(torch.device("cpu"), reference_precision):
            for _ in range(k):
                step()
    _timed(ours_run, 1), _timed(theirs_run, 1)                              # warm-up
    times: dict[str, list[float]] = {"multigan": [], "reference": []}
    for k in range(pairs):
        order = (("multigan", ours_run), ("reference", theirs_run))
        for side, run in (order if k % 2 == 0 else order[::-1]):
            times[side].append(_timed(run, steps))
        if progress:
            print(f"pair {k + 1}/{pairs}: multigan {times['multigan'][-1]:.3f} s/it, reference "
                  f"{times['reference'][-1]:.3f} s/it", file=sys.stderr)
    ratios = [r / m for r, m in zip(times["reference"], times["multigan"])]
    return {"ours": ours, "batch": batch, "threads": int(threads), "pairs": pairs, "steps_per_round": steps,
            "precision": precision, "reference_precision": reference_precision,
            "multigan_s_it": statistics.median(times["multigan"]),
            "multigan_range": [min(times["multigan"]), max(times["multigan"])],
            "reference_s_it": statistics.median(times["reference"]),
            "reference_range": [min(times["reference"]), max(times["reference"])],
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
            "multigan_params": {"G": parameter_count(model.generator), "D": parameter_count(model.discriminator)},
            "reference_params": {name: parameter_count(net) for name, net in networks.items()}}


def format_result(row: dict[str, Any]) -> str:
    def millions(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in counts.items())
    return "\n".join([
        "| side | parameters | s/it (median, range) |", "|---|---|---|",
        f"| multigan `{row['ours']}`, {row['precision']} | {millions(row['multigan_params'])} | "
        f"{row['multigan_s_it']:.3f} "
        f"({row['multigan_range'][0]:.3f}–{row['multigan_range'][1]:.3f}) |",
        f"| reference, {row['reference_precision']} | {millions(row['reference_params'])} | "
        f"{row['reference_s_it']:.3f} "
        f"({row['reference_range'][0]:.3f}–{row['reference_range'][1]:.3f}) |",
        "",
        f"reference ÷ multigan: {row['ratio']:.2f} ({row['ratio_range'][0]:.2f}–{row['ratio_range'][1]:.2f}) at batch "
        f"{row['batch']}, {row['threads']} threads, {row['pairs']} pairs of {row['steps_per_round']} iterations"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("adapter", help="adapter file (benchmarks/reference_adapters/*.py or your own)")
    p.add_argument("reference", help="folder of the reference implementation's code")
    p.add_argument("--ours", default=None, help="multigan bench configuration (default: the adapter's OURS)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the adapter's BATCH")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="iterations per timed round")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="multigan's side: fp32 or bf16 autocast")
    p.add_argument("--reference-precision", choices=PRECISIONS, default="fp32",
                   help="the reference's side: fp32, or its iteration inside bf16 autocast")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainerConfig field for multigan's side, e.g. reuse_fake=false")
    args = p.parse_args(argv)
    import json

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    row = compare(load_adapter(args.adapter), args.reference, ours=args.ours, batch_size=args.batch_size,
                  threads=args.threads, pairs=args.pairs, steps=args.steps, options=options,
                  precision=args.precision, reference_precision=args.reference_precision)
    print(format_result(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
