"""Objective metrics for MidiNet-style melodies (numpy; torch tensors are converted).

A *bar* is a piano roll of 16 sixteenth-note steps × 128 MIDI pitches; a *melody* is an array of
shape ``(n_bars, 16, 128)`` (a single ``(16, 128)`` bar is treated as a one-bar melody). Rolls may
be bool, integer or float numpy arrays, torch tensors or nested lists; a cell is *active* when its
value is > 0 (binarise generator probabilities yourself first, e.g. ``roll > 0.5``). Negative or
non-finite values are rejected: map ``tanh`` outputs from [-1, 1] first.

Optional ``onsets`` (same shape as the rolls) mark the step where a note is (re-)struck, so a
repeated note — the same pitch sounding on consecutive steps — counts as two notes.

Notes and bar lines (a deliberate choice):

* **Without onsets** every bar is read on its own: a pitch still sounding at the last step of a
  bar and at the first step of the next is cut at the bar line and counts as two notes (one per
  bar). This matches MidiNet, which generates bar by bar.
* **With onsets** the onsets are authoritative: a pitch held across a bar line *without* an onset
  at step 0 of the new bar continues the previous note (one note, counted in the bar where it
  starts, with its full duration); an onset at step 0 splits it.

Notes come from :func:`multigan.io.midi.roll_to_notes`. Every metric returns a plain ``float``;
when a metric is undefined for the input (no notes, no non-empty bar, fewer than two bars) it
returns ``nan`` rather than raising.

These are written from the definitions, not ported from pypianoroll/musegan, whose empty-beat
rate returns the non-empty rate, whose pitch-class count reshapes ``(T, 120) -> (T, 12, 10)``
(so C4 + C5 count as 2 classes and C4 + C#4 as 1) and whose qualified-note rate fails on bool
rolls.

Example:
    >>> roll = np.zeros((2, 16, 128), bool)
    >>> roll[0, 0:4, 60] = roll[0, 4, 64] = True       # bar 0: C4 (4 steps), E4 (1 step); bar 1 empty
    >>> empty_bar_rate(roll), qualified_note_rate(roll)
    (0.5, 0.5)
    >>> sorted(evaluate(roll, ["C", "G"]))[:3]
    ['chord_tone_ratio', 'empty_bar_rate', 'mean_pairwise_bar_distance']
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from multigan.io.utils import as_numpy
from multigan.io.midi import roll_to_notes
from multigan.music.chords import CHORD_DIM, Chord, chord_pitch_classes, parse_chord

__all__ = [
    "empty_bar_rate", "used_pitch_classes", "qualified_note_rate", "tonal_distance", "tonal_centroid",
    "chord_tone_ratio", "pitch_in_scale_ratio", "note_density", "repetition", "mean_pairwise_bar_distance",
    "evaluate", "METRICS", "STEPS_PER_BAR", "N_PITCHES", "MAJOR_SCALE", "MINOR_SCALE",
]

STEPS_PER_BAR = 16
N_PITCHES = 128
#: Semitone offsets of the major and natural minor scales from their tonic.
MAJOR_SCALE: tuple[int, ...] = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE: tuple[int, ...] = (0, 2, 3, 5, 7, 8, 10)

if TYPE_CHECKING:
    import torch

#: A roll or onsets: numpy array, torch tensor or nested sequence, (n_bars, 16, 128) or (16, 128).
RollLike: TypeAlias = "np.ndarray | torch.Tensor | Sequence[Any]"
#: Chords, one per bar: a sequence of Chord (or symbols such as "Am"), or (n_bars, 13) vectors.
ChordsLike: TypeAlias = "Sequence[Chord | str] | np.ndarray | torch.Tensor | Chord | str"

_NAN = float("nan")

# Harte, Sandler & Gasser (2006) tonal-centroid transform: row l (pitch class) =
# [r1 sin(l·7π/6), r1 cos(l·7π/6), r2 sin(l·3π/2), r2 cos(l·3π/2), r3 sin(l·2π/3), r3 cos(l·2π/3)]
# (circle of fifths, minor thirds, major thirds).
_R1, _R2, _R3 = 1.0, 1.0, 0.5
_L = np.arange(12, dtype=np.float64)
_PHI = np.stack([
    _R1 * np.sin(_L * 7 * np.pi / 6), _R1 * np.cos(_L * 7 * np.pi / 6),
    _R2 * np.sin(_L * 3 * np.pi / 2), _R2 * np.cos(_L * 3 * np.pi / 2),
    _R3 * np.sin(_L * 2 * np.pi / 3), _R3 * np.cos(_L * 2 * np.pi / 3),
], axis=1)  # (12, 6)


# --------------------------------------------------------------------------- input checking

def _as_bars(rolls: RollLike, name: str = "rolls") -> np.ndarray:
    """``rolls`` as a bool array ``(n_bars, 16, 128)`` (active = value > 0), validated."""
    arr = as_numpy(rolls, name)
    shape = tuple(arr.shape)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (STEPS_PER_BAR, N_PITCHES):
        raise ValueError(f"{name} must have shape (n_bars, {STEPS_PER_BAR}, {N_PITCHES}) or "
                         f"({STEPS_PER_BAR}, {N_PITCHES}), got {shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no bars (shape {arr.shape})")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be bool or real numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    if arr.min() < 0:
        raise ValueError(f"{name} must be >= 0 (active = value > 0), got a minimum of {arr.min():.3g}; "
                         "map generator outputs from [-1, 1] first with (x + 1) / 2 and binarise")
    return arr > 0


def _as_onsets(onsets: RollLike | None, bars: np.ndarray) -> np.ndarray | None:
    if onsets is None:
        return None
    ons = _as_bars(onsets, "onsets")
    if ons.shape != bars.shape:
        raise ValueError(f"onsets must have the rolls' shape {bars.shape}, got {ons.shape}")
    return ons


def _check_min_steps(min_steps: int) -> int:
    if isinstance(min_steps, bool) or not isinstance(min_steps, (int, np.integer)) or min_steps < 1:
        raise ValueError(f"min_steps must be an integer >= 1, got {min_steps!r}")
    return int(min_steps)


def _one_chord(item: Any, index: int) -> Chord:
    if isinstance(item, Chord):
        return Chord(int(item.root) % 12, bool(item.minor))
    if isinstance(item, str):
        return parse_chord(item)
    vec = as_numpy(item, f"chords[{index}]")
    if vec.shape != (CHORD_DIM,):
        raise ValueError(f"chords[{index}] must be a Chord, a chord symbol or a {CHORD_DIM}-d vector "
                         f"(12 one-hot root + minor flag), got shape {vec.shape}")
    return _vector_chord(vec.astype(np.float64), index)


def _vector_chord(vec: np.ndarray, index: int) -> Chord:
    if not np.isfinite(vec).all() or not vec[:12].max() > 0:
        raise ValueError(f"chords[{index}]: the 12 root entries of a chord vector must hold a positive "
                         f"one-hot root, got {vec[:12].tolist()}")
    return Chord(int(np.argmax(vec[:12])), bool(vec[12] > 0.5))


def _as_chords(chords: ChordsLike, n_bars: int, bars_shape: tuple[int, ...]) -> list[Chord]:
    """One :class:`Chord` per bar from Chords, symbols or ``(n_bars, 13)`` vectors."""
    if chords is None:
        raise ValueError("chords is required: one Chord per bar or an (n_bars, 13) array")
    if isinstance(chords, (Chord, str)):
        chords = [chords]
    if isinstance(chords, np.ndarray) or hasattr(chords, "detach"):
        arr = as_numpy(chords, "chords").astype(np.float64)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != CHORD_DIM:
            raise ValueError(f"chords must be a list of Chord or an array of shape (n_bars, {CHORD_DIM}), "
                             f"got shape {arr.shape}")
        parsed = [_vector_chord(row, i) for i, row in enumerate(arr)]
    else:
        parsed = [_one_chord(c, i) for i, c in enumerate(chords)]
    if len(parsed) != n_bars:
        raise ValueError(f"chords has {len(parsed)} entries but rolls has {n_bars} bars "
                         f"(rolls shape {bars_shape}); give exactly one chord per bar")
    return parsed


# --------------------------------------------------------------------------- shared helpers

def _notes(bars: np.ndarray, onsets: np.ndarray | None) -> list[tuple[int, int, int, int]]:
    """Notes ``(bar, pitch, start_step_in_bar, duration_steps)``, sorted by start.

    Without onsets every bar starts fresh (an onset is implied at step 0 of each bar); with onsets
    a note held across a bar line continues unless the onsets re-strike it (see module doc).
    """
    n = bars.shape[0]
    flat = bars.reshape(n * STEPS_PER_BAR, N_PITCHES)
    if onsets is None:
        flat_onsets = np.zeros_like(flat)
        flat_onsets[::STEPS_PER_BAR] = True
    else:
        flat_onsets = onsets.reshape(flat.shape)
    notes = roll_to_notes(flat, flat_onsets)
    return [(start // STEPS_PER_BAR, pitch, start % STEPS_PER_BAR, end - start)
            for pitch, start, end, _ in notes]


def _pitch_class_sum(per_pitch: np.ndarray) -> np.ndarray:
    """``(..., 128)`` → ``(..., 12)`` summed over octaves (pitch p goes to class p % 12)."""
    padded = np.zeros(per_pitch.shape[:-1] + (132,), np.float64)   # 132 = 11 octaves × 12
    padded[..., :N_PITCHES] = per_pitch
    return padded.reshape(per_pitch.shape[:-1] + (11, 12)).sum(axis=-2)


def _mean(values: Sequence[float] | np.ndarray) -> float:
    values = np.asarray(values, np.float64)
    return float(values.mean()) if values.size else _NAN


# --------------------------------------------------------------------------- metrics

def empty_bar_rate(rolls: RollLike) -> float:
    """Share of bars with no active step: ``#{bars with no active cell} / n_bars``, in [0, 1].

    (pypianoroll's ``empty_beat_rate`` returns the *non*-empty share; this is the empty share.)
    """
    bars = _as_bars(rolls)
    return float((~bars.any(axis=(1, 2))).mean())


def used_pitch_classes(rolls: RollLike) -> float:
    """Mean over non-empty bars of the number of distinct pitch classes (``pitch % 12``) sounding.

    C4 + C5 in a bar is 1 class; C4 + C#4 is 2. Empty bars are left out; ``nan`` if all are empty.
    """
    bars = _as_bars(rolls)
    sounding = bars.any(axis=1)                               # (n, 128)
    classes = _pitch_class_sum(sounding) > 0                  # (n, 12)
    nonempty = sounding.any(axis=1)
    return _mean(classes[nonempty].sum(axis=1))


def qualified_note_rate(rolls: RollLike, onsets: RollLike | None = None, min_steps: int = 2) -> float:
    """Share of notes lasting at least ``min_steps`` steps (default 2 = an eighth note).

    ``#{notes with duration >= min_steps} / #notes``; ``nan`` when there are no notes.
    """
    min_steps = _check_min_steps(min_steps)
    bars = _as_bars(rolls)
    notes = _notes(bars, _as_onsets(onsets, bars))
    return _mean([dur >= min_steps for _, _, _, dur in notes])


def tonal_centroid(chroma: Sequence[float] | np.ndarray) -> np.ndarray:
    """Harte, Sandler & Gasser (2006) 6-d tonal centroid of a 12-d chroma vector (or ``(..., 12)``).

    ``ζ = Φᵀ c / ‖c‖₁`` with ``Φ[l] = [r1 sin(l·7π/6), r1 cos(l·7π/6), r2 sin(l·3π/2),
    r2 cos(l·3π/2), r3 sin(l·2π/3), r3 cos(l·2π/3)]``, ``r1 = r2 = 1``, ``r3 = 0.5``. An all-zero
    chroma gives ``nan``.
    """
    c = np.asarray(as_numpy(chroma, "chroma"), np.float64)
    if c.shape[-1:] != (12,):
        raise ValueError(f"chroma must have 12 pitch classes in its last axis, got shape {c.shape}")
    total = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c / total) @ _PHI


def tonal_distance(rolls: RollLike, chords: ChordsLike) -> float:
    """Mean over non-empty bars of the tonal distance between the melody and the bar's chord.

    Per bar: the melody's chroma is duration-weighted (each active step of a pitch adds 1 to its
    pitch class), the chord's chroma puts weight 1/3 on each of its triad tones; both are
    L1-normalised and mapped to 6-d tonal centroids (:func:`tonal_centroid`); the distance is the
    Euclidean distance between the two centroids. ``nan`` if every bar is empty.
    """
    bars = _as_bars(rolls)
    chord_list = _as_chords(chords, bars.shape[0], bars.shape)
    chroma = _pitch_class_sum(bars.sum(axis=1))               # (n, 12) active steps per class
    nonempty = chroma.sum(axis=1) > 0
    if not nonempty.any():
        return _NAN
    chord_chroma = np.zeros((len(chord_list), 12))
    for i, chord in enumerate(chord_list):
        chord_chroma[i, sorted(chord_pitch_classes(chord))] = 1.0
    distance = np.linalg.norm(tonal_centroid(chroma[nonempty]) - tonal_centroid(chord_chroma[nonempty]), axis=1)
    return float(distance.mean())


def chord_tone_ratio(rolls: RollLike, chords: ChordsLike, onsets: RollLike | None = None) -> float:
    """Share of melody notes whose pitch class is a tone of the bar's chord triad.

    Notes are counted (not weighted by duration); a note belongs to the bar where it starts.
    ``nan`` when there are no notes.
    """
    bars = _as_bars(rolls)
    chord_list = _as_chords(chords, bars.shape[0], bars.shape)
    tones = [chord_pitch_classes(c) for c in chord_list]
    notes = _notes(bars, _as_onsets(onsets, bars))
    return _mean([pitch % 12 in tones[bar] for bar, pitch, _, _ in notes])


def _scale(root: int, minor: bool) -> frozenset[int]:
    return frozenset((root + step) % 12 for step in (MINOR_SCALE if minor else MAJOR_SCALE))


def pitch_in_scale_ratio(rolls: RollLike, key_root: int | None = None, minor: bool | None = None, *,
                         onsets: RollLike | None = None) -> float:
    """Share of notes whose pitch class is in the major (or natural minor) scale of a key.

    ``key_root`` is the tonic's pitch class (0 = C … 11 = B); ``minor`` picks the natural minor
    scale (``None`` → major when ``key_root`` is given). With ``key_root=None`` the key is the
    best fit for the whole melody: the maximum share over the 24 major/minor keys (or over the 12
    keys of one mode when ``minor`` is given). Relative keys (C major / A minor) share a scale, so
    they always tie; only the share is returned. Notes are counted, not weighted by duration.
    ``nan`` when there are no notes.
    """
    bars = _as_bars(rolls)
    notes = _notes(bars, _as_onsets(onsets, bars))
    if not notes:
        return _NAN
    counts = np.bincount([pitch % 12 for _, pitch, _, _ in notes], minlength=12)
    if key_root is not None:
        if isinstance(key_root, bool) or not isinstance(key_root, (int, np.integer)) or not 0 <= key_root < 12:
            raise ValueError(f"key_root must be a pitch class 0..11 or None, got {key_root!r}")
        keys = [(int(key_root), bool(minor))]
    else:
        modes = (False, True) if minor is None else (bool(minor),)
        keys = [(root, m) for m in modes for root in range(12)]
    best = max(sum(int(counts[pc]) for pc in _scale(root, m)) for root, m in keys)
    return best / len(notes)


def note_density(rolls: RollLike, onsets: RollLike | None = None) -> float:
    """Mean number of notes per non-empty bar: ``#notes / #{bars with an active cell}``.

    A note counts in the bar where it starts. ``nan`` if every bar is empty.
    """
    bars = _as_bars(rolls)
    nonempty = int(bars.any(axis=(1, 2)).sum())
    if nonempty == 0:
        return _NAN
    return len(_notes(bars, _as_onsets(onsets, bars))) / nonempty


def repetition(rolls: RollLike) -> float:
    """Share of consecutive bar pairs ``(i-1, i)`` whose rolls are identical (every cell equal).

    Two empty bars in a row count as identical. Onsets are not compared. ``nan`` for one bar.
    """
    bars = _as_bars(rolls)
    if bars.shape[0] < 2:
        return _NAN
    return float((bars[1:] == bars[:-1]).all(axis=(1, 2)).mean())


def _bar_pairs(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of ``n`` bars, or ``max_pairs`` distinct ones drawn with ``seed``."""
    total = n * (n - 1) // 2
    if total <= max_pairs:
        k = np.arange(total, dtype=np.int64)
    else:
        k = np.sort(np.random.default_rng(seed).choice(total, size=max_pairs, replace=False)).astype(np.int64)
    i_idx = np.arange(n, dtype=np.int64)
    row_start = i_idx * (2 * n - i_idx - 1) // 2              # index of pair (i, i+1) in row-major order
    i = np.searchsorted(row_start, k, side="right") - 1
    j = i + 1 + (k - row_start[i])
    return i, j


