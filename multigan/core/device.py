"""Device, precision, seeding and distributed set-up, shared by every modality.

One code path covers a single process and ``torchrun`` with N processes: :func:`init_distributed`
reads the ``env://`` variables torchrun sets and does nothing when they are absent.

Example (the same script, 1 process or 8 on 2 nodes)::

    python train.py
    torchrun --nproc_per_node 4 train.py
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 \\
        --rdzv_backend c10d --rdzv_endpoint HOST0:29500 train.py     # on node 0, node_rank 1 on node 1
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["resolve_device", "resolve_precision", "cpu_bf16", "configure_backends", "autocast", "to_channels_last",
           "DistributedContext", "init_distributed", "seed_everything", "PRECISIONS"]

PRECISIONS = ("fp32", "bf16", "fp16")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda → mps → cpu; any explicit torch device string is checked and returned.

    Under torchrun with CUDA, ``"auto"``/``"cuda"`` resolve to ``cuda:LOCAL_RANK``.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        if resolved.index is None:
            resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available on this machine")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"``: bf16 on CUDA GPUs that support it, fp32 elsewhere. Explicit values are checked."""
    precision = precision.lower()
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use 'auto' or one of {PRECISIONS}")
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' needs a GPU (its GradScaler is CUDA/MPS-only); use 'bf16' or 'fp32' on CPU")
    if precision == "bf16" and device.type == "cpu" and not cpu_bf16():
        warnings.warn("this CPU has no native bf16 dot products (AVX512-BF16, AMX-BF16 or Arm BF16): bf16 autocast "
                      "converts in software and is usually slower than fp32 here", stacklevel=2)
    return precision


def cpu_bf16() -> str:
    """Which bf16 dot products this CPU has: ``"AMX-BF16"``, ``"AVX512-BF16"``, ``"SVE-BF16"`` /
    ``"BF16"`` (Arm), or ``""`` (none: bf16 autocast then converts in software and is usually
    slower than fp32).

    With native bf16, ``precision="bf16"`` (bf16 autocast) trains the shipped models' configurations
    1.2-1.8× faster than fp32 on a 2-core AVX512-BF16 CPU (``multigan bench --precision bf16``).
    """
    try:
        found = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):            # torch without it (older than 2.4): say not native
        return ""
    for key, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"), ("sve_bf16", "SVE-BF16"),
                      ("bf16", "BF16")):
        if found.get(key):
            return name
    return ""


def configure_backends(tf32: bool = False, cudnn_benchmark: bool = False, deterministic: bool = False) -> None:
    """Set TF32 matmul/conv and cuDNN autotuning explicitly (both off by default: GAN numerics)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark and not deterministic
    torch.backends.cudnn.deterministic = deterministic


def to_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """Store every 4-D weight channels-last (NHWC) and every 5-D one channels-last-3d (NDHWC), in place.

    Convolutions then run on the channels-last kernels (on CPU about 10-20 % faster for the
    generators here) and return channels-last outputs; values are the same up to summation order.
    Saved weights are made contiguous again (``save_pretrained``, checkpoints).
    """
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.dim() in formats:
                # ``to``, not ``contiguous``: a 1-channel weight (D's first, G's last layer) is contiguous
                # both ways, and only ``to`` gives it channels-last strides. With contiguous strides its
                # convolution answers contiguous, and the next layer copies the whole activation to
                # channels-last and back in every pass (3-D GAN at 64³: 8 % of a step).
                tensor.data = tensor.data.to(memory_format=formats[tensor.dim()])
    return module


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch (all devices) with ``seed + rank``."""
    s = seed + rank
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly one-process) job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    initialized_here: bool = False

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that logs, snapshots and writes checkpoints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def all_mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of ``value`` over processes (identity for one process)."""
        if not self.is_distributed:
            return value
        value = value.clone()
        dist.all_reduce(value)
        return value / self.world_size

    def all_true(self, flag: bool, device: torch.device) -> bool:
        """True only if ``flag`` is true on every process (so all ranks take the same branch)."""
        if not self.is_distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item() > 0.5)

    def close(self) -> None:
        """Destroy the process group if this context created it, once every process has reached here.

        The barrier keeps one process from tearing its connections down while another still uses
        them (gloo then aborts the slower process at exit).
        """
        if self.initialized_here and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
            self.initialized_here = False


def init_distributed(device: torch.device | None = None) -> DistributedContext:
    """Join the torchrun job described by the environment (``env://``), or return a 1-process context.

    Backend: nccl on CUDA, gloo otherwise. Calling it again in an initialised process returns the
    existing context.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size <= 1:
        return DistributedContext()
    if dist.is_initialized():
        return DistributedContext(dist.get_rank(), local_rank, dist.get_world_size(), False)
    use_cuda = device is not None and device.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo", init_method="env://")
    return DistributedContext(rank, local_rank, world_size, True)


@contextlib.contextmanager
def no_sync(module: torch.nn.Module) -> Iterator[None]:
    """``module.no_sync()`` for a DDP-wrapped module, a no-op otherwise."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        with module.no_sync():
            yield
    else:
        yield
