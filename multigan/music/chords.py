"""Chords as MidiNet sees them: a root pitch class plus a minor flag (13-d condition vector).

Other qualities are mapped to the nearest of the 24 major/minor triads (dominant 7th → major,
diminished → minor, …) by :func:`estimate_chord`, which matches pitch-class weights against the
triad templates.

Example:
    >>> parse_chord("F#m")
    Chord(root=6, minor=True)
    >>> chord_vector(parse_chord("Am")).tolist()[9], chord_vector(parse_chord("Am")).tolist()[12]
    (1.0, 1.0)
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["Chord", "parse_chord", "parse_progression", "chord_vector", "chord_pitch_classes", "estimate_chord",
           "chord_name", "triad_pitches", "CHORD_DIM", "PITCH_NAMES"]

CHORD_DIM = 13
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SYMBOL = re.compile(r"^([A-Ga-g])([#b♯♭]*)(.*)$")
# Quality suffixes → minor flag (nearest major/minor triad).
_MINOR = {"m", "min", "mi", "-", "m7", "min7", "m6", "m9", "m11", "dim", "o", "dim7", "o7", "m7b5", "ø", "ø7"}
_MAJOR = {"", "maj", "M", "maj7", "M7", "7", "9", "11", "13", "6", "sus2", "sus4", "sus", "aug", "+", "add9",
          "dom7", "5"}


class Chord(NamedTuple):
    """A triad: ``root`` pitch class (0 = C … 11 = B) and ``minor`` (False = major)."""

    root: int
    minor: bool


def parse_chord(symbol: str) -> Chord:
    """Parse a chord symbol such as ``C``, ``Am``, ``F#m7``, ``Bb``, ``Gdim``, ``D7``.

    Raises:
        ValueError: naming the symbol when it is not a recognised chord.
    """
    if not isinstance(symbol, str):
        raise TypeError(f"chord symbol must be a string, got {type(symbol).__name__}")
    match = _SYMBOL.match(symbol.strip())
    if not match:
        raise ValueError(f"unknown chord symbol {symbol!r}: expected a root A–G, optional #/b, and a quality "
                         f"such as '', 'm', '7', 'm7', 'dim'")
    letter, accidentals, quality = match.groups()
    quality = quality.split("/")[0]                       # slash chords: the bass is ignored
    if quality not in _MINOR and quality not in _MAJOR:
        raise ValueError(f"unknown chord symbol {symbol!r}: quality {quality!r} is not one of "
                         f"{sorted(q for q in _MAJOR | _MINOR if q)}")
    root = _LETTER[letter.upper()] + accidentals.count("#") + accidentals.count("♯") \
        - accidentals.count("b") - accidentals.count("♭")
    return Chord(root % 12, quality in _MINOR)


def parse_progression(chords: str | Sequence[str]) -> list[Chord]:
    """``"C G Am F"`` or ``["C", "G", "Am", "F"]`` → list of :class:`Chord`."""
    symbols = chords.split() if isinstance(chords, str) else list(chords)
    if not symbols:
        raise ValueError("the chord progression is empty")
    return [parse_chord(s) for s in symbols]


def chord_name(chord: Chord) -> str:
    """``Chord(9, True)`` → ``"Am"``."""
    return PITCH_NAMES[chord.root] + ("m" if chord.minor else "")


def chord_vector(chord: Chord) -> np.ndarray:
    """The 13-d MidiNet condition: one-hot root (12) + minor flag (1), float32."""
    vec = np.zeros(CHORD_DIM, np.float32)
    vec[chord.root] = 1.0
    vec[12] = float(chord.minor)
    return vec


def triad_pitches(chord: Chord, octave: int = 4) -> list[int]:
    """MIDI pitches of the root-position triad with its root in ``octave`` (C4 = 60)."""
    root = 12 * (octave + 1) + chord.root
    return [root, root + (3 if chord.minor else 4), root + 7]


def chord_pitch_classes(chord: Chord) -> frozenset[int]:
    """Pitch classes of the triad: root, third (minor or major), fifth."""
    return frozenset(p % 12 for p in triad_pitches(chord))


def estimate_chord(pitch_class_weights: Sequence[float]) -> Chord:
    """Nearest major/minor triad to 12 pitch-class weights (e.g. note durations in a bar).

    Score = weight on the triad's tones minus half the weight outside them; ties go to the
    chord whose root carries more weight, then to major.
    """
    w = np.asarray(pitch_class_weights, dtype=np.float64)
    if w.shape != (12,):
        raise ValueError(f"pitch_class_weights must have 12 values, got shape {w.shape}")
    if not np.any(w > 0):
        raise ValueError("cannot estimate a chord from an empty bar (all weights are zero)")
    total = w.sum()
    best, best_key = None, None
    for minor in (False, True):
        for root in range(12):
            chord = Chord(root, minor)
            inside = sum(w[pc] for pc in chord_pitch_classes(chord))
            key = (inside - 0.5 * (total - inside), w[root], not minor)
            if best_key is None or key > best_key:
                best, best_key = chord, key
    return best
