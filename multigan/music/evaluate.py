"""Evaluation of melody models: the quality metrics of generated melodies against real ones.

    multigan eval music --model bach --n 200
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["evaluate_model", "format_metrics", "sample_progressions"]


def sample_progressions(dataset, n: int, bars: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` runs of ``bars`` consecutive data bars (bar indices), drawn with a fixed seed."""
    runs = dataset.consecutive_runs(bars)
    if not runs:
        raise ValueError(f"the data has no run of {bars} consecutive bars")
    rng = np.random.default_rng(seed)
    return [runs[i] for i in rng.integers(len(runs), size=n)]


@torch.no_grad()
def evaluate_model(model, dataset, *, n: int = 200, bars: int = 8, seed: int = 0) -> dict[str, dict[str, float]]:
    """Metrics of ``n`` generated ``bars``-bar melodies vs the data bars over the same chords."""
    from .chords import Chord
    from .metrics import evaluate

    runs = sample_progressions(dataset, n, bars, seed)
    data_rolls, gen_rolls, chords = [], [], []
    for k, run in enumerate(runs):
        real, chord_vecs = dataset.melody_run(run)                       # (bars, 16, 128), (bars, 13)
        gen = model.generate_bars(torch.from_numpy(chord_vecs), seed=seed * 100_003 + k)[0].cpu().numpy()
        data_rolls.append(real)
        gen_rolls.append(gen)
        chords += [Chord(int(np.argmax(v[:12])), bool(v[12] > 0.5)) for v in chord_vecs]
    data_rolls, gen_rolls = np.concatenate(data_rolls), np.concatenate(gen_rolls)
    return {"data": evaluate(data_rolls, chords), "generated": evaluate(gen_rolls, chords)}


def format_metrics(table: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per metric, columns data / generated."""
    lines = ["| metric | data | generated |", "|---|---:|---:|"]
    for name in table["data"]:
        lines.append(f"| {name} | {table['data'][name]:.3f} | {table['generated'][name]:.3f} |")
    return "\n".join(lines)
