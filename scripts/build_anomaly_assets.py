"""Build ``multigan/assets/anomaly/brain_mri.npz`` (and ``ATTRIBUTION.md``) from the MNI152 T1 template bundled with nilearn.

Run once (about six minutes on 2 CPU cores; nilearn's bundled templates work offline)::

    pip install nilearn nibabel && python scripts/build_anomaly_assets.py

What it does:

1. Loads the 1 mm MNI ICBM152 2009a T1 template with its grey- and white-matter probability maps
   and whole-brain mask (``nilearn.datasets.load_mni152_*``), reoriented to RAS+ and cut into
   axial slices with :func:`multigan.anomaly.data.volume_slices` (the orientation
   :func:`~multigan.anomaly.data.read_images` gives NIfTI slices).
2. Keeps the axial slices whose brain area is at least 25 % of the largest one, and assigns them
   to splits by position: ``z % 4 == 1`` → val, ``z % 4 == 3`` → test, the rest → train, so val
   and test images come from slice positions never used for training (their neighbours 1 mm
   away are, so this is a weak hold-out).
3. Draws every image from a random slice of its split with a random augmentation at the
   template's 1 mm grid: affine about the brain's centre (rotation ±10°, scale ±8 %, shift ±9 mm),
   a smooth elastic deformation (up to about 6 mm), tissue-contrast jitter (grey/white matter
   intensity ±8 % through the probability maps), gamma 0.8–1.25, a smooth multiplicative bias
   field (about ±10 %) and Rician noise (σ 1–5 % of white matter).
4. Prepares each augmented slice exactly as a user's slice is prepared
   (:func:`multigan.anomaly.preprocess.prepare_slice`: foreground crop + 8 %, tissue
   normalisation, 64×64), and stores it as uint8 (``x / 127.5 - 1`` gives back [-1, 1]).
5. Adds simulated lesions (:func:`~multigan.anomaly.data.simulate_lesions`, its default ranges:
   both polarities, sharp to diffuse rims) inside the brain mask to exactly half of the test
   images, with exact masks and each image's lesion polarity (``test_polarity``).

The output is deterministic (fixed seed, fixed zip timestamps): rerunning the script with the same
library versions rewrites byte-identical files, both written atomically. Other offline volumes
were examined and not used (see ATTRIBUTION.md).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from multigan.anomaly.data import simulate_lesions, volume_slices
from multigan.anomaly.preprocess import MIN_AREA, crop_square, prepare_slice, resize
from multigan.core.atomic import atomic_file

SEED = 20190101
SIZE = 64
COUNTS = {"train": 4000, "val": 500, "test": 1000}
MAX_BYTES = 20_000_000
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

ATTRIBUTION = """\
# Attribution: `brain_mri.npz`

`brain_mri.npz` is derived from the **MNI ICBM152 2009a nonlinear symmetric T1-weighted template**
(1 mm, skull-stripped, 197×233×189 voxels) as bundled with **nilearn** {nilearn}
(`nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz`, with the grey- and
white-matter maps `mni_icbm152_{{gm,wm}}_tal_nlin_sym_09a_converted.nii.gz` used for contrast
augmentation and the brain mask of `nilearn.datasets.load_mni152_brain_mask`). It was built by
`scripts/build_anomaly_assets.py` (seed {seed}); rebuild with

    pip install nilearn nibabel && python scripts/build_anomaly_assets.py

## What is in it — and what it is not

* **One brain.** Every image, normal or not, comes from a single volume: the ICBM152 template, a
  nonlinear *average* of MRI scans of 152 young healthy adults. It has no individual anatomy, no
  skull, no scanner noise of its own and very smooth intensities. Variety comes only from the
  choice of axial slice ({slices} slices, z = {zmin}..{zmax} of the RAS+-oriented template, brain
  area ≥ {min_area:.0%} of the largest) and from synthetic augmentation: affine (rotation ±10°,
  scale ±8 %, shift ±3 px), a small elastic deformation, grey/white-matter contrast jitter, gamma,
  bias field and mild Rician noise. A model that does well here has learned one brain under
  perturbations; this is a stand-in for real scans, **not a clinical data set**.
