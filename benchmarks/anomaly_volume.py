"""Score a whole brain volume, normal and with a lesion drawn in, as `multigan score anomaly brain.nii.gz` does.

    python benchmarks/anomaly_volume.py --model brain-mri
    python benchmarks/anomaly_volume.py --model runs/x/final --center 26 -16 22 --diameter 16 --factor 1.6

It writes nilearn's MNI152 T1 template at 2 mm (99×117×95; the template the built-in set was cut
from, here at another resolution and as a whole volume) as ``template.nii.gz``, and a copy with a
sphere drawn in (:func:`draw_sphere`: ``--diameter`` mm across at ``--center``, world coordinates
in mm, its voxels' intensity × ``--factor``; > 1 is a bright lesion, < 1 a dark one) as
``template_sphere.nii.gz``. Both are read by :func:`multigan.anomaly.read_images` with the model's
preprocessing, scored with f-AnoGAN, and written with their anomaly-map volume and montage
(:meth:`~multigan.anomaly.AnomalyResult.write_volumes`) to ``--out``. It prints each volume's
score against the threshold, its verdict, its most anomalous judged slices, and which slices the
sphere touches. Needs nilearn and nibabel (as the asset build does).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def draw_sphere(volume: np.ndarray, affine: np.ndarray, center_mm: tuple[float, float, float], diameter_mm: float,
                factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``volume`` with the voxels whose centres lie within ``diameter_mm / 2`` of ``center_mm`` scaled by ``factor``.

    Returns the new volume (float32) and the sphere's boolean mask on the volume's grid.
    """
    if diameter_mm <= 0:
        raise ValueError(f"diameter_mm must be positive, got {diameter_mm}")
    ijk = np.stack(np.meshgrid(*(np.arange(n) for n in volume.shape[:3]), indexing="ij"), axis=-1)
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    mask = np.linalg.norm(xyz - np.asarray(center_mm, dtype=np.float64), axis=-1) <= diameter_mm / 2
    out = volume.astype(np.float32).copy()
    out[mask] *= factor
    return out, mask


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="brain-mri")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/anomaly_volume"))
    parser.add_argument("--center", type=float, nargs=3, default=[26.0, -16.0, 22.0], metavar=("X", "Y", "Z"),
                        help="sphere centre, world coordinates in mm (MNI space; default: right hemisphere's "
                             "white matter)")
    parser.add_argument("--diameter", type=float, default=16.0, help="sphere diameter in mm")
    parser.add_argument("--factor", type=float, default=1.6, help="intensity factor inside the sphere")
    args = parser.parse_args(argv)

    import nibabel as nib
    from nilearn.datasets import load_mni152_template

    from multigan.anomaly import AnoGAN, read_images

    template = load_mni152_template(resolution=2)
    data = np.asarray(template.get_fdata(), dtype=np.float32)
    sphere, mask = draw_sphere(data, template.affine, tuple(args.center), args.diameter, args.factor)
    args.out.mkdir(parents=True, exist_ok=True)
    det = AnoGAN.from_pretrained(args.model)
    rows = {}
    for name, volume in (("template", data), ("template_sphere", sphere)):
        path = args.out / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(volume, template.affine), path)
        scans = read_images(path, size=det.image_size, channels=det.channels)
        res = det.score(scans)
        (vol,) = res.write_volumes(args.out / name, path, scans.preparation)
        res.write_report(args.out / name, volumes=[vol])
        rows[name] = {"score": round(float(vol["score"]), 3), "threshold": round(float(res.threshold), 3),
                      "label": vol["label"], "most_anomalous_slice": vol["most_anomalous_slice"],
                      "slices": vol["slices"], "slices_not_judged": vol["slices_not_judged"],
                      "top_slices": vol["montage_slices"]}
    sphere_slices = sorted({int(k) for k in np.nonzero(mask)[2]})
    rows["sphere"] = {"center_mm": args.center, "diameter_mm": args.diameter, "factor": args.factor,
                      "slices": sphere_slices}
    for name in ("template", "template_sphere"):
        r = rows[name]
        print(f"{name}: score {r['score']:.3f} against threshold {r['threshold']:.3f} -> {r['label']}; "
              f"{r['slices']} slices scored, {r['slices_not_judged']} not judged; top slices {r['top_slices']}")
    print(f"sphere touches slices {sphere_slices}")
    (args.out / "volume.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
