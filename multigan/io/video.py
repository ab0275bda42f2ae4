"""Video clips (PyAV, imported on first use).

Codecs by extension: ``.mp4``/``.mkv`` H.264 (libx264, yuv420p, sizes padded to even by repeating
the last row/column) with optional AAC audio; ``.webm`` VP9 (yuv420p, padded to even) with
optional Opus audio (resampled to 48 kHz); ``.gif`` a looping GIF (Pillow) with a palette made for
the clip: exact grey levels for grey clips, 256 median-cut colours otherwise (no audio). MP4 files
are written "faststart" (index first), so a web page plays them while they load.

Example:
    >>> write_video(clip, "clip.mp4", fps=8)                        # (T, C, H, W) in [0, 1]  # doctest: +SKIP
    >>> write_video(clips, "grid.gif", grid=True, nrow=4)           # (N, T, C, H, W)         # doctest: +SKIP
    >>> frames = read_video("clip.mp4")                             # uint8 (T, 3, H, W)     # doctest: +SKIP
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .utils import as_numpy, atomic_file, check_suffix, existing_file, to_uint8
from .image import tile

if TYPE_CHECKING:
    import torch

__all__ = ["viewing_scale", "write_video", "read_video", "tile_clips", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".mkv")
_VIDEO_CODEC = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9", ".gif": "gif"}
_AUDIO_CODEC = {".mp4": ("aac", None), ".mkv": ("aac", None), ".webm": ("libopus", 48000)}


def _check_clip(frames: Any, name: str, ndim: int) -> np.ndarray:
    arr = as_numpy(frames, name)
    layout = "(N, T, C, H, W)" if ndim == 5 else "(T, C, H, W)"
    if arr.ndim != ndim or arr.shape[-3] not in (1, 3) or 0 in arr.shape:
        raise ValueError(f"{name} must have shape {layout} with C in {{1, 3}}, got {arr.shape}")
    return to_uint8(arr, name)


def tile_clips(clips: Any, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile ``(N, T, C, H, W)`` clips into one uint8 ``(T, C, H', W')`` clip (``nrow`` clips per row).

    Example:
        >>> tile_clips(np.zeros((4, 5, 3, 8, 8)), nrow=2).shape
        (5, 3, 22, 22)
    """
    return tile(_check_clip(clips, "clips", 5), nrow, padding, round(pad_value * 255))


def _check_audio(audio: Any, sample_rate: int | None, suffix: str) -> np.ndarray:
    if suffix not in _AUDIO_CODEC:
        raise ValueError(f"audio cannot be muxed into {suffix}; use one of {', '.join(_AUDIO_CODEC)}")
    if not sample_rate or sample_rate <= 0:
        raise ValueError(f"audio needs a positive sample_rate, got {sample_rate}")
    wav = as_numpy(audio, "audio").astype(np.float32)
    wav = wav[None] if wav.ndim == 1 else wav
    if wav.ndim != 2 or wav.shape[0] not in (1, 2) or wav.shape[1] == 0:
        raise ValueError(f"audio must be (n,) or (channels<=2, n), got {as_numpy(audio, 'audio').shape}")
    if not np.isfinite(wav).all() or np.abs(wav).max() > 1:
        raise ValueError("audio must be finite with |x| <= 1")
    return wav


def _add_audio(container: Any, wav: np.ndarray, sample_rate: int, suffix: str) -> tuple[Any, np.ndarray, int]:
    codec, rate = _AUDIO_CODEC[suffix]
    if rate and rate != sample_rate:
        from .audio import resample

        wav = resample(wav, sample_rate, rate).clamp(-1, 1).numpy()
        sample_rate = rate
    stream = container.add_stream(codec, rate=sample_rate, layout="mono" if len(wav) == 1 else "stereo")
    return stream, wav, sample_rate


def _encode_audio(container: Any, stream: Any, wav: np.ndarray, sample_rate: int) -> None:
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wav), format="fltp", layout=stream.layout.name)
    frame.sample_rate, frame.pts, frame.time_base = sample_rate, 0, Fraction(1, sample_rate)
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _pad_even(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[1:3]
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def viewing_scale(height: int, width: int, target: int = 256) -> int:
    """The whole factor (1-8) that brings a ``height × width`` clip's shorter side to about ``target`` pixels."""
    return int(min(8, max(1, round(target / max(1, min(height, width))))))


def _write_gif(clip: np.ndarray, path: Path, fps: int) -> None:
    """``(T, H, W, 3)`` uint8 frames as a looping GIF with one palette made for these frames.

    Grey clips keep their grey levels exactly (an 8-bit grey palette); colour clips get a
    256-colour median-cut palette of frames sampled across the clip, applied without dithering
    (a fixed 3-3-2 palette tints grey and muddies colour)."""
    from PIL import Image

    grey = bool((clip[..., 0] == clip[..., 1]).all() and (clip[..., 0] == clip[..., 2]).all())
    if grey:
        frames = [Image.fromarray(image[..., 0], mode="L") for image in clip]
    else:
        picks = clip[np.unique(np.linspace(0, len(clip) - 1, min(len(clip), 32)).round().astype(int))]
        palette = Image.fromarray(np.ascontiguousarray(picks.reshape(-1, *clip.shape[2:]))).quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        frames = [Image.fromarray(image).quantize(palette=palette, dither=Image.Dither.NONE) for image in clip]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=max(20, round(1000 / fps)),
                   loop=0, optimize=False, disposal=1)


