"""Seeded outputs of every shipped model, reduced to a small comparable record.

Each entry of :data:`SHIPPED` loads a shipped model and returns its output for fixed inputs and a
fixed seed as a float tensor; :func:`fingerprint` keeps its shape, sum, absolute sum and 32 values
spread over it. ``scripts/record_shipped_outputs.py`` writes the record the test compares with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

RECORD = Path(__file__).resolve().parents[1] / "data" / "shipped_outputs.json"


def _music() -> torch.Tensor:
    from multigan.music import MidiNet

    song = MidiNet.from_pretrained("bach").generate(["C", "Am", "F", "G"], seed=7)
    roll = torch.from_numpy(song.roll.astype("float32"))                 # (steps, 128), one note per step
    return roll @ torch.arange(roll.shape[1], dtype=torch.float32) + roll.sum(1) * 1000   # pitch, 0 = rest


def _voxel() -> torch.Tensor:
    from multigan.voxel import GAN3D

    model = GAN3D.from_pretrained("furniture-32")
    return model.generate(2, label=model.classes[0], seed=7).probs


def _video() -> torch.Tensor:
    from multigan.video import DVDGAN

    model = DVDGAN.from_pretrained("moving-mnist")
    return model.generate(2, label=model.classes[3], seed=7).clips


def _text2image() -> torch.Tensor:
    from multigan.text2image import TextImageGAN

    return TextImageGAN.from_pretrained("shapes").generate(["a small red circle on the left"], n=2, seed=7).images


def _emoji() -> torch.Tensor:
    from multigan.text2image import TextImageGAN

    return TextImageGAN.from_pretrained("emoji").generate(["grinning face", "a flag"], n=2, seed=7).images


def _anomaly() -> torch.Tensor:
    from multigan.anomaly import AnoGAN
    from multigan.anomaly.data import brain_mri

    images = brain_mri("test").images[:3]
    result = AnoGAN.from_pretrained("brain-mri").score(images, method="izif")
    return torch.cat([torch.as_tensor(result.scores).float().reshape(-1),
                      torch.as_tensor(result.maps).float().reshape(-1)])


SHIPPED: dict[str, Callable[[], torch.Tensor]] = {"music/bach": _music, "voxel/furniture-32": _voxel,
                                                   "video/moving-mnist": _video, "text2image/shapes": _text2image,
                                                   "text2image/emoji": _emoji,
                                                   "anomaly/brain-mri": _anomaly}


def fingerprint(output: torch.Tensor) -> dict:
    """Shape, sum, absolute sum and 32 evenly spaced values of ``output`` (as float64)."""
    flat = output.detach().double().reshape(-1)
    picks = torch.linspace(0, flat.numel() - 1, 32).round().long()
    return {"shape": list(output.shape), "sum": float(flat.sum()), "abs_sum": float(flat.abs().sum()),
            "values": [float(v) for v in flat[picks]]}
