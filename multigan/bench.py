"""Training-step speed: seconds per iteration of each shipped model's training configuration, and
the trainer's overhead over a bare PyTorch loop on toy configurations.

``multigan bench`` prints one row per configuration.

* **Shipped configurations** (``music-bach``, ``voxel-furniture32``, …; registered by each
  modality) build the shipped model's architecture and its real training data and run the
  trainer with the shipped ``training.json``'s training rules (loss, n_critic, EMA, …) and
  today's speed options. They have no bare loop: the paper rules are the point.
* **Toy configurations** (``gaussians``, ``dcgan32``, …) are trained twice on the same networks
  and data: through :class:`~multigan.core.trainer.Trainer`, and through the shortest hand-written
  loop doing the same arithmetic (in-memory data indexed by a shuffled permutation,
  non-saturating loss, one D and one G Adam step, D frozen during the G step). Rounds alternate
  between the two, so the overhead column is the cost of the trainer's machinery alone (the
  median over rounds of bare-loop time / trainer time − 1, each round pairing the two).

By default each round lasts about ``round_seconds`` (at least one iteration), three rounds per
configuration: ``multigan bench`` finishes in about two minutes on 2 CPU cores. ``--full`` runs
fixed, longer rounds (100 iterations × 5) for the paired medians a table is made from.

Example::

    multigan bench                                   # shipped configurations + toys, quick
    multigan bench --configs music-bach --full       # long paired medians of one configuration
    multigan bench --configs dcgan32 --option reuse_fake=true
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .core.device import autocast, resolve_device, resolve_precision
from .core.module import AdversarialModel, DiscriminatorOutput
from .core.toys import ConvGAN, MixtureGAN, ring_of_gaussians

#: a benchmark's in-memory data: one tensor, or tensors indexed together (e.g. images, embeddings)
Data = Union[torch.Tensor, tuple[torch.Tensor, ...]]

__all__ = ["BenchConfig", "BENCHMARKS", "register_benchmark", "run_benchmark", "run_benchmarks", "format_table",
           "shipped_training_options", "training_loop"]


@dataclass
class BenchConfig:
    """A named benchmark: how to build the model and its data, and the batch size.

    ``data`` returns in-memory tensors (toy configurations) or, with ``bare=False``, any dataset
    the trainer takes (shipped configurations: no bare loop to compare with). ``trainer_options``
    may be a callable, evaluated when the benchmark runs (e.g. read from a shipped ``training.json``).
    """

    name: str
    build: Callable[[], AdversarialModel]
    data: Callable[[], Any]
    batch_size: int
    trainer_options: Union[dict, Callable[[], dict]] = dataclasses.field(default_factory=dict)
    gpu_only: bool = False          # left out of the default selection on CPU (too slow there)
    bare: bool = True               # also time the hand-written loop (the trainer's overhead)


#: TrainerConfig fields of a shipped ``training.json`` that shape an iteration's arithmetic
TRAINING_RULES = ("objective", "objective_options", "penalties", "lr_g", "lr_d", "betas_g", "betas_d", "n_critic",
                  "g_steps", "d_accuracy_gate", "label_smoothing", "feature_matching", "ema_decay", "ema_start",
                  "grad_clip_g", "grad_clip_d", "batch_size")
#: TrainerConfig fields that only change speed; a shipped configuration runs with the model's current ones
SPEED_OPTIONS = ("reuse_fake", "channels_last")


def shipped_training_options(model_cls: Any, info: dict) -> dict:
    """The training rules a shipped model's ``training.json`` records, with ``model_cls``'s current speed options."""
    recorded = info.get("trainer") or model_cls.trainer_defaults()
    rules = {k: recorded[k] for k in TRAINING_RULES if k in recorded}
    rules.update({k: v for k, v in model_cls.trainer_defaults().items() if k in SPEED_OPTIONS})
    for key in ("betas_g", "betas_d"):
        if key in rules:
            rules[key] = tuple(rules[key])
    return rules


BENCHMARKS: dict[str, BenchConfig] = {}


def register_benchmark(config: BenchConfig) -> BenchConfig:
    """Add a configuration to ``multigan bench`` (modalities register theirs on import)."""
    BENCHMARKS[config.name] = config
    return config


register_benchmark(BenchConfig("gaussians", lambda: MixtureGAN(hidden=128, depth=3),
                               lambda: ring_of_gaussians(8192, std=0.05), 256))
register_benchmark(BenchConfig("dcgan32", lambda: ConvGAN(latent_dim=64, channels=3, width=32),
                               lambda: torch.rand(2048, 3, 32, 32) * 2 - 1, 64))
register_benchmark(BenchConfig("dcgan32-large", lambda: ConvGAN(latent_dim=128, channels=3, width=128),
                               lambda: torch.rand(8192, 3, 32, 32) * 2 - 1, 256, gpu_only=True))


def default_benchmarks(device: str = "auto") -> list[str]:
    """The configurations ``multigan bench`` runs when none are named."""
    on_gpu = resolve_device(device).type != "cpu"
    return [name for name, cfg in BENCHMARKS.items() if on_gpu or not cfg.gpu_only]


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # process peak RSS (Linux: KiB)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _bare_loop(model: AdversarialModel, data: Data, batch: int, device: torch.device,
               precision: str, lr: float = 2e-4) -> Callable[[int], None]:
    """The hand-written loop: returns ``run(steps)``.

    ``data`` is one tensor, or a tuple of tensors indexed together (e.g. images and caption
    embeddings); the model's own ``split_batch`` / ``run_generator`` / ``run_discriminator`` route
    the condition, as the trainer's do.
    """
    G, D = model.generator, model.discriminator
    from .core.trainer import adam                    # the trainer's Adam

    opt_g = adam(G.parameters(), lr, (0.5, 0.999), device)
    opt_d = adam(D.parameters(), lr, (0.5, 0.999), device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")   # fp16 needs one, as in the trainer
    tensors = tuple(t.to(device) for t in (data if isinstance(data, tuple) else (data,)))   # in memory, as the trainer
    n = len(tensors[0])

    def softplus_mean(out, sign: float) -> torch.Tensor:
        """Non-saturating loss term; a list of heads (DVD-GAN's D_S, D_T) sums its terms."""
        out = out.logits if isinstance(out, DiscriminatorOutput) else out
        if isinstance(out, (list, tuple)):
            return sum(softplus_mean(o, sign) for o in out)
        return F.softplus(sign * out.float()).mean()
    position, perm = n, None

    def run(steps: int) -> None:
        nonlocal position, perm
        for _ in range(steps):
            if position + batch > n:
                perm, position = torch.randperm(n, device=device), 0
            idx = perm[position:position + batch]
            position += batch
            picked = tuple(t[idx] for t in tensors)
            real, cond = model.split_batch(picked[0] if len(picked) == 1 else picked)
            with autocast(device, precision):
                with torch.no_grad():
                    fake = model.run_generator(G, model.sample_latent(batch, device=device), cond)
                d_loss = softplus_mean(model.run_discriminator(D, real, cond), -1.0) + \
                    softplus_mean(model.run_discriminator(D, fake, cond), 1.0)
            scaler.scale(d_loss).backward()
            scaler.step(opt_d)
            opt_d.zero_grad(set_to_none=True)
            D.requires_grad_(False)
            with autocast(device, precision):
                fake = model.run_generator(G, model.sample_latent(batch, device=device), cond)
                g_loss = softplus_mean(model.run_discriminator(D, fake, cond), -1.0)
            scaler.scale(g_loss).backward()
            scaler.step(opt_g)
            scaler.update()
            opt_g.zero_grad(set_to_none=True)
            D.requires_grad_(True)
    return run


def _trainer_loop(model: AdversarialModel, data: Data, batch: int, device: torch.device,
                  precision: str, options: dict) -> Callable[[int], None]:
    from .core.trainer import Trainer

    dataset = TensorDataset(*data) if isinstance(data, tuple) else data
    options = {**options, "batch_size": batch}
    trainer = Trainer(model, dataset, device=str(device), precision=precision, progress=False, log_every=10**9,
                      tensorboard=False, **options)
    batches = trainer.batches()

    def run(steps: int) -> None:
        for _ in range(steps):
            trainer.train_step(batches)
    return run


def _time(run: Callable[[int], None], steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    run(steps)
    _sync(device)
    return steps / (time.perf_counter() - start)


def training_loop(name: str, *, device: str = "cpu", precision: str = "fp32", batch_size: Optional[int] = None,
                  options: Optional[dict] = None, seed: int = 0) -> tuple[Callable[[int], None], AdversarialModel]:
    """``(run, model)``: ``run(k)`` trains configuration ``name`` for ``k`` iterations through the
    trainer with its training rules (and ``options`` over them), at ``batch_size`` (default: the
    configuration's). For timing against other code (``benchmarks/compare_reference.py``)."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}")
    cfg = BENCHMARKS[name]
    dev = resolve_device(device)
    trainer_options = cfg.trainer_options() if callable(cfg.trainer_options) else dict(cfg.trainer_options)
    trainer_options.update(options or {})
    batch = int(batch_size or trainer_options.pop("batch_size", cfg.batch_size))
    trainer_options.pop("batch_size", None)
    torch.manual_seed(seed)
    data = cfg.data()
    torch.manual_seed(seed)
    model = cfg.build().float().to(dev).train()
    return _trainer_loop(model, data, batch, dev, resolve_precision(precision, dev), trainer_options), model


def run_benchmark(name: str, *, device: str = "auto", precision: str = "auto", steps: Optional[int] = None,
                  warmup: int = 1, rounds: Optional[int] = None, seed: int = 0, round_seconds: float = 1.5,
                  options: Optional[dict] = None, on_round: Optional[Callable[[], None]] = None) -> dict[str, Any]:
    """Measure one configuration: s/it and it/s of the trainer (and of the bare loop, for toy
    configurations: then the overhead %), and peak memory.

    ``steps`` iterations per round, or (None) as many as fill about ``round_seconds``, judged
    from the warm-up (at least one). ``rounds`` defaults to 3, or 2 for a configuration whose
    iteration takes more than twice ``round_seconds`` (the slow 3-D ones on a CPU). ``options`` override the configuration's trainer options
    (e.g. ``{"reuse_fake": True}``); ``on_round`` is called after each timed round (progress bars).
    """
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}")
    if (rounds is not None and rounds < 1) or warmup < 1 or (steps is not None and steps < 1):
        raise ValueError(f"steps, warmup and rounds must be >= 1, got {steps}, {warmup}, {rounds}")
    cfg = BENCHMARKS[name]
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    trainer_options = cfg.trainer_options() if callable(cfg.trainer_options) else dict(cfg.trainer_options)
    trainer_options.update(options or {})
    batch = int(trainer_options.pop("batch_size", cfg.batch_size))
    torch.manual_seed(seed)
    data = cfg.data()
    kinds = ("trainer", "bare") if cfg.bare else ("trainer",)
    loops, per_step = {}, {}
    for kind in kinds:
        torch.manual_seed(seed)
        model = cfg.build().float().to(dev).train()
        if kind == "trainer":
            loops[kind] = _trainer_loop(model, data, batch, dev, prec, trainer_options)
        else:
            loops[kind] = _bare_loop(model, data, batch, dev, prec)
        per_step[kind] = 1.0 / _time(loops[kind], warmup, dev)
    n = steps if steps is not None else max(1, round(round_seconds / max(per_step["trainer"], 1e-9)))
    if rounds is None:
        rounds = 2 if steps is None and per_step["trainer"] > 2 * round_seconds else 3
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):
        for kind in kinds:
            rates[kind].append(_time(loops[kind], n, dev))
        if on_round is not None:
            on_round()
    trainer_rate = statistics.median(rates["trainer"])
    row = {"config": name, "device": str(dev), "precision": prec, "batch": batch, "steps_per_round": n,
           "rounds": rounds, "trainer_s_it": 1.0 / trainer_rate,
           "trainer_s_it_range": [1.0 / max(rates["trainer"]), 1.0 / min(rates["trainer"])],
           "trainer_it_s": trainer_rate, "bare_it_s": None, "overhead_pct": None,
           "options": {k: v for k, v in trainer_options.items() if k in SPEED_OPTIONS or k in (options or {})},
           "peak_mem_mb": _peak_memory_mb(dev)}
    if cfg.bare:
        # Overhead per adjacent pair of rounds, then the median: robust to the machine's speed drifting.
        ratios = [b / t - 1.0 for t, b in zip(rates["trainer"], rates["bare"])]
        row.update(bare_it_s=statistics.median(rates["bare"]), overhead_pct=100.0 * statistics.median(ratios))
    return row


def run_benchmarks(names: list[str], *, full: bool = False, progress: bool = True, **kwargs: Any) -> list[dict]:
    """:func:`run_benchmark` for each name, with one progress bar over all rounds (on stderr).

    ``full``: 100 iterations × 5 rounds per configuration (otherwise time-budgeted rounds, see
    :func:`run_benchmark`)."""
    from tqdm.auto import tqdm

    if full:
        kwargs = {"steps": 100, "rounds": 5, "warmup": 10, **kwargs}
    rows = []
    with tqdm(total=len(names), desc="bench", unit="config", disable=not progress, file=sys.stderr) as bar:
        for name in names:
            bar.set_postfix_str(name)
            rows.append(run_benchmark(name, on_round=lambda: bar.refresh(), **kwargs))
            bar.update(1)
    return rows


def format_table(rows: list[dict]) -> str:
    """Render benchmark rows as a Markdown table."""
    head = ("| config | device | precision | batch | s/it (median, range) | it/s | bare loop it/s | overhead "
            "| peak memory (MiB) |")
    lines = [head, "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        low, high = r["trainer_s_it_range"]
        bare = f"{r['bare_it_s']:.1f}" if r.get("bare_it_s") is not None else "—"
        overhead = f"{r['overhead_pct']:+.1f} %" if r.get("overhead_pct") is not None else "—"
        lines.append(f"| {r['config']} | {r['device']} | {r['precision']} | {r['batch']} | "
                     f"{r['trainer_s_it']:.3f} ({low:.3f}–{high:.3f}) | {r['trainer_it_s']:.2f} | {bare} | {overhead} | "
                     f"{r['peak_mem_mb']:.0f} |")
    return "\n".join(lines)


def register_shipped(name: str, modality: str, model_name: str, model_cls: Any, build: Callable[[], AdversarialModel],
                     data: Callable[[], Any], batch_size: int, **options: Any) -> BenchConfig:
    """Register the training configuration of the shipped model ``model_name``: ``build`` makes its
    architecture, ``data`` its training data; the training rules come from its ``training.json``
    when it runs (:func:`shipped_training_options`), ``options`` override them."""
    def trainer_options() -> dict:
        import json

        from .core.module import assets_dir

        file = assets_dir() / "checkpoints" / modality / model_name / "training.json"
        info = json.loads(file.read_text()) if file.is_file() else {}
        return {**shipped_training_options(model_cls, info), **options}

    return register_benchmark(BenchConfig(name, build, data, batch_size, trainer_options, bare=False))
