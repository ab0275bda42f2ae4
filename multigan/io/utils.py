"""Input checks and atomic writes shared by the writers and readers of :mod:`multigan.io` and the modalities."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

__all__ = ["atomic_file", "as_numpy", "to_uint8", "check_suffix", "existing_file", "safe_file_stems",
           "warn_skipped"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """:func:`multigan.core.atomic.atomic_file`, imported on first write.

    ``multigan.core``'s package init imports torch and the trainer; deferring the import keeps
    ``import multigan.io.<kind>`` cheap.
    """
    from multigan.core.atomic import atomic_file as _atomic_file

    with _atomic_file(path) as tmp:
        yield tmp


def as_numpy(x: Any, name: str) -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor or nested sequence) as a numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    if isinstance(x, (str, bytes, os.PathLike)) or x is None:
        raise TypeError(f"{name} must be an array or tensor, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an object array")
    return arr


def to_uint8(x: np.ndarray, name: str) -> np.ndarray:
    """Map a float array in [0, 1], a bool array or a uint8 array to uint8 [0, 255].

    Raises:
        ValueError: float values outside [0, 1] (1e-3 tolerance) or non-finite values.
        TypeError: any other dtype.
    """
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be float in [0, 1] or uint8, got dtype {x.dtype}")
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    if x.size and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(
            f"{name} must be in [0, 1], got [{x.min():.3g}, {x.max():.3g}]; "
            "map generator outputs from [-1, 1] first with (x + 1) / 2"
        )
    return np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def check_suffix(path: str | os.PathLike, allowed: Iterable[str], name: str = "path") -> Path:
    """Return ``path`` as a Path after checking its (lower-cased) extension is in ``allowed``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path, got {type(path).__name__}")
    path = Path(path)
    allowed = tuple(allowed)
    if path.suffix.lower() not in allowed:
        raise ValueError(
            f"{name} {str(path)!r}: unsupported extension {path.suffix!r}; supported: {', '.join(allowed)}"
        )
    return path


def existing_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, raising FileNotFoundError (naming it) if it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    return path


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")
_IMAGE_SUFFIX = re.compile(r"\.(png|jpe?g|bmp|tiff?)$", re.IGNORECASE)


def safe_file_stems(names: Sequence[str], max_len: int = 120) -> list[str]:
    """Turn names (image names, class labels, captions) into unique, portable file stems.

    Slashes, colons, spaces and every other character outside ``[A-Za-z0-9._+=-]`` become ``_``; a
    trailing image extension is dropped (``a.png`` → ``a``); leading dots and underscores are
    removed; names are cut to ``max_len`` characters; an empty result becomes ``image_<i>``. Duplicates (compared without
    case, for case-insensitive file systems) get ``-2``, ``-3``, … appended.

    Example:
        >>> safe_file_stems(["scans/a.png", "scans:a", "vol.nii.gz#z=3", "", "A"])
        ['scans_a', 'scans_a-2', 'vol.nii.gz_z=3', 'image_3', 'A']
    """
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        stem = _UNSAFE.sub("_", _IMAGE_SUFFIX.sub("", str(name))).lstrip("._")[:max_len].rstrip("_") or f"image_{i}"
        candidate, k = stem, 1
        while candidate.lower() in seen:
            k += 1
            candidate = f"{stem}-{k}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def warn_skipped(skipped: Sequence[str], total: int, what: str, where: str, shown: int = 5) -> None:
    """The one rule for bad files in a data folder: a single warning saying how many of ``total``
    ``what`` in ``where`` were skipped, naming the first ``shown`` (``"name: reason"``)."""
    if skipped:
        import warnings

        text = "; ".join(skipped[:shown]) + ("; …" if len(skipped) > shown else "")
        warnings.warn(f"skipped {len(skipped)} of {total} {what} in {where!r}: {text}", stacklevel=3)
