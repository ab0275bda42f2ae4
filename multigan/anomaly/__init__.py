"""Anomaly detection: AnoGAN (Schlegl et al. 2017) and f-AnoGAN (Schlegl et al. 2019) for medical images.

>>> from multigan.anomaly import AnoGAN, read_images
>>> det = AnoGAN.from_pretrained("brain-mri")                 # doctest: +SKIP
>>> res = det.score(read_images("scans/"))                   # doctest: +SKIP
>>> res.to_csv("scores.csv"); res.save_overlays("overlays/")  # doctest: +SKIP
"""

from .data import ImageSet, brain_mri, read_images, simulate_lesions, with_simulated_lesions
from .models import METHODS, AnoGAN
from .pipeline import AnomalyResult
from .cli import cli, demo

__all__ = ["METHODS", "AnoGAN", "AnomalyResult", "ImageSet", "brain_mri", "cli", "demo", "read_images",
           "simulate_lesions", "with_simulated_lesions"]


def _register_benchmarks() -> None:
    import torch

    from multigan.bench import BenchConfig, register_benchmark, register_shipped

    register_benchmark(BenchConfig("anomaly64", lambda: AnoGAN(image_size=64, width=32),
                                   lambda: torch.rand(512, 1, 64, 64) * 2 - 1, 64, gpu_only=True))
    register_shipped("anomaly-brain64", "anomaly", "brain-mri", AnoGAN, lambda: AnoGAN.from_pretrained("brain-mri"),
                     lambda: torch.utils.data.TensorDataset(brain_mri("train", size=64).images), 64)
    register_benchmark(BenchConfig("anomaly64-dcgan", lambda: AnoGAN(image_size=64, width=64),
                                   lambda: torch.rand(2048, 1, 64, 64) * 2 - 1, 64, gpu_only=True))


_register_benchmarks()
