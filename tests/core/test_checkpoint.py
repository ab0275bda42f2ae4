"""save_pretrained / from_pretrained, training checkpoints, atomic writes, clear errors."""

import json

import pytest
import torch

import multigan.core.checkpoint as ckpt_module
from multigan.core import ModelMixin, Trainer
from multigan.core.checkpoint import latest_checkpoint
from multigan.core.module import model_class
from multigan.core.toys import ConvGAN, MixtureGAN, ring_of_gaussians


def test_config_is_recorded_from_constructor():
    model = MixtureGAN(hidden=8, depth=1)
    assert model.config == {"latent_dim": 8, "data_dim": 2, "hidden": 8, "depth": 1, "spectral_norm": False}
    assert model_class("MixtureGAN") is MixtureGAN


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = MixtureGAN(hidden=8, depth=1, spectral_norm=True)
    model.save_pretrained(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["model_type"] == "MixtureGAN" and meta["config"]["hidden"] == 8
    loaded = MixtureGAN.from_pretrained(tmp_path / "m")
    assert not loaded.training
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    z = torch.randn(5, 8)
    model.eval()
    assert torch.equal(model.sample(5, z=z), loaded.sample(5, z=z))
    generic = ModelMixin.from_pretrained(tmp_path / "m")           # the base class builds the saved type
    assert type(generic) is MixtureGAN
    assert not list(tmp_path.glob(".*"))                           # no temp folders left


def test_saved_file_is_safetensors_not_pickle(tmp_path):
    MixtureGAN(hidden=4, depth=1).save_pretrained(tmp_path / "m")
    raw = (tmp_path / "m" / "model.safetensors").read_bytes()
    size = int.from_bytes(raw[:8], "little")                  # safetensors: u64 length + JSON header
    header = json.loads(raw[8:8 + size])
    assert "generator.0.weight" in header and header["generator.0.weight"]["dtype"] == "F32"


def test_wrong_type_newer_format_and_missing_folder(tmp_path):
    MixtureGAN(hidden=4, depth=1).save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="holds a 'MixtureGAN' model, not 'ConvGAN'"):
        ConvGAN.from_pretrained(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="newer multigan"):
        MixtureGAN.from_pretrained(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        MixtureGAN.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither a model folder .config.json. nor a run folder"):
        MixtureGAN.from_pretrained(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="a file; pass the folder that holds config.json"):
        MixtureGAN.from_pretrained(tmp_path / "m" / "config.json")


def test_mismatched_weights_are_named(tmp_path):
    MixtureGAN(hidden=4, depth=1).save_pretrained(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["config"]["hidden"] = 6
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"\.bias has shape \(4,\), model expects \(6,\)"):
        MixtureGAN.from_pretrained(tmp_path / "m")


def test_components_only_and_fp16(tmp_path):
    model = ConvGAN(latent_dim=8, channels=1, width=4)
    model.save_pretrained(tmp_path / "g", components=["generator"], dtype=torch.float16)
    loaded = ConvGAN.from_pretrained(tmp_path / "g")
    for key, value in model.generator.state_dict().items():
        if value.is_floating_point():
            assert torch.equal(loaded.generator.state_dict()[key], value.half().float())


def test_unserialisable_config_is_a_clear_error(tmp_path):
    class Odd(MixtureGAN):
        def __init__(self, thing=object()):
            super().__init__(hidden=4, depth=1)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        Odd().save_pretrained(tmp_path / "odd")
    assert not (tmp_path / "odd").exists()


def _trainer(tmp_path):
    torch.manual_seed(0)
    model = MixtureGAN(latent_dim=4, hidden=8, depth=1)
    return Trainer(model, ring_of_gaussians(64), steps=2, batch_size=16, progress=False, out_dir=str(tmp_path),
                   tensorboard=False, device="cpu")


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    trainer.fit()
    path = latest_checkpoint(tmp_path / "checkpoints")
    saved = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit(4)                                            # weights move on

    def explode(state, file, **kwargs):                       # dies half-way through the write
        open(file, "wb").write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(ckpt_module.torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(path)                         # overwrite the good one: must not corrupt it
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == ["step-0000002", "step-0000004"]
    fresh = _trainer(tmp_path)
    fresh.load_checkpoint(path)
    assert fresh.step == 2
    for key, value in fresh.model.state_dict().items():
        assert torch.equal(value, saved[key])


def test_resume_accepts_checkpoint_from_before_a_new_option(tmp_path):
    """A config key the checkpoint lacks is fine at its default (the option did not exist yet), not otherwise."""
    trainer = _trainer(tmp_path)
    trainer.fit()
    path = latest_checkpoint(tmp_path / "checkpoints")
    config_file = path / "model" / "config.json"
    meta = json.loads(config_file.read_text())
    del meta["config"]["spectral_norm"]                      # as if written before spectral_norm existed
    config_file.write_text(json.dumps(meta))
    fresh = _trainer(tmp_path)
    fresh.load_checkpoint(path)
    assert fresh.step == trainer.step
    for key, value in fresh.model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[key])
    other = Trainer(MixtureGAN(latent_dim=fresh.model.config["latent_dim"], hidden=fresh.model.config["hidden"],
                               depth=fresh.model.config["depth"], spectral_norm=True),
                    ring_of_gaussians(64), batch_size=16, progress=False, device="cpu")
    with pytest.raises(ValueError, match="configuration differs"):
        other.load_checkpoint(path)


def test_resume_with_ema_from_checkpoint_without_ema(tmp_path):
    """EMA switched on for a run trained without it: it starts from the checkpoint's generator and averages on."""
    trainer = _trainer(tmp_path)
    trainer.fit()
    path = latest_checkpoint(tmp_path / "checkpoints")
    torch.manual_seed(5)
    on = Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=4, batch_size=16,
                 progress=False, out_dir=str(tmp_path), tensorboard=False, device="cpu", ema_decay=0.5)
    with pytest.warns(RuntimeWarning, match="EMA starts from the checkpoint's generator"):
        on.load_checkpoint(path)
    for key, value in trainer.model.generator.state_dict().items():
        assert torch.equal(on.ema.state_dict()[key], value)
    on.fit()
    assert on.step == 4
    assert (latest_checkpoint(tmp_path / "checkpoints") / ckpt_module.EMA_NAME).is_file()
    moved = [not torch.equal(a, b) for a, b in zip(on.ema.module.parameters(), on.model.generator.parameters())]
    assert any(moved)                                          # a real average, not a copy


