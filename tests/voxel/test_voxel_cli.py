"""Voxel training entry point, CLI (train / sample / eval) and evaluation table on a tiny mesh folder."""

import json

import pytest
import torch

from multigan.voxel import GAN3D
from multigan.voxel.cli import cli, train_options
from multigan.voxel.evaluate import _rotation_variants, evaluate_model, format_metrics
from multigan.voxel.recipe import train

TINY = {"resolution": 32, "channels": (16, 8, 4)}        # the cpu-32 design at an eighth of its width


@pytest.fixture(scope="module")
def mesh_folder(tmp_path_factory):
    import trimesh

    root = tmp_path_factory.mktemp("meshes")
    (root / "box").mkdir()
    (root / "ball").mkdir()
    for i, extents in enumerate([(1, 0.5, 0.8), (0.6, 1, 0.6), (1, 0.2, 1)]):
        trimesh.creation.box(extents=extents).export(root / "box" / f"b{i}.stl")
    for i, radius in enumerate([1.0, 0.7]):
        trimesh.creation.icosphere(subdivisions=2, radius=radius).export(root / "ball" / f"s{i}.obj")
    return root


@pytest.fixture(scope="module")
def trained(mesh_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    final = train(out, preset=TINY, steps=2, folder=str(mesh_folder), batch_size=4, eval_n=3, checkpoint_every=2, seed=0,
                  device="cpu", precision="fp32", log_every=1, command="pytest")
    return out, final


def test_train_writes_model_and_training_json(trained):
    out, final = trained
    info = json.loads((final / "training.json").read_text())
    assert info["iterations"] == 2 and info["command"] == "pytest" and info["classes"] == ["ball", "box"]
    assert set(info["metrics"]) == {"ball", "box", "probe"}
    assert info["metrics"]["box"]["shapes (data)"] == 3
    assert 0 <= info["metrics"]["probe"]["accuracy"] <= 1
    model = GAN3D.from_pretrained(final)
    assert model.classes == ["ball", "box"] and not model.training
    assert (out / "checkpoints").is_dir()


def test_a_checkpoint_loads_its_averaged_generator_as_the_export_does(trained):
    from safetensors.torch import load_file

    out, final = trained
    step = out / "checkpoints" / "step-0000002"
    exported = GAN3D.from_pretrained(final).generate(3, label="box", seed=1).probs       # fp16 weights
    loaded = GAN3D.from_pretrained(step).generate(3, label="box", seed=1).probs
    assert (loaded - exported).abs().max() < 2e-3
    copied = GAN3D.from_pretrained(step / "model")               # the EMA weights with the raw net's buffers
    copied.generator.load_state_dict(load_file(str(step / "ema.safetensors")))
    assert (copied.generate(3, label="box", seed=1).probs - exported).abs().max() > 2e-2


def test_cli_eval_takes_a_runs_raw_generator_on_request(trained, mesh_folder, monkeypatch, capsys):
    out, _ = trained
    asked, original = [], GAN3D.from_pretrained

    def spy(path, **kw):
        asked.append((str(path), kw.get("ema", True)))          # (from_pretrained also calls itself on model/)
        return original(path, **kw)

    monkeypatch.setattr(GAN3D, "from_pretrained", spy)
    for extra in ([], ["--raw"]):
        assert cli("eval", ["--model", str(out), "--folder", str(mesh_folder), "--n", "2", *extra]) == 0
        assert "| box |" in capsys.readouterr().out
    assert [ema for path, ema in asked if path == str(out)] == [True, False]


def test_resume_continues_counting(trained, mesh_folder):
    out, _ = trained
    final = train(out, preset=TINY, steps=3, folder=str(mesh_folder), batch_size=4, eval_n=2, checkpoint_every=3, seed=0,
                  device="cpu", precision="fp32", resume=True, command="pytest again")
    info = json.loads((final / "training.json").read_text())
    assert info["iterations"] == 3 and info["commands"] == ["pytest", "pytest again"]


def test_cli_sample_and_eval(trained, mesh_folder, tmp_path, capsys):
    import trimesh

    _, final = trained
    assert cli("sample", ["--model", str(final), "--label", "box", "-n", "2", "--seed", "0", "--format", "stl",
                          "--out", str(tmp_path / "shapes"), "--preview", str(tmp_path / "p.png")]) == 0
    files = sorted(p.name for p in (tmp_path / "shapes").iterdir())
    assert files == ["box_0.stl", "box_1.stl"]
    assert trimesh.load(tmp_path / "shapes" / "box_0.stl").is_watertight
    assert (tmp_path / "p.png").stat().st_size > 100
    capsys.readouterr()
    assert cli("eval", ["--model", str(final), "--folder", str(mesh_folder), "--n", "3",
                        "--json", str(tmp_path / "m" / "metrics.json")]) == 0
    out = capsys.readouterr().out
    assert "| box |" in out and "linear probe" in out
    table = json.loads((tmp_path / "m" / "metrics.json").read_text())       # the printed table, as JSON
    assert set(table) == {"ball", "box", "probe"} and 0 <= table["box"]["valid"] <= 1
    assert table["box"]["shapes (data)"] == 3 and 0 <= table["probe"]["accuracy"] <= 1
    with pytest.raises(ValueError, match="unknown label 'lamp'"):
        cli("sample", ["--model", str(final), "--label", "lamp", "--out", str(tmp_path / "x")])


def test_cli_whole_flags_ask_for_whole_shapes(trained, mesh_folder, tmp_path, monkeypatch, capsys):
    from multigan.voxel import GAN3D

    _, final = trained
    seen = []
    plain_generate = GAN3D.generate

    def generate(self, n=1, label=None, **kw):
        seen.append((kw.get("whole"), kw.get("bridge"), kw.get("repair")))
        return plain_generate(self, n, label, seed=kw.get("seed"))

    monkeypatch.setattr(GAN3D, "generate", generate)
    for extra in ([], ["--whole"], ["--bridge"], ["--whole", "--bridge", "0.3"], ["--repair"], ["--repair", "7"]):
        assert cli("sample", ["--model", str(final), "--label", "box", "-n", "1", "--seed", "0",
                              "--out", str(tmp_path / "s"), *extra]) == 0
    assert seen == [(False, None, 0), (True, None, 0), (False, 0.2, 0), (True, 0.3, 0), (False, None, 40),
                    (False, None, 7)]
    assert cli("eval", ["--model", str(final), "--folder", str(mesh_folder), "--n", "2", "--whole", "--bridge",
                        "--repair", "5"]) == 0
    out = capsys.readouterr().out
    assert seen[6:] == [(True, 0.2, 5)] * 2 and "| box |" in out and "valid after bridging" in out   # one per class
    with pytest.raises(NotImplementedError):
        cli("score", [])


def test_evaluate_model_counts_symmetric_matches():
    """A generator that outputs rotated/mirrored data shapes covers them fully (symmetry-aware IoU)."""
    from multigan.voxel.data import VoxelDataset

    g = torch.zeros(2, 16, 16, 16)
    g[0, 2:6, 0:12, 3:5] = 1                     # a tall thin post near one side
    g[1, 1:15, 0:3, 1:9] = 1                     # a flat slab
    data = VoxelDataset.from_arrays(g, torch.tensor([0, 1]), ["post", "slab"])

    class Echo(GAN3D):
        def generate(self, n=1, label=None, *, seed=None, **kw):
            from multigan.voxel import Shapes
            k = self.classes.index(label)
            rotated = _rotation_variants(g[k:k + 1])[0, 1:]          # 7 non-identity symmetries
            return Shapes(rotated[torch.arange(n) % 7], labels=[label] * n)

    model = Echo(resolution=16, latent_dim=4, channels=(8, 4), classes=["post", "slab"])
    table = evaluate_model(model, data, n=7, probe=False, chamfer=True)
    assert table["post"]["coverage"] == 1.0 and table["post"]["mmd_iou"] == pytest.approx(0.0)
    assert table["post"]["coverage (Chamfer)"] == 1.0 and table["post"]["mmd (Chamfer)"] == 0.0
    assert "mmd (Chamfer)" in format_metrics(table) and "Chamfer" not in format_metrics(
        evaluate_model(model, data, n=7, probe=False))
    assert table["slab"]["valid"] == 0.0                               # a cuboid is a "solid box"
    assert table["post"]["valid after cleanup"] == table["post"]["valid"]    # one piece: nothing to clean
    assert table["post"]["largest piece"] == 1.0
    assert "| post |" in format_metrics(table)


def test_evaluate_model_cleanup_drops_specks_not_parts():
    """'valid after cleanup' excuses specks (≤ 2 % of a shape) a mesh export drops, not lost parts;
    'valid after bridging' also counts a part the generator joined by faint voxels."""
    from multigan.voxel import GAN3D, Shapes
    from multigan.voxel.data import VoxelDataset

    g = torch.zeros(4, 16, 16, 16)
    g[:, 2:14, 2:4, 2:14] = 1                    # a seat slab, 288 voxels
    g[:, 2:4, 4:12, 2:4] = 1                     # and one leg, 32: an L-shaped body of 320
    g[1, 14, 14, 14] = g[1, 14, 14, 13] = 1      # + a 2-voxel speck (0.6 %)
    g[2:, 8:12, 12:15, 8:12] = 1                 # + a detached block of 48 (13 %)
    g[3, 9, 4:12, 9] = 0.3                       # ... which the last one joins by a faint post
    data = VoxelDataset.from_arrays(g[:1], torch.tensor([0]), ["thing"])

    class Fixed(GAN3D):
        def generate(self, n=1, label=None, *, seed=None, **kw):
            return Shapes(g, labels=[label] * 4)

    table = evaluate_model(Fixed(resolution=16, latent_dim=4, channels=(8, 4), classes=["thing"]), data, n=4,
                           probe=False)["thing"]
    assert table["valid"] == pytest.approx(1 / 4)                       # raw: only the clean one
    assert table["valid after cleanup"] == pytest.approx(2 / 4)         # the speck is excused, the block is not
    assert table["valid after bridging"] == pytest.approx(3 / 4)        # the faint post joins the last block
    assert table["largest piece"] == pytest.approx((1 + 320 / 322 + 2 * 320 / 368) / 4)


def test_train_passes_objective_options(mesh_folder, tmp_path):
    final = train(tmp_path, preset=TINY, steps=1, folder=str(mesh_folder), batch_size=4, eval_n=2, seed=0, device="cpu",
                  precision="fp32", objective="wgan-gp", n_critic=2, betas=(0.0, 0.9), d_accuracy_gate=None,
                  discriminator_norm="spectral", instance_noise=0.1, minibatch_std=True, time_limit="1h",
                  command="pytest")
    info = json.loads((final / "training.json").read_text())
    assert info["trainer"]["objective"] == "wgan-gp" and info["trainer"]["n_critic"] == 2
    assert info["trainer"]["objective_options"] == {"gp_weight": 10.0}
    assert list(info["trainer"]["betas_d"]) == [0.0, 0.9] and info["trainer"]["d_accuracy_gate"] is None
    assert info["trainer"]["time_limit"] == 3600.0 and info["stopped_by_time_limit"] is False
    cfg = json.loads((final / "config.json").read_text())["config"]
    assert cfg["discriminator_norm"] == "spectral" and cfg["minibatch_std"] and cfg["instance_noise"] == 0.1


def test_floor_placement_is_trained_recorded_and_evaluated_on_floor_data(mesh_folder, tmp_path):
    from multigan.voxel.data import training_dataset

    final = train(tmp_path, preset=TINY, steps=1, folder=str(mesh_folder), batch_size=4, eval_n=2, seed=0, device="cpu",
                  precision="fp32", placement="floor", command="pytest")
    model = GAN3D.from_pretrained(final)
    assert model.placement == "floor"
    centred = training_dataset(str(mesh_folder), 32, None, "none")
    floor = training_dataset(str(mesh_folder), 32, None, "none", model.placement)
    def bottom_layer_used(data):                                           # per shape: any voxel at y = 0
        return data.voxels[:, 0].amax(dim=(1, 3))[:, 0] > 0

    assert bool(bottom_layer_used(floor).all()) and not bool(bottom_layer_used(centred).any())
    assert torch.equal(floor.voxels.sum((1, 2, 3, 4)), centred.voxels.sum((1, 2, 3, 4)))
    assert train_options(["--out", "x", "--placement", "floor"]).placement == "floor"
    with pytest.raises(ValueError, match="placement"):
        GAN3D(resolution=16, channels=(8, 4), placement="top")


def test_thickness_is_trained_recorded_evaluated_and_free_to_change_from_init(mesh_folder, trained, tmp_path):
    from multigan.voxel.data import training_dataset
    from multigan.voxel.evaluate import reference_dataset

    _, first = trained                                                   # thickness 1
    done = json.loads((first / "training.json").read_text())["iterations"]
    final = train(tmp_path, preset=TINY, steps=done + 1, folder=str(mesh_folder), batch_size=4, eval_n=2, seed=0, device="cpu",
                  precision="fp32", thickness=3, init_from=str(first), connectivity_weight=1.5, log_every=1,
                  command="pytest")
    model = GAN3D.from_pretrained(final)
    info = json.loads((final / "training.json").read_text())
    assert model.thickness == 3 and info["init_from"]["iterations"] == done and info["iterations"] == done + 1
    assert model.connectivity_weight == 1.5 and first.is_dir()             # a training option, free to change too
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any(row.get("g_connectivity", -1) >= 0 for row in logged)
    assert train_options(["--out", "x", "--connectivity-weight", "4"]).connectivity_weight == 4.0
    plain = training_dataset(str(mesh_folder), 32, None, "none")
    reference = reference_dataset(model, str(mesh_folder))
    assert (reference.voxels >= plain.voxels).all() and reference.voxels.sum() > plain.voxels.sum()
    assert info["metrics"]["box"]["diversity (data)"] == pytest.approx(
        evaluate_model(model, reference, n=2, probe=False)["box"]["diversity (data)"])
    assert train_options(["--out", "x", "--thickness", "2"]).thickness == 2
    with pytest.raises(ValueError, match=r"in \['latent'\]"):            # the rest must still match
        train(tmp_path / "other", preset=TINY, steps=done + 1, folder=str(mesh_folder), batch_size=4, device="cpu", thickness=2,
              latent="normal", init_from=str(first), command="pytest")
    with pytest.raises(ValueError, match="thickness"):
        GAN3D(resolution=16, channels=(8, 4), thickness=0)


def test_cli_train_takes_ema_decay():

    assert train_options(["--out", "x", "--ema-decay", "0.99"]).ema_decay == 0.99
    assert train_options(["--out", "x"]).ema_decay == 0.999
    assert train_options(["--out", "x", "--time-limit", "45m"]).time_limit == 2700.0
    assert train_options(["--out", "x"]).time_limit is None


def test_in_training_evaluation_scores_a_copy_and_leaves_training_unchanged(mesh_folder, tmp_path):
    from safetensors.torch import load_file

    kw = dict(preset={"resolution": 16, "channels": (16, 8)}, steps=1, folder=str(mesh_folder), batch_size=4,
              eval_n=2, seed=0, device="cpu", precision="fp32", checkpoint_every=10, command="pytest")
    plain = train(tmp_path / "plain", **kw)
    scored = train(tmp_path / "scored", eval_every=1, eval_size=3, **kw)
    rows = [json.loads(line) for line in (tmp_path / "scored" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1]
    for row in rows:
        for name in ("ball", "box"):
            assert 0 <= row[f"{name}/valid"] <= row[f"{name}/valid_after_cleanup"] + 1e-9 <= 1 + 1e-9
            assert 0 <= row[f"{name}/valid_after_bridging"] <= 1
            assert 0 <= row[f"{name}/coverage"] <= 1 and row[f"{name}/diversity_ratio"] >= 0
    a, b = load_file(plain / "model.safetensors"), load_file(scored / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)      # BatchNorm stats included
    info = json.loads((scored / "training.json").read_text())
    assert info["trainer"]["eval_every"] == 1
    assert info["metrics"] == json.loads((plain / "training.json").read_text())["metrics"]

