"""Anomaly-detection metrics: image AUROC / AUPR / F1, thresholds, pixel AUROC and Dice.

Pure numpy (float64 inside); inputs may be torch tensors, numpy arrays or nested lists.
Conventions used throughout:

* **Scores**: higher = more anomalous. **Labels**: ``1`` (or ``True``) = anomalous, ``0`` = normal.
* **Decision rule**: an image (or pixel) is predicted anomalous when ``score > threshold``
  (strictly), everywhere in this package.
* **Maps** are per-pixel anomaly maps ``(N, 1, H, W)`` or ``(N, H, W)``; **masks** the matching
  ground-truth lesion masks (bool, or 0/1 integers/floats); ``True`` = anomalous pixel.
* Metric functions return plain ``float``\\s. The low-level ones raise ``ValueError`` when a
  metric is undefined (e.g. AUROC with one class); :func:`evaluate_scores` reports those as ``nan``.

Definitions:

* **AUROC**: the Mann–Whitney statistic ``P(score_anomalous > score_normal) + ½ P(equal)``,
  computed from average ranks (ties share the mean of their ranks) — identical to the area under
  the ROC curve with linear interpolation (``sklearn.metrics.roc_auc_score``).
* **Average precision** (AUPR): ``Σ_k (R_k − R_{k−1}) · P_k`` over the distinct score values taken
  as thresholds in decreasing order (equal scores enter together), ``R_0 = 0`` — step-wise, no
  interpolation, as ``sklearn.metrics.average_precision_score``.
* **Dice** of a predicted and a true mask: ``2|P ∩ G| / (|P| + |G|)``, averaged over images.

Example:
    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    >>> average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.8333333333333333
    >>> threshold_at_fpr([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], fpr=0.2)
    8.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from multigan.io.utils import as_numpy

__all__ = [
    "auroc",
    "average_precision",
    "best_dice_threshold",
    "best_f1_threshold",
    "dice",
    "evaluate_scores",
    "f1_at",
    "pixel_auroc",
    "threshold_at_fpr",
]


# --------------------------------------------------------------------------- input checking

def _scores(x: Any, name: str = "scores") -> np.ndarray:
    arr = as_numpy(x, name)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim > 1:
        raise ValueError(f"{name} must be one-dimensional (N,), got shape {arr.shape}")
    arr = arr.astype(np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _binary(x: Any, name: str) -> np.ndarray:
    """0/1 labels or masks (bool, integer or float) → bool array of the same shape."""
    arr = as_numpy(x, name)
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be bool or 0/1 numbers, got dtype {arr.dtype}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))].reshape(-1)[0]
        raise ValueError(f"{name} must contain only 0 and 1 (1 = anomalous), found {bad!r}")
    return arr.astype(bool)


def _scores_labels(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = _scores(scores)
    y = _binary(labels, "labels")
    if y.ndim > 1:
        raise ValueError(f"labels must be one-dimensional (N,), got shape {y.shape}")
    y = y.reshape(-1)
    if y.size != s.size:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    return s, y


def _both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        only = "anomalous (1)" if n_pos else "normal (0)"
        raise ValueError(f"{what} needs both normal (0) and anomalous (1) labels; all {y.size} are {only}")


def _maps_masks(maps: Any, masks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check a pair of ``(N, 1, H, W)`` / ``(N, H, W)`` arrays → float64 maps and bool masks ``(N, H*W)``."""
    m = as_numpy(maps, "maps")
    g = _binary(masks, "masks")
    for arr, name in ((m, "maps"), (g, "masks")):
        if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[1] == 1)):
            raise ValueError(f"{name} must have shape (N, 1, H, W) or (N, H, W), got {arr.shape}")
    if m.shape[0] != g.shape[0] or m.shape[-2:] != g.shape[-2:]:
        raise ValueError(f"maps and masks must match: {m.shape} vs {g.shape}")
    if m.dtype == np.bool_ or not (np.issubdtype(m.dtype, np.floating) or np.issubdtype(m.dtype, np.integer)):
        raise TypeError(f"maps must be real numbers, got dtype {m.dtype}")
    if m.size == 0:
        raise ValueError(f"maps are empty: shape {m.shape}")
    m = m.astype(np.float64).reshape(m.shape[0], -1)
    if not np.isfinite(m).all():
        raise ValueError("maps contain NaN or inf")
    return m, g.reshape(g.shape[0], -1)


