"""Scoring speed of f-AnoGAN (encoder, one pass) vs AnoGAN (latent search, Γ steps), images per second.

    python benchmarks/anomaly_speed.py --model brain-mri --n 64 --iterations 500 --device cpu

The networks' weights do not change the cost, so ``--model none`` times an untrained model of
the same size (``--width``).
"""

import argparse
import time

import torch

from multigan.anomaly import AnoGAN


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="none", help="shipped name or folder; 'none' = untrained")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n", type=int, default=64, help="images scored (one batch)")
    p.add_argument("--iterations", type=int, default=500, help="Γ of the latent search")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    det = AnoGAN(image_size=args.size, width=args.width) if args.model == "none" else AnoGAN.from_pretrained(args.model)
    det.to(args.device)
    x = torch.rand(args.n, det.channels, det.image_size, det.image_size) * 2 - 1
    rows = []
    for method, its in (("izif", 0), ("search", args.iterations)):
        det.score(x[:2], method=method, iterations=max(its // 50, 1), batch_size=args.n)        # warm-up
        start = time.perf_counter()
        det.score(x, method=method, iterations=its, batch_size=args.n)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rows.append((method, its, args.n / (time.perf_counter() - start)))
    print("| method | Γ | images/s |\n|---|---:|---:|")
    for method, its, speed in rows:
        print(f"| {method} | {its or '—'} | {speed:.2f} |")
    print(f"f-AnoGAN / AnoGAN speed ratio: {rows[0][2] / rows[1][2]:.0f}×")


if __name__ == "__main__":
    main()
