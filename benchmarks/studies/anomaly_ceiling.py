"""Ceiling of residual scoring on the brain-MRI test set: image AUROC of a perfect, noise-free generator.

    python benchmarks/studies/anomaly_ceiling.py                       # the shipped lesions
    python benchmarks/studies/anomaly_ceiling.py --radius 3 10 --contrast 0.4 0.9

AnoGAN and f-AnoGAN score an image by its residual to a reconstruction. The best any generator
can do is reproduce the image without its lesion, but not the acquisition noise (Rician, its level
drawn per image), which is random. This script rebuilds the test split's lesion-free images from
the MNI152 template exactly as ``scripts/build_anomaly_assets.py`` does (same seeds), once with the
noise and once without, checks the first against the shipped asset, and reports the image AUROC
of the mean squared residual to the noise-free images: no model scored by a residual can do better
on average. With ``--radius``/``--contrast`` the same images get lesions from other simulator
settings. Needs nilearn and nibabel (as the asset build does); takes about a minute.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import build_anomaly_assets as build  # noqa: E402


def test_split(noise: bool) -> tuple[np.ndarray, np.ndarray]:
    """The test split's lesion-free uint8 images and brain masks, with or without acquisition noise."""
    template = build.load_template()
    keep = build.select_slices(template["brain"])
    rng = np.random.default_rng(build.seed_streams()["test"])
    images, brains, _ = build.make_split(rng, template, build.split_slices(keep)["test"], build.COUNTS["test"],
                                         noise=1.0 if noise else 0.0)
    return images, brains


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from multigan.anomaly.data import brain_mri

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--radius", type=float, nargs=2, default=None, help="simulator radius range (px at 64²)")
    p.add_argument("--contrast", type=float, nargs=2, default=None, help="simulator contrast range")
    args = p.parse_args()

    noisy, brains = test_split(noise=True)
    clean = test_split(noise=False)[0].astype(np.float64) / 127.5 - 1.0
    shipped = brain_mri("test")
    labels = shipped.labels.numpy()
    images = shipped.images[:, 0].double().numpy()
    normal = labels == 0
    gap = np.abs(noisy[normal].astype(np.float64) / 127.5 - 1.0 - images[normal]).max()
    if gap > 1e-6:
        raise SystemExit(f"rebuilt normal test images differ from the shipped asset by {gap:.3g}")
    settings = "shipped lesions"
    if args.radius or args.contrast:
        options = {k: tuple(v) for k, v in (("radius", args.radius), ("contrast", args.contrast)) if v}
        lesions = build.add_lesions(np.random.default_rng(build.seed_streams()["lesions"]), noisy, brains, **options)
        images, labels = lesions["images"].astype(np.float64) / 127.5 - 1.0, lesions["labels"]
        settings = ", ".join(f"{k} {v[0]:g}–{v[1]:g}" for k, v in options.items())
    residual = ((images - clean) ** 2).mean(axis=(1, 2))
    print(f"| lesions | normal residual MSE (noise only) | ceiling image AUROC |\n|---|---:|---:|\n"
          f"| {settings} | {residual[labels == 0].mean():.5f} | {roc_auc_score(labels, residual):.3f} |")


if __name__ == "__main__":
    main()
