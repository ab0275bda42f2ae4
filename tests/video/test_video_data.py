import warnings

import numpy as np
import pytest
import torch

from multigan.io.video import write_video
from multigan.video.data import MovingMNIST, VideoFolder, check_clips, load_moving_mnist, render_clips

torch.set_num_threads(1)


def test_moving_mnist_renders_deterministic_clips():
    a = MovingMNIST("test", frames=16, n=40)
    b = MovingMNIST("test", frames=16, n=40)
    assert a.clips.shape == (40, 16, 1, 32, 32) and a.clips.dtype == torch.float32
    assert a.labels.dtype == torch.int64 and torch.equal(a.clips, b.clips) and torch.equal(a.labels, b.labels)
    assert a.clips.min() == -1 and a.clips.max() <= 1 and a.clips.max() > 0.9
    assert isinstance(a, torch.utils.data.TensorDataset) and a.classes == [str(d) for d in range(10)]
    data = load_moving_mnist()
    assert torch.equal(a.labels, torch.from_numpy(data["test_labels"][:40]))
    assert torch.equal(a.labels, torch.from_numpy(data["test_digit_labels"][data["test_digit_index"][:40]]))
    assert len(MovingMNIST("train", n=5)) == 5 and len(data["train_labels"]) == 10_000
    assert set(data["train_labels"].tolist()) == set(range(10))
    assert MovingMNIST("test", frames=20, size=64, n=3).clips.shape == (3, 20, 1, 64, 64)
    assert torch.equal(MovingMNIST("test", frames=8, n=3).clips, a.clips[:3, :8])
    with pytest.raises(ValueError, match="frames must be 1..20"):
        MovingMNIST("test", frames=21)
    with pytest.raises(ValueError, match="split"):
        MovingMNIST("val")
    with pytest.raises(FileNotFoundError, match="build_video_assets.py"):
        MovingMNIST("test", path="/nonexistent/moving_mnist.npz")


def test_bouncing_digit_stays_inside_the_frame():
    data = load_moving_mnist()
    pos = data["train_positions"].astype(int)
    size = data["train_digits"].shape[1]
    assert pos.min() == 0 and pos.max() == 32 - size                     # reaches both walls
    step = np.abs(np.diff(pos, axis=1))
    assert step.max() <= 3 and (step.sum(axis=(1, 2)) > 0).all()         # constant speed ≤ 2.5 px, always moving
    clips = render_clips(data["train_digits"][data["train_digit_index"][:300]], pos[:300])
    ink = clips.reshape(300, pos.shape[1], -1).astype(np.int64).sum(-1)
    assert (ink == ink[:, :1]).all() and (ink > 0).all()                  # whole digit visible in every frame
    with pytest.raises(ValueError, match="positions must lie"):
        render_clips(np.zeros((1, 16, 16), np.uint8), np.array([[[0, 17]]]))


def _clip(n, h=24, w=40):
    """Frame i is a flat grey of level 10 i (so frame indices can be read back)."""
    return np.broadcast_to((np.arange(n) * 10 / 255.0)[:, None, None, None], (n, 3, h, w)).astype(np.float32)


def test_video_folder(tmp_path):
    write_video(_clip(20), tmp_path / "cat" / "a.mp4", fps=8)
    write_video(_clip(3), tmp_path / "cat" / "short.mp4", fps=8)
    write_video(_clip(8, 16, 16), tmp_path / "dog" / "b.gif", fps=8)
    (tmp_path / "dog" / "junk.mp4").write_bytes(b"not a video at all" * 10)
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    with pytest.warns(UserWarning, match=r"skipped 2 of 4 video files.*short.mp4.*3 frames.*junk.mp4"):
        data = VideoFolder(tmp_path, frames=4, stride=2, size=16)
    assert data.classes == ["cat", "dog"] and data.labels.tolist() == [0, 0, 1]
    assert data.names == ["cat/a.mp4@0", "cat/a.mp4@8", "dog/b.gif@0"]
    assert data.clips.shape == (3, 4, 3, 16, 16) and data.clips.min() >= -1 and data.clips.max() <= 1
    levels = (data.clips[:2].mean((2, 3, 4)) + 1) * 127.5 / 10                # ≈ frame index
    assert torch.allclose(levels, torch.tensor([[0.0, 2, 4, 6], [8, 10, 12, 14]]), atol=0.5)
    assert len(data.skipped) == 2
    one = VideoFolder(tmp_path / "cat" / "a.mp4", frames=5, channels=1, size=8, step=3)
    assert one.classes == ["a"] and one.clips.shape == (6, 5, 1, 8, 8) and one.names[1] == "a.mp4@3"
    with pytest.raises(ValueError, match="no usable video"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        VideoFolder(tmp_path / "dog" / "junk.mp4")
    with pytest.raises(FileNotFoundError):
        VideoFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="channels"):
        VideoFolder(tmp_path, channels=2)


def test_check_clips():
    assert check_clips(torch.zeros(2, 3, 1, 4, 4)).shape == (2, 3, 1, 4, 4)
    assert check_clips(np.full((3, 3, 4, 4), 255, np.uint8)).dtype == torch.uint8
    with pytest.raises(ValueError, match=r"\(N, T, C, H, W\).*got \(3, 4, 4\)"):
        check_clips(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="C in"):
        check_clips(torch.zeros(1, 2, 2, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        check_clips(torch.zeros(0, 2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        check_clips(torch.full((2, 1, 4, 4), 1.5))
    with pytest.raises(ValueError, match="NaN"):
        check_clips(torch.full((2, 1, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="uint8 or floating"):
        check_clips(torch.zeros(2, 1, 4, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="tensor or numpy"):
        check_clips([[0.0]])
