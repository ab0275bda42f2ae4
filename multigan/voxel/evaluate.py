"""Evaluation of voxel models: validity, coverage, MMD, diversity per class, and a shape probe.

    multigan eval voxel --model furniture-32 --n 200
"""

from __future__ import annotations

from typing import Optional

import torch

from .data import training_dataset

__all__ = ["evaluate_model", "format_metrics", "probe_accuracy", "recalibrate_generator", "reference_dataset",
           "training_metrics"]


def reference_dataset(model, folder: Optional[str]):
    """The un-augmented shapes a trained ``model`` is compared with: its classes, placed and
    thickened as its training shapes were."""
    return training_dataset(folder, model.resolution, model.classes or None, "none", model.placement, model.thickness)


def _rotation_variants(voxels: torch.Tensor) -> torch.Tensor:
    """(N, R, R, R) → (N, 8, R, R, R): the 4 rotations about the vertical axis, each also mirrored."""
    from .data import rotate_vertical

    return torch.stack([rotate_vertical(voxels, k, mirror=m) for m in (False, True) for k in range(4)], 1)


@torch.no_grad()
def evaluate_model(model, dataset, *, n: int = 200, seed: int = 0, probe: bool = True,
                   whole: bool = False, repair: int = 0, bridge: Optional[float] = None,
                   chamfer: bool = False, progress: bool = False) -> dict[str, dict[str, float]]:
    """Per-class metrics of ``n`` generated shapes against the dataset's shapes of that class.

    Coverage and MMD use IoU up to the 8 symmetries that augmentation adds (4 rotations about the
    vertical axis × mirror): a reference counts as matched by its best-aligned variant. Diversity
    is the mean pairwise IoU distance, for generated shapes and for the data. Validity is given for
    the raw grids and "after cleanup" (:func:`~multigan.voxel.metrics.valid_after_cleanup`: valid
    once only the largest piece is kept, where the pieces dropped held at most 2 % of the shape's
    voxels, so a table whose legs came off is not valid) and "after bridging" (valid after cleanup
    once :meth:`~multigan.voxel.pipeline.Shapes.bridged` has joined detached pieces through voxels of
    occupancy at least ``BRIDGE_LOW``). ``largest piece`` is the mean share of
    voxels in the largest piece. ``probe`` adds the linear-classifier accuracy on D features
    (held-out 30 % of shapes, by shape). ``whole`` scores ``generate(..., whole=True)`` samples
    (rejection sampling, so valid by construction), to see what that filter costs in coverage and
    diversity. ``repair`` scores ``generate(..., repair=repair)`` samples (latents moved until
    the shapes are whole, :meth:`~multigan.voxel.models.GAN3D.repair_latents`). ``bridge`` scores
    ``generate(..., bridge=bridge)`` samples (then "after bridging" is "after cleanup").
    ``chamfer`` adds coverage and MMD with the Chamfer distance between surfaces (in voxels,
    :func:`~multigan.voxel.metrics.chamfer_matrix`) in place of IoU, with the same symmetries.
    ``progress`` shows a bar over the classes (``multigan eval voxel`` does).
    """
    from .metrics import (binarize, chamfer_matrix, diversity, iou_matrix, largest_piece_share, valid_after_cleanup,
                          validity_flags)

    table: dict[str, dict[str, float]] = {}
    data = binarize(dataset.voxels)
    labels = dataset.labels
    classes = model.classes or ["all"]
    steps = enumerate(classes)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, total=len(classes), desc="evaluating", unit="class")
    for k, name in steps:
        ref = data[labels == k] if model.conditional else data
        shapes = model.generate(n, label=name if model.conditional else None, seed=seed * 1000 + k, whole=whole,
                                repair=repair, bridge=bridge)
        gen, variants = shapes.voxels, _rotation_variants(ref).flatten(0, 1)
        iou = iou_matrix(gen, variants).view(len(gen), len(ref), 8).amax(2)
        nearest = iou.argmax(1)
        share = largest_piece_share(gen)
        cleaned = valid_after_cleanup(gen)
        bridged = shapes if bridge is not None else shapes.bridged()       # generate(bridge=) has bridged them
        div_gen, div_data = diversity(gen, seed=seed), diversity(ref, seed=seed)
        table[name] = {"shapes (data)": float(len(ref)), "valid": float(validity_flags(gen)["valid"].double().mean()),
                       "valid after cleanup": float(cleaned.double().mean()),
                       "valid after bridging": float(valid_after_cleanup(bridged.probs).double().mean()),
                       "largest piece": float(share.nan_to_num(0.0).mean()),
                       "coverage": float(torch.unique(nearest).numel() / len(ref)),
                       "mmd_iou": float((1 - iou.amax(0)).mean()),
                       "diversity": div_gen, "diversity (data)": div_data,
                       "diversity ratio": div_gen / max(div_data, 1e-12)}
        if chamfer:
            dist = chamfer_matrix(gen, variants).view(len(gen), len(ref), 8).amin(2)
            table[name].update({"coverage (Chamfer)": float(torch.unique(dist.argmin(1)).numel() / len(ref)),
                                "mmd (Chamfer)": float(dist.amin(0).mean())})
    if probe and model.conditional:
        table["probe"] = {"accuracy": probe_accuracy(model, dataset, seed=seed)}
    return table


