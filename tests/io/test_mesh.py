"""Voxels <-> meshes (multigan.io.mesh)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from multigan.io import mesh


def _sphere(radius: float = 10.0, n: int = 32) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    return x ** 2 + y ** 2 + z ** 2 <= radius ** 2


def test_sphere_is_watertight_with_the_right_volume() -> None:
    m = mesh.voxels_to_mesh(_sphere(), pitch=1.0)
    assert m.is_watertight and m.volume > 0
    assert abs(m.volume - 4 / 3 * math.pi * 1000) <= 0.05 * 4 / 3 * math.pi * 1000
    smooth = mesh.voxels_to_mesh(torch.from_numpy(_sphere()).float(), pitch=1.0, smooth_iterations=10)
    assert smooth.is_watertight and smooth.volume > 0


def test_default_scaling_and_largest_component() -> None:
    grid = np.zeros((32, 32, 32), bool)
    grid[2:12, 2:12, 2:12] = True          # big cube
    grid[20:23, 20:23, 20:23] = True       # small cube
    assert np.abs(mesh.voxels_to_mesh(np.ones((8, 8, 8))).bounds).max() <= 0.5 + 1e-9
    assert len(mesh.voxels_to_mesh(grid, keep_largest=False).split()) == 2
    kept = mesh.voxels_to_mesh(grid, pitch=1.0)
    assert kept.is_watertight and len(kept.split()) == 1 and kept.volume > 500


@pytest.mark.parametrize("suffix", mesh.MESH_SUFFIXES)
def test_write_every_format(tmp_path, suffix) -> None:
    path = mesh.write_mesh(_sphere(6, 16), tmp_path / f"ball{suffix}", smooth_iterations=2)
    loaded = trimesh.load(str(path), force="mesh")
    assert len(loaded.faces) > 0
    assert len(mesh.read_mesh(path).vertices) > 0
    mesh.write_mesh(trimesh.creation.icosphere(), tmp_path / f"ico{suffix}")
    assert len(mesh.read_mesh(tmp_path / f"ico{suffix}").faces) == 1280


@pytest.mark.parametrize("shape", [trimesh.creation.box(extents=(2, 1, 1)), trimesh.creation.icosphere()])
def test_mesh_to_voxels_is_solid_and_centred(tmp_path, shape) -> None:
    grid = mesh.mesh_to_voxels(shape, 32)
    assert grid.shape == (32, 32, 32) and grid.dtype == bool
    assert grid[16, 16, 16] and grid[15, 15, 15]
    occupied = np.argwhere(grid)
    np.testing.assert_allclose(occupied.mean(axis=0), 15.5, atol=0.5)
    assert occupied.min() >= 1 and occupied.max() <= 30       # one-voxel margin
    assert not mesh.mesh_to_voxels(shape, 32, fill=False)[16, 16, 16]
    path = mesh.write_mesh(shape, tmp_path / "s.stl")
    np.testing.assert_array_equal(mesh.mesh_to_voxels(path, 32), grid)


@pytest.mark.parametrize("bad", [np.ones((4, 4)), np.zeros((8, 8, 8)), np.full((4, 4, 4), 2.0)])
def test_bad_grids_raise_and_leave_no_file(tmp_path, bad) -> None:
    with pytest.raises(ValueError):
        mesh.write_mesh(bad, tmp_path / "x.obj")
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_and_unreadable(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\.obj"):
        mesh.write_mesh(_sphere(), tmp_path / "x.fbx")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        mesh.read_mesh(tmp_path / "none.obj")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(ValueError, match="empty.obj"):
        mesh.read_mesh(tmp_path / "empty.obj")


def _glb_json(path) -> dict:
    import json
    import struct

    data = path.read_bytes()
    length = struct.unpack("<I", data[12:16])[0]
    return json.loads(data[20:20 + length])


def test_glb_has_a_matte_material_and_normals_and_obj_has_vertex_normals(tmp_path) -> None:
    """Viewers draw a GLB without material metallic (black without an environment map) and faceted without normals."""
    doc = _glb_json(mesh.write_mesh(_sphere(6, 16), tmp_path / "ball.glb", color=(0.2, 0.4, 0.8)))
    (material,) = doc["materials"]
    pbr = material["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == pytest.approx(0.6)
    assert pbr["baseColorFactor"][:3] == pytest.approx([0.2, 0.4, 0.8], abs=0.003)
    primitive = doc["meshes"][0]["primitives"][0]
    assert {"POSITION", "NORMAL"} <= set(primitive["attributes"]) and primitive["material"] == 0
    text = mesh.write_mesh(_sphere(6, 16), tmp_path / "ball.obj").read_text()
    vertices = sum(line.startswith("v ") for line in text.splitlines())
    assert sum(line.startswith("vn ") for line in text.splitlines()) == vertices > 0
    with pytest.raises(ValueError, match="color"):
        mesh.write_mesh(_sphere(6, 16), tmp_path / "bad.glb", color=(1, 2, 3))
    broken = trimesh.creation.icosphere()
    broken.vertices[0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        mesh.write_mesh(broken, tmp_path / "nan.glb")
    assert not (tmp_path / "bad.glb").exists() and not (tmp_path / "nan.glb").exists()


def test_stand_on_floor_puts_the_lowest_vertex_at_y0_and_centres_x_and_z() -> None:
    shape = trimesh.creation.box(extents=(2, 1, 4))
    shape.apply_translation([3, 5, -7])
    mesh.stand_mesh_on_floor(shape)
    low, high = shape.bounds
    assert low[1] == pytest.approx(0) and high[1] == pytest.approx(1)
    assert (low + high)[[0, 2]] == pytest.approx([0, 0])


def test_obj_with_a_colour_gets_its_material_file(tmp_path) -> None:
    path = mesh.write_mesh(_sphere(6, 16), tmp_path / "ball.obj", color=(0.8, 0.3, 0.2))
    text, mtl = path.read_text(), (tmp_path / "ball.mtl").read_text()
    assert text.startswith("mtllib ball.mtl\n") and "usemtl multigan" in text
    assert "newmtl multigan" in mtl and "Kd 0.8000 0.3000 0.2000" in mtl
    loaded = trimesh.load(str(path), force="mesh")
    assert len(loaded.faces) > 0 and np.abs(loaded.visual.material.diffuse[:3] - [204, 77, 51]).max() <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ball.mtl", "ball.obj"]    # no temporaries
