"""Scoring speed of f-AnoGAN (encoder, one pass) vs AnoGAN (latent search, Γ steps), images per second.

    python benchmarks/anomaly_speed.py --model brain-mri --n 64 --iterations 500 --device cpu

The networks' weights do not change the cost, so ``--model none`` times an untrained model of
the same size (``--width``). ``multigan bench --scoring`` prints the same table
(:func:`multigan.anomaly.evaluate.scoring_speed`).
"""

import argparse

from multigan.anomaly import AnoGAN
from multigan.anomaly.evaluate import format_scoring_speed, scoring_speed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="none", help="shipped name or folder; 'none' = untrained")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n", type=int, default=64, help="images scored (one batch)")
    p.add_argument("--iterations", type=int, default=500, help="Γ of the latent search")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    det = None if args.model == "none" else AnoGAN.from_pretrained(args.model)
    print(format_scoring_speed(scoring_speed(det, n=args.n, iterations=args.iterations, device=args.device,
                                             width=args.width, size=args.size)))


if __name__ == "__main__":
    main()
