"""Text-to-image GANs conditioned on sentence embeddings: GAN-CLS / GAN-INT and StackGAN.

Both models take a caption *embedding* (384-d all-MiniLM-L6-v2 by default, see
:mod:`multigan.text2image.encoder`); training batches hold ``(image, embedding)`` and
``generate(captions)`` encodes captions with the encoder recorded in the model's config.

GAN-CLS / GAN-INT (Reed et al. 2016), :class:`TextConditionalGAN`
    G: the embedding goes through Linear → 128 + LeakyReLU(0.2) and is concatenated with
    z ~ N(0, I) (100-d); a DCGAN generator makes 64 × 64 RGB in [-1, 1]. D: a DCGAN encoder
    down to 4 × 4 × 8·ndf; the embedding through Linear → 128 + BatchNorm + LeakyReLU is tiled
    to 4 × 4 and concatenated; 1 × 1 conv, BN, LeakyReLU, 4 × 4 conv → one logit.
    *Matching-aware D* (``cls=True``): ``L_D = L_real(D(x, t)) + ½ L_fake(D(x, t̂)) + ½ L_fake(D(G(z, t), t))``
    with wrong captions t̂ = the batch's embeddings rolled by one. *GAN-INT* (``interpolate=True``):
    an extra generator term on ``β t + (1 − β) t̂`` with β = ½, weight 1.

StackGAN (Zhang et al. 2017), :class:`StackGAN`
    Conditioning augmentation per stage: Linear → 2·128 + LeakyReLU gives (μ, log σ²) and
    ``c = μ + σ ε``; the generator loss gets ``kl_weight · mean(½(μ² + σ² − 1 − log σ²))`` (2.0, as in
    every released config). Stage-I G: FC of ``[z; c]`` to 4 × 4 × ngf, four (nearest ×2, 3 × 3 conv,
    BN, ReLU) blocks, 3 × 3 conv, tanh → 64 × 64. Stage-II G: encodes the (detached) Stage-I image
    to 16 × 16 × 4·ngf, concatenates its own tiled ``c``, a 3 × 3 conv, ``residual_blocks`` residual
    blocks, then up-blocks to 128 (CPU) or 256 (paper). Matching-aware discriminators at both
    stages (text compressed by Linear → 128 + LeakyReLU, tiled at 4 × 4; Stage-II D goes down by
    stride-2 convs then 3 × 3 convs back to 8·ndf). Train stage 1, then ``set_stage(2)`` (which
    freezes Stage-I G and D, keeping Stage-I BatchNorms in eval mode) and train again with a
    fresh :class:`~multigan.core.trainer.Trainer`.

    The CA noise ε of both stages is part of the latent (``latent_dim = z_dim + 2·condition_dim``),
    so seeded generation and the trainer's latent RNG cover it.

Simplifications (documented, deliberate): StackGAN's D gets its own text compression (the paper's
description) rather than the released code's detached μ; the Stage-II D has no extra
unconditional head; GAN-INT uses a full batch of interpolations (Reed's code: half a batch).

Example:
    >>> model = build_model("gan-cls", "cpu-64", ngf=8, ndf=8)
    >>> images = model.generate(embeddings=torch.randn(2, 384), captions=["a", "b"], seed=0)
    >>> tuple(images.images.shape)
    (2, 3, 64, 64)
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from multigan.core.layers import UpsampleConv2d, dcgan_init, minibatch_std
from multigan.core.module import AdversarialModel, DiscriminatorOutput, model_class, read_config

from .encoder import DEFAULT_ENCODER, check_captions
from .pipeline import TextImages

__all__ = ["TextImageGAN", "TextConditionalGAN", "StackGAN", "PRESETS", "MODELS", "build_model",
           "matching_aware_d_loss", "mode_seeking_loss", "diversity_sensitive_loss", "kl_divergence",
           "ConditioningAugmentation", "TextProjection",
           "ReedGenerator", "MatchingDiscriminator", "StageIGenerator", "StageIIGenerator", "StackGenerator",
           "StackDiscriminator", "check_captions"]

#: ``PRESETS[preset][model]``: constructor arguments of each model (``build_model(model, preset)``).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # CPU: narrow networks; StackGAN Stage-II at 128 × 128.
    "cpu-64": {
        "gan-cls": {"z_dim": 100, "text_proj_dim": 128, "ngf": 32, "ndf": 32},
        "stackgan": {"z_dim": 100, "condition_dim": 128, "text_proj_dim": 128, "ngf_stage1": 256,
                     "ndf_stage1": 32, "ngf_stage2": 32, "ndf_stage2": 16, "residual_blocks": 2,
                     "stage2_size": 128},
    },
    # Paper sizes: Reed ngf 128 / ndf 64; StackGAN Stage-I ngf 128·8, ndf 64, Stage-II ngf 128, 4 residual blocks, 256².
    "paper": {
        "gan-cls": {"z_dim": 100, "text_proj_dim": 128, "ngf": 128, "ndf": 64},
        "stackgan": {"z_dim": 100, "condition_dim": 128, "text_proj_dim": 128, "ngf_stage1": 128 * 8,
                     "ndf_stage1": 64, "ngf_stage2": 128, "ndf_stage2": 64, "residual_blocks": 4,
                     "stage2_size": 256},
    },
}

Captions = Union[str, Sequence[str]]


# -- losses ----------------------------------------------------------------------------------------

def matching_aware_d_loss(objective, real_right: Tensor, real_wrong: Tensor, fake_right: Tensor,
                          wrong_weight: float = 0.5) -> Tensor:
    """GAN-CLS discriminator loss: real/right as real (weight 1); real/wrong (``w``) and fake/right (``1 − w``) as fake.

    Computed as ``(1 − w)·d_loss(real_right, fake_right) + w·d_loss(real_right, real_wrong)``, which
    equals the three-term form for every objective whose ``d_loss`` is a real term plus a fake term.

    Example:
        >>> from multigan.core.objectives import get_objective
        >>> bce = get_objective("nonsaturating")
        >>> float(matching_aware_d_loss(bce, torch.zeros(2), torch.zeros(2), torch.zeros(2)))  # log 2 · (1 + ½ + ½)
        1.3862943649291992
    """
    if not 0.0 <= wrong_weight <= 1.0:
        raise ValueError(f"wrong_weight must be in [0, 1], got {wrong_weight}")
    return (1.0 - wrong_weight) * objective.d_loss(real_right, fake_right) + \
        wrong_weight * objective.d_loss(real_right, real_wrong)


def latent_gap_ratio(a: Tensor, b: Tensor, z_a: Tensor, z_b: Tensor) -> Tensor:
    """``mean|a − b| / mean|z_a − z_b|``: how far two batches of pictures drawn for the same captions
    from latents ``z_a``, ``z_b`` lie apart, per unit of latent distance."""
    return (a.float() - b.float()).abs().mean() / (z_a.float() - z_b.float()).abs().mean()


def mode_seeking_loss(a: Tensor, b: Tensor, z_a: Tensor, z_b: Tensor, eps: float = 1e-5) -> Tensor:
    """MSGAN's term (Mao et al. 2019): ``1 / (mean|a − b| / mean|z_a − z_b| + eps)`` for two batches of
    pictures ``a``, ``b`` drawn for the same captions from latents ``z_a``, ``z_b``. Added to G's loss,
    it rewards pictures that move as the latent moves, against mode collapse.

    Example:
        >>> z = torch.zeros(2, 4)
        >>> float(mode_seeking_loss(torch.ones(2, 3), -torch.ones(2, 3), z, z + 1, eps=0.0))   # 1 / (2 / 1)
        0.5
    """
    return 1.0 / (latent_gap_ratio(a, b, z_a, z_b) + eps)


def diversity_sensitive_loss(a: Tensor, b: Tensor, z_a: Tensor, z_b: Tensor, bound: float = 1.0) -> Tensor:
    """DSGAN's regulariser (Yang et al. 2019) as a loss: ``−min(mean|a − b| / mean|z_a − z_b|, τ)``
    with τ = ``bound``. Added to G's loss, it rewards pictures that move as the latent moves, linearly
    rather than as MSGAN's reciprocal, and no further once they move τ per unit of latent distance.

    Example:
        >>> z = torch.zeros(2, 4)
        >>> float(diversity_sensitive_loss(torch.ones(2, 3), 0.5 * torch.ones(2, 3), z, z + 1))   # −0.5 / 1
        -0.5
        >>> float(diversity_sensitive_loss(torch.ones(2, 3), -torch.ones(2, 3), z, z + 1, bound=1.0))   # capped
        -1.0
    """
    return -latent_gap_ratio(a, b, z_a, z_b).clamp(max=float(bound))


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per element, averaged over batch and dimensions (StackGAN's KL term)."""
    return (0.5 * (mu.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float())).mean()


