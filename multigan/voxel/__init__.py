"""Voxels: 3D-GAN (Wu et al. 2016) — meshes in, voxel shapes learned, meshes out.

>>> from multigan.voxel import GAN3D
>>> model = GAN3D.from_pretrained("furniture-32")                    # doctest: +SKIP
>>> shapes = model.generate(4, label="chair", seed=0)                # doctest: +SKIP
>>> shapes.write_mesh("chair_{i}.glb"); shapes.render("preview.png")  # doctest: +SKIP
"""

from .models import GAN3D, PRESETS, REPAIR_STEPS
from .pipeline import BRIDGE_LOW, Shapes
from .cli import cli, demo

__all__ = ["GAN3D", "PRESETS", "Shapes", "BRIDGE_LOW", "REPAIR_STEPS", "cli", "demo"]


def _register_benchmarks() -> None:
    import torch

    from multigan.bench import BenchConfig, register_benchmark, register_shipped

    def shapes(n: int, r: int):
        return lambda: (torch.rand(n, 1, r, r, r) < 0.1).float()

    register_benchmark(BenchConfig("voxel32", lambda: GAN3D(**PRESETS["cpu-32"]), shapes(256, 32), 32,
                                   {"channels_last": True}, gpu_only=True))

    def furniture():                 # the shipped model's training shapes, made as its run made them
        from .data import training_dataset
        model = GAN3D.from_pretrained("furniture-32")
        return training_dataset(None, model.resolution, model.classes, "mirror", model.placement, model.thickness)

    register_shipped("voxel-furniture32", "voxel", "furniture-32", GAN3D, lambda: GAN3D.from_pretrained("furniture-32"),
                     furniture, 32)
    register_benchmark(BenchConfig("voxel64-paper", lambda: GAN3D(**PRESETS["paper-64"]), shapes(400, 64), 100,
                                   {"channels_last": True}, gpu_only=True))


_register_benchmarks()
