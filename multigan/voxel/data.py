"""Voxel shape datasets: the shipped Sweet Home 3D furniture, your own mesh/binvox folders, arrays.

Grids are ``(x, y, z)`` occupancy arrays with **axis 1 pointing up**; the ground is at low ``y``.
:class:`VoxelDataset` is a :class:`torch.utils.data.TensorDataset` of ``(voxels, label)`` pairs,
``voxels`` float32 ``(1, R, R, R)`` in {0, 1} and ``label`` int64, so the shared trainer's in-memory
fast path (which indexes ``dataset.tensors``) applies. Besides the tensors it keeps ``classes``
(label → class name), ``names`` (one per item) and ``groups`` (the source shape of each item, so
the augmented copies of one shape can be kept on the same side of a train / held-out split).

The shipped asset ``multigan/assets/voxel/furniture.npz`` (built by ``scripts/build_voxel_assets.py``, see
``multigan/assets/voxel/ATTRIBUTION.md``) holds chairs, tables, sofas and beds voxelised at 32³ and 64³,
bit-packed along the last axis (:func:`pack_voxels`).

Example:
    >>> data = VoxelDataset.furniture(resolution=32)            # doctest: +SKIP
    >>> voxels, label = data[0]                                 # doctest: +SKIP
    >>> voxels.shape, data.classes[label]                       # doctest: +SKIP
    (torch.Size([1, 32, 32, 32]), 'chair')
    >>> train, held_out = data.split(0.2, seed=0)               # doctest: +SKIP
    >>> grid = read_binvox("model.binvox")                      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import operator
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import TensorDataset

from multigan.io.mesh import MESH_SUFFIXES
from multigan.io.utils import as_numpy, atomic_file, existing_file, warn_skipped

__all__ = [
    "CLASSES",
    "VoxelDataset",
    "training_dataset",
    "pack_voxels",
    "unpack_voxels",
    "save_arrays",
    "read_binvox",
    "write_binvox",
    "rotate_vertical",
    "stand_on_floor",
    "thicken",
    "resample_voxels",
]

#: Classes of the shipped furniture asset, in label order.
CLASSES = ("chair", "table", "sofa", "bed")

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)               # fixed timestamp: byte-identical npz files
_CACHE_VERSION = 1                              # bump when the voxelisation changes
_FURNITURE_SCRIPT = "scripts/build_voxel_assets.py"
_MAX_REPORTED = 5                               # skipped files named in the warning


# -- packing and files -----------------------------------------------------------------------------

def pack_voxels(voxels: Any) -> np.ndarray:
    """Bit-pack bool grids ``(..., R, R, R)`` along the last axis → uint8 ``(..., R, R, ceil(R/8))``.

    Example:
        >>> grid = np.zeros((2, 16, 16, 16), bool); grid[0, 3, 4, 5] = True
        >>> packed = pack_voxels(grid); packed.shape
        (2, 16, 16, 2)
        >>> bool((unpack_voxels(packed) == grid).all())
        True
    """
    grid = as_numpy(voxels, "voxels")
    if grid.ndim < 3:
        raise ValueError(f"voxels must have shape (..., R, R, R), got {grid.shape}")
    return np.packbits(grid.astype(bool), axis=-1)


def unpack_voxels(packed: Any, resolution: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_voxels`: uint8 ``(..., R, R, ceil(R/8))`` → bool ``(..., R, R, R)``.

    ``resolution`` defaults to ``packed.shape[-2]`` (grids are cubic).
    """
    packed = as_numpy(packed, "packed voxels")
    if packed.dtype != np.uint8 or packed.ndim < 3:
        raise ValueError(f"packed voxels must be uint8 with shape (..., R, R, ceil(R/8)), "
                         f"got {packed.dtype} {packed.shape}")
    res = int(packed.shape[-2] if resolution is None else resolution)
    if packed.shape[-1] != (res + 7) // 8:
        raise ValueError(f"packed voxels of shape {packed.shape} do not hold {res}-voxel rows "
                         f"(last axis must be {(res + 7) // 8})")
    return np.unpackbits(packed, axis=-1, count=res).astype(bool)


