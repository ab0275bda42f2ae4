"""MidiNet: shapes, conditioning, decoding, generation chain, save/load, a few training steps."""

import numpy as np
import pytest
import torch

from multigan.core import Trainer
from multigan.music import MidiNet, Song, parse_chord
from multigan.music.chords import chord_vector, estimate_chord
from multigan.music.models import decode


def small() -> MidiNet:
    torch.manual_seed(0)
    return MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4)


def test_shapes_and_discriminator_ignores_previous_bar():
    model = small().eval()
    z, chord = torch.randn(3, 8), torch.from_numpy(np.stack([chord_vector(parse_chord(c)) for c in "C Am G".split()]))
    prev_a, prev_b = torch.zeros(3, 1, 16, 128), torch.rand(3, 1, 16, 128)
    bar = model.generator(z, chord, prev_a)
    assert bar.shape == (3, 1, 16, 128) and 0 <= bar.min() and bar.max() <= 1
    assert not torch.allclose(bar, model.generator(z, chord, prev_b))          # G sees the previous bar
    out_a = model.run_discriminator(model.discriminator, bar, (chord, prev_a))
    out_b = model.run_discriminator(model.discriminator, bar, (chord, prev_b))
    assert torch.equal(out_a.logits, out_b.logits)                              # D does not
    assert out_a.logits.shape == (3,) and out_a.features.shape == (3, 14 * 8)
    other = torch.roll(chord, 1, 0)
    assert not torch.equal(out_a.logits, model.discriminator(bar, other).logits)  # D sees the chord


def test_monophonic_and_polyphonic_decoding():
    probs = torch.zeros(16, 128)
    probs[0, [60, 64]] = torch.tensor([0.7, 0.9])
    probs[1, 62] = 0.3                                                          # below threshold: rest
    mono = decode(probs)
    assert mono[0].nonzero().flatten().tolist() == [64] and not mono[1].any()
    assert decode(probs, polyphonic=True)[0].nonzero().flatten().tolist() == [60, 64]
    assert int(decode(torch.rand(4, 16, 128) + 0.5).sum(-1).max()) == 1


def test_generation_chains_bars_and_is_seeded(tmp_path):
    model = small()
    song = model.generate("C G Am F", seed=3)
    again = model.generate(["C", "G", "Am", "F"], seed=3)
    assert isinstance(song, Song) and song.bars == 4 and song.roll.shape == (64, 128)
    assert np.array_equal(song.roll, again.roll)
    assert song.roll.sum(1).max() <= 1                                          # monophonic
    primed = model.generate("C G", seed=3, prime=np.eye(16, 128, 60, dtype=bool))
    assert not np.array_equal(primed.roll, model.generate("C G", seed=3).roll)
    files = [song.write_midi(tmp_path / "m.mid"), song.write_audio(tmp_path / "m.wav"), song.plot(tmp_path / "r.png")]
    assert all(f.stat().st_size > 0 for f in files)
    with pytest.raises(ValueError, match="unknown chord symbol 'H7'"):
        model.generate("C H7", seed=0)
    with pytest.raises(ValueError, match="prime"):
        model.generate("C", prime=np.zeros((8, 128)))


def test_save_load_round_trip(tmp_path):
    model = small()
    model.save_pretrained(tmp_path / "m", components=["generator"], dtype=torch.float16)
    loaded = MidiNet.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    with pytest.raises(FileNotFoundError, match="shipped"):
        MidiNet.from_pretrained("no-such-model")


def test_a_few_training_steps_with_paper_rules():
    model = small()
    bars = (torch.rand(48, 1, 16, 128) > 0.98).float()
    prev = torch.roll(bars, 1, 0)
    chords = torch.from_numpy(np.stack([chord_vector(estimate_chord(np.ones(12) + np.eye(12)[i % 12] * 3))
                                        for i in range(48)]))
    data = torch.utils.data.TensorDataset(bars, prev, chords)
    trainer = Trainer(model, data, **{**MidiNet.trainer_defaults(), "batch_size": 12, "steps": 3,
                                       "progress": False, "device": "cpu"})
    g0 = [p.clone() for p in model.generator.parameters()]
    trainer.fit()
    logs = trainer.history[-1]
    assert {"g_feature_matching", "g_mean_matching", "d_loss", "g_loss"} <= set(logs)
    assert int(trainer.opt_g.state_dict()["state"][0]["step"]) == 6                # two G steps per D step
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))


def test_strip_convolutions_equal_the_layers_they_replace():
    """MidiNet's full-width convolutions run as matrix products: same outputs as the layers, same gradients."""
    from torch import nn

    from multigan.music.models import strip_conv, strip_deconv

    torch.manual_seed(0)
    model = MidiNet()
    g, d = model.generator, model.discriminator
    cases = [(strip_conv, g.conditioner.pitch[0], (3, 1, 16, 128)), (strip_conv, g.conditioner.down[0][0], (3, 16, 16, 1)),
             (strip_conv, d.features[0], (3, 14, 16, 128)), (strip_deconv, g.up[0][0], (3, 157, 2, 1)),
             (strip_deconv, g.to_pitch, (3, 157, 16, 1))]
    for fn, layer, shape in cases:
        x = torch.randn(shape, requires_grad=True)
        fast, slow = fn(layer, x), layer(x)
        assert fast.shape == slow.shape
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
        (grad_fast,) = torch.autograd.grad(fast.square().sum(), layer.weight)
        (grad_slow,) = torch.autograd.grad(slow.square().sum(), layer.weight)
        torch.testing.assert_close(grad_fast, grad_slow, rtol=1e-4, atol=1e-4)
    other = nn.Conv2d(2, 3, 3, padding=1)                  # not a full-width strip: the layer itself runs
    x = torch.randn(1, 2, 5, 5)
    assert torch.equal(strip_conv(other, x), other(x))
