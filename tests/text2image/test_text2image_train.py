"""Text-to-image training on captioned shapes (both stages, resume, embedding cache), the CLI and the demo."""

import functools
import json
import shutil

import pytest
import torch
from PIL import Image
from t2i_testing import WordEncoder as StandInEncoder
from t2i_testing import one_thread  # noqa: F401  (autouse fixture)

from multigan.text2image import recipe as t2i_train
from multigan.text2image.cli import cli, demo, train_options
from multigan.text2image.models import StackGAN, TextConditionalGAN, TextImageGAN

ENCODER = "word-test-encoder"
STACK_TINY = {"z_dim": 8, "condition_dim": 4, "text_proj_dim": 4, "ngf_stage1": 16, "ndf_stage1": 4, "ngf_stage2": 4,
              "ndf_stage2": 2, "residual_blocks": 1, "stage2_size": 128}
CLS_TINY = {"z_dim": 8, "text_proj_dim": 8, "ngf": 4, "ndf": 4}
FAST = {"n_train": 16, "batch_size": 8, "progress": False, "log_every": 1, "checkpoint_every": 100, "device": "cpu",
        "precision": "fp32"}


WordEncoder = functools.partial(StandInEncoder, name=ENCODER, dim=16)


@pytest.fixture(scope="module")
def stackgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stackgan")
    final = t2i_train.train(out, model="stackgan", preset=STACK_TINY, steps_stage1=2, steps_stage2=2,
                            encoder=WordEncoder(), kl_weight=0.5, command="first", **FAST)
    return out, final


@pytest.fixture
def word_encoder(monkeypatch):
    """Models load 'word-test-encoder' through TextEncoder(name): hand them the stand-in."""
    import multigan.text2image.encoder as encoder_module

    monkeypatch.setattr(encoder_module, "TextEncoder", lambda name, **kw: WordEncoder(name=name))


def test_stackgan_trains_both_stages_and_exports(stackgan_run):
    out, final = stackgan_run
    assert final == out / "final"
    info = json.loads((final / "training.json").read_text())
    assert info["steps"] == {"stage1": 2, "stage2": 2} and info["commands"] == ["first"]
    assert info["text_encoder"] == ENCODER and info["model"] == "stackgan" and "CaptionedShapes" in info["data"]
    assert list((out / "data").glob("*.safetensors")) and list((out / "stage1" / "checkpoints").glob("step-*"))
    model = TextImageGAN.from_pretrained(final)
    assert isinstance(model, StackGAN) and model.stage == 2 and model.text_encoder == ENCODER
    assert model.kl_weight == 0.5 and info["overrides"] == {"kl_weight": 0.5}      # --kl-weight reaches the model
    options = {stage: json.loads((out / stage / "training_options.json").read_text())["trainer"]
               for stage in ("stage1", "stage2")}
    assert options["stage1"]["ema_start"] == 0 and options["stage2"]["ema_start"] == 1   # Stage-II EMA: half its steps
    images = model.generate(["a red circle on the left"], n=2, seed=0, encoder=WordEncoder())
    assert images.images.shape == (2, 3, 128, 128)


def test_resume_skips_stage1_and_reuses_cached_embeddings(stackgan_run, tmp_path):
    out, _ = stackgan_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    # the encoder is given by name only: a cache miss would try to load it and fail
    final = t2i_train.train(copy, model="stackgan", preset=STACK_TINY, steps_stage1=2, steps_stage2=3,
                            encoder=ENCODER, kl_weight=0.5, resume=True, command="second", **FAST)
    info = json.loads((final / "training.json").read_text())
    assert info["steps"] == {"stage1": 2, "stage2": 3} and info["commands"] == ["first", "second"]
    with pytest.raises(FileNotFoundError, match="never downloads"):
        t2i_train.train(tmp_path / "fresh", model="stackgan", preset=STACK_TINY, steps_stage1=1, steps_stage2=0,
                        encoder=ENCODER, **FAST)