* **Simulated lesions.** The abnormal test images carry **simulated** lesions made by
  `multigan.anomaly.data.simulate_lesions` with its default ranges: 1–3 irregular blobs per image
  (equivalent radius 3–12 px at 64×64, about 18–72 mm across), brighter or darker than the tissue
  around them with equal odds (contrast 0.4–0.8 of the [-1, 1] range, capped at ±1 rather than
  flipped), sharp to diffuse rims, 75–100 % opacity, textured interiors, placed inside the brain
  mask in grey and white matter. Of the {n_abnormal} lesioned images, {n_bright} have only brighter
  lesions, {n_dark} only darker ones and {n_mixed} both (`test_polarity`). They are not real
  pathology and do not imitate any particular disease. The masks are exact: pixels outside them
  equal the lesion-free image.
* **Splits.** Axial slice positions are split by `z % 4` (1 → val, 3 → test, others → train), so
  val/test images come from slice positions not used in training, although neighbouring slices
  1 mm away are.

| split | images | abnormal | slice positions | use |
|---|---|---|---|---|
| train | {n_train} | 0 | {s_train} | training on normal images |
| val | {n_val} | 0 | {s_val} | threshold calibration (normal only) |
| test | {n_test} | {n_abnormal} | {s_test} | evaluation (lesion masks) |

Images are {size}×{size} uint8 (`x / 127.5 - 1` maps to [-1, 1]); each augmented 1 mm slice was prepared by
`multigan.anomaly.preprocess.prepare_slice`, the rule `multigan.anomaly.read_images` applies to a
user's slice: cropped to its foreground + 8 %, background → −1 and median tissue → 0.2; brain and lesion
masks are bit-packed. Lesion area: median {area_med} px (range {area_min}–{area_max}); mean
absolute change inside the masks {change:.2f} (in [-1, 1] units). The file is {size_mb:.1f} MB.

## Volumes considered and not used

* dipy's `S0_10slices.nii.gz` (128×128×10, 2 mm) and `aniso_vox.nii.gz` (58×58×24, 4×4×5 mm) are
  b0 diffusion images: T2-weighted contrast (bright CSF), low resolution and few slices. Mixing
  them with T1 slices would make the "normal" class bimodal in contrast.
* nibabel's test volumes (`anatomical.nii` 33×41×25 at 2 mm, `example4d.nii.gz` EPI, etc.) are
  too small or functional images.

## Licences

* **MNI ICBM152 2009 templates**: nilearn's dataset description
  (`nilearn/datasets/description/icbm152_2009.rst`) lists the licence as "unknown" and points to
  <http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009>. The McConnell Brain Imaging
  Centre distributes the ICBM 2009 templates under the permissive notice below. We could not open
  the MNI page from this machine; the text is as quoted by projects that redistribute the 2009
  templates (e.g. the `templates/README.md` of github.com/BrainImAccs/fatbACPC):

  > Copyright (C) 1993–2004 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological
  > Institute, McGill University. Permission to use, copy, modify, and distribute this software
  > and its documentation for any purpose and without fee is hereby granted, provided that the
  > above copyright notice appear in all copies. The authors and McGill University make no
  > representations about the suitability of this software for any purpose. It is provided
  > "as is" without express or implied warranty. The authors are not responsible for any data
  > loss, equipment damage, property loss, or injury to subjects or patients resulting from the
  > use or misuse of this software package.

  References: V. S. Fonov, A. C. Evans, R. C. McKinstry, C. R. Almli, D. L. Collins, "Unbiased
  nonlinear average age-appropriate brain templates from birth to adulthood", NeuroImage 47
  (2009) S102; V. S. Fonov et al., "Unbiased average age-appropriate atlases for pediatric
  studies", NeuroImage 54 (2011) 313–327; D. L. Collins et al., "ANIMAL+INSECT: improved cortical
  structure segmentation", IPMI 1999.
