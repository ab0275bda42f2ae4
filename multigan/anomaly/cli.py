"""The command line of the anomaly modality (``multigan train|sample|score|eval anomaly``) and its
part of ``multigan demo``; training itself is :func:`.recipe.train`.

    multigan train anomaly --out runs/brain                                  # built-in brain MRI set
    multigan train anomaly --normal healthy/ --out runs/mine --size 64       # your normal images
    multigan score anomaly scans/ --model brain-mri --out report/ [--method izif|search|izif+search]
    multigan eval anomaly --model brain-mri [--data labelled/]               # AUROC, AUPR, F1, pixel AUROC, Dice
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from multigan.cli import add_json_argument, modality_parser, print_metrics
from multigan.core.options import add_options, parse_options
from multigan.io.image import write_image

from .evaluate import evaluate_model, format_metrics
from .recipe import AnomalyOptions, train

__all__ = ["demo", "train_options", "cli"]


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: f-AnoGAN scores of 8 built-in test slices (half with simulated lesions), their
    overlays, and the slices themselves as PNG (``slices/``: inputs for ``multigan score anomaly``)."""
    from .data import brain_mri
    from .models import AnoGAN
    from .pipeline import safe_file_stems

    out_dir = Path(out_dir)
    det = AnoGAN.from_pretrained("brain-mri")
    test = brain_mri("test", size=det.image_size)
    normal = torch.nonzero(test.labels == 0).flatten()[:4]
    abnormal = torch.nonzero(test.labels == 1).flatten()[:4]
    slices = test.subset(torch.cat([normal, abnormal]))
    res = det.score(slices, method="izif")
    inputs = [write_image((image + 1) / 2, out_dir / "slices" / f"{stem}.png")   # to score again
              for image, stem in zip(slices.images, safe_file_stems(slices.names))]
    return [res.to_csv(out_dir / "scores.csv"), *res.save_overlays(out_dir / "overlays"), *inputs]


