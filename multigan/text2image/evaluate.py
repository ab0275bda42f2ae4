"""Evaluation of text-to-image models on captions of the held-out (colour, shape) pairs.

Attribute accuracy, R-precision, diversity, a two-sample test and sharpness (for StackGAN, Stage-I
against Stage-II), each next to the value real images get.

    multigan eval text2image --model shapes [--n 500] [--seed 0] [--json metrics.json]
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .encoder import DEFAULT_ENCODER

if TYPE_CHECKING:
    from .models import TextImageGAN

__all__ = ["evaluate_model", "evaluate_emoji", "name_scores", "format_metrics", "EMOJI_GENERAL_CAPTIONS"]

_EVAL_SEED = 1_000_003   # added to the evaluation seed: keeps evaluation data off the training chunks' seeds
_DIVERSITY_CAPTIONS, _DIVERSITY_SEEDS = 16, 4


def _attribute_tuples(attributes: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    """One ``(colour, shape, size, position)`` index tuple per example."""
    from .metrics import ATTRIBUTES

    return list(zip(*(attributes[a].tolist() for a in ATTRIBUTES)))


def _rprecision_candidates(attributes: dict[str, torch.Tensor]) -> int:
    """100, or fewer when ``n`` is small: 1 + the mismatched captions every example can draw from."""
    groups = _attribute_tuples(attributes)
    return min(100, len(groups) - max(Counter(groups).values()) + 1)


def _rprecision_text(model, captions: list[str], embeddings: torch.Tensor) -> torch.Tensor:
    """Caption embeddings in the space of the shipped R-precision encoder (all-MiniLM-L6-v2)."""
    if model.text_encoder == DEFAULT_ENCODER:
        return embeddings
    from .encoder import TextEncoder

    return torch.as_tensor(TextEncoder(DEFAULT_ENCODER).encode(captions)).float()


@torch.no_grad()
def _stage1_images(model, z: torch.Tensor, embeddings: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """A StackGAN's Stage-I images for latents ``z``: the ones its Stage-II refines for the same latents."""
    generator = model.generator
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        parts = []
        for i in range(0, len(z), batch_size):
            noise, eps_stage1, _ = generator.split_latent(z[i:i + batch_size].to(device))
            parts.append(generator.stage1(noise, embeddings[i:i + batch_size].to(device), eps_stage1).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts).clamp(-1, 1)


def _real_repeats(attributes: dict[str, torch.Tensor], k: int, image_size: int, seed: int) -> torch.Tensor:
    """``(k, S, 3, size, size)`` real images: each of the first ``k`` attribute sets drawn S times (fresh jitter)."""
    from .metrics import ATTRIBUTES
    from .shapes_data import render_shape

    rows = []
    for i in range(k):
        values = [ATTRIBUTES[a][int(attributes[a][i])] for a in ATTRIBUTES]
        rng = np.random.default_rng([seed, i])
        rows.append(np.stack([render_shape(*values, image_size=image_size, rng=rng) for _ in range(_DIVERSITY_SEEDS)]))
    return torch.from_numpy(np.stack(rows)).permute(0, 1, 4, 2, 3).float() / 127.5 - 1


