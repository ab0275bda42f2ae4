"""Melody bars with chords and previous bars, from the shipped Bach chorales or your own MIDI files.

A bar set is a dict of arrays (the format of ``assets/music/bach_chorales.npz``):

=============  ===============  ==========================================================
``pitch``      int8 (N, 16)     sounding melody pitch per sixteenth step, −1 = rest
``onset``      bool (N, 16)     a note starts at this step
``chord_root`` int8 (N,)        chord root pitch class (0 = C)
``chord_minor`` bool (N,)       minor triad (others are mapped to the nearest major/minor)
``prev_index`` int32 (N,)       index of the previous bar of the same piece, −1 if none
``piece``      int16 (N,)       piece number (``piece_names`` holds the names)
=============  ===============  ==========================================================

:class:`BarDataset` turns these into MidiNet's ``(bar, prev_bar, chord)`` training triples,
transposed to all 12 keys and folded by octaves into a pitch window.

Example:
    >>> data = BarDataset.bach_chorales()              # doctest: +SKIP
    >>> bar, prev_bar, chord = data[0]                  # (1,16,128), (1,16,128), (13,)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .chords import Chord, chord_vector, estimate_chord

__all__ = ["BarDataset", "bars_from_midi", "bars_from_music21", "fold_pitches", "concat_bar_sets", "FIELDS"]

STEPS = 16
FIELDS = ("pitch", "onset", "chord_root", "chord_minor", "prev_index", "piece")


def fold_pitches(pitch: np.ndarray, pitch_range: Optional[tuple[int, int]]) -> np.ndarray:
    """Move pitches by octaves into ``[low, high)`` (rests, −1, stay rests). The window must span ≥ 12."""
    if pitch_range is None:
        return pitch
    low, high = pitch_range
    if high - low < 12:
        raise ValueError(f"pitch_range {pitch_range} must span at least an octave")
    out = pitch.astype(np.int16).copy()
    below = (out >= 0) & (out < low)
    out[below] += 12 * ((low - out[below] + 11) // 12)            # up by whole octaves
    above = out >= high
    out[above] -= 12 * ((out[above] - high) // 12 + 1)            # down by whole octaves
    return out


def _roll(pitch: np.ndarray) -> np.ndarray:
    """int pitches (…, 16) with −1 rests → bool roll (…, 16, 128)."""
    roll = np.zeros(pitch.shape + (128,), bool)
    idx = np.nonzero(pitch >= 0)
    roll[idx + (pitch[idx].astype(np.int64),)] = True
    return roll


def concat_bar_sets(sets: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join bar sets, renumbering ``prev_index`` and ``piece``."""
    out: dict[str, list] = {k: [] for k in FIELDS + ("piece_names",)}
    offset = pieces = 0
    for s in sets:
        for key in ("pitch", "onset", "chord_root", "chord_minor"):
            out[key].append(s[key])
        out["prev_index"].append(np.where(s["prev_index"] >= 0, s["prev_index"] + offset, -1))
        out["piece"].append(s["piece"] + pieces)
        out["piece_names"].extend(list(s["piece_names"]))
        offset += len(s["pitch"])
        pieces += len(s["piece_names"])
    return {k: (np.array(v) if k == "piece_names" else np.concatenate(v)) for k, v in out.items()}


