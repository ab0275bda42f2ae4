"""Bar sets and BarDataset: the shipped Bach asset, transposition, folding, MIDI import (no music21 needed)."""

import collections

import numpy as np
import pytest
import torch

from multigan.io.midi import pianoroll_to_midi
from multigan.music.chords import Chord, chord_pitch_classes, chord_vector, parse_chord
from multigan.music.data import (
    FIELDS,
    BarDataset,
    bars_from_midi,
    concat_bar_sets,
    fold_pitches,
    load_bar_set,
    save_bar_set,
)


@pytest.fixture(scope="module")
def bach() -> BarDataset:
    return BarDataset.bach_chorales()


def _bar_with_chord(data: BarDataset, chord: Chord) -> int:
    """First bar in the set with ``chord`` and a melody spanning several pitches."""
    for bar in range(data.num_bars):
        pitch = data.bars["pitch"][bar]
        if data.chord(bar) == chord and len(set(pitch[pitch >= 0].tolist())) >= 3:
            return bar
    raise AssertionError(f"no bar with {chord}")


# -- the shipped asset ------------------------------------------------------------------------------

def test_shipped_asset_loads_with_expected_contents(bach):
    bars = bach.bars
    assert 3000 <= bach.num_bars <= 4500 and 250 <= bach.num_pieces <= 371
    assert bars["pitch"].dtype == np.int8 and bars["pitch"].shape == (bach.num_bars, 16)
    assert bars["onset"].dtype == np.bool_ and bars["chord_root"].dtype == np.int8
    assert bars["prev_index"].dtype == np.int32 and bars["piece"].dtype == np.int16
    assert str(bars["piece_names"][0]).startswith("bach/bwv") and len(set(bars["piece_names"])) == bach.num_pieces
    kinds = collections.Counter(zip(bars["chord_root"].tolist(), bars["chord_minor"].tolist()))
    assert len(kinds) >= 22 and 0.2 < bars["chord_minor"].mean() < 0.6
    # every bar has a melody; onsets only on notes, and wherever the pitch changes
    pitch, onset = bars["pitch"], bars["onset"]
    assert (pitch >= 0).any(1).all() and not onset[pitch < 0].any()
    assert onset[:, 1:][(pitch[:, 1:] != pitch[:, :-1]) & (pitch[:, 1:] >= 0)].all()
    assert 40 <= pitch[pitch >= 0].min() and pitch.max() <= 90


def test_prev_index_links_consecutive_bars_of_one_piece(bach):
    prev, piece = bach.bars["prev_index"], bach.bars["piece"]
    linked = np.flatnonzero(prev >= 0)
    assert 0.6 < len(linked) / len(prev) < 0.95
    assert (prev[linked] < linked).all() and (piece[prev[linked]] == piece[linked]).all()
    assert len(set(prev[linked].tolist())) == len(linked)                  # a chain, no branching
    first = np.flatnonzero(np.diff(piece.astype(int), prepend=-1) != 0)      # first bar of each piece
    assert (prev[first] == -1).all()
    bar = int(linked[0])
    _, prev_roll, _ = BarDataset(bach.bars, transpose=False)[bar]
    assert torch.equal(prev_roll[0], torch.from_numpy(bach.melody(int(prev[bar]))).float())
    unlinked = int(np.flatnonzero(prev < 0)[0])
    assert not bach[bach.index_of(unlinked, 0)][1].any()                    # zeros without a previous bar


def test_item_shapes_types_and_runs(bach):
    assert len(bach) == 12 * bach.num_bars
    bar, prev_bar, chord = bach[5]
    assert bar.shape == prev_bar.shape == (1, 16, 128) and chord.shape == (13,)
    assert bar.dtype == prev_bar.dtype == chord.dtype == torch.float32
    assert set(bar.unique().tolist()) <= {0.0, 1.0} and bar.sum(-1).max() == 1     # monophonic
    assert chord[:12].sum() == 1
    assert torch.equal(bach[-1][0], bach[len(bach) - 1][0])
    with pytest.raises(IndexError):
        bach[len(bach)]
    runs = bach.consecutive_runs(8)
    assert runs and all((np.diff(r) == 1).all() for r in runs[:50])
    rolls, chords = bach.melody_run(runs[0])
    assert rolls.shape == (8, 16, 128) and chords.shape == (8, 13)


