"""Text-to-image evaluation on held-out pairs, ``multigan eval text2image`` and examples/text_to_image.py."""

import functools
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from t2i_testing import WordEncoder as StandInEncoder
from t2i_testing import one_thread  # noqa: F401  (autouse fixture)

from multigan.cli import main as multigan_main
from multigan.text2image.encoder import DEFAULT_ENCODER
from multigan.text2image.models import StackGAN, TextConditionalGAN
from multigan.text2image.shapes_data import HELD_OUT
from multigan.text2image.evaluate import _stage1_images, evaluate_model, format_metrics

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "text_to_image.py"
CLS_TINY = {"z_dim": 8, "text_proj_dim": 8, "ngf": 4, "ndf": 4}
STACK_TINY = {"z_dim": 8, "condition_dim": 4, "text_proj_dim": 4, "ngf_stage1": 16, "ndf_stage1": 4, "ngf_stage2": 4,
              "ndf_stage2": 2, "residual_blocks": 1, "stage2_size": 128}
ATTRIBUTE_KEYS = {f"{split}_{a}" for split in ("heldout", "train")
                  for a in ("color", "shape", "size", "position", "all")}
N = 12


WordEncoder = functools.partial(StandInEncoder, name=DEFAULT_ENCODER, dim=384)


@pytest.fixture
def word_encoder(monkeypatch):
    """Models load their encoder through TextEncoder(name): hand them the stand-in."""
    import multigan.text2image.encoder as encoder_module

    monkeypatch.setattr(encoder_module, "TextEncoder", lambda name, **kw: WordEncoder(name=name))


@pytest.fixture(scope="module")
def cls_folder(tmp_path_factory):
    torch.manual_seed(0)
    return TextConditionalGAN(**CLS_TINY).save_pretrained(tmp_path_factory.mktemp("gan-cls") / "model")


def _check_ranges(table):
    for side in ("generated", "reference"):
        for key, value in table[side].items():
            if not key.startswith("sharpness"):
                assert 0.0 <= value <= 1.0, (side, key, value)


def test_evaluate_gan_cls_reports_every_metric_in_range():
    torch.manual_seed(0)
    table = evaluate_model(TextConditionalGAN(**CLS_TINY), n=N, seed=0, encoder=WordEncoder())
    assert set(table["generated"]) == ATTRIBUTE_KEYS | {"r_precision", "diversity", "two_sample", "sharpness"}
    assert set(table["reference"]) == ATTRIBUTE_KEYS | {"r_precision", "diversity", "sharpness"}
    _check_ranges(table)
    assert all(table["reference"][k] >= 0.9 for k in ATTRIBUTE_KEYS)        # the classifier reads real shapes
    assert table["reference"]["diversity"] > 0 and table["reference"]["sharpness"] > 0
    assert (table["n"], table["image_size"], table["stage"]) == (N, 64, 1)
    assert 2 <= table["r_precision_candidates"] <= 100
    pairs = table["heldout_pairs"]                                           # the mean, broken down by pair
    assert set(pairs) <= {f"{c} {s}" for c, s in HELD_OUT} and sum(v["n"] for v in pairs.values()) == N
    for attribute in ("color", "shape"):
        mean = sum(v["n"] * v[attribute] for v in pairs.values()) / N
        assert math.isclose(mean, table["generated"][f"heldout_{attribute}"], abs_tol=1e-6)
    text = format_metrics(table)
    assert text.startswith("| metric | data | generated |") and "all accuracy (held-out pairs)" in text
    assert "| held-out pair | images |" in text and f"| {next(iter(pairs))} |" in text
    with pytest.raises(ValueError, match="n must be"):
        evaluate_model(TextConditionalGAN(**CLS_TINY), n=4, encoder=WordEncoder())


def test_evaluate_stackgan_compares_stage1_and_stage2_sharpness():
    torch.manual_seed(0)
    model = StackGAN(**STACK_TINY, stage=2)
    table = evaluate_model(model, n=N, seed=0, encoder=WordEncoder())
    _check_ranges(table)
    gen = table["generated"]
    assert gen["sharpness"] > 0 and gen["sharpness_stage1"] > 0
    assert math.isclose(gen["sharpness_ratio"], gen["sharpness"] / gen["sharpness_stage1"])
    assert table["image_size"] == 128 and table["stage"] == 2
    # the Stage-I images are the ones the model makes at stage 1 from the same latents
    z, emb = model.sample_latent(3, generator=torch.Generator().manual_seed(1)), torch.randn(3, 384)
    low = _stage1_images(model, z, emb)
    assert model.stage == 2 and low.shape == (3, 3, 64, 64)
    assert torch.allclose(low, model.set_stage(1).generate(embeddings=emb, z=z).images)


