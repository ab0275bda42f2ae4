"""Images and grids (multigan.io.image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multigan.io import image


def test_grid_shape_and_padding() -> None:
    grid = image.make_grid(np.zeros((5, 3, 8, 8), np.float32), nrow=3, padding=2)
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3) and grid.dtype == np.uint8
    assert grid[0].min() == 255 and grid[2:10, 2:10].max() == 0
    assert grid[12:20, 22:30].min() == 255        # 6th slot is empty, filled with pad_value
    assert image.make_grid(torch.ones(4, 1, 8, 8)).shape == (22, 22, 3)


def test_png_round_trip_is_exact(tmp_path) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 12, 10), dtype=np.uint8)
    path = image.write_image(img, tmp_path / "x.png")
    np.testing.assert_array_equal(np.round(image.read_image(path) * 255).astype(np.uint8), img)
    gray = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    back = image.read_image(image.write_image(gray, tmp_path / "g.png"), grayscale=True)
    np.testing.assert_array_equal(np.round(back[0] * 255).astype(np.uint8), gray)


def test_layouts_and_jpeg(tmp_path) -> None:
    hwc = np.random.default_rng(1).random((12, 10, 3)).astype(np.float32)
    assert image.read_image(image.write_image(hwc, tmp_path / "a.jpg")).shape == (3, 12, 10)
    batch = torch.rand(5, 3, 8, 8)
    assert image.read_image(image.write_image(batch, tmp_path / "b.png", nrow=3)).shape == (3, 22, 32)


@pytest.mark.parametrize("bad, match", [
    (np.full((3, 8, 8), 2.0), r"\[0, 1\]"),
    (np.zeros((5, 8, 8)), "channels"),
    (np.zeros(8), "image must be"),
])
def test_bad_images_raise_and_leave_no_file(tmp_path, bad, match) -> None:
    with pytest.raises(ValueError, match=match):
        image.write_image(bad, tmp_path / "x.png")
    with pytest.raises(ValueError, match="extension"):
        image.write_image(np.zeros((3, 8, 8)), tmp_path / "x.bmp")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        image.read_image(tmp_path / "none.png")


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch) -> None:
    from PIL import Image

    (tmp_path / "keep.png").write_bytes(b"old")

    def boom(self, fp, *args, **kwargs):
        open(fp, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        image.write_image(np.zeros((3, 8, 8)), tmp_path / "keep.png")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]
    assert (tmp_path / "keep.png").read_bytes() == b"old"
