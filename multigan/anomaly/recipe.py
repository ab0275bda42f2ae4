"""How the anomaly modality trains: :class:`AnomalyOptions` and :func:`train` — AnoGAN's WGAN-GP
stage on :func:`multigan.core.recipe.run_stages`, then f-AnoGAN's encoder stage
(:func:`train_encoder`, G and D frozen), calibration of the thresholds and the export.
The command line is in :mod:`.cli`; evaluation in :mod:`.evaluate`."""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from multigan.core.checkpoint import latest_checkpoint, load_state
from multigan.core.options import RunOptions, common, option, resolve_options
from multigan.core.trainer import TrainingInterrupted

from .evaluate import stratified_subset

__all__ = ["normal_sets", "train_encoder", "encoder_selection", "AnomalyOptions", "train", "search_calibration_set"]


def normal_sets(normal: Any, size: int, channels: int, preprocess: str = "crop"):
    from .data import ImageSet, brain_mri, is_brain_mri_file, read_images

    if normal is None or is_brain_mri_file(normal):
        return brain_mri("train", size=size, path=normal), brain_mri("val", size=size, path=normal)
    if isinstance(normal, tuple) and len(normal) == 2 and all(isinstance(s, ImageSet) for s in normal):
        return normal
    images = normal if isinstance(normal, ImageSet) else read_images(normal, size=size, channels=channels,
                                                                          preprocess=preprocess)
    if not isinstance(normal, ImageSet):              # the one rule for bad files in a training folder
        from multigan.io.utils import warn_skipped

        warn_skipped([f"{name}: {reason}" for name, reason in images.failures], len(images) + len(images.failures),
                     "inputs", str(normal))
    if len(images) < 10:
        raise ValueError(f"{_describe(normal)} holds {len(images)} readable images; need at least 10 normal images")
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(images), generator=g)
    n_val = max(5, len(images) // 10)
    return images.subset(order[n_val:]), images.subset(order[:n_val])


def _describe(normal: Any) -> str:
    if normal is None:
        return "brain_mri (multigan/assets/anomaly)"
    if isinstance(normal, (str, Path)):
        return str(normal)
    return f"{type(normal).__name__} given in Python"


def train_encoder(model, images: torch.Tensor, *, steps: int = 2000, batch_size: int = 64, lr: float = 1e-4,
                  kappa: float = 1.0, seed: int = 0, device: str | torch.device = "cpu", log_every: int = 100,
                  state_file: Optional[Path] = None, checkpoint_every: int = 500, progress: bool = True,
                  log_file: Optional[Path] = None, gan_step: Optional[int] = None,
                  select_on: Any = None, time_limit: Optional[float] = None) -> list[dict[str, float]]:
    """f-AnoGAN's izi_f encoder training: G and D frozen (eval mode), E minimises
    ``MSE(x, G(E(x))) + κ·MSE(f(x), f(G(E(x))))``. Adam (lr 1e-4, β (0.5, 0.999)); the authors used
    RMSProp 5e-5 for 50,000 iterations. ``state_file`` makes the stage resumable (weights, optimizer,
    RNG and step, written atomically every ``checkpoint_every`` steps). ``gan_step`` (the GAN's
    iteration count) is stored with it: a state written against another GAN iteration is stale —
    an encoder for a generator that has trained on since — and is discarded with a warning.

    ``select_on`` (a labelled :class:`~multigan.anomaly.data.ImageSet`, normal and abnormal, e.g.
    :func:`~multigan.anomaly.data.with_simulated_lesions` of held-out normal images) chooses the
    encoder checkpoint: at every logging step the model's own f-AnoGAN image scores on it are
    computed and their AUROC logged (``select_auroc``); the encoder that scored best is the one
    left in ``model`` at the end (beyond the paper, which trains a fixed number of iterations).
    The best weights, their step and the whole curve are kept in ``state_file``
    (:func:`encoder_selection` reads them back).

    ``time_limit`` (seconds) stops the stage early: the state is written, the last log row says
    ``"stopped_by_time_limit": True`` and the encoder is left as trained so far (not the selected one).
    Ctrl-C stops the same way after the iteration under way (the row says ``"interrupted": True``) and
    raises :class:`~multigan.core.trainer.TrainingInterrupted`; a second Ctrl-C stops at once.
    """
    from multigan.core.atomic import atomic_file
    from multigan.core.trainer import stop_on_interrupt, truncate_log

    device = torch.device(device)
    model.to(device)
    model.generator.eval().requires_grad_(False)
    model.discriminator.eval().requires_grad_(False)
    model.encoder.train().requires_grad_(True)
    opt = torch.optim.Adam(model.encoder.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    step, history = 0, []
    state, best, curve = None, None, []
    if select_on is not None:
        _check_selection_set(select_on)
    if state_file is not None and Path(state_file).is_file():
        state = load_state(state_file)
        saved_gan_step = state.get("gan_step")
        if gan_step is not None and saved_gan_step != gan_step:
            warnings.warn(f"{state_file}: encoder state was trained against GAN iteration {saved_gan_step}, the GAN "
                          f"is now at {gan_step}; training the encoder from scratch", stacklevel=2)
            state = None
    if state is not None:
        model.encoder.load_state_dict(state["encoder"])
        opt.load_state_dict(state["optimizer"])
        for group in opt.param_groups:                      # the lr asked for now, not the saved one
            group["lr"] = lr
        gen.set_state(state["rng"])
        step = int(state["step"])
        best, curve = state.get("best"), list(state.get("selection", []))
        if log_file is not None:
            truncate_log(Path(log_file), step)          # the iterations after the state are trained again
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=step, desc="encoder (izi_f)", unit="it")
    window: list[float] = []
    clock, stopped, interrupted = time.perf_counter(), False, False
    try:
        with stop_on_interrupt() as interrupt:
            while step < steps:
                idx = torch.randint(len(images), (batch_size,), generator=gen)
                x = images[idx].to(device)
                loss, _ = model.izif_loss(x, model.encode(x), kappa)
                loss = loss.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                window.append(float(loss.detach()))
                if bar is not None:
                    bar.update(1)
                stopped = time_limit is not None and step < steps and time.perf_counter() - clock >= time_limit
                interrupted = interrupt.requested and step < steps
                stopped = stopped or interrupted
                if step % log_every == 0 or step == steps or stopped:
                    row = {"step": step, "encoder_loss": sum(window) / len(window)}
                    if select_on is not None:
                        row["select_auroc"] = _selection_auroc(model, select_on)
                        curve.append({"step": step, "auroc": row["select_auroc"]})
                        if best is None or row["select_auroc"] > best["auroc"]:
                            best = {"step": step, "auroc": row["select_auroc"],
                                    "encoder": {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}}
                    if stopped:
                        row["interrupted" if interrupted else "stopped_by_time_limit"] = True
                    history.append(row)
                    window.clear()
                    if bar is not None:
                        bar.set_postfix(loss=f"{row['encoder_loss']:.4f}")
                    if log_file is not None:
                        with open(log_file, "a") as fh:
                            fh.write(json.dumps(row) + "\n")
                if state_file is not None and (step % checkpoint_every == 0 or step == steps or stopped):
                    with atomic_file(state_file) as tmp:
                        torch.save({"encoder": model.encoder.state_dict(), "optimizer": opt.state_dict(),
                                    "rng": gen.get_state(), "step": step, "gan_step": gan_step,
                                    "best": best, "selection": curve}, tmp)
                if stopped:
                    break
        if interrupted:
            where = f"; state written to {state_file}" if state_file is not None else ", no state_file: nothing kept"
            message = f"interrupted at encoder iteration {step}/{steps}{where}"
            if bar is not None:
                bar.write(message, file=sys.stderr)
            raise TrainingInterrupted(message, state_file)
        if select_on is not None and best is not None and not stopped:
            model.encoder.load_state_dict(best["encoder"])
    finally:
        if bar is not None:
            bar.close()
        model.generator.requires_grad_(True)
        model.discriminator.requires_grad_(True)
        model.encoder.eval()
    return history


def _check_selection_set(select_on: Any, name: str = "select_on") -> None:
    labels = getattr(select_on, "labels", None)
    if not hasattr(select_on, "images"):
        raise ValueError(f"{name.split()[0]} must be a labelled ImageSet, got {type(select_on).__name__}")
    if labels is None:
        raise ValueError(f"{name} is not labelled: it needs normal/ and abnormal/ images")
    if int(labels.min()) == int(labels.max()):
        raise ValueError(f"{name} must hold normal and abnormal images; all {len(labels)} are labelled "
                         f"{int(labels[0])}")


def _selection_auroc(model, select_on) -> float:
    """AUROC of the model's own f-AnoGAN image scores on a labelled set; the encoder stage's modes kept."""
    from .metrics import auroc

    with warnings.catch_warnings():                  # thresholds are irrelevant to a ranking
        warnings.simplefilter("ignore", UserWarning)
        res = model.score(select_on, method="izif")
    model.generator.eval().requires_grad_(False)     # score() restores the model-wide mode; the stage
    model.discriminator.eval().requires_grad_(False)  # keeps G and D frozen and E training
    model.encoder.train().requires_grad_(True)
    return auroc(res.scores, select_on.labels)


def encoder_selection(state_file: str | Path) -> Optional[dict[str, Any]]:
    """The encoder checkpoint chosen on the selection set of :func:`train_encoder` (its step and
    AUROC, and the AUROC curve), or None when the stage ran without one."""
    state = load_state(state_file)
    if state.get("best") is None:
        return None
    return {"step": int(state["best"]["step"]), "auroc": float(state["best"]["auroc"]),
            "curve": [dict(row) for row in state.get("selection", [])]}


def _selection_set(select_on: Any, val_set, size: int, channels: int, what: str = "select_on"):
    """The labelled set ``select_on`` names (None for none) and its description for ``training.json``;
    ``what`` names the argument in errors."""
    from .data import ImageSet, read_images, with_simulated_lesions

    if select_on is None:
        return None, None
    if isinstance(select_on, str) and select_on == "simulated":
        return (with_simulated_lesions(val_set, seed=7),
                "held-out normal images, simulated lesions on half (with_simulated_lesions, seed 7)")
    data = select_on if isinstance(select_on, ImageSet) else read_images(select_on, size=size, channels=channels)
    _check_selection_set(data, f"{what} {_describe(select_on)!r}")
    return data, _describe(select_on)


@dataclass
class AnomalyOptions(RunOptions):
    """``multigan train anomaly`` options. The ``scoring`` group is how the trained model scores and
    how its thresholds are calibrated; it does not change training, so a finished run can be resumed
    with other values to export and calibrate them."""

    size: int = option(64, "image size in pixels")
    channels: int = option(1, "image channels", choices=(1, 3))
    width: int = option(32, "base channel width (64 in DCGAN)")
    encoder_width: Optional[int] = option(None, "encoder's own base width (none: --width)")
    normal: Optional[str] = option(None, "folder of normal images (none: the built-in brain MRI; a .npz: a brain-MRI "
                                   "set built by scripts/build_anomaly_assets.py, e.g. --size 128; an ImageSet from "
                                   "Python)", group="data")
    preprocess: str = option("crop", "crop: each --normal image cropped to its foreground and normalised by its "
                             "tissue; none: read whole (padded to square), for images already prepared (--no-crop)",
                             group="data", choices=("crop", "none"))
    select_on: Optional[str] = option(None, "choose the encoder checkpoint by image AUROC on this labelled folder "
                                      "(normal/, abnormal/), or 'simulated': the held-out normal images, half with "
                                      "simulated lesions", group="data")
    steps: int = common("steps", 3000, "GAN iterations (5 critic steps each)")
    encoder_steps: int = option(2000, "encoder iterations", group="trainer")
    encoder_lr: float = option(1e-4, "Adam lr of the encoder stage (a resumed encoder takes this one, not its saved "
                               "lr)", group="trainer")
    batch_size: int = common("batch_size", 64)
    ema_decay: Optional[float] = common("ema_decay", None, "average G's weights with this decay per iteration (e.g. "
                                        "0.999; off by default)")
    fpr: float = option(0.05, "false-positive rate of the calibrated thresholds", group="scoring")
    calibrate_on: Optional[str] = option(None, "set thresholds by best F1 on this labelled validation folder "
                                         "(normal/, abnormal/) instead of --fpr, or 'simulated' (as for --select-on); "
                                         "never the test set", group="scoring")
    calibrate_search: bool = option(True, "calibrate AnoGAN's search threshold too", group="scoring")
    search_iterations: int = option(500, "Γ used to calibrate AnoGAN's threshold", group="scoring")
    search_calibration_images: int = option(128, "held-out normal images used to calibrate the search threshold",
                                            group="scoring")
    map_sigma: float = option(0.0, "Gaussian smoothing of anomaly maps, in pixels (0: raw |x - G(z)|)",
                              group="scoring")
    map_shift: int = option(0, "shift tolerance of anomaly maps, in pixels (0: raw |x - G(z)|)", group="scoring")
    map_margin: int = option(0, "image_score 'map' leaves out this many pixels of tissue next to the background",
                             group="scoring")
    map_views: str = option("one", "f-AnoGAN's map is the per-pixel minimum over these views of the image: one (the "
                            "image), flip (and its mirror) or flip-shift (both, also moved by 2 px; 10 views)",
                            group="scoring", choices=("one", "flip", "flip-shift"))
    image_score: str = option("loss", "image score: the method's loss (papers) or the mean of the map's top map_top",
                              group="scoring", choices=("loss", "map"))
    map_top: float = option(0.01, "fraction of the map's highest pixels image_score 'map' averages", group="scoring")
    search_starts: int = option(1, "AnoGAN's search starts from the best of this many random latents per image "
                                "(1: one draw, the paper)", group="scoring")
    search_lr: float = option(0.02, "Adam step of AnoGAN's latent search", group="scoring")
    search_restarts: int = option(1, "AnoGAN runs this many whole searches per image and keeps the one with the "
                                  "lowest final loss (1: one search, the paper)", group="scoring")
    log_every: int = common("log_every", 100)
    checkpoint_every: int = common("checkpoint_every", 250)
    init_from: Optional[str] = common("init_from", None)


def train(out: str | Path, options: Optional[AnomalyOptions] = None, *, command: str = "", **overrides: Any) -> Path:
    """Train f-AnoGAN on normal images: WGAN-GP GAN, then the izi_f encoder, then calibrate thresholds.

    ``options``: :class:`AnomalyOptions` (keyword ``overrides`` by field name, e.g. ``steps=100``).
    ``normal`` is a folder (or file) of normal images, an :class:`ImageSet` (10 % held out for
    calibration), a ``(train, val)`` pair of ImageSets, or None for the built-in brain-MRI set.
    Writes ``out/checkpoints/`` (GAN stage, resumable), ``out/encoder_state.pt`` (encoder stage,
    resumable), ``out/metrics.jsonl`` and ``out/final/`` (fp16 weights of G, D and E, thresholds
    at ``fpr`` on the held-out normal split, ``training.json``). AnoGAN's search threshold is
    calibrated on the first ``search_calibration_images`` held-out images (Γ = 500 searches run at
    well under one image per second on a CPU); the f-AnoGAN threshold uses the whole split.
    ``map_sigma``, ``map_shift``, ``map_margin``, ``map_views``, ``image_score``, ``map_top``, ``search_starts``,
    ``search_restarts`` and ``search_lr`` are the model's scoring options (:class:`AnoGAN`);
    the thresholds are calibrated with them. They do not affect training, so a finished run can be
    resumed with other values to export and calibrate them. With
    ``ema_decay`` the generator's weights are averaged over iterations (not in the papers; it can
    be switched on when resuming a run trained without it); the averaged generator, its BatchNorm
    statistics re-estimated, is the one the encoder learns to invert and the one exported.
    ``select_on`` chooses the encoder checkpoint by image AUROC (:func:`train_encoder`): a labelled
    folder (``normal/``, ``abnormal/``), an :class:`ImageSet`, or ``"simulated"`` for the held-out
    normal split with simulated lesions added to half of it (:func:`with_simulated_lesions`, seed 7).
    ``calibrate_on`` (the same kinds of set) replaces the ``fpr`` rule: each threshold is the one
    with the best F1 on that labelled validation set (``AnoGAN.calibrate(rule="f1")``; the search's
    on a random ``search_calibration_images`` of it with each class's share kept,
    :func:`stratified_subset`). Never pass the test set.
    One process only: the encoder stage and the calibration are not split across a torchrun job.
    ``init_from`` (an exported model, e.g. ``"brain-mri"``, built with the same options) starts the
    GAN from its generator and critic with fresh optimizers, counting iterations on from its
    ``training.json`` (:meth:`Trainer.warm_start <multigan.core.Trainer.warm_start>`); the encoder
    stage then starts from its encoder and adapts it to the generator trained on.
    ``time_limit`` (seconds or ``"2h30m"``, both stages together) stops training early: nothing is
    exported and the path returned is the GAN's newest checkpoint (or the encoder's state file);
    ``resume`` goes on from there.
    """
    objects = {k: overrides.pop(k) for k in ("normal", "select_on", "calibrate_on")
               if k in overrides and overrides[k] is not None and not isinstance(overrides[k], (str, Path))}
    overrides.update({k: str(v) for k, v in overrides.items() if isinstance(v, Path)})
    o = resolve_options(AnomalyOptions, options, overrides)
    normal, select_on, calibrate_on = (objects.get(k, getattr(o, k)) for k in ("normal", "select_on", "calibrate_on"))
    size, channels, seed, batch_size, time_limit = o.size, o.channels, o.seed, o.batch_size, o.time_limit
    from multigan.core.recipe import Stage, run_stages
    from multigan.core.trainer import parse_duration

    from .models import AnoGAN

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError("multigan anomaly training runs in one process (the encoder stage and the threshold "
                           "calibration are not distributed); start it without torchrun")

    train_set, val_set = normal_sets(normal, size, channels, o.preprocess)
    selection_set, selection_name = _selection_set(select_on, val_set, size, channels)   # fails before training
    calibration_set, calibration_name = _selection_set(calibrate_on, val_set, size, channels, "calibrate_on")
    torch.manual_seed(seed)
    model = AnoGAN(image_size=size, channels=channels, width=o.width, map_sigma=o.map_sigma,
                   encoder_width=o.encoder_width, map_shift=o.map_shift, image_score=o.image_score,
                   map_margin=o.map_margin, map_top=o.map_top, map_views=o.map_views,
                   search_starts=o.search_starts, search_lr=o.search_lr, search_restarts=o.search_restarts,
                   preprocess=o.preprocess if normal is None or isinstance(normal, (str, Path)) else "none")
    stage = {**AnoGAN.trainer_defaults(), "steps": o.steps, "seed": seed, "device": o.device,
             "precision": o.precision, "log_every": o.log_every, "checkpoint_every": o.checkpoint_every,
             "snapshot_every": o.checkpoint_every, "snapshot_size": 16, "batch_size": batch_size,
             "ema_decay": o.ema_decay, **o.trainer}
    out = Path(out)
    run = run_stages(model, [Stage("gan", torch.utils.data.TensorDataset(train_set.images), stage)], out,
                     resume=o.resume, overwrite=o.overwrite, init_from=o.init_from, time_limit=time_limit,
                     command=command, options=o)
    trainer, gan_seconds = run.trainer, run.seconds
    limit = None if time_limit is None else parse_duration(time_limit) - gan_seconds
    if run.stopped_by_time_limit or (limit is not None and limit <= 0):
        return latest_checkpoint(out / "checkpoints")
    if trainer.ema is not None:
        model.generator.load_state_dict(trainer.ema.state_dict())
        model.recalibrate_generator(batch_size=batch_size, seed=seed, device=trainer.device)
    enc_start = time.perf_counter()
    try:
        enc_log = train_encoder(model, train_set.images, steps=o.encoder_steps, lr=o.encoder_lr,
                                batch_size=batch_size, seed=seed, device=trainer.device,
                                state_file=out / "encoder_state.pt", log_file=out / "encoder_metrics.jsonl",
                                log_every=o.log_every, checkpoint_every=o.checkpoint_every, gan_step=trainer.step, select_on=selection_set,
                                time_limit=limit)
    except TrainingInterrupted as err:
        hint = f"continue with: {trainer.resume_command()}"
        print(hint, file=sys.stderr)
        raise TrainingInterrupted(f"{err}\n{hint}", err.checkpoint) from None
    enc_seconds = time.perf_counter() - enc_start
    if enc_log and enc_log[-1].get("stopped_by_time_limit"):
        return out / "encoder_state.pt"
    model.cpu().eval()
    model.set_domain(train_set.images)                  # score() flags images unlike these
    rule, cal_set = ("fpr", val_set) if calibration_set is None else ("f1", calibration_set)
    search_set = search_calibration_set(cal_set, rule, o.search_calibration_images, seed)
    thresholds = {"izif": model.calibrate(cal_set, fpr=o.fpr, method="izif", rule=rule)}
    if o.calibrate_search:
        thresholds["search"] = model.calibrate(search_set, fpr=o.fpr, method="search",
                                               iterations=o.search_iterations, rule=rule)
    run.seconds = gan_seconds + time.perf_counter() - enc_start
    info = run.info(
        encoder_iterations=o.encoder_steps, encoder_lr=o.encoder_lr,
        gan_seconds=gan_seconds, encoder_seconds=enc_seconds, data=_describe(normal),
        train_images=len(train_set), val_images=len(val_set), fpr=o.fpr if rule == "fpr" else None,
        thresholds=thresholds, search_iterations=o.search_iterations,
        search_calibration_images=len(search_set) if o.calibrate_search else 0,
        calibration={"rule": rule, "on": "held-out normal images" if rule == "fpr" else calibration_name,
                     "images": len(cal_set)})
    info["encoder_log"] = enc_log[-5:]
    if selection_set is not None:
        info["encoder_selection"] = {"on": selection_name, "images": len(selection_set),
                                     "abnormal": int(selection_set.labels.sum()),
                                     **(encoder_selection(out / "encoder_state.pt") or {})}
    trainer.close()
    return model.save_pretrained(out / "final", dtype=torch.float16, extra_files={
        "training.json": json.dumps(info, indent=2, default=str) + "\n"})


def search_calibration_set(cal_set, rule: str, n: int, seed: int):
    """The images AnoGAN's search threshold is calibrated on: the first ``n`` (rule ``"fpr"``, normal
    images) or a random ``n`` with each class's share kept (rule ``"f1"``, a labelled set)."""
    n_cal = min(len(cal_set), int(n))
    return cal_set.subset(torch.arange(n_cal) if rule == "fpr" else stratified_subset(cal_set.labels, n_cal, seed=seed))