def write_video(
    frames: Any,
    path: str | os.PathLike,
    *,
    fps: int = 8,
    grid: bool = False,
    nrow: int | None = None,
    audio: Any = None,
    sample_rate: int | None = None,
    crf: int | None = None,
    scale: int = 1,
) -> Path:
    """Encode a clip (or a grid of clips) to .mp4/.webm/.gif/.mkv; every input frame becomes one frame.

    Args:
        frames: ``(T, C, H, W)``, or ``(N, T, C, H, W)`` with ``grid=True``; C in {1, 3};
            float in [0, 1] or uint8.
        path: output path; the extension picks the codec (see module docstring).
        fps: frames per second.
        grid: tile N clips with :func:`tile_clips` (2-px white border).
        nrow: clips per grid row.
        audio: optional mono/stereo waveform in [-1, 1], ``(n,)`` or ``(channels, n)`` (not for gif).
        sample_rate: sample rate of ``audio`` (required with it).
        crf: quality for H.264/VP9 (lower is better); encoder default if None.
        scale: enlarge every frame by this whole factor, each pixel a ``scale × scale`` block
            (nearest neighbour: small clips stay sharp in players that would blur them).
    """
    import av

    path = check_suffix(path, VIDEO_SUFFIXES)
    suffix = path.suffix.lower()
    if not int(fps) > 0:
        raise ValueError(f"fps must be a positive integer, got {fps}")
    if int(scale) != scale or not 1 <= int(scale) <= 16:
        raise ValueError(f"scale must be a whole number from 1 to 16, got {scale}")
    clip = tile_clips(frames, nrow) if grid else _check_clip(frames, "frames", 4)
    if int(scale) > 1:
        clip = clip.repeat(int(scale), axis=2).repeat(int(scale), axis=3)
    wav = None if audio is None else _check_audio(audio, sample_rate, suffix)
    clip = np.repeat(clip, 3 // clip.shape[1], axis=1).transpose(0, 2, 3, 1)
    clip = np.ascontiguousarray(clip if suffix == ".gif" else _pad_even(clip))
    options = {} if crf is None else {"crf": str(int(crf))}
    if suffix == ".webm":
        options |= {"deadline": "realtime", "cpu-used": "8"} | ({"b": "0"} if crf is not None else {})
    if suffix == ".gif":
        with atomic_file(path) as tmp:
            _write_gif(clip, tmp, int(fps))
        return path
    container_options = {"movflags": "+faststart"} if suffix == ".mp4" else {}   # index first: plays while loading
    with atomic_file(path) as tmp, av.open(str(tmp), mode="w", options=container_options) as out:
        stream = out.add_stream(_VIDEO_CODEC[suffix], rate=int(fps), options=options)
        stream.height, stream.width = clip.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if wav is not None:  # every stream must exist before the first packet is muxed
            audio_stream, wav, sample_rate = _add_audio(out, wav, int(sample_rate), suffix)
        for i, image in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if wav is not None:
            _encode_audio(out, audio_stream, wav, sample_rate)
    return path


def read_video(
    path: str | os.PathLike, *, max_frames: int | None = None, size: tuple[int, int] | None = None
) -> "torch.Tensor":
    """Decode a video file to a uint8 tensor ``(T, 3, H, W)``, optionally resized to ``size=(H, W)``."""
    import av
    import torch

    path = existing_file(path)
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            for frame in container.decode(video=0):
                if max_frames is not None and len(frames) >= max_frames:
                    break
                kw = {} if size is None else {"height": int(size[0]), "width": int(size[1])}
                frames.append(frame.to_ndarray(format="rgb24", **kw))
    except (av.error.FFmpegError, ValueError) as err:
        raise ValueError(f"cannot read video {str(path)!r}: {err}") from err
    if not frames:
        raise ValueError(f"video {str(path)!r} has no frames")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
