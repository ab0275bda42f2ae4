"""Adapter for annahung31/MidiNet-by-pytorch (``model.py`` with ``generator`` and ``discriminator``).

One iteration as its ``main.py`` trains: a D update on the real batch (targets 0.9) and a fake
batch, then two G updates scoring the same fakes (non-saturating loss, feature matching 0.1 on
D's first layer, mean matching 0.01), Adam 2e-4, β (0.5, 0.999), batch 72. Data are random
binary piano rolls (72, 1, 16, 128) with their previous bars and one-hot 13-d chords: the
arithmetic does not depend on the values.

Two changes make it run on a CPU with today's PyTorch, keeping its arithmetic: its ``ops.py``
builds a fresh ``BatchNorm`` on CUDA in every call (identity affine, batch statistics), done
here as ``F.batch_norm`` on the CPU; and the second G update draws the fakes again, since the
retained graph of the first holds weights Adam has since changed in place (PyTorch refuses to
differentiate through them) — as multigan's MidiNet does for its second G step.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch
from torch.nn import functional as F

OURS = "music-bach"
BATCH = 72
PITCHES = 128


def build(reference: Path, batch_size: int):
    sys.modules.setdefault("ipdb", types.ModuleType("ipdb"))          # imported, never used, by its model.py
    sys.path.insert(0, str(reference))
    try:
        import model as ref                                          # the reference's model.py
    finally:
        sys.path.remove(str(reference))
    ref.batch_norm_1d = ref.batch_norm_2d = lambda x: F.batch_norm(x, None, None, training=True, eps=1e-5)
    G, D = ref.generator(PITCHES).train(), ref.discriminator(PITCHES).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(0)
    bars = (torch.rand(batch_size, 1, 16, PITCHES, generator=gen) > 0.97).float()
    prev = (torch.rand(batch_size, 1, 16, PITCHES, generator=gen) > 0.97).float()
    chords = F.one_hot(torch.randint(0, 13, (batch_size,), generator=gen), 13).float()

    def bce(logits, target):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def step() -> None:
        opt_d.zero_grad()
        _, real_logits, real_fm = D(bars, chords, batch_size, PITCHES)
        fake = G(torch.randn(batch_size, 100), prev, chords, batch_size, PITCHES)
        _, fake_logits, _ = D(fake.detach(), chords, batch_size, PITCHES)
        (bce(real_logits, 0.9) + bce(fake_logits, 0.0)).backward()
        opt_d.step()
        real_fm = real_fm.detach()
        for again in (False, True):
            opt_g.zero_grad()
            if again:
                fake = G(torch.randn(batch_size, 100), prev, chords, batch_size, PITCHES)
            _, logits, fm = D(fake, chords, batch_size, PITCHES)
            loss = bce(logits, 1.0) + 0.1 * (fm.mean(0) - real_fm.mean(0)).pow(2).sum() / 2 \
                + 0.01 * (fake.mean(0) - bars.mean(0)).pow(2).sum() / 2
            loss.backward()
            opt_g.step()
    return step, {"G": G, "D": D}