* **nilearn** (the software that bundles the template) is distributed under the BSD 3-Clause
  licence, "Copyright (c) The nilearn developers."
"""


# -- template --------------------------------------------------------------------------------------

def load_template() -> dict[str, np.ndarray]:
    """Axial slices ``(n, rows, cols)`` of the T1 template, GM/WM maps and brain mask (RAS+)."""
    try:
        import nibabel as nib
        from nilearn import datasets
    except ImportError:
        raise SystemExit("nilearn and nibabel are needed to build the asset: pip install nilearn nibabel") from None
    loaders = {"t1": datasets.load_mni152_template, "gm": datasets.load_mni152_gm_template,
               "wm": datasets.load_mni152_wm_template, "brain": datasets.load_mni152_brain_mask}
    out = {}
    for key, load in loaders.items():
        img = nib.as_closest_canonical(load(resolution=1))
        out[key] = volume_slices(img.get_fdata(dtype=np.float32), axis=2).astype(np.float64)
    out["brain"] = out["brain"] > 0.5
    return out


def select_slices(brain: np.ndarray) -> np.ndarray:
    """Indices of the axial slices whose brain area is at least MIN_AREA of the largest."""
    area = brain.sum(axis=(1, 2))
    return np.flatnonzero(area >= MIN_AREA * area.max())


def split_slices(keep: np.ndarray) -> dict[str, np.ndarray]:
    return {"train": keep[(keep % 4 == 0) | (keep % 4 == 2)], "val": keep[keep % 4 == 1], "test": keep[keep % 4 == 3]}


# -- augmentation ----------------------------------------------------------------------------------

def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy import ndimage

    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return f / (f.std() + 1e-12)


def augment(rng: np.random.Generator, stack: np.ndarray, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One augmented slice at the template's 1 mm grid: raw T1 intensities and the brain mask.

    ``stack`` holds the T1, GM, WM and brain-mask slices ``(4, rows, cols)``. The slice is warped
    about its brain's centre (rotation, scale, shift, a smooth elastic field), its tissue contrast,
    gamma and bias field jittered, and Rician noise added — all at 1 mm, before any preprocessing,
    as a scanner or a viewer's export would hand it over.
    """
    from scipy import ndimage

    shape = stack.shape[1:]
    brain0 = stack[3] > 0.5
    rows, cols = np.nonzero(brain0)
    center = np.array([rows.mean(), cols.mean()])
    angle = np.deg2rad(rng.uniform(-10, 10))
    scale = rng.uniform(0.92, 1.08)
    shift = rng.uniform(-9, 9, 2)                                  # mm (about ±3 px at 64×64)
    alpha = rng.uniform(0.0, 6.0)                                  # elastic, up to about 6 mm
    v, u = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    v, u = v - center[0] - shift[0], u - center[1] - shift[1]
    cos, sin = np.cos(angle), np.sin(angle)
    sv = (cos * v - sin * u) / scale + alpha * _smooth_field(rng, shape, 24.0)
    su = (sin * v + cos * u) / scale + alpha * _smooth_field(rng, shape, 24.0)
    coords = np.stack([center[0] + sv, center[1] + su])
    t1, gm, wm, brain = (ndimage.map_coordinates(ch, coords, order=1, mode="constant", cval=0.0) for ch in stack)
    brain = brain >= 0.5

    t1 = t1 * (1.0 + rng.uniform(-0.08, 0.08) * gm + rng.uniform(-0.08, 0.08) * wm)
    t1 = np.clip(t1, 0.0, None) ** rng.uniform(0.8, 1.25)
    coeff = rng.uniform(-0.1, 0.1, 5)
    pv, pu = v / max(shape) * 2, u / max(shape) * 2
    t1 = t1 * np.exp(coeff[0] * pv + coeff[1] * pu + coeff[2] * pv * pu + coeff[3] * pv ** 2 + coeff[4] * pu ** 2)
    sigma = rng.uniform(0.01, 0.05) * np.percentile(t1[brain], 99) if brain.any() else 0.0
    sigma *= noise                    # 0: the noise-free slice (benchmarks/studies/anomaly_ceiling.py); same draws
    t1 = np.hypot(t1 + sigma * rng.standard_normal(shape), sigma * rng.standard_normal(shape))
    return t1, brain


