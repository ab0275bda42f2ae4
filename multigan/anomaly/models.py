"""AnoGAN (Schlegl et al. 2017) and f-AnoGAN (Schlegl et al. 2019): a GAN of normal images scores anomalies.

One :class:`AnoGAN` holds the three networks both methods need — a DCGAN-style generator, a
WGAN-GP critic whose last hidden layer is the feature map ``f``, and an encoder — and scores with
either mapping:

* ``"search"`` (AnoGAN): Γ gradient steps on z minimising
  ``(1−λ)·Σ|x − G(z)| + λ·Σ|f(x) − f(G(z))|`` (λ = 0.1); score = the final loss.
* ``"izif"`` (f-AnoGAN): one pass, ``z = E(x)``; score = ``MSE(x, G(z)) + κ·MSE(f(x), f(G(z)))`` (κ = 1).
* ``"izif+search"``: the encoder's z as the start of a (shorter) search.

The anomaly map is ``|x − G(z)|`` (averaged over channels), the papers' raw residual. Five
options, all off by default, go beyond the papers (:func:`anomaly_map`):

* ``map_shift`` r: the *shift-tolerant* residual — each pixel's residual is the smallest
  ``|x(p) − G(z)(p + o)|`` over offsets ``o`` of at most r pixels in each direction, so an edge that
  G draws a pixel off no longer reads as anomalous, while a lesion, wider than 2r + 1 pixels, does;
* ``map_sigma``: a Gaussian smoothing of σ pixels, which suppresses the pixel-sized errors of
  normal tissue far more than a lesion's extended residual;
* ``image_score="map"``: the image score is the mean of the map's highest ``map_top`` fraction
  (default 1 %) instead of the method's loss, so a small lesion is not averaged away over the image;
* ``map_margin`` m: that image score leaves out the m pixels of tissue next to the background
  (pixels ≤ −0.9 reached from the image's border, where :mod:`~multigan.anomaly.preprocess` puts
  everything outside the head, and the image's edge; :func:`tissue_mask`, :func:`map_score`), so
  the outline of a fragmented slice that G draws a little off does not make a normal slice
  anomalous. The map itself is kept whole; a lesion touching the background is
  judged by its part further in;
* ``map_views`` (f-AnoGAN only): the encoder also reconstructs moved copies of the image — its
  left–right mirror (``"flip"``), and with ``"flip-shift"`` both moved by 2 pixels up, down, left
  and right (10 views) — each reconstruction is moved back, and the map is the per-pixel *minimum*
  of the views' maps (:meth:`AnoGAN.view_maps`). Normal tissue that one view reconstructs badly,
  another reconstructs well; a lesion no view can draw. AnoGAN's search scores the image as given
  (each view would cost a whole search).

Three more set AnoGAN's search: ``search_starts`` k > 1 draws k latents per image and starts from
the one with the lowest search loss (k forward passes, about k/3 search steps' worth) instead of
from a single draw; ``search_restarts`` R > 1 runs R whole searches from independent starts and
keeps, per image, the one that ends with the lowest search loss (R times the cost), so a search
stuck in a poor fit of a normal image no longer reads as an anomaly; and ``search_lr`` is the
Adam step of the search (0.02 by default).

Every network scores in ``eval()`` mode. Decision thresholds are calibrated on held-out normal
images (:meth:`AnoGAN.calibrate`) with the model's own scoring options and saved with the weights.

Example:
    >>> det = AnoGAN(image_size=32, width=8)
    >>> res = det.score(torch.zeros(2, 1, 32, 32), method="izif")
    >>> tuple(res.maps.shape)
    (2, 1, 32, 32)
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from multigan.core.module import AdversarialModel

__all__ = ["AnoGAN", "METHODS", "IMAGE_SCORES", "CALIBRATION_RULES", "MAP_VIEWS", "anomaly_map", "map_score",
           "tissue_mask", "top_fraction_mean", "keep_lower_loss", "BACKGROUND_LEVEL", "VIEW_SHIFT"]

#: scoring methods → index of their calibrated threshold in ``AnoGAN.thresholds``
METHODS = ("izif", "search", "izif+search")
#: how :meth:`AnoGAN.calibrate` sets a threshold: a false-positive rate on normal images, or best F1 on labelled ones
CALIBRATION_RULES = ("fpr", "f1")
#: the file beside the weights holding the training images' intensity profile (``AnoGAN.domain``)
DOMAIN_FILE = "domain.json"
#: what an image's score is: the method's loss (the papers) or the mean of the map's top fraction
IMAGE_SCORES = ("loss", "map")
#: ``map_views``: the moved copies f-AnoGAN reconstructs besides the image (:meth:`AnoGAN.view_maps`)
MAP_VIEWS = ("one", "flip", "flip-shift")
#: how far (pixels) ``map_views="flip-shift"`` moves each copy
VIEW_SHIFT = 2
#: pixels at or below this value are background for ``map_margin`` (prepared slices put it at −1)
BACKGROUND_LEVEL = -0.9


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _check_sigma(sigma: Any) -> float:
    value = _float_or_nan(sigma)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"map_sigma must be a finite number >= 0 (pixels), got {sigma!r}")
    return value


def gaussian_blur(maps: Tensor, sigma: float) -> Tensor:
    """Smooth (N, C, H, W) maps with a separable Gaussian of ``sigma`` pixels (edges replicated); 0 is a no-op."""
    sigma = _check_sigma(sigma)
    if sigma == 0 or maps.numel() == 0:
        return maps
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, maps.shape[-1] - 1, maps.shape[-2] - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-offsets.pow(2) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    n, c, h, w = maps.shape
    x = maps.reshape(n * c, 1, h, w)
    x = nn.functional.conv2d(nn.functional.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = nn.functional.conv2d(nn.functional.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def _check_shift(shift: Any, size: Optional[int] = None) -> int:
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise ValueError(f"map_shift must be an int >= 0 (pixels), got {shift!r}")
    if size is not None and shift >= size:
        raise ValueError(f"map_shift {shift} must be smaller than the image ({size} px)")
    return shift


def _check_margin(margin: Any, size: Optional[int] = None) -> int:
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise ValueError(f"map_margin must be an int >= 0 (pixels), got {margin!r}")
    if size is not None and 2 * margin >= size:
        raise ValueError(f"map_margin {margin} leaves no pixel of a {size}-pixel image to judge; use less than "
                         f"{(size + 1) // 2}")
    return margin


def _check_image_score(kind: Any) -> str:
    if kind not in IMAGE_SCORES:
        raise ValueError(f"image_score must be one of {IMAGE_SCORES}, got {kind!r}")
    return kind


def _check_views(views: Any) -> str:
    if views not in MAP_VIEWS:
        raise ValueError(f"map_views must be one of {MAP_VIEWS}, got {views!r}")
    return views


def views_of(views: str) -> list[tuple[bool, int, int]]:
    """The views ``map_views`` scores, as ``(mirrored, rows moved, columns moved)``; the first is the image."""
    moves = [(0, 0)]
    if _check_views(views) == "flip-shift":
        moves += [(VIEW_SHIFT, 0), (-VIEW_SHIFT, 0), (0, VIEW_SHIFT), (0, -VIEW_SHIFT)]
    return [(flip, dy, dx) for flip in ((False,) if views == "one" else (False, True)) for dy, dx in moves]


def move(x: Tensor, dy: int, dx: int) -> Tensor:
    """``x`` (N, C, H, W) moved ``dy`` rows down and ``dx`` columns right, edges replicated."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    h, w = x.shape[-2:]
    padded = nn.functional.pad(x, (p, p, p, p), mode="replicate")
    return padded[..., p - dy:p - dy + h, p - dx:p - dx + w]


