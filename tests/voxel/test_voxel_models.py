"""GAN3D: architecture, conditioning, generation, features, save/load, mesh writing, training."""

import json

import numpy as np
import pytest
import torch

from multigan.voxel import GAN3D, PRESETS, Shapes

TINY = {"resolution": 16, "latent_dim": 8, "channels": (16, 8), "embed_dim": 4}


def _blob(r=16):
    g = torch.zeros(r, r, r)
    g[4:12, 2:10, 5:11] = 1           # a box
    g[7:9, 10:14, 7:9] = 1            # a post on top
    return g


def test_paper_preset_layer_sizes():
    m = GAN3D(**PRESETS["paper-64"])
    convs = [l for l in m.generator.net if isinstance(l, torch.nn.ConvTranspose3d)]
    assert [c.out_channels for c in convs] == [512, 256, 128, 64, 1]
    assert all(c.kernel_size == (4, 4, 4) for c in convs)
    assert [c.stride[0] for c in convs] == [1, 2, 2, 2, 2]
    assert all(c.bias is None for c in convs)                       # authors' model is bias-free
    d_convs = [l for l in m.discriminator.modules() if isinstance(l, torch.nn.Conv3d)]
    assert [c.out_channels for c in d_convs] == [64, 128, 256, 512, 1]
    assert not any(isinstance(l, (torch.nn.Linear, torch.nn.MaxPool3d)) for l in m.discriminator.modules())