_ZIP_METHODS = {"deflate": zipfile.ZIP_DEFLATED, "lzma": zipfile.ZIP_LZMA}


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any], *, compression: str = "deflate") -> Path:
    """Write named arrays as a compressed ``.npz``, atomically and byte-for-byte reproducibly.

    The same arrays always give the same file (fixed zip timestamps, no pickles), so rebuilding an
    asset does not change it unless the data changed. ``compression="lzma"`` makes files about a
    third smaller than ``"deflate"`` on pictures and is slower to write; ``np.load`` reads both.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"arrays are written as .npz files, got {str(path)!r}")
    if compression not in _ZIP_METHODS:
        raise ValueError(f"compression must be one of {sorted(_ZIP_METHODS)}, got {compression!r}")
    method = _ZIP_METHODS[compression]
    with atomic_file(path) as tmp, zipfile.ZipFile(tmp, "w", method, compresslevel=9) as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            value = np.asarray(value)                              # (ascontiguousarray makes 0-d → 1-d)
            np.lib.format.write_array(buf, value if value.flags.c_contiguous else value.copy(), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return path


def _load_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as err:
        raise ValueError(f"cannot read {what} {str(path)!r}: {err}") from err


# -- binvox ----------------------------------------------------------------------------------------
#
# binvox (https://www.patrickmin.com/binvox/binvox.html) stores a header
#     #binvox 1 / dim D H W / translate tx ty tz / scale s / data
# followed by run-length pairs of bytes (value, count 1..255). Voxel (x, y, z) sits at flat index
# x * (W * H) + z * W + y: x slowest, then z, then y fastest, i.e. the flat data reshaped to
# (D, H, W) = (nx, nz, ny) is indexed [x, z, y]. We transpose it with axes (0, 2, 1) to our
# (x, y, z) order (binvox-rw-py does the same); for ShapeNet's Y-up binvox files axis 1 is up.

def read_binvox(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.binvox`` file as a bool ``(x, y, z)`` grid (see the format note above).

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        ValueError: naming the file for a bad header or run-length data of the wrong length.

    Example:
        >>> grid = read_binvox("chair.binvox")      # doctest: +SKIP
        >>> grid.shape, grid.dtype                   # doctest: +SKIP
        ((32, 32, 32), dtype('bool'))
    """
    path = existing_file(path)
    raw = path.read_bytes()
    stream = io.BytesIO(raw)
    if not stream.readline().startswith(b"#binvox"):
        raise ValueError(f"{str(path)!r} is not a binvox file (first line must be '#binvox 1')")
    dims = None
    while True:
        line = stream.readline()
        if not line:
            raise ValueError(f"binvox file {str(path)!r}: header ends without a 'data' line")
        words = line.strip().split()
        if not words:
            continue
        if words[0] == b"data":
            break
        if words[0] == b"dim":
            try:
                dims = tuple(int(w) for w in words[1:])
            except ValueError:
                dims = None
            if dims is None or len(dims) != 3 or min(dims) < 1:
                raise ValueError(f"binvox file {str(path)!r}: bad dim line {line.strip()!r}")
    if dims is None:
        raise ValueError(f"binvox file {str(path)!r}: no 'dim' line in the header")
    pairs = np.frombuffer(raw[stream.tell():], np.uint8)
    if pairs.size % 2:
        raise ValueError(f"binvox file {str(path)!r}: run-length data has an odd number of bytes")
    pairs = pairs.reshape(-1, 2)
    total = int(pairs[:, 1].astype(np.int64).sum())
    if total != int(np.prod(dims)):
        raise ValueError(f"binvox file {str(path)!r}: run lengths cover {total} voxels, dim {dims} "
                         f"needs {int(np.prod(dims))}")
    flat = np.repeat(pairs[:, 0] > 0, pairs[:, 1].astype(np.int64))
    return np.ascontiguousarray(flat.reshape(dims).transpose(0, 2, 1))


