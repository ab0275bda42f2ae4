"""Shape metrics for voxel GANs: validity, IoU, coverage / MMD, diversity, Chamfer, linear probe.

A *batch* is ``(N, R, R, R)`` or ``(N, 1, R, R, R)`` occupancy — bool, integer 0/1, or float in
[0, 1] — as a torch tensor, numpy array or nested list; a single ``(R, R, R)`` grid counts as a
batch of one. Axes are ``(x, y, z)`` with axis 1 (y) up (nothing here depends on it). A voxel is
*occupied* when its value is ``> threshold`` (default 0.5; bool grids are taken as they are).
Grids need not be cubic, but every shape compared with another must have the same grid shape.

Definitions (all on occupied voxels; see each function for the details):

* **IoU** ``|A ∩ B| / |A ∪ B|``; two empty shapes have IoU 1 (identical), empty vs non-empty 0.
* **Coverage** (COV, Achlioptas et al. 2018): share of reference shapes that are the nearest
  neighbour (highest IoU) of at least one generated shape.
* **MMD-IoU** (minimum matching distance): mean over reference shapes of ``1 − max IoU`` to the
  generated set.
* **Diversity**: mean ``1 − IoU`` over distinct pairs of a set.
* **Validity**: non-empty, not a solid box, one 26-connected piece (:func:`validity_flags`).

Every metric returns a plain ``float`` (or a dict of floats); ``nan`` when undefined (diversity of
fewer than two shapes).

Example:
    >>> a = torch.zeros(1, 8, 8, 8, dtype=torch.bool); a[0, :4] = True        # x < 4: 256 voxels
    >>> b = torch.zeros(1, 8, 8, 8, dtype=torch.bool); b[0, 2:6] = True       # 2 <= x < 6
    >>> iou_matrix(a, b).item()                                               # 128 / 384
    0.3333333432674408
    >>> coverage_mmd(a, a)
    {'coverage': 1.0, 'mmd': 0.0, 'mean_nn_iou': 1.0}
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
from torch import Tensor

from multigan.io.utils import as_numpy

__all__ = [
    "binarize", "is_valid", "validity_flags", "validity", "iou_matrix", "coverage_mmd", "diversity",
    "surface_points", "chamfer_distance", "chamfer_matrix", "linear_probe_accuracy", "evaluate_shapes",
    "largest_piece_share", "valid_after_cleanup", "SOLID_BOX_FILL", "MAX_GRID_FILL", "MAX_STRAY_FRACTION",
    "MAX_DROPPED_FRACTION",
]

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Voxel batch: tensor, numpy array or nested sequence, (N, R, R, R), (N, 1, R, R, R) or (R, R, R).
VoxelsLike: TypeAlias = "Tensor | np.ndarray | Sequence[Any]"

#: A shape whose occupancy of its own bounding box is >= this is a "solid box" (invalid).
SOLID_BOX_FILL = 0.9
#: A shape filling more than this share of the whole grid is a "solid box" too (invalid).
MAX_GRID_FILL = 0.6
#: Isolated single voxels (no 26-neighbour) tolerated by :func:`validity_flags`, as a share of the
#: occupied voxels (rounded down: a 500-voxel shape may have 5 strays, a 99-voxel shape none).
MAX_STRAY_FRACTION = 0.01
#: :func:`valid_after_cleanup`: the pieces dropped may hold at most this share of a shape's voxels.
MAX_DROPPED_FRACTION = 0.02

_STRUCT26 = np.ones((3, 3, 3), dtype=bool)
_SINGLE_THREAD_NUMEL = 2 ** 20
_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


# --------------------------------------------------------------------------- input checking

def binarize(v: VoxelsLike, threshold: float = 0.5) -> Tensor:
    """Occupancy batch → bool tensor ``(N, D, H, W)`` (occupied = value ``> threshold``).

    Accepts ``(N, R, R, R)``, ``(N, 1, R, R, R)`` (channel dropped) or one ``(R, R, R)`` grid (batch
    of one); bool, integer 0/1 or float in [0, 1]. A tensor stays on its device.

    Raises:
        ValueError: wrong rank, an empty axis, values outside [0, 1], NaN/inf, threshold not in (0, 1).
        TypeError: a dtype other than bool / integer / float.

    Example:
        >>> binarize(torch.tensor([[[[0.2, 0.7]]]])).tolist()
        [[[[False, True]]]]
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}")
    t = v if isinstance(v, Tensor) else torch.from_numpy(np.ascontiguousarray(as_numpy(v, "voxels")))
    shape = tuple(t.shape)
    if t.dim() == 5:
        if t.shape[1] != 1:
            raise ValueError(f"a 5-d voxel batch must be (N, 1, D, H, W), got {shape}")
        t = t[:, 0]
    elif t.dim() == 3:
        t = t[None]
    if t.dim() != 4:
        raise ValueError(f"voxels must have shape (N, R, R, R), (N, 1, R, R, R) or (R, R, R), got {shape}")
    if 0 in t.shape[1:]:
        raise ValueError(f"voxel grids must be non-empty, got shape {shape}")
    if t.dtype == torch.bool:
        return t
    if not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise TypeError(f"voxels must be bool, integer or float, got dtype {t.dtype}")
    if t.numel():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError("voxels contain NaN or inf")
        lo, hi = float(t.min()), float(t.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"voxels must be occupancies in [0, 1], got [{lo:.3g}, {hi:.3g}]; "
                             "map generator outputs from [-1, 1] first with (x + 1) / 2")
    return t > threshold


