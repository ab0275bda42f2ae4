"""How the text-to-image modality trains: :class:`TextImageOptions` and :func:`train`.

StackGAN runs two stages of :func:`multigan.core.recipe.run_stages` (Stage-I 64 px, then Stage-II
on the frozen, averaged Stage-I); GAN-CLS one. Training data come from :mod:`.data`
(``--data shapes``: the train split of CaptionedShapes, held-out (colour, shape) pairs never seen;
``--data emoji``: the emoji train split); caption embeddings are computed once with the text
encoder and cached in ``<out>/data/``, so a resumed run does not load the encoder again.
The command line is in :mod:`.cli`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from multigan.core.options import RunOptions, common, option, resolve_options

from .data import DATASETS, caption_embeddings, emoji_dataset, shapes_dataset
from .encoder import DEFAULT_ENCODER

__all__ = ["TextImageOptions", "train"]


@dataclass
class TextImageOptions(RunOptions):
    """``multigan train text2image`` options."""

    model: str = option("stackgan", "stackgan (Stage-I, then Stage-II) or gan-cls", choices=("stackgan", "gan-cls"))
    preset: str | dict = option("cpu-64", "architecture: cpu-64 or paper (a dict of the model's arguments from "
                                "Python or --config)")
    kl_weight: Optional[float] = option(None, "StackGAN: weight of the conditioning-augmentation KL term "
                                        "(none: the preset's 2.0)")
    mode_seeking: float = option(0.0, "weight of MSGAN's mode-seeking term in the generator loss (0: off)")
    diversity_sensitive: float = option(0.0, "weight of DSGAN's diversity-sensitive term in the generator loss "
                                        "(0: off)")
    diversity_bound: float = option(1.0, "DSGAN's bound τ: picture distance per unit of latent distance above "
                                    "which the term rewards no more")
    minibatch_std: bool = option(False, "give the discriminators the batch's feature spread (Karras et al. 2018)")
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
    init_from: Optional[str] = common("init_from", None)
    augment: Optional[str] = option(None, "DiffAugment what the discriminators see: color, translation, cutout "
                                    "(comma-separated; e.g. color,translation,cutout)", group="trainer")
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
    the preset's: on for GAN-CLS, off for StackGAN). ``mode_seeking`` (λ > 0) adds MSGAN's term
    (:func:`~multigan.text2image.models.mode_seeking_loss`) to G's loss, ``diversity_sensitive`` (λ > 0)
    DSGAN's, bounded by ``diversity_bound`` (:func:`~multigan.text2image.models.diversity_sensitive_loss`);
    ``minibatch_std`` gives the
    discriminators the batch's feature spread. ``time_limit`` (seconds or ``"2h30m"``, both
    stages together) ends training early with a checkpoint and exports the stage reached; ``resume``
    goes on from there. ``init_from`` (an exported model built with the same options, e.g.
    ``"emoji"``) starts from its weights, counting Stage-I iterations on from its ``training.json``;
    for StackGAN, Stage-II then trains afresh on that Stage-I (``--steps-stage1`` at the model's
    count: Stage-II only). ``augment`` (see :class:`~multigan.core.augment.DiffAugment`) transforms
    every picture both discriminators see, real and fake alike. Returns the ``final`` folder.
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
    if o.mode_seeking:
        overrides["mode_seeking"] = float(o.mode_seeking)
    if o.diversity_sensitive:
        overrides["diversity_sensitive"] = float(o.diversity_sensitive)
        overrides["diversity_bound"] = float(o.diversity_bound)
    if o.minibatch_std:
        overrides["minibatch_std"] = True
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
            "progress": o.progress, "tensorboard": False, "augment": o.augment, **o.trainer}

    def dataset():                           # at the stage's image size
        if data == "shapes":
            return shapes_dataset(int(n_train), net.image_size, seed, embeddings)
        if net.image_size == 64:
            return first
        return emoji_dataset(out, net.image_size, encoder=encoder, repeats=repeats, seed=seed)[0]

    def averaged_stage1(trainer):            # Stage-II builds on the averaged Stage-I
        if trainer.ema is not None:
            net.generator.load_state_dict(trainer.ema.state_dict())

    def stage2():
        net.set_stage(2)
        if o.init_from is not None:          # a fresh Stage-II on the loaded Stage-I (a checkpoint, if any, wins)
            net.restart_stage2()

    if model == "stackgan":
        # Stage-II starts from random weights: an EMA (0.999) over a short stage would stay mostly at the
        # initialisation (500 steps left 61 % of it), so the average copies the weights for the first half
        stages = [Stage("stage1", dataset, {**base, "steps": int(steps_stage1)}, folder="stage1",
                        before=lambda: net.set_stage(1), after=averaged_stage1)]
        if steps_stage2:
            stages.append(Stage("stage2", dataset, {**base, "steps": int(steps_stage2),
                                                 "ema_start": int(steps_stage2) // 2},
                                folder="stage2", before=stage2))
    else:
        stages = [Stage("stage1", dataset, {**base, "steps": int(steps_stage1)})]
    run = run_stages(net, stages, out, resume=o.resume, overwrite=o.overwrite, init_from=o.init_from,
                     time_limit=o.time_limit, command=command, options=o)
    return run.export(components=["generator"], model=model, preset=preset, overrides=overrides,
                      stage=getattr(net, "stage", 1), steps=run.steps,
                      data=description, dataset=data, examples=examples, text_encoder=encoder_name,
                      text_encoder_fingerprint=fingerprint)

