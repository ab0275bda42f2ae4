"""Captioned image datasets: your own folder or caption table, and the shipped furniture icons.

:class:`CaptionedImages` holds float32 RGB images ``(N, 3, S, S)`` in [-1, 1] (the range of
:class:`~multigan.text2image.shapes_data.CaptionedShapes`) and, per image, a list of one or more
captions. It reads

* a folder of images, each with a caption file of the same stem (``cat.png`` + ``cat.txt``; every
  non-blank line of the text file is one caption), with :meth:`CaptionedImages.from_folder`;
* a CSV file with ``image`` and ``caption`` columns, or a JSON-lines file of
  ``{"image": ..., "caption": "..."}`` / ``{"image": ..., "captions": [...]}`` objects, with
  :meth:`CaptionedImages.from_table` (an image may appear on several rows: its captions are
  collected in order of appearance);
* the shipped Sweet Home 3D furniture icons, with :func:`furniture_icons`;
* the shipped Noto Color Emoji pictures with their names, keywords and Unicode groups, with
  :func:`emoji_set`.

Every image is converted to RGB (transparent pixels are composited onto white), scaled so that
its shorter side is ``size`` px and centre-cropped to ``size`` × ``size`` (Lanczos resampling).
Images that cannot be read are skipped with one warning that counts them (the first few are
named); if none is left, or an image has no caption, a :class:`ValueError` says which.

The text-to-image GANs train on ``(image, caption embedding)`` pairs: :meth:`CaptionedImages.embeddings`
encodes every caption once (through the encoder's cache) and returns one embedding per
(image, caption) pair with the image index of each, and :meth:`CaptionedImages.pairs_dataset`
turns that into the ``TensorDataset(uint8 images, embeddings)`` the training code consumes.

Example:
    >>> data = CaptionedImages.from_folder("my_images/", size=64)      # doctest: +SKIP
    >>> data.images.shape, data.captions[0]                            # doctest: +SKIP
    (torch.Size([120, 3, 64, 64]), ['a red bicycle', 'a bike leaning on a wall'])
    >>> emb, index = data.embeddings(TextEncoder())                    # doctest: +SKIP
    >>> icons = furniture_icons("train")                               # shipped, no download  # doctest: +SKIP
    >>> icons.captions[0]                                              # doctest: +SKIP
    ['an armchair', 'an armchair for the office', 'a picture of an armchair', ...]

Furniture icons (``multigan/assets/text2image/furniture_icons.npz``, built by
``scripts/build_text2image_assets.py``; credits in ``multigan/assets/text2image/ATTRIBUTION.md``)
------------------------------------------------------------------------------------------------
The 820 catalog icons of the Debian ``sweethome3d-furniture`` package (rendered views of real
CC-BY / CC0 3D models on a transparent background), composited onto white, padded to a square
and resized to 64 × 64, with their English names, catalog categories and ids. Captions are made
from the name and category with the templates in :data:`ICON_TEMPLATES`; a fixed 10 % of the icons
(a seeded permutation) form the ``"test"`` split.

Emoji (``multigan/assets/text2image/emoji.npz``, its 128-px pictures in ``emoji_128.npz`` beside it,
built by ``scripts/build_text2image_assets.py --only emoji``; font licence and sources in ``multigan/assets/text2image/ATTRIBUTION.md``)
-----------------------------------------------------------------------------------------------------
Every fully-qualified emoji that Noto Color Emoji draws as one picture (3,783), on white, stored at
64 × 64 and 128 × 128, each with 3–14 captions of the kinds in :data:`EMOJI_CAPTION_KINDS`: its
CLDR name with modifiers after commas ("thumbs up, medium-dark skin tone"), a sentence ("a thumbs
up with medium-dark skin tone"), its head noun ("a monkey"), general captions of its Unicode
subgroup and group ("a mammal", "an animal"), its CLDR keywords and its aliases. General captions
match many pictures, names one. The ``"heldout"`` split holds compositions never trained on:
(gesture × skin tone) and (colour × object) pairs whose parts appear elsewhere, and a few whole
emoji (``info["heldout"]`` says which kind); ``"val"`` and ``"test"`` are each a fixed 2.5 % of the
rest (val to choose on, test to report once).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from multigan.io.utils import warn_skipped

from .encoder import DEFAULT_ENCODER

__all__ = [
    "CAPTION_SUFFIX",
    "DATASETS",
    "EMOJI_CAPTION_KINDS",
    "EMOJI_FILE",
    "EMOJI_SPLITS",
    "FURNITURE_ICONS_FILE",
    "ICON_TEMPLATES",
    "IMAGE_SUFFIXES",
    "CaptionDraws",
    "CaptionedImages",
    "cached_embeddings",
    "caption_embeddings",
    "emoji_dataset",
    "emoji_set",
    "fit_square",
    "furniture_icons",
    "icon_captions",
    "load_emoji",
    "load_furniture_icons",
    "open_rgb",
    "shapes_dataset",
]

#: Image file extensions read from folders and tables (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: The caption file of ``name.png`` is ``name`` + this suffix, in the same folder.
CAPTION_SUFFIX = ".txt"
#: The shipped icon asset, relative to :func:`multigan.core.module.assets_dir`.
FURNITURE_ICONS_FILE = "text2image/furniture_icons.npz"
#: Caption templates of the furniture icons; ``{a}`` is the article, ``{name}`` the lower-cased
#: catalog name, ``{where}`` the category phrase of :data:`_CATEGORY_PHRASES`.
ICON_TEMPLATES = (
    "{a} {name}",
    "{a} {name} {where}",
    "a picture of {a} {name}",
    "an icon of {a} {name}, {category}",
)
_CATEGORY_PHRASES = {
    "Bathroom": "for the bathroom", "Bedroom": "for the bedroom", "Characters": "as a 3D character",
    "Doors and windows": "as a door or window", "Exterior": "for outdoors", "Kitchen": "for the kitchen",
    "Lights": "as a light", "Living room": "for the living room", "Miscellaneous": "as a household object",
    "Office": "for the office", "Staircases": "as a staircase", "Vehicles": "as a vehicle",
}
_CATEGORY_NOUNS = {"Characters": "a character", "Exterior": "outdoor objects", "Doors and windows": "doors and windows",
                   "Lights": "lighting", "Miscellaneous": "miscellaneous objects", "Vehicles": "a vehicle",
                   "Staircases": "a staircase"}
#: The shipped emoji asset, relative to :func:`multigan.core.module.assets_dir`.
EMOJI_FILE = "text2image/emoji.npz"
#: Splits of :func:`emoji_set`: ``"all"`` is every emoji.
EMOJI_SPLITS = ("train", "val", "test", "heldout", "all")
#: Caption kinds of the emoji, in the order each emoji's captions are stored.
EMOJI_CAPTION_KINDS = ("name", "sentence", "noun", "subgroup", "group", "keyword", "alias")
_BUILD = "python scripts/build_text2image_assets.py"
_MAX_REPORTED = 5                       # skipped files named in the warning
_TEST_FRACTION = 0.1                    # share of icons in the "test" split
_SPLIT_SEED = 0


# -- single images ---------------------------------------------------------------------------------

def open_rgb(source: Any, background: tuple[int, int, int] = (255, 255, 255)):
    """A PIL RGB image from a path, bytes, a file object or a PIL image; alpha composited onto ``background``.

    Palette images with a transparent colour count as transparent too. Raises whatever PIL raises
    for an unreadable file (callers wrap it).
    """
    import io

    from PIL import Image

    if isinstance(source, Image.Image):
        img = source
    else:
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        img = Image.open(source)
        img.load()
    if img.mode == "P" or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


def fit_square(img, size: int, mode: str = "crop", fill: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Resize a PIL RGB image to ``size`` × ``size``; uint8 ``(size, size, 3)``.

    ``mode="crop"`` scales the shorter side to ``size`` and keeps the centre; ``mode="pad"`` first
    pads the shorter side with ``fill`` (centred) so nothing is cut off. Lanczos resampling.
    """
    from PIL import Image, ImageOps

    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if mode == "crop":
        out = ImageOps.fit(img, (size, size), method=Image.LANCZOS, centering=(0.5, 0.5))
    elif mode == "pad":
        w, h = img.size
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), fill)
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        out = canvas.resize((size, size), Image.LANCZOS)
    else:
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    return np.asarray(out, dtype=np.uint8)


