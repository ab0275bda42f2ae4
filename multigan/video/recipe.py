"""How the video modality trains: :class:`VideoOptions` and :func:`train` — DVD-GAN's rules (hinge
loss, spatial and temporal critics) as one stage of :func:`multigan.core.recipe.run_stages`, then
the metric table and the export. The command line is in :mod:`.cli`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from multigan.core.options import RunOptions, common, option, resolve_options

from .data import DATASETS, training_dataset
from .evaluate import evaluate_model

__all__ = ["VideoOptions", "train"]


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

