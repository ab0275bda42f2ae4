"""Give a trained anomaly model other AnoGAN search options and recalibrate its search threshold.

    python scripts/set_anomaly_search_options.py --model multigan/assets/checkpoints/anomaly/brain-mri \
        --search-starts 64 --search-lr 0.0025

The networks and the f-AnoGAN threshold stay as they are; the model's ``search_starts`` /
``search_lr`` / ``search_restarts`` change and the ``"search"`` threshold is calibrated as training
does (5 % false positives on the first 128 held-out normal images, Γ 500). See
:func:`multigan.anomaly.train.set_search_options`. Choose the options on validation data
(``benchmarks/anomaly_search_options.py``), never on the test set.
"""

import argparse
import sys

from multigan.anomaly.train import set_search_options


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
