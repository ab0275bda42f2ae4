"""The result of scoring images for anomalies, and the reports written from it.

:class:`AnomalyResult` holds, for ``N`` scored images, the anomaly ``scores`` (higher = more
anomalous), the per-pixel residual ``maps``, the input ``images`` (and reconstructions) for
overlays, the ``names`` and the files that could not be read (``failures``). Reports never drop an
image silently: every failure is a row of the CSV and an entry of the JSON.

An image is labelled anomalous when ``score > threshold`` (the threshold is calibrated on normal
validation data by the detector; see :func:`multigan.anomaly.metrics.threshold_at_fpr`). Scores are
never rescaled by the test set's minimum or maximum.

Example:
    >>> res = det.score(read_images("scans/"))                # doctest: +SKIP
    >>> res.labels                                            # doctest: +SKIP
    tensor([False,  True, ...])
    >>> res.write_report("report/")                           # doctest: +SKIP
    {'csv': PosixPath('report/scores.csv'), 'json': PosixPath('report/report.json'), 'overlays': [...]}
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import Tensor

from multigan.io.utils import as_numpy, atomic_file, safe_file_stems
from multigan.io.image import write_image

from . import metrics as M

__all__ = ["COLORMAPS", "AnomalyResult", "apply_colormap", "safe_file_stems"]

#: Colour maps for the heat overlays: name → anchor RGB colours in [0, 1], interpolated linearly.
COLORMAPS: dict[str, np.ndarray] = {
    # matplotlib's "inferno" sampled at 0, 0.1, …, 1 (perceptually uniform, black → yellow-white)
    "inferno": np.array([
        (0.001, 0.000, 0.014), (0.087, 0.045, 0.225), (0.258, 0.039, 0.406), (0.416, 0.090, 0.433),
        (0.578, 0.148, 0.404), (0.736, 0.216, 0.330), (0.865, 0.317, 0.226), (0.955, 0.469, 0.100),
        (0.988, 0.645, 0.040), (0.964, 0.844, 0.273), (0.988, 0.998, 0.645)]),
    # the classic piecewise-linear "jet": dark blue → blue → cyan → yellow → red → dark red
    "jet": np.array([(0.0, 0.0, 0.5), (0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0),
                     (0.5, 0.0, 0.0)]),
}
_JET_X = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])

#: Colour of the ground-truth mask outline in overlays (pure green).
OUTLINE_RGB = (0, 255, 0)
#: Colour of the contour of the map above ``AnomalyResult.map_threshold`` in overlays (cyan).
CONTOUR_RGB = (0, 255, 255)
#: White gap (pixels) between the panels of an overlay.
PANEL_GAP = 2
#: Percentile of all map values that maps to the top of the heat scale (see ``save_overlays``).
HEAT_PERCENTILE = 99.0

Index: TypeAlias = "int | slice | Sequence[int] | Tensor | np.ndarray"


# --------------------------------------------------------------------------- helpers

def apply_colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Map values in [0, 1] (any shape ``S``) to RGB float ``(*S, 3)`` in [0, 1].

    Example:
        >>> apply_colormap(np.array([0.0, 1.0]), "jet").round(2).tolist()
        [[0.0, 0.0, 0.5], [0.5, 0.0, 0.0]]
    """
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose from {sorted(COLORMAPS)}")
    anchors = COLORMAPS[name]
    xs = _JET_X if name == "jet" else np.linspace(0.0, 1.0, len(anchors))
    v = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
    return np.stack([np.interp(v, xs, anchors[:, c]) for c in range(3)], axis=-1)




def _as_tensor(x: Any, name: str) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.from_numpy(np.ascontiguousarray(as_numpy(x, name)))
    return t.detach().cpu()


def _float_tensor(x: Any, name: str) -> Tensor:
    t = _as_tensor(x, name)
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must be real numbers, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.float()
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _binary_tensor(x: Any, name: str) -> Tensor:
    t = _as_tensor(x, name)
    if t.dtype != torch.bool:
        if t.is_complex():
            raise TypeError(f"{name} must be bool or 0/1, got dtype {t.dtype}")
        if t.numel() and not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must contain only 0 and 1 (1 = anomalous)")
        t = t != 0
    return t


def _with_channel(t: Tensor, name: str, channels: tuple[int, ...] = (1,)) -> Tensor:
    if t.dim() == 3 and channels == (1,):
        t = t[:, None]
    if t.dim() != 4 or t.shape[1] not in channels:
        want = "(N, 1, H, W) or (N, H, W)" if channels == (1,) else f"(N, C, H, W) with C in {set(channels)}"
        raise ValueError(f"{name} must have shape {want}, got {tuple(t.shape)}")
    return t


