"""The command line of the voxel modality (``multigan train|sample|eval voxel``) and its
part of ``multigan demo``; training itself is :func:`.recipe.train`.

    multigan train voxel --out runs/furniture --steps 6000                  # shipped furniture set
    multigan train voxel --folder my_meshes/ --out runs/mine                # root/<class>/*.obj|off|stl|ply|glb|binvox
    multigan sample voxel --label chair -n 4 --out shapes/ [--format glb] [--preview shapes/preview.png]
    multigan eval voxel --model furniture-32 --n 200                        # validity, coverage, MMD, diversity
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Optional, Sequence

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
from multigan.io.utils import safe_file_stems

from .evaluate import evaluate_model, format_metrics, reference_dataset
from .recipe import VoxelOptions, train

__all__ = ["demo", "train_options", "cli"]


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
        add_json_argument(p)
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
        final = train(args.out, parse_options(VoxelOptions, args), command="multigan train voxel " + shlex.join(argv))
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
        meshes = Path(args.out) / f"{stem}_{{i}}.{args.format}"
        many = args.n >= 16                                       # meshing takes about 0.1 s a shape
        if args.preview:        # meshes and preview belong together: the preview is drawn first, into a temporary
            from multigan.core.atomic import atomic_file

            with atomic_file(args.preview) as preview:
                shapes.render(preview)
                written = shapes.write_mesh(meshes, smooth_iterations=args.smooth, color=color, progress=many)
            written.append(Path(args.preview))
        else:
            written = shapes.write_mesh(meshes, smooth_iterations=args.smooth, color=color, progress=many)
        print("\n".join(str(w) for w in written))
        return 0
    dataset = reference_dataset(model, args.folder)
    table = evaluate_model(model, dataset, n=args.n, seed=args.seed, whole=args.whole, repair=args.repair,
                           bridge=args.bridge, chamfer=args.chamfer, progress=True)
    print_metrics(table, format_metrics(table), args.json)
    return 0

