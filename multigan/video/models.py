"""DVD-GAN (Clark, Donahue & Simonyan 2019): a recurrent video generator and two discriminators.

Generator (:class:`VideoGenerator`)
    ``[z; e(y)]`` (z ~ N(0, I), e a learned class embedding) is mapped by a spectrally normalised
    linear layer to a ``4 × 4 × ch0`` map. The network then runs ``L = log2(size / 4)`` *groups*;
    each group unrolls a convolutional GRU (ReLU candidate activation, as in the paper) once per
    frame over the previous group's per-frame maps (group 0: the 4 × 4 map at every step, hidden
    state starting at zero), then passes every frame's GRU output through two BigGAN residual
    blocks with time folded into the batch (the first keeps the size, the second doubles it).
    All conditional BatchNorms get the same ``[z; e(y)]``. Optional per-frame SAGAN
    self-attention after the group that reaches ``attention_res``. BN → ReLU → 3 × 3 conv → tanh
    gives ``(B, T, C, H, W)`` in [-1, 1].

Spatial discriminator D_S (:class:`SpatialDiscriminator`)
    A BigGAN-style 2-D residual discriminator at full resolution over ``k_frames`` frames per
    clip. In training mode each example draws its own random frame subset (a random permutation
    per example from the *global* torch RNG, so the trainer's seeding covers it); in ``eval()``
    mode it uses ``k`` evenly spaced frames, so scores are deterministic. Per-frame scores
    (linear + class projection) are **summed** per clip before the loss.

Temporal discriminator D_T (:class:`TemporalDiscriminator`)
    The whole clip, 2 × 2 average-pooled. The first two residual blocks are 3-D (3 × 3 × 3; each
    down-sampling block halves time and space); then time is folded into the batch and 2-D
    BigGAN blocks follow. Features are ReLU'd, summed over time and space, and scored by a linear
    layer plus class projection (Miyato & Koyama 2018).

Both discriminators live in :class:`DualDiscriminator`, whose ``forward(x, y)`` returns the list
``[D_S logits, D_T logits]``; the shared trainer sums the hinge losses over that list.

Spectral norm everywhere in G and D; orthogonal initialisation (BigGAN); hinge loss with the
generator loss ``-D(G(z))``. Hyper-parameter sources are listed in :meth:`DVDGAN.trainer_defaults`.

Example:
    >>> model = DVDGAN(frames=4, size=16, width=4, classes=["a", "b"])
    >>> clips = model.generate(2, label="a", seed=0)
    >>> tuple(clips.clips.shape)
    (2, 4, 1, 16, 16)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from multigan.core.layers import (ConvGRUCell, DiscriminatorResBlock, GeneratorResBlock, SelfAttention2d,
                                  has_spectral_norm, sn_conv2d, sn_embedding, sn_linear)
from multigan.core.module import AdversarialModel, resolve_labels

__all__ = ["DVDGAN", "VideoGenerator", "SpatialDiscriminator", "TemporalDiscriminator", "DualDiscriminator",
           "PRESETS"]

#: named architectures: ``DVDGAN(**PRESETS[name], classes=..., channels=...)``. ``channel_mult``
#: gives G's widths (× ``width``) at 4 × 4 and after each group; D uses them reversed.
PRESETS: dict[str, dict[str, Any]] = {
    # CPU: 16 frames, 32 × 32 (Moving MNIST native size); ~ BigGAN-CIFAR depth at a quarter width.
    "cpu-32": {"frames": 16, "size": 32, "width": 16, "channel_mult": (8, 4, 2, 1), "k_frames": 8},
    # CPU: 16 frames, 64 × 64; one group more.
    "cpu-64": {"frames": 16, "size": 64, "width": 16, "channel_mult": (8, 8, 4, 2, 1), "k_frames": 8},
    # GPU, paper-like: 48 frames at 128 × 128, BigGAN-128 multipliers, self-attention at 32 × 32.
    "paper-128": {"frames": 48, "size": 128, "width": 48, "channel_mult": (16, 16, 8, 4, 2, 1), "k_frames": 8,
                  "attention_res": 32},
}

Label = Union[None, int, str, Sequence[Union[int, str]], Tensor]


def _levels(size: int) -> int:
    if size < 16 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 16, got {size}")
    return int(math.log2(size)) - 2


@torch.no_grad()
def _orthogonal_init(module: nn.Module) -> None:
    """BigGAN's orthogonal initialisation of conv/linear/embedding weights (biases zero)."""
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)):
        weight = module.parametrizations.weight.original if has_spectral_norm(module) else module.weight
        nn.init.orthogonal_(weight)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
        if has_spectral_norm(module):
            # re-estimate σ for the new weight: the u, v vectors were fitted to the old one, and a
            # fresh model used in eval() mode (no power iteration) would divide by a wrong σ
            sn = module.parametrizations.weight[0]
            sn._power_method(sn._reshape_weight_to_matrix(weight), 15)