def _subsample(n: int, max_pixels: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a deterministic uniform subsample of ``range(n)``, or None if ``n`` fits."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 2:
        raise ValueError(f"max_pixels must be an integer >= 2, got {max_pixels!r}")
    if n <= max_pixels:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=int(max_pixels), replace=False))


def _threshold(t: Any, name: str = "threshold") -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not math.isfinite(t):
        raise ValueError(f"{name} must be a finite number, got {t!r}")
    return float(t)


# --------------------------------------------------------------------------- image level

def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` in increasing order; tied values get the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(xs) != 0) + 1))    # first index of each tie group
    ends = np.concatenate((starts[1:], [xs.size]))                          # one past the last
    group_rank = (starts + 1 + ends) / 2.0                                  # mean of ranks start+1 .. end
    ranks = np.empty(x.size, np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve from ranks (Mann–Whitney U); ties count one half.

    ``AUROC = (Σ ranks of anomalous − n₁(n₁+1)/2) / (n₁ n₀)`` with average ranks for ties: the
    probability that a random anomalous image scores higher than a random normal one, ties ½.

    Raises:
        ValueError: only one class present, lengths differ, NaN/inf scores, labels not 0/1.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])     # 3 of 4 (anomalous, normal) pairs ordered
        0.75
        >>> auroc([0.5, 0.5, 0.9], [0, 1, 1])               # pairs: tie (½) and win (1) → 0.75
        0.75
    """
    s, y = _scores_labels(scores, labels)
    _both_classes(y, "AUROC")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    rank_sum = float(_average_ranks(s)[y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _cumulative_counts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds in decreasing order with the TP/FP counts of ``score >= threshold``."""
    order = np.argsort(-s, kind="mergesort")
    ss, ys = s[order], y[order]
    last = np.concatenate((np.flatnonzero(np.diff(ss) != 0), [ss.size - 1]))   # last index of each tie group
    tps = np.cumsum(ys)[last].astype(np.float64)
    fps = (last + 1) - tps
    return ss[last], tps, fps


def average_precision(scores: Any, labels: Any) -> float:
    """Average precision (area under the precision–recall curve, step-wise).

    ``AP = Σ_k (R_k − R_{k−1}) · P_k`` where ``k`` runs over the distinct score values in
    decreasing order, ``P_k``/``R_k`` are precision/recall of predicting ``score >= value_k``
    (all equal scores enter at once), and ``R_0 = 0``. Matches
    ``sklearn.metrics.average_precision_score``. A random ranking scores about the anomalous share.

    Raises:
        ValueError: no anomalous label (recall undefined), lengths differ, NaN/inf scores.

    Example:
        >>> average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])   # ½·1 + ½·(2/3)
        0.8333333333333333
    """
    s, y = _scores_labels(scores, labels)
    if not y.any():
        raise ValueError(f"average precision needs at least one anomalous (1) label; all {y.size} are normal")
    _, tps, fps = _cumulative_counts(s, y)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def _confusion(pred: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": (tp + tn) / y.size,
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def f1_at(scores: Any, labels: Any, threshold: float) -> dict[str, Any]:
    """Precision, recall, F1, accuracy and the confusion counts when predicting ``score > threshold``.

    Returns ``{"precision", "recall", "f1", "accuracy"}`` (floats) and ``{"tp", "fp", "tn", "fn"}``
    (ints). Undefined ratios are 0: precision with no predicted anomaly, recall with no true one
    (``sklearn``'s ``zero_division=0``); F1 is ``2TP / (2TP + FP + FN)``, 0 when ``TP = 0``.

    Example:
        >>> r = f1_at([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], threshold=0.3)
        >>> r["tp"], r["fp"], r["tn"], r["fn"], round(r["f1"], 4)
        (2, 1, 1, 0, 0.8)
    """
    s, y = _scores_labels(scores, labels)
    return _confusion(s > _threshold(threshold), y)


def best_f1_threshold(scores: Any, labels: Any) -> tuple[float, float]:
    """The threshold maximising F1 on these labelled scores → ``(threshold, f1)``.

    Every split between distinct score values is tried. The returned threshold lies halfway between
    the lowest score predicted anomalous and the next lower distinct score (or just below the minimum
    when all are predicted anomalous), so ``score > threshold`` reproduces the best split. Ties in
    F1 go to the higher threshold (fewer alarms). Fit this on a *validation* set, not the test set.

    Raises:
        ValueError: no anomalous label (F1 would be 0 for every threshold).

    Example:
        >>> best_f1_threshold([1.0, 4.0, 3.0, 8.0], [0, 0, 1, 1])    # predict {3, 4, 8}: F1 0.8
        (2.0, 0.8)
    """
    s, y = _scores_labels(scores, labels)
    if not y.any():
        raise ValueError(f"best_f1_threshold needs at least one anomalous (1) label; all {y.size} are normal")
    values, tps, fps = _cumulative_counts(s, y)
    f1 = 2 * tps / (tps + fps + tps[-1])              # 2TP / (2TP + FP + FN), FN = P − TP
    k = int(np.argmax(f1))                            # first maximum = highest threshold
    low = values[k]
    if k + 1 < values.size:                           # halfway to the next lower distinct value
        below = values[k + 1]
        t = below + (low - below) / 2.0
        if not below <= t < low:
            t = below
    else:
        t = float(np.nextafter(low, -np.inf))
    return float(t), float(f1[k])


def threshold_at_fpr(normal_scores: Any, fpr: float = 0.05) -> float:
    """Calibrate a threshold on scores of *normal* (held-out) images for a target false-positive rate.

    Rule: the smallest threshold ``t`` such that the fraction of normal scores ``> t`` is ``<= fpr``.
    With the ``n`` normal scores sorted ascending ``s₁ <= … <= sₙ`` and ``m = ⌊fpr · n⌋`` (the
    number of normal images allowed above ``t``), that is ``t = s₍ₙ₋ₘ₎``, an observed score — so the
    calibration FPR is exactly ``m / n`` without ties and lower with ties at ``t``; ``fpr = 0`` gives
    the largest normal score. The rule never looks at anomalous or test scores.

    Raises:
        ValueError: ``fpr`` not in [0, 1), empty or non-finite scores.

    Example:
        >>> threshold_at_fpr([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], fpr=0.2)    # 9 and 10 lie above
        8.0
        >>> threshold_at_fpr([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], fpr=0.0)
        10.0
    """
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.floating)) or not 0 <= fpr < 1:
        raise ValueError(f"fpr must be a number in [0, 1), got {fpr!r}")
    s = np.sort(_scores(normal_scores, "normal_scores"))
    allowed = math.floor(fpr * s.size + 1e-9)          # guard 0.29 * 100 = 28.999…
    return float(s[s.size - allowed - 1])


# --------------------------------------------------------------------------- pixel level

def pixel_auroc(maps: Any, masks: Any, *, max_pixels: int = 2_000_000, seed: int = 0) -> float:
    """AUROC over all pixels of all images (maps as scores, masks as labels).

    Pixels of every image count, normal images included (the usual MVTec/BraTS protocol). Above
    ``max_pixels`` pixels a uniform random subsample of ``max_pixels`` (fixed by ``seed``, so the
    result is deterministic) is used; the error this adds is ~``1/sqrt(max_pixels)``.

    Raises:
        ValueError: shapes differ, or the (subsampled) masks hold only one class.

    Example:
        >>> g = np.zeros((2, 1, 4, 4), bool); g[0, 0, 1:3, 1:3] = True
        >>> m = g.astype(np.float32)                            # the lesion exactly
        >>> pixel_auroc(m, g)
        1.0
    """
    m, g = _maps_masks(maps, masks)
    m, g = m.reshape(-1), g.reshape(-1)
    idx = _subsample(m.size, max_pixels, seed)
    if idx is not None:
        m, g = m[idx], g[idx]
    _both_classes(g, "pixel AUROC")
    return auroc(m, g)


def _dice_from_counts(inter: np.ndarray, pred: np.ndarray, truth: np.ndarray, include_empty: bool) -> float:
    """Mean Dice over images (last axis = images) from per-image counts."""
    nonempty = truth > 0
    denom = pred + truth
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(denom > 0, 2.0 * inter / np.maximum(denom, 1), 1.0)    # empty/empty → 1
    if not include_empty:
        if not nonempty.any():
            return float("nan")
        d = d[..., nonempty]
    return d.mean(axis=-1)


def dice(pred_masks: Any, masks: Any, *, include_empty: bool = False) -> float:
    """Mean Dice ``2|P ∩ G| / (|P| + |G|)`` over images.

    By default only images whose ground truth ``G`` is non-empty are averaged (the lesion-
    segmentation convention): Dice is undefined for an empty/empty pair, and 0 for *any* false
    alarm on a healthy image, so those would measure detection rather than delineation. Returns
    ``nan`` when no image has a non-empty mask. With ``include_empty=True`` every image counts, an
    empty prediction on an empty mask scoring 1 and a non-empty one 0.

    Example:
        >>> p = np.zeros((3, 1, 4, 4), bool); g = np.zeros_like(p)
        >>> g[0, 0, :2, :2] = True; p[0, 0, :2, :] = True      # 2·4 / (8 + 4) = 2/3
        >>> p[1, 0, 0, 0] = True                               # healthy image with a false alarm
        >>> round(dice(p, g), 4), round(dice(p, g, include_empty=True), 4)    # (2/3 + 0 + 1) / 3
        (0.6667, 0.5556)
    """
    p = _binary(pred_masks, "pred_masks")
    g = _binary(masks, "masks")
    if p.shape != g.shape:
        raise ValueError(f"pred_masks and masks must have the same shape, got {p.shape} vs {g.shape}")
    if not (g.ndim == 3 or (g.ndim == 4 and g.shape[1] == 1)) or g.shape[0] == 0:
        raise ValueError(f"masks must have shape (N, 1, H, W) or (N, H, W) with N >= 1, got {g.shape}")
    p, g = p.reshape(p.shape[0], -1), g.reshape(g.shape[0], -1)
    return float(_dice_from_counts((p & g).sum(1), p.sum(1), g.sum(1), include_empty))


def _candidate_levels(n_thresholds: int) -> np.ndarray:
    """Quantile levels: half evenly over [0, 1], half packed geometrically towards 1 (small lesions)."""
    n_lin = max(2, n_thresholds - n_thresholds // 2)
    n_tail = max(1, n_thresholds // 2)
    return np.unique(np.concatenate((np.linspace(0.0, 1.0, n_lin), 1.0 - np.geomspace(0.1, 1e-5, n_tail))))


def best_dice_threshold(maps: Any, masks: Any, *, n_thresholds: int = 100, max_pixels: int = 2_000_000,
                        seed: int = 0) -> tuple[float, float]:
    """The pixel threshold maximising mean :func:`dice` (``map > t``) → ``(threshold, dice)``.

    Candidates are quantiles of all map values (about ``n_thresholds`` levels: half spread evenly
    over [0, 1], half packed towards 1 down to the 1 − 10⁻⁵ quantile, where small lesions live),
    computed on the same deterministic pixel subsample as :func:`pixel_auroc`, then 65 finer levels
    between the neighbours of the best one (a quantile search: it can miss a narrow gap between
    the background and lesion values, so the result is a slight under-estimate). Dice follows
    :func:`dice`'s default (images with a non-empty mask). Ties go to the higher threshold. Using the
    test masks to pick it makes this an *oracle* (upper-bound) Dice; calibrate on validation data
    for a deployable threshold.

    Raises:
        ValueError: shapes differ, or no image has a non-empty mask.

    Example:
        >>> g = np.zeros((2, 1, 4, 4), bool); g[0, 0, 1:3, 1:3] = True
        >>> m = g.astype(np.float32)                            # the lesion exactly
        >>> best_dice_threshold(m, g)[1]
        1.0
    """
    if isinstance(n_thresholds, bool) or not isinstance(n_thresholds, (int, np.integer)) or n_thresholds < 2:
        raise ValueError(f"n_thresholds must be an integer >= 2, got {n_thresholds!r}")
    m, g = _maps_masks(maps, masks)
    if not g.any():
        raise ValueError("best_dice_threshold needs at least one image with a non-empty mask")
    flat = m.reshape(-1)
    idx = _subsample(flat.size, max_pixels, seed)
    values = flat if idx is None else flat[idx]
    # per image, count pixels above a candidate by binary search in the sorted map values; the mask
    # pixels are counted the same way with the non-mask pixels set to -inf.
    sorted_all = np.sort(m, axis=1)
    sorted_in = np.sort(np.where(g, m, -np.inf), axis=1)
    hw = m.shape[1]
    truth = g.sum(1)

    def mean_dice(cands: np.ndarray) -> np.ndarray:
        pred = np.stack([hw - np.searchsorted(row, cands, side="right") for row in sorted_all], axis=-1)
        inter = np.stack([hw - np.searchsorted(row, cands, side="right") for row in sorted_in], axis=-1)
        return np.asarray(_dice_from_counts(inter, pred, truth, include_empty=False))

    levels = _candidate_levels(int(n_thresholds))
    coarse = mean_dice(np.quantile(values, levels))
    k = int(np.flatnonzero(coarse == coarse.max())[-1])                       # ties: the higher threshold
    fine_levels = np.linspace(levels[max(k - 1, 0)], levels[min(k + 1, levels.size - 1)], 65)
    cands = np.unique(np.quantile(values, np.concatenate((levels, fine_levels))))
    scores = mean_dice(cands)
    k = int(np.flatnonzero(scores == scores.max())[-1])
    return float(cands[k]), float(scores[k])


# --------------------------------------------------------------------------- everything at once

def _or_nan(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ValueError:
        return float("nan")


def evaluate_scores(scores: Any, labels: Any, threshold: float | None, maps: Any = None, masks: Any = None,
                    *, pixel_threshold: float | None = None, max_pixels: int = 2_000_000,
                    seed: int = 0) -> dict[str, float]:
    """All image- and (with masks) pixel-level metrics in one dict of floats.

    Image level: ``image_auroc``, ``image_aupr``, ``best_f1`` and ``best_f1_threshold`` (an oracle
    on these labels), and — when ``threshold`` is given (the *calibrated* one) — ``f1``,
    ``precision``, ``recall``, ``accuracy`` at ``score > threshold``. ``n_images`` and
    ``n_anomalous`` count the labels.

    Pixel level, when ``masks`` (and ``maps``) are given: ``pixel_auroc``; ``dice`` at the threshold
    chosen by :func:`best_dice_threshold` on these very maps and masks — an **oracle** choice
    (upper bound), reported as ``dice_threshold``; and ``dice_at_pixel_threshold`` when a
    ``pixel_threshold`` calibrated elsewhere is given.

    Metrics undefined on the given data (AUROC with one class, Dice with all masks empty) are
    ``nan`` here rather than errors; malformed inputs still raise.

    Example:
        >>> r = evaluate_scores([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], threshold=0.3)
        >>> r["image_auroc"], r["f1"], r["best_f1"]
        (0.75, 0.8, 0.8)
    """
    s, y = _scores_labels(scores, labels)
    out: dict[str, float] = {"n_images": float(y.size), "n_anomalous": float(y.sum()),
                             "image_auroc": _or_nan(auroc, s, y), "image_aupr": _or_nan(average_precision, s, y)}
    if y.any():
        out["best_f1_threshold"], out["best_f1"] = best_f1_threshold(s, y)
    else:
        out["best_f1_threshold"] = out["best_f1"] = float("nan")
    if threshold is not None:
        r = f1_at(s, y, threshold)
        out.update({k: float(r[k]) for k in ("f1", "precision", "recall", "accuracy")})
    if masks is not None:
        if maps is None:
            raise ValueError("masks were given without maps")
        m, g = _maps_masks(maps, masks)
        if m.shape[0] != s.size:
            raise ValueError(f"maps hold {m.shape[0]} images but there are {s.size} scores")
        out["pixel_auroc"] = _or_nan(lambda: pixel_auroc(m[:, None], g[:, None], max_pixels=max_pixels, seed=seed))
        try:
            out["dice_threshold"], out["dice"] = best_dice_threshold(m[:, None], g[:, None], max_pixels=max_pixels,
                                                                     seed=seed)
        except ValueError:
            out["dice_threshold"] = out["dice"] = float("nan")
        if pixel_threshold is not None:
            out["dice_at_pixel_threshold"] = dice(m[:, None] > _threshold(pixel_threshold, "pixel_threshold"), g[:, None])
    return out
