"""Every modality's model trained a few iterations on its real data, timed, in fp32 and bf16 autocast.

    python benchmarks/modality_check.py OUT_DIR                      # a GPU session: CUDA, 30 timed iterations
    python benchmarks/modality_check.py OUT_DIR --device cpu --steps 1 --warmup 1 --only voxel32

Each row builds the model with its paper training rules (``trainer_defaults()``), feeds it the
built-in data set of its modality (the assets; text2image uses random caption embeddings, so no
transformer is loaded) and times ``Trainer.train_step`` after a warm-up. Writes
OUT_DIR/modality_check.md and OUT_DIR/modality_check.json; prints each row as it finishes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import torch

from multigan.bench import _peak_memory_mb
from multigan.core import Trainer


def _voxel(preset: str) -> tuple:
    from multigan.voxel import GAN3D, PRESETS
    from multigan.voxel.data import VoxelDataset

    data = VoxelDataset.furniture(resolution=PRESETS[preset]["resolution"])
    model = GAN3D(**PRESETS[preset], classes=data.classes)
    return model, data, {**GAN3D.trainer_defaults(), "batch_size": 32 if preset == "cpu-32" else 100}


def _anomaly(width: int) -> tuple:
    from multigan.anomaly import AnoGAN, brain_mri

    model = AnoGAN(image_size=64, width=width)
    return model, torch.utils.data.TensorDataset(brain_mri("train").images), AnoGAN.trainer_defaults()


def _video(preset: str) -> tuple:
    from multigan.video import DVDGAN, PRESETS
    from multigan.video.data import MovingMNIST

    arch = PRESETS[preset]
    if arch["size"] == 32:
        data = MovingMNIST("train", frames=arch["frames"], size=32)
        return DVDGAN(**arch, classes=[str(c) for c in data.classes]), data, {**DVDGAN.trainer_defaults(),
                                                                              "batch_size": 16}
    # larger presets: random RGB clips of the preset's shape (Moving MNIST is 32 × 32 greyscale)
    clips = torch.rand(64, arch["frames"], 3, arch["size"], arch["size"]) * 2 - 1
    return DVDGAN(**arch, channels=3), clips, {**DVDGAN.trainer_defaults(), "batch_size": 8}


def _text2image(name: str, stage: int = 1) -> tuple:
    from multigan.text2image import TextImageGAN, build_model
    from multigan.text2image.data import shapes_dataset

    model = build_model(name, "cpu-64")
    if stage == 2:
        model.set_stage(2)                   # Stage-I frozen, Stage-II (128 × 128) trained
    embeddings = torch.randn(2048, 384)
    return model, shapes_dataset(2048, model.image_size, 0, embeddings), TextImageGAN.trainer_defaults()


def _music() -> tuple:
    from multigan.music import MidiNet
    from multigan.music.data import BarDataset

    return MidiNet(), BarDataset.bach_chorales(), MidiNet.trainer_defaults()


CHECKS: dict[str, Callable[[], tuple]] = {
    "music-midinet": _music,
    "voxel32": lambda: _voxel("cpu-32"),
    "voxel64-paper": lambda: _voxel("paper-64"),
    "anomaly64": lambda: _anomaly(32),
    "anomaly64-dcgan": lambda: _anomaly(64),
    "video32": lambda: _video("cpu-32"),
    "video128-paper": lambda: _video("paper-128"),
    "text2image-gancls": lambda: _text2image("gan-cls"),
    "text2image-stackgan-stage1": lambda: _text2image("stackgan"),
    "text2image-stackgan-stage2": lambda: _text2image("stackgan", stage=2),
}


def run_check(name: str, precision: str, device: str, steps: int, warmup: int) -> dict:
    """Iterations per second and peak memory of one model under ``precision``."""
    torch.manual_seed(0)
    model, data, rules = CHECKS[name]()
    trainer = Trainer(model, data, **{**rules, "device": device, "precision": precision, "progress": False,
                                      "log_every": 10**9, "ema_decay": 0.999})
    dev = trainer.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    batches = trainer.batches()
    for _ in range(warmup):
        trainer.train_step(batches)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    start = time.perf_counter()
    for _ in range(steps):
        logs = trainer.train_step(batches)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    finite = all(bool(torch.isfinite(torch.as_tensor(v)).all()) for v in (logs or {}).values())
    peak = _peak_memory_mb(dev)                  # CUDA: allocated by torch; CPU: the process's peak RSS
    return {"check": name, "device": str(dev), "precision": trainer.precision, "batch": trainer.config.batch_size,
            "n_critic": trainer.config.n_critic, "it_per_s": steps / seconds, "finite": finite, "peak_mem_mb": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default="modality_check")
    p.add_argument("--device", default="cuda")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--only", nargs="+", default=None, choices=sorted(CHECKS))
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only or list(CHECKS):
        for precision in args.precisions:
            try:
                rows.append(run_check(name, precision, args.device, args.steps, args.warmup))
            except Exception as err:              # one failing model must not hide the others' figures
                rows.append({"check": name, "precision": precision, "error": f"{type(err).__name__}: {err}"})
            print(rows[-1], flush=True)
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
    info = {"torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else args.device}
    lines = [f"# modality check: {info['device']}, torch {info['torch']}", "",
             "| model | precision | batch | D steps per G step | it/s | finite | peak MiB |",
             "|---|---|---:|---:|---:|---|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['check']} | {r['precision']} | | | error: {r['error'][:120]} | | |")
        else:
            lines.append(f"| {r['check']} | {r['precision']} | {r['batch']} | {r['n_critic']} | {r['it_per_s']:.2f} | "
                         f"{r['finite']} | {r['peak_mem_mb']:.0f} |")
    (out / "modality_check.md").write_text("\n".join(lines) + "\n")
    (out / "modality_check.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
