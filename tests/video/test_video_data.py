import warnings

import numpy as np
import pytest
import torch

from multigan.io.video import read_video, write_video
from multigan.video.data import (Footage, MovingMNIST, VideoFolder, check_clips, load_moving_mnist,
                                    render_clips)

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


def test_footage_splits_crops_and_labels(tmp_path):
    """Clips come from each video's own part of the split; left/centre/right are exact crops of the frames."""
    for name, n in (("walk", 20), ("wave", 12)):
        frames = torch.zeros(n, 3, 24, 32, dtype=torch.uint8)
        frames[:, 0] = torch.arange(32).mul(8).to(torch.uint8)              # red ramp across the frame
        frames[:, 1] = torch.arange(n).mul(10).view(n, 1, 1).to(torch.uint8)  # green = frame index
        write_video(frames, tmp_path / f"{name}.mp4", fps=8, crf=0)
    train = Footage("train", frames=4, stride=1, size=24, step=2, root=tmp_path)
    assert train.classes == ["walk", "wave"]
    # walk: 17 train frames (85 %) → starts 0, 2, …, 12; wave: 10 → 0, 2, 4, 6; three crops each
    assert train.labels.tolist() == [0] * 21 + [1] * 12
    assert train.names[:4] == ["walk@0/left", "walk@0/centre", "walk@0/right", "walk@2/left"]
    video = read_video(tmp_path / "walk.mp4").float() / 127.5 - 1
    clip = train.clips[3 * 3 + 2]                                          # walk, start 6, right crop
    assert torch.allclose(clip, video[6:10, :, :, 8:32], atol=1e-5)
    assert torch.allclose(train.clips[3 * 3], video[6:10, :, :, 0:24], atol=1e-5)
    assert torch.allclose(train.clips[3 * 3 + 1], video[6:10, :, :, 4:28], atol=1e-5)
    with pytest.warns(UserWarning, match=r"no test clip of 3 frames.*wave \(2 test frames\)"):
        test = Footage("test", frames=3, size=24, crops=("centre",), root=tmp_path)
    assert test.names == ["walk@17/centre"] and test.labels.tolist() == [0]   # wave's 2 test frames: too short
    assert torch.allclose(test.clips[0], video[17:20, :, :, 4:28], atol=1e-5)
    grey = Footage("train", frames=4, size=12, channels=1, crops="left", root=tmp_path)
    assert grey.clips.shape == (11, 4, 1, 12, 12)                           # walk 7 starts + wave 4 (step 2)
    with pytest.raises(ValueError, match="no test clip"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Footage("test", frames=8, root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        Footage("val", root=tmp_path)
    with pytest.raises(ValueError, match="crops"):
        Footage(crops=("middle",), root=tmp_path)
    with pytest.raises(FileNotFoundError, match="build_video_footage"):
        Footage(root=tmp_path / "missing")


def test_shipped_footage_is_real_moving_video():
    data = Footage("test", frames=8, size=16)
    assert data.classes == ["box", "cup", "pedestrians"]
    assert sorted(set(data.labels.tolist())) == [0, 1, 2] and data.clips.shape[1:] == (8, 3, 16, 16)
    motion = (data.clips[:, 1:] - data.clips[:, :-1]).abs().mean((1, 2, 3, 4))
    assert motion.min() > 0 and motion.mean() > 0.002                       # every clip moves
    assert data.clips.std() > 0.2                                           # not a flat image
