"""Preprocessing that puts any slice into the form the brain model was trained on.

The shipped brain model sees every slice the same way, whether it came from the asset builder,
a PNG a user exported from a viewer, a DICOM file or a NIfTI volume:

1. **Foreground.** The head or brain is found by a threshold at 15 % of the slice's robust
   intensity range (1st to 99th percentile), holes filled, specks dropped (pieces under a tenth of the largest) — or
   taken from a mask the caller passes.
2. **Crop.** A square around the foreground's bounding box, its side the box's longer side plus
   ``margin`` (8 %), centred on the box; parts outside the slice are filled with the background.
3. **Intensity.** ``y = -1 + (1 + TISSUE_LEVEL) · (v - lo) / (ref - lo)``, clipped to [-1, 1],
   where ``lo`` is the background level (1st percentile of the slice) and ``ref`` the median of
   the foreground. Background goes to −1 and typical tissue to ``TISSUE_LEVEL`` (0.2); T1 white
   matter lands near 0.45, which leaves room above it for lesions brighter than any tissue. A
   lesion smaller than half the foreground cannot move ``ref``, so it cannot rescale the slice.
4. **Resize** to the model's size (bilinear, antialiased when shrinking).

:func:`prepare_slice` does all four and returns what it did (:class:`Prepared`), so a report
can say per image which box was cropped and how intensities were scaled.

Example:
    >>> import numpy as np
    >>> slice_ = np.zeros((120, 100)); slice_[30:90, 20:70] = 500.0; slice_[50:60, 40:50] = 800.0
    >>> p = prepare_slice(slice_, size=32)
    >>> p.image.shape, p.box, round(float(p.image.max()), 2)
    ((1, 32, 32), (28, 13, 65), 0.92)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MARGIN", "MIN_AREA", "PREPROCESSING", "PROFILE_QUANTILES", "TISSUE_LEVEL", "Prepared", "crop_box",
           "crop_square", "domain_distance", "domain_reference", "foreground_mask", "intensity_profile",
           "prepare_slice", "resize", "tissue_normalize", "uncrop_square"]

#: Extra side of the crop square beyond the foreground's longer side (fraction).
MARGIN = 0.08
#: Where the median foreground intensity lands in [-1, 1].
TISSUE_LEVEL = 0.2
#: The built-in brain set keeps the axial slices whose brain area is at least this share of the largest
#: (``scripts/build_anomaly_assets.py``). A volume's verdict counts the slices whose foreground (the head,
#: which is what a user's scan gives) is at least this share of the volume's largest: the same cut, on
#: the head rather than the brain.
MIN_AREA = 0.25
#: The preprocessing names :func:`multigan.anomaly.read_images` accepts.
PREPROCESSING = ("crop", "none")
_FOREGROUND_LEVEL = 0.15          # of the robust range (1st–99th percentile)
_PIECE_SHARE = 0.1                # foreground pieces smaller than this share of the largest are dropped


@dataclass(frozen=True)
class Prepared:
    """One prepared slice and the record of what was done to it.

    Attributes:
        image: float32 ``(C, size, size)`` in [-1, 1].
        box: ``(top, left, side)`` of the crop square in source pixels (may reach outside the slice).
        foreground_share: share of the source slice's pixels in the foreground.
        low: source intensity mapped to −1 (background level).
        reference: source intensity mapped to :data:`TISSUE_LEVEL` (median of the foreground).
    """

    image: np.ndarray
    box: tuple[int, int, int]
    foreground_share: float
    low: float
    reference: float


def foreground_mask(pixels: np.ndarray) -> np.ndarray:
    """The head/brain region of a 2-D slice: robust threshold, holes filled, specks dropped.

    Example:
        >>> a = np.zeros((10, 10)); a[2:6, 2:6] = 1.0; a[8, 8] = 1.0
        >>> int(foreground_mask(a).sum())
        16
    """
    from scipy import ndimage

    x = np.asarray(pixels, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"a slice must be 2-D, got shape {x.shape}")
    lo, hi = np.percentile(x, (1.0, 99.0))
    if not hi > lo:
        lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        return np.ones(x.shape, bool)
    fg = ndimage.binary_fill_holes(x > lo + _FOREGROUND_LEVEL * (hi - lo))
    labels, n = ndimage.label(fg)
    if n > 1:                                  # pieces of at least a tenth of the largest (lobes of a low slice)
        sizes = np.bincount(labels.ravel())[1:]
        fg = np.isin(labels, np.flatnonzero(sizes >= _PIECE_SHARE * sizes.max()) + 1)
    return fg if fg.any() else np.ones(x.shape, bool)


def crop_box(foreground: np.ndarray, margin: float = MARGIN) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square around ``foreground``'s bounding box plus ``margin``.

    Example:
        >>> m = np.zeros((100, 100), bool); m[10:60, 20:40] = True
        >>> crop_box(m, 0.1)
        (8, 3, 55)
    """
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if not len(rows):
        return 0, 0, max(foreground.shape)
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    side = max(2, int(round(max(height, width) * (1.0 + margin))))
    center_r, center_c = (rows[0] + rows[-1] + 1) / 2.0, (cols[0] + cols[-1] + 1) / 2.0
    return int(np.floor(center_r - side / 2.0 + 0.5)), int(np.floor(center_c - side / 2.0 + 0.5)), side


