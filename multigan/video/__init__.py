"""Video: DVD-GAN (Clark, Donahue & Simonyan 2019) — class-conditional clips written to MP4/WebM/GIF.

>>> from multigan.video import DVDGAN
>>> model = DVDGAN.from_pretrained("moving-mnist")              # doctest: +SKIP
>>> clips = model.generate(4, label="7", seed=0)                 # doctest: +SKIP
>>> clips.write_video("seven.mp4", fps=8); clips.write_video("grid.gif", grid=True)   # doctest: +SKIP
"""

from .clips import Clips
from .models import DVDGAN, PRESETS
from .train import cli, demo

__all__ = ["DVDGAN", "PRESETS", "Clips", "cli", "demo"]
