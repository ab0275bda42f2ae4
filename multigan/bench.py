"""Training-step throughput and peak memory, and the trainer's overhead over a bare PyTorch loop.

``multigan bench`` prints one row per named configuration. Each configuration is trained twice on
the same networks and data: through :class:`~multigan.core.trainer.Trainer`, and through the
shortest hand-written loop doing the same arithmetic (in-memory data indexed by a shuffled
permutation, non-saturating loss, one D and one G Adam step, D frozen during the G step). Rounds alternate between the two and the median is reported,
so the overhead column is the cost of the trainer's machinery alone (the median over rounds of
bare-loop time / trainer time − 1, each round pairing the two).

Example::

    multigan bench --configs gaussians dcgan32 --steps 200 --device cpu
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .core.device import autocast, resolve_device, resolve_precision
from .core.module import AdversarialModel
from .core.toys import ConvGAN, MixtureGAN, ring_of_gaussians

#: a benchmark's in-memory data: one tensor, or tensors indexed together (e.g. images, embeddings)
Data = Union[torch.Tensor, tuple[torch.Tensor, ...]]

__all__ = ["BenchConfig", "BENCHMARKS", "register_benchmark", "run_benchmark", "format_table"]


@dataclass
class BenchConfig:
    """A named benchmark: how to build the model and its data, and the batch size."""

    name: str
    build: Callable[[], AdversarialModel]
    data: Callable[[], Data]
    batch_size: int
    trainer_options: dict = dataclasses.field(default_factory=dict)
    gpu_only: bool = False          # left out of the default selection on CPU (too slow there)


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
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")   # fp16 needs one, as in the trainer
    tensors = tuple(t.to(device) for t in (data if isinstance(data, tuple) else (data,)))   # in memory, as the trainer
    n = len(tensors[0])

    def softplus_mean(out, sign: float) -> torch.Tensor:
        """Non-saturating loss term; a list of heads (DVD-GAN's D_S, D_T) sums its terms."""
        if isinstance(out, (list, tuple)):
            return sum(softplus_mean(o, sign) for o in out)
        out = out.logits if hasattr(out, "logits") else out
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
    trainer = Trainer(model, dataset, batch_size=batch, device=str(device), precision=precision, progress=False,
                      log_every=10**9, **options)
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


def run_benchmark(name: str, *, device: str = "auto", precision: str = "auto", steps: int = 100,
                  warmup: int = 10, rounds: int = 3, seed: int = 0) -> dict[str, float | str]:
    """Measure one configuration; returns it/s (trainer and bare), overhead % and peak memory."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}")
    cfg = BENCHMARKS[name]
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    torch.manual_seed(seed)
    data = cfg.data()
    loops = {}
    for kind in ("trainer", "bare"):
        torch.manual_seed(seed)
        model = cfg.build().to(dev).train()
        if kind == "trainer":
            loops[kind] = _trainer_loop(model, data, cfg.batch_size, dev, prec, cfg.trainer_options)
        else:
            loops[kind] = _bare_loop(model, data, cfg.batch_size, dev, prec)
        loops[kind](warmup)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rates: dict[str, list[float]] = {"trainer": [], "bare": []}
    for _ in range(rounds):
        for kind in ("trainer", "bare"):
            rates[kind].append(_time(loops[kind], steps, dev))
    trainer_rate, bare_rate = statistics.median(rates["trainer"]), statistics.median(rates["bare"])
    # Overhead per adjacent pair of rounds, then the median: robust to the machine's speed drifting.
    ratios = [b / t - 1.0 for t, b in zip(rates["trainer"], rates["bare"])]
    return {"config": name, "device": str(dev), "precision": prec, "batch": cfg.batch_size,
            "trainer_it_s": trainer_rate, "bare_it_s": bare_rate,
            "overhead_pct": 100.0 * statistics.median(ratios),
            "peak_mem_mb": _peak_memory_mb(dev)}


def format_table(rows: list[dict]) -> str:
    """Render benchmark rows as a Markdown table."""
    head = "| config | device | precision | batch | trainer it/s | bare loop it/s | overhead | peak memory (MiB) |"
    lines = [head, "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['device']} | {r['precision']} | {r['batch']} | {r['trainer_it_s']:.1f} | "
                     f"{r['bare_it_s']:.1f} | {r['overhead_pct']:+.1f} % | {r['peak_mem_mb']:.0f} |")
    return "\n".join(lines)
