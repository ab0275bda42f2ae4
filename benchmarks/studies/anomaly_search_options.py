"""AnoGAN's latent search on validation: image AUROC along the search, for λ, Adam lr and the start.

    python benchmarks/studies/anomaly_search_options.py                                  # shipped brain-mri
    python benchmarks/studies/anomaly_search_options.py --lams 0.1 0.5 --lrs 0.02 --starts random encoder
    python benchmarks/studies/anomaly_search_options.py --model runs/brain/final --n 200 --checks 50 100 250 500
    python benchmarks/studies/anomaly_search_options.py --search-starts 1 64 --lrs 0.005 0.01 --seeds 0 1
    python benchmarks/studies/anomaly_search_options.py --n 500 --search-starts 64 --lrs 0.0025 --search-restarts 1 2 3

Like ``anomaly_scoring_options.py`` it never touches the test split: the held-out *validation*
slices get simulated lesions (:func:`multigan.anomaly.with_simulated_lesions`, its own seed), and
the first ``--n``/2 normal and first ``--n``/2 lesioned slices are searched. For each setting the
model's own search (``AnoGAN._search``) runs once to the largest ``--checks`` value; at every
check it scores the current reconstructions the way the model scores (its ``image_score``, map shift / σ / top fraction) and
prints the image AUROC (and that of the search loss, AnoGAN's own score). ``--starts encoder``
starts from f-AnoGAN's E(x) (``method="izif+search"``); ``random`` from the best of
``--search-starts`` k draws of z ~ N(0, I) (``AnoGAN.best_start``, seeded by each ``--seeds``
value), as ``score(method="search", search_starts=k, seed=s)`` does; with ``--search-restarts`` R
the search runs R times, each from its own best-of-k start, and each image keeps, at every check,
the search with the lowest loss there (``AnoGAN.random_search``). About 1 s per image per 500
steps on 2 CPU cores (R times that with restarts).
"""

import argparse
import time
import warnings


def main() -> None:
    import torch

    from multigan.anomaly import AnoGAN, brain_mri, with_simulated_lesions
    from multigan.anomaly.metrics import auroc
    from multigan.anomaly.models import anomaly_map, keep_lower_loss, map_score

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="brain-mri")
    p.add_argument("--n", type=int, default=100, help="validation slices searched (half of them lesioned)")
    p.add_argument("--lams", type=float, nargs="+", default=[0.1], help="AnoGAN's λ (the paper: 0.1)")
    p.add_argument("--lrs", type=float, nargs="+", default=[0.02], help="Adam step of the z search")
    p.add_argument("--starts", nargs="+", default=["random"], choices=["random", "encoder"])
    p.add_argument("--search-starts", type=int, nargs="+", default=[1],
                   help="random starts: the best of this many draws per image")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the random starts")
    p.add_argument("--search-restarts", type=int, nargs="+", default=[1],
                   help="random starts: whole searches per image, the lowest final loss kept")
    p.add_argument("--checks", type=int, nargs="+", default=[100, 250, 500], help="search steps to report")
    p.add_argument("--seed", type=int, default=7, help="lesion seed")
    args = p.parse_args()
    if args.n < 2 or min(args.checks) < 1:
        p.error("--n must be >= 2 and every --checks value >= 1")

    det = AnoGAN.from_pretrained(args.model).eval().requires_grad_(False)
    data = with_simulated_lesions(brain_mri("val", size=det.image_size), seed=args.seed)
    half = args.n // 2
    idx = torch.cat([torch.nonzero(data.labels == 0)[:half, 0], torch.nonzero(data.labels == 1)[:half, 0]])
    x, y = data.images[idx], data.labels[idx]
    checks = sorted(set(args.checks))

    def image_scores(loss, rec):
        if det.image_score == "loss":
            return loss
        maps = anomaly_map(x, rec, shift=det.map_shift, sigma=det.map_sigma)
        return map_score(x, maps, det.map_top, det.map_margin)

    print(f"{len(x)} validation slices ({int(y.sum())} lesioned, seed {args.seed}); model {args.model}; "
          f"image score {det.image_score!r}")
    print("| start | λ | lr | " + " | ".join(f"Γ {c}" for c in checks) + " | loss AUROC at Γ "
          f"{checks[-1]} | s |")
    print("|---|---:|---:|" + "---:|" * (len(checks) + 2))
    starts = [("encoder", 1, 0, 1)] if "encoder" in args.starts else []
    starts += [("random", k, seed, r) for k in args.search_starts for seed in args.seeds for r in args.search_restarts
               if "random" in args.starts]
    for start, k, seed, restarts in starts:
        for lam in args.lams:
            for lr in args.lrs:
                t0 = time.perf_counter()
                gen = torch.Generator().manual_seed(seed)
                best = {}                                  # check → (search loss, image score) kept per image
                for _ in range(restarts):
                    z0 = det.encode(x) if start == "encoder" else det.best_start(x, k, gen, lam)

                    def check(step, z, lam=lam):
                        if step in checks:
                            with torch.no_grad(), warnings.catch_warnings():
                                warnings.simplefilter("ignore", UserWarning)
                                loss, rec = det.search_loss(x, z, lam)
                                run = (loss, image_scores(loss, rec))
                            best[step] = keep_lower_loss(*run, *best[step]) if step in best else run

                    with torch.enable_grad():
                        det._search(x, z0, checks[-1], lam, lr, on_step=check)
                name = start if start == "encoder" else f"best of {k} (seed {seed})"
                name += f", best of {restarts} searches" if restarts > 1 else ""
                print(f"| {name} | {lam:g} | {lr:g} | " + " | ".join(f"{auroc(best[c][1], y):.3f}" for c in checks)
                      + f" | {auroc(best[checks[-1]][0], y):.3f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
