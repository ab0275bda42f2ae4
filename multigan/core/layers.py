"""Building blocks shared by the modalities: spectral norm helpers, truncation, small layers.

Example:
    >>> d = apply_spectral_norm(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)))
    >>> sum(1 for m in d.modules() if has_spectral_norm(m))
    2
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["apply_spectral_norm", "has_spectral_norm", "sn_linear", "sn_conv2d", "sn_conv3d", "sn_embedding",
           "truncated_normal", "truncate_latent"]

_SN_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.Embedding)


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether ``module.weight`` is spectrally normalised."""
    return parametrize.is_parametrized(module, "weight")


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """Spectrally normalise (Miyato et al. 2018) every linear/conv/embedding weight in ``module``.

    Layers already normalised are left alone. Returns ``module`` (modified in place).
    """
    for sub in list(module.modules()):
        if isinstance(sub, _SN_TYPES) and not has_spectral_norm(sub):
            dim = 1 if isinstance(sub, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
            spectral_norm(sub, n_power_iterations=n_power_iterations, eps=eps, dim=dim)
    return module


def sn_linear(*args, **kwargs) -> nn.Linear:
    """``nn.Linear`` with spectral norm."""
    return spectral_norm(nn.Linear(*args, **kwargs))


def sn_conv2d(*args, **kwargs) -> nn.Conv2d:
    """``nn.Conv2d`` with spectral norm."""
    return spectral_norm(nn.Conv2d(*args, **kwargs))


def sn_conv3d(*args, **kwargs) -> nn.Conv3d:
    """``nn.Conv3d`` with spectral norm."""
    return spectral_norm(nn.Conv3d(*args, **kwargs))


def sn_embedding(*args, **kwargs) -> nn.Embedding:
    """``nn.Embedding`` with spectral norm."""
    return spectral_norm(nn.Embedding(*args, **kwargs))


def truncated_normal(shape: tuple[int, ...], threshold: float = 2.0, *,
                     generator: Optional[torch.Generator] = None) -> Tensor:
    """N(0, 1) samples redrawn until ``|x| ≤ threshold`` (BigGAN's truncation trick)."""
    if threshold <= 0:
        raise ValueError(f"truncation threshold must be > 0, got {threshold}")
    z = torch.randn(shape, generator=generator)
    while True:
        outside = z.abs() > threshold
        if not outside.any():
            return z
        z[outside] = torch.randn(int(outside.sum()), generator=generator)


def truncate_latent(w: Tensor, mean: Tensor, psi: float) -> Tensor:
    """Pull latents towards their mean: ``mean + psi · (w − mean)`` (StyleGAN's ψ truncation)."""
    return mean + psi * (w - mean)