def _scoring_overrides(p: argparse.ArgumentParser) -> None:
    """The per-call overrides of a model's scoring options (score and eval)."""
    p.add_argument("--map-sigma", type=float, default=None,
                   help="Gaussian smoothing of the anomaly maps in pixels (default: the model's)")
    p.add_argument("--map-shift", type=int, default=None,
                   help="shift tolerance of the anomaly maps in pixels (default: the model's)")
    p.add_argument("--map-margin", type=int, default=None,
                   help="the map's image score leaves out this many pixels of tissue next to the background "
                        "(default: the model's)")
    p.add_argument("--map-views", default=None, choices=["one", "flip", "flip-shift"],
                   help="f-AnoGAN's map: the minimum over the image (one), also its mirror (flip), also both moved "
                        "by 2 px (flip-shift) (default: the model's)")
    p.add_argument("--image-score", default=None, choices=["loss", "map"],
                   help="image score: the method's loss or the mean of the map's highest pixels (default: the "
                        "model's)")
    p.add_argument("--search-starts", type=int, default=None,
                   help="AnoGAN's search starts from the best of this many random latents per image "
                        "(default: the model's)")
    p.add_argument("--search-lr", type=float, default=None,
                   help="Adam step of AnoGAN's latent search (default: the model's)")
    p.add_argument("--search-restarts", type=int, default=None,
                   help="AnoGAN runs this many whole searches per image and keeps the best fit (default: the model's)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`_scoring_overrides` as ``AnoGAN.score`` keywords (None: the model's own)."""
    return {"map_sigma": args.map_sigma, "map_shift": args.map_shift, "map_margin": args.map_margin,
            "map_views": args.map_views, "image_score": args.image_score,
            "search_starts": args.search_starts, "search_restarts": args.search_restarts, "lr": args.search_lr}


def train_options(argv: Sequence[str]) -> AnomalyOptions:
    """The :class:`AnomalyOptions` of a ``multigan train anomaly`` command line (``--out`` aside)."""
    return parse_options(AnomalyOptions, _parser("train").parse_args(list(argv)))


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "anomaly")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        add_options(p, AnomalyOptions)
        p.add_argument("--no-crop", action="store_const", const="none", dest="preprocess", default=argparse.SUPPRESS,
                       help="--preprocess none: read --normal images whole (padded to square), for images already "
                            "prepared")
    elif command == "score":
        p.add_argument("source", help="image folder or file (PNG/JPEG, DICOM, NIfTI)")
        p.add_argument("--out", required=True, help="report folder (scores.csv, report.json, overlays/; for a "
                                                    "NIfTI volume also its anomaly map as NIfTI and a montage)")
        p.add_argument("--model", default="brain-mri")
        p.add_argument("--method", default="izif", choices=["izif", "search", "izif+search"])
        p.add_argument("--iterations", type=int, default=500, help="Γ for search methods")
        p.add_argument("--threshold", type=float, default=None, help="override the calibrated threshold")
        p.add_argument("--no-crop", action="store_true",
                       help="read images whole (padded to square), for images already prepared as the model's "
                            "training images were; by default each is read the model's way (its 'preprocess')")
        _scoring_overrides(p)
        p.add_argument("--batch-size", type=int, default=64)
    elif command == "eval":
        p.add_argument("--model", default="brain-mri")
        p.add_argument("--data", default=None,
                       help="labelled folder (normal/, abnormal/, masks/), or a brain-MRI set (.npz) built by "
                            "scripts/build_anomaly_assets.py (its test split); default the built-in test split")
        p.add_argument("--methods", nargs="+", default=["izif", "search"])
        add_json_argument(p)
        p.add_argument("--iterations", type=int, default=500)
        p.add_argument("--search-images", type=int, default=None,
                       help="score search methods on a class-balanced subset of this many images")
        _scoring_overrides(p)
        p.add_argument("--csv", default=None, help="also write the first method's per-image scores here")
        p.add_argument("--no-crop", action="store_true",
                       help="read --data images whole (padded), for images already prepared")
    else:
        raise NotImplementedError(f"'multigan {command} anomaly' does not exist; use train, score or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|score|eval anomaly``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(AnomalyOptions, args),
                      command="multigan train anomaly " + shlex.join(argv))
        if final.name != "final":
            print(f"time limit reached; training state in {final}: run the same command with --resume to go on")
            return 0
        print(f"model written to {final}")
        return 0
    from .data import brain_mri, is_brain_mri_file, lesion_polarity, read_images
    from .models import AnoGAN
    det = AnoGAN.from_pretrained(args.model)
    if command == "score":
        images = read_images(args.source, size=det.image_size, channels=det.channels,
                             preprocess="none" if args.no_crop else det.preprocess)
        res = det.score(images, method=args.method, iterations=args.iterations, threshold=args.threshold,
                        batch_size=args.batch_size, progress=True, **_overrides(args))
        volumes = None
        if images.preparation is not None and res.names == images.names:
            try:
                volumes = res.write_volumes(args.out, args.source, images.preparation) or None
            except (OSError, ValueError) as err:          # the per-slice report is still written
                warnings.warn(f"no volume outputs: {err}", stacklevel=1)
        written = res.write_report(args.out, volumes=volumes)
        print(f"{written['csv']}\n{written['json']}")
        print(f"{len(written['overlays'])} overlays in {Path(args.out) / 'overlays'}")
        for v in volumes or []:
            verdict = f", {v['label']}" if v["label"] else ""
            print(f"{v['file']}: score {v['score']:.4g}{verdict} (slice {v['most_anomalous_slice']}; {v['slices']} "
                  f"slices scored, {v['slices_not_judged']} not judged); {Path(args.out) / v['map']}, "
                  f"{Path(args.out) / v['montage']}")
        if res.failures:
            print(f"{len(res.failures)} file(s) could not be read; listed in the report", file=sys.stderr)
        return 0
    groups = None
    if args.data and not is_brain_mri_file(args.data):
        test = read_images(args.data, size=det.image_size, channels=det.channels,
                           preprocess="none" if args.no_crop else det.preprocess)
    else:
        test = brain_mri("test", size=det.image_size, path=args.data)
        polarity = torch.from_numpy(lesion_polarity("test", path=args.data))
        groups = {"bright": polarity == 1, "dark": polarity == -1}
    options = _overrides(args)
    shown = {k: getattr(det, "search_lr" if k == "lr" else k) if v is None else v for k, v in options.items()}
    margin = f" (tissue margin {shown['map_margin']} px)" if shown["image_score"] == "map" else ""
    print(f"anomaly maps: shift tolerance {shown['map_shift']} px, Gaussian smoothing σ = {shown['map_sigma']:g} px; "
          f"f-AnoGAN views: {shown['map_views']}; image score: {shown['image_score']}{margin}; "
          f"search: best of {shown['search_restarts']} search(es), "
          f"each from the best of {shown['search_starts']} start(s), Adam lr {shown['lr']:g}")
    scored: dict = {}
    table = evaluate_model(det, test, methods=args.methods, iterations=args.iterations,
                           search_images=args.search_images, results=scored, groups=groups, **options)
    print_metrics(table, format_metrics(table), args.json)
    if args.csv:
        print(scored[args.methods[0]].to_csv(args.csv))
    return 0

