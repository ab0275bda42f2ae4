"""Build ``multigan/assets/voxel/furniture.npz`` (and ``ATTRIBUTION.md``) from Sweet Home 3D's furniture catalogs.

Run once (about three minutes on two cores; needs the Debian package, never at run time)::

    sudo apt-get install sweethome3d-furniture && python scripts/build_voxel_assets.py

The package installs five ZIP catalogs ``/usr/share/sweethome3d/furniture/*.sh3f``. Each holds
``PluginFurnitureCatalog.properties`` (``name#N``, ``category#N``, ``model#N``, ``creator#N``,
``modelRotation#N``, … in Java-properties syntax, Latin-1 with ``\\uXXXX`` escapes) and the OBJ
models. A model is kept when its English name holds one of the class words below as a whole word
(case-insensitive) and none of that class's excluded words; names that would fall in two classes
are dropped and reported, and so are the few models in ``EXCLUDE_IDS`` (found by eye).

Each kept model is loaded with trimesh (materials skipped), turned upright with its
``modelRotation`` (nine numbers, a row-major 3×3 matrix ``M`` applied as ``p' = M p``, as Sweet
Home 3D does) and voxelised with :func:`multigan.io.mesh.mesh_to_voxels` (centred, longest side
scaled to the grid with a one-voxel margin, interior filled) at 32³ and 64³. Sweet Home 3D models
are Y-up, so the grids are ``(x, y, z)`` with axis 1 up (the front of a piece faces +z). Models
that fail to load or voxelise are skipped and counted. The grids are bit-packed along the last
axis (:func:`multigan.voxel.data.pack_voxels`); rerunning the script rewrites byte-identical files.

``--preview out.png`` also writes a contact sheet (front and side silhouettes of every shape at
32³) for checking orientations by eye.
"""

from __future__ import annotations

import argparse
import collections
import glob
import io
import re
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from multigan.core.atomic import atomic_file
from multigan.io.mesh import mesh_to_voxels
from multigan.voxel.data import CLASSES, pack_voxels, save_arrays

CATALOG_DIR = Path("/usr/share/sweethome3d/furniture")
RESOLUTIONS = (32, 64)
MAX_BYTES = 6_000_000

#: Whole words of the English name that put a model in a class.
CLASS_WORDS = {
    "chair": ("chair", "armchair"),            # chairs, armchairs, office/bar/child chairs
    "table": ("table",),                       # dining, coffee, bedside, bar, garden tables
    "sofa": ("sofa", "couch", "settee"),
    "bed": ("bed", "bunk"),                    # beds, bunk / child / baby / day beds
}
#: Whole words that veto a class, with the reason (word-aware matching already keeps
#: "wheelchair", "bedside", "bedroom", "tablet", "stool" out of chair/bed/table).
EXCLUDE_WORDS = {
    "chair": {
        "high": "baby high chair: a tall frame with a tray, not a chair shape",
        "deck": "deck chairs are reclining loungers, bed-like in shape",
        "beach": "beach chair: a reclining lounger",
        "relax": "relax chair: a reclining lounger",
        "ottoman": "armchair and footstool modelled as one piece",
    },
    "table": {
        "desk": "desks are kept out of the table class",
        "pool": "pool (billiard) table: a game table",
        "football": "table football: a game",
        "tennis": "table tennis table / bat: game equipment",
        "fan": "table fan: an appliance",
        "changing": "baby changing unit: a cabinet",
        "dressing": "dressing table: a vanity with a tall mirror",
        "technical": "technical (drafting) tables: tilted boards on frames",
    },
    "sofa": {
        "opened": "opened convertible sofa: unfolded into a flat bed",
    },
    "bed": {},
}

#: Single models left out after looking at them (``--preview``), by id ``<catalog>/<model folder>``.
EXCLUDE_IDS = {
    "BlendSwap-CC-0/foldingChair": "named a chair but a backless folding camp stool (47 cm tall)",
}

#: Licence of each catalog, from /usr/share/doc/sweethome3d-furniture/copyright (Debian 1.8-1).
LICENSES = {
    "BlendSwap-CC-0": ("CC0-1.0", "2014, Emmanuel Puybaret eTeks and other contributors"),
    "BlendSwap-CC-BY": ("CC-BY-3.0", "The BlendSwap contributors"),
    "KatorLegaz": ("CC-BY-3.0-US", "2003-2008, Andrew Kator & Jennifer Legaz"),
    "Reallusion": ("CC-BY-3.0-US", "2008-2011, Reallusion <http://www.reallusion.com>"),
    "Scopia": ("CC-BY-3.0", "2010-2012, Scopia Visual Interfaces Systems, s.l. <http://www.scopia.es>"),
}
LICENSE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-3.0": "https://creativecommons.org/licenses/by/3.0/",
    "CC-BY-3.0-US": "https://creativecommons.org/licenses/by/3.0/us/",
}

