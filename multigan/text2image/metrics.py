"""Text-to-image metrics: attribute faithfulness, sharpness, R-precision, diversity, two-sample test.

Images are float ``(N, 3, H, W)`` in [-1, 1] or uint8 (mapped by ``x / 127.5 - 1``); a
:class:`~multigan.text2image.pipeline.TextImages` (anything with an ``.images`` tensor) works too.
The networks below take 64 × 64 inputs; other sizes are resized (bilinear, antialiased when
shrinking) first.

* :func:`attribute_accuracy` — does a generated shape have the colour, shape, size and position
  its caption asked for? Judged by :class:`AttributeClassifier`, a small CNN trained on real
  :class:`~multigan.text2image.shapes_data.CaptionedShapes` images of both splits, shipped as
  ``multigan/assets/text2image/attribute_classifier.safetensors`` (its accuracy on fresh real images is in
  the ``.json`` beside it).
* :func:`sharpness` — variance of the Laplacian of the grey image at a common resolution; higher
  is sharper. Compare Stage-II with Stage-I (and both with real images) at the same ``resolution``.
* :func:`r_precision` — how well images retrieve their own caption among ``candidates``
  captions (AttnGAN's R-precision) in the joint space of an image encoder trained contrastively
  (InfoNCE) against the frozen caption embeddings (:class:`RPrecisionEncoder`, shipped as
  ``multigan/assets/text2image/rprecision_encoder.safetensors`` for all-MiniLM-L6-v2 embeddings).
* :func:`diversity` — mean pairwise distance between images generated for one caption with
  different seeds (pixel L1 by default, or a distance between features).
* :func:`two_sample_score` — held-out accuracy of a small CNN trained to tell real from fake
  (a classifier two-sample test): 0.5 means indistinguishable, 1.0 trivially separable.

* Emoji judges (:func:`load_emoji_classifier`, :func:`load_emoji_rprecision_encoder`,
  :class:`ColourJudge`): a :class:`PictureClassifier` naming an emoji's Unicode subgroup (its
  hidden layer is the feature space of :func:`frechet_distance` and of diversity), an
  :class:`RPrecisionEncoder` trained on emoji against their captions, and a judge of skin tone and
  colour from the pixels (histogram intersection with the training emoji of each value).

Example:
    >>> data = CaptionedShapes(256, split="heldout", seed=1)                      # doctest: +SKIP
    >>> attribute_accuracy(model.generate(data.captions).images, data.attributes)  # doctest: +SKIP
    {'color': 0.93, 'shape': 0.71, 'size': 0.97, 'position': 0.98, 'all': 0.64}
    >>> sharpness(stage2_images) > sharpness(stage1_images)                       # doctest: +SKIP
    True

The shipped networks are rebuilt by ``scripts/build_text2image_assets.py`` (the emoji ones with
``--only emoji-judges``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .shapes_data import COLORS, POSITIONS, SHAPES, SIZES, CaptionedShapes

__all__ = [
    "EMOJI_CLASSIFIER_FILE",
    "EMOJI_RPRECISION_FILE",
    "TONES",
    "COLOURS",
    "PictureClassifier",
    "train_picture_classifier",
    "load_emoji_classifier",
    "load_emoji_rprecision_encoder",
    "ColourJudge",
    "colour_histograms",
    "frechet_distance",
    "colour_of_name",
    "ATTRIBUTES",
    "CLASSIFIER_FILE",
    "RPRECISION_FILE",
    "AttributeClassifier",
    "RPrecisionEncoder",
    "attribute_accuracy",
    "diversity",
    "evaluate_attribute_classifier",
    "evaluate_rprecision_encoder",
    "load_attribute_classifier",
    "load_rprecision_encoder",
    "predict_attributes",
    "r_precision",
    "save_network",
    "shapes_for_training",
    "sharpness",
    "train_attribute_classifier",
    "train_rprecision_encoder",
    "two_sample_score",
]

#: Attribute → its value names, in label order (as in :mod:`multigan.text2image.shapes_data`).
ATTRIBUTES: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "shape": SHAPES, "size": SIZES,
                                          "position": POSITIONS}
#: Shipped networks, relative to :func:`multigan.core.module.assets_dir`.
CLASSIFIER_FILE = "text2image/attribute_classifier.safetensors"
RPRECISION_FILE = "text2image/rprecision_encoder.safetensors"
_INPUT = 64                                   # input edge of the evaluation networks
_LUMA = (0.299, 0.587, 0.114)                 # ITU-R BT.601
_BUILD = "python scripts/build_text2image_assets.py"
_CHUNK = 2048                                 # CaptionedShapes images rendered per call


# -- image checks ----------------------------------------------------------------------------------

def _as_images(x: Any, name: str = "images") -> Tensor:
    """float32 ``(N, 3, H, W)`` in [-1, 1] from float [-1, 1] / uint8 tensors or arrays (or ``.images``)."""
    if hasattr(x, "images") and not isinstance(x, (Tensor, np.ndarray)):
        x = x.images
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).detach().cpu()
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] != 3 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (N, 3, H, W) of RGB images, got {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.float() / 127.5 - 1
    if not t.is_floating_point():
        raise TypeError(f"{name} must be float in [-1, 1] or uint8, got {t.dtype}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contain NaN or inf")
    if t.min() < -1.01 or t.max() > 1.01:
        raise ValueError(f"{name} must be in [-1, 1], got [{float(t.min()):.3g}, {float(t.max()):.3g}]")
    return t.clamp(-1, 1)


def _resize(x: Tensor, size: int) -> Tensor:
    """Square-resize ``(N, C, H, W)`` bilinearly (antialiased when shrinking)."""
    if x.shape[-2:] == (size, size):
        return x
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def _batched(model: nn.Module, x: Tensor, batch_size: int) -> Any:
    """Run ``model`` in eval mode over ``x`` in batches (restoring its mode); concatenates outputs."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outs = [model(_resize(x[i:i + batch_size], _INPUT).to(device)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    if isinstance(outs[0], dict):
        return {k: torch.cat([o[k].cpu() for o in outs]) for k in outs[0]}
    return torch.cat([o.cpu() for o in outs])


