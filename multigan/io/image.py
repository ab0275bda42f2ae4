"""Images and image grids (PIL, imported on first use).

Example:
    >>> write_image(samples, "samples.png", nrow=8)      # (N, C, H, W) in [0, 1]  # doctest: +SKIP
    >>> img = read_image("samples.png")                  # (3, H, W) float32 in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .utils import as_numpy, atomic_file, check_suffix, existing_file, to_uint8

__all__ = ["make_grid", "write_image", "read_image", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def tile(images: np.ndarray, nrow: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 ``(N, *lead, C, H, W)`` into ``(*lead, C, H', W')`` with ``nrow`` images per row.

    Shared by :func:`make_grid` and :func:`multigan.io.video.tile_clips` (``lead`` = time).
    """
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    if n == 0:
        raise ValueError("cannot tile an empty batch")
    ncol = max(1, min(n, int(nrow) if nrow else math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncol)
    out = np.full((*images.shape[1:-2], padding + nrows * (h + padding), padding + ncol * (w + padding)),
                  pad_value, np.uint8)
    for i in range(n):
        y, x = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        out[..., y:y + h, x:x + w] = images[i]
    return out


def _check_batch(images: Any, name: str) -> np.ndarray:
    arr = as_numpy(images, name)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape (N, C, H, W) with C in {{1, 3}}, got {arr.shape}")
    return to_uint8(arr, name)


def make_grid(images: Any, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images (float [0, 1] or uint8, C in {1, 3}) into a ``(H', W', 3)`` uint8 grid.

    ``nrow`` is the number of images per row (default ``ceil(sqrt(N))``); ``padding`` pixels of
    ``pad_value`` (in [0, 1]) separate and surround the tiles.

    Example:
        >>> make_grid(np.zeros((5, 3, 8, 8)), nrow=3).shape
        (22, 32, 3)
    """
    batch = _check_batch(images, "images")
    if not 0 <= pad_value <= 1 or padding < 0:
        raise ValueError(f"need pad_value in [0, 1] and padding >= 0, got {pad_value}, {padding}")
    grid = tile(np.repeat(batch, 3 // batch.shape[1], axis=1), nrow, int(padding), round(pad_value * 255))
    return grid.transpose(1, 2, 0).copy()


def _to_hwc(image: Any, nrow: int | None) -> np.ndarray:
    arr = as_numpy(image, "image")
    if arr.ndim == 4:
        return make_grid(arr, nrow=nrow)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"image must be (H, W), (C, H, W), (H, W, C) or (N, C, H, W), got {arr.shape}")
    if arr.shape[0] not in (1, 3) and arr.shape[-1] in (1, 3):
        arr = arr.transpose(2, 0, 1)
    if arr.shape[0] not in (1, 3):
        raise ValueError(f"image must have 1 or 3 channels, got shape {arr.shape}")
    return to_uint8(arr, "image").transpose(1, 2, 0)


def write_image(image_or_batch: Any, path: str | os.PathLike, *, nrow: int | None = None) -> Path:
    """Write one image or a batch (tiled with :func:`make_grid`) as PNG or JPEG (by extension).

    Accepts ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(N, C, H, W)``, float in [0, 1] or uint8.
    """
    from PIL import Image

    path = check_suffix(path, IMAGE_SUFFIXES)
    hwc = _to_hwc(image_or_batch, nrow)
    img = Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else np.ascontiguousarray(hwc))
    with atomic_file(path) as tmp:
        img.save(tmp, format="PNG" if path.suffix.lower() == ".png" else "JPEG", **(
            {} if path.suffix.lower() == ".png" else {"quality": 95}))
    return path


def read_image(path: str | os.PathLike, *, grayscale: bool = False) -> np.ndarray:
    """Read an image file as a float32 ``(C, H, W)`` array in [0, 1] (C = 1 if ``grayscale`` else 3)."""
    from PIL import Image

    path = existing_file(path)
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L" if grayscale else "RGB"))
    except Exception as err:
        raise ValueError(f"cannot read image {str(path)!r}: {err}") from err
    arr = arr[None] if grayscale else arr.transpose(2, 0, 1)
    return arr.astype(np.float32) / 255.0
