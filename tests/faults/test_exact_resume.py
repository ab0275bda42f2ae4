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
        for key in left:              # NaN where both hold it (e.g. an uncalibrated threshold) counts as equal
            torch.testing.assert_close(left[key], right[key], rtol=0, atol=0, equal_nan=True, msg=f"{name} {key}")


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
    from multigan.video.recipe import train

    tiny = {"frames": 4, "size": 32, "channels": 1, "latent_dim": 8, "embed_dim": 8, "width": 4, "k_frames": 2}
    _straight_and_resumed(train, tmp_path, preset=tiny, batch_size=2, device="cpu", precision="fp32",
                          checkpoint_every=1, eval_every=3, eval_size=2, eval_n=2, seed=0, command="pytest")


def test_voxel_resume_is_exact_with_instance_noise_snapshots_and_evaluation(tmp_path):
    import trimesh

    from multigan.voxel.recipe import train

    for i, extents in enumerate([(1, 0.5, 0.8), (0.6, 1, 0.6)]):
        (tmp_path / "meshes" / "box").mkdir(parents=True, exist_ok=True)
        trimesh.creation.box(extents=extents).export(tmp_path / "meshes" / "box" / f"b{i}.stl")
    _straight_and_resumed(train, tmp_path, preset={"resolution": 16, "channels": (16, 8)},
                          folder=str(tmp_path / "meshes"), batch_size=2, instance_noise=0.1, device="cpu",
                          precision="fp32", checkpoint_every=1, eval_every=3, eval_size=2, eval_n=2, seed=0,
                          command="pytest")


def test_music_resume_is_exact_with_snapshots_and_evaluation(tmp_path):
    from multigan.music import recipe as music_train

    _straight_and_resumed(music_train.train, tmp_path, device="cpu", precision="fp32", checkpoint_every=1,
                          eval_every=3, eval_size=2, eval_n=2, seed=0, command="pytest")


def test_text2image_resume_is_exact_in_stage_one_and_across_the_stage_change(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "text2image"))
    from t2i_testing import WordEncoder

    from multigan.text2image.recipe import train

    tiny = {"z_dim": 8, "condition_dim": 4, "text_proj_dim": 4, "ngf_stage1": 16, "ndf_stage1": 4, "ngf_stage2": 4,
            "ndf_stage2": 2, "residual_blocks": 1, "stage2_size": 128}
    kw = dict(model="stackgan", preset=tiny, n_train=16, batch_size=4, progress=False, checkpoint_every=1,
              device="cpu", precision="fp32", encoder=WordEncoder(name="w", dim=16), command="pytest")
    train(tmp_path / "straight", steps_stage1=4, steps_stage2=2, **kw)
    train(tmp_path / "split", steps_stage1=2, steps_stage2=0, **kw)              # stopped inside Stage-I
    train(tmp_path / "split", steps_stage1=4, steps_stage2=0, resume=True, **kw)  # ... at the stage change
    train(tmp_path / "split", steps_stage1=4, steps_stage2=2, resume=True, **kw)
    # (Stage-II's average starts at half its steps, so a Stage-II extended on resume averages from elsewhere)
    for step in ("stage1/checkpoints/step-0000004", "stage2/checkpoints/step-0000002"):
        _same_checkpoints(tmp_path / "straight" / step, tmp_path / "split" / step)


def test_anomaly_gan_stage_resume_is_exact(tmp_path):
    import numpy as np
    from PIL import Image

    from multigan.anomaly.recipe import train

    (tmp_path / "normal").mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "normal" / f"{i}.png")
    kw = dict(normal=str(tmp_path / "normal"), size=16, width=4, encoder_steps=1, batch_size=4, calibrate_search=False,
              checkpoint_every=1, ema_decay=0.9, device="cpu", precision="fp32", command="pytest")
    _straight_and_resumed(train, tmp_path, **kw)
