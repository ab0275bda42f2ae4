"""A batch of generated (or loaded) video clips with MP4/WebM/GIF and PNG-strip writers.

Example:
    >>> clips = Clips(torch.zeros(2, 8, 1, 32, 32), labels=["7", "3"])
    >>> len(clips), clips[1].labels
    (2, ['3'])
    >>> clips.write_video("out/clip_{i}.mp4", fps=8)          # one file per clip  # doctest: +SKIP
    >>> clips.write_video("out/grid.gif", grid=True)            # all clips tiled     # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["Clips"]


class Clips:
    """``(N, T, C, H, W)`` clips as float32 in [-1, 1] (C = 1 or 3), with optional labels.

    Accepts float tensors/arrays in [-1, 1], uint8 (mapped by ``x / 127.5 - 1``), or one
    ``(T, C, H, W)`` clip.

    Attributes:
        clips:  float32 tensor (N, T, C, H, W) in [-1, 1].
        labels: one class name per clip, or None.
    """

    def __init__(self, clips: Any, labels: Optional[Sequence[str]] = None):
        from .data import as_float_clips

        self.clips = as_float_clips(clips, "clips").contiguous()
        if labels is not None and len(labels) != len(self.clips):
            raise ValueError(f"got {len(labels)} labels for {len(self.clips)} clips")
        self.labels = None if labels is None else [str(label) for label in labels]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: Any) -> "Clips":
        idx = torch.arange(len(self))[index].reshape(-1)
        labels = None if self.labels is None else [self.labels[i] for i in idx.tolist()]
        return Clips(self.clips[idx], labels)

    def __repr__(self) -> str:
        n, t, c, h, w = self.clips.shape
        return f"Clips(n={n}, frames={t}, channels={c}, size={h}x{w}, labels={self.labels})"

    def numpy(self) -> np.ndarray:
        """float32 array (N, T, C, H, W) in [-1, 1]."""
        return self.clips.numpy().copy()

    def uint8(self) -> np.ndarray:
        """uint8 array (N, T, C, H, W): ``round((x + 1) · 127.5)``."""
        return ((self.clips + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()

    def _unit(self) -> Tensor:
        return (self.clips + 1) / 2

    def write_video(self, path: str | os.PathLike, *, fps: float = 8, grid: bool = False,
                    nrow: Optional[int] = None, crf: Optional[int] = None, scale: Optional[int] = None) -> list[Path]:
        """Encode the clips (.mp4 .webm .gif .mkv, by extension); returns the files written.

        ``grid=True``: one video with all clips tiled (``nrow`` per row). Otherwise one file per
        clip: ``path`` may hold ``{i}`` (index) and ``{label}``; with several clips and no ``{i}``
        the index is appended to the stem. Each file is written atomically. ``scale`` enlarges the
        frames by a whole factor, pixels as blocks (default: :func:`~multigan.io.video.viewing_scale`,
        e.g. 8× for 32 × 32 clips, so players show them at a viewable size; 1 keeps the model's size).
        """
        from multigan.io.video import VIDEO_SUFFIXES, viewing_scale, write_video

        if not float(fps) > 0 or float(fps) != int(fps):
            raise ValueError(f"fps must be a positive whole number, got {fps}")
        pattern = str(path)
        suffix = Path(pattern.replace("{i}", "0").replace("{label}", "x")).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise ValueError(f"video path must end in one of {', '.join(VIDEO_SUFFIXES)}, got {pattern!r}")
        frames = self._unit()
        scale = viewing_scale(*frames.shape[-2:]) if scale is None else scale
        if grid:
            out = Path(pattern.format(i="grid", label="grid")) if "{" in pattern else Path(pattern)
            out.parent.mkdir(parents=True, exist_ok=True)
            return [write_video(frames, out, fps=int(fps), grid=True, nrow=nrow, crf=crf, scale=scale)]
        if len(self) > 1 and "{i}" not in pattern:
            p = Path(pattern)
            pattern = str(p.with_name(p.stem + "_{i}" + p.suffix))
        paths = []
        for i, clip in enumerate(frames):
            label = self.labels[i] if self.labels is not None else "clip"
            out = Path(pattern.format(i=i, label=label))
            out.parent.mkdir(parents=True, exist_ok=True)
            paths.append(write_video(clip, out, fps=int(fps), crf=crf, scale=scale))
        return paths

    def write_frames(self, path: str | os.PathLike) -> Path:
        """One PNG: a row of frames per clip (time runs left to right)."""
        from multigan.io.image import write_image

        t = self.clips.shape[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return write_image(self._unit().flatten(0, 1), path, nrow=t)