def mean_pairwise_bar_distance(rolls: RollLike, max_pairs: int = 10_000, seed: int = 0) -> float:
    """Diversity: mean per-step Hamming distance between pairs of different bars, in [0, 1].

    ``d(a, b) = #{steps t : a[t, :] != b[t, :]} / 16`` — the share of the 16 steps whose set of
    sounding pitches differs (for a monophonic melody: a different pitch, or a note against a
    rest). Averaged over all pairs ``i < j`` of bar indices, or over ``max_pairs`` distinct pairs
    drawn uniformly with ``numpy.random.default_rng(seed)`` when there are more (deterministic).
    ``nan`` for fewer than two bars.
    """
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, (int, np.integer)) or max_pairs < 1:
        raise ValueError(f"max_pairs must be an integer >= 1, got {max_pairs!r}")
    bars = _as_bars(rolls)
    n = bars.shape[0]
    if n < 2:
        return _NAN
    i, j = _bar_pairs(n, int(max_pairs), seed)
    total = 0.0
    for lo in range(0, len(i), 2048):                         # chunks bound the (pairs, 16, 128) temp
        a, b = bars[i[lo:lo + 2048]], bars[j[lo:lo + 2048]]
        total += float((a != b).any(axis=2).mean(axis=1).sum())
    return total / len(i)


