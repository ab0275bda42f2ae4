"""Build ``multigan/assets/music/bach_chorales.npz`` (and ``ATTRIBUTION.md``) from music21's Bach chorales.

Run once (about a minute; music21's bundled corpus works offline)::

    pip install music21 && python scripts/build_music_assets.py

Every chorale of ``music21.corpus.chorales.Iterator`` (Riemenschneider 1–371) is read with
:func:`multigan.music.data.bars_from_music21`: melody = soprano (first part), one bar per complete
4/4 measure, chord per bar = nearest major/minor triad to the duration-weighted pitch classes of
all four parts. Chorales the iterator lists twice (the same corpus file under two numbers) are
kept once; chorales without a 4/4 bar are skipped. The output is deterministic: rerunning the
script rewrites byte-identical files (both written atomically).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from multigan.core.atomic import atomic_file
from multigan.music.chords import PITCH_NAMES
from multigan.music.data import bars_from_music21, concat_bar_sets, save_bar_set

MAX_BYTES = 1_000_000

ATTRIBUTION = """\
# Attribution: `bach_chorales.npz`

`bach_chorales.npz` is derived from the four-part chorales of **Johann Sebastian Bach**
(1685–1750) as encoded in the corpus bundled with **music21** {version}
(`music21/corpus/bach/`, read through `music21.corpus.chorales.Iterator`, Riemenschneider
numbers 1–371; music21 credits the list of chorales to Margaret Greentree, formerly of
jsbchorales.net). It was built by `scripts/build_music_assets.py`.

The file holds only a reduction of each chorale: the soprano pitch and note onsets on a
sixteenth-note grid for every complete 4/4 bar, and one major/minor triad label per bar estimated
by `multigan.music.chords.estimate_chord` from the pitch classes of all four voices. It contains
{bars} bars from {pieces} chorales (the names in `piece_names` are music21 corpus paths such as
`bach/bwv26.6`).

## Licences

* **The music**: Bach's compositions are in the public domain.
* **music21** (the software that reads the encodings) is distributed under the BSD 3-Clause
  licence, "Copyright (c) 2006-2026 Michael Scott Asato Cuthbert" (see the `LICENSE` file of the
  music21 distribution, <https://github.com/cuthbertLab/music21>).
* **The corpus encodings**: music21 does not put the corpus under its BSD licence. Its
  `music21/corpus/license.txt` says that "The music21 creators assume no copyright or change in
  licensing for content distributed in the corpus", that the encodings "are distributed with the
  permission of the encoders (and, where needed, the composers or arrangers) and where permitted
  under United States copyright law", and that "the encodings may be under copyright but have been
  licensed for use, though there may be restrictions on commercial use", pointing to "the licenses
  embedded in individual compositions or directories". The Bach chorale files carry no embedded
  licence or rights statement and `corpus/bach/` has no licence file of its own, so music21's
  general corpus terms above apply.
"""


def chord_histogram(bars: dict) -> collections.Counter:
    """``{'C': n, 'Am': n, …}`` over the bar set."""
    return collections.Counter(PITCH_NAMES[int(r)] + ("m" if m else "")
                               for r, m in zip(bars["chord_root"], bars["chord_minor"]))


def build(out_dir: Path) -> dict:
    """Read all chorales, write the npz and ATTRIBUTION.md into ``out_dir``; return the bar set."""
    try:
        import music21
        from music21 import corpus
    except ImportError:
        raise SystemExit("music21 is needed to build the asset: pip install music21") from None

    start = time.perf_counter()
    sets, names, skipped, duplicates, listed = [], set(), collections.Counter(), 0, 0
    for score in corpus.chorales.Iterator(returnType="stream"):
        if score is None:
            continue
        listed += 1
        try:
            bars = bars_from_music21(score)
        except ValueError as err:
            skipped[str(err).split(": ", 1)[-1].split(" (")[0]] += 1
            continue
        name = str(bars["piece_names"][0])
        if name in names:
            duplicates += 1
            continue
        names.add(name)
        sets.append(bars)
    bars = concat_bar_sets(sets)
    npz = save_bar_set(bars, out_dir / "bach_chorales.npz")
    size = npz.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{npz} is {size} bytes, over the {MAX_BYTES}-byte budget")
    text = ATTRIBUTION.format(version=music21.__version__, bars=len(bars["pitch"]), pieces=len(sets))
    with atomic_file(out_dir / "ATTRIBUTION.md") as tmp:
        tmp.write_text(text, encoding="utf-8")
    seconds = time.perf_counter() - start

    hist = chord_histogram(bars)
    minor = int(bars["chord_minor"].sum())
    print(f"chorales listed {listed}: kept {len(sets)}, duplicates {duplicates}, skipped {dict(skipped)}")
    print(f"bars {len(bars['pitch'])} ({int((bars['prev_index'] >= 0).sum())} with a previous bar)")
    print(f"chord quality: major {len(bars['pitch']) - minor}, minor {minor}; {len(hist)} chord types")
    print("chords: " + ", ".join(f"{c} {n}" for c, n in hist.most_common()))
    print(f"wrote {npz} ({size / 1024:.1f} KiB) and {out_dir / 'ATTRIBUTION.md'} in {seconds:.1f} s")
    return bars


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "multigan" / "assets" / "music", help="output folder")
    build(parser.parse_args(argv).out_dir)


if __name__ == "__main__":
    main()
