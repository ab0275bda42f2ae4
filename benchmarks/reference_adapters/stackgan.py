"""Adapter for hanzhanggit/StackGAN-Pytorch, Stage-I at 64 × 64 (``code/model.py`` with ``STAGE1_G``, ``STAGE1_D``).

Pass the repository folder (or its ``code/`` folder). One iteration as its ``trainer.py``
(``GANTrainer.train``, stage 1) does it, batch 64: G draws the fakes from the text embedding
(conditioning augmentation, z ~ N(0, 1)); D update with ``miscc/utils.py``'s
``compute_discriminator_loss`` — the image trunk runs once on the real and once on the detached
fake batch, the conditional head scores real/right, real/wrong (the real features reused, the
first B−1 images against captions 2…B) and fake/right, conditioned on the detached CA mean μ,
loss ``real + (fake + wrong)/2`` (sigmoid + BCE); then the G update scores the same fakes again
(``compute_generator_loss``: trunk and head on the D step's fakes, their graph kept) plus
``KL_loss(μ, log σ²) · 2``. Adam 2e-4, β (0.5, 0.999) for both, weights as its ``weights_init``.
The config is the global ``cfg`` of ``miscc/config.py``, whose defaults are the birds Stage-I
values; they are set here anyway: Z_DIM 100, GAN.CONDITION_DIM 128, GAN.GF_DIM 128 (so 1024
channels at 4 × 4), GAN.DF_DIM 64, TEXT.DIMENSION 1024, TRAIN.COEFF.KL 2.0, lr 2e-4, batch 64.
Data are random images in [-1, 1] and N(0, 1) 1024-d embeddings: the arithmetic does not
depend on the values.

Changes to run on a CPU with today's PyTorch, keeping its arithmetic: ``cfg.CUDA`` is off (CA
noise drawn on the CPU); ``nn.parallel.data_parallel(module, inputs, gpus)`` calls, which need
a GPU, run ``module(*inputs)`` (what it does with one device); its losses were 1-element
tensors in PyTorch 0.3 and it reads them with ``.data[0]``, so its ``nn.BCELoss`` returns the
same loss viewed as shape (1,); and ``easydict`` / ``torchvision`` (used only to build the
config dict and to save image grids) are stood in for while its modules import, when absent.

multigan's side: ``text2image-stackgan`` is the ``cpu-64`` preset (Stage-I ngf 256, ndf 32), not
this architecture, so this adapter registers ``text2image-stackgan-paper`` when it is not
registered already: ``StackGAN`` with the paper's Stage-I (ngf 128·8, ndf 64, CA 128), 1024-d
embeddings like the reference's char-CNN-RNN ones, matching-aware D (cls, wrong weight ½),
StackGAN's trainer defaults (reuse_fake, channels-last). Its Stage-II is frozen and never runs
at stage 1; it is built as small as allowed (ngf 2, ndf 1, no residual blocks, 128²) because the
harness counts the whole generator and discriminator: ~0.27 M (G) and ~0.14 M (D) of the counts
printed for multigan are that unused Stage-II (mostly its CA and text projection), the Stage-I
networks being 10.30 M and 5.85 M. Stage-I D differs from the reference's by its own text
projection (Linear 1024→128, LeakyReLU) where the reference feeds D the CA mean μ, and by two
conv biases (5.85 M vs 5.72 M); ours scores the wrong pair on all B rolled captions (B−1 in the
reference), freezes D during the G update (the reference also computes D's gradients there),
and adds the KL term from a second CA pass.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import torch
from torch import nn

OURS = "text2image-stackgan-paper"
BATCH = 64
TEXT_DIM = 1024


def _register_ours() -> None:
    from multigan.bench import BENCHMARKS, BenchConfig, register_benchmark
    from multigan.text2image import StackGAN, build_model

    if OURS in BENCHMARKS:
        return

    def model():
        return build_model("stackgan", "paper", text_dim=TEXT_DIM, cls=True, interpolate=False,
                           ngf_stage2=2, ndf_stage2=1, residual_blocks=0, stage2_size=128).set_stage(1)

    def pairs():
        return torch.rand(1024, 3, 64, 64) * 2 - 1, torch.randn(1024, TEXT_DIM)

    register_benchmark(BenchConfig(OURS, model, pairs, BATCH, trainer_options=StackGAN.trainer_defaults,
                                   gpu_only=True))


_register_ours()


class _EasyDict(dict):
    """Attribute access to a dict: all ``miscc/config.py`` asks of ``easydict.EasyDict``."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value