def test_cpu_preset_shapes_and_latent():
    m = GAN3D(**PRESETS["cpu-32"], classes=["chair", "table"])
    z = m.sample_latent(3, generator=torch.Generator().manual_seed(0))
    assert z.shape == (3, 200) and z.min() >= 0 and z.max() <= 1     # U(0, 1) like the authors' sampler
    x = m.generator(z, torch.tensor([0, 1, 1]))
    assert x.shape == (3, 1, 32, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert m.discriminator(x, torch.tensor([0, 1, 1])).shape == (3,)
    normal = GAN3D(**TINY, latent="normal").sample_latent(2000, generator=torch.Generator().manual_seed(0))
    assert normal.min() < 0 and abs(float(normal.std()) - 1) < 0.05


def test_bad_architecture_and_labels():
    with pytest.raises(ValueError, match="channel widths"):
        GAN3D(resolution=32, channels=(64, 32))
    with pytest.raises(ValueError, match="latent"):
        GAN3D(**TINY, latent="cauchy")
    m = GAN3D(**TINY, classes=["chair", "table"])
    with pytest.raises(ValueError, match="unknown label 'lamp'"):
        m.generate(1, label="lamp")
    with pytest.raises(ValueError, match="class-conditional"):
        m.generate(1)
    with pytest.raises(ValueError, match="neither"):
        m.generate(1, label=5)
    with pytest.raises(ValueError, match="unconditional"):
        GAN3D(**TINY).generate(1, label="chair")


def test_generate_is_seeded_and_labels_matter():
    torch.manual_seed(0)
    m = GAN3D(**TINY, classes=["chair", "table"])
    a = m.generate(2, label="chair", seed=3)
    b = m.generate(2, label="chair", seed=3)
    c = m.generate(2, label="table", seed=3)
    assert isinstance(a, Shapes) and a.labels == ["chair", "chair"] and a.probs.shape == (2, 16, 16, 16)
    assert torch.equal(a.probs, b.probs)
    assert not torch.equal(a.probs, c.probs)
    mixed = m.generate(2, label=["chair", 1], seed=3)
    assert mixed.labels == ["chair", "table"] and torch.equal(mixed.probs[0], a.probs[0])
    assert m.training                                                # generate restores the mode


class _WholeOrBroken(torch.nn.Module):
    """Stands in for G: ``_blob()`` at a z-dependent occupancy (0.6–1), whole where z[:, 0] > 0, else
    with a detached 27-voxel block (6 % of the shape: not whole); a 2-voxel speck where z[:, 1] > 0."""

    def __init__(self, always_broken: bool = False):
        super().__init__()
        self.always_broken = always_broken

    def forward(self, z, labels=None):
        g = _blob().expand(len(z), 16, 16, 16).clone()
        g[(z[:, 0] <= 0) | self.always_broken, 0:3, 13:16, 0:3] = 1
        g[z[:, 1] > 0, 15, 0, 14:16] = 1
        return (g * (0.6 + 0.4 * torch.sigmoid(z[:, 2])).view(-1, 1, 1, 1))[:, None]


def test_generate_whole_redraws_the_shapes_not_in_one_piece():
    from multigan.voxel.metrics import valid_after_cleanup

    m = GAN3D(**TINY, classes=["chair", "table"], latent="normal")
    m.generator = _WholeOrBroken()
    labels = ["table", "chair"] * 6
    plain = m.generate(12, label=labels, seed=5)
    whole = m.generate(12, label=labels, seed=5, whole=True)
    passed = valid_after_cleanup(plain.probs)
    assert 0 < int(passed.sum()) < 12                                   # the first draw has both kinds
    assert whole.labels == labels and valid_after_cleanup(whole.probs).all()
    assert torch.equal(whole.voxels, (_blob() > 0.5).expand(12, 16, 16, 16))   # specks gone, broken ones redrawn
    assert torch.equal(whole.probs[passed], plain.largest_component().probs[passed])   # the same first draw
    assert not torch.isin(whole.probs[~passed].amax((1, 2, 3)), plain.probs.amax((1, 2, 3))).any()
    assert torch.equal(m.generate(12, label=labels, seed=5, whole=True).probs, whole.probs)   # seeded

    m.generator = _WholeOrBroken(always_broken=True)
    with pytest.raises(RuntimeError, match=r"3 of 3 shapes \(table\) were still not whole after 4 draws"):
        m.generate(3, label="table", seed=0, whole=True, max_draws=4)
    with pytest.raises(ValueError, match="pass seed, not z"):
        m.generate(2, label="table", z=torch.zeros(2, 8), whole=True)
    with pytest.raises(ValueError, match="max_draws"):
        m.generate(2, label="table", whole=True, max_draws=0)


def test_features_paper_representation():
    m = GAN3D(**TINY, classes=["a", "b"])
    f = m.features(torch.stack([_blob(), _blob().flip(1)]) > 0.5)
    assert f.shape == (2, 8 * (8 + 16))                             # each conv layer max-pooled to 2³
    assert not torch.equal(f[0], f[1])
    with pytest.raises(ValueError, match="16³"):
        m.features(torch.zeros(1, 32, 32, 32))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    m = GAN3D(**TINY, classes=["chair", "table"]).eval()
    m.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["config"]["classes"] == ["chair", "table"] and cfg["config"]["resolution"] == 16
    back = GAN3D.from_pretrained(tmp_path / "m")
    assert torch.equal(back.generate(2, "table", seed=1).probs, m.generate(2, "table", seed=1).probs)


def test_shapes_write_mesh_and_render(tmp_path):
    import trimesh

    shapes = Shapes(torch.stack([_blob(), _blob().transpose(0, 2)]), labels=["chair", "table"])
    paths = shapes.write_mesh(tmp_path / "out" / "{label}_{i}.glb")
    assert [p.name for p in paths] == ["chair_0.glb", "table_1.glb"]
    mesh = trimesh.load(paths[0], force="mesh")
    assert mesh.is_watertight and mesh.volume > 0
    for m in shapes.meshes():                   # standing on the floor (y up), centred in x and z
        low, high = m.bounds
        assert m.is_watertight and len(m.split()) == 1
        assert low[1] == pytest.approx(0, abs=1e-9) and (low + high)[[0, 2]] == pytest.approx([0, 0], abs=1e-9)
    assert [p.name for p in shapes.write_mesh(tmp_path / "s.obj")] == ["s_0.obj", "s_0.mtl", "s_1.obj", "s_1.mtl"]
    import contextlib
    import io
    bar = io.StringIO()
    with contextlib.redirect_stderr(bar):
        again = shapes.write_mesh(tmp_path / "p.obj", progress=True)
    assert "meshes:" in bar.getvalue() and "/2 " in bar.getvalue() and len(again) == 4      # a bar over the shapes
    png = shapes.render(tmp_path / "preview.png")
    from PIL import Image
    w, h = Image.open(png).size
    assert w > 0 and h > 0


def test_largest_component_drops_fragments_only():
    from multigan.voxel.metrics import validity_flags

    g = torch.zeros(3, 12, 12, 12)
    g[0, 1:6, 2, 2] = 0.9                       # a bar of 5 ...
    g[0, 9:11, 9, 9] = 0.8                      # ... and a fragment of 2
    g[1, 3:5, 3:5, 3] = 0.7                     # one piece, corner contact below
    g[1, 5, 5, 4] = 0.6
    shapes = Shapes(g, labels=["a", "b", "c"])  # the third is empty
    clean = shapes.largest_component()
    assert clean.voxels[0].sum() == 5 and not clean.voxels[0, 9:11].any()
    assert torch.equal(clean.probs[1], g[1]) and not clean.voxels[2].any()
    assert clean.labels == ["a", "b", "c"] and torch.equal(shapes.probs, g)      # the original is untouched
    assert validity_flags(shapes.voxels)["connected"].tolist() == [False, True, False]
    assert validity_flags(clean.voxels)["connected"].tolist() == [True, True, False]


def test_shapes_bad_input(tmp_path):
    with pytest.raises(ValueError, match="cubic"):
        Shapes(torch.zeros(2, 16, 16, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Shapes(torch.full((1, 8, 8, 8), 2.0))
    with pytest.raises(ValueError, match="must end in"):
        Shapes(_blob()[None]).write_mesh(tmp_path / "x.fbx")
    empty = Shapes(torch.stack([_blob(), torch.zeros(16, 16, 16)]))
    with pytest.raises(ValueError, match="shape 1 is empty"):
        empty.write_mesh(tmp_path / "e_{i}.stl")
    assert not list(tmp_path.glob("e_*"))                           # nothing half-written


def test_training_steps_with_accuracy_gate(tmp_path):
    from multigan.core import Trainer

    torch.manual_seed(0)
    grids = torch.stack([_blob(), _blob().flip(0), _blob().flip(2), _blob().transpose(0, 2)])[:, None]
    data = torch.utils.data.TensorDataset(grids.repeat(4, 1, 1, 1, 1), torch.arange(16) % 2)
    m = GAN3D(**TINY, classes=["a", "b"])
    before = {k: v.clone() for k, v in m.generator.state_dict().items()}
    trainer = Trainer(m, data, **{**GAN3D.trainer_defaults(), "batch_size": 8, "steps": 6, "progress": False,
                                  "device": "cpu", "out_dir": str(tmp_path), "log_every": 1,
                                  "snapshot_every": 6, "snapshot_size": 4})
    trainer.fit()
    assert trainer.step == 6
    assert any(not torch.equal(before[k], v) for k, v in m.generator.state_dict().items())
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(np.isfinite(r["g_loss"]) for r in rows if "g_loss" in r)
    assert list(tmp_path.rglob("*.png"))                            # snapshot rendered through the writer


def test_discriminator_options():
    torch.manual_seed(0)
    x = torch.stack([_blob(), _blob().flip(1)])[:, None]
    y = torch.tensor([0, 1])
    sn = GAN3D(**TINY, classes=["a", "b"], discriminator_norm="spectral", instance_noise=0.3)
    from multigan.core.layers import has_spectral_norm
    assert all(has_spectral_norm(m) for m in sn.discriminator.modules() if isinstance(m, torch.nn.Conv3d))
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in sn.discriminator.modules())
    sn.eval()
    assert torch.equal(sn.run_discriminator(sn.discriminator, x, y), sn.run_discriminator(sn.discriminator, x, y))
    sn.train()                                                      # instance noise only while training
    assert not torch.equal(sn.run_discriminator(sn.discriminator, x, y), sn.run_discriminator(sn.discriminator, x, y))
    mb = GAN3D(**TINY, minibatch_std=True).discriminator.eval()
    same, diverse = mb(torch.cat([x[:1], x[:1]])), mb(x)
    assert same.shape == (2,) and not torch.allclose(same[0], diverse[0])   # batch spread is a feature
    with pytest.raises(ValueError, match="spectral"):
        GAN3D(**TINY, discriminator_norm="layer")


def test_dcgan_initialisation():
    torch.manual_seed(0)
    m = GAN3D(**PRESETS["cpu-32"])
    w = m.generator.net[0].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.001
    bn = m.generator.net[1].requires_grad_(False)
    assert abs(float(bn.weight.mean()) - 1) < 0.01 and float(bn.bias.abs().max()) == 0


def test_disconnected_share_counts_detached_occupancy_and_pulls_the_gap():
    from multigan.voxel.models import disconnected_share

    p = torch.zeros(2, 1, 8, 8, 8)
    p[:, 0, :3, :3, :3] = 1.0                                       # main piece, 27 voxels
    p[0, 0, 5:, 5:, 5:] = 0.8                                       # a detached piece
    p[1, 0, 3:5, 3:5, 3:5] = 0.9                                    # the same shape joined (26-neighbours)
    share = disconnected_share(p)
    assert share[0].item() == pytest.approx(0.8 * 27 / (27 + 0.8 * 27))
    assert share[1].item() == 0.0
    assert torch.equal(disconnected_share(p[:1], iterations=2), share[:1])   # 2 steps fill the corner piece
    weak = p[:1].clone()
    weak[0, 0, 3, 3, 3] = weak[0, 0, 4, 4, 4] = 0.3                 # a faint two-voxel bridge
    weak.requires_grad_(True)
    loss = disconnected_share(weak)
    total = 27 + 0.8 * 27 + 0.6
    assert loss.item() == pytest.approx((0.8 - 0.3) * 27 / total, rel=1e-5)    # reach through the bridge is 0.3
    loss.backward()
    assert weak.grad[0, 0, 3, 3, 3] < -0.2 and weak.grad[0, 0, 4, 4, 4] < -0.2  # raising the bridge helps most
    assert weak.grad[0, 0, 6, 6, 6] > 0                              # or fading the detached piece
    short = disconnected_share(torch.nn.functional.pad(p[1:], (0, 24, 0, 24, 0, 24)), iterations=1)
    assert short.item() > 0                                         # too few steps to reach the far corner
    with pytest.raises(ValueError, match="B, 1, R, R, R"):
        disconnected_share(p[:, 0])


def test_connectivity_weight_adds_a_generator_loss_term():
    from multigan.voxel.models import disconnected_share

    torch.manual_seed(0)
    fake = torch.rand(3, 1, 16, 16, 16)
    assert GAN3D(**TINY).extra_generator_losses(fake, fake, None) == {}
    m = GAN3D(**TINY, connectivity_weight=2.5)
    term = m.extra_generator_losses(fake, fake, None)["connectivity"]
    assert term.item() == pytest.approx(2.5 * disconnected_share(fake).mean().item())
    assert m.config["connectivity_weight"] == 2.5 and "connectivity_weight" in GAN3D.training_options
    for bad in (-1.0, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="connectivity_weight"):
            GAN3D(**TINY, connectivity_weight=bad)


def test_bridged_joins_pieces_through_faint_voxels_only():
    from multigan.voxel.metrics import validity_flags
    from multigan.voxel.pipeline import BRIDGE_LOW

    g = torch.zeros(4, 12, 12, 12)
    g[:, 1:10, 8, 1:10] = 0.9                   # a top of 81 ...
    g[:, 5, 1:5, 5] = 0.8                       # ... and a leg of 4 below it, 3 voxels short
    g[0, 5, 5:8, 5] = 0.3                       # joined by a faint post
    g[1, 5, 5:8, 5] = 0.1                       # too faint a post
    g[2, 5, 5:8, 5] = 0.3                       # the same post and a fainter one beside it
    g[2, 6, 5:8, 6] = 0.25
    g[3, 5, 5:8, 5] = 0.9                       # already one piece
    shapes = Shapes(g)
    out = shapes.bridged()
    assert BRIDGE_LOW == 0.2 and torch.equal(shapes.probs, g)           # the original is untouched
    assert validity_flags(out.voxels)["connected"].tolist() == [True, False, True, True]
    changed = out.probs != g
    assert changed.sum((1, 2, 3)).tolist() == [3, 0, 3, 0]               # only the post's 3 voxels
    assert torch.all(out.probs[0, 5, 5:8, 5] == 0.75) and torch.all(out.probs[2, 5, 5:8, 5] == 0.75)
    assert torch.equal(Shapes(g[1:2]).bridged(low=0.05).probs[0, 5, 5:8, 5], torch.full((3,), 0.75))
    assert torch.equal(out.bridged().probs, out.probs)                    # joined shapes stay as they are

    m = GAN3D(**TINY, classes=["chair"], latent="normal")
    m.generator = _WholeOrBroken()
    plain = m.generate(6, label="chair", seed=2)
    assert torch.equal(m.generate(6, label="chair", seed=2, bridge=0.3).probs, plain.bridged(0.3).probs)
    for bad in (0, 0.5, 0.7, True, "0.2"):
        with pytest.raises(ValueError, match="bridge low must be a number in"):
            shapes.bridged(bad)
    with pytest.raises(ValueError, match="bridge low"):
        m.generate(2, label="chair", bridge=0.6)


def test_generate_whole_judges_shapes_after_bridging():
    class FaintlyJoined(torch.nn.Module):                # a top and a leg joined by a faint post
        def forward(self, z, labels=None):
            g = torch.zeros(len(z), 1, 16, 16, 16)
            g[:, 0, 1:10, 8, 1:10] = 0.9
            g[:, 0, 5, 1:5, 5] = 0.8
            g[:, 0, 5, 5:8, 5] = 0.3
            return g

    m = GAN3D(**TINY, classes=["chair"], latent="normal")
    m.generator = FaintlyJoined()
    with pytest.raises(RuntimeError, match="still not whole after 1 draws"):
        m.generate(2, label="chair", seed=0, whole=True, max_draws=1)
    whole = m.generate(2, label="chair", seed=0, whole=True, max_draws=1, bridge=0.2)
    assert int(whole.voxels[0].sum()) == 81 + 4 + 3 and torch.all(whole.probs[:, 5, 5:8, 5] == 0.75)


class _PostFromLatent(torch.nn.Module):
    """Stands in for G: a top and a 4-voxel leg (4.7 % of the shape) joined by a post whose
    occupancy is sigmoid(z[:, 0] − shift): the shape is whole only where z[:, 0] > shift."""

    def __init__(self, shift: float = 0.0):
        super().__init__()
        self.shift = shift

    def forward(self, z, labels=None):
        g = torch.zeros(len(z), 1, 16, 16, 16)
        g[:, 0, 1:10, 8, 1:10] = 0.9
        g[:, 0, 5, 1:5, 5] = 0.8
        g[:, 0, 5, 5:8, 5] = torch.sigmoid(z[:, :1] - self.shift)
        return g


def test_repair_latents_moves_only_broken_shapes_until_they_are_whole():
    from multigan.voxel.metrics import valid_after_cleanup
    from multigan.voxel.models import REPAIR_STEPS

    m = GAN3D(**TINY, classes=["chair"], latent="normal")
    m.generator = _PostFromLatent()
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    z[:, 0] = torch.tensor([-3.0, 2.0, -1.0])
    labels = torch.zeros(3, dtype=torch.long)
    assert valid_after_cleanup(m.generate_batched(3, labels, z=z)[:, 0]).tolist() == [False, True, False]
    out = m.repair_latents(z, labels, steps=40, lr=0.5)
    assert valid_after_cleanup(m.generate_batched(3, labels, z=out)[:, 0]).all()
    assert torch.equal(out[1], z[1]) and torch.equal(out[:, 1:], z[:, 1:])   # only the post's coordinate moves
    assert torch.equal(out[2], m.repair_latents(z, labels, steps=5, lr=0.5)[2])   # stops at the first whole check
    short = m.repair_latents(z, labels, steps=5, lr=0.5)
    assert torch.equal(short[0], z[0]) and not torch.equal(short[2], z[2])   # not mended in 5 steps: as drawn
    assert torch.equal(m.repair_latents(z, labels, steps=0), z) and m.training   # the mode is restored

    near = z.clone()
    near[:, 0] = torch.tensor([-0.05, 1.0, -0.1])                         # default lr 0.02: a few steps
    plain = m.generate(3, label="chair", z=near)
    fixed = m.generate(3, label="chair", z=near, repair=REPAIR_STEPS)
    assert valid_after_cleanup(plain.probs).tolist() == [False, True, False]
    assert valid_after_cleanup(fixed.probs).all() and torch.equal(fixed.probs[1], plain.probs[1])

    seeded = m.generate(4, label="chair", seed=3, repair=REPAIR_STEPS)
    assert torch.equal(seeded.probs, m.generate(4, label="chair", seed=3, repair=REPAIR_STEPS).probs)
    first = m.generate(4, label="chair", seed=3)                           # repair starts from the same draw
    kept = valid_after_cleanup(first.probs)
    assert torch.equal(seeded.probs[kept], first.probs[kept])

    for bad in (-1, True, 1.5, "40"):
        with pytest.raises(ValueError, match="repair must be an integer >= 0"):
            m.generate(2, label="chair", repair=bad)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        m.repair_latents(z, labels, lr=0)
    with pytest.raises(ValueError, match=r"z must be a \(n, 8\) tensor"):
        m.repair_latents(z[:, :4], labels)
    with pytest.raises(ValueError, match="pass 3 labels"):
        m.repair_latents(z)


def test_generate_whole_judges_shapes_after_repair():
    m = GAN3D(**TINY, classes=["chair"], latent="uniform")
    m.generator = _PostFromLatent(shift=0.6)                               # U(0, 1) latents: ~60 % broken
    with pytest.raises(RuntimeError, match="still not whole after 1 draws"):
        m.generate(6, label="chair", seed=0, whole=True, max_draws=1)
    whole = m.generate(6, label="chair", seed=0, whole=True, max_draws=1, repair=40)
    assert int(whole.voxels.sum()) == 6 * (81 + 4 + 3)
