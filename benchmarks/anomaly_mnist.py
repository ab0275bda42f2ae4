"""MNIST one-class benchmark of f-AnoGAN (and AnoGAN on a subset): one digit normal, the rest anomalous.

    python benchmarks/anomaly_mnist.py --digits 0 1 2 --steps 400 --encoder-steps 600 --out runs/mnist_oc

Protocol (Ruff et al. 2018, Akçay et al. 2018): train on the normal digit's training images only,
calibrate on its validation images, score the official 10,000-image test set (anomaly = any other
digit). Each digit trains its own model with :func:`multigan.anomaly.recipe.train` at 32×32;
the table gives image AUROC of f-AnoGAN (``izif``, all 10,000 images) and of AnoGAN's latent
search (``search``, Γ iterations on a class-balanced subset of ``--search-images``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from multigan.anomaly import AnoGAN
from multigan.anomaly.data import mnist_one_class
from multigan.anomaly.evaluate import evaluate_model
from multigan.anomaly.recipe import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--digits", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--out", default="runs/mnist_one_class")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--steps", type=int, default=400, help="GAN iterations per digit (5 critic steps each)")
    p.add_argument("--encoder-steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=500, help="Γ of AnoGAN's latent search")
    p.add_argument("--search-images", type=int, default=200, help="balanced test subset for the search (0: skip)")
    p.add_argument("--device", default="auto")
    args = p.parse_args()

    out = Path(args.out)
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for digit in args.digits:
        run = out / f"digit{digit}"
        final = run / "final"
        start = time.perf_counter()
        if not (final / "config.json").is_file():
            train(run, normal=(mnist_one_class(digit, "train", size=args.size),
                               mnist_one_class(digit, "val", size=args.size)),
                  size=args.size, width=args.width, steps=args.steps, encoder_steps=args.encoder_steps,
                  batch_size=args.batch_size, search_iterations=args.iterations, search_calibration_images=64,
                  calibrate_search=args.search_images > 0, device=args.device, resume=(run / "checkpoints").is_dir(),
                  command=f"benchmarks/anomaly_mnist.py digit {digit} steps {args.steps} "
                          f"encoder-steps {args.encoder_steps} width {args.width}")
        det = AnoGAN.from_pretrained(final)
        methods = ("izif", "search") if args.search_images > 0 else ("izif",)
        table = evaluate_model(det, mnist_one_class(digit, "test", size=args.size), methods=methods,
                               iterations=args.iterations, search_images=args.search_images or None)
        results[str(digit)] = {m: {"image_auroc": row["image_auroc"], "images": row["images"]}
                               for m, row in table.items()}
        results[str(digit)]["seconds"] = time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps(results, indent=2) + "\n")
        print(f"digit {digit}: " + ", ".join(f"{m} AUROC {r['image_auroc']:.3f}" for m, r in table.items()), flush=True)
    print("| normal digit | f-AnoGAN (izif) | AnoGAN (search) |\n|---:|---:|---:|")
    for digit in sorted(results, key=int):
        row = results[digit]
        search = f"{row['search']['image_auroc']:.3f}" if "search" in row else "—"
        print(f"| {digit} | {row['izif']['image_auroc']:.3f} | {search} |")


if __name__ == "__main__":
    main()
