"""Melody bars with chords and previous bars, from the shipped Bach chorales or your own MIDI files.

A *bar set* is a dict of numpy arrays (the format of ``multigan/assets/music/bach_chorales.npz``):

===============  ===============  ========================================================
``pitch``        int8 (N, 16)     sounding melody pitch per sixteenth step, −1 = rest
``onset``        bool (N, 16)     a melody note starts at this step (False: held/tied)
``chord_root``   int8 (N,)        chord root pitch class (0 = C … 11 = B)
``chord_minor``  bool (N,)        minor triad (other qualities map to the nearest triad)
``prev_index``   int32 (N,)       index of the previous bar of the same piece, −1 if none
``piece``        int16 (N,)       piece number, an index into ``piece_names``
``piece_names``  str (P,)         e.g. ``'bach/bwv26.6'`` or a MIDI file path
===============  ===============  ========================================================

``prev_index`` is set only for truly consecutive bars: a skipped bar (pickup, incomplete bar,
bar in another metre, bar without melody) breaks the chain.

:class:`BarDataset` turns a bar set into MidiNet's ``(bar, prev_bar, chord)`` training triples,
transposed to all 12 keys and folded by octaves into a pitch window. :func:`bars_from_midi` and
:func:`bars_from_music21` build bar sets; ``pretty_midi`` and ``music21`` are imported only
inside them, so importing this module stays cheap.

Example:
    >>> data = BarDataset.bach_chorales()               # doctest: +SKIP
    >>> bar, prev_bar, chord = data[0]                  # doctest: +SKIP
    >>> data.locate(0)                                  # doctest: +SKIP
    (0, -6)

    ``bar`` and ``prev_bar`` are float32 ``(1, 16, 128)`` 0/1 rolls, ``chord`` is float32 ``(13,)``.
"""

from __future__ import annotations

import io
import operator
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .chords import CHORD_DIM, Chord, chord_vector, estimate_chord

__all__ = [
    "FIELDS",
    "STEPS",
    "BarDataset",
    "bars_from_midi",
    "bars_from_music21",
    "concat_bar_sets",
    "fold_pitches",
    "load_bar_set",
    "save_bar_set",
    "validate_bar_set",
]

#: Sixteenth-note steps per 4/4 bar.
STEPS = 16
#: Per-bar fields of a bar set (``piece_names`` is per piece).
FIELDS = ("pitch", "onset", "chord_root", "chord_minor", "prev_index", "piece")
_DTYPES = {"pitch": np.int8, "onset": np.bool_, "chord_root": np.int8, "chord_minor": np.bool_,
           "prev_index": np.int32, "piece": np.int16}
_SHIFTS = tuple(range(-6, 6))                   # the 12 transpositions, in item order
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)               # fixed timestamp: byte-identical npz files


# -- bar sets --------------------------------------------------------------------------------------

