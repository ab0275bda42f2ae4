"""The preview page: every file shown by an element of its kind, links relative, meshes in self-contained viewers."""

import numpy as np
import pytest
import trimesh

from multigan.io import audio, image, mesh, video
from multigan.io.preview import write_preview_page


def test_preview_page_shows_each_kind(tmp_path):
    files = [image.write_image(np.zeros((3, 8, 8), np.float32), tmp_path / "a" / "x.png"),
             video.write_video(np.zeros((4, 1, 16, 16), np.float32), tmp_path / "a" / "clip.mp4"),
             audio.write_audio(np.zeros(2205, np.float32), tmp_path / "b" / "tone.wav", sample_rate=22050),
             mesh.write_mesh(trimesh.creation.icosphere(), tmp_path / "b" / "ball.glb")]
    (tmp_path / "scores.csv").write_text("name,score\nx.png,0.5\n")
    (tmp_path / "song.mid").write_bytes(b"MThd")
    page = write_preview_page(tmp_path, [*files, tmp_path / "scores.csv", tmp_path / "song.mid"]).read_text()
    assert page.startswith("<!doctype html>") and page.count("<h2>") == 2        # groups a/ and b/
    assert '<img src="a/x.png"' in page and '<video src="a/clip.mp4"' in page and '<audio src="b/tone.wav"' in page
    assert page.count("<iframe") == 1 and "srcdoc=" in page and "<td>0.5</td>" in page
    assert 'href="song.mid"' in page and "http://" not in page.split("srcdoc=")[0]   # nothing fetched
    with pytest.raises(ValueError, match="not under"):
        write_preview_page(tmp_path / "a", files)
