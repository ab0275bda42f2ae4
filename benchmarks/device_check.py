"""GPU check: the trainer on CUDA in fp32 / bf16 autocast / fp16 + GradScaler, timed, with its overhead.

    python benchmarks/device_check.py OUT_DIR

Writes OUT_DIR/device_check.md (tables) and OUT_DIR/device_check.json. Needs only torch,
safetensors and tqdm (runs from a checkout with PYTHONPATH=.).
"""

import json
import sys
import time
from pathlib import Path

import torch

from multigan.bench import format_table, run_benchmark
from multigan.core import Trainer
from multigan.core.toys import ConvGAN


def timed_steps(trainer: Trainer, steps: int, warmup: int = 20) -> float:
    """Iterations per second of ``trainer.train_step`` after ``warmup`` untimed iterations."""
    batches = trainer.batches()
    for _ in range(warmup):
        trainer.train_step(batches)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batches)
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def amp_penalty_run(precision: str, objective: str, steps: int = 300) -> dict:
    """Train the conv GAN with a gradient penalty under ``precision``; report finiteness and speed."""
    torch.manual_seed(0)
    model = ConvGAN(latent_dim=64, channels=3, width=64)
    images = torch.rand(4096, 3, 32, 32) * 2 - 1
    trainer = Trainer(model, images, batch_size=128, objective=objective, precision=precision, device="cuda",
                      penalties=[{"name": "r1", "weight": 1.0, "interval": 4}], progress=False, log_every=steps)
    rate = timed_steps(trainer, steps)
    finite = all(torch.isfinite(p).all().item() for p in model.parameters())
    return {"precision": precision, "objective": objective, "it_per_s": rate, "finite": finite,
            "skipped_streak": trainer.nonfinite_streak,
            "scale": trainer.scaler.get_scale() if trainer.scaler.is_enabled() else None,
            "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20}


def midinet_run(precision: str, steps: int = 300) -> dict:
    """MidiNet on the Bach bars with its paper rules (2 G steps per D step, feature matching)."""
    from multigan.music import MidiNet
    from multigan.music.data import BarDataset

    torch.manual_seed(0)
    model = MidiNet()
    trainer = Trainer(model, BarDataset.bach_chorales(), **{**MidiNet.trainer_defaults(), "device": "cuda",
                      "precision": precision, "progress": False, "log_every": 10**9, "ema_decay": 0.999})
    return {"model": "MidiNet (batch 72)", "precision": precision, "it_per_s": timed_steps(trainer, steps),
            "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    info = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
    rows = []
    for precision in ("fp32", "bf16", "fp16"):
        for name in ("gaussians", "dcgan32", "dcgan32-large"):
            rows.append(run_benchmark(name, device="cuda", precision=precision, steps=200, rounds=3, warmup=20))
            print(rows[-1], flush=True)
    amp = [amp_penalty_run(p, o) for p in ("bf16", "fp16") for o in ("wgan-gp", "hinge")]
    music = [midinet_run(p) for p in ("fp32", "bf16")]
    for row in music:
        print(row, flush=True)
    for row in amp:
        print(row, flush=True)
    lines = [f"# device check: {info['device']}, torch {info['torch']}", "", format_table(rows), "",
             "| precision | objective (+R1 every 4) | it/s | finite | scale | peak MiB |", "|---|---|---:|---|---:|---:|"]
    lines += [f"| {r['precision']} | {r['objective']} | {r['it_per_s']:.1f} | {r['finite']} | {r['scale']} | "
              f"{r['peak_mem_mb']:.0f} |" for r in amp]
    lines += ["", "| modality model | precision | it/s | peak MiB |", "|---|---|---:|---:|"]
    lines += [f"| {r['model']} | {r['precision']} | {r['it_per_s']:.1f} | {r['peak_mem_mb']:.0f} |" for r in music]
    (out / "device_check.md").write_text("\n".join(lines) + "\n")
    (out / "device_check.json").write_text(json.dumps({"info": info, "bench": rows, "amp": amp, "music": music}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "device_check"))
