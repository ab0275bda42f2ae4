"""Exponential moving average of a network's weights (the generator users sample from)."""

from __future__ import annotations

import contextlib
import copy
from typing import Iterator

import torch
from torch import nn

__all__ = ["EMA", "recalibrate_batchnorm"]


class EMA:
    """Keeps ``module`` = EMA of a source network's parameters; buffers are copied as they are.

    Args:
        source:      the network being trained (unwrapped, not DDP).
        decay:       weight of the old average per update, e.g. 0.999.
        start_step:  before this iteration the average simply copies the source.

    Example:
        >>> net = nn.Linear(2, 2); ema = EMA(net, decay=0.9)
        >>> ema.update(net, step=0)
    """

    def __init__(self, source: nn.Module, decay: float = 0.999, start_step: int = 0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.start_step = start_step
        self.module = copy.deepcopy(source).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        """Fold the source's current weights into the average (copy them before ``start_step``)."""
        weight = 0.0 if step < self.start_step else self.decay
        averages = list(self.module.parameters())
        current = [p.detach().to(a.dtype) for a, p in zip(averages, source.parameters())]
        if averages:
            torch._foreach_lerp_(averages, current, 1.0 - weight)      # all tensors in one call
        buffers = list(self.module.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(source.buffers()))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)

    @contextlib.contextmanager
    def swapped_into(self, target: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into ``target`` (e.g. to save or sample), then restore."""
        backup = {k: v.detach().clone() for k, v in target.state_dict().items()}
        target.load_state_dict(self.module.state_dict())
        try:
            yield target
        finally:
            target.load_state_dict(backup)


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, run_batch, batches: int = 20) -> int:
    """Re-estimate BatchNorm running statistics of ``module`` (e.g. an EMA generator).

    EMA averages the weights but copies the running statistics of the trained network, which
    belong to other weights. This resets every BatchNorm layer's statistics, runs
    ``run_batch(module)`` ``batches`` times in train mode (cumulative average, no gradients) and
    returns ``module`` to its previous mode. Returns the number of BatchNorm layers recalibrated.

    Example:
        >>> g = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        >>> recalibrate_batchnorm(g, lambda m: m(torch.randn(8, 4)), batches=2)
        1
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    was_training = module.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                     # cumulative moving average over the calibration batches
    module.train()
    try:
        for _ in range(int(batches)):
            run_batch(module)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.train(was_training)
    return len(norms)