def _trunk(width: int) -> nn.Sequential:
    """64 → 4 px: four stride-2 3×3 convolutions (width, 2w, 4w, 4w channels) with ReLU, flattened."""
    w = int(width)
    return nn.Sequential(
        nn.Conv2d(3, w, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(4 * w, 4 * w, 3, 2, 1), nn.ReLU(),
        nn.Flatten())


# -- real training images --------------------------------------------------------------------------

def shapes_for_training(n: int, seed: int = 0, heldout_share: float = 0.2, image_size: int = _INPUT
                        ) -> tuple[Tensor, list[str], dict[str, Tensor]]:
    """``n`` real CaptionedShapes images — ``heldout_share`` of them from the held-out (colour, shape)
    pairs, the rest from the train split — as ``(uint8 (n, 3, S, S), captions, attributes)``.

    Rendered in chunks (chunk ``k`` of a split uses seed ``seed * 1009 + k``) so memory stays small.
    """
    parts = []
    counts = {"heldout": round(n * heldout_share)}
    counts["train"] = int(n) - counts["heldout"]
    for split in ("train", "heldout"):
        for k, start in enumerate(range(0, counts[split], _CHUNK)):
            d = CaptionedShapes(min(_CHUNK, counts[split] - start), split=split, image_size=image_size,
                                seed=seed * 1009 + k)
            parts.append((((d.images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), d.captions, d.attributes))
    images = torch.cat([p[0] for p in parts])
    captions = [c for p in parts for c in p[1]]
    attributes = {a: torch.cat([p[2][a] for p in parts]) for a in ATTRIBUTES}
    return images, captions, attributes


def _augment(x: Tensor, gen: torch.Generator) -> Tensor:
    """Blur half the images (3×3 box) and add Gaussian noise (σ uniform in [0, 0.08]) to all."""
    blur = torch.rand(len(x), generator=gen) < 0.5
    if blur.any():
        x = x.clone()
        x[blur] = F.avg_pool2d(x[blur], 3, 1, 1, count_include_pad=False)
    sigma = torch.rand(len(x), 1, 1, 1, generator=gen) * 0.08
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


def _epochs(n: int, epochs: int, batch_size: int, gen: torch.Generator):
    """Index batches of ``epochs`` shuffled passes over ``n`` items (last short batch dropped if n > batch)."""
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=gen)
        stop = n - n % batch_size if n > batch_size else n
        for i in range(0, stop, batch_size):
            yield order[i:i + batch_size]


# -- (a) attribute classifier ----------------------------------------------------------------------

class AttributeClassifier(nn.Module):
    """Small CNN with one head per CaptionedShapes attribute (colour 6, shape 3, size 2, position 5).

    Four stride-2 3×3 convolutions (64 → 4 px; ``width``, 2, 4, 4 × ``width`` channels, ReLU), a
    fully connected layer of ``hidden`` units (the flattened 4 × 4 map keeps where the shape is),
    then a linear head per attribute. Input ``(B, 3, 64, 64)`` in [-1, 1].

    Example:
        >>> {k: v.shape[1] for k, v in AttributeClassifier()(torch.zeros(2, 3, 64, 64)).items()}
        {'color': 6, 'shape': 3, 'size': 2, 'position': 5}
    """

    def __init__(self, width: int = 24, hidden: int = 128) -> None:
        super().__init__()
        self.config = {"width": int(width), "hidden": int(hidden)}
        self.features = nn.Sequential(_trunk(width), nn.Linear(4 * width * 16, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({a: nn.Linear(hidden, len(v)) for a, v in ATTRIBUTES.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Logits per attribute, ``{name: (B, classes)}``."""
        h = self.features(x)
        return {a: head(h) for a, head in self.heads.items()}


def train_attribute_classifier(n_images: int = 20_000, epochs: int = 3, *, seed: int = 0, batch_size: int = 128,
                               lr: float = 2e-3, augment: bool = True, width: int = 24) -> AttributeClassifier:
    """Train :class:`AttributeClassifier` on ``n_images`` real CaptionedShapes images.

    80 % from the train split and 20 % from the held-out (colour, shape) pairs, so every
    combination is judged by a classifier that has seen it. Sum of the four cross-entropies; Adam
    with cosine decay of ``lr``; with ``augment`` half of each batch is box-blurred and all images
    get light Gaussian noise (generated images are rarely crisp). Deterministic for a seed and
    thread count; leaves the global RNG untouched. About a minute on one core for the defaults.
    """
    images, _, attrs = shapes_for_training(n_images, seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AttributeClassifier(width=width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(1, epochs * (len(images) // batch_size if len(images) > batch_size else 1))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    model.train()
    for idx in _epochs(len(images), epochs, batch_size, gen):
        x = images[idx].float() / 127.5 - 1
        if augment:
            x = _augment(x, gen)
        logits = model(x)
        loss = sum(F.cross_entropy(logits[a], attrs[a][idx]) for a in ATTRIBUTES)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def predict_attributes(images: Any, classifier: nn.Module | None = None, batch_size: int = 512) -> dict[str, Tensor]:
    """Predicted attribute indices ``{name: int64 (N,)}`` (classifier defaults to the shipped one)."""
    classifier = load_attribute_classifier() if classifier is None else classifier
    logits = _batched(classifier, _as_images(images), batch_size)
    return {a: v.argmax(1) for a, v in logits.items()}


def _attribute_labels(name: str, values: Any, n: int) -> Tensor:
    """int64 ``(n,)`` labels from indices or value names (e.g. ``"red"``) of attribute ``name``."""
    if name not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {name!r}; known: {list(ATTRIBUTES)}")
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], str):
        bad = sorted({v for v in values if v not in ATTRIBUTES[name]})
        if bad:
            raise ValueError(f"unknown {name} values {bad}; choose from {list(ATTRIBUTES[name])}")
        values = [ATTRIBUTES[name].index(v) for v in values]
    y = torch.as_tensor(values).long().reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"attribute {name!r} must have {n} labels (one per image), got {tuple(y.shape)}")
    if len(y) and (y.min() < 0 or y.max() >= len(ATTRIBUTES[name])):
        raise ValueError(f"attribute {name!r} labels must be in 0..{len(ATTRIBUTES[name]) - 1}")
    return y


def attribute_accuracy(images: Any, attributes: Mapping[str, Any], classifier: nn.Module | None = None,
                       batch_size: int = 512) -> dict[str, float]:
    """Fraction of images whose predicted attribute equals the requested one, per attribute.

    Args:
        images:     generated (or real) shape images.
        attributes: ``{name: labels}`` for any of ``color``, ``shape``, ``size``, ``position``;
                    labels are indices (as in ``CaptionedShapes.attributes``) or value names.
        classifier: an :class:`AttributeClassifier`; the shipped one when None.

    Returns ``{name: accuracy}`` for the given attributes plus ``"all"``: the fraction of images
    with every given attribute right.
    """
    x = _as_images(images)
    if not attributes:
        raise ValueError("attributes must name at least one of " + ", ".join(ATTRIBUTES))
    labels = {a: _attribute_labels(a, v, len(x)) for a, v in attributes.items()}
    pred = predict_attributes(x, classifier, batch_size)
    right = {a: pred[a] == y for a, y in labels.items()}
    out = {a: float(r.double().mean()) for a, r in right.items()}
    out["all"] = float(torch.stack(list(right.values())).all(0).double().mean())
    return out


def evaluate_attribute_classifier(model: nn.Module, n: int = 2000, seed: int = 1000) -> dict[str, dict[str, float]]:
    """Accuracy per attribute (and ``"all"``) on ``n`` fresh real images of each split (``train``, ``heldout``)."""
    out = {}
    for split in ("train", "heldout"):
        data = CaptionedShapes(n, split=split, seed=seed)
        out[split] = attribute_accuracy(data.images, data.attributes, model)
    return out


# -- saving and loading ----------------------------------------------------------------------------

def save_network(model: nn.Module, path: str | os.PathLike, report: Mapping[str, Any] | None = None) -> Path:
    """Write ``model``'s weights (float32 safetensors) and ``<stem>.json`` (class, config, ``report``), atomically."""
    from safetensors.torch import save_file

    from multigan.core.atomic import atomic_file

    path = Path(path)
    meta = {"class": type(model).__name__, "config": getattr(model, "config", {}), **dict(report or {})}
    tensors = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "class": meta["class"],
                                               "config": json.dumps(meta["config"])})
    with atomic_file(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _load_network(cls: type, path: str | os.PathLike | None, default: str, device: str | torch.device) -> nn.Module:
    from safetensors import safe_open
    from safetensors.torch import load_file

    if path is None:
        from multigan.core.module import assets_dir

        path = assets_dir() / default
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{cls.__name__} weights {str(path)!r} not found; build them with: {_BUILD}")
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("class", cls.__name__) != cls.__name__:
        raise ValueError(f"{str(path)!r} holds a {meta['class']}, not a {cls.__name__}")
    model = cls(**json.loads(meta.get("config", "{}")))
    model.load_state_dict(load_file(str(path)))
    return model.to(device).eval()


def load_attribute_classifier(path: str | os.PathLike | None = None,
                              device: str | torch.device = "cpu") -> AttributeClassifier:
    """The shipped :class:`AttributeClassifier` (or one saved with :func:`save_network`), in eval mode."""
    return _load_network(AttributeClassifier, path, CLASSIFIER_FILE, device)


# -- (b) sharpness ---------------------------------------------------------------------------------

def sharpness(images: Any, resolution: int = 64, *, per_image: bool = False) -> float | Tensor:
    """Mean variance of the Laplacian of the grey image (higher = sharper edges and finer detail).

    Each image is mapped to luma in [0, 1] (BT.601 weights on ``(x + 1) / 2``), resized to
    ``resolution`` × ``resolution`` (bilinear; antialiased when shrinking), filtered with the 3×3
    Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` over the valid interior, and the variance of
    the response over pixels is taken. Returns the mean over images (or the ``(N,)`` values with
    ``per_image``). Blurring lowers it, noise raises it, so compare it next to the real images'
    value and with :func:`two_sample_score`; compare sets only at the same ``resolution``.

    Example:
        >>> sharpness(torch.zeros(2, 3, 64, 64))          # a flat image has no edges
        0.0
    """
    x = _as_images(images)
    grey = ((x + 1) / 2 * torch.tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    grey = _resize(grey, int(resolution))
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    response = F.conv2d(grey.double(), kernel.double()).flatten(1)
    values = response.var(1, unbiased=False).float()
    return values if per_image else float(values.mean())


# -- (c) R-precision -------------------------------------------------------------------------------

class RPrecisionEncoder(nn.Module):
    """Image → unit vector in a caption-embedding space (``embed_dim``, 384 for all-MiniLM-L6-v2).

    The :class:`AttributeClassifier` trunk (four stride-2 convolutions, a ``hidden``-unit layer)
    and a linear projection, L2-normalised. Trained with :func:`train_rprecision_encoder`.

    Example:
        >>> RPrecisionEncoder(embed_dim=8)(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 8])
    """

    def __init__(self, embed_dim: int = 384, width: int = 24, hidden: int = 256) -> None:
        super().__init__()
        self.config = {"embed_dim": int(embed_dim), "width": int(width), "hidden": int(hidden)}
        self.net = nn.Sequential(_trunk(width), nn.Linear(4 * width * 16, hidden), nn.ReLU(),
                                 nn.Linear(hidden, embed_dim))

    def forward(self, x: Tensor) -> Tensor:
        """Unit embeddings ``(B, embed_dim)`` of images ``(B, 3, 64, 64)``."""
        return F.normalize(self.net(x), dim=-1)


def train_rprecision_encoder(images: Any, caption_embeddings: Any, *, epochs: int = 4, batch_size: int = 128,
                             lr: float = 2e-3, temperature: float = 0.07, seed: int = 0, width: int = 24,
                             hidden: int = 256) -> RPrecisionEncoder:
    """Train an :class:`RPrecisionEncoder` against frozen caption embeddings (one per image) with InfoNCE.

    For a batch of B pairs, the logits are the cosine similarities of every image with every
    caption divided by ``temperature``; the loss is the cross-entropy of the matching pair, taken
    both ways (image → caption and caption → image, averaged) as in CLIP, but only the image side
    learns. Adam with cosine decay of ``lr``. Deterministic for a seed and thread count.
    """
    x_all = _as_images(images)
    t_all = F.normalize(torch.as_tensor(caption_embeddings).float(), dim=-1)
    if t_all.ndim != 2 or len(t_all) != len(x_all):
        raise ValueError(f"caption_embeddings must be ({len(x_all)}, D), got {tuple(t_all.shape)}")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RPrecisionEncoder(t_all.shape[1], width=width, hidden=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(1, epochs * (len(x_all) // batch_size if len(x_all) > batch_size else 1))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    model.train()
    for idx in _epochs(len(x_all), epochs, batch_size, gen):
        logits = model(_resize(x_all[idx], _INPUT)) @ t_all[idx].T / temperature
        target = torch.arange(len(idx))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def load_rprecision_encoder(path: str | os.PathLike | None = None,
                            device: str | torch.device = "cpu") -> RPrecisionEncoder:
    """The shipped :class:`RPrecisionEncoder` (for all-MiniLM-L6-v2 caption embeddings), in eval mode."""
    return _load_network(RPrecisionEncoder, path, RPRECISION_FILE, device)


def r_precision(images: Any, caption_embeddings: Any, k: int = 1, candidates: int = 100, *,
                image_encoder: nn.Module | None = None, groups: Sequence[Any] | None = None, seed: int = 0,
                batch_size: int = 512) -> float:
    """R-precision (Xu et al., AttnGAN 2018): how often an image ranks its own caption in the top ``k``
    of ``candidates`` captions (its own and ``candidates - 1`` mismatched ones).

    Args:
        images:             generated images ``(N, 3, H, W)``, or image embeddings ``(N, D)`` already
                            in the caption space (then ``image_encoder`` is not used).
        caption_embeddings: ``(N, D)``, row ``i`` the caption image ``i`` was generated from, from
                            the text encoder the image encoder was trained with.
        k:                  the rank cut-off (R@k).
        candidates:         captions ranked per image, the true one included.
        image_encoder:      maps images into the caption space; default the shipped
                            :class:`RPrecisionEncoder` (all-MiniLM-L6-v2).
        groups:             optional label per caption; captions of the image's own group are never
                            drawn as mismatches (for CaptionedShapes, the attribute tuple: other
                            templates of the same content are not wrong). By default only captions
                            with an identical embedding are excluded.
        seed:               seeds the draw of mismatched captions.

    Similarity is cosine; the image's rank is 1 + the number of mismatched captions scoring
    strictly higher than its own. Returns the fraction of images with rank ≤ ``k``; a random
    embedding scores about ``k / candidates``.

    Example:
        >>> e = torch.nn.functional.normalize(torch.randn(300, 16), dim=1)
        >>> r_precision(e, e)                     # perfectly aligned embeddings
        1.0
    """
    t = torch.as_tensor(caption_embeddings).float()
    if t.ndim != 2:
        raise ValueError(f"caption_embeddings must be (N, D), got {tuple(t.shape)}")
    raw = images.images if hasattr(images, "images") and not isinstance(images, (Tensor, np.ndarray)) else images
    raw = torch.as_tensor(raw) if not isinstance(raw, Tensor) else raw
    if raw.ndim == 2:
        v = raw.detach().float().cpu()
    else:
        encoder = load_rprecision_encoder() if image_encoder is None else image_encoder
        v = _batched(encoder, _as_images(raw), batch_size)
    if v.shape != t.shape:
        raise ValueError(f"image embeddings {tuple(v.shape)} and caption embeddings {tuple(t.shape)} differ in shape "
                         "(one caption per image, same dimension)")
    n, k, candidates = len(t), int(k), int(candidates)
    if not 1 <= k < candidates:
        raise ValueError(f"need 1 <= k < candidates, got k={k}, candidates={candidates}")
    if groups is None:
        group = torch.unique(t, dim=0, return_inverse=True)[1]
    else:
        if len(groups) != n:
            raise ValueError(f"groups must have one entry per caption ({n}), got {len(groups)}")
        keys = {g: i for i, g in enumerate(dict.fromkeys(map(_hashable, groups)))}
        group = torch.tensor([keys[_hashable(g)] for g in groups])
    eligible = torch.bincount(group, minlength=int(group.max()) + 1)
    fewest = n - int(eligible.max())
    if fewest < candidates - 1:
        raise ValueError(f"r_precision needs at least {candidates - 1} mismatched captions per image; the most "
                         f"common caption group leaves only {fewest} (use fewer candidates or more images)")
    v, t = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    gen = torch.Generator().manual_seed(seed)
    hits = 0
    for start in range(0, n, 512):
        rows = torch.arange(start, min(n, start + 512))
        # a uniform draw without replacement: the candidates-1 smallest random keys among eligible captions
        keys = torch.rand(len(rows), n, generator=gen)
        keys[group[rows][:, None] == group[None, :]] = 2.0
        neg = keys.topk(candidates - 1, dim=1, largest=False).indices               # (R, candidates-1)
        own = (v[rows] * t[rows]).sum(1)
        other = torch.einsum("rd,rcd->rc", v[rows], t[neg])
        hits += int(((other > own[:, None]).sum(1) < k).sum())
    return hits / n


def _hashable(g: Any) -> Any:
    if isinstance(g, Tensor):
        g = g.tolist()
    return tuple(g) if isinstance(g, (list, tuple, np.ndarray)) else g


def evaluate_rprecision_encoder(model: nn.Module, text_encoder: Any, n: int = 1000, seed: int = 1000,
                                candidates: int = 100) -> dict[str, float]:
    """R@1 of ``model`` on ``n`` fresh real CaptionedShapes images of each split, grouping captions by
    their attribute tuple (same-content captions are not drawn as mismatches)."""
    out = {}
    for split in ("train", "heldout"):
        data = CaptionedShapes(n, split=split, seed=seed)
        groups = list(zip(*(data.attributes[a].tolist() for a in ATTRIBUTES)))
        out[split] = r_precision(data.images, text_encoder.encode(data.captions), 1, candidates,
                                 image_encoder=model, groups=groups, seed=seed)
    return out


# -- (d) diversity ---------------------------------------------------------------------------------

def diversity(images_by_caption: Any, metric: str = "l1", features: Callable[[Tensor], Tensor] | None = None
              ) -> dict[str, Any]:
    """Mean pairwise distance between images generated for one caption with different seeds.

    Args:
        images_by_caption: ``{caption: images (S, 3, H, W)}``, a list of such batches, or one tensor
                           ``(C, S, 3, H, W)`` (C captions × S seeds).
        metric:            ``"l1"`` (per-element mean ``|a - b|``) or ``"mse"`` (mean ``(a - b)²``).
        features:          optional map of image batches in [-1, 1] to ``(S, F)`` features; distances
                           are then taken between features instead of pixels.

    Pixel distances are on the [-1, 1] scale (black vs white counts 2). Returns ``"per_caption"``
    (the mean over the unordered pairs of each caption with at least two images; keyed like the
    input), ``"mean"`` (the mean of those, each caption weighted equally; NaN when none) and
    ``"pairs"``. Identical images score 0 (mode collapse).

    Example:
        >>> x = torch.tensor([-1.0, 1.0, 0.0, 0.0]).view(2, 2, 1, 1, 1).expand(2, 2, 3, 4, 4)
        >>> diversity(x)
        {'mean': 1.0, 'per_caption': {0: 2.0, 1: 0.0}, 'pairs': 2}
    """
    if metric not in ("l1", "mse"):
        raise ValueError(f"metric must be 'l1' or 'mse', got {metric!r}")
    if isinstance(images_by_caption, Mapping):
        groups = dict(images_by_caption)
    elif isinstance(images_by_caption, (Tensor, np.ndarray)):
        t = torch.as_tensor(images_by_caption)
        if t.ndim != 5:
            raise ValueError(f"a tensor of images by caption must be (C, S, 3, H, W), got {tuple(t.shape)}")
        groups = dict(enumerate(t))
    else:
        groups = dict(enumerate(images_by_caption))
    if not groups:
        raise ValueError("no captions given")
    per_caption, pairs = {}, 0
    for key, batch in groups.items():
        x = _as_images(batch, f"images of caption {key!r}")
        if len(x) < 2:
            continue
        z = (features(x) if features is not None else x).reshape(len(x), -1).double()
        d = torch.cdist(z, z, p=1.0) if metric == "l1" else torch.cdist(z, z, p=2.0) ** 2
        m = len(x) * (len(x) - 1) // 2
        per_caption[key] = float(torch.triu(d, diagonal=1).sum()) / z.shape[1] / m
        pairs += m
    mean = float(np.mean(list(per_caption.values()))) if per_caption else float("nan")
    return {"mean": mean, "per_caption": per_caption, "pairs": pairs}


# -- (e) classifier two-sample test ----------------------------------------------------------------

class _TwoSampleNet(nn.Module):
    """Real-vs-fake logit: three stride-2 convolutions (16, 32, 64 channels), global mean and max pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 32, 3, 2, 1),
                                  nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 3, 2, 1), nn.LeakyReLU(0.2))
        self.head = nn.Linear(128, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(x)
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)).squeeze(1)


def two_sample_score(real: Any, fake: Any, *, test_fraction: float = 0.5, resolution: int = 64, steps: int = 300,
                     batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> float:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017): held-out accuracy of a small CNN told to
    separate ``real`` from ``fake`` images. 0.5 = indistinguishable, 1.0 = trivially different.

    The same number m = min(len(real), len(fake)) of images is drawn from each set (seeded), both
    are resized to ``resolution`` px, and a ``test_fraction`` of each is held out. The CNN (three
    stride-2 convolutions, global mean + max pooling, ≈ 23k parameters) trains ``steps`` Adam
    steps (shuffled passes over the rest, cosine-decayed ``lr``) with a logistic loss; the score is its accuracy on the balanced held-out
    images. With few images the score is noisy (its standard deviation at 0.5 is about
    ``0.5 / sqrt(2 · test images per set)``); use a few hundred images per set. At 64 px it
    separates real shapes from the same shapes box-blurred 5 × 5 (score 1.0 on 240 images per
    set), at 32 px much less (≈ 0.74); about 6 s on one busy core for the defaults.
    """
    a, b = _as_images(real, "real"), _as_images(fake, "fake")
    gen = torch.Generator().manual_seed(seed)
    m = min(len(a), len(b))
    n_test = round(m * test_fraction)
    if n_test < 2 or m - n_test < 2:
        raise ValueError(f"two_sample_score needs at least 2 train and 2 test images per set; got {m} per set "
                         f"with test_fraction={test_fraction}")
    a = _resize(a[torch.randperm(len(a), generator=gen)[:m]], int(resolution))
    b = _resize(b[torch.randperm(len(b), generator=gen)[:m]], int(resolution))
    x_train = torch.cat([a[n_test:], b[n_test:]])
    y_train = torch.cat([torch.ones(m - n_test), torch.zeros(m - n_test)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _TwoSampleNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, int(steps)))
    batch_size = min(int(batch_size), len(x_train))
    per_epoch = len(x_train) // batch_size
    net.train()
    for _, idx in zip(range(int(steps)), _epochs(len(x_train), -(-int(steps) // per_epoch), batch_size, gen)):
        loss = F.binary_cross_entropy_with_logits(net(x_train[idx]), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        right = int((net(a[:n_test]) > 0).sum()) + int((net(b[:n_test]) <= 0).sum())
    return right / (2 * n_test)


# -- (f) emoji judges ------------------------------------------------------------------------------

EMOJI_CLASSIFIER_FILE = "text2image/emoji_classifier.safetensors"
EMOJI_RPRECISION_FILE = "text2image/emoji_rprecision_encoder.safetensors"
#: skin tones of the emoji modifiers, lightest first
TONES = ("light", "medium-light", "medium", "medium-dark", "dark")
#: colour words of the coloured emoji (hearts, circles, squares, books, …)
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "brown", "black", "white")


class PictureClassifier(nn.Module):
    """Subgroup classifier: the evaluation trunk (four stride-2 convolutions), ``hidden`` ReLU units
    (:meth:`features`), a linear layer to ``len(classes)`` logits. Input ``(B, 3, 64, 64)`` in [-1, 1].

    Example:
        >>> PictureClassifier(["a", "b", "c"])(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 3])
    """

    def __init__(self, classes: Sequence[str], width: int = 32, hidden: int = 256) -> None:
        super().__init__()
        self.classes = [str(c) for c in classes]
        self.config = {"classes": self.classes, "width": int(width), "hidden": int(hidden)}
        self.body = nn.Sequential(_trunk(width), nn.Linear(4 * width * 16, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, len(self.classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))

    def features(self, images: Any, batch_size: int = 256) -> Tensor:
        """Hidden-layer features ``(N, hidden)`` of images (any size; resized to 64 px)."""
        return _batched(self.body, _as_images(images), batch_size)

    def predict(self, images: Any, batch_size: int = 256) -> list[str]:
        """The class name of each image."""
        return [self.classes[i] for i in _batched(self, _as_images(images), batch_size).argmax(1).tolist()]


def train_picture_classifier(images: Any, labels: Sequence[str], *, epochs: int = 40, batch_size: int = 128,
                             lr: float = 2e-3, seed: int = 0, width: int = 32, hidden: int = 256) -> PictureClassifier:
    """Train a :class:`PictureClassifier` on labelled pictures (cross-entropy, Adam with cosine decay;
    blur and noise on half the batches' images as in the shapes classifier; deterministic for a seed
    and thread count; leaves the global RNG untouched)."""
    x_all = _resize(_as_images(images), _INPUT)
    classes = sorted(set(map(str, labels)))
    y_all = torch.tensor([classes.index(str(v)) for v in labels])
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PictureClassifier(classes, width=width, hidden=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(1, epochs * max(1, len(x_all) // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    model.train()
    for idx in _epochs(len(x_all), epochs, batch_size, gen):
        loss = F.cross_entropy(model(_augment(x_all[idx], gen)), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def load_emoji_classifier(path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
                          ) -> PictureClassifier:
    """The shipped emoji subgroup classifier, in eval mode."""
    return _load_network(PictureClassifier, path, EMOJI_CLASSIFIER_FILE, device)


def load_emoji_rprecision_encoder(path: str | os.PathLike | None = None, device: str | torch.device = "cpu"):
    """The shipped R-precision image encoder for emoji (all-MiniLM-L6-v2 caption space), in eval mode."""
    return _load_network(RPrecisionEncoder, path, EMOJI_RPRECISION_FILE, device)


# -- colours from pixels ---------------------------------------------------------------------------

def colour_histograms(images: Any, bins: int = 4, white: float = 0.92) -> Tensor:
    """Normalised RGB histograms ``(N, bins³)`` of each picture's inked pixels (any channel below
    ``white`` on a 0–1 scale; the white background left out)."""
    x = ((_as_images(images) + 1) / 2).clamp(0, 1)
    inked = (x < white).any(1).flatten(1)                                   # (N, H·W)
    q = (x * bins).long().clamp(max=bins - 1)
    code = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]                      # (N, H, W)
    hist = torch.zeros(len(x), bins ** 3)
    hist.scatter_add_(1, code.flatten(1), inked.float())
    return hist / hist.sum(1, keepdim=True).clamp_min(1.0)


class ColourJudge:
    """Names the value (a skin tone, a colour word) whose mean colour histogram a picture's matches best.

    ``ColourJudge(images, values)`` averages :func:`colour_histograms` per value (``""`` values are
    skipped); :meth:`predict` returns the value of highest histogram intersection per picture.
    """

    def __init__(self, images: Any, values: Sequence[str], bins: int = 4) -> None:
        hist = colour_histograms(images, bins)
        keep = [i for i, v in enumerate(values) if v]
        self.values = sorted({values[i] for i in keep})
        if not self.values:
            raise ValueError("no labelled pictures to learn colours from")
        self.bins = bins
        self.prototypes = torch.stack([hist[[i for i in keep if values[i] == v]].mean(0) for v in self.values])

    def predict(self, images: Any) -> list[str]:
        hist = colour_histograms(images, self.bins)
        overlap = torch.minimum(hist[:, None], self.prototypes[None]).sum(-1)      # (N, values)
        return [self.values[i] for i in overlap.argmax(1).tolist()]


def colour_of_name(name: str) -> str:
    """The colour word an emoji name starts with (``"green heart"`` → ``"green"``), else ``""``."""
    m = re.match(r"^(" + "|".join(COLOURS) + r")\b", name.lower())
    return m.group(1) if m else ""


# -- distribution distance -------------------------------------------------------------------------

def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, D)``, ``(M, D)`` (FID's formula)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()   # tr √(Σa Σb)
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle)
