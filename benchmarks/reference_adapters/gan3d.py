"""Adapter for rimchang/3DGAN-Pytorch at 64³ (``3D_GAN/model.py`` with ``_G`` and ``_D``).

Pass the repository folder (or its ``3D_GAN/`` folder). One iteration as its ``train.py`` loop
does it, batch 8: D scores the real batch, G makes fakes from z ~ N(0, 0.33²) (its ``generateZ``,
``z_dis="norm"``) and D scores them, loss BCE against soft labels (real ~ U(0.7, 1.2), fake ~
U(0, 0.3)); D's accuracy on both batches is computed and the D update follows (the fakes are
not detached, so its backward also runs through G, whose gradients are zeroed later); then the
G update draws new z and new fakes, D scores them (its parameters not frozen, so their
gradients are computed too), BCE against the soft real labels, Adam step. Its arguments are
``main.py``'s defaults with ``cube_len`` 64: z 200, no conv biases, LeakyReLU 0.2, Adam lr_G
0.0025, lr_D 0.001, β (0.5, 0.5). Data are random binary voxel grids (10 % occupied): the
arithmetic does not depend on the values.

Changes to run on a CPU with today's PyTorch, keeping its arithmetic: D's (B, 1, 1, 1, 1)
output is viewed as (B,) before the loss (PyTorch 0.2 matched the (B,) labels by element
count; today's refuses the shapes); today's ``nn.BCELoss`` also refuses targets above 1, which
its soft real labels reach, so the loss is written out as BCELoss computes it, ``−mean(t log p
+ (1 − t) log(1 − p))`` with the logs clamped at −100; z is drawn here as ``generateZ`` draws
it (its ``utils.py`` imports matplotlib, scikit-image and scipy, for data loading and plots);
and the D update is made every iteration, where the loop makes it only while D's accuracy is
≤ 0.8 (``d_thresh``): the gate depends on how training has gone, not on the architecture, and
a timing of one full iteration needs both updates (the accuracy and its host read are still
computed). The learning-rate schedule (``MultiStepLR``, per epoch) does not change an
iteration's work.

multigan's side is ``voxel64-paper`` (GAN3D ``paper-64``) at this batch. Differences: its D has
no BatchNorm on the first layer (the DCGAN rule; the reference has one: 128 parameters), gives
logits (BCE with logits; the reference ends in a sigmoid), and its last conv is 4³ stride 1
where the reference's is 4³ stride 2 on the same 4³ map; its z is U(0, 1); ``voxel64-paper``
runs the TrainerConfig defaults (lr 2e-4, β (0.5, 0.999), no accuracy gate, new fakes for the
G update, D frozen during it); ``--option d_accuracy_gate=0.8`` would gate ours as the paper does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import torch

OURS = "voxel64-paper"
BATCH = 8
CUBE = 64

#: main.py's defaults, cube_len 64 (the 64³ model its model.py comments describe)
ARGS = {"cube_len": CUBE, "z_size": 200, "bias": False, "leak_value": 0.2, "g_lr": 0.0025, "d_lr": 0.001,
        "beta": (0.5, 0.5), "d_thresh": 0.8, "soft_label": True, "z_dis": "norm"}


def _load_model(reference: Path):
    folder = reference / "3D_GAN" if (reference / "3D_GAN" / "model.py").is_file() else reference
    path = folder / "model.py"
    if not path.is_file():
        raise FileNotFoundError(f"no 3DGAN-Pytorch 3D_GAN/model.py under {str(reference)!r}")
    spec = importlib.util.spec_from_file_location("gan3d_reference_model", path)   # not "model": no name clash
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(reference: Path, batch_size: int):
    ref = _load_model(reference)
    args = SimpleNamespace(**ARGS, batch_size=batch_size)
    D, G = ref._D(args).train(), ref._G(args).train()
    D_solver = torch.optim.Adam(D.parameters(), lr=args.d_lr, betas=args.beta)
    G_solver = torch.optim.Adam(G.parameters(), lr=args.g_lr, betas=args.beta)

    def criterion(p, t):
        """``nn.BCELoss()`` without its check that targets lie in [0, 1] (labels reach 1.2 here)."""
        return -(t * p.log().clamp_min(-100) + (1 - t) * (1 - p).log().clamp_min(-100)).mean()
    gen = torch.Generator().manual_seed(0)
    X = (torch.rand(batch_size, CUBE, CUBE, CUBE, generator=gen) < 0.1).float()   # its dataset's (B, R, R, R)

    def generateZ():
        return torch.Tensor(args.batch_size, args.z_size).normal_(0, 0.33)

    def step() -> None:
        Z = generateZ()
        real_labels = torch.Tensor(args.batch_size).uniform_(0.7, 1.2)
        fake_labels = torch.Tensor(args.batch_size).uniform_(0, 0.3)
        # ============= Train the discriminator =============#
        d_real = D(X).view(-1)
        d_real_loss = criterion(d_real, real_labels)
        fake = G(Z)
        d_fake = D(fake).view(-1)
        d_fake_loss = criterion(d_fake, fake_labels)
        d_loss = d_real_loss + d_fake_loss
        d_real_acu = torch.ge(d_real.squeeze(), 0.5).float()
        d_fake_acu = torch.le(d_fake.squeeze(), 0.5).float()
        d_total_acu = torch.mean(torch.cat((d_real_acu, d_fake_acu), 0))
        bool(d_total_acu <= args.d_thresh)             # the gate's host read; the update is made regardless
        D.zero_grad()
        d_loss.backward()
        D_solver.step()
        # =============== Train the generator ===============#
        Z = generateZ()
        fake = G(Z)
        d_fake = D(fake).view(-1)
        g_loss = criterion(d_fake, real_labels)
        D.zero_grad()
        G.zero_grad()
        g_loss.backward()
        G_solver.step()
    return step, {"G": G, "D": D}
