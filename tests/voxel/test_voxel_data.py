"""Voxel datasets (multigan.voxel.data): the furniture asset, folders, arrays, binvox, augmentation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import trimesh
from torch.utils.data import TensorDataset

import multigan.io.mesh
from multigan.io.mesh import read_mesh
from multigan.voxel import data as vd
from multigan.voxel.data import CLASSES, VoxelDataset

torch.set_num_threads(1)


def _chiral(n: int = 8) -> np.ndarray:
    """An L-shaped grid with a tower at one end: no rotation or mirror maps it onto itself."""
    grid = np.zeros((n, n, n), bool)
    grid[1:6, 0, 1] = True              # along x
    grid[1, 0, 1:4] = True              # along z from the x = 1 end
    grid[5, 0:3, 1] = True              # tower at the x = 5 end
    return grid


# -- the shipped asset -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def furniture32() -> VoxelDataset:
    return VoxelDataset.furniture(resolution=32, augment=False)


def test_furniture_asset_shapes_and_classes(furniture32) -> None:
    data = furniture32
    assert isinstance(data, TensorDataset) and data.tensors == (data.voxels, data.labels)
    n = len(data)
    assert data.voxels.shape == (n, 1, 32, 32, 32) and data.voxels.dtype == torch.float32
    assert data.labels.shape == (n,) and data.labels.dtype == torch.int64
    assert set(torch.unique(data.voxels).tolist()) == {0.0, 1.0}
    assert data.classes == list(CLASSES) and len(data.names) == n == len(set(data.names))
    counts = data.shape_counts()
    assert all(counts[c] > 5 for c in CLASSES), counts
    assert torch.equal(data.groups, torch.arange(n))
    voxels, label = data[0]
    assert voxels.shape == (1, 32, 32, 32) and label.dtype == torch.int64
    # every shape fills its grid's longest side with a one-voxel margin, and is solid somewhere
    occupied = data.voxels[:, 0].bool()
    assert not occupied[:, [0, -1]].any() and not occupied[:, :, [0, -1]].any()
    assert (occupied.flatten(1).sum(1) > 50).all()


def test_furniture_64_class_subset_and_16() -> None:
    beds = VoxelDataset.furniture(resolution=64, classes=["bed", "sofa"], augment=False)
    assert beds.voxels.shape[1:] == (1, 64, 64, 64) and beds.classes == ["bed", "sofa"]
    assert sorted(set(beds.labels.tolist())) == [0, 1]
    small = VoxelDataset.furniture(resolution=16, classes=["bed", "sofa"], augment=False)
    assert small.names == beds.names
    pooled = beds.voxels.reshape(-1, 1, 16, 4, 16, 4, 16, 4).amax((3, 5, 7))
    assert torch.equal(small.voxels, pooled)                     # max-pooled from 64³
    with pytest.raises(ValueError, match="known|chair"):
        VoxelDataset.furniture(classes=["lamp"])
    with pytest.raises(ValueError, match="resolution"):
        VoxelDataset.furniture(resolution=48)


def test_furniture_missing_asset_names_the_script(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MULTIGAN_ASSETS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="build_voxel_assets.py"):
        VoxelDataset.furniture()


def test_furniture_augmentation_is_8_exact_variants(furniture32) -> None:
    aug = VoxelDataset.furniture(resolution=32, classes=["chair"], augment=True)
    base = furniture32.subset(furniture32.labels == 0)
    assert len(aug) == 8 * len(base)
    assert aug.names[:8] == [f"{base.names[0]}@r{a}{m}" for m in ("", "m") for a in (0, 90, 180, 270)]
    assert torch.equal(aug.groups, torch.arange(len(base)).repeat_interleave(8))
    shape = base.voxels[3]
    for v, (m, k) in enumerate((m, k) for m in (False, True) for k in range(4)):
        assert torch.equal(aug.voxels[3 * 8 + v], vd.rotate_vertical(shape, k, mirror=m))
    only_mirror = VoxelDataset.furniture(resolution=32, classes=["chair"], augment=True, rotations=False)
    assert len(only_mirror) == 2 * len(base) and only_mirror.names[1].endswith("@r0m")


# -- grid helpers ----------------------------------------------------------------------------------

def test_rotate_vertical_is_exact_and_keeps_up() -> None:
    grid = _chiral()
    variants = [vd.rotate_vertical(grid, k, mirror=m) for m in (False, True) for k in range(4)]
    assert len({v.tobytes() for v in variants}) == 8                        # all distinct
    assert all((v.sum(axis=(0, 2)) == grid.sum(axis=(0, 2))).all() for v in variants)   # heights kept
    np.testing.assert_array_equal(vd.rotate_vertical(grid, 4), grid)
    np.testing.assert_array_equal(vd.rotate_vertical(vd.rotate_vertical(grid, 3), 1), grid)
    np.testing.assert_array_equal(vd.rotate_vertical(grid, -1), vd.rotate_vertical(grid, 3))
    batch = torch.from_numpy(np.stack([grid, grid]))[:, None]                # (N, 1, x, y, z) tensors
    out = vd.rotate_vertical(batch, 1, mirror=True)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_array_equal(out[1, 0].numpy(), variants[5])


def test_stand_on_floor_moves_each_shape_down_exactly() -> None:
    grid = _chiral()
    lifted = np.zeros((2, 1) + grid.shape, bool)
    lifted[0, 0, :, 3:] = grid[:, :grid.shape[1] - 3]                       # the shape 3 layers up (if it fits)
    lifted[1, 0, 2, 5, 1] = True                                             # one voxel at y = 5
    down = vd.stand_on_floor(torch.from_numpy(lifted))
    assert isinstance(down, torch.Tensor) and down.shape == lifted.shape
    for before, after in zip(lifted[:, 0], down.numpy()[:, 0]):
        assert after.sum() == before.sum() and after.any(axis=(0, 2))[0]  # nothing lost, lowest layer y = 0
        ys = np.flatnonzero(before.any(axis=(0, 2)))
        np.testing.assert_array_equal(after[:, :before.shape[1] - ys[0]], before[:, ys[0]:])
    np.testing.assert_array_equal(vd.stand_on_floor(vd.rotate_vertical(lifted, 1)),
                                  vd.rotate_vertical(vd.stand_on_floor(lifted), 1))
    empty = np.zeros((4, 4, 4))
    np.testing.assert_array_equal(vd.stand_on_floor(empty), empty)
    data = VoxelDataset.from_arrays(lifted[:, 0], labels=[0, 0], classes=["x"]).on_floor()
    np.testing.assert_array_equal(data.voxels.numpy() > 0, down.numpy())
    assert data.names and data.classes == ["x"]
    with pytest.raises(ValueError, match="x, y, z"):
        vd.stand_on_floor(np.zeros((4, 4)))


def test_thicken_widens_thin_parts_only() -> None:
    grid = np.zeros((8, 8, 8), bool)
    grid[1:7, 5:7, 1:7] = True                                               # a 6×2×6 slab: 2 thick
    grid[3, 0:5, 3] = True                                                   # a 1-voxel leg under it
    out = vd.thicken(grid)
    assert out.dtype == bool and (out >= grid).all()                         # nothing removed
    added = out & ~grid
    assert added.sum() == 3 * 5 and not added[:, 5:7].any()                  # the leg became 2×2, the slab as is
    assert set(map(tuple, np.argwhere(added)[:, [0, 2]])) == {(2, 2), (2, 3), (3, 2)}
    np.testing.assert_array_equal(vd.thicken(out), out)                      # already 2 thick: unchanged
    np.testing.assert_array_equal(vd.thicken(grid, 1), grid)
    assert vd.thicken(grid, 3).sum() > out.sum()
    batch = torch.from_numpy(np.stack([grid, grid[::-1]])[:, None]).float()  # torch in, torch out, per grid
    thick = vd.thicken(batch)
    assert isinstance(thick, torch.Tensor) and thick.dtype == torch.float32 and thick.shape == batch.shape
    np.testing.assert_array_equal(thick[0, 0].numpy() > 0, out)
    data = VoxelDataset.from_arrays(np.stack([grid, grid]), labels=[0, 1], classes=["a", "b"]).thickened()
    np.testing.assert_array_equal(data.voxels[1, 0].numpy() > 0, out)
    assert data.classes == ["a", "b"] and data.labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="size"):
        vd.thicken(grid, 0)
    with pytest.raises(ValueError, match="x, y, z"):
        vd.thicken(np.zeros((4, 4)))


@pytest.mark.parametrize("res", [8, 12, 32])
def test_pack_round_trip(res) -> None:
    grid = np.random.default_rng(res).random((3, res, res, res)) < 0.3
    packed = vd.pack_voxels(grid)
    assert packed.dtype == np.uint8 and packed.shape == (3, res, res, (res + 7) // 8)
    np.testing.assert_array_equal(vd.unpack_voxels(packed), grid)
    with pytest.raises(ValueError, match="last axis"):
        vd.unpack_voxels(packed, resolution=res + 8)


def test_resample_voxels() -> None:
    grid = np.zeros((8, 8, 8), bool)
    grid[0, 0, 0] = True
    assert vd.resample_voxels(grid, 4).sum() == 1 and vd.resample_voxels(grid, 4)[0, 0, 0]   # max-pool
    assert vd.resample_voxels(np.ones((6, 6, 6), bool), 4).all()                              # nearest
    assert vd.resample_voxels(np.ones((4, 2, 4), bool), 4).sum() == 32                         # padded


# -- binvox ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 8, 8), (4, 6, 5)])
def test_binvox_round_trip(tmp_path, shape) -> None:
    grid = np.random.default_rng(0).random(shape) < 0.4
    grid[:, :, 0] = True                                    # a long run (> 255 voxels when large)
    path = vd.write_binvox(grid, tmp_path / "g.binvox", translate=(1, 2, 3), scale=0.5)
    assert path.read_bytes().startswith(b"#binvox 1\n")
    back = vd.read_binvox(path)
    assert back.dtype == bool
    np.testing.assert_array_equal(back, grid)
    big = np.ones((16, 16, 16))
    np.testing.assert_array_equal(vd.read_binvox(vd.write_binvox(big, tmp_path / "b.binvox")), big > 0)


def test_binvox_axis_order_follows_the_spec(tmp_path) -> None:
    # spec: voxel (x, y, z) at index x * W*H + z * W + y (y fastest); one voxel at x=1, y=2, z=3
    index = 1 * 16 + 3 * 4 + 2
    data = bytes([0, index, 1, 1, 0, 64 - index - 1])
    path = tmp_path / "one.binvox"
    path.write_bytes(b"#binvox 1\ndim 4 4 4\ntranslate 0 0 0\nscale 1\ndata\n" + data)
    assert np.argwhere(vd.read_binvox(path)).tolist() == [[1, 2, 3]]
    path.write_bytes(b"#binvox 1\ndim 4 4 4\ndata\n" + data[:-2])
    with pytest.raises(ValueError, match="run lengths"):
        vd.read_binvox(path)
    path.write_bytes(b"solid stl\n")
    with pytest.raises(ValueError, match="not a binvox"):
        vd.read_binvox(path)


# -- folders ---------------------------------------------------------------------------------------

@pytest.fixture()
def shape_folder(tmp_path):
    root = tmp_path / "shapes"
    (root / "boxes").mkdir(parents=True)
    (root / "balls").mkdir()
    trimesh.creation.box(extents=(2, 1, 1)).export(root / "boxes" / "long.stl")
    trimesh.creation.box(extents=(1, 1, 1)).export(root / "boxes" / "cube.obj")
    trimesh.creation.icosphere(subdivisions=2).export(root / "balls" / "ball.ply")
    grid = np.zeros((16, 16, 16), bool)
    grid[4:12, 4:12, 4:12] = True
    vd.write_binvox(grid, root / "balls" / "voxels.binvox")
    (root / "boxes" / "broken.obj").write_text("this is not a mesh\n")
    (root / "boxes" / "notes.txt").write_text("ignored: not a shape suffix\n")
    return root


def test_from_folder_skips_junk_and_reuses_cache(shape_folder, monkeypatch) -> None:
    with pytest.warns(UserWarning, match=r"skipped 1 of 5 .*broken\.obj"):
        data = VoxelDataset.from_folder(shape_folder, resolution=8)
    assert data.classes == ["balls", "boxes"]
    assert data.names == ["balls/ball.ply", "balls/voxels.binvox", "boxes/cube.obj", "boxes/long.stl"]
    assert data.labels.tolist() == [0, 0, 1, 1] and data.voxels.shape == (4, 1, 8, 8, 8)
    np.testing.assert_array_equal(data.voxels[1, 0].numpy(), np.pad(np.ones((4, 4, 4)), 2))   # 16³ → 8³
    assert (shape_folder / ".multigan_cache" / "voxels8.npz").is_file()

    def no_voxelising(*args, **kwargs):
        raise AssertionError("voxelised again although the cache is valid")

    monkeypatch.setattr(multigan.io.mesh, "mesh_to_voxels", no_voxelising)
    with pytest.warns(UserWarning, match="skipped 1"):
        again = VoxelDataset.from_folder(shape_folder, resolution=8, augment=True)
    assert len(again) == 8 * len(data) and torch.equal(again.voxels[::8], data.voxels)
    monkeypatch.undo()

    trimesh.creation.box(extents=(1, 3, 1)).export(shape_folder / "boxes" / "tall.stl")   # stale cache
    with pytest.warns(UserWarning, match="skipped 1 of 6"):
        assert len(VoxelDataset.from_folder(shape_folder, resolution=8)) == 5


def test_a_mesh_with_nan_or_infinite_vertices_is_skipped_not_trained_on(tmp_path) -> None:
    """trimesh would silently drop the faces touching a NaN vertex and voxelise the rest."""
    root = tmp_path / "boxes"
    root.mkdir()
    box = trimesh.creation.box()
    box.export(root / "good.obj")
    for name, value in (("nan.obj", np.nan), ("inf.ply", np.inf)):
        vertices = box.vertices.copy()
        vertices[0, 1] = value
        trimesh.Trimesh(vertices, box.faces, process=False).export(root / name)
    with pytest.raises(ValueError, match="nan.obj': 1 of 8 vertices have NaN or infinite coordinates"):
        read_mesh(root / "nan.obj")
    with pytest.warns(UserWarning, match=r"skipped 2 of 3 .*inf\.ply.*NaN or infinite.*nan\.obj"):
        data = VoxelDataset.from_folder(root, resolution=8, cache=False)
    assert data.names == ["good.obj"]
    assert read_mesh(root / "good.obj").faces.shape == (12, 3)                 # good meshes load as before


def test_from_folder_flat_and_failures(tmp_path) -> None:
    flat = tmp_path / "mugs"
    flat.mkdir()
    trimesh.creation.cylinder(radius=1, height=2).export(flat / "a.off")
    data = VoxelDataset.from_folder(flat, resolution=8, cache=False)
    assert data.classes == ["mugs"] and len(data) == 1
    assert not (flat / ".multigan_cache").exists()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.stl").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="junk"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        VoxelDataset.from_folder(junk, resolution=8)
    with pytest.raises(FileNotFoundError, match="no .*files"):
        VoxelDataset.from_folder(tmp_path / "junk" / "..", resolution=8, extensions=(".glb",))
    with pytest.raises(FileNotFoundError):
        VoxelDataset.from_folder(tmp_path / "missing")


# -- arrays and splits -----------------------------------------------------------------------------

def test_from_arrays_accepts_and_rejects() -> None:
    grids = np.random.default_rng(0).random((4, 6, 6, 6)) < 0.5
    data = VoxelDataset.from_arrays(grids, labels=[0, 1, 1, 0], classes=["a", "b"])
    assert data.voxels.shape == (4, 1, 6, 6, 6) and data.voxels.dtype == torch.float32
    assert torch.equal(VoxelDataset.from_arrays(torch.from_numpy(grids)[:, None]).voxels, data.voxels)
    assert VoxelDataset.from_arrays(grids).classes == ["shape"]
    assert VoxelDataset.from_arrays(grids, labels=np.array([0, 2, 1, 0])).classes == ["0", "1", "2"]
    with pytest.raises(ValueError, match=r"\(N, R, R, R\)"):
        VoxelDataset.from_arrays(grids[0])
    with pytest.raises(ValueError, match=r"\(N, 1, R, R, R\)"):
        VoxelDataset.from_arrays(np.stack([grids, grids], 1))
    with pytest.raises(ValueError, match="cubic"):
        VoxelDataset.from_arrays(grids[:, :, :, :5])
    with pytest.raises(TypeError, match="dtype"):
        VoxelDataset.from_arrays(grids.astype(np.complex64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VoxelDataset.from_arrays(grids * 2.0 - 1.0)
    with pytest.raises(ValueError, match="NaN"):
        VoxelDataset.from_arrays(np.full((1, 4, 4, 4), np.nan))
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        VoxelDataset.from_arrays(grids, labels=[0, 1, 2, 0], classes=["a", "b"])
    with pytest.raises(TypeError, match="integers"):
        VoxelDataset.from_arrays(grids, labels=[0.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="one per shape"):
        VoxelDataset.from_arrays(grids, labels=[0, 1])


def test_split_keeps_augmented_copies_together() -> None:
    data = VoxelDataset.furniture(resolution=16, augment=True)
    train, held = data.split(0.25, seed=0)
    assert len(train) + len(held) == len(data)
    tg, hg = set(train.groups.tolist()), set(held.groups.tolist())
    assert not tg & hg and tg | hg == set(range(len(data) // 8))
    assert all(n > 0 for n in held.shape_counts().values()) and all(n > 0 for n in train.shape_counts().values())
    assert len(held) % 8 == 0 and held.classes == data.classes
    again, _ = data.split(0.25, seed=0)
    assert again.names == train.names
    with pytest.raises(ValueError, match="fraction"):
        data.split(1.0)
