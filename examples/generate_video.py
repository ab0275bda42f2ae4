"""Generate class-conditional clips with a DVD-GAN and write MP4 files and a GIF grid.

    python examples/generate_video.py --model runs/mmnist/final --label 7 --n 4 --out examples_out/video
"""

import argparse
from pathlib import Path

from multigan.cli import HelpFormatter
from multigan.video import DVDGAN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--model", default="moving-mnist", help="shipped model name or trained folder")
    parser.add_argument("--label", default="7", help="class to generate (a digit for Moving MNIST)")
    parser.add_argument("--n", type=int, default=4, help="how many clips")
    parser.add_argument("--fps", type=float, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="examples_out/video", help="output folder")
    args = parser.parse_args()

    model = DVDGAN.from_pretrained(args.model)
    clips = model.generate(args.n, label=args.label, seed=args.seed)
    out = Path(args.out)
    for path in clips.write_video(out / f"{args.label}_{{i}}.mp4", fps=args.fps):
        print(path)
    for path in clips.write_video(out / f"{args.label}_grid.gif", fps=args.fps, grid=True):
        print(path)


if __name__ == "__main__":
    main()
