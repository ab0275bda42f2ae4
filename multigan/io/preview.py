"""One HTML page that shows a folder of outputs: images, video and audio players, 3-D mesh viewers.

``multigan demo`` writes ``index.html`` beside its outputs. The page works offline from
``file://``: media are linked by relative path, and each mesh is drawn by a self-contained three.js
viewer (trimesh's ``scene_to_html``, embedded as an iframe ``srcdoc``).

Example:
    >>> write_preview_page("outputs/", files)            # doctest: +SKIP
"""

from __future__ import annotations

import csv
import html
import os
from pathlib import Path
from typing import Iterable

from .utils import atomic_file

__all__ = ["write_preview_page", "PREVIEW_KINDS"]

#: how each file suffix is shown on the page
PREVIEW_KINDS = {".png": "image", ".jpg": "image", ".jpeg": "image", ".gif": "image",
                 ".mp4": "video", ".webm": "video", ".mkv": "link",
                 ".wav": "audio", ".flac": "audio",
                 ".glb": "mesh", ".obj": "mesh", ".stl": "mesh", ".ply": "mesh", ".off": "mesh",
                 ".csv": "table", ".mid": "link", ".midi": "link", ".json": "link"}

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}
h2{margin-top:2rem;border-bottom:1px solid #ddd}figure{display:inline-block;margin:0 1rem 1rem 0;vertical-align:top}
figcaption{font-size:.85rem;color:#555}img,video{max-width:480px;image-rendering:pixelated;background:#fff}
iframe{width:480px;height:360px;border:1px solid #ccc}table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #ccc;padding:2px 6px}"""


def _mesh_viewer(path: Path) -> str:
    import trimesh
    from trimesh.viewer.notebook import scene_to_html

    from .mesh import read_mesh

    mesh = read_mesh(path) if path.suffix.lower() != ".glb" else trimesh.load(str(path))
    scene = mesh if isinstance(mesh, trimesh.Scene) else trimesh.Scene(mesh)
    return f'<iframe title="{html.escape(path.name)}" srcdoc="{scene_to_html(scene, escape_quotes=True)}"></iframe>'


def _table(path: Path, rows: int = 20) -> str:
    with open(path, newline="", encoding="utf-8") as fh:
        data = list(csv.reader(fh))
    head, body = (data[0], data[1:rows + 1]) if data else ([], [])
    cells = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    lines = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    more = f"<p>… {len(data) - 1 - rows} more rows</p>" if len(data) - 1 > rows else ""
    return f"<table><tr>{cells}</tr>{lines}</table>{more}"


def _element(path: Path, href: str) -> str:
    kind = PREVIEW_KINDS.get(path.suffix.lower(), "link")
    name = html.escape(href)
    if kind == "image":
        body = f'<img src="{name}" alt="{name}">'
    elif kind == "video":
        body = f'<video src="{name}" controls loop muted autoplay playsinline></video>'
    elif kind == "audio":
        body = f'<audio src="{name}" controls></audio>'
    elif kind == "mesh":
        body = _mesh_viewer(path)
    elif kind == "table":
        body = _table(path)
    else:
        body = ""
    return f'<figure data-kind="{kind}">{body}<figcaption><a href="{name}">{name}</a></figcaption></figure>'


def write_preview_page(folder: str | os.PathLike, files: Iterable[str | os.PathLike], *,
                       title: str = "multigan outputs") -> Path:
    """Write ``folder/index.html`` showing ``files`` (paths under ``folder``), grouped by sub-folder.

    Images and GIFs are shown, videos and audio get players, meshes an interactive 3-D viewer,
    CSV files their first rows; anything else (MIDI, JSON) is linked. Returns the page's path.
    """
    folder = Path(folder)
    groups: dict[str, list[str]] = {}
    for file in files:
        path = Path(file)
        try:
            rel = path.resolve().relative_to(folder.resolve())
        except ValueError:
            raise ValueError(f"{path} is not under {folder}") from None
        groups.setdefault(rel.parts[0] if len(rel.parts) > 1 else "", []).append(rel.as_posix())
    sections = []
    for group in sorted(groups):
        items = "\n".join(_element(folder / rel, rel) for rel in groups[group])
        sections.append((f"<h2>{html.escape(group)}</h2>\n" if group else "") + items)
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n" + "\n".join(sections)
            + "\n</body></html>\n")
    out = folder / "index.html"
    with atomic_file(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
