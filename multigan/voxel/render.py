"""Shaded previews of voxel shapes in pure numpy (no GPU, no display, no OpenGL).

Grids are ``(x, y, z)`` occupancy with axis 1 (y) up; the front of a shape faces +z. Views:

* ``front`` — camera on +z looking at -z (image right = +x, up = +y);
* ``side``  — camera on +x looking at -x (image right = -z, up = +y);
* ``top``   — camera on +y looking down (image right = +x, image up = -z, so the front is at the bottom);
* ``iso``   — isometric camera on the (+x, +y, +z) diagonal (front and right side and top visible).

Axis views are orthographic depth maps (first occupied voxel along each ray) shaded by depth and
by a Lambert term on the normal estimated from the depth gradient. The iso view splats sample
points of every exposed voxel face (+x, +y, +z faces, the ones that can face this camera) into a
z-buffer and shades each by its face orientation (top brightest) and depth. Every view draws a
dark outline on the silhouette and where the surface behind is at least 2 voxel steps farther, so
parts in front read apart from parts behind. Background is white. The framing depends only on the grid shape, so
shapes on the same grid are drawn at the same scale and position.

Example:
    >>> grid = np.zeros((32, 32, 32), bool); grid[8:24, 0:12, 8:24] = True
    >>> render_views(grid, size=64).shape                              # front, side, top, iso
    (64, 256, 3)
    >>> render_grid(torch.rand(4, 32, 32, 32), "preview.png")           # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import binarize

__all__ = ["render_views", "render_grid", "VIEWS", "DEFAULT_COLOR"]

#: The views :func:`render_views` knows, in its default order.
VIEWS: tuple[str, ...] = ("front", "side", "top", "iso")
#: Base RGB colour (in [0, 1]) of the shapes.
DEFAULT_COLOR: tuple[float, float, float] = (0.40, 0.60, 0.88)

_FILL = 0.92            # share of the tile the grid's extent spans (the rest is margin)
_EDGE_JUMP = 1.5        # depth step (voxels along an axis ray) drawn as an outline
_EDGE_DARK = 0.35       # outline brightness relative to the surface colour
_LIGHT = np.array([-0.45, 0.6, 1.0]) / np.linalg.norm([-0.45, 0.6, 1.0])   # image (right, up, toward viewer)
_FACE_LIGHT = {1: 1.0, 2: 0.78, 0: 0.58}   # iso: brightness of +y (top), +z (front), +x (right) faces


# --------------------------------------------------------------------------- input checking

def _one_grid(voxels: Any, threshold: float) -> np.ndarray:
    grids = binarize(voxels, threshold)
    if len(grids) != 1:
        raise ValueError(f"render_views takes one grid (R, R, R), got a batch of {len(grids)}; use render_grid")
    return grids[0].cpu().numpy()


def _check_views(views: Sequence[str] | str) -> tuple[str, ...]:
    views = (views,) if isinstance(views, str) else tuple(views)
    if not views:
        raise ValueError(f"views must name at least one of {VIEWS}")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; choose from {VIEWS}")
    return views


def _check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= size <= 4096:
        raise ValueError(f"size must be an integer in [16, 4096] (pixels), got {size!r}")
    return int(size)


def _check_color(color: Any) -> np.ndarray:
    arr = np.asarray(color, dtype=np.float64) if not isinstance(color, str) else np.zeros(0)
    if arr.shape != (3,) or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"color must be 3 numbers (R, G, B) in [0, 1], got {color!r}")
    return arr


# --------------------------------------------------------------------------- shading helpers

def _outline(depth: np.ndarray, fg: np.ndarray, jump: float) -> np.ndarray:
    """Foreground pixels on the silhouette or on the far side of a depth jump > ``jump``."""
    edge = np.zeros_like(fg)
    d = np.where(fg, depth, np.inf)
    for axis in (0, 1):
        for step in (1, -1):
            nb = np.roll(d, step, axis=axis)
            # pixels rolled in from the opposite border are background
            idx = [slice(None)] * 2
            idx[axis] = slice(0, 1) if step == 1 else slice(-1, None)
            nb[tuple(idx)] = np.inf
            with np.errstate(invalid="ignore"):                      # inf - inf off the shape
                edge |= fg & (np.isinf(nb) | (d - nb > jump))
    return edge


def _compose(intensity: np.ndarray, fg: np.ndarray, depth: np.ndarray, color: np.ndarray,
             jump: float = _EDGE_JUMP) -> np.ndarray:
    """uint8 RGB: white background, ``color · intensity`` on the shape, darkened outlines."""
    intensity = np.where(_outline(depth, fg, jump), intensity * _EDGE_DARK, intensity)
    rgb = np.clip(intensity[..., None] * color, 0, 1)
    rgb = np.where(fg[..., None], rgb, 1.0)
    return np.round(rgb * 255).astype(np.uint8)


def _gradient(h: np.ndarray, fg: np.ndarray, axis: int) -> np.ndarray:
    """d h / d index along ``axis`` from the foreground neighbours only (0 where none; jumps ignored)."""
    total, count = np.zeros_like(h), np.zeros_like(h)
    for step in (1, -1):
        nb_h, nb_fg = np.roll(h, -step, axis=axis), np.roll(fg, -step, axis=axis)
        idx = [slice(None)] * 2
        idx[axis] = slice(-1, None) if step == 1 else slice(0, 1)
        nb_fg = nb_fg.copy()
        nb_fg[tuple(idx)] = False
        diff = (nb_h - h) * step
        ok = fg & nb_fg & (np.abs(diff) <= _EDGE_JUMP)
        total += np.where(ok, diff, 0.0)
        count += ok
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


# --------------------------------------------------------------------------- axis views

def _axis_volume(occ: np.ndarray, view: str) -> np.ndarray:
    """``occ`` re-indexed as (image row from top, image column from left, ray step from the camera)."""
    if view == "front":
        return occ.transpose(1, 0, 2)[::-1, :, ::-1]
    if view == "side":
        return occ.transpose(1, 2, 0)[::-1, ::-1, ::-1]
    return occ.transpose(2, 0, 1)[:, :, ::-1]                     # top


def _fit(rows: int, cols: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-neighbour source row/column for each output pixel (and which pixels fall inside)."""
    scale = _FILL * size / max(rows, cols)
    pix = np.arange(size) + 0.5
    r = np.floor((pix - (size - rows * scale) / 2) / scale).astype(np.int64)
    c = np.floor((pix - (size - cols * scale) / 2) / scale).astype(np.int64)
    inside = ((r >= 0) & (r < rows))[:, None] & ((c >= 0) & (c < cols))[None, :]
    return np.clip(r, 0, rows - 1), np.clip(c, 0, cols - 1), inside


