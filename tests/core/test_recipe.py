"""The shared run pipeline (core.recipe): stages, resume, one time limit, lineage and the export."""

import json

import pytest
import torch

from multigan.core.recipe import Stage, run_stages
from multigan.core.toys import MixtureGAN, ring_of_gaussians

DATA = torch.utils.data.TensorDataset(ring_of_gaussians(64, seed=0))
OPTIONS = {"batch_size": 16, "progress": False, "log_every": 1, "checkpoint_every": 2, "snapshot_every": None,
           "device": "cpu", "precision": "fp32", "tensorboard": False}


def _model():
    torch.manual_seed(0)
    return MixtureGAN(latent_dim=4, hidden=8, depth=1)


def _two_stages(first=3, second=2, seen=None):
    seen = [] if seen is None else seen
    return [Stage("one", DATA, {**OPTIONS, "steps": first}, folder="one", before=lambda: seen.append("before one"),
                  after=lambda trainer: seen.append(f"after one at {trainer.step}")),
            Stage("two", lambda: DATA, {**OPTIONS, "steps": second}, folder="two",
                  before=lambda: seen.append("before two"))]


def test_two_stages_train_in_order_and_export_the_lineage(tmp_path):
    seen: list[str] = []
    run = run_stages(_model(), _two_stages(seen=seen), tmp_path, command="first")
    assert seen == ["before one", "after one at 3", "before two"]
    assert run.steps == {"one": 3, "two": 2} and not run.stopped_by_time_limit
    assert (tmp_path / "one" / "checkpoints").is_dir() and (tmp_path / "two" / "checkpoints").is_dir()
    final = run.export(steps=run.steps, data="ring")
    info = json.loads((final / "training.json").read_text())
    assert info["commands"] == ["first"] and info["steps"] == {"one": 3, "two": 2} and info["data"] == "ring"
    assert info["iterations"] == 2 and (final / "model.safetensors").is_file()


def test_resume_skips_a_stage_whose_successor_has_started(tmp_path):
    run_stages(_model(), _two_stages(second=2), tmp_path, command="first")
    seen: list[str] = []
    run = run_stages(_model(), _two_stages(second=4, seen=seen), tmp_path, resume=True, command="second")
    assert seen == ["before one", "before two"]           # stage one is not trained again
    assert run.steps == {"one": 3, "two": 4} and run.trainer.commands == ["first", "second"]


def test_one_time_limit_covers_all_stages(tmp_path):
    run = run_stages(_model(), _two_stages(first=50), tmp_path, time_limit=1e-9, command="first")
    assert run.stopped_by_time_limit and run.steps == {"one": 1}
    assert not (tmp_path / "two").exists()
    run = run_stages(_model(), _two_stages(first=2), tmp_path, resume=True, command="second")
    assert run.steps == {"one": 2, "two": 2} and not run.stopped_by_time_limit
    assert run.trainer.commands == ["first", "second"]    # stage two carries stage one's lineage on


def test_runs_are_never_mixed(tmp_path):
    stages = [Stage("train", DATA, {**OPTIONS, "steps": 2})]
    run_stages(_model(), stages, tmp_path, command="first")
    with pytest.raises(FileExistsError, match="--resume"):
        run_stages(_model(), stages, tmp_path, command="again")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run_stages(_model(), stages, tmp_path / "typo", resume=True)
    run = run_stages(_model(), stages, tmp_path, overwrite=True, command="fresh")
    assert run.trainer.commands == ["fresh"] and run.history["commands"] == []
    with pytest.raises(ValueError, match="at least one stage"):
        run_stages(_model(), [], tmp_path)


def test_averaged_swaps_the_ema_generator_in_and_back(tmp_path):
    model = _model()
    run = run_stages(model, [Stage("train", DATA, {**OPTIONS, "steps": 3, "ema_decay": 0.5})], tmp_path)
    trained = {k: v.clone() for k, v in model.generator.state_dict().items()}
    with run.averaged() as averaged:
        assert averaged is model
        for k, v in model.generator.state_dict().items():
            assert torch.equal(v, run.trainer.ema.state_dict()[k])
        assert any(not torch.equal(v, trained[k]) for k, v in model.generator.state_dict().items())
    for k, v in model.generator.state_dict().items():
        assert torch.equal(v, trained[k])
