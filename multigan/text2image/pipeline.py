"""What text-to-image models return: :class:`TextImages`, generated pictures with their captions,
and how they are written (one file per image, or a captioned grid)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["TextImages"]


class TextImages:
    """Generated images with their captions.

    Attributes:
        images:   float32 (N, 3, H, W) in [-1, 1].
        captions: one caption (or label) per image.
        nrow:     tiles per grid row (``None``: about square).
    """

    def __init__(self, images: Tensor, captions: Sequence[str], nrow: Optional[int] = None):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        if len(captions) != len(images):
            raise ValueError(f"got {len(captions)} captions for {len(images)} images")
        self.images = images.detach().float().cpu().clamp(-1, 1)
        self.captions = [str(c) for c in captions]
        self.nrow = nrow

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: Any) -> "TextImages":
        idx = torch.arange(len(self))[index].reshape(-1)
        return TextImages(self.images[idx], [self.captions[i] for i in idx.tolist()])

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        return f"TextImages(n={n}, size={h}x{w}, captions={self.captions[:3]}{'…' if n > 3 else ''})"

    def uint8(self) -> np.ndarray:
        """uint8 array (N, 3, H, W): ``round((x + 1) · 127.5)``."""
        return ((self.images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()

    def write_images(self, pattern: str | os.PathLike) -> list[Path]:
        """One PNG/JPEG per image; ``pattern`` may hold ``{i}`` (else, for several images, ``_{i}`` ends the stem)."""
        from multigan.io.image import write_image

        pattern = str(pattern)
        if "{i}" not in pattern and len(self) > 1:
            path = Path(pattern)
            pattern = str(path.with_name(f"{path.stem}_{{i}}{path.suffix}"))
        return [write_image(img, pattern.replace("{i}", str(i))) for i, img in enumerate(self.uint8())]

    def write_grid(self, path: str | os.PathLike, *, captions: bool = True, nrow: Optional[int] = None,
                   min_tile: int = 128) -> Path:
        """Tile the images into one PNG/JPEG; with ``captions``, each caption is drawn under its tile.

        Without captions the grid is :func:`multigan.io.image.make_grid`'s (2-px white padding).
        With captions, tiles narrower than ``min_tile`` px are enlarged by an integer factor
        (nearest neighbour) so the text fits, and a caption band of equal height follows each row.
        """
        from multigan.io.image import IMAGE_SUFFIXES, write_image
        from multigan.io.utils import atomic_file, check_suffix

        nrow = nrow or self.nrow
        if not captions:
            return write_image(self.uint8(), path, nrow=nrow)
        path = check_suffix(path, IMAGE_SUFFIXES)
        canvas = _captioned_grid(self.uint8(), self.captions, nrow, min_tile)
        with atomic_file(path) as tmp:
            canvas.save(tmp, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
        return path


def _wrap(text: str, font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` pixels; an ellipsis ends a cut-off last line."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while len(word) > 1 and font.getlength(word) > width:      # a word wider than a tile: split it
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and font.getlength(last + "…") > width:
            last = last[:-1]
        lines = lines[:max_lines - 1] + [last + "…"]
    return lines or [""]


def _captioned_grid(images: np.ndarray, captions: Sequence[str], nrow: Optional[int], min_tile: int,
                    padding: int = 2, max_lines: int = 4):
    """A PIL image: uint8 (N, 3, H, W) tiles with wrapped captions under each."""
    from PIL import Image, ImageDraw, ImageFont

    n, _, h, w = images.shape
    scale = max(1, math.ceil(min_tile / w))
    h, w = h * scale, w * scale
    ncol = max(1, min(n, int(nrow) if nrow else math.ceil(math.sqrt(n))))
    rows = math.ceil(n / ncol)
    font = ImageFont.load_default()
    line_height = font.getbbox("Ag")[3] + 2
    wrapped = [_wrap(c, font, w - 4, max_lines) for c in captions]
    band = max(len(lines) for lines in wrapped) * line_height + 4
    canvas = Image.new("RGB", (padding + ncol * (w + padding), padding + rows * (h + band + padding)), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        x, y = padding + (i % ncol) * (w + padding), padding + (i // ncol) * (h + band + padding)
        tile = images[i].transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1)
        canvas.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, y))
        for k, line in enumerate(wrapped[i]):
            draw.text((x + 2, y + h + 2 + k * line_height), line, fill=(30, 30, 30), font=font)
    return canvas
