"""Bar sets: the shipped Bach asset, transposition, folding, MIDI folders, bad files."""

import numpy as np
import pretty_midi
import pytest
import torch

from multigan.music.chords import Chord, chord_vector
from multigan.music.data import BarDataset, bars_from_midi, fold_pitches


@pytest.fixture(scope="module")
def bach() -> BarDataset:
    return BarDataset.bach_chorales()


def test_shipped_asset(bach):
    assert 3000 <= bach.num_bars <= 4500 and len(bach) == 12 * bach.num_bars
    pairs = set(zip(bach.bars["chord_root"].tolist(), bach.bars["chord_minor"].tolist()))
    assert len(pairs) == 24
    prev = bach.bars["prev_index"]
    linked = np.nonzero(prev >= 0)[0]
    assert len(linked) > 0.7 * bach.num_bars
    assert np.all(bach.bars["piece"][linked] == bach.bars["piece"][prev[linked]])
    assert np.all(prev[linked] == linked - 1)                  # bars are stored in order


def test_item_transposition_and_previous_bar(bach):
    bar = int(np.nonzero(bach.bars["prev_index"] >= 0)[0][0])
    shift = 2
    roll, prev_roll, chord = bach[bar * 12 + 6 + shift]         # key index 6 + k ↔ shift k
    expected_chord = Chord((int(bach.bars["chord_root"][bar]) + shift) % 12, bool(bach.bars["chord_minor"][bar]))
    assert torch.equal(chord, torch.from_numpy(chord_vector(expected_chord)))
    pitches = bach.bars["pitch"][bar].astype(int)
    steps = np.nonzero(pitches >= 0)[0]
    got = roll[0].argmax(1).numpy()[steps]
    assert np.all((got - (pitches[steps] + shift)) % 12 == 0)   # same pitch class, maybe folded
    assert np.all((60 <= got) & (got < 84))
    assert torch.equal(prev_roll[0], torch.from_numpy(bach.melody(bar - 1, shift)).float())
    first = int(np.nonzero(bach.bars["prev_index"] < 0)[0][0])
    assert bach[first * 12][1].sum() == 0                      # no previous bar: silence
    with pytest.raises(IndexError):
        bach[len(bach)]


def test_fold_pitches():
    folded = fold_pitches(np.array([-1, 40, 59, 60, 83, 84, 100]), (60, 84))
    assert folded.tolist() == [-1, 64, 71, 60, 83, 72, 76]
    with pytest.raises(ValueError, match="octave"):
        fold_pitches(np.array([60]), (60, 70))


def test_consecutive_runs(bach):
    runs = bach.consecutive_runs(8)
    assert runs and all(len(r) == 8 and np.all(np.diff(r) == 1) for r in runs[:50])
    rolls, chords = bach.melody_run(runs[0])
    assert rolls.shape == (8, 16, 128) and chords.shape == (8, 13)


def _write_song(path, chords, time_signature=(4, 4)):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0))
    melody, harmony = pretty_midi.Instrument(0, name="melody"), pretty_midi.Instrument(0, name="piano")
    bar_seconds = 2.0                                           # 4 beats at 120 bpm
    for i, pitches in enumerate(chords):
        for p in pitches:
            harmony.notes.append(pretty_midi.Note(80, p, i * bar_seconds, (i + 1) * bar_seconds))
        for beat in range(4):                                    # quarter notes on the chord tones
            p = pitches[beat % 3] + 24
            melody.notes.append(pretty_midi.Note(100, p, i * bar_seconds + beat * 0.5, i * bar_seconds + beat * 0.5 + 0.5))
    pm.instruments += [melody, harmony]
    pm.write(str(path))


def test_midi_file_round_trip(tmp_path):
    progression = [[48, 52, 55], [43, 47, 50], [45, 48, 52], [41, 45, 48]]     # C G Am F
    _write_song(tmp_path / "song.mid", progression)
    bars = bars_from_midi(tmp_path / "song.mid")
    chords = list(zip(bars["chord_root"].tolist(), bars["chord_minor"].tolist()))
    assert chords == [(0, False), (7, False), (9, True), (5, False)]
    assert bars["pitch"][0].tolist() == [72] * 4 + [76] * 4 + [79] * 4 + [72] * 4
    assert bars["onset"][0].tolist() == [True, False, False, False] * 4
    assert bars["prev_index"].tolist() == [-1, 0, 1, 2]
    data = BarDataset.from_midi_folder(tmp_path)
    assert data.num_bars == 4


def test_bad_midi_files(tmp_path):
    _write_song(tmp_path / "waltz.mid", [[48, 52, 55]], time_signature=(3, 4))
    with pytest.raises(ValueError, match="waltz.mid: only 4/4"):
        bars_from_midi(tmp_path / "waltz.mid")
    (tmp_path / "junk.mid").write_bytes(b"MThd\x00\x00garbage")
    with pytest.raises(ValueError, match="junk.mid"):
        bars_from_midi(tmp_path / "junk.mid")
    with pytest.raises(FileNotFoundError, match="no .mid"):
        BarDataset.from_midi_folder(tmp_path / "empty")
