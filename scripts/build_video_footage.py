"""Build ``multigan/assets/video/footage/*.mp4`` (and ``footage.md``): real video clips from Debian's opencv-doc.

Run once (about a minute on one core; needs the Debian package, never at run time)::

    sudo apt-get install opencv-doc && python scripts/build_video_footage.py
    # or, without installing: apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb /tmp/ocv
    python scripts/build_video_footage.py --doc-root /tmp/ocv/usr/share/doc/opencv-doc

Three of the package's sample videos are kept, each one class of :class:`multigan.video.data.Footage`:

* ``pedestrians``: ``examples/data/vtest.avi`` (795 frames at 10 fps, 768 × 576): a fixed camera
  over a lawn and a path, people walking across.
* ``box``: ``opencv4/html/box.mp4.gz`` (455 frames, 640 × 480): a hand moving a printed box over a table.
* ``cup``: ``opencv4/html/cup.mp4.gz`` (217 frames, 640 × 480): a hand turning a black cup.

(``tree.avi`` decodes to 68 frames and ``Megamind*.avi`` are film excerpts; both are left out.)
Every frame is decoded with :func:`multigan.io.video.read_video`, resized, antialiased, to
``HEIGHT`` × ``WIDTH`` (128 × 170, the sources' 4:3 shape) and written back as H.264 MP4 at
CRF ``CRF`` (:func:`multigan.io.video.write_video`, yuv420p; every source frame stays one frame,
at the source's frame rate rounded to whole frames per second). Stored as raw frames the three
would take 9.4 MB at 64 px; as MP4 at 128 px they take 1.1 MB, and decoding them back
differs from the resized frames by a few grey levels (chroma subsampling and quantisation). The
datasets crop squares at load time.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch
import torch.nn.functional as F

from multigan.core.atomic import atomic_file
from multigan.io.video import read_video, write_video

OUT = ROOT / "multigan" / "assets" / "video"
DOC_ROOT = Path("/usr/share/doc/opencv-doc")
HEIGHT, WIDTH = 128, 170
CRF = 16
#: class name → (file under the opencv-doc root, what it shows)
SOURCES = {
    "pedestrians": ("examples/data/vtest.avi", "a fixed camera over a lawn and a path, people walking across"),
    "box": ("opencv4/html/box.mp4.gz", "a hand moving a printed box over a table"),
    "cup": ("opencv4/html/cup.mp4.gz", "a hand turning a black cup"),
}
MAX_BYTES = 4_000_000

ATTRIBUTION = """# footage/*.mp4

Real video footage for `multigan.video.data.Footage` (one class per source video), built by
`scripts/build_video_footage.py` from the sample videos of the Debian package `opencv-doc`
(version {version}). Every frame is resized to {height} × {width} px and re-encoded as H.264
(CRF {crf}); nothing else is changed.

| class | source file (under /usr/share/doc/opencv-doc/) | frames | fps | original size | content |
|---|---|---:|---:|---|---|
{rows}

Source: OpenCV, https://opencv.org , sample data as packaged by Debian. Debian's copyright file
for opencv-doc covers these files under its `Files: *` stanza: Copyright 2000-2022 Intel
Corporation, Willow Garage Inc., NVIDIA Corporation, Advanced Micro Devices Inc., OpenCV
Foundation, Itseez Inc., Xperience AI, Shenzhen Institute of Artificial Intelligence and Robotics
for Society and the OpenCV contributors; licence Apache-2.0 AND BSD-3-Clause
(https://www.apache.org/licenses/LICENSE-2.0 , https://opensource.org/licenses/BSD-3-Clause ).
This derived asset (resized, re-encoded frames) is shared under the same terms.
"""


def package_version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "opencv-doc"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown (not installed; files from an extracted .deb)"
    except OSError:
        return "unknown"


def decode(path: Path) -> tuple[torch.Tensor, float]:
    """uint8 frames ``(T, 3, H, W)`` and the frame rate of one source (``.gz`` is unpacked first)."""
    import av

    with tempfile.TemporaryDirectory() as tmp:
        if path.suffix == ".gz":
            plain = Path(tmp) / path.stem
            with gzip.open(path) as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            path = plain
        with av.open(str(path)) as container:
            fps = float(container.streams.video[0].average_rate or 0)
        return read_video(path), fps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doc-root", type=Path, default=DOC_ROOT, help="the opencv-doc documentation folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    rows, written = [], []
    for name, (rel, content) in SOURCES.items():
        path = args.doc_root / rel
        if not path.is_file():
            raise SystemExit(f"{path} not found: install the Debian package opencv-doc (or pass --doc-root)")
        video, fps = decode(path)
        small = F.interpolate(video.float(), size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False,
                              antialias=True).round_().clamp_(0, 255).to(torch.uint8)
        written.append(write_video(small, args.out / "footage" / f"{name}.mp4", fps=max(1, round(fps)), crf=CRF))
        h, w = video.shape[-2:]
        rows.append(f"| {name} | `{rel}` | {len(video)} | {fps:.3g} | {w} × {h} | {content} |")
        print(f"{name}: {len(video)} frames of {w} × {h} at {fps:.3g} fps from {path}")
    size = sum(p.stat().st_size for p in written)
    if size > MAX_BYTES:
        raise SystemExit(f"the footage takes {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB budget")
    with atomic_file(args.out / "footage.md") as tmp:
        tmp.write_text(ATTRIBUTION.format(version=package_version(), height=HEIGHT, width=WIDTH, crf=CRF,
                                          rows="\n".join(rows)))
    print(f"wrote {len(written)} videos ({size / 1e6:.2f} MB) under {args.out / 'footage'} and "
          f"{args.out / 'footage.md'} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
