"""Piano-roll <-> MIDI round trips (multigan.io.midi)."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
import torch

from multigan.io import midi

STEP = 60 / 120 / 4  # seconds per step at 120 bpm, 4 steps per beat


def _song() -> tuple[np.ndarray, np.ndarray]:
    roll = np.zeros((16, 128), bool)
    onsets = np.zeros_like(roll)
    roll[0:4, 60] = onsets[0, 60] = True          # held 4 steps
    roll[4:6, 60] = onsets[4, 60] = True          # re-struck at once for 2 steps
    roll[8:12, [64, 67, 71]] = True               # chord after a 2-step rest
    onsets[8, [64, 67, 71]] = True
    roll[13, 72] = onsets[13, 72] = True          # single step, then rests to the end
    return roll, onsets


def test_roll_to_notes_splits_on_onsets() -> None:
    roll, onsets = _song()
    notes = midi.roll_to_notes(roll, onsets)
    assert notes[:2] == [(60, 0, 4, 1.0), (60, 4, 6, 1.0)]
    assert midi.roll_to_notes(roll)[0] == (60, 0, 6, 1.0)  # without onsets the repeats merge
    assert len(notes) == 6


def test_round_trip_is_exact(tmp_path) -> None:
    roll, onsets = _song()
    path = tmp_path / "song.mid"
    midi.pianoroll_to_midi(torch.from_numpy(roll), path, onsets=onsets)
    pm = pretty_midi.PrettyMIDI(str(path))
    got = sorted((n.pitch, round(n.start, 6), round(n.end, 6)) for n in pm.instruments[0].notes)
    want = sorted((p, s * STEP, e * STEP) for p, s, e, _ in midi.roll_to_notes(roll, onsets))
    assert got == want
    roll2, onsets2 = midi.midi_to_pianoroll(path, n_steps=len(roll))
    np.testing.assert_array_equal(roll2, roll)
    np.testing.assert_array_equal(onsets2, onsets)
    assert len(midi.midi_to_pianoroll(path, return_onsets=False)) == 14  # up to the last note end


def test_velocity_offset_tempo_and_chords(tmp_path) -> None:
    roll = np.zeros((8, 12), np.float32)
    roll[0:2, 0] = 0.5
    pm = midi.pianoroll_to_midi(roll, velocity=None, pitch_offset=48, tempo=90.0, steps_per_beat=2,
                                chords=[(0, 8, [36, 43])], chord_program=32)
    (note,) = pm.instruments[0].notes
    assert (note.pitch, note.velocity) == (48, 64)
    assert note.end == pytest.approx(2 * 60 / 90 / 2)
    assert [i.name for i in pm.instruments] == ["melody", "chords"]
    assert len(pm.instruments[1].notes) == 2 and pm.instruments[1].program == 32
    path = tmp_path / "c.mid"
    pm.write(str(path))
    roll2, _ = midi.midi_to_pianoroll(path, steps_per_beat=2, instrument="chords")
    assert roll2.shape == (8, 128) and roll2[:, [36, 43]].all()
    assert midi.midi_to_pianoroll(path, steps_per_beat=2, instrument=0, return_onsets=False)[:, 48].sum() == 2


def test_notes_to_midi_and_short_notes(tmp_path) -> None:
    path = tmp_path / "n.mid"
    midi.notes_to_midi([(60, 0.0, 0.01, 100), (62, 0.5, 1.0, 90)], path, tempo=120.0)
    roll, onsets = midi.midi_to_pianoroll(path)
    assert roll[0, 60] and roll[:, 60].sum() == 1  # shorter than a step still takes one step
    assert roll[4:8, 62].all() and onsets[4, 62]


@pytest.mark.parametrize("bad, error", [
    (np.zeros((4, 129)), ValueError),
    (np.zeros(8), ValueError),
    (np.full((4, 8), 2.0), ValueError),
    (np.array([["a"]]), TypeError),
])
def test_bad_rolls_raise_and_leave_no_file(tmp_path, bad, error) -> None:
    with pytest.raises(error):
        midi.pianoroll_to_midi(bad, tmp_path / "x.mid")
    assert list(tmp_path.iterdir()) == []


def test_other_bad_inputs(tmp_path) -> None:
    roll = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="extension"):
        midi.pianoroll_to_midi(roll, tmp_path / "x.wav")
    with pytest.raises(ValueError, match="onsets"):
        midi.pianoroll_to_midi(roll, tmp_path / "x.mid", onsets=np.ones((3, 4)))
    with pytest.raises(ValueError, match="pitch_offset"):
        midi.pianoroll_to_midi(roll, tmp_path / "x.mid", pitch_offset=125)
    with pytest.raises(ValueError, match="notes\\[0\\]"):
        midi.notes_to_midi([(60, 1.0, 0.5, 100)], tmp_path / "x.mid")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="missing.mid"):
        midi.midi_to_pianoroll(tmp_path / "missing.mid")
    (tmp_path / "junk.mid").write_bytes(b"not midi")
    with pytest.raises(ValueError, match="junk.mid"):
        midi.midi_to_pianoroll(tmp_path / "junk.mid")
