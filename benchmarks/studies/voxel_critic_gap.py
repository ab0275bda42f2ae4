"""Does a 3D-GAN critic see a shape fall apart? Its score for real shapes, whole and cut in two.

    python benchmarks/studies/voxel_critic_gap.py --model runs/vox_thick/checkpoints/step-0005400
    python benchmarks/studies/voxel_critic_gap.py --model runs/vox_conn/final --label chair

For each data shape of the class (prepared as the model's training shapes were: placement,
thickness) that is in one 26-connected piece, the horizontal layer with the fewest voxels between
its second-lowest and fourth-highest occupied layers (for a table: through the legs) is emptied;
the shapes this splits into pieces are kept. The model's discriminator scores each whole shape and
its cut copy (with the class label); beside that it scores the model's own samples (thresholded at
0.5, ``--n`` of them, seed 0), split into those in one piece and the rest. A critic that drives
shapes to be whole would score a cut shape well below the whole one, by a margin like the gap
between real and generated shapes. CPU, a few seconds.
"""

import argparse

import numpy as np
import torch

from multigan.voxel import GAN3D
from multigan.voxel.metrics import connected_pieces
from multigan.voxel.evaluate import reference_dataset


def pieces(grid: np.ndarray) -> int:
    """How many 26-connected pieces the grid has above occupancy 0.5 (as the validity metrics count)."""
    return len(connected_pieces(grid > 0.5)[1])


def cut_through(grid: np.ndarray) -> np.ndarray | None:
    """``grid`` with its sparsest inner horizontal layer (axis 1 is up) emptied, if that splits it."""
    per_layer = grid.sum(axis=(0, 2))
    layers = np.nonzero(per_layer)[0][1:-3]
    if len(layers) == 0 or pieces(grid) != 1:
        return None
    cut = grid.copy()
    cut[:, layers[np.argmin(per_layer[layers])], :] = 0
    return cut if pieces(cut) > 1 else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="an exported model or a checkpoint folder")
    p.add_argument("--label", default="table")
    p.add_argument("--n", type=int, default=64, help="generated shapes scored")
    p.add_argument("--folder", default=None, help="the model's training folder, if not the built-in furniture")
    args = p.parse_args()
    model = GAN3D.from_pretrained(args.model).eval()
    data = reference_dataset(model, args.folder)
    k = model.classes.index(args.label)
    grids = data.voxels[data.labels == k].float().numpy()[:, 0]
    pairs = [(g, c) for g in grids for c in [cut_through(g)] if c is not None]
    if not pairs:
        raise SystemExit(f"no {args.label} shape in one piece splits at a single layer")
    whole = torch.tensor(np.array([g for g, _ in pairs]))[:, None]
    cut = torch.tensor(np.array([c for _, c in pairs]))[:, None]
    labels = torch.full((len(pairs),), k)
    with torch.no_grad():
        d_whole, d_cut = model.discriminator(whole, labels), model.discriminator(cut, labels)
        fake_labels = model.label_tensor(args.label, args.n)
        fake = (model.generate_batched(args.n, fake_labels, seed=0) > 0.5).float()
        d_fake = model.discriminator(fake, fake_labels)
    one = torch.tensor([pieces(g[0].numpy()) == 1 for g in fake])
    drop = d_whole - d_cut
    print(f"{args.model}, {args.label}: {len(pairs)} data shapes cut in two by emptying one layer "
          f"({(whole - cut).sum((1, 2, 3, 4)).mean():.0f} voxels on average)")
    print(f"critic, data whole {d_whole.mean():.2f} ± {d_whole.std():.2f}; "
          f"cut {d_cut.mean():.2f} ± {d_cut.std():.2f}; drop {drop.mean():.2f} ± {drop.std():.2f}")
    fake_line = f"critic, generated {d_fake.mean():.2f} ± {d_fake.std():.2f}; in one piece {one.float().mean():.2f}"
    if one.any() and (~one).any():
        fake_line += f" (those {d_fake[one].mean():.2f}, the rest {d_fake[~one].mean():.2f})"
    print(fake_line)


if __name__ == "__main__":
    main()
