"""Training, evaluation and the command line of the video modality.

    multigan train video --out runs/mmnist --steps 20000                 # built-in Moving MNIST
    multigan train video --dataset footage --out runs/footage --preset cpu-64  # real clips (opencv-doc)
    multigan train video --folder clips/ --out runs/mine --preset cpu-64  # your videos, root/<class>/*.mp4
    multigan sample video --label 7 -n 4 --out clip.mp4 [--grid]          # MP4/WebM/GIF
    multigan eval video --model moving-mnist --n 200                      # frame accuracy, consistency, motion
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from multigan.cli import add_count_arguments, add_seed_argument, checked_count, chosen_seed, modality_parser
from multigan.core.options import RunOptions, add_options, common, option, parse_options, resolve_options

from .evaluate import evaluate_model, format_metrics

__all__ = ["VideoOptions", "train", "train_options", "evaluate_model", "format_metrics", "cli", "demo"]


DATASETS = ("moving-mnist", "footage")


def training_dataset(folder: Optional[str], frames: int, size: int, channels: int, dataset: str = "moving-mnist"):
    """The training clips :func:`train` uses: ``folder``'s videos, or a built-in set's train split."""
    from .data import Footage, MovingMNIST, VideoFolder

    if folder:
        return VideoFolder(folder, frames=frames, size=size, channels=channels)
    if dataset == "footage":
        return Footage("train", frames=frames, size=size, channels=channels)
    return MovingMNIST("train", frames=frames, size=size)


@dataclass
class VideoOptions(RunOptions):
    """``multigan train video`` options."""

    preset: str | dict = option("cpu-32", "architecture: cpu-32, cpu-64 or paper-128 (a dict of DVDGAN arguments "
                                "from Python or --config)")
    folder: Optional[str] = option(None, "train on root/<class>/*.mp4|avi|webm|gif instead (no evaluation)",
                                   group="data")
    dataset: str = option("moving-mnist", "built-in data without --folder: Moving MNIST, or real footage "
                          "(opencv-doc clips, RGB)", group="data", choices=DATASETS)
    steps: int = common("steps", 20000)
    batch_size: int = common("batch_size", 16)
    lr_g: Optional[float] = common("lr_g", None, "G's Adam learning rate (none: 1e-4)")
    lr_d: Optional[float] = common("lr_d", None, "D's Adam learning rate (none: 5e-4)")
    n_critic: Optional[int] = common("n_critic", None, "D steps per G step (none: 2)")
    ema_decay: Optional[float] = common("ema_decay", 0.999)
    log_every: int = common("log_every", 100)
    checkpoint_every: int = common("checkpoint_every", 500)
    init_from: Optional[str] = common("init_from", None)
    eval_every: Optional[int] = common("eval_every", None)
    eval_size: int = common("eval_size", 64, "clips per --eval-every score")
    eval_n: int = common("eval_n", 200, "clips scored at the end for training.json's metric table (0: none)")


def train(out: str | Path, options: Optional[VideoOptions] = None, *, command: str = "", **overrides: Any) -> Path:
    """Train DVD-GAN (hinge loss, dual discriminators) through the shared trainer; export the EMA generator.

    ``options`` (:class:`VideoOptions`; keyword ``overrides`` by field name). ``preset``: a name
    from :data:`~multigan.video.models.PRESETS` or a dict of ``DVDGAN`` arguments. ``dataset``: the
    built-in ``"moving-mnist"`` (greyscale digits) or ``"footage"``
    (:class:`~multigan.video.data.Footage`, real RGB clips); both are evaluated at the end
    (:func:`evaluate_model`). ``folder`` trains on your own videos instead (no evaluation).
    ``lr_g``, ``lr_d``, ``n_critic`` (D steps per G step): ``None`` keeps
    :meth:`DVDGAN.trainer_defaults`. ``ema_decay`` may change on resume; the average then continues
    with the new decay. ``time_limit`` (seconds or ``"2h30m"``) ends training early with a checkpoint
    (and exports that iteration's model); ``resume`` goes on from it. ``eval_every`` scores
    ``eval_size`` clips from the EMA generator every that many iterations into ``out/eval.jsonl``
    (:meth:`DVDGAN.training_metrics`; training stays bit-identical); ``eval_n`` clips are scored at the end.
    """
    o = resolve_options(VideoOptions, options, overrides)
    from multigan.core.recipe import Stage, run_stages

    from .models import DVDGAN, PRESETS

    if not isinstance(o.preset, dict) and o.preset not in PRESETS:
        raise ValueError(f"unknown preset {o.preset!r}; choose from {sorted(PRESETS)}")
    arch = dict(o.preset) if isinstance(o.preset, dict) else dict(PRESETS[o.preset])
    source = o.folder or ("Footage (multigan/assets/video/footage)" if o.dataset == "footage"
                          else "Moving MNIST (multigan/assets/video)")
    channels = arch.get("channels", 1 if o.folder is None and o.dataset == "moving-mnist" else 3)
    dataset = training_dataset(o.folder, arch["frames"], arch["size"], channels, o.dataset)
    arch["channels"] = channels
    torch.manual_seed(o.seed)
    model = DVDGAN(**arch, classes=[str(c) for c in dataset.classes])
    rules = {k: v for k, v in (("lr_g", o.lr_g), ("lr_d", o.lr_d), ("n_critic", o.n_critic)) if v is not None}
    stage = {**DVDGAN.trainer_defaults(), **rules, "steps": o.steps, "seed": o.seed, "device": o.device,
             "precision": o.precision, "ema_decay": o.ema_decay, "log_every": o.log_every,
             "checkpoint_every": o.checkpoint_every, "snapshot_every": o.checkpoint_every, "snapshot_size": 8,
             "batch_size": o.batch_size, "eval_every": o.eval_every, "eval_size": o.eval_size, **o.trainer}
    run = run_stages(model, [Stage("train", dataset, stage)], out, resume=o.resume, overwrite=o.overwrite,
                     init_from=o.init_from, time_limit=o.time_limit, command=command, options=o)
    table = None
    if o.folder is None and o.eval_n:
        with run.averaged():
            table = evaluate_model(model.cpu(), n=o.eval_n, seed=o.seed)
        model.to(run.trainer.device)
    return run.export(components=["generator"], preset=o.preset, data=source, examples=len(dataset), metrics=table)


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
    else:
        raise NotImplementedError(f"'multigan {command} video' does not exist; use train, sample or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval video``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(VideoOptions, args), command="multigan train video " + " ".join(argv))
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
    print(format_metrics(evaluate_model(model, n=args.n, seed=args.seed, data=args.data)))
    return 0