_ENTRY = re.compile(r"(\w+)#(\d+)=(.*)")
_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})")


# -- catalogs --------------------------------------------------------------------------------------

def _unescape(value: str) -> str:
    """Java-properties value escapes: ``\\uXXXX`` and ``\\<char>``."""
    value = _UNICODE.sub(lambda m: chr(int(m[1], 16)), value)
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n"}.get(m[1], m[1]), value).strip()


def read_catalog(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """``(catalog-wide keys, entries)`` of one ``.sh3f`` catalog; entries sorted by their number."""
    with zipfile.ZipFile(path) as z:
        text = z.read("PluginFurnitureCatalog.properties").decode("latin-1")
    text = re.sub(r"(?<!\\)\\\r?\n[ \t]*", "", text)                   # line continuations
    header: dict[str, str] = {}
    entries: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "!")):
            continue
        m = _ENTRY.match(line)
        if m:
            entries.setdefault(int(m[2]), {})[m[1]] = _unescape(m[3])
        elif "=" in line:
            key, value = line.split("=", 1)
            header[key.strip()] = _unescape(value)
    return header, [entries[k] for k in sorted(entries)]


def classify(name: str) -> tuple[str | None, str]:
    """``(class or None, reason)`` for an English furniture name (whole words, case-insensitive)."""
    words = set(re.findall(r"[a-z]+", name.lower()))
    matched = [c for c in CLASSES if words & set(CLASS_WORDS[c])]
    if not matched:
        return None, "no class word"
    if len(matched) > 1:
        return None, f"ambiguous: {matched}"
    cls = matched[0]
    vetoes = sorted(words & set(EXCLUDE_WORDS[cls]))
    if vetoes:
        return None, f"excluded from {cls}: {EXCLUDE_WORDS[cls][vetoes[0]]}"
    return cls, cls


def _obj_bytes(archive: zipfile.ZipFile, model: str) -> bytes:
    """The OBJ text of ``model``: a path to an .obj, to a nested .zip, or to a folder, in ``archive``."""
    model = model.lstrip("/")
    if model.lower().endswith(".obj"):
        return archive.read(model)
    if model.lower().endswith(".zip"):
        inner = zipfile.ZipFile(io.BytesIO(archive.read(model)))
        objs = sorted(n for n in inner.namelist() if n.lower().endswith(".obj"))
        if objs:
            return inner.read(objs[0])
        raise ValueError(f"nested zip {model} holds no .obj")
    objs = sorted(n for n in archive.namelist() if n.startswith(model.rstrip("/") + "/") and n.lower().endswith(".obj"))
    if objs:
        return archive.read(objs[0])
    raise ValueError(f"unsupported model {model!r} (only OBJ models are read)")


def load_model(archive: zipfile.ZipFile, entry: dict[str, str]):
    """The entry's mesh as one Trimesh, turned upright with ``modelRotation`` (Y-up)."""
    import trimesh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesh = trimesh.load(io.BytesIO(_obj_bytes(archive, entry["model"])), file_type="obj", force="mesh",
                            skip_materials=True)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError("model holds no triangles")
    if entry.get("modelRotation"):
        values = [float(v) for v in entry["modelRotation"].split()]
        if len(values) != 9:
            raise ValueError(f"modelRotation needs 9 numbers, got {len(values)}")
        transform = np.eye(4)
        transform[:3, :3] = np.reshape(values, (3, 3))                  # row-major, p' = M p
        mesh.apply_transform(transform)
    return mesh


def _size_mismatch(mesh, entry: dict[str, str]) -> float:
    """Largest relative difference between the mesh's (x, y, z) proportions and the catalog's
    (width, height, depth); large values flag models lying on their side."""
    try:
        catalog = np.array([float(entry[k]) for k in ("width", "height", "depth")])
    except (KeyError, ValueError):
        return 0.0
    ext = np.asarray(mesh.extents, float)
    return float(np.max(np.abs(ext / ext.max() - catalog / catalog.max())))


# -- build -----------------------------------------------------------------------------------------

