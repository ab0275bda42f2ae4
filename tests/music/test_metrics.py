"""Melody metrics (multigan.music.metrics) on hand-made rolls, with every expected value worked out by hand."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch

from multigan.music import metrics as M
from multigan.music.chords import Chord, chord_vector, parse_progression

C4, CS4, D4, E4, F4, FS4, G4, A4, B4, C5 = 60, 61, 62, 64, 65, 66, 67, 69, 71, 72


def bars(n: int) -> np.ndarray:
    return np.zeros((n, 16, 128), bool)


def c_major_triad_bar() -> np.ndarray:
    """One bar: C4 steps 0-3, E4 steps 4-7, G4 steps 8-11 (4 steps each), rest 12-15."""
    roll = bars(1)
    roll[0, 0:4, C4] = roll[0, 4:8, E4] = roll[0, 8:12, G4] = True
    return roll


def centroid(weights: dict[int, float]) -> list[float]:
    """Harte et al. 2006 tonal centroid written out with math.sin / math.cos (r1 = r2 = 1, r3 = 0.5)."""
    total = sum(weights.values())
    z = [0.0] * 6
    for l, w in weights.items():
        c = w / total
        z[0] += c * 1.0 * math.sin(l * 7 * math.pi / 6)
        z[1] += c * 1.0 * math.cos(l * 7 * math.pi / 6)
        z[2] += c * 1.0 * math.sin(l * 3 * math.pi / 2)
        z[3] += c * 1.0 * math.cos(l * 3 * math.pi / 2)
        z[4] += c * 0.5 * math.sin(l * 2 * math.pi / 3)
        z[5] += c * 0.5 * math.cos(l * 2 * math.pi / 3)
    return z


# --------------------------------------------------------------------------- empty bars, pitch classes

def test_empty_bar_rate() -> None:
    roll = bars(4)
    roll[2, 5, C4] = True                      # 1 of 4 bars has a note -> 3 empty of 4 = 0.75
    assert M.empty_bar_rate(roll) == 0.75
    assert M.empty_bar_rate(bars(3)) == 1.0    # all empty
    assert M.empty_bar_rate(c_major_triad_bar()) == 0.0


def test_used_pitch_classes_counts_octaves_once() -> None:
    roll = bars(4)
    roll[0, 0:8, C4] = roll[0, 8:16, C5] = True     # bar 0: C4 + C5 -> 1 class (C)
    roll[1, 0:8, C4] = roll[1, 8:16, CS4] = True    # bar 1: C4 + C#4 -> 2 classes (C, C#)
    # bar 2 empty (left out); bar 3: G4 + pitch 127 (= G9, 127 % 12 = 7) + D4 -> 2 classes (G, D)
    roll[3, 0, G4] = roll[3, 1, 127] = roll[3, 2, D4] = True
    assert M.used_pitch_classes(roll[:1]) == 1.0
    assert M.used_pitch_classes(roll[1:2]) == 2.0
    assert M.used_pitch_classes(roll) == pytest.approx((1 + 2 + 2) / 3)  # mean over the 3 non-empty bars
    assert math.isnan(M.used_pitch_classes(bars(2)))                     # no non-empty bar


# --------------------------------------------------------------------------- notes and onsets

def test_qualified_note_rate() -> None:
    roll = bars(1)
    roll[0, 0:4, C4] = roll[0, 4, E4] = True   # C4 4 steps (qualified), E4 1 step (not) -> 1/2
    assert M.qualified_note_rate(roll) == 0.5
    assert M.qualified_note_rate(roll, min_steps=1) == 1.0   # both last >= 1 step
    assert M.qualified_note_rate(roll, min_steps=5) == 0.0   # neither lasts 5 steps
    assert math.isnan(M.qualified_note_rate(bars(2)))        # no notes
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="min_steps"):
            M.qualified_note_rate(roll, min_steps=bad)


def test_repeated_notes_via_onsets_count_separately() -> None:
    roll, onsets = bars(1), bars(1)
    roll[0, 0:3, C4] = True                    # C4 sounds on steps 0, 1, 2 ...
    onsets[0, [0, 2], C4] = True               # ... struck at 0 and again at 2 -> notes of 2 and 1 steps
    roll[0, 4:6, D4] = onsets[0, 4, D4] = True  # D4 steps 4-5 (2 steps)
    # without onsets: C4 (3 steps) + D4 (2) = 2 notes, both qualified -> 1.0
    assert M.qualified_note_rate(roll) == 1.0
    assert M.note_density(roll) == 2.0
    # with onsets: C4 (2) + C4 (1) + D4 (2) = 3 notes, 2 qualified -> 2/3
    assert M.qualified_note_rate(roll, onsets) == pytest.approx(2 / 3)
    assert M.note_density(roll, onsets) == 3.0
    # chord tones of C major (C E G): without onsets C4 in, D4 out -> 1/2; with onsets C4, C4 in -> 2/3
    assert M.chord_tone_ratio(roll, [Chord(0, False)]) == 0.5
    assert M.chord_tone_ratio(roll, [Chord(0, False)], onsets) == pytest.approx(2 / 3)
    # onsets where the roll is silent are ignored
    onsets[0, 10, B4] = True
    assert M.note_density(roll, onsets) == 3.0


def test_notes_across_the_bar_line() -> None:
    roll = bars(2)
    roll[0, 15, C4] = roll[1, 0, C4] = True    # C4 on the last step of bar 0 and the first of bar 1
    # without onsets each bar is read alone: two 1-step notes -> none qualified, 2 notes / 2 bars
    assert M.qualified_note_rate(roll) == 0.0
    assert M.note_density(roll) == 1.0
    # onsets say it is one note (struck at bar 0, step 15, no onset at bar 1, step 0): 2 steps long,
    # qualified; counted once, in bar 0 -> 1 note / 2 non-empty bars
    onsets = bars(2)
    onsets[0, 15, C4] = True
    assert M.qualified_note_rate(roll, onsets) == 1.0
    assert M.note_density(roll, onsets) == 0.5
    # the tied note belongs to bar 0, whose chord decides: C (in) / F# (out)
    assert M.chord_tone_ratio(roll, parse_progression("C F#"), onsets) == 1.0
    assert M.chord_tone_ratio(roll, parse_progression("F# C"), onsets) == 0.0
    # an onset at bar 1, step 0 re-strikes it: back to two 1-step notes
    onsets[1, 0, C4] = True
    assert M.qualified_note_rate(roll, onsets) == 0.0
    assert M.note_density(roll, onsets) == 1.0


def test_note_density() -> None:
    roll = bars(3)
    roll[0, 0:4, C4] = roll[0, 4:8, E4] = roll[0, 8:12, G4] = True  # bar 0: 3 notes
    roll[2, 0:16, C4] = True                                        # bar 1 empty; bar 2: 1 note
    assert M.note_density(roll) == 2.0                               # (3 + 1) / 2 non-empty bars
    chord = bars(1)
    chord[0, 0:16, [C4, E4, G4]] = True                              # a held triad is 3 notes
    assert M.note_density(chord) == 3.0
    assert math.isnan(M.note_density(bars(2)))


# --------------------------------------------------------------------------- harmony

def test_tonal_distance_c_major_triad() -> None:
    melody = c_major_triad_bar()               # chroma 4/12 on each of C, E, G = the chord's chroma
    assert M.tonal_distance(melody, [Chord(0, False)]) == pytest.approx(0.0, abs=1e-12)
    # same triad an octave up, and held together instead of arpeggiated: still distance 0
    high = bars(1)
    high[0, :, [C5, E4 + 12, G4 + 12]] = True
    assert M.tonal_distance(high, ["C"]) == pytest.approx(0.0, abs=1e-12)

    # vs F# major (F# A# C# = pitch classes 6, 10, 1), written out from the formula
    expected = math.dist(centroid({0: 1, 4: 1, 7: 1}), centroid({6: 1, 10: 1, 1: 1}))
    # by hand: C-major centroid = (0.4553, 0.4553, 1/3, 2/3, 0.2887, 0); F# major's first four
    # coordinates are the negatives, the fifth equal, so d = 2·sqrt(2·0.4553² + 1/9 + 4/9) = 1.9700
    assert expected == pytest.approx(1.9700029, abs=1e-6)
    got = M.tonal_distance(melody, [Chord(6, False)])
    assert got > 1.0
    assert got == pytest.approx(expected, abs=1e-12)


def test_tonal_distance_is_duration_weighted_and_skips_empty_bars() -> None:
    roll = bars(3)
    roll[0, 0:8, C4] = roll[0, 8:12, E4] = roll[0, 12:16, G4] = True  # chroma C 8/16, E 4/16, G 4/16
    expected = math.dist(centroid({0: 8, 4: 4, 7: 4}), centroid({0: 1, 4: 1, 7: 1}))  # ~0.2573
    assert M.tonal_distance(roll[:1], ["C"]) == pytest.approx(expected, abs=1e-12)
    assert 0.25 < expected < 0.26
    roll[2] = c_major_triad_bar()[0]                                   # bar 1 empty, bar 2 distance 0
    assert M.tonal_distance(roll, ["C", "F#", "C"]) == pytest.approx(expected / 2, abs=1e-12)
    assert math.isnan(M.tonal_distance(bars(2), ["C", "G"]))


def test_tonal_centroid_matches_written_formula() -> None:
    for weights in ({0: 1, 4: 1, 7: 1}, {9: 2, 0: 1, 4: 1}, {l: 1 for l in range(12)}):
        chroma = np.zeros(12)
        for pc, w in weights.items():
            chroma[pc] = w
        np.testing.assert_allclose(M.tonal_centroid(chroma), centroid(weights), atol=1e-12)
    with pytest.raises(ValueError, match="12"):
        M.tonal_centroid(np.ones(11))


def test_chord_tone_ratio() -> None:
    roll = bars(2)
    roll[0, 0:4, C4] = roll[0, 4:8, E4] = roll[0, 8:12, D4] = roll[0, 12:16, G4] = True  # C E D G
    roll[1, 0:4, A4] = roll[1, 4:8, B4] = True                                            # A B
    assert M.chord_tone_ratio(roll[:1], [Chord(0, False)]) == 0.75        # C major: C E G in, D out
    assert M.chord_tone_ratio(roll[:1], [Chord(9, True)]) == 0.5          # A minor (A C E): C, E in
    # two bars, C then Am: bar 0 has 3 of 4, bar 1 has A in, B out -> (3 + 1) / 6 notes
    assert M.chord_tone_ratio(roll, ["C", "Am"]) == pytest.approx(4 / 6)
    assert math.isnan(M.chord_tone_ratio(bars(1), ["C"]))


def test_pitch_in_scale_ratio() -> None:
    roll = bars(1)
    roll[0, 0:4, C4] = roll[0, 4:8, D4] = roll[0, 8:12, E4] = roll[0, 12:16, FS4] = True   # C D E F#
    assert M.pitch_in_scale_ratio(roll, key_root=0) == 0.75              # C major: F# is out
    assert M.pitch_in_scale_ratio(roll, key_root=0, minor=True) == 0.5   # C minor (C D Eb F G Ab Bb): C, D
    assert M.pitch_in_scale_ratio(roll, key_root=7) == 1.0               # G major holds all four
    assert M.pitch_in_scale_ratio(roll) == 1.0                           # best key (G major / E minor)
    assert M.pitch_in_scale_ratio(roll, minor=True) == 1.0               # best minor key: E minor
    chromatic = bars(1)
    chromatic[0, np.arange(12), 60 + np.arange(12)] = True               # all 12 classes, 1 step each
    assert M.pitch_in_scale_ratio(chromatic) == pytest.approx(7 / 12)    # any scale holds 7 of 12
    # counts notes: a re-struck F# (onsets) weighs twice in C major -> C D E in, F# F# out = 3/5
    onsets = bars(1)
    onsets[0, [0, 4, 8, 12, 14], [C4, D4, E4, FS4, FS4]] = True
    assert M.pitch_in_scale_ratio(roll, key_root=0, onsets=onsets) == pytest.approx(3 / 5)
    assert math.isnan(M.pitch_in_scale_ratio(bars(1)))
    with pytest.raises(ValueError, match="key_root"):
        M.pitch_in_scale_ratio(roll, key_root=12)


# --------------------------------------------------------------------------- repetition and diversity

def test_repetition() -> None:
    a, b = bars(1)[0], bars(1)[0]
    a[0:8, C4] = True
    b[0:8, D4] = True
    roll = np.stack([a, a, b, a])              # pairs (a,a) same, (a,b) and (b,a) differ -> 1/3
    assert M.repetition(roll) == pytest.approx(1 / 3)
    assert M.repetition(np.stack([a, a, a])) == 1.0
    assert M.repetition(bars(2)) == 1.0        # two empty bars are identical
    assert math.isnan(M.repetition(a))         # one bar: no pair


def test_mean_pairwise_bar_distance() -> None:
    roll = bars(3)
    roll[0, :, C4] = True                      # A: C4 on all 16 steps
    roll[1, 0:8, C4] = roll[1, 8:16, D4] = True  # B: C4 then D4 -> differs from A on 8 of 16 steps
    # C: empty -> differs from A and from B on all 16 steps
    # pairs (A,B) 8/16, (A,C) 16/16, (B,C) 16/16 -> mean (0.5 + 1 + 1) / 3
    assert M.mean_pairwise_bar_distance(roll) == pytest.approx(2.5 / 3)
    assert M.mean_pairwise_bar_distance(roll[[0, 0]]) == 0.0
    assert math.isnan(M.mean_pairwise_bar_distance(roll[:1]))
    with pytest.raises(ValueError, match="max_pairs"):
        M.mean_pairwise_bar_distance(roll, max_pairs=0)


def test_pairwise_sampling_is_deterministic() -> None:
    for n in (2, 5, 9):
        i, j = M._bar_pairs(n, 1000, 0)
        assert list(zip(i.tolist(), j.tolist())) == list(itertools.combinations(range(n), 2))
    i, j = M._bar_pairs(40, 100, 3)            # 780 pairs, 100 drawn: distinct, valid, i < j
    pairs = set(zip(i.tolist(), j.tolist()))
    assert len(pairs) == 100 and all(0 <= a < b < 40 for a, b in pairs)

    rng = np.random.default_rng(1)
    roll = np.zeros((40, 16, 128), bool)
    roll[np.arange(40)[:, None], np.arange(16), rng.integers(60, 72, (40, 16))] = True
    full = M.mean_pairwise_bar_distance(roll)  # all 780 pairs
    sampled = M.mean_pairwise_bar_distance(roll, max_pairs=100, seed=7)
    assert sampled == M.mean_pairwise_bar_distance(roll, max_pairs=100, seed=7)
    assert abs(sampled - full) < 0.05          # random pitches in one octave: ~11/12 everywhere


# --------------------------------------------------------------------------- evaluate and the registry

def test_evaluate_matches_each_metric() -> None:
    roll, onsets = bars(4), bars(4)
    roll[0] = c_major_triad_bar()[0]
    roll[1, 0:3, C4] = True
    onsets[1, [0, 2], C4] = True
    roll[3] = roll[0]
    chords = parse_progression("C G Am C")
    result = M.evaluate(roll, chords, onsets)
    assert list(result) == list(M.METRICS)
    assert all(isinstance(v, float) for v in result.values())
    assert result["empty_bar_rate"] == 0.25
    assert result["note_density"] == pytest.approx((3 + 2 + 3) / 3)
    assert result["qualified_note_rate"] == pytest.approx(7 / 8)   # only the re-struck 1-step C4 fails
    assert result["repetition"] == 0.0
    assert result["qualified_note_rate"] == M.qualified_note_rate(roll, onsets)
    assert result["chord_tone_ratio"] == M.chord_tone_ratio(roll, chords, onsets)
    assert result["tonal_distance"] == M.tonal_distance(roll, chords)
    assert result["mean_pairwise_bar_distance"] == M.mean_pairwise_bar_distance(roll)


def test_evaluate_batch_averages_over_melodies() -> None:
    one = bars(2)
    one[0] = c_major_triad_bar()[0]            # bar 1 empty
    two = bars(2)
    two[0, 0:4, D4] = two[1, 0:4, D4] = True
    batch = np.stack([one, two])
    shared = M.evaluate(batch, ["C", "C"])
    assert shared["empty_bar_rate"] == pytest.approx((0.5 + 0.0) / 2)
    assert shared["chord_tone_ratio"] == pytest.approx((1.0 + 0.0) / 2)   # melody 2: D is not in C major
    assert shared["repetition"] == pytest.approx((0.0 + 1.0) / 2)
    per_melody = M.evaluate(torch.from_numpy(batch), [["C", "C"], ["G", "G"]])
    assert per_melody["chord_tone_ratio"] == pytest.approx((1.0 + 1.0) / 2)   # D is in G major
    vectors = np.stack([np.stack([chord_vector(c) for c in parse_progression(p)]) for p in ("C C", "G G")])
    assert M.evaluate(batch, vectors) == pytest.approx(per_melody)
    with pytest.raises(ValueError, match="chords"):
        M.evaluate(batch, [["C", "C"], ["G", "G"], ["F", "F"]])
    with pytest.raises(ValueError, match="onsets"):
        M.evaluate(batch, ["C", "C"], onsets=batch[:1])


# --------------------------------------------------------------------------- input types and validation

@pytest.mark.parametrize("convert", [
    lambda r: r,
    lambda r: r.astype(np.uint8),
    lambda r: r.astype(np.uint8) * 255,
    lambda r: r.astype(np.float32),
    lambda r: r.astype(np.float64) * 0.8,
    lambda r: r.astype(np.int64),
    lambda r: torch.from_numpy(r),
    lambda r: torch.from_numpy(r).float(),
], ids=["bool", "uint8", "uint8x255", "float32", "float64", "int64", "torch-bool", "torch-float"])
def test_input_dtypes_agree(convert) -> None:
    roll, onsets = bars(3), bars(3)
    roll[0] = c_major_triad_bar()[0]
    roll[2, 0:3, C4] = roll[2, 5, E4] = True
    onsets[2, [0, 2, 5], [C4, C4, E4]] = True
    expected = M.evaluate(roll, ["C", "F", "G"], onsets)
    assert M.evaluate(convert(roll), ["C", "F", "G"], convert(onsets)) == pytest.approx(expected, nan_ok=True)
    assert M.used_pitch_classes(convert(roll)) == 2.5   # bar 0: C E G, bar 1 empty, bar 2: C E


def test_chords_in_every_form_agree() -> None:
    roll = c_major_triad_bar().repeat(2, axis=0)
    progression = [Chord(0, False), Chord(9, True)]
    vectors = np.stack([chord_vector(c) for c in progression])
    expected = M.tonal_distance(roll, progression)
    for chords in (["C", "Am"], vectors, torch.from_numpy(vectors), list(vectors)):
        assert M.tonal_distance(roll, chords) == expected
    # a single bar takes a single chord
    assert M.tonal_distance(roll[0], Chord(0, False)) == pytest.approx(0.0, abs=1e-12)
    assert M.chord_tone_ratio(roll[0], "C") == 1.0


def test_single_bar_is_one_bar_melody() -> None:
    bar = c_major_triad_bar()[0]               # (16, 128)
    assert M.empty_bar_rate(bar) == 0.0
    assert M.note_density(bar) == 3.0
    assert M.evaluate(bar, ["C"])["tonal_distance"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shape", [(4, 16, 127), (16, 129), (128, 16), (4, 8, 128), (16,), (2, 2, 16, 128)])
def test_bad_roll_shapes_raise(shape) -> None:
    with pytest.raises(ValueError, match=r"rolls must have shape .*" + re.escape(str(shape))):
        M.empty_bar_rate(np.zeros(shape, bool))


def test_bad_inputs_raise() -> None:
    roll = bars(4)
    with pytest.raises(ValueError, match=r"chords has 3 entries but rolls has 4 bars.*\(4, 16, 128\)"):
        M.tonal_distance(roll, ["C", "G", "Am"])
    with pytest.raises(ValueError, match=r"chords has 5 entries"):
        M.chord_tone_ratio(roll, np.stack([chord_vector(Chord(0, False))] * 5))
    with pytest.raises(ValueError, match=r"chords must be .*\(4, 12\)"):
        M.tonal_distance(roll, np.zeros((4, 12)))
    with pytest.raises(ValueError, match=r"chords\[1\]"):
        M.tonal_distance(roll[:2], np.stack([chord_vector(Chord(0, False)), np.zeros(13)]))  # no root
    with pytest.raises(ValueError, match=r"onsets must have the rolls' shape \(4, 16, 128\), got \(2, 16, 128\)"):
        M.qualified_note_rate(roll, bars(2))
    with pytest.raises(ValueError, match="rolls has no bars"):
        M.empty_bar_rate(bars(0))
    with pytest.raises(ValueError, match=">= 0"):
        M.empty_bar_rate(np.full((16, 128), -1.0))
    with pytest.raises(ValueError, match="NaN"):
        M.empty_bar_rate(np.full((16, 128), np.nan))
    with pytest.raises(TypeError, match="rolls"):
        M.empty_bar_rate(None)
    with pytest.raises(ValueError, match="unknown chord"):
        M.tonal_distance(roll[:1], ["H"])

