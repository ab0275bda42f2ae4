"""Music: MidiNet (Yang, Chou & Yang 2017) — melodies over chords, MIDI in and out.

>>> from multigan.music import MidiNet
>>> model = MidiNet.from_pretrained("bach")                               # doctest: +SKIP
>>> song = model.generate(["C", "G", "Am", "F"], seed=0)                   # doctest: +SKIP
>>> song.write_midi("melody.mid"); song.write_audio("melody.wav"); song.plot("roll.png")   # doctest: +SKIP
"""

from .chords import Chord, chord_vector, parse_chord, parse_progression
from .models import MidiNet
from .pipeline import Song
from .cli import cli, demo

__all__ = ["Chord", "MidiNet", "Song", "chord_vector", "cli", "demo", "parse_chord", "parse_progression"]


def _register_benchmarks() -> None:
    from multigan.bench import register_shipped

    from .data import BarDataset

    register_shipped("music-bach", "music", "bach", MidiNet, MidiNet, BarDataset.bach_chorales, 72)


_register_benchmarks()
