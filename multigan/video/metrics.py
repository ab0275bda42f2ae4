"""Video metrics: frame quality (a digit classifier), temporal consistency, motion, diversity.

All functions take clips ``(N, T, C, H, W)`` (or one ``(T, C, H, W)`` clip) as float in [-1, 1] or
uint8 (checked with :func:`multigan.video.data.check_clips`). Distances and motion are measured
on the [-1, 1] scale (uint8 is mapped by ``x / 127.5 - 1``), so a pixel going from black to white
counts 2.

Example:
    >>> clf = load_digit_classifier()                                    # shipped  # doctest: +SKIP
    >>> table = evaluate_clips(fake, fake_labels, real, real_labels, clf)  # doctest: +SKIP
    >>> table["generated"]["frame_accuracy"], table["motion_in_data_range"]  # doctest: +SKIP
    (0.91, True)

The digit classifier (``multigan/assets/video/digit_classifier.safetensors``, trained by
``scripts/build_video_assets.py`` with :func:`train_digit_classifier`) is a small CNN (3 conv
layers, global max pooling, ≈ 56k parameters) trained on single frames of the Moving MNIST
*train* clips (the digit anywhere in a 32 × 32 frame) with the clip's label; its accuracy on
frames of the test clips is stored in ``multigan/assets/video/digit_classifier.json``. Frames of another
size are resized to 32 × 32 and RGB frames converted to luma before classification.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import as_float_clips, resize_frames, load_moving_mnist, render_clips

__all__ = [
    "CLASSIFIER_FILE",
    "CONSISTENCY_THRESHOLD",
    "DigitClassifier",
    "classifier_accuracy",
    "diversity",
    "evaluate_clips",
    "flicker",
    "frame_label_metrics",
    "label_consistency",
    "load_digit_classifier",
    "motion",
    "predict_frames",
    "save_digit_classifier",
    "train_digit_classifier",
]

#: Shipped classifier weights, relative to :func:`multigan.core.module.assets_dir`.
CLASSIFIER_FILE = "video/digit_classifier.safetensors"
#: A clip keeps its label when one class is the argmax on at least this fraction of its frames.
CONSISTENCY_THRESHOLD = 0.9
_BUILD = "python scripts/build_video_assets.py"
_LUMA = (0.299, 0.587, 0.114)


# -- the classifier --------------------------------------------------------------------------------

class DigitClassifier(nn.Module):
    """Small CNN for 32 × 32 greyscale digit frames in [-1, 1], the digit anywhere in the frame.

    conv3×3(32) → ReLU → maxpool → conv3×3(64) → ReLU → maxpool → conv3×3(64) → ReLU → global max
    pool → linear(10). Global max pooling makes it (almost) translation invariant.

    Example:
        >>> DigitClassifier()(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, classes)`` of frames ``(B, 1, 32, 32)``."""
        return self.head(self.features(x))


def _frame_batch(data: dict[str, np.ndarray], split: str, clip: np.ndarray, t: np.ndarray) -> torch.Tensor:
    digits = data[f"{split}_digits"][data[f"{split}_digit_index"][clip]]
    pos = data[f"{split}_positions"][clip, t][:, None]
    frames = render_clips(digits, pos, int(data["canvas"]))[:, 0]           # (B, H, W) uint8
    return torch.from_numpy(frames).unsqueeze(1).float().div_(127.5).sub_(1.0)


def train_digit_classifier(steps: int = 1500, seed: int = 0, *, batch_size: int = 128, lr: float = 2e-3,
                           path: str | os.PathLike | None = None) -> DigitClassifier:
    """Train :class:`DigitClassifier` on random single frames of the Moving MNIST train clips.

    Each step draws ``batch_size`` (clip, frame) pairs with a NumPy generator seeded by ``seed``
    and renders just those frames; Adam with cosine decay of ``lr``. Deterministic for a given seed
    and thread count. About a minute on one CPU core for the default 1,500 steps.
    """
    data = load_moving_mnist(path)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    n, t_max = data["train_positions"].shape[:2]
    labels = torch.from_numpy(data["train_labels"].astype(np.int64))
    model.train()
    for _ in range(int(steps)):
        clip, t = rng.integers(0, n, batch_size), rng.integers(0, t_max, batch_size)
        loss = F.cross_entropy(model(_frame_batch(data, "train", clip, t)), labels[clip])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def classifier_accuracy(model: nn.Module, split: str = "test", frames: int = 16, n: int | None = None,
                        path: str | os.PathLike | None = None) -> float:
    """Accuracy on frames of the Moving MNIST ``split`` clips: the first ``frames`` frames of the
    first ``n`` clips (all when None), against the clip label."""
    data = load_moving_mnist(path)
    count = len(data[f"{split}_labels"]) if n is None else int(n)
    clip = np.repeat(np.arange(count), frames)
    t = np.tile(np.arange(frames), count)
    pred = torch.cat([model(_frame_batch(data, split, clip[i:i + 2048], t[i:i + 2048])).argmax(1)
                      for i in range(0, len(clip), 2048)])
    return float((pred == torch.from_numpy(data[f"{split}_labels"][clip])).float().mean())


def save_digit_classifier(model: DigitClassifier, path: str | os.PathLike,
                          metadata: dict[str, Any] | None = None) -> Path:
    """Write the weights (float32 safetensors) atomically; ``metadata`` goes into the file header."""
    from safetensors.torch import save_file

    from multigan.core.atomic import atomic_file

    path = Path(path)
    tensors = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    meta = {"format": "pt", **{k: json.dumps(v) for k, v in (metadata or {}).items()}}
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_digit_classifier(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> DigitClassifier:
    """The shipped digit classifier in eval mode (FileNotFoundError naming the build script if absent)."""
    from safetensors.torch import load_file

    if path is None:
        from multigan.core.module import assets_dir

        path = assets_dir() / CLASSIFIER_FILE
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"digit classifier {str(path)!r} not found; build it with: {_BUILD}")
    model = DigitClassifier()
    model.load_state_dict(load_file(str(path)))
    return model.to(device).eval()


# -- frame quality and consistency -----------------------------------------------------------------

@torch.no_grad()
def predict_frames(clips: Any, classifier: nn.Module, batch_size: int = 1024) -> torch.Tensor:
    """Softmax probabilities ``(N, T, classes)`` of every frame (luma, resized to 32 × 32)."""
    x = as_float_clips(clips)
    n, t, c = x.shape[:3]
    if c == 3:
        x = (x * torch.tensor(_LUMA).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
    x = resize_frames(x, 32).reshape(n * t, 1, 32, 32)
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    probs = torch.cat([classifier(x[i:i + batch_size].to(device)).softmax(1).cpu()
                       for i in range(0, len(x), batch_size)])
    classifier.train(was_training)
    return probs.reshape(n, t, -1)


def _labels(labels: Any, n: int) -> torch.Tensor:
    y = torch.as_tensor(labels).long().reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) (one per clip), got {tuple(torch.as_tensor(labels).shape)}")
    return y


def frame_label_metrics(clips: Any, labels: Any, classifier: nn.Module, *, probs: torch.Tensor | None = None
                        ) -> dict[str, float]:
    """Per-frame agreement of the classifier with each clip's (conditioning) label.

    Returns ``frame_accuracy`` (fraction of all frames whose argmax is the clip label),
    ``label_confidence`` (mean probability given to the clip label) and ``mean_confidence``
    (mean top probability, whatever the class).
    """
    p = predict_frames(clips, classifier) if probs is None else probs
    y = _labels(labels, p.shape[0])
    return {"frame_accuracy": float((p.argmax(2) == y[:, None]).float().mean()),
            "label_confidence": float(p.gather(2, y.view(-1, 1, 1).expand(-1, p.shape[1], 1)).mean()),
            "mean_confidence": float(p.max(2).values.mean())}


def label_consistency(clips: Any, classifier: nn.Module, threshold: float = CONSISTENCY_THRESHOLD, *,
                      probs: torch.Tensor | None = None) -> float:
    """Fraction of clips that keep one label: the most frequent per-frame argmax covers at least
    ``threshold`` (90 %) of the clip's frames (the label need not be the conditioning one).

    Example:
        >>> clf = DigitClassifier()                      # any classifier; rule on fixed predictions:
        >>> p = torch.eye(10)[torch.tensor([[3] * 10, [3] * 8 + [5] * 2])]
        >>> label_consistency(None, clf, probs=p)        # 10/10 and 8/10 frames agree
        0.5
    """
    p = predict_frames(clips, classifier) if probs is None else probs
    pred = p.argmax(2)
    top = pred.mode(1).values
    share = (pred == top[:, None]).float().mean(1)
    return float((share >= threshold - 1e-9).float().mean())


# -- motion ----------------------------------------------------------------------------------------

def _summary(per_clip: torch.Tensor) -> dict[str, Any]:
    q = torch.quantile(per_clip.double(), torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64))
    return {"mean": float(per_clip.mean()), "p5": float(q[0]), "median": float(q[1]), "p95": float(q[2]),
            "per_clip": per_clip}


def motion(clips: Any) -> dict[str, Any]:
    """Mean absolute frame difference ``mean |x[t+1] - x[t]|`` per clip, and its distribution.

    Returns ``{"mean", "p5", "median", "p95"}`` over clips and ``"per_clip"`` (float32 ``(N,)``).
    A still clip scores 0; clips need at least 2 frames.

    Example:
        >>> motion(torch.zeros(3, 4, 1, 8, 8))["mean"]
        0.0
    """
    x = as_float_clips(clips)
    if x.shape[1] < 2:
        raise ValueError(f"motion needs clips of at least 2 frames, got {x.shape[1]}")
    return _summary((x[:, 1:] - x[:, :-1]).abs().flatten(1).mean(1))


def flicker(clips: Any) -> dict[str, Any]:
    """Temporal second difference ``mean |x[t+1] - 2 x[t] + x[t-1]|`` per clip, and its distribution.

    Zero for still clips and for linear fades; high when frames alternate (flicker). Same
    keys as :func:`motion`; clips need at least 3 frames.
    """
    x = as_float_clips(clips)
    if x.shape[1] < 3:
        raise ValueError(f"flicker needs clips of at least 3 frames, got {x.shape[1]}")
    return _summary((x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]).abs().flatten(1).mean(1))


# -- diversity -------------------------------------------------------------------------------------

def diversity(clips: Any, labels: Any, metric: str = "l1") -> dict[str, Any]:
    """Mean pairwise distance between clips of the same label (higher = more diverse).

    The distance of two clips is the per-element mean ``|a - b|`` (``"l1"``) or ``(a - b)²``
    (``"mse"``) on the [-1, 1] scale. ``"mean"`` pools all same-label pairs (each unordered pair
    once); ``"per_label"`` maps each label with at least two clips to its own mean. ``"mean"`` is
    NaN when no label has two clips.

    Example:
        >>> x = torch.tensor([-1.0, 1.0, -1.0, 0.0]).view(4, 1, 1, 1, 1).expand(4, 2, 1, 2, 2)
        >>> diversity(x, [0, 0, 1, 1])
        {'mean': 1.5, 'per_label': {0: 2.0, 1: 1.0}, 'pairs': 2}
    """
    if metric not in ("l1", "mse"):
        raise ValueError(f"metric must be 'l1' or 'mse', got {metric!r}")
    x = as_float_clips(clips).flatten(1).double()
    y = _labels(labels, x.shape[0])
    total, pairs, per_label = 0.0, 0, {}
    for label in sorted(set(y.tolist())):
        group = x[y == label]
        m = len(group)
        if m < 2:
            continue
        d = torch.cdist(group, group, p=1.0) if metric == "l1" else torch.cdist(group, group, p=2.0) ** 2
        s = float(torch.triu(d, diagonal=1).sum()) / x.shape[1]
        k = m * (m - 1) // 2
        per_label[int(label)] = s / k
        total, pairs = total + s, pairs + k
    return {"mean": total / pairs if pairs else float("nan"), "per_label": per_label, "pairs": pairs}


# -- everything ------------------------------------------------------------------------------------

def _side(clips: Any, labels: Any, classifier: nn.Module | None) -> tuple[dict[str, float], torch.Tensor | None]:
    mo, fl = motion(clips), flicker(clips)
    digits: dict[str, float] = {}
    probs = None
    if classifier is not None:
        probs = predict_frames(clips, classifier)
        digits = {**frame_label_metrics(clips, labels, classifier, probs=probs),
                  "label_consistency": label_consistency(clips, classifier, probs=probs)}
    return {**digits, "motion": mo["mean"], "motion_p5": mo["p5"], "motion_p95": mo["p95"],
            "flicker": fl["mean"], "diversity_l1": diversity(clips, labels)["mean"]}, probs


def evaluate_clips(generated: Any, labels: Any, reference: Any, reference_labels: Any,
                   classifier: nn.Module | None | bool = None) -> dict[str, Any]:
    """All metrics for generated clips and reference (data) clips side by side.

    Returns ``{"generated": {...}, "reference": {...}, "data_motion_range": [p5, p95],
    "motion_in_data_range": bool}`` and, with a classifier, ``"frame_accuracy_by_frame"`` (the
    generated clips' frame accuracy at each time step, a list of T floats); each side holds
    ``frame_accuracy``, ``label_confidence``, ``mean_confidence``, ``label_consistency``, ``motion``
    (mean), ``motion_p5``, ``motion_p95``, ``flicker`` (mean), ``diversity_l1`` (all floats).
    ``motion_in_data_range`` is True when the
    generated clips' mean motion lies within the 5th–95th percentile of the reference clips'
    per-clip motion. ``classifier`` defaults to :func:`load_digit_classifier`; ``False`` leaves the
    digit metrics out (clips that are not digits: motion, flicker and diversity only).
    """
    classifier = load_digit_classifier() if classifier is None else (None if classifier is False else classifier)
    gen, probs = _side(generated, labels, classifier)
    ref, _ = _side(reference, reference_labels, classifier)
    lo, hi = ref["motion_p5"], ref["motion_p95"]
    out = {"generated": gen, "reference": ref, "data_motion_range": [lo, hi],
           "motion_in_data_range": bool(lo <= gen["motion"] <= hi)}
    if probs is not None:                      # where in the clip the generated digit is right
        hits = probs.argmax(2) == _labels(labels, probs.shape[0])[:, None]
        out["frame_accuracy_by_frame"] = hits.float().mean(0).tolist()
    return out
