"""Training, evaluation and the command line of the music modality.

    multigan train music --out runs/bach --steps 12000            # Bach chorales (shipped asset)
    multigan train music --midi-folder my_midis/ --out runs/mine   # your own 4/4 MIDI files
    multigan sample music --chords "C G Am F" --out melody.mid [--audio melody.wav] [--plot roll.png]
    multigan eval music --model bach --n 200                       # metrics: data vs generated
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from multigan.cli import add_seed_argument, chosen_seed, modality_parser
from multigan.core.options import RunOptions, add_options, common, option, parse_options, resolve_options

from .evaluate import evaluate_model, format_metrics

__all__ = ["MusicOptions", "train", "train_options", "evaluate_model", "cli", "demo"]


@dataclass
class MusicOptions(RunOptions):
    """``multigan train music`` options (MidiNet's architecture is fixed: the paper's model)."""

    midi_folder: Optional[str] = option(None, "train on these 4/4 MIDI files instead of the Bach chorales",
                                        group="data")
    steps: int = common("steps", 12000)
    ema_decay: Optional[float] = common("ema_decay", 0.999)
    log_every: int = common("log_every", 200)
    checkpoint_every: int = common("checkpoint_every", 1000)
    init_from: Optional[str] = common("init_from", None)
    eval_every: Optional[int] = common("eval_every", None)
    eval_size: int = common("eval_size", 64, "8-bar melodies per --eval-every score")
    eval_n: int = common("eval_n", 200, "8-bar melodies scored at the end for training.json's metric table")


def train(out: str | Path, options: Optional[MusicOptions] = None, *, command: str = "", **overrides: Any) -> Path:
    """Train MidiNet with its paper rules through the shared trainer; export the EMA generator.

    ``options`` (:class:`MusicOptions`; keyword ``overrides`` by field name, e.g. ``steps=100``)
    say what to train and how. Writes ``out/options.json``, ``out/checkpoints/`` (resumable),
    ``out/metrics.jsonl`` and ``out/final/`` (fp16 EMA generator + ``training.json`` with the
    command, iterations, time and the metric table of ``eval_n`` generated 8-bar melodies).
    ``time_limit`` (seconds or ``"2h30m"``) ends training early with a checkpoint; ``resume`` goes on.
    ``eval_every`` scores ``eval_size`` 8-bar melodies every that many iterations into
    ``out/eval.jsonl`` (:meth:`MidiNet.training_metrics`; training stays bit-identical).
    """
    o = resolve_options(MusicOptions, options, overrides)
    from multigan.core.recipe import Stage, run_stages

    from .data import BarDataset
    from .models import MidiNet

    dataset = BarDataset.from_midi_folder(o.midi_folder) if o.midi_folder else BarDataset.bach_chorales()
    torch.manual_seed(o.seed)
    model = MidiNet()
    stage = {**MidiNet.trainer_defaults(), "steps": o.steps, "seed": o.seed, "device": o.device,
             "precision": o.precision, "ema_decay": o.ema_decay, "log_every": o.log_every,
             "checkpoint_every": o.checkpoint_every, "snapshot_every": o.checkpoint_every, "snapshot_size": 8,
             "eval_every": o.eval_every, "eval_size": o.eval_size, **o.trainer}
    run = run_stages(model, [Stage("train", dataset, stage)], out, resume=o.resume, overwrite=o.overwrite,
                     init_from=o.init_from, time_limit=o.time_limit, command=command, options=o)
    with run.averaged():
        table = evaluate_model(model, dataset, n=o.eval_n, seed=o.seed)
    return run.export(components=["generator"], data=o.midi_folder or "bach_chorales (multigan/assets/music)",
                      examples=len(dataset), metrics=table)


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
    else:
        raise NotImplementedError(f"'multigan {command} music' does not exist; use train, sample or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval music``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(MusicOptions, args), command="multigan train music " + " ".join(argv))
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
    print(format_metrics(evaluate_model(model, dataset, n=args.n, seed=args.seed)))
    return 0