class BarDataset(Dataset):
    """MidiNet training triples ``(bar, prev_bar, chord)`` from a bar set.

    Args:
        bars:         a bar set (see the module docstring).
        transpose:    serve every bar in all 12 keys (shifts −6…+5 semitones; chord roots rotate).
        pitch_range:  fold melody notes by octaves into this MIDI window after transposing (None: keep).
    """

    def __init__(self, bars: dict[str, np.ndarray], *, transpose: bool = True,
                 pitch_range: Optional[tuple[int, int]] = (60, 84)):
        missing = [k for k in FIELDS if k not in bars]
        if missing:
            raise ValueError(f"bar set lacks {missing}; expected fields {FIELDS}")
        self.bars = bars
        self.transpose = transpose
        self.pitch_range = pitch_range
        self.keys = 12 if transpose else 1

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_npz(cls, path: str | os.PathLike, **kwargs: Any) -> "BarDataset":
        """Load a bar set written by ``scripts/build_music_assets.py`` or :meth:`save_npz`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such bar-set file")
        with np.load(path, allow_pickle=False) as z:
            return cls({k: z[k] for k in z.files}, **kwargs)

    @classmethod
    def bach_chorales(cls, **kwargs: Any) -> "BarDataset":
        """The shipped Bach chorale bars (``assets/music/bach_chorales.npz``)."""
        from multigan.core.module import assets_dir
        return cls.from_npz(assets_dir() / "music" / "bach_chorales.npz", **kwargs)

    @classmethod
    def from_midi_folder(cls, folder: str | os.PathLike, *, melody_track: Any = None, **kwargs: Any) -> "BarDataset":
        """All ``*.mid``/``*.midi`` files of a folder (recursively), one piece per file."""
        folder = Path(folder)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
        if not files:
            raise FileNotFoundError(f"{folder}: no .mid/.midi files found")
        return cls(concat_bar_sets([bars_from_midi(f, melody_track=melody_track) for f in files]), **kwargs)

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write the bar set (atomically) as a compressed npz."""
        from multigan.core.atomic import atomic_file
        with atomic_file(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **self.bars)
        return Path(path)

    # -- access ----------------------------------------------------------------------------------

    @property
    def num_bars(self) -> int:
        return len(self.bars["pitch"])

    def __len__(self) -> int:
        return self.num_bars * self.keys

    def _shift(self, index: int) -> tuple[int, int]:
        bar, key = divmod(index, self.keys)
        return bar, (key - 6 if self.transpose else 0)

    def melody(self, bars: np.ndarray | int, shift: int = 0) -> np.ndarray:
        """Bool rolls ``(…, 16, 128)`` of the given bars, transposed by ``shift`` and folded."""
        pitch = self.bars["pitch"][bars].astype(np.int16)
        pitch = np.where(pitch >= 0, np.clip(pitch + shift, 0, 127), -1)
        return _roll(fold_pitches(pitch, self.pitch_range))

    def chord(self, bar: int, shift: int = 0) -> Chord:
        return Chord((int(self.bars["chord_root"][bar]) + shift) % 12, bool(self.bars["chord_minor"][bar]))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        bar, shift = self._shift(index)
        prev = int(self.bars["prev_index"][bar])
        roll = torch.from_numpy(self.melody(bar, shift)).float()[None]
        prev_roll = torch.from_numpy(self.melody(prev, shift)).float()[None] if prev >= 0 else torch.zeros_like(roll)
        return roll, prev_roll, torch.from_numpy(chord_vector(self.chord(bar, shift)))

    def consecutive_runs(self, length: int) -> list[np.ndarray]:
        """Every run of ``length`` consecutive bars of one piece, as arrays of bar indices."""
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
        """The bars of ``run`` (original key, folded) and their chord vectors ``(len, 13)``."""
        return self.melody(run), np.stack([chord_vector(self.chord(int(b))) for b in run])


# -- building bar sets ---------------------------------------------------------------------------

def _bars_from_steps(pitch: np.ndarray, onset: np.ndarray, harmony: np.ndarray, bar_starts: Sequence[int],
                     name: str) -> dict[str, np.ndarray]:
    """Cut piece-long step arrays into bars.

    Args:
        pitch, onset:  (T,) melody pitch per step (−1 rest) and note starts.
        harmony:       (T, 12) pitch-class weights of the whole texture per step (for the chord).
        bar_starts:    step index of each full 4/4 bar, increasing.
    """
    out: dict[str, list] = {k: [] for k in FIELDS}
    last_start = None
    for start in bar_starts:
        if start + STEPS > len(pitch):
            continue
        weights = harmony[start:start + STEPS].sum(0)
        if not np.any(weights > 0) or not np.any(pitch[start:start + STEPS] >= 0):
            last_start = None
            continue
        chord = estimate_chord(weights)
        out["prev_index"].append(len(out["pitch"]) - 1 if last_start == start - STEPS else -1)
        out["pitch"].append(pitch[start:start + STEPS])
        out["onset"].append(onset[start:start + STEPS])
        out["chord_root"].append(chord.root)
        out["chord_minor"].append(chord.minor)
        out["piece"].append(0)
        last_start = start
    if not out["pitch"]:
        raise ValueError(f"{name}: no complete 4/4 bar with a melody")
    return {"pitch": np.array(out["pitch"], np.int8), "onset": np.array(out["onset"], bool),
            "chord_root": np.array(out["chord_root"], np.int8), "chord_minor": np.array(out["chord_minor"], bool),
            "prev_index": np.array(out["prev_index"], np.int32), "piece": np.array(out["piece"], np.int16),
            "piece_names": np.array([name])}


