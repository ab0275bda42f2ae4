"""Score medical images for anomalies with f-AnoGAN or AnoGAN and write a report (CSV, JSON, overlays).

    python examples/score_medical_images.py scans/ --model brain-mri --out examples_out/anomaly
    python examples/score_medical_images.py --model runs/brain/final --out examples_out/anomaly   # built-in test slices

With no input folder, eight of the built-in test slices (four with simulated lesions) are first
written as PNG files to ``OUT/inputs/`` and read back, so the run shows the whole path from image
files to report. The report lists every input, including files that could not be read.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from multigan.anomaly import AnoGAN, brain_mri, read_images
from multigan.cli import HelpFormatter


def write_builtin_slices(folder: Path, size: int) -> Path:
    """Eight built-in test slices (four normal, four with simulated lesions) as 8-bit PNG files."""
    test = brain_mri("test", size=size)
    normal = torch.nonzero(test.labels == 0).flatten()[:4].tolist()
    lesion = torch.nonzero(test.labels == 1).flatten()[:4].tolist()
    folder.mkdir(parents=True, exist_ok=True)
    for kind, indices in (("normal", normal), ("lesion", lesion)):
        for i in indices:
            pixels = ((test.images[i, 0].numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{kind}_{i:04d}.png")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("source", nargs="?", default=None,
                        help="image folder or file (PNG/JPEG, DICOM, NIfTI); default: built-in test slices")
    parser.add_argument("--model", default="brain-mri", help="shipped model name or trained folder")
    parser.add_argument("--method", default="izif", choices=["izif", "search", "izif+search"],
                        help="izif: f-AnoGAN (one pass); search: AnoGAN latent search (slow)")
    parser.add_argument("--iterations", type=int, default=500, help="Γ of the latent search")
    parser.add_argument("--out", default="examples_out/anomaly", help="report folder")
    args = parser.parse_args()

    try:
        det = AnoGAN.from_pretrained(args.model)
    except FileNotFoundError as err:
        print(f"{err}\nTrain one with: multigan train anomaly --out runs/brain (then --model runs/brain/final)",
              file=sys.stderr)
        return 1
    out = Path(args.out)
    source = Path(args.source) if args.source else write_builtin_slices(out / "inputs", det.image_size)
    images = read_images(source, size=det.image_size, channels=det.channels)
    result = det.score(images, method=args.method, iterations=args.iterations, progress=True)
    written = result.write_report(out)
    labels = result.labels.tolist() if result.labels is not None else [None] * len(result)
    for name, score, flag in zip(result.names, result.scores.tolist(), labels):
        verdict = "no calibrated threshold" if flag is None else ("anomalous" if flag else "normal")
        print(f"{name}: score {score:.4f} ({verdict})")
    print(f"{written['csv']}\n{written['json']}\n{len(written['overlays'])} overlays in {out / 'overlays'}")
    if result.failures:
        print(f"{len(result.failures)} file(s) could not be read; they are listed in the report", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