def test_resume_refuses_other_model(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.fit()
    other = Trainer(MixtureGAN(latent_dim=4, hidden=16, depth=1), ring_of_gaussians(64), batch_size=16,
                    progress=False, device="cpu")
    with pytest.raises(ValueError, match="configuration differs"):
        other.load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))
    with pytest.raises(FileNotFoundError, match="not a training checkpoint"):
        other.load_checkpoint(tmp_path)


class _ScaledMixture(MixtureGAN):
    """A toy whose ``scale`` only post-processes samples: an inference option."""

    inference_options = ("scale",)

    def __init__(self, latent_dim: int = 4, hidden: int = 8, depth: int = 1, scale: float = 1.0):
        super().__init__(latent_dim=latent_dim, hidden=hidden, depth=depth)
        self.scale = scale


def test_resume_ignores_inference_options(tmp_path):
    """Options that only change how a trained model is used may differ on resume; weight-shaping ones may not."""
    def make(**kw):
        return Trainer(_ScaledMixture(**kw), ring_of_gaussians(64), steps=2, batch_size=16, progress=False,
                       out_dir=str(tmp_path), tensorboard=False, device="cpu", checkpoint_every=2)

    first = make()
    first.fit()
    path = latest_checkpoint(tmp_path / "checkpoints")
    assert "scale" not in json.loads((path / "model" / "config.json").read_text())["config"]
    assert json.loads((path / "model" / "inference.json").read_text()) == {"scale": 1.0}
    resumed = make(scale=3.0)
    resumed.load_checkpoint(path)
    assert resumed.step == 2 and resumed.model.scale == 3.0
    for key, value in first.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value)
    with pytest.raises(ValueError, match="configuration differs"):
        make(hidden=16, scale=3.0).load_checkpoint(path)


