"""Deterministic test patterns for every output kind (`multigan demo --patterns`): a check of the writers themselves.

Example:
    >>> paths = write_test_patterns("demo_out")      # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["scale_pianoroll", "torus_voxels", "square_clip", "checker_images", "write_test_patterns",
           "SCALE_TEMPO", "SCALE_STEPS_PER_BEAT"]

SCALE_TEMPO, SCALE_STEPS_PER_BEAT = 120.0, 4


def scale_pianoroll() -> tuple[np.ndarray, np.ndarray]:
    """A 28-step ``(T, 128)`` roll and its onsets: C-major scale C4..C5 (2 steps per note), G4 struck
    four times in a row (1 step each, split by onsets), a 2-step rest, then a C-major triad (6 steps)."""
    roll = np.zeros((28, 128), bool)
    onsets = np.zeros_like(roll)
    for i, pitch in enumerate((60, 62, 64, 65, 67, 69, 71, 72)):
        roll[2 * i:2 * i + 2, pitch] = onsets[2 * i, pitch] = True
    roll[16:20, 67] = onsets[16:20, 67] = True
    roll[22:28, [60, 64, 67]] = onsets[22, [60, 64, 67]] = True
    return roll, onsets


def torus_voxels(resolution: int = 32) -> np.ndarray:
    """A solid torus (major radius 0.3 R, minor 0.12 R, axis along the first dim) in an ``(R, R, R)`` bool grid."""
    c = (np.arange(resolution) - (resolution - 1) / 2) / resolution
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    return (np.hypot(x, y) - 0.3) ** 2 + z ** 2 <= 0.12 ** 2


def square_clip(frames: int = 16, size: int = 64) -> np.ndarray:
    """A ``(T, 3, H, W)`` float32 clip in [0, 1]: a square circling over a red/green gradient, changing colour."""
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    clip = np.empty((frames, 3, size, size), np.float32)
    side = max(2, size // 4)
    for t in range(frames):
        phase = 2 * math.pi * t / frames
        clip[t] = np.stack([xx, yy, np.full_like(xx, 0.3)])
        cy = int((size - side) * (0.5 + 0.35 * math.sin(phase)))
        cx = int((size - side) * (0.5 + 0.35 * math.cos(phase)))
        colour = [0.5 + 0.5 * math.cos(phase + k * 2 * math.pi / 3) for k in range(3)]
        clip[t, :, cy:cy + side, cx:cx + side] = np.array(colour, np.float32)[:, None, None]
    return clip


def checker_images(n: int = 16, size: int = 32) -> np.ndarray:
    """``n`` distinct ``(3, size, size)`` float32 images in [0, 1]: tinted checkerboards of growing period."""
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        period = 2 + i % 8
        board = ((yy // period + xx // period) % 2).astype(np.float32)
        tint = np.array([(i % 4) / 3, (i // 4 % 4) / 3, 1 - (i % 4) / 3], np.float32)[:, None, None]
        images[i] = 0.25 + 0.75 * board * tint
    return images


def write_test_patterns(out_dir: str | os.PathLike) -> list[Path]:
    """Write one sample of every output kind under ``out_dir`` and return the paths.

    Files: ``music/scale.mid``, ``music/scale.wav``, ``voxel/torus.glb``, ``voxel/torus.obj``,
    ``video/square.mp4`` (with the scale as soundtrack), ``video/square.gif``, ``image/grid.png``.
    """
    from . import audio, image, mesh, midi, video

    out = Path(out_dir)
    roll, onsets = scale_pianoroll()
    kw = dict(tempo=SCALE_TEMPO, steps_per_beat=SCALE_STEPS_PER_BEAT, onsets=onsets)
    sample_rate, fps = 22050, 8
    wave = audio.synthesize(roll, sample_rate=sample_rate, **kw)
    voxels = torus_voxels(32)
    seconds = len(roll) * midi.step_seconds(SCALE_TEMPO, SCALE_STEPS_PER_BEAT)
    midi.pianoroll_to_midi(roll, out / "music" / "scale.mid", **kw)
    return [
        out / "music" / "scale.mid",
        audio.write_audio(wave, out / "music" / "scale.wav", sample_rate=sample_rate),
        mesh.write_mesh(voxels, out / "voxel" / "torus.glb", smooth_iterations=5),
        mesh.write_mesh(voxels, out / "voxel" / "torus.obj", smooth_iterations=5),
        video.write_video(square_clip(round(seconds * fps), 64), out / "video" / "square.mp4", fps=fps,
                          audio=wave, sample_rate=sample_rate),
        video.write_video(square_clip(16, 64), out / "video" / "square.gif", fps=fps),
        image.write_image(checker_images(), out / "image" / "grid.png", nrow=4),
    ]
