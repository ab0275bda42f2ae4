"""The command line of the text-to-image modality (``multigan train|sample|eval text2image``) and its
part of ``multigan demo``; training itself is :func:`.recipe.train`.

    multigan train text2image --out runs/t2i --model stackgan --steps-stage1 3000 --steps-stage2 2000
    multigan train text2image --out runs/cls --model gan-cls --steps-stage1 5000
    multigan sample text2image "a green triangle on the left" --out img.png --model shapes [-n 4] [--seed 0]
    multigan sample text2image "a red circle at the top" --to "a blue square at the bottom" --out lerp.png
    multigan eval text2image --model shapes [--n 500] [--seed 0] [--json metrics.json]
    multigan eval text2image --model runs/emoji/final --data emoji
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

from .data import DATASETS
from .evaluate import evaluate_emoji, evaluate_model, format_metrics
from .recipe import TextImageOptions, train

__all__ = ["demo", "train_options", "cli", "DEMO_CAPTIONS", "EMOJI_DEMO_CAPTIONS"]

#: captions of the demo grid: seen pairs and held-out (colour, shape) pairs
DEMO_CAPTIONS = ("a small red circle on the left", "a large blue triangle at the top",
                 "a green square in the middle", "a large yellow circle at the bottom",
                 "a red triangle on the right", "a small green circle at the top",
                 "a blue square on the left", "a purple circle in the middle")


#: captions of the emoji demo grid: range (animals, food, objects, faces, hearts in colours, skin
#: tones), general captions, and held-out compositions never trained on (the last four)
EMOJI_DEMO_CAPTIONS = ("a cat face", "a red apple", "a steaming bowl", "a rocket", "a yellow heart",
                       "grinning face", "thumbs up, dark skin tone", "an animal", "food", "a flag",
                       "green heart", "purple circle", "waving hand, light skin tone", "blue book")


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: captioned grids (4 samples per caption) from the shipped models — ``grid.png``
    from ``shapes`` (8 captions) and ``emoji.png`` from ``emoji`` (:data:`EMOJI_DEMO_CAPTIONS`)."""
    from multigan.core.module import assets_dir

    from .models import TextImageGAN

    model = TextImageGAN.from_pretrained("shapes")
    files = [model.generate(list(DEMO_CAPTIONS), n=4, seed=seed).write_grid(Path(out_dir) / "grid.png")]
    if (assets_dir() / "checkpoints" / "text2image" / "emoji").is_dir():
        emoji = TextImageGAN.from_pretrained("emoji")
        files.append(emoji.generate(list(EMOJI_DEMO_CAPTIONS), n=4, seed=seed).write_grid(Path(out_dir) / "emoji.png"))
    return files


def train_options(argv: Sequence[str]) -> TextImageOptions:
    """The :class:`TextImageOptions` of a ``multigan train text2image`` command line (``--out`` aside)."""
    return parse_options(TextImageOptions, _parser("train").parse_args(list(argv)))


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "text2image")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        add_options(p, TextImageOptions)
    elif command == "sample":
        p.add_argument("captions", nargs="+", help="one or more captions")
        p.add_argument("--out", required=True, help="image file (.png .jpg); {i} for one file per image")
        p.add_argument("--model", default="shapes", help="shipped model name or checkpoint folder")
        add_count_arguments(p, 1, 256, "images per caption")
        add_seed_argument(p)
        p.add_argument("--to", default=None, help="interpolate from the (single) caption to this one")
        p.add_argument("--steps", type=int, default=8, help="images of an interpolation (--to)")
        p.add_argument("--no-captions", action="store_true", help="grid without captions under the tiles")
    elif command == "eval":
        p.add_argument("--model", default="shapes", help="shipped model name or checkpoint folder")
        p.add_argument("--data", default="shapes", choices=DATASETS,
                       help="what the model was trained on: held-out shapes, or unseen emoji and compositions")
        p.add_argument("--n", type=int, default=500, help="--data shapes: images for held-out (and train) captions")
        p.add_argument("--seed", type=int, default=0)
        add_json_argument(p)
    else:
        raise NotImplementedError(f"'multigan {command} text2image' does not exist; use train, sample or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval text2image``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(TextImageOptions, args),
                      command="multigan train text2image " + shlex.join(argv))
        print(f"model written to {final}")
        return 0
    from .models import TextImageGAN

    if command == "sample":
        checked_count(args, "images per caption")
    model = TextImageGAN.from_pretrained(args.model)
    if command == "eval":
        table = (evaluate_emoji(model, seed=args.seed) if args.data == "emoji"
                 else evaluate_model(model, n=args.n, seed=args.seed))
        print_metrics(table, format_metrics(table), args.json)
        return 0
    if args.to is not None:
        if len(args.captions) != 1:
            raise ValueError("--to interpolates from exactly one caption")
        images = model.interpolate(args.captions[0], args.to, steps=args.steps, seed=chosen_seed(args))
    else:
        images = model.generate(args.captions, n=args.n, seed=chosen_seed(args))
    if "{i}" in args.out:
        files = images.write_images(args.out)
    else:
        files = [images.write_grid(args.out, captions=not args.no_captions)]
    for path in files:
        print(path)
    return 0

