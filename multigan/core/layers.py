"""Building blocks shared by the modalities: spectral norm helpers, truncation, small layers.

Example:
    >>> d = apply_spectral_norm(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)))
    >>> sum(1 for m in d.modules() if has_spectral_norm(m))
    2
"""

from __future__ import annotations


import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["dcgan_init", "apply_spectral_norm", "has_spectral_norm", "sn_linear", "sn_conv2d", "sn_conv3d", "sn_embedding",
           "SelfAttention2d", "ConditionalBatchNorm2d", "GeneratorResBlock",
           "DiscriminatorResBlock", "ConvGRUCell"]

_SN_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.Embedding)


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016), for ``model.apply(dcgan_init)``: convolution and
    linear weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases and shifts 0 (the weight under a
    spectral-norm parametrisation). PyTorch's default for a transposed convolution with hundreds of
    output channels is about 10× smaller, and Adam's first steps then swamp it."""
    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
        weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


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


class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019) with a learned residual gate γ (starts at 0).

    Queries/keys use ``channels // 8`` channels and values ``channels // 2``, with 2×2 max-pooling
    of keys and values as in BigGAN.
    """

    def __init__(self, channels: int, spectral: bool = True):
        super().__init__()
        conv = sn_conv2d if spectral else nn.Conv2d
        self.query = conv(channels, max(1, channels // 8), 1, bias=False)
        self.key = conv(channels, max(1, channels // 8), 1, bias=False)
        self.value = conv(channels, max(1, channels // 2), 1, bias=False)
        self.out = conv(max(1, channels // 2), channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        pool = (lambda t: nn.functional.max_pool2d(t, 2)) if h % 2 == 0 and w % 2 == 0 else (lambda t: t)
        q = self.query(x).flatten(2)                                    # B, C/8, HW
        k = pool(self.key(x)).flatten(2)                                # B, C/8, HW'
        v = pool(self.value(x)).flatten(2)                              # B, C/2, HW'
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)             # B, HW, HW'
        y = (v @ attn.transpose(1, 2)).view(b, -1, h, w)
        return x + self.gamma * self.out(y)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose per-channel gain and bias come from a condition vector (BigGAN style)."""

    def __init__(self, channels: int, cond_dim: int, spectral: bool = True):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        linear = sn_linear if spectral else nn.Linear
        self.gain = linear(cond_dim, channels, bias=False)
        self.bias = linear(cond_dim, channels, bias=False)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        gain = 1.0 + self.gain(cond)[:, :, None, None]
        return self.bn(x) * gain + self.bias(cond)[:, :, None, None]


class GeneratorResBlock(nn.Module):
    """BigGAN-style up-sampling residual block: CBN → ReLU → ×2 → conv3 → CBN → ReLU → conv3, + skip."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, upsample: bool = True):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_channels, cond_dim)
        self.conv1 = sn_conv2d(in_channels, out_channels, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(out_channels, cond_dim)
        self.conv2 = sn_conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = sn_conv2d(in_channels, out_channels, 1)
        self.upsample = upsample

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        up = (lambda t: nn.functional.interpolate(t, scale_factor=2)) if self.upsample else (lambda t: t)
        h = self.conv1(up(torch.relu(self.bn1(x, cond))))
        h = self.conv2(torch.relu(self.bn2(h, cond)))
        return h + self.skip(up(x))


class DiscriminatorResBlock(nn.Module):
    """BigGAN-style down-sampling residual block (2-D, or 3-D with ``dims=3`` for video)."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool = True, preactivation: bool = True,
                 dims: int = 2):
        super().__init__()
        conv = sn_conv2d if dims == 2 else sn_conv3d
        self.pool = (nn.functional.avg_pool2d if dims == 2 else nn.functional.avg_pool3d) if downsample else None
        self.conv1 = conv(in_channels, out_channels, 3, padding=1)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1)
        self.skip = conv(in_channels, out_channels, 1) if in_channels != out_channels or downsample else None
        self.preactivation = preactivation

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(x) if self.preactivation else x
        h = self.conv2(torch.relu(self.conv1(h)))
        skip = x
        if self.pool is not None:
            h, skip = self.pool(h, 2), self.pool(skip, 2)
        return h + (self.skip(skip) if self.skip is not None else skip)


class ConvGRUCell(nn.Module):
    """Convolutional GRU cell (DVD-GAN: ReLU candidate activation by default).

    Example:
        >>> cell = ConvGRUCell(8, 16); h = torch.zeros(2, 16, 4, 4)
        >>> cell(torch.randn(2, 8, 4, 4), h).shape
        torch.Size([2, 16, 4, 4])
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, activation: str = "relu",
                 spectral: bool = True):
        super().__init__()
        conv = sn_conv2d if spectral else nn.Conv2d
        pad = kernel_size // 2
        self.gates = conv(in_channels + hidden_channels, 2 * hidden_channels, kernel_size, padding=pad)
        self.candidate = conv(in_channels + hidden_channels, hidden_channels, kernel_size, padding=pad)
        if activation not in ("relu", "tanh"):
            raise ValueError(f"ConvGRUCell activation must be 'relu' or 'tanh', got {activation!r}")
        self.activation = torch.relu if activation == "relu" else torch.tanh

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        update, reset = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        candidate = self.activation(self.candidate(torch.cat([x, reset * h], 1)))
        return (1 - update) * h + update * candidate
