"""Small reference GANs used by the tests, the benchmarks and as examples of the model interface.

- :class:`MixtureGAN`: MLP generator/discriminator for 2-D points (the 8-Gaussians-on-a-ring yardstick).
- :class:`ConvGAN`: a DCGAN for 32×32 images (the conv benchmark).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .layers import apply_spectral_norm
from .module import AdversarialModel, DiscriminatorOutput

__all__ = ["MixtureGAN", "ConvGAN", "ring_of_gaussians", "ring_centers", "mode_statistics"]


def ring_centers(modes: int = 8, radius: float = 2.0) -> Tensor:
    """(modes, 2) centres evenly spaced on a circle."""
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], 1)).float()


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0) -> Tensor:
    """``n`` points from an equal mixture of isotropic Gaussians on a ring (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(modes, (n,), generator=gen)
    return ring_centers(modes, radius)[which] + std * torch.randn(n, 2, generator=gen)


def mode_statistics(samples: Tensor, centers: Tensor, std: float) -> dict[str, float]:
    """Modes covered and share of high-quality samples (within 3σ of their nearest mode).

    A mode counts as covered when at least 1 % of the expected per-mode share of samples lands
    within 3σ of it, i.e. ≥ ``0.01 · n / modes`` samples (at least one).
    """
    dist = torch.cdist(samples.float(), centers.float())
    nearest_d, nearest = dist.min(1)
    good = nearest_d <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centers))
    need = max(1, int(0.01 * len(samples) / len(centers)))
    return {"modes": int((counts >= need).sum()), "high_quality": float(good.float().mean())}


class MixtureGAN(AdversarialModel):
    """MLP GAN for low-dimensional points.

    Args:
        latent_dim:  size of z.
        data_dim:    size of a data point.
        hidden:      width of the hidden layers.
        depth:       hidden layers in each network.
        spectral_norm: spectrally normalise the discriminator.
    """

    def __init__(self, latent_dim: int = 8, data_dim: int = 2, hidden: int = 128, depth: int = 3,
                 spectral_norm: bool = False):
        super().__init__()
        self.latent_dim = latent_dim

        def mlp(n_in: int, n_out: int, act: nn.Module) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(depth):
                layers += [nn.Linear(n_in if i == 0 else hidden, hidden), act]
            return nn.Sequential(*layers, nn.Linear(hidden, n_out))

        self.generator = mlp(latent_dim, data_dim, nn.ReLU())
        self.discriminator = mlp(data_dim, 1, nn.LeakyReLU(0.2))
        if spectral_norm:
            apply_spectral_norm(self.discriminator)

    def run_discriminator(self, discriminator, x, cond):
        return discriminator(x).squeeze(-1)

    @torch.no_grad()
    def training_metrics(self, dataset, *, n: int, seed: int) -> dict[str, float]:
        """Mean distance from ``n`` samples to their nearest of ``n`` data points, and back.

        ``fake_to_data`` grows when samples land off the data; ``data_to_fake`` when data regions
        (modes) get no samples.
        """
        points = dataset.tensors[0] if hasattr(dataset, "tensors") else torch.stack([dataset[i][0] for i in
                                                                                    range(len(dataset))])
        gen = torch.Generator().manual_seed(seed)
        ref = points[torch.randperm(len(points), generator=gen)[:n]].float()
        fake = self.sample(n, seed=seed).float().cpu()
        dist = torch.cdist(fake, ref)
        return {"fake_to_data": float(dist.min(1).values.mean()), "data_to_fake": float(dist.min(0).values.mean())}


class _DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, width: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),                                 # 16
            nn.Conv2d(width, width * 2, 4, 2, 1), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2),      # 8
            nn.Conv2d(width * 2, width * 4, 4, 2, 1), nn.BatchNorm2d(width * 4), nn.LeakyReLU(0.2))  # 4
        self.head = nn.Conv2d(width * 4, 1, 4, 1, 0)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        h = self.features(x)
        return DiscriminatorOutput(self.head(h).flatten(), h.flatten(1))


class ConvGAN(AdversarialModel):
    """DCGAN (Radford et al. 2016) for 32×32 images in [-1, 1]; D also returns features.

    Args:
        latent_dim:  size of z.
        channels:    image channels.
        width:       base channel count (doubled per stage).
    """

    def __init__(self, latent_dim: int = 64, channels: int = 3, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.generator = nn.Sequential(
            nn.Unflatten(1, (latent_dim, 1, 1)),
            nn.ConvTranspose2d(latent_dim, width * 4, 4, 1, 0), nn.BatchNorm2d(width * 4), nn.ReLU(),     # 4
            nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1), nn.BatchNorm2d(width * 2), nn.ReLU(),      # 8
            nn.ConvTranspose2d(width * 2, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),              # 16
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())                                     # 32
        self.discriminator = _DCGANDiscriminator(channels, width)


#: The fixed-budget recipe of the 8-Gaussians yardstick, per objective (README table, tests).
#: Shared: 8 modes on a radius-2 ring, σ = 0.05, batch 256, MLP 3×64, z 8-d, Adam β = (0, 0.9),
#: TTUR (lr_G 5e-4, lr_D 1e-3), samples from the EMA generator (decay 0.995). Non-saturating, hinge and LSGAN use a spectrally normalised D;
#: WGAN-GP uses its gradient penalty instead, at λ = 0.1 (the toy-task value of Gulrajani et al.'s code).
EIGHT_GAUSSIANS_RECIPES: dict[str, dict] = {
    "nonsaturating": {"spectral_norm": True},
    "hinge": {"spectral_norm": True},
    "lsgan": {"spectral_norm": True},
    "wgan-gp": {"spectral_norm": False, "objective_options": {"gp_weight": 0.1}, "betas": (0.5, 0.9)},
}


def train_eight_gaussians(objective: str, steps: int = 3000, seed: int = 0, std: float = 0.05,
                          samples: int = 4000) -> dict[str, float]:
    """Train :class:`MixtureGAN` on 8 Gaussians with the fixed recipe; return mode statistics.

    Returns ``{"modes", "high_quality", "seconds"}`` measured on ``samples`` generator samples.
    """
    import time

    from .trainer import Trainer, TrainerConfig

    recipe = dict(EIGHT_GAUSSIANS_RECIPES[objective])
    betas = recipe.pop("betas", (0.0, 0.9))
    torch.manual_seed(seed)
    model = MixtureGAN(latent_dim=8, hidden=64, depth=3, spectral_norm=recipe.pop("spectral_norm"))
    config = TrainerConfig(steps=steps, batch_size=256, objective=objective, lr_g=5e-4, lr_d=1e-3,
                           betas_g=betas, betas_d=betas, seed=seed, device="cpu", progress=False,
                           log_every=steps, ema_decay=0.995, **recipe)
    start = time.perf_counter()
    trainer = Trainer(model, ring_of_gaussians(20000, std=std, seed=seed), config)
    trainer.fit()
    seconds = time.perf_counter() - start
    with trainer.ema.swapped_into(model.generator):
        points = model.sample(samples, seed=seed + 1)
    stats = mode_statistics(points, ring_centers(), std)
    return {**stats, "seconds": seconds}
