"""Exact resume with snapshots and in-training evaluation on: N iterations, a resume, N more equal
2N uninterrupted, every tensor of the checkpoint (weights, EMA) bit-exact. Video draws random frame
windows and voxel adds instance noise, so both would notice a stray draw from the global RNG."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file


def _same_checkpoints(a, b):
    for name in ("model/model.safetensors", "ema.safetensors"):
        left, right = load_file(str(a / name)), load_file(str(b / name))
        assert left.keys() == right.keys()
        for key in left:
            assert torch.equal(left[key], right[key]), (name, key)


def _straight_and_resumed(train, tmp_path, **kw):
    train(tmp_path / "straight", steps=4, **kw)
    train(tmp_path / "split", steps=2, **kw)
    train(tmp_path / "split", steps=4, resume=True, **kw)
    step = "checkpoints/step-0000004"
    _same_checkpoints(tmp_path / "straight" / step, tmp_path / "split" / step)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_video_resume_is_exact_with_snapshots_and_evaluation(tmp_path):
    from multigan.video.train import train

    tiny = {"frames": 4, "size": 32, "channels": 1, "latent_dim": 8, "embed_dim": 8, "width": 4, "k_frames": 2}
    _straight_and_resumed(train, tmp_path, preset=tiny, batch_size=2, device="cpu", precision="fp32",
                          checkpoint_every=1, eval_every=3, eval_size=2, eval_n=2, seed=0, command="pytest")


def test_voxel_resume_is_exact_with_instance_noise_snapshots_and_evaluation(tmp_path):
    import trimesh

    from multigan.voxel.train import train

    for i, extents in enumerate([(1, 0.5, 0.8), (0.6, 1, 0.6)]):
        (tmp_path / "meshes" / "box").mkdir(parents=True, exist_ok=True)
        trimesh.creation.box(extents=extents).export(tmp_path / "meshes" / "box" / f"b{i}.stl")
    _straight_and_resumed(train, tmp_path, preset={"resolution": 16, "channels": (16, 8)},
                          folder=str(tmp_path / "meshes"), batch_size=2, instance_noise=0.1, device="cpu",
                          precision="fp32", checkpoint_every=1, eval_every=3, eval_size=2, eval_n=2, seed=0,
                          command="pytest")