def _axis_view(occ: np.ndarray, view: str, size: int, color: np.ndarray) -> np.ndarray:
    vol = _axis_volume(occ, view)
    rows, cols, n_ray = vol.shape
    hit = vol.any(axis=2)
    depth = vol.argmax(axis=2).astype(np.float64)                # first occupied step (0 = nearest)
    height = -depth                                              # toward the camera
    gx = _gradient(height, hit, axis=1)                          # d height / d right
    gy = -_gradient(height, hit, axis=0)                         # d height / d up
    normal = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    lambert = np.clip(normal @ _LIGHT, 0, 1)
    fade = 1.0 - 0.45 * depth / max(n_ray - 1, 1)
    intensity = (0.3 + 0.75 * lambert) * fade

    r, c, inside = _fit(rows, cols, size)
    fg = hit[r[:, None], c[None, :]] & inside
    return _compose(intensity[r[:, None], c[None, :]], fg, depth[r[:, None], c[None, :]], color)


# --------------------------------------------------------------------------- isometric view

_ISO = np.array([[1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],                   # image right
                 [-1 / math.sqrt(6), 2 / math.sqrt(6), -1 / math.sqrt(6)],     # image up
                 [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)]])      # toward the camera


def _iso_view(occ: np.ndarray, size: int, color: np.ndarray) -> np.ndarray:
    dims = np.array(occ.shape, np.float64)
    centre = (dims - 1) / 2
    corners = np.array([[sx, sy, sz] for sx in (0, 1) for sy in (0, 1) for sz in (0, 1)]) * dims - 0.5 - centre
    proj = corners @ _ISO.T                                        # (8, 3): right, up, depth
    lo, hi = proj.min(0), proj.max(0)
    scale = _FILL * size / max(hi[0] - lo[0], hi[1] - lo[1])
    mid = (lo + hi) / 2
    k = math.ceil(2 * scale) + 1                              # samples per face edge (≤ 0.5 px apart)
    offsets = (np.arange(k) + 0.5) / k - 0.5

    zbuf = np.full(size * size, -np.inf, np.float32)
    parts = []
    padded = np.pad(occ, ((0, 1), (0, 1), (0, 1)))
    for axis in (0, 1, 2):
        ahead = np.roll(padded, -1, axis=axis)[:occ.shape[0], :occ.shape[1], :occ.shape[2]]
        faces = np.argwhere(occ & ~ahead).astype(np.float64)     # voxels whose +axis face is exposed
        if not len(faces):
            continue
        faces[:, axis] += 0.5
        a, b = [j for j in range(3) if j != axis]
        delta = np.zeros((k, k, 3))
        delta[..., a], delta[..., b] = offsets[:, None], offsets[None, :]
        centre_proj = (faces - centre) @ _ISO.T                    # (F, 3)
        pts = centre_proj[:, None, :] + (delta.reshape(-1, 3) @ _ISO.T)[None]   # (F, k², 3)
        col = np.floor((pts[..., 0] - mid[0]) * scale + size / 2).astype(np.int64).ravel()
        row = np.floor((mid[1] - pts[..., 1]) * scale + size / 2).astype(np.int64).ravel()
        depth = pts[..., 2].astype(np.float32).ravel()
        keep = (row >= 0) & (row < size) & (col >= 0) & (col < size)
        lin, depth = (row * size + col)[keep], depth[keep]
        np.maximum.at(zbuf, lin, depth)
        parts.append((lin, depth, _FACE_LIGHT[axis]))

    shade = np.zeros(size * size)
    for lin, depth, light in parts:
        win = depth >= zbuf[lin]
        shade[lin[win]] = light
    fg = np.isfinite(zbuf)
    fade = 0.7 + 0.3 * (np.where(fg, zbuf, lo[2]) - lo[2]) / max(hi[2] - lo[2], 1e-9)
    intensity = np.where(fg, shade * fade, 0.0).reshape(size, size)
    depth_img = np.where(fg, -zbuf, np.inf).reshape(size, size)    # distance-like: larger = farther
    # along the (1, 1, 1) ray a step of n voxels is n·√3 deep: outline steps of 2+ voxels, as in axis views
    return _compose(intensity, fg.reshape(size, size), depth_img, color, _EDGE_JUMP * math.sqrt(3))