def _stand_ins() -> dict[str, types.ModuleType]:
    stand_ins = {}
    try:
        import easydict  # noqa: F401
    except ImportError:
        stand_ins["easydict"] = types.ModuleType("easydict")
        stand_ins["easydict"].EasyDict = _EasyDict
    try:
        import torchvision.utils  # noqa: F401
    except ImportError:
        stand_ins["torchvision"] = types.ModuleType("torchvision")
        stand_ins["torchvision.utils"] = types.ModuleType("torchvision.utils")
        stand_ins["torchvision"].utils = stand_ins["torchvision.utils"]
    return stand_ins


class _OneElementBCELoss(nn.BCELoss):
    """``nn.BCELoss`` with the loss as a (1,) tensor, as PyTorch 0.3 returned it (read with ``.data[0]``)."""

    def forward(self, input, target):
        return super().forward(input, target).view(1)


def _one_device(module, inputs, gpus=None):
    """``nn.parallel.data_parallel`` on one device: ``module(*inputs)``."""
    return module(*inputs) if isinstance(inputs, tuple) else module(inputs)


def build(reference: Path, batch_size: int):
    code = reference / "code" if (reference / "code" / "model.py").is_file() else reference
    if not (code / "model.py").is_file() or not (code / "miscc" / "utils.py").is_file():
        raise FileNotFoundError(f"no StackGAN-Pytorch code/model.py and code/miscc/ under {str(reference)!r}")
    stand_ins = {k: v for k, v in _stand_ins().items() if k not in sys.modules}
    names = ("miscc", "miscc.config", "miscc.utils", "model")
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.modules.update(stand_ins)
    sys.path.insert(0, str(code))
    try:
        config = importlib.import_module("miscc.config")
        cfg = config.cfg
        cfg.CUDA = False
        cfg.Z_DIM, cfg.IMSIZE, cfg.STAGE = 100, 64, 1
        cfg.GAN.CONDITION_DIM, cfg.GAN.GF_DIM, cfg.GAN.DF_DIM = 128, 128, 64
        cfg.TEXT.DIMENSION = TEXT_DIM
        cfg.TRAIN.BATCH_SIZE, cfg.TRAIN.COEFF.KL = batch_size, 2.0
        cfg.TRAIN.GENERATOR_LR = cfg.TRAIN.DISCRIMINATOR_LR = 2e-4
        utils = importlib.import_module("miscc.utils")
        ref = importlib.import_module("model")               # the reference's model.py (reads cfg when built)
    finally:
        sys.path.remove(str(code))
        for name in names:                                   # no generic names left behind for other code
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        for name in stand_ins:
            sys.modules.pop(name, None)
    utils.nn = types.SimpleNamespace(BCELoss=_OneElementBCELoss, parallel=types.SimpleNamespace(
        data_parallel=_one_device))
    gpus = [0]

    netG, netD = ref.STAGE1_G(), ref.STAGE1_D()
    netG.apply(utils.weights_init)
    netD.apply(utils.weights_init)
    netG.train(), netD.train()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=cfg.TRAIN.DISCRIMINATOR_LR, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam([p for p in netG.parameters() if p.requires_grad], lr=cfg.TRAIN.GENERATOR_LR,
                                  betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(0)
    real_imgs = torch.rand(batch_size, 3, 64, 64, generator=gen) * 2 - 1
    txt_embedding = torch.randn(batch_size, TEXT_DIM, generator=gen)
    noise = torch.FloatTensor(batch_size, cfg.Z_DIM)
    real_labels = torch.FloatTensor(batch_size).fill_(1)
    fake_labels = torch.FloatTensor(batch_size).fill_(0)

    def step() -> None:
        noise.data.normal_(0, 1)
        _, fake_imgs, mu, logvar = _one_device(netG, (txt_embedding, noise), gpus)
        netD.zero_grad()
        errD, _, _, _ = utils.compute_discriminator_loss(netD, real_imgs, fake_imgs, real_labels, fake_labels,
                                                         mu, gpus)
        errD.backward()
        optimizerD.step()
        netG.zero_grad()
        errG = utils.compute_generator_loss(netD, fake_imgs, real_labels, mu, gpus)
        kl_loss = utils.KL_loss(mu, logvar)
        errG_total = errG + kl_loss * cfg.TRAIN.COEFF.KL
        errG_total.backward()
        optimizerG.step()
    return step, {"G": netG, "D": netD}
