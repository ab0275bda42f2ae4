"""Spectral-norm helpers and the shared blocks."""

import pytest
import torch
from torch import nn

from multigan.core.layers import apply_spectral_norm, has_spectral_norm, sn_conv2d, sn_linear


def test_spectral_norm_bounds_largest_singular_value():
    torch.manual_seed(0)
    layer = sn_linear(16, 8)
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(10.0)
    for _ in range(30):                       # power iteration converges in training mode
        layer(torch.randn(2, 16))
    sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_apply_spectral_norm_wraps_each_layer_once():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1), nn.ConvTranspose2d(4, 2, 3))
    apply_spectral_norm(net)
    apply_spectral_norm(net)                  # idempotent
    assert [has_spectral_norm(m) for m in (net[0], net[3], net[4])] == [True, True, True]
    assert len(net[0].parametrizations.weight) == 1
    assert has_spectral_norm(sn_conv2d(1, 2, 3))


def test_shared_blocks_shapes_and_behaviour():
    from multigan.core.layers import (ConditionalBatchNorm2d, ConvGRUCell, DiscriminatorResBlock,
                                      GeneratorResBlock, SelfAttention2d)
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    attn = SelfAttention2d(16)
    assert torch.equal(attn(x), x)                               # γ = 0 at init: identity
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    assert attn(x).shape == x.shape and not torch.equal(attn(x), x)
    cond = torch.randn(2, 5)
    cbn = ConditionalBatchNorm2d(16, 5)
    assert not torch.allclose(cbn(x, cond)[0], cbn(x, cond.flip(0))[0])   # the condition changes the output
    assert GeneratorResBlock(16, 8, 5)(x, cond).shape == (2, 8, 16, 16)
    assert DiscriminatorResBlock(16, 32)(x).shape == (2, 32, 4, 4)
    assert DiscriminatorResBlock(4, 8, dims=3)(torch.randn(1, 4, 4, 8, 8)).shape == (1, 8, 2, 4, 4)
    cell = ConvGRUCell(16, 12)
    h = cell(x, torch.zeros(2, 12, 8, 8))
    assert h.shape == (2, 12, 8, 8) and h.min() >= 0           # ReLU candidate from a zero state
    with pytest.raises(ValueError, match="activation"):
        ConvGRUCell(1, 1, activation="gelu")