def build(catalog_dir: Path, out_dir: Path, preview: Path | None = None) -> dict:
    """Read every catalog, voxelise the kept models, write the npz and ATTRIBUTION.md; return the arrays."""
    catalogs = sorted(Path(p) for p in glob.glob(str(catalog_dir / "*.sh3f")))
    if not catalogs:
        raise SystemExit(f"no *.sh3f catalogs in {catalog_dir}: install the Debian package sweethome3d-furniture")
    start = time.perf_counter()
    shapes: list[dict] = []
    excluded: list[tuple[str, str, str]] = []
    failed: list[tuple[str, str]] = []
    headers = {}
    for path in catalogs:
        header, entries = read_catalog(path)
        headers[path.stem] = header
        with zipfile.ZipFile(path) as archive:
            for entry in entries:
                cls, reason = classify(entry.get("name", ""))
                if cls is None:
                    if reason != "no class word":
                        excluded.append((path.stem, entry.get("name", ""), reason))
                    continue
                model_id = f"{path.stem}/{Path(entry['model']).parent.name or Path(entry['model']).stem}"
                if model_id in EXCLUDE_IDS:
                    excluded.append((path.stem, entry["name"], f"excluded {model_id}: {EXCLUDE_IDS[model_id]}"))
                    continue
                try:
                    mesh = load_model(archive, entry)
                    grids = {r: mesh_to_voxels(mesh, r) for r in RESOLUTIONS}
                    if not all(g.any() for g in grids.values()):
                        raise ValueError("empty voxel grid")
                except Exception as err:                               # count and move on
                    failed.append((model_id, f"{type(err).__name__}: {err}"))
                    continue
                shapes.append({"cls": cls, "name": entry["name"], "id": model_id, "catalog": path.stem,
                               "model": entry["model"], "creator": entry.get("creator", ""),
                               "license": LICENSES.get(path.stem, (header.get("license", "unknown"), ""))[0],
                               "rotated": bool(entry.get("modelRotation")),
                               "mismatch": _size_mismatch(mesh, entry), "grids": grids})
    shapes.sort(key=lambda s: (CLASSES.index(s["cls"]), s["catalog"], s["id"]))
    arrays = {
        **{f"voxels{r}": pack_voxels(np.stack([s["grids"][r] for s in shapes])) for r in RESOLUTIONS},
        "labels": np.array([CLASSES.index(s["cls"]) for s in shapes], np.int64),
        "classes": np.array(CLASSES, dtype=str),
        "names": np.array([s["name"] for s in shapes], dtype=str),
        "ids": np.array([s["id"] for s in shapes], dtype=str),
        "catalog": np.array([s["catalog"] for s in shapes], dtype=str),
        "license": np.array([s["license"] for s in shapes], dtype=str),
        "creator": np.array([s["creator"] for s in shapes], dtype=str),
    }
    npz = save_arrays(out_dir / "furniture.npz", arrays)
    size = npz.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{npz} is {size} bytes, over the {MAX_BYTES}-byte budget")
    with atomic_file(out_dir / "ATTRIBUTION.md") as tmp:
        tmp.write_text(attribution(shapes, headers, excluded, failed), encoding="utf-8")
    seconds = time.perf_counter() - start

    counts = collections.Counter(s["cls"] for s in shapes)
    print("shapes: " + ", ".join(f"{c} {counts[c]}" for c in CLASSES) + f" (total {len(shapes)})")
    print(f"excluded by rule {len(excluded)}:")
    for cat, name, reason in excluded:
        print(f"  {cat}: {name!r}: {reason}")
    print(f"failed {len(failed)}" + "".join(f"\n  {i}: {e}" for i, e in failed))
    odd = [s for s in shapes if s["mismatch"] > 0.15]
    print(f"proportions differ from the catalog's width/height/depth by > 15 %: {len(odd)}"
          + "".join(f"\n  {s['id']} ({s['mismatch']:.2f})" for s in odd))
    print(f"upright rotations applied: {sum(s['rotated'] for s in shapes)}")
    for r in RESOLUTIONS:
        fill = np.mean([s["grids"][r].mean() for s in shapes])
        print(f"{r}³: mean occupancy {fill:.3f}")
    print(f"wrote {npz} ({size / 1e6:.2f} MB) and {out_dir / 'ATTRIBUTION.md'} in {seconds:.1f} s")
    if preview is not None:
        write_preview(shapes, preview)
        print(f"wrote {preview}")
    return arrays