def recalibrate_generator(model, generator: torch.nn.Module, *, seed: int = 0) -> None:
    """Re-estimate ``generator``'s BatchNorm statistics (e.g. an EMA copy) on 16 batches of 64 latents
    spread evenly over all classes, drawn from a generator seeded by ``seed`` (no global RNG)."""
    from multigan.core.ema import recalibrate_batchnorm

    gen = torch.Generator(device="cpu").manual_seed(seed)
    n_cls = max(1, len(model.classes))
    device = next(generator.parameters()).device

    def calibration_batch(g):
        z = model.sample_latent(64, generator=gen).to(device)
        y = torch.arange(64) % n_cls if model.conditional else None
        g(z, None if y is None else y.to(device))

    recalibrate_batchnorm(generator, calibration_batch, batches=16)


def training_metrics(model, dataset, *, n: int, seed: int) -> dict[str, float]:
    """The in-training evaluation (``GAN3D.training_metrics``): :func:`evaluate_model` without the probe,
    ``n`` shapes per class, as ``{"<class>/<metric>": value}``, on a copy of the model whose
    BatchNorm statistics are re-estimated as the export's are (the trained model is not touched)."""
    import copy

    scored = copy.deepcopy(model)
    recalibrate_generator(scored, scored.generator, seed=seed)
    scored.eval()
    table = evaluate_model(scored, dataset, n=n, seed=seed, probe=False)
    return {f"{name}/{key.replace(' ', '_')}": value for name, row in table.items() for key, value in row.items()
            if key not in ("shapes (data)", "diversity (data)")}


def probe_accuracy(model, dataset, *, seed: int = 0, held_out: float = 0.3) -> float:
    """Linear classifier on :meth:`GAN3D.features`: trained on 70 % of the shapes, scored on the rest."""
    from .metrics import linear_probe_accuracy

    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset.labels), generator=g)
    n_test = max(1, int(round(held_out * len(order))))
    test, train_idx = order[:n_test], order[n_test:]
    feats = model.features(dataset.voxels)
    return float(linear_probe_accuracy(feats[train_idx], dataset.labels[train_idx], feats[test],
                                       dataset.labels[test], seed=seed))


def format_metrics(table: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per class."""
    cols = ["shapes (data)", "valid", "valid after cleanup", "valid after bridging", "coverage", "mmd_iou",
            "diversity", "diversity (data)", "diversity ratio"]
    cols += [c for c in ("coverage (Chamfer)", "mmd (Chamfer)") if any(c in row for row in table.values())]
    lines = ["| class | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in table.items():
        if name == "probe":
            continue
        cells = [f"{int(row[c])}" if c == "shapes (data)" else f"{row[c]:.3f}" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "probe" in table:
        lines.append(f"\nlinear probe on D features (held-out shapes): accuracy {table['probe']['accuracy']:.3f}")
    return "\n".join(lines)