def validate_bar_set(bars: Mapping[str, Any], name: str = "bar set") -> dict[str, np.ndarray]:
    """Check a bar set's fields, shapes and values; return it with the canonical dtypes.

    Args:
        bars: mapping with the fields of :data:`FIELDS` and ``piece_names``.
        name: how errors refer to the bar set (e.g. a file path).

    Returns:
        A new dict of arrays (pitch int8, onset bool, …) of consistent length.

    Raises:
        ValueError: naming ``name`` and the problem (missing field, bad shape, pitch out of
            −1..127, ``prev_index`` not pointing to an earlier bar of the same piece, …).
    """
    missing = [k for k in FIELDS + ("piece_names",) if k not in bars]
    if missing:
        raise ValueError(f"{name}: missing fields {missing}; a bar set needs {list(FIELDS) + ['piece_names']}")
    pitch = np.asarray(bars["pitch"])
    if pitch.ndim != 2 or pitch.shape[1] < 1:
        raise ValueError(f"{name}: pitch must have shape (N, steps), got {pitch.shape}")
    if pitch.size and (pitch.min() < -1 or pitch.max() > 127):
        raise ValueError(f"{name}: pitch values must be -1 (rest) or MIDI 0..127, got [{pitch.min()}, {pitch.max()}]")
    n = len(pitch)
    out = {"pitch": pitch.astype(np.int8)}
    for key in FIELDS[1:]:
        arr = np.asarray(bars[key])
        expected = pitch.shape if key == "onset" else (n,)
        if arr.shape != expected:
            raise ValueError(f"{name}: {key} must have shape {expected}, got {arr.shape}")
        out[key] = arr.astype(_DTYPES[key])
    out["piece_names"] = np.asarray(bars["piece_names"]).astype(str)
    if out["piece_names"].ndim != 1:
        raise ValueError(f"{name}: piece_names must be a 1-d array of names")
    if n and (out["chord_root"].min() < 0 or out["chord_root"].max() > 11):
        raise ValueError(f"{name}: chord_root must be a pitch class 0..11")
    piece, prev = out["piece"], out["prev_index"]
    if n and (piece.min() < 0 or piece.max() >= len(out["piece_names"])):
        raise ValueError(f"{name}: piece numbers must index piece_names ({len(out['piece_names'])} names)")
    linked = np.flatnonzero(prev >= 0)
    if np.any(prev < -1) or np.any(prev[linked] >= linked) or np.any(piece[prev[linked]] != piece[linked]):
        raise ValueError(f"{name}: prev_index must be -1 or an earlier bar of the same piece")
    return out


