"""Trainer options: phases, gating, EMA, non-finite handling, callbacks, logging, precision."""

import json

import pytest
import torch
from torch import nn

from multigan.core import NonFiniteLossError, Trainer, TrainerConfig
from multigan.core.trainer import GlobalBatchSampler
from multigan.core.toys import ConvGAN, MixtureGAN, ring_of_gaussians

DATA = ring_of_gaussians(256, seed=0)


def tiny(**overrides) -> tuple[MixtureGAN, Trainer]:
    torch.manual_seed(0)
    model = MixtureGAN(latent_dim=4, hidden=16, depth=2)
    config = TrainerConfig(steps=4, batch_size=32, progress=False, seed=0, device="cpu")
    return model, Trainer(model, DATA, config, **overrides)


def params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_counts_iterations_and_phase_steps():
    model, trainer = tiny(n_critic=3, g_steps=2)
    trainer.fit()
    assert trainer.step == 4 and trainer.d_updates == 12 and trainer.data_cursor == 12
    g_state = trainer.opt_g.state_dict()["state"][0]["step"]
    d_state = trainer.opt_d.state_dict()["state"][0]["step"]
    assert int(g_state) == 8 and int(d_state) == 12


def test_accuracy_gate_freezes_discriminator():
    model, trainer = tiny(d_accuracy_gate=1e-6)      # any accuracy > 0 skips D updates
    d0, g0 = params(model.discriminator), params(model.generator)
    trainer.fit()
    assert same(d0, params(model.discriminator))
    assert not same(g0, params(model.generator))
    assert trainer.history[-1]["d_skipped"] > 0


def test_gate_at_one_never_skips():
    model, trainer = tiny(d_accuracy_gate=1.0)
    d0 = params(model.discriminator)
    trainer.fit()
    assert not same(d0, params(model.discriminator))
    assert trainer.history[-1]["d_skipped"] == 0


def test_frozen_parameters_stay_frozen():
    torch.manual_seed(0)
    model = MixtureGAN(latent_dim=4, hidden=16, depth=2)
    model.generator[0].requires_grad_(False)         # e.g. StackGAN's frozen Stage-I
    frozen = params(model.generator[0])
    trainer = Trainer(model, DATA, steps=3, batch_size=32, progress=False, device="cpu")
    trainer.fit()
    assert same(frozen, params(model.generator[0]))
    assert not model.generator[0].weight.requires_grad


def test_ema_tracks_generator():
    model, trainer = tiny(ema_decay=0.5, ema_start=100)   # before start: a plain copy
    trainer.fit()
    assert same(params(model.generator), params(trainer.ema.module))
    model, trainer = tiny(ema_decay=0.9)
    g_before = params(model.generator)
    trainer.fit()
    assert not same(params(model.generator), params(trainer.ema.module))
    # EMA lies between the start and the end weights: closer to the start for decay 0.9
    d_start = sum((a - b).abs().sum() for a, b in zip(params(trainer.ema.module), g_before))
    d_end = sum((a - b).abs().sum() for a, b in zip(params(trainer.ema.module), params(model.generator)))
    assert d_start < d_end


def test_ema_averages_parameters_and_copies_buffers():
    """Spectral norm's power-iteration vectors and BatchNorm statistics are copied, not averaged:
    an average of unit vectors is shorter than 1, which would shrink the estimated sigma and blow
    up the normalised weights (two Moving-MNIST DVD-GAN snapshots averaged with their vectors too: frame
    accuracy 0.35, against 0.77 with the vectors of one of them)."""
    from multigan.core.ema import EMA
    from multigan.core.layers import sn_linear

    torch.manual_seed(0)
    net = nn.Sequential(sn_linear(4, 8), nn.BatchNorm1d(8))
    ema = EMA(net, decay=0.5)
    start = {k: v.clone() for k, v in net.named_parameters()}
    net.train()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net(torch.randn(16, 4))                           # moves u, v and the running statistics
    ema.update(net, step=1)
    for name, p in ema.module.named_parameters():
        assert torch.allclose(p, start[name] + 0.5)
    for (name, b), (_, src) in zip(ema.module.named_buffers(), net.named_buffers(), strict=True):
        assert torch.equal(b, src), name
    u = ema.module[0].parametrizations.weight[0]._u
    assert u.norm().item() == pytest.approx(1.0, abs=1e-5)