def evaluate_model(model: TextImageGAN, *, n: int = 500, seed: int = 0, encoder: Any = None) -> dict[str, Any]:
    """The quality bar on ``n`` images for captions of the held-out (colour, shape) pairs, next to real images.

    Captions (and their exact attributes) come from a fresh ``CaptionedShapes`` held-out split;
    real images of the same captions are the ``reference``. Metrics (see
    :mod:`multigan.text2image.metrics`):

    * ``heldout_<attr>`` / ``train_<attr>``: attribute accuracy (colour, shape, size, position,
      all) by the shipped classifier, on the held-out captions and on ``n`` train-split captions.
    * ``r_precision``: R@1 of the shipped encoder among ``r_precision_candidates`` captions (100
      unless ``n`` is small); captions with the same attributes are never drawn as mismatches.
    * ``diversity``: mean pixel L1 (on the [-1, 1] scale) between 4 seeds for 16 captions
      (reference: the same shapes redrawn with fresh jitter).
    * ``two_sample``: classifier two-sample score against the real images, at 64 px (0.5 is ideal).
    * ``sharpness``: variance of the Laplacian at the model's output size; for a StackGAN at stage
      2 also ``sharpness_stage1`` (Stage-I images of the same latents, upsampled to that size) and
      ``sharpness_ratio`` = Stage-II / Stage-I.

    ``heldout_pairs`` breaks the held-out accuracies down by (colour, shape) pair:
    ``{"red triangle": {"n": ..., "color": ..., "shape": ...}, ...}`` — an unseen combination drawn
    with a training pair's colour shows up here, not in the mean.

    ``encoder``: a text encoder to use instead of loading the model's (checked for compatibility).
    Returns ``{"generated": {...}, "reference": {...}}`` plus the settings. About a minute on one
    CPU core for a cpu-64 StackGAN at stage 2 and ``n = 500`` (mostly generating 128² images),
    15 s for GAN-CLS.
    """
    from .metrics import (
        ATTRIBUTES,
        attribute_accuracy,
        diversity,
        load_attribute_classifier,
        load_rprecision_encoder,
        r_precision,
        sharpness,
        two_sample_score,
    )
    from .models import StackGAN
    from .shapes_data import CaptionedShapes

    n, size, data_seed = int(n), model.image_size, _EVAL_SEED + int(seed)
    if n < 8:
        raise ValueError(f"n must be >= 8, got {n}")
    heldout = CaptionedShapes(n, split="heldout", image_size=size, seed=data_seed)
    seen = CaptionedShapes(n, split="train", seed=data_seed)
    embeddings = model.encode(heldout.captions, encoder=encoder)
    z = model.sample_latent(n, generator=torch.Generator().manual_seed(int(seed)))
    fake = model.generate(heldout.captions, embeddings=embeddings, z=z).images
    fake_seen = model.generate(seen.captions, embeddings=model.encode(seen.captions, encoder=encoder),
                               seed=int(seed) + 1).images

    generated: dict[str, float] = {}
    reference: dict[str, float] = {}
    classifier = load_attribute_classifier()
    for split, images, real in (("heldout", fake, heldout), ("train", fake_seen, seen)):
        generated.update({f"{split}_{k}": v for k, v in attribute_accuracy(images, real.attributes, classifier).items()})
        reference.update({f"{split}_{k}": v for k, v in attribute_accuracy(real.images, real.attributes,
                                                                            classifier).items()})

    pairs: dict[str, dict[str, float]] = {}
    for color, shape in sorted({(int(c), int(s)) for c, s in zip(heldout.attributes["color"],
                                                                 heldout.attributes["shape"], strict=True)}):
        rows = (heldout.attributes["color"] == color) & (heldout.attributes["shape"] == shape)
        accuracy = attribute_accuracy(fake[rows], {a: heldout.attributes[a][rows] for a in ("color", "shape")},
                                      classifier)
        pairs[f"{ATTRIBUTES['color'][color]} {ATTRIBUTES['shape'][shape]}"] = {
            "n": int(rows.sum()), "color": accuracy["color"], "shape": accuracy["shape"]}

    text = _rprecision_text(model, heldout.captions, embeddings)
    candidates = _rprecision_candidates(heldout.attributes)
    groups = _attribute_tuples(heldout.attributes)
    image_encoder = load_rprecision_encoder()
    for out, images in ((generated, fake), (reference, heldout.images)):
        out["r_precision"] = r_precision(images, text, 1, candidates, image_encoder=image_encoder, groups=groups,
                                         seed=int(seed))

    k = min(_DIVERSITY_CAPTIONS, n)
    repeats = [model.generate(heldout.captions[:k], embeddings=embeddings[:k], seed=int(seed) + 2 + s).images
               for s in range(_DIVERSITY_SEEDS)]
    generated["diversity"] = diversity(torch.stack(repeats, 1))["mean"]
    reference["diversity"] = diversity(_real_repeats(heldout.attributes, k, size, data_seed))["mean"]
    generated["two_sample"] = two_sample_score(heldout.images, fake, seed=int(seed))

    generated["sharpness"] = sharpness(fake, size)
    reference["sharpness"] = sharpness(heldout.images, size)
    if isinstance(model, StackGAN) and model.stage == 2:
        generated["sharpness_stage1"] = sharpness(_stage1_images(model, z, embeddings), size)
        low = generated["sharpness_stage1"]
        generated["sharpness_ratio"] = generated["sharpness"] / low if low > 0 else float("inf")
    return {"generated": generated, "reference": reference, "heldout_pairs": pairs, "model": model.model_type,
            "stage": int(getattr(model, "stage", 1)), "image_size": size, "n": n, "seed": int(seed),
            "r_precision_candidates": candidates}


#: general captions of the emoji diversity measure: each names many training pictures
EMOJI_GENERAL_CAPTIONS = ("a heart", "a hand", "a fruit", "a flag", "a face", "an animal", "a vehicle", "food")


