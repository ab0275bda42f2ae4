import math

import pytest
import torch

from multigan.video.data import MovingMNIST
from multigan.video.metrics import (
    DigitClassifier,
    diversity,
    evaluate_clips,
    flicker,
    frame_label_metrics,
    label_consistency,
    load_digit_classifier,
    motion,
    predict_frames,
)

torch.set_num_threads(1)


def test_motion_and_flicker():
    still = torch.rand(3, 6, 1, 8, 8) * 0 + 0.3
    assert motion(still)["mean"] == 0 and flicker(still)["mean"] == 0
    blink = torch.tensor([-1.0, 1.0] * 3).view(1, 6, 1, 1, 1).expand(1, 6, 3, 4, 4)   # alternating frames
    assert motion(blink)["mean"] == pytest.approx(2.0) and flicker(blink)["mean"] == pytest.approx(4.0)
    fade = torch.linspace(-1, 1, 5).view(1, 5, 1, 1, 1).expand(2, 5, 1, 4, 4)
    m = motion(fade)
    assert m["mean"] == pytest.approx(0.5) and m["per_clip"].shape == (2,) and flicker(fade)["mean"] < 1e-6
    assert motion(torch.full((4, 1, 2, 2), 255, dtype=torch.uint8))["mean"] == 0        # single uint8 clip
    with pytest.raises(ValueError, match="at least 2 frames"):
        motion(torch.zeros(1, 1, 1, 2, 2))


def test_diversity_known_values():
    x = torch.tensor([-1.0, 1.0, -1.0, 0.0, 0.5]).view(5, 1, 1, 1, 1).expand(5, 2, 1, 2, 2)
    d = diversity(x, [0, 0, 1, 1, 2])
    assert d["mean"] == pytest.approx(1.5) and d["per_label"] == pytest.approx({0: 2.0, 1: 1.0}) and d["pairs"] == 2
    assert diversity(x, [0, 0, 1, 1, 2], metric="mse")["mean"] == pytest.approx((4.0 + 1.0) / 2)
    three = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1, 1)
    assert diversity(three, [4, 4, 4])["mean"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert math.isnan(diversity(three, [0, 1, 2])["mean"])
    with pytest.raises(ValueError, match="labels must have shape"):
        diversity(three, [0, 1])


def test_consistency_rule_and_frame_metrics():
    clf = DigitClassifier()
    eye = torch.eye(10)
    p = eye[torch.tensor([[3] * 10, [3] * 9 + [5], [3] * 8 + [5] * 2, [1, 2] * 5])]
    assert label_consistency(None, clf, probs=p) == 0.5                   # 10/10 and 9/10 keep; 8/10, 5/10 don't
    m = frame_label_metrics(None, [3, 3, 5, 1], clf, probs=p)
    assert m["frame_accuracy"] == pytest.approx((10 + 9 + 2 + 5) / 40) and m["mean_confidence"] == 1.0
    assert m["label_confidence"] == pytest.approx(m["frame_accuracy"])
    out = predict_frames(torch.zeros(2, 3, 3, 64, 64), clf)               # RGB 64 px → luma 32 px
    assert out.shape == (2, 3, 10) and torch.allclose(out.sum(-1), torch.ones(2, 3))


def test_shipped_classifier_and_evaluate():
    clf = load_digit_classifier()
    data = MovingMNIST("test", frames=16, n=200)
    t = torch.arange(200) % 16
    frames = data.clips[torch.arange(200), t][:, None]                     # 200 frames, one per clip
    pred = predict_frames(frames, clf)[:, 0].argmax(1)
    assert (pred == data.labels).float().mean() >= 0.95
    real, labels = data.clips[:40], data.labels[:40]
    table = evaluate_clips(real[20:], labels[20:], real[:20], labels[:20], clf)
    gen = table["generated"]
    assert gen["frame_accuracy"] >= 0.9 and gen["label_consistency"] >= 0.9 and table["motion_in_data_range"]
    assert set(gen) == set(table["reference"]) and all(isinstance(v, float) for v in gen.values())
    by_frame = table["frame_accuracy_by_frame"]
    assert len(by_frame) == 16 and sum(by_frame) / 16 == pytest.approx(gen["frame_accuracy"])
    shuffled = evaluate_clips(real[20:], labels[20:].roll(1), real[:20], labels[:20], clf)
    assert max(shuffled["frame_accuracy_by_frame"]) < min(by_frame)       # wrong labels: wrong at every step
    still = real[20:, :1].expand(-1, 16, -1, -1, -1)
    assert evaluate_clips(still, labels[20:], real[:20], labels[:20], clf)["motion_in_data_range"] is False
    with pytest.raises(FileNotFoundError, match="build_video_assets.py"):
        load_digit_classifier("/nonexistent/clf.safetensors")
