"""Training, sampling and the command line of the text-to-image modality.

    multigan train text2image --out runs/t2i --model stackgan --steps-stage1 3000 --steps-stage2 2000
    multigan train text2image --out runs/cls --model gan-cls --steps-stage1 5000
    multigan sample text2image "a green triangle on the left" --out img.png --model shapes [-n 4] [--seed 0]
    multigan sample text2image "a red circle at the top" --to "a blue square at the bottom" --out lerp.png
    multigan eval text2image --model shapes [--n 500] [--seed 0] [--json metrics.json]
    multigan eval text2image --model runs/emoji/final --data emoji

Training data is the train split of :class:`~multigan.text2image.shapes_data.CaptionedShapes`
(held-out (colour, shape) pairs never appear). Caption embeddings are computed once with the text
encoder and cached in ``<out>/data/`` (safetensors, keyed by encoder, size and seed), so a resumed
run does not load the encoder again.

:func:`evaluate_model` measures the quality bar on captions of the *held-out* (colour, shape)
pairs: attribute accuracy, R-precision, diversity, a two-sample test and sharpness (for StackGAN,
Stage-I against Stage-II), each next to the value real images get.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from multigan.cli import add_count_arguments, add_seed_argument, checked_count, chosen_seed, modality_parser
from multigan.core.options import RunOptions, add_options, common, option, parse_options, resolve_options

from .encoder import DEFAULT_ENCODER
from .evaluate import evaluate_emoji, evaluate_model, format_metrics

__all__ = ["TextImageOptions", "train", "train_options", "shapes_dataset", "caption_embeddings", "cached_embeddings", "emoji_dataset", "DATASETS",
           "evaluate_model", "format_metrics", "cli", "demo", "DEMO_CAPTIONS"]

#: captions of the demo grid: seen pairs and held-out (colour, shape) pairs
DEMO_CAPTIONS = ("a small red circle on the left", "a large blue triangle at the top",
                 "a green square in the middle", "a large yellow circle at the bottom",
                 "a red triangle on the right", "a small green circle at the top",
                 "a blue square on the left", "a purple circle in the middle")

#: training data of ``train(data=...)`` and ``--data``
DATASETS = ("shapes", "emoji")

_CHUNK = 2048        # examples rendered per CaptionedShapes call (bounds the float32 intermediate)


def _chunks(n: int, seed: int) -> list[tuple[int, int]]:
    """``(size, seed)`` of each CaptionedShapes chunk: chunk k uses seed ``seed · 100003 + k``."""
    return [(min(_CHUNK, n - start), seed * 100_003 + k) for k, start in enumerate(range(0, n, _CHUNK))]


def _shape_captions(n: int, seed: int) -> list[str]:
    from .shapes_data import CaptionedShapes

    return [c for size, s in _chunks(n, seed) for c in CaptionedShapes(size, split="train", image_size=16,
                                                                         seed=s).captions]


def shapes_dataset(n: int, image_size: int, seed: int, embeddings: torch.Tensor) -> torch.utils.data.TensorDataset:
    """CaptionedShapes train split as ``(uint8 images (n, 3, S, S), embeddings)`` (the models map uint8 to [-1, 1])."""
    from .shapes_data import CaptionedShapes

    parts = []
    for size, s in _chunks(n, seed):
        images = CaptionedShapes(size, split="train", image_size=image_size, seed=s).images
        parts.append(((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    images = torch.cat(parts)
    if len(images) != len(embeddings):
        raise ValueError(f"{len(images)} images but {len(embeddings)} embeddings")
    return torch.utils.data.TensorDataset(images, embeddings)


def caption_embeddings(out: str | Path, n: int, seed: int,
                       encoder: Any = DEFAULT_ENCODER) -> tuple[torch.Tensor, str, Optional[str]]:
    """Embeddings of the ``n`` training captions of captioned shapes, cached in ``out/data/``.

    Returns ``(embeddings, encoder name, encoder fingerprint or None)``.

    ``encoder``: an encoder name (loaded only when the cache misses) or an encoder object with
    ``name``, ``dim`` and ``encode``.
    """
    file = Path(out) / "data" / f"shapes-train-n{n}-seed{seed}-embeddings.safetensors"
    return cached_embeddings(file, lambda: _shape_captions(n, seed), encoder, {"n": str(n), "seed": str(seed)})


def cached_embeddings(file: Path, captions: Callable[[], list[str]], encoder: Any = DEFAULT_ENCODER,
                      metadata: Optional[dict[str, str]] = None) -> tuple[torch.Tensor, str, Optional[str]]:
    """Embeddings of ``captions()`` (called only when the cache misses), cached in ``file`` by encoder.

    Returns ``(embeddings, encoder name, encoder fingerprint or None)``; a cache made by another
    encoder (name, or fingerprint when both are known) is recomputed.
    """
    from safetensors.torch import load_file, safe_open, save_file

    name = encoder if isinstance(encoder, str) else str(encoder.name)
    if file.is_file():
        with safe_open(str(file), "pt") as fh:
            meta = fh.metadata() or {}
        if meta.get("encoder") == name:
            fingerprint = meta.get("fingerprint") or None
            if isinstance(encoder, str) or fingerprint in (None, getattr(encoder, "fingerprint", None)):
                return load_file(str(file))["embeddings"], name, fingerprint
    if isinstance(encoder, str):
        from .encoder import TextEncoder
        encoder = TextEncoder(encoder)
    embeddings = torch.as_tensor(encoder.encode(captions())).float().contiguous()
    fingerprint = getattr(encoder, "fingerprint", None)
    from multigan.core.atomic import atomic_file
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(file) as tmp:
        save_file({"embeddings": embeddings}, str(tmp),
                  metadata={"encoder": name, "fingerprint": fingerprint or "", **(metadata or {})})
    return embeddings, name, fingerprint


def emoji_dataset(out: str | Path, size: int, *, encoder: Any = DEFAULT_ENCODER, repeats: int = 8, seed: int = 0,
                  path: Optional[str | Path] = None) -> tuple[Any, str, Optional[str]]:
    """The emoji train split as :class:`~multigan.text2image.data.CaptionDraws` at ``size`` px (every
    caption kind; embeddings cached in ``out/data/``). Returns ``(dataset, encoder name, fingerprint)``."""
    from .data import emoji_set

    data = emoji_set("train", size, path=path)
    captions, _ = data.flat_captions()
    digest = hashlib.sha256("\n".join(captions).encode()).hexdigest()[:12]
    file = Path(out) / "data" / f"emoji-train-{digest}-embeddings.safetensors"
    embeddings, name, fingerprint = cached_embeddings(file, lambda: captions, encoder, {"captions": digest})
    if len(embeddings) != len(captions):
        raise ValueError(f"{file} holds {len(embeddings)} embeddings for {len(captions)} captions; delete it")
    return data.training_set(embeddings, repeats=repeats, seed=seed), name, fingerprint


@dataclass
class TextImageOptions(RunOptions):
    """``multigan train text2image`` options."""

    model: str = option("stackgan", "stackgan (Stage-I, then Stage-II) or gan-cls", choices=("stackgan", "gan-cls"))
    preset: str | dict = option("cpu-64", "architecture: cpu-64 or paper (a dict of the model's arguments from "
                                "Python or --config)")
    kl_weight: Optional[float] = option(None, "StackGAN: weight of the conditioning-augmentation KL term "
                                        "(none: the preset's 2.0)")
    gan_int: Optional[bool] = option(None, "GAN-INT generator term on interpolated captions (none: on for gan-cls, "
                                     "off for stackgan)")
    encoder: str = option(DEFAULT_ENCODER, "text encoder package name or model folder (an encoder object from "
                          "Python)", group="data")
    data: str = option("shapes", "training pictures and captions", group="data", choices=DATASETS)
    n_train: int = option(6000, "captioned shapes to train on (--data shapes)", group="data")
    repeats: int = option(8, "--data emoji: visits of each picture per pass, each with one of its captions",
                          group="data")
    steps_stage1: int = option(3000, "iterations of Stage-I (GAN-CLS: all)", group="trainer")
    steps_stage2: int = option(2000, "iterations of Stage-II (StackGAN; 0: skip)", group="trainer")
    batch_size: int = common("batch_size", 64)
    ema_decay: Optional[float] = common("ema_decay", 0.999)
    log_every: int = common("log_every", 100)
    checkpoint_every: int = common("checkpoint_every", 500)
    progress: bool = option(True, "progress bar", group="run")


def train(out: str | Path, options: Optional[TextImageOptions] = None, *, command: str = "",
          **overrides: Any) -> Path:
    """Train ``"stackgan"`` (Stage-I, then Stage-II with Stage-I frozen) or ``"gan-cls"``.

    ``options`` (:class:`TextImageOptions`; keyword ``overrides`` by field name). ``data``:
    ``"shapes"`` (``n_train`` captioned shapes) or ``"emoji"`` (the emoji train split, each picture
    ``repeats`` times per pass with one of its captions, see :func:`emoji_dataset`).

    Writes ``out/final/`` (EMA generator, fp16, ``save_pretrained`` format, with ``training.json``);
    StackGAN's stages keep their checkpoints in ``out/stage1/`` and ``out/stage2/``, GAN-CLS in
    ``out/``. ``resume=True`` continues from the newest checkpoints (a finished stage is skipped).
    ``preset`` is a name from :data:`~multigan.text2image.models.PRESETS` or a dict of the model's
    arguments. ``kl_weight`` (StackGAN only) overrides the conditioning augmentation's KL weight
    (the authors' 2.0 by default). ``gan_int`` switches the GAN-INT generator term on or off (default:
    the preset's: on for GAN-CLS, off for StackGAN). ``time_limit`` (seconds or ``"2h30m"``, both
    stages together) ends training early with a checkpoint and exports the stage reached; ``resume``
    goes on from there. Returns the ``final`` folder.
    """
    encoder = overrides.pop("encoder", None)                 # an encoder object stays out of the options
    if encoder is not None and not isinstance(encoder, str):
        overrides["encoder"] = str(encoder.name)
    elif encoder is not None:
        overrides["encoder"] = encoder
    o = resolve_options(TextImageOptions, options, overrides)
    encoder = encoder if encoder is not None and not isinstance(encoder, str) else o.encoder
    model, preset, data, repeats, seed, n_train = o.model, o.preset, o.data, o.repeats, o.seed, o.n_train
    steps_stage1, steps_stage2, kl_weight, gan_int = o.steps_stage1, o.steps_stage2, o.kl_weight, o.gan_int
    from multigan.core.recipe import Stage, run_stages

    from .models import MODELS, TextImageGAN, build_model

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(MODELS)}")
    if int(steps_stage1) < 1 or int(steps_stage2) < 0:
        raise ValueError(f"need steps_stage1 >= 1 and steps_stage2 >= 0, got {steps_stage1}, {steps_stage2}")
    overrides = {}
    if kl_weight is not None:
        if model != "stackgan":
            raise ValueError(f"kl_weight is a StackGAN option (conditioning augmentation); {model!r} has none")
        overrides["kl_weight"] = float(kl_weight)
    if gan_int is not None:
        overrides["interpolate"] = bool(gan_int)
    out = Path(out)
    if data == "shapes":
        embeddings, encoder_name, fingerprint = caption_embeddings(out, int(n_train), seed, encoder)
        text_dim, examples = int(embeddings.shape[1]), int(n_train)
        description = f"CaptionedShapes train split (n={n_train}, seed={seed}; held-out pairs excluded)"
    else:
        first, encoder_name, fingerprint = emoji_dataset(out, 64, encoder=encoder, repeats=repeats, seed=seed)
        text_dim, examples = int(first.embeddings.shape[1]), len(first.images)
        description = (f"emoji train split ({examples} Noto Color Emoji, every caption kind; {repeats} visits per "
                       "pass, one caption each; held-out compositions and val excluded)")
    torch.manual_seed(seed)
    net = build_model(model, preset, text_dim=text_dim, text_encoder=encoder_name,
                      text_encoder_fingerprint=fingerprint, **overrides)
    base = {**TextImageGAN.trainer_defaults(), "seed": seed, "device": o.device, "precision": o.precision,
            "ema_decay": o.ema_decay, "log_every": o.log_every, "checkpoint_every": o.checkpoint_every,
            "snapshot_every": o.checkpoint_every, "snapshot_size": 16, "batch_size": o.batch_size,
            "progress": o.progress, "tensorboard": False, **o.trainer}

    def dataset():                           # at the stage's image size
        if data == "shapes":
            return shapes_dataset(int(n_train), net.image_size, seed, embeddings)
        if net.image_size == 64:
            return first
        return emoji_dataset(out, net.image_size, encoder=encoder, repeats=repeats, seed=seed)[0]

    def averaged_stage1(trainer):            # Stage-II builds on the averaged Stage-I
        if trainer.ema is not None:
            net.generator.load_state_dict(trainer.ema.state_dict())

    if model == "stackgan":
        # Stage-II starts from random weights: an EMA (0.999) over a short stage would stay mostly at the
        # initialisation (500 steps left 61 % of it), so the average copies the weights for the first half
        stages = [Stage("stage1", dataset, {**base, "steps": int(steps_stage1)}, folder="stage1",
                        before=lambda: net.set_stage(1), after=averaged_stage1)]
        if steps_stage2:
            stages.append(Stage("stage2", dataset, {**base, "steps": int(steps_stage2),
                                                 "ema_start": int(steps_stage2) // 2},
                                folder="stage2", before=lambda: net.set_stage(2)))
    else:
        stages = [Stage("stage1", dataset, {**base, "steps": int(steps_stage1)})]
    run = run_stages(net, stages, out, resume=o.resume, overwrite=o.overwrite, time_limit=o.time_limit,
                     command=command, options=o)
    return run.export(components=["generator"], model=model, preset=preset, overrides=overrides,
                      stage=getattr(net, "stage", 1), steps=run.steps,
                      data=description, dataset=data, examples=examples, text_encoder=encoder_name,
                      text_encoder_fingerprint=fingerprint)


# -- evaluation ------------------------------------------------------------------------------------


def demo(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """``multigan demo``: a captioned grid (4 samples for each of 8 captions) from the shipped ``shapes`` model."""
    from .models import TextImageGAN

    model = TextImageGAN.from_pretrained("shapes")
    images = model.generate(list(DEMO_CAPTIONS), n=4, seed=seed)
    return [images.write_grid(Path(out_dir) / "grid.png")]


def train_options(argv: Sequence[str]) -> TextImageOptions:
    """The :class:`TextImageOptions` of a ``multigan train text2image`` command line (``--out`` aside)."""
    return parse_options(TextImageOptions, _parser("train").parse_args(list(argv)))


def _parser(command: str) -> argparse.ArgumentParser:
    p = modality_parser(command, "text2image")
    if command == "train":
        p.add_argument("--out", required=True, help="run folder")
        add_options(p, TextImageOptions)
    elif command == "sample":
        p.add_argument("captions", nargs="+", help="one or more captions")
        p.add_argument("--out", required=True, help="image file (.png .jpg); {i} for one file per image")
        p.add_argument("--model", default="shapes", help="shipped model name or checkpoint folder")
        add_count_arguments(p, 1, 256, "images per caption")
        add_seed_argument(p)
        p.add_argument("--to", default=None, help="interpolate from the (single) caption to this one")
        p.add_argument("--steps", type=int, default=8, help="images of an interpolation (--to)")
        p.add_argument("--no-captions", action="store_true", help="grid without captions under the tiles")
    elif command == "eval":
        p.add_argument("--model", default="shapes", help="shipped model name or checkpoint folder")
        p.add_argument("--data", default="shapes", choices=DATASETS,
                       help="what the model was trained on: held-out shapes, or unseen emoji and compositions")
        p.add_argument("--n", type=int, default=500, help="--data shapes: images for held-out (and train) captions")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", default=None, help="also write the metrics as JSON here")
    else:
        raise NotImplementedError(f"'multigan {command} text2image' does not exist; use train, sample or eval")
    return p


def cli(command: str, argv: Sequence[str]) -> int:
    """Entry point for ``multigan train|sample|eval text2image``."""
    args = _parser(command).parse_args(list(argv))
    if command == "train":
        final = train(args.out, parse_options(TextImageOptions, args),
                      command="multigan train text2image " + " ".join(argv))
        print(f"model written to {final}")
        return 0
    from .models import TextImageGAN

    if command == "sample":
        checked_count(args, "images per caption")
    model = TextImageGAN.from_pretrained(args.model)
    if command == "eval":
        table = (evaluate_emoji(model, seed=args.seed) if args.data == "emoji"
                 else evaluate_model(model, n=args.n, seed=args.seed))
        print(format_metrics(table))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
        return 0
    if args.to is not None:
        if len(args.captions) != 1:
            raise ValueError("--to interpolates from exactly one caption")
        images = model.interpolate(args.captions[0], args.to, steps=args.steps, seed=chosen_seed(args))
    else:
        images = model.generate(args.captions, n=args.n, seed=chosen_seed(args))
    if "{i}" in args.out:
        files = images.write_images(args.out)
    else:
        files = [images.write_grid(args.out, captions=not args.no_captions)]
    for path in files:
        print(path)
    return 0
