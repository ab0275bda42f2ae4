"""Generate images from captions with a text-to-image GAN: a captioned grid and an interpolation strip.

    python examples/text_to_image.py "a small red circle on the left" "a large blue square at the top" --n 4
    python examples/text_to_image.py --model runs/t2i/final --out examples_out/text2image

The strip keeps one latent and moves the caption embedding from the first caption to the last
(or to ``--to``).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from multigan.cli import HelpFormatter
from multigan.text2image import TextImageGAN

CAPTIONS = ("a small red circle on the left", "a large blue triangle at the top", "a green square in the middle",
            "a purple circle at the bottom")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("captions", nargs="*", default=list(CAPTIONS), help="captions (default: four examples)")
    parser.add_argument("--model", default="shapes", help="shipped model name or trained folder")
    parser.add_argument("--n", type=int, default=4, help="images per caption")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--to", default=None, help="end caption of the interpolation strip (default: the last one)")
    parser.add_argument("--steps", type=int, default=8, help="images in the interpolation strip")
    parser.add_argument("--out", default="examples_out/text2image", help="output folder")
    args = parser.parse_args(argv)

    try:
        model = TextImageGAN.from_pretrained(args.model)
    except FileNotFoundError as err:
        print(f"{err}\nTrain a model first (multigan train text2image --out runs/t2i) and pass "
              "--model runs/t2i/final.", file=sys.stderr)
        return 1
    out = Path(args.out)
    try:
        grid = model.generate(args.captions, n=args.n, seed=args.seed)
        print(grid.write_grid(out / "grid.png"))
        end = args.to or args.captions[-1]
        if end == args.captions[0]:
            print("interpolation strip skipped: give two captions or --to", file=sys.stderr)
            return 0
        strip = model.interpolate(args.captions[0], end, steps=args.steps, seed=args.seed)
        print(strip.write_grid(out / "interpolation.png"))
    except ImportError as err:                   # the default text encoder's package is missing
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