def prepare_training_slice(t1: np.ndarray, brain: np.ndarray, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The ``size``×``size`` uint8 image and brain mask, prepared exactly as a user's slice is."""
    prepared = prepare_slice(t1, size=size)
    image = np.round((prepared.image[0].astype(np.float64) + 1.0) * 127.5).astype(np.uint8)
    crop = crop_square(brain[None].astype(np.float32), prepared.box, 0.0)
    return image, resize(crop, size)[0] >= 0.5


def seed_streams(seed: int = SEED) -> dict[str, np.random.SeedSequence]:
    """The independent random streams of the build: ``train``, ``val``, ``test`` images and ``lesions``."""
    return dict(zip(("train", "val", "test", "lesions"), np.random.SeedSequence(seed).spawn(4)))


def make_split(rng: np.random.Generator, template: dict, slices: np.ndarray, n: int,
               noise: float = 1.0, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` augmented, prepared ``size``×``size`` images (uint8), brain masks (bool) and their source
    slice indices."""
    stacks = {z: np.stack([template[k][z] for k in ("t1", "gm", "wm")] + [template["brain"][z].astype(np.float64)])
              for z in slices}
    chosen = rng.choice(slices, size=n)
    images, brains = np.zeros((n, size, size), np.uint8), np.zeros((n, size, size), bool)
    for i, z in enumerate(chosen):
        images[i], brains[i] = prepare_training_slice(*augment(rng, stacks[z], noise), size=size)
    return images, brains, chosen.astype(np.int16)


def add_lesions(rng: np.random.Generator, images: np.ndarray, brains: np.ndarray,
                **options) -> dict[str, np.ndarray]:
    """Lesions on exactly half the images: new images, labels, masks and per-image statistics.

    ``options`` go to :func:`simulate_lesions` (its defaults build the asset)."""
    n = len(images)
    abnormal = np.sort(rng.permutation(n)[: n // 2])
    x = images[abnormal].astype(np.float32) / 127.5 - 1.0
    lesioned, masks = simulate_lesions(x[:, None], brain_masks=brains[abnormal][:, None], rng=rng, **options)
    new = np.round((lesioned[:, 0].numpy().astype(np.float64) + 1.0) * 127.5).astype(np.uint8)
    m = masks[:, 0].numpy()
    assert (new[~m] == images[abnormal][~m]).all(), "lesions changed pixels outside their masks"
    assert (m <= brains[abnormal]).all(), "lesion outside the brain mask"
    out_images, out_masks = images.copy(), np.zeros_like(brains)
    out_images[abnormal], out_masks[abnormal] = new, m
    labels = np.zeros(n, np.uint8)
    labels[abnormal] = 1
    signed = (new.astype(np.float64) - images[abnormal]) / 127.5
    brighter = np.array([(signed[i][m[i]] > 0).mean() for i in range(len(m))])
    polarity = np.zeros(n, np.int8)
    polarity[abnormal] = np.where(brighter >= 0.9, 1, np.where(brighter <= 0.1, -1, 2))
    return {"images": out_images, "labels": labels, "masks": out_masks, "areas": m.sum(axis=(1, 2)),
            "change": np.array([np.abs(signed[i][m[i]]).mean() for i in range(len(m))]), "polarity": polarity}


# -- output ----------------------------------------------------------------------------------------

def _pack(masks: np.ndarray) -> np.ndarray:
    return np.packbits(masks.reshape(len(masks), -1), axis=1)


def save_npz(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Write ``arrays`` as a compressed npz, atomically and byte-for-byte reproducibly."""
    with atomic_file(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return path


def build(out_dir: Path, seed: int = SEED, counts: dict[str, int] | None = None,
          size: int = SIZE) -> dict[str, np.ndarray]:
    """Build the asset and ATTRIBUTION.md in ``out_dir``; return the arrays written.

    ``size`` other than 64 builds the same set (same slices, augmentations and lesions, the lesions
    scaled with the image) at another side, for a higher-resolution model: it is not shipped, so
    the asset budget does not apply to it."""
    import nilearn

    counts = dict(COUNTS if counts is None else counts)
    start = time.perf_counter()
    template = load_template()
    keep = select_slices(template["brain"])
    splits = split_slices(keep)
    streams = seed_streams(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in counts.items():
        images, brains, chosen = make_split(np.random.default_rng(streams[split]), template, splits[split],
                                            n, size=size)
        if split == "test":
            lesions = add_lesions(np.random.default_rng(streams["lesions"]), images, brains)
            images = lesions["images"]
            arrays["test_labels"] = lesions["labels"]
            arrays["test_masks"] = _pack(lesions["masks"])
            arrays["test_polarity"] = lesions["polarity"]
        arrays[f"{split}_images"], arrays[f"{split}_brain"], arrays[f"{split}_slice"] = images, _pack(brains), chosen
    meta = {"source": "MNI ICBM152 2009a T1 (nilearn)", "nilearn": nilearn.__version__, "seed": seed,
            "size": size, "counts": counts, "slices": [int(keep[0]), int(keep[-1])],
            "preprocessing": "crop", "splits": {k: len(v) for k, v in splits.items()}}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    npz = save_npz(arrays, out_dir / "brain_mri.npz")
    nbytes = npz.stat().st_size
    if size == SIZE and nbytes > MAX_BYTES:
        raise SystemExit(f"{npz} is {nbytes} bytes, over the {MAX_BYTES}-byte budget")

    areas = lesions["areas"]
    text = ATTRIBUTION.format(
        nilearn=nilearn.__version__, seed=seed, slices=len(keep), zmin=int(keep[0]), zmax=int(keep[-1]),
        min_area=MIN_AREA, n_train=counts["train"], n_val=counts["val"], n_test=counts["test"],
        n_abnormal=int(arrays["test_labels"].sum()), s_train=len(splits["train"]), s_val=len(splits["val"]),
        s_test=len(splits["test"]), n_bright=int((lesions["polarity"] == 1).sum()),
        n_dark=int((lesions["polarity"] == -1).sum()), n_mixed=int((lesions["polarity"] == 2).sum()), area_med=round(float(np.median(areas))), area_min=int(areas.min()),
        area_max=int(areas.max()), size=size, change=float(lesions["change"].mean()), size_mb=nbytes / 1e6)
    with atomic_file(out_dir / "ATTRIBUTION.md") as tmp:
        tmp.write_text(text, encoding="utf-8")

    print(f"slices z={keep[0]}..{keep[-1]} ({len(keep)}): train {len(splits['train'])}, val {len(splits['val'])}, "
          f"test {len(splits['test'])} positions")
    print("images: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; abnormal test {int(arrays['test_labels'].sum())}")
    print(f"lesion area px: median {np.median(areas):.0f}, 5–95 % {np.percentile(areas, 5):.0f}–"
          f"{np.percentile(areas, 95):.0f}; mean |change| in mask {lesions['change'].mean():.3f}")
    print(f"wrote {npz} ({nbytes / 1e6:.2f} MB) and {out_dir / 'ATTRIBUTION.md'} in {time.perf_counter() - start:.1f} s")
    return arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "multigan" / "assets" / "anomaly", help="output folder")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    parser.add_argument("--size", type=int, default=SIZE,
                        help="image side (default %(default)s, the shipped asset; e.g. 128 for a higher-resolution "
                             "model, written to another --out-dir)")
    args = parser.parse_args(argv)
    if args.size < 16 or args.size & (args.size - 1):
        parser.error(f"--size must be a power of two >= 16, got {args.size}")
    build(args.out_dir, args.seed, size=args.size)


if __name__ == "__main__":
    main()
