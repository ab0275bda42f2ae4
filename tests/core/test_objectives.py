"""Objectives and penalties against values computed by hand on small tensors."""

import math

import pytest
import torch

from multigan.core import get_objective, available_objectives
from multigan.core.penalties import (DraganPenalty, GradientPenalty, R1Penalty, R2Penalty, get_penalty,
                                     input_gradient)

REAL = torch.tensor([1.0, -2.0])
FAKE = torch.tensor([0.5, -1.0])


def log1pexp(x: float) -> float:
    return math.log(1.0 + math.exp(x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@pytest.mark.parametrize("name, d_expected, g_expected", [
    ("nonsaturating", mean(log1pexp(-r) for r in (1.0, -2.0)) + mean(log1pexp(f) for f in (0.5, -1.0)),
     mean(log1pexp(-f) for f in (0.5, -1.0))),
    ("minimax", mean(log1pexp(-r) for r in (1.0, -2.0)) + mean(log1pexp(f) for f in (0.5, -1.0)),
     -mean(log1pexp(f) for f in (0.5, -1.0))),
    ("lsgan", 0.5 * (0.0 + 9.0) / 2 + 0.5 * (0.25 + 1.0) / 2, 0.5 * (0.25 + 4.0) / 2),
    ("wgan", (0.5 - 1.0) / 2 - (1.0 - 2.0) / 2, 0.25),
    ("wgan-gp", 0.25, 0.25),
    ("dragan", mean(log1pexp(-r) for r in (1.0, -2.0)) + mean(log1pexp(f) for f in (0.5, -1.0)),
     mean(log1pexp(-f) for f in (0.5, -1.0))),
    ("hinge", (0.0 + 3.0) / 2 + (1.5 + 0.0) / 2, 0.25),
])
def test_objective_values(name, d_expected, g_expected):
    obj = get_objective(name)
    assert obj.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert obj.g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


def test_every_registered_objective_is_tested():
    assert set(available_objectives()) == {"nonsaturating", "minimax", "lsgan", "wgan", "wgan-gp", "dragan", "hinge"}


def test_label_smoothing_changes_real_target():
    obj = get_objective("nonsaturating", real_label=0.9)
    sig = lambda x: 1 / (1 + math.exp(-x))
    real_term = mean(-(0.9 * math.log(sig(r)) + 0.1 * math.log(1 - sig(r))) for r in (1.0, -2.0))
    expected = real_term + mean(log1pexp(f) for f in (0.5, -1.0))
    assert obj.d_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    ls = get_objective("lsgan", real_label=0.9)
    assert ls.d_loss(REAL, FAKE).item() == pytest.approx(0.5 * (0.01 + 8.41) / 2 + 0.5 * 1.25 / 2, rel=1e-6)


def test_several_discriminators_sum():
    obj = get_objective("hinge")
    single = obj.d_loss(REAL, FAKE)
    assert obj.d_loss([REAL, REAL], [FAKE, FAKE]).item() == pytest.approx(2 * single.item())
    assert obj.g_loss((FAKE, 2 * FAKE)).item() == pytest.approx(0.25 + 0.5)


def test_wgan_clips_weights_after_d_step():
    obj = get_objective("wgan", clip=0.05)
    net = torch.nn.Linear(3, 1)
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.fill_(-1.0)
    obj.after_d_step(net)
    assert net.weight.max().item() == pytest.approx(0.05) and net.bias.min().item() == pytest.approx(-0.05)


def test_objective_defaults_and_errors():
    assert isinstance(get_objective("wgan-gp").penalties[0], GradientPenalty)
    assert get_objective("wgan-gp").penalties[0].weight == 10.0
    assert isinstance(get_objective("dragan").penalties[0], DraganPenalty)
    assert get_objective("ns").name == "nonsaturating" and get_objective("original").name == "minimax"
    with pytest.raises(ValueError, match="unknown objective 'wasserstein-xyz'"):
        get_objective("wasserstein-xyz")
    with pytest.raises(TypeError, match="hinge"):
        get_objective("hinge", real_label=0.9)


# -- penalties ----------------------------------------------------------------------------------

W = torch.tensor([3.0, 4.0])                       # linear D: ∇D = w everywhere, ‖w‖ = 5


def linear_d(x):
    return x @ W


@pytest.mark.parametrize("penalty, expected", [
    (GradientPenalty(weight=10.0), 10.0 * (5.0 - 1.0) ** 2),
    (DraganPenalty(weight=10.0), 10.0 * (5.0 - 1.0) ** 2),
    (R1Penalty(weight=10.0), 10.0 * 0.5 * 25.0),
    (R2Penalty(weight=2.0), 2.0 * 0.5 * 25.0),
])
def test_penalties_on_linear_discriminator(penalty, expected):
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    assert penalty(linear_d, real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_penalties_on_quadratic_discriminator():
    quad = lambda x: (x ** 2).sum(1)               # ∇D = 2x
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    assert R1Penalty(weight=1.0)(quad, real, fake).item() == pytest.approx(0.5 * (4 + 16) / 2)
    assert R2Penalty(weight=1.0)(quad, real, fake).item() == pytest.approx(0.0)
    # real == fake: x̂ = real whatever α; ‖2x̂‖ = 2 and 4 → ((2-1)² + (4-1)²)/2 = 5
    assert GradientPenalty(weight=1.0)(quad, real, real.clone()).item() == pytest.approx(5.0)


def test_penalty_gradient_reaches_discriminator_weights():
    net = torch.nn.Linear(2, 1)
    term = GradientPenalty(weight=1.0)(lambda x: net(x).squeeze(1), torch.randn(8, 2), torch.randn(8, 2))
    term.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_lazy_interval():
    p = R1Penalty(weight=5.0, interval=4)
    assert [p.due(i) for i in range(6)] == [True, False, False, False, True, False]
    assert p.effective_weight == 20.0
    with pytest.raises(ValueError, match="interval"):
        R1Penalty(interval=0)
    assert isinstance(get_penalty("r1", weight=1.0, interval=16), R1Penalty)
    with pytest.raises(ValueError, match="unknown penalty"):
        get_penalty("r3")


def test_input_gradient_scales_before_and_unscales_after():
    # d/dx of (x·c)·c in fp16 with c = 2^-13 is 2^-26: below fp16's smallest subnormal (2^-24).
    c = 2.0 ** -13
    x = torch.ones(2, 3, requires_grad=True)
    d = lambda x: ((x.half() * c) * c).sum(1)
    assert input_gradient(d(x), x).abs().max().item() == 0.0          # underflows unscaled
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
    grad = input_gradient(d(x), x, scaler)
    assert torch.allclose(grad, torch.full_like(grad, 2.0 ** -26))
