"""Speed options of the trainer keep the arithmetic: reuse_fake, channels_last, multi-tensor Adam and EMA."""

import copy

import torch
from safetensors.torch import load_file

from multigan.core import Trainer, TrainerConfig
from multigan.core.ema import EMA
from multigan.core.toys import ConvGAN, MixtureGAN, ring_of_gaussians

DATA = ring_of_gaussians(256, seed=0)
IMAGES = torch.rand(64, 3, 32, 32) * 2 - 1
FAST = {"batch_size": 16, "progress": False, "tensorboard": False, "device": "cpu", "precision": "fp32", "log_every": 1}


class CountingGAN(MixtureGAN):
    """Records every generator output made during training."""

    def __init__(self):
        super().__init__(latent_dim=4, hidden=16, depth=2)
        self.fakes = []

    def run_generator(self, generator, z, cond):
        out = super().run_generator(generator, z, cond)
        self.fakes.append(out)
        return out


def test_reuse_fake_runs_the_generator_once_per_iteration_and_scores_the_same_fakes():
    for reuse, calls in ((False, 6), (True, 3)):
        torch.manual_seed(0)
        model = CountingGAN()
        seen = []
        model.extra_generator_losses = lambda real, fake, cond: seen.append(fake) or {}
        Trainer(model, DATA, TrainerConfig(steps=3, reuse_fake=reuse, **FAST)).fit()
        assert len(model.fakes) == calls
        if reuse:          # the G update scored the D step's fakes, with their graph
            assert all(f is g and g.requires_grad for f, g in zip(seen, model.fakes))
        else:
            assert all(f is g for f, g in zip(seen, model.fakes[1::2]))


def test_channels_last_trains_the_same_to_tolerance_and_saves_contiguous(tmp_path):
    runs = {}
    for fmt in (False, True):
        torch.manual_seed(0)
        model = ConvGAN(latent_dim=8, channels=3, width=8)
        trainer = Trainer(model, IMAGES, TrainerConfig(steps=3, channels_last=fmt, ema_decay=0.9,
                                                       out_dir=str(tmp_path / str(fmt)), checkpoint_every=3, **FAST))
        trainer.fit()
        runs[fmt] = (model, [row["d_loss"] for row in trainer.history])
    (plain, plain_losses), (last, last_losses) = runs[False], runs[True]
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in last.parameters())
    torch.testing.assert_close(torch.tensor(last_losses), torch.tensor(plain_losses), rtol=1e-4, atol=1e-5)
    for a, b in zip(plain.parameters(), last.parameters()):     # Adam turns rounding noise in gradients that
        torch.testing.assert_close(a, b, rtol=0, atol=6 * 2e-4)  # are ~0 (biases before BatchNorm) into ≤ lr steps
    saved = load_file(str(tmp_path / "True" / "checkpoints" / "step-0000003" / "model" / "model.safetensors"))
    assert all(t.is_contiguous() for t in saved.values())
    for name, value in last.state_dict().items():
        assert torch.equal(saved[name], value)


def test_multi_tensor_ema_and_adam_are_bit_identical_to_the_per_tensor_loops():
    torch.manual_seed(0)
    net = ConvGAN(latent_dim=8, channels=3, width=8).generator
    ema = EMA(net, decay=0.9)
    by_hand = copy.deepcopy(net)
    for step in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        ema.update(net, step)
        with torch.no_grad():
            for avg, new in zip(by_hand.parameters(), net.parameters()):
                avg.lerp_(new, 0.1)
    for a, b in zip(ema.module.parameters(), by_hand.parameters()):
        assert torch.equal(a, b)
    model = MixtureGAN(latent_dim=4, hidden=16, depth=2)
    trainer = Trainer(model, DATA, TrainerConfig(steps=1, **FAST))
    assert trainer.opt_g.defaults["foreach"] is True and trainer.opt_d.defaults["foreach"] is True


def test_compiled_networks_train_like_eager_ones_including_the_gradient_penalty():
    """torch.compile (here the aot_eager backend: dynamo and AOT autograd without code generation)
    gives the eager losses and weights; WGAN-GP's double backward runs on the uncompiled critic."""
    runs = {}
    for how in (None, "aot_eager"):
        torch.manual_seed(0)
        model = MixtureGAN(latent_dim=4, hidden=16, depth=2)
        trainer = Trainer(model, DATA, TrainerConfig(steps=3, compile=how, objective="wgan-gp", n_critic=2, **FAST))
        logs = [trainer.train_step(trainer.batches()) for _ in range(3)]
        runs[how] = ([{k: float(v) for k, v in step.items()} for step in logs], copy.deepcopy(model.state_dict()))
        if how:
            assert trainer.G is not model.generator and trainer._D_eager is model.discriminator
            trainer.close()
            assert trainer.G is model.generator and trainer.D is model.discriminator
    (eager_logs, eager_state), (comp_logs, comp_state) = runs[None], runs["aot_eager"]
    assert "d_GradientPenalty" in eager_logs[0]
    for a, b in zip(eager_logs, comp_logs):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-4 * max(1.0, abs(a[k])) for k in a), (a, b)
    assert all(torch.allclose(eager_state[k], comp_state[k], atol=1e-5) for k in eager_state)


def test_channels_last_gives_one_channel_layers_channels_last_strides():
    """A 1-channel weight is contiguous both ways; stored with channels-last strides, its convolution
    answers channels-last, so the next layer does not copy its input to channels-last."""
    from multigan.core.device import to_channels_last
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 8, 4, 2, 1, bias=False), torch.nn.LeakyReLU(0.2),
                              torch.nn.Conv3d(8, 4, 4, 2, 1), torch.nn.ConvTranspose3d(4, 1, 4, 2, 1, bias=False))
    x = torch.rand(2, 1, 8, 8, 8)
    expected = net(x)
    to_channels_last(net)
    assert net[0].weight.stride()[1] == 1 and net[3].weight.stride()[1] == 1
    first = net[0](x)
    assert first.is_contiguous(memory_format=torch.channels_last_3d) and not first.is_contiguous()
    torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-6)