def _check_top(fraction: Any) -> float:
    value = _float_or_nan(fraction)
    if not 0 < value <= 1:
        raise ValueError(f"map_top must be a fraction in (0, 1], got {fraction!r}")
    return value


def check_count(value: Any, name: str, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 ({meaning}), got {value!r}")
    return value


def _check_starts(starts: Any) -> int:
    return check_count(starts, "search_starts", "latents drawn per image")


def _check_restarts(restarts: Any) -> int:
    return check_count(restarts, "search_restarts", "whole searches per image")


def _check_lr(lr: Any) -> float:
    value = _float_or_nan(lr)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"search_lr must be a positive number (the search's Adam step), got {lr!r}")
    return value


def keep_lower_loss(loss: Tensor, value: Tensor, best_loss: Tensor, best_value: Tensor) -> tuple[Tensor, Tensor]:
    """Per image, the (loss, value) pair of the two with the lower loss: how search restarts pick a run.
    ``loss`` / ``best_loss`` are (N,); ``value`` / ``best_value`` (N, ...), e.g. reconstructions or scores."""
    better = loss < best_loss
    return (torch.where(better, loss, best_loss),
            torch.where(better.view(-1, *[1] * (value.dim() - 1)), value, best_value))


def tissue_mask(x: Tensor, margin: int) -> Tensor:
    """(N, 1, H, W) mask of the tissue of images ``x`` (N, C, H, W) at least ``margin`` pixels (in each
    direction) from the background.

    The background is every pixel at or below :data:`BACKGROUND_LEVEL` that connects to the image's
    border through such pixels: what the preprocessing maps to −1 outside the head. Dark places
    enclosed by tissue (ventricles, a dark lesion) are tissue. For the margin the image's edge counts
    as background too: a piece of tissue cut by the crop is not judged next to the cut.
    """
    dark = x.float().mean(1, keepdim=True) <= BACKGROUND_LEVEL
    outside = torch.zeros_like(dark)
    for edge in ((Ellipsis, 0, slice(None)), (Ellipsis, -1, slice(None)), (Ellipsis, slice(None), 0),
                 (Ellipsis, slice(None), -1)):
        outside[edge] = dark[edge]
    for _ in range(dark.shape[-2] * dark.shape[-1]):           # flood the dark pixels in from the border
        grown = nn.functional.max_pool2d(outside.float(), 3, stride=1, padding=1).bool() & dark
        if torch.equal(grown, outside):
            break
        outside = grown
    tissue = (~outside).float()
    if margin == 0:
        return tissue
    padded = nn.functional.pad(tissue, (margin,) * 4, value=0.0)
    return -nn.functional.max_pool2d(-padded, 2 * margin + 1, stride=1)