def _pair(a: VoxelsLike, b: VoxelsLike) -> tuple[Tensor, Tensor]:
    x, y = binarize(a), binarize(b)
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"both sets must use the same grid, got {tuple(x.shape[1:])} and {tuple(y.shape[1:])}")
    return x, y.to(x.device)


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- validity

def connected_pieces(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """26-connected pieces of one bool grid: the label grid (0 = empty, piece k is label k + 1) and
    the voxel count of each piece."""
    from scipy import ndimage

    labels, n = ndimage.label(grid, structure=_STRUCT26)
    return labels, np.bincount(labels.ravel(), minlength=n + 1)[1:]


def largest_piece(grid: np.ndarray) -> tuple[np.ndarray, float]:
    """The largest 26-connected piece of one bool grid (a mask) and its share of the occupied voxels
    (``nan`` and an empty mask for an empty grid)."""
    labels, sizes = connected_pieces(grid)
    if not len(sizes):
        return np.zeros_like(grid, dtype=bool), math.nan
    return labels == int(sizes.argmax()) + 1, float(sizes.max() / sizes.sum())


def _grid_flags(grid: np.ndarray) -> tuple[bool, bool, bool]:
    """``(non_empty, not_solid_box, connected)`` of one bool ``(D, H, W)`` numpy grid."""

    count = int(grid.sum())
    if count == 0:
        return False, False, False
    idx = [np.flatnonzero(grid.any(axis=tuple(j for j in range(3) if j != i))) for i in range(3)]
    box = math.prod(int(ix[-1] - ix[0] + 1) for ix in idx)
    not_box = count / box < SOLID_BOX_FILL and count / grid.size <= MAX_GRID_FILL
    sizes = connected_pieces(grid)[1]
    connected = int((sizes >= 2).sum()) == 1 and int((sizes == 1).sum()) <= int(MAX_STRAY_FRACTION * count)
    return True, bool(not_box), bool(connected)


def validity_flags(voxels: VoxelsLike, threshold: float = 0.5) -> dict[str, Tensor]:
    """Per-shape bool tensors ``(N,)``: ``valid``, ``non_empty``, ``not_solid_box``, ``connected``.

    * ``non_empty``: at least one occupied voxel.
    * ``not_solid_box``: the shape fills less than :data:`SOLID_BOX_FILL` (90 %) of its own
      axis-aligned bounding box **and** at most :data:`MAX_GRID_FILL` (60 %) of the whole grid. Any
      cuboid — a cube, a plate, a bar, a single voxel — is a solid box.
    * ``connected``: exactly one 26-connected component (face, edge or corner contact) of two or
      more voxels, plus at most ``floor(MAX_STRAY_FRACTION · occupied)`` isolated single voxels
      (1 %: generators leave specks that a mesh export drops; two real pieces are never excused).
    * ``valid``: all three.

    Example:
        >>> g = torch.zeros(2, 8, 8, 8, dtype=torch.bool)
        >>> g[0, 1:5, 1, 1] = g[0, 1, 1:5, 1] = True        # an L of 7 voxels: valid
        >>> g[1, 1:3, 1, 1] = g[1, 5:7, 1, 1] = True        # two bars apart: not connected
        >>> validity_flags(g)["valid"].tolist(), validity_flags(g)["connected"].tolist()
        ([True, False], [True, False])
    """
    grids = binarize(voxels, threshold).cpu().numpy()
    flags = np.array([_grid_flags(g) for g in grids], dtype=bool).reshape(-1, 3)
    out = {name: torch.from_numpy(flags[:, i].copy()) for i, name in
           enumerate(("non_empty", "not_solid_box", "connected"))}
    return {"valid": out["non_empty"] & out["not_solid_box"] & out["connected"], **out}


def largest_piece_share(voxels: VoxelsLike, threshold: float = 0.5) -> Tensor:
    """Per shape, float ``(N,)``: the share of its occupied voxels in its largest 26-connected piece.

    1 for a shape in one piece; what a mesh export that keeps the largest piece loses is ``1 −``
    this. ``nan`` for an empty grid.

    Example:
        >>> g = torch.zeros(1, 8, 8, 8, dtype=torch.bool)
        >>> g[0, 0:3, 0, 0] = True; g[0, 6, 6, 6] = True                  # a bar of 3 and a speck
        >>> largest_piece_share(g).tolist()
        [0.75]
    """
    shares = [largest_piece(grid)[1] for grid in binarize(voxels, threshold).cpu().numpy()]
    return torch.tensor(shares, dtype=torch.float64)


def valid_after_cleanup(voxels: VoxelsLike, threshold: float = 0.5,
                        max_dropped: float = MAX_DROPPED_FRACTION) -> Tensor:
    """Per shape, bool ``(N,)``: valid (:func:`validity_flags`) once only its largest 26-connected piece
    is kept (what a mesh export keeps), counted only where the pieces dropped held at most
    ``max_dropped`` (2 %) of its voxels, so specks are excused and a table whose legs came off is not.

    Example:
        >>> g = torch.zeros(2, 16, 16, 16, dtype=torch.bool)
        >>> g[:, 2:14, 2:4, 2:14] = True; g[:, 2:4, 4:12, 2:4] = True     # a slab and a leg: 320 voxels
        >>> g[0, 14, 14, 13:15] = True                                     # + a 2-voxel speck (0.6 %)
        >>> g[1, 8:12, 12:15, 8:12] = True                                 # + a detached block (13 %)
        >>> valid_after_cleanup(g).tolist()
        [True, False]
    """
    if isinstance(max_dropped, bool) or not isinstance(max_dropped, (int, float)) or not 0 <= max_dropped < 1:
        raise ValueError(f"max_dropped must be a number in [0, 1), got {max_dropped!r}")
    grids = binarize(voxels, threshold).cpu().numpy()
    kept = np.zeros_like(grids)
    mostly_one_piece = np.zeros(len(grids), dtype=bool)
    for i, grid in enumerate(grids):
        kept[i], share = largest_piece(grid)
        mostly_one_piece[i] = share >= 1 - max_dropped                    # False for an empty grid (nan)
    return validity_flags(torch.from_numpy(kept))["valid"] & torch.from_numpy(mostly_one_piece)


def is_valid(grid: VoxelsLike, threshold: float = 0.5) -> bool:
    """Whether one ``(R, R, R)`` (or ``(1, R, R, R)``) grid is a valid shape (see :func:`validity_flags`)."""
    flags = validity_flags(grid, threshold)["valid"]
    if flags.numel() != 1:
        raise ValueError(f"is_valid takes one grid, got a batch of {flags.numel()}; use validity_flags")
    return bool(flags[0])


def validity(voxels: VoxelsLike, threshold: float = 0.5) -> dict[str, float]:
    """Rates in [0, 1] over the batch: ``{"valid", "non_empty", "not_solid_box", "connected"}``.

    Each is the share of shapes passing that check of :func:`validity_flags` (``valid`` = all).

    Example:
        >>> validity(torch.zeros(4, 8, 8, 8))["valid"]
        0.0
    """
    flags = validity_flags(voxels, threshold)
    return {name: float(f.double().mean()) if f.numel() else math.nan for name, f in flags.items()}


# --------------------------------------------------------------------------- IoU, coverage, MMD

def iou_matrix(a: VoxelsLike, b: VoxelsLike, chunk: int | None = None) -> Tensor:
    """IoU between every shape of ``a`` and every shape of ``b``: float32 ``(Na, Nb)``.

    With flattened 0/1 vectors, ``|A ∩ B| = A·B`` (one matrix product per block of ``chunk``
    shapes of each set) and ``|A ∪ B| = |A| + |B| − |A ∩ B|``. Exact: the products of 0/1 values
    are integer sums below 2²⁴. Empty vs empty is 1, empty vs non-empty 0. Runs on ``a``'s device.
    ``chunk`` defaults to a block of about 128 MB (1024 shapes at 32³, 128 at 64³).

    Example:
        >>> a = torch.zeros(2, 4, 4, 4, dtype=torch.bool); a[0, :2] = True    # a[1] empty
        >>> iou_matrix(a, a).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    x, y = _pair(a, b)
    chunk = max(1, 2 ** 25 // x[0].numel()) if chunk is None else check_count(chunk, "chunk")
    dtype = torch.float32 if x[0].numel() < 2 ** 24 else torch.float64
    xf, yf = x.flatten(1), y.flatten(1)
    out = torch.empty(len(xf), len(yf), dtype=torch.float32, device=xf.device)
    for i in range(0, len(xf), chunk):
        xb = xf[i:i + chunk].to(dtype)
        size_x = xb.sum(1).double()[:, None]
        for j in range(0, len(yf), chunk):
            yb = xb if x is y and i == j else yf[j:j + chunk].to(dtype)
            inter = (xb @ yb.T).double()
            union = size_x + yb.sum(1).double()[None, :] - inter
            out[i:i + chunk, j:j + chunk] = torch.where(union > 0, inter / union.clamp_min(1), 1.0).float()
    return out


def coverage_mmd(generated: VoxelsLike, reference: VoxelsLike) -> dict[str, float]:
    """Coverage, MMD-IoU and mean nearest-neighbour IoU of ``generated`` against ``reference``.

    With ``S[g, r]`` = IoU (:func:`iou_matrix`):

    * ``coverage`` (COV, Achlioptas et al. 2018) = ``#{r : r = argmax_r' S[g, r'] for some g} / Nr``
      — the share of reference shapes that are some generated shape's nearest neighbour
      (ties go to the lowest reference index). 1 = every reference shape is matched.
    * ``mmd`` (MMD-IoU) = ``mean_r min_g (1 − S[g, r])`` — how closely the generated set reaches
      each reference shape. 0 = each reference shape is reproduced exactly.
    * ``mean_nn_iou`` = ``mean_g max_r S[g, r]`` — how close each generated shape is to *some*
      reference shape (fidelity; high even for a collapsed generator, unlike coverage).

    Example:
        >>> ref = torch.zeros(2, 4, 4, 4, dtype=torch.bool); ref[0, :2] = True; ref[1, 2:] = True
        >>> coverage_mmd(ref[:1], ref)                      # one of two reference shapes matched
        {'coverage': 0.5, 'mmd': 0.5, 'mean_nn_iou': 1.0}
    """
    gen, ref = _pair(generated, reference)
    if len(gen) == 0 or len(ref) == 0:
        raise ValueError(f"need at least one generated and one reference shape, got {len(gen)} and {len(ref)}")
    iou = iou_matrix(gen, ref).double()
    nearest = iou.argmax(1)
    return {"coverage": float(torch.unique(nearest).numel() / len(ref)),
            "mmd": float((1 - iou.amax(0)).mean()),
            "mean_nn_iou": float(iou.amax(1).mean())}


def _subsample(x: Tensor, max_shapes: int, seed: int) -> Tensor:
    if len(x) <= max_shapes:
        return x
    g = torch.Generator().manual_seed(int(seed))
    return x[torch.randperm(len(x), generator=g)[:max_shapes].to(x.device)]


def diversity(voxels: VoxelsLike, *, max_shapes: int = 200, seed: int = 0) -> float:
    """Mean IoU distance ``1 − IoU`` over the distinct pairs ``i < j`` of a set, in [0, 1].

    Sets larger than ``max_shapes`` are first subsampled (without replacement, seeded by ``seed``).
    0 = all shapes identical; 1 = no two shapes overlap. ``nan`` for fewer than two shapes.

    Example:
        >>> g = torch.zeros(2, 4, 4, 4, dtype=torch.bool); g[0, :2] = True; g[1, 2:] = True
        >>> diversity(g), diversity(g[[0, 0]])
        (1.0, 0.0)
    """
    max_shapes = check_count(max_shapes, "max_shapes", 2)
    x = _subsample(binarize(voxels), max_shapes, seed)
    n = len(x)
    if n < 2:
        return math.nan
    iou = iou_matrix(x, x).double()
    i, j = torch.triu_indices(n, n, offset=1, device=iou.device)
    return float((1 - iou[i, j]).mean())


# --------------------------------------------------------------------------- Chamfer distance

def surface_points(grid: VoxelsLike, threshold: float = 0.5) -> Tensor:
    """Coordinates ``(P, 3)`` float32 (voxel units, ``(x, y, z)`` order) of one grid's surface voxels.

    A surface voxel is occupied and has at least one empty 6-neighbour (the grid border counts as
    empty). An empty grid gives ``(0, 3)``.

    Example:
        >>> g = torch.zeros(5, 5, 5, dtype=torch.bool); g[1:4, 1:4, 1:4] = True
        >>> len(surface_points(g))                          # 27 voxels, the centre one hidden
        26
    """
    x = binarize(grid, threshold)
    if len(x) != 1:
        raise ValueError(f"surface_points takes one grid, got a batch of {len(x)}")
    return torch.nonzero(_surface_mask(x[0])).float()


def _surface_mask(occ: Tensor) -> Tensor:
    """The surface voxels of one bool ``(D, H, W)`` grid as a bool grid (see :func:`surface_points`)."""
    p = torch.nn.functional.pad(occ.to(torch.uint8)[None, None], (1, 1, 1, 1, 1, 1))[0, 0].bool()
    inner = (occ & p[2:, 1:-1, 1:-1] & p[:-2, 1:-1, 1:-1] & p[1:-1, 2:, 1:-1] & p[1:-1, :-2, 1:-1]
             & p[1:-1, 1:-1, 2:] & p[1:-1, 1:-1, :-2])
    return occ & ~inner


def chamfer_distance(points_a: Tensor, points_b: Tensor, chunk: int = 4096) -> float:
    """Symmetric Chamfer distance between point sets ``(P, 3)`` and ``(Q, 3)`` (Euclidean, not squared).

    ``mean_a min_b ‖a − b‖ + mean_b min_a ‖a − b‖``, in the points' units (voxels for
    :func:`surface_points`). Both empty → 0; exactly one empty → ``inf``.

    Example:
        >>> chamfer_distance(torch.zeros(1, 3), torch.tensor([[3.0, 4.0, 0.0]]))
        10.0
    """
    chunk = check_count(chunk, "chunk")
    pa, pb = (torch.as_tensor(p, dtype=torch.float32) for p in (points_a, points_b))
    for name, p in (("points_a", pa), ("points_b", pb)):
        if p.dim() != 2 or p.shape[1] != 3:
            raise ValueError(f"{name} must have shape (P, 3), got {tuple(p.shape)}")
    if len(pa) == 0 or len(pb) == 0:
        return 0.0 if len(pa) == len(pb) == 0 else math.inf
    pb = pb.to(pa.device)

    def one_way(p: Tensor, q: Tensor) -> float:
        return float(torch.cat([torch.cdist(p[i:i + chunk], q).amin(1) for i in range(0, len(p), chunk)])
                     .double().mean())

    return one_way(pa, pb) + one_way(pb, pa)


def _surfaces_and_distances(grids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per bool grid, its surface voxels (:func:`surface_points`) as a flat float64 mask ``(N, R³)``,
    every voxel's Euclidean distance to the nearest of them ``(N, R³)``, and the surface sizes ``(N,)``."""
    from scipy import ndimage

    masks = torch.zeros(len(grids), grids[0].numel(), dtype=torch.float64)
    dists = torch.zeros_like(masks)
    for i, grid in enumerate(grids):
        mask = _surface_mask(grid.cpu())
        if mask.any():
            masks[i] = mask.flatten()
            dists[i] = torch.from_numpy(ndimage.distance_transform_edt(~mask.numpy()).ravel())
    return masks, dists, masks.sum(1)