# -- building blocks -------------------------------------------------------------------------------

#: Sentence embeddings are unit-norm (elements ≈ 1/√d). The layers that read them multiply by √d
#: first, so the elements are O(1), the scale DCGAN's N(0, 0.02) initialisation and Adam's step
#: size assume (the char-CNN-RNN embeddings of the papers are not normalised). Without it the
#: conditioning-augmentation mean starts at ≈ 0.02 against noise σ = 1 and grows about 20× slower:
#: after 2,000 Stage-I iterations on captioned shapes, colour was linearly decodable from one CA
#: sample only 45 % of the time, and the generator drew the right colour 39 % of the time.
def _embedding_scale(text_dim: int) -> float:
    return math.sqrt(text_dim)


class TextProjection(nn.Sequential):
    """√d-rescaled embedding → Linear(text_dim → dim) [+ BatchNorm1d] + LeakyReLU(0.2): the compressed text code."""

    def __init__(self, text_dim: int, dim: int, batchnorm: bool = False):
        layers: list[nn.Module] = [nn.Linear(text_dim, dim)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(dim))
        layers.append(nn.LeakyReLU(0.2))
        super().__init__(*layers)
        self.scale = _embedding_scale(text_dim)

    def forward(self, embedding: Tensor) -> Tensor:
        return super().forward(embedding * self.scale)


#: bound on the value of the conditioning augmentation's log σ² (σ ≤ e¹⁰ ≈ 2·10⁴)
LOGVAR_LIMIT = 20.0


