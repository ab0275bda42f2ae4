"""Adversarial objectives as pure functions of discriminator logits, selectable by name.

Every objective is an :class:`Objective`: a discriminator loss ``d_loss(real_logits, fake_logits)``,
a generator loss ``g_loss(fake_logits)``, the penalties the objective's paper prescribes (WGAN-GP's
gradient penalty, DRAGAN's perturbation penalty) and an optional constraint applied after each
discriminator step (WGAN's weight clipping). Losses are means over the batch.

Logits may be one tensor or a list/tuple of tensors (several discriminators, e.g. DVD-GAN's spatial
and temporal ones): the loss is then the sum of the per-discriminator losses.

Example:
    >>> obj = get_objective("hinge")
    >>> import torch
    >>> float(obj.d_loss(torch.tensor([2.0]), torch.tensor([-2.0])))
    0.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .penalties import DraganPenalty, GradientPenalty, Penalty

__all__ = ["Objective", "get_objective", "register_objective", "available_objectives", "Logits"]

Logits = Union[Tensor, Sequence[Tensor]]


def _each(logits: Logits) -> list[Tensor]:
    return [logits] if isinstance(logits, Tensor) else list(logits)


def _summed(fn: Callable[..., Tensor], *logit_groups: Logits) -> Tensor:
    groups = [_each(g) for g in logit_groups]
    terms = [fn(*[g.float() for g in items]) for items in zip(*groups)]
    return terms[0] if len(terms) == 1 else torch.stack(terms).sum()


@dataclass
class Objective:
    """An adversarial loss pair plus the penalties and constraint it comes with.

    Args:
        name:             registry name.
        d_term:           ``(real, fake) -> loss`` for one discriminator's logits.
        g_term:           ``(fake) -> loss`` for one discriminator's logits.
        penalties:        terms added to the discriminator loss (see ``multigan.core.penalties``).
        clip_weights:     if set, clamp every discriminator parameter to ``[-c, c]`` after its step.
    """

    name: str
    d_term: Callable[[Tensor, Tensor], Tensor]
    g_term: Callable[[Tensor], Tensor]
    penalties: list[Penalty] = field(default_factory=list)
    clip_weights: float | None = None

    def d_loss(self, real_logits: Logits, fake_logits: Logits) -> Tensor:
        """Discriminator loss, summed over discriminators, averaged over the batch."""
        return _summed(self.d_term, real_logits, fake_logits)

    def g_loss(self, fake_logits: Logits) -> Tensor:
        """Generator loss, summed over discriminators, averaged over the batch."""
        return _summed(self.g_term, fake_logits)

    @torch.no_grad()
    def after_d_step(self, discriminator: nn.Module) -> None:
        """Apply the objective's parameter constraint (WGAN weight clipping) after a D step."""
        if self.clip_weights is not None:
            for p in discriminator.parameters():
                p.clamp_(-self.clip_weights, self.clip_weights)


# -- loss terms ----------------------------------------------------------------------------------
# ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016): real targets become e.g. 0.9.

def _bce_d(real_label: float) -> Callable[[Tensor, Tensor], Tensor]:
    def d_term(real: Tensor, fake: Tensor) -> Tensor:
        if real_label == 1.0:
            real_loss = F.softplus(-real).mean()             # -log sigmoid(real)
        else:
            real_loss = F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_label))
        return real_loss + F.softplus(fake).mean()          # -log(1 - sigmoid(fake))
    return d_term


def _nonsaturating_g(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()                          # -log sigmoid(fake)


def _minimax_g(fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean()                          # log(1 - sigmoid(fake))


def _lsgan_d(real_label: float) -> Callable[[Tensor, Tensor], Tensor]:
    def d_term(real: Tensor, fake: Tensor) -> Tensor:       # Mao et al. 2017, a=0, b=c=1
        return 0.5 * ((real - real_label) ** 2).mean() + 0.5 * (fake ** 2).mean()
    return d_term


def _lsgan_g(fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def _wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def _wasserstein_g(fake: Tensor) -> Tensor:
    return -fake.mean()


def _hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


# -- registry ------------------------------------------------------------------------------------

_REGISTRY: dict[str, Callable[..., Objective]] = {}


def register_objective(name: str) -> Callable[[Callable[..., Objective]], Callable[..., Objective]]:
    """Decorator: register a factory ``(**kwargs) -> Objective`` under ``name``."""
    def wrap(factory: Callable[..., Objective]) -> Callable[..., Objective]:
        _REGISTRY[name] = factory
        return factory
    return wrap


@register_objective("nonsaturating")
def _nonsaturating(real_label: float = 1.0) -> Objective:
    return Objective("nonsaturating", _bce_d(real_label), _nonsaturating_g)


@register_objective("minimax")
def _minimax(real_label: float = 1.0) -> Objective:
    return Objective("minimax", _bce_d(real_label), _minimax_g)


@register_objective("lsgan")
def _lsgan(real_label: float = 1.0) -> Objective:
    return Objective("lsgan", _lsgan_d(real_label), _lsgan_g)


@register_objective("wgan")
def _wgan(clip: float = 0.01) -> Objective:
    return Objective("wgan", _wasserstein_d, _wasserstein_g, clip_weights=clip)


@register_objective("wgan-gp")
def _wgan_gp(gp_weight: float = 10.0) -> Objective:
    return Objective("wgan-gp", _wasserstein_d, _wasserstein_g, [GradientPenalty(weight=gp_weight)])


@register_objective("dragan")
def _dragan(gp_weight: float = 10.0, real_label: float = 1.0) -> Objective:
    return Objective("dragan", _bce_d(real_label), _nonsaturating_g, [DraganPenalty(weight=gp_weight)])


@register_objective("hinge")
def _hinge() -> Objective:
    return Objective("hinge", _hinge_d, _wasserstein_g)


def available_objectives() -> list[str]:
    """Names accepted by :func:`get_objective`."""
    return sorted(_REGISTRY)


def get_objective(name: str | Objective, **kwargs) -> Objective:
    """Build a registered objective, e.g. ``get_objective("nonsaturating", real_label=0.9)``.

    Aliases: ``ns``/``vanilla`` → nonsaturating, ``original`` → minimax, ``ls`` → lsgan,
    ``wgan_gp`` → wgan-gp.
    """
    if isinstance(name, Objective):
        return name
    aliases = {"ns": "nonsaturating", "vanilla": "nonsaturating", "original": "minimax",
               "ls": "lsgan", "wgan_gp": "wgan-gp", "wgangp": "wgan-gp"}
    key = aliases.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise ValueError(f"unknown objective {name!r}; available: {', '.join(available_objectives())}")
    try:
        return _REGISTRY[key](**kwargs)
    except TypeError as err:
        raise TypeError(f"objective {key!r} got bad options {sorted(kwargs)}: {err}") from None