def _feature_spread(features: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance between rows."""
    d = torch.cdist(features.double(), features.double())
    m = len(features)
    return float(torch.triu(d, diagonal=1).sum()) / (m * (m - 1) / 2)


def name_scores(images: torch.Tensor, embeddings: torch.Tensor, subgroups: list[str], classifier: Any,
                rp_encoder: Any, *, seed: int = 0, candidates: int = 100) -> tuple[float, float]:
    """``(r_precision, subgroup_accuracy)`` of emoji pictures drawn from (or, for real ones, named
    by) the name captions whose embeddings are ``embeddings``: R@1 among ``candidates`` captions
    (fewer when there are fewer pictures) with the emoji R-precision encoder, and how often the
    emoji classifier names each picture's Unicode subgroup."""
    from .metrics import r_precision

    precision = r_precision(images, embeddings, 1, min(int(candidates), len(images)), image_encoder=rp_encoder,
                            seed=seed)
    accuracy = float(np.mean([a == b for a, b in zip(classifier.predict(images), subgroups, strict=True)]))
    return precision, accuracy


def evaluate_emoji(model: TextImageGAN, *, seeds: int = 8, seed: int = 0, encoder: Any = None,
                   general: tuple[str, ...] = EMOJI_GENERAL_CAPTIONS, split: str = "test") -> dict[str, Any]:
    """How a model trained on the emoji set draws emoji it has not seen, next to the real pictures.

    On the ``split`` (``"test"``; ``"val"`` to choose options on) and held-out emoji (their name
    captions, one picture each; see :func:`~multigan.text2image.data.emoji_set`):

    * ``r_precision``: R@1 among 100 name captions (all 99 for ``"val"``) with the shipped emoji
      R-precision encoder;
    * ``subgroup_accuracy``: the shipped emoji classifier names the picture's Unicode subgroup;
    * ``fid``: Fréchet distance in that classifier's feature space to the real pictures (for
      ``data``: as many train pictures, drawn at random, against them);
    * ``tone_accuracy`` / ``colour_accuracy``: on the held-out (gesture × skin tone) and
      (colour × object) pairs, ``seeds`` pictures per sentence caption, the skin tone or colour named
      from the pixels by a :class:`~multigan.text2image.metrics.ColourJudge` built on the train split;
    * ``diversity_general``: for each caption of ``general`` (each names many pictures), the spread of
      ``seeds`` pictures (mean pairwise distance of classifier features) over the spread of the train
      pictures it names; ``diversity_precise``: the spread of ``seeds`` pictures of one ``split`` emoji
      (data: 0). ``diversity`` keeps the per-caption figures.
    """
    from .data import emoji_set
    from .metrics import (
        ColourJudge,
        colour_of_name,
        frechet_distance,
        load_emoji_classifier,
        load_emoji_rprecision_encoder,
    )

    if int(seeds) < 2:
        raise ValueError(f"seeds must be >= 2, got {seeds}")
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    train, val, held = (emoji_set(part, 64) for part in ("train", split, "heldout"))
    named = {c: [i for i, caps in enumerate(train.captions) if c in caps] for c in general}
    for caption, rows in named.items():
        if len(rows) < 2:
            raise ValueError(f"the general caption {caption!r} names {len(rows)} training pictures; it needs two")
    classifier, rp_encoder = load_emoji_classifier(), load_emoji_rprecision_encoder()
    names = [c[0] for c in val.captions] + [c[0] for c in held.captions]
    subgroups = list(val.info["subgroup"]) + list(held.info["subgroup"])
    real = torch.cat([val.images, held.images])
    emb = model.encode(names, encoder=encoder)
    fake = model.generate(names, embeddings=emb, seed=seed).images
    generated, reference = {}, {}
    generated["r_precision"], generated["subgroup_accuracy"] = name_scores(fake, emb, subgroups, classifier, rp_encoder,
                                                                           seed=seed)
    reference["r_precision"], reference["subgroup_accuracy"] = name_scores(real, emb, subgroups, classifier, rp_encoder,
                                                                           seed=seed)
    real_features = classifier.features(real)
    sample = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:len(real)]
    generated["fid"] = frechet_distance(classifier.features(fake), real_features)
    reference["fid"] = frechet_distance(classifier.features(train.images[sample]), real_features)

    single_tone = [t if t in ("light", "medium-light", "medium", "medium-dark", "dark") else ""
                   for t in train.info["skin_tone"]]
    judges = {"tone": (ColourJudge(train.images, single_tone), "gesture-tone", "skin_tone"),
              "colour": (ColourJudge(train.images, [colour_of_name(n) for n in train.names]), "colour-object", None)}
    for key, (judge, kind, field) in judges.items():
        rows = [i for i, k in enumerate(held.info["heldout"]) if k == kind]
        truth = [held.info[field][i] if field else colour_of_name(held.names[i]) for i in rows]
        sentences = [held.captions[i][1] for i in rows]
        pictures = model.generate(sentences, n=seeds, seed=seed, encoder=encoder).images
        said = judge.predict(pictures)
        generated[f"{key}_accuracy"] = float(np.mean([s == truth[j // seeds] for j, s in enumerate(said)]))
        reference[f"{key}_accuracy"] = float(np.mean([s == t for s, t in zip(judge.predict(held.images[rows]), truth)]))

    spread: dict[str, dict[str, float]] = {}
    for caption, rows in named.items():
        pick = torch.tensor(rows)[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:64]]
        drawn = model.generate(caption, n=seeds, seed=seed, encoder=encoder).images
        spread[caption] = {"generated": _feature_spread(classifier.features(drawn)),
                           "data": _feature_spread(classifier.features(train.images[pick])), "pictures": len(rows)}
    generated["diversity_general"] = float(np.mean([v["generated"] / v["data"] for v in spread.values()]))
    reference["diversity_general"] = 1.0
    precise = [names[i] for i in range(0, len(val), max(1, len(val) // 8))][:8]
    drawn = model.generate(precise, n=seeds, seed=seed, encoder=encoder).images
    generated["diversity_precise"] = float(np.mean([_feature_spread(classifier.features(drawn[k * seeds:(k + 1) * seeds]))
                                                    for k in range(len(precise))]))
    reference["diversity_precise"] = 0.0
    return {"generated": generated, "reference": reference, "diversity": spread, "model": model.model_type,
            "stage": int(getattr(model, "stage", 1)), "image_size": int(fake.shape[-1]), "n": len(names),
            "split": split,
            "seeds": int(seeds), "seed": int(seed)}


_METRIC_NAMES = {
    "r_precision": "R-precision (R@1, held-out captions)",
    "diversity": "diversity (pixel L1 across seeds)",
    "two_sample": "two-sample score (0.5 = indistinguishable)",
    "sharpness": "sharpness (Laplacian variance)",
    "sharpness_stage1": "sharpness of Stage-I, same latents",
    "sharpness_ratio": "sharpness Stage-II / Stage-I",
    "subgroup_accuracy": "subgroup accuracy (emoji classifier, {split} + held-out names)",
    "fid": "FID in the emoji classifier's features (vs real {split} + held-out)",
    "tone_accuracy": "skin-tone accuracy (held-out gesture × tone pairs)",
    "colour_accuracy": "colour accuracy (held-out colour × object pairs)",
    "diversity_general": "diversity of general captions (÷ the data's spread)",
    "diversity_precise": "spread of 8 seeds of one emoji, mean over 8 emoji (classifier features)",
}


def _metric_name(key: str, split: str = "test") -> str:
    part, _, attribute = key.partition("_")
    if part in ("heldout", "train"):
        return f"{attribute} accuracy ({'held-out' if part == 'heldout' else 'train'} pairs)"
    return _METRIC_NAMES.get(key, key).format(split=split)


def format_metrics(table: dict[str, Any]) -> str:
    """Markdown table of :func:`evaluate_model`'s result: real images (``data``) and the model side by side."""
    def number(value: float | None) -> str:
        if value is None:
            return ""
        return f"{value:.3f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"

    generated, reference = table["generated"], table["reference"]
    lines = ["| metric | data | generated |", "|---|---:|---:|"]
    lines += [f"| {_metric_name(k, table.get('split', 'test'))} | {number(reference.get(k))} | {number(v)} |"
              for k, v in generated.items()]
    pairs = table.get("heldout_pairs") or {}
    if pairs:
        lines += ["", "| held-out pair | images | colour accuracy | shape accuracy |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['n']} | {v['color']:.3f} | {v['shape']:.3f} |" for k, v in pairs.items()]
    spread = table.get("diversity") or {}
    if spread:
        lines += ["", "| general caption | pictures it names | data spread | generated spread |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['pictures']} | {v['data']:.3f} | {v['generated']:.3f} |" for k, v in spread.items()]
    extra = {k: v for k, v in table.items() if k not in ("generated", "reference", "heldout_pairs", "diversity")}
    lines.append("\n" + ", ".join(f"{k}: {v}" for k, v in extra.items()))
    return "\n".join(lines)