def write_preview(shapes: list[dict], path: Path, scale: int = 3) -> None:
    """Contact sheet: per shape the front (x right, y up) and side (z right, y up) silhouettes."""
    from PIL import Image, ImageDraw

    res, cols, cell_h = 32, 8, 32 * scale + 12
    cell_w = 2 * 32 * scale + 6
    rows = (len(shapes) + cols - 1) // cols
    sheet = Image.new("L", (cols * cell_w, rows * cell_h), 255)
    draw = ImageDraw.Draw(sheet)
    for i, s in enumerate(shapes):
        grid = s["grids"][res]
        front = grid.any(2).T[::-1]                       # rows: y from the top; cols: x
        side = grid.any(0)[::-1]                          # rows: y from the top; cols: z
        x0, y0 = (i % cols) * cell_w, (i // cols) * cell_h
        for j, proj in enumerate((front, side)):
            img = Image.fromarray(np.where(proj, 0, 200).astype(np.uint8)).resize((res * scale,) * 2, Image.NEAREST)
            sheet.paste(img, (x0 + j * (res * scale + 2), y0 + 10))
        draw.text((x0, y0), f"{s['cls'][:2]} {s['id'].split('/', 1)[1][:26]}", fill=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def licence_lines(items: list[dict], headers: dict, noun: str) -> list[str]:
    """One Markdown bullet per catalog used by ``items`` (dicts with a ``catalog`` key): licence, holder, count."""
    lines = []
    for cat in sorted({item["catalog"] for item in items}):
        lic, holder = LICENSES.get(cat, ("see the catalog", ""))
        used = sum(item["catalog"] == cat for item in items)
        quoted = headers.get(cat, {}).get("license", "")
        lines.append(f"* **{cat}** ({used} {noun}): {lic} (<{LICENSE_URLS.get(lic, '')}>), "
                     f"Copyright {holder}; catalog: \"{quoted}\".")
    return lines


def attribution(shapes: list[dict], headers: dict, excluded: list, failed: list) -> str:
    """The text of ``ATTRIBUTION.md``."""
    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "sweethome3d-furniture"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        version = "unknown"
    counts = collections.Counter(s["cls"] for s in shapes)
    lines = [
        "# Attribution: `furniture.npz`",
        "",
        "`furniture.npz` holds voxelised 3D furniture models from the Sweet Home 3D additional",
        f"furniture libraries, as packaged by Debian in **`sweethome3d-furniture` {version}**",
        "(<http://www.sweethome3d.com/importModels.jsp>; catalogs",
        "`/usr/share/sweethome3d/furniture/*.sh3f`). It was built by `scripts/build_voxel_assets.py`:",
        "",
        "    sudo apt-get install sweethome3d-furniture && python scripts/build_voxel_assets.py",
        "",
        "Each model was chosen by a word of its English catalog name, turned upright with the",
        "catalog's `modelRotation`, and reduced to solid occupancy grids of 32³ and 64³ voxels",
        "(axis order x, y, z with y up; bit-packed along the last axis). No textures, materials or",
        "mesh geometry are included; the grids are derivative works of the models listed below.",
        "",
        "| class | shapes |",
        "|---|---|",
        *(f"| {c} | {counts[c]} |" for c in CLASSES),
        f"| total | {len(shapes)} |",
        "",
        "## Licences",
        "",
        "Per catalog, from the Debian package's `copyright` file (the catalog's own `license` line in",
        "quotes):",
        "",
    ]
    lines += licence_lines(shapes, headers, "shapes")
    lines += [
        "",
        "CC-BY models require attribution: credit the creator and the catalog listed for each shape",
        "below (and in the `creator` / `catalog` arrays of the npz), name the licence, and note that",
        "the models were voxelised. The CC0 models carry no conditions; their creators are listed",
        "as a courtesy.",
        "",
        "## Shapes",
        "",
        "| class | id (catalog/model) | name | creator | licence |",
        "|---|---|---|---|---|",
    ]
    for s in shapes:
        lines.append(f"| {s['cls']} | `{s['id']}` | {s['name']} | {s['creator'] or '—'} | {s['license']} |")
    lines += ["", "## Left out", "", "Names with a class word that were excluded by rule:", ""]
    lines += [f"* {cat}: \"{name}\" ({reason})" for cat, name, reason in excluded] or ["* none"]
    lines += ["", "Models that could not be loaded or voxelised:", ""]
    lines += [f"* `{i}`: {e}" for i, e in failed] or ["* none"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog-dir", type=Path, default=CATALOG_DIR, help="folder of the .sh3f catalogs")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "multigan" / "assets" / "voxel", help="output folder")
    parser.add_argument("--preview", type=Path, default=None, help="also write a PNG contact sheet here")
    args = parser.parse_args(argv)
    build(args.catalog_dir, args.out_dir, args.preview)


if __name__ == "__main__":
    main()