def _check_range(t: Tensor, name: str) -> None:
    if t.numel():
        lo, hi = float(t.min()), float(t.max())
        if lo < -1 - 1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"{name} must be in [-1, 1], got [{lo:.3g}, {hi:.3g}]")


def _cell(value: Any) -> str:
    """A details value as a CSV cell: booleans as yes/no, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _number(x: float) -> float | None:
    """float for JSON: nan/inf → None."""
    x = float(x)
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------- the result

@dataclass(eq=False, repr=False)
class AnomalyResult:
    """Scores, maps and reports for ``N`` scored images (plus the files that failed to load).

    Fields (tensors are stored detached on the CPU; numpy arrays and lists are accepted):

    * ``scores``          float ``(N,)``, higher = more anomalous (finite)
    * ``maps``            float ``(N, 1, H, W)`` per-pixel residual, ``>= 0`` (``(N, H, W)`` accepted)
    * ``images``          float ``(N, C, H, W)`` in [-1, 1], C in {1, 3}: the inputs, for overlays
    * ``names``           ``N`` strings naming the images (file path, ``volume.nii.gz#z=40``, …)
    * ``threshold``       anomalous when ``score > threshold``; ``None``: no labels
    * ``method``          e.g. ``"anogan"`` or ``"f-anogan"``
    * ``reconstructions`` optional float ``(N, C, H, W)`` in [-1, 1]: ``G(z)`` for each input
    * ``failures``        ``(path, reason)`` for every input that could not be read or scored
    * ``truth``           optional int ``(N,)`` ground-truth labels, 1 = anomalous
    * ``masks``           optional bool ``(N, 1, H, W)`` ground-truth lesion masks
    * ``details``         optional ``N`` dicts of per-image facts written as extra report columns
                          (the crop box, foreground share, distance from the training images, …)
    * ``map_threshold``   optional map level whose contour overlays draw (cyan): the detector sets
                          it to the image threshold when the image score is the mean of the map's
                          highest pixels (``image_score="map"``), so the contour encloses the
                          residuals as high as an anomalous image's
    * ``map_margin``      pixels of tissue next to the background that the image score leaves out
                          (``AnoGAN(map_margin=)``); overlays say so under the contour's key

    Raises:
        ValueError / TypeError: on construction, for any mismatched length, shape, range or dtype.

    Example:
        >>> res = AnomalyResult(torch.tensor([0.2, 0.9]), torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8),
        ...                     ["a.png", "b.png"], threshold=0.5, method="f-anogan")
        >>> res.labels.tolist(), len(res), res[1].names
        ([False, True], 2, ['b.png'])
    """

    scores: Tensor
    maps: Tensor
    images: Tensor
    names: list[str]
    threshold: float | None = None
    method: str = ""
    reconstructions: Tensor | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    truth: Tensor | None = None
    masks: Tensor | None = None
    details: list[dict[str, Any]] | None = None
    map_threshold: float | None = None
    map_margin: int = 0

    def __post_init__(self) -> None:
        self.scores = _float_tensor(self.scores, "scores")
        if self.scores.dim() != 1:
            raise ValueError(f"scores must have shape (N,), got {tuple(self.scores.shape)}")
        n = self.scores.shape[0]
        self.maps = _with_channel(_float_tensor(self.maps, "maps"), "maps")
        if self.maps.numel() and float(self.maps.min()) < 0:
            raise ValueError(f"maps must be >= 0 (residual magnitudes), got a minimum of {float(self.maps.min()):.3g}")
        self.images = _float_tensor(self.images, "images")
        if self.images.dim() == 3:
            self.images = self.images[:, None]
        self.images = _with_channel(self.images, "images", (1, 3))
        _check_range(self.images, "images")
        size = tuple(self.images.shape[-2:])
        for name, t in (("maps", self.maps), ("images", self.images)):
            if t.shape[0] != n:
                raise ValueError(f"{name} hold {t.shape[0]} images but there are {n} scores")
        if tuple(self.maps.shape[-2:]) != size:
            raise ValueError(f"maps are {tuple(self.maps.shape[-2:])} but images are {size} (H, W)")
        if isinstance(self.names, (str, bytes)) or not isinstance(self.names, Sequence):
            raise TypeError(f"names must be a list of strings, got {type(self.names).__name__}")
        self.names = [os.fspath(x) if isinstance(x, os.PathLike) else x for x in self.names]
        if not all(isinstance(x, str) for x in self.names):
            raise TypeError("names must all be strings")
        if len(self.names) != n:
            raise ValueError(f"there are {len(self.names)} names but {n} scores")
        if self.threshold is not None:
            self.threshold = M._threshold(self.threshold)
        if self.map_threshold is not None:
            self.map_threshold = M._threshold(self.map_threshold, "map_threshold")
        from .models import _check_margin

        _check_margin(self.map_margin)
        if not isinstance(self.method, str):
            raise TypeError(f"method must be a string, got {type(self.method).__name__}")
        if self.reconstructions is not None:
            self.reconstructions = _float_tensor(self.reconstructions, "reconstructions")
            if self.reconstructions.shape != self.images.shape:
                raise ValueError(f"reconstructions must match images {tuple(self.images.shape)}, "
                                 f"got {tuple(self.reconstructions.shape)}")
            _check_range(self.reconstructions, "reconstructions")
        self.failures = self._check_failures(self.failures)
        if self.truth is not None:
            self.truth = self._check_truth(self.truth)
        if self.details is not None:
            self.details = [dict(d) for d in self.details]
            if len(self.details) != n:
                raise ValueError(f"there are {len(self.details)} details rows but {n} scores")
        if self.masks is not None:
            self.masks = _with_channel(_binary_tensor(self.masks, "masks"), "masks")
            if self.masks.shape[0] != n or tuple(self.masks.shape[-2:]) != size:
                raise ValueError(f"masks must have shape {(n, 1, *size)}, got {tuple(self.masks.shape)}")

    @staticmethod
    def _check_failures(failures: Any) -> list[tuple[str, str]]:
        out = []
        for item in failures:
            if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
                raise ValueError(f"each failure must be a (path, reason) pair, got {item!r}")
            out.append((os.fspath(item[0]) if isinstance(item[0], os.PathLike) else str(item[0]), str(item[1])))
        return out

    def _check_truth(self, truth: Any) -> Tensor:
        t = _binary_tensor(truth, "truth")
        if t.dim() != 1 or t.shape[0] != len(self):
            raise ValueError(f"truth must have shape ({len(self)},), got {tuple(t.shape)}")
        return t.long()

    # ----------------------------------------------------------------------- basics

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __repr__(self) -> str:
        h, w = self.images.shape[-2:]
        return (f"AnomalyResult(method={self.method!r}, images={len(self)}, failed={len(self.failures)}, "
                f"size={h}x{w}, threshold={self.threshold!r})")

    @property
    def labels(self) -> Tensor | None:
        """Bool ``(N,)``: ``score > threshold``; ``None`` when no threshold is set."""
        return None if self.threshold is None else self.scores > self.threshold

    def with_threshold(self, threshold: float | None) -> AnomalyResult:
        """A copy labelled with another threshold (tensors shared, not copied)."""
        return dataclasses.replace(self, threshold=threshold, failures=list(self.failures))

    def _indices(self, index: Index) -> Tensor:
        n = len(self)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            if not -n <= index < n:
                raise IndexError(f"index {index} out of range for {n} images")
            return torch.tensor([int(index) % n])
        if isinstance(index, slice):
            return torch.arange(n)[index]
        t = _as_tensor(index if isinstance(index, (Tensor, np.ndarray)) else list(index), "index")
        if t.numel() == 0:
            return torch.zeros(0, dtype=torch.long)
        if t.dtype == torch.bool:
            if t.shape != (n,):
                raise IndexError(f"a boolean index must have shape ({n},), got {tuple(t.shape)}")
            return t.nonzero().reshape(-1)
        if t.is_floating_point() or t.dim() > 1:
            raise IndexError(f"index must be integers or a boolean mask, got {t.dtype} of shape {tuple(t.shape)}")
        t = t.long().reshape(-1)
        if t.numel() and (int(t.min()) < -n or int(t.max()) >= n):
            raise IndexError(f"index out of range for {n} images")
        return t % max(n, 1)

    def subset(self, index: Index, *, keep_failures: bool = True) -> AnomalyResult:
        """The images at ``index`` (int, slice, integer list/tensor or bool mask), as a new result.

        The failures belong to the whole run and are kept unless ``keep_failures=False``.
        """
        idx = self._indices(index)
        pick = lambda t: None if t is None else t[idx]
        return dataclasses.replace(
            self, scores=self.scores[idx], maps=self.maps[idx], images=self.images[idx],
            names=[self.names[i] for i in idx.tolist()], reconstructions=pick(self.reconstructions),
            truth=pick(self.truth), masks=pick(self.masks), failures=list(self.failures) if keep_failures else [],
            details=None if self.details is None else [self.details[i] for i in idx.tolist()])

    def __getitem__(self, index: Index) -> AnomalyResult:
        """``res[i]``, ``res[2:5]``, ``res[[0, 3]]``, ``res[res.labels]``: see :meth:`subset`."""
        return self.subset(index)

    # ----------------------------------------------------------------------- summaries

    def _words(self, flags: Tensor | None) -> list[str]:
        if flags is None:
            return [""] * len(self)
        return ["anomalous" if bool(f) else "normal" for f in flags]

    def summary(self, truth: Any = None, *, pixel_threshold: float | None = None) -> dict[str, Any]:
        """Counts, score statistics and — when ground truth is known — the evaluation metrics.

        ``truth`` (``(N,)`` 0/1) overrides :attr:`truth`. ``metrics`` comes from
        :func:`multigan.anomaly.metrics.evaluate_scores` with this result's threshold (and maps and
        masks when masks are known; ``dice`` there is the oracle-threshold Dice, and
        ``dice_at_pixel_threshold`` the Dice at ``pixel_threshold`` if given).
        """
        truth_t = self.truth if truth is None else self._check_truth(truth)
        labels = self.labels
        n_anom = None if labels is None else int(labels.sum())
        s = self.scores.double()
        out: dict[str, Any] = {
            "method": self.method,
            "threshold": self.threshold,
            "counts": {"inputs": len(self) + len(self.failures), "scored": len(self), "failed": len(self.failures),
                       "anomalous": n_anom, "normal": None if n_anom is None else len(self) - n_anom},
            "score_stats": ({"mean": float(s.mean()), "std": float(s.std()) if len(self) > 1 else 0.0,
                             "min": float(s.min()), "median": float(s.median()), "max": float(s.max())}
                            if len(self) else {}),
        }
        if truth_t is not None and len(self):
            out["metrics"] = M.evaluate_scores(self.scores, truth_t, self.threshold, self.maps,
                                               self.masks, pixel_threshold=pixel_threshold)
        return out

    # ----------------------------------------------------------------------- writers

    def _max_map(self) -> np.ndarray:
        return self.maps.amax(dim=(1, 2, 3)).numpy() if len(self) else np.zeros(0, np.float32)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write one row per image, then one per failure; atomic. Returns the path.

        Columns: ``name, status, score[, label], max_map[, truth][, details…][, reason]``: ``label``
        when there is a threshold, ``truth`` when ground truth is known, one column per key of
        :attr:`details` when given, ``reason`` when some input failed, so no column is always empty
        (a spreadsheet or pandas gives every column its type). Details print booleans as ``yes``/``no``.
        Scored images have status ``ok``, ``label`` ``anomalous``/``normal`` and ``max_map`` the largest map value.
        Each unreadable input is a row with status ``failed``, its path as ``name``, empty numbers
        and the ``reason``. Numbers are written in the shortest decimal form that reads back to the
        same value in the tensor's dtype (``0.12``, not ``0.11999999731779099``, for float32).
        """
        path = Path(path)
        scores = self.scores.numpy()
        max_map = self._max_map()
        labels, truth = self._words(self.labels), self._words(self.truth)
        columns = {"label": self.labels is not None, "truth": self.truth is not None, "reason": bool(self.failures)}
        extra = list(dict.fromkeys(k for d in self.details or [] for k in d))
        header = ["name", "status", "score", "label", "max_map", "truth", *extra, "reason"]
        keep = [k for k, name in enumerate(header) if columns.get(name, True)]
        with atomic_file(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([header[k] for k in keep])
            for i, name in enumerate(self.names):
                more = [_cell(self.details[i].get(k)) for k in extra] if self.details else []
                row = [name, "ok", str(scores[i]), labels[i], str(max_map[i]), truth[i], *more, ""]
                w.writerow([row[k] for k in keep])
            for fpath, reason in self.failures:
                row = [fpath, "failed", "", "", "", "", *[""] * len(extra), reason]
                w.writerow([row[k] for k in keep])
        return path

    def to_json(self, path: str | os.PathLike, *, pixel_threshold: float | None = None,
                volumes: list[dict[str, Any]] | None = None) -> Path:
        """Write ``report.json``-style JSON; atomic. Returns the path.

        Keys: ``method``, ``threshold``, ``counts`` (inputs, scored, failed, anomalous, normal),
        ``score_stats``, ``images`` (``name``, ``score``, ``label``, ``max_map`` and ``truth`` when
        known, per image), ``failures`` (``path``, ``reason``), ``volumes`` when given (the rows of
        :meth:`write_volumes`) and, when ground truth is known, ``summary``: the metrics of
        :meth:`summary`. Undefined numbers (nan) are written as ``null``;
        scores are written as in :meth:`to_csv` (exact in the tensor's dtype).
        """
        path = Path(path)
        summ = self.summary(pixel_threshold=pixel_threshold)
        labels = self.labels
        scores = self.scores.numpy()
        max_map = self._max_map()
        images = []
        for i, name in enumerate(self.names):
            row: dict[str, Any] = {"name": name, "score": float(str(scores[i])),
                                   "label": None if labels is None else ("anomalous" if bool(labels[i]) else "normal"),
                                   "max_map": float(str(max_map[i]))}
            if self.truth is not None:
                row["truth"] = "anomalous" if int(self.truth[i]) else "normal"
            if self.details is not None:
                row.update({k: v if isinstance(v, (str, bool, int)) or v is None else _number(float(v))
                            for k, v in self.details[i].items()})
            images.append(row)
        doc: dict[str, Any] = {
            "method": self.method, "threshold": self.threshold, "map_margin": self.map_margin, "counts": summ["counts"],
            "score_stats": summ["score_stats"], "images": images,
            "failures": [{"path": p, "reason": r} for p, r in self.failures],
        }
        if volumes is not None:
            doc["volumes"] = volumes
        if "metrics" in summ:
            doc["summary"] = {k: _number(v) for k, v in summ["metrics"].items()}
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return path

    def _heat_scale(self, normalise: str, vmax: float | None) -> np.ndarray:
        """Top of the heat scale per image ``(N,)``."""
        maps = self.maps.double().numpy().reshape(len(self), -1)
        if vmax is not None:
            v = M._threshold(vmax, "vmax")
            if v <= 0:
                raise ValueError(f"vmax must be > 0, got {vmax}")
            return np.full(len(self), v)

        def top(values: np.ndarray) -> float:
            v = float(np.percentile(values, HEAT_PERCENTILE))
            if v <= 0:
                v = float(values.max())
            return v if v > 0 else 1.0

        if normalise == "global":
            return np.full(len(self), top(maps.reshape(-1)))
        if normalise in ("per-image", "per_image"):
            return np.array([top(row) for row in maps])
        raise ValueError(f"normalise must be 'global' or 'per-image', got {normalise!r}")

    def save_overlays(self, folder: str | os.PathLike, *, alpha: float = 0.5, colormap: str = "inferno",
                      normalise: str = "global", vmax: float | None = None, scale: int | None = None,
                      legend: bool = True) -> list[Path]:
        """Write one PNG per image: ``[input | reconstruction | heat-map overlay]``; returns the paths.

        ``legend`` (default) titles the panels and adds a footer with the image's score, the
        threshold and the verdict, and a colour bar of the heat scale (0 to its ``vmax``).
        ``scale`` enlarges every panel by pixel repetition (default: to about 256 pixels, 4× for
        64 × 64 images; 1 keeps the model's size).

        The reconstruction panel appears only when :attr:`reconstructions` is set. The overlay blends
        the input with the coloured map: ``(1 − alpha) · input + alpha · colormap(map / vmax)``, the
        map clipped to ``[0, vmax]``; with :attr:`masks` known, the ground-truth outline is drawn on
        it in pure green ``(0, 255, 0)``. Panels are separated by a 2-pixel white gap; ``scale``
        enlarges every panel by pixel repetition.

        Heat scale: ``normalise="global"`` (default) uses ONE ``vmax`` for the whole batch, the 99th
        percentile of all map values in this result (falling back to the maximum, then 1, if that is
        0), so equally bright overlays mean equally large residuals across images; ``"per-image"``
        uses each image's own 99th percentile (shows structure in weak maps, but every image then
        looks "hot"); an explicit ``vmax`` overrides both (use one from normal validation data to
        compare across runs). Only maps are scaled for display; scores are never normalised.

        File names are :func:`safe_file_stems` of :attr:`names` + ``.png``; each file is written
        atomically. An empty result writes nothing and returns ``[]``.
        """
        if colormap not in COLORMAPS:
            raise ValueError(f"unknown colormap {colormap!r}; choose from {sorted(COLORMAPS)}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        if scale is None:
            scale = self._viewing_scale()
        if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
            raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not len(self):
            return []
        tops = self._heat_scale(normalise, vmax)
        paths = []
        for i, stem in enumerate(safe_file_stems(self.names)):
            path = folder / f"{stem}.png"
            write_image(self._figure(i, float(tops[i]), alpha, colormap, int(scale), legend), path)
            paths.append(path)
        return paths

    def _viewing_scale(self) -> int:
        """The pixel repetition that shows the images at about 256 pixels (1–8)."""
        return int(min(8, max(1, round(256 / max(self.images.shape[-2:])))))

    def _figure(self, i: int, top: float, alpha: float, colormap: str, scale: int, legend: bool) -> np.ndarray:
        """Image ``i``'s overlay file content: the panels, with the legend when ``legend``."""
        panels = self._overlay(i, top, alpha, colormap, scale)
        return self._with_legend(i, panels, top, colormap) if legend else panels

    def _overlay(self, i: int, top: float, alpha: float, colormap: str, scale: int) -> np.ndarray:
        """The side-by-side panels of image ``i`` as uint8 ``(3, H', W')``."""

        def rgb(x: Tensor) -> np.ndarray:                     # (C, H, W) in [-1, 1] → (H, W, 3) in [0, 1]
            a = ((x.double().numpy() + 1.0) / 2.0).clip(0.0, 1.0).transpose(1, 2, 0)
            return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a

        def big(a: np.ndarray) -> np.ndarray:
            return a.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else a

        image = rgb(self.images[i])
        heat = apply_colormap(self.maps[i, 0].double().numpy() / top, colormap)
        panels = [image] + ([rgb(self.reconstructions[i])] if self.reconstructions is not None else [])
        overlay = big(np.round(((1.0 - alpha) * image + alpha * heat) * 255).astype(np.uint8))
        if self.map_threshold is not None:
            overlay[_outline(big(self.maps[i, 0].numpy() > self.map_threshold))] = CONTOUR_RGB
        if self.masks is not None:
            overlay[_outline(big(self.masks[i, 0].numpy()))] = OUTLINE_RGB
        tiles = [big(np.round(p * 255).astype(np.uint8)) for p in panels] + [overlay]
        h, w = overlay.shape[:2]
        canvas = np.full((h, len(tiles) * w + (len(tiles) - 1) * PANEL_GAP, 3), 255, np.uint8)
        for k, tile in enumerate(tiles):
            canvas[:, k * (w + PANEL_GAP):k * (w + PANEL_GAP) + w] = tile
        return np.ascontiguousarray(canvas.transpose(2, 0, 1))

    def _key_lines(self, i: int) -> list[tuple[str, tuple[int, int, int]]]:
        """(text, colour) of each outline drawn on image ``i``'s overlay, one line each."""
        keys = []
        if self.map_threshold is not None and bool((self.maps[i] > self.map_threshold).any()):
            keys.append(("cyan: residual above the threshold", (0, 140, 160)))
            if self.map_margin:
                keys.append((f"      the {self.map_margin} px of tissue next to the background are not scored",
                             (0, 140, 160)))
        if self.masks is not None and bool(self.masks[i].any()):
            keys.append(("green: true lesion", (0, 150, 0)))
        return keys

    def _with_legend(self, i: int, panels: np.ndarray, top: float, colormap: str) -> np.ndarray:
        """``panels`` (uint8 ``(3, H, W')``) with panel titles above and, below, the score, the threshold,
        the verdict and a colour bar of the heat scale."""
        from PIL import Image, ImageDraw

        font = _font(13)
        _, h, width = panels.shape
        n = 3 if self.reconstructions is not None else 2
        w = (width - (n - 1) * PANEL_GAP) // n
        keys = self._key_lines(i)
        head, foot = 20, 44 + 18 * max(0, len(keys) - 1)
        canvas = Image.new("RGB", (width, head + h + foot), "white")
        canvas.paste(Image.fromarray(panels.transpose(1, 2, 0)), (0, head))
        draw = ImageDraw.Draw(canvas)
        titles = ["input"] + (["reconstruction"] if n == 3 else []) + ["residual on input"]
        for k, title in enumerate(titles):
            draw.text((k * (w + PANEL_GAP) + 3, 3), title, fill=(40, 40, 40), font=font)
        score = float(self.scores[i])
        line = f"score {score:.4g}"
        if self.threshold is not None:
            verdict = "anomalous" if score > self.threshold else "normal"
            line += f"   threshold {self.threshold:.4g}   {verdict}"
        draw.text((3, head + h + 6), line, fill=(40, 40, 40), font=font)
        for k, (text, colour) in enumerate(keys):
            draw.text((3, head + h + 24 + 18 * k), text, fill=colour, font=font)
        x0, bar_w = width - w, max(8, w - 8)                 # the colour bar under the overlay panel
        ramp = apply_colormap(np.tile(np.linspace(0, 1, bar_w), (8, 1)), colormap)
        canvas.paste(Image.fromarray(np.round(ramp * 255).astype(np.uint8)), (x0 + 4, head + h + 8))
        draw.text((x0 + 4, head + h + 20), "0", fill=(40, 40, 40), font=font)
        label = f"{top:.3g}"
        draw.text((x0 + 4 + bar_w - draw.textlength(label, font=font), head + h + 20), label, fill=(40, 40, 40),
                  font=font)
        return np.ascontiguousarray(np.asarray(canvas).transpose(2, 0, 1))

    def write_report(self, folder: str | os.PathLike, *, pixel_threshold: float | None = None,
                     volumes: list[dict[str, Any]] | None = None, **overlay_options: Any) -> dict[str, Any]:
        """Write ``scores.csv``, ``report.json`` and ``overlays/*.png`` into ``folder``.

        ``overlay_options`` go to :meth:`save_overlays`; ``volumes`` (from :meth:`write_volumes`)
        into ``report.json``. Returns ``{"csv": Path, "json": Path, "overlays": [Path, ...]}``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return {"csv": self.to_csv(folder / "scores.csv"),
                "json": self.to_json(folder / "report.json", pixel_threshold=pixel_threshold, volumes=volumes),
                "overlays": self.save_overlays(folder / "overlays", **overlay_options)}

    def write_volumes(self, folder: str | os.PathLike, source: str | os.PathLike, preparation: list[dict[str, Any]],
                      *, montage_slices: int = 4) -> list[dict[str, Any]]:
        """Per NIfTI volume among the scored images: its verdict, its anomaly map as a volume, a montage.

        The images must be the slices :func:`~multigan.anomaly.data.read_images` read from ``source``
        (a NIfTI file or a folder holding some) with ``preprocess="crop"``, in its order, and
        ``preparation`` its ``ImageSet.preparation`` (which records each slice's crop, axis and shape).
        For each volume ``V.nii.gz`` this writes into ``folder``:

        * ``V_anomaly.nii.gz``: the residual maps on the volume's own voxel grid and orientation, with
          its affine: each slice's map resized back to its crop square and put where the slice was
          cut from (0 on slices not scored: those without tissue), float32, so it overlays the input
          in any NIfTI viewer and lines up voxel for voxel. Its display window (``cal_min`` 0,
          ``cal_max``) ends at the highest residual of the judged slices (see below), so a viewer that
          honours it is not scaled by the residuals of the head's first and last slices;
        * ``V_montage.png``: the overlays of its ``montage_slices`` most anomalous judged slices (see
          below), most anomalous first, named, on the report's heat scale.

        The volume's score is its highest score among the slices of the kind the model was trained
        on: a foreground at least :data:`~multigan.anomaly.preprocess.MIN_AREA` of the volume's
        largest (the first and last slices of a head, mostly skull and neck, are not what the model
        learned, and their residuals say so) and not ``unlike_training`` by the domain check; among
        all slices when none is.

        Returns one dict per volume: ``file``, ``score``, ``label``, ``slices`` (scored),
        ``slices_not_judged`` (scored, not counted), ``most_anomalous_slice``, ``montage_slices`` (the
        montage's slice indices, in its order), ``map`` and ``montage`` (file names), for :meth:`write_report`'s ``volumes``. Each image's row in :attr:`details`
        gains ``volume`` and ``slice`` (its index along the slicing axis), so call this before
        :meth:`write_report` to have them as columns of ``scores.csv``. Everything is computed before
        the first file is written; each file is written atomically.
        """
        import gzip

        import nibabel as nib
        from nibabel.orientations import io_orientation, ornt_transform

        from .data import volume_slices
        from .preprocess import MIN_AREA, uncrop_square

        if len(preparation) != len(self):
            raise ValueError(f"got {len(preparation)} preparation records for {len(self)} scored images; pass the "
                             f"ImageSet.preparation of the images scored (read with preprocess='crop')")
        source, folder = Path(source), Path(folder)
        groups: dict[str, list[tuple[int, int]]] = {}
        for i, name in enumerate(self.names):
            stem, _, index = name.rpartition(":")
            if stem.lower().endswith((".nii", ".nii.gz")) and index.isdigit() and "axis" in preparation[i]:
                groups.setdefault(stem, []).append((i, int(index)))
        details = [dict(d) for d in self.details] if self.details is not None else [{} for _ in range(len(self))]
        tops = self._heat_scale("global", None)
        scale = self._viewing_scale()
        files: list[tuple[Path, bytes | np.ndarray]] = []
        rows = []
        stems = safe_file_stems([name.removesuffix(".gz").removesuffix(".nii") for name in groups])
        for (name, members), stem in zip(groups.items(), stems):
            axes = {int(preparation[i]["axis"]) for i, _ in members}
            if len(axes) != 1:
                raise ValueError(f"the slices of {name} were cut along different axes {sorted(axes)}")
            axis = axes.pop()
            original = nib.load(str(source if source.is_file() else source / name))
            canonical = nib.as_closest_canonical(original)
            display = volume_slices(np.zeros(canonical.shape[:3], np.float32), axis)     # (n, rows, cols)
            for i, k in members:
                if k >= len(display) or list(display.shape[1:]) != list(preparation[i]["slice_shape"]):
                    raise ValueError(f"{name} (slice {k}, {tuple(preparation[i]['slice_shape'])}) is not the volume "
                                     f"whose slices were scored: it has {len(display)} slices of "
                                     f"{display.shape[1]}×{display.shape[2]} along axis {axis}")
                details[i].update({"volume": name, "slice": k})
                display[k] = uncrop_square(self.maps[i].numpy(), preparation[i]["box"], display.shape[1:])[0]
            volume = np.moveaxis(np.rot90(display, k=-1, axes=(1, 2)), 0, axis)        # undo volume_slices
            image = nib.Nifti1Image(np.ascontiguousarray(volume, dtype=np.float32), canonical.affine)
            image = image.as_reoriented(ornt_transform(io_orientation(canonical.affine),
                                                       io_orientation(original.affine)))   # back to the input's grid
            largest = max(float(preparation[i]["foreground_share"]) for i, _ in members)
            unlike = [m for m in members if bool(details[m[0]].get("unlike_training", False))
                      or float(preparation[m[0]]["foreground_share"]) < MIN_AREA * largest]
            judged = [m for m in members if m not in unlike] or members
            image.header["cal_min"] = 0.0
            image.header["cal_max"] = max(float(self.maps[i].max()) for i, _ in judged)
            ranked = sorted(judged, key=lambda m: -float(self.scores[m[0]]))
            tiles = [_captioned(self._figure(i, float(tops[i]), 0.5, "inferno", scale, True), f"{name}, slice {k}")
                     for i, k in ranked[:montage_slices]]
            map_path, montage_path = folder / f"{stem}_anomaly.nii.gz", folder / f"{stem}_montage.png"
            files += [(map_path, gzip.compress(image.to_bytes(), mtime=0)), (montage_path, np.concatenate(tiles, 1))]
            score = float(str(self.scores.numpy()[ranked[0][0]]))
            rows.append({"file": name, "score": score,
                         "label": None if self.threshold is None else
                         ("anomalous" if score > self.threshold else "normal"),
                         "slices": len(members), "slices_not_judged": len(members) - len(judged),
                         "most_anomalous_slice": ranked[0][1],
                         "montage_slices": [k for _, k in ranked[:montage_slices]],
                         "map": map_path.name, "montage": montage_path.name})
        if files:
            folder.mkdir(parents=True, exist_ok=True)
        for path, content in files:
            if isinstance(content, bytes):
                with atomic_file(path) as tmp:
                    tmp.write_bytes(content)
            else:
                write_image(content, path)
        if rows:
            self.details = details
        return rows


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                   # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _captioned(panels: np.ndarray, caption: str) -> np.ndarray:
    """uint8 ``(3, H, W)`` panels under a white strip holding ``caption``."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (panels.shape[2], 24), "white")
    ImageDraw.Draw(strip).text((3, 5), caption, fill=(0, 0, 0), font=_font(14))
    return np.concatenate([np.asarray(strip).transpose(2, 0, 1), panels], axis=1)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the image border counts as outside)."""
    m = np.pad(mask.astype(bool), 1, constant_values=False)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask.astype(bool) & ~inner
