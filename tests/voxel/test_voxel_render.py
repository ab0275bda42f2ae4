"""Voxel previews (multigan.voxel.render): shapes, colours, views and the PNG writer."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from multigan.io.image import read_image
from multigan.voxel.render import VIEWS, render_grid, render_views

R = 32


def chair(r: int = R) -> np.ndarray:
    """A chair on an (x, y, z) grid, y up, front +z: seat, back at the rear, four legs."""
    g = np.zeros((r, r, r), bool)
    s = r // 32
    g[8 * s:24 * s, 12 * s:14 * s, 8 * s:24 * s] = True                  # seat
    g[8 * s:24 * s, 14 * s:30 * s, 8 * s:10 * s] = True                  # back
    for x in (8 * s, 22 * s):
        for z in (8 * s, 22 * s):
            g[x:x + 2 * s, 0:12 * s, z:z + 2 * s] = True                 # legs
    return g


def is_white(img: np.ndarray) -> np.ndarray:
    return (img == 255).all(-1)


def test_output_shape_dtype_and_white_background() -> None:
    img = render_views(chair(), size=64)
    assert img.shape == (64, 64 * len(VIEWS), 3) and img.dtype == np.uint8
    assert is_white(img[:3]).all() and is_white(img[:, :3]).all()           # margins are background
    for k in range(len(VIEWS)):
        tile = img[:, 64 * k:64 * (k + 1)]
        assert 0.02 < (~is_white(tile)).mean() < 0.6                        # every view shows the shape


def test_axis_views_put_pixels_where_the_shape_is() -> None:
    g = np.zeros((16, 16, 16), bool)
    g[0:8, 0:16, 0:16] = True                                                # the x < 8 half
    front = render_views(g, ("front",), size=64)
    fg = ~is_white(front)
    left, right = fg[:, :32].mean(), fg[:, 32:].mean()
    assert left > 0.8 and right < 0.1                                        # +x is image-right in front
    top = ~is_white(render_views(g, ("top",), size=64))
    assert top[:, :32].mean() > 0.8 and top[:, 32:].mean() < 0.1             # +x is image-right from above
    side = ~is_white(render_views(g, ("side",), size=64))
    assert side[3:-3, 3:-3].all()                                            # seen along x: a full square


def test_depth_shading_nearer_is_brighter() -> None:
    g = np.zeros((16, 16, 16), bool)
    g[0:8, 4:12, 12:16] = True                                               # left block near the front camera
    g[8:16, 4:12, 0:4] = True                                                # right block at the back
    img = render_views(g, ("front",), size=64).astype(int).sum(-1)
    near, far = img[32, 16], img[32, 48]
    assert near > far


def test_views_differ_for_an_asymmetric_shape() -> None:
    img = render_views(chair(), size=64)
    tiles = [img[:, 64 * k:64 * (k + 1)] for k in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert (tiles[i] != tiles[j]).mean() > 0.02
    turned = render_views(chair()[::-1, :, ::-1], ("front", "iso"), size=64)   # back now in front
    assert (turned != np.concatenate([tiles[0], tiles[3]], 1)).mean() > 0.02


def test_empty_grid_renders_white_and_inputs_are_flexible() -> None:
    assert is_white(render_views(np.zeros((8, 8, 8)), size=32)).all()
    probs = torch.from_numpy(chair()).float()[None, None] * 0.8              # (1, 1, R, R, R) float
    a = render_views(probs, ("iso",), size=48)
    b = render_views(chair(), "iso", size=48)
    assert np.array_equal(a, b)
    assert is_white(render_views(probs, ("iso",), size=48, threshold=0.9)).all()
    red = render_views(chair(), ("front",), size=32, color=(1.0, 0.0, 0.0))
    shape = ~is_white(red)
    assert (red[shape][:, 1:] == 0).all() and red[shape][:, 0].max() > 100


@pytest.mark.parametrize("kwargs, match", [
    ({"voxels": np.zeros((2, 8, 8, 8))}, "one grid"),
    ({"voxels": np.zeros((8, 8))}, "shape"),
    ({"voxels": np.full((8, 8, 8), 2.0)}, r"\[0, 1\]"),
    ({"views": ("front", "back")}, "unknown view"),
    ({"views": ()}, "at least one"),
    ({"size": 8}, "size"),
    ({"size": 64.0}, "size"),
    ({"color": (1, 2, 3)}, "color"),
    ({"color": "red"}, "color"),
])
def test_render_views_rejects_bad_input(kwargs, match) -> None:
    args = {"voxels": np.zeros((8, 8, 8)), **kwargs}
    with pytest.raises(ValueError, match=match):
        render_views(**args)


def test_render_speed() -> None:
    g32, g64 = chair(), chair(64)
    render_views(g32)
    t = time.perf_counter()
    render_views(g32)
    t32 = time.perf_counter() - t
    t = time.perf_counter()
    render_views(g64)
    t64 = time.perf_counter() - t
    assert t32 < 0.2 and t64 < 1.0, (t32, t64)


def test_render_grid_writes_a_readable_png(tmp_path) -> None:
    batch = torch.from_numpy(np.stack([chair(), chair()[::-1, :, ::-1], np.zeros((R, R, R), bool)]))
    path = render_grid(batch, tmp_path / "sub" / "sheet.png", labels=["chair", "turned", "empty"], size=48)
    assert path == tmp_path / "sub" / "sheet.png" and path.is_file()
    img = read_image(path)
    # default nrow = ceil(sqrt(3 / 4)) = 1 strip per row: width 2 + (4·48 + 2), height 3·(label + 48 + 2) + 2
    assert img.shape[0] == 3 and img.shape[2] == 2 + 4 * 48 + 2
    assert img.shape[1] > 3 * (48 + 2) + 2
    assert (img < 0.2).any()                                                   # black label text
    iso = read_image(render_grid(batch[:, None].float(), tmp_path / "iso.png", views=("iso",), size=32))
    assert iso.shape == (3, 2 + 2 * 34, 2 + 2 * 34)                             # 2 × 2 tiles of 32 px
    row = read_image(render_grid(batch, tmp_path / "row.png", nrow=3, views=("front", "top"), size=32))
    assert row.shape == (3, 2 + 34, 2 + 3 * (2 * 32 + 2))
    one = read_image(render_grid(chair(), tmp_path / "one.png", size=32))        # a single grid
    assert one.shape == (3, 36, 2 + 4 * 32 + 2)


@pytest.mark.parametrize("batch, kwargs, error, match", [
    (np.zeros((0, 8, 8, 8)), {}, ValueError, "at least one"),
    (np.zeros((2, 8)), {}, ValueError, "shape"),
    (np.zeros((2, 8, 8, 8)), {"labels": ["one"]}, ValueError, "labels"),
    (np.zeros((2, 8, 8, 8)), {"labels": "ab"}, ValueError, "labels"),
    (np.zeros((2, 8, 8, 8)), {"nrow": 0}, ValueError, "nrow"),
    (np.zeros((2, 8, 8, 8)), {"views": ("iso", "bottom")}, ValueError, "unknown view"),
    (np.full((2, 8, 8, 8), float("nan")), {}, ValueError, "NaN"),
])
def test_render_grid_rejects_bad_input_and_writes_nothing(tmp_path, batch, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        render_grid(batch, tmp_path / "out.png", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_render_grid_bad_extension_and_no_partial_file(tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="extension"):
        render_grid(np.zeros((1, 8, 8, 8)), tmp_path / "out.gif")
    from PIL import Image

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        render_grid(np.zeros((1, 8, 8, 8)), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []
