"""Voxel grids <-> triangle meshes (scikit-image marching cubes + trimesh, imported on first use).

Example:
    >>> mesh = voxels_to_mesh(voxels)               # (D, H, W) occupancy in [0, 1]  # doctest: +SKIP
    >>> write_mesh(voxels, "chair.glb", smooth_iterations=5)                       # doctest: +SKIP
    >>> grid = mesh_to_voxels("chair.glb", resolution=32)                          # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .utils import as_numpy, atomic_file, check_suffix, existing_file

if TYPE_CHECKING:
    import trimesh

__all__ = ["voxels_to_mesh", "write_mesh", "read_mesh", "mesh_to_voxels", "check_finite_vertices",
           "stand_mesh_on_floor", "MESH_SUFFIXES", "DEFAULT_COLOR"]

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".off")
#: base colour of written meshes (RGB in [0, 1], glTF's baseColorFactor): a light clay grey
DEFAULT_COLOR = (0.72, 0.70, 0.66)


def _check_voxels(voxels: Any, level: float) -> np.ndarray:
    grid = as_numpy(voxels, "voxels")
    if grid.ndim != 3:
        raise ValueError(f"voxels must have shape (D, H, W), got {grid.shape}")
    if not (grid.dtype == np.bool_ or np.issubdtype(grid.dtype, np.number)):
        raise TypeError(f"voxels must be bool or numeric, got dtype {grid.dtype}")
    grid = grid.astype(np.float32)
    if grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError(f"voxels must be a non-empty finite grid, got shape {grid.shape}")
    if grid.min() < 0 or grid.max() > 1:
        raise ValueError(f"voxels must be in [0, 1], got [{grid.min():.3g}, {grid.max():.3g}]")
    if not grid.max() > level:
        raise ValueError(f"voxel grid is empty: no value above level={level} (max {grid.max():.3g}), no surface")
    return grid


def _largest_component(mesh: "trimesh.Trimesh") -> "trimesh.Trimesh":
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return mesh
    return max(parts, key=lambda m: (abs(m.volume) if m.is_watertight else 0.0, len(m.faces)))


def voxels_to_mesh(
    voxels: Any,
    *,
    level: float = 0.5,
    keep_largest: bool = True,
    smooth_iterations: int = 0,
    pitch: float | None = None,
) -> "trimesh.Trimesh":
    """Extract a closed surface from a ``(D, H, W)`` occupancy grid with marching cubes.

    The grid is padded by one voxel of zeros so the surface closes, centred on the origin and
    scaled by ``pitch`` (edge length of one voxel; default ``1 / max(D, H, W)`` so the grid spans
    ``[-0.5, 0.5]``). Normals are fixed so the volume is positive.

    Args:
        voxels: bool or float grid in [0, 1] (array or tensor).
        level: iso-level of the surface.
        keep_largest: keep only the largest connected component (by volume, then face count).
        smooth_iterations: Taubin smoothing passes (volume-preserving; keeps it watertight).
        pitch: voxel edge length in output units.

    Raises:
        ValueError: rank != 3, empty grid / no surface at ``level``, values outside [0, 1].
    """
    import trimesh
    from skimage import measure

    grid = _check_voxels(voxels, level)
    pitch = 1.0 / max(grid.shape) if pitch is None else float(pitch)
    if not pitch > 0:
        raise ValueError(f"pitch must be > 0, got {pitch}")
    verts, faces, _, _ = measure.marching_cubes(np.pad(grid, 1), level=level)
    verts = (verts - 1 - (np.array(grid.shape) - 1) / 2) * pitch
    mesh = trimesh.Trimesh(verts, faces, process=True)
    if keep_largest:
        mesh = _largest_component(mesh)
    if smooth_iterations:
        trimesh.smoothing.filter_taubin(mesh, iterations=int(smooth_iterations))
    mesh.fix_normals()
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def stand_mesh_on_floor(mesh: "trimesh.Trimesh") -> "trimesh.Trimesh":
    """Move ``mesh`` (in place) so its lowest vertex is at y = 0 (glTF's up axis) and its bounding
    box is centred in x and z: it drops into a scene standing on the ground. Returns it."""
    low, high = mesh.bounds
    mesh.apply_translation([-(low[0] + high[0]) / 2, -low[1], -(low[2] + high[2]) / 2])
    return mesh


def _check_color(color: Any) -> tuple[float, float, float]:
    rgb = tuple(float(c) for c in np.asarray(color, dtype=float).reshape(-1))
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise ValueError(f"color must be three values in [0, 1] (RGB), got {color!r}")
    return rgb


def _with_material(mesh: "trimesh.Trimesh", color: tuple[float, float, float]) -> "trimesh.Trimesh":
    """A copy whose visual is a glTF PBR material: ``color``, not metallic, roughness 0.6.

    Without one, glTF's default material is fully metallic, and viewers without an environment
    map draw the faces turned away from the light black."""
    from trimesh.visual import TextureVisuals
    from trimesh.visual.material import PBRMaterial

    out = mesh.copy()
    rgba = [int(round(c * 255)) for c in color] + [255]
    out.visual = TextureVisuals(material=PBRMaterial(name="multigan", baseColorFactor=rgba, metallicFactor=0.0,
                                                     roughnessFactor=0.6, doubleSided=False))
    return out


def _write_obj_with_material(mesh: "trimesh.Trimesh", path: Path, color: tuple[float, float, float]) -> None:
    """``path`` (.obj with ``vn``, ``mtllib``/``usemtl``) and its ``.mtl`` beside it, written together."""
    from trimesh.exchange.obj import export_obj

    from multigan.core.atomic import atomic_files

    mtl = path.with_suffix(".mtl")
    body = export_obj(mesh, include_normals=True, include_texture=False)
    lines = body.splitlines()
    first_face = next((k for k, line in enumerate(lines) if line.startswith("f ")), len(lines))
    lines[first_face:first_face] = ["usemtl multigan"]
    text = f"mtllib {mtl.name}\n" + "\n".join(lines) + "\n"
    r, g, b = color
    material = (f"newmtl multigan\nKd {r:.4f} {g:.4f} {b:.4f}\nKa 0.0000 0.0000 0.0000\nKs 0.1000 0.1000 0.1000\n"
                "Ns 20.0000\nd 1.0\nillum 2\n")
    with atomic_files([path, mtl]) as (obj_tmp, mtl_tmp):
        obj_tmp.write_text(text)
        mtl_tmp.write_text(material)


def write_mesh(mesh_or_voxels: Any, path: str | os.PathLike, *, color: Any = None,
               **voxels_to_mesh_kwargs: Any) -> Path:
    """Write a mesh (or a voxel grid, meshed with :func:`voxels_to_mesh`) to .obj/.stl/.ply/.glb/.off.

    GLB files carry smooth vertex normals and a PBR material of base colour ``color`` (RGB in [0, 1];
    default :data:`DEFAULT_COLOR`; metallic 0, roughness 0.6); OBJ files carry vertex normals
    (``vn``) and, when ``color`` is given, a material file beside them (``name.mtl``, diffuse
    ``color``); STL, PLY and OFF hold the geometry as it is. A mesh with a non-finite vertex is refused.

    Example:
        >>> write_mesh(trimesh.creation.icosphere(), "ball.stl")    # doctest: +SKIP
    """
    import trimesh

    path = check_suffix(path, MESH_SUFFIXES)
    rgb = _check_color(DEFAULT_COLOR if color is None else color)
    if isinstance(mesh_or_voxels, trimesh.Trimesh):
        if voxels_to_mesh_kwargs:
            raise TypeError(f"voxels_to_mesh options {sorted(voxels_to_mesh_kwargs)} given with a mesh")
        mesh = mesh_or_voxels
        if len(mesh.faces) == 0:
            raise ValueError("mesh has no faces")
    else:
        mesh = voxels_to_mesh(mesh_or_voxels, **voxels_to_mesh_kwargs)
    if not np.isfinite(mesh.vertices).all():
        raise ValueError("mesh has non-finite (NaN or inf) vertex coordinates")
    kind = path.suffix.lower()[1:]
    options: dict[str, Any] = {}
    if kind == "glb":
        mesh = _with_material(mesh, rgb)
        options["include_normals"] = True
    elif kind == "obj":
        if color is not None:
            _write_obj_with_material(mesh, path, rgb)
            return path
        options.update(include_normals=True, include_texture=False)
    with atomic_file(path) as tmp:
        mesh.export(str(tmp), file_type=kind, **options)
    return path


def read_mesh(path: str | os.PathLike) -> "trimesh.Trimesh":
    """Load a mesh file as one Trimesh (scenes are concatenated)."""
    import trimesh

    path = existing_file(path)
    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)   # raw: trimesh's processing drops NaN faces
    except Exception as err:
        raise ValueError(f"cannot read mesh {str(path)!r}: {err}") from err
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"mesh file {str(path)!r} holds no triangles")
    check_finite_vertices(mesh, f"mesh file {str(path)!r}")
    mesh.process()                                       # what trimesh.load does by default: merge vertices, …
    return mesh


def check_finite_vertices(mesh: "trimesh.Trimesh", name: str = "the mesh") -> None:
    """``ValueError`` naming how many vertices are NaN or infinite: a damaged mesh, not a shape."""
    bad = int((~np.isfinite(np.asarray(mesh.vertices))).any(axis=1).sum())
    if bad:
        raise ValueError(f"{name}: {bad} of {len(mesh.vertices)} vertices have NaN or infinite coordinates "
                         "(a damaged file)")


def mesh_to_voxels(mesh_or_path: Any, resolution: int = 32, *, fill: bool = True) -> np.ndarray:
    """Voxelise a mesh into a centred ``(R, R, R)`` bool occupancy grid.

    The mesh's bounding box is centred and its longest side scaled to span voxel centres
    ``1 .. R-2`` (a one-voxel empty margin), the surface is voxelised at pitch 1 and, with ``fill``,
    the enclosed interior is filled (``scipy.ndimage.binary_fill_holes``).

    Example:
        >>> grid = mesh_to_voxels(trimesh.creation.icosphere(), 32)     # doctest: +SKIP
    """
    import trimesh
    from scipy import ndimage

    if int(resolution) < 4:
        raise ValueError(f"resolution must be >= 4, got {resolution}")
    mesh = mesh_or_path if isinstance(mesh_or_path, trimesh.Trimesh) else read_mesh(mesh_or_path)
    check_finite_vertices(mesh)
    if len(mesh.faces) == 0 or not mesh.extents.max() > 0:
        raise ValueError("mesh is empty or degenerate")
    res = int(resolution)
    mesh = mesh.copy()
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    mesh.apply_scale((res - 3) / mesh.extents.max())
    mesh.apply_translation([(res - 1) / 2] * 3)
    idx = np.clip(np.round(mesh.voxelized(pitch=1.0).points).astype(int), 0, res - 1)
    grid = np.zeros((res,) * 3, bool)
    grid[tuple(idx.T)] = True
    return ndimage.binary_fill_holes(grid) if fill else grid
