"""Copy one output of each shipped model, as `multigan demo` writes it, into docs/images/ for README.md.

    python scripts/build_readme_images.py [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from multigan.cli import main

ROOT = Path(__file__).resolve().parents[1]
PICKS = {                                   # demo file -> README picture
    "music/roll.png": "music_roll.png",
    "voxel/preview.png": "voxel_preview.png",
    "video/grid.gif": "video_grid.gif",
    "text2image/grid.png": "text2image_grid.png",
    "text2image/emoji.png": "text2image_emoji.png",
    "anomaly/overlays/brain_mri_test_00010_z043.png": "anomaly_overlay.png",
}


def build(seed: int = 0) -> list[Path]:
    """Run the demo in a temporary folder and copy :data:`PICKS` into ``docs/images/``."""
    with tempfile.TemporaryDirectory() as tmp:
        if main(["demo", "--out", tmp, "--seed", str(seed)]) != 0:
            raise SystemExit("multigan demo failed; no pictures copied")
        out = ROOT / "docs" / "images"
        out.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copyfile(Path(tmp) / source, out / target)) for source, target in PICKS.items()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    for path in build(parser.parse_args().seed):
        print(path)