def map_score(x: Tensor, maps: Tensor, fraction: float, margin: int = 0) -> Tensor:
    """``image_score="map"``: per image, the mean of the highest ``fraction`` of the map's pixels within
    :func:`tissue_mask` ``(x, margin)`` (``margin=0``: of the whole map). An image with fewer such
    pixels than that fraction of the image (all its tissue near the background) is scored on its
    whole map, so it is never scored 0 by construction."""
    if _check_margin(margin) == 0:
        return top_fraction_mean(maps, fraction)
    mask = tissue_mask(x, margin)
    k = max(1, int(round(_check_top(fraction) * maps[0].numel())))
    enough = mask.flatten(1).sum(1) >= k
    return torch.where(enough, top_fraction_mean(maps * mask, fraction), top_fraction_mean(maps, fraction))


def anomaly_map(x: Tensor, rec: Tensor, *, shift: int = 0, sigma: float = 0.0) -> Tensor:
    """Per-pixel anomaly map (N, 1, H, W) of images ``x`` against reconstructions ``rec`` (N, C, H, W).

    ``|x − rec|`` averaged over channels; with ``shift`` r > 0 the smallest such residual over
    every offset of ``rec`` by at most r pixels in each direction (edges replicated); then smoothed
    by a Gaussian of ``sigma`` pixels. ``shift=0, sigma=0`` is the papers' raw residual.
    """
    h, w = rec.shape[-2:]
    shift, sigma = _check_shift(shift, min(h, w)), _check_sigma(sigma)
    if shift == 0:
        residual = (x - rec).abs().mean(1, keepdim=True)
    else:
        padded = nn.functional.pad(rec, (shift, shift, shift, shift), mode="replicate")
        residual = None
        for dy in range(2 * shift + 1):
            for dx in range(2 * shift + 1):
                r = (x - padded[..., dy:dy + h, dx:dx + w]).abs().mean(1, keepdim=True)
                residual = r if residual is None else torch.minimum(residual, r)
    return gaussian_blur(residual.float(), sigma)


def top_fraction_mean(maps: Tensor, fraction: float) -> Tensor:
    """Per-image mean of the highest ``fraction`` of each map's pixels (at least one pixel)."""
    flat = maps.flatten(1)
    k = max(1, int(round(_check_top(fraction) * flat.shape[1])))
    return flat.topk(k, dim=1).values.mean(1)


def _stages(image_size: int) -> int:
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(math.log2(image_size)) - 2          # stride-2 stages between 4×4 and the image