def test_eval_cli_prints_table_and_writes_json(cls_folder, word_encoder, tmp_path, capsys):
    out = tmp_path / "metrics" / "eval.json"
    assert multigan_main(["eval", "text2image", "--model", str(cls_folder), "--n", "16", "--seed", "1",
                          "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| metric | data | generated |" in printed and "two-sample score" in printed
    table = json.loads(out.read_text())
    assert table["n"] == 16 and table["seed"] == 1 and table["model"] == "TextConditionalGAN"
    assert set(table["generated"]) >= ATTRIBUTE_KEYS


def _example():
    spec = importlib.util.spec_from_file_location("text_to_image_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_script_writes_grid_and_interpolation(cls_folder, word_encoder, tmp_path, capsys):
    example = _example()
    assert example.main(["a small red circle on the left", "a large blue square at the top", "--model",
                         str(cls_folder), "--n", "2", "--steps", "4", "--out", str(tmp_path)]) == 0
    grid, strip = Image.open(tmp_path / "grid.png"), Image.open(tmp_path / "interpolation.png")
    assert grid.size[0] > 128 and strip.size[0] > 3 * strip.size[1] // 2      # 2 tiles per row; 4 in one row
    assert str(tmp_path / "grid.png") in capsys.readouterr().out
    assert example.main(["--model", "no-such-model", "--out", str(tmp_path)]) == 1
    assert "Train a model first" in capsys.readouterr().err


def test_bench_drives_text_conditional_models():
    import torch

    from multigan.bench import BENCHMARKS, BenchConfig, default_benchmarks, register_benchmark, run_benchmark
    from multigan.text2image import build_model

    assert {"text2image-gancls64", "text2image-stackgan"} <= set(BENCHMARKS)
    assert not {"text2image-gancls64", "text2image-stackgan"} & set(default_benchmarks("cpu"))
    images, emb = BENCHMARKS["text2image-gancls64"].data()
    assert images.shape[1:] == (3, 64, 64) and emb.shape[1] == 384
    register_benchmark(BenchConfig("t2i-tiny-test", lambda: build_model("gan-cls", "cpu-64", ngf=4, ndf=4),
                                   lambda: (torch.rand(8, 3, 64, 64) * 2 - 1, torch.randn(8, 384)), 4))
    try:
        row = run_benchmark("t2i-tiny-test", device="cpu", steps=2, warmup=1, rounds=1)
    finally:
        BENCHMARKS.pop("t2i-tiny-test")
    assert row["trainer_it_s"] > 0 and row["bare_it_s"] > 0


def test_evaluate_emoji_judges_unseen_emoji_next_to_the_real_pictures(word_encoder, capsys):
    from multigan.text2image.evaluate import EMOJI_GENERAL_CAPTIONS, evaluate_emoji

    torch.manual_seed(0)
    model = TextConditionalGAN(**CLS_TINY, text_encoder=DEFAULT_ENCODER).eval()
    table = evaluate_emoji(model, seeds=2, general=EMOJI_GENERAL_CAPTIONS[:2])
    gen, ref = table["generated"], table["reference"]
    assert set(gen) == set(ref) == {"r_precision", "subgroup_accuracy", "fid", "tone_accuracy", "colour_accuracy",
                                     "diversity_general", "diversity_precise"}
    assert ref["tone_accuracy"] >= 0.75 and ref["colour_accuracy"] >= 2 / 3   # the judges read real pictures
    assert ref["subgroup_accuracy"] > gen["subgroup_accuracy"] and ref["fid"] < gen["fid"]
    assert 0 <= gen["r_precision"] <= 1 and ref["diversity_general"] == 1.0 and gen["diversity_precise"] >= 0
    assert set(table["diversity"]) == set(EMOJI_GENERAL_CAPTIONS[:2]) and table["n"] == 95 + 17    # test + held-out
    assert table["split"] == "test" and evaluate_emoji(model, seeds=2, general=EMOJI_GENERAL_CAPTIONS[:1],
                                                       split="val")["n"] == 82 + 17
    assert all(v["pictures"] >= 2 and v["data"] > 0 for v in table["diversity"].values())
    text = format_metrics(table)
    assert "skin-tone accuracy" in text and "| a heart |" in text
    with pytest.raises(ValueError, match="names 0 training pictures"):
        evaluate_emoji(model, seeds=2, general=("a zebra crossing at dusk",))
    with pytest.raises(ValueError, match="split must be 'val' or 'test'"):
        evaluate_emoji(model, seeds=2, split="train")


def test_select_emoji_checkpoint_scores_models_on_val(tmp_path, capsys):
    """scripts/select_emoji_checkpoint.py: the shipped emoji model ranks val emoji well above chance,
    an untrained one does not, and the script names the better one."""
    import importlib.util
    from pathlib import Path

    from multigan.text2image import TextImageGAN

    path = Path(__file__).resolve().parents[2] / "scripts" / "select_emoji_checkpoint.py"
    spec = importlib.util.spec_from_file_location("select_emoji_checkpoint", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shipped = TextImageGAN.from_pretrained("emoji")
    torch.manual_seed(0)
    untrained = type(shipped)(**shipped.config)
    untrained.save_pretrained(tmp_path / "untrained")
    rows = script.score_on_val(["emoji", tmp_path / "untrained"], seeds=(0,), limit=40)
    assert [r["path"] for r in rows] == ["emoji", str(tmp_path / "untrained")]
    assert rows[0]["r_precision_val"] > 0.15 > rows[1]["r_precision_val"]        # chance: 1/40
    assert rows[0]["subgroup_accuracy_val"] > rows[1]["subgroup_accuracy_val"]
    assert script.score_on_val(["emoji"], seeds=(0,), limit=40) == rows[:1]       # deterministic
    stage2 = script.score_on_val(["emoji"], seeds=(0,), limit=8, stage=2)[0]     # 128-px pictures, sharpness too
    assert 0 < stage2["sharpness_128"] and 0 < stage2["sharpness_128_real"]