class ConditioningAugmentation(nn.Module):
    """StackGAN's CA: ``(μ, log σ²) = split(LeakyReLU(Linear(√d · t)))``; ``c = μ + σ ε``."""

    def __init__(self, text_dim: int, condition_dim: int):
        super().__init__()
        self.fc = nn.Linear(text_dim, 2 * condition_dim)
        self.act = nn.LeakyReLU(0.2)
        self.scale = _embedding_scale(text_dim)

    def forward(self, embedding: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)``, each (B, condition_dim). ``log σ²`` is held within ±:data:`LOGVAR_LIMIT` in
        value (``exp`` overflows float32 above 88) while its gradient passes unchanged, so the KL
        term still pulls it back: embeddings far from unit norm (e.g. N(0, I) in 1024-d, 32 after
        the √d scale) gave an infinite KL and skipped updates. Within the limit it is the identity."""
        mu, logvar = self.act(self.fc(embedding * self.scale)).chunk(2, dim=1)
        return mu, logvar + (logvar.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT) - logvar).detach()

    def sample(self, embedding: Tensor, eps: Tensor) -> Tensor:
        """The augmented condition ``μ + exp(½ log σ²) · ε`` for given noise ``ε``."""
        mu, logvar = self(embedding)
        return mu + torch.exp(0.5 * logvar) * eps


def _up_block(cin: int, cout: int) -> nn.Sequential:
    """StackGAN's up-block: nearest ×2, 3 × 3 conv, BatchNorm, ReLU. The first two run as one
    :class:`UpsampleConv2d`; the empty first slot keeps the parameter names (``1.weight``, ``2.…``) of
    checkpoints written when the up-sampling was a layer of its own."""
    return nn.Sequential(nn.Identity(), UpsampleConv2d(cin, cout, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def _deconv_block(cin: int, cout: int) -> list[nn.Module]:
    """DCGAN's up-block: 4 × 4 transposed conv stride 2, BatchNorm, ReLU."""
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class _ResidualBlock(nn.Module):
    """``relu(x + BN(conv(relu(BN(conv(x))))))`` at constant width (StackGAN Stage-II)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


_SKIP_LIMIT = 0.999   # atanh(±0.999) ≈ ±3.8: Stage-I's saturated pixels stay finite


def _log2_size(size: int, minimum: int) -> int:
    if size < minimum or size & (size - 1):
        raise ValueError(f"image size must be a power of two >= {minimum}, got {size}")
    return int(math.log2(size))


class ReedGenerator(nn.Module):
    """GAN-CLS G: ``[z; LeakyReLU(Linear(t))]`` → DCGAN → (B, 3, 64, 64) in [-1, 1]."""

    def __init__(self, text_dim: int, z_dim: int, text_proj_dim: int, ngf: int):
        super().__init__()
        self.text = TextProjection(text_dim, text_proj_dim)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim + text_proj_dim, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8),
            nn.ReLU(),                                                                    # 4 × 4
            *_deconv_block(ngf * 8, ngf * 4), *_deconv_block(ngf * 4, ngf * 2), *_deconv_block(ngf * 2, ngf),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1), nn.Tanh())                              # 64 × 64

    def forward(self, z: Tensor, embedding: Tensor) -> Tensor:
        return self.net(torch.cat([z, self.text(embedding)], 1)[:, :, None, None])


class MatchingDiscriminator(nn.Module):
    """Image encoder to 4 × 4 × 8·ndf, tiled text code concatenated, joint conv, 4 × 4 conv → (B,) logits.

    Down-sampling: 4 × 4 stride-2 convs (BatchNorm except the first, LeakyReLU 0.2) with widths
    ``ndf · 2^i`` until 4 × 4; wider than 8·ndf (128² and 256² inputs), 3 × 3 convs halve the
    width back to 8·ndf (StackGAN Stage-II D). ``minibatch_std`` appends the batch's feature spread
    to the trunk's output as one more channel (:func:`~multigan.core.layers.minibatch_std`), so D can
    see a batch whose pictures are all alike.
    """

    def __init__(self, size: int, text_dim: int, ndf: int, text_proj_dim: int, *, text_batchnorm: bool,
                 joint_kernel: int, minibatch_std: bool = False):
        super().__init__()
        downs = _log2_size(size, 16) - 2
        layers: list[nn.Module] = []
        cin = 3
        for i in range(downs):
            cout = ndf * 2 ** i
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(cout)] if i else []
            layers += [nn.LeakyReLU(0.2)]
            cin = cout
        while cin > ndf * 8:
            layers += [nn.Conv2d(cin, cin // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(cin // 2), nn.LeakyReLU(0.2)]
            cin //= 2
        self.size, self.minibatch_std = size, bool(minibatch_std)
        self.image = nn.Sequential(*layers)
        self.text = TextProjection(text_dim, text_proj_dim, batchnorm=text_batchnorm)
        self.joint = nn.Sequential(nn.Conv2d(cin + int(self.minibatch_std) + text_proj_dim, cin, joint_kernel, 1, joint_kernel // 2, bias=False),
                                   nn.BatchNorm2d(cin), nn.LeakyReLU(0.2))
        self.score = nn.Conv2d(cin, 1, 4)

    def forward(self, images: Tensor, embedding: Tensor, *, features: bool = False) -> Tensor | DiscriminatorOutput:
        """Logits ``(B,)``; with ``features=True`` a :class:`DiscriminatorOutput` whose ``features``
        is the image trunk's output (with the spread channel when ``minibatch_std``), which :meth:`head`
        scores under other captions."""
        h = self.image(images)
        if self.minibatch_std:
            h = minibatch_std(h)
        logits = self.head(h, embedding)
        return DiscriminatorOutput(logits, h) if features else logits

    def head(self, h: Tensor, embedding: Tensor) -> Tensor:
        """Logits of image-trunk features ``h`` under ``embedding``: the part after the image trunk."""
        t = self.text(embedding)[:, :, None, None].expand(-1, -1, *h.shape[2:])
        return self.score(self.joint(torch.cat([h, t], 1))).view(-1)


class StageIGenerator(nn.Module):
    """StackGAN Stage-I: CA, FC of ``[z; c]`` to 4 × 4 × ngf, four up-blocks (ngf → ngf/16), 3 × 3 conv, tanh."""

    def __init__(self, text_dim: int, z_dim: int, condition_dim: int, ngf: int):
        super().__init__()
        if ngf % 16:
            raise ValueError(f"Stage-I ngf must be divisible by 16 (four halvings), got {ngf}")
        self.ngf = ngf
        self.ca = ConditioningAugmentation(text_dim, condition_dim)
        self.fc = nn.Sequential(nn.Linear(z_dim + condition_dim, ngf * 16, bias=False), nn.BatchNorm1d(ngf * 16),
                                nn.ReLU())
        self.up = nn.Sequential(*[_up_block(ngf >> i, ngf >> (i + 1)) for i in range(4)])
        self.to_rgb = nn.Sequential(nn.Conv2d(ngf // 16, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor, embedding: Tensor, eps: Tensor) -> Tensor:
        c = self.ca.sample(embedding, eps)
        return self.to_rgb(self.up(self.fc(torch.cat([z, c], 1)).view(-1, self.ngf, 4, 4)))


class StageIIGenerator(nn.Module):
    """StackGAN Stage-II: 64² image → 16 × 16 × 4·ngf, joint with tiled CA code, residual blocks, up to ``size``.

    ``skip=True`` (our default; not in the paper) makes the output a refinement of the Stage-I
    image: ``tanh(atanh(up(low)) + conv(h))`` with ``up`` bilinear and the last conv starting at
    zero (:meth:`start_at_stage1`), so Stage-II begins as the upsampled Stage-I image and learns
    only what to add (edges, detail), instead of re-learning the whole picture from random
    weights. ``skip=False`` is the paper's ``tanh(conv(h))``. Both have the same parameters.
    """

    def __init__(self, text_dim: int, condition_dim: int, ngf: int, residual_blocks: int, size: int,
                 skip: bool = True):
        super().__init__()
        ups = _log2_size(size, 128) - 4
        if ngf % 2 ** (ups - 2):
            raise ValueError(f"Stage-II ngf must be divisible by {2 ** (ups - 2)} for size {size}, got {ngf}")
        self.size, self.skip = size, bool(skip)
        self.ca = ConditioningAugmentation(text_dim, condition_dim)
        self.encode = nn.Sequential(
            nn.Conv2d(3, ngf, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(ngf, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(),      # 32 × 32
            nn.Conv2d(ngf * 2, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU())  # 16 × 16
        self.joint = nn.Sequential(nn.Conv2d(ngf * 4 + condition_dim, ngf * 4, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(ngf * 4), nn.ReLU())
        self.residual = nn.Sequential(*[_ResidualBlock(ngf * 4) for _ in range(int(residual_blocks))])
        widths = [ngf * 4 // 2 ** i for i in range(ups + 1)]
        self.up = nn.Sequential(*[_up_block(a, b) for a, b in zip(widths, widths[1:], strict=False)])
        self.to_rgb = nn.Sequential(nn.Conv2d(widths[-1], 3, 3, 1, 1), nn.Tanh())

    def start_at_stage1(self) -> None:
        """Zero the last conv: with ``skip`` the output is then exactly the upsampled Stage-I image."""
        nn.init.zeros_(self.to_rgb[0].weight)
        nn.init.zeros_(self.to_rgb[0].bias)

    def forward(self, low_res: Tensor, embedding: Tensor, eps: Tensor) -> Tensor:
        c = self.ca.sample(embedding, eps)
        h = self.encode(low_res)
        h = self.joint(torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1))
        h = self.up(self.residual(h))
        if not self.skip:
            return self.to_rgb(h)
        base = F.interpolate(low_res, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return torch.tanh(torch.atanh(base.clamp(-_SKIP_LIMIT, _SKIP_LIMIT)) + self.to_rgb[0](h))


class StackGenerator(nn.Module):
    """Both StackGAN generators; ``forward(latent, embedding)`` returns the active stage's images.

    ``latent = [z; ε_I; ε_II]``. At stage 2 the Stage-I image is made in eval mode (its BatchNorm
    statistics frozen: :meth:`train` keeps ``stage1`` in eval) and detached.
    """

    def __init__(self, stage1: StageIGenerator, stage2: StageIIGenerator, z_dim: int, condition_dim: int):
        super().__init__()
        self.stage1, self.stage2 = stage1, stage2
        self.z_dim, self.condition_dim = z_dim, condition_dim
        self.stage = 1

    def split_latent(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(z, ε_I, ε_II)`` from a latent of ``z_dim + 2·condition_dim`` entries."""
        return latent.split([self.z_dim, self.condition_dim, self.condition_dim], dim=1)

    def condition_stats(self, embedding: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)`` of the active stage's conditioning augmentation."""
        return (self.stage1 if self.stage == 1 else self.stage2).ca(embedding)

    def train(self, mode: bool = True) -> "StackGenerator":
        super().train(mode)
        if self.stage == 2:
            self.stage1.eval()
        return self

    def forward(self, latent: Tensor, embedding: Tensor) -> Tensor:
        z, eps1, eps2 = self.split_latent(latent)
        low = self.stage1(z, embedding, eps1)
        if self.stage == 1:
            return low
        return self.stage2(low.detach(), embedding, eps2)


