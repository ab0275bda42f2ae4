"""A batch of generated (or loaded) voxel shapes with mesh and preview writers.

Example:
    >>> shapes = Shapes(torch.zeros(2, 32, 32, 32))                 # doctest: +SKIP
    >>> shapes.write_mesh("out/shape_{i}.glb"); shapes.render("out/preview.png")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["Shapes", "BRIDGE_LOW", "CLASS_COLORS", "class_color"]

#: :meth:`Shapes.bridged`'s default: voxels at or above this occupancy may carry a bridge.
BRIDGE_LOW = 0.2
_FACE_STEPS = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


def check_low(low: Any, threshold: float) -> None:
    if isinstance(low, bool) or not isinstance(low, (int, float)) or not 0 < low < threshold:
        raise ValueError(f"bridge low must be a number in (0, threshold={threshold}), got {low!r}")


def _bridge_mask(probs: np.ndarray, threshold: float, low: float) -> np.ndarray:
    """The faint voxels (``low <= p <= threshold``) that join each detached piece of one grid's
    ``probs > threshold`` to its largest piece: per piece, a shortest face-connected path from the
    largest piece through voxels of occupancy ``>= low``, at each step back the likeliest voxel
    one step nearer. A bool mask; empty where the grid is one piece or no piece can be reached."""
    from scipy import ndimage

    from .metrics import connected_pieces

    strong = probs > threshold
    labels, sizes = connected_pieces(strong)
    bridge = np.zeros_like(strong)
    if len(sizes) <= 1:
        return bridge
    main = int(sizes.argmax()) + 1
    allowed = probs >= low
    dist = np.where(labels == main, 0, -1)                        # face steps from the largest piece
    front, d, face = labels == main, 0, ndimage.generate_binary_structure(3, 1)
    while front.any():
        d += 1
        front = ndimage.binary_dilation(front, face) & allowed & (dist < 0)
        dist[front] = d
    for k in (k for k in range(1, len(sizes) + 1) if k != main):
        reached = np.flatnonzero(((labels == k) & (dist > 0)).ravel())
        if not len(reached):
            continue
        v = np.unravel_index(reached[dist.ravel()[reached].argmin()], probs.shape)
        while dist[v] > 1:
            steps = [u for u in (tuple(int(a + b) for a, b in zip(v, s)) for s in _FACE_STEPS)
                     if all(0 <= c < n for c, n in zip(u, probs.shape)) and dist[u] == dist[v] - 1]
            v = max(steps, key=lambda u: probs[u])
            bridge[v] = not strong[v]
    return bridge


#: muted material colours (RGB in [0, 1]) that classes of shapes take in turn (:func:`class_color`)
CLASS_COLORS = ((0.72, 0.56, 0.42), (0.45, 0.58, 0.70), (0.55, 0.66, 0.48), (0.74, 0.50, 0.50),
                (0.62, 0.55, 0.72), (0.78, 0.70, 0.45), (0.50, 0.66, 0.66), (0.66, 0.62, 0.58))


def class_color(label: str) -> tuple[float, float, float]:
    """A stable colour for a class name (the same name gets the same colour in every run)."""
    import zlib

    return CLASS_COLORS[zlib.crc32(str(label).encode("utf-8")) % len(CLASS_COLORS)]


class Shapes:
    """``(N, R, R, R)`` occupancy probabilities in [0, 1] (axis 1 is up), with optional labels.

    Attributes:
        probs:  float32 tensor (N, R, R, R).
        labels: one class name per shape, or None.
    """

    def __init__(self, probs: Any, labels: Optional[Sequence[str]] = None, threshold: float = 0.5):
        probs = torch.as_tensor(np.asarray(probs) if not isinstance(probs, Tensor) else probs)
        if probs.dim() == 5 and probs.shape[1] == 1:
            probs = probs[:, 0]
        if probs.dim() != 4 or not (probs.shape[1] == probs.shape[2] == probs.shape[3]):
            raise ValueError(f"shapes must be (N, R, R, R) cubic grids, got {tuple(probs.shape)}")
        probs = probs.float()
        if probs.numel() and (probs.min() < 0 or probs.max() > 1 or not torch.isfinite(probs).all()):
            raise ValueError("shape occupancies must be finite values in [0, 1]")
        if labels is not None and len(labels) != len(probs):
            raise ValueError(f"got {len(labels)} labels for {len(probs)} shapes")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.probs, self.labels, self.threshold = probs, (list(labels) if labels is not None else None), threshold

    def __len__(self) -> int:
        return len(self.probs)

    def __getitem__(self, index: Any) -> "Shapes":
        idx = torch.arange(len(self))[index].reshape(-1)
        labels = None if self.labels is None else [self.labels[i] for i in idx.tolist()]
        return Shapes(self.probs[idx], labels, self.threshold)

    def __repr__(self) -> str:
        r = self.probs.shape[-1] if len(self) else 0
        return f"Shapes(n={len(self)}, resolution={r}, labels={self.labels})"

    @property
    def voxels(self) -> Tensor:
        """Bool occupancy (N, R, R, R): ``probs > threshold``."""
        return self.probs > self.threshold

    def numpy(self) -> np.ndarray:
        return self.voxels.numpy()

    def largest_component(self) -> "Shapes":
        """The same shapes with every voxel outside each grid's largest 26-connected piece set to 0.

        What the mesh writers keep (``keep_largest=True``), applied to the grids themselves, so
        stray fragments a generator leaves are gone before any metric or export. Empty grids stay
        empty.

        Example:
            >>> g = torch.zeros(1, 8, 8, 8)
            >>> g[0, 1:4, 1, 1] = 1.0; g[0, 6, 6, 6] = 0.9                # a bar and a speck
            >>> int(Shapes(g).largest_component().voxels.sum())
            3
        """
        from .metrics import largest_piece

        probs = self.probs.clone()
        for i, grid in enumerate(self.voxels.numpy()):
            piece, share = largest_piece(grid)
            if share < 1:                                     # more than one piece (an empty grid's nan is not)
                probs[i][torch.from_numpy(~piece)] = 0.0
        return Shapes(probs, self.labels, self.threshold)

    def bridged(self, low: float = BRIDGE_LOW) -> "Shapes":
        """The same shapes with each detached piece joined to the main body through the generator's
        own faint voxels: hysteresis thresholding, as Canny's edges.

        For every piece of ``probs > threshold`` other than the largest, the shortest face-connected
        path to the largest piece through voxels of occupancy at least ``low`` (the likeliest voxel
        where paths tie) is raised to ``(1 + threshold) / 2``, so it counts as occupied and marching
        cubes closes a surface around it. Nothing else changes: shapes already in one piece, and
        pieces no such path reaches, stay as they are. Face-connected bridges keep the mesh in one
        part where a corner-to-corner join would not.

        Raises:
            ValueError: ``low`` not in (0, threshold).

        Example:
            >>> g = torch.zeros(1, 8, 8, 8)
            >>> g[0, 1:6, 4, 1:6] = 0.9; g[0, 3, 1:3, 3] = 0.9; g[0, 3, 3, 3] = 0.3   # top, leg, faint join
            >>> b = Shapes(g).bridged()
            >>> float(b.probs[0, 3, 3, 3]), int(b.voxels.sum() - Shapes(g).voxels.sum())
            (0.75, 1)
        """
        check_low(low, self.threshold)
        probs = self.probs.clone()
        for i, grid in enumerate(probs.numpy()):
            mask = torch.from_numpy(_bridge_mask(grid, self.threshold, float(low)))
            probs[i][mask] = (1 + self.threshold) / 2
        return Shapes(probs, self.labels, self.threshold)

    def meshes(self, *, smooth_iterations: int = 3, keep_largest: bool = True, progress: bool = False) -> list:
        """One watertight ``trimesh.Trimesh`` per shape (marching cubes at ``threshold``, Taubin-smoothed),
        standing on the floor: lowest vertex at y = 0, centred in x and z (:func:`~multigan.io.mesh.stand_mesh_on_floor`).
        ``progress`` shows a bar (stderr) over the shapes."""
        from tqdm.auto import tqdm

        from multigan.io.mesh import stand_mesh_on_floor, voxels_to_mesh

        out = []
        for i, grid in enumerate(tqdm(self.probs, desc="meshes", unit="shape", disable=not progress, leave=False)):
            if not grid.max() > self.threshold:
                raise ValueError(f"shape {i} is empty (no occupancy above {self.threshold}); no mesh to extract")
            out.append(stand_mesh_on_floor(voxels_to_mesh(grid.numpy(), level=self.threshold, keep_largest=keep_largest,
                                                          smooth_iterations=smooth_iterations)))
        return out

    def write_mesh(self, pattern: str | os.PathLike, *, smooth_iterations: int = 3,
                   keep_largest: bool = True, color: Any = None, progress: bool = False) -> list[Path]:
        """Write each shape as a mesh file (.obj .stl .ply .glb .off); returns the paths.

        ``pattern`` may hold ``{i}`` (index) and ``{label}``; with several shapes and no ``{i}`` the
        index is appended to the stem. Every shape is meshed before any file is written, so an empty
        shape raises without leaving part of the set behind. ``color`` (RGB in [0, 1]) is the base
        colour of the material (GLB; OBJ gets a ``.mtl`` beside it); by default each class has its
        own (:func:`class_color`), and unlabelled shapes :data:`~multigan.io.mesh.DEFAULT_COLOR`.
        ``progress`` shows a bar while the shapes are meshed.
        """
        from multigan.io.mesh import DEFAULT_COLOR, MESH_SUFFIXES, write_mesh

        pattern = str(pattern)
        suffix = Path(pattern.replace("{i}", "0").replace("{label}", "x")).suffix.lower()
        if suffix not in MESH_SUFFIXES:
            raise ValueError(f"mesh path must end in one of {', '.join(MESH_SUFFIXES)}, got {pattern!r}")
        if len(self) > 1 and "{i}" not in pattern:
            p = Path(pattern)
            pattern = str(p.with_name(p.stem + "_{i}" + p.suffix))
        meshes = self.meshes(smooth_iterations=smooth_iterations, keep_largest=keep_largest, progress=progress)
        paths = []
        for i, mesh in enumerate(meshes):
            label = self.labels[i] if self.labels is not None else "shape"
            path = Path(pattern.format(i=i, label=label))
            path.parent.mkdir(parents=True, exist_ok=True)
            shade = color if color is not None else class_color(label) if self.labels is not None else DEFAULT_COLOR
            paths.append(write_mesh(mesh, path, color=shade))
            if path.suffix.lower() == ".obj":                   # its material file, written with it
                paths.append(path.with_suffix(".mtl"))
        return paths

    def render(self, path: str | os.PathLike, *, views: Sequence[str] = ("front", "side", "top", "iso"),
               size: int = 192, nrow: Optional[int] = None) -> Path:
        """Shaded preview PNG: one row of ``views`` per shape, labelled when labels exist."""
        from .render import render_grid

        return render_grid(self.probs, path, views=views, size=size, nrow=nrow, labels=self.labels,
                           threshold=self.threshold)
