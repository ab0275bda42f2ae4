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


@pytest.mark.parametrize("dims", [2, 3])
def test_upsample_conv_and_conv_avg_pool_are_the_composed_layers(dims):
    """The stride-2 forms equal nearest ×2 → 3-tap conv and 3-tap conv → average pooling, in value and
    in gradient, for even and odd sizes, with and without bias."""
    from multigan.core.layers import conv_avg_pool, upsample_conv
    F = nn.functional
    conv = F.conv2d if dims == 2 else F.conv3d
    pool = F.avg_pool2d if dims == 2 else F.avg_pool3d
    torch.manual_seed(0)
    for size in (1, 2, 5, 6):
        x = torch.randn((2, 3) + (size,) * dims, dtype=torch.float64, requires_grad=True)
        w = torch.randn((4, 3) + (3,) * dims, dtype=torch.float64, requires_grad=True)
        for b in (None, torch.randn(4, dtype=torch.float64, requires_grad=True)):
            pairs = [(upsample_conv(x, w, b), conv(F.interpolate(x, scale_factor=2), w, b, padding=1))]
            if size >= 2:
                pairs.append((conv_avg_pool(x, w, b), pool(conv(x, w, b, padding=1), 2)))
            for ours, composed in pairs:
                assert ours.shape == composed.shape
                torch.testing.assert_close(ours, composed, rtol=0, atol=1e-12)
                grads = torch.autograd.grad((ours * composed.detach()).sum(), [x, w])
                expected = torch.autograd.grad((composed * composed.detach()).sum(), [x, w])
                for g, e in zip(grads, expected):
                    torch.testing.assert_close(g, e, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="3 taps"):
        upsample_conv(torch.randn(1, 3, 4, 4), torch.randn(4, 3, 5, 5))


def test_resampling_blocks_compute_the_paper_layers():
    """StackGAN's up-block, BigGAN's G block and D block: the fused forms equal the layers as written
    (upsample → conv, conv → pool), and the up-block keeps the parameter names of earlier checkpoints."""
    from multigan.core.layers import DiscriminatorResBlock, GeneratorResBlock
    from multigan.text2image.models import _up_block
    F = nn.functional
    torch.manual_seed(0)
    block = _up_block(6, 4).double()
    assert [k for k in block.state_dict()][:1] == ["1.weight"] and "2.running_mean" in block.state_dict()
    x = torch.randn(3, 6, 5, 5, dtype=torch.float64)
    written = block[3](block[2](F.conv2d(F.interpolate(x, scale_factor=2), block[1].weight, padding=1)))
    torch.testing.assert_close(block(x), written)

    g = GeneratorResBlock(6, 4, 5).double().eval()
    cond = torch.randn(3, 5, dtype=torch.float64)
    up = lambda t: F.interpolate(t, scale_factor=2)    # noqa: E731
    h = g.conv1(up(torch.relu(g.bn1(x, cond))))
    written = g.conv2(torch.relu(g.bn2(h, cond))) + g.skip(up(x))
    torch.testing.assert_close(g(x, cond), written)

    for dims, shape in ((2, (3, 6, 8, 8)), (3, (2, 6, 4, 6, 6))):
        d = DiscriminatorResBlock(6, 4, dims=dims).double().eval()
        x = torch.randn(shape, dtype=torch.float64)
        pool = F.avg_pool2d if dims == 2 else F.avg_pool3d
        written = pool(d.conv2(torch.relu(d.conv1(torch.relu(x)))), 2) + d.skip(pool(x, 2))
        torch.testing.assert_close(d(x), written)


def test_resampling_convolutions_keep_channels_last_and_work_under_bf16_autocast():
    from multigan.core.layers import conv_avg_pool, upsample_conv
    F = nn.functional
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6).to(memory_format=torch.channels_last)
    w = torch.randn(4, 8, 3, 3).to(memory_format=torch.channels_last)
    for ours, composed in ((upsample_conv(x, w), F.conv2d(F.interpolate(x, scale_factor=2), w, padding=1)),
                           (conv_avg_pool(x, w), F.avg_pool2d(F.conv2d(x, w, padding=1), 2))):
        assert ours.is_contiguous(memory_format=torch.channels_last) and not ours.is_contiguous()
        torch.testing.assert_close(ours, composed, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", torch.bfloat16):
            low = upsample_conv(x, w) if ours.shape[-1] == 12 else conv_avg_pool(x, w)
        assert low.dtype == torch.bfloat16
        assert (low.float() - composed).abs().max() < 0.05 * composed.abs().max()
    from multigan.core.layers import DiscriminatorResBlock
    d = DiscriminatorResBlock(8, 8, downsample=False).eval()
    written = d.conv2(torch.relu(d.conv1(torch.relu(x)))) + x
    torch.testing.assert_close(d(x), written)
