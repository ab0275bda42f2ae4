"""Deterministic demo patterns and the import cost of multigan.io (multigan.io.patterns)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from multigan.io import audio, image, mesh, midi, patterns, video


def test_patterns_are_deterministic_and_in_range() -> None:
    roll, onsets = patterns.scale_pianoroll()
    assert roll.shape == (28, 128) and (onsets <= roll).all()
    assert [n[0] for n in midi.roll_to_notes(roll, onsets)][:8] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert sum(n[0] == 67 for n in midi.roll_to_notes(roll, onsets)) == 6  # scale, 4 repeats, chord
    vox = patterns.torus_voxels(32)
    assert vox.shape == (32,) * 3 and vox.any() and not vox[16, 16, 16]  # torus hole in the middle
    clip = patterns.square_clip(8, 32)
    assert clip.shape == (8, 3, 32, 32) and 0 <= clip.min() and clip.max() <= 1
    np.testing.assert_array_equal(clip, patterns.square_clip(8, 32))
    assert patterns.checker_images().shape == (16, 3, 32, 32)


def test_write_test_patterns(tmp_path) -> None:
    paths = patterns.write_test_patterns(tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert names == ["image/grid.png", "music/scale.mid", "music/scale.wav", "video/square.gif",
                     "video/square.mp4", "voxel/torus.glb", "voxel/torus.obj"]
    assert all(p.stat().st_size > 0 for p in paths)
    roll, onsets = midi.midi_to_pianoroll(tmp_path / "music/scale.mid")
    np.testing.assert_array_equal(onsets, patterns.scale_pianoroll()[1])
    wav, rate = audio.read_audio(tmp_path / "music/scale.wav")
    assert wav.shape[1] / rate > 3.5
    assert mesh.read_mesh(tmp_path / "voxel/torus.glb").is_watertight
    assert len(mesh.read_mesh(tmp_path / "voxel/torus.obj").faces) > 0
    assert video.read_video(tmp_path / "video/square.mp4").shape == (28, 3, 64, 64)
    assert video.read_video(tmp_path / "video/square.gif").shape == (16, 3, 64, 64)
    assert image.read_image(tmp_path / "image/grid.png").shape == (3, 4 * 34 + 2, 4 * 34 + 2)


def test_import_is_cheap() -> None:
    code = ("import sys, multigan.io.midi, multigan.io.mesh, multigan.io.video, multigan.io.audio, "
            "multigan.io.image, multigan.io.patterns; "
            "heavy = {'pretty_midi', 'trimesh', 'skimage', 'av', 'torchaudio', 'PIL', 'torch'}; "
            "print(sorted(heavy & set(sys.modules)))")
    import multigan

    root = str(Path(multigan.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
