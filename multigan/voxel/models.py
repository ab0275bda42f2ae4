"""3D-GAN (Wu, Zhang, Xue, Freeman & Tenenbaum, NIPS 2016): volumetric convolutions, voxels in, meshes out.

The generator maps a 200-d latent (``z ~ U(0, 1)`` as in the authors' sampler) through transposed
3-D convolutions (kernel 4, stride 2; the first from 1³ to 4³) with BatchNorm + ReLU to a sigmoid
occupancy grid; the discriminator mirrors it with LeakyReLU 0.2, no pooling and no fully connected
layer. The paper's net is 512→256→128→64→1 channels for 64³; :data:`PRESETS` holds it and a 32³
preset with the same design and one stage fewer.

Class conditioning (our addition, so one model serves several categories): a learned label
embedding is concatenated to ``z`` in G; D adds a projection term ``<embed(y), mean-pooled h>``
(Miyato & Koyama 2018) on its last feature map. The convolutional trunk of D is label-free, so
:meth:`GAN3D.features` (the paper's representation: every conv layer max-pooled to 2³ and
concatenated) needs no label.

Example:
    >>> model = GAN3D(**PRESETS["cpu-32"], classes=["chair", "table"])
    >>> shapes = model.generate(2, label="chair", seed=0)
    >>> tuple(shapes.voxels.shape)
    (2, 32, 32, 32)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from multigan.core.layers import apply_spectral_norm, dcgan_init, minibatch_std
from multigan.core.module import AdversarialModel, resolve_labels

from .metrics import check_count

__all__ = ["GAN3D", "Generator3D", "Discriminator3D", "PRESETS", "disconnected_share", "REPAIR_STEPS"]

#: :meth:`GAN3D.repair_latents`' defaults: the most Adam steps a latent gets, and their step size.
REPAIR_STEPS = 40
REPAIR_LR = 0.02

#: named architectures: ``GAN3D(**PRESETS[name], classes=...)``
PRESETS: dict[str, dict[str, Any]] = {
    "paper-64": {"resolution": 64, "channels": (512, 256, 128, 64)},     # Wu et al. 2016
    "cpu-32": {"resolution": 32, "channels": (128, 64, 32)},              # one stage fewer, quarter width
}

Label = Union[None, int, str, Sequence[Union[int, str]], Tensor]


def _stages(resolution: int, channels: Sequence[int]) -> None:
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    if 4 * 2 ** len(channels) != resolution:
        raise ValueError(f"{len(channels)} channel stages give 4·2^{len(channels)} = {4 * 2 ** len(channels)}³ "
                         f"grids, not {resolution}³; give {int(math.log2(resolution)) - 2} channel widths")


def _seeded(seed: Optional[int]) -> Optional[torch.Generator]:
    return torch.Generator().manual_seed(int(seed)) if seed is not None else None


class Generator3D(nn.Module):
    """z (+ label embedding) → (B, 1, R, R, R) occupancy probabilities."""

    def __init__(self, latent_dim: int, channels: Sequence[int], num_classes: int = 0, embed_dim: int = 0,
                 bias: bool = False):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        widths = [latent_dim + (embed_dim if num_classes else 0), *channels]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            layers += [nn.ConvTranspose3d(cin, cout, 4, stride, pad, bias=bias), nn.BatchNorm3d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose3d(widths[-1], 1, 4, 2, 1, bias=bias), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels")
            z = torch.cat([z, self.embed(labels)], 1)
        return self.net(z[:, :, None, None, None])


class Discriminator3D(nn.Module):
    """(B, 1, R, R, R) → logits (B,); mirror of the generator, LeakyReLU 0.2, no pooling, no FC."""

    def __init__(self, channels: Sequence[int], num_classes: int = 0, bias: bool = False, norm: str = "batch",
                 minibatch_std: bool = False):
        super().__init__()
        self.minibatch_std = minibatch_std
        if norm not in ("batch", "spectral"):
            raise ValueError(f"discriminator norm must be 'batch' (paper) or 'spectral', got {norm!r}")
        widths = [1, *reversed(channels)]
        self.blocks = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            # DCGAN rule: no BN on the input layer
            bn = nn.BatchNorm3d(cout) if norm == "batch" and i > 0 else nn.Identity()
            self.blocks.append(nn.Sequential(nn.Conv3d(cin, cout, 4, 2, 1, bias=bias), bn, nn.LeakyReLU(0.2, True)))
        self.out = nn.Conv3d(widths[-1] + int(minibatch_std), 1, 4, 1, 0, bias=bias)          # 4³ → 1³
        self.embed = nn.Embedding(num_classes, widths[-1]) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=widths[-1] ** -0.5)      # projection term starts O(1)
        if norm == "spectral":
            apply_spectral_norm(self)

    def trunk(self, x: Tensor) -> list[Tensor]:
        """Every conv layer's activation map, input side first."""
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def forward(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        h = self.trunk(x)[-1]
        logits = self.out(minibatch_std(h) if self.minibatch_std else h).flatten(1).sum(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is class-conditional: pass labels")
            logits = logits + (self.embed(labels) * h.mean((2, 3, 4))).sum(1)
        return logits


def disconnected_share(occupancy: Tensor, iterations: Optional[int] = None) -> Tensor:
    """Per shape, the share of its occupancy that is not fuzzily connected to its most occupied voxel.

    ``occupancy`` is (B, 1, R, R, R) in [0, 1]. Fuzzy connectedness (Udupa & Samarasekera 1996): a
    path's strength is its weakest voxel, a voxel's *reach* the strongest path to it from the seed
    (the shape's most occupied voxel), over 26-neighbour steps. It is found by growing from the
    seed, ``reach ← min(p, maxpool₃(reach))``, for ``iterations`` steps (default R, or until it
    stops changing; a path longer than that counts as a gap). The result, ``Σ (p − reach) / Σ p``,
    is 0 for a shape in one piece and the detached pieces' share otherwise. It is differentiable: a
    gap's weakest voxel gets the gradient of the whole piece behind it, so as a loss it either fills
    the gap or removes the piece.
    """
    if occupancy.dim() != 5 or occupancy.shape[1] != 1:
        raise ValueError(f"occupancy must be (B, 1, R, R, R), got {tuple(occupancy.shape)}")
    flat = occupancy.flatten(1)
    seed = flat.argmax(1, keepdim=True)
    reach = torch.zeros_like(flat).scatter(1, seed, flat.gather(1, seed)).view_as(occupancy)
    for step in range(iterations or occupancy.shape[-1]):
        grown = torch.minimum(occupancy, F.max_pool3d(reach, 3, 1, 1))
        if iterations is None and step % 4 == 3 and torch.equal(grown, reach):
            break
        reach = grown
    return (occupancy - reach).flatten(1).sum(1) / flat.sum(1).clamp_min(1e-6)


#: Where the training shapes sit in the grid: ``"centre"`` (as voxelised) or ``"floor"`` (moved down to
#: y = 0, :func:`multigan.voxel.data.stand_on_floor`). The model learns that placement; evaluation
#: compares it with data placed the same way.
PLACEMENTS = ("centre", "floor")


class GAN3D(AdversarialModel):
    """3D-GAN: a voxel generator and discriminator, optionally class-conditional.

    Args:
        resolution:  grid edge (32 or 64; any power of two matching ``channels``).
        latent_dim:  size of z (200 in the paper).
        channels:    G's widths after the 1³→4³ layer (D mirrors them); paper: (512, 256, 128, 64).
        classes:     category names; empty → unconditional.
        embed_dim:   size of G's label embedding (concatenated to z).
        latent:      ``"uniform"`` (z ~ U(0, 1), the authors' sampler) or ``"normal"`` (N(0, I)).
        bias:        conv biases (the authors' released model has none).
        discriminator_norm: ``"batch"`` (paper: BatchNorm after every D conv but the first) or
                     ``"spectral"`` (spectral normalisation of every D layer, no BatchNorm — steadier
                     on small data sets; the shipped model uses it, see its model card).
        placement:   where its training shapes sat (:data:`PLACEMENTS`): ``"centre"`` or ``"floor"``.
                     Metadata for evaluation; the networks do not use it.
        thickness:   the smallest part thickness its training shapes were given
                     (:func:`multigan.voxel.data.thicken`; 1 = as voxelised). Metadata, like ``placement``.
        connectivity_weight: ours, off by default: adds ``w ·`` mean :func:`disconnected_share` of the
                     generated shapes to G's loss, a direct push towards shapes in one piece (the
                     critic hardly sees a gap; see ``docs/experiments/voxel.md``). A training option: ``--init-from``
                     may change it.

    Training defaults (:meth:`trainer_defaults`): binary cross-entropy (non-saturating G loss),
    Adam β₁ 0.5, lr_G 0.0025, lr_D 1e-5, batch 100, D updated only while its accuracy on the last
    batch is ≤ 80 %.
    """

    modality = "voxel"
    config_limits = {"resolution": (8, 256), "latent_dim": (1, 4096), "channels": (1, 2048), "embed_dim": (1, 4096),
                     "thickness": (0, 16)}
    #: how the training shapes were prepared: metadata for evaluation, free to change with --init-from
    data_options = ("placement", "thickness")
    #: loss terms only, free to change with --init-from
    training_options = ("connectivity_weight",)

    def __init__(self, resolution: int = 64, latent_dim: int = 200, channels: Sequence[int] = (512, 256, 128, 64),
                 classes: Sequence[str] = (), embed_dim: int = 32, latent: str = "uniform", bias: bool = False,
                 discriminator_norm: str = "batch", minibatch_std: bool = False, instance_noise: float = 0.0,
                 placement: str = "centre", thickness: int = 1, connectivity_weight: float = 0.0):
        super().__init__()
        if isinstance(connectivity_weight, bool) or not isinstance(connectivity_weight, (int, float)) or not (
                math.isfinite(connectivity_weight) and connectivity_weight >= 0):
            raise ValueError(f"connectivity_weight must be a finite number >= 0, got {connectivity_weight!r}")
        self.connectivity_weight = float(connectivity_weight)
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        if isinstance(thickness, bool) or not isinstance(thickness, int) or thickness < 1:
            raise ValueError(f"thickness must be an int >= 1 (1 = shapes as voxelised), got {thickness!r}")
        self.placement, self.thickness = placement, thickness
        channels = tuple(int(c) for c in channels)
        _stages(int(resolution), channels)
        if latent not in ("uniform", "normal"):
            raise ValueError(f"latent must be 'uniform' or 'normal', got {latent!r}")
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes):
            raise ValueError(f"class names must be unique, got {classes}")
        self.resolution, self.latent_dim, self.latent = int(resolution), int(latent_dim), latent
        self.instance_noise = float(instance_noise)
        self.classes = classes
        self.generator = Generator3D(self.latent_dim, channels, len(classes), embed_dim, bias)
        self.discriminator = Discriminator3D(channels, len(classes), bias, discriminator_norm, minibatch_std)
        self.apply(dcgan_init)

    @staticmethod
    def trainer_defaults() -> dict[str, Any]:
        """TrainerConfig fields for the paper's training rules."""
        return {"objective": "nonsaturating", "lr_g": 0.0025, "lr_d": 1e-5, "betas_g": (0.5, 0.999),
                "betas_d": (0.5, 0.999), "batch_size": 100, "d_accuracy_gate": 0.8,
                # a speed option: 12-13 % faster steps on a CPU (32³ and 64³), the same under WGAN-GP at 32³
                "channels_last": True}

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    # -- trainer hooks ---------------------------------------------------------------------------

    def split_batch(self, batch: Any) -> tuple[Tensor, Optional[Tensor]]:
        x, y = super().split_batch(batch)
        return x, (y if self.conditional else None)

    def sample_latent(self, n: int, *, generator: Optional[torch.Generator] = None,
                      device: torch.device | str = "cpu") -> Tensor:
        if self.latent == "normal":
            return super().sample_latent(n, generator=generator, device=device)
        gen_device = generator.device if generator is not None else device
        return torch.rand(n, self.latent_dim, generator=generator, device=gen_device).to(device)

    def run_generator(self, generator: nn.Module, z: Tensor, cond: Optional[Tensor]) -> Tensor:
        return generator(z, cond)

    def run_discriminator(self, discriminator: nn.Module, x: Tensor, cond: Optional[Tensor]):
        if self.instance_noise and self.training:      # Sønderby et al. 2016: hide the exact 0/1 of real grids
            x = x + self.instance_noise * torch.randn_like(x)
        return discriminator(x, cond)

    def extra_generator_losses(self, real: Tensor, fake: Tensor, cond: Optional[Tensor]) -> dict[str, Tensor]:
        if not self.connectivity_weight:
            return {}
        return {"connectivity": self.connectivity_weight * disconnected_share(fake.float()).mean()}

    def prepare_averaged_generator(self) -> None:
        """Re-estimate the averaged generator's BatchNorm statistics as the export does (seed 0)."""
        from .evaluate import recalibrate_generator
        recalibrate_generator(self, self.generator, seed=0)

    def training_metrics(self, dataset: Any, *, n: int, seed: int) -> dict[str, float]:
        """Validity, coverage, MMD and diversity per class (:func:`multigan.voxel.evaluate.training_metrics`)."""
        from .evaluate import training_metrics
        return training_metrics(self, dataset, n=n, seed=seed)

    def write_samples(self, samples: Tensor, path: Path) -> list[Path]:
        from .render import render_grid
        return [render_grid(samples.float().cpu(), path.with_suffix(".png"), views=("iso",))]

    # -- user API ----------------------------------------------------------------------------------

    def label_tensor(self, label: Label, n: int) -> Optional[Tensor]:
        """Resolve ``label`` (name, index, or one per sample) to an int64 tensor of length ``n``."""
        return resolve_labels(label, n, self.classes, "shapes")

    @torch.no_grad()
    def generate(self, n: int = 1, label: Label = None, *, seed: Optional[int] = None,
                 z: Optional[Tensor] = None, batch_size: int = 64, whole: bool = False, max_draws: int = 50,
                 repair: int = 0, bridge: Optional[float] = None):
        """Generate ``n`` shapes (eval mode; seeded when ``seed`` is given) as :class:`Shapes`.

        ``whole=True`` is rejection sampling: every shape that is not valid after cleanup
        (:func:`~multigan.voxel.metrics.valid_after_cleanup`: one piece once specks holding at most
        2 % of its voxels are dropped) is drawn again from a fresh latent, up to ``max_draws`` times,
        and the specks of the shapes kept are removed (as :meth:`Shapes.largest_component`). The
        first draw uses the latents ``whole=False`` would, so the shapes that pass it are the same.
        The share of draws kept for a class is the model's "valid after cleanup" rate for it.

        ``repair=steps`` (e.g. ``REPAIR_STEPS`` = 40) moves the latent of every shape not valid after
        cleanup until it is, by at most that many Adam steps (:meth:`repair_latents`); the shapes are
        then the generator's output at the moved latents. With ``whole=True`` each draw is repaired
        before it is judged.

        ``bridge=low`` joins detached pieces to the main body through voxels of occupancy at least
        ``low`` (:meth:`Shapes.bridged`, e.g. ``BRIDGE_LOW`` = 0.2); with ``whole=True`` a shape is
        bridged before it is judged, so fewer are drawn again.

        Raises:
            RuntimeError: with ``whole=True``, some shape was still not whole after ``max_draws``.
            ValueError: ``whole=True`` with ``z`` (it draws its own latents), a bad ``max_draws``, ``repair``
                or ``bridge``.
        """
        from .pipeline import Shapes, check_low

        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        check_count(repair, "repair", 0)
        if bridge is not None:
            check_low(bridge, 0.5)
        labels = self.label_tensor(label, int(n))
        names = None if labels is None else [self.classes[k] for k in labels.tolist()]
        if whole:
            samples = self._generate_whole(int(n), labels, names, seed, z, batch_size, max_draws, repair, bridge)
        else:
            if repair:
                z = self.sample_latent(int(n), generator=_seeded(seed)) if z is None else z
                z = self.repair_latents(z, labels, steps=repair, batch_size=batch_size)
            samples = self.generate_batched(int(n), labels, seed=seed, z=z, batch_size=batch_size)[:, 0]
            samples = samples if bridge is None else Shapes(samples).bridged(bridge).probs
        return Shapes(samples, labels=names)

    def repair_latents(self, z: Tensor, labels: Optional[Tensor] = None, *, steps: int = REPAIR_STEPS,
                       lr: float = REPAIR_LR, check_every: int = 5, batch_size: int = 64) -> Tensor:
        """Latent repair (ours): move the latent of every shape that is not in one piece until it is.

        A latent whose shape is not valid after cleanup (:func:`~multigan.voxel.metrics.valid_after_cleanup`)
        gets Adam steps of size ``lr`` that lower its shape's :func:`disconnected_share` (the loss
        ``connectivity_weight`` trains with), ``check_every`` at a time (Adam restarts after each
        check), and stops at the first check that finds it valid, after ``steps`` at most. Shapes
        already valid keep their latent, and so does a shape not mended in ``steps``.
        This is a search in the generator's own latent space, as AnoGAN's is, so the repaired shapes
        are shapes the generator makes. ``z``: (n, latent_dim); ``labels``: n class indices for a
        conditional model. Returns the new latents (float32, CPU); the model's mode is restored.
        """
        steps, check_every = check_count(steps, "steps", 0), check_count(check_every, "check_every", 1)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be a (n, {self.latent_dim}) tensor, got {getattr(z, 'shape', type(z).__name__)}")
        if self.conditional and (labels is None or len(labels) != len(z)):
            raise ValueError(f"this model is class-conditional: pass {len(z)} labels")
        z = z.detach().float().cpu().clone()
        was_training = self.training
        self.eval()
        try:
            for i in range(0, len(z), int(batch_size)):
                part = slice(i, i + int(batch_size))
                z[part] = self._repair_batch(z[part], None if labels is None else labels[part], steps, lr, check_every)
        finally:
            self.train(was_training)
        return z

    def _repair_batch(self, z: Tensor, labels: Optional[Tensor], steps: int, lr: float, every: int) -> Tensor:
        """:meth:`repair_latents` for one batch, in eval mode."""
        from .metrics import valid_after_cleanup

        device = next(self.parameters()).device
        z, labels = z.to(device), None if labels is None else labels.to(device)
        start, todo, done = z.clone(), torch.arange(len(z), device=device), 0
        while True:
            y = None if labels is None else labels[todo]
            with torch.no_grad():
                probs = self.generator(z[todo], y)[:, 0].float().cpu()
            todo = todo[~valid_after_cleanup(probs).to(device)]
            if not len(todo) or done >= steps:
                z[todo] = start[todo]                          # not mended: the shape as first drawn
                return z.cpu()
            y = None if labels is None else labels[todo]
            moving = z[todo].clone().requires_grad_(True)
            optimizer = torch.optim.Adam([moving], lr=lr)
            for _ in range(min(every, steps - done)):
                with torch.enable_grad():
                    loss = disconnected_share(self.generator(moving, y).float()).sum()
                    (moving.grad,) = torch.autograd.grad(loss, moving)
                optimizer.step()
                done += 1
            z[todo] = moving.detach()

    def _generate_whole(self, n: int, labels: Optional[Tensor], names: Optional[list[str]], seed: Optional[int],
                        z: Optional[Tensor], batch_size: int, max_draws: int, repair: int,
                        bridge: Optional[float]) -> Tensor:
        """:meth:`generate`'s ``whole=True``: redraw the shapes not valid after cleanup; (n, R, R, R) probabilities."""
        from .metrics import valid_after_cleanup
        from .pipeline import Shapes

        if z is not None:
            raise ValueError("whole=True draws its own latents (seeded by seed); pass seed, not z")
        check_count(max_draws, "max_draws")
        gen = _seeded(seed)
        out = torch.zeros(n, *(self.resolution,) * 3)
        todo = torch.arange(n)
        for _ in range(max_draws):
            y = None if labels is None else labels[todo]
            z = self.sample_latent(len(todo), generator=gen)
            z = self.repair_latents(z, y, steps=repair, batch_size=batch_size) if repair else z
            probs = self.generate_batched(len(todo), y, batch_size=batch_size, z=z)[:, 0]
            probs = probs if bridge is None else Shapes(probs).bridged(bridge).probs
            ok = valid_after_cleanup(probs)
            out[todo[ok]] = Shapes(probs[ok]).largest_component().probs
            todo = todo[~ok]
            if not len(todo):
                return out
        which = "" if names is None else f" ({', '.join(sorted({names[i] for i in todo.tolist()}))})"
        raise RuntimeError(f"{len(todo)} of {n} shapes{which} were still not whole after {max_draws} draws each: "
                           "this model rarely makes them in one piece; raise max_draws or use whole=False")

    @torch.no_grad()
    def features(self, voxels: Any, *, batch_size: int = 64) -> Tensor:
        """The paper's shape representation: D's conv layer outputs max-pooled to 2³ and concatenated.

        ``voxels``: (N, R, R, R) or (N, 1, R, R, R) occupancy. Returns (N, 8·Σ channels) float32.
        """
        from .metrics import binarize

        grids = binarize(voxels).float()
        if grids.shape[-1] != self.resolution:
            raise ValueError(f"this model takes {self.resolution}³ grids, got {tuple(grids.shape[1:])}")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            out = []
            for i in range(0, len(grids), batch_size):
                maps = self.discriminator.trunk(grids[i:i + batch_size, None].to(device))
                out.append(torch.cat([F.adaptive_max_pool3d(m, 2).flatten(1) for m in maps], 1).float().cpu())
        finally:
            self.train(was_training)
        return torch.cat(out)
