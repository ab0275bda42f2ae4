"""Compose melodies over a chord progression with the shipped MidiNet and write MIDI, WAV and a PNG.

    python examples/generate_music.py --chords "C G Am F C G F C" --out examples_out/music --n 3
"""

import argparse
from pathlib import Path

from multigan.cli import HelpFormatter
from multigan.music import MidiNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--chords", default="C G Am F C G F C", help="one chord symbol per bar")
    parser.add_argument("--out", default="examples_out/music", help="output folder")
    parser.add_argument("--n", type=int, default=3, help="how many melodies (seeds 0..n-1)")
    parser.add_argument("--model", default="bach", help="shipped model name or checkpoint folder")
    parser.add_argument("--prime", default=None, help="MIDI file whose first bar starts the melody")
    args = parser.parse_args()

    model = MidiNet.from_pretrained(args.model)
    out = Path(args.out)
    for seed in range(args.n):
        song = model.generate(args.chords, seed=seed, prime=args.prime)
        for path in (song.write_midi(out / f"melody_{seed}.mid"), song.write_audio(out / f"melody_{seed}.wav"),
                     song.plot(out / f"roll_{seed}.png")):
            print(path)


if __name__ == "__main__":
    main()
