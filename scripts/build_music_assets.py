"""Build ``assets/music/bach_chorales.npz`` from the Bach chorales bundled with music21 (run once).

    pip install music21 && python scripts/build_music_assets.py

Melody = soprano (first part); chord per bar = nearest major/minor triad to the duration-weighted
pitch classes of all four parts; only chorales in 4/4 throughout; pickup and incomplete bars are
dropped (and break the previous-bar chain). Deterministic; writes atomically.
"""

import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from multigan.music.data import BarDataset, bars_from_music21, concat_bar_sets  # noqa: E402


def main() -> None:
    from music21 import corpus

    start = time.perf_counter()
    sets, skipped = [], collections.Counter()
    for score in corpus.chorales.Iterator(returnType="stream"):
        name = str(score.metadata.corpusFilePath if score.metadata and score.metadata.corpusFilePath else len(sets))
        try:
            sets.append(bars_from_music21(score, name=name))
        except ValueError as err:
            skipped[str(err).split(": ", 1)[1].split(" (")[0]] += 1
    bars = concat_bar_sets(sets)
    out = BarDataset(bars).save_npz(ROOT / "assets" / "music" / "bach_chorales.npz")
    qualities = collections.Counter(("minor" if m else "major") for m in bars["chord_minor"])
    print(f"{len(sets)} chorales, {len(bars['pitch'])} bars ({int((bars['prev_index'] >= 0).sum())} with a previous bar), "
          f"chords {dict(qualities)}, {len(set(zip(bars['chord_root'], bars['chord_minor'])))} chord types; "
          f"skipped {dict(skipped)}; {out} ({out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