def test_from_pretrained_loads_a_training_checkpoint_with_its_ema(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=3, batch_size=16,
                      progress=False, out_dir=str(tmp_path), tensorboard=False, device="cpu", ema_decay=0.5,
                      checkpoint_every=1)
    trainer.fit()
    step = latest_checkpoint(tmp_path / "checkpoints")
    assert step.name == "step-0000003"
    averaged = MixtureGAN.from_pretrained(step)
    raw = MixtureGAN.from_pretrained(step, ema=False)
    newest = MixtureGAN.from_pretrained(tmp_path)                 # a run folder: its newest checkpoint
    assert not averaged.training and not raw.training
    for key, value in trainer.ema.state_dict().items():
        assert torch.equal(averaged.generator.state_dict()[key], value)
        assert torch.equal(newest.generator.state_dict()[key], value)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(raw.state_dict()[key], value)
    assert any(not torch.equal(a, b) for a, b in zip(averaged.generator.parameters(), raw.generator.parameters()))
    for key, value in trainer.model.discriminator.state_dict().items():
        assert torch.equal(averaged.discriminator.state_dict()[key], value)


def test_checkpoints_carry_the_run_lineage_without_a_final_folder(tmp_path):
    """A run stopped mid-way (no final/ export) still knows which commands trained it and for how long."""
    def make(steps):
        torch.manual_seed(0)
        return Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=steps,
                       batch_size=16, progress=False, out_dir=str(tmp_path), tensorboard=False, device="cpu",
                       checkpoint_every=1)
    first = make(2)
    with pytest.raises(FileNotFoundError, match="nothing to resume: no checkpoint in .*drop --resume"):
        first.resume_run(True, "train --steps 2")                    # --resume on a folder with no run
    assert first.resume_run(False, "train --steps 2") == {"commands": [], "seconds_total": 0.0}   # fresh run
    first.fit()
    assert not (tmp_path / "final").exists()
    second = make(4)
    history = second.resume_run(True, "train --steps 4 --resume")
    assert history["commands"] == ["train --steps 2"] and history["seconds_total"] > 0
    second.fit()
    state = torch.load(latest_checkpoint(tmp_path / "checkpoints") / ckpt_module.STATE_NAME, weights_only=True)
    assert state["lineage"]["commands"] == ["train --steps 2", "train --steps 4 --resume"]
    assert state["lineage"]["seconds"] > history["seconds_total"]
    third = make(4)
    assert third.resume_run(True)["commands"] == ["train --steps 2", "train --steps 4 --resume"]


def _toy_trainer(out, **options):
    """A 5-iteration toy run with EMA writing to ``out`` (options override)."""
    torch.manual_seed(0)
    options = {"log_every": 2, **options}
    return Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=5, batch_size=16,
                   progress=False, out_dir=str(out), tensorboard=False, device="cpu", ema_decay=0.9, **options)


def test_time_limit_stops_with_a_checkpoint_that_resumes_bit_exactly(tmp_path):
    """A run cut by ``time_limit`` and resumed ends with the same weights as one run straight through."""
    make = _toy_trainer
    straight = make(tmp_path / "straight")
    straight.fit()
    assert straight.step == 5 and not straight.stopped_by_time_limit
    cut = make(tmp_path / "cut", time_limit=1e-9)               # spent after the first iteration
    last = cut.fit()
    assert cut.stopped_by_time_limit and cut.step == 1 and last["step"] == 1      # the partial window is logged
    assert [p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()] == ["step-0000001"]
    resumed = make(tmp_path / "cut")                           # no limit: on to 5
    resumed.resume_run(True)
    assert resumed.step == 1
    resumed.fit()
    assert resumed.step == 5 and not resumed.stopped_by_time_limit
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values()):
        assert torch.equal(a, b)
    logged = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 4, 5]


def test_time_limit_parsing_and_bad_values():
    from multigan.core import TrainerConfig, parse_duration

    assert [parse_duration(v) for v in ("2h30m", "45m", "90s", "1.5h", "1h 5s", "20", 20)] == \
        [9000.0, 2700.0, 90.0, 5400.0, 3605.0, 20.0, 20.0]
    assert TrainerConfig(time_limit="1m").time_limit == 60.0
    for bad in ("", "h", "2x", "abc"):
        with pytest.raises(ValueError, match="cannot read the duration"):
            parse_duration(bad)
    for bad in ("0", -5, "inf"):
        with pytest.raises(ValueError, match="must be positive"):
            TrainerConfig(time_limit=bad)


