"""How the voxel modality trains: :class:`VoxelOptions` and :func:`train` — 3D-GAN's paper rules as
one stage of :func:`multigan.core.recipe.run_stages`, then the metric table and the export.
The command line is in :mod:`.cli`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from multigan.core.options import RunOptions, common, option, resolve_options

from .data import training_dataset
from .evaluate import evaluate_model, recalibrate_generator, reference_dataset
from .models import PLACEMENTS

__all__ = ["VoxelOptions", "train"]


@dataclass
class VoxelOptions(RunOptions):
    """``multigan train voxel`` options."""

    preset: str | dict = option("cpu-32", "architecture: cpu-32 (32³) or paper-64 (64³, Wu et al.); a dict of GAN3D "
                                "arguments from Python or --config")
    latent: str = option("uniform", "latent distribution", choices=("uniform", "normal"))
    discriminator_norm: str = option("batch", "discriminator normalisation: batch (paper) or spectral",
                                     choices=("batch", "spectral"), flag="--d-norm")
    minibatch_std: bool = option(False, "give D the batch's feature spread (Karras 2018)")
    instance_noise: float = option(0.0, "σ of Gaussian noise on D's inputs")
    connectivity_weight: float = option(0.0, "add this times the generated shapes' detached share to G's loss "
                                        "(0 = off)")
    folder: Optional[str] = option(None, "train on root/<class>/*.obj|off|stl|ply|glb|binvox", group="data")
    classes: Optional[list[str]] = option(None, "subset of the furniture classes", group="data", nargs="+")
    augment: str = option("mirror", "training-shape augmentation", group="data", choices=("none", "mirror", "rotate"))
    placement: str = option("centre", "training shapes as voxelised (centre) or each moved down onto the grid's floor",
                            group="data", choices=PLACEMENTS)
    thickness: int = option(1, "make every thin part of a training shape at least this many voxels thick (1 = as is)",
                            group="data")
    steps: int = common("steps", 6000)
    batch_size: int = common("batch_size", 32)
    lr_g: Optional[float] = common("lr_g", None, "G's Adam learning rate (none: 0.0025, the paper's)")
    lr_d: Optional[float] = common("lr_d", None, "D's Adam learning rate (none: 1e-5, the paper's)")
    d_accuracy_gate: Optional[float] = option(0.8, "update D only while its batch accuracy is at most this (paper "
                                              "0.8; 1 = always)", group="trainer")
    objective: Optional[str] = option(None, "loss (none: nonsaturating, the paper's); e.g. wgan-gp (λ 10), hinge",
                                      group="trainer")
    n_critic: int = common("n_critic", 1, "D updates per G update")
    betas: Optional[list[float]] = option(None, "Adam betas of G and D", group="trainer", nargs=2)
    ema_decay: Optional[float] = common("ema_decay", 0.999)
    log_every: int = common("log_every", 100)
    checkpoint_every: int = common("checkpoint_every", 500)
    init_from: Optional[str] = common("init_from", None)
    eval_every: Optional[int] = common("eval_every", None)
    eval_size: int = common("eval_size", 64, "shapes per class per --eval-every score")
    eval_n: int = common("eval_n", 200, "shapes per class scored at the end for training.json's metric table")


def train(out: str | Path, options: Optional[VoxelOptions] = None, *, command: str = "", **overrides: Any) -> Path:
    """Train a class-conditional 3D-GAN through the shared trainer; export the EMA generator.

    ``options``: :class:`VoxelOptions` (keyword ``overrides`` by field name, e.g. ``steps=100``).
    Paper rules unless overridden (Adam β₁ 0.5, lr_G 0.0025, lr_D 1e-5, D gated at 80 % accuracy).
    ``preset`` names an entry of :data:`~multigan.voxel.models.PRESETS` or is such a dict
    (``{"resolution": 32, "channels": (16, 8, 4)}``).
    Writes ``out/checkpoints/`` (resumable), ``out/metrics.jsonl``, snapshots and ``out/final/``
    (fp16 EMA generator + discriminator trunk for :meth:`GAN3D.features` + ``training.json``).
    ``time_limit`` (seconds or ``"2h30m"``) ends training early with a checkpoint; ``resume`` goes on.
    ``init_from`` (an exported model, e.g. ``"furniture-32"``) starts from its weights with fresh
    optimizers (:meth:`Trainer.warm_start <multigan.core.Trainer.warm_start>`).
    ``placement="floor"`` stands every training shape on the grid's floor (:func:`stand_on_floor
    <multigan.voxel.data.stand_on_floor>`) instead of leaving it centred; ``thickness`` > 1 makes
    every thin part of a training shape at least that many voxels thick (:func:`thicken
    <multigan.voxel.data.thicken>`). The model records both, and its evaluation uses data made the same way.
    ``connectivity_weight`` > 0 adds that weight times the generated shapes' mean
    :func:`~multigan.voxel.models.disconnected_share` to G's loss (logged as ``g_connectivity``).
    ``eval_every`` scores ``eval_size`` shapes per class every that many iterations into
    ``out/eval.jsonl`` (:meth:`GAN3D.training_metrics`; training stays bit-identical).
    """
    o = resolve_options(VoxelOptions, options, overrides)
    from multigan.core.recipe import Stage, run_stages

    from .models import GAN3D, PRESETS

    if not isinstance(o.preset, dict) and o.preset not in PRESETS:
        raise ValueError(f"unknown preset {o.preset!r}; choose from {sorted(PRESETS)}, or pass a dict")
    arch = dict(o.preset) if isinstance(o.preset, dict) else PRESETS[o.preset]
    dataset = training_dataset(o.folder, arch["resolution"], o.classes, o.augment, o.placement, o.thickness)
    torch.manual_seed(o.seed)
    model = GAN3D(**arch, classes=dataset.classes, latent=o.latent, discriminator_norm=o.discriminator_norm,
                  minibatch_std=o.minibatch_std, instance_noise=o.instance_noise, placement=o.placement,
                  thickness=o.thickness, connectivity_weight=o.connectivity_weight)     # checks them
    stage = {**GAN3D.trainer_defaults(), "steps": o.steps, "seed": o.seed, "device": o.device,
             "precision": o.precision, "ema_decay": o.ema_decay, "log_every": o.log_every,
             "checkpoint_every": o.checkpoint_every, "snapshot_every": o.checkpoint_every, "snapshot_size": 8,
             "batch_size": o.batch_size, "d_accuracy_gate": o.d_accuracy_gate, "eval_every": o.eval_every,
             "eval_size": o.eval_size, "n_critic": o.n_critic}
    if o.objective is not None:     # e.g. WGAN-GP (3D-IWGAN, Smith & Meger 2017): λ 10, n_critic 5, β (0, 0.9)
        stage["objective"] = o.objective
        stage["objective_options"] = {"gp_weight": 10.0} if o.objective == "wgan-gp" else {}
    if o.betas is not None:
        stage["betas_g"] = stage["betas_d"] = tuple(o.betas)
    stage.update({k: v for k, v in (("lr_g", o.lr_g), ("lr_d", o.lr_d)) if v is not None})
    stage.update(o.trainer)
    run = run_stages(model, [Stage("train", dataset, stage)], out, resume=o.resume, overwrite=o.overwrite,
                     init_from=o.init_from, time_limit=o.time_limit, command=command, options=o)
    if run.trainer.ema is not None:       # BatchNorm statistics re-estimated for the averaged weights
        recalibrate_generator(model, run.trainer.ema.module, seed=o.seed)
    with run.averaged():
        model.cpu()
        with warnings.catch_warnings():          # the folder's skipped files were reported when training began
            warnings.filterwarnings("ignore", message="skipped .* shape files")
            reference = reference_dataset(model, o.folder)
        table = evaluate_model(model, reference, n=o.eval_n, seed=o.seed)
        model.to(run.trainer.device)
    return run.export(preset=o.preset, augment=o.augment,
                      data=o.folder or "sweethome3d-furniture (multigan/assets/voxel/furniture.npz)",
                      examples=len(dataset), classes=dataset.classes,
                      batchnorm="EMA generator's BatchNorm statistics re-estimated on 16×64 samples", metrics=table)