def chamfer_matrix(a: VoxelsLike, b: VoxelsLike) -> Tensor:
    """Symmetric Chamfer distances ``(Na, Nb)`` float32 between the surfaces of two sets of grids.

    A surface is a grid's surface voxels (:func:`surface_points`: the mesh surface to within a
    voxel), all of them; the distance of a pair is :func:`chamfer_distance` of the two, in voxels.
    It is computed exactly for all pairs at once: with ``S`` the surface masks and ``D`` each
    grid's distance transform (every voxel's distance to its surface), the mean distance from
    ``a``'s surface to ``b``'s is ``S_a · D_b / |S_a|``, one matrix product. A pair with an empty
    grid gives ``inf`` (0 when both are empty).

    Example:
        >>> g = torch.zeros(2, 8, 8, 8, dtype=torch.bool); g[0, 1:3, 1:3, 1:3] = True; g[1, 5:7, 1:3, 1:3] = True
        >>> chamfer_matrix(g, g).tolist()                   # a cube, and the same moved by 4 voxels
        [[0.0, 7.0], [7.0, 0.0]]
    """
    x, y = _pair(a, b)
    (sa, da, na), (sb, db, nb) = _surfaces_and_distances(x), _surfaces_and_distances(y)
    out = (sa @ db.T / na.clamp_min(1)[:, None] + (sb @ da.T / nb.clamp_min(1)[:, None]).T).float()
    empty_a, empty_b = na == 0, nb == 0
    out[empty_a[:, None] ^ empty_b[None, :]] = math.inf
    out[empty_a[:, None] & empty_b[None, :]] = 0.0
    return out


