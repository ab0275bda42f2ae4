"""Give a trained anomaly model other AnoGAN search options and recalibrate its search threshold.

    python scripts/set_anomaly_search_options.py --model multigan/assets/checkpoints/anomaly/brain-mri \
        --search-starts 64 --search-lr 0.0025

The networks and the f-AnoGAN threshold stay as they are; the model's ``search_starts`` /
``search_lr`` / ``search_restarts`` change and the ``"search"`` threshold is calibrated as training
does (5 % false positives on the first 128 held-out normal images, Γ 500). See
:func:`set_search_options`. Choose the options on validation data
(``benchmarks/studies/anomaly_search_options.py``), never on the test set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import torch

from multigan.anomaly.models import AnoGAN
from multigan.anomaly.recipe import normal_sets, search_calibration_set


def set_search_options(model: str | Path, out: str | Path, *, normal: Any = None, search_starts: Optional[int] = None,
                       search_lr: Optional[float] = None, search_restarts: Optional[int] = None,
                       search_iterations: int = 500,
                       search_calibration_images: int = 128, fpr: float = 0.05, seed: int = 0,
                       command: str = "") -> Path:
    """Export a trained model with other AnoGAN search options and its search threshold recalibrated.

    For a model whose run folder is gone (so ``train(..., resume=True)`` with new options cannot
    re-export it): the networks, the other thresholds and options are kept as they are;
    ``search_starts`` / ``search_lr`` / ``search_restarts`` (None: unchanged) become the model's, and the
    ``"search"`` threshold is calibrated as :func:`train` does with the ``fpr`` rule, on the first
    ``search_calibration_images`` of the held-out normal split of ``normal`` (as in :func:`train`;
    None: the built-in brain MRI). ``training.json`` gets the command, the options and the new threshold.
    ``out`` may be ``model`` itself (the folder is replaced atomically).
    """

    source = AnoGAN.from_pretrained(model)
    folder = AnoGAN._resolve_pretrained(model)
    options = {"search_starts": search_starts, "search_lr": search_lr, "search_restarts": search_restarts}
    config = {**source.config, **{k: v for k, v in options.items() if v is not None}}
    det = AnoGAN(**config)                                   # checks the options
    det.load_state_dict(source.state_dict())
    det.eval()
    _, val_set = normal_sets(normal, det.image_size, det.channels)
    search_set = search_calibration_set(val_set, "fpr", search_calibration_images, seed)
    threshold = det.calibrate(search_set, fpr=fpr, method="search", iterations=search_iterations)
    info_file = folder / "training.json"
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    command = command or " ".join(sys.argv)
    info["command"], info["commands"] = command, info.get("commands", []) + [command]
    info["thresholds"] = {**info.get("thresholds", {}), "search": threshold}
    info.update(search_iterations=search_iterations, search_calibration_images=len(search_set),
                search_options={**{k: getattr(det, k) for k in options}, "fpr": fpr})
    return det.save_pretrained(out, dtype=torch.float16, extra_files={
        "training.json": json.dumps(info, indent=2, default=str) + "\n"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported model folder (or shipped name)")
    p.add_argument("--out", default=None, help="where to write it (default: replace --model)")
    p.add_argument("--normal", default=None, help="the normal images it was trained on (default: built-in brain MRI)")
    p.add_argument("--search-starts", type=int, default=None)
    p.add_argument("--search-lr", type=float, default=None)
    p.add_argument("--search-restarts", type=int, default=None)
    p.add_argument("--search-iterations", type=int, default=500)
    p.add_argument("--search-calibration-images", type=int, default=128)
    p.add_argument("--fpr", type=float, default=0.05)
    args = p.parse_args()
    out = set_search_options(args.model, args.out or args.model, normal=args.normal, search_starts=args.search_starts,
                             search_lr=args.search_lr, search_restarts=args.search_restarts,
                             search_iterations=args.search_iterations,
                             search_calibration_images=args.search_calibration_images, fpr=args.fpr,
                             command="python scripts/set_anomaly_search_options.py " + " ".join(sys.argv[1:]))
    print(f"model written to {out}")


if __name__ == "__main__":
    main()