# --------------------------------------------------------------------------- registry

#: name -> metric. A metric is ``fn(rolls, [chords=...], [onsets=...]) -> float``; :func:`evaluate`
#: passes ``chords`` / ``onsets`` to the metrics whose signature has those parameters.
METRICS: dict[str, Callable[..., float]] = {
    "empty_bar_rate": empty_bar_rate,
    "used_pitch_classes": used_pitch_classes,
    "qualified_note_rate": qualified_note_rate,
    "tonal_distance": tonal_distance,
    "chord_tone_ratio": chord_tone_ratio,
    "pitch_in_scale_ratio": pitch_in_scale_ratio,
    "note_density": note_density,
    "repetition": repetition,
    "mean_pairwise_bar_distance": mean_pairwise_bar_distance,
}


def _evaluate_one(bars: np.ndarray, chords: list[Chord], onsets: np.ndarray | None) -> dict[str, float]:
    results = {}
    for name, fn in METRICS.items():
        params = inspect.signature(fn).parameters
        kwargs: dict[str, Any] = {}
        if "chords" in params:
            kwargs["chords"] = chords
        if "onsets" in params and onsets is not None:
            kwargs["onsets"] = onsets
        results[name] = float(fn(bars, **kwargs))
    return results


def _is_single_progression(chords: Any) -> bool:
    if isinstance(chords, (Chord, str)):
        return True
    if isinstance(chords, np.ndarray) or hasattr(chords, "detach"):
        return np.ndim(as_numpy(chords, "chords")) <= 2
    items = list(chords)
    if not items or isinstance(items[0], (Chord, str)):
        return True
    first = items[0]
    if isinstance(first, np.ndarray) or hasattr(first, "detach"):
        return np.ndim(as_numpy(first, "chords[0]")) <= 1          # a 13-d vector, or a progression
    inner = list(first)
    return bool(inner) and not isinstance(inner[0], (Chord, str)) and np.ndim(inner[0]) == 0


