"""Choose a brain-MRI model's scoring options (views, map shift, σ, tissue margin, top fraction) without the test set.

    python benchmarks/studies/anomaly_scoring_options.py --model brain-mri
    python benchmarks/studies/anomaly_scoring_options.py --model runs/brain/final --user-val 0
    python benchmarks/studies/anomaly_scoring_options.py --shifts 0 1 2 --sigmas 1 2 --margins 0 3 --tops 0.01
    python benchmarks/studies/anomaly_scoring_options.py --views one flip flip-shift --shifts 2 --sigmas 1.5
    python benchmarks/studies/anomaly_scoring_options.py --model runs/brain128/final --data runs/data128/brain_mri.npz \
        --shifts 2 4 6 --sigmas 2 3 4 --margins 4 6 8

Two validation sets, neither of which touches the test split:

* **simulated**: the held-out *validation* slices of the built-in set (all normal), with simulated
  lesions (:func:`multigan.anomaly.with_simulated_lesions`: the test split's settings, a seed of
  its own) on half of them;
* **user** (``--user-val N``, needs nilearn): N whole 1 mm slices of the validation positions
  exported as 8-bit PNG, half with lesions drawn by another hand, read back as a user's files are
  (``benchmarks/anomaly_user_inputs.py --split val``, the ``full-fov`` variation). One draw of 400
  varies by about ±0.03 image AUROC from seed to seed; ``--user-seeds 501 511 521`` pools N slices
  of each of several draws.

Each set is scored with f-AnoGAN once per view (:func:`multigan.anomaly.models.views_of`: the image,
its mirror, both moved by 2 px); for every choice of views (``map_views``: the per-pixel minimum
of their maps), shift tolerance r and Gaussian σ
(:func:`multigan.anomaly.models.anomaly_map`), tissue margin m (:func:`~multigan.anomaly.models.map_score`)
and top fraction t the script reports the image AUROC of ``image_score="map"`` (mean of the top t of
the map within the margin) on each set, bright and dark lesions of the user
set apart, and pixel AUROC. It names the setting with the best sum of the two image AUROCs
(simulated alone with ``--user-val 0``), and gives the user set's image AUROC by lesion area (at
1 mm) for the best setting and the model's own. Takes a few minutes on a CPU: one encoder pass per image
and view, the maps are recomputed from the reconstructions.
"""

import argparse
import itertools
import sys
from pathlib import Path


#: lesion-area bins (mm² at 1 mm) the user set's image AUROC is broken down by
AREA_BINS = ((0, 30), (30, 100), (100, 300), (300, float("inf")))


def area_auroc(scores, labels, areas, lo: float, hi: float) -> float:
    """Image AUROC of the normal slices against the lesioned ones whose lesion area is in [lo, hi) (nan: none)."""
    from multigan.anomaly.metrics import auroc

    sized = (labels == 1) & (areas >= lo) & (areas < hi)
    keep = (labels == 0) | sized
    return auroc(scores[keep], labels[keep]) if sized.any() and (labels == 0).any() else float("nan")


def user_val(det, n: int, seeds: list[int]):
    """``n`` user-style validation slices (full field of view, 8-bit PNG) of each draw in ``seeds``, read the
    model's way, their polarity and their lesion areas (mm² at 1 mm)."""
    import torch

    from multigan.anomaly.data import ImageSet

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import anomaly_user_inputs as user

    parts, polarity, areas = [], [], []
    for seed in seeds:
        data, pol, area = user.read_back(det, "full-fov", user.make_slices("val", n, seed), seed + 1)
        parts.append(data)
        polarity.append(torch.as_tensor(pol))
        areas.append(torch.as_tensor(area))
    if len(parts) == 1:
        return parts[0], polarity[0], areas[0]
    masks = None if any(d.masks is None for d in parts) else torch.cat([d.masks for d in parts])
    pooled = ImageSet(torch.cat([d.images for d in parts]),
                      [f"{seed}/{name}" for seed, d in zip(seeds, parts) for name in d.names],
                      torch.cat([d.labels for d in parts]), masks, preprocess=parts[0].preprocess)
    return pooled, torch.cat(polarity), torch.cat(areas)