# -- transposition and folding ----------------------------------------------------------------------

def test_transposition_by_hand(bach):
    bar = _bar_with_chord(bach, parse_chord("C"))
    index = bach.index_of(bar, +2)
    assert bach.locate(index) == (bar, 2)
    roll, _, chord = bach[index]
    assert torch.equal(chord, torch.from_numpy(chord_vector(parse_chord("D"))))      # C major -> D major
    expected = fold_pitches(bach.bars["pitch"][bar].astype(int) + 2 * (bach.bars["pitch"][bar] >= 0), (60, 84))
    got = np.where(roll[0].numpy().any(1), roll[0].numpy().argmax(1), -1)
    assert got.tolist() == expected.tolist()
    unfolded = BarDataset(bach.bars, pitch_range=None)
    source = bach.bars["pitch"][bar].astype(int)
    assert unfolded.pitches(bar, 2).tolist() == np.where(source >= 0, source + 2, -1).tolist()   # exactly +2
    # onsets move with the notes
    onsets = bach.onsets(index)
    assert onsets.shape == (16, 128) and (onsets <= roll[0].numpy().astype(bool)).all()
    assert onsets.any(1).tolist() == bach.bars["onset"][bar].tolist()


def test_all_twelve_shifts_rotate_chords_consistently(bach):
    bar = _bar_with_chord(bach, parse_chord("Am"))
    indices = [bach.index_of(bar, s) for s in range(-6, 6)]
    assert indices == list(range(bar * 12, bar * 12 + 12))
    chords = bach.chords_of(indices)
    assert chords.shape == (12, 13) and chords.dtype == np.float32
    roots = chords[:, :12].argmax(1)
    assert roots.tolist() == [(9 + s) % 12 for s in range(-6, 6)] and (chords[:, 12] == 1).all()
    unfolded = BarDataset(bach.bars, pitch_range=None)
    pcs = [set((unfolded.pitches(bar, s)[unfolded.pitches(bar, s) >= 0] % 12).tolist()) for s in range(-6, 6)]
    assert all(p == {(q + s) % 12 for q in pcs[6]} for s, p in zip(range(-6, 6), pcs))
    plain = BarDataset(bach.bars, transpose=False)
    assert len(plain) == bach.num_bars and plain.locate(bar) == (bar, 0)


def test_folding_keeps_notes_inside_window(bach):
    for window in [(60, 84), (55, 67), (48, 72)]:
        data = BarDataset(bach.bars, pitch_range=window)
        pitches = np.stack([data.pitches(np.arange(data.num_bars), s) for s in range(-6, 6)])
        notes = pitches[pitches >= 0]
        assert window[0] <= notes.min() and notes.max() < window[1]
        assert ((pitches >= 0) == (bach.bars["pitch"][None] >= 0)).all()            # rests stay rests
        raw = np.stack([bach.bars["pitch"].astype(int) + s for s in range(-6, 6)])
        assert ((notes - raw[pitches >= 0]) % 12 == 0).all()                          # octave moves only
    assert fold_pitches(np.array([-1, 48, 60, 83, 84, 100]), (60, 84)).tolist() == [-1, 60, 60, 83, 72, 76]
    for bad in [(60, 70), (-1, 40), (100, 130)]:
        with pytest.raises(ValueError, match="pitch_range"):
            BarDataset(bach.bars, pitch_range=bad)