def evaluate(rolls: RollLike, chords: ChordsLike | Sequence[ChordsLike],
             onsets: RollLike | None = None) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one melody or a batch of melodies.

    ``rolls`` is one melody ``(n_bars, 16, 128)`` (or one bar ``(16, 128)``) with ``chords`` one
    chord per bar; each metric already averages over the bars / notes / bar pairs of the melody.
    A batch ``(n_melodies, n_bars, 16, 128)`` takes either one progression shared by every melody
    or one progression per melody (a list of lists, or an ``(n_melodies, n_bars, 13)`` array);
    each metric is computed per melody and averaged over the melodies where it is defined
    (``nan`` only if it is undefined for all of them).

    Returns:
        ``{metric name: value}`` with the keys of :data:`METRICS`, in that order.
    """
    arr = as_numpy(rolls, "rolls")
    if arr.ndim != 4:
        bars = _as_bars(arr)
        return _evaluate_one(bars, _as_chords(chords, bars.shape[0], bars.shape), _as_onsets(onsets, bars))
    if arr.shape[0] == 0:
        raise ValueError(f"rolls has no melodies (shape {arr.shape})")
    ons = None
    if onsets is not None:
        ons = as_numpy(onsets, "onsets")
        if ons.shape != arr.shape:
            raise ValueError(f"onsets must have the rolls' shape {arr.shape}, got {ons.shape}")
    if _is_single_progression(chords):
        per_melody = [chords] * arr.shape[0]
    else:
        per_melody = list(as_numpy(chords, "chords") if hasattr(chords, "detach") else chords)
        if len(per_melody) != arr.shape[0]:
            raise ValueError(f"chords has {len(per_melody)} progressions but rolls has {arr.shape[0]} melodies "
                             f"(rolls shape {arr.shape}); give one progression, or one per melody")
    rows = []
    for m in range(arr.shape[0]):
        bars = _as_bars(arr[m])
        rows.append(_evaluate_one(bars, _as_chords(per_melody[m], bars.shape[0], bars.shape),
                                  None if ons is None else _as_onsets(ons[m], bars)))
    out = {}
    for name in METRICS:
        values = [r[name] for r in rows if not math.isnan(r[name])]
        out[name] = float(np.mean(values)) if values else _NAN
    return out
