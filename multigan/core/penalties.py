"""Discriminator regularisers as composable terms: WGAN-GP, DRAGAN, R1, R2.

A penalty is computed from a ``discriminate(x) -> logits`` closure (conditioning already bound),
the real batch and the (detached) fake batch. Each term carries its own ``weight`` and a lazy
``interval``: it is evaluated on every ``interval``-th discriminator step only, and then weighted
by ``weight * interval`` so its average strength stays the same (StyleGAN2's lazy regularisation).

Mixed precision: with an fp16 ``GradScaler`` the output is scaled before ``autograd.grad`` and the
input gradient unscaled after, so small gradients do not underflow to zero in fp16 (the cause of
WGAN-GP losses turning NaN in other codebases). With bf16 or fp32 no scaling is needed.

Example:
    >>> import torch
    >>> w = torch.tensor([3.0, 4.0])
    >>> r1 = R1Penalty(weight=10.0)
    >>> float(r1(lambda x: x @ w, torch.zeros(2, 2), torch.zeros(2, 2)))   # 10 · ½·‖w‖²
    125.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

__all__ = ["Penalty", "GradientPenalty", "DraganPenalty", "R1Penalty", "R2Penalty", "input_gradient",
           "get_penalty"]

Discriminate = Callable[[Tensor], Union[Tensor, Sequence[Tensor]]]


def input_gradient(outputs: Union[Tensor, Sequence[Tensor]], inputs: Tensor,
                   scaler: Optional["torch.amp.GradScaler"] = None) -> Tensor:
    """d(sum of outputs)/d(inputs) with ``create_graph=True``, AMP-safe.

    With an enabled ``GradScaler`` the sum is scaled before differentiation and the gradient
    divided by the scale afterwards (the PyTorch AMP gradient-penalty recipe).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    total = outputs[0].float().sum() if len(outputs) == 1 else torch.stack([o.float().sum() for o in outputs]).sum()
    if scaler is not None and scaler.is_enabled():
        (grad,) = torch.autograd.grad(scaler.scale(total), inputs, create_graph=True)
        return grad.float() / scaler.get_scale()
    (grad,) = torch.autograd.grad(total, inputs, create_graph=True)
    return grad.float()


def _per_sample_norm(grad: Tensor) -> Tensor:
    return grad.flatten(1).norm(2, dim=1)


def _uniform_like_batch(x: Tensor) -> Tensor:
    """One U(0,1) value per example, broadcastable over the other dimensions."""
    return torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype)


@dataclass
class Penalty:
    """Base class. Subclasses implement :meth:`term` (the unweighted penalty).

    Args:
        weight:    multiplier of the term (λ for GP/DRAGAN, γ for R1/R2).
        interval:  evaluate every ``interval`` discriminator steps (lazy regularisation).
    """

    weight: float = 10.0
    interval: int = 1

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"{type(self).__name__}.interval must be ≥ 1, got {self.interval}")

    def due(self, d_step: int) -> bool:
        """Whether the term is evaluated on discriminator step number ``d_step`` (0-based)."""
        return d_step % self.interval == 0

    @property
    def effective_weight(self) -> float:
        """``weight * interval``: the factor applied when the term is evaluated."""
        return self.weight * self.interval

    def term(self, discriminate: Discriminate, real: Tensor, fake: Tensor,
             scaler: Optional["torch.amp.GradScaler"]) -> Tensor:
        raise NotImplementedError

    def __call__(self, discriminate: Discriminate, real: Tensor, fake: Tensor,
                 scaler: Optional["torch.amp.GradScaler"] = None) -> Tensor:
        """The weighted penalty ``weight * term`` (the trainer adds the lazy-interval factor)."""
        return self.weight * self.term(discriminate, real, fake, scaler)


class GradientPenalty(Penalty):
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖ − 1)²], x̂ uniform on lines real↔fake."""

    def term(self, discriminate, real, fake, scaler):
        alpha = _uniform_like_batch(real)
        x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        grad = input_gradient(discriminate(x_hat), x_hat, scaler)
        return ((_per_sample_norm(grad) - 1.0) ** 2).mean()


class DraganPenalty(Penalty):
    """DRAGAN (Kodali et al. 2017): E[(‖∇D(x̂)‖ − 1)²], x̂ between x and x + 0.5·std(x)·U(0,1)."""

    def term(self, discriminate, real, fake, scaler):
        real = real.detach()
        perturbed = real + 0.5 * real.std() * torch.rand_like(real)
        alpha = _uniform_like_batch(real)
        x_hat = (real + alpha * (perturbed - real)).requires_grad_(True)
        grad = input_gradient(discriminate(x_hat), x_hat, scaler)
        return ((_per_sample_norm(grad) - 1.0) ** 2).mean()


class R1Penalty(Penalty):
    """R1 (Mescheder et al. 2018): ½·E‖∇D(x_real)‖²; ``weight`` is γ."""

    def term(self, discriminate, real, fake, scaler):
        x = real.detach().requires_grad_(True)
        grad = input_gradient(discriminate(x), x, scaler)
        return 0.5 * grad.flatten(1).pow(2).sum(1).mean()


class R2Penalty(Penalty):
    """R2 (Mescheder et al. 2018): ½·E‖∇D(x_fake)‖²; ``weight`` is γ."""

    def term(self, discriminate, real, fake, scaler):
        x = fake.detach().requires_grad_(True)
        grad = input_gradient(discriminate(x), x, scaler)
        return 0.5 * grad.flatten(1).pow(2).sum(1).mean()


_PENALTIES = {"gp": GradientPenalty, "wgan-gp": GradientPenalty, "dragan": DraganPenalty,
              "r1": R1Penalty, "r2": R2Penalty}


def get_penalty(name: str, weight: float = 10.0, interval: int = 1) -> Penalty:
    """Build a penalty by name: ``gp``, ``dragan``, ``r1``, ``r2``."""
    try:
        return _PENALTIES[name.lower()](weight=weight, interval=interval)
    except KeyError:
        raise ValueError(f"unknown penalty {name!r}; available: {', '.join(sorted(_PENALTIES))}") from None