class Generator(nn.Module):
    """DCGAN generator: z → 4×4 × (width·2^(k−1)) → … → image (tanh)."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, width: int):
        super().__init__()
        k = _stages(image_size)
        widths = [width * 2 ** i for i in reversed(range(k))]          # e.g. 512, 256, 128, 64
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class Trunk(nn.Module):
    """DCGAN discriminator trunk without normalisation (WGAN-GP): image → 4×4 feature map, flattened."""

    def __init__(self, image_size: int, channels: int, width: int):
        super().__init__()
        k = _stages(image_size)
        widths = [channels] + [width * 2 ** i for i in range(k)]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers)
        self.dim = widths[-1] * 16

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1)


class Critic(nn.Module):
    """WGAN critic: trunk features ``f(x)`` (the paper's intermediate layer) → one linear score."""

    def __init__(self, image_size: int, channels: int, width: int):
        super().__init__()
        self.trunk = Trunk(image_size, channels, width)
        self.out = nn.Linear(self.trunk.dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.trunk(x)).squeeze(1)


class Encoder(nn.Module):
    """f-AnoGAN encoder: the critic's architecture (own weights) → linear → z (tanh, as the authors')."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, width: int, tanh: bool = True):
        super().__init__()
        self.trunk = Trunk(image_size, channels, width)
        self.out = nn.Linear(self.trunk.dim, latent_dim)
        self.tanh = tanh

    def forward(self, x: Tensor) -> Tensor:
        z = self.out(self.trunk(x))
        return torch.tanh(z) if self.tanh else z


class AnoGAN(AdversarialModel):
    """A GAN of normal images with an encoder, for AnoGAN and f-AnoGAN scoring.

    Args:
        image_size:   square input size (power of two; 64 in the papers).
        channels:     1 (greyscale) or 3 (RGB).
        latent_dim:   size of z (128, f-AnoGAN).
        width:        base channel width of all three networks (64, DCGAN).
        tanh_encoder: squash the encoder output with tanh (the authors' encoder).
        map_sigma:    default Gaussian smoothing (pixels) of the anomaly maps :meth:`score` returns;
                      0 keeps the raw ``|x − G(z)|``.
        map_shift:    default shift tolerance (pixels) of the maps; 0 keeps the raw residual.
        map_margin:   default margin (pixels) of tissue next to the background that ``image_score="map"``
                      leaves out (:func:`map_score`); 0 judges every pixel.
        map_views:    default views of f-AnoGAN's map (:data:`MAP_VIEWS`, :meth:`view_maps`): ``"one"``
                      (the image, the papers), ``"flip"`` or ``"flip-shift"``.
        image_score:  ``"loss"`` (the method's loss, the papers) or ``"map"`` (mean of the map's
                      highest ``map_top`` fraction of pixels, after shift and smoothing).
        map_top:      the fraction of pixels ``image_score="map"`` averages (default 0.01).
        encoder_width: base channel width of the encoder alone (default ``width``, as the papers).
        search_starts: default number of random latents the ``"search"`` method draws per image
                      before it searches; it starts from the one with the lowest search loss
                      (1: a single draw, the paper).
        search_restarts: default number of whole ``"search"`` runs per image, each from its own
                      start; the one ending with the lowest search loss is kept (1: one search, the paper).
        search_lr:    default Adam step of the latent search (``"search"``, ``"izif+search"``).
        preprocess:   how files are read for this model (:func:`~multigan.anomaly.read_images`):
                      ``"crop"`` (foreground crop + tissue normalisation,
                      :mod:`multigan.anomaly.preprocess`) or ``"none"`` (whole image, padded).

    Training defaults (:meth:`trainer_defaults`, f-AnoGAN): WGAN-GP with λ 10, 5 critic steps per G
    step, Adam lr 1e-4, β (0, 0.9), batch 64. The encoder is trained afterwards with G and D frozen
    (:func:`multigan.anomaly.recipe.train_encoder`).
    """

    modality = "anomaly"
    config_limits = {"image_size": (8, 1024), "channels": (1, 3), "latent_dim": (1, 4096), "width": (1, 1024),
                     "encoder_width": (1, 1024), "search_starts": (1, 1_000_000), "search_restarts": (1, 1000)}
    #: post-processing only: a training run can be resumed with other values (e.g. to export)
    inference_options = ("map_sigma", "map_shift", "map_margin", "image_score", "map_top", "search_starts",
                         "search_lr", "search_restarts", "preprocess", "map_views")
    #: ``--init-from`` may name a model of a half (quarter, …) the image size and twice (four times, …)
    #: the width: :meth:`load_grown_weights`
    growth_options = ("image_size", "width", "encoder_width")

    def __init__(self, image_size: int = 64, channels: int = 1, latent_dim: int = 128, width: int = 64,
                 tanh_encoder: bool = True, map_sigma: float = 0.0, encoder_width: Optional[int] = None,
                 map_shift: int = 0, image_score: str = "loss", map_top: float = 0.01, search_starts: int = 1,
                 search_lr: float = 0.02, search_restarts: int = 1, preprocess: str = "none", map_margin: int = 0,
                 map_views: str = "one"):
        super().__init__()
        from .preprocess import PREPROCESSING

        if preprocess not in PREPROCESSING:
            raise ValueError(f"preprocess must be one of {PREPROCESSING}, got {preprocess!r}")
        self.preprocess = preprocess
        #: the training images' intensity profile (:func:`~multigan.anomaly.preprocess.domain_reference`),
        #: kept in ``domain.json`` beside the weights; None: images are not checked against it
        self.domain: Optional[dict[str, Any]] = None
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels}")
        if encoder_width is not None and (isinstance(encoder_width, bool) or not isinstance(encoder_width, int)
                                          or encoder_width < 1):
            raise ValueError(f"encoder_width must be a positive int or None, got {encoder_width!r}")
        self.map_sigma = _check_sigma(map_sigma)
        self.map_shift = _check_shift(map_shift, int(image_size))
        self.map_margin = _check_margin(map_margin, int(image_size))
        self.map_views = _check_views(map_views)
        self.image_score, self.map_top = _check_image_score(image_score), _check_top(map_top)
        self.search_starts, self.search_lr = _check_starts(search_starts), _check_lr(search_lr)
        self.search_restarts = _check_restarts(search_restarts)
        self.image_size, self.channels, self.latent_dim = int(image_size), int(channels), int(latent_dim)
        self.generator = Generator(self.latent_dim, self.image_size, self.channels, width)
        self.discriminator = Critic(self.image_size, self.channels, width)
        self.encoder = Encoder(self.latent_dim, self.image_size, self.channels, encoder_width or width, tanh_encoder)
        # calibrated decision thresholds per method (nan = not calibrated) and the Γ used for "search"
        self.register_buffer("thresholds", torch.full((len(METHODS),), float("nan")))
        self.register_buffer("calibration_iterations", torch.zeros((), dtype=torch.long))

    def load_grown_weights(self, file: Any, config: dict[str, Any], *,
                           map_location: str | torch.device = "cpu") -> list[str]:
        """Start this model from a smaller one: image side s/2^j, width w·2^j (``config``, its weights in
        ``file``), e.g. a 128×128 model of width 16 from the shipped 64×64 model of width 32.

        With those sizes the smaller model's layers are this one's deeper layers, shape for shape:
        its generator's stages are this generator's first stages, its critic's and encoder's stages
        after the first are their last ones, and the linear heads fit whole. Those are loaded; what
        faces the image is new (the generator's last j stages and output convolution, each trunk's
        first j + 1 convolutions) and keeps its initialisation, as does everything of the scoring
        (thresholds are calibrated anew). Progressive growing (Karras et al. 2018) without the fade-in.
        Returns the names of the tensors left as initialised.

        Example:
            >>> small, big = AnoGAN(image_size=16, width=8), AnoGAN(image_size=32, width=4)
            >>> from safetensors.torch import save_file
            >>> import tempfile, os
            >>> f = os.path.join(tempfile.mkdtemp(), "small.safetensors")
            >>> save_file(small.state_dict(), f)
            >>> fresh = big.load_grown_weights(f, small.config)
            >>> torch.equal(big.discriminator.out.weight, small.discriminator.out.weight)
            True
        """
        from safetensors.torch import load_file

        size, width = int(config.get("image_size", 64)), int(config.get("width", 64))
        own_width = int(self.config.get("width", 64))
        enc, own_enc = config.get("encoder_width") or width, self.config.get("encoder_width") or own_width
        j = int(round(math.log2(self.image_size / size))) if size > 0 else 0
        if j < 1 or size * 2 ** j != self.image_size or width != own_width * 2 ** j or enc != own_enc * 2 ** j:
            raise ValueError(f"cannot grow a {self.image_size}×{self.image_size} model of width {own_width} "
                             f"(encoder {own_enc}) from a {size}×{size} one of width {width} (encoder {enc}): "
                             f"the image side must grow by 2^j and the widths shrink by the same 2^j")
        k = _stages(size)

        def target(key: str) -> Optional[str]:
            parts = key.split(".")
            if parts[0] == "generator":                       # generator.net.<i>.<param>: stages first
                return key if int(parts[2]) < 3 * k else None
            if parts[0] in ("discriminator", "encoder") and parts[1] == "trunk":
                i = int(parts[3]) // 2                           # trunk.net.<2i>: conv i
                return ".".join(parts[:3] + [str(2 * (i + j))] + parts[4:]) if i >= 1 else None
            if parts[0] in ("discriminator", "encoder") and parts[1] == "out":
                return key
            return None                                          # thresholds: calibrated anew

        own = self.state_dict()
        loaded = {}
        for key, value in load_file(str(file), device=str(map_location)).items():
            new = target(key)
            if new is None:
                continue
            if new not in own or own[new].shape != value.shape:
                raise ValueError(f"{file}: {key} does not fit {new} of the grown model")
            loaded[new] = value.to(own[new].dtype)
        self.load_state_dict(loaded, strict=False)
        return sorted(set(own) - set(loaded))

    def set_domain(self, images: Tensor) -> dict[str, Any]:
        """Record the training images' intensity profile; :meth:`score` then flags images unlike them."""
        from .preprocess import domain_reference

        self.domain = domain_reference(images)
        return self.domain

    def save_pretrained(self, path: Any, **kwargs: Any) -> Path:
        """:meth:`ModelMixin.save_pretrained`, plus ``domain.json`` when the training profile is known."""
        if self.domain is not None:
            kwargs["extra_files"] = {**(kwargs.get("extra_files") or {}), DOMAIN_FILE: json.dumps(self.domain) + "\n"}
        return super().save_pretrained(path, **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_path: Any, **kwargs: Any) -> AnoGAN:
        """:meth:`ModelMixin.from_pretrained`, plus the training profile from ``domain.json`` if present."""
        model = super().from_pretrained(name_or_path, **kwargs)
        try:
            file = cls._resolve_pretrained(name_or_path) / DOMAIN_FILE
        except FileNotFoundError:                     # a training checkpoint: no profile
            return model
        if file.is_file():
            domain = json.loads(file.read_text(encoding="utf-8"))
            if not (isinstance(domain, dict) and {"mean", "spread", "limit"} <= domain.keys()):
                raise ValueError(f"{file}: not a domain profile (needs mean, spread and limit)")
            model.domain = domain
        return model

    @staticmethod
    def trainer_defaults() -> dict[str, Any]:
        """TrainerConfig fields of f-AnoGAN's GAN stage."""
        return {"objective": "wgan-gp", "objective_options": {"gp_weight": 10.0}, "n_critic": 5,
                "lr_g": 1e-4, "lr_d": 1e-4, "betas_g": (0.0, 0.9), "betas_d": (0.0, 0.9), "batch_size": 64}

    @torch.no_grad()
    def recalibrate_generator(self, *, batch_size: int = 64, seed: int = 0,
                              device: Optional[torch.device | str] = None) -> None:
        """Re-estimate G's BatchNorm statistics on 20 batches of ``batch_size`` latents drawn from a
        generator seeded by ``seed`` (what training does to the averaged generator before the encoder)."""
        from multigan.core.ema import recalibrate_batchnorm

        noise = torch.Generator().manual_seed(int(seed))
        device = device if device is not None else next(self.generator.parameters()).device
        recalibrate_batchnorm(self.generator,
                              lambda g: g(self.sample_latent(batch_size, generator=noise, device=device)))

    def prepare_averaged_generator(self) -> None:
        """A checkpoint's averaged generator gets its BatchNorm statistics re-estimated (seed 0)."""
        self.recalibrate_generator()

    # -- pieces ------------------------------------------------------------------------------------

    def check_images(self, images: Any) -> Tensor:
        """Validate a (N, C, H, W) batch in [-1, 1] against this model; returns a float tensor."""
        if not isinstance(images, Tensor):
            raise TypeError(f"images must be a torch.Tensor (N, C, H, W) in [-1, 1], got {type(images).__name__}; "
                            "read files with multigan.anomaly.read_images")
        if images.dim() != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        n, c, h, w = images.shape
        if c != self.channels:
            kind = {1: "greyscale", 3: "RGB"}
            raise ValueError(f"this model was trained on {kind.get(self.channels, c)} images ({self.channels} "
                             f"channel{'s' if self.channels > 1 else ''}), got {c} channels; read them with "
                             f"read_images(..., channels={self.channels})")
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(f"this model takes {self.image_size}×{self.image_size} images, got {h}×{w}; "
                             f"read them with read_images(..., size={self.image_size})")
        images = images.float()
        if not torch.isfinite(images).all() or images.min() < -1.0001 or images.max() > 1.0001:
            raise ValueError("images must be finite values in [-1, 1] (read_images normalises files that way)")
        return images

    def features(self, x: Tensor) -> Tensor:
        """``f(x)``: the critic's last hidden layer, flattened (the paper's feature residual)."""
        return self.discriminator.trunk(x)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def izif_loss(self, x: Tensor, z: Tensor, kappa: float = 1.0) -> tuple[Tensor, Tensor]:
        """Per-image f-AnoGAN loss ``MSE(x, G(z)) + κ·MSE(f(x), f(G(z)))`` and the reconstruction."""
        rec = self.generator(z)
        loss = (x - rec).pow(2).flatten(1).mean(1) + kappa * (self.features(x) - self.features(rec)).pow(2).mean(1)
        return loss, rec

    def search_loss(self, x: Tensor, z: Tensor, lam: float = 0.1, fx: Optional[Tensor] = None
                    ) -> tuple[Tensor, Tensor]:
        """Per-image AnoGAN loss ``(1−λ)·Σ|x − G(z)| + λ·Σ|f(x) − f(G(z))|`` and the reconstruction."""
        rec = self.generator(z)
        fx = self.features(x) if fx is None else fx
        loss = (1 - lam) * (x - rec).abs().flatten(1).sum(1) + lam * (fx - self.features(rec)).abs().sum(1)
        return loss, rec

    # -- scoring -----------------------------------------------------------------------------------

    @torch.no_grad()
    def best_start(self, x: Tensor, starts: int, generator: torch.Generator, lam: float = 0.1) -> Tensor:
        """AnoGAN's start z for each image of ``x``: of ``starts`` draws from N(0, I) (``generator``),
        the one with the lowest search loss. ``starts=1`` is the paper's single draw."""
        starts = _check_starts(starts)
        best = torch.randn(len(x), self.latent_dim, generator=generator).to(x.device)
        if starts > 1:
            fx = self.features(x)
            best_loss = self.search_loss(x, best, lam, fx)[0]
            for _ in range(starts - 1):
                z = torch.randn(len(x), self.latent_dim, generator=generator).to(x.device)
                best_loss, best = keep_lower_loss(self.search_loss(x, z, lam, fx)[0], z, best_loss, best)
        return best

    def _search(self, x: Tensor, z0: Tensor, iterations: int, lam: float, lr: float,
                on_step: Optional[Callable[[int, Tensor], None]] = None) -> tuple[Tensor, Tensor]:
        """Γ Adam steps on z for a whole batch at once (each image's z is independent).

        ``on_step(step, z)``, if given, sees z after every step (1 … Γ), e.g. to score the search
        part-way (``benchmarks/studies/anomaly_search_options.py``).
        """
        z = z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
        with torch.no_grad():
            fx = self.features(x)
        for step in range(1, iterations + 1):
            opt.zero_grad(set_to_none=True)
            loss, _ = self.search_loss(x, z, lam, fx)
            loss.sum().backward()
            opt.step()
            if on_step is not None:
                on_step(step, z.detach())
        with torch.no_grad():
            loss, rec = self.search_loss(x, z, lam, fx)
        return loss, rec

    def random_search(self, x: Tensor, iterations: int, lam: float, lr: float, starts: int, restarts: int,
                      generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """AnoGAN's search of a batch from random latents: ``restarts`` whole Γ-step searches, each from
        the best of ``starts`` draws (:meth:`best_start`, in turn from ``generator``); per image, the
        search with the lowest final loss is kept. Returns that loss and reconstruction."""
        best = None
        for _ in range(_check_restarts(restarts)):
            z0 = self.best_start(x, starts, generator, lam)
            with torch.enable_grad():
                run = self._search(x, z0, iterations, lam, lr)
            best = run if best is None else keep_lower_loss(*run, *best)
        return best

    @torch.no_grad()
    def view_reconstructions(self, x: Tensor, views: str, *, kappa: float = 1.0) -> tuple[Tensor, list[Tensor]]:
        """f-AnoGAN over ``views`` (:func:`views_of`): the image's own loss, and every view's reconstruction
        moved back onto ``x``, in :func:`views_of`'s order (the first is the image's own)."""
        loss, recs = None, []
        for flip, dy, dx in views_of(views):
            view = move(x.flip(-1) if flip else x, dy, dx)
            view_loss, view_rec = self.izif_loss(view, self.encode(view), kappa)
            back = move(view_rec, -dy, -dx)
            recs.append(back.flip(-1) if flip else back)
            loss = view_loss if loss is None else loss
        return loss, recs

    def view_maps(self, x: Tensor, views: str, *, kappa: float = 1.0, shift: int = 0, sigma: float = 0.0
                  ) -> tuple[Tensor, Tensor, Tensor]:
        """f-AnoGAN over ``views``: the image's own loss and reconstruction, and the per-pixel minimum of
        the :func:`anomaly_map` of every view's reconstruction (:meth:`view_reconstructions`).

        Example:
            >>> det = AnoGAN(image_size=16, width=4)
            >>> loss, rec, amap = det.view_maps(torch.zeros(2, 1, 16, 16), "flip")
            >>> tuple(amap.shape), bool((amap <= anomaly_map(torch.zeros(2, 1, 16, 16), rec)).all())
            ((2, 1, 16, 16), True)
        """
        loss, recs = self.view_reconstructions(x, views, kappa=kappa)
        amap = torch.stack([anomaly_map(x, rec, shift=shift, sigma=sigma) for rec in recs]).amin(0)
        return loss, recs[0], amap

    def score(self, images: Any, *, method: str = "izif", iterations: int = 500, lam: float = 0.1,
              kappa: float = 1.0, lr: Optional[float] = None, batch_size: int = 64, seed: int = 0,
              threshold: Optional[float] = None, map_sigma: Optional[float] = None, map_shift: Optional[int] = None,
              image_score: Optional[str] = None, search_starts: Optional[int] = None,
              search_restarts: Optional[int] = None, map_margin: Optional[int] = None,
              map_views: Optional[str] = None, progress: bool = False):
        """Anomaly scores, maps and (with a threshold) labels for images (N, C, H, W) in [-1, 1].

        ``images`` may also be an :class:`~multigan.anomaly.data.ImageSet` (names, truth, masks and
        read failures are carried into the result).

        Args:
            method:     ``"izif"`` (f-AnoGAN, one pass per view), ``"search"`` (AnoGAN, Γ = ``iterations``
                        steps from z ~ N(0, I) seeded by ``seed``, the best of ``search_starts``
                        draws, :meth:`best_start`; the best of ``search_restarts`` such searches,
                        :meth:`random_search`) or ``"izif+search"``.
            lam:        AnoGAN's λ; ``kappa``: f-AnoGAN's κ; ``lr``: Adam step of the z search
                        (default the model's ``search_lr``).
            threshold:  decision threshold; default the calibrated one for ``method`` (if any; not
                        when the call's scoring options change the scores it was calibrated on).
            map_sigma, map_shift, map_margin, map_views, image_score, search_starts, search_restarts:
                        override the model's options for this call (``map_views`` applies to ``"izif"``).

        Returns:
            :class:`~multigan.anomaly.pipeline.AnomalyResult`.
        """
        from .pipeline import AnomalyResult

        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        names, failures, truth, masks, details = None, [], None, None, None
        if hasattr(images, "images") and hasattr(images, "names"):            # an ImageSet
            details = [{"crop": " ".join(map(str, p["box"])), "foreground_share": p["foreground_share"]}
                       for p in images.preparation] if getattr(images, "preparation", None) else None
            names, failures = list(images.names), list(getattr(images, "failures", []))
            made = getattr(images, "preprocess", self.preprocess)
            if made != self.preprocess:
                warnings.warn(f"these images were read with preprocess={made!r} but this model was trained on "
                              f"preprocess={self.preprocess!r} images; read them with read_images(..., "
                              f"preprocess={self.preprocess!r}) for scores that mean something", stacklevel=2)
            truth, masks = getattr(images, "labels", None), getattr(images, "masks", None)
            images = images.images
        x_all = self.check_images(images)
        n = len(x_all)
        names = names or [f"image_{i:05d}" for i in range(n)]
        if method != "izif" and int(iterations) < 1:
            raise ValueError(f"iterations must be >= 1 for {method!r}, got {iterations}")
        map_sigma = self.map_sigma if map_sigma is None else _check_sigma(map_sigma)
        map_shift = self.map_shift if map_shift is None else _check_shift(map_shift)
        map_margin = self.map_margin if map_margin is None else _check_margin(map_margin, self.image_size)
        map_views = self.map_views if map_views is None else _check_views(map_views)
        image_score = self.image_score if image_score is None else _check_image_score(image_score)
        search_starts = self.search_starts if search_starts is None else _check_starts(search_starts)
        search_restarts = self.search_restarts if search_restarts is None else _check_restarts(search_restarts)
        lr = self.search_lr if lr is None else _check_lr(lr)
        # the stored thresholds hold for scores computed the way the model computes them
        same_scores = image_score == self.image_score and (
            image_score == "loss" or (map_sigma, map_shift, map_margin) == (
                self.map_sigma, self.map_shift, self.map_margin)) and (
            method != "search" or (search_starts, search_restarts) == (self.search_starts, self.search_restarts)
        ) and (method == "izif" or lr == self.search_lr) and (
            method != "izif" or image_score == "loss" or map_views == self.map_views)
        device = next(self.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        was_training = self.training
        self.eval()
        self.requires_grad_(False)
        scores, maps, recs = [], [], []
        starts = range(0, n, batch_size)
        if progress:
            from tqdm.auto import tqdm
            starts = tqdm(starts, desc=f"scoring ({method})", unit="batch")
        try:
            for i in starts:
                x = x_all[i:i + batch_size].to(device)
                amap = None
                if method == "izif":
                    loss, rec, amap = self.view_maps(x, map_views, kappa=kappa, shift=map_shift, sigma=map_sigma)
                elif method == "izif+search":
                    with torch.no_grad():
                        z0 = self.encode(x)
                    with torch.enable_grad():
                        loss, rec = self._search(x, z0, int(iterations), lam, lr)
                else:
                    loss, rec = self.random_search(x, int(iterations), lam, lr, search_starts, search_restarts, gen)
                if amap is None:
                    amap = anomaly_map(x, rec, shift=map_shift, sigma=map_sigma)
                if image_score == "map":
                    loss = map_score(x, amap, self.map_top, map_margin)
                scores.append(loss.float().cpu())
                maps.append(amap.cpu())
                recs.append(rec.float().cpu())
        finally:
            self.requires_grad_(True)
            self.train(was_training)
        if threshold is None:
            stored = float(self.thresholds[METHODS.index(method)])
            threshold = None if math.isnan(stored) else stored
            if threshold is not None and not same_scores:
                warnings.warn(f"the calibrated {method!r} threshold belongs to the model's image scores "
                              f"(image_score={self.image_score!r}, map_sigma={self.map_sigma:g}, map_shift="
                              f"{self.map_shift}, map_margin={self.map_margin}, map_views={self.map_views!r}, "
                              f"search_starts={self.search_starts}, "
                              f"search_restarts={self.search_restarts}, search_lr={self.search_lr:g}); "
                              "these scores differ, so no threshold is applied (pass threshold=)", stacklevel=2)
                threshold = None
            if threshold is not None and method != "izif" and int(iterations) != int(self.calibration_iterations):
                warnings.warn(f"the {method!r} threshold was calibrated with {int(self.calibration_iterations)} "
                              f"iterations, scoring used {iterations}; scores may not be comparable", stacklevel=2)
        details = self._check_domain(x_all, names, details)
        return AnomalyResult(scores=torch.cat(scores), maps=torch.cat(maps), images=x_all.cpu(), names=names,
                             threshold=threshold, method=method, reconstructions=torch.cat(recs),
                             failures=failures, truth=truth, masks=masks, details=details,
                             map_threshold=threshold if image_score == "map" else None,
                             map_margin=map_margin if image_score == "map" else 0)

    def _check_domain(self, images: Tensor, names: list[str], details: Optional[list[dict]]) -> Optional[list[dict]]:
        """Per-image details with the distance from the training profile; one warning for the unlike ones."""
        if self.domain is None:
            return details
        from .preprocess import domain_distance

        distance = domain_distance(images, self.domain).tolist()
        limit = float(self.domain["limit"])
        details = details or [{} for _ in names]
        for row, d in zip(details, distance):
            row["domain_distance"], row["unlike_training"] = round(d, 3), d > limit
        unlike = [n for n, d in zip(names, distance) if d > limit]
        if unlike:
            shown = ", ".join(unlike[:3]) + (" …" if len(unlike) > 3 else "")
            warnings.warn(f"{len(unlike)} of {len(names)} images look unlike the training images (intensity "
                          f"profile beyond {limit:.1f} training spreads: {shown}); their scores may mean little. "
                          f"Check that each is a slice of the kind the model was trained on", stacklevel=3)
        return details

    def calibrate(self, normal_images: Any, *, fpr: float = 0.05, method: str = "izif", iterations: int = 500,
                  rule: str = "fpr", labels: Any = None, **score_kwargs: Any) -> float:
        """Set ``method``'s decision threshold from held-out images and store it in the model.

        ``rule="fpr"`` (default): the threshold flags a fraction ``fpr`` of ``normal_images``, which
        must all be normal. ``rule="f1"``: ``normal_images`` is a *labelled validation* set (a
        labelled :class:`~multigan.anomaly.data.ImageSet`, or images with ``labels``: 0 normal,
        1 anomalous, both present) and the threshold maximises F1 on it
        (:func:`~multigan.anomaly.metrics.best_f1_threshold`). Scores use the model's own options
        (``image_score``, ``map_sigma``, ``map_shift``, ``map_margin``). Saved by ``save_pretrained``;
        returns the threshold.
        """
        from .metrics import best_f1_threshold, threshold_at_fpr

        overridden = sorted((set(self.inference_options) | {"lr"}) & set(score_kwargs))   # lr: search_lr
        if overridden:
            raise ValueError(f"calibrate scores with the model's own {', '.join(overridden)}; build the model "
                             "with the options to calibrate for")
        if rule not in CALIBRATION_RULES:
            raise ValueError(f"unknown calibration rule {rule!r}; choose from {CALIBRATION_RULES}")
        if rule == "fpr" and not 0 < fpr < 1:
            raise ValueError(f"fpr must be in (0, 1), got {fpr}")
        if rule == "f1":
            labels = getattr(normal_images, "labels", None) if labels is None else labels
            if labels is None:
                raise ValueError("rule='f1' needs labelled images: a labelled ImageSet (normal/ and abnormal/) "
                                 "or labels=")
            labels = torch.as_tensor(labels).flatten().long()
            n_images = len(getattr(normal_images, "images", normal_images))
            if len(labels) != n_images or not set(labels.tolist()) <= {0, 1}:
                raise ValueError(f"labels must be {n_images} values of 0 (normal) or 1 (anomalous), got "
                                 f"{len(labels)} with values {sorted(set(labels.tolist()))[:5]}")
            if labels.min() == labels.max():
                raise ValueError(f"rule='f1' needs normal and anomalous images; all {len(labels)} are labelled "
                                 f"{int(labels[0])}")
        with warnings.catch_warnings():          # the threshold being replaced may be for another Γ
            warnings.filterwarnings("ignore", message="the .* threshold was calibrated with")
            res = self.score(normal_images, method=method, iterations=iterations, **score_kwargs)
        t = float(threshold_at_fpr(res.scores, fpr) if rule == "fpr" else best_f1_threshold(res.scores, labels)[0])
        self.thresholds[METHODS.index(method)] = t
        if method != "izif":
            self.calibration_iterations.fill_(int(iterations))
        return t
