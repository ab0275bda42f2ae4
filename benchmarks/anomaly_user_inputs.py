"""Score brain slices made the way users make them: exported files, lesions drawn by another hand.

    python benchmarks/anomaly_user_inputs.py --model brain-mri                       # every variation
    python benchmarks/anomaly_user_inputs.py --model runs/x/final --split val --variations full-fov
    python benchmarks/anomaly_user_inputs.py --model brain-mri --methods izif search --search-images 100

The shipped test split was cut, cropped and normalised by the script that made the training set,
with lesions from the training-time simulator. This benchmark does neither. It takes axial slices
of the MNI152 T1 template at 1 mm from the split's slice positions (``--split val``: z % 4 = 1,
for choosing; ``test``: z % 4 = 3, reported once), varies them like a scanner would (the asset's
augmentation, its own seed), and writes them to files as a user exports them: the **whole slice
with its background** (233×197), as 8-bit PNG unless the variation says otherwise. On half of
them it draws lesions with its own code (:func:`draw_lesion`): star-shaped polygons or ellipses
rasterised at 1 mm, hard or blurred rims, 6–40 mm across, brighter (1.3–1.8× the surrounding
tissue, as lesions on FLAIR/T2) or darker (0.2–0.6×) than the tissue around them, in raw
intensity before any normalisation. Masks go to ``masks/``. The files are read back by
:func:`multigan.anomaly.read_images` with the model's preprocessing and scored; the table gives
image AUROC per variation, for bright and dark lesions apart, and pixel AUROC.

Variations (``--variations``): ``full-fov`` (the baseline), ``cropped`` (cut by hand to the brain's
box + 8 %), ``2mm`` (every second pixel), ``flipped`` (left–right), ``scale0.7`` / ``scale1.3``
(intensity ×0.7 / ×1.3 before export, clipped to 8 bits), ``gamma0.8`` / ``gamma1.25``,
``gauss`` / ``rician`` (noise σ 3 % of white matter), ``rotate5`` (±5°), ``png16`` (16-bit PNG),
``nifti`` (one float NIfTI volume per image).
Needs nilearn and nibabel (as the asset build does).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_anomaly_assets as build  # noqa: E402

VARIATIONS = ("full-fov", "cropped", "2mm", "flipped", "scale0.7", "scale1.3", "gamma0.8", "gamma1.25", "gauss",
              "rician", "rotate5", "png16", "nifti")
SEEDS = {"val": 501, "test": 503}


# -- lesions drawn by another hand ---------------------------------------------------------------------

def _shape_mask(rng: np.random.Generator, shape: tuple[int, int], center: np.ndarray, radius: float) -> np.ndarray:
    """A star-shaped polygon or an ellipse of about ``radius`` pixels, rasterised at 4× and averaged."""
    from PIL import Image, ImageDraw

    k = 4
    canvas = Image.new("L", (shape[1] * k, shape[0] * k), 0)
    draw = ImageDraw.Draw(canvas)
    cy, cx = center * k
    r = radius * k
    if rng.random() < 0.5:
        n = int(rng.integers(6, 11))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = r * rng.uniform(0.6, 1.25, n)
        draw.polygon([(cx + a * np.cos(t), cy + a * np.sin(t)) for a, t in zip(radii, angles)], fill=255)
    else:
        ry = r * rng.uniform(0.6, 1.2)
        draw.ellipse([cx - r, cy - ry, cx + r, cy + ry], fill=255)
        angle = rng.uniform(0, 180)
        canvas = canvas.rotate(angle, center=(cx, cy))
    small = np.asarray(canvas, np.float64).reshape(shape[0], k, shape[1], k).mean(axis=(1, 3)) / 255.0
    return small


def draw_lesion(rng: np.random.Generator, t1: np.ndarray, brain: np.ndarray,
                bright: bool) -> tuple[np.ndarray, np.ndarray]:
    """``t1`` with one lesion drawn in raw intensity, and its mask (blend ≥ 0.5)."""
    from scipy import ndimage

    radius = float(np.exp(rng.uniform(np.log(3.0), np.log(20.0))))          # 6–40 mm across at 1 mm
    inner = ndimage.binary_erosion(brain, iterations=max(1, int(radius)))
    ys, xs = np.nonzero(inner if inner.any() else brain)
    i = int(rng.integers(len(ys)))
    alpha = _shape_mask(rng, t1.shape, np.array([ys[i], xs[i]], float), radius)
    if rng.random() < 0.5:                                                   # a diffuse rim
        alpha = ndimage.gaussian_filter(alpha, rng.uniform(1.0, 0.35 * radius + 1.0))
    alpha = np.where(brain, alpha, 0.0)
    local = float(np.median(t1[alpha > 0.5])) if (alpha > 0.5).any() else float(np.median(t1[brain]))
    level = local * (rng.uniform(1.3, 1.8) if bright else rng.uniform(0.2, 0.6))
    return t1 + alpha * (level - t1), alpha >= 0.5


# -- slices and their variations -------------------------------------------------------------------------

def make_slices(split: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` full-field-of-view slices (raw, 1 mm), half with a drawn lesion: images, masks, labels, polarity."""
    template = build.load_template()
    keep = build.select_slices(template["brain"])
    positions = build.split_slices(keep)[split]
    rng = np.random.default_rng(seed)
    images, masks, brains = [], [], []
    labels = np.zeros(n, np.int64)
    labels[rng.permutation(n)[: n // 2]] = 1
    polarity = np.where(labels == 1, np.where(rng.random(n) < 0.5, 1, -1), 0)
    for i, z in enumerate(rng.choice(positions, size=n)):
        stack = np.stack([template[k][z] for k in ("t1", "gm", "wm")] + [template["brain"][z].astype(np.float64)])
        t1, brain = build.augment(rng, stack)
        mask = np.zeros(t1.shape, bool)
        if labels[i]:
            t1, mask = draw_lesion(rng, t1, brain, polarity[i] > 0)
        images.append(t1)
        masks.append(mask)
        brains.append(brain)
    return {"images": np.stack(images), "masks": np.stack(masks), "brains": np.stack(brains), "labels": labels,
            "polarity": polarity}


def vary(name: str, image: np.ndarray, mask: np.ndarray, brain: np.ndarray, rng: np.random.Generator
         ) -> tuple[np.ndarray, np.ndarray]:
    """One variation of a raw slice (values ≈ 0–1) and its mask."""
    from scipy import ndimage

    from multigan.anomaly.preprocess import crop_box, crop_square

    wm = float(np.percentile(image[brain], 99)) if brain.any() else 1.0
    if name == "cropped":
        box = crop_box(brain, 0.08)
        return crop_square(image[None], box, 0.0)[0], crop_square(mask[None].astype(np.float32), box, 0.0)[0] > 0.5
    if name == "2mm":
        return image[::2, ::2], mask[::2, ::2]
    if name == "flipped":
        return image[:, ::-1], mask[:, ::-1]
    if name.startswith("scale"):
        return image * float(name[5:]), mask
    if name.startswith("gamma"):
        return wm * np.clip(image / wm, 0, None) ** float(name[5:]), mask
    if name == "gauss":
        return image + 0.03 * wm * rng.standard_normal(image.shape), mask
    if name == "rician":
        s = 0.03 * wm
        return np.hypot(image + s * rng.standard_normal(image.shape), s * rng.standard_normal(image.shape)), mask
    if name == "rotate5":
        angle = rng.uniform(-5, 5)
        return (ndimage.rotate(image, angle, reshape=False, order=1),
                ndimage.rotate(mask.astype(np.float32), angle, reshape=False, order=1) > 0.5)
    return image, mask


def write(name: str, folder: Path, slices: dict[str, np.ndarray], seed: int) -> None:
    """Write every slice of one variation as a user would: ``normal/``, ``abnormal/``, ``masks/``."""
    import nibabel as nib
    from PIL import Image

    rng = np.random.default_rng(seed)
    for sub in ("normal", "abnormal", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, (raw, mask, brain, label) in enumerate(zip(slices["images"], slices["masks"], slices["brains"],
                                                      slices["labels"])):
        image, mask = vary(name, raw, mask, brain, rng)
        stem = f"{i:04d}"
        where = folder / ("abnormal" if label else "normal")
        if name == "nifti":
            volume = np.rot90(image, k=-1)[:, :, None].astype(np.float32)     # undo volume_slices' display turn
            nib.save(nib.Nifti1Image(volume, np.eye(4)), str(where / f"{stem}.nii.gz"))
            if label:
                nib.save(nib.Nifti1Image(np.rot90(mask, k=-1)[:, :, None].astype(np.uint8), np.eye(4)),
                         str(folder / "masks" / f"{stem}.nii.gz"))
            continue
        if name == "png16":
            Image.fromarray(np.clip(image * 40000.0, 0, 65535).astype(np.uint16)).save(where / f"{stem}.png")
        else:                                           # a viewer's 8-bit export: template max 1.0 → 200
            Image.fromarray(np.clip(np.round(image * 200.0), 0, 255).astype(np.uint8)).save(where / f"{stem}.png")
        if label:
            Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "masks" / f"{stem}.png")


def read_back(model, name: str, slices: dict[str, np.ndarray], seed: int):
    """One variation written to files and read back the model's way: the ImageSet, each image's polarity
    and its lesion's area in mm² at 1 mm (0 for normal slices), in the ImageSet's order."""
    import warnings

    from multigan.anomaly.data import read_images

    with tempfile.TemporaryDirectory() as tmp:
        write(name, Path(tmp), slices, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_images(tmp, size=model.image_size, preprocess=model.preprocess)
    order = [int(Path(n.split(":")[0]).name.split(".")[0]) for n in data.names]
    return data, slices["polarity"][order], slices["masks"][order].sum(axis=(1, 2))


def score_variation(model, name: str, slices: dict[str, np.ndarray], methods: list[str], search_images: int,
                    seed: int) -> dict[str, dict[str, float]]:
    from multigan.anomaly.evaluate import balanced_subset
    from multigan.anomaly.metrics import auroc, pixel_auroc

    data, polarity, _ = read_back(model, name, slices, seed)
    rows = {}
    for method in methods:
        subset, pol = data, polarity
        if method != "izif" and search_images < len(data):
            idx = balanced_subset(data.labels, search_images, seed=0)
            subset, pol = data.subset(idx), polarity[idx.numpy()]
        res = model.score(subset, method=method)
        s, y = res.scores.numpy(), subset.labels.numpy()
        row = {"images": len(y), "auroc": auroc(s, y)}
        for kind, sign in (("bright", 1), ("dark", -1)):
            keep = (y == 0) | (pol == sign)
            row[f"auroc_{kind}"] = auroc(s[keep], y[keep])
        row["pixel_auroc"] = pixel_auroc(res.maps, subset.masks) if subset.masks is not None else float("nan")
        rows[method] = row
    return rows


def main(argv: list[str] | None = None) -> None:
    from multigan.anomaly.models import AnoGAN

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="brain-mri")
    parser.add_argument("--split", default="val", choices=["val", "test"])
    parser.add_argument("--n", type=int, default=400, help="slices per variation (half with a lesion)")
    parser.add_argument("--variations", nargs="+", default=list(VARIATIONS), choices=VARIATIONS)
    parser.add_argument("--methods", nargs="+", default=["izif"], choices=["izif", "search", "izif+search"])
    parser.add_argument("--search-images", type=int, default=100, help="class-balanced subset for search methods")
    parser.add_argument("--seed", type=int, default=None,
                        help="draw other slices and lesions (default: the split's own seed, 501 val / 503 test)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    seed = SEEDS[args.split] if args.seed is None else args.seed

    model = AnoGAN.from_pretrained(args.model)
    start = time.perf_counter()
    slices = make_slices(args.split, args.n, seed)
    print(f"{args.n} slices of the {args.split} positions (seed {seed}) in {time.perf_counter() - start:.0f} s; "
          f"model {args.model} (preprocess {model.preprocess!r})")
    print(f"{'variation':<11} {'method':<12} {'images':>6} {'AUROC':>6} {'bright':>6} {'dark':>6} {'pixel':>6}")
    table = {}
    for name in args.variations:
        table[name] = score_variation(model, name, slices, args.methods, args.search_images, seed + 1)
        for method, row in table[name].items():
            print(f"{name:<11} {method:<12} {row['images']:>6} {row['auroc']:>6.3f} {row['auroc_bright']:>6.3f} "
                  f"{row['auroc_dark']:>6.3f} {row['pixel_auroc']:>6.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "split": args.split, "n": args.n, "seed": seed,
                                         "table": table},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