class _GeneratorGroup(nn.Module):
    """One resolution level of G: ConvGRU over time, then two residual blocks per frame (×2 size)."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, gru_activation: str):
        super().__init__()
        self.gru = ConvGRUCell(in_channels, in_channels, activation=gru_activation)
        self.block1 = GeneratorResBlock(in_channels, in_channels, cond_dim, upsample=False)
        self.block2 = GeneratorResBlock(in_channels, out_channels, cond_dim, upsample=True)

    def forward(self, inputs: Union[Tensor, list[Tensor]], frames: int, cond: Tensor) -> Tensor:
        """``inputs``: one (B, C, r, r) map fed at every step, or T per-frame maps. Returns (B·T, C', 2r, 2r)."""
        first = inputs if isinstance(inputs, Tensor) else inputs[0]
        h = torch.zeros_like(first)
        states = []
        for t in range(frames):
            h = self.gru(inputs if isinstance(inputs, Tensor) else inputs[t], h)
            states.append(h)
        x = torch.stack(states, 1).flatten(0, 1)                     # time folded into the batch
        return self.block2(self.block1(x, cond), cond)


class VideoGenerator(nn.Module):
    """``(z, labels)`` → clips ``(B, T, C, H, W)`` in [-1, 1] (see the module docstring)."""

    def __init__(self, frames: int, size: int, channels: int, latent_dim: int, num_classes: int, embed_dim: int,
                 width: int, channel_mult: Sequence[int], attention_res: Optional[int] = None,
                 gru_activation: str = "relu"):
        super().__init__()
        widths = [width * m for m in channel_mult]
        self.frames, self.size = frames, size
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        cond_dim = latent_dim + (embed_dim if num_classes else 0)
        self.linear = sn_linear(cond_dim, widths[0] * 16)
        self.groups = nn.ModuleList(_GeneratorGroup(cin, cout, cond_dim, gru_activation)
                                    for cin, cout in zip(widths[:-1], widths[1:], strict=True))
        self.attention_after = None
        self.attention = None
        if attention_res is not None:
            level = int(math.log2(attention_res)) - 3                   # group i outputs 8·2^i pixels
            self.attention_after, self.attention = level, SelfAttention2d(widths[level + 1])
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = sn_conv2d(widths[-1], channels, 3, padding=1)

    def condition(self, z: Tensor, labels: Optional[Tensor]) -> Tensor:
        """The vector ``[z; e(y)]`` that feeds the input layer and every conditional BatchNorm."""
        if self.embed is None:
            if labels is not None:
                raise ValueError("this generator is unconditional; do not pass labels")
            return z
        if labels is None:
            raise ValueError("this generator is class-conditional: pass labels")
        return torch.cat([z, self.embed(labels)], 1)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        b, t = z.shape[0], self.frames
        cond = self.condition(z, labels)
        cond_frames = cond.repeat_interleave(t, 0)                     # one copy per frame (B·T, ·)
        x: Union[Tensor, list[Tensor]] = self.linear(cond).view(b, -1, 4, 4)
        for i, group in enumerate(self.groups):
            h = group(x, t, cond_frames)
            if i == self.attention_after:
                h = self.attention(h)
            x = list(h.view(b, t, *h.shape[1:]).unbind(1)) if i + 1 < len(self.groups) else h
        out = torch.tanh(self.out_conv(torch.relu(self.out_bn(x))))
        return out.view(b, t, *out.shape[1:])


def _projection_head(features: int, num_classes: int) -> tuple[nn.Module, Optional[nn.Module]]:
    return sn_linear(features, 1), (sn_embedding(num_classes, features) if num_classes else None)


def _score(h: Tensor, linear: nn.Module, embed: Optional[nn.Module], labels: Optional[Tensor]) -> Tensor:
    """Linear score plus projection ``<e(y), h>`` of pooled features ``h`` (N, C)."""
    logits = linear(h).squeeze(1)
    if embed is not None:
        if labels is None:
            raise ValueError("this discriminator is class-conditional: pass labels")
        logits = logits + (embed(labels) * h).sum(1)
    return logits


class SpatialDiscriminator(nn.Module):
    """D_S: a 2-D BigGAN discriminator over ``k`` frames per clip; per-frame scores summed per clip."""

    def __init__(self, size: int, channels: int, num_classes: int, width: int, channel_mult: Sequence[int],
                 k_frames: int, attention_res: Optional[int] = None):
        super().__init__()
        widths = [width * m for m in reversed(tuple(channel_mult))]
        self.k_frames = k_frames
        blocks: list[nn.Module] = []
        res, cin = size, channels
        for i, cout in enumerate(widths):
            down = i < len(widths) - 1
            blocks.append(DiscriminatorResBlock(cin, cout, downsample=down, preactivation=i > 0))
            res, cin = (res // 2 if down else res), cout
            if attention_res is not None and res == attention_res and down:
                blocks.append(SelfAttention2d(cout))
        self.blocks = nn.Sequential(*blocks)
        self.linear, self.embed = _projection_head(widths[-1], num_classes)

    def frame_indices(self, batch: int, frames: int, device: torch.device) -> Tensor:
        """(B, k) frame indices: an independent random subset per example in training, evenly spaced in eval."""
        k = min(self.k_frames, frames)
        if self.training:
            return torch.rand(batch, frames, device=device).argsort(1)[:, :k]
        return torch.linspace(0, frames - 1, k, device=device).round().long().expand(batch, k)

    def score_frames(self, frames: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Per-frame logits of ``(N, C, H, W)`` frames (labels per frame)."""
        h = torch.relu(self.blocks(frames)).sum((2, 3))
        return _score(h, self.linear, self.embed, labels)

    def forward(self, clips: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        b, t = clips.shape[:2]
        idx = self.frame_indices(b, t, clips.device)
        chosen = clips[torch.arange(b, device=clips.device)[:, None], idx]          # (B, k, C, H, W)
        k = chosen.shape[1]
        y = None if labels is None else labels.repeat_interleave(k, 0)
        return self.score_frames(chosen.flatten(0, 1), y).view(b, k).sum(1)


class TemporalDiscriminator(nn.Module):
    """D_T: 2 × 2 average-pooled whole clip; two 3-D residual blocks, then 2-D blocks over folded time."""

    def __init__(self, size: int, channels: int, num_classes: int, width: int, channel_mult: Sequence[int]):
        super().__init__()
        widths = [width * m for m in reversed(tuple(channel_mult))][1:]   # the 2 × 2 pool does the first halving
        self.blocks3d = nn.ModuleList()
        self.blocks2d = nn.ModuleList()
        cin = channels
        for i, cout in enumerate(widths):
            down = i < len(widths) - 1
            if i < 2:
                self.blocks3d.append(DiscriminatorResBlock(cin, cout, downsample=down, preactivation=i > 0, dims=3))
            else:
                self.blocks2d.append(DiscriminatorResBlock(cin, cout, downsample=down))
            cin = cout
        self.linear, self.embed = _projection_head(widths[-1], num_classes)

    def forward(self, clips: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        b, t = clips.shape[:2]
        x = F.avg_pool2d(clips.flatten(0, 1), 2)
        x = x.view(b, t, *x.shape[1:]).transpose(1, 2)                   # (B, C, T, H/2, W/2)
        for block in self.blocks3d:
            x = block(x)
        t2 = x.shape[2]
        x = x.transpose(1, 2).flatten(0, 1)                              # (B·T', C, h, w)
        for block in self.blocks2d:
            x = block(x)
        h = torch.relu(x).sum((2, 3)).view(b, t2, -1).sum(1)
        return _score(h, self.linear, self.embed, labels)


class DualDiscriminator(nn.Module):
    """``forward(clips, labels)`` → ``[D_S logits (B,), D_T logits (B,)]``."""

    def __init__(self, spatial: SpatialDiscriminator, temporal: TemporalDiscriminator):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal

    def forward(self, clips: Tensor, labels: Optional[Tensor] = None) -> list[Tensor]:
        return [self.spatial(clips, labels), self.temporal(clips, labels)]


class DVDGAN(AdversarialModel):
    """DVD-GAN: class-conditional video generation with spatial and temporal discriminators.

    Args:
        frames:        clip length T (>= 4: D_T's 3-D blocks halve time).
        size:          frame size H = W, a power of two >= 16.
        channels:      1 (grey) or 3 (RGB).
        latent_dim:    z dimension (paper: 120).
        classes:       class names (empty: unconditional).
        embed_dim:     class embedding size (paper: 120, same as z).
        width:         base channel count; widths are ``width · channel_mult``.
        channel_mult:  G widths at 4 × 4 and after each of the ``log2(size/4)`` groups (D: reversed).
        k_frames:      frames D_S scores per clip (paper: 8).
        attention_res: resolution of the optional self-attention in G and D_S (None: off).
        gru_activation: ``"relu"`` (paper) or ``"tanh"``.

    Example:
        >>> model = DVDGAN(**PRESETS["cpu-32"], classes=[str(d) for d in range(10)])   # doctest: +SKIP
        >>> model.generate(4, label=7, seed=0).write_video("seven.mp4")              # doctest: +SKIP
    """

    modality = "video"
    config_limits = {"frames": (1, 512), "k_frames": (1, 512), "size": (8, 1024), "width": (1, 512),
                     "channels": (1, 4), "latent_dim": (1, 4096), "embed_dim": (1, 4096), "channel_mult": (1, 64)}

    def __init__(self, frames: int = 16, size: int = 32, channels: int = 1, latent_dim: int = 120,
                 classes: Sequence[str] = (), embed_dim: int = 120, width: int = 16,
                 channel_mult: Optional[Sequence[int]] = None, k_frames: int = 8,
                 attention_res: Optional[int] = None, gru_activation: str = "relu"):
        super().__init__()
        frames, size, channels, k_frames = int(frames), int(size), int(channels), int(k_frames)
        levels = _levels(size)
        if frames < 4:
            raise ValueError(f"frames must be >= 4 (the temporal discriminator halves time twice), got {frames}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if k_frames < 1:
            raise ValueError(f"k_frames must be >= 1, got {k_frames}")
        if int(width) < 1 or int(latent_dim) < 1:
            raise ValueError(f"width and latent_dim must be >= 1, got {width}, {latent_dim}")
        mult = tuple(int(m) for m in channel_mult) if channel_mult is not None else \
            tuple(2 ** max(levels - i, 0) for i in range(levels + 1))
        if len(mult) != levels + 1 or min(mult) < 1:
            raise ValueError(f"channel_mult needs {levels + 1} positive entries for size {size} "
                             f"(4×4 and {levels} groups), got {mult}")
        if attention_res is not None and (attention_res not in [8 * 2 ** i for i in range(levels - 1)]):
            raise ValueError(f"attention_res must be one of {[8 * 2 ** i for i in range(levels - 1)]} "
                             f"(an inner resolution) or None, got {attention_res}")
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes):
            raise ValueError(f"class names must be unique, got {classes}")
        self.frames, self.size, self.channels = frames, size, channels
        self.latent_dim, self.classes, self.k_frames = int(latent_dim), classes, k_frames
        self.generator = VideoGenerator(frames, size, channels, self.latent_dim, len(classes), int(embed_dim),
                                        int(width), mult, attention_res, gru_activation)
        self.discriminator = DualDiscriminator(
            SpatialDiscriminator(size, channels, len(classes), int(width), mult, k_frames, attention_res),
            TemporalDiscriminator(size, channels, len(classes), int(width), mult))
        self.apply(_orthogonal_init)

    @staticmethod
    def trainer_defaults() -> dict[str, Any]:
        """TrainerConfig fields for DVD-GAN's training rules.

        Hinge loss and spectral norm (the paper); Adam lr 1e-4 (G) / 5e-4 (D), β = (0, 0.999) and
        two D steps per G step (BigGAN's rules, which DVD-GAN follows). The G update scores the
        last D step's fakes (``reuse_fake``, as BigGAN's code does) and weights are stored
        channels-last (faster 3-D convolutions). The batch size is a CPU choice (the paper uses
        512 on TPUs). EMA is the trainer's ``ema_decay``.
        """
        return {"objective": "hinge", "lr_g": 1e-4, "lr_d": 5e-4, "betas_g": (0.0, 0.999),
                "betas_d": (0.0, 0.999), "n_critic": 2, "batch_size": 16, "reuse_fake": True, "channels_last": True}

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    # -- trainer hooks ---------------------------------------------------------------------------

    def split_batch(self, batch: Any) -> tuple[Tensor, Optional[Tensor]]:
        x, y = super().split_batch(batch)
        if x.dim() != 5 or tuple(x.shape[1:]) != (self.frames, self.channels, self.size, self.size):
            raise ValueError(f"expected clips (B, {self.frames}, {self.channels}, {self.size}, {self.size}), "
                             f"got {tuple(x.shape)}")
        if self.conditional and y is None:
            raise ValueError("this model is class-conditional; the data must yield (clips, labels)")
        return x, (y if self.conditional else None)

    def run_generator(self, generator: nn.Module, z: Tensor, cond: Optional[Tensor]) -> Tensor:
        return generator(z, cond)

    def run_discriminator(self, discriminator: nn.Module, x: Tensor, cond: Optional[Tensor]):
        return discriminator(x, cond)

    def training_metrics(self, dataset: Any, *, n: int, seed: int) -> dict[str, float]:
        """Frame accuracy, label consistency, motion, flicker, diversity of ``n`` clips
        (:func:`multigan.video.evaluate.training_metrics`)."""
        from .evaluate import training_metrics
        return training_metrics(self, dataset, n=n, seed=seed)

    def write_samples(self, samples: Tensor, path: Path) -> list[Path]:
        """A GIF grid of the snapshot clips (8 fps)."""
        from .pipeline import Clips
        return Clips(samples.float().clamp(-1, 1)).write_video(Path(path).with_suffix(".gif"), fps=8, grid=True)

    # -- user API ----------------------------------------------------------------------------------

    def label_tensor(self, label: Label, n: int) -> Optional[Tensor]:
        """Resolve ``label`` (name, index, or one per clip) to an int64 tensor of length ``n``."""
        return resolve_labels(label, n, self.classes, "clips")

    @torch.no_grad()
    def generate(self, n: int = 1, label: Label = None, *, seed: Optional[int] = None,
                 z: Optional[Tensor] = None, batch_size: int = 16):
        """Generate ``n`` clips (eval mode; seeded when ``seed`` is given) as :class:`~multigan.video.pipeline.Clips`."""
        from .pipeline import Clips

        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        labels = self.label_tensor(label, int(n))
        samples = self.generate_batched(int(n), labels, seed=seed, z=z, batch_size=batch_size)
        names = None if labels is None else [self.classes[k] for k in labels.tolist()]
        return Clips(samples.clamp(-1, 1), labels=names)
