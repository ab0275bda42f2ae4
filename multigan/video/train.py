"""Training, evaluation and the command line of the video modality.

    multigan train video --out runs/mmnist --steps 20000                 # built-in Moving MNIST
    multigan train video --dataset footage --out runs/footage --preset cpu-64  # real clips (opencv-doc)
    multigan train video --folder clips/ --out runs/mine --preset cpu-64  # your videos, root/<class>/*.mp4
    multigan sample video --label 7 -n 4 --out clip.mp4 [--grid]          # MP4/WebM/GIF
    multigan eval video --model moving-mnist --n 200                      # frame accuracy, consistency, motion
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import torch

from multigan.cli import add_count_arguments, add_seed_argument, checked_count, chosen_seed, modality_parser
from multigan.core.trainer import add_run_arguments

from .evaluate import evaluate_model, format_metrics

__all__ = ["train", "evaluate_model", "format_metrics", "cli", "demo"]


DATASETS = ("moving-mnist", "footage")


def training_dataset(folder: Optional[str], frames: int, size: int, channels: int, dataset: str = "moving-mnist"):
    """The training clips :func:`train` uses: ``folder``'s videos, or a built-in set's train split."""
    from .data import Footage, MovingMNIST, VideoFolder

    if folder:
        return VideoFolder(folder, frames=frames, size=size, channels=channels)
    if dataset == "footage":
        return Footage("train", frames=frames, size=size, channels=channels)
    return MovingMNIST("train", frames=frames, size=size)


def train(out: str | Path, *, steps: int = 20000, preset: str | dict = "cpu-32", folder: Optional[str] = None,
          batch_size: int = 16, lr_g: Optional[float] = None, lr_d: Optional[float] = None,
          n_critic: Optional[int] = None, seed: int = 0, device: str = "auto", precision: str = "auto",
          ema_decay: float = 0.999, log_every: int = 100, checkpoint_every: int = 500, resume: bool = False,
          overwrite: bool = False,
          init_from: Optional[str] = None,
          time_limit: Optional[float | str] = None, eval_n: int = 200, eval_every: Optional[int] = None,
          eval_size: int = 64, dataset: str = "moving-mnist",
          command: str = "") -> Path:
    """Train DVD-GAN (hinge loss, dual discriminators) through the shared trainer; export the EMA generator.

    ``preset``: a name from :data:`~multigan.video.models.PRESETS` or a dict of ``DVDGAN`` arguments.
    ``dataset``: the built-in ``"moving-mnist"`` (greyscale digits) or ``"footage"``
    (:class:`~multigan.video.data.Footage`, real RGB clips); both are evaluated at the end
    (:func:`evaluate_model`). ``folder`` trains on your own videos instead (no evaluation).
    ``lr_g``, ``lr_d``, ``n_critic`` (D steps per G step): ``None`` keeps
    :meth:`DVDGAN.trainer_defaults`. ``ema_decay`` may change on resume; the average then continues
    with the new decay. ``time_limit`` (seconds or ``"2h30m"``) ends training early with a checkpoint
    (and exports that iteration's model); ``resume`` goes on from it. ``eval_every`` scores
    ``eval_size`` clips from the EMA generator every that many iterations into ``out/eval.jsonl``
    (:meth:`DVDGAN.training_metrics`; training stays bit-identical); ``eval_n`` clips are scored at the end.
    """
    from multigan.core.recipe import Stage, run_stages

    from .models import DVDGAN, PRESETS

    if not isinstance(preset, dict) and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {list(DATASETS)}, or pass folder")
    arch = dict(preset) if isinstance(preset, dict) else dict(PRESETS[preset])
    source = folder or ("Footage (multigan/assets/video/footage)" if dataset == "footage"
                        else "Moving MNIST (multigan/assets/video)")
    channels = arch.get("channels", 1 if folder is None and dataset == "moving-mnist" else 3)
    dataset = training_dataset(folder, arch["frames"], arch["size"], channels, dataset)
    arch["channels"] = channels
    torch.manual_seed(seed)
    model = DVDGAN(**arch, classes=[str(c) for c in dataset.classes])
    overrides = {k: v for k, v in (("lr_g", lr_g), ("lr_d", lr_d), ("n_critic", n_critic)) if v is not None}
    options = {**DVDGAN.trainer_defaults(), **overrides, "steps": steps, "seed": seed, "device": device,
               "precision": precision, "ema_decay": ema_decay, "log_every": log_every,
               "checkpoint_every": checkpoint_every, "snapshot_every": checkpoint_every, "snapshot_size": 8,
               "batch_size": batch_size, "eval_every": eval_every, "eval_size": eval_size}
    run = run_stages(model, [Stage("train", dataset, options)], out, resume=resume, overwrite=overwrite,
                     init_from=init_from, time_limit=time_limit, command=command)
    table = None
    if folder is None and eval_n:
        with run.averaged():
            table = evaluate_model(model.cpu(), n=eval_n, seed=seed)
        model.to(run.trainer.device)
    return run.export(components=["generator"], preset=preset, data=source, examples=len(dataset), metrics=table)


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: a clip of a 7 (MP4) and a grid of all ten digits (GIF) from the shipped model."""
    from .models import DVDGAN

    out_dir = Path(out_dir)
    model = DVDGAN.from_pretrained("moving-mnist")
    clip = model.generate(1, label="7", seed=seed)
    grid = model.generate(len(model.classes), label=list(model.classes), seed=seed)
    return [*clip.write_video(out_dir / "clip.mp4", fps=8), *grid.write_video(out_dir / "grid.gif", fps=8, grid=True)]


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "video")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        p.add_argument("--folder", default=None, help="train on root/<class>/*.mp4|avi|webm|gif instead")
        p.add_argument("--dataset", default="moving-mnist", choices=DATASETS,
                       help="built-in data without --folder: Moving MNIST, or real footage (opencv-doc clips, RGB)")
        p.add_argument("--preset", default="cpu-32", help="cpu-32, cpu-64 or paper-128")
        p.add_argument("--steps", type=int, default=20000)
        p.add_argument("--batch-size", type=int, default=16)
        p.add_argument("--lr-g", type=float, default=None, help="G's Adam lr (default 1e-4)")
        p.add_argument("--lr-d", type=float, default=None, help="D's Adam lr (default 5e-4)")
        p.add_argument("--n-critic", type=int, default=None, help="D steps per G step (default 2)")
        p.add_argument("--ema-decay", type=float, default=0.999, help="EMA of G's weights (the exported G)")
        p.add_argument("--checkpoint-every", type=int, default=500, help="iterations between checkpoints")
        add_run_arguments(p, "clips", init_from=True)
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
        final = train(args.out, steps=args.steps, preset=args.preset, folder=args.folder, batch_size=args.batch_size,
                      lr_g=args.lr_g, lr_d=args.lr_d, n_critic=args.n_critic, ema_decay=args.ema_decay,
                      seed=args.seed, device=args.device, precision=args.precision, resume=args.resume,
                      overwrite=args.overwrite,
                      init_from=args.init_from,
                      checkpoint_every=args.checkpoint_every, time_limit=args.time_limit, dataset=args.dataset,
                      eval_every=args.eval_every, eval_size=args.eval_size,
                      command="multigan train video " + " ".join(argv))
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
