"""Captioned shapes: determinism, pixels agree with the attribute ground truth, held-out pairs."""

import numpy as np
import pytest
import torch

from multigan.text2image.shapes_data import (COLORS, HELD_OUT, POSITIONS, SHAPES, SIZES, CaptionedShapes,
                                             make_caption, render_shape)


def test_deterministic_and_in_range():
    a, b = CaptionedShapes(16, seed=3), CaptionedShapes(16, seed=3)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert a.images.shape == (16, 3, 64, 64) and a.images.min() >= -1 and a.images.max() <= 1
    assert not torch.equal(a.images, CaptionedShapes(16, seed=4).images)


def test_pixels_match_attributes():
    data = CaptionedShapes(60, seed=0)
    colors = np.array(list(COLORS.values()), float)
    for i in range(len(data)):
        img = ((data.images[i].permute(1, 2, 0) + 1) * 127.5).numpy()
        fg = np.abs(img - np.array([235, 235, 230])).sum(-1) > 60
        mean = img[fg].mean(0)
        assert int(np.argmin(((colors - mean) ** 2).sum(1))) == int(data.attributes["color"][i])
        ys, xs = np.nonzero(fg)
        cx, cy = xs.mean() / 64, ys.mean() / 64
        pos = POSITIONS[int(data.attributes["position"][i])]
        assert {"left": cx < 0.4, "right": cx > 0.6, "top": cy < 0.42, "bottom": cy > 0.58,
                "center": 0.35 < cx < 0.65 and 0.35 < cy < 0.65}[pos]
        extent = max(np.ptp(xs), np.ptp(ys)) + 1                        # small ≤ 16 px, large ≥ 22 px at 64²
        assert (extent > 19) == (SIZES[int(data.attributes["size"][i])] == "large")
        words = data.captions[i].lower()
        assert list(COLORS)[int(data.attributes["color"][i])] in words
        assert SHAPES[int(data.attributes["shape"][i])] in words


def test_shapes_differ_in_fill_ratio():
    fills = {}
    for shape in SHAPES:
        img = render_shape("blue", shape, "large", "center", rng=np.random.default_rng(0)).astype(float)
        fg = np.abs(img - np.array([235, 235, 230])).sum(-1) > 60
        ys, xs = np.nonzero(fg)
        fills[shape] = fg.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))       # share of the bounding box
    assert fills["square"] > 0.95 and 0.7 < fills["circle"] < 0.85 and fills["triangle"] < 0.6


def test_held_out_pairs_split():
    train, held = CaptionedShapes(200, seed=0), CaptionedShapes(50, split="heldout", seed=0)
    names = list(COLORS)
    pair = lambda d, i: (names[int(d.attributes["color"][i])], SHAPES[int(d.attributes["shape"][i])])
    assert not any(pair(train, i) in HELD_OUT for i in range(len(train)))
    assert all(pair(held, i) in HELD_OUT for i in range(len(held)))


def test_captions_and_errors():
    assert make_caption("red", "circle", "small", "left") == "a small red circle on the left"
    assert make_caption("red", "circle", "small", "center", 1).startswith("In the middle, there is")
    with pytest.raises(ValueError, match="unknown color 'pink'"):
        render_shape("pink", "circle", "small", "left")
    with pytest.raises(ValueError, match="split"):
        CaptionedShapes(2, split="test")