# --------------------------------------------------------------------------- public API

def render_views(voxels: Any, views: Sequence[str] | str = VIEWS, size: int = 128,
                 color: Sequence[float] = DEFAULT_COLOR, *, threshold: float = 0.5) -> np.ndarray:
    """Render one grid from each of ``views`` side by side: uint8 ``(size, size · len(views), 3)``.

    Args:
        voxels: one ``(R, R, R)`` grid (or ``(1, R, R, R)`` / ``(1, 1, R, R, R)``): bool, 0/1 or
            float occupancy in [0, 1] (occupied = ``> threshold``); numpy or torch.
        views: names from :data:`VIEWS` (``"front"``, ``"side"``, ``"top"``, ``"iso"``), in order.
        size: edge of each square view in pixels (16 … 4096).
        color: base RGB in [0, 1]; surfaces are this colour times their shading.
        threshold: occupancy threshold in (0, 1).

    An empty grid renders all white.

    Raises:
        ValueError: a batch of several grids, bad rank / values, unknown view, bad size or colour.

    Example:
        >>> grid = np.zeros((16, 16, 16), bool); grid[4:12, 0:4, 4:12] = True
        >>> image = render_views(grid, ("front", "iso"), size=32)
        >>> image.shape, image.dtype, image[0, 0].tolist()                 # corner is background
        ((32, 64, 3), dtype('uint8'), [255, 255, 255])
    """
    views, size, rgb = _check_views(views), _check_size(size), _check_color(color)
    occ = _one_grid(voxels, threshold)
    tiles = [_iso_view(occ, size, rgb) if v == "iso" else _axis_view(occ, v, size, rgb) for v in views]
    return np.concatenate(tiles, axis=1)


