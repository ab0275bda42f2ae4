"""Captioned shapes: a generator of images with varied captions and exact attribute ground truth.

Each image holds one shape with four attributes — colour, shape, size and position — drawn with
jitter on a light background; its caption comes from one of several sentence templates. A fixed
set of (colour, shape) pairs is held out of training so text faithfulness can be measured on
combinations the model never saw.

Example:
    >>> data = CaptionedShapes(8, split="train", seed=0)
    >>> data.images.shape, data.captions[0] != ""
    (torch.Size([8, 3, 64, 64]), True)
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

__all__ = ["COLORS", "SHAPES", "SIZES", "POSITIONS", "HELD_OUT", "CaptionedShapes", "render_shape", "make_caption"]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40), "green": (44, 160, 44), "blue": (31, 90, 200),
    "yellow": (230, 200, 20), "purple": (148, 60, 189), "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "center")
#: (colour, shape) pairs never shown in the train split; the "heldout" split holds only these
HELD_OUT = (("red", "triangle"), ("green", "circle"), ("blue", "square"), ("yellow", "triangle"),
            ("purple", "circle"), ("orange", "square"))

_TEMPLATES = (
    "a {size} {color} {shape} {where}",
    "{where_cap} there is a {size} {color} {shape}",
    "a {color} {shape}, {size}, {where}",
    "one {size} {shape} in {color} {where}",
    "{size} {color} {shape} placed {where}",
    "the picture shows a {size} {color} {shape} {where}",
)
_WHERE = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
          "center": "in the middle"}
_CENTRES = {"left": (0.27, 0.5), "right": (0.73, 0.5), "top": (0.5, 0.27), "bottom": (0.5, 0.73),
            "center": (0.5, 0.5)}
_BACKGROUND = (235, 235, 230)


def make_caption(color: str, shape: str, size: str, position: str, template: int = 0) -> str:
    """The caption of one attribute set with sentence template ``template`` (0..5)."""
    where = _WHERE[position]
    text = _TEMPLATES[template % len(_TEMPLATES)].format(size=size, color=color, shape=shape, where=where,
                                                         where_cap=where[0].upper() + where[1:] + ",")
    return text


def render_shape(color: str, shape: str, size: str, position: str, *, image_size: int = 64,
                 rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Draw one shape; returns uint8 (H, W, 3). Jitter (from ``rng``) moves and scales it a little."""
    from PIL import Image, ImageDraw

    for value, options, name in ((color, COLORS, "color"), (shape, SHAPES, "shape"), (size, SIZES, "size"),
                                 (position, POSITIONS, "position")):
        if value not in options:
            raise ValueError(f"unknown {name} {value!r}; choose from {list(options)}")
    rng = rng or np.random.default_rng(0)
    s = image_size
    radius = (0.11 if size == "small" else 0.2) * s * rng.uniform(0.9, 1.1)
    cx, cy = _CENTRES[position]
    cx, cy = (cx + rng.uniform(-0.04, 0.04)) * s, (cy + rng.uniform(-0.04, 0.04)) * s
    img = Image.new("RGB", (s, s), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    fill = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in COLORS[color])
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(cx, cy - radius), (cx - radius, cy + radius * 0.8), (cx + radius, cy + radius * 0.8)], fill=fill)
    return np.asarray(img, dtype=np.uint8)


class CaptionedShapes(torch.utils.data.Dataset):
    """``n`` captioned images of one split, deterministic for a seed.

    Args:
        n:          number of images.
        split:      ``"train"`` (every (colour, shape) pair except :data:`HELD_OUT`) or
                    ``"heldout"`` (only the held-out pairs).
        image_size: edge in pixels.
        seed:       RNG seed (the split is mixed in, so train and held-out draws differ).

    Attributes:
        images:     float32 (n, 3, H, W) in [-1, 1].
        captions:   one caption per image.
        attributes: dict of int64 tensors ``color``, ``shape``, ``size``, ``position`` (indices into
                    :data:`COLORS`, :data:`SHAPES`, :data:`SIZES`, :data:`POSITIONS`).
    """

    def __init__(self, n: int, *, split: str = "train", image_size: int = 64, seed: int = 0):
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        colors = list(COLORS)
        pairs = [(c, s) for c in colors for s in SHAPES if ((c, s) in HELD_OUT) == (split == "heldout")]
        images, captions, attrs = [], [], {"color": [], "shape": [], "size": [], "position": []}
        for _ in range(int(n)):
            color, shape = pairs[rng.integers(len(pairs))]
            size, position = SIZES[rng.integers(len(SIZES))], POSITIONS[rng.integers(len(POSITIONS))]
            images.append(render_shape(color, shape, size, position, image_size=image_size, rng=rng))
            captions.append(make_caption(color, shape, size, position, int(rng.integers(len(_TEMPLATES)))))
            attrs["color"].append(colors.index(color))
            attrs["shape"].append(SHAPES.index(shape))
            attrs["size"].append(SIZES.index(size))
            attrs["position"].append(POSITIONS.index(position))
        self.images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        self.captions = captions
        self.attributes = {k: torch.tensor(v, dtype=torch.long) for k, v in attrs.items()}
        self.split = split

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int):
        return self.images[i], self.captions[i]
