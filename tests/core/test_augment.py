"""DiffAugment: each operation's values, differentiability, and the trainer's use of it."""

import pytest
import torch

from multigan.core import Trainer, TrainerConfig
from multigan.core.augment import DiffAugment, color, cutout, translation
from multigan.core.toys import ConvGAN


def test_translation_shifts_whole_pixels_and_fills_zeros():
    x = torch.arange(1.0, 1 + 2 * 16 * 16).reshape(2, 1, 16, 16)
    torch.manual_seed(3)
    y = translation(x)
    for i in range(2):                                    # each sample is x shifted by one (dy, dx), |d| ≤ 2
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(y[i], torch.roll(torch.nn.functional.pad(x[i], [2, 2, 2, 2]), (dy, dx), (1, 2))
                                  [:, 2:-2, 2:-2])]
        assert len(matches) == 1
    moved = [(y[i] == 0).sum().item() for i in range(2)]
    assert all(m == 0 or m >= 16 for m in moved)           # the uncovered rows/columns are zero


def test_cutout_zeroes_one_half_size_square_inside_the_image():
    torch.manual_seed(0)
    y = cutout(torch.ones(64, 3, 16, 16))
    zeros = (y[:, 0] == 0)
    counts = zeros.flatten(1).sum(1)
    assert counts.max() == 64 and counts.min() >= 16       # an 8 × 8 square, partly outside at worst 4 × 4
    for mask in zeros:                                      # one axis-aligned rectangle, the same in every channel
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert mask.sum() == len(rows) * len(cols) and len(rows) <= 8 and len(cols) <= 8
    assert torch.equal(y[:, 0], y[:, 2])


def test_color_is_brightness_then_saturation_then_contrast(monkeypatch):
    import multigan.core.augment as augment

    draws = iter([0.25, 1.5, 0.75])                       # brightness, saturation, contrast
    monkeypatch.setattr(augment, "_uniform", lambda x, low, high: torch.tensor(next(draws)))
    torch.manual_seed(0)
    x = torch.rand(2, 3, 4, 4) * 2 - 1
    y = x + 0.25
    y = (y - y.mean(1, keepdim=True)) * 1.5 + y.mean(1, keepdim=True)
    y = (y - y.mean((1, 2, 3), keepdim=True)) * 0.75 + y.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(color(x), y)


def test_color_keeps_grey_grey_and_draws_per_sample():
    torch.manual_seed(0)
    grey = torch.full((8, 3, 4, 4), 0.25)
    y = color(grey)
    assert torch.allclose(y, y[:, :1].expand_as(y)) and torch.allclose(y, y[:, :, :1, :1].expand_as(y))
    shifts = y[:, 0, 0, 0] - 0.25                          # brightness only: U(-0.5, 0.5), one per sample
    assert shifts.abs().max() <= 0.5 and len(set(shifts.tolist())) == 8


def test_policy_names_order_gradient_and_bad_input():
    augment = DiffAugment(" cutout, translation ")
    assert augment.names == ["translation", "cutout"]
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    augment(x).sum().backward()
    assert x.grad is not None and 0 < (x.grad == 1).float().mean() < 1      # the cut and shifted-out pixels get 0
    with pytest.raises(ValueError, match="unknown augmentation flip"):
        DiffAugment("color,flip")
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainerConfig(augment=",")
    with pytest.raises(ValueError, match=r"image batches \(B, C, H, W\), got \(2, 1, 4, 4, 4\)"):
        augment(torch.zeros(2, 1, 4, 4, 4))


def test_trainer_augments_what_d_sees_real_and_fake_and_resumes_bit_exactly(tmp_path):
    images = torch.rand(32, 1, 32, 32) * 2 - 1
    seen = []

    def build(out, steps):
        torch.manual_seed(0)
        model = ConvGAN(latent_dim=8, channels=1, width=4)
        trainer = Trainer(model, images, steps=steps, batch_size=8, progress=False, augment="translation,cutout",
                          penalties=[{"name": "r1", "weight": 1.0}], out_dir=str(out), checkpoint_every=2,
                          tensorboard=False)
        return model, trainer

    model, trainer = build(tmp_path / "a", 1)
    forward = model.discriminator.forward
    model.discriminator.forward = lambda x, *a, **k: (seen.append(x.detach().clone()), forward(x, *a, **k))[1]
    trainer.fit()
    # real, fake, R1 on real, then G's fake: each batch had a cut-out square of exact zeros
    assert len(seen) == 4 and all(((s == 0).flatten(1).sum(1) >= 16).all() for s in seen)
    model.discriminator.forward = forward

    straight, t1 = build(tmp_path / "b", 4)
    t1.fit()
    resumed, t2 = build(tmp_path / "c", 2)
    t2.fit()
    again, t3 = build(tmp_path / "c", 4)
    t3.resume_run()
    t3.fit()
    for p, q in zip(straight.parameters(), again.parameters()):
        assert torch.equal(p, q)
