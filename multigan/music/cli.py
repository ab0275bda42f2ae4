"""The command line of the music modality (``multigan train|sample|eval music``) and its
part of ``multigan demo``; training itself is :func:`.recipe.train`.

    multigan train music --out runs/bach --steps 12000            # Bach chorales (shipped asset)
    multigan train music --midi-folder my_midis/ --out runs/mine   # your own 4/4 MIDI files
    multigan sample music --chords "C G Am F" --out melody.mid [--audio melody.wav] [--plot roll.png]
    multigan eval music --model bach --n 200                       # metrics: data vs generated
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Sequence

from multigan.cli import add_json_argument, add_seed_argument, chosen_seed, modality_parser, print_metrics
from multigan.core.options import add_options, parse_options

from .evaluate import evaluate_model, format_metrics
from .recipe import MusicOptions, train

__all__ = ["demo", "train_options", "cli"]


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: a melody over C G Am F C G F C from the shipped model (MIDI, WAV, PNG)."""
    from .models import MidiNet

    out_dir = Path(out_dir)
    model = MidiNet.from_pretrained("bach")
    song = model.generate(["C", "G", "Am", "F", "C", "G", "F", "C"], seed=seed)
    return [song.write_midi(out_dir / "melody.mid"), song.write_audio(out_dir / "melody.wav"),
            song.plot(out_dir / "roll.png")]


def train_options(argv: Sequence[str]) -> MusicOptions:
    """The :class:`MusicOptions` of a ``multigan train music`` command line (``--out`` aside)."""
    return parse_options(MusicOptions, _parser("train").parse_args(list(argv)))


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "music")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        add_options(p, MusicOptions)
    elif command == "sample":
        p.add_argument("--chords", required=True, help='chord symbols, one per bar, e.g. "C G Am F"')
        p.add_argument("--out", required=True, help="MIDI file to write (.mid)")
        p.add_argument("--model", default="bach", help="shipped model name or checkpoint folder")
        add_seed_argument(p)
        p.add_argument("--prime", default=None, help="MIDI file whose first bar starts the chain")
        p.add_argument("--tempo", type=float, default=120.0)
        p.add_argument("--audio", default=None, help="also write a WAV/FLAC rendering here")
        p.add_argument("--plot", default=None, help="also write a piano-roll PNG here")
        p.add_argument("--polyphonic", action="store_true", help="keep every pitch above the threshold")
    elif command == "eval":
        p.add_argument("--model", default="bach")
        p.add_argument("--n", type=int, default=200, help="melodies (of 8 bars) to generate")
        p.add_argument("--midi-folder", default=None)
        p.add_argument("--seed", type=int, default=0)
        add_json_argument(p)
    else:
        raise NotImplementedError(f"'multigan {command} music' does not exist; use train, sample or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval music``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(MusicOptions, args), command="multigan train music " + shlex.join(argv))
        print(f"model written to {final}")
        return 0
    from .models import MidiNet
    model = MidiNet.from_pretrained(args.model)
    if command == "sample":
        from multigan.io.audio import AUDIO_SUFFIXES
        from multigan.io.image import IMAGE_SUFFIXES
        from multigan.io.utils import check_suffix

        if not args.out.lower().endswith((".mid", ".midi")):
            raise ValueError(f"--out must be a .mid file, got {args.out!r}")
        if args.audio:                                  # every output checked before the first file is written
            check_suffix(args.audio, AUDIO_SUFFIXES, "--audio")
        if args.plot:
            check_suffix(args.plot, IMAGE_SUFFIXES, "--plot")
        from multigan.core.atomic import atomic_files

        song = model.generate(args.chords, seed=chosen_seed(args), prime=args.prime, tempo=args.tempo,
                              polyphonic=args.polyphonic)
        song.check_writable(audio=bool(args.audio), plot=bool(args.plot))
        targets = [(args.out, song.write_midi), (args.audio, song.write_audio), (args.plot, song.plot)]
        targets = [(path, write) for path, write in targets if path]
        with atomic_files([path for path, _ in targets]) as tmps:      # all written, or none of them
            for tmp, (_, write) in zip(tmps, targets):
                write(tmp)
        print("\n".join(str(path) for path, _ in targets))
        return 0
    from .data import BarDataset
    dataset = BarDataset.from_midi_folder(args.midi_folder) if args.midi_folder else BarDataset.bach_chorales()
    table = evaluate_model(model, dataset, n=args.n, seed=args.seed)
    print_metrics(table, format_metrics(table), args.json)
    return 0