def test_resume_on_another_device_type_reseeds_the_latent_stream(tmp_path):
    """A CUDA generator's state (16 bytes) cannot enter a CPU generator: warn, reseed, train on."""
    def make(steps):
        torch.manual_seed(0)
        return Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=steps,
                       batch_size=16, progress=False, out_dir=str(tmp_path), tensorboard=False, device="cpu")
    first = make(2)
    first.fit()
    path = latest_checkpoint(tmp_path / "checkpoints")
    state_file = path / ckpt_module.STATE_NAME
    state = torch.load(state_file, weights_only=True)
    assert state["latent_rng_device"] == "cpu"
    same_device = make(3)
    same_device.load_checkpoint(path)                          # no warning: the stream continues exactly
    assert torch.equal(same_device.latent_rng.get_state(), state["latent_rng"])
    state["latent_rng"], state["latent_rng_device"] = torch.zeros(16, dtype=torch.uint8), "cuda"
    torch.save(state, state_file)                              # as if written on a GPU
    moved = make(3)
    with pytest.warns(RuntimeWarning, match="written on cuda, resuming on cpu"):
        moved.load_checkpoint(path)
    assert moved.step == 2
    moved.fit()
    assert moved.step == 3
    del state["latent_rng_device"]                             # a checkpoint from before the key: told by size
    torch.save(state, state_file)
    with pytest.warns(RuntimeWarning, match="written on cuda"):
        make(3).load_checkpoint(path)