def tissue_normalize(pixels: np.ndarray, foreground: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Background → −1, median foreground → :data:`TISSUE_LEVEL`, clipped to [-1, 1].

    Returns the normalised float32 array and the source levels ``(low, reference)``.

    Example:
        >>> a = np.zeros((10, 10)); a[2:8, 2:8] = 100.0; a[4, 4] = 300.0
        >>> y, lo, ref = tissue_normalize(a, a > 0)
        >>> round(float(y[0, 0]), 3), round(float(y[3, 3]), 3), round(float(y[4, 4]), 3), lo, ref
        (-1.0, 0.2, 1.0, 0.0, 100.0)
    """
    x = np.asarray(pixels, dtype=np.float64)
    lo = float(np.percentile(x, 1.0))
    inside = x[foreground] if foreground.any() else x
    ref = float(np.median(inside))
    if not ref > lo:
        ref = float(inside.max()) if inside.max() > lo else lo + 1.0
    y = -1.0 + (1.0 + TISSUE_LEVEL) * (x - lo) / (ref - lo)
    return np.clip(y, -1.0, 1.0).astype(np.float32), lo, ref


def crop_square(x: np.ndarray, box: tuple[int, int, int], fill: float) -> np.ndarray:
    """The ``box`` square of ``(C, h, w)``, filled with ``fill`` where it reaches outside."""
    top, left, side = box
    out = np.full((x.shape[0], side, side), fill, np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + side, x.shape[1]), min(left + side, x.shape[2])
    if r1 > r0 and c1 > c0:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = x[:, r0:r1, c0:c1]
    return out


def uncrop_square(x: np.ndarray, box: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`crop_square` for a model-sized ``(C, s, s)`` array: resized back to the
    ``box`` square and placed in a zero ``(C, *shape)`` array (the square's parts outside it dropped).

    Example:
        >>> uncrop_square(np.ones((1, 4, 4)), (2, -1, 3), (6, 5))[0].astype(int).tolist()[1:]
        [[0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
    """
    top, left, side = (int(v) for v in box)
    square = resize(x, side)
    out = np.zeros((x.shape[0], *shape), np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + side, shape[0]), min(left + side, shape[1])
    if r1 > r0 and c1 > c0:
        out[:, r0:r1, c0:c1] = square[:, r0 - top:r1 - top, c0 - left:c1 - left]
    return out


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(C, h, w)`` to ``(C, size, size)``, antialiased when shrinking."""
    if x.shape[-2:] == (size, size):
        return np.ascontiguousarray(x, dtype=np.float32)
    shrink = x.shape[-2] > size or x.shape[-1] > size
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)[0].numpy()


def prepare_slice(pixels: np.ndarray, *, size: int = 64, foreground: np.ndarray | None = None,
                  margin: float = MARGIN) -> Prepared:
    """Foreground crop, tissue normalisation and resize of one slice (see the module docstring).

    Args:
        pixels: ``(h, w)`` greyscale or ``(h, w, 3)`` colour raw values (any range, any dtype).
        size: output side.
        foreground: bool ``(h, w)`` region to crop to and normalise by; found by
            :func:`foreground_mask` when None.
        margin: extra side of the crop square (fraction of the foreground's longer side).
    """
    x = np.asarray(pixels, dtype=np.float64)
    if x.ndim == 3:
        from .data import LUMA_WEIGHTS

        grey = x[..., :3] @ np.asarray(LUMA_WEIGHTS)
        channels = np.moveaxis(x[..., :3], -1, 0)
    elif x.ndim == 2:
        grey, channels = x, x[None]
    else:
        raise ValueError(f"a slice must be (h, w) or (h, w, 3), got shape {x.shape}")
    if foreground is None:
        fg = foreground_mask(grey)
    else:
        fg = np.asarray(foreground, dtype=bool)
        if fg.shape != grey.shape:
            raise ValueError(f"foreground mask {fg.shape} does not match the slice {grey.shape}")
    _, lo, ref = tissue_normalize(grey, fg)
    normed = np.clip(-1.0 + (1.0 + TISSUE_LEVEL) * (channels - lo) / (ref - lo), -1.0, 1.0).astype(np.float32)
    box = crop_box(fg, margin)
    image = resize(crop_square(normed, box, -1.0), size)
    return Prepared(np.clip(image, -1.0, 1.0), box, float(fg.mean()), lo, ref)


# -- how far an image is from the training images ---------------------------------------------------

#: Quantiles of the foreground intensities in an image's profile (:func:`intensity_profile`).
PROFILE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_PROFILE_FOREGROUND = -0.8        # prepared pixels above this are foreground
#: the smallest spread of a profile entry: the tissue rule pins the median, so its training spread
#: is near 0 and a lesion would otherwise move it "many spreads"
SPREAD_FLOOR = 0.05


def intensity_profile(images: torch.Tensor) -> torch.Tensor:
    """``(N, 6)``: per prepared image, the :data:`PROFILE_QUANTILES` of its foreground values and
    the foreground's share of the image — what :func:`domain_reference` compares."""
    x = images.detach().float().cpu().mean(dim=1).flatten(1)             # (N, H*W), channels averaged
    q = torch.tensor(PROFILE_QUANTILES)
    rows = []
    for row in x:
        fg = row[row > _PROFILE_FOREGROUND]
        values = torch.quantile(fg, q) if fg.numel() else torch.full((len(q),), -1.0)
        rows.append(torch.cat([values, torch.tensor([fg.numel() / row.numel()])]))
    return torch.stack(rows) if rows else torch.zeros(0, len(q) + 1)


def domain_reference(images: torch.Tensor, *, coverage: float = 0.995, margin: float = 1.25) -> dict[str, list[float]]:
    """The training images' profile: mean, spread and the distance that ``coverage`` of them stay under.

    The distance of an image (:func:`domain_distance`) is its largest profile difference from the
    mean in units of the training spread; ``limit`` is the ``coverage`` quantile of the training
    images' own distances times ``margin``.
    """
    profiles = intensity_profile(images)
    if len(profiles) < 2:
        raise ValueError(f"a domain reference needs at least 2 images, got {len(profiles)}")
    mean, spread = profiles.mean(0), profiles.std(0).clamp_min(SPREAD_FLOOR)
    own = ((profiles - mean) / spread).abs().amax(1)
    limit = float(torch.quantile(own, coverage)) * margin
    return {"mean": [round(float(v), 6) for v in mean], "spread": [round(float(v), 6) for v in spread],
            "limit": round(limit, 4)}


def domain_distance(images: torch.Tensor, reference: dict[str, list[float]]) -> torch.Tensor:
    """``(N,)`` distance of each image from the ``reference`` profile (above ``reference["limit"]``:
    unlike the training images)."""
    profiles = intensity_profile(images)
    mean, spread = torch.tensor(reference["mean"]), torch.tensor(reference["spread"])
    return ((profiles - mean) / spread).abs().amax(1)
