"""Anomaly detection: AnoGAN (Schlegl et al. 2017) and f-AnoGAN (Schlegl et al. 2019) for medical images.

>>> from multigan.anomaly import AnoGAN, read_images
>>> det = AnoGAN.from_pretrained("brain-mri")                 # doctest: +SKIP
>>> res = det.score(read_images("scans/"))                   # doctest: +SKIP
>>> res.to_csv("scores.csv"); res.save_overlays("overlays/")  # doctest: +SKIP
"""

from .data import ImageSet, brain_mri, read_images, simulate_lesions
from .models import METHODS, AnoGAN
from .results import AnomalyResult
from .train import cli, demo

__all__ = ["METHODS", "AnoGAN", "AnomalyResult", "ImageSet", "brain_mri", "cli", "demo", "read_images",
           "simulate_lesions"]
