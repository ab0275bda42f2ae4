"""Video writing and reading (multigan.io.video)."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from multigan.io import video


def _square(frames: int = 12, h: int = 32, w: int = 48) -> np.ndarray:
    clip = np.zeros((frames, 3, h, w), np.float32)
    for t in range(frames):
        clip[t, :, 4:12, 2 + 3 * t:10 + 3 * t] = 1.0
    return clip


def _probe(path) -> tuple[int, tuple[int, int], list[str]]:
    with av.open(str(path)) as c:
        n = sum(1 for _ in c.decode(video=0))
        s = c.streams.video[0].codec_context
        return n, (s.height, s.width), [st.type for st in c.streams]


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif", ".mkv"])
def test_formats_keep_every_frame(tmp_path, suffix) -> None:
    clip = _square()
    path = video.write_video(torch.from_numpy(clip), tmp_path / f"sq{suffix}", fps=8)
    assert _probe(path)[:2] == (12, (32, 48))
    frames = video.read_video(path)
    assert frames.shape == (12, 3, 32, 48) and frames.dtype == torch.uint8
    assert np.abs(frames.numpy() / 255.0 - clip).mean() < 0.02


def test_grid_gray_and_uint8(tmp_path) -> None:
    clips = np.stack([_square()] * 4)
    path = video.write_video(clips, tmp_path / "grid.mp4", grid=True, nrow=2)
    assert _probe(path)[:2] == (12, (2 + 2 * 34, 2 + 2 * 50))
    assert video.tile_clips(clips, nrow=4).shape == (12, 3, 36, 4 * 50 + 2)
    gray = (_square()[:, :1] * 255).astype(np.uint8)
    assert _probe(video.write_video(gray, tmp_path / "g.gif"))[0] == 12


def test_audio_is_muxed(tmp_path) -> None:
    tone = 0.5 * np.sin(np.linspace(0, 2000, 22050 * 3 // 2)).astype(np.float32)
    path = video.write_video(_square(), tmp_path / "a.mp4", audio=tone, sample_rate=22050)
    assert _probe(path)[2] == ["video", "audio"]
    stereo = np.stack([tone, -tone])
    assert "audio" in _probe(video.write_video(_square(), tmp_path / "a.webm", audio=stereo, sample_rate=22050))[2]
    with pytest.raises(ValueError, match="gif"):
        video.write_video(_square(), tmp_path / "a.gif", audio=tone, sample_rate=22050)
    with pytest.raises(ValueError, match="sample_rate"):
        video.write_video(_square(), tmp_path / "b.mp4", audio=tone)


def test_odd_sizes_are_padded_for_mp4(tmp_path) -> None:
    clip = _square(6, 31, 47)
    assert _probe(video.write_video(clip, tmp_path / "odd.mp4", crf=18))[:2] == (6, (32, 48))
    assert _probe(video.write_video(clip, tmp_path / "odd.gif"))[:2] == (6, (31, 47))


def test_read_options(tmp_path) -> None:
    path = video.write_video(_square(), tmp_path / "sq.mp4")
    assert video.read_video(path, max_frames=5, size=(16, 24)).shape == (5, 3, 16, 24)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((12, 3, 8)), "shape"),
    (np.zeros((4, 2, 8, 8)), "C in"),
    (np.full((4, 3, 8, 8), -1.0, np.float32), r"\[-1, 1\]"),
    (np.zeros((4, 3, 8, 8), np.int32), "dtype"),
])
def test_bad_inputs_raise_and_leave_no_file(tmp_path, bad, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        video.write_video(bad, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="extension"):
        video.write_video(_square(), tmp_path / "x.avi")
    with pytest.raises(ValueError, match="shape"):
        video.write_video(_square(), tmp_path / "x.mp4", grid=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        video.read_video(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.mp4"):
        video.read_video(tmp_path / "junk.mp4")


def _top_level_boxes(path) -> list[str]:
    data, boxes, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8].decode("latin-1")
        boxes.append(kind)
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        pos += size if size else len(data)
    return boxes


def test_mp4_is_faststart_and_gif_palette_fits_the_clip(tmp_path) -> None:
    from PIL import Image

    boxes = _top_level_boxes(video.write_video(_square(), tmp_path / "a.mp4"))
    assert "moov" in boxes and boxes.index("moov") < boxes.index("mdat")    # a web page plays it while loading
    grey = np.linspace(0, 1, 12 * 32 * 48, dtype=np.float32).reshape(12, 1, 32, 48)
    path = video.write_video(grey, tmp_path / "grey.gif")
    with Image.open(path) as gif:
        assert gif.info.get("loop") == 0 and gif.n_frames == 12
        for k in range(gif.n_frames):
            gif.seek(k)
            rgb = np.asarray(gif.convert("RGB")).astype(int)
            assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()   # no tint
            want = (grey[k, 0] * 255).round().astype(int)
            assert np.abs(rgb[..., 0] - want).max() <= 1                # every grey level kept
    colours = np.random.default_rng(0).choice([0.0, 0.25, 0.5, 1.0], size=(4, 3, 16, 16)).astype(np.float32)
    back = video.read_video(video.write_video(colours, tmp_path / "c.gif")).numpy() / 255.0
    assert np.abs(back - colours).max() < 0.01                           # few colours: reproduced exactly


def test_scale_enlarges_pixels_as_blocks(tmp_path) -> None:
    clip = _square(4, 8, 12)
    path = video.write_video(clip, tmp_path / "big.gif", scale=4)
    frames = video.read_video(path).numpy()
    assert frames.shape == (4, 3, 32, 48)
    assert (frames[:, :, ::4, ::4] == frames[:, :, 3::4, 3::4]).all()
    assert video.viewing_scale(32, 32) == 8 and video.viewing_scale(64, 48) == 5 and video.viewing_scale(512, 512) == 1
    with pytest.raises(ValueError, match="scale"):
        video.write_video(clip, tmp_path / "x.mp4", scale=0)