def write_binvox(voxels: Any, path: str | os.PathLike, *, translate: Sequence[float] = (0.0, 0.0, 0.0),
                 scale: float = 1.0) -> Path:
    """Write a ``(x, y, z)`` occupancy grid (bool, or values in [0, 1] thresholded at 0.5) as binvox.

    ``translate`` and ``scale`` go into the header (binvox's placement of the grid in model
    units). The file is written atomically.

    Example:
        >>> write_binvox(np.ones((8, 8, 8), bool), "cube.binvox")   # doctest: +SKIP
    """
    grid = as_numpy(voxels, "voxels")
    if grid.ndim != 3 or min(grid.shape) < 1:
        raise ValueError(f"voxels must have shape (x, y, z), got {grid.shape}")
    if not (grid.dtype == np.bool_ or np.issubdtype(grid.dtype, np.integer) or np.issubdtype(grid.dtype, np.floating)):
        raise TypeError(f"voxels must be bool or real numbers, got dtype {grid.dtype}")
    if grid.dtype != np.bool_:
        if not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 1:
            raise ValueError(f"voxels must be in [0, 1], got [{grid.min():.3g}, {grid.max():.3g}]")
        grid = grid > 0.5
    path = Path(path)
    if path.suffix.lower() != ".binvox":
        raise ValueError(f"binvox files end in .binvox, got {str(path)!r}")
    if len(translate) != 3:
        raise ValueError(f"translate must be 3 numbers, got {translate!r}")
    flat = grid.transpose(0, 2, 1).ravel().astype(np.uint8)            # file order: x, z, y
    starts = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    pieces = (lengths + 254) // 255                                     # runs longer than 255 split
    values = np.repeat(flat[starts], pieces)
    counts = np.full(int(pieces.sum()), 255, np.int64)
    counts[np.cumsum(pieces) - 1] = lengths - 255 * (pieces - 1)
    nx, ny, nz = grid.shape
    header = (f"#binvox 1\ndim {nx} {nz} {ny}\ntranslate {' '.join(repr(float(t)) for t in translate)}\n"
              f"scale {float(scale)!r}\ndata\n").encode("ascii")
    with atomic_file(path) as tmp:
        tmp.write_bytes(header + np.stack([values, counts], 1).astype(np.uint8).tobytes())
    return path


# -- grid operations -------------------------------------------------------------------------------

def stand_on_floor(voxels: Any) -> Any:
    """Shift each grid ``(..., x, y, z)`` down along y so its lowest occupied layer is y = 0.

    Shapes voxelised centred sit at a height that depends on their proportions (a low table floats
    mid-grid, a tall one reaches the bottom); standing them all on the floor removes that offset.
    Occupancy is any value > 0; empty grids stay as they are. The shift is exact (no voxel is lost)
    and commutes with :func:`rotate_vertical`. Works on numpy arrays and torch tensors.

    Example:
        >>> grid = np.zeros((4, 4, 4), bool); grid[1, 2:4, 3] = True      # a bar at y = 2, 3
        >>> np.argwhere(stand_on_floor(grid)).tolist()
        [[1, 0, 3], [1, 1, 3]]
    """
    if voxels.ndim < 3:
        raise ValueError(f"voxels must have shape (..., x, y, z), got {tuple(voxels.shape)}")
    is_torch = isinstance(voxels, torch.Tensor)
    grids = voxels.reshape(-1, *voxels.shape[-3:])
    out = grids.clone() if is_torch else np.array(grids)
    for i in range(len(grids)):
        layers = np.flatnonzero(np.asarray((grids[i] > 0).any(-1).any(0)))
        if len(layers) and layers[0]:
            lo = int(layers[0])
            out[i, :, :-lo] = grids[i, :, lo:]
            out[i, :, -lo:] = 0
    return out.reshape(voxels.shape)


