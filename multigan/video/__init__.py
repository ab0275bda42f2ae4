"""Video: DVD-GAN (Clark, Donahue & Simonyan 2019) — class-conditional clips written to MP4/WebM/GIF.

>>> from multigan.video import DVDGAN
>>> model = DVDGAN.from_pretrained("moving-mnist")              # doctest: +SKIP
>>> clips = model.generate(4, label="7", seed=0)                 # doctest: +SKIP
>>> clips.write_video("seven.mp4", fps=8); clips.write_video("grid.gif", grid=True)   # doctest: +SKIP
"""

from .pipeline import Clips
from .models import DVDGAN, PRESETS
from .cli import cli, demo

__all__ = ["DVDGAN", "PRESETS", "Clips", "cli", "demo"]


def _register_benchmarks() -> None:
    import torch

    from multigan.bench import BenchConfig, register_benchmark, register_shipped

    def clips(n: int, frames: int, channels: int, size: int):
        return lambda: torch.rand(n, frames, channels, size, size) * 2 - 1

    # ~3 s per iteration on a CPU core: name it explicitly there (`multigan bench --configs video32`)
    register_benchmark(BenchConfig("video32", lambda: DVDGAN(**PRESETS["cpu-32"]), clips(64, 16, 1, 32), 8,
                                   gpu_only=True))
    register_benchmark(BenchConfig("video64", lambda: DVDGAN(**PRESETS["cpu-64"]), clips(32, 16, 1, 64), 8,
                                   gpu_only=True))
    def moving_mnist():
        from .data import training_dataset
        return training_dataset(None, frames=16, size=32, channels=1)

    register_shipped("video-mnist32", "video", "moving-mnist", DVDGAN, lambda: DVDGAN.from_pretrained("moving-mnist"),
                     moving_mnist, 16)
    register_benchmark(BenchConfig("video128-paper", lambda: DVDGAN(**PRESETS["paper-128"], channels=3),
                                   clips(16, 48, 3, 128), 4, gpu_only=True))


_register_benchmarks()