def test_gan_cls_trains_and_cli_samples(tmp_path, word_encoder, capsys):
    final = t2i_train.train(tmp_path / "cls", model="gan-cls", preset=CLS_TINY, steps_stage1=2, steps_stage2=0,
                            encoder=WordEncoder(), gan_int=False, **FAST)
    model = TextImageGAN.from_pretrained(final)
    assert isinstance(model, TextConditionalGAN) and not model.gan_int            # --no-gan-int reaches the model
    assert json.loads((final / "training.json").read_text())["overrides"] == {"interpolate": False}
    assert TextConditionalGAN(**CLS_TINY, text_dim=16).gan_int                    # the preset's default is on
    assert train_options(["--out", "x", "--gan-int"]).gan_int is True
    assert train_options(["--out", "x"]).gan_int is None
    assert cli("sample", ["a green triangle on the left", "a blue square", "--out", str(tmp_path / "g.png"),
                                    "--model", str(final), "-n", "2", "--seed", "0"]) == 0
    width, _ = Image.open(tmp_path / "g.png").size
    assert width == 2 + 2 * (128 + 2)                                      # two images per caption row
    assert cli("sample", ["a red circle", "--to", "a blue square", "--steps", "3", "--out",
                                    str(tmp_path / "lerp_{i}.png"), "--model", str(final)]) == 0
    assert sorted(p.name for p in tmp_path.glob("lerp_*.png")) == ["lerp_0.png", "lerp_1.png", "lerp_2.png"]
    assert "g.png" in capsys.readouterr().out
    with pytest.raises(ValueError, match="caption 0 is empty"):
        cli("sample", ["  ", "--out", str(tmp_path / "e.png"), "--model", str(final)])


def test_demo_fails_without_shipped_model_and_writes_grid_with_one(stackgan_run, tmp_path, monkeypatch,
                                                                  word_encoder):
    monkeypatch.setenv("MULTIGAN_ASSETS", str(tmp_path / "assets"))
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        demo(tmp_path / "out")
    shutil.copytree(stackgan_run[1], tmp_path / "assets" / "checkpoints" / "text2image" / "shapes")
    files = demo(tmp_path / "out", seed=0)
    assert [f.name for f in files] == ["grid.png"] and Image.open(files[0]).size[0] == 2 + 4 * (128 + 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="option model must be one of"):
        t2i_train.train("unused", model="attngan")
    with pytest.raises(ValueError, match="StackGAN option"):
        t2i_train.train("unused", model="gan-cls", kl_weight=1.0)
    with pytest.raises(NotImplementedError, match="train, sample or eval"):
        cli("score", [])


def test_stage2_resume_after_a_lost_export_keeps_the_lineage(stackgan_run, tmp_path):
    """Stage-II's checkpoints carry Stage-I's commands on, so the history survives without final/."""
    out, _ = stackgan_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "final")
    final = t2i_train.train(copy, model="stackgan", preset=STACK_TINY, steps_stage1=2, steps_stage2=3,
                            encoder=ENCODER, kl_weight=0.5, resume=True, command="second", **FAST)
    info = json.loads((final / "training.json").read_text())
    assert info["commands"] == ["first", "second"] and info["seconds_total"] > info["seconds_this_run"]


def test_time_limit_exports_the_stage_reached_and_resume_trains_both(tmp_path):
    kw = dict(model="stackgan", preset=STACK_TINY, steps_stage1=2, steps_stage2=2, encoder=WordEncoder(),
              kl_weight=0.5, **FAST)
    final = t2i_train.train(tmp_path, time_limit=1e-9, command="first", **kw)    # spent after one iteration
    info = json.loads((final / "training.json").read_text())
    assert info["steps"] == {"stage1": 1} and info["stage"] == 1 and info["stopped_by_time_limit"] is True
    assert not (tmp_path / "stage2").exists()
    final = t2i_train.train(tmp_path, resume=True, command="second", **kw)
    info = json.loads((final / "training.json").read_text())
    assert info["steps"] == {"stage1": 2, "stage2": 2} and info["stage"] == 2
    assert info["stopped_by_time_limit"] is False and info["commands"] == ["first", "second"]


