"""The command line of the video modality (``multigan train|sample|eval video``) and its
part of ``multigan demo``; training itself is :func:`.recipe.train`.

    multigan train video --out runs/mmnist --steps 20000                 # built-in Moving MNIST
    multigan train video --dataset footage --out runs/footage --preset cpu-64  # real clips (opencv-doc)
    multigan train video --folder clips/ --out runs/mine --preset cpu-64  # your videos, root/<class>/*.mp4
    multigan sample video --label 7 -n 4 --out clip.mp4 [--grid]          # MP4/WebM/GIF
    multigan eval video --model moving-mnist --n 200                      # frame accuracy, consistency, motion
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Sequence

from multigan.cli import (
    add_count_arguments,
    add_json_argument,
    add_seed_argument,
    checked_count,
    chosen_seed,
    modality_parser,
    print_metrics,
)
from multigan.core.options import add_options, parse_options

from .evaluate import evaluate_model, format_metrics
from .recipe import VideoOptions, train

__all__ = ["demo", "train_options", "cli"]


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: a clip of a 7 (MP4) and a grid of all ten digits (GIF) from the shipped model."""
    from .models import DVDGAN

    out_dir = Path(out_dir)
    model = DVDGAN.from_pretrained("moving-mnist")
    clip = model.generate(1, label="7", seed=seed)
    grid = model.generate(len(model.classes), label=list(model.classes), seed=seed)
    return [*clip.write_video(out_dir / "clip.mp4", fps=8), *grid.write_video(out_dir / "grid.gif", fps=8, grid=True)]


def train_options(argv: Sequence[str]) -> VideoOptions:
    """The :class:`VideoOptions` of a ``multigan train video`` command line (``--out`` aside)."""
    return parse_options(VideoOptions, _parser("train").parse_args(list(argv)))


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "video")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        add_options(p, VideoOptions)
    elif command == "sample":
        p.add_argument("--out", required=True, help="video file (.mp4 .webm .gif .mkv); {i} for one file per clip")
        p.add_argument("--label", default=None, help="class (a digit for Moving MNIST)")
        add_count_arguments(p, 1, 64, "clips")
        p.add_argument("--model", default="moving-mnist")
        add_seed_argument(p)
        p.add_argument("--fps", type=float, default=8)
        p.add_argument("--grid", action="store_true", help="tile all clips into one video")
        p.add_argument("--scale", type=int, default=None,
                       help="enlarge frames by this whole factor, pixels as blocks (default: shorter side about "
                            "256 px, e.g. 8 for 32 x 32 clips; 1 keeps the model's size)")
    elif command == "eval":
        p.add_argument("--model", default="moving-mnist",
                       help="shipped name, model folder, or a run's checkpoint (runs/x/checkpoints/step-N) or run folder")
        p.add_argument("--raw", action="store_true", help="a checkpoint's raw generator instead of its EMA")
        p.add_argument("--data", default=None,
                       help="compare with this video folder (motion, flicker, diversity) instead of the built-in "
                            "test clips of the model's classes")
        p.add_argument("--n", type=int, default=200)
        p.add_argument("--seed", type=int, default=0)
        add_json_argument(p)
    else:
        raise NotImplementedError(f"'multigan {command} video' does not exist; use train, sample or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval video``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(VideoOptions, args), command="multigan train video " + shlex.join(argv))
        print(f"model written to {final}")
        return 0
    from .models import DVDGAN
    if command == "sample":
        checked_count(args, "clips")                    # before the model loads
    model = DVDGAN.from_pretrained(args.model, ema=not getattr(args, "raw", False))
    if command == "sample":
        clips = model.generate(args.n, label=args.label, seed=chosen_seed(args))
        for path in clips.write_video(args.out, fps=args.fps, grid=args.grid, scale=args.scale):
            print(path)
        return 0
    table = evaluate_model(model, n=args.n, seed=args.seed, data=args.data)
    print_metrics(table, format_metrics(table), args.json)
    return 0