def bars_from_music21(score: Any, name: str = "score") -> dict[str, np.ndarray]:
    """Bars of a music21 score in 4/4: melody = first part (soprano), chord = all parts per bar."""
    from music21 import meter

    signatures = {ts.ratioString for ts in score.recurse().getElementsByClass(meter.TimeSignature)}
    if signatures != {"4/4"}:
        raise ValueError(f"{name}: not in 4/4 throughout (time signatures {sorted(signatures) or 'none'})")
    total = int(round(score.highestTime * 4)) + STEPS
    pitch = np.full(total, -1, np.int16)
    onset = np.zeros(total, bool)
    harmony = np.zeros((total, 12))
    for index, part in enumerate(score.parts):
        for note in part.flatten().notes:
            start, end = int(round(note.offset * 4)), int(round((note.offset + note.quarterLength) * 4))
            if end <= start:
                continue                                        # grace notes
            pitches = [p.midi for p in note.pitches]
            for p in pitches:
                harmony[start:end, p % 12] += 1.0
            if index == 0:
                pitch[start:end] = max(pitches)
                tied_on = note.tie is not None and note.tie.type in ("continue", "stop")
                onset[start] = not tied_on
    soprano = score.parts[0]
    bar_starts = [int(round(m.offset * 4)) for m in soprano.getElementsByClass("Measure")
                  if abs(m.duration.quarterLength - 4.0) < 1e-6]
    return _bars_from_steps(pitch, onset, harmony, bar_starts, name)


def bars_from_midi(path: str | os.PathLike, *, melody_track: Any = None, steps_per_beat: int = 4) -> dict[str, np.ndarray]:
    """Bars of a 4/4 MIDI file: melody = ``melody_track`` (index or name; default the non-drum
    track with the highest mean pitch), top note per step; chord per bar from the other tracks
    (or from the melody when it is alone)."""
    from multigan.io.midi import load_midi, midi_to_pianoroll

    path = Path(path)
    try:
        pm = load_midi(path)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as err:                                   # pretty_midi/mido raise many kinds
        raise ValueError(f"{path}: not a readable MIDI file ({err})") from None
    signatures = {(ts.numerator, ts.denominator) for ts in pm.time_signature_changes}
    if signatures and signatures != {(4, 4)}:
        raise ValueError(f"{path}: only 4/4 is supported, found time signatures "
                         f"{sorted(f'{n}/{d}' for n, d in signatures)}")
    tracks = [i for i, inst in enumerate(pm.instruments) if not inst.is_drum and inst.notes]
    if not tracks:
        raise ValueError(f"{path}: no pitched notes")
    if melody_track is None:
        melody_index = max(tracks, key=lambda i: np.mean([n.pitch for n in pm.instruments[i].notes]))
    elif isinstance(melody_track, str):
        named = [i for i in tracks if pm.instruments[i].name == melody_track]
        if not named:
            raise ValueError(f"{path}: no track named {melody_track!r}; tracks: "
                             f"{[pm.instruments[i].name for i in tracks]}")
        melody_index = named[0]
    else:
        melody_index = int(melody_track)
        if melody_index not in tracks:
            raise ValueError(f"{path}: melody_track {melody_index} is not a pitched track (pitched: {tracks})")
    length = int(np.ceil(pm.get_end_time() / (60.0 / pm.get_tempo_changes()[1][0] if len(pm.get_tempo_changes()[1])
                                             else 0.5) * steps_per_beat)) + STEPS
    melody_roll, melody_onsets = midi_to_pianoroll(pm, steps_per_beat=steps_per_beat, instrument=melody_index,
                                                   n_steps=length)
    top = np.where(melody_roll.any(1), 127 - np.argmax(melody_roll[:, ::-1], axis=1), -1).astype(np.int16)
    onset = melody_onsets[np.arange(len(top)), np.clip(top, 0, 127)] & (top >= 0)
    others = [i for i in tracks if i != melody_index]
    harmony = np.zeros((length, 12))
    for i in others or [melody_index]:
        roll, _ = midi_to_pianoroll(pm, steps_per_beat=steps_per_beat, instrument=i, n_steps=length)
        for pc in range(12):
            harmony[:, pc] += roll[:, pc::12].sum(1)
    return _bars_from_steps(top, onset, harmony, range(0, length - STEPS + 1, STEPS), str(path))