def thicken(voxels: Any, size: int = 2) -> Any:
    """Give the thin parts of each grid ``(..., x, y, z)`` a thickness of at least ``size`` voxels.

    At 32³ a table leg or a chair's back post is often one voxel across, a structure that the
    generator's stride-2 upsampling draws as dotted columns that break apart. This finds the
    voxels a morphological opening by a ``size``³ cube removes (the parts thinner than the cube)
    and adds their dilation by the same cube; everything else is unchanged, so no voxel is lost and
    the bulk of a shape keeps its size. ``size=1`` returns the grids unchanged. Occupancy is any
    value > 0; the result has the input's kind (numpy or torch) and dtype, values in {0, 1}.

    Example:
        >>> grid = np.zeros((5, 5, 5), bool); grid[2, :, 2] = True          # a 1-voxel column
        >>> int(thicken(grid).sum()), int(thicken(grid, 1).sum())          # now 2 × 2 across
        (20, 5)
    """
    from scipy import ndimage

    size = operator.index(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if voxels.ndim < 3:
        raise ValueError(f"voxels must have shape (..., x, y, z), got {tuple(voxels.shape)}")
    if size == 1:
        return voxels
    is_torch = isinstance(voxels, torch.Tensor)
    grids = (voxels.detach().cpu().numpy() if is_torch else np.asarray(voxels)).reshape(-1, *voxels.shape[-3:]) > 0
    cube = np.ones((size,) * 3, bool)
    out = np.empty_like(grids)
    for i, grid in enumerate(grids):
        thin = grid & ~ndimage.binary_opening(grid, structure=cube)
        out[i] = grid | ndimage.binary_dilation(thin, structure=cube)
    out = out.reshape(voxels.shape)
    if is_torch:
        return torch.from_numpy(out).to(dtype=voxels.dtype, device=voxels.device)
    return out.astype(np.asarray(voxels).dtype)


def rotate_vertical(voxels: Any, k: int = 1, *, mirror: bool = False) -> Any:
    """Rotate grids ``(..., x, y, z)`` by ``k`` quarter turns about the vertical (y) axis.

    The rotation is ``rot90`` in the x–z plane (axes ``(-3, -1)``, i.e. ``(0, 2)`` for a single
    grid), turning x toward z. With ``mirror`` the grid is first flipped along x. Works on numpy
    arrays and torch tensors and returns the same kind; rotations are exact (4 turns = identity).

    Example:
        >>> grid = np.zeros((4, 4, 4), bool); grid[3, 0, 0] = True     # corner (+x, -z)
        >>> np.argwhere(rotate_vertical(grid, 1)).tolist()                 # → (+x, +z)
        [[3, 0, 3]]
        >>> bool((rotate_vertical(grid, 4) == grid).all())
        True
    """
    k = operator.index(k) % 4
    if voxels.ndim < 3:
        raise ValueError(f"voxels must have shape (..., x, y, z), got {tuple(voxels.shape)}")
    if isinstance(voxels, torch.Tensor):
        out = torch.flip(voxels, (-3,)) if mirror else voxels
        return torch.rot90(out, k, (-3, -1))
    out = np.flip(voxels, -3) if mirror else np.asarray(voxels)
    return np.ascontiguousarray(np.rot90(out, k, axes=(-3, -1)))


def resample_voxels(grid: np.ndarray, resolution: int) -> np.ndarray:
    """Bool ``(x, y, z)`` grid → cubic ``resolution³`` grid.

    A non-cubic grid is first zero-padded (centred) to a cube. Sizes that are a multiple of
    ``resolution`` are max-pooled (a cell is filled if any voxel in it is); other sizes use
    nearest-neighbour sampling. Same-size grids are returned unchanged.
    """
    grid = np.asarray(grid).astype(bool)
    res = operator.index(resolution)
    if res < 1:
        raise ValueError(f"resolution must be >= 1, got {res}")
    size = max(grid.shape)
    if grid.shape != (size,) * 3:
        pad = [((size - n) // 2, size - n - (size - n) // 2) for n in grid.shape]
        grid = np.pad(grid, pad)
    if size == res:
        return grid
    if size % res == 0:
        f = size // res
        return grid.reshape(res, f, res, f, res, f).any(axis=(1, 3, 5))
    idx = np.minimum(((np.arange(res) + 0.5) * size / res).astype(int), size - 1)
    return grid[np.ix_(idx, idx, idx)]


def _augment(grids: np.ndarray, rotations: bool, mirror: bool) -> tuple[np.ndarray, list[str]]:
    """``(N, R, R, R)`` → ``(N * V, R, R, R)``: V = (4 turns or 1) × (2 with mirror); shape-major."""
    turns = range(4) if rotations else (0,)
    variants = [(m, k) for m in ((False, True) if mirror else (False,)) for k in turns]
    out = np.stack([rotate_vertical(grids, k, mirror=m) for m, k in variants], axis=1)
    suffixes = [f"@r{90 * k}{'m' if m else ''}" for m, k in variants]
    return out.reshape((-1,) + grids.shape[1:]), suffixes


# -- the dataset -----------------------------------------------------------------------------------

class VoxelDataset(TensorDataset):
    """Labelled voxel shapes: items ``(voxels float32 (1, R, R, R) in {0, 1}, label int64)``.

    Attributes:
        tensors: ``(voxels (N, 1, R, R, R) float32, labels (N,) int64)`` as in TensorDataset.
        classes: class names; ``labels`` index into it.
        names: one name per item (augmented copies carry suffixes like ``@r90m``).
        groups: int64 ``(N,)`` index of the source shape of each item; augmented copies of one
            shape share a group, which :meth:`split` keeps together.

    Build one with :meth:`furniture`, :meth:`from_folder` or :meth:`from_arrays`.

    Example:
        >>> data = VoxelDataset.furniture(classes=["chair", "table"], augment=False)  # doctest: +SKIP
        >>> data.shape_counts()                                                      # doctest: +SKIP
        {'chair': 51, 'table': 36}
    """

    def __init__(self, voxels: torch.Tensor, labels: torch.Tensor, *, classes: Sequence[str],
                 names: Sequence[str], groups: torch.Tensor) -> None:
        if voxels.ndim != 5 or voxels.shape[1] != 1 or voxels.dtype != torch.float32:
            raise ValueError(f"voxels must be float32 (N, 1, R, R, R), got {voxels.dtype} {tuple(voxels.shape)}")
        n = len(voxels)
        if labels.shape != (n,) or groups.shape != (n,) or len(names) != n:
            raise ValueError(f"labels, groups and names must have one entry per shape ({n}); got "
                             f"{tuple(labels.shape)}, {tuple(groups.shape)}, {len(names)}")
        super().__init__(voxels, labels.to(torch.int64))
        self.classes = [str(c) for c in classes]
        self.names = [str(s) for s in names]
        self.groups = groups.to(torch.int64)

    # -- constructors ------------------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, voxels: Any, labels: Any = None, classes: Sequence[str] | None = None, *,
                    names: Sequence[str] | None = None, groups: Any = None) -> VoxelDataset:
        """Wrap grids you already have (numpy arrays or tensors).

        Args:
            voxels: ``(N, R, R, R)`` or ``(N, 1, R, R, R)``, bool or real numbers in [0, 1].
            labels: ``(N,)`` integers in ``0 .. len(classes) - 1``; default all 0.
            classes: class names; default ``["shape"]`` without labels, else ``"0", "1", …``.
            names: one name per shape; default ``shape0, shape1, …``.
            groups: source-shape index per item (for :meth:`split`); default one group each.

        Raises:
            ValueError: wrong rank, non-cubic or empty grids, values outside [0, 1] or non-finite,
                labels/names/groups of the wrong length, labels outside the classes.
            TypeError: non-numeric voxels or non-integer labels.
        """
        grid = as_numpy(voxels, "voxels")
        if grid.ndim == 5 and grid.shape[1] == 1:
            grid = grid[:, 0]
        if grid.ndim != 4:
            raise ValueError(f"voxels must have shape (N, R, R, R) or (N, 1, R, R, R), got {grid.shape}")
        if len(set(grid.shape[1:])) != 1 or grid.shape[1] < 1 or len(grid) < 1:
            raise ValueError(f"voxels must be a non-empty batch of cubic grids (N, R, R, R), got {grid.shape}")
        if grid.dtype == np.bool_:
            grid = grid.astype(np.float32)
        elif np.issubdtype(grid.dtype, np.integer) or np.issubdtype(grid.dtype, np.floating):
            grid = grid.astype(np.float32)
            if not np.isfinite(grid).all():
                raise ValueError("voxels contain NaN or inf")
            if grid.min() < 0 or grid.max() > 1:
                raise ValueError(f"voxels must be occupancies in [0, 1], got [{grid.min():.3g}, {grid.max():.3g}]; "
                                 "map generator outputs from [-1, 1] first with (x + 1) / 2")
        else:
            raise TypeError(f"voxels must be bool or real numbers, got dtype {grid.dtype}")
        n = len(grid)
        if labels is None:
            label_arr = np.zeros(n, np.int64)
            classes = ["shape"] if classes is None else list(classes)
        else:
            label_arr = as_numpy(labels, "labels")
            if not np.issubdtype(label_arr.dtype, np.integer):
                raise TypeError(f"labels must be integers, got dtype {label_arr.dtype}")
            if label_arr.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), one per shape, got {label_arr.shape}")
            label_arr = label_arr.astype(np.int64)
            classes = [str(i) for i in range(int(label_arr.max()) + 1)] if classes is None else list(classes)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be distinct names, got {classes!r}")
        if label_arr.min() < 0 or label_arr.max() >= len(classes):
            raise ValueError(f"labels must be in 0..{len(classes) - 1} ({len(classes)} classes {classes}), "
                             f"got [{label_arr.min()}, {label_arr.max()}]")
        names = [f"shape{i}" for i in range(n)] if names is None else [str(s) for s in names]
        if len(names) != n:
            raise ValueError(f"names must have one entry per shape ({n}), got {len(names)}")
        group_arr = np.arange(n) if groups is None else as_numpy(groups, "groups")
        if group_arr.shape != (n,) or not np.issubdtype(group_arr.dtype, np.integer):
            raise ValueError(f"groups must be {n} integers, got {group_arr.dtype} {group_arr.shape}")
        return cls(torch.from_numpy(grid[:, None]), torch.from_numpy(label_arr), classes=classes,
                   names=names, groups=torch.from_numpy(group_arr.astype(np.int64)))

    @classmethod
    def _from_grids(cls, grids: np.ndarray, labels: np.ndarray, classes: Sequence[str], names: Sequence[str],
                    *, augment: bool, rotations: bool, mirror: bool) -> VoxelDataset:
        """Trusted bool ``(N, R, R, R)`` grids → dataset, optionally with the rotation/mirror copies."""
        groups = np.arange(len(grids))
        if augment:
            grids, suffixes = _augment(grids, rotations, mirror)
            copies = len(suffixes)
            names = [f"{name}{s}" for name in names for s in suffixes]
            labels, groups = np.repeat(labels, copies), np.repeat(groups, copies)
        voxels = torch.from_numpy(grids[:, None].astype(np.float32))
        return cls(voxels, torch.from_numpy(np.asarray(labels, np.int64)), classes=classes, names=list(names),
                   groups=torch.from_numpy(groups.astype(np.int64)))

    @classmethod
    def furniture(cls, resolution: int = 32, classes: Sequence[str] | None = None, augment: bool = True, *,
                  rotations: bool = True, mirror: bool = True) -> VoxelDataset:
        """The shipped Sweet Home 3D chairs, tables, sofas and beds (``multigan/assets/voxel/furniture.npz``).

        Args:
            resolution: 32 or 64 (stored), or a divisor of 64 such as 16 (max-pooled from 64³).
            classes: names from :data:`CLASSES` to keep, in the label order you want; default all.
            augment: serve each shape in its 4 quarter turns about the vertical axis
                (:func:`rotate_vertical`), × 2 with ``mirror`` (flip along x first): 8 copies.
            rotations: with ``augment``, add the quarter turns (False: only the mirror copies).
            mirror: with ``augment``, add the mirrored copies.

        Names are the catalog model ids (``'Scopia/armchair1'``) with ``@r0`` … ``@r270m`` suffixes
        when augmented. Memory: 64³ float32 is 1 MiB per item (about 1 GiB for all augmented).

        Raises:
            FileNotFoundError: when the asset is missing (naming the script that builds it).
            ValueError: unknown class (listing the known ones), unsupported resolution.
        """
        from multigan.core.module import assets_dir

        res = operator.index(resolution)
        if res not in (32, 64) and (res < 1 or 64 % res):
            raise ValueError(f"furniture resolution must be 32 or 64 (or a divisor of 64), got {res}")
        path = assets_dir() / "voxel" / "furniture.npz"
        if not path.is_file():
            raise FileNotFoundError(f"voxel furniture asset not found at {str(path)!r}; build it with "
                                    f"'python {_FURNITURE_SCRIPT}' (needs the Debian package sweethome3d-furniture)")
        data = _load_npz(path, "voxel furniture asset")
        key = f"voxels{res if res in (32, 64) else 64}"
        missing = [k for k in (key, "labels", "classes", "ids") if k not in data]
        if missing:
            raise ValueError(f"voxel furniture asset {str(path)!r} lacks arrays {missing}; rebuild it with "
                             f"'python {_FURNITURE_SCRIPT}'")
        grids = unpack_voxels(data[key])
        if res not in (32, 64):
            grids = np.stack([resample_voxels(g, res) for g in grids])
        known = [str(c) for c in data["classes"]]
        wanted = known if classes is None else [str(c) for c in ([classes] if isinstance(classes, str) else classes)]
        unknown = [c for c in wanted if c not in known]
        if unknown or not wanted or len(set(wanted)) != len(wanted):
            raise ValueError(f"classes must be distinct names from {known}; got {wanted!r}"
                             + (f" (unknown: {unknown})" if unknown else ""))
        old_labels = data["labels"].astype(np.int64)
        remap = np.full(len(known), -1)
        for new, name in enumerate(wanted):
            remap[known.index(name)] = new
        keep = np.flatnonzero(remap[old_labels] >= 0)
        names = [str(data["ids"][i]) for i in keep]
        return cls._from_grids(grids[keep], remap[old_labels[keep]], wanted, names, augment=augment,
                               rotations=rotations, mirror=mirror)

    @classmethod
    def from_folder(cls, root: str | os.PathLike, resolution: int = 32, *, cache: bool = True,
                    augment: bool = False, rotations: bool = True, mirror: bool = True,
                    extensions: Sequence[str] = MESH_SUFFIXES + (".binvox",)) -> VoxelDataset:
        """Voxelise a folder of meshes / binvox files: ``root/<class>/**/*.ext`` or flat ``root/*.ext``.

        With class sub-folders, each (sorted by name) is a class and its files are searched
        recursively; with none, the files directly in ``root`` form one class named after ``root``.
        Meshes go through :func:`multigan.io.mesh.mesh_to_voxels` (centred, longest side scaled to
        the grid, interior filled) in their own axes, so give Y-up meshes to match the furniture
        asset; ``.binvox`` grids are read with :func:`read_binvox` and resampled with
        :func:`resample_voxels`. Files that fail (unreadable, empty, degenerate) are skipped with
        one warning that counts them and names the first few with reasons.

        The result is cached in ``root/.multigan_cache/voxels{R}.npz`` (written atomically), keyed
        by the file list, sizes and modification times; a matching cache is reused without
        voxelising anything (the skip warning is repeated from it).

        Args:
            root: the folder.
            resolution: grid size R (>= 4).
            cache: read and write the cache.
            augment, rotations, mirror: as in :meth:`furniture`.
            extensions: file suffixes to read (lower case, with the dot).

        Raises:
            FileNotFoundError: ``root`` is not a folder or holds no file with ``extensions``.
            ValueError: no file could be voxelised (naming ``root``).
        """
        root = Path(root)
        res = operator.index(resolution)
        if res < 4:
            raise ValueError(f"resolution must be >= 4, got {res}")
        if not root.is_dir():
            raise FileNotFoundError(f"no such shape folder: {str(root)!r}")
        exts = tuple(e.lower() for e in extensions)
        classes, files = _list_shape_files(root, exts)
        if not files:
            raise FileNotFoundError(f"no {'/'.join(exts)} files in {str(root)!r} or its class sub-folders")
        stats = [(f.relative_to(root).as_posix(), f.stat().st_size, f.stat().st_mtime_ns) for f, _ in files]
        key = hashlib.sha256(json.dumps([_CACHE_VERSION, res, classes, stats]).encode()).hexdigest()
        cache_path = root / ".multigan_cache" / f"voxels{res}.npz"
        cached = _read_cache(cache_path, key) if cache else None
        if cached is not None:
            grids, labels, names, skipped = cached
        else:
            grids, labels, names, skipped = _voxelise_files(root, files, res)
        warn_skipped(skipped, len(files), "shape files", str(root), _MAX_REPORTED)
        if not len(grids):
            raise ValueError(f"no shape file in {str(root)!r} could be voxelised ({len(files)} tried)")
        if cache and cached is None:
            try:
                save_arrays(cache_path, {"key": np.array(key), "voxels": pack_voxels(grids), "labels": labels,
                                         "names": np.array(names, dtype=str),
                                         "skipped": np.array(skipped, dtype=str)})
            except OSError as err:
                warnings.warn(f"could not write the voxel cache {str(cache_path)!r}: {err}", stacklevel=2)
        return cls._from_grids(grids, labels, classes, names, augment=augment, rotations=rotations,
                               mirror=mirror)

    # -- sizes and subsets -------------------------------------------------------------------------

    @property
    def voxels(self) -> torch.Tensor:
        """float32 ``(N, 1, R, R, R)``."""
        return self.tensors[0]

    @property
    def labels(self) -> torch.Tensor:
        """int64 ``(N,)``."""
        return self.tensors[1]

    @property
    def resolution(self) -> int:
        """Grid size R."""
        return int(self.voxels.shape[-1])

    def shape_counts(self) -> dict[str, int]:
        """Number of distinct source shapes (groups) per class."""
        pairs = torch.unique(torch.stack([self.labels, self.groups], 1), dim=0)
        return {c: int((pairs[:, 0] == i).sum()) for i, c in enumerate(self.classes)}

    def on_floor(self) -> VoxelDataset:
        """The same items with every shape shifted down to stand on y = 0 (:func:`stand_on_floor`)."""
        return type(self)(stand_on_floor(self.voxels), self.labels, classes=self.classes, names=self.names,
                          groups=self.groups)

    def thickened(self, size: int = 2) -> VoxelDataset:
        """The same items with every thin part made at least ``size`` voxels thick (:func:`thicken`)."""
        return type(self)(thicken(self.voxels, size), self.labels, classes=self.classes, names=self.names,
                          groups=self.groups)

    def subset(self, index: Any) -> VoxelDataset:
        """A new dataset of the items at ``index`` (ints, bool mask or slice), same classes."""
        idx = torch.arange(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index)
        if idx.dtype == torch.bool:
            idx = torch.nonzero(idx).flatten()
        idx = idx.to(torch.int64).reshape(-1)
        return type(self)(self.voxels[idx], self.labels[idx], classes=self.classes,
                          names=[self.names[i] for i in idx.tolist()], groups=self.groups[idx])

    def split(self, fraction: float = 0.2, seed: int = 0) -> tuple[VoxelDataset, VoxelDataset]:
        """Split by source shape into ``(train, held_out)``, stratified by class.

        About ``fraction`` of each class's shapes (at least one when a class has two or more)
        go to ``held_out`` with all their augmented copies, so no shape is seen on both sides.

        Raises:
            ValueError: when ``fraction`` is not in (0, 1).
        """
        fraction = float(fraction)
        if not 0 < fraction < 1:
            raise ValueError(f"fraction (held-out share of shapes) must be in (0, 1), got {fraction}")
        rng = np.random.default_rng(seed)
        groups, labels = self.groups.numpy(), self.labels.numpy()
        held: list[int] = []
        for c in range(len(self.classes)):
            members = np.unique(groups[labels == c])
            if len(members) < 2:
                continue
            take = min(max(1, round(fraction * len(members))), len(members) - 1)
            held.extend(rng.permutation(members)[:take].tolist())
        out = np.isin(groups, held)
        return self.subset(torch.from_numpy(~out)), self.subset(torch.from_numpy(out))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} items, {len(torch.unique(self.groups))} shapes, "
                f"resolution={self.resolution}, classes={self.classes})")


