"""Differentiable augmentation of what the discriminator sees (DiffAugment, Zhao et al. 2020).

With a few thousand training pictures the discriminator soon tells every real one apart from the
fakes and its gradient stops helping the generator. DiffAugment transforms *both* real and fake
images with the same policy (each batch draws its own parameters), differentiably, each time D looks at them
(in its own update, in the generator's and in the penalties), so D cannot memorise the real
pictures and G is never asked to draw the augmentations. The trainer applies it with
``TrainerConfig(augment="color,translation,cutout")``.

Operations (images ``(B, C, H, W)`` in [-1, 1]; every sample draws its own parameters):

``color``
    brightness ``x + U(-0.5, 0.5)``; saturation, ``(x − mean over channels)·U(0, 2) + mean``;
    contrast, ``(x − mean over pixels and channels)·U(0.5, 1.5) + mean``.
``translation``
    a shift by up to ``1/8`` of the height and width, whole pixels, the uncovered border filled with 0.
``cutout``
    a square of half the height and width, centred anywhere in the image, set to 0.

Example:
    >>> augment = DiffAugment("translation,cutout")
    >>> torch.manual_seed(0) is not None and tuple(augment(torch.ones(2, 3, 16, 16)).shape)
    (2, 3, 16, 16)
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["DiffAugment", "AUGMENTATIONS", "color", "translation", "cutout"]


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    """One draw per sample, shaped to broadcast over (C, H, W)."""
    return torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).uniform_(low, high)


def color(x: Tensor) -> Tensor:
    """Random brightness, saturation and contrast per sample."""
    x = x + _uniform(x, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each sample by whole pixels, up to ``ratio`` of its size each way; zeros come in."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None] - dy + sy          # (B, H) into the padded image
    cols = torch.arange(w, device=x.device)[None] - dx + sx          # (B, W)
    padded = F.pad(x, [sx, sx, sy, sy])
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Set a square of ``ratio`` of the size, centred anywhere in each sample, to 0."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy + ch // 2) >= 0) & ((ys - cy + ch // 2) < ch) & ((xs - cx + cw // 2) >= 0) & \
        ((xs - cx + cw // 2) < cw)
    return x * (~inside)[:, None].to(x.dtype)


#: The operations by name, in the order :class:`DiffAugment` applies them.
AUGMENTATIONS: dict[str, Callable[[Tensor], Tensor]] = {"color": color, "translation": translation,
                                                        "cutout": cutout}


class DiffAugment:
    """Apply the named operations (``"color,translation,cutout"`` or a list), in :data:`AUGMENTATIONS` order.

    Draws from torch's global random generator on the images' device, so a seeded run (and a
    resumed one: the trainer checkpoints those generators) augments the same way again.
    """

    def __init__(self, policy: str | Sequence[str]):
        names = [p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy) if p.strip()]
        unknown = sorted(set(names) - set(AUGMENTATIONS))
        if unknown or not names:
            raise ValueError(f"unknown augmentation {', '.join(unknown) or repr(policy)}; choose from "
                             f"{', '.join(AUGMENTATIONS)} (comma-separated)")
        self.names = [n for n in AUGMENTATIONS if n in names]

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.names)!r})"

    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"augment works on image batches (B, C, H, W), got {shape}; leave augment off for "
                             "this model")
        for name in self.names:
            x = AUGMENTATIONS[name](x)
        return x
