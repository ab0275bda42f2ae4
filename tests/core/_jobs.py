"""Training jobs run in fresh processes by the resume and DDP tests (not collected by pytest).

    python tests/core/_jobs.py resume OUT STEPS [--from CKPT] [--save CKPT]
    torchrun --nproc_per_node 2 tests/core/_jobs.py ddp OUT
"""

import sys

import torch
from safetensors.torch import save_file

from multigan.core import Trainer, TrainerConfig
from multigan.core.toys import MixtureGAN, ring_of_gaussians

torch.set_num_threads(1)


def resume_job(out: str, steps: int, load: str | None, save: str | None) -> None:
    torch.manual_seed(0)
    model = MixtureGAN(latent_dim=4, hidden=32, depth=2)
    config = TrainerConfig(steps=steps, batch_size=64, objective="wgan-gp", n_critic=2, ema_decay=0.9,
                           penalties=[{"name": "r1", "weight": 1.0, "interval": 3}], progress=False, seed=3,
                           log_every=1000)
    trainer = Trainer(model, ring_of_gaussians(512, seed=1), config)
    if load:
        trainer.load_checkpoint(load)
    trainer.fit(steps)
    if save:
        trainer.save_checkpoint(save)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state.update({f"ema.{k}": v for k, v in trainer.ema.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, out)


def ddp_job(out: str) -> None:
    torch.manual_seed(0)
    model = MixtureGAN(latent_dim=4, hidden=32, depth=2)
    config = TrainerConfig(steps=6, batch_size=32, objective="nonsaturating", n_critic=2,
                           penalties=[{"name": "r1", "weight": 0.5}], progress=False, seed=5, device="cpu")
    trainer = Trainer(model, ring_of_gaussians(256, seed=2), config)
    trainer.fit()
    if trainer.dist.is_main:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    final = trainer.export(out + ".final")                      # every rank calls it; rank 0 writes
    assert (final / "model.safetensors").is_file()              # ... and every rank finds it written
    trainer.close()
    assert not torch.distributed.is_initialized()


if __name__ == "__main__":
    job, out = sys.argv[1], sys.argv[2]
    if job == "resume":
        args = sys.argv[4:]
        opt = lambda flag: args[args.index(flag) + 1] if flag in args else None
        resume_job(out, int(sys.argv[3]), opt("--from"), opt("--save"))
    elif job == "ddp":
        ddp_job(out)
    else:
        raise SystemExit(f"unknown job {job}")