class NaNDiscriminatorGAN(MixtureGAN):
    def run_discriminator(self, discriminator, x, cond):
        return discriminator(x).squeeze(-1) * float("nan")


def test_nonfinite_losses_skip_then_stop():
    torch.manual_seed(0)
    model = NaNDiscriminatorGAN(latent_dim=4, hidden=16, depth=2)
    before = params(model)
    trainer = Trainer(model, DATA, steps=10, batch_size=32, progress=False, max_nonfinite=3, device="cpu")
    with pytest.warns(RuntimeWarning, match="non-finite discriminator loss"):
        with pytest.raises(NonFiniteLossError, match="3 consecutive non-finite"):
            trainer.fit()
    assert same(before, params(model))                  # nothing was updated


def test_callbacks_jsonl_and_checkpoints(tmp_path):
    events = []
    model, trainer = tiny(out_dir=str(tmp_path / "run"), log_every=2, checkpoint_every=2, keep_checkpoints=1,
                          tensorboard=False)
    for event in ("on_train_start", "on_step_end", "on_log", "on_checkpoint", "on_train_end"):
        trainer.add_callback(event, lambda t, _e=event, **info: events.append(_e))
    trainer.fit()
    assert events.count("on_step_end") == 4 and events.count("on_log") == 2
    assert events[0] == "on_train_start" and events[-1] == "on_train_end"
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [2, 4] and all("d_loss" in l and "g_loss" in l for l in lines)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-0000004"]
    with pytest.raises(ValueError, match="unknown callback event"):
        trainer.add_callback("on_epoch", print)


def test_snapshot_feature_matching_and_export(tmp_path):
    torch.manual_seed(0)
    model = ConvGAN(latent_dim=8, channels=1, width=4)
    images = torch.rand(40, 1, 32, 32) * 2 - 1
    trainer = Trainer(model, images, steps=2, batch_size=8, progress=False, feature_matching=0.1,
                      snapshot_every=2, snapshot_size=4, out_dir=str(tmp_path), ema_decay=0.9, tensorboard=False)
    trainer.fit()
    assert trainer.history[-1]["g_feature_matching"] > 0
    assert (tmp_path / "samples" / "step-0000002.png").stat().st_size > 0
    trainer.export(tmp_path / "export", dtype=torch.float16, components=["generator"])
    loaded = ConvGAN.from_pretrained(tmp_path / "export")
    for key, value in trainer.ema.state_dict().items():
        assert torch.equal(loaded.generator.state_dict()[key], value.half().float()), key


def test_bf16_autocast_on_cpu_trains():
    model, trainer = tiny(precision="bf16", objective="wgan-gp")
    trainer.fit()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert trainer.precision == "bf16"


def test_label_smoothing_and_bad_options():
    model, trainer = tiny(label_smoothing=0.1)
    trainer.fit()
    with pytest.raises(TypeError, match="hinge"):
        tiny(label_smoothing=0.1, objective="hinge")
    with pytest.raises(ValueError, match="n_critic"):
        TrainerConfig(n_critic=0)
    with pytest.raises(ValueError, match="fp16"):
        tiny(precision="fp16")
    with pytest.raises(ValueError, match="fewer than one batch"):
        Trainer(MixtureGAN(), DATA[:10], batch_size=32, progress=False).fit(1)


def test_global_batch_sampler_split_and_resume():
    whole = GlobalBatchSampler(20, 4, seed=1)
    halves = [GlobalBatchSampler(20, 4, rank=r, world_size=2, seed=1) for r in range(2)]
    it, its = iter(whole), [iter(h) for h in halves]
    for _ in range(12):                                # 3 epochs of 5 batches
        batch = next(it)
        assert sorted(batch) == sorted(next(its[0]) + next(its[1]))
    later = iter(GlobalBatchSampler(20, 4, seed=1, start=7))
    reference = iter(GlobalBatchSampler(20, 4, seed=1))
    for _ in range(7):
        next(reference)
    assert [next(later) for _ in range(6)] == [next(reference) for _ in range(6)]