# --------------------------------------------------------------------------- linear probe

def _features(x: Any, name: str) -> Tensor:
    t = torch.as_tensor(as_numpy(x, name) if not isinstance(x, Tensor) else x.detach().cpu())
    if t.dim() != 2 or len(t) == 0 or not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise ValueError(f"{name} must be a non-empty numeric (N, F) matrix, got {t.dtype} {tuple(t.shape)}")
    t = t.double()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _labels(y: Any, n: int, name: str) -> Tensor:
    t = torch.as_tensor(as_numpy(y, name) if not isinstance(y, Tensor) else y.detach().cpu())
    if t.dim() != 1 or len(t) != n or t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be {n} integer class labels (N,), got {t.dtype} {tuple(t.shape)}")
    return t.long()


def linear_probe_accuracy(train_features: Any, train_labels: Any, test_features: Any, test_labels: Any, *,
                          epochs: int = 100, lr: float = 1.0, weight_decay: float = 1e-3,
                          seed: int = 0) -> float:
    """Test accuracy of a multinomial logistic regression fitted on the training features.

    Features are standardised with the training mean and standard deviation (constant columns
    left at 0). The classifier ``softmax(W x + b)`` minimises mean cross-entropy
    ``+ weight_decay/2 · ‖W‖²`` with full-batch L-BFGS (strong Wolfe line search, up to ``epochs``
    iterations, step ``lr``) in float64 from weights drawn with ``seed`` — deterministic.
    Classes are the distinct training labels; a test label never seen in training counts as an
    error. Returns the share of test rows whose arg-max class equals the label. Problems with at
    most 2²⁰ training-feature entries are fitted with torch's intra-op threads set to 1 (restored
    afterwards): for them thread hand-offs cost more than the arithmetic.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [10.0], [11.0]]); y = torch.tensor([0, 0, 1, 1])
        >>> linear_probe_accuracy(x, y, x, y)
        1.0
    """
    epochs = check_count(epochs, "epochs")
    if not (lr > 0 and weight_decay >= 0):
        raise ValueError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
    xtr, xte = _features(train_features, "train_features"), _features(test_features, "test_features")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train and test features differ in width: {xtr.shape[1]} vs {xte.shape[1]}")
    ytr, yte = _labels(train_labels, len(xtr), "train_labels"), _labels(test_labels, len(xte), "test_labels")
    classes, target = torch.unique(ytr, return_inverse=True)
    mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    xtr, xte = (xtr - mean) / std, (xte - mean) / std

    g = torch.Generator().manual_seed(int(seed))
    weight = (0.01 * torch.randn(xtr.shape[1], len(classes), generator=g, dtype=torch.float64)).requires_grad_()
    bias = torch.zeros(len(classes), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=lr, max_iter=epochs, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xtr @ weight + bias, target)
        loss = loss + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    small = xtr.numel() <= _SINGLE_THREAD_NUMEL
    try:
        if small:           # thread hand-offs dominate tiny products (×100 slower on a busy machine)
            torch.set_num_threads(1)
        with torch.enable_grad():
            opt.step(closure)
    finally:
        if small:
            torch.set_num_threads(threads)
    with torch.no_grad():
        predicted = classes[(xte @ weight + bias).argmax(1)]
    return float((predicted == yte).double().mean())


