"""Evaluation of video models: frame accuracy, label consistency, motion, flicker, diversity.

    multigan eval video --model moving-mnist --n 200
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["evaluate_model", "format_metrics", "training_metrics"]


def _reference(model):
    """The built-in test split a model's classes come from and whether the digit metrics apply, or None."""
    from .data import Footage, MovingMNIST, footage_files

    if list(model.classes) == [str(d) for d in range(10)] and model.config["channels"] == 1:
        return MovingMNIST("test", frames=model.frames, size=model.size), True
    shipped = [p.stem for p in footage_files()]
    if shipped and list(model.classes) == shipped:
        return Footage("test", frames=model.frames, size=model.size, channels=model.config["channels"]), False
    return None


@torch.no_grad()
def evaluate_model(model, *, n: int = 200, seed: int = 0, data: Any = None) -> dict[str, Any]:
    """Metrics of ``n`` generated clips vs the built-in test data of the model's classes.

    Moving MNIST models: frame-label accuracy and label consistency (the digit classifier), motion,
    flicker and diversity. Footage models (:class:`~multigan.video.data.Footage`): motion, flicker
    and diversity against the footage test clips. ``data`` (a folder of videos, read like
    :class:`~multigan.video.data.VideoFolder` at the model's frames, size and channels, or a clip
    dataset) is the reference instead: motion, flicker and diversity only.
    """
    from .data import VideoFolder

    if data is None:
        found = _reference(model)
        if found is None:
            raise ValueError(f"no built-in test data for a model of classes {list(model.classes)} with "
                             f"{model.config['channels']} channel(s): the metrics compare against Moving MNIST "
                             "(digits 0-9, greyscale) or the shipped footage (box, cup, pedestrians); pass data")
        data, digits = found
    else:
        digits = False
        if isinstance(data, (str, Path)):
            data = VideoFolder(data, frames=model.frames, size=model.size, channels=model.config["channels"])
    return _evaluate(model, data, digits, n=n, seed=seed)


def _evaluate(model, data: Any, digits: bool, *, n: int, seed: int) -> dict[str, Any]:
    from .metrics import evaluate_clips, load_digit_classifier

    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(model.classes), (n,), generator=g) if model.classes else None
    clips = model.generate(n, label=labels, seed=seed)
    ref_idx = torch.randperm(len(data), generator=g)[:n]
    ref, ref_labels = data.tensors[0][ref_idx], data.tensors[1][ref_idx]
    return evaluate_clips(clips.clips, labels, ref, ref_labels, load_digit_classifier() if digits else False)


def training_metrics(model, dataset: Any, *, n: int, seed: int) -> dict[str, float]:
    """The in-training evaluation (``DVDGAN.training_metrics``): :func:`evaluate_model`'s generated-side
    numbers and ``motion_in_data_range`` (0/1) on ``n`` clips, against the built-in test split of the
    model's classes, else against the training ``dataset`` (a folder of your videos)."""
    found = _reference(model)
    data, digits = found if found is not None else (dataset, False)
    table = _evaluate(model, data, digits, n=n, seed=seed)
    out = {k: float(v) for k, v in table["generated"].items() if k not in ("motion_p5", "motion_p95")}
    out["motion_in_data_range"] = float(table["motion_in_data_range"])
    return out


def format_metrics(table: dict[str, Any]) -> str:
    """Markdown table of :func:`evaluate_model`'s result (generated vs data side by side)."""
    gen, ref = table.get("generated", {}), table.get("reference", {})
    keys = [k for k in gen if isinstance(gen[k], (int, float))]
    lines = ["| metric | data | generated |", "|---|---:|---:|"]
    for k in keys:
        r = ref.get(k)
        lines.append(f"| {k} | {'' if r is None else f'{r:.3f}'} | {gen[k]:.3f} |")
    extra = {k: v for k, v in table.items() if k not in ("generated", "reference")}
    if extra:
        def show(v: Any) -> str:
            return " ".join(f"{x:.2f}" for x in v) if isinstance(v, list) and all(
                isinstance(x, float) for x in v) else str(v)
        lines.append("\n" + ", ".join(f"{k}: {show(v)}" for k, v in extra.items()))
    return "\n".join(lines)
