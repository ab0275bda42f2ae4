"""A generated melody over a chord progression, and its writers (MIDI, audio, piano-roll image)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .chords import Chord, chord_name, chord_pitch_classes, triad_pitches

__all__ = ["Song"]

STEPS_PER_BAR, STEPS_PER_BEAT = 16, 4


@dataclass
class Song:
    """A melody as a bool piano roll ``(bars·16, 128)`` plus the chord of each bar.

    Args:
        roll:    bool ``(T, 128)``, T a multiple of 16.
        chords:  one :class:`Chord` per bar.
        tempo:   beats (quarter notes) per minute.
        onsets:  optional bool ``(T, 128)`` note starts (repeated notes); None merges held pitches.
    """

    roll: np.ndarray
    chords: list[Chord]
    tempo: float = 120.0
    onsets: Optional[np.ndarray] = field(default=None)

    def __post_init__(self) -> None:
        self.roll = np.asarray(self.roll, dtype=bool)
        if self.roll.ndim != 2 or self.roll.shape[1] != 128 or self.roll.shape[0] % STEPS_PER_BAR:
            raise ValueError(f"Song.roll must be (bars·16, 128), got {self.roll.shape}")
        if len(self.chords) != self.bars:
            raise ValueError(f"Song has {self.bars} bars but {len(self.chords)} chords")

    @property
    def bars(self) -> int:
        return self.roll.shape[0] // STEPS_PER_BAR

    def bar_rolls(self) -> np.ndarray:
        """``(bars, 16, 128)`` view of the melody."""
        return self.roll.reshape(self.bars, STEPS_PER_BAR, 128)

    def chord_track(self, octave: int = 3) -> list[tuple[int, int, list[int]]]:
        """Block chords for the MIDI writer: (start step, end step, pitches) per bar, root position."""
        return [(i * STEPS_PER_BAR, (i + 1) * STEPS_PER_BAR, triad_pitches(chord, octave))
                for i, chord in enumerate(self.chords)]

    def write_midi(self, path: str | os.PathLike, *, chords: bool = True, program: int = 0) -> Path:
        """Write the melody (and a block-chord track) as a standard MIDI file."""
        from multigan.io.midi import pianoroll_to_midi
        pianoroll_to_midi(self.roll, path, onsets=self.onsets, steps_per_beat=STEPS_PER_BEAT, tempo=self.tempo,
                          program=program, chords=self.chord_track() if chords else None)
        return Path(path)

    def write_audio(self, path: str | os.PathLike, *, sample_rate: int = 22050, chords: bool = True) -> Path:
        """Render melody (+ quieter chords) with multigan's synthesiser to WAV/FLAC."""
        import torch

        from multigan.io.audio import synthesize, write_audio
        wave = synthesize(self.roll, onsets=self.onsets, sample_rate=sample_rate, steps_per_beat=STEPS_PER_BEAT,
                          tempo=self.tempo)
        if chords:
            backing = np.zeros_like(self.roll)
            for start, end, pitches in self.chord_track():
                backing[start:end, pitches] = True
            accompaniment = synthesize(backing, sample_rate=sample_rate, steps_per_beat=STEPS_PER_BEAT,
                                       tempo=self.tempo)
            n = max(len(wave), len(accompaniment))
            mix = torch.zeros(n)
            mix[:len(wave)] += wave
            mix[:len(accompaniment)] += 0.4 * accompaniment
            wave = 0.9 * mix / mix.abs().max().clamp(min=1e-8)
        return write_audio(wave, path, sample_rate=sample_rate)

    def plot(self, path: str | os.PathLike, *, pitch_range: Optional[tuple[int, int]] = None) -> Path:
        """Save a piano-roll PNG with bar lines, chord names and chord tones shaded."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from multigan.core.atomic import atomic_file
        active = np.nonzero(self.roll.any(0))[0]
        lo, hi = pitch_range or ((int(active.min()) - 3, int(active.max()) + 4) if len(active) else (55, 85))
        fig, ax = plt.subplots(figsize=(max(6, self.bars * 1.6), 4), dpi=100)
        for i, chord in enumerate(self.chords):
            for p in range(lo, hi):
                if p % 12 in chord_pitch_classes(chord):
                    ax.add_patch(plt.Rectangle((i * 16, p - 0.5), 16, 1, color="#e8eef8", lw=0))
            ax.axvline(i * 16, color="#888", lw=0.8)
            ax.text(i * 16 + 0.5, hi - 0.2, chord_name(chord), va="top", fontsize=9)
        t, p = np.nonzero(self.roll[:, lo:hi])
        ax.scatter(t + 0.5, p + lo, marker="s", s=18, color="#1f4e9a")
        ax.set_xlim(0, self.roll.shape[0])
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ax.set_xlabel("sixteenth-note step")
        ax.set_ylabel("MIDI pitch")
        fig.tight_layout()
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        return Path(path)
