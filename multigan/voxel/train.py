"""Training, evaluation and the command line of the voxel modality.

    multigan train voxel --out runs/furniture --steps 6000                  # shipped furniture set
    multigan train voxel --folder my_meshes/ --out runs/mine                # root/<class>/*.obj|off|stl|ply|glb|binvox
    multigan sample voxel --label chair -n 4 --out shapes/ [--format glb] [--preview shapes/preview.png]
    multigan eval voxel --model furniture-32 --n 200                        # validity, coverage, MMD, diversity
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from multigan.cli import add_count_arguments, add_seed_argument, checked_count, chosen_seed, modality_parser
from multigan.core.options import RunOptions, add_options, common, option, parse_options, resolve_options
from multigan.io.utils import safe_file_stems

from .data import training_dataset
from .evaluate import evaluate_model, format_metrics, recalibrate_generator, reference_dataset
from .models import PLACEMENTS

__all__ = ["VoxelOptions", "train", "train_options", "evaluate_model", "format_metrics", "cli", "demo"]


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
        table = evaluate_model(model, reference_dataset(model, o.folder), n=o.eval_n, seed=o.seed)
        model.to(run.trainer.device)
    return run.export(preset=o.preset, augment=o.augment,
                      data=o.folder or "sweethome3d-furniture (multigan/assets/voxel/furniture.npz)",
                      examples=len(dataset), classes=dataset.classes,
                      batchnorm="EMA generator's BatchNorm statistics re-estimated on 16×64 samples", metrics=table)


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: a chair (GLB), a table (OBJ) and a preview PNG from the shipped model.

    Every shape is drawn with ``whole=True``, ``repair=REPAIR_STEPS`` and ``bridge=BRIDGE_LOW`` (the
    latent moved until the shape is whole, pieces joined through faint voxels, then redrawn until it
    is one piece, specks of at most 2 % removed), so the table has its legs and the preview shows
    what the files hold.
    """
    from .models import GAN3D, REPAIR_STEPS
    from .pipeline import BRIDGE_LOW

    out_dir = Path(out_dir)
    model = GAN3D.from_pretrained("furniture-32")
    draw = {"seed": seed, "whole": True, "repair": REPAIR_STEPS, "bridge": BRIDGE_LOW}
    chair = model.generate(1, label="chair", **draw)
    table = model.generate(1, label="table", **draw)
    preview = model.generate(len(model.classes), label=list(model.classes), **draw)
    return [*chair.write_mesh(out_dir / "chair.glb"), *table.write_mesh(out_dir / "table.obj"),
            preview.render(out_dir / "preview.png")]


def _repair_argument(p: argparse.ArgumentParser) -> None:
    from .models import REPAIR_STEPS

    p.add_argument("--repair", type=int, nargs="?", const=REPAIR_STEPS, default=0, metavar="STEPS",
                   help="move the latent of every shape not in one piece until it is, by at most STEPS Adam "
                        f"steps (default {REPAIR_STEPS} when given without a value)")


def _bridge_argument(p: argparse.ArgumentParser) -> None:
    from .pipeline import BRIDGE_LOW

    p.add_argument("--bridge", type=float, nargs="?", const=BRIDGE_LOW, default=None, metavar="LOW",
                   help="join detached pieces to the main body through voxels of occupancy >= LOW "
                        f"(default {BRIDGE_LOW} when given without a value)")


def train_options(argv: Sequence[str]) -> VoxelOptions:
    """The :class:`VoxelOptions` of a ``multigan train voxel`` command line (``--out`` aside)."""
    return parse_options(VoxelOptions, _parser("train").parse_args(list(argv)))


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "voxel")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        add_options(p, VoxelOptions)
    elif command == "sample":
        p.add_argument("--out", required=True, help="folder for the mesh files")
        p.add_argument("--label", default=None, help="class name (see `multigan info`) for conditional models")
        add_count_arguments(p, 4, 256, "shapes")
        p.add_argument("--model", default="furniture-32", help="shipped model name or checkpoint folder")
        add_seed_argument(p)
        p.add_argument("--format", default="glb", choices=["obj", "stl", "ply", "glb", "off"])
        p.add_argument("--smooth", type=int, default=3, help="Taubin smoothing passes")
        p.add_argument("--preview", default=None, help="also write a preview PNG here")
        p.add_argument("--color", default=None, metavar="R,G,B",
                       help="material colour, three values in [0, 1] or #rrggbb (default: one per class); "
                            "GLB material, OBJ gets a .mtl beside it")
        p.add_argument("--whole", action="store_true",
                       help="redraw every shape not in one piece (specks of at most 2 %% aside), up to 50 times")
        _repair_argument(p)
        _bridge_argument(p)
    elif command == "eval":
        p.add_argument("--model", default="furniture-32")
        p.add_argument("--n", type=int, default=200, help="shapes generated per class")
        p.add_argument("--folder", default=None)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--whole", action="store_true", help="score generate(whole=True) samples (rejection sampling)")
        p.add_argument("--chamfer", action="store_true",
                       help="also coverage and MMD with the Chamfer distance between surfaces (in voxels)")
        _repair_argument(p)
        _bridge_argument(p)
        p.add_argument("--raw", action="store_true",
                       help="with a run or checkpoint folder: its raw generator, not the averaged (EMA) one")
    else:
        raise NotImplementedError(f"'multigan {command} voxel' does not exist; use train, sample or eval")
    return p


def _parse_color(text: Optional[str]) -> Optional[tuple[float, float, float]]:
    """``"0.8,0.3,0.2"`` or ``"#cc4d33"`` → RGB in [0, 1]; None stays None."""
    if text is None:
        return None
    value = text.strip()
    try:
        if value.startswith("#") and len(value) == 7:
            rgb = tuple(int(value[k:k + 2], 16) / 255 for k in (1, 3, 5))
        else:
            rgb = tuple(float(v) for v in value.split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise ValueError(f"--color must be three values in [0, 1] (e.g. 0.8,0.3,0.2) or #rrggbb, got {text!r}")
    return rgb  # type: ignore[return-value]


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval voxel``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(VoxelOptions, args), command="multigan train voxel " + " ".join(argv))
        print(f"model written to {final}")
        return 0
    from .models import GAN3D
    if command == "sample":
        checked_count(args, "shapes")
        color = _parse_color(args.color)
    model = GAN3D.from_pretrained(args.model, ema=not getattr(args, "raw", False))
    if command == "sample":
        if args.preview:                                # checked before any mesh is written
            from multigan.io.image import IMAGE_SUFFIXES
            from multigan.io.utils import check_suffix

            check_suffix(args.preview, IMAGE_SUFFIXES, "--preview")
        shapes = model.generate(args.n, label=args.label, seed=chosen_seed(args), whole=args.whole, repair=args.repair,
                                bridge=args.bridge)
        stem = safe_file_stems([args.label or "shape"])[0]       # a label from config.json never escapes --out
        written = shapes.write_mesh(Path(args.out) / f"{stem}_{{i}}.{args.format}", smooth_iterations=args.smooth,
                                    color=color)
        if args.preview:
            try:
                written.append(shapes.render(args.preview))
            except BaseException:                       # meshes and preview belong together: keep neither
                for path in written:
                    Path(path).unlink(missing_ok=True)
                raise
        print("\n".join(str(w) for w in written))
        return 0
    dataset = reference_dataset(model, args.folder)
    table = evaluate_model(model, dataset, n=args.n, seed=args.seed, whole=args.whole, repair=args.repair,
                           bridge=args.bridge, chamfer=args.chamfer, progress=True)
    print(format_metrics(table))
    return 0
