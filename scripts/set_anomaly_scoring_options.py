"""Give a trained anomaly model other scoring options and recalibrate the thresholds they change.

    python scripts/set_anomaly_scoring_options.py --model multigan/assets/checkpoints/anomaly/brain-mri \
        --map-shift 2 --map-sigma 1.5 --map-margin 3 --map-top 0.0025
    python scripts/set_anomaly_scoring_options.py --model M --search-starts 64 --search-lr 0.0025

The networks stay as they are. The map options (``map_shift``, ``map_sigma``, ``map_margin``,
``map_top``, ``image_score``, ``map_views``) change f-AnoGAN's image scores, so its threshold is
recalibrated as training does (5 % false positives on the held-out normal split); any change but
``map_views`` (f-AnoGAN's alone) recalibrates AnoGAN's search threshold (the first 128 held-out
normal images, Γ 500). See :func:`set_scoring_options`.
Choose the options on validation data (``benchmarks/studies/anomaly_scoring_options.py``,
``benchmarks/studies/anomaly_search_options.py``), never on the test set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from multigan.anomaly.models import METHODS, AnoGAN
from multigan.anomaly.recipe import normal_sets, search_calibration_set

#: options that change f-AnoGAN's image scores (and, through the map, the search's)
MAP_OPTIONS = ("map_shift", "map_sigma", "map_margin", "map_top", "image_score", "map_views")
SEARCH_OPTIONS = ("search_starts", "search_lr", "search_restarts")


def set_scoring_options(model: str | Path, out: str | Path, *, normal: Any = None, search_iterations: int = 500,
                        search_calibration_images: int = 128, fpr: float = 0.05, seed: int = 0,
                        recalibrate: bool = False, command: str = "", **options: Any) -> Path:
    """Export a trained model with other scoring options and the thresholds they change recalibrated.

    For a model whose run folder is gone (so ``train(..., resume=True)`` with new options cannot
    re-export it). ``options`` are any of :data:`MAP_OPTIONS` and :data:`SEARCH_OPTIONS` (None or
    the model's own value: unchanged); they become the model's. A changed map option under
    ``image_score="map"`` recalibrates the ``"izif"`` threshold on the whole held-out normal split
    of ``normal`` (as :func:`~multigan.anomaly.recipe.train` does; None: the built-in brain MRI);
    any change but ``map_views`` recalibrates the ``"search"`` threshold, if the model has one, on the split's first
    ``search_calibration_images``; both at ``fpr``. Models calibrated by best F1 on a labelled set
    (``--calibrate-on``) are refused: retrain with ``--resume`` and that set instead.
    ``training.json`` gets the command, the options and the new thresholds; the folder's other
    files (its model card) are carried over. ``out`` may be ``model`` itself (the folder is
    replaced atomically). ``recalibrate=True`` recalibrates both as if every option had changed
    (e.g. after a change to how scores are computed).
    """
    unknown = sorted(set(options) - set(MAP_OPTIONS) - set(SEARCH_OPTIONS))
    if unknown:
        raise ValueError(f"unknown scoring option(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(MAP_OPTIONS + SEARCH_OPTIONS)}")
    source = AnoGAN.from_pretrained(model)
    folder = AnoGAN._resolve_pretrained(model)
    info_file = folder / "training.json"
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    if info.get("calibration", {}).get("rule", "fpr") != "fpr":
        raise ValueError(f"{folder} was calibrated by best F1 on {info['calibration'].get('on')!r}; this script "
                         "recalibrates at a false-positive rate on normal images only. Resume its training run "
                         "with the new options and the same --calibrate-on instead")
    kept = {}                                                  # the folder's own files (its card), carried over
    for path in sorted(folder.iterdir()):
        if path.name in ("model.safetensors", "config.json", "inference.json", "domain.json", "training.json"):
            continue
        try:
            kept[path.name] = path.read_text(encoding="utf-8")
        except (IsADirectoryError, UnicodeDecodeError):
            raise ValueError(f"{path} is not a text file this script can carry over; write the model to another "
                             "--out and copy it yourself") from None
    changed = {k: v for k, v in options.items() if v is not None and v != getattr(source, k)}
    det = AnoGAN(**{**source.config, **changed})                 # checks the options
    det.load_state_dict(source.state_dict())
    det.domain = source.domain
    det.eval()
    _, val_set = normal_sets(normal, det.image_size, det.channels, det.preprocess)
    thresholds = {}
    if recalibrate or set(changed) & set(MAP_OPTIONS) and (det.image_score == "map" or "image_score" in changed):
        thresholds["izif"] = det.calibrate(val_set, fpr=fpr, method="izif")
    search_set = search_calibration_set(val_set, "fpr", search_calibration_images, seed)
    search_changed = set(changed) - {"map_views"}                # the views are f-AnoGAN's alone
    if (search_changed or recalibrate) and not torch.isnan(det.thresholds[METHODS.index("search")]):
        thresholds["search"] = det.calibrate(search_set, fpr=fpr, method="search", iterations=search_iterations)
    command = command or " ".join(sys.argv)
    info["command"], info["commands"] = command, info.get("commands", []) + [command]
    info["thresholds"] = {**info.get("thresholds", {}), **thresholds}
    if "search" in thresholds:
        info.update(search_iterations=search_iterations, search_calibration_images=len(search_set))
    info["scoring_options"] = {**{k: getattr(det, k) for k in MAP_OPTIONS + SEARCH_OPTIONS}, "fpr": fpr}
    return det.save_pretrained(out, dtype=torch.float16, extra_files={
        **kept, "training.json": json.dumps(info, indent=2, default=str) + "\n"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported model folder (or shipped name)")
    p.add_argument("--out", default=None, help="where to write it (default: replace --model)")
    p.add_argument("--normal", default=None, help="the normal images it was trained on (default: built-in brain MRI)")
    p.add_argument("--map-shift", type=int, default=None)
    p.add_argument("--map-sigma", type=float, default=None)
    p.add_argument("--map-margin", type=int, default=None)
    p.add_argument("--map-top", type=float, default=None)
    p.add_argument("--image-score", default=None, choices=["loss", "map"])
    p.add_argument("--map-views", default=None, choices=["one", "flip", "flip-shift"])
    p.add_argument("--search-starts", type=int, default=None)
    p.add_argument("--search-lr", type=float, default=None)
    p.add_argument("--search-restarts", type=int, default=None)
    p.add_argument("--search-iterations", type=int, default=500)
    p.add_argument("--search-calibration-images", type=int, default=128)
    p.add_argument("--fpr", type=float, default=0.05)
    p.add_argument("--recalibrate", action="store_true",
                   help="recalibrate the thresholds even if no option changes (e.g. after the scoring code changed)")
    args = p.parse_args()
    options = {k: getattr(args, k) for k in MAP_OPTIONS + SEARCH_OPTIONS}
    out = set_scoring_options(args.model, args.out or args.model, normal=args.normal,
                              search_iterations=args.search_iterations,
                              search_calibration_images=args.search_calibration_images, fpr=args.fpr,
                              recalibrate=args.recalibrate,
                              command="python scripts/set_anomaly_scoring_options.py " + " ".join(sys.argv[1:]),
                              **options)
    print(f"model written to {out}")


if __name__ == "__main__":
    main()