def concat_bar_sets(sets: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join bar sets into one, renumbering ``prev_index`` and ``piece``.

    Raises:
        ValueError: if ``sets`` is empty or the sets' bars have different numbers of steps.
    """
    if not sets:
        raise ValueError("no bar sets to concatenate")
    steps = {np.asarray(s["pitch"]).shape[1] for s in sets}
    if len(steps) != 1:
        raise ValueError(f"cannot join bar sets with different steps per bar: {sorted(steps)}")
    out: dict[str, list] = {k: [] for k in FIELDS}
    names: list[str] = []
    offset = 0
    for s in sets:
        for key in ("pitch", "onset", "chord_root", "chord_minor"):
            out[key].append(np.asarray(s[key]))
        prev = np.asarray(s["prev_index"])
        out["prev_index"].append(np.where(prev >= 0, prev + offset, -1))
        out["piece"].append(np.asarray(s["piece"]) + len(names))
        names.extend(str(x) for x in np.asarray(s["piece_names"]))
        offset += len(s["pitch"])
    joined = {k: np.concatenate(v).astype(_DTYPES[k]) for k, v in out.items()}
    joined["piece_names"] = np.array(names, dtype=str)
    return joined


def save_bar_set(bars: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write a bar set as a compressed ``.npz``, atomically and byte-for-byte reproducibly.

    The same bar set always gives the same file (fixed zip timestamps), so rebuilding an asset
    does not change it unless the data changed.
    """
    from multigan.core.atomic import atomic_file

    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"bar sets are written as .npz files, got {str(path)!r}")
    bars = validate_bar_set(bars, str(path))
    with atomic_file(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in FIELDS + ("piece_names",):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(bars[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return path


def load_bar_set(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and validate a bar set written by :func:`save_bar_set` (FileNotFoundError/ValueError naming it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such bar-set file: {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            bars = {k: z[k] for k in z.files}
    except Exception as err:
        raise ValueError(f"cannot read bar-set file {str(path)!r}: {err}") from err
    return validate_bar_set(bars, str(path))


# -- pitch helpers ---------------------------------------------------------------------------------

def _check_range(pitch_range: tuple[int, int] | None) -> tuple[int, int] | None:
    if pitch_range is None:
        return None
    try:
        low, high = (operator.index(v) for v in pitch_range)
    except (TypeError, ValueError):
        raise ValueError(f"pitch_range must be None or (low, high) integers, got {pitch_range!r}") from None
    if not (0 <= low and high <= 128 and high - low >= 12):
        raise ValueError(f"pitch_range {pitch_range!r} must lie in MIDI 0..128 (high exclusive) "
                         f"and span at least an octave")
    return low, high


def fold_pitches(pitch: np.ndarray, pitch_range: tuple[int, int] | None) -> np.ndarray:
    """Move notes by whole octaves into ``[low, high)``; rests (−1) stay rests.

    Args:
        pitch: int array of MIDI pitches, −1 for rests.
        pitch_range: ``(low, high)`` with ``high`` exclusive and ``high - low >= 12``; None returns
            ``pitch`` unchanged.

    Example:
        >>> fold_pitches(np.array([-1, 48, 60, 84, 95]), (60, 84)).tolist()
        [-1, 60, 60, 72, 83]
    """
    pitch_range = _check_range(pitch_range)
    if pitch_range is None:
        return pitch
    low, high = pitch_range
    out = np.asarray(pitch).astype(np.int16)
    return np.where(out >= 0, _fold(out, low, high), -1).astype(np.int16)


def _fold(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """Fold any ints (negative ones too) by octaves into ``[low, high)`` (span >= 12)."""
    values = values.astype(np.int16)
    up = values < low
    values = np.where(up, values + 12 * ((low - values + 11) // 12), values)
    down = values >= high
    return np.where(down, values - 12 * ((values - high) // 12 + 1), values)


def _roll(pitch: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Int pitches ``(…, S)`` with −1 rests → bool roll ``(…, S, 128)`` (only where ``mask``, if given)."""
    roll = np.zeros(pitch.shape + (128,), bool)
    keep = pitch >= 0 if mask is None else (pitch >= 0) & mask
    idx = np.nonzero(keep)
    roll[idx + (pitch[idx].astype(np.int64),)] = True
    return roll


# -- the dataset -----------------------------------------------------------------------------------

class BarDataset(Dataset):
    """MidiNet training triples ``(bar, prev_bar, chord)`` from a bar set.

    With ``transpose=True`` every bar is served in all 12 keys: item ``i`` is bar ``i // 12``
    shifted by ``i % 12 - 6`` semitones (−6 … +5); melody pitches move by the shift and the chord
    root rotates with it. Notes are then folded by octaves into ``pitch_range``.

    Args:
        bars: a bar set (see the module docstring), e.g. from :func:`bars_from_midi`.
        transpose: serve each bar in all 12 keys (else only as written).
        pitch_range: ``(low, high)`` MIDI window, ``high`` exclusive, spanning ≥ 12 semitones;
            melody notes are folded into it by octaves after transposing. ``None`` keeps octaves
            (transposed notes that would leave 0..127 are folded back into it).

    Raises:
        ValueError: for a malformed bar set or pitch range.

    Example:
        >>> data = BarDataset.bach_chorales(pitch_range=(48, 84))   # doctest: +SKIP
        >>> bar, prev_bar, chord = data[12 * 5 + 8]                  # doctest: +SKIP
    """

    def __init__(self, bars: Mapping[str, np.ndarray], *, transpose: bool = True,
                 pitch_range: tuple[int, int] | None = (60, 84)) -> None:
        self.bars = validate_bar_set(bars)
        self.transpose = bool(transpose)
        self.pitch_range = _check_range(pitch_range)
        self.keys = len(_SHIFTS) if self.transpose else 1

    # -- constructors ------------------------------------------------------------------------------

    @classmethod
    def from_npz(cls, path: str | os.PathLike, **kwargs: Any) -> BarDataset:
        """Load a bar set written by ``scripts/build_music_assets.py`` or :meth:`save_npz`.

        Args:
            path: the ``.npz`` file.
            **kwargs: ``transpose`` / ``pitch_range`` for the constructor.
        """
        return cls(load_bar_set(path), **kwargs)

    @classmethod
    def bach_chorales(cls, **kwargs: Any) -> BarDataset:
        """The shipped Bach chorale bars (``multigan/assets/music/bach_chorales.npz``; see ``ATTRIBUTION.md``)."""
        from multigan.core.module import assets_dir

        return cls.from_npz(assets_dir() / "music" / "bach_chorales.npz", **kwargs)

    @classmethod
    def from_midi_folder(cls, folder: str | os.PathLike, *, melody_track: int | str | None = None,
                         steps_per_beat: int = 4, recursive: bool = True, skip_errors: bool = True,
                         **kwargs: Any) -> BarDataset:
        """All ``*.mid`` / ``*.midi`` files of a folder, one piece per file (sorted by path).

        Args:
            folder: the folder to read.
            melody_track: passed to :func:`bars_from_midi` for every file.
            steps_per_beat: grid steps per quarter note (4 gives MidiNet's 16-step bars).
            recursive: also read sub-folders.
            skip_errors: skip files that :func:`bars_from_midi` rejects (not 4/4, corrupt, …) with
                one warning that counts them and names the first few (as every modality's folder
                reader does); ``False`` raises on the first.
            **kwargs: ``transpose`` / ``pitch_range`` for the constructor.

        Raises:
            FileNotFoundError: naming the folder when it does not exist or holds no MIDI file.
            ValueError: from :func:`bars_from_midi` (unless ``skip_errors``), or when every file
                was skipped.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no such MIDI folder: {str(folder)!r}")
        pattern = folder.rglob("*") if recursive else folder.glob("*")
        files = sorted(p for p in pattern if p.is_file() and p.suffix.lower() in (".mid", ".midi"))
        if not files:
            raise FileNotFoundError(f"no .mid/.midi files in {str(folder)!r}")
        sets, skipped = [], []
        for f in files:
            try:
                sets.append(bars_from_midi(f, melody_track=melody_track, steps_per_beat=steps_per_beat))
            except ValueError as err:
                if not skip_errors:
                    raise
                skipped.append(f"{f.relative_to(folder)}: {err}")
        from multigan.io.utils import warn_skipped

        warn_skipped(skipped, len(files), "MIDI files", str(folder))
        if not sets:
            raise ValueError(f"no usable 4/4 MIDI file in {str(folder)!r} ({len(files)} skipped)")
        return cls(concat_bar_sets(sets), **kwargs)

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write the (untransposed) bar set with :func:`save_bar_set`."""
        return save_bar_set(self.bars, path)

    # -- sizes and indexing ------------------------------------------------------------------------

    @property
    def num_bars(self) -> int:
        """Bars in the set (items = bars × keys)."""
        return len(self.bars["pitch"])

    @property
    def num_pieces(self) -> int:
        """Pieces (songs, chorales) in the set."""
        return len(self.bars["piece_names"])

    @property
    def steps(self) -> int:
        """Steps per bar (16 for MidiNet)."""
        return int(self.bars["pitch"].shape[1])

    def __len__(self) -> int:
        return self.num_bars * self.keys

    def locate(self, index: int) -> tuple[int, int]:
        """Item index → ``(bar index, semitone shift)``; negative indices count from the end.

        Raises:
            IndexError: when ``index`` is out of range.
        """
        index = operator.index(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        bar, key = divmod(index, self.keys)
        return bar, (_SHIFTS[key] if self.transpose else 0)

    def index_of(self, bar: int, shift: int = 0) -> int:
        """``(bar, shift)`` → item index (inverse of :meth:`locate`)."""
        bar, shift = operator.index(bar), operator.index(shift)
        if not 0 <= bar < self.num_bars:
            raise IndexError(f"bar {bar} out of range for {self.num_bars} bars")
        if shift not in (_SHIFTS if self.transpose else (0,)):
            raise ValueError(f"shift must be in {_SHIFTS[0]}..{_SHIFTS[-1]} with transpose=True, 0 otherwise; "
                             f"got {shift}")
        return bar * self.keys + (_SHIFTS.index(shift) if self.transpose else 0)

    # -- bar-level access (bar indices, explicit shift) --------------------------------------------

    def pitches(self, bars: np.ndarray | int, shift: int = 0) -> np.ndarray:
        """Melody pitches ``(…, 16)`` of the given bars, transposed by ``shift`` and folded (−1 = rest)."""
        pitch = self.bars["pitch"][bars].astype(np.int16)
        low, high = self.pitch_range or (0, 128)
        return np.where(pitch >= 0, _fold(pitch + shift, low, high), -1).astype(np.int16)

    def melody(self, bars: np.ndarray | int, shift: int = 0) -> np.ndarray:
        """Bool piano rolls ``(…, 16, 128)`` of the given bars, transposed by ``shift`` and folded."""
        return _roll(self.pitches(bars, shift))

    def onset_roll(self, bars: np.ndarray | int, shift: int = 0) -> np.ndarray:
        """Bool onset rolls ``(…, 16, 128)`` matching :meth:`melody` (True where a note starts)."""
        return _roll(self.pitches(bars, shift), self.bars["onset"][bars])

    def chord(self, bar: int, shift: int = 0) -> Chord:
        """The chord of ``bar`` with its root rotated by ``shift`` semitones."""
        return Chord((int(self.bars["chord_root"][bar]) + shift) % 12, bool(self.bars["chord_minor"][bar]))

    def previous(self, bar: int) -> int:
        """Index of the bar before ``bar`` in the same piece, or −1."""
        return int(self.bars["prev_index"][bar])

    def piece_name(self, bar: int) -> str:
        """Name of the piece ``bar`` comes from."""
        return str(self.bars["piece_names"][self.bars["piece"][bar]])

    # -- item-level access (dataset indices) --------------------------------------------------------

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(bar, prev_bar, chord)``: float32 ``(1, 16, 128)`` 0/1 rolls and the 13-d chord vector.

        ``prev_bar`` is all zeros when the bar has no previous bar; it is transposed and folded
        like ``bar``.
        """
        bar, shift = self.locate(index)
        roll = torch.from_numpy(self.melody(bar, shift)).float()[None]
        prev = self.previous(bar)
        prev_roll = torch.from_numpy(self.melody(prev, shift)).float()[None] if prev >= 0 else torch.zeros_like(roll)
        return roll, prev_roll, torch.from_numpy(chord_vector(self.chord(bar, shift)))

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``[self[i] for i in indices]``, computed for all items at once (the DataLoader's batched fetch)."""
        idx = np.asarray([operator.index(i) for i in indices], np.int64)
        idx = np.where(idx < 0, idx + len(self), idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            bad = int(np.asarray(indices)[(idx < 0) | (idx >= len(self))][0])
            raise IndexError(f"index {bad} out of range for {len(self)} items")
        bar, key = np.divmod(idx, self.keys)
        shift = np.asarray(_SHIFTS, np.int64)[key] if self.transpose else np.zeros_like(key)
        rolls = torch.from_numpy(self.melody(bar, shift[:, None])).float()[:, None]
        prev = self.bars["prev_index"][bar].astype(np.int64)
        prev_rolls = self.melody(np.maximum(prev, 0), shift[:, None])
        prev_rolls[prev < 0] = False
        prev_rolls = torch.from_numpy(prev_rolls).float()[:, None]
        chords = np.zeros((len(idx), CHORD_DIM), np.float32)
        chords[np.arange(len(idx)), (self.bars["chord_root"][bar].astype(np.int64) + shift) % 12] = 1.0
        chords[:, 12] = self.bars["chord_minor"][bar]
        chords = torch.from_numpy(chords)
        return [(rolls[k], prev_rolls[k], chords[k]) for k in range(len(idx))]

    def onsets(self, index: int) -> np.ndarray:
        """Bool ``(16, 128)`` onsets of item ``index``, aligned with ``self[index][0]``.

        Pass them with the roll to :func:`multigan.io.midi.pianoroll_to_midi` so repeated and
        tied notes survive the MIDI round trip.
        """
        return self.onset_roll(*self.locate(index))

    def chords_of(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """Float32 ``(len(indices), 13)`` chord vectors of the given items (transposed like them)."""
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64).reshape(-1)
        out = np.zeros((len(idx), CHORD_DIM), np.float32)
        for row, index in enumerate(idx):
            out[row] = chord_vector(self.chord(*self.locate(int(index))))
        return out

    # -- runs of consecutive bars (evaluation) ------------------------------------------------------

    def consecutive_runs(self, length: int) -> list[np.ndarray]:
        """Every run of ``length`` consecutive bars of one piece, as arrays of bar indices (oldest first)."""
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        prev = self.bars["prev_index"]
        runs = []
        for end in range(self.num_bars):
            run = [end]
            while len(run) < length and prev[run[-1]] >= 0:
                run.append(int(prev[run[-1]]))
            if len(run) == length:
                runs.append(np.array(run[::-1]))
        return runs

    def melody_run(self, run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The bars of ``run`` (original key, folded) as bool rolls ``(len, 16, 128)`` and chord vectors ``(len, 13)``."""
        return self.melody(run), np.stack([chord_vector(self.chord(int(b))) for b in run])


# -- building bar sets -----------------------------------------------------------------------------

def _normalise_onsets(pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Onsets of a monophonic line: never on rests, always where the pitch changes."""
    before = np.concatenate([[-1], pitch[:-1]])
    return (onset | (pitch != before)) & (pitch >= 0)


def _bars_from_steps(pitch: np.ndarray, onset: np.ndarray, harmony: np.ndarray, bar_starts: Sequence[int],
                     name: str, steps: int = STEPS) -> dict[str, np.ndarray]:
    """Cut piece-long step arrays into bars (one piece).

    Args:
        pitch: (T,) melody pitch per step (−1 rest).
        onset: (T,) note starts.
        harmony: (T, 12) pitch-class weights of the accompaniment/texture per step; a bar where it
            is all zero falls back to the melody's pitch classes.
        bar_starts: step of each usable bar, increasing; bars overrunning ``T`` or without any
            melody note are dropped and break the previous-bar chain.
        name: the piece name (stored in ``piece_names``, used in errors).
        steps: steps per bar.
    """
    onset = _normalise_onsets(pitch, onset)
    out: dict[str, list] = {k: [] for k in FIELDS}
    last_start: int | None = None
    for start in bar_starts:
        seg = slice(start, start + steps)
        if start < 0 or start + steps > len(pitch) or not np.any(pitch[seg] >= 0):
            last_start = None
            continue
        weights = harmony[seg].sum(0)
        if not np.any(weights > 0):                            # silent accompaniment: use the melody
            weights = np.bincount(pitch[seg][pitch[seg] >= 0] % 12, minlength=12).astype(np.float64)
        chord = estimate_chord(weights)
        consecutive = last_start is not None and last_start == start - steps
        out["prev_index"].append(len(out["pitch"]) - 1 if consecutive else -1)
        out["pitch"].append(pitch[seg])
        out["onset"].append(onset[seg])
        out["chord_root"].append(chord.root)
        out["chord_minor"].append(chord.minor)
        out["piece"].append(0)
        last_start = start
    if not out["pitch"]:
        raise ValueError(f"{name}: no complete 4/4 bar with melody notes")
    bars = {k: np.array(v, dtype=_DTYPES[k]) for k, v in out.items()}
    bars["piece_names"] = np.array([name], dtype=str)
    return bars


def _score_name(score: Any) -> str:
    meta = getattr(score, "metadata", None)
    path = getattr(meta, "corpusFilePath", None) if meta is not None else None
    if path:
        path = str(path).replace("\\", "/")
        for suffix in (".mxl", ".musicxml", ".xml", ".krn", ".mid", ".midi", ".abc"):
            if path.lower().endswith(suffix):
                return path[: -len(suffix)]
        return path
    title = getattr(meta, "title", None) if meta is not None else None
    return str(title) if title else "score"


def bars_from_music21(score: Any, name: str | None = None) -> dict[str, np.ndarray]:
    """Bars of a music21 score: melody = first part (soprano), chord = all parts, per 4/4 bar.

    Only measures of the first part that are in 4/4 and last exactly 4 quarter notes are kept
    (pickups, incomplete bars and bars in other metres are dropped and break the previous-bar
    chain). Per sixteenth step the melody is the sounding soprano pitch (the top one of a
    chord), with an onset where a note is struck (not where a tie continues it). A bar's chord is
    :func:`~multigan.music.chords.estimate_chord` of the duration-weighted pitch classes of all
    parts in that bar. Notes shorter than a sixteenth still occupy one step; grace notes are
    ignored. Repeats are not expanded.

    Args:
        score: a ``music21.stream.Score`` (e.g. from ``music21.corpus.parse('bach/bwv26.6')``).
        name: piece name; default the corpus path without suffix (``'bach/bwv26.6'``) or title.

    Returns:
        A one-piece bar set.

    Raises:
        ValueError: naming the piece when it has no parts or no usable 4/4 bar.
    """
    from music21 import meter

    name = name or _score_name(score)
    parts = list(getattr(score, "parts", []))
    if not parts:
        raise ValueError(f"{name}: the score has no parts")
    total = int(np.ceil(float(score.highestTime) * 4)) + STEPS
    pitch = np.full(total, -1, np.int16)
    onset = np.zeros(total, bool)
    harmony = np.zeros((total, 12))
    for index, part in enumerate(parts):
        for note in part.flatten().notes:
            length = float(note.quarterLength)
            if length <= 0:
                continue                                         # grace notes
            start = round(float(note.offset) * 4)
            end = max(start + 1, round((float(note.offset) + length) * 4))
            midis = [p.midi for p in note.pitches]
            for p in midis:
                harmony[start:end, p % 12] += 1.0
            if index == 0:
                pitch[start:end] = max(midis)
                tied_on = note.tie is not None and note.tie.type in ("continue", "stop")
                onset[start] = not tied_on
    bar_starts, signature, seen = [], None, set()
    for measure in parts[0].getElementsByClass("Measure"):
        if measure.timeSignature is not None:
            signature = measure.timeSignature.ratioString
            seen.add(signature)
        elif signature is None:
            found = measure.getContextByClass(meter.TimeSignature)
            signature = found.ratioString if found is not None else None
            seen.add(signature)
        if signature == "4/4" and abs(float(measure.duration.quarterLength) - 4.0) < 1e-6:
            bar_starts.append(round(float(measure.offset) * 4))
    if not bar_starts:
        raise ValueError(f"{name}: no complete 4/4 bar (time signatures {sorted(str(s) for s in seen) or 'none'})")
    return _bars_from_steps(pitch, onset, harmony, bar_starts, name)


def _four_four_bar_starts(pm: Any, dt: float, content: int, bar_steps: int, path: Path) -> list[int]:
    """Grid steps where 4/4 bars start, from the file's time signatures (none = 4/4 throughout).

    A bar must fit inside its time-signature section, except in the last section, where the final
    bar may run past the last note (the file simply ends with silence).
    """
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    sections = []                                              # (numerator, denominator, start, end) in steps
    if not changes or changes[0].time > dt / 2:
        sections.append((4, 4, 0, round(changes[0].time / dt) if changes else None))
    for i, ts in enumerate(changes):
        end = round(changes[i + 1].time / dt) if i + 1 < len(changes) else None
        sections.append((ts.numerator, ts.denominator, round(ts.time / dt), end))
    starts = [s for num, den, begin, end in sections if (num, den) == (4, 4)
              for s in (range(begin, content, bar_steps) if end is None else range(begin, end - bar_steps + 1, bar_steps))]
    if not starts:
        found = sorted({f"{ts.numerator}/{ts.denominator}" for ts in changes})
        raise ValueError(f"{str(path)!r}: no 4/4 bars (only 4/4 is supported; time signatures: {', '.join(found)})")
    return starts


def bars_from_midi(path: str | os.PathLike, *, melody_track: int | str | None = None,
                   steps_per_beat: int = 4) -> dict[str, np.ndarray]:
    """Bars of a MIDI file's 4/4 sections: a monophonic melody and a chord per bar.

    The grid follows the file's first tempo (as :func:`multigan.io.midi.midi_to_pianoroll`); bars
    start at each 4/4 time signature (a file without time signatures is 4/4 from time 0). Per step
    the melody is the highest sounding note of the melody track. A bar's chord is the nearest
    major/minor triad to the duration-weighted pitch classes of all *other* non-drum tracks,
    falling back to the melody itself when they are silent in that bar (or absent). Bars without
    melody notes are dropped and break the previous-bar chain.

    Args:
        path: ``.mid`` / ``.midi`` file.
        melody_track: instrument index (into ``PrettyMIDI.instruments``) or name; default the
            non-drum instrument with the highest mean pitch.
        steps_per_beat: grid steps per quarter note; bars have ``4 * steps_per_beat`` steps
            (4 → MidiNet's 16).

    Returns:
        A one-piece bar set named by ``str(path)``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming the file when it is corrupt, has no pitched notes, has no 4/4 bar, or
            ``melody_track`` does not name a pitched track.
    """
    from multigan.io.midi import load_midi, midi_to_pianoroll, step_seconds

    path = Path(path)
    try:
        steps_per_beat = operator.index(steps_per_beat)
    except TypeError:
        raise TypeError(f"steps_per_beat must be an int, got {type(steps_per_beat).__name__}") from None
    if steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be >= 1, got {steps_per_beat}")
    try:
        pm = load_midi(path)                                   # ValueError naming the file when corrupt
    except (ValueError, FileNotFoundError):
        raise
    except Exception as err:                                   # pretty_midi/mido raise many kinds
        raise ValueError(f"cannot read MIDI file {str(path)!r}: {err}") from err
    tracks = [i for i, inst in enumerate(pm.instruments) if not inst.is_drum and inst.notes]
    if not tracks:
        raise ValueError(f"{str(path)!r}: no pitched (non-drum) notes")
    if melody_track is None:
        melody_index = max(tracks, key=lambda i: (np.mean([n.pitch for n in pm.instruments[i].notes]), -i))
    elif isinstance(melody_track, str):
        named = [i for i in tracks if pm.instruments[i].name == melody_track]
        if not named:
            raise ValueError(f"{str(path)!r}: no pitched track named {melody_track!r}; "
                             f"tracks: {[pm.instruments[i].name for i in tracks]}")
        melody_index = named[0]
    else:
        melody_index = operator.index(melody_track)
        if melody_index < 0:
            melody_index += len(pm.instruments)
        if melody_index not in tracks:
            raise ValueError(f"{str(path)!r}: melody_track {melody_track} is not a pitched track "
                             f"(pitched track indices: {tracks})")
    tempi = pm.get_tempo_changes()[1]
    dt = step_seconds(float(tempi[0]) if len(tempi) else 120.0, steps_per_beat)
    bar_steps = 4 * steps_per_beat
    content = int(np.ceil(pm.get_end_time() / dt - 1e-6))      # steps up to the last note end
    bar_starts = _four_four_bar_starts(pm, dt, content, bar_steps, path)
    length = max(content, max(bar_starts) + bar_steps)         # room for the last (partly silent) bar

    roll, ons = midi_to_pianoroll(pm, steps_per_beat=steps_per_beat, instrument=melody_index, n_steps=length)
    sounding = roll.any(1)
    top = np.where(sounding, 127 - np.argmax(roll[:, ::-1], axis=1), -1).astype(np.int16)
    onset = ons[np.arange(length), np.clip(top, 0, 127)] & sounding
    harmony = np.zeros((length, 12))
    for i in tracks:
        if i == melody_index:
            continue
        other = midi_to_pianoroll(pm, steps_per_beat=steps_per_beat, instrument=i, n_steps=length,
                                  return_onsets=False)
        for pc in range(12):
            harmony[:, pc] += other[:, pc::12].sum(1)
    return _bars_from_steps(top, onset, harmony, bar_starts, str(path), steps=bar_steps)