class LabelGAN(MixtureGAN):
    """Class-conditional points: the label picks the mode; G and D see a one-hot label."""

    def __init__(self, classes: int = 4):
        super().__init__(latent_dim=4 + classes, hidden=16, depth=2)
        self.classes = classes

    def run_generator(self, generator, z, cond):
        onehot = nn.functional.one_hot(cond, self.classes).float()
        return generator(torch.cat([z[:, :4], onehot], 1))

    def run_discriminator(self, discriminator, x, cond):
        return discriminator(x).squeeze(-1) + (x.sum(1) * 0 + cond.float() * 0)


def test_conditional_batches_reach_the_hooks(tmp_path):
    torch.manual_seed(0)
    labels = torch.randint(4, (128,))
    seen = []
    model = LabelGAN()
    original = model.split_batch
    model.split_batch = lambda batch: seen.append(batch[1].clone()) or original(batch)
    dataset = torch.utils.data.TensorDataset(torch.randn(128, 2), labels)
    trainer = Trainer(model, dataset, steps=3, batch_size=16, progress=False, device="cpu",
                      out_dir=str(tmp_path), snapshot_every=3, snapshot_size=8, tensorboard=False)
    with pytest.warns(RuntimeWarning, match="snapshot skipped: LabelGAN: no writer"):   # 2-D points
        trainer.fit()
    assert len(seen) == 4 and all(s.shape == (16,) and s.dtype == torch.int64 for s in seen[:3])
    assert torch.equal(seen[3], labels[:8])           # the snapshot's fixed condition: the first examples
    assert torch.equal(trainer._snapshot[1], labels[:8])


def test_tensorboard_events_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    model, trainer = tiny(out_dir=str(tmp_path), log_every=2)
    trainer.fit()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_warm_start_from_an_exported_model(tmp_path):
    model, trainer = tiny(out_dir=str(tmp_path / "first"), ema_decay=0.9, checkpoint_every=2, tensorboard=False)
    history = trainer.resume_run(False, "train one")
    trainer.fit()
    info = trainer.run_info("train one", history, 1.0)
    trainer.export(tmp_path / "first" / "final", extra_files={"training.json": json.dumps(info)})
    exported_g, exported_d = params(trainer.ema.module), params(model.discriminator)

    torch.manual_seed(1)                                    # other initial weights, same architecture
    fresh = MixtureGAN(latent_dim=4, hidden=16, depth=2)
    second = Trainer(fresh, DATA, TrainerConfig(steps=6, batch_size=32, progress=False, seed=0, device="cpu",
                                                ema_decay=0.9, out_dir=str(tmp_path / "second"), tensorboard=False))
    history = second.resume_run(False, "train two", init_from=tmp_path / "first" / "final")
    assert history["commands"] == ["train one"] and history["init_from"]["iterations"] == 4
    assert second.step == 4 and second.commands == ["train one", "train two"]
    assert same(params(fresh.generator), exported_g) and same(params(fresh.discriminator), exported_d)
    assert same(params(second.ema.module), exported_g)
    assert second.opt_g.state_dict()["state"] == {} and second.opt_d.state_dict()["state"] == {}
    second.fit()
    assert second.step == 6
    assert second.run_info("train two", history, 1.0)["init_from"]["iterations"] == 4

    other = Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=2), DATA, steps=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="hidden"):
        other.resume_run(False, init_from=tmp_path / "first" / "final")

    model, again = tiny(out_dir=str(tmp_path / "first"), ema_decay=0.9, tensorboard=False)
    again.resume_run(True, init_from=tmp_path / "second" / "checkpoints")      # a checkpoint to resume wins
    assert again.step == 4 and again.opt_g.state_dict()["state"] != {}
