"""Evaluation of anomaly detectors: metrics per scoring method, balanced subsets, scoring speed.

    multigan eval anomaly --model brain-mri [--data labelled/]     # AUROC, AUPR, F1, pixel AUROC, Dice
    multigan bench --scoring                                       # images/s of f-AnoGAN and AnoGAN

Example:
    >>> from multigan.anomaly import AnoGAN, brain_mri                                 # doctest: +SKIP
    >>> table = evaluate_model(AnoGAN.from_pretrained("brain-mri"), brain_mri("test"),   # doctest: +SKIP
    ...                        methods=["izif"])
    >>> print(format_metrics(table))                                                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Optional

import torch

__all__ = ["balanced_subset", "evaluate_model", "format_metrics", "format_scoring_speed", "scoring_speed",
           "stratified_subset"]


def evaluate_model(model, test_set, *, methods: Sequence[str] = ("izif", "search"), iterations: int = 500,
                   batch_size: int = 64, search_images: Optional[int] = None, seed: int = 0,
                   results: Optional[dict] = None, groups: Optional[dict[str, Any]] = None,
                   **score_options: Any) -> dict[str, dict[str, float]]:
    """Image and pixel metrics of each scoring method on a labelled set, plus images/s.

    ``search_images`` limits the latent-search methods (AnoGAN, Γ iterations per image) to a
    class-balanced random subset of that many images; f-AnoGAN (``izif``) always scores them all.
    The row's ``images`` says how many were scored. ``score_options`` (``map_sigma``, ``map_shift``,
    ``map_margin``, ``map_views``, ``image_score``, ``search_starts``, ``search_restarts``, ``lr``) override the model's
    scoring options
    (:meth:`AnoGAN.score`);
    F1 needs the calibrated threshold, so it is only reported for the model's own image scores.
    ``groups`` (``{name: bool (N,)}``, e.g. the lesions brighter than their surroundings) adds
    ``auroc_<name>``: image AUROC of the normal images against that group's abnormal ones.
    ``results``, a dict if given, receives each method's :class:`ScoreResult` under its name, e.g. to
    write per-image scores without scoring the set again.
    """
    from .metrics import auroc, evaluate_scores

    if test_set.labels is None:
        raise ValueError("evaluation needs labelled images: a folder with normal/ and abnormal/ sub-folders")
    table = {}
    for method in methods:
        subset, picked = test_set, torch.arange(len(test_set))
        if method != "izif" and search_images is not None and search_images < len(test_set):
            picked = balanced_subset(test_set.labels, search_images, seed=seed)
            subset = test_set.subset(picked)
        start = time.perf_counter()
        res = model.score(subset, method=method, iterations=iterations, batch_size=batch_size, **score_options)
        seconds = time.perf_counter() - start
        row = evaluate_scores(res.scores, subset.labels, res.threshold, maps=res.maps, masks=subset.masks)
        for name, members in (groups or {}).items():
            keep = (subset.labels == 0) | torch.as_tensor(members, dtype=torch.bool)[picked]
            row[f"auroc_{name}"] = auroc(res.scores[keep], subset.labels[keep])
        row["images"] = float(len(res.scores))
        row["images_per_s"] = len(res.scores) / seconds
        table[method] = row
        if results is not None:
            results[method] = res
    return table


def _draw_per_label(labels: torch.Tensor, counts: dict[int, int], seed: int) -> torch.Tensor:
    """Sorted indices: ``counts[label]`` images of each label, drawn at random (seeded)."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for label, count in counts.items():
        pool = torch.nonzero(labels == label).flatten()
        picks.append(pool[torch.randperm(len(pool), generator=g)[:count]])
    return torch.cat(picks).sort().values


def scoring_speed(model=None, *, n: int = 16, iterations: int = 500, device: str = "cpu",
                  width: int = 32, size: int = 64) -> list[dict[str, Any]]:
    """Images per second scored by f-AnoGAN (``izif``, one encoder pass per view) and by AnoGAN's latent search
    (Γ = ``iterations`` steps, all ``n`` images in one batch), each after a short warm-up.

    ``model`` is an :class:`AnoGAN` (scored with its own search options) or None for an untrained
    one of ``width`` and ``size``: weights do not change the cost. Returns one row per method
    (``method``, ``iterations``, ``images``, ``images_per_s``); the search row also holds ``ratio``,
    f-AnoGAN's speed over the search's. ``multigan bench --scoring`` prints them.
    """
    from .models import AnoGAN, check_count

    check_count(n, "n", "images scored")
    check_count(iterations, "iterations", "search steps, Γ")
    det = (model if model is not None else AnoGAN(image_size=size, width=width)).to(device).eval()
    x = torch.rand(n, det.channels, det.image_size, det.image_size) * 2 - 1
    rows = []
    for method, its in (("izif", 0), ("search", iterations)):
        det.score(x[:2], method=method, iterations=max(its // 50, 1), batch_size=n)        # warm-up
        start = time.perf_counter()
        det.score(x, method=method, iterations=max(its, 1), batch_size=n)         # izif ignores it
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        rows.append({"method": method, "iterations": its, "images": n,
                     "images_per_s": n / (time.perf_counter() - start)})
    rows[1]["ratio"] = rows[0]["images_per_s"] / rows[1]["images_per_s"]
    return rows


def format_scoring_speed(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`scoring_speed`'s rows as a Markdown table and the speed ratio."""
    lines = ["| method | Γ | images | images/s |", "|---|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['iterations'] or '—'} | {r['images']} | {r['images_per_s']:.2f} |" for r in rows]
    return "\n".join(lines) + f"\nf-AnoGAN / AnoGAN speed ratio: {rows[-1]['ratio']:.0f}×"


def balanced_subset(labels: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """Sorted indices of ``n`` images, half normal (label 0) and half abnormal, drawn at random."""
    if n < 2:
        raise ValueError(f"a balanced subset needs at least 2 images, got {n}")
    counts = {0: n // 2, 1: n - n // 2}
    for label, count in counts.items():
        have = int((labels == label).sum())
        if have < count:
            raise ValueError(f"a balanced subset of {n} needs {count} images of label {label}, the set has {have}")
    return _draw_per_label(labels, counts, seed)


def stratified_subset(labels: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """Sorted indices of about ``n`` images drawn at random with each label's share kept (at least one
    of each label present), so that a threshold fit on the subset sees the set's prevalence."""
    counts = {}
    for label in torch.unique(labels).tolist():
        have = int((labels == label).sum())
        counts[label] = min(have, max(1, round(n * have / len(labels))))
    return _draw_per_label(labels, counts, seed)


def format_metrics(table: dict[str, dict[str, float]]) -> str:
    """:func:`evaluate_model`'s table as Markdown, one row per method."""
    keys = sorted({k for row in table.values() for k in row})
    lines = ["| method | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for method, row in table.items():
        lines.append(f"| {method} | " + " | ".join(f"{row[k]:.3f}" if k in row else "" for k in keys) + " |")
    return "\n".join(lines)
