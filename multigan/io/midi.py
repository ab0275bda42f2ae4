"""Piano-roll <-> MIDI conversion (pretty_midi, imported on first use).

A piano-roll is a ``(T, P)`` array: row ``t`` is one grid step of ``60 / tempo / steps_per_beat``
seconds, column ``p`` is MIDI pitch ``p + pitch_offset``. Consecutive active steps of one pitch
form one note unless ``onsets[t, p]`` is true, which starts a new note (so a re-struck note
survives the round trip).

Example:
    >>> roll = np.zeros((8, 128), bool); roll[0:4, 60] = roll[4:6, 60] = True
    >>> onsets = np.zeros_like(roll); onsets[[0, 4], 60] = True
    >>> pm = pianoroll_to_midi(roll, "song.mid", onsets=onsets)        # doctest: +SKIP
    >>> roll2, onsets2 = midi_to_pianoroll("song.mid")                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .utils import as_numpy, atomic_file, check_suffix, existing_file

if TYPE_CHECKING:
    import pretty_midi

__all__ = ["roll_to_notes", "pianoroll_to_midi", "notes_to_midi", "midi_to_pianoroll", "load_midi", "step_seconds"]

MIDI_SUFFIXES = (".mid", ".midi")
Chord = tuple[int, int, Sequence[int]]


def step_seconds(tempo: float = 120.0, steps_per_beat: int = 4) -> float:
    """Duration of one piano-roll step in seconds: ``60 / tempo / steps_per_beat``."""
    if not tempo > 0 or not steps_per_beat > 0:
        raise ValueError(f"tempo and steps_per_beat must be > 0, got {tempo} and {steps_per_beat}")
    return 60.0 / tempo / steps_per_beat


def _check_roll(roll: Any, onsets: Any, pitch_offset: int) -> tuple[np.ndarray, np.ndarray]:
    roll = as_numpy(roll, "roll")
    if roll.ndim != 2 or roll.shape[1] > 128:
        raise ValueError(f"roll must have shape (T, P) with P <= 128, got {roll.shape}")
    if not (roll.dtype == np.bool_ or np.issubdtype(roll.dtype, np.number)):
        raise TypeError(f"roll must be bool or numeric, got dtype {roll.dtype}")
    roll = roll.astype(np.float64)
    if roll.size and (not np.isfinite(roll).all() or roll.min() < 0 or roll.max() > 1):
        raise ValueError(f"roll values must be in [0, 1], got [{roll.min():.3g}, {roll.max():.3g}]")
    if not 0 <= pitch_offset <= 128 - roll.shape[1]:
        raise ValueError(f"pitch_offset {pitch_offset} puts columns outside MIDI pitches 0..127 (P={roll.shape[1]})")
    if onsets is None:
        return roll, np.zeros(roll.shape, bool)
    onsets = as_numpy(onsets, "onsets")
    if onsets.shape != roll.shape:
        raise ValueError(f"onsets must have the roll's shape {roll.shape}, got {onsets.shape}")
    return roll, onsets.astype(bool)


def roll_to_notes(roll: Any, onsets: Any = None, *, pitch_offset: int = 0) -> list[tuple[int, int, int, float]]:
    """Split a piano-roll into notes ``(pitch, start_step, end_step, velocity)``, sorted by start.

    Active steps (value > 0) of one pitch merge into one note unless ``onsets[t, p]`` is true,
    which starts a new note. ``velocity`` is the roll value at the note's first step, in (0, 1]
    (1.0 for bool rolls). ``end_step`` is exclusive.

    Example:
        >>> roll = np.zeros((6, 1), bool); roll[:, 0] = True
        >>> onsets = np.zeros_like(roll); onsets[4, 0] = True
        >>> roll_to_notes(roll, onsets, pitch_offset=60)
        [(60, 0, 4, 1.0), (60, 4, 6, 1.0)]
    """
    roll, onsets = _check_roll(roll, onsets, pitch_offset)
    active = roll > 0
    previous = np.zeros_like(active)
    previous[1:] = active[:-1]
    starts = active & (~previous | onsets)
    notes = []
    for p in np.flatnonzero(starts.any(axis=0)):
        breaks = np.append(np.flatnonzero(~active[:, p] | starts[:, p]), len(roll))
        for s in np.flatnonzero(starts[:, p]):
            end = breaks[np.searchsorted(breaks, s, side="right")]
            notes.append((int(p) + pitch_offset, int(s), int(end), float(roll[s, p])))
    return sorted(notes, key=lambda n: (n[1], n[0]))


def _new_midi(tempo: float, steps_per_beat: int = 4) -> "pretty_midi.PrettyMIDI":
    import pretty_midi

    resolution = 960 if 960 % steps_per_beat == 0 else 240 * steps_per_beat  # whole ticks per step
    return pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=float(tempo))


def _check_program(program: int, velocity: int | None) -> None:
    if not 0 <= int(program) <= 127:
        raise ValueError(f"program must be in 0..127, got {program}")
    if velocity is not None and not 1 <= int(velocity) <= 127:
        raise ValueError(f"velocity must be in 1..127 or None, got {velocity}")


def _write(pm: "pretty_midi.PrettyMIDI", path: Path | None) -> None:
    if path is not None:
        with atomic_file(path) as tmp:
            pm.write(str(tmp))


def _check_chords(chords: Sequence[Chord] | None) -> list[Chord]:
    chords = list(chords or [])
    for i, chord in enumerate(chords):
        try:
            start, end, pitches = chord
        except (TypeError, ValueError):
            raise ValueError(f"chords[{i}] must be (start_step, end_step, [pitches]), got {chord!r}") from None
        if not 0 <= start < end or not all(0 <= int(p) <= 127 for p in pitches):
            raise ValueError(f"chords[{i}] needs 0 <= start < end and pitches in 0..127, got {chord!r}")
    return chords


def pianoroll_to_midi(
    roll: Any,
    path: str | os.PathLike | None = None,
    *,
    onsets: Any = None,
    steps_per_beat: int = 4,
    tempo: float = 120.0,
    program: int = 0,
    velocity: int | None = 100,
    pitch_offset: int = 0,
    chords: Sequence[Chord] | None = None,
    chord_program: int = 0,
    is_drum: bool = False,
) -> "pretty_midi.PrettyMIDI":
    """Convert a ``(T, P)`` piano-roll to a PrettyMIDI (and write it to ``path`` atomically).

    Args:
        roll: bool / 0-1 array or tensor; column ``p`` is pitch ``p + pitch_offset``.
        path: optional ``.mid``/``.midi`` output path.
        onsets: optional bool array like ``roll``; true starts a new note (re-struck pitch).
        steps_per_beat: grid steps per quarter note.
        tempo: beats per minute.
        program: General MIDI program of the melody instrument.
        velocity: MIDI velocity of every note; ``None`` uses ``roll`` values * 127.
        pitch_offset: MIDI pitch of column 0.
        chords: optional ``(start_step, end_step, [pitches])`` list, written as instrument "chords".
        chord_program: program of the chord instrument.
        is_drum: mark the melody instrument as a drum track.

    Example:
        >>> pm = pianoroll_to_midi(np.eye(8, 128, 60, dtype=bool), "scale.mid")  # doctest: +SKIP
    """
    import pretty_midi

    path = None if path is None else check_suffix(path, MIDI_SUFFIXES)
    _check_program(program, velocity)
    _check_program(chord_program, None)
    notes = roll_to_notes(roll, onsets, pitch_offset=pitch_offset)
    chords = _check_chords(chords)
    dt = step_seconds(tempo, steps_per_beat)

    pm = _new_midi(tempo, steps_per_beat)
    inst = pretty_midi.Instrument(program=int(program), is_drum=is_drum, name="melody")
    for pitch, start, end, value in notes:
        vel = int(velocity) if velocity is not None else max(1, round(value * 127))
        inst.notes.append(pretty_midi.Note(vel, pitch, start * dt, end * dt))
    pm.instruments.append(inst)
    if chords:
        chord_inst = pretty_midi.Instrument(program=int(chord_program), name="chords")
        vel = int(velocity) if velocity is not None else 100
        for start, end, pitches in chords:
            chord_inst.notes += [pretty_midi.Note(vel, int(p), start * dt, end * dt) for p in pitches]
        pm.instruments.append(chord_inst)
    _write(pm, path)
    return pm


def notes_to_midi(
    notes: Sequence[tuple[int, float, float, int]],
    path: str | os.PathLike | None = None,
    *,
    tempo: float = 120.0,
    program: int = 0,
    is_drum: bool = False,
    name: str = "melody",
) -> "pretty_midi.PrettyMIDI":
    """Build a one-instrument PrettyMIDI from ``(pitch, start_s, end_s, velocity)`` tuples.

    Example:
        >>> pm = notes_to_midi([(60, 0.0, 0.5, 100), (64, 0.5, 1.0, 90)], "two.mid")  # doctest: +SKIP
    """
    import pretty_midi

    path = None if path is None else check_suffix(path, MIDI_SUFFIXES)
    _check_program(program, None)
    inst = pretty_midi.Instrument(program=int(program), is_drum=is_drum, name=name)
    for i, note in enumerate(notes):
        try:
            pitch, start, end, vel = note
        except (TypeError, ValueError):
            raise ValueError(f"notes[{i}] must be (pitch, start, end, velocity), got {note!r}") from None
        if not (0 <= int(pitch) <= 127 and 0 <= float(start) < float(end) and 1 <= int(vel) <= 127):
            raise ValueError(f"notes[{i}] needs pitch 0..127, 0 <= start < end, velocity 1..127; got {note!r}")
        inst.notes.append(pretty_midi.Note(int(vel), int(pitch), float(start), float(end)))
    pm = _new_midi(tempo)
    pm.instruments.append(inst)
    _write(pm, path)
    return pm


def load_midi(path_or_pm: "str | os.PathLike | pretty_midi.PrettyMIDI") -> "pretty_midi.PrettyMIDI":
    """Return a PrettyMIDI as is, or load one from a path (FileNotFoundError/ValueError naming it)."""
    import pretty_midi

    if isinstance(path_or_pm, pretty_midi.PrettyMIDI):
        return path_or_pm
    if not isinstance(path_or_pm, (str, os.PathLike)):
        raise TypeError(f"expected a path or pretty_midi.PrettyMIDI, got {type(path_or_pm).__name__}")
    path = existing_file(path_or_pm)
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as err:
        raise ValueError(f"cannot read MIDI file {str(path)!r}: {type(err).__name__}: {err}".rstrip(": ")) from err


def _pick_instruments(pm: "pretty_midi.PrettyMIDI", instrument: int | str | None, include_drums: bool) -> list:
    insts = pm.instruments
    if instrument is None:
        return [i for i in insts if include_drums or not i.is_drum]
    if isinstance(instrument, str):
        picked = [i for i in insts if i.name == instrument]
        if not picked:
            raise ValueError(f"no instrument named {instrument!r}; names: {[i.name for i in insts]}")
        return picked
    if not -len(insts) <= int(instrument) < len(insts):
        raise ValueError(f"instrument index {instrument} out of range for {len(insts)} instruments")
    return [insts[int(instrument)]]


def midi_to_pianoroll(
    path_or_pm: "str | os.PathLike | pretty_midi.PrettyMIDI",
    *,
    steps_per_beat: int = 4,
    instrument: int | str | None = None,
    include_drums: bool = False,
    return_onsets: bool = True,
    n_steps: int | None = None,
) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Quantise MIDI notes to a ``(T, 128)`` bool piano-roll (and onsets) on the file's tempo grid.

    The grid uses the file's first tempo (120 bpm if it has none). Start and end times are rounded
    to the nearest step; a note shorter than one step still occupies one step.

    Args:
        path_or_pm: ``.mid`` path or PrettyMIDI.
        steps_per_beat: grid steps per quarter note.
        instrument: None merges all (non-drum unless ``include_drums``) instruments; an int picks
            by index, a str by name.
        include_drums: include drum instruments when merging.
        return_onsets: also return the onset roll.
        n_steps: pad or crop the result to this many steps (default: up to the last note end).

    Returns:
        ``(roll, onsets)`` bool arrays of shape ``(T, 128)``, or just ``roll``.
    """
    pm = load_midi(path_or_pm)
    tempi = pm.get_tempo_changes()[1]
    dt = step_seconds(float(tempi[0]) if len(tempi) else 120.0, steps_per_beat)
    spans = []
    for inst in _pick_instruments(pm, instrument, include_drums):
        for note in inst.notes:
            start = int(round(note.start / dt))
            spans.append((note.pitch, start, max(start + 1, int(round(note.end / dt)))))
    length = max((end for _, _, end in spans), default=0) if n_steps is None else int(n_steps)
    roll = np.zeros((length, 128), bool)
    onsets = np.zeros((length, 128), bool)
    for pitch, start, end in spans:
        roll[start:end, pitch] = True
        if start < length:
            onsets[start, pitch] = True
    return (roll, onsets) if return_onsets else roll