def test_in_training_evaluation_is_logged_and_leaves_training_bit_identical(tmp_path):
    """``eval_every`` writes eval.jsonl rows from the EMA generator and changes no weight or RNG stream."""
    def make(out, **options):
        return _toy_trainer(out, log_every=5, **options)
    plain = make(tmp_path / "plain")
    plain.fit()
    plain_rng = torch.get_rng_state()
    seen = []
    scored = make(tmp_path / "scored", eval_every=2, eval_size=32)
    scored.add_callback("on_eval", lambda trainer, record: seen.append(record["step"]))
    scored.fit()
    assert torch.equal(torch.get_rng_state(), plain_rng)           # the global stream did not move either
    rows = [json.loads(line) for line in (tmp_path / "scored" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] == seen
    assert all(r["fake_to_data"] > 0 and r["data_to_fake"] > 0 and r["eval_seconds"] >= 0 for r in rows)
    assert scored.model.training                                   # back in train mode
    for key, value in plain.model.state_dict().items():
        assert torch.equal(scored.model.state_dict()[key], value), key
    for a, b in zip(plain.ema.state_dict().values(), scored.ema.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(plain.latent_rng.get_state(), scored.latent_rng.get_state())
    # the row is the EMA generator's: scoring it by hand gives the same numbers
    with scored.ema.swapped_into(scored.model.generator):
        scored.model.eval()
        again = scored.model.training_metrics(scored.dataset, n=32, seed=0)
        scored.model.train()
    assert again["fake_to_data"] == pytest.approx(scored.evaluate()["fake_to_data"])
    # a model without the hook: one warning, then training goes on without evaluations
    torch.manual_seed(0)
    conv = Trainer(ConvGAN(latent_dim=4, channels=1, width=4), torch.rand(8, 1, 32, 32) * 2 - 1, steps=2,
                   batch_size=4, progress=False, tensorboard=False, device="cpu", eval_every=1)
    with pytest.warns(RuntimeWarning, match="ConvGAN defines no training_metrics"):
        conv.fit()
    assert conv.eval_history == [] and conv.step == 2
    with pytest.raises(ValueError, match="eval_every must be ≥ 1"):
        make(tmp_path / "bad", eval_every=0)


def test_ctrl_c_finishes_the_iteration_writes_a_checkpoint_and_resume_is_exact(tmp_path, capsys):
    """The first SIGINT stops after the iteration under way, with a checkpoint of it and the resume command;
    resuming from there ends bit-identical to a run never interrupted."""
    import os
    import signal

    from multigan.core.trainer import TrainingInterrupted

    def make(out):
        torch.manual_seed(0)
        return Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=6,
                       batch_size=16, progress=False, out_dir=str(out), tensorboard=False, device="cpu",
                       checkpoint_every=100, ema_decay=0.9)

    whole = make(tmp_path / "whole")
    whole.resume_run(False)
    whole.fit()
    stopped = make(tmp_path / "run")
    stopped.resume_run(False, "/venv/bin/multigan train toy --out 'my runs/x'")
    stopped.add_callback("on_step_end", lambda t, **_: os.kill(os.getpid(), signal.SIGINT) if t.step == 2 else None)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as caught:
        stopped.fit()
    assert signal.getsignal(signal.SIGINT) is handler                    # the caller's handler is back
    assert stopped.step == 2 and caught.value.checkpoint == tmp_path / "run" / "checkpoints" / "step-0000002"
    err = capsys.readouterr().err
    assert "stopping when the iteration under way ends" in err
    assert "interrupted at iteration 2/6; checkpoint written to" in err
    assert "continue with: multigan train toy --out 'my runs/x' --resume" in err
    resumed = make(tmp_path / "run")
    resumed.resume_run(True, "multigan train toy --out 'my runs/x' --resume")
    assert resumed.step == 2
    resumed.fit()
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert all(torch.equal(a, b) for a, b in zip(resumed.ema.state_dict().values(), whole.ema.state_dict().values()))


def test_run_folder_model_picks_what_a_run_folder_holds(tmp_path):
    import os

    from multigan.core.checkpoint import STATE_NAME
    from multigan.core.module import run_folder_model

    clock = iter(range(1_000_000, 2_000_000, 10))

    def folder(*parts, file="config.json"):
        path = tmp_path.joinpath(*parts)
        path.mkdir(parents=True)
        (path / file).write_text("{}")
        stamp = next(clock)
        os.utime(path / file, (stamp, stamp))                     # written in this order
        return path

    assert run_folder_model(tmp_path / "absent") == tmp_path / "absent"         # not a folder: as given
    staged = tmp_path / "staged"
    folder("staged", "stage1", "checkpoints", "step-0000004", file=STATE_NAME)
    newest = folder("staged", "stage2", "checkpoints", "step-0000002", file=STATE_NAME)
    folder("staged", "stage2", "checkpoints", ".step-0000003.tmp", file=STATE_NAME)    # unfinished: ignored
    assert run_folder_model(staged) == newest                   # no export yet: the last stage's newest
    folder("staged", "final")
    assert run_folder_model(staged) == staged / "final"          # trained to the end: the export
    assert run_folder_model(staged, prefer_checkpoint=True) == newest
    single = tmp_path / "single"
    last = folder("single", "checkpoints", "step-0000010", file=STATE_NAME)
    folder("single", "final")
    assert run_folder_model(single) == single / "final"          # e.g. f-AnoGAN: the export holds the encoder
    later = folder("single", "checkpoints", "step-0000020", file=STATE_NAME)
    assert run_folder_model(single) == later                     # trained on after the export
    assert run_folder_model(last) == last and run_folder_model(single / "final") == single / "final"


def test_from_pretrained_on_a_finished_run_folder_loads_its_export(tmp_path):
    """A single-stage run with checkpoints and an export: the export (what the run produced), and
    with ``ema=False`` the newest checkpoint's raw weights."""
    torch.manual_seed(0)
    trainer = Trainer(MixtureGAN(latent_dim=4, hidden=8, depth=1), ring_of_gaussians(64), steps=2, batch_size=16,
                      progress=False, out_dir=str(tmp_path), tensorboard=False, device="cpu", ema_decay=0.5,
                      checkpoint_every=1)
    trainer.fit()
    with torch.no_grad():                      # the export differs from every checkpoint, so we see which loads
        for value in trainer.model.generator.parameters():
            value.add_(1.0)
    trainer.model.save_pretrained(tmp_path / "final")
    loaded = MixtureGAN.from_pretrained(tmp_path)
    for key, value in trainer.model.generator.state_dict().items():
        assert torch.equal(loaded.generator.state_dict()[key], value), key
    raw = MixtureGAN.from_pretrained(tmp_path, ema=False)
    assert any(not torch.equal(raw.generator.state_dict()[k], v) for k, v in loaded.generator.state_dict().items())
