"""Voxel shape metrics (multigan.voxel.metrics) on hand-made shapes with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multigan.voxel import metrics as M

R = 8


def empty(n: int = 1, r: int = R) -> torch.Tensor:
    return torch.zeros(n, r, r, r, dtype=torch.bool)


def box(x: tuple[int, int], y: tuple[int, int], z: tuple[int, int], r: int = R) -> torch.Tensor:
    """One (R, R, R) grid with the half-open box [x0, x1) × [y0, y1) × [z0, z1) occupied."""
    g = torch.zeros(r, r, r, dtype=torch.bool)
    g[x[0]:x[1], y[0]:y[1], z[0]:z[1]] = True
    return g


def l_shape(r: int = R) -> torch.Tensor:
    """A vertical bar (x 1-2, y 1-6) joined to a horizontal bar (x 1-6, y 1-2), 2 thick in z: 40 voxels."""
    return box((1, 3), (1, 7), (2, 4), r) | box((1, 7), (1, 3), (2, 4), r)


# --------------------------------------------------------------------------- binarize

def test_binarize_accepts_layouts_and_thresholds() -> None:
    probs = torch.tensor([0.2, 0.5, 0.51, 1.0]).view(1, 1, 1, 4).expand(2, 1, 1, 4).reshape(2, 1, 1, 4)
    assert M.binarize(probs).tolist() == [[[[False, False, True, True]]]] * 2       # strictly > 0.5
    assert M.binarize(probs, threshold=0.1).all()
    five = probs[:, None]                                                           # (N, 1, R, R, R)
    assert M.binarize(five).shape == (2, 1, 1, 4)
    single = np.zeros((3, 3, 3), np.uint8)
    single[1, 1, 1] = 1
    out = M.binarize(single)                                                        # numpy, one grid
    assert out.dtype == torch.bool and out.shape == (1, 3, 3, 3) and out.sum() == 1
    b = empty(2)
    assert M.binarize(b) is b                                                       # bool kept as is


@pytest.mark.parametrize("bad, error, match", [
    (torch.zeros(4, 4), ValueError, "shape"),
    (torch.zeros(2, 2, 4, 4, 4), ValueError, r"\(N, 1, D, H, W\)"),
    (torch.zeros(1, 0, 4, 4), ValueError, "non-empty"),
    (torch.full((1, 2, 2, 2), 1.5), ValueError, r"\[0, 1\]"),
    (torch.full((1, 2, 2, 2), -0.5), ValueError, r"\[0, 1\]"),
    (torch.full((1, 2, 2, 2), float("nan")), ValueError, "NaN"),
    (torch.zeros(1, 2, 2, 2, dtype=torch.complex64), TypeError, "dtype"),
    ("voxels.npy", TypeError, "array or tensor"),
])
def test_binarize_rejects_bad_input(bad, error, match) -> None:
    with pytest.raises(error, match=match):
        M.binarize(bad)


@pytest.mark.parametrize("threshold", [0, 1, -0.1, 2.0, True, "0.5"])
def test_binarize_rejects_bad_threshold(threshold) -> None:
    with pytest.raises(ValueError, match="threshold"):
        M.binarize(empty(), threshold)


# --------------------------------------------------------------------------- IoU

def test_iou_of_two_overlapping_boxes_is_analytic() -> None:
    a, b = box((0, 4), (0, 4), (0, 4)), box((2, 6), (2, 6), (2, 6))     # 64 each, overlap 2³ = 8
    iou = M.iou_matrix(a[None], b[None])
    assert iou.shape == (1, 1) and iou.dtype == torch.float32
    assert iou.item() == pytest.approx(8 / (64 + 64 - 8))
    c = box((0, 4), (0, 4), (0, 2))                                     # inside a: 32 of 64
    assert M.iou_matrix(a[None], c[None]).item() == pytest.approx(0.5)


def test_iou_empty_conventions() -> None:
    a = torch.stack([box((0, 2), (0, 2), (0, 2)), empty()[0]])
    assert M.iou_matrix(a, a).tolist() == [[1.0, 0.0], [0.0, 1.0]]     # empty vs empty = 1


def test_iou_matrix_matches_a_naive_loop() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(7, R, R, R, generator=g) > torch.rand(7, 1, 1, 1, generator=g)   # varied densities
    b = torch.rand(5, 1, R, R, R, generator=g)                                     # float, 5-d
    a[3] = False                                                                   # an empty shape
    bb = b[:, 0] > 0.5
    naive = torch.zeros(7, 5)
    for i in range(7):
        for j in range(5):
            union = (a[i] | bb[j]).sum().item()
            naive[i, j] = (a[i] & bb[j]).sum().item() / union if union else 1.0
    assert torch.allclose(M.iou_matrix(a, b), naive, atol=1e-6)
    assert torch.allclose(M.iou_matrix(a, b, chunk=2), naive, atol=1e-6)            # blocks agree
    assert torch.allclose(M.iou_matrix(a.numpy(), b.numpy()), naive, atol=1e-6)     # numpy input
    assert torch.allclose(M.iou_matrix(a, a).diagonal(), torch.ones(7))


def test_iou_matrix_rejects_mismatched_grids_and_chunk() -> None:
    with pytest.raises(ValueError, match="same grid"):
        M.iou_matrix(empty(1, 8), empty(1, 4))
    with pytest.raises(ValueError, match="chunk"):
        M.iou_matrix(empty(), empty(), chunk=0)


# --------------------------------------------------------------------------- coverage / MMD

def four_disjoint() -> torch.Tensor:
    """Four non-overlapping 4×4×4 boxes in the four (x, z) quadrants of the bottom half."""
    return torch.stack([box((x, x + 4), (0, 4), (z, z + 4)) for x in (0, 4) for z in (0, 4)])


def test_coverage_mmd_identical_sets() -> None:
    ref = four_disjoint()
    out = M.coverage_mmd(ref, ref)
    assert out == {"coverage": 1.0, "mmd": 0.0, "mean_nn_iou": 1.0}
    assert M.coverage_mmd(ref.flip(0), ref)["coverage"] == 1.0                    # order does not matter


def test_coverage_half_hand_built() -> None:
    ref = four_disjoint()
    gen = torch.stack([ref[0], ref[1], ref[0]])            # matches refs 0 and 1 only (ref 0 twice)
    out = M.coverage_mmd(gen, ref)
    assert out["coverage"] == 0.5                           # 2 of 4 reference shapes are a nearest neighbour
    assert out["mmd"] == pytest.approx(0.5)                 # distances 0, 0, 1, 1 (refs 2, 3 untouched)
    assert out["mean_nn_iou"] == 1.0


def test_coverage_mode_collapse_and_partial_overlap() -> None:
    ref = four_disjoint()
    # every generated shape is a half of ref 0: one reference covered, IoU 0.5 to it
    half = box((0, 4), (0, 2), (0, 4))
    out = M.coverage_mmd(torch.stack([half] * 3), ref)
    assert out["coverage"] == 0.25
    assert out["mmd"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    assert out["mean_nn_iou"] == pytest.approx(0.5)


def test_coverage_mmd_needs_shapes() -> None:
    with pytest.raises(ValueError, match="at least one"):
        M.coverage_mmd(empty(0), four_disjoint())


# --------------------------------------------------------------------------- diversity

def test_diversity_known_values() -> None:
    a, b = box((0, 4), (0, 4), (0, 4)), box((4, 8), (4, 8), (4, 8))
    assert M.diversity(torch.stack([a, a, a])) == 0.0
    assert M.diversity(torch.stack([a, b])) == 1.0
    assert M.diversity(torch.stack([a, b, a])) == pytest.approx(2 / 3)             # pairs: 1, 0, 1
    c = box((2, 6), (2, 6), (2, 6))                                                # IoU(a, c) = 8/120
    assert M.diversity(torch.stack([a, c])) == pytest.approx(1 - 8 / 120)
    assert math.isnan(M.diversity(a[None]))


def test_diversity_subsamples_deterministically() -> None:
    shapes = torch.rand(30, R, R, R, generator=torch.Generator().manual_seed(1)) > 0.5
    full = M.diversity(shapes)
    sub = M.diversity(shapes, max_shapes=10, seed=3)
    assert sub == M.diversity(shapes, max_shapes=10, seed=3)
    assert sub != full and abs(sub - full) < 0.05
    with pytest.raises(ValueError, match="max_shapes"):
        M.diversity(shapes, max_shapes=1)


# --------------------------------------------------------------------------- validity

def test_validity_hand_made_shapes() -> None:
    cube = box((2, 6), (2, 6), (2, 6))
    two_blobs = box((0, 2), (0, 3), (0, 3)) | box((5, 8), (0, 3), (0, 3))
    # three bars; the first meets the second only at a corner (26- but not 6-connected)
    diagonal = box((0, 3), (0, 1), (0, 1)) | box((3, 4), (1, 4), (1, 2)) | box((3, 6), (4, 5), (1, 2))
    seven_eighths = torch.ones(R, R, R, dtype=torch.bool)
    seven_eighths[:4, 4:, :4] = False                       # 87.5 % of its box (< 90 %) but > 60 % of the grid
    batch = torch.stack([empty()[0], torch.ones(R, R, R, dtype=torch.bool), cube, two_blobs, l_shape(),
                         diagonal, seven_eighths])
    flags = M.validity_flags(batch)
    assert flags["non_empty"].tolist() == [False, True, True, True, True, True, True]
    assert flags["not_solid_box"].tolist() == [False, False, False, True, True, True, False]
    assert flags["connected"].tolist() == [False, True, True, False, True, True, True]
    assert flags["valid"].tolist() == [False, False, False, False, True, True, False]
    rates = M.validity(batch)
    assert rates == {"valid": 2 / 7, "non_empty": 6 / 7, "not_solid_box": 3 / 7, "connected": 5 / 7}
    assert M.is_valid(l_shape()) and not M.is_valid(two_blobs) and not M.is_valid(empty())


def test_validity_tolerates_a_few_stray_voxels_only() -> None:
    r = 32
    big = box((2, 30), (2, 4), (2, 30), r) | box((2, 4), (4, 30), (2, 30), r)   # an L-shaped chair side: 3024 voxels
    with_specks = big.clone()
    for k in range(5):                                                          # 5 isolated voxels ≤ 1 %
        with_specks[31, 2 + 6 * k, 31] = True
    assert M.is_valid(big) and M.is_valid(with_specks)
    pair = with_specks.clone()
    pair[31, 31, 0] = pair[30, 31, 0] = True                                    # a 2-voxel second piece
    assert not M.is_valid(pair)
    small = l_shape().clone()
    small[7, 7, 7] = True                                                       # 1 speck on 40 voxels > 1 %
    assert not M.is_valid(small)
    lone = empty()[0]
    lone[3, 3, 3] = True
    assert not M.is_valid(lone)                                                 # a lone voxel is a "box"


def test_valid_after_cleanup_excuses_up_to_two_percent_dropped() -> None:
    r = 32
    big = box((2, 30), (2, 4), (2, 30), r) | box((2, 4), (4, 30), (2, 30), r)   # 3024 voxels in one piece
    at_bound, over = big.clone(), big.clone()
    at_bound[31, 0:30, 0:2] = True
    at_bound[31, 30, 0] = True                                                  # + 61 apart: 1.98 % dropped
    over[31, 0:31, 0:2] = True                                                  # + 62 apart: 2.01 %
    plate = box((0, 20), (0, 2), (0, 20), r)                                    # one piece, but a solid box
    batch = torch.stack([big, at_bound, over, plate, empty(1, r)[0]])
    assert M.valid_after_cleanup(batch).tolist() == [True, True, False, False, False]
    assert M.validity_flags(batch)["valid"].tolist() == [True, False, False, False, False]
    assert M.valid_after_cleanup(batch, max_dropped=0.03).tolist() == [True, True, True, False, False]
    assert M.valid_after_cleanup(batch, max_dropped=0).tolist() == [True, False, False, False, False]
    assert M.valid_after_cleanup(batch.float() * 0.7, threshold=0.8).tolist() == [False] * 5
    for bad in (1.0, -0.1, True, "0.02"):
        with pytest.raises(ValueError, match="max_dropped"):
            M.valid_after_cleanup(batch, max_dropped=bad)


def test_validity_threshold_and_batch_errors() -> None:
    probs = l_shape().float() * 0.7
    assert M.is_valid(probs) and not M.is_valid(probs, threshold=0.8)
    with pytest.raises(ValueError, match="one grid"):
        M.is_valid(empty(2))


# --------------------------------------------------------------------------- Chamfer

def test_surface_points_and_chamfer() -> None:
    g = torch.zeros(5, 5, 5, dtype=torch.bool)
    g[1:4, 1:4, 1:4] = True
    pts = M.surface_points(g)
    assert pts.shape == (26, 3) and not (pts == 2).all(1).any()              # centre voxel hidden
    assert M.surface_points(torch.ones(3, 3, 3)).shape == (26, 3)            # grid border counts as empty
    assert M.surface_points(torch.zeros(3, 3, 3)).shape == (0, 3)
    assert M.chamfer_distance(pts, pts) == 0.0
    assert M.chamfer_distance(torch.zeros(1, 3), torch.tensor([[3.0, 4.0, 0.0]])) == pytest.approx(10.0)
    two = torch.tensor([[0.0, 0, 0], [10.0, 0, 0]])
    assert M.chamfer_distance(two, torch.zeros(1, 3)) == pytest.approx(5.0)  # (0 + 10) / 2 + 0
    assert M.chamfer_distance(two, two[:1], chunk=1) == pytest.approx(5.0)
    assert M.chamfer_distance(torch.zeros(0, 3), torch.zeros(0, 3)) == 0.0
    assert M.chamfer_distance(torch.zeros(0, 3), two) == math.inf
    with pytest.raises(ValueError, match=r"\(P, 3\)"):
        M.chamfer_distance(torch.zeros(4, 2), two)


def test_chamfer_matrix_equals_pairwise_chamfer_of_surfaces() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 10, 10, 10, generator=gen) > 0.7
    b = torch.rand(4, 10, 10, 10, generator=gen) > 0.5
    b[3] = False                                                             # an empty grid
    m = M.chamfer_matrix(a, b)
    assert m.shape == (3, 4) and m.dtype == torch.float32
    for i in range(3):
        for j in range(3):
            want = M.chamfer_distance(M.surface_points(a[i]), M.surface_points(b[j]))
            assert float(m[i, j]) == pytest.approx(want, rel=1e-5)
    assert torch.isinf(m[:, 3]).all() and float(M.chamfer_matrix(b[3:], b[3:])) == 0.0
    assert torch.allclose(M.chamfer_matrix(b, a), m.T, atol=1e-5)           # symmetric
    assert torch.equal(M.chamfer_matrix(a, a).diagonal(), torch.zeros(3))


# --------------------------------------------------------------------------- linear probe

def clusters(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    feats = centres[labels] + 0.5 * torch.randn(n, 3, generator=g)
    return torch.cat([feats, torch.randn(n, 5, generator=g)], 1), labels + 10   # labels 10, 11, 12


def test_linear_probe_separable_and_random() -> None:
    xtr, ytr = clusters(150, 0)
    xte, yte = clusters(90, 1)
    assert M.linear_probe_accuracy(xtr, ytr, xte, yte) == 1.0
    g = torch.Generator().manual_seed(2)
    rtr, rte = torch.randn(300, 20, generator=g), torch.randn(300, 20, generator=g)
    ltr, lte = torch.randint(0, 3, (300,), generator=g), torch.randint(0, 3, (300,), generator=g)
    acc = M.linear_probe_accuracy(rtr, ltr, rte, lte, seed=5)
    assert 0.2 < acc < 0.46                                                    # chance = 1/3
    threads = torch.get_num_threads()
    assert acc == M.linear_probe_accuracy(rtr, ltr, rte, lte, seed=5)          # deterministic
    assert torch.get_num_threads() == threads                                  # thread setting restored


def test_linear_probe_unseen_test_class_counts_as_error_and_validates() -> None:
    xtr, ytr = clusters(60, 0)
    xte, yte = clusters(30, 1)
    yte = yte.clone()
    yte[:3] = 99                                                               # a class never trained on
    assert M.linear_probe_accuracy(xtr.numpy(), ytr.numpy(), xte, yte) == pytest.approx(27 / 30)
    with pytest.raises(ValueError, match="width"):
        M.linear_probe_accuracy(xtr, ytr, xte[:, :4], yte)
    with pytest.raises(ValueError, match="integer class labels"):
        M.linear_probe_accuracy(xtr, ytr.float(), xte, yte)
    with pytest.raises(ValueError, match="integer class labels"):
        M.linear_probe_accuracy(xtr, ytr[:5], xte, yte)
    with pytest.raises(ValueError, match="NaN"):
        M.linear_probe_accuracy(xtr * float("nan"), ytr, xte, yte)
    with pytest.raises(ValueError, match="epochs"):
        M.linear_probe_accuracy(xtr, ytr, xte, yte, epochs=0)


# --------------------------------------------------------------------------- summary

def test_evaluate_shapes() -> None:
    ref = four_disjoint()
    gen = torch.stack([ref[0], ref[1], empty()[0]])
    out = M.evaluate_shapes(gen, ref)
    assert set(out) == {"valid", "coverage", "mmd", "mean_nn_iou", "diversity", "diversity_reference",
                        "diversity_ratio"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["valid"] == 0.0                       # solid boxes and an empty grid
    assert out["coverage"] == 0.5 and out["mmd"] == pytest.approx(0.5)
    assert out["mean_nn_iou"] == pytest.approx(2 / 3)
    assert out["diversity"] == 1.0 and out["diversity_reference"] == 1.0 and out["diversity_ratio"] == 1.0
    same = M.evaluate_shapes(ref[[0, 0]], ref[[0, 0]])
    assert same["diversity"] == 0.0 and math.isnan(same["diversity_ratio"])
