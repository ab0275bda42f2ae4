"""Score text-to-image checkpoints on the emoji val split, to choose which one to ship.

    python scripts/select_emoji_checkpoint.py runs/emoji/stage1/checkpoints/step-0005000 \
        runs/emoji/stage1/checkpoints/step-0005250 --json selection.json

For each checkpoint (or exported model folder): its Stage-I averaged generator draws the 82 val
emoji from their name captions with seeds 0, 1 and 2, and the script prints the mean R-precision
(R@1 among all 82 name captions, the shipped emoji R-precision encoder; ``candidates`` in each
row) and the mean Unicode-subgroup accuracy of the shipped emoji classifier. The highest
R-precision is the one to ship; the test and held-out emoji (``multigan eval text2image --data
emoji``) are then scored once, on that one. (Before the test split existed, val held all 177
emoji now in val and test, and R-precision was among 100: the older ``selection`` figures in the
shipped ``training.json`` are not comparable with these.)

``--stage 2`` scores a StackGAN's Stage-II pictures instead (the judges see them at 64 × 64) and
adds their sharpness at 128 × 128 (:func:`~multigan.text2image.metrics.sharpness`) next to that of
the real val pictures at 128, for a Stage-II has to add detail the 64-px judges cannot see.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")     # the encoder's "Loading weights" bar, as the CLI

from multigan.core.atomic import atomic_file
from multigan.text2image import TextImageGAN
from multigan.text2image.data import emoji_set
from multigan.text2image.evaluate import name_scores
from multigan.text2image.metrics import load_emoji_classifier, load_emoji_rprecision_encoder, sharpness

SEEDS = (0, 1, 2)


def score_on_val(paths: Sequence[str | Path], *, seeds: Sequence[int] = SEEDS, limit: Optional[int] = None,
                 stage: int = 1) -> list[dict[str, Any]]:
    """``[{"path", "r_precision_val", "subgroup_accuracy_val"}, ...]``, one per path, in order;
    ``limit`` scores only the first ``limit`` val emoji (for quick checks)."""
    val = emoji_set("val", 64)
    names = [captions[0] for captions in val.captions][:limit]
    subgroups = list(val.info["subgroup"])[:len(names)]
    classifier, encoder = load_emoji_classifier(), load_emoji_rprecision_encoder()
    rows = []
    real_sharpness = None
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    if stage == 2:
        real_sharpness = round(sharpness(emoji_set("val", 128).images[:len(names)], 128), 5)
    for path in paths:
        model = TextImageGAN.from_pretrained(path)
        if hasattr(model, "set_stage"):
            model.set_stage(stage)
        elif stage == 2:
            raise ValueError(f"{path} holds a {model.model_type} model, which has no Stage-II")
        embeddings = model.encode(names)
        precision, accuracy, sharp = [], [], []
        for seed in seeds:
            fake = model.generate(names, embeddings=embeddings, seed=seed).images
            scores = name_scores(fake, embeddings, subgroups, classifier, encoder, seed=seed)
            precision.append(scores[0])
            accuracy.append(scores[1])
            if stage == 2:
                sharp.append(sharpness(fake, 128))
        rows.append({"path": str(path), "r_precision_val": round(float(np.mean(precision)), 4),
                     "subgroup_accuracy_val": round(float(np.mean(accuracy)), 4), "candidates": min(100, len(names))})
        if real_sharpness is not None:
            rows[-1].update(sharpness_128=round(float(np.mean(sharp)), 5), sharpness_128_real=real_sharpness)
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="training checkpoints, run folders or exported model folders")
    p.add_argument("--json", default=None, help="also write the rows (and the chosen path) as JSON here")
    p.add_argument("--stage", type=int, choices=(1, 2), default=1, help="StackGAN stage to score (default 1)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N val emoji (quick checks)")
    args = p.parse_args(argv)
    rows = []
    for row in score_on_val(args.models, stage=args.stage, limit=args.limit):
        print(json.dumps(row), flush=True)
        rows.append(row)
    best = max(rows, key=lambda r: r["r_precision_val"])
    print(f"highest val R-precision: {best['path']} ({best['r_precision_val']})", file=sys.stderr)
    if args.json:
        with atomic_file(args.json) as tmp:
            Path(tmp).write_text(json.dumps({"rows": rows, "chosen": best["path"]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
