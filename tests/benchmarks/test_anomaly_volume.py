"""The volume benchmark's lesion: a sphere of the asked size, where asked, on the volume's own grid."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "anomaly_volume.py"
_SPEC = importlib.util.spec_from_file_location("anomaly_volume", _PATH)
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)
draw_sphere = _MODULE.draw_sphere


def test_sphere_has_its_volume_centre_and_factor() -> None:
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-40.0, -40.0, -40.0]                     # voxel (20, 20, 20) is the origin
    volume = np.full((41, 41, 41), 10.0, np.float32)
    out, mask = draw_sphere(volume, affine, (8.0, 0.0, -4.0), 16.0, 1.5)
    # 16 mm across at 2 mm voxels: 4/3 π 4³ ≈ 268 voxels (the lattice count is close to it)
    assert abs(int(mask.sum()) - 4 / 3 * np.pi * 4 ** 3) < 0.06 * 4 / 3 * np.pi * 4 ** 3
    centre = np.argwhere(mask).mean(axis=0)
    np.testing.assert_allclose(centre, [24, 20, 18])          # (8, 0, -4) mm → voxel (24, 20, 18)
    assert mask[24, 20, 18] and mask[28, 20, 18] and not mask[29, 20, 18]   # radius 4 voxels
    np.testing.assert_array_equal(out[mask], 15.0)
    np.testing.assert_array_equal(out[~mask], 10.0)
    assert volume.max() == 10.0                               # the input is left alone


def test_sphere_in_a_flipped_grid_lands_at_the_same_place_in_the_world() -> None:
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [40.0, -40.0, -40.0]
    _, mask = draw_sphere(np.ones((41, 41, 41)), affine, (8.0, 0.0, -4.0), 16.0, 0.5)
    np.testing.assert_allclose(np.argwhere(mask).mean(axis=0), [16, 20, 18])


def test_sphere_refuses_a_size_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="diameter_mm must be positive"):
        draw_sphere(np.ones((4, 4, 4)), np.eye(4), (0, 0, 0), 0.0, 2.0)