def test_gan_cls_trains_on_the_emoji_set(tmp_path):
    from multigan.text2image.data import emoji_set

    kw = {k: v for k, v in FAST.items() if k != "n_train"}
    final = t2i_train.train(tmp_path, model="gan-cls", preset=CLS_TINY, steps_stage1=2, steps_stage2=0, data="emoji",
                            repeats=2, encoder=WordEncoder(), **kw)
    info = json.loads((final / "training.json").read_text())
    train = emoji_set("train")
    assert info["dataset"] == "emoji" and info["examples"] == len(train) and info["steps"] == {"stage1": 2}
    cache, = (tmp_path / "data").glob("emoji-train-*-embeddings.safetensors")
    from safetensors.torch import load_file
    assert load_file(str(cache))["embeddings"].shape == (sum(map(len, train.captions)), 16)
    with pytest.raises(ValueError, match="option data must be one of"):
        t2i_train.train(tmp_path / "x", data="birds")


def test_a_run_part_way_loads_like_an_export(stackgan_run):
    """``TextImageGAN.from_pretrained`` takes a training checkpoint or a run folder, as every other
    modality's loader does, with the checkpoint's averaged generator unless ``ema=False``."""
    out, final = stackgan_run
    exported = TextImageGAN.from_pretrained(final)
    run = TextImageGAN.from_pretrained(out / "stage2")                   # the stage's newest checkpoint
    assert type(run) is StackGAN and run.config == exported.config
    for key, value in exported.generator.state_dict().items():           # its EMA is what was exported
        assert torch.allclose(run.generator.state_dict()[key].float(), value.float(), atol=1e-3), key
    raw = TextImageGAN.from_pretrained(out / "stage2", ema=False)
    assert any(not torch.equal(raw.generator.state_dict()[k], v) for k, v in run.generator.state_dict().items())
    whole = TextImageGAN.from_pretrained(out)                             # the --out folder: its export
    assert whole.config == exported.config
    for key, value in exported.generator.state_dict().items():             # (exports hold G only)
        assert torch.equal(whole.generator.state_dict()[key], value), key


def test_init_from_trains_a_fresh_stage2_on_the_exported_stage1_with_augmentation(tmp_path):
    final = t2i_train.train(tmp_path / "first", model="stackgan", preset=STACK_TINY, steps_stage1=2, steps_stage2=3,
                            encoder=WordEncoder(), kl_weight=0.5, command="first", **FAST)
    exported = TextImageGAN.from_pretrained(final)
    out = tmp_path / "on_top"
    again = t2i_train.train(out, model="stackgan", preset=STACK_TINY, steps_stage1=2, steps_stage2=1,
                            encoder=WordEncoder(), kl_weight=0.5, init_from=str(final), augment="translation,cutout",
                            command="second", **FAST)
    info = json.loads((again / "training.json").read_text())
    assert info["init_from"] == {"model": str(final), "iterations": 2} and info["steps"] == {"stage1": 2, "stage2": 1}
    assert json.loads((out / "stage2" / "training_options.json").read_text())["trainer"]["augment"] == \
        "translation,cutout"
    model = TextImageGAN.from_pretrained(again)
    for key, value in exported.generator.stage1.state_dict().items():     # Stage-I as exported, untouched
        assert torch.equal(model.generator.stage1.state_dict()[key], value), key
    # Stage-II began afresh: one step away from drawing the upsampled Stage-I picture (its last conv was zero)
    last = model.generator.stage2.to_rgb[0].weight
    assert 0 < last.abs().max() < exported.generator.stage2.to_rgb[0].weight.abs().max()
    moved = StackGAN(text_dim=16, **STACK_TINY, kl_weight=0.5)
    stage1 = {k: v.clone() for k, v in moved.generator.stage1.state_dict().items()}
    with torch.no_grad():
        for p in [*moved.generator.stage2.parameters(), *moved.discriminator.stage2.parameters()]:
            p.add_(1.0)
    moved.generator.stage2.encode[3].running_mean.fill_(5.0)
    moved.restart_stage2()
    assert not moved.generator.stage2.to_rgb[0].weight.any() and not moved.generator.stage2.to_rgb[0].bias.any()
    assert moved.generator.stage2.encode[0].weight.abs().mean() < 0.05          # N(0, 0.02) again, not ≈ 1
    assert moved.discriminator.stage2.image[0].weight.abs().mean() < 0.05
    assert not moved.generator.stage2.encode[3].running_mean.any()
    assert all(torch.equal(moved.generator.stage1.state_dict()[k], v) for k, v in stage1.items())