def test_save_load_roundtrip_and_validation(bach, tmp_path):
    part = {k: v[:40] for k, v in bach.bars.items() if k in FIELDS}
    part["piece_names"] = bach.bars["piece_names"][: int(part["piece"].max()) + 1]
    path = save_bar_set(part, tmp_path / "part.npz")
    again = save_bar_set(part, tmp_path / "again.npz")
    assert path.read_bytes() == again.read_bytes()                                    # deterministic
    loaded = load_bar_set(path)
    assert all(np.array_equal(loaded[k], part[k]) for k in part)
    both = concat_bar_sets([part, part])
    assert len(both["pitch"]) == 80 and len(both["piece_names"]) == 2 * len(part["piece_names"])
    assert (both["prev_index"][40:][part["prev_index"] >= 0] >= 40).all()
    broken = dict(part, prev_index=np.arange(40, dtype=np.int32))                   # points forward to itself
    with pytest.raises(ValueError, match="prev_index"):
        BarDataset(broken)
    with pytest.raises(ValueError, match="missing fields"):
        BarDataset({k: v for k, v in part.items() if k != "onset"})
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        BarDataset.from_npz(tmp_path / "nope.npz")


# -- MIDI import ------------------------------------------------------------------------------------

PROGRESSION = ["C", "G", "Am", "F"]
VOICINGS = [[48, 52, 55], [43, 47, 50], [45, 48, 52], [41, 45, 48]]          # block chords C G Am F


