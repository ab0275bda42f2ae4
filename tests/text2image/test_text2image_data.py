"""Captioned image loaders: folder and table round-trips, every error path, embeddings, the icon asset."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from multigan.text2image.data import CaptionedImages, furniture_icons, icon_captions, load_furniture_icons, open_rgb

torch.set_num_threads(1)
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _solid(path, color, size=(24, 24), mode="RGB"):
    Image.new(mode, size, color).save(path)


def _pixel(data, i):
    """The centre pixel of image i as 0..255 ints."""
    s = data.size // 2
    return tuple(int(v) for v in ((data.images[i, :, s, s] + 1) * 127.5).round())


@pytest.fixture()
def folder(tmp_path):
    _solid(tmp_path / "a_red.png", RED)
    (tmp_path / "a_red.txt").write_text("a red square\n\n  a   crimson  tile \n")
    # transparent everywhere except a blue centre → white surroundings, blue middle
    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (8, 8, 24, 24))
    img.save(tmp_path / "b_clear.png")
    (tmp_path / "b_clear.txt").write_text("a blue dot on white")
    # 60 × 20: red | green | blue thirds; the centre crop keeps only green
    wide = Image.new("RGB", (60, 20), RED)
    wide.paste(GREEN, (20, 0, 40, 20))
    wide.paste(BLUE, (40, 0, 60, 20))
    wide.save(tmp_path / "c_wide.jpg", quality=100)
    (tmp_path / "c_wide.txt").write_text("a green stripe")
    return tmp_path


def test_folder_round_trip(folder):
    data = CaptionedImages.from_folder(folder, size=16)
    assert len(data) == 3 and data.images.shape == (3, 3, 16, 16) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert data.names == ["a_red.png", "b_clear.png", "c_wide.jpg"]
    assert data.captions == [["a red square", "a crimson tile"], ["a blue dot on white"], ["a green stripe"]]
    assert _pixel(data, 0) == RED
    assert torch.equal(data.images[0], torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 16, 16))
    assert _pixel(data, 1) == BLUE and tuple(int(v) for v in ((data.images[1, :, 0, 0] + 1) * 127.5)) == WHITE
    wide = ((data.images[2] + 1) * 127.5).round()[:, :, 2:-2]         # JPEG and filter edges: a little bleed
    assert (wide[1] > 230).all() and (wide[0] < 40).all() and (wide[2] < 40).all()
    image, captions = data[1]
    assert image.shape == (3, 16, 16) and captions == ["a blue dot on white"]


def test_folder_recursive_and_subset(folder):
    (folder / "sub").mkdir()
    _solid(folder / "sub" / "d.png", GREEN)
    (folder / "sub" / "d.txt").write_text("green")
    assert len(CaptionedImages.from_folder(folder, size=8)) == 3
    data = CaptionedImages.from_folder(folder, size=8, recursive=True)
    assert len(data) == 4 and "sub/d.png" in data.names
    part = data.subset([3, 0])
    assert part.names == [data.names[3], data.names[0]] and part.captions == [data.captions[3], data.captions[0]]
    assert torch.equal(part.images[1], data.images[0])


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image folder"):
        CaptionedImages.from_folder(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="no image files"):
        CaptionedImages.from_folder(tmp_path)
    _solid(tmp_path / "x.png", RED)
    _solid(tmp_path / "y.png", GREEN)
    _solid(tmp_path / "z.png", RED)
    (tmp_path / "y.txt").write_text("fine")
    (tmp_path / "z.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.warns(UserWarning, match=r"skipped 2 of 3 images .*x\.png \(no caption file x\.txt beside it\); "
                      r"z\.png \(caption file 'z\.txt' is not UTF-8"):
        data = CaptionedImages.from_folder(tmp_path, size=8)
    assert data.names == ["y.png"] and data.captions == [["fine"]] and _pixel(data, 0) == GREEN
    (tmp_path / "x.txt").write_text("  \n\n")
    (tmp_path / "y.txt").unlink()
    with pytest.warns(UserWarning, match=r"skipped 3 of 3 .*x\.png \(caption file 'x\.txt': empty captions"), \
            pytest.raises(ValueError, match=r"none of the 3 images .* could be read with a caption \(the first: x\.png"):
        CaptionedImages.from_folder(tmp_path)


def test_unreadable_images_are_skipped_with_one_warning(tmp_path):
    _solid(tmp_path / "good.png", GREEN)
    (tmp_path / "bad1.png").write_bytes(b"not a png at all")
    (tmp_path / "bad2.jpg").write_bytes(b"\xff\xd8 truncated")
    for stem in ("good", "bad1", "bad2"):
        (tmp_path / f"{stem}.txt").write_text(f"caption of {stem}")
    with pytest.warns(UserWarning, match=r"skipped 2 of 3 images .*bad1\.png") as record:
        data = CaptionedImages.from_folder(tmp_path, size=8)
    assert len(record) == 1
    assert data.names == ["good.png"] and data.captions == [["caption of good"]] and _pixel(data, 0) == GREEN
    (tmp_path / "good.png").write_bytes(b"broken too")
    with pytest.warns(UserWarning, match="skipped 3 of 3"), pytest.raises(ValueError, match="none of the 3 images"):
        CaptionedImages.from_folder(tmp_path, size=8)


def test_csv_and_jsonl_tables(tmp_path):
    (tmp_path / "img").mkdir()
    _solid(tmp_path / "img" / "r.png", RED)
    _solid(tmp_path / "img" / "g.png", GREEN, size=(10, 30))
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text('image,caption,source\nimg/r.png,a red square,x\nimg/g.png,"a tall, green bar",y\n'
                        "img/r.png,  red again ,z\n")
    data = CaptionedImages.from_table(csv_file, size=12)
    assert data.names == ["img/r.png", "img/g.png"]
    assert data.captions == [["a red square", "red again"], ["a tall, green bar"]]
    assert data.images.shape == (2, 3, 12, 12) and _pixel(data, 0) == RED and _pixel(data, 1) == GREEN

    jsonl = tmp_path / "pairs.jsonl"
    lines = [{"image": "r.png", "captions": ["one", "two"]}, {"image": "g.png", "caption": "three"},
             {"image": "g.png", "caption": "four"}]
    jsonl.write_text("\n".join(json.dumps(o) for o in lines) + "\n\n")
    data = CaptionedImages.from_table(jsonl, size=12, image_root=tmp_path / "img")
    assert data.captions == [["one", "two"], ["three", "four"]] and _pixel(data, 1) == GREEN
    # an absolute path works, a missing file is skipped with a warning
    jsonl.write_text(json.dumps({"image": str(tmp_path / "img" / "r.png"), "caption": "abs"}) + "\n"
                     + json.dumps({"image": "missing.png", "caption": "gone"}) + "\n")
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 .*missing\.png \(no such file\)"):
        data = CaptionedImages.from_table(jsonl, size=12)
    assert data.captions == [["abs"]]


def test_table_errors(tmp_path):
    _solid(tmp_path / "r.png", RED)
    with pytest.raises(FileNotFoundError, match="no such caption table"):
        CaptionedImages.from_table(tmp_path / "none.csv")
    bad = tmp_path / "pairs.tsv"
    bad.write_text("image\tcaption\n")
    with pytest.raises(ValueError, match="must be .csv or .jsonl"):
        CaptionedImages.from_table(bad)
    table = tmp_path / "t.csv"
    table.write_text("file,text\nr.png,red\n")
    with pytest.raises(ValueError, match=r"'image' and 'caption' columns, got \['file', 'text'\]"):
        CaptionedImages.from_table(table)
    table.write_text("image,caption\n")
    with pytest.raises(ValueError, match="has no rows"):
        CaptionedImages.from_table(table)
    table.write_text("image,caption\nr.png,red\nr.png,   \n")
    with pytest.raises(ValueError, match="line 3: empty captions"):
        CaptionedImages.from_table(table)
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"image": "r.png", "caption": "ok"}\n{"image": "r.png"\n')
    with pytest.raises(ValueError, match="line 2: not JSON"):
        CaptionedImages.from_table(jl)
    jl.write_text('{"image": "r.png", "caption": "a", "captions": ["b"]}\n')
    with pytest.raises(ValueError, match="line 1: expected an object"):
        CaptionedImages.from_table(jl)
    jl.write_text('{"image": "r.png", "captions": "not a list"}\n')
    with pytest.raises(ValueError, match="captions must be strings"):
        CaptionedImages.from_table(jl)


def test_constructor_checks():
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="got 1 caption lists for 2 images"):
        CaptionedImages(x, [["a"]])
    with pytest.raises(ValueError, match="image 1: empty captions"):
        CaptionedImages(x, [["a"], [" ", ""]])
    with pytest.raises(ValueError, match=r"\(N, 3, S, S\)"):
        CaptionedImages(torch.zeros(2, 1, 4, 4), ["a", "b"])
    with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
        CaptionedImages(x + 2, ["a", "b"])
    data = CaptionedImages(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), ["a", "b"])
    assert data.captions == [["a"], ["b"]] and torch.equal(data.images, torch.ones(2, 3, 4, 4))


class CountingEncoder:
    """Stands in for TextEncoder: caption → (len, 2) and a record of what was encoded."""

    def __init__(self):
        self.calls = []

    def encode(self, captions):
        self.calls.append(list(captions))
        return torch.tensor([[float(len(c)), float(c.count("a"))] for c in captions])


def test_embeddings_one_row_per_pair_with_index_map():
    images = torch.linspace(-1, 1, 3).view(3, 1, 1, 1).expand(3, 3, 4, 4)
    data = CaptionedImages(images, [["aa", "b"], ["ccc"], ["b", "aa", "dddd"]])
    enc = CountingEncoder()
    emb, index = data.embeddings(enc)
    assert index.tolist() == [0, 0, 1, 2, 2, 2]
    assert emb.tolist() == [[2, 2], [1, 0], [3, 0], [1, 0], [2, 2], [4, 0]]
    assert enc.calls == [["aa", "b", "ccc", "dddd"]]                     # each distinct caption once
    pairs = data.pairs_dataset(enc)
    uint8, emb2 = pairs.tensors
    assert uint8.dtype == torch.uint8 and uint8.shape == (6, 3, 4, 4) and torch.equal(emb2, emb)
    assert uint8[:, 0, 0, 0].tolist() == [0, 0, 128, 255, 255, 255]


def test_open_rgb_composites_palette_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    rgb = np.asarray(open_rgb(tmp_path / "p.png"))
    assert tuple(rgb[0, 0]) == WHITE and tuple(rgb[1, 1]) == (200, 100, 50)


def test_furniture_icons_asset():
    arrays = load_furniture_icons()
    assert arrays["images"].shape == (820, 64, 64, 3) and arrays["images"].dtype == np.uint8
    assert len(set(arrays["ids"].tolist())) == 820 and len(arrays["names"]) == len(arrays["categories"]) == 820
    assert set(arrays["catalog"].tolist()) == {"BlendSwap-CC-0", "BlendSwap-CC-BY", "KatorLegaz", "Reallusion",
                                               "Scopia"}
    assert (arrays["images"][:, 0, 0] == 255).all(axis=-1).mean() > 0.9            # white backgrounds
    train, test = furniture_icons("train"), furniture_icons("test")
    assert (len(train), len(test)) == (738, 82) and not set(train.names) & set(test.names)
    assert test.images.shape == (82, 3, 64, 64) and test.images.min() >= -1 and test.images.max() <= 1
    assert all(len(c) == 4 for c in train.captions) and len(train.info["category"]) == 738
    assert furniture_icons("test").names == test.names                                 # fixed split
    i = train.names.index("Blend Swap CC-0#armchair")
    assert train.captions[i][:2] == ["an armchair", "an armchair for the office"]
    small = furniture_icons("test", size=32)
    assert small.images.shape == (82, 3, 32, 32)
    with pytest.raises(ValueError, match="split must be"):
        furniture_icons("val")


def test_icon_captions_keep_acronyms():
    assert icon_captions("TV unit", "Living room") == ["a TV unit", "a TV unit for the living room",
                                                       "a picture of a TV unit",
                                                       "an icon of a TV unit, living room furniture"]
    assert icon_captions("Bed 140x190", "Bedroom")[0] == "a bed 140x190"


def test_caption_draws_visit_every_image_with_its_own_captions():
    images = torch.arange(3 * 3 * 4 * 4, dtype=torch.float32).reshape(3, 3, 4, 4) % 255 / 127.5 - 1
    data = CaptionedImages(images, [["a", "b"], ["c"], ["d", "e", "f"]])
    emb = torch.arange(6, dtype=torch.float32)[:, None].repeat(1, 2)          # row p of caption p
    draws = data.training_set(emb, repeats=50, seed=1)
    assert len(draws) == 150
    owner = {0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 2}                               # caption row -> image
    seen = {0: set(), 1: set(), 2: set()}
    for j in range(len(draws)):
        image, e = draws[j]
        assert image.dtype == torch.uint8 and torch.equal(image, draws.images[j % 3])
        assert owner[int(e[0])] == j % 3
        seen[j % 3].add(int(e[0]))
    assert seen == {0: {0, 1}, 1: {2}, 2: {3, 4, 5}}                           # every caption is drawn
    batch = draws.__getitems__([5, 0, 149])
    assert all(torch.equal(b[1], draws[j][1]) for b, j in zip(batch, [5, 0, 149]))
    again = data.training_set(emb, repeats=50, seed=1)
    assert torch.equal(again.rows, draws.rows) and not torch.equal(data.training_set(emb, repeats=50, seed=2).rows,
                                                                    draws.rows)
    with pytest.raises(IndexError):
        draws[150]
    with pytest.raises(ValueError, match="match"):
        data.training_set(emb[:5])
