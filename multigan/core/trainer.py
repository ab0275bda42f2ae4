"""The shared adversarial training loop.

:class:`Trainer` trains any :class:`~multigan.core.module.AdversarialModel`. Paper-specific rules
are options of :class:`TrainerConfig`, not forks of the loop:

=====================================  ===========================================================
WGAN's 5 critic steps per G step        ``n_critic=5``
MidiNet's 2 G steps per D step          ``g_steps=2``
3D-GAN's "update D only if acc ≤ 80 %"  ``d_accuracy_gate=0.8``
one-sided label smoothing (0.9)         ``label_smoothing=0.1``
feature matching (Salimans et al.)      ``feature_matching=0.1`` (D returns features)
StackGAN's frozen Stage-I               the model sets ``requires_grad_(False)`` on those weights
GAN-CLS matching-aware D, GAN-INT       the model's ``discriminator_loss`` / ``extra_adversarial_losses``
=====================================  ===========================================================

A step is one training *iteration*: ``n_critic`` discriminator updates then ``g_steps``
generator updates. Training length, logging, snapshots and checkpoints all count iterations.

Example:
    >>> trainer = Trainer(model, dataset, TrainerConfig(steps=2000, objective="hinge"))  # doctest: +SKIP
    >>> trainer.fit()                                                                      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import platform
import re
import shlex
import shutil
import signal
import sys
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, TensorDataset

from . import checkpoint as ckpt
from .atomic import atomic_file, folder_bytes, require_free_space
from .device import (DistributedContext, autocast, configure_backends, init_distributed, no_sync,
                     resolve_device, resolve_precision, seed_everything, to_channels_last)
from .ema import EMA
from .module import AdversarialModel, DiscriminatorOutput
from .objectives import Objective, get_objective
from .augment import DiffAugment
from .penalties import Penalty, get_penalty

__all__ = ["Trainer", "TrainerConfig", "NonFiniteLossError", "TrainingInterrupted", "GlobalBatchSampler", "EVENTS"]

EVENTS = ("on_train_start", "on_step_end", "on_log", "on_snapshot", "on_eval", "on_checkpoint", "on_train_end")


class NonFiniteLossError(RuntimeError):
    """Raised after ``max_nonfinite`` consecutive updates were skipped for a NaN/inf loss, or when a
    weight is not finite or beyond ``max_weight``: the run has diverged."""


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :meth:`Trainer.fit` after Ctrl-C, once the iteration under way has finished and a
    checkpoint of it is written (``checkpoint``: its folder, or None without an ``out_dir``)."""

    def __init__(self, message: str, checkpoint: Optional[Path] = None):
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclass
class TrainerConfig:
    """Every option of the loop, with the default used when it is not given."""

    steps: int = 1000                       # training iterations (n_critic D steps + g_steps G steps each)
    batch_size: int = 64                    # global batch: split evenly over torchrun processes
    objective: str = "nonsaturating"        # nonsaturating | minimax | lsgan | wgan | wgan-gp | dragan | hinge
    objective_options: dict = field(default_factory=dict)   # e.g. {"clip": 0.01} for wgan
    penalties: list = field(default_factory=list)           # extra terms: Penalty or {"name", "weight", "interval"}
    lr_g: float = 2e-4                      # generator Adam learning rate
    lr_d: float = 2e-4                      # discriminator Adam learning rate
    betas_g: tuple = (0.5, 0.999)           # generator Adam betas
    betas_d: tuple = (0.5, 0.999)           # discriminator Adam betas
    n_critic: int = 1                       # discriminator updates per iteration
    g_steps: int = 1                        # generator updates per iteration
    reuse_fake: bool = False                # the G update scores the last D step's fakes (made with grad) instead
                                            # of drawing new ones: one G forward per iteration fewer
    channels_last: bool = False             # 4-D/5-D weights stored channels-last: faster convolutions on CPU,
                                            # same values up to summation order
    compile: Optional[str] = None           # torch.compile G and D: an inductor mode ("default", "reduce-overhead":
                                            # CUDA graphs, "max-autotune") or a backend ("aot_eager"); penalties'
                                            # double backward runs uncompiled; same losses up to summation order
    d_accuracy_gate: Optional[float] = None  # skip the D update while its accuracy on the batch exceeds this
    label_smoothing: float = 0.0            # one-sided: real target = 1 - label_smoothing
    feature_matching: float = 0.0           # weight of ½‖E f(x) − E f(G(z))‖² in the G loss
    augment: Optional[str] = None           # DiffAugment of every image D sees, real and fake: "color",
                                            # "translation", "cutout", comma-separated (images only)
    ema_decay: Optional[float] = None       # EMA of G weights per iteration (None: no EMA)
    ema_start: int = 0                      # iteration from which the EMA averages (before: copies)
    grad_clip_g: Optional[float] = None     # max global grad norm for G (None: no clipping)
    grad_clip_d: Optional[float] = None     # max global grad norm for D
    precision: str = "auto"                 # auto | fp32 | bf16 | fp16 (auto: bf16 on capable GPUs, else fp32)
    device: str = "auto"                    # auto (cuda → mps → cpu) or a torch device string
    tf32: bool = False                      # allow TF32 matmuls/convolutions on Ampere+
    cudnn_benchmark: bool = False           # cuDNN autotuning (faster, not bit-reproducible)
    seed: int = 0                           # global seed; process r seeds its own RNGs with seed + r
    max_nonfinite: int = 20                 # stop after this many consecutive skipped (NaN/inf) updates
    max_weight: Optional[float] = 1e6       # stop when a weight's magnitude exceeds this: a diverged run
                                            # (checked at each log line and checkpoint; None: never)
    out_dir: Optional[str] = None           # run folder: metrics.jsonl, samples/, checkpoints/, tensorboard/
    log_every: int = 50                     # iterations between log lines
    snapshot_every: Optional[int] = None    # iterations between sample snapshots (None: off)
    snapshot_size: int = 16                 # samples per snapshot (fixed latents)
    eval_every: Optional[int] = None        # iterations between in-training evaluations, written to eval.jsonl
                                            # (the model's ``training_metrics``, EMA generator; None: off)
    eval_size: int = 64                     # samples each in-training evaluation generates
    checkpoint_every: Optional[int] = None  # iterations between training checkpoints (None: only at the end)
    keep_checkpoints: int = 2               # most recent training checkpoints kept
    progress: bool = True                   # tqdm progress bar
    tensorboard: bool = True                # write TensorBoard events when tensorboard is installed
    num_workers: int = 0                    # DataLoader workers
    sync_batchnorm: bool = False            # convert BatchNorm to SyncBatchNorm under DDP
    find_unused_parameters: bool = False    # passed to DDP
    time_limit: Optional[float] = None      # seconds (or "2h30m"): fit() stops after the iteration that
                                            # passes it, writes a checkpoint and returns (None: no limit)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "n_critic", "g_steps", "log_every", "snapshot_size", "eval_size",
                     "max_nonfinite"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainerConfig.{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"TrainerConfig.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.d_accuracy_gate is not None and not 0.0 < self.d_accuracy_gate <= 1.0:
            raise ValueError(f"TrainerConfig.d_accuracy_gate must be in (0, 1], got {self.d_accuracy_gate}")
        if self.time_limit is not None:
            self.time_limit = parse_duration(self.time_limit)
        if self.augment is not None:
            DiffAugment(self.augment)                      # names checked before any training starts
        if self.eval_every is not None and int(self.eval_every) < 1:
            raise ValueError(f"TrainerConfig.eval_every must be ≥ 1 or None, got {self.eval_every}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (penalty objects become dicts)."""
        out = dataclasses.asdict(self)
        out["penalties"] = [_penalty_spec(p) for p in self.penalties]
        return out


def trainer_config_reference() -> str:
    """The Markdown table of every :class:`TrainerConfig` field (name, default, meaning), read from the
    field comments in this module's source; ``docs/trainer.md`` holds it (a test keeps the two equal)."""
    import inspect

    rows, lines = [], inspect.getsource(TrainerConfig).splitlines()
    field_line = re.compile(r"^    (\w+): [^=]+?= (.+?)\s+# (.*)$")
    for line in lines:
        match = field_line.match(line)
        if match:
            rows.append([match.group(1), match.group(2).strip(), match.group(3).strip()])
        elif rows and re.match(r"^\s{20,}# ", line):                 # a comment continued on the next line
            rows[-1][2] += " " + line.strip()[2:]
    names = [f.name for f in dataclasses.fields(TrainerConfig)]
    if [r[0] for r in rows] != names:
        missing = sorted(set(names) - {r[0] for r in rows})
        raise RuntimeError(f"TrainerConfig fields without a one-line comment: {missing}")
    out = ["| option | default | meaning |", "|---|---|---|"]
    for name, default, meaning in rows:
        default = "{}" if default.startswith("field(default_factory=dict") else (
            "[]" if default.startswith("field(default_factory=list") else default)
        meaning = meaning.replace("|", "\\|").replace("``", "`")      # Markdown table cells
        out.append(f"| `{name}` | `{default}` | {meaning} |")
    return "\n".join(out)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(value: str | float) -> float:
    """Seconds from ``"2h30m"``, ``"45m"``, ``"90s"``, ``"1.5h"`` or a bare number of seconds.

    Example:
        >>> parse_duration("1h30m"), parse_duration("45m"), parse_duration(20)
        (5400.0, 2700.0, 20.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        try:
            seconds = float(text)
        except ValueError:
            if not text or match is None:
                raise ValueError(f"cannot read the duration {value!r}: expected e.g. 2h30m, 45m, 90s or seconds")
            h, m, sec = (float(g) if g else 0.0 for g in match.groups())
            seconds = 3600 * h + 60 * m + sec
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def _exported_history(info: dict[str, Any]) -> dict[str, Any]:
    """The lineage an exported ``training.json`` records: ``{"commands": [...], "seconds_total": s}``
    (older files hold one ``command`` and ``seconds_this_run``)."""
    return {"commands": info.get("commands", [info["command"]] if "command" in info else []),
            "seconds_total": float(info.get("seconds_total", info.get("seconds_this_run", 0.0)))}


#: What a multigan run writes into its folder; ``--overwrite`` removes these and nothing else.
RUN_ENTRIES = ("checkpoints", "final", "samples", "tensorboard", "metrics.jsonl", "eval.jsonl",
               "training_options.json", "options.json", "stage1", "stage2", "encoder_state.pt", "encoder_metrics.jsonl")


def prepare_run_folder(out: str | Path, *, resume: bool, overwrite: bool = False, main_process: bool = True) -> None:
    """Keep runs apart before training starts in ``out``.

    A folder that already holds a run (any of :data:`RUN_ENTRIES`: a checkpoint, an export, or only
    the logs of a run killed before its first checkpoint) is refused without ``resume``
    (``FileExistsError`` naming ``--resume`` and ``--overwrite``); ``overwrite`` deletes that run's
    :data:`RUN_ENTRIES` first (nothing else in the folder). Temporary folders an interrupted
    checkpoint write left behind are removed.
    """
    out = Path(out)
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite deletes it; give one of them")
    held = [out / name for name in RUN_ENTRIES if (out / name).is_file() or (out / name).is_dir() and any(
            f.is_file() and not any(part.startswith(".") for part in f.relative_to(out).parts)  # (not temporaries)
            for f in (out / name).rglob("*"))]
    if held and not resume and not overwrite:
        raise FileExistsError(f"{out} already holds a run ({', '.join(p.name for p in held)}); add --resume to "
                              "continue it or --overwrite to replace it, or choose another --out")
    if not main_process:
        return
    if overwrite:
        for name in RUN_ENTRIES:
            entry = out / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
    for folder in [out / "checkpoints", *(out / s / "checkpoints" for s in ("stage1", "stage2"))]:
        ckpt.remove_stale_temporaries(folder)
    for run in (out, out / "stage1", out / "stage2"):   # and what an interrupted export or log write left
        names = [f".{Path(e).stem}.*tmp*" for e in RUN_ENTRIES] + [".final.old-*"]
        stale = [p for pattern in names for p in run.glob(pattern)] + list((run / "samples").glob(".*.tmp*"))
        for p in stale:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows of a JSON-lines log whose ``step`` is beyond ``step`` (atomically; no-op without a file)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(kept) != len(lines):
        with atomic_file(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept) or "\n")


def check_finite_weights(state: dict[str, Tensor], dtype: Optional[torch.dtype] = None,
                         components: Optional[Sequence[str]] = None) -> None:
    """Raise ``ValueError`` naming the tensors (of ``components``, when given) that are not finite
    once cast to ``dtype`` (fp16 holds at most ±65504): a diverged model must not be exported."""
    bad = []
    for name, tensor in state.items():
        if components and name.split(".")[0] not in components or not tensor.is_floating_point():
            continue
        cast = tensor.detach().to(dtype) if dtype is not None else tensor.detach()
        if not bool(torch.isfinite(cast).all()):
            bad.append(name)
    if bad:
        where = f" in {str(dtype).removeprefix('torch.')}" if dtype is not None else ""
        raise ValueError(f"not exported: {len(bad)} weight tensor(s) are not finite{where} ({', '.join(bad[:4])}"
                         f"{', …' if len(bad) > 4 else ''}); the run has diverged — resume from an earlier "
                         "checkpoint with a lower learning rate")


def _penalty_spec(p: Penalty | dict) -> dict:
    if isinstance(p, dict):
        return dict(p)
    return {"name": type(p).__name__, "weight": p.weight, "interval": p.interval}


def _build_penalty(p: Penalty | dict) -> Penalty:
    if isinstance(p, Penalty):
        return p
    return get_penalty(p["name"], weight=p.get("weight", 10.0), interval=p.get("interval", 1))


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Infinite, resumable batches: batch ``i`` is the same set of examples whatever the world size.

    Epoch ``e`` shuffles with seed ``seed + e``; the global batch ``i`` of that epoch is split
    round-robin over ranks. Starting at batch ``start`` costs nothing (no data is read to skip).
    """

    def __init__(self, num_examples: int, global_batch: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, start: int = 0):
        if num_examples < global_batch:
            raise ValueError(f"dataset has {num_examples} examples, fewer than one batch of {global_batch}")
        self.n, self.batch, self.rank, self.world = num_examples, global_batch, rank, world_size
        self.seed, self.start = seed, start
        self.per_epoch = num_examples // global_batch

    def index_batches(self) -> Iterator[Tensor]:
        """The batches as index tensors (the in-memory fast path uses these directly)."""
        index = self.start
        while True:
            epoch, pos = divmod(index, self.per_epoch)
            perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
            for p in range(pos, self.per_epoch):
                yield perm[p * self.batch:(p + 1) * self.batch][self.rank::self.world]
            index = (epoch + 1) * self.per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.index_batches():
            yield batch.tolist()

    def __len__(self) -> int:  # DataLoader asks; the sampler is infinite
        return 2**62


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _as_output(out: Any) -> DiscriminatorOutput:
    return out if isinstance(out, DiscriminatorOutput) else DiscriminatorOutput(out)


def _flat(x: Any) -> list[Tensor]:
    if x is None:
        return []
    return [x] if isinstance(x, Tensor) else list(x)


#: ``TrainerConfig.compile`` values that are inductor modes; anything else names a backend
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compiled(net: nn.Module, how: str) -> nn.Module:
    """``torch.compile(net)`` with an inductor mode (:data:`COMPILE_MODES`) or the backend named ``how``."""
    if how in COMPILE_MODES:
        return torch.compile(net, mode=how)
    return torch.compile(net, backend=how)


def adam(params: Any, lr: float, betas: Any, device: torch.device) -> torch.optim.Adam:
    """Adam updating all tensors at once: the fused kernel on CUDA, the multi-tensor one elsewhere
    (on CPU bit-identical to the per-tensor loop, about a third faster)."""
    kind = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.Adam(params, lr=lr, betas=tuple(float(b) for b in betas), **kind)


class InterruptRequest:
    """Set by :func:`stop_on_interrupt` when Ctrl-C asks a loop to stop after the iteration under way."""

    requested = False


@contextlib.contextmanager
def stop_on_interrupt(announce: bool = True) -> Iterator[InterruptRequest]:
    """While a training loop runs: the first Ctrl-C (SIGINT) only sets the yielded request's
    ``requested``, so the loop can finish its iteration, write a checkpoint and raise
    :class:`TrainingInterrupted`; a second Ctrl-C interrupts at once. ``announce`` prints what happens.
    Outside the main thread (no signal handlers there) the request is never set."""
    request = InterruptRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.getsignal(signal.SIGINT)

    def request_stop(signum: int, frame: Any) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        if announce:
            print("\ninterrupted: stopping when the iteration under way ends, then writing a checkpoint "
                  "(Ctrl-C again to stop at once, without one)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


class Trainer:
    """Train an :class:`AdversarialModel` on a map-style dataset.

    Args:
        model:      the modality model (its ``generator`` and ``discriminator`` are trained).
        dataset:    a ``torch.utils.data.Dataset`` (or a tensor of examples).
        config:     a :class:`TrainerConfig`; keyword ``overrides`` replace its fields.
        callbacks:  ``{event: [fn(trainer, **info)]}``; events are listed in ``EVENTS``.
    """

    def __init__(self, model: AdversarialModel, dataset: Dataset | Tensor,
                 config: Optional[TrainerConfig] = None,
                 callbacks: Optional[dict[str, list[Callable]]] = None, **overrides: Any):
        cfg = dataclasses.replace(config or TrainerConfig(), **overrides)
        self.config = cfg
        self.model = model
        self.dataset = TensorDataset(dataset) if isinstance(dataset, Tensor) else dataset
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)
        for event, fns in (callbacks or {}).items():
            for fn in fns:
                self.add_callback(event, fn)

        # Devices, precision, processes.
        self.device = resolve_device(cfg.device)
        self.dist: DistributedContext = init_distributed(self.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        configure_backends(tf32=cfg.tf32, cudnn_benchmark=cfg.cudnn_benchmark)
        seed_everything(cfg.seed, self.dist.rank)
        if cfg.batch_size % self.dist.world_size:
            raise ValueError(f"batch_size {cfg.batch_size} is not divisible by {self.dist.world_size} processes")
        self.local_batch = cfg.batch_size // self.dist.world_size

        # Objective and penalties.
        options = dict(cfg.objective_options)
        if cfg.label_smoothing:
            options["real_label"] = 1.0 - cfg.label_smoothing
        self.objective: Objective = get_objective(cfg.objective, **options)
        self.penalties: list[Penalty] = self.objective.penalties + [_build_penalty(p) for p in cfg.penalties]
        self.augment = DiffAugment(cfg.augment) if cfg.augment else None

        # Networks (DDP-wrapped per network when distributed), optimizers, scaler, EMA.
        model.to(self.device).train()
        if cfg.channels_last:
            to_channels_last(model)
        if self.dist.is_distributed and cfg.sync_batchnorm:
            model.generator = nn.SyncBatchNorm.convert_sync_batchnorm(model.generator)
            model.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(model.discriminator)
        self.G, self.D = self._wrap(model.generator), self._wrap(model.discriminator)
        self._D_eager = self.D                     # penalties' double backward: torch.compile has none
        if cfg.compile:
            self.G, self.D = compiled(self.G, cfg.compile), compiled(self.D, cfg.compile)
        self.opt_g = adam(self._trainable(model.generator, "generator"), cfg.lr_g, cfg.betas_g, self.device)
        self.opt_d = adam(self._trainable(model.discriminator, "discriminator"), cfg.lr_d, cfg.betas_d, self.device)
        self._frozen_d = [p for p in model.discriminator.parameters() if not p.requires_grad]   # stay frozen
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.ema = EMA(model.generator, cfg.ema_decay, cfg.ema_start) if cfg.ema_decay is not None else None
        self.latent_rng = torch.Generator(self.device).manual_seed(cfg.seed)   # on the device: no host copies

        # Counters (all restored on resume).
        self.step = 0              # iterations done
        self.d_updates = 0         # discriminator steps attempted (drives lazy penalty intervals)
        self.data_cursor = 0       # global batches consumed
        self.nonfinite_streak = 0
        # The run's lineage, kept in every checkpoint: the commands that trained it and the seconds
        # spent in fit() up to the checkpoint (a killed run keeps what its last checkpoint holds).
        self.commands: list[str] = []
        self.train_seconds = 0.0
        self._fit_clock: Optional[float] = None
        self.stopped_by_time_limit = False  # the last fit() ended at config.time_limit, before its steps
        self._interrupt = InterruptRequest()  # Ctrl-C seen: stop after the iteration under way
        self._reusable_fake: Optional[Tensor] = None   # reuse_fake: the last D step's fakes, with their graph
        self.history: list[dict[str, float]] = []
        self._stepped: set[int] = set()
        self._window: dict[str, list[Tensor]] = defaultdict(list)   # logged values since the last log line
        self._snapshot: Optional[tuple[Tensor, Any]] = None
        self.eval_history: list[dict[str, float]] = []     # in-training evaluations of this process's fit()s
        self._eval_off = False                              # the model has no training_metrics
        self.out_dir = Path(cfg.out_dir) if cfg.out_dir else None
        self._tb = None

    # -- public API -------------------------------------------------------------------------------

    def add_callback(self, event: str, fn: Callable) -> None:
        """Call ``fn(trainer, **info)`` on ``event`` (one of ``EVENTS``)."""
        if event not in EVENTS:
            raise ValueError(f"unknown callback event {event!r}; events: {', '.join(EVENTS)}")
        self.callbacks[event].append(fn)

    def fit(self, steps: Optional[int] = None) -> dict[str, float]:
        """Train until ``steps`` iterations in total (default ``config.steps``); return the last log."""
        cfg = self.config
        total = steps if steps is not None else cfg.steps
        data = self.batches()
        self._open_run()
        self._emit("on_train_start")
        bar = self._progress(total)
        last: dict[str, float] = {}
        start_time, start_step = time.perf_counter(), self.step
        self._fit_clock = start_time
        self.stopped_by_time_limit = False
        with stop_on_interrupt(announce=self.dist.is_main) as self._interrupt:
            try:
                while self.step < total:
                    logs = self.train_step(data)
                    bar.update(1)
                    self._emit("on_step_end", logs=logs)
                    if cfg.time_limit is not None and self.step < total and self.dist.all_true(
                            time.perf_counter() - start_time >= cfg.time_limit, self.device):
                        self.stopped_by_time_limit = True        # every rank agrees, so all stop on this iteration
                        last = self._log(bar, start_time, start_step) if self._window else last
                        if self.dist.is_main:
                            bar.write(f"time limit of {cfg.time_limit:g} s reached at iteration {self.step}/{total}; "
                                      "a checkpoint is written to resume from")
                        break
                    if self.step % cfg.log_every == 0 or self.step == total:
                        self._check_weights()
                        last = self._log(bar, start_time, start_step)
                    if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                        self.snapshot()
                    if cfg.eval_every and self.step % cfg.eval_every == 0:
                        self.evaluate()
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < total:
                        self.save_checkpoint()
                    if self.step < total and self._interrupted():
                        last = self._log(bar, start_time, start_step) if self._window else last
                        self._stop_for_interrupt(bar, total)     # writes a checkpoint, raises TrainingInterrupted
                if self.out_dir is not None:
                    self.save_checkpoint()
            finally:
                self.train_seconds, self._fit_clock = self._seconds(), None
                bar.close()
                if self._tb is not None:
                    self._tb.flush()
        self._emit("on_train_end")
        return last

    def _interrupted(self) -> bool:
        """Whether Ctrl-C reached any process (all ranks then stop on the same iteration)."""
        return not self.dist.all_true(not self._interrupt.requested, self.device)

    def _stop_for_interrupt(self, bar: Any, total: int) -> None:
        """Write a checkpoint of the finished iteration, say where and how to resume, raise TrainingInterrupted."""
        path = self.save_checkpoint() if self.out_dir is not None else None
        if not self.dist.is_main:
            raise TrainingInterrupted(f"interrupted at iteration {self.step}/{total}")
        if path is None:
            message = f"interrupted at iteration {self.step}/{total}; no out_dir, so no checkpoint was written"
        else:
            message = (f"interrupted at iteration {self.step}/{total}; checkpoint written to {path}\n"
                       f"continue with: {self.resume_command()}")
        bar.write(message, file=sys.stderr)
        raise TrainingInterrupted(message, path)

    def resume_command(self) -> str:
        """The command that continues this run: the one that started it (``commands[-1]``) with ``--resume``."""
        if not self.commands:
            return f"(call resume_run() on a Trainer with out_dir={str(self.out_dir)!r})"
        words = shlex.split(self.commands[-1])
        if words and Path(words[0]).name == "multigan":
            words[0] = "multigan"                          # the entry point, not this machine's path to it
        if "--resume" not in words:
            words.append("--resume")
        return shlex.join(words)

    def train_step(self, data: Iterator[Any]) -> dict[str, Tensor]:
        """One iteration: ``n_critic`` discriminator updates, then ``g_steps`` generator updates."""
        cfg = self.config
        logs: dict[str, Tensor] = {}
        for _ in range(cfg.n_critic):
            real, cond, real_features, d_logs = self._discriminator_step(next(data))
            logs.update(d_logs)
        for _ in range(cfg.g_steps):
            logs.update(self._generator_step(real, cond, real_features))
        if self._stepped:                          # one GradScaler update per iteration
            self.scaler.update()
            self._stepped.clear()
        if self.ema is not None:
            self.ema.update(self.model.generator, self.step)
        self.step += 1
        for key, value in logs.items():          # kept on the device: no sync until the log line
            self._window[key].append(value)
        return logs

    # -- the two phases ---------------------------------------------------------------------------

    def _discriminator_step(self, batch: Any):
        model, cfg = self.model, self.config
        real, cond = model.split_batch(_to_device(batch, self.device))
        z = self._latents()
        with autocast(self.device, self.precision):
            with torch.set_grad_enabled(cfg.reuse_fake):   # with a graph only when the G update reuses it
                fake = model.run_generator(self.G, z, cond)
            self._reusable_fake = fake if cfg.reuse_fake else None
            fake = fake.detach()
            real_out = self._d_output(self.D, real, cond)
            fake_out = self._d_output(self.D, fake, cond)
            loss = model.discriminator_loss(self.objective, real_out.logits, fake_out.logits, real=real, cond=cond,
                                            discriminate=self._discriminate, real_features=real_out.features)
        logs = {"d_loss": loss.detach()}

        # Penalties (lazy: each on its own interval of D steps), outside autocast's forward cache.
        def discriminate(x: Tensor):
            with autocast(self.device, self.precision):
                return self._d_output(self._D_eager, x, cond).logits
        for penalty in self.penalties:
            if penalty.due(self.d_updates):
                term = penalty(discriminate, real, fake, self.scaler) * penalty.interval
                logs[f"d_{type(penalty).__name__}"] = term.detach()
                loss = loss + term
        self.d_updates += 1

        # Accuracy: needed by the gate; otherwise measured on the batch before each log line only.
        gated = False
        if cfg.d_accuracy_gate is not None or (self.step + 1) % cfg.log_every == 0:
            accuracy = self._accuracy(real_out.logits, fake_out.logits)
            logs["d_accuracy"] = accuracy
            gated = cfg.d_accuracy_gate is not None and float(self.dist.all_mean(accuracy)) > cfg.d_accuracy_gate
        features = [f.detach() for f in _flat(real_out.features)]
        if gated:                                  # 3D-GAN: D is too good on this batch, leave it be
            logs["d_skipped"] = torch.tensor(1.0)
            return real, cond, features, logs
        if cfg.d_accuracy_gate is not None:
            logs["d_skipped"] = torch.tensor(0.0)
        if self._finite(loss, "discriminator"):
            self._update(loss, self.opt_d, self.model.discriminator, cfg.grad_clip_d)
            self.objective.after_d_step(self.model.discriminator)
        return real, cond, features, logs

    def _generator_step(self, real: Tensor, cond: Any, real_features: list[Tensor]) -> dict[str, Tensor]:
        model, cfg = self.model, self.config
        fake, self._reusable_fake = self._reusable_fake, None
        z = self._latents() if fake is None else None
        model.discriminator.requires_grad_(False)   # no D weight gradients in the G phase
        try:
            with no_sync(self.D), autocast(self.device, self.precision):
                if fake is None:
                    fake = model.run_generator(self.G, z, cond)
                fake_out = self._d_output(self.D, fake, cond)
                loss = self.objective.g_loss(fake_out.logits)
                logs = {"g_loss": loss.detach()}
                if cfg.feature_matching:
                    fm = self._feature_matching(real_features, _flat(fake_out.features))
                    logs["g_feature_matching"] = fm.detach()
                    loss = loss + cfg.feature_matching * fm
                extras = {**model.extra_generator_losses(real, fake, cond),
                          **model.extra_adversarial_losses(self.objective, cond, generate=self._generate,
                                                           discriminate=self._discriminate)}
                for name, term in extras.items():
                    logs[f"g_{name}"] = term.detach()
                    loss = loss + term
        finally:
            model.discriminator.requires_grad_(True)
            for p in self._frozen_d:
                p.requires_grad_(False)
        if self._finite(loss, "generator"):
            self._update(loss, self.opt_g, self.model.generator, cfg.grad_clip_g)
        return logs

    # -- helpers of the phases --------------------------------------------------------------------

    def _generate(self, z: Tensor, cond: Any) -> Tensor:
        """The trained generator (DDP-wrapped when distributed) on ``z`` under ``cond``."""
        return self.model.run_generator(self.G, z, cond)

    def _discriminate(self, x: Tensor, cond: Any) -> Any:
        """Logits of the trained discriminator (DDP-wrapped when distributed) for ``x`` under ``cond``."""
        return self._d_output(self.D, x, cond).logits

    def _d_output(self, discriminator: nn.Module, x: Tensor, cond: Any) -> DiscriminatorOutput:
        """``discriminator`` (the trained D, wrapped or eager) on ``x``, augmented first when ``augment`` is set."""
        if self.augment is not None:
            x = self.augment(x)
        return _as_output(self.model.run_discriminator(discriminator, x, cond))

    def _update(self, loss: Tensor, optimizer: torch.optim.Optimizer, network: nn.Module,
                clip: Optional[float]) -> None:
        """Backward, optional clipping and one optimizer step through the (possibly idle) scaler."""
        if self.scaler.is_enabled() and id(optimizer) in self._stepped:   # 2nd step this iteration
            self.scaler.update()
            self._stepped.clear()
        self.scaler.scale(loss).backward()
        if clip is not None:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(network.parameters(), clip)
        self.scaler.step(optimizer)
        if self.scaler.is_enabled():
            self._stepped.add(id(optimizer))
        optimizer.zero_grad(set_to_none=True)

    def _finite(self, loss: Tensor, phase: str) -> bool:
        """Skip (with a warning) an update whose loss is NaN/inf; stop after too many in a row."""
        if self.dist.all_true(math.isfinite(loss.item()), self.device):
            self.nonfinite_streak = 0
            return True
        self.nonfinite_streak += 1
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():               # fp16 overflow: back the scale off too
            self.scaler.update(self.scaler.get_scale() * 0.5)
            self._stepped.clear()
        warnings.warn(f"iteration {self.step}: non-finite {phase} loss ({loss.item()}), update skipped "
                      f"({self.nonfinite_streak}/{self.config.max_nonfinite} in a row)", RuntimeWarning, stacklevel=2)
        if self.nonfinite_streak >= self.config.max_nonfinite:
            raise NonFiniteLossError(f"{self.nonfinite_streak} consecutive non-finite losses (last: {phase} at "
                                     f"iteration {self.step}); lower the learning rates, use fp32/bf16, or add a "
                                     f"penalty. Raise max_nonfinite to tolerate more.")
        return False

    @staticmethod
    def _accuracy(real_logits: Any, fake_logits: Any) -> Tensor:
        """Share of real examples scored > 0 and fakes scored < 0 (averaged over discriminators)."""
        pairs = list(zip(_flat(real_logits), _flat(fake_logits)))
        acc = [((r.detach() > 0).float().mean() + (f.detach() < 0).float().mean()) / 2 for r, f in pairs]
        return torch.stack(acc).mean()

    @staticmethod
    def _feature_matching(real: list[Tensor], fake: list[Tensor]) -> Tensor:
        if not real or len(real) != len(fake):
            raise ValueError("feature_matching > 0 needs run_discriminator to return "
                             "DiscriminatorOutput(logits, features) with the same features for real and fake")
        return sum(0.5 * (r.float().mean(0) - f.float().mean(0)).pow(2).sum() for r, f in zip(real, fake))

    def _latents(self) -> Tensor:
        """This rank's slice of the global batch's latents (identical split for any world size)."""
        z = self.model.sample_latent(self.config.batch_size, generator=self.latent_rng, device=self.device)
        return z[self.dist.rank::self.dist.world_size]

    def batches(self) -> Iterator[Any]:
        """Endless training batches from the current data position (what ``fit`` and ``train_step`` consume)."""
        sampler = GlobalBatchSampler(len(self.dataset), self.config.batch_size, self.dist.rank,
                                     self.dist.world_size, self.config.seed, self.data_cursor)
        if isinstance(self.dataset, TensorDataset) and self.config.num_workers == 0:
            # In-memory tensors: one indexing op per batch instead of per-example fetch + collate;
            # on a GPU, data under 1 GiB moves there once.
            tensors = self.dataset.tensors
            if self.device.type != "cpu" and sum(t.numel() * t.element_size() for t in tensors) < 2**30:
                tensors = tuple(t.to(self.device) for t in tensors)
            for index in sampler.index_batches():
                index = index.to(tensors[0].device, non_blocking=True)
                self.data_cursor += 1
                yield tuple(t[index] for t in tensors)
            return
        # A private generator: creating the loader must not draw from the global RNG (exact resume).
        seeds = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.data_cursor + self.dist.rank)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.config.num_workers,
                            pin_memory=self.device.type == "cuda", generator=seeds)
        for batch in loader:
            self.data_cursor += 1
            yield batch

    def close(self) -> None:
        """End this trainer's part in a multi-process job (a no-op for one process; safe to repeat).

        Drops the DDP wrappers, which hold the process group and its worker threads alive, then waits
        for every process and destroys the group if this trainer created it. Call it once training
        (and anything collective) is over; a process that exits with DDP wrappers still alive can be
        aborted by gloo during interpreter shutdown.
        """
        if self.G is not self.model.generator or self.D is not self.model.discriminator:   # DDP, compile
            self.G, self.D = self._D_eager = self.model.generator, self.model.discriminator
            gc.collect()
        self.dist.close()

    def _wrap(self, net: nn.Module) -> nn.Module:
        if not self.dist.is_distributed:
            return net
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids, find_unused_parameters=self.config.find_unused_parameters)

    def _trainable(self, net: nn.Module, name: str) -> list[nn.Parameter]:
        params = [p for p in net.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"the {name} has no trainable parameters")
        return params

    # -- logging, snapshots, checkpoints ----------------------------------------------------------

    def _open_run(self) -> None:
        if self.out_dir is None or not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "training_options.json").write_text(json.dumps(
            {"model_type": self.model.model_type, "model_config": self.model.config,
             "trainer": self.config.to_dict(), "world_size": self.dist.world_size,
             "device": str(self.device), "precision": self.precision}, indent=2, default=str) + "\n")
        if self.config.tensorboard and self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                self._tb = None

    def _progress(self, total: int):
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=self.step, disable=not (self.config.progress and self.dist.is_main),
                    desc=self.model.model_type, unit="it", dynamic_ncols=True, leave=True)

    def _log(self, bar, start_time: float, start_step: int) -> dict[str, float]:
        record = {"step": self.step, **{k: torch.stack([v.float().cpu() for v in values]).mean().item()
                                        for k, values in self._window.items()}}
        elapsed = time.perf_counter() - start_time
        record["it_per_s"] = (self.step - start_step) / elapsed if elapsed > 0 else math.nan
        self._window.clear()
        self.history.append(record)
        if self.dist.is_main:
            bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k in ("d_loss", "g_loss", "d_accuracy")},
                            refresh=False)
            if self.out_dir is not None:
                with open(self.out_dir / "metrics.jsonl", "a") as fh:
                    fh.write(json.dumps(record) + "\n")
            if self._tb is not None:
                for key, value in record.items():
                    if key != "step":
                        self._tb.add_scalar(key, value, self.step)
        self._emit("on_log", record=record)
        return record

    @torch.no_grad()
    def snapshot(self) -> list[Path]:
        """Write samples from fixed latents (EMA generator if any) through the model's writer."""
        if self.out_dir is None or not self.dist.is_main:
            return []
        model = self.model
        if self._snapshot is None:
            n = min(self.config.snapshot_size, len(self.dataset))        # a data set smaller than a snapshot
            z = model.sample_latent(n, generator=torch.Generator().manual_seed(self.config.seed + 12345))
            state = ckpt.rng_state()        # fetching examples may draw (frame offsets, augmentation, the
            try:                            # loader's seed): the training stream must not see those draws
                _, cond = model.split_batch(next(iter(DataLoader(self.dataset, batch_size=n, shuffle=False))))
            finally:
                ckpt.set_rng_state(state)
            self._snapshot = (z, model.snapshot_condition(cond, n))
        z, cond = self._snapshot
        net = self.ema.module if self.ema is not None else model.generator
        was_training = net.training
        net.eval()
        try:
            with autocast(self.device, self.precision):
                samples = model.run_generator(net, z.to(self.device), _to_device(cond, self.device))
        finally:
            net.train(was_training)
        try:
            files = model.write_samples(samples.float().cpu(), self.out_dir / "samples" / f"step-{self.step:07d}")
        except NotImplementedError as err:
            warnings.warn(f"snapshot skipped: {err}", RuntimeWarning, stacklevel=2)
            return []
        self._emit("on_snapshot", files=files)
        return files

    def evaluate(self) -> dict[str, float]:
        """Score the model now with its ``training_metrics`` hook; append the row to ``eval.jsonl``.

        The EMA generator (if any) is swapped in and the whole model is in ``eval()`` mode, so no
        BatchNorm statistics or spectral-norm vectors move; every RNG is forked, so a run with
        evaluations trains bit-identically to one without. Rank 0 evaluates; other ranks return
        ``{}``. A model without the hook is warned about once and not asked again.
        """
        if not self.dist.is_main or self._eval_off:
            return {}
        model = self.model
        was_training = model.training
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        start = time.perf_counter()
        with torch.random.fork_rng(devices=devices), \
                (self.ema.swapped_into(model.generator) if self.ema is not None else contextlib.nullcontext()):
            model.eval()
            try:
                metrics = model.training_metrics(self.dataset, n=self.config.eval_size, seed=self.config.seed)
            except NotImplementedError as err:
                self._eval_off = True
                warnings.warn(f"in-training evaluation skipped: {err}", RuntimeWarning, stacklevel=2)
                return {}
            finally:
                model.train(was_training)
        record = {"step": self.step, **{k: float(v) for k, v in metrics.items()},
                  "eval_seconds": time.perf_counter() - start}
        self.eval_history.append(record)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "eval.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step":
                    self._tb.add_scalar(f"eval/{key}", value, self.step)
        self._emit("on_eval", record=record)
        return record

    def _check_weights(self) -> None:
        """Raise :class:`NonFiniteLossError` when a weight of G or D is not finite or exceeds ``max_weight``."""
        bound = self.config.max_weight
        if bound is None:
            return
        for name, net in (("generator", self.model.generator), ("discriminator", self.model.discriminator)):
            peaks = [p.detach().abs().max() for p in net.parameters() if p.numel()]
            largest = float(torch.stack(peaks).max()) if peaks else 0.0
            if not math.isfinite(largest) or largest > bound:
                raise NonFiniteLossError(
                    f"iteration {self.step}: the {name}'s weights reached {largest:.3g} (max_weight {bound:g}); the "
                    "run has diverged and nothing more is saved: resume from an earlier checkpoint with lower "
                    "learning rates")

    def save_checkpoint(self, path: Optional[str | Path] = None) -> Optional[Path]:
        """Write a resumable training checkpoint (rank 0 writes; every rank's RNG state is kept).
        A diverged model (see ``TrainerConfig.max_weight``) raises instead of being saved."""
        self._check_weights()
        rng = ckpt.gather_rng_states(self.dist)
        if not self.dist.is_main:
            return None
        if path is None:
            if self.out_dir is None:
                raise ValueError("save_checkpoint needs a path when the trainer has no out_dir")
            path = self.out_dir / "checkpoints" / f"step-{self.step:07d}"
        state = {"step": self.step, "d_updates": self.d_updates, "data_cursor": self.data_cursor,
                 "nonfinite_streak": self.nonfinite_streak, "optimizer_g": self.opt_g.state_dict(),
                 "optimizer_d": self.opt_d.state_dict(), "scaler": self.scaler.state_dict(),
                 "latent_rng": self.latent_rng.get_state(), "latent_rng_device": self.device.type,
                 "rng": rng, "world_size": self.dist.world_size,
                 "trainer_config": json.dumps(self.config.to_dict(), default=str),
                 "lineage": {"commands": list(self.commands), "seconds": self._seconds()}}
        path = Path(path)
        ours = self.out_dir is not None and path.parent == self.out_dir / "checkpoints"
        keep = max(self.config.keep_checkpoints - 1, 1)              # (never fewer than 1)
        pruned = ckpt.checkpoints_newest_first(path.parent)[keep:] if ours and not path.exists() else []
        require_free_space(path.parent, self._checkpoint_bytes(state), f"the checkpoint {path.name}",
                           freed=sum(folder_bytes(p) for p in pruned))
        if ours and not path.exists():   # make room first: keeping k checkpoints needs disk for k, not k + 1
            ckpt.prune_checkpoints(path.parent, keep)
        path = ckpt.save_training_checkpoint(path, self.model, state, ema=self.ema)
        if ours:
            ckpt.prune_checkpoints(path.parent, self.config.keep_checkpoints)
        self._emit("on_checkpoint", path=path)
        return path

    def _checkpoint_bytes(self, state: dict) -> int:
        """About what a checkpoint will take on disk: the newest one's size, or (for the first) the
        bytes of the model, its average and the optimizer states, with a margin."""
        if self.out_dir is not None:
            newest = ckpt.latest_checkpoint(self.out_dir / "checkpoints")
            if newest is not None:
                return int(folder_bytes(newest) * 1.1)
        tensors = list(self.model.state_dict().values())
        tensors += list(self.ema.state_dict().values()) if self.ema is not None else []
        for opt in (state["optimizer_g"], state["optimizer_d"]):
            tensors += [v for s in opt["state"].values() for v in s.values()]
        size = sum(t.numel() * t.element_size() for t in tensors if isinstance(t, Tensor))
        return int(size * 1.1) + (1 << 20)

    def load_checkpoint(self, path: str | Path = "latest") -> Path:
        """Restore everything a training checkpoint holds; ``"latest"`` picks the newest in out_dir
        that can be read: an unreadable one (truncated, bad header) is reported and the one before used."""
        if str(path) == "latest":
            if self.out_dir is None:
                raise ValueError("load_checkpoint('latest') needs a trainer out_dir")
            found = ckpt.checkpoints_newest_first(self.out_dir / "checkpoints")
            if not found:
                raise FileNotFoundError(f"no checkpoint under {self.out_dir / 'checkpoints'}")
            for i, candidate in enumerate(found):
                try:
                    return self.load_checkpoint(candidate)
                except Exception as err:               # noqa: BLE001 - a corrupt file; a mismatch is re-raised
                    if isinstance(err, ValueError) and not isinstance(err, json.JSONDecodeError):
                        raise
                    reason = ckpt.first_line(err)
                    if i + 1 == len(found):
                        raise RuntimeError(f"no readable checkpoint under {self.out_dir / 'checkpoints'}; the "
                                           f"oldest, {candidate.name}, fails with: {reason}") from err
                    warnings.warn(f"checkpoint {candidate} is unreadable ({type(err).__name__}: {reason}); "
                                  f"resuming from {found[i + 1].name} instead", RuntimeWarning, stacklevel=2)
        path = Path(path)
        state = ckpt.load_training_checkpoint(path, self.model, ema=self.ema, map_location=self.device)
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.d_updates = int(state["step"]), int(state["d_updates"])
        saved_device = state.get("latent_rng_device", "cpu" if state["latent_rng"].numel() > 16 else "cuda")
        if saved_device == self.device.type:
            self.latent_rng.set_state(state["latent_rng"])
        else:                          # a CPU generator's state means nothing to a CUDA one, and back
            warnings.warn(f"checkpoint was written on {saved_device}, resuming on {self.device.type}: the latent "
                          "stream is reseeded (the run goes on, not bit-identical to one that stayed put)",
                          RuntimeWarning, stacklevel=2)
            self.latent_rng.manual_seed(self.config.seed + self.step)
        self.data_cursor, self.nonfinite_streak = int(state["data_cursor"]), int(state["nonfinite_streak"])
        lineage = state["lineage"]
        self.commands, self.train_seconds = list(lineage.get("commands", [])), float(lineage.get("seconds", 0.0))
        if int(state["world_size"]) == self.dist.world_size:
            ckpt.set_rng_state(state["rng"][self.dist.rank])
        else:
            warnings.warn(f"checkpoint was written by {state['world_size']} processes, resuming with "
                          f"{self.dist.world_size}: per-process RNG streams are reseeded", RuntimeWarning)
            seed_everything(self.config.seed + self.step, self.dist.rank)
        return path

    def resume_run(self, resume: bool = True, command: Optional[str] = None,
                   init_from: Optional[str | Path] = None, overwrite: bool = False) -> dict[str, Any]:
        """Load the newest checkpoint of ``out_dir`` (when ``resume`` and one exists) and return the
        run's history so far, ``{"commands": [...], "seconds_total": s}`` (empty for a fresh run), so
        exported ``training.json`` files accumulate over resumes.

        The history is the checkpoint's own lineage (the commands before this one and the seconds
        trained up to the checkpoint), or for an older checkpoint ``out_dir/final/training.json``.
        ``command`` (this run's) joins the lineage of the checkpoints written from now on.
        ``init_from`` (an exported model, see :meth:`warm_start`) starts a run that has no checkpoint
        to resume from that model's weights; a checkpoint, when there is one to resume, wins.
        ``resume`` without ``init_from`` and without any checkpoint raises ``FileNotFoundError``: a
        mistyped run folder must not silently start a new run from iteration 0. Runs are never mixed:
        see :func:`prepare_run_folder` (``overwrite`` starts afresh in a folder that holds a run).
        Log rows (``metrics.jsonl``, ``eval.jsonl``) after the checkpoint resumed from are dropped,
        as those iterations are trained again.
        """
        history: dict[str, Any] = {"commands": [], "seconds_total": 0.0}
        out = Path(self.config.out_dir) if self.config.out_dir else None
        if out is not None:
            prepare_run_folder(out, resume=resume, overwrite=overwrite, main_process=self.dist.is_main)
        if resume and init_from is None and (out is None or ckpt.latest_checkpoint(out / "checkpoints") is None):
            where = out / "checkpoints" if out else "a run without out_dir"
            raise FileNotFoundError(f"nothing to resume: no checkpoint in {where} (check --out, or drop --resume "
                                    "to start a new run)")
        resuming = resume and out is not None and (out / "checkpoints").exists()
        if init_from is not None and not (resuming and ckpt.latest_checkpoint(out / "checkpoints")):
            history = self.warm_start(init_from)
        elif resuming:
            self.load_checkpoint("latest")
            if self.dist.is_main:
                for log in ("metrics.jsonl", "eval.jsonl"):      # the iterations after it are trained again
                    truncate_log(out / log, self.step)
            previous = out / "final" / "training.json"
            if self.commands:
                history = {"commands": list(self.commands), "seconds_total": self.train_seconds}
            elif previous.is_file():
                history = _exported_history(json.loads(previous.read_text()))
        self.commands = history["commands"] + ([command] if command else [])
        self.train_seconds = float(history["seconds_total"])
        return history

    def warm_start(self, name_or_path: str | Path) -> dict[str, Any]:
        """Load every part an exported model holds (``save_pretrained`` / ``export``: a folder or a
        shipped name) into this trainer's model, with fresh optimizers, and go on counting iterations
        from the model's ``training.json`` (:meth:`~multigan.core.module.AdversarialModel.warm_start_iterations`:
        its ``iterations``; StackGAN's Stage-I iterations).

        The EMA (when on) restarts from the loaded generator. Returns the model's history, as
        :meth:`resume_run` does, plus ``"init_from"`` (the model as named and its iterations), so the next
        export's ``training.json`` still lists every command behind its weights. The model's type
        and constructor arguments must match this trainer's, except the model's ``data_options``
        (how its training data were prepared: a model can be fine-tuned on data prepared otherwise)
        and ``training_options`` (loss terms only), and its ``growth_options`` where the model can be
        grown from a smaller one (:meth:`~multigan.core.module.AdversarialModel.load_grown_weights`:
        the layers that fit are loaded, the rest start fresh; ``"init_from"`` then records
        ``grown_from``); otherwise a ``ValueError`` names them.
        """
        from .module import WEIGHTS_NAME, read_config

        model = self.model
        folder = type(model)._resolve_pretrained(name_or_path)
        meta = read_config(folder)
        differ = ckpt.config_differences(meta["config"], model, (*getattr(model, "data_options", ()),
                                                                    *getattr(model, "training_options", ())))
        grow = bool(differ) and set(differ) <= set(getattr(model, "growth_options", ()))
        if meta["model_type"] != model.model_type or (differ and not grow):
            raise ValueError(f"--init-from {folder}: holds a {meta['model_type']} model that differs from the one "
                             f"being trained ({model.model_type}) in {differ or 'its type'}; start it with the "
                             "same options it was trained with")
        fresh: list[str] = []
        if grow:
            try:
                fresh = model.load_grown_weights(folder / WEIGHTS_NAME, meta["config"], map_location=self.device)
            except ValueError as err:
                raise ValueError(f"--init-from {folder}: {err}") from None
        else:
            model.load_weights(folder / WEIGHTS_NAME, components=meta.get("components") or None,
                               map_location=self.device)
        if self.ema is not None:
            self.ema.load_state_dict(model.generator.state_dict())
        info_file = folder / "training.json"
        old = json.loads(info_file.read_text()) if info_file.is_file() else {}
        self.step = model.warm_start_iterations(old)
        grown = {"grown_from": {k: meta["config"].get(k) for k in differ}, "new_tensors": len(fresh)} if grow else {}
        return {**_exported_history(old), "init_from": {"model": str(name_or_path), "iterations": self.step, **grown}}

    def run_info(self, command: str, history: dict[str, Any], seconds: float, **fields: Any) -> dict[str, Any]:
        """The provenance every exported ``training.json`` starts with, then ``fields``, then the config.

        ``history`` is :meth:`resume_run`'s return value (the lineage before this command) and
        ``seconds`` this command's training time. ``eval`` holds the last in-training evaluation
        (``eval_every``) when there was one.
        """
        info = {"command": command, "commands": history["commands"] + [command], "iterations": self.step,
                "stopped_by_time_limit": self.stopped_by_time_limit, "seconds_this_run": seconds,
                "seconds_total": history["seconds_total"] + seconds, "device": str(self.device),
                "precision": self.precision, "torch": torch.__version__, "python": platform.python_version(),
                **({"init_from": history["init_from"]} if "init_from" in history else {}),
                **fields, "trainer": self.config.to_dict()}
        if self.eval_history:
            info["eval"] = self.eval_history[-1]
        return info

    def _seconds(self) -> float:
        """Seconds spent in :meth:`fit` over the run's lineage, up to now."""
        return self.train_seconds + (time.perf_counter() - self._fit_clock if self._fit_clock is not None else 0.0)

    def export(self, path: str | Path, *, dtype: Optional[torch.dtype] = None,
               components: Optional[list[str]] = None, extra_files: Optional[dict[str, str]] = None) -> Path:
        """``save_pretrained`` the model with the EMA generator weights (if any) in place of G's.

        Refused (``ValueError``, nothing written) when a weight is not finite in ``dtype`` (a diverged
        run, or fp16 overflow beyond ±65504): see :func:`check_finite_weights`.

        In a multi-process job rank 0 writes and every rank returns once the folder is in place.
        """
        if self.dist.is_main:
            state = self.model.state_dict()
            if self.ema is not None:
                state.update({f"generator.{k}": v for k, v in self.ema.state_dict().items()})
            check_finite_weights(state, dtype, components)
            self.model.save_pretrained(path, dtype=dtype, state_dict=state, components=components,
                                       extra_files=extra_files)
        self.dist.barrier()
        return Path(path)

    def _emit(self, event: str, **info: Any) -> None:
        for fn in self.callbacks.get(event, ()):
            fn(self, **info)