class StackDiscriminator(nn.Module):
    """The two matching-aware discriminators; ``forward`` scores with the active stage's one."""

    def __init__(self, stage1: MatchingDiscriminator, stage2: MatchingDiscriminator):
        super().__init__()
        self.stage1, self.stage2 = stage1, stage2
        self.stage = 1

    @property
    def active(self) -> MatchingDiscriminator:
        return self.stage1 if self.stage == 1 else self.stage2

    def forward(self, images: Tensor, embedding: Tensor, *, features: bool = False) -> Tensor | DiscriminatorOutput:
        return self.active(images, embedding, features=features)

    def head(self, h: Tensor, embedding: Tensor) -> Tensor:
        return self.active.head(h, embedding)


# -- the models --------------------------------------------------------------------------------------

class TextImageGAN(AdversarialModel):
    """Shared trainer hooks and user API of the text-conditional GANs (not built directly).

    Subclasses set the networks and the attributes ``text_dim``, ``text_encoder`` (name),
    ``text_encoder_fingerprint``, ``gan_cls`` and ``gan_int`` (the ``cls`` / ``interpolate``
    arguments), ``wrong_weight``, ``interpolation_weight``, ``interpolation_beta``, ``mode_seeking``,
    ``diversity_sensitive``, ``diversity_bound`` and ``image_size`` (the current output resolution).

    ``TextImageGAN.from_pretrained(path_or_name)`` loads either model type.
    """

    modality = "text2image"
    config_limits = {"z_dim": (1, 4096), "text_dim": (1, 16384), "text_proj_dim": (1, 4096),
                     "condition_dim": (1, 4096), "ngf": (1, 4096), "ndf": (1, 4096), "ngf_stage1": (1, 4096),
                     "ndf_stage1": (1, 4096), "ngf_stage2": (1, 4096), "ndf_stage2": (1, 4096),
                     "stage2_size": (16, 1024), "image_size": (8, 1024), "residual_blocks": (0, 64)}
    text_dim: int
    image_size: int

    def _setup_text(self, text_dim: int, text_encoder: str, text_encoder_fingerprint: Optional[str], cls: bool,
                    interpolate: bool, wrong_weight: float, interpolation_weight: float,
                    interpolation_beta: float, mode_seeking: float = 0.0, diversity_sensitive: float = 0.0,
                    diversity_bound: float = 1.0) -> None:
        if int(text_dim) < 1:
            raise ValueError(f"text_dim must be >= 1, got {text_dim}")
        if not isinstance(text_encoder, str) or not text_encoder:
            raise ValueError(f"text_encoder must be a non-empty name, got {text_encoder!r}")
        if not float(mode_seeking) >= 0.0:
            raise ValueError(f"mode_seeking must be >= 0, got {mode_seeking}")
        if not float(diversity_sensitive) >= 0.0:
            raise ValueError(f"diversity_sensitive must be >= 0, got {diversity_sensitive}")
        if not float(diversity_bound) > 0.0:
            raise ValueError(f"diversity_bound must be > 0, got {diversity_bound}")
        if not 0.0 <= float(wrong_weight) <= 1.0 or not 0.0 <= float(interpolation_beta) <= 1.0:
            raise ValueError(f"wrong_weight and interpolation_beta must be in [0, 1], got {wrong_weight}, "
                             f"{interpolation_beta}")
        self.text_dim, self.text_encoder = int(text_dim), text_encoder
        self.text_encoder_fingerprint = text_encoder_fingerprint
        self.gan_cls, self.gan_int = bool(cls), bool(interpolate)      # (``interpolate`` names the method)
        self.wrong_weight, self.interpolation_weight = float(wrong_weight), float(interpolation_weight)
        self.interpolation_beta, self.mode_seeking = float(interpolation_beta), float(mode_seeking)
        self.diversity_sensitive, self.diversity_bound = float(diversity_sensitive), float(diversity_bound)

    @staticmethod
    def trainer_defaults() -> dict[str, Any]:
        """TrainerConfig fields of both papers: BCE (non-saturating G), Adam 2e-4, β = (0.5, 0.999), batch 64, 1:1;
        the G update scores the D step's fakes (``reuse_fake``, as both papers' code does); channels-last weights."""
        return {"objective": "nonsaturating", "lr_g": 2e-4, "lr_d": 2e-4, "betas_g": (0.5, 0.999),
                "betas_d": (0.5, 0.999), "batch_size": 64, "reuse_fake": True, "channels_last": True}

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                        ema: bool = True):
        """Load a saved text-to-image model: a folder, a shipped name under
        ``multigan/assets/checkpoints/text2image``, or a training checkpoint or run folder (as
        :meth:`ModelMixin.from_pretrained`); on ``TextImageGAN`` the folder's own class is built."""
        if cls is not TextImageGAN:
            return super().from_pretrained(name_or_path, map_location=map_location, ema=ema)
        from multigan.core.checkpoint import STATE_NAME
        from multigan.core.module import run_folder_model

        path = run_folder_model(name_or_path, prefer_checkpoint=not ema)
        folder = path / "model" if (path / STATE_NAME).is_file() else cls._resolve_pretrained(path)
        subclass = model_class(read_config(folder)["model_type"])
        if not issubclass(subclass, TextImageGAN):
            raise ValueError(f"{folder} holds a {subclass.model_type!r} model, not a text-to-image GAN")
        return subclass.from_pretrained(path if (path / STATE_NAME).is_file() else folder, map_location=map_location,
                                        ema=ema)

    # -- trainer hooks ---------------------------------------------------------------------------

    def split_batch(self, batch: Any) -> tuple[Tensor, Tensor]:
        """``(images, embeddings)``: uint8 images become [-1, 1]; images are resized to the current stage's size."""
        x, e = super().split_batch(batch)
        if not isinstance(e, Tensor) or e.dim() != 2 or e.shape[1] != self.text_dim:
            got = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise ValueError(f"batches must be (images, embeddings (B, {self.text_dim})), got embeddings {got}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected RGB images (B, 3, H, W), got {tuple(x.shape)}")
        x = x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float()
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                              antialias=True).clamp(-1, 1)
        return x, e.float()

    def run_generator(self, generator: nn.Module, z: Tensor, cond: Tensor) -> Tensor:
        return generator(z, cond)

    def run_discriminator(self, discriminator: nn.Module, x: Tensor, cond: Tensor) -> DiscriminatorOutput:
        """Logits with the image trunk's features (GAN-CLS scores the real trunk again under wrong captions)."""
        return discriminator(x, cond, features=True)

    @staticmethod
    def mismatched(embeddings: Tensor) -> Tensor:
        """Wrong captions for a batch: its embeddings rolled by one."""
        if embeddings.shape[0] < 2:
            raise ValueError("a matching-aware discriminator needs at least 2 examples per batch (per process)")
        return embeddings.roll(1, dims=0)

    def discriminator_loss(self, objective, real_logits, fake_logits, *, real: Tensor, cond: Tensor,
                           discriminate: Callable[[Tensor, Any], Any], real_features: Any = None) -> Tensor:
        """GAN-CLS (``cls=True``): :func:`matching_aware_d_loss` with D(real, rolled text); else the plain loss.

        With ``real_features`` (the image trunk's output on ``real``, as :meth:`run_discriminator`
        returns it) only D's text head runs again; the logits equal a whole second pass, whose
        trunk would see the same batch (BatchNorm in training mode normalises by the batch). With the
        trainer's ``augment`` the features are those of the augmented batch, so real/right and
        real/wrong judge the same augmented pictures (a second pass would draw new augmentations).
        """
        if not self.gan_cls:
            return objective.d_loss(real_logits, fake_logits)
        wrong = self.mismatched(cond)
        if isinstance(real_features, Tensor):
            real_wrong = self.discriminator.head(real_features, wrong)
        else:
            real_wrong = discriminate(real, wrong)
        return matching_aware_d_loss(objective, real_logits, real_wrong, fake_logits, self.wrong_weight)

    def extra_adversarial_losses(self, objective, cond: Tensor, *, generate: Callable[[Tensor, Any], Tensor],
                                 discriminate: Callable[[Tensor, Any], Any]) -> dict[str, Tensor]:
        """GAN-INT (``interpolate=True``): ``w · g_loss(D(G(z', t_β), t_β))``, ``t_β = β t + (1 − β) roll(t)``;
        the mode-seeking term (``mode_seeking`` λ > 0, :func:`mode_seeking_loss`) and the diversity-sensitive
        one (``diversity_sensitive`` λ > 0, :func:`diversity_sensitive_loss`): half the batch's captions,
        each drawn from two latents (one pair for both terms); the latent distance is over the whole
        latent (for StackGAN z and the conditioning-augmentation noise, which both make the pictures
        differ)."""
        terms = {}
        if self.gan_int:
            mixed = self.interpolation_beta * cond + (1.0 - self.interpolation_beta) * cond.roll(1, dims=0)
            z = self.sample_latent(cond.shape[0], device=cond.device)
            fake = generate(z, mixed)
            terms["interpolation"] = self.interpolation_weight * objective.g_loss(discriminate(fake, mixed))
        if self.mode_seeking or self.diversity_sensitive:
            half = max(cond.shape[0] // 2, 1)
            z = self.sample_latent(2 * half, device=cond.device)
            images = generate(z, cond[:half].repeat(2, 1))
            pair = (images[:half], images[half:], z[:half], z[half:])
            if self.mode_seeking:
                terms["mode_seeking"] = self.mode_seeking * mode_seeking_loss(*pair)
            if self.diversity_sensitive:
                terms["diversity_sensitive"] = self.diversity_sensitive * diversity_sensitive_loss(
                    *pair, bound=self.diversity_bound)
        return terms

    # -- text encoder ----------------------------------------------------------------------------

    def set_text_encoder(self, encoder: Any) -> None:
        """Use ``encoder`` for captions (a :class:`~multigan.text2image.encoder.TextEncoder`, or any object
        with ``name``, ``dim`` and ``encode(list[str]) -> (N, dim)``); refused unless it is the
        encoder this model was trained with."""
        self._check_encoder(encoder)
        self.__dict__["_encoder_instance"] = encoder          # not a submodule: never saved with the weights

    def _check_encoder(self, encoder: Any) -> None:
        if hasattr(encoder, "check_compatible"):
            encoder.check_compatible(self.text_encoder, self.text_encoder_fingerprint)
        elif getattr(encoder, "name", None) != self.text_encoder:
            raise ValueError(f"this model was trained with text encoder {self.text_encoder!r}, not "
                             f"{getattr(encoder, 'name', None)!r}; load that encoder")
        if int(getattr(encoder, "dim", -1)) != self.text_dim:
            raise ValueError(f"text encoder {getattr(encoder, 'name', None)!r} gives {getattr(encoder, 'dim', None)}-d "
                             f"embeddings; this model takes {self.text_dim}-d")

    def encoder(self) -> Any:
        """The text encoder (loaded on first use from the name in the config)."""
        if "_encoder_instance" not in self.__dict__:
            from .encoder import TextEncoder
            self.set_text_encoder(TextEncoder(self.text_encoder))
        return self.__dict__["_encoder_instance"]

    def encode(self, captions: Captions, *, encoder: Any = None) -> Tensor:
        """(N, text_dim) float32 embeddings of validated captions (``encoder``: use this one, after checking it)."""
        texts = check_captions(captions)
        if encoder is not None:
            self._check_encoder(encoder)
        else:
            encoder = self.encoder()
        return torch.as_tensor(encoder.encode(texts)).float()

    # -- user API --------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, captions: Optional[Captions] = None, n: int = 1, *, seed: Optional[int] = None,
                 z: Optional[Tensor] = None, embeddings: Optional[Tensor] = None, encoder: Any = None,
                 batch_size: int = 64) -> TextImages:
        """``n`` images per caption (caption-major order), in eval mode, seeded when ``seed`` is given.

        Args:
            captions:   a caption or a list of them (encoded with the model's text encoder).
            n:          images per caption.
            z:          latents ``(len(captions)·n, latent_dim)`` instead of drawing them.
            embeddings: precomputed ``(K, text_dim)`` embeddings instead of encoding (``captions``, if
                        given, label them).
            encoder:    an encoder to use instead of the recorded one (checked for compatibility).

        Example:
            >>> images = model.generate(["a red circle at the top", "a blue square"], n=4, seed=0)  # doctest: +SKIP
            >>> images.write_grid("grid.png")                                                    # doctest: +SKIP
        """
        if int(n) < 1 or int(batch_size) < 1:
            raise ValueError(f"n and batch_size must be >= 1, got {n}, {batch_size}")
        n = int(n)
        if embeddings is None:
            if captions is None:
                raise ValueError("pass captions (or precomputed embeddings=)")
            texts = check_captions(captions)
            emb = self.encode(texts, encoder=encoder)
        else:
            emb = torch.as_tensor(embeddings).float()
            if emb.dim() != 2 or emb.shape[1] != self.text_dim:
                raise ValueError(f"embeddings must be (K, {self.text_dim}), got {tuple(emb.shape)}")
            texts = check_captions(captions) if captions is not None else [f"embedding {i}" for i in range(len(emb))]
            if len(texts) != len(emb):
                raise ValueError(f"got {len(texts)} captions for {len(emb)} embeddings")
        emb = emb.repeat_interleave(n, 0)
        labels = [t for t in texts for _ in range(n)]
        images = self._render(emb, z, seed, batch_size)
        return TextImages(images, labels, nrow=n if len(texts) > 1 and n > 1 else None)

    @torch.no_grad()
    def interpolate(self, caption_a: str, caption_b: str, steps: int = 8, *, seed: Optional[int] = None,
                    z: Optional[Tensor] = None, encoder: Any = None) -> TextImages:
        """One latent, text embedding moved linearly from ``caption_a`` to ``caption_b`` in ``steps`` images."""
        if int(steps) < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        steps = int(steps)
        pair = self.encode(check_captions([caption_a, caption_b]), encoder=encoder)
        t = torch.linspace(0, 1, steps)[:, None]
        emb = (1 - t) * pair[0] + t * pair[1]
        if z is None:
            gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
            z = self.sample_latent(1, generator=gen)
        z = z.reshape(1, -1).expand(steps, -1)
        labels = [caption_a] + [f"t = {v:.2f}" for v in t[1:-1, 0].tolist()] + [caption_b]
        return TextImages(self._render(emb, z, None, steps), labels, nrow=steps)

    def _render(self, emb: Tensor, z: Optional[Tensor], seed: Optional[int], batch_size: int) -> Tensor:
        total = len(emb)
        if z is None:
            gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
            z = self.sample_latent(total, generator=gen)
        elif tuple(z.shape) != (total, self.latent_dim):
            raise ValueError(f"z must have shape ({total}, {self.latent_dim}), got {tuple(z.shape)}")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            parts = [self.generator(z[i:i + batch_size].to(device), emb[i:i + batch_size].to(device)).float().cpu()
                     for i in range(0, total, batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(parts).clamp(-1, 1)


class TextConditionalGAN(TextImageGAN):
    """GAN-CLS / GAN-INT (Reed et al. 2016): a DCGAN at 64 × 64 conditioned on a caption embedding.

    Args:
        text_dim:       caption embedding size (384 for all-MiniLM-L6-v2).
        z_dim:          noise dimension (paper: 100).
        text_proj_dim:  size of the projected text code in G and D (paper: 128).
        ngf, ndf:       base widths of G and D (paper: 128, 64).
        cls:            matching-aware discriminator (GAN-CLS).
        interpolate:    extra generator term on interpolated embeddings (GAN-INT).
        wrong_weight:   weight of the real/wrong-caption term (``1 −`` it weighs fake/right); 0.5.
        interpolation_weight, interpolation_beta: GAN-INT term weight (1) and β (0.5).
        mode_seeking:   weight λ of MSGAN's mode-seeking term in G's loss (0: off; :func:`mode_seeking_loss`).
        diversity_sensitive, diversity_bound: weight λ (0: off) and bound τ of DSGAN's diversity-sensitive
                        term in G's loss (:func:`diversity_sensitive_loss`).
        minibatch_std:  D also sees the batch's feature spread (Karras et al. 2018; :class:`MatchingDiscriminator`).
        text_encoder:   name of the encoder the embeddings come from (checked by ``generate``).
        text_encoder_fingerprint: that encoder's fingerprint, when known.

    Example:
        >>> model = TextConditionalGAN(ngf=8, ndf=8)
        >>> model.generator(torch.randn(2, 100), torch.randn(2, 384)).shape
        torch.Size([2, 3, 64, 64])
    """

    #: ``--init-from`` takes a model trained with other loss weights or another D (exports hold G only)
    training_options = ("mode_seeking", "diversity_sensitive", "diversity_bound", "minibatch_std", "interpolate",
                        "interpolation_weight", "interpolation_beta", "wrong_weight")

    def __init__(self, text_dim: int = 384, z_dim: int = 100, text_proj_dim: int = 128, ngf: int = 128,
                 ndf: int = 64, cls: bool = True, interpolate: bool = True, wrong_weight: float = 0.5,
                 interpolation_weight: float = 1.0, interpolation_beta: float = 0.5, mode_seeking: float = 0.0,
                 diversity_sensitive: float = 0.0, diversity_bound: float = 1.0,
                 minibatch_std: bool = False, text_encoder: str = DEFAULT_ENCODER,
                 text_encoder_fingerprint: Optional[str] = None):
        super().__init__()
        if min(int(z_dim), int(text_proj_dim), int(ngf), int(ndf)) < 1:
            raise ValueError(f"z_dim, text_proj_dim, ngf and ndf must be >= 1, got {z_dim}, {text_proj_dim}, "
                             f"{ngf}, {ndf}")
        self._setup_text(text_dim, text_encoder, text_encoder_fingerprint, cls, interpolate, wrong_weight,
                         interpolation_weight, interpolation_beta, mode_seeking, diversity_sensitive,
                         diversity_bound)
        self.latent_dim, self.image_size = int(z_dim), 64
        self.generator = ReedGenerator(self.text_dim, self.latent_dim, int(text_proj_dim), int(ngf))
        self.discriminator = MatchingDiscriminator(64, self.text_dim, int(ndf), int(text_proj_dim),
                                                   text_batchnorm=True, joint_kernel=1,
                                                   minibatch_std=minibatch_std)
        self.apply(dcgan_init)


class StackGAN(TextImageGAN):
    """StackGAN (Zhang et al. 2017): conditioning augmentation, Stage-I 64², Stage-II 128² / 256².

    Train stage 1, then call :meth:`set_stage` ``(2)`` and train again (a new Trainer): Stage-I G
    and D are frozen, only Stage-II G (with its own CA) and D learn. ``generate`` uses the current
    stage; the stage is part of the saved config.

    Args:
        text_dim:         caption embedding size.
        z_dim:            noise dimension (paper: 100).
        condition_dim:    CA output size N_g (paper: 128).
        text_proj_dim:    compressed text size N_d in the discriminators (paper: 128).
        ngf_stage1:       Stage-I width at 4 × 4 (paper: 128·8), halved by each of 4 up-blocks.
        ndf_stage1:       Stage-I D base width (paper: 64).
        ngf_stage2:       Stage-II base width (paper: 128); 16 × 16 features have 4·ngf channels.
        ndf_stage2:       Stage-II D base width (paper: 64).
        residual_blocks:  Stage-II residual blocks (paper code: 4).
        stage2_size:      Stage-II output size, 128 or 256 (paper).
        stage2_skip:      Stage-II refines the upsampled Stage-I image (see :class:`StageIIGenerator`);
                          ``False``: the paper's Stage-II, which draws the image anew.
        kl_weight:        weight of the CA KL term in the G loss (released configs: 2.0).
        stage:            1 or 2: which stage trains and generates.
        cls, interpolate, wrong_weight, interpolation_weight, interpolation_beta, mode_seeking,
        diversity_sensitive, diversity_bound, minibatch_std, text_encoder, text_encoder_fingerprint: as
        :class:`TextConditionalGAN` (``interpolate`` off by
        default; ``minibatch_std`` in both stages' discriminators).
    """

    #: ``--init-from`` takes a model at either stage, with other loss weights or another D (exports hold G only)
    training_options = ("stage", "kl_weight", "mode_seeking", "diversity_sensitive", "diversity_bound",
                        "minibatch_std", "interpolate", "interpolation_weight", "interpolation_beta", "wrong_weight")

    def __init__(self, text_dim: int = 384, z_dim: int = 100, condition_dim: int = 128, text_proj_dim: int = 128,
                 ngf_stage1: int = 1024, ndf_stage1: int = 64, ngf_stage2: int = 128, ndf_stage2: int = 64,
                 residual_blocks: int = 4, stage2_size: int = 256, stage2_skip: bool = True, kl_weight: float = 2.0,
                 stage: int = 1,
                 cls: bool = True, interpolate: bool = False, wrong_weight: float = 0.5,
                 interpolation_weight: float = 1.0, interpolation_beta: float = 0.5, mode_seeking: float = 0.0,
                 diversity_sensitive: float = 0.0, diversity_bound: float = 1.0,
                 minibatch_std: bool = False, text_encoder: str = DEFAULT_ENCODER,
                 text_encoder_fingerprint: Optional[str] = None):
        super().__init__()
        if min(int(z_dim), int(condition_dim), int(text_proj_dim), int(ndf_stage1), int(ndf_stage2)) < 1:
            raise ValueError("z_dim, condition_dim, text_proj_dim and the widths must be >= 1")
        if int(residual_blocks) < 0 or float(kl_weight) < 0:
            raise ValueError(f"residual_blocks and kl_weight must be >= 0, got {residual_blocks}, {kl_weight}")
        if int(stage2_size) not in (128, 256):
            raise ValueError(f"stage2_size must be 128 or 256, got {stage2_size}")
        self._setup_text(text_dim, text_encoder, text_encoder_fingerprint, cls, interpolate, wrong_weight,
                         interpolation_weight, interpolation_beta, mode_seeking, diversity_sensitive,
                         diversity_bound)
        self.z_dim, self.condition_dim = int(z_dim), int(condition_dim)
        self.latent_dim = self.z_dim + 2 * self.condition_dim
        self.stage2_size, self.kl_weight = int(stage2_size), float(kl_weight)
        self.generator = StackGenerator(
            StageIGenerator(self.text_dim, self.z_dim, self.condition_dim, int(ngf_stage1)),
            StageIIGenerator(self.text_dim, self.condition_dim, int(ngf_stage2), int(residual_blocks),
                             self.stage2_size, skip=bool(stage2_skip)),
            self.z_dim, self.condition_dim)
        self.discriminator = StackDiscriminator(
            MatchingDiscriminator(64, self.text_dim, int(ndf_stage1), int(text_proj_dim), text_batchnorm=False,
                                  joint_kernel=3, minibatch_std=minibatch_std),
            MatchingDiscriminator(self.stage2_size, self.text_dim, int(ndf_stage2), int(text_proj_dim),
                                  text_batchnorm=False, joint_kernel=3, minibatch_std=minibatch_std))
        self.apply(dcgan_init)
        if self.generator.stage2.skip:
            self.generator.stage2.start_at_stage1()
        self.stage = 1
        self.set_stage(int(stage))

    @property
    def image_size(self) -> int:  # type: ignore[override]
        """Output size of the current stage (64 or ``stage2_size``)."""
        return 64 if self.stage == 1 else self.stage2_size

    def set_stage(self, stage: int) -> "StackGAN":
        """Switch to stage 1 or 2: the other stage's G and D are frozen (``requires_grad=False``).

        At stage 2 the Stage-I generator also stays in eval mode, so its BatchNorm statistics are
        not updated: Stage-II training leaves every Stage-I tensor bit-identical. Create the
        Trainer *after* switching (its optimizers take the trainable parameters).
        """
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage!r}")
        self.stage = stage
        self.generator.stage = self.discriminator.stage = stage
        for part, active in ((self.generator.stage1, stage == 1), (self.discriminator.stage1, stage == 1),
                             (self.generator.stage2, stage == 2), (self.discriminator.stage2, stage == 2)):
            part.requires_grad_(active)
        self.generator.train(self.generator.training)
        self.__dict__["_init_config"]["stage"] = stage           # from_pretrained rebuilds this stage
        return self

    @staticmethod
    def warm_start_iterations(info: dict[str, Any]) -> int:
        """``--init-from`` counts Stage-I iterations on: those of the model's ``training.json`` (``info``)."""
        return int(info.get("steps", {}).get("stage1", info.get("iterations", 0)))

    def restart_stage2(self) -> "StackGAN":
        """Give Stage-II G and D fresh weights, as a new model has (with ``stage2_skip``, G then draws
        exactly the upsampled Stage-I picture); Stage-I is left as it is."""
        for part in (self.generator.stage2, self.discriminator.stage2):
            for module in part.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
            part.apply(dcgan_init)
        if self.generator.stage2.skip:
            self.generator.stage2.start_at_stage1()
        return self

    def extra_generator_losses(self, real: Tensor, fake: Tensor, cond: Tensor) -> dict[str, Tensor]:
        """The active stage's CA KL term, ``kl_weight · KL``."""
        if not self.kl_weight:
            return {}
        return {"kl": self.kl_weight * kl_divergence(*self.generator.condition_stats(cond))}


#: model names used by presets, ``train(model=...)`` and the command line
MODELS: dict[str, type[TextImageGAN]] = {"gan-cls": TextConditionalGAN, "stackgan": StackGAN}


def build_model(name: str, preset: str | dict = "cpu-64", **overrides: Any) -> TextImageGAN:
    """``MODELS[name](**PRESETS[preset][name], **overrides)``; ``preset`` may be a dict of arguments.

    Example:
        >>> build_model("stackgan", "cpu-64").stage2_size
        128
    """
    if name not in MODELS:
        raise ValueError(f"unknown text-to-image model {name!r}; choose from {sorted(MODELS)}")
    if isinstance(preset, dict):
        arch = dict(preset)
    elif preset in PRESETS:
        arch = dict(PRESETS[preset][name])
    else:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return MODELS[name](**{**arch, **overrides})