def _melody(voicings=VOICINGS) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Quarter notes on each bar's chord tones two octaves up (root, third, third again, fifth); the
    last beat of the song is a rest. Returns the roll, its onsets and the expected pitch per step."""
    pitches = [p + 24 for v in voicings for p in (v[0], v[1], v[1], v[2])]
    pitches[-1] = -1
    roll = np.zeros((16 * len(voicings), 128), bool)
    onsets = np.zeros_like(roll)
    for beat, p in enumerate(pitches):
        if p >= 0:
            roll[beat * 4:beat * 4 + 4, p] = onsets[beat * 4, p] = True
    return roll, onsets, [p for p in pitches for _ in range(4)]


def _write_song(path, voicings=VOICINGS, *, with_chords: bool = True) -> None:
    """A 4/4 MIDI file: track 0 "melody" (see :func:`_melody`), track 1 "chords" (one block chord a bar)."""
    roll, onsets, _ = _melody(voicings)
    blocks = [(i * 16, i * 16 + 16, v) for i, v in enumerate(voicings)] if with_chords else None
    pianoroll_to_midi(roll, path, onsets=onsets, chords=blocks, tempo=100)


def test_two_track_midi_roundtrip(tmp_path):
    path = tmp_path / "song.mid"
    _write_song(path)
    bars = bars_from_midi(path)
    _, _, steps = _melody()
    assert bars["pitch"].shape == (4, 16) and bars["pitch"].reshape(-1).tolist() == steps
    assert [Chord(int(r), bool(m)) for r, m in zip(bars["chord_root"], bars["chord_minor"])] == \
        [parse_chord(c) for c in PROGRESSION]
    assert bars["prev_index"].tolist() == [-1, 0, 1, 2] and bars["piece_names"].tolist() == [str(path)]
    expected_onsets = np.zeros(64, bool)
    expected_onsets[0:60:4] = True                                    # repeated thirds are struck again
    assert bars["onset"].reshape(-1).tolist() == expected_onsets.tolist()
    # explicit track choice by index and name gives the same; the chord track as melody differs
    for track in (0, "melody"):
        assert np.array_equal(bars_from_midi(path, melody_track=track)["pitch"], bars["pitch"])
    assert bars_from_midi(path, melody_track="chords")["pitch"].max() < 60
    with pytest.raises(ValueError, match="no pitched track named 'lead'"):
        bars_from_midi(path, melody_track="lead")
    # data items: transposed, folded (default window 60..84), chords as written
    data = BarDataset(bars)
    _, prev, chord = data[data.index_of(2, 0)]
    assert torch.equal(chord, torch.from_numpy(chord_vector(parse_chord("Am"))))
    assert torch.equal(prev[0], data[data.index_of(1, 0)][0][0])
    melody_pcs = {p % 12 for p in steps[32:48]}
    assert melody_pcs <= chord_pitch_classes(parse_chord("Am"))


def test_melody_alone_and_folder(tmp_path):
    _write_song(tmp_path / "a.mid")
    _write_song(tmp_path / "b.midi", with_chords=False)                     # melody only: chord from the melody
    alone = bars_from_midi(tmp_path / "b.midi")
    assert [Chord(int(r), bool(m)) for r, m in zip(alone["chord_root"], alone["chord_minor"])] == \
        [parse_chord(c) for c in PROGRESSION]
    data = BarDataset.from_midi_folder(tmp_path)
    assert data.num_bars == 8 and data.num_pieces == 2 and len(data) == 96
    assert data.bars["prev_index"].tolist() == [-1, 0, 1, 2, -1, 4, 5, 6]
    with pytest.raises(FileNotFoundError, match="empty"):
        (tmp_path / "empty").mkdir()
        BarDataset.from_midi_folder(tmp_path / "empty")


def test_three_four_and_corrupt_midi_raise_naming_the_file(tmp_path):
    import pretty_midi

    waltz = tmp_path / "waltz.mid"
    pm = pianoroll_to_midi(np.eye(48, 128, 60, dtype=bool))
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0)]
    pm.write(str(waltz))
    with pytest.raises(ValueError, match="waltz.mid.*no 4/4 bars.*3/4"):
        bars_from_midi(waltz)
    mixed = tmp_path / "mixed.mid"                                       # 2 bars of 3/4, then 4/4
    roll, onsets, steps = _melody()
    pm = pianoroll_to_midi(np.concatenate([np.eye(24, 128, 60, dtype=bool), roll]), tempo=120,
                           onsets=np.concatenate([np.eye(24, 128, 60, dtype=bool), onsets]))
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(4, 4, 3.0)]
    pm.write(str(mixed))
    assert bars_from_midi(mixed)["pitch"].reshape(-1).tolist() == steps
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06garbage" + bytes(range(40)))
    with pytest.raises(ValueError, match="corrupt.mid"):
        bars_from_midi(corrupt)
    empty = tmp_path / "empty.mid"
    pianoroll_to_midi(np.zeros((16, 128), bool), empty)
    with pytest.raises(ValueError, match="empty.mid"):
        bars_from_midi(empty)
    with pytest.raises(FileNotFoundError, match="missing.mid"):
        bars_from_midi(tmp_path / "missing.mid")
    with pytest.raises(ValueError, match="corrupt.mid"):                  # files are read in sorted order
        BarDataset.from_midi_folder(tmp_path, skip_errors=False)
    skip = r"skipped 3 of 4 MIDI files in .*: corrupt.mid: .*; empty.mid: .*; waltz.mid"
    with pytest.warns(UserWarning, match=skip):                           # one warning, counted
        assert BarDataset.from_midi_folder(tmp_path).num_pieces == 1


def test_module_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, multigan.music.data; "
            "print(any(m in sys.modules for m in ('pretty_midi', 'music21', 'mido')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_batched_fetch_equals_item_by_item(bach):
    """The DataLoader's batched fetch (``__getitems__``) returns exactly what indexing returns, with
    transpositions, first bars of pieces (silent previous bar) and negative indices."""
    rng = np.random.default_rng(0)
    first_bars = [bach.index_of(b, 0) for b in range(bach.num_bars) if bach.previous(b) < 0][:3]
    indices = [int(i) for i in rng.integers(0, len(bach), 64)] + first_bars + [-1, 0]
    for index, got in zip(indices, bach.__getitems__(indices)):
        want = bach[index]
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and torch.equal(a, b), index
    batch = next(iter(torch.utils.data.DataLoader(bach, batch_size=8)))
    assert [tuple(t.shape) for t in batch] == [(8, 1, 16, 128), (8, 1, 16, 128), (8, 13)]
    with pytest.raises(IndexError, match="out of range"):
        bach.__getitems__([0, len(bach)])