# --------------------------------------------------------------------------- summary

def evaluate_shapes(generated: VoxelsLike, reference: VoxelsLike, *, max_shapes: int = 200,
                    seed: int = 0) -> dict[str, float]:
    """All set metrics of ``generated`` against ``reference`` in one dict of floats.

    Keys: ``valid`` (rate, :func:`validity`), ``coverage``, ``mmd``, ``mean_nn_iou``
    (:func:`coverage_mmd`, on the full sets), ``diversity`` and ``diversity_reference``
    (:func:`diversity`, each on at most ``max_shapes`` shapes drawn with ``seed``) and
    ``diversity_ratio`` = generated / reference diversity (≈ 1 when the generator is as varied as
    the data; ``nan`` when the reference diversity is 0 or undefined).

    Example:
        >>> g = torch.zeros(2, 4, 4, 4, dtype=torch.bool); g[0, :2] = True; g[1, 2:] = True
        >>> evaluate_shapes(g, g)["coverage"], evaluate_shapes(g, g)["diversity_ratio"]
        (1.0, 1.0)
    """
    gen, ref = _pair(generated, reference)
    out = {"valid": validity(gen)["valid"], **coverage_mmd(gen, ref)}
    div_gen = diversity(gen, max_shapes=max_shapes, seed=seed)
    div_ref = diversity(ref, max_shapes=max_shapes, seed=seed)
    out.update(diversity=div_gen, diversity_reference=div_ref,
               diversity_ratio=div_gen / div_ref if div_ref > 0 else math.nan)
    return out