def _to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` → float32 ``(N, 3, H, W)`` in [-1, 1] (as CaptionedShapes)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def _clean_captions(captions: Sequence[str], where: str) -> list[str]:
    out = [" ".join(str(c).split()) for c in captions]
    out = [c for c in out if c]
    if not out:
        raise ValueError(f"{where}: empty captions (every caption is blank)")
    return out


def _read_caption_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"caption file {str(path)!r} is not UTF-8 text: {err}") from err
    return _clean_captions(text.splitlines(), f"caption file {str(path)!r}")


# -- the dataset -----------------------------------------------------------------------------------

class CaptionedImages(torch.utils.data.Dataset):
    """Images with one or more captions each.

    Args:
        images:   float32 ``(N, 3, S, S)`` in [-1, 1], or uint8 ``(N, 3, S, S)`` (mapped by ``x / 127.5 - 1``).
        captions: per image a non-empty list of captions (a single string counts as a list of one).
        names:    one identifier per image (file names, catalog ids); defaults to ``"0"``, ``"1"``, ….
        info:     extra per-image arrays (e.g. ``category``), kept as given, each of length N.

    Attributes:
        images, captions, names, info (as above; captions are whitespace-normalised).

    ``data[i]`` is ``(image (3, S, S), list of captions)``; ``len(data)`` counts images.
    """

    def __init__(self, images: Any, captions: Sequence[Sequence[str] | str], *,
                 names: Sequence[str] | None = None, info: dict[str, Any] | None = None) -> None:
        x = torch.as_tensor(images)
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3] or x.shape[0] == 0:
            raise ValueError(f"images must be a non-empty batch (N, 3, S, S), got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1
        elif x.is_floating_point():
            x = x.float()
            if not torch.isfinite(x).all() or x.min() < -1 - 1e-4 or x.max() > 1 + 1e-4:
                raise ValueError("float images must be finite and in [-1, 1]")
        else:
            raise TypeError(f"images must be uint8 or float, got {x.dtype}")
        n = x.shape[0]
        if len(captions) != n:
            raise ValueError(f"got {len(captions)} caption lists for {n} images")
        caps = [_clean_captions([c] if isinstance(c, str) else list(c), f"image {i}") for i, c in enumerate(captions)]
        names = [str(i) for i in range(n)] if names is None else [str(s) for s in names]
        if len(names) != n:
            raise ValueError(f"got {len(names)} names for {n} images")
        info = dict(info or {})
        for key, value in info.items():
            if len(value) != n:
                raise ValueError(f"info[{key!r}] has {len(value)} entries for {n} images")
        self.images, self.captions, self.names, self.info = x, caps, names, info

    # -- readers -----------------------------------------------------------------------------------

    @classmethod
    def from_folder(cls, root: str | os.PathLike, size: int = 64, *, recursive: bool = False) -> CaptionedImages:
        """Images in ``root`` (and its sub-folders with ``recursive``), each with ``<stem>.txt`` beside it.

        Images without a caption file, with a blank or non-UTF-8 one, or that cannot be read are
        skipped with one warning that counts them and names the first few (the rule of every
        training folder in multigan).

        Raises:
            FileNotFoundError: ``root`` is not a folder, or holds no image files.
            ValueError: no image has both a readable picture and a caption.
        """
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"no such image folder: {str(root)!r}")
        pattern = "**/*" if recursive else "*"
        files = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {str(root)!r}"
                                    + ("" if recursive else " (sub-folders are read with recursive=True)"))
        items, skipped = [], []
        for p in files:
            name, caption_file = str(p.relative_to(root)), p.with_suffix(CAPTION_SUFFIX)
            if not caption_file.is_file():
                skipped.append(f"{name} (no caption file {caption_file.name} beside it)")
                continue
            try:
                items.append((p, _read_caption_file(caption_file), name))
            except ValueError as err:
                skipped.append(f"{name} ({str(err).replace(repr(str(caption_file)), repr(caption_file.name))})")
        return cls._load(items, size, str(root), skipped=skipped)

    @classmethod
    def from_table(cls, path: str | os.PathLike, size: int = 64, *,
                   image_root: str | os.PathLike | None = None) -> CaptionedImages:
        """Image–caption pairs from a ``.csv`` (columns ``image``, ``caption``; other columns ignored)
        or ``.jsonl`` file (objects with ``image`` and ``caption`` or ``captions``).

        Relative image paths are resolved against ``image_root`` (default: the table's folder).
        Rows naming the same image add captions to it. Missing or unreadable image files are
        skipped with one warning.

        Raises:
            FileNotFoundError: no such table file.
            ValueError: wrong extension, missing columns/keys, a blank caption (with its line
                number), an empty table, or no readable image.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such caption table: {str(path)!r}")
        base = Path(image_root) if image_root is not None else path.parent
        suffix = path.suffix.lower()
        if suffix == ".csv":
            rows = _csv_rows(path)
        elif suffix in (".jsonl", ".ndjson"):
            rows = _jsonl_rows(path)
        else:
            raise ValueError(f"caption table {str(path)!r} must be .csv or .jsonl, got {path.suffix!r}")
        if not rows:
            raise ValueError(f"caption table {str(path)!r} has no rows")
        grouped: dict[str, list[str]] = {}
        for line, image, captions in rows:
            where = f"{str(path)!r} line {line}"
            if not image:
                raise ValueError(f"{where}: empty image path")
            grouped.setdefault(image, []).extend(_clean_captions(captions, where))
        items = [((base / image) if not Path(image).is_absolute() else Path(image), caps, image)
                 for image, caps in grouped.items()]
        return cls._load(items, size, str(path))

    @classmethod
    def _load(cls, items: list[tuple[Path, list[str], str]], size: int, where: str,
              skipped: Optional[list[str]] = None) -> CaptionedImages:
        """Read ``(file, captions, name)`` items, skipping unreadable files with one warning (that also
        counts the ``skipped`` items the caller already set aside, ``"name (reason)"``)."""
        images, captions, names = [], [], []
        skipped = list(skipped or [])
        total = len(items) + len(skipped)
        for file, caps, name in items:
            try:
                images.append(fit_square(open_rgb(file), size))
            except Exception as err:  # noqa: BLE001 -- unreadable or missing: count and move on
                reason = "no such file" if isinstance(err, FileNotFoundError) else f"{type(err).__name__}: {err}"
                skipped.append(f"{name} ({reason})")
                continue
            captions.append(caps)
            names.append(name)
        warn_skipped(skipped, total, "images", where, _MAX_REPORTED)
        if not images:
            raise ValueError(f"none of the {total} images in {where!r} could be read with a caption"
                             + (f" (the first: {skipped[0]})" if skipped else ""))
        return cls(_to_float(np.stack(images)), captions, names=names)

    # -- views -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, list[str]]:
        return self.images[i], self.captions[i]

    @property
    def size(self) -> int:
        """Edge of the (square) images in pixels."""
        return int(self.images.shape[-1])

    def flat_captions(self) -> tuple[list[str], torch.Tensor]:
        """Every (image, caption) pair: ``(captions, image index int64 (P,))`` in image order."""
        captions = [c for caps in self.captions for c in caps]
        index = torch.repeat_interleave(torch.arange(len(self)), torch.tensor([len(c) for c in self.captions]))
        return captions, index

    def embeddings(self, encoder: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings of every (image, caption) pair: ``(float32 (P, D), image index int64 (P,))``.

        ``encoder`` is a :class:`~multigan.text2image.encoder.TextEncoder` (or any object whose
        ``encode(list_of_str)`` returns ``(len, D)``); each distinct caption is encoded once and
        the TextEncoder's cache keeps it for later calls. Row ``p`` belongs to image ``index[p]``.
        """
        captions, index = self.flat_captions()
        unique = sorted(set(captions))
        table = torch.as_tensor(encoder.encode(unique)).float()
        if table.ndim != 2 or table.shape[0] != len(unique):
            raise ValueError(f"encoder returned shape {tuple(table.shape)} for {len(unique)} captions")
        row = {c: i for i, c in enumerate(unique)}
        return table[torch.tensor([row[c] for c in captions])].contiguous(), index

    def pairs_dataset(self, encoder: Any) -> torch.utils.data.TensorDataset:
        """``TensorDataset(uint8 images (P, 3, S, S), embeddings (P, D))``, one row per (image, caption) pair."""
        emb, index = self.embeddings(encoder)
        uint8 = ((self.images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return torch.utils.data.TensorDataset(uint8[index], emb)

    def training_set(self, embeddings: torch.Tensor, *, repeats: int = 8, seed: int = 0) -> CaptionDraws:
        """A :class:`CaptionDraws` over these images: every image ``repeats`` times per pass, each
        time with one of its captions; ``embeddings`` are :meth:`embeddings`' first output."""
        counts = torch.tensor([len(c) for c in self.captions])
        uint8 = ((self.images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return CaptionDraws(uint8, embeddings, counts, repeats=repeats, seed=seed)

    def subset(self, index: Any) -> CaptionedImages:
        """The images at ``index`` (ints or a bool mask) with their captions, names and info."""
        idx = torch.arange(len(self))[torch.as_tensor(index)].reshape(-1).tolist()
        info = {k: [v[i] for i in idx] if not isinstance(v, (np.ndarray, torch.Tensor)) else v[idx]
                for k, v in self.info.items()}
        return CaptionedImages(self.images[idx], [self.captions[i] for i in idx],
                               names=[self.names[i] for i in idx], info=info)

    def __repr__(self) -> str:
        n_caps = sum(len(c) for c in self.captions)
        return f"CaptionedImages(n={len(self)}, size={self.size}, captions={n_caps})"


class CaptionDraws(torch.utils.data.Dataset):
    """Training pairs ``(uint8 image (3, S, S), caption embedding (D,))`` with each image stored once.

    Item ``j`` is image ``j mod N`` with one of its captions; a pass over ``N · repeats`` items
    shows every image ``repeats`` times, each time with a caption drawn once at construction
    (seeded), so batches are reproducible and a resumed run sees the same pairs. Images weigh the
    same whatever their number of captions (StackGAN draws one of a picture's captions per visit).

    Args:
        images:     uint8 ``(N, 3, S, S)``.
        embeddings: ``(P, D)``: the captions of image 0, then of image 1, … (``counts`` of each).
        counts:     captions per image, ``(N,)``, each >= 1, summing to P.
    """

    def __init__(self, images: torch.Tensor, embeddings: torch.Tensor, counts: torch.Tensor, *, repeats: int = 8,
                 seed: int = 0) -> None:
        counts = torch.as_tensor(counts, dtype=torch.long)
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(counts):
            raise ValueError(f"need uint8 images (N, 3, S, S) and one count per image, got {tuple(images.shape)} "
                             f"{images.dtype} and {len(counts)} counts")
        if counts.min() < 1 or int(counts.sum()) != len(embeddings) or embeddings.ndim != 2:
            raise ValueError(f"counts (sum {int(counts.sum())}, min {int(counts.min())}) must be >= 1 and match the "
                             f"{len(embeddings)} embedding rows")
        if int(repeats) < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.images, self.embeddings, self.repeats = images, embeddings.float().contiguous(), int(repeats)
        start = torch.cumsum(counts, 0) - counts
        draws = torch.randint(0, 2**31 - 1, (self.repeats, len(counts)), generator=torch.Generator().manual_seed(seed))
        self.rows = start + draws % counts                     # (repeats, N): the caption row of each visit

    def __len__(self) -> int:
        return len(self.images) * self.repeats

    def _fetch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise IndexError(f"index out of range for {len(self)} items")
        visit, image = index // len(self.images), index % len(self.images)
        return self.images[image], self.embeddings[self.rows[visit, image]]

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, embeddings = self._fetch(torch.tensor([int(j)]))
        return images[0], embeddings[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[self[j] for j in indices]`` with two indexing operations (the DataLoader's batched fetch)."""
        images, embeddings = self._fetch(torch.as_tensor(list(indices), dtype=torch.long))
        return list(zip(images, embeddings))


def _csv_rows(path: Path) -> list[tuple[int, str, list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        if "image" not in fields or "caption" not in fields:
            raise ValueError(f"caption table {str(path)!r} needs a header with 'image' and 'caption' columns, "
                             f"got {fields}")
        reader.fieldnames = fields
        return [(reader.line_num, (row["image"] or "").strip(), [row["caption"] or ""]) for row in reader]


def _jsonl_rows(path: Path) -> list[tuple[int, str, list[str]]]:
    rows = []
    for line, text in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{str(path)!r} line {line}: not JSON ({err})") from err
        if not isinstance(obj, dict) or "image" not in obj or ("caption" in obj) == ("captions" in obj):
            raise ValueError(f"{str(path)!r} line {line}: expected an object with 'image' and one of "
                             f"'caption' / 'captions'")
        caps = obj["captions"] if "captions" in obj else [obj["caption"]]
        if isinstance(caps, str) or not all(isinstance(c, str) for c in caps):
            raise ValueError(f"{str(path)!r} line {line}: captions must be strings (a list for 'captions')")
        rows.append((line, str(obj["image"]).strip(), list(caps)))
    return rows


# -- furniture icons -------------------------------------------------------------------------------

def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def icon_captions(name: str, category: str) -> list[str]:
    """The captions of one furniture icon from its catalog name and category (one per template).

    Example:
        >>> icon_captions("Armchair", "Office")[:2]
        ['an armchair', 'an armchair for the office']
    """
    words = name.split()
    # lower-case ordinary words, keep acronyms and model codes ("TV", "LCD", "140x190")
    name_text = " ".join(w if (w.isupper() and len(w) > 1) or any(ch.isdigit() for ch in w) else w.lower()
                         for w in words)
    where = _CATEGORY_PHRASES.get(category, f"for the {category.lower()}")
    noun = _CATEGORY_NOUNS.get(category, f"{category.lower()} furniture")
    return [t.format(a=_article(name_text), name=name_text, where=where, category=noun) for t in ICON_TEMPLATES]


def _asset_file(path: str | os.PathLike | None, default: str, what: str, build: str) -> Path:
    """``path``, or the shipped ``default`` under the assets folder; FileNotFoundError naming ``build``."""
    if path is None:
        from multigan.core.module import assets_dir

        path = assets_dir() / default
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} asset not found at {str(path)!r}; build it with: {build}")
    return path


def load_furniture_icons(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The arrays of the shipped icon asset: ``images`` uint8 ``(820, 64, 64, 3)``, ``names``,
    ``categories``, ``ids``, ``catalog``, ``creator``, ``license`` (FileNotFoundError naming the
    build script when absent)."""
    path = _asset_file(path, FURNITURE_ICONS_FILE, "furniture icon", _BUILD)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = {"images", "names", "categories", "ids"} - set(arrays)
    if missing:
        raise ValueError(f"furniture icon asset {str(path)!r} lacks arrays {sorted(missing)}; rebuild it with: {_BUILD}")
    return arrays


def furniture_icons(split: str = "all", size: int = 64, *, path: str | os.PathLike | None = None) -> CaptionedImages:
    """The shipped Sweet Home 3D icons as :class:`CaptionedImages` (captions from :func:`icon_captions`).

    Args:
        split: ``"all"`` (820 icons), ``"train"`` (738) or ``"test"`` (82; a fixed seeded 10 %).
        size:  edge in pixels; other than 64 resizes the stored 64-px icons (Lanczos).

    ``info`` holds ``category``, ``catalog`` and ``creator`` per icon; ``names`` the catalog ids.
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    arrays = load_furniture_icons(path)
    images = arrays["images"]
    n = len(images)
    test = np.zeros(n, bool)
    test[np.random.default_rng(_SPLIT_SEED).permutation(n)[:round(n * _TEST_FRACTION)]] = True
    keep = np.arange(n) if split == "all" else np.flatnonzero(test == (split == "test"))
    if int(size) != images.shape[1]:
        from PIL import Image

        images = np.stack([fit_square(Image.fromarray(images[i]), size) for i in keep])
    else:
        images = images[keep]
    captions = [icon_captions(str(arrays["names"][i]), str(arrays["categories"][i])) for i in keep]
    info = {"category": [str(arrays["categories"][i]) for i in keep], "name": [str(arrays["names"][i]) for i in keep]}
    for key in ("catalog", "creator"):
        if key in arrays:
            info[key] = [str(arrays[key][i]) for i in keep]
    return CaptionedImages(_to_float(images), captions, names=[str(arrays["ids"][i]) for i in keep], info=info)


# -- emoji -----------------------------------------------------------------------------------------

def load_emoji(path: str | os.PathLike | None = None, *, sizes: Sequence[int] = (64,)) -> dict[str, np.ndarray]:
    """The arrays of the shipped emoji asset, with the pictures of the stored ``sizes`` only.

    Returns ``images_<size>`` uint8 ``(N, S, S, 3)`` per size asked for, and per emoji ``emoji``
    (the characters), ``codepoints``, ``name`` (CLDR), ``group``, ``subgroup``, ``version``,
    ``base`` (the name before its modifiers), ``skin_tone`` (``"medium-dark"``; several joined by
    ``", "``; ``""`` without), ``split``, ``heldout`` (``gesture-tone``, ``colour-object``,
    ``whole`` or ``""``); the captions of emoji ``i`` are
    ``captions[caption_offsets[i]:caption_offsets[i + 1]]``, their kinds in ``caption_kind``;
    ``build_info`` is a JSON string of the sources' versions. The pictures are LZMA-compressed:
    reading the 128-px ones takes a few seconds.

    Raises:
        FileNotFoundError: no asset (the message names the build command).
        ValueError: a size that is not stored, or an asset that lacks arrays.
    """
    path = _asset_file(path, EMOJI_FILE, "emoji", f"{_BUILD} --only emoji")
    wanted = {int(s) for s in sizes}
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if not k.startswith("images_") or int(k.split("_")[1]) in wanted}
    sidecars = {int(f.stem.rsplit("_", 1)[1]): f for f in path.parent.glob(f"{path.stem}_*.npz")
                if f.stem.rsplit("_", 1)[1].isdigit()}              # larger pictures: emoji_128.npz
    for s in sorted(wanted - {int(k.split("_")[1]) for k in arrays if k.startswith("images_")}):
        if s not in sidecars:
            stored = sorted({int(k.split("_")[1]) for k in arrays if k.startswith("images_")} | set(sidecars))
            raise ValueError(f"emoji pictures are stored at sizes {stored}, not {s}")
        with np.load(sidecars[s], allow_pickle=False) as z:
            arrays[f"images_{s}"] = z[f"images_{s}"]
    missing = {"name", "split", "captions", "caption_kind", "caption_offsets"} - set(arrays)
    if missing:
        raise ValueError(f"emoji asset {str(path)!r} lacks arrays {sorted(missing)}; rebuild it with: "
                         f"{_BUILD} --only emoji")
    return arrays


def emoji_set(split: str = "train", size: int = 64, *, caption_kinds: Sequence[str] | None = None,
              path: str | os.PathLike | None = None) -> CaptionedImages:
    """The shipped emoji as :class:`CaptionedImages`: real colour pictures with several captions each.

    Args:
        split:         ``"train"`` (3,589), ``"val"`` (82: to choose checkpoints and options on),
                       ``"test"`` (95: to report once), ``"heldout"`` (17 compositions never
                       trained on) or ``"all"`` (3,783).
        size:          edge in pixels. 64 and 128 are stored; other sizes are resized (Lanczos)
                       from the smallest stored size at least as large (else from 128).
        caption_kinds: keep only captions of these kinds (of :data:`EMOJI_CAPTION_KINDS`; default
                       all). Every emoji has a ``name`` caption.
        path:          another ``emoji.npz`` (default: the shipped one).

    ``names`` are the CLDR names ("thumbs up: medium-dark skin tone"); ``info`` holds per emoji
    ``emoji``, ``group``, ``subgroup``, ``base``, ``skin_tone``, ``split``, ``heldout`` and ``caption_kind``
    (the kind of each kept caption). The images are float32: ``"train"`` at 128 px takes about
    0.7 GB.

    Example:
        >>> data = emoji_set("train")                                   # doctest: +SKIP
        >>> data.images.shape                                           # doctest: +SKIP
        torch.Size([3589, 3, 64, 64])
        >>> data.captions[data.names.index("see-no-evil monkey")][:4]    # doctest: +SKIP
        ['see-no-evil monkey', 'a see-no-evil monkey', 'a monkey', 'a monkey face']
        >>> held = emoji_set("heldout", size=128)                       # doctest: +SKIP
        >>> sorted(set(held.info["heldout"]))                           # doctest: +SKIP
        ['colour-object', 'gesture-tone', 'whole']
    """
    if split not in EMOJI_SPLITS:
        raise ValueError(f"split must be one of {EMOJI_SPLITS}, got {split!r}")
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    kinds = tuple(EMOJI_CAPTION_KINDS if caption_kinds is None else caption_kinds)
    if not kinds or not set(kinds) <= set(EMOJI_CAPTION_KINDS):
        raise ValueError(f"caption_kinds must be a non-empty selection of {EMOJI_CAPTION_KINDS}, got {kinds}")
    source = min((s for s in (64, 128) if s >= size), default=128)
    arrays = load_emoji(path, sizes=(source,))
    keep = np.arange(len(arrays["name"])) if split == "all" else np.flatnonzero(arrays["split"] == split)
    if not len(keep):
        raise ValueError(f"the emoji asset has no {split!r} split")
    images = arrays[f"images_{source}"][keep]
    if size != source:
        from PIL import Image

        images = np.stack([fit_square(Image.fromarray(img), size) for img in images])
    offsets, texts, text_kinds = arrays["caption_offsets"], arrays["captions"], arrays["caption_kind"]
    captions, caption_kind = [], []
    for i in keep:
        rows = [(str(t), str(k)) for t, k in zip(texts[offsets[i]:offsets[i + 1]],
                                                 text_kinds[offsets[i]:offsets[i + 1]]) if k in kinds]
        if not rows:
            raise ValueError(f"emoji {str(arrays['name'][i])!r} has no caption of the kinds {kinds}")
        captions.append([t for t, _ in rows])
        caption_kind.append([k for _, k in rows])
    info: dict[str, Any] = {key: [str(v) for v in arrays[key][keep]]
                            for key in ("emoji", "group", "subgroup", "base", "skin_tone", "split", "heldout")
                            if key in arrays}
    info["caption_kind"] = caption_kind
    return CaptionedImages(_to_float(images), captions, names=[str(n) for n in arrays["name"][keep]], info=info)


#: training data of ``train(data=...)`` and ``--data``
DATASETS = ("shapes", "emoji")


_CHUNK = 2048        # examples rendered per CaptionedShapes call (bounds the float32 intermediate)


def _chunks(n: int, seed: int) -> list[tuple[int, int]]:
    """``(size, seed)`` of each CaptionedShapes chunk: chunk k uses seed ``seed · 100003 + k``."""
    return [(min(_CHUNK, n - start), seed * 100_003 + k) for k, start in enumerate(range(0, n, _CHUNK))]


def _shape_captions(n: int, seed: int) -> list[str]:
    from .shapes_data import CaptionedShapes

    return [c for size, s in _chunks(n, seed) for c in CaptionedShapes(size, split="train", image_size=16,
                                                                         seed=s).captions]


def shapes_dataset(n: int, image_size: int, seed: int, embeddings: torch.Tensor) -> torch.utils.data.TensorDataset:
    """CaptionedShapes train split as ``(uint8 images (n, 3, S, S), embeddings)`` (the models map uint8 to [-1, 1])."""
    from .shapes_data import CaptionedShapes

    parts = []
    for size, s in _chunks(n, seed):
        images = CaptionedShapes(size, split="train", image_size=image_size, seed=s).images
        parts.append(((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    images = torch.cat(parts)
    if len(images) != len(embeddings):
        raise ValueError(f"{len(images)} images but {len(embeddings)} embeddings")
    return torch.utils.data.TensorDataset(images, embeddings)


def caption_embeddings(out: str | Path, n: int, seed: int,
                       encoder: Any = DEFAULT_ENCODER) -> tuple[torch.Tensor, str, Optional[str]]:
    """Embeddings of the ``n`` training captions of captioned shapes, cached in ``out/data/``.

    Returns ``(embeddings, encoder name, encoder fingerprint or None)``.

    ``encoder``: an encoder name (loaded only when the cache misses) or an encoder object with
    ``name``, ``dim`` and ``encode``.
    """
    file = Path(out) / "data" / f"shapes-train-n{n}-seed{seed}-embeddings.safetensors"
    return cached_embeddings(file, lambda: _shape_captions(n, seed), encoder, {"n": str(n), "seed": str(seed)})


def cached_embeddings(file: Path, captions: Callable[[], list[str]], encoder: Any = DEFAULT_ENCODER,
                      metadata: Optional[dict[str, str]] = None) -> tuple[torch.Tensor, str, Optional[str]]:
    """Embeddings of ``captions()`` (called only when the cache misses), cached in ``file`` by encoder.

    Returns ``(embeddings, encoder name, encoder fingerprint or None)``; a cache made by another
    encoder (name, or fingerprint when both are known) is recomputed.
    """
    from safetensors.torch import load_file, safe_open, save_file

    name = encoder if isinstance(encoder, str) else str(encoder.name)
    if file.is_file():
        with safe_open(str(file), "pt") as fh:
            meta = fh.metadata() or {}
        if meta.get("encoder") == name:
            fingerprint = meta.get("fingerprint") or None
            if isinstance(encoder, str) or fingerprint in (None, getattr(encoder, "fingerprint", None)):
                return load_file(str(file))["embeddings"], name, fingerprint
    if isinstance(encoder, str):
        from .encoder import TextEncoder
        encoder = TextEncoder(encoder)
    embeddings = torch.as_tensor(encoder.encode(captions())).float().contiguous()
    fingerprint = getattr(encoder, "fingerprint", None)
    from multigan.core.atomic import atomic_file
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(file) as tmp:
        save_file({"embeddings": embeddings}, str(tmp),
                  metadata={"encoder": name, "fingerprint": fingerprint or "", **(metadata or {})})
    return embeddings, name, fingerprint


def emoji_dataset(out: str | Path, size: int, *, encoder: Any = DEFAULT_ENCODER, repeats: int = 8, seed: int = 0,
                  path: Optional[str | Path] = None) -> tuple[Any, str, Optional[str]]:
    """The emoji train split as :class:`~multigan.text2image.data.CaptionDraws` at ``size`` px (every
    caption kind; embeddings cached in ``out/data/``). Returns ``(dataset, encoder name, fingerprint)``."""
    from .data import emoji_set

    data = emoji_set("train", size, path=path)
    captions, _ = data.flat_captions()
    digest = hashlib.sha256("\n".join(captions).encode()).hexdigest()[:12]
    file = Path(out) / "data" / f"emoji-train-{digest}-embeddings.safetensors"
    embeddings, name, fingerprint = cached_embeddings(file, lambda: captions, encoder, {"captions": digest})
    if len(embeddings) != len(captions):
        raise ValueError(f"{file} holds {len(embeddings)} embeddings for {len(captions)} captions; delete it")
    return data.training_set(embeddings, repeats=repeats, seed=seed), name, fingerprint