# -- folder helpers --------------------------------------------------------------------------------

def _list_shape_files(root: Path, exts: tuple[str, ...]) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and ``(file, label)`` pairs for the two folder layouts (hidden entries skipped)."""
    def visible(p: Path, base: Path) -> bool:
        return not any(part.startswith(".") for part in p.relative_to(base).parts)

    def shapes(folder: Path, recursive: bool) -> list[Path]:
        found = folder.rglob("*") if recursive else folder.glob("*")
        return sorted(p for p in found if p.is_file() and p.suffix.lower() in exts and visible(p, root))

    classes, files = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = shapes(sub, recursive=True)
        if found:
            files.extend((f, len(classes)) for f in found)
            classes.append(sub.name)
    if not classes:
        files = [(f, 0) for f in shapes(root, recursive=False)]
        classes = [root.resolve().name or "shape"]
    return classes, files


def _voxelise_files(root: Path, files: list[tuple[Path, int]], res: int
                    ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    from multigan.io import mesh as mesh_io

    grids, labels, names, skipped = [], [], [], []
    for path, label in files:
        rel = path.relative_to(root).as_posix()
        try:
            if path.suffix.lower() == ".binvox":
                grid = resample_voxels(read_binvox(path), res)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")                   # trimesh chatter on odd files
                    grid = mesh_io.mesh_to_voxels(path, res)
            if not grid.any():
                raise ValueError("empty grid")
        except Exception as err:                                       # any reader failure → skip
            reason = str(err).replace(str(path), rel)                 # short: the warning names the folder
            skipped.append(f"{rel} ({type(err).__name__}: {reason[:120]})")
            continue
        grids.append(grid)
        labels.append(label)
        names.append(rel)
    stacked = np.stack(grids) if grids else np.zeros((0, res, res, res), bool)
    return stacked, np.asarray(labels, np.int64), names, skipped


def _read_cache(path: Path, key: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]] | None:
    """The cached result when ``path`` exists and matches ``key``; None otherwise (stale/corrupt)."""
    if not path.is_file():
        return None
    try:
        data = _load_npz(path, "voxel cache")
        if str(data["key"]) != key:
            return None
        return (unpack_voxels(data["voxels"]), data["labels"].astype(np.int64),
                [str(s) for s in data["names"]], [str(s) for s in data["skipped"]])
    except (ValueError, KeyError):
        return None


def training_dataset(folder: Optional[str], resolution: int, classes: Optional[Sequence[str]], augment: str,
                     placement: str = "centre", thickness: int = 1):
    """The training shapes :func:`train` uses: the furniture set (or ``folder``) at ``resolution``,
    augmented (``"none"``, ``"mirror"``, ``"rotate"``), thickened and placed as asked."""
    rotations, mirror = {"none": (False, False), "mirror": (False, True), "rotate": (True, True)}[augment]
    if folder:
        data = VoxelDataset.from_folder(folder, resolution=resolution, augment=augment != "none",
                                        rotations=rotations, mirror=mirror)
    else:
        data = VoxelDataset.furniture(resolution=resolution, classes=classes, augment=augment != "none",
                                      rotations=rotations, mirror=mirror)
    data = data.thickened(thickness) if thickness > 1 else data
    return data.on_floor() if placement == "floor" else data
