"""Trainer hooks for losses that need more G/D calls: ``discriminator_loss`` and ``extra_adversarial_losses``."""

import torch

from multigan.core import Trainer, TrainerConfig
from multigan.core.objectives import get_objective
from multigan.core.toys import MixtureGAN, ring_of_gaussians

DATA = ring_of_gaussians(128, seed=0)


def _trainer(model, **overrides) -> Trainer:
    config = TrainerConfig(steps=2, batch_size=16, progress=False, seed=0, device="cpu", log_every=1)
    return Trainer(model, DATA, config, **overrides)


def test_default_hooks_keep_the_plain_losses():
    model = MixtureGAN(latent_dim=4, hidden=8, depth=2)
    objective = get_objective("nonsaturating")
    real, fake = torch.tensor([1.0, -0.5]), torch.tensor([0.3, -2.0])
    loss = model.discriminator_loss(objective, real, fake, real=torch.zeros(2, 2), cond=None,
                                    discriminate=lambda x, c: None)
    assert torch.equal(loss, objective.d_loss(real, fake))
    assert model.extra_adversarial_losses(objective, None, generate=None, discriminate=None) == {}


class HookedGAN(MixtureGAN):
    """Counts the hook calls; adds a second fake term to D and a weighted extra G term."""

    def __init__(self):
        super().__init__(latent_dim=4, hidden=8, depth=2)
        self.calls = {"d": 0, "g": 0}

    def discriminator_loss(self, objective, real_logits, fake_logits, *, real, cond, discriminate,
                           real_features=None):
        self.calls["d"] += 1
        shifted = discriminate(real + 1.0, cond)                    # one more D call, through the trainer's D
        assert shifted.shape == real_logits.shape and shifted.requires_grad
        return 0.5 * (objective.d_loss(real_logits, fake_logits) + objective.d_loss(real_logits, shifted))

    def extra_adversarial_losses(self, objective, cond, *, generate, discriminate):
        self.calls["g"] += 1
        z = self.sample_latent(8)
        fake = generate(z, cond)
        assert fake.shape == (8, 2)
        return {"extra": 0.25 * objective.g_loss(discriminate(fake, cond))}


def test_trainer_calls_the_hooks_and_logs_their_terms():
    torch.manual_seed(0)
    model = HookedGAN()
    d0 = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer = _trainer(model, n_critic=2)
    trainer.fit()
    assert model.calls == {"d": 4, "g": 2}
    assert "g_extra" in trainer.history[-1] and trainer.history[-1]["g_extra"] > 0
    assert not all(torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters(), strict=True))
    # the D parameters are trainable again after the G phase (the extra D call ran while frozen)
    assert all(p.requires_grad for p in model.discriminator.parameters())
