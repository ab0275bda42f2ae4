"""A generated melody over a chord progression, and its writers (MIDI, audio, piano-roll image)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .chords import PITCH_NAMES, Chord, chord_name, chord_pitch_classes, triad_pitches

__all__ = ["Song", "MAX_PLOT_BARS", "MAX_AUDIO_SECONDS", "note_name"]

STEPS_PER_BAR, STEPS_PER_BEAT = 16, 4


#: the longest song :meth:`Song.plot` draws (160 pixels per bar: 64 bars are about 10,000 pixels wide)
MAX_PLOT_BARS = 64
#: the longest rendering :meth:`Song.write_audio` makes, in seconds (30 minutes: about 160 MB while mixing)
MAX_AUDIO_SECONDS = 1800.0


def note_name(pitch: int) -> str:
    """``60`` → ``"C4"``: the MIDI pitch's name and octave (C4 is middle C)."""
    return f"{PITCH_NAMES[int(pitch) % 12]}{int(pitch) // 12 - 1}"


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

    @property
    def seconds(self) -> float:
        """Duration at the song's tempo (4/4: four beats per bar)."""
        return self.bars * 4 * 60.0 / self.tempo

    def check_writable(self, *, audio: bool = False, plot: bool = False) -> None:
        """Raise ``ValueError`` if the song is too long for :meth:`write_audio` (``audio``) or :meth:`plot`
        (``plot``): see :data:`MAX_AUDIO_SECONDS` and :data:`MAX_PLOT_BARS`. MIDI has no limit."""
        if audio and self.seconds > MAX_AUDIO_SECONDS:
            raise ValueError(f"the song lasts {self.seconds:.0f} s, more than the {MAX_AUDIO_SECONDS:.0f} s an audio "
                             "rendering may; write the MIDI file and render it elsewhere, or use fewer chords")
        if plot and self.bars > MAX_PLOT_BARS:
            raise ValueError(f"the song has {self.bars} bars, more than the {MAX_PLOT_BARS} a piano-roll plot draws; "
                             "plot fewer bars")

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
        """Render melody (+ quieter chords) with multigan's synthesiser to WAV/FLAC (at most
        :data:`MAX_AUDIO_SECONDS`)."""
        import torch

        self.check_writable(audio=True)
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
        """Save a piano-roll PNG (at most :data:`MAX_PLOT_BARS` bars): each note a bar as long as it sounds,
        pitches named (C4 = MIDI 60), bar lines, chord names and the chord tones shaded."""
        self.check_writable(plot=True)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from multigan.core.atomic import atomic_file
        from multigan.io.midi import roll_to_notes
        active = np.nonzero(self.roll.any(0))[0]
        lo, hi = pitch_range or ((int(active.min()) - 3, int(active.max()) + 4) if len(active) else (55, 85))
        fig, ax = plt.subplots(figsize=(max(6, self.bars * 1.6), 4), dpi=100)
        for i, chord in enumerate(self.chords):
            for p in range(lo, hi):
                if p % 12 in chord_pitch_classes(chord):
                    ax.add_patch(plt.Rectangle((i * 16, p - 0.5), 16, 1, color="#e8eef8", lw=0))
            ax.axvline(i * 16, color="#888", lw=0.8)
            ax.text(i * 16 + 0.5, hi - 0.2, chord_name(chord), va="top", fontsize=9)
        for pitch, start, end, _ in roll_to_notes(self.roll, self.onsets):      # one bar per note, as it sounds
            if lo <= pitch < hi:
                ax.add_patch(plt.Rectangle((start + 0.05, pitch - 0.4), end - start - 0.1, 0.8, color="#1f4e9a", lw=0))
        ax.set_xlim(0, self.roll.shape[0])
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ticks = [p for p in range(lo, hi + 1) if p % 12 in (0, 4, 7)] or list(range(lo, hi + 1))
        ax.set_yticks(ticks, [note_name(p) for p in ticks])
        ax.set_xticks(range(0, self.roll.shape[0] + 1, 16), [str(b + 1) for b in range(self.bars + 1)])
        ax.set_xlabel("bar")
        ax.set_ylabel("pitch")
        fig.tight_layout()
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        return Path(path)