def main() -> None:
    import torch

    from multigan.anomaly import AnoGAN, brain_mri, with_simulated_lesions
    from multigan.anomaly.metrics import auroc, pixel_auroc
    from multigan.anomaly.models import MAP_VIEWS, anomaly_map, map_score, views_of

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="brain-mri")
    p.add_argument("--views", nargs="+", default=list(MAP_VIEWS), choices=MAP_VIEWS)
    p.add_argument("--shifts", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--sigmas", type=float, nargs="+", default=[1, 1.5, 2])
    p.add_argument("--margins", type=int, nargs="+", default=[0, 2, 3, 4])
    p.add_argument("--tops", type=float, nargs="+", default=[0.0025, 0.005, 0.01])
    p.add_argument("--data", default=None,
                   help="brain-MRI set (.npz) whose validation split is simulated on, for a model trained on one "
                        "(e.g. built with scripts/build_anomaly_assets.py --size 128); default the shipped set")
    p.add_argument("--seed", type=int, default=7, help="lesion seed (the test split's lesions used the asset's own)")
    p.add_argument("--user-val", type=int, default=400, help="user-style validation slices (0: none)")
    p.add_argument("--user-seeds", type=int, nargs="+", default=[501],
                   help="draws of user-style slices to pool (501: the benchmark's own val seed)")
    p.add_argument("--show", type=int, default=12, help="print the best this many settings")
    args = p.parse_args()

    det = AnoGAN.from_pretrained(args.model)
    sets = {"simulated": (with_simulated_lesions(brain_mri("val", size=det.image_size, path=args.data),
                                                  seed=args.seed), None)}
    areas = None
    if args.user_val:
        data, polarity, areas = user_val(det, args.user_val, args.user_seeds)
        sets["user"] = (data, polarity)
    widest = max(args.views, key=lambda v: len(views_of(v)))     # its views hold every other choice's
    recs = {}                                   # per set, per view: the view's reconstruction moved back
    det.eval()
    for name, (data, _) in sets.items():
        parts = [det.view_reconstructions(data.images[i:i + 64], widest)[1] for i in range(0, len(data), 64)]
        recs[name] = {v: torch.cat(part) for v, part in zip(views_of(widest), zip(*parts))}
    for name, (data, _) in sets.items():
        print(f"{name}: {len(data)} validation slices, {int(data.labels.sum())} with lesions; model {args.model}")
    rows = []
    for views, shift, sigma in itertools.product(args.views, args.shifts, args.sigmas):
        maps = {name: torch.stack([anomaly_map(data.images, recs[name][v], shift=shift, sigma=sigma)
                                   for v in views_of(views)]).amin(0) for name, (data, _) in sets.items()}
        pixel = pixel_auroc(maps["simulated"], sets["simulated"][0].masks)
        for margin, top in itertools.product(args.margins, args.tops):
            row = {"views": views, "shift": shift, "sigma": sigma, "margin": margin, "top": top, "pixel": pixel}
            for name, (data, polarity) in sets.items():
                scores, labels = map_score(data.images, maps[name], top, margin), data.labels
                row[name] = auroc(scores, labels)
                if polarity is not None:
                    for kind, sign in (("bright", 1), ("dark", -1)):
                        keep = (labels == 0) | (polarity == sign)
                        row[kind] = auroc(scores[keep], labels[keep])
                    if areas is not None:
                        row["by_area"] = [area_auroc(scores, labels, areas, lo, hi) for lo, hi in AREA_BINS]
            rows.append(row)
    rows.sort(key=lambda r: -sum(r[name] for name in sets))
    user = "user" in sets
    print("| views | shift | σ | margin | top | image AUROC, simulated |" + (" user | bright | dark |" if user else "")
          + " pixel AUROC, simulated |")
    print("|---|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if user else "") + "---:|")
    for r in rows[:args.show]:
        print(f"| {r['views']} | {r['shift']} | {r['sigma']:g} | {r['margin']} | {r['top']:g} | {r['simulated']:.3f} |"
              + (f" {r['user']:.3f} | {r['bright']:.3f} | {r['dark']:.3f} |" if user else "") + f" {r['pixel']:.3f} |")
    best = rows[0]
    print(f"best: --map-views {best['views']} --map-shift {best['shift']}"
          f" --map-sigma {best['sigma']:g} --map-margin {best['margin']} "
          f"--map-top {best['top']:g}")
    now = next((r for r in rows if (r["views"], r["shift"], r["sigma"], r["margin"], r["top"]) == (
        det.map_views, det.map_shift, det.map_sigma, det.map_margin, det.map_top)), None)
    if now is not None:
        print(f"the model's own options (views {now['views']}, shift {now['shift']},"
              f" σ {now['sigma']:g}, margin {now['margin']}, top "
              f"{now['top']:g}): simulated {now['simulated']:.3f}" + (f", user {now['user']:.3f}" if user else ""))
    if areas is not None:
        labels = sets["user"][0].labels
        print("\nuser set, image AUROC by lesion area at 1 mm (normal slices against the lesioned ones of each size):")
        print("| lesion area | slices | best setting |" + (" the model's own |" if now is not None else ""))
        print("|---|---:|---:|" + ("---:|" if now is not None else ""))
        for i, (lo, hi) in enumerate(AREA_BINS):
            count = int(((labels == 1) & (areas >= lo) & (areas < hi)).sum())
            name = f"under {hi} mm²" if lo == 0 else f"over {lo} mm²" if hi == float("inf") else f"{lo}–{hi} mm²"
            print(f"| {name} | {count} | {best['by_area'][i]:.3f} |"
                  + (f" {now['by_area'][i]:.3f} |" if now is not None else ""))


if __name__ == "__main__":
    main()
