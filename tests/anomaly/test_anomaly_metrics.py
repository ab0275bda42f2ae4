"""Anomaly metrics (multigan.anomaly.metrics) on hand-made cases worked out by hand, and against sklearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multigan.anomaly import metrics as M

SCORES = [0.1, 0.4, 0.35, 0.8]
LABELS = [0, 0, 1, 1]


# --------------------------------------------------------------------------- AUROC

def test_auroc_hand_case() -> None:
    # pairs (anomalous, normal): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, *) two wins → 3/4
    assert M.auroc(SCORES, LABELS) == 0.75
    assert M.auroc(torch.tensor(SCORES), torch.tensor(LABELS, dtype=torch.bool)) == 0.75
    assert M.auroc(np.array(SCORES), np.array(LABELS, dtype=np.float32)) == 0.75


def test_auroc_ties_count_one_half() -> None:
    # anomalous 0.5 vs normals 0.5 (tie ½), 0.2 (win 1); anomalous 0.9 beats both → (½ + 1 + 2) / 4
    assert M.auroc([0.5, 0.2, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(3.5 / 4)
    assert M.auroc([1.0, 1.0, 1.0, 1.0], [0, 1, 0, 1]) == 0.5          # all tied
    # tie group of 3 spanning both classes: ranks 2,3,4 → average 3
    assert M.auroc([0.0, 0.3, 0.3, 0.3, 0.9], [0, 0, 1, 0, 1]) == pytest.approx((1 + 0.5 + 0.5 + 1 + 1 + 1) / 6)


def test_auroc_perfect_and_inverted() -> None:
    assert M.auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert M.auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0


def test_auroc_errors() -> None:
    with pytest.raises(ValueError, match="both normal"):
        M.auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="both normal"):
        M.auroc([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="length"):
        M.auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="0 and 1"):
        M.auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        M.auroc([0.1, float("nan")], [0, 1])
    with pytest.raises(ValueError, match="one-dimensional"):
        M.auroc([[0.1, 0.2]], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        M.auroc([], [])


# --------------------------------------------------------------------------- AP

def test_average_precision_hand_case() -> None:
    # descending: 0.8 (P 1, R ½), 0.4 (P ½, R ½), 0.35 (P ⅔, R 1), 0.1 → ½·1 + ½·⅔
    assert M.average_precision(SCORES, LABELS) == pytest.approx(0.5 + 1 / 3)
    assert M.average_precision([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    # ties enter together: {0.5: one anomalous, one normal} first → P ½ at R ½; then 0.3 (anomalous) → P ⅔ at R 1
    assert M.average_precision([0.5, 0.5, 0.3, 0.1], [1, 0, 1, 0]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert M.average_precision([0.3, 0.2], [1, 1]) == 1.0                   # only anomalous: fine
    with pytest.raises(ValueError, match="at least one anomalous"):
        M.average_precision([0.3, 0.2], [0, 0])


# --------------------------------------------------------------------------- F1 and thresholds

def test_f1_at_counts() -> None:
    r = M.f1_at(SCORES, LABELS, threshold=0.3)          # predicted {0.4, 0.35, 0.8}
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (2, 1, 1, 0)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == 1.0
    assert r["f1"] == pytest.approx(0.8) and r["accuracy"] == 0.75
    strict = M.f1_at(SCORES, LABELS, threshold=0.35)    # strictly greater: 0.35 is normal
    assert (strict["tp"], strict["fp"], strict["tn"], strict["fn"]) == (1, 1, 1, 1)
    none = M.f1_at(SCORES, LABELS, threshold=1.0)       # nothing predicted: 0 by convention
    assert none["precision"] == none["recall"] == none["f1"] == 0.0 and none["tn"] == 2
    with pytest.raises(ValueError, match="finite"):
        M.f1_at(SCORES, LABELS, threshold=float("nan"))


def test_best_f1_threshold() -> None:
    t, f1 = M.best_f1_threshold(SCORES, LABELS)
    assert f1 == pytest.approx(0.8)
    assert t == pytest.approx(0.225)                     # halfway between 0.1 and 0.35
    assert M.f1_at(SCORES, LABELS, t)["f1"] == pytest.approx(f1)
    t, f1 = M.best_f1_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert f1 == 1.0 and 0.2 <= t < 0.8
    t, f1 = M.best_f1_threshold([0.5, 0.6], [1, 1])      # all anomalous: threshold below the minimum
    assert f1 == 1.0 and t < 0.5 and M.f1_at([0.5, 0.6], [1, 1], t)["f1"] == 1.0


def test_best_f1_threshold_reproduces_f1_on_random_data() -> None:
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=200), 1)                # many ties
    y = (rng.random(200) < 0.3).astype(int)
    t, f1 = M.best_f1_threshold(s, y)
    assert M.f1_at(s, y, t)["f1"] == pytest.approx(f1)
    assert all(M.f1_at(s, y, c)["f1"] <= f1 + 1e-12 for c in np.unique(s))


def test_threshold_at_fpr_exact() -> None:
    normal = np.arange(1, 101, dtype=np.float64)[::-1].copy()    # 100 … 1, unsorted input
    t = M.threshold_at_fpr(normal, fpr=0.05)
    assert t == 95.0 and np.mean(normal > t) == 0.05
    assert np.mean(normal > np.nextafter(t, -np.inf)) > 0.05          # smallest such threshold
    assert M.threshold_at_fpr(normal, fpr=0.29) == 71.0                # floor guard: 0.29·100 = 28.99…
    assert M.threshold_at_fpr(normal, fpr=0.0) == 100.0
    assert M.threshold_at_fpr([1, 2, 3], fpr=0.5) == 2.0               # ⌊1.5⌋ = 1 image above
    assert M.threshold_at_fpr([3.0, 3.0, 3.0, 1.0], fpr=0.5) == 3.0    # ties: 0 of 4 above
    for bad in (1.0, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match="fpr"):
            M.threshold_at_fpr(normal, fpr=bad)


# --------------------------------------------------------------------------- pixel level

def _lesion_masks() -> torch.Tensor:
    g = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    g[0, 0, 2:4, 2:4] = True          # 4 pixels
    g[1, 0, 5:8, 0:3] = True          # 9 pixels
    return g                          # image 2 healthy


def test_pixel_auroc_perfect_and_inverted() -> None:
    g = _lesion_masks()
    perfect = g.float() * 0.5 + 0.1
    assert M.pixel_auroc(perfect, g) == 1.0
    assert M.pixel_auroc(-perfect + 1, g) == 0.0
    assert M.pixel_auroc(perfect[:, 0], g[:, 0]) == 1.0               # (N, H, W) too
    with pytest.raises(ValueError, match="both normal"):
        M.pixel_auroc(perfect, torch.zeros_like(g))
    with pytest.raises(ValueError, match="match"):
        M.pixel_auroc(perfect[:2], g)


def test_pixel_auroc_subsample_is_deterministic_and_close() -> None:
    gen = torch.Generator().manual_seed(0)
    g = torch.rand(4, 1, 64, 64, generator=gen) < 0.1
    m = torch.rand(4, 1, 64, 64, generator=gen) + g.float() * 0.5
    full = M.pixel_auroc(m, g)
    a = M.pixel_auroc(m, g, max_pixels=5000, seed=3)
    assert a == M.pixel_auroc(m, g, max_pixels=5000, seed=3)
    assert abs(a - full) < 0.03


def test_dice_hand_masks() -> None:
    g = _lesion_masks()
    p = torch.zeros_like(g)
    p[0, 0, 2:4, 2:6] = True          # 8 predicted, 4 overlap → 2·4 / (8 + 4) = 2/3
    p[1, 0, 5:8, 0:3] = True          # exact → 1
    assert M.dice(p, g) == pytest.approx((2 / 3 + 1) / 2)
    assert M.dice(g, g) == 1.0
    assert M.dice(torch.zeros_like(g), g) == 0.0
    assert M.dice(p, g, include_empty=True) == pytest.approx((2 / 3 + 1 + 1) / 3)   # empty/empty = 1
    p[2, 0, 0, 0] = True              # false alarm on the healthy image
    assert M.dice(p, g) == pytest.approx((2 / 3 + 1) / 2)                  # skipped by default
    assert M.dice(p, g, include_empty=True) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert math.isnan(M.dice(p, torch.zeros_like(g)))                      # no lesion anywhere
    with pytest.raises(ValueError, match="same shape"):
        M.dice(p[:2], g)


def test_best_dice_threshold() -> None:
    g = _lesion_masks()
    m = g.float() * 0.6 + 0.2          # lesion 0.8, background 0.2
    t, d = M.best_dice_threshold(m, g)
    assert d == 1.0 and 0.2 <= t < 0.8
    m[0, 0, 0, 0] = 0.9                # one hot background pixel: best is still 0.2 <= t < 0.8
    t, d = M.best_dice_threshold(m, g)
    assert 0.2 <= t < 0.8 and d == pytest.approx((2 * 4 / (5 + 4) + 1) / 2)
    assert d == pytest.approx(M.dice(m > t, g))
    with pytest.raises(ValueError, match="non-empty mask"):
        M.best_dice_threshold(m, torch.zeros_like(g))


# --------------------------------------------------------------------------- evaluate_scores

def test_evaluate_scores_image_and_pixel() -> None:
    g = _lesion_masks()
    m = g.float() * 0.6 + 0.2
    r = M.evaluate_scores([0.9, 0.8, 0.1], [1, 1, 0], threshold=0.5, maps=m, masks=g, pixel_threshold=0.5)
    assert r["image_auroc"] == 1.0 and r["image_aupr"] == 1.0
    assert r["f1"] == r["precision"] == r["recall"] == r["accuracy"] == r["best_f1"] == 1.0
    assert r["pixel_auroc"] == 1.0 and r["dice"] == 1.0 and r["dice_at_pixel_threshold"] == 1.0
    assert r["n_images"] == 3 and r["n_anomalous"] == 2
    assert all(isinstance(v, float) for v in r.values())
    r = M.evaluate_scores(SCORES, LABELS, threshold=None)
    assert "f1" not in r and "pixel_auroc" not in r and r["image_auroc"] == 0.75


def test_evaluate_scores_undefined_is_nan() -> None:
    r = M.evaluate_scores([0.1, 0.2], [0, 0], threshold=0.15,
                          maps=torch.zeros(2, 1, 4, 4), masks=torch.zeros(2, 1, 4, 4, dtype=torch.bool))
    assert math.isnan(r["image_auroc"]) and math.isnan(r["image_aupr"]) and math.isnan(r["best_f1"])
    assert math.isnan(r["pixel_auroc"]) and math.isnan(r["dice"])
    assert r["precision"] == 0.0 and r["accuracy"] == 0.5
    with pytest.raises(ValueError, match="without maps"):
        M.evaluate_scores([0.1, 0.2], [0, 1], 0.1, masks=torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="2 scores"):
        M.evaluate_scores([0.1, 0.2], [0, 1], 0.1, maps=torch.zeros(3, 1, 4, 4), masks=torch.zeros(3, 1, 4, 4))


# --------------------------------------------------------------------------- against sklearn

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_on_random_data(seed: int) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.25).astype(int)
    s = np.round(rng.normal(size=300) + y, 1)             # rounded: lots of ties
    assert M.auroc(s, y) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(s, y) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    t = float(np.median(s))
    r = M.f1_at(s, y, t)
    pred = s > t
    assert r["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
    assert r["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert r["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert (r["tn"], r["fp"], r["fn"], r["tp"]) == (tn, fp, fn, tp)


def test_pixel_auroc_matches_sklearn() -> None:
    skm = pytest.importorskip("sklearn.metrics")
    gen = torch.Generator().manual_seed(1)
    g = torch.rand(3, 1, 16, 16, generator=gen) < 0.2
    m = torch.round((torch.rand(3, 1, 16, 16, generator=gen) + g.float() * 0.3) * 10) / 10
    assert M.pixel_auroc(m, g) == pytest.approx(skm.roc_auc_score(g.reshape(-1).numpy(), m.reshape(-1).numpy()))
