"""The options study's breakdown of image AUROC by lesion area."""

import importlib.util
import math
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def _study():
    path = ROOT / "benchmarks" / "studies" / "anomaly_scoring_options.py"
    spec = importlib.util.spec_from_file_location("anomaly_scoring_options", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_area_auroc_judges_each_size_against_all_normal_slices():
    area_auroc = _study().area_auroc
    scores = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.5, 0.9])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    areas = torch.tensor([0, 0, 0, 20, 150, 400])
    assert math.isclose(area_auroc(scores, labels, areas, 0, 30), 1 / 3)       # 0.15 beats one of three normals
    assert area_auroc(scores, labels, areas, 100, 300) == 1.0
    assert area_auroc(scores, labels, areas, 300, float("inf")) == 1.0
    assert math.isnan(area_auroc(scores, labels, areas, 30, 100))              # no lesion of that size
