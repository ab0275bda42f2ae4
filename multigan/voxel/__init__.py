"""Voxels: 3D-GAN (Wu et al. 2016) — meshes in, voxel shapes learned, meshes out.

>>> from multigan.voxel import GAN3D
>>> model = GAN3D.from_pretrained("furniture-32")                    # doctest: +SKIP
>>> shapes = model.generate(4, label="chair", seed=0)                # doctest: +SKIP
>>> shapes.write_mesh("chair_{i}.glb"); shapes.render("preview.png")  # doctest: +SKIP
"""

from .models import GAN3D, PRESETS
from .shapes import Shapes
from .train import cli, demo

__all__ = ["GAN3D", "PRESETS", "Shapes", "cli", "demo"]
