"""MidiNet (Yang, Chou & Yang, ISMIR 2017), "model 3": chord (1-D) and previous-bar (2-D) conditions.

Shapes: a bar is ``(B, 1, 16, 128)`` (16 sixteenth-note steps × 128 MIDI pitches), a chord is a
13-d vector (12-d one-hot root + minor flag), z is 100-d.

Generator::

    [z; y] → FC 1024 (BN, ReLU) → [; y] → FC 256 (BN, ReLU) → reshape 128 × 2 × 1
    → [; y; prev₂] → ConvT (2,1)/2 → 4 × 1 → [; y; prev₄] → ConvT → 8 × 1 → [; y; prev₈] → ConvT → 16 × 1
    → [; y; prev₁₆] → ConvT (1,128)/(1,2) → 16 × 128, sigmoid

where ``prevₖ`` are the conditioner CNN's feature maps of the previous bar at k steps
(Conv (1,128) → 16 × 1, then Conv (2,1)/2 → 8, 4, 2 steps; 16 channels, BN, LeakyReLU).

Discriminator (does not see the previous bar)::

    [x; y] → Conv (2,128)/2 → 14 ch × 8 × 1, LeakyReLU   (the feature-matching layer)
    → [; y] → Conv (4,1)/2 → 77 ch × 3 × 1, BN, LeakyReLU → flatten → [; y] → FC 1024 (BN, LeakyReLU)
    → [; y] → FC 1

Layer sizes follow the authors' code (RichardYang40148/MidiNet, ``v1/model.py``), read for facts.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from multigan.core.module import AdversarialModel, DiscriminatorOutput

__all__ = ["MidiNet", "MidiNetGenerator", "MidiNetDiscriminator", "PreviousBarConditioner"]

STEPS, PITCHES, CHORD_DIM = 16, 128, 13


def strip_conv(layer: nn.Conv2d, x: Tensor) -> Tensor:
    """``layer(x)`` as one matrix product, for a convolution whose kernel spans the input's whole
    width and whose vertical stride equals its kernel height (MidiNet's pitch and step convolutions).

    The general convolution kernels take a slow path on these shapes; the product is the same sum.
    Other shapes go through ``layer`` itself.
    """
    out_ch, in_ch, kh, kw = layer.weight.shape
    if (x.shape[-1] != kw or layer.stride[0] != kh or layer.padding != (0, 0) or layer.dilation != (1, 1)
            or layer.groups != 1 or x.shape[-2] % kh):
        return layer(x)
    b, _, height, width = x.shape
    n = height // kh
    cols = x.reshape(b, in_ch, n, kh, width).permute(0, 2, 1, 3, 4).reshape(b * n, in_ch * kh * width)
    y = cols @ layer.weight.reshape(out_ch, -1).t()
    if layer.bias is not None:
        y = y + layer.bias
    return y.view(b, n, out_ch).permute(0, 2, 1).unsqueeze(-1)              # (B, O, n, 1)


def strip_deconv(layer: nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """``layer(x)`` as one matrix product, for a transposed convolution of a width-1 input whose
    vertical stride equals its kernel height (MidiNet's up-sampling and pitch layers); other shapes
    go through ``layer`` itself."""
    in_ch, out_ch, kh, kw = layer.weight.shape
    if (x.shape[-1] != 1 or layer.stride[0] != kh or layer.padding != (0, 0) or layer.output_padding != (0, 0)
            or layer.dilation != (1, 1) or layer.groups != 1):
        return layer(x)
    b, _, height, _ = x.shape
    y = x[..., 0].transpose(1, 2).reshape(b * height, in_ch) @ layer.weight.reshape(in_ch, -1)   # (B·H, O·kh·kw)
    y = y.view(b, height, out_ch, kh, kw).permute(0, 2, 1, 3, 4).reshape(b, out_ch, height * kh, kw)
    return y if layer.bias is None else y + layer.bias[:, None, None]


def _run(block: nn.Sequential, x: Tensor) -> Tensor:
    """A (convolution, normalisation/activation...) block with the convolution as a matrix product."""
    first = block[0]
    h = strip_deconv(first, x) if isinstance(first, nn.ConvTranspose2d) else strip_conv(first, x)
    for layer in list(block)[1:]:
        h = layer(h)
    return h


def _broadcast(y: Tensor, like: Tensor) -> Tensor:
    """(B, 13) chord → (B, 13, H, W) to concatenate with a feature map shaped like ``like``."""
    return y[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


class PreviousBarConditioner(nn.Module):
    """CNN over the previous bar; returns feature maps at 16, 8, 4 and 2 steps (width 1)."""

    def __init__(self, channels: int = 16):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.pitch = nn.Sequential(nn.Conv2d(1, channels, (1, PITCHES), (1, 2)), nn.BatchNorm2d(channels), act)
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, (2, 1), (2, 1)), nn.BatchNorm2d(channels), act)
            for _ in range(3))

    def forward(self, prev_bar: Tensor) -> list[Tensor]:
        maps = [_run(self.pitch, prev_bar)]             # 16 × 1
        for layer in self.down:
            maps.append(_run(layer, maps[-1]))          # 8, 4, 2 × 1
        return maps


class MidiNetGenerator(nn.Module):
    """Generator of one bar from z, a chord and the previous bar (see the module docstring)."""

    def __init__(self, latent_dim: int = 100, channels: int = 128, fc_dim: int = 1024, cond_channels: int = 16):
        super().__init__()
        self.channels = channels
        self.fc1 = nn.Sequential(nn.Linear(latent_dim + CHORD_DIM, fc_dim), nn.BatchNorm1d(fc_dim), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(fc_dim + CHORD_DIM, channels * 2), nn.BatchNorm1d(channels * 2), nn.ReLU())
        in_ch = channels + CHORD_DIM + cond_channels
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(in_ch, channels, (2, 1), (2, 1)), nn.BatchNorm2d(channels), nn.ReLU())
            for _ in range(3))                          # 2 → 4 → 8 → 16 steps
        self.to_pitch = nn.ConvTranspose2d(in_ch, 1, (1, PITCHES), (1, 2))   # 16 × 1 → 16 × 128
        self.conditioner = PreviousBarConditioner(cond_channels)

    def forward(self, z: Tensor, chord: Tensor, prev_bar: Tensor) -> Tensor:
        prev = self.conditioner(prev_bar)[::-1]         # 2, 4, 8, 16 steps
        h = self.fc1(torch.cat([z, chord], 1))
        h = self.fc2(torch.cat([h, chord], 1)).view(-1, self.channels, 2, 1)
        for layer, cond in zip(self.up, prev):
            h = _run(layer, torch.cat([h, _broadcast(chord, h), cond], 1))
        out = strip_deconv(self.to_pitch, torch.cat([h, _broadcast(chord, h), prev[3]], 1))
        return torch.sigmoid(out[..., :PITCHES])        # (1,128)/(1,2) transposed conv gives exactly 128


class MidiNetDiscriminator(nn.Module):
    """Chord-conditional bar discriminator; returns logits and the feature-matching layer."""

    def __init__(self, feature_channels: int = 14, channels: int = 77, fc_dim: int = 1024):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.features = nn.Sequential(nn.Conv2d(1 + CHORD_DIM, feature_channels, (2, PITCHES), (2, 2)), act)
        self.conv = nn.Sequential(nn.Conv2d(feature_channels + CHORD_DIM, channels, (4, 1), (2, 2)),
                                  nn.BatchNorm2d(channels), act)
        self.fc = nn.Sequential(nn.Linear(channels * 3 + CHORD_DIM, fc_dim), nn.BatchNorm1d(fc_dim), act)
        self.out = nn.Linear(fc_dim + CHORD_DIM, 1)

    def forward(self, bar: Tensor, chord: Tensor) -> DiscriminatorOutput:
        f = _run(self.features, torch.cat([bar, _broadcast(chord, bar)], 1))    # 14 × 8 × 1
        h = self.conv(torch.cat([f, _broadcast(chord, f)], 1)).flatten(1)       # 77 × 3 × 1
        h = self.fc(torch.cat([h, chord], 1))
        logits = self.out(torch.cat([h, chord], 1)).squeeze(1)
        return DiscriminatorOutput(logits, f.flatten(1))


class MidiNet(AdversarialModel):
    """MidiNet "model 3": melody bars conditioned on a chord and on the previous bar.

    Args:
        latent_dim:         size of z (100 in the paper).
        generator_channels: channels of G's transposed convolutions (128 in the authors' code).
        fc_dim:             width of G's and D's first fully connected layers (1024).
        cond_channels:      channels of the previous-bar conditioner (16).
        mean_matching:      weight of ½‖E x − E G(z)‖² in the G loss (λ₂ = 0.01, authors' code).

    Training defaults (:meth:`trainer_defaults`): non-saturating loss with one-sided label smoothing
    (real = 0.9), feature matching on D's first layer with weight 0.1, two G steps per D step (the
    authors' code; the paper does not say), Adam lr 2e-4, β₁ 0.5 (the code's flag default; its
    run used 5e-5), batch 72.

    Example:
        >>> model = MidiNet()                                            # doctest: +SKIP
        >>> song = model.generate(["C", "G", "Am", "F"], seed=0)          # doctest: +SKIP
    """

    modality = "music"
    config_limits = {"latent_dim": (1, 4096), "generator_channels": (1, 2048), "fc_dim": (1, 16384),
                     "cond_channels": (1, 2048)}

    def __init__(self, latent_dim: int = 100, generator_channels: int = 128, fc_dim: int = 1024,
                 cond_channels: int = 16, mean_matching: float = 0.01):
        super().__init__()
        self.latent_dim = latent_dim
        self.mean_matching = mean_matching
        self.generator = MidiNetGenerator(latent_dim, generator_channels, fc_dim, cond_channels)
        self.discriminator = MidiNetDiscriminator(fc_dim=fc_dim)

    @staticmethod
    def trainer_defaults() -> dict[str, Any]:
        """TrainerConfig fields for MidiNet's training rules (pass as ``Trainer(..., **defaults)``)."""
        return {"objective": "nonsaturating", "label_smoothing": 0.1, "feature_matching": 0.1, "g_steps": 2,
                "n_critic": 1, "lr_g": 2e-4, "lr_d": 2e-4, "betas_g": (0.5, 0.999), "betas_d": (0.5, 0.999),
                "batch_size": 72}

    # -- trainer hooks ---------------------------------------------------------------------------

    def split_batch(self, batch: Sequence[Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``(bar, prev_bar, chord)`` → data ``bar``, condition ``(chord, prev_bar)``."""
        if not isinstance(batch, (list, tuple)) or len(batch) != 3:
            raise TypeError("MidiNet batches are (bar, prev_bar, chord) tuples, as multigan.music.data yields")
        bar, prev_bar, chord = batch
        return bar, (chord, prev_bar)

    def run_generator(self, generator: nn.Module, z: Tensor, cond: tuple[Tensor, Tensor]) -> Tensor:
        chord, prev_bar = cond
        return generator(z, chord, prev_bar)

    def run_discriminator(self, discriminator: nn.Module, x: Tensor, cond: tuple[Tensor, Tensor]):
        return discriminator(x, cond[0])                # D never sees the previous bar

    def extra_generator_losses(self, real: Tensor, fake: Tensor, cond: Any) -> dict[str, Tensor]:
        if not self.mean_matching:
            return {}
        diff = real.float().mean(0) - fake.float().mean(0)
        return {"mean_matching": self.mean_matching * 0.5 * diff.pow(2).sum()}

    def snapshot_condition(self, cond: tuple[Tensor, Tensor], n: int) -> tuple[Tensor, Tensor]:
        return cond[0][:n], cond[1][:n]

    def training_metrics(self, dataset: Any, *, n: int, seed: int) -> dict[str, float]:
        """The generated side of :func:`multigan.music.evaluate.evaluate_model` on ``n`` 8-bar melodies."""
        from .evaluate import evaluate_model
        return {k: float(v) for k, v in evaluate_model(self, dataset, n=n, seed=seed)["generated"].items()}

    def write_samples(self, samples: Tensor, path) -> list:
        from multigan.io.image import write_image
        from multigan.io.midi import pianoroll_to_midi
        bars = samples[:, 0] > 0.5                                          # (N, 16, 128)
        # One tile per bar: pitches 48–95 upwards × 16 steps, each cell 4 × 4 pixels.
        tiles = samples[:, :, :, 48:96].transpose(2, 3).flip(2).clamp(0, 1)
        tiles = tiles.repeat_interleave(4, 2).repeat_interleave(4, 3)
        png = write_image(tiles, path.with_suffix(".png"), nrow=8)
        mid = path.with_suffix(".mid")
        pianoroll_to_midi(bars.reshape(-1, PITCHES).numpy(), mid)
        return [png, mid]

    # -- generation --------------------------------------------------------------------------------

    @torch.no_grad()
    def generate_bars(self, chords: Tensor, *, prime: Optional[Tensor] = None, seed: Optional[int] = None,
                      n: int = 1, threshold: float = 0.5, polyphonic: bool = False) -> Tensor:
        """Generate ``n`` melodies bar by bar; returns bool rolls ``(n, bars, 16, 128)``.

        Each bar's previous-bar condition is the (decoded) bar just generated; ``prime`` (16 × 128)
        conditions the first bar (silence by default). Monophonic decoding keeps, per step, the
        most probable pitch if its probability exceeds ``threshold`` (else a rest); polyphonic
        keeps every pitch above ``threshold``.
        """
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        chords = chords.to(device).float()
        prev = torch.zeros(n, 1, STEPS, PITCHES, device=device)
        if prime is not None:
            prev[:] = prime.to(device).float().view(1, 1, STEPS, PITCHES)
        bars = []
        for chord in chords:
            z = self.sample_latent(n, generator=gen, device=device)
            probs = self.generator(z, chord.expand(n, -1), prev)[:, 0]
            bar = decode(probs, threshold=threshold, polyphonic=polyphonic)
            bars.append(bar)
            prev = bar.float()[:, None]
        self.train(was_training)
        return torch.stack(bars, 1)


    def generate(self, chords: str | Sequence[str], *, seed: Optional[int] = None, prime: Any = None,
                 tempo: float = 120.0, threshold: float = 0.5, polyphonic: bool = False):
        """Compose a melody over ``chords`` (``"C G Am F"`` or a list), one bar per chord.

        ``prime``: a MIDI file path or a (16, 128) roll whose bar conditions the first generated bar.
        Returns a :class:`~multigan.music.pipeline.Song` (``write_midi``, ``write_audio``, ``plot``).
        """
        from .chords import chord_vector, parse_progression
        from .pipeline import Song

        progression = parse_progression(chords)
        vectors = torch.from_numpy(np.stack([chord_vector(c) for c in progression]))
        bars = self.generate_bars(vectors, prime=_prime_bar(prime), seed=seed, threshold=threshold,
                                  polyphonic=polyphonic)[0]
        return Song(bars.reshape(-1, PITCHES).cpu().numpy(), progression, tempo=tempo)


def _prime_bar(prime: Any) -> Optional[Tensor]:
    """A priming bar from a MIDI file (its first full bar of melody) or a (16, 128) array."""
    if prime is None:
        return None
    if isinstance(prime, (str, os.PathLike)):
        from multigan.io.midi import load_midi, midi_to_pianoroll
        pm = load_midi(prime)
        opening = [ts for ts in pm.time_signature_changes if ts.time <= 1e-6]    # in force at the first bar
        if opening and (opening[-1].numerator, opening[-1].denominator) != (4, 4):
            raise ValueError(f"{prime}: its first bar is in {opening[-1].numerator}/{opening[-1].denominator}; a "
                             "prime must be a 4/4 bar, as the training data are")
        roll, _ = midi_to_pianoroll(pm)
        if roll.shape[0] < STEPS:
            raise ValueError(f"{prime}: shorter than one bar (16 sixteenth notes)")
        prime = roll[:STEPS]
    prime = torch.as_tensor(np.asarray(prime), dtype=torch.float32)
    if prime.shape != (STEPS, PITCHES):
        raise ValueError(f"prime must be a MIDI path or a (16, 128) roll, got shape {tuple(prime.shape)}")
    return prime


def decode(probs: Tensor, threshold: float = 0.5, polyphonic: bool = False) -> Tensor:
    """Turn per-step pitch probabilities ``(…, 16, 128)`` into a bool roll (monophonic by default)."""
    if polyphonic:
        return probs > threshold
    best = probs.max(-1, keepdim=True)
    onehot = torch.zeros_like(probs, dtype=torch.bool).scatter_(-1, best.indices, True)
    return onehot & (best.values > threshold)
