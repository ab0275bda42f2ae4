"""The shipped emoji set: shapes, captions, held-out compositions, and a byte-identical rebuild."""

import importlib.util
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from multigan.core.module import assets_dir
from multigan.text2image.data import EMOJI_CAPTION_KINDS, EMOJI_FILE, emoji_set, load_emoji

torch.set_num_threads(1)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_text2image_assets.py"
TONES = ("light", "medium-light", "medium", "medium-dark", "dark")
SHAPES = ("heart", "circle", "square", "book")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "brown", "black", "white")


def _script():
    spec = importlib.util.spec_from_file_location("build_text2image_assets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def everything():
    """Every emoji at 64 px (one read of the asset for the whole module)."""
    return emoji_set("all")


def test_shapes_sizes_and_captions(everything):
    data = everything
    n = len(data)
    assert n > 3500 and data.images.shape == (n, 3, 64, 64) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    corners = data.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 1).all(dim=1).float().mean() > 0.97                  # white backgrounds
    with zipfile.ZipFile((assets_dir() / EMOJI_FILE).with_name("emoji_128.npz")) as zf, zf.open("images_128.npy") as fh:   # header only
        assert np.lib.format.read_magic(fh) == (1, 0)
        assert np.lib.format.read_array_header_1_0(fh) == ((n, 128, 128, 3), False, np.dtype(np.uint8))
    assert len(set(data.names)) == n and set(data.info["split"]) == {"train", "val", "test", "heldout"}
    counts = [len(c) for c in data.captions]
    assert min(counts) >= 3
    assert all(kinds[0] == "name" and set(kinds) <= set(EMOJI_CAPTION_KINDS) for kinds in data.info["caption_kind"])
    i = data.names.index("see-no-evil monkey")
    assert data.captions[i][:3] == ["see-no-evil monkey", "a see-no-evil monkey", "a monkey"]
    assert "an animal face" in data.captions[i]
    j = data.names.index("thumbs up: medium-dark skin tone")
    assert data.captions[j][:2] == ["thumbs up, medium-dark skin tone", "a thumbs up with medium-dark skin tone"]
    k = data.names.index("flag: United States")
    assert data.captions[k][:2] == ["flag of United States", "the flag of the United States"]
    assert data.captions[data.names.index("OK hand")][1] == "an OK hand"


def test_general_captions_match_many_precise_ones_one(everything):
    owners = {}
    for i, caps in enumerate(everything.captions):
        for c in caps:
            owners.setdefault(c, set()).add(i)
    animals = owners["an animal"]
    assert len(animals) > 100
    assert {everything.info["group"][i] for i in animals} == {"Animals & Nature"}
    assert len(owners["food"]) > 100 and len(owners["a flag"]) > 250 and len(owners["a heart"]) > 10
    assert len(owners["see-no-evil monkey"]) == 1 and len(owners["a see-no-evil monkey"]) == 1


def test_heldout_compositions_are_never_trained_on(everything):
    build = _script()
    split, names = everything.info["split"], everything.names
    train = [i for i, s in enumerate(split) if s == "train"]
    train_names = {names[i] for i in train}
    expected = ({f"{g}: {t} skin tone" for g, t in build.HELDOUT_GESTURE_TONES}
                | set(build.HELDOUT_COLOUR_OBJECTS) | set(build.HELDOUT_WHOLE))
    assert {n for n, s in zip(names, split) if s == "heldout"} == expected and len(expected) == 17
    assert not expected & train_names
    for gesture, tone in build.HELDOUT_GESTURE_TONES:                       # each part trained on elsewhere
        assert any(everything.info["base"][i] == gesture and everything.info["skin_tone"][i] not in ("", tone)
                   for i in train)
        assert any(everything.info["skin_tone"][i] == tone and everything.info["base"][i] != gesture for i in train)
    pairs = {(c, s) for n in train_names for c in COLOURS for s in SHAPES if n in (f"{c} {s}", f"{c} large {s}")}
    for held in build.HELDOUT_COLOUR_OBJECTS:
        colour, shape = held.split()
        assert (colour, shape) not in pairs
        assert any(c == colour for c, s in pairs if s != shape) and any(s == shape for c, s in pairs if c != colour)
    kinds = {n: k for n, k in zip(names, everything.info["heldout"])}
    assert kinds["giraffe"] == "whole" and kinds["green heart"] == "colour-object"
    assert kinds["thumbs up: medium-dark skin tone"] == "gesture-tone" and kinds["red heart"] == ""
    assert 0.015 < split.count("val") / len(split) < 0.035 and 0.015 < split.count("test") / len(split) < 0.035


@pytest.mark.skipif(not all(p.exists() for p in (Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
                                                 Path("/usr/share/unicode/emoji/emoji-test.txt"),
                                                 Path("/usr/share/unicode/cldr/common/annotations/en.xml")))
                    or importlib.util.find_spec("emoji") is None,
                    reason="needs fonts-noto-color-emoji, unicode-data, unicode-cldr-core (Debian) and emoji (PyPI)")
def test_build_is_deterministic_and_loads(tmp_path):
    build = _script()
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):                     # into a copy of the icons' ATTRIBUTION.md
        out.mkdir()
        shutil.copy(SCRIPT.parents[1] / "multigan" / "assets" / "text2image" / "ATTRIBUTION.md", out)
        build.main(["--only", "emoji", "--limit", "30", "--out-dir", str(out)])
    assert (first / "emoji.npz").read_bytes() == (second / "emoji.npz").read_bytes()
    text = (first / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert text == (second / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert text.count("<!-- begin emoji") == 1 and "SIL OPEN FONT LICENSE Version 1.1" in text
    assert "## Icons" in text and text.index("## `emoji.npz`") < text.index("## Icons")   # icon table kept
    arrays = load_emoji(first / "emoji.npz", sizes=(128,))
    assert arrays["images_128"].shape == (30, 128, 128, 3) and "images_64" not in arrays   # the sizes asked for
    small = emoji_set("all", size=128, path=first / "emoji.npz")
    assert small.images.shape == (30, 3, 128, 128) and small.names[0] == "grinning face"
    train = emoji_set("train", size=48, path=first / "emoji.npz", caption_kinds=("name", "sentence"))
    assert train.images.shape[1:] == (3, 48, 48) and all(len(c) <= 2 for c in train.captions)
    assert len(train) == small.info["split"].count("train")
    with pytest.raises(ValueError, match="no 'heldout' split"):
        emoji_set("heldout", path=first / "emoji.npz")
    with pytest.raises(ValueError, match="split must be"):
        emoji_set("test", path=first / "emoji.npz")
    with pytest.raises(ValueError, match="caption_kinds"):
        emoji_set("all", path=first / "emoji.npz", caption_kinds=("colour",))


def test_save_arrays_lzma_round_trip(tmp_path):
    from multigan.voxel.data import save_arrays

    arrays = {"images": np.arange(4096, dtype=np.uint8).reshape(4, 32, 32) % 7, "names": np.array(["a", "b"])}
    first = save_arrays(tmp_path / "a.npz", arrays, compression="lzma").read_bytes()
    assert first == save_arrays(tmp_path / "b.npz", arrays, compression="lzma").read_bytes()
    with np.load(tmp_path / "a.npz") as z:
        assert (z["images"] == arrays["images"]).all() and z["names"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="compression"):
        save_arrays(tmp_path / "c.npz", arrays, compression="zstd")