def _label_band(labels: Sequence[str], width: int) -> tuple[list[np.ndarray], int]:
    """One white band with black text per label (PIL's default font), and the band height."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    height = int(font.getbbox("Ag")[3]) + 6
    bands = []
    for text in labels:
        text = str(text)
        while text and font.getlength(text) > width - 6:
            text = text[:-1]
        img = Image.new("RGB", (width, height), "white")
        ImageDraw.Draw(img).text((3, 2), text, fill=(0, 0, 0), font=font)
        bands.append(np.asarray(img))
    return bands, height


def render_grid(batch: Any, path: str | os.PathLike, nrow: int | None = None,
                views: Sequence[str] | str = VIEWS, labels: Sequence[str] | None = None, *, size: int = 128,
                threshold: float = 0.5, color: Sequence[float] = DEFAULT_COLOR) -> Path:
    """Write a PNG (or JPEG) sheet of shapes: each shape is a strip of its ``views``; returns the path.

    ``batch``: ``(N, R, R, R)`` or ``(N, 1, R, R, R)`` occupancy (bool, or float in [0, 1] with
    ``threshold``); a single ``(R, R, R)`` grid is a batch of one. Strips are tiled ``nrow`` per
    row (default ``ceil(sqrt(N / len(views)))``, so the sheet comes out roughly square: one strip
    per row for four views and up to 8 shapes, a square grid of tiles for ``views=("iso",)``),
    separated by 2 px grey lines; a light line separates the views in a strip. ``labels`` (one
    string per shape) are written above each strip. The file is written atomically (a temporary
    file renamed into place), so a failure leaves no partial file.

    Raises:
        ValueError: bad batch, empty batch, wrong number of labels, bad views/size/nrow or an
            unsupported extension (checked before anything is rendered).

    Example:
        >>> render_grid(shapes, "out/preview.png", labels=["chair", "table"])   # doctest: +SKIP
    """
    from multigan.io.utils import check_suffix
    from multigan.io.image import IMAGE_SUFFIXES, tile, write_image

    path = check_suffix(path, IMAGE_SUFFIXES)
    views, size, rgb = _check_views(views), _check_size(size), _check_color(color)
    grids = binarize(batch, threshold).cpu().numpy()
    n = len(grids)
    if n == 0:
        raise ValueError("render_grid needs at least one shape, got an empty batch")
    if nrow is not None and (isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1):
        raise ValueError(f"nrow must be a positive integer or None, got {nrow!r}")
    if labels is not None and (isinstance(labels, str) or len(labels) != n):
        raise ValueError(f"labels must be a sequence of {n} strings (one per shape), got {labels!r}")
    nrow = int(nrow) if nrow else max(1, math.ceil(math.sqrt(n / len(views))))

    strips = []
    for grid in grids:
        strip = render_views(grid, views, size, rgb)
        strip[:, [k * size for k in range(1, len(views))]] = 225
        strips.append(strip)
    if labels is not None:
        bands, _ = _label_band(labels, size * len(views))
        strips = [np.concatenate([band, strip], axis=0) for band, strip in zip(bands, strips)]
    sheet = tile(np.stack(strips).transpose(0, 3, 1, 2), nrow, padding=2, pad_value=160)    # (3, H, W)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image(sheet, path)
