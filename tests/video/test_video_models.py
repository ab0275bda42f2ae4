"""DVD-GAN: shapes of G / D_S / D_T, frame sampling, conditioning, generation, Clips writers, save/load, training."""

import json

import numpy as np
import pytest
import torch

from multigan.video.pipeline import Clips
from multigan.video.models import DVDGAN, PRESETS

TINY = {"frames": 4, "size": 16, "width": 4, "latent_dim": 8, "embed_dim": 8, "k_frames": 2}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run faster on one thread (and QR for orthogonal init thrashes on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(_one_thread):
    torch.manual_seed(0)
    return DVDGAN(**TINY, classes=["a", "b"])


def _clips(n=3, t=4, c=1, s=16):
    return torch.rand(n, t, c, s, s) * 2 - 1


def test_generator_and_discriminator_shapes(model):
    z = torch.randn(3, 8)
    y = torch.tensor([0, 1, 0])
    out = model.generator(z, y)
    assert out.shape == (3, 4, 1, 16, 16) and out.abs().max() <= 1
    logits = model.discriminator(_clips(), y)
    assert isinstance(logits, list) and len(logits) == 2
    assert [tuple(o.shape) for o in logits] == [(3,), (3,)]
    rgb = DVDGAN(frames=5, size=32, channels=3, width=2, latent_dim=4, embed_dim=4, attention_res=8)
    assert rgb.generator(torch.randn(2, 4)).shape == (2, 5, 3, 32, 32)
    assert [tuple(o.shape) for o in rgb.discriminator(_clips(2, 5, 3, 32))] == [(2,), (2,)]


def test_temporal_discriminator_has_two_3d_blocks(model):
    d_t = model.discriminator.temporal
    assert len(d_t.blocks3d) == 2
    assert isinstance(d_t.blocks3d[0].conv1, torch.nn.Conv3d) and d_t.blocks3d[0].conv1.kernel_size == (3, 3, 3)


def test_spatial_discriminator_samples_k_frames_per_example(model):
    d_s = model.discriminator.spatial
    d_s.train()
    torch.manual_seed(1)
    idx = d_s.frame_indices(64, 4, torch.device("cpu"))
    assert idx.shape == (64, 2)
    assert all(len(set(row)) == 2 for row in idx.tolist())               # no frame twice in one example
    assert len({tuple(row) for row in idx.tolist()}) > 1                  # independent per example
    d_s.eval()
    assert d_s.frame_indices(2, 4, torch.device("cpu")).tolist() == [[0, 3], [0, 3]]
    # the clip score is the sum of the per-frame scores of the chosen frames
    x, y = _clips(2), torch.tensor([0, 1])
    per_frame = d_s.score_frames(x[:, [0, 3]].flatten(0, 1), y.repeat_interleave(2)).view(2, 2).sum(1)
    assert torch.allclose(d_s(x, y), per_frame, atol=1e-5)
    d_s.train()


def test_class_conditioning_changes_outputs(model):
    z = torch.randn(1, 8).repeat(2, 1)
    model.eval()
    out = model.generator(z, torch.tensor([0, 1]))
    assert not torch.allclose(out[0], out[1])
    x = _clips(1).repeat(2, 1, 1, 1, 1)
    for logit in model.discriminator(x, torch.tensor([0, 1])):
        assert not torch.allclose(logit[0], logit[1])
    model.train()


def test_generate_seeded_and_labels(model):
    a = model.generate(3, label="b", seed=5)
    b = model.generate(3, label=1, seed=5)
    assert isinstance(a, Clips) and a.clips.shape == (3, 4, 1, 16, 16) and a.labels == ["b"] * 3
    assert torch.equal(a.clips, b.clips)
    assert not torch.equal(a.clips, model.generate(3, label="b", seed=6).clips)
    assert model.training                                                  # restored after generate
    mixed = model.generate(2, label=torch.tensor([0, 1]), seed=0, batch_size=1)
    assert mixed.labels == ["a", "b"]
    for bad in ("c", 2, True):
        with pytest.raises(ValueError, match="label"):
            model.generate(1, label=bad)
    with pytest.raises(ValueError, match="class-conditional"):
        model.generate(1)
    with pytest.raises(ValueError, match="unconditional"):
        DVDGAN(**TINY).generate(1, label=0)
    with pytest.raises(ValueError, match="2 labels for 3"):
        model.generate(3, label=["a", "b"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="power of two"):
        DVDGAN(frames=4, size=24)
    with pytest.raises(ValueError, match="frames"):
        DVDGAN(frames=3, size=16)
    with pytest.raises(ValueError, match="channel_mult"):
        DVDGAN(frames=4, size=16, channel_mult=(4, 2))
    with pytest.raises(ValueError, match="attention_res"):
        DVDGAN(frames=4, size=16, attention_res=16)
    with pytest.raises(ValueError, match="unique"):
        DVDGAN(frames=4, size=16, classes=["a", "a"])
    m = DVDGAN(**TINY, classes=["a", "b"])
    with pytest.raises(ValueError, match="expected clips"):
        m.split_batch((torch.zeros(2, 4, 1, 8, 8), torch.zeros(2, dtype=torch.long)))


def test_clips_writers_roundtrip(tmp_path, model):
    from multigan.io.video import read_video

    clips = model.generate(2, label=["a", "b"], seed=0)
    mp4 = clips.write_video(tmp_path / "clip_{label}.mp4", fps=8)       # index appended: labels may repeat
    assert [p.name for p in mp4] == ["clip_a_0.mp4", "clip_b_1.mp4"]
    frames = read_video(mp4[0])
    assert frames.shape == (4, 3, 128, 128)                             # 16 × 16 shown 8× (viewing_scale)
    assert (frames[:, :, ::8, ::8].float() - frames[:, :, 7::8, 7::8].float()).abs().max() <= 24   # blocks (H.264)
    (small,) = clips[:1].write_video(tmp_path / "small.mp4", scale=1)
    assert read_video(small).shape == (4, 3, 16, 16)
    (gif,) = clips.write_video(tmp_path / "grid.gif", grid=True, scale=1)
    g = read_video(gif)
    assert g.shape[0] == 4 and g.shape[2:] == (20, 38)                  # 2 clips side by side, 2-px borders
    assert clips.write_frames(tmp_path / "strip.png").is_file()
    assert clips.uint8().dtype == np.uint8 and clips.numpy().shape == (2, 4, 1, 16, 16)
    assert len(clips[1:]) == 1 and clips[1].labels == ["b"]
    with pytest.raises(ValueError, match="must end in"):
        clips.write_video(tmp_path / "x.avi")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        Clips(torch.full((1, 4, 1, 8, 8), 2.0))
    with pytest.raises(ValueError, match="labels"):
        Clips(torch.zeros(2, 4, 1, 8, 8), labels=["a"])


def test_save_pretrained_roundtrip(tmp_path, model):
    model.save_pretrained(tmp_path / "m")
    loaded = DVDGAN.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and loaded.classes == ["a", "b"]
    assert torch.equal(loaded.generate(2, label="a", seed=3).clips, model.generate(2, label="a", seed=3).clips)


def test_presets_build():
    assert set(PRESETS) == {"cpu-32", "cpu-64", "paper-128"}
    assert PRESETS["paper-128"]["frames"] == 48 and PRESETS["paper-128"]["size"] == 128
    m = DVDGAN(**PRESETS["cpu-32"], classes=[str(d) for d in range(10)])
    assert m.generator.frames == 16 and m.size == 32
    assert DVDGAN.trainer_defaults()["objective"] == "hinge"


def test_two_training_steps(tmp_path):
    from multigan.core import Trainer

    torch.manual_seed(0)
    m = DVDGAN(**TINY, classes=["a", "b"])
    data = torch.utils.data.TensorDataset(_clips(8), torch.arange(8) % 2)
    before = {k: v.clone() for k, v in m.generator.state_dict().items()}
    trainer = Trainer(m, data, **{**DVDGAN.trainer_defaults(), "batch_size": 4, "steps": 2, "progress": False,
                                  "device": "cpu", "out_dir": str(tmp_path), "log_every": 1, "tensorboard": False,
                                  "snapshot_every": 2, "snapshot_size": 2})
    trainer.fit()
    assert trainer.step == 2 and trainer.d_updates == 4                  # n_critic = 2
    assert any(not torch.equal(before[k], v) for k, v in m.generator.state_dict().items())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r[k] for r in rows for k in ("g_loss", "d_loss") if k in r]
    assert losses and all(np.isfinite(losses))
    assert list(tmp_path.rglob("*.gif"))                                 # snapshot written as a GIF grid
    # the shipped form: EMA/plain generator only, fp16, reloads and samples
    final = trainer.export(tmp_path / "final", dtype=torch.float16, components=["generator"])
    loaded = DVDGAN.from_pretrained(final)
    assert torch.isfinite(loaded.generate(2, label="a", seed=0).clips).all()
