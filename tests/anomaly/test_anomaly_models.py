"""AnoGAN / f-AnoGAN: losses, batched latent search, encoder training, calibration, save/load, bad input."""

import math

import pytest
import torch

from multigan.anomaly.models import (
    BACKGROUND_LEVEL,
    METHODS,
    AnoGAN,
    anomaly_map,
    gaussian_blur,
    map_score,
    move,
    tissue_mask,
    top_fraction_mean,
    views_of,
)

TINY = {"image_size": 16, "width": 4, "latent_dim": 8}


@pytest.fixture
def det():
    torch.manual_seed(0)
    return AnoGAN(**TINY).eval()


def _images(n, seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1


def test_paper_defaults_and_shapes():
    m = AnoGAN()
    cfg = AnoGAN.trainer_defaults()
    assert cfg["objective"] == "wgan-gp" and cfg["n_critic"] == 5 and cfg["lr_g"] == 1e-4
    assert cfg["betas_d"] == (0.0, 0.9) and cfg["objective_options"]["gp_weight"] == 10.0
    assert m.latent_dim == 128
    x = m.generator(torch.randn(2, 128))
    assert x.shape == (2, 1, 64, 64) and x.abs().max() <= 1
    assert m.features(x).shape == (2, 64 * 8 * 16)                 # last hidden critic layer, 4×4
    assert m.encode(x).shape == (2, 128) and m.encode(x).abs().max() <= 1
    assert not any(isinstance(l, torch.nn.BatchNorm2d) for l in m.discriminator.modules())   # WGAN-GP critic


def test_encoder_width_option():
    m = AnoGAN(**TINY, encoder_width=6)
    assert m.encoder.trunk.net[0].out_channels == 6 and m.discriminator.trunk.net[0].out_channels == 4
    assert m.encode(torch.zeros(2, 1, 16, 16)).shape == (2, 8)
    assert AnoGAN(**TINY).encoder.trunk.net[0].out_channels == 4                  # default: the shared width
    with pytest.raises(ValueError, match="encoder_width"):
        AnoGAN(**TINY, encoder_width=0)


def test_izif_score_matches_formula(det):
    x = _images(3)
    res = det.score(x, method="izif", kappa=0.5)
    with torch.no_grad():
        rec = det.generator(det.encoder(x))
        expect = (x - rec).pow(2).mean((1, 2, 3)) + 0.5 * (det.features(x) - det.features(rec)).pow(2).mean(1)
    assert torch.allclose(res.scores, expect, atol=1e-6)
    assert torch.allclose(res.maps, (x - rec).abs().mean(1, keepdim=True), atol=1e-6)
    assert res.labels is None and res.method == "izif" and len(res.names) == 3


def test_gaussian_blur_values():
    impulse = torch.zeros(1, 1, 15, 15)
    impulse[0, 0, 7, 7] = 1.0
    out = gaussian_blur(impulse, 1.5)
    assert torch.isclose(out.sum(), torch.tensor(1.0), atol=1e-6)          # mass kept away from the edges
    r = torch.arange(15.0) - 7
    expect = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    expect = expect * (r.abs() <= 5)[:, None] * (r.abs() <= 5)[None, :]    # radius ceil(3σ) = 5
    assert torch.allclose(out[0, 0], expect / expect.sum(), atol=1e-6)
    flat = torch.full((2, 3, 8, 8), 0.25)
    assert torch.allclose(gaussian_blur(flat, 4.0), flat)                 # constant maps stay (edges replicated)
    assert gaussian_blur(impulse, 0) is impulse
    with pytest.raises(ValueError, match="map_sigma"):
        gaussian_blur(impulse, -1)


def test_map_sigma_smooths_maps_only(det, tmp_path):
    x = _images(3)
    raw = det.score(x, method="izif")
    smooth = det.score(x, method="izif", map_sigma=1.0)
    assert torch.equal(raw.scores, smooth.scores)                          # image scores do not depend on it
    assert torch.allclose(smooth.maps, gaussian_blur(raw.maps, 1.0), atol=1e-6)
    assert smooth.maps.std() < raw.maps.std()
    torch.manual_seed(0)
    m = AnoGAN(**TINY, map_sigma=1.0)
    m.load_state_dict(det.state_dict())
    assert torch.allclose(m.eval().score(x).maps, smooth.maps, atol=1e-6)   # the model's default
    assert torch.allclose(m.score(x, map_sigma=0).maps, raw.maps, atol=1e-6)
    m.save_pretrained(tmp_path / "m")
    assert AnoGAN.from_pretrained(tmp_path / "m").map_sigma == 1.0
    with pytest.raises(ValueError, match="map_sigma"):
        AnoGAN(**TINY, map_sigma=float("nan"))
    with pytest.raises(ValueError, match="map_sigma"):
        det.score(x, map_sigma="wide")


def test_shift_tolerant_map_values():
    x = torch.zeros(1, 1, 12, 12)
    x[..., 4:8, 4:8] = 1.0                                            # a square edge...
    moved = torch.roll(x, shifts=1, dims=-1)                           # ...drawn one pixel off
    assert anomaly_map(x, moved).sum() == 8                            # raw: both edges light up
    assert anomaly_map(x, moved, shift=1).abs().max() == 0             # tolerated
    lesion = x.clone()
    lesion[..., 5:7, 5:7] = -1.0                                       # dark blob inside the bright square
    assert anomaly_map(lesion, x, shift=1)[0, 0, 5:7, 5:7].min() == 2.0  # nothing near G's square explains it
    rgb, rec = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)          # brute force over the 9 offsets
    pad = torch.nn.functional.pad(rec, (1, 1, 1, 1), mode="replicate")
    brute = torch.stack([(rgb - pad[..., dy:dy + 8, dx:dx + 8]).abs().mean(1, keepdim=True)
                         for dy in range(3) for dx in range(3)]).min(0).values
    assert torch.allclose(anomaly_map(rgb, rec, shift=1), brute)
    assert torch.allclose(anomaly_map(rgb, rec, shift=1, sigma=1.0), gaussian_blur(brute, 1.0))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="map_shift"):
            anomaly_map(rgb, rec, shift=bad)
    with pytest.raises(ValueError, match="smaller than the image"):
        anomaly_map(rgb, rec, shift=8)


def test_tissue_margin_values():
    x = torch.full((1, 1, 12, 12), -1.0)
    x[..., 2:10, 2:10] = 0.3                                           # an 8×8 block of tissue on background
    mask = tissue_mask(x, 2)[0, 0]
    assert mask.sum() == 16 and mask[4:8, 4:8].all()                   # 2 px of tissue next to background dropped
    assert torch.equal(tissue_mask(x, 0)[0, 0], (x[0, 0] > BACKGROUND_LEVEL).float())
    holed = x.clone()
    holed[..., 5:7, 5:7] = -1.0                                        # a dark place enclosed by tissue...
    assert torch.equal(tissue_mask(holed, 2), tissue_mask(x, 2))       # ...is tissue, not background
    whole = torch.zeros(1, 1, 6, 6)                                     # no background: only the image's edge
    assert tissue_mask(whole, 0).all() and tissue_mask(whole, 2)[0, 0].sum() == 4 and tissue_mask(whole, 2)[0, 0, 2:4, 2:4].all()
    cut = x.clone()
    cut[..., 0:3, 5:7] = 0.3                                           # a piece reaching the image's edge
    assert tissue_mask(cut, 2)[0, 0, :2].sum() == 0                    # not judged next to the cut
    maps = anomaly_map(x, torch.zeros_like(x))                         # residual 0.3 on tissue, 1 on background
    maps[..., 4, 4] = 0.9                                              # the hottest tissue pixel, inside the margin
    assert map_score(x, maps, 0.01, 2).item() == pytest.approx(0.9)    # 1 of 144 pixels: the inner maximum
    assert map_score(x, maps, 0.01, 0).item() == 1.0                   # without a margin the background wins
    assert map_score(x, maps, 0.25, 2).item() == pytest.approx(maps.flatten().topk(36).values.mean().item())
    # 36 pixels > the 16 judged ones: scored on the whole map rather than padded with zeros
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="map_margin"):
            map_score(x, maps, 0.01, bad)


def test_map_margin_option_scores_and_threshold(det, tmp_path):
    x = torch.full((6, 1, 16, 16), -1.0)
    x[:, :, 2:14, 3:13] = _images(6, seed=3)[:, :, 2:14, 3:13].abs() * 0.9   # tissue on a background
    torch.manual_seed(0)
    m = AnoGAN(**TINY, image_score="map", map_margin=1)
    m.load_state_dict(det.state_dict())
    m.eval()
    res = m.score(x)
    with torch.no_grad():
        rec = det.generator(det.encoder(x))
    assert torch.allclose(res.maps, anomaly_map(x, rec), atol=1e-6)           # the map is kept whole
    assert torch.allclose(res.scores, map_score(x, res.maps, m.map_top, 1), atol=1e-6)
    assert not torch.allclose(res.scores, top_fraction_mean(res.maps, m.map_top))
    assert res.map_margin == 1
    assert torch.equal(m.score(x, image_score="loss").scores, det.score(x).scores)   # the loss ignores the margin
    t = m.calibrate(x, fpr=0.5)
    assert m.score(x, map_margin=1).threshold == t                       # the model's own value: threshold holds
    with pytest.warns(UserWarning, match="no threshold is applied"):
        assert m.score(x, map_margin=0).threshold is None
    with pytest.raises(ValueError, match="model's own map_margin"):
        m.calibrate(x, map_margin=0)
    m.save_pretrained(tmp_path / "m")
    assert AnoGAN.from_pretrained(tmp_path / "m").map_margin == 1
    with pytest.raises(ValueError, match="map_margin"):
        AnoGAN(**TINY, map_margin=-2)
    with pytest.raises(ValueError, match="leaves no pixel"):
        AnoGAN(**TINY, map_margin=8)


def test_move_replicates_the_edges_and_moves_back():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    down = move(x, 1, 0)
    assert torch.equal(down[0, 0, 1:], x[0, 0, :3]) and torch.equal(down[0, 0, 0], x[0, 0, 0])   # row 0 repeated
    right = move(x, 0, 2)
    assert torch.equal(right[0, 0, :, 2:], x[0, 0, :, :2]) and torch.equal(right[0, 0, :, 1], x[0, 0, :, 0])
    assert torch.equal(move(move(x, 0, 1), 0, -1)[..., :3], x[..., :3])     # back, but for the lost column
    assert move(x, 0, 0) is x


def test_map_views_are_the_minimum_over_moved_reconstructions(det, tmp_path):
    assert views_of("one") == [(False, 0, 0)]
    assert views_of("flip") == [(False, 0, 0), (True, 0, 0)]
    assert len(views_of("flip-shift")) == 10 and views_of("flip-shift")[0] == (False, 0, 0)
    x = _images(5, seed=4)
    torch.manual_seed(0)
    m = AnoGAN(**TINY, image_score="map", map_views="flip", map_shift=1, map_sigma=1.0)
    m.load_state_dict(det.state_dict())
    m.eval()
    res = m.score(x)
    with torch.no_grad():                                      # by hand: the image and its mirror
        rec = det.generator(det.encoder(x))
        mirror = det.generator(det.encoder(x.flip(-1))).flip(-1)
    expected = torch.minimum(anomaly_map(x, rec, shift=1, sigma=1.0), anomaly_map(x, mirror, shift=1, sigma=1.0))
    assert torch.allclose(res.maps, expected, atol=1e-6)
    assert torch.allclose(res.reconstructions, rec, atol=1e-6)               # the image's own reconstruction
    assert torch.allclose(res.scores, map_score(x, expected, m.map_top, 0), atol=1e-6)
    one = m.score(x, map_views="one")
    assert torch.allclose(one.maps, anomaly_map(x, rec, shift=1, sigma=1.0), atol=1e-6)
    shifted = m.score(x, map_views="flip-shift")
    assert (shifted.maps <= res.maps + 1e-6).all() and not torch.allclose(shifted.maps, res.maps)
    assert torch.equal(m.score(x, method="search", iterations=3).maps,       # the search ignores the views
                       m.score(x, method="search", iterations=3, map_views="one").maps)
    t = m.calibrate(x, fpr=0.5)
    assert m.score(x).threshold == t
    with pytest.warns(UserWarning, match="no threshold is applied"):
        assert m.score(x, map_views="one").threshold is None
    with pytest.raises(ValueError, match="model's own map_views"):
        m.calibrate(x, map_views="one")
    m.save_pretrained(tmp_path / "m")
    assert AnoGAN.from_pretrained(tmp_path / "m").map_views == "flip"
    with pytest.raises(ValueError, match="map_views must be one of"):
        AnoGAN(**TINY, map_views="mirror")
    with pytest.raises(ValueError, match="map_views must be one of"):
        m.score(x, map_views="all")


def test_top_fraction_mean():
    maps = torch.arange(200.0).view(2, 1, 10, 10)
    assert top_fraction_mean(maps, 0.05).tolist() == [97.0, 197.0]      # mean of the 5 highest
    assert top_fraction_mean(maps, 0.001).tolist() == [99.0, 199.0]     # at least one pixel
    assert top_fraction_mean(maps, 1.0).tolist() == [49.5, 149.5]
    with pytest.raises(ValueError, match="map_top"):
        top_fraction_mean(maps, 0)


def test_image_score_from_map_and_thresholds(det, tmp_path):
    x = _images(6, seed=2)
    torch.manual_seed(0)
    m = AnoGAN(**TINY, map_shift=1, map_sigma=1.0, image_score="map", map_top=0.05)
    m.load_state_dict(det.state_dict())
    m.eval()
    res = m.score(x)
    with torch.no_grad():
        rec = det.generator(det.encoder(x))
    expect_maps = anomaly_map(x, rec, shift=1, sigma=1.0)
    assert torch.allclose(res.maps, expect_maps, atol=1e-6)
    assert torch.allclose(res.scores, top_fraction_mean(expect_maps, 0.05), atol=1e-6)
    loss = m.score(x, image_score="loss")
    assert torch.allclose(loss.scores, det.score(x).scores, atol=1e-6)  # the papers' score on request
    t = m.calibrate(x, fpr=0.5)
    assert m.score(x).threshold == t
    with pytest.warns(UserWarning, match="no threshold is applied"):
        assert m.score(x, map_sigma=2.0).threshold is None              # scores changed: threshold does not hold
    with pytest.warns(UserWarning, match="no threshold is applied"):
        assert m.score(x, image_score="loss").threshold is None
    with pytest.raises(ValueError, match="model's own map_sigma"):
        m.calibrate(x, map_sigma=2.0)
    m.save_pretrained(tmp_path / "m")
    back = AnoGAN.from_pretrained(tmp_path / "m")
    assert (back.map_shift, back.image_score, back.map_top) == (1, "map", 0.05)
    assert torch.allclose(back.score(x).scores, res.scores, atol=1e-2)   # fp32 → saved weights
    with pytest.raises(ValueError, match="image_score"):
        AnoGAN(**TINY, image_score="max")
    with pytest.raises(ValueError, match="map_top"):
        AnoGAN(**TINY, map_top=2)
    with pytest.raises(ValueError, match="smaller than the image"):
        AnoGAN(**TINY, map_shift=16)


def test_search_lowers_loss_and_is_batch_independent(det):
    x = _images(4, seed=1)
    short = det.score(x, method="search", iterations=1, seed=0)
    long = det.score(x, method="search", iterations=40, seed=0)
    assert (long.scores < short.scores).all()
    alone = det.score(x[2:3], method="search", iterations=40, seed=0, batch_size=1)
    # image 2 alone starts from a different z draw, so compare with the same start instead:
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(4, det.latent_dim, generator=g)
    loss_all, _ = det._search(x, z0, 40, 0.1, 0.02)
    loss_one, _ = det._search(x[2:3], z0[2:3], 40, 0.1, 0.02)
    assert torch.allclose(loss_all[2], loss_one[0], rtol=1e-4)
    assert alone.scores.shape == (1,)


def test_search_starts_from_the_best_of_k_draws_and_search_lr(det, tmp_path):
    x = _images(5, seed=3)
    plain = det.best_start(x, 1, torch.Generator().manual_seed(4))
    assert torch.equal(plain, torch.randn(5, det.latent_dim, generator=torch.Generator().manual_seed(4)))
    g = torch.Generator().manual_seed(4)
    draws = torch.stack([torch.randn(5, det.latent_dim, generator=g) for _ in range(6)])   # the same 6 draws
    with torch.no_grad():
        losses = torch.stack([det.search_loss(x, z)[0] for z in draws])         # (6 draws, 5 images)
    best = det.best_start(x, 6, torch.Generator().manual_seed(4))
    pick = losses.argmin(0)
    assert torch.equal(best, draws[pick, torch.arange(5)]) and len(set(pick.tolist())) > 1
    # score: the search starts there (starts=1 keeps the single draw of before)
    res = det.score(x, method="search", iterations=3, seed=4, search_starts=6)
    loss, _ = det._search(x, best, 3, 0.1, 0.02)
    assert torch.allclose(res.scores, loss, rtol=1e-5)
    one = det.score(x, method="search", iterations=3, seed=4)
    assert torch.allclose(one.scores, det._search(x, plain, 3, 0.1, 0.02)[0], rtol=1e-5)
    assert torch.allclose(det.score(x, method="search", iterations=3, seed=4, lr=0.05).scores,
                          det._search(x, plain, 3, 0.1, 0.05)[0], rtol=1e-5)
    # the model's own options: scores, thresholds, save / load
    torch.manual_seed(0)
    m = AnoGAN(**TINY, search_starts=6, search_lr=0.05)
    m.load_state_dict(det.state_dict())
    m.eval()
    assert torch.allclose(m.score(x, method="search", iterations=3, seed=4).scores,
                          det._search(x, best, 3, 0.1, 0.05)[0], rtol=1e-5)
    t = m.calibrate(x, fpr=0.4, method="search", iterations=3)
    assert m.score(x, method="search", iterations=3).threshold == t
    with pytest.warns(UserWarning, match="no threshold is applied"):
        assert m.score(x, method="search", iterations=3, search_starts=1).threshold is None
    with pytest.warns(UserWarning, match="no threshold is applied"):
        assert m.score(x, method="search", iterations=3, lr=0.02).threshold is None
    with pytest.raises(ValueError, match="model's own lr"):
        m.calibrate(x, method="search", iterations=3, lr=0.02)
    with pytest.raises(ValueError, match="model's own search_starts"):
        m.calibrate(x, method="search", iterations=3, search_starts=2)
    m.save_pretrained(tmp_path / "m")
    back = AnoGAN.from_pretrained(tmp_path / "m")
    assert (back.search_starts, back.search_lr) == (6, 0.05)
    for bad in ({"search_starts": 0}, {"search_starts": 2.0}, {"search_lr": 0}, {"search_lr": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AnoGAN(**TINY, **bad)
    with pytest.raises(ValueError, match="search_starts"):
        det.score(x, method="search", iterations=1, search_starts=-1)


def test_search_restarts_keep_each_images_lowest_final_loss(det, tmp_path):
    x = _images(6, seed=5)
    g = torch.Generator().manual_seed(2)
    runs = []
    for _ in range(3):                                    # three searches, each from the best of 2 draws
        runs.append(det._search(x, det.best_start(x, 2, g), 4, 0.1, 0.02))
    losses, recs = torch.stack([r[0] for r in runs]), torch.stack([r[1] for r in runs])
    pick = losses.argmin(0)
    assert len(set(pick.tolist())) > 1                     # the images' best searches differ
    loss, rec = det.random_search(x, 4, 0.1, 0.02, 2, 3, torch.Generator().manual_seed(2))
    assert torch.equal(loss, losses.min(0).values) and torch.equal(rec, recs[pick, torch.arange(6)])
    # score() and the model's own option; one restart is the single search of before
    res = det.score(x, method="search", iterations=4, seed=2, search_starts=2, search_restarts=3)
    assert torch.allclose(res.scores, losses.min(0).values, rtol=1e-5)
    assert torch.allclose(res.reconstructions, recs[pick, torch.arange(6)], atol=1e-6)
    assert torch.equal(det.score(x, method="search", iterations=4, seed=2, search_starts=2).scores,
                       det.score(x, method="search", iterations=4, seed=2, search_starts=2, search_restarts=1).scores)
    assert torch.allclose(det.score(x, method="search", iterations=4, seed=2, search_starts=2).scores, losses[0],
                          rtol=1e-5)
    torch.manual_seed(0)
    m = AnoGAN(**TINY, search_starts=2, search_restarts=3)
    m.load_state_dict(det.state_dict())
    m.eval()
    assert torch.allclose(m.score(x, method="search", iterations=4, seed=2).scores, losses.min(0).values, rtol=1e-5)
    t = m.calibrate(x, fpr=0.4, method="search", iterations=4)
    assert m.score(x, method="search", iterations=4).threshold == t
    with pytest.warns(UserWarning, match="search_restarts=3"):
        assert m.score(x, method="search", iterations=4, search_restarts=1).threshold is None
    with pytest.raises(ValueError, match="model's own search_restarts"):
        m.calibrate(x, method="search", iterations=4, search_restarts=2)
    m.save_pretrained(tmp_path / "m")
    assert AnoGAN.from_pretrained(tmp_path / "m").search_restarts == 3
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="search_restarts must be an int >= 1"):
            AnoGAN(**TINY, search_restarts=bad)
    with pytest.raises(ValueError, match="search_restarts"):
        det.score(x, method="search", iterations=1, search_restarts=0)


def test_scoring_runs_in_eval_mode_and_leaves_weights(det):
    det.train()
    stats = det.generator.net[1].running_mean.clone()
    weights = {k: v.clone() for k, v in det.state_dict().items()}
    det.score(_images(8), method="izif+search", iterations=3)
    assert torch.equal(det.generator.net[1].running_mean, stats)
    for k, v in det.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0, equal_nan=True)
    assert det.training and all(p.requires_grad for p in det.parameters())


def test_calibrate_sets_fpr_threshold_and_round_trips(det, tmp_path):
    normal = _images(40, seed=2)
    t = det.calibrate(normal, fpr=0.1, method="izif")
    scores = det.score(normal, method="izif").scores
    assert int((scores > t).sum()) <= 4 < int((scores >= t).sum())        # 10 % of 40 flagged, no more
    res = det.score(normal, method="izif")
    assert res.threshold == pytest.approx(t) and res.labels.dtype == torch.bool
    assert det.score(normal, method="izif", threshold=1e9).labels.sum() == 0     # per-call override
    det.save_pretrained(tmp_path / "m")
    back = AnoGAN.from_pretrained(tmp_path / "m")
    assert float(back.thresholds[METHODS.index("izif")]) == pytest.approx(t, rel=1e-6)
    assert math.isnan(float(back.thresholds[METHODS.index("search")]))
    det.calibrate(normal[:8], fpr=0.25, method="search", iterations=5)
    with pytest.warns(UserWarning, match="calibrated with 5 iterations"):
        det.score(normal[:2], method="search", iterations=3)


def test_calibrate_by_best_f1_on_labelled_images(det):
    """rule="f1": the stored threshold is the best-F1 split of the model's own scores on labelled images."""
    from multigan.anomaly import ImageSet
    from multigan.anomaly.metrics import best_f1_threshold, f1_at

    x = _images(24, seed=3)
    labels = torch.tensor([0, 1] * 12)
    x[labels == 1, :, 4:10, 4:10] = 1.0                          # a bright square on the "anomalous" half
    t = det.calibrate(x, method="izif", rule="f1", labels=labels)
    scores = det.score(x, method="izif").scores
    best_t, best_f1 = best_f1_threshold(scores, labels)
    assert t == pytest.approx(best_t) and float(det.thresholds[METHODS.index("izif")]) == pytest.approx(t)
    assert f1_at(scores, labels, t)["f1"] == pytest.approx(best_f1)
    for other in torch.linspace(float(scores.min()) - 1, float(scores.max()) + 1, 41).tolist():
        assert f1_at(scores, labels, other)["f1"] <= best_f1 + 1e-12     # no threshold does better
    labelled = ImageSet(x, [f"i{k}" for k in range(24)], labels=labels)
    assert det.calibrate(labelled, method="izif", rule="f1") == pytest.approx(t)     # labels from the set
    before = det.thresholds.clone()
    with pytest.raises(ValueError, match="needs labelled images"):
        det.calibrate(x, rule="f1")
    with pytest.raises(ValueError, match="all 24 are labelled 0"):
        det.calibrate(x, rule="f1", labels=torch.zeros(24))
    with pytest.raises(ValueError, match="24 values of 0"):
        det.calibrate(x, rule="f1", labels=torch.tensor([0, 1, 2] * 8))
    with pytest.raises(ValueError, match="24 values of 0"):
        det.calibrate(x, rule="f1", labels=[0, 1])
    with pytest.raises(ValueError, match="unknown calibration rule"):
        det.calibrate(x, rule="f2")
    assert torch.equal(det.thresholds.nan_to_num(-7), before.nan_to_num(-7))     # refusals store nothing


def test_bad_input(det):
    with pytest.raises(ValueError, match="greyscale"):
        det.score(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="16×16"):
        det.score(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        det.score(torch.full((1, 1, 16, 16), 3.0))
    with pytest.raises(TypeError, match="read_images"):
        det.score([[0.0]])
    with pytest.raises(ValueError, match="unknown method"):
        det.score(_images(1), method="ganomaly")
    with pytest.raises(ValueError, match="power of two"):
        AnoGAN(image_size=48)
    with pytest.raises(ValueError, match="channels"):
        AnoGAN(channels=2)


def test_gan_and_encoder_training_steps(tmp_path):
    from multigan.anomaly.recipe import train_encoder
    from multigan.core import Trainer

    torch.manual_seed(0)
    m = AnoGAN(**TINY)
    data = torch.utils.data.TensorDataset(_images(32, seed=3))
    trainer = Trainer(m, data, **{**AnoGAN.trainer_defaults(), "batch_size": 8, "steps": 2, "progress": False,
                                  "device": "cpu", "out_dir": str(tmp_path), "log_every": 1})
    trainer.fit()
    assert trainer.d_updates == 10                                   # 5 critic steps per iteration
    g_before = {k: v.clone() for k, v in m.generator.state_dict().items()}
    log = train_encoder(m, data.tensors[0], steps=30, batch_size=8, lr=1e-3, log_every=10, progress=False,
                        state_file=tmp_path / "enc.pt", checkpoint_every=10)
    assert len(log) == 3 and log[-1]["encoder_loss"] < log[0]["encoder_loss"]
    assert all(torch.equal(g_before[k], v) for k, v in m.generator.state_dict().items())   # G frozen
    # resuming from the state file continues at step 30 → nothing more to do
    assert train_encoder(m, data.tensors[0], steps=30, batch_size=8, progress=False,
                         state_file=tmp_path / "enc.pt") == []
    # a state written against GAN iteration 2 is stale once the GAN moved on: retrained from scratch
    assert train_encoder(m, data.tensors[0], steps=20, batch_size=8, log_every=10, progress=False,
                         state_file=tmp_path / "enc2.pt", gan_step=2)[-1]["step"] == 20
    assert train_encoder(m, data.tensors[0], steps=20, batch_size=8, progress=False,
                         state_file=tmp_path / "enc2.pt", gan_step=2) == []
    with pytest.warns(UserWarning, match="GAN iteration 2, the GAN is now at 3"):
        redo = train_encoder(m, data.tensors[0], steps=20, batch_size=8, log_every=10, progress=False,
                             state_file=tmp_path / "enc2.pt", gan_step=3)
    assert [row["step"] for row in redo] == [10, 20]
    # a resumed encoder takes the lr asked for now, not the one saved with it
    assert torch.load(tmp_path / "enc.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"] == 1e-3
    more = train_encoder(m, data.tensors[0], steps=40, batch_size=8, lr=3e-4, log_every=10, progress=False,
                         state_file=tmp_path / "enc.pt", checkpoint_every=10)
    assert [row["step"] for row in more] == [40]
    assert torch.load(tmp_path / "enc.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"] == 3e-4


def test_with_simulated_lesions_labels_a_validation_set():
    from multigan.anomaly import ImageSet, with_simulated_lesions

    base = ImageSet(_images(10, seed=4), [f"i{k}" for k in range(10)])
    a, b = with_simulated_lesions(base, fraction=0.4, seed=3), with_simulated_lesions(base, fraction=0.4, seed=3)
    assert int(a.labels.sum()) == 4 and torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    lesioned = a.labels.bool()
    assert torch.equal(a.images[~lesioned], base.images[~lesioned]) and not a.masks[~lesioned].any()
    assert all(a.masks[i].any() for i in torch.nonzero(lesioned).flatten())
    changed = (a.images != base.images)
    assert not (changed & ~a.masks).any()                          # only lesion pixels change
    assert a.names == base.names
    with pytest.raises(ValueError, match="fraction"):
        with_simulated_lesions(base, fraction=1.0)
    with pytest.raises(TypeError, match="ImageSet"):
        with_simulated_lesions(base.images)


def test_encoder_selection_keeps_best_checkpoint_and_resumes(tmp_path):
    from multigan.anomaly import ImageSet, with_simulated_lesions
    from multigan.anomaly.recipe import _selection_auroc, encoder_selection, train_encoder

    torch.manual_seed(0)
    m = AnoGAN(**TINY)
    x = _images(48, seed=5)
    val = with_simulated_lesions(ImageSet(x[:16], [str(i) for i in range(16)]), seed=1)
    start = {k: v.clone() for k, v in m.encoder.state_dict().items()}
    opts = dict(batch_size=8, lr=3e-3, log_every=2, checkpoint_every=2, progress=False, select_on=val)
    log = train_encoder(m, x, steps=8, state_file=tmp_path / "a.pt", **opts)
    curve = [row["select_auroc"] for row in log]
    sel = encoder_selection(tmp_path / "a.pt")
    assert [row["auroc"] for row in sel["curve"]] == curve and sel["auroc"] == max(curve)
    assert not m.generator.training and not m.encoder.training and m.generator.net[0].weight.requires_grad
    assert _selection_auroc(m, val) == pytest.approx(max(curve), abs=1e-6)          # the best one is kept
    # interrupted at step 4 and resumed: the same curve and the same chosen weights
    m.encoder.load_state_dict(start)
    train_encoder(m, x, steps=4, state_file=tmp_path / "b.pt", **opts)
    train_encoder(m, x, steps=8, state_file=tmp_path / "b.pt", **opts)
    assert encoder_selection(tmp_path / "b.pt")["curve"] == sel["curve"]
    a, b = (torch.load(tmp_path / f, weights_only=True)["best"]["encoder"] for f in ("a.pt", "b.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # resumed without a selection set: training goes on from the last weights, the record is kept
    last = torch.load(tmp_path / "a.pt", weights_only=True)["encoder"]
    train_encoder(m, x, steps=8, state_file=tmp_path / "a.pt", progress=False)
    assert all(torch.equal(m.encoder.state_dict()[k], v) for k, v in last.items())
    assert encoder_selection(tmp_path / "a.pt") == sel
    train_encoder(m, x, steps=2, batch_size=8, progress=False, state_file=tmp_path / "plain.pt")
    assert encoder_selection(tmp_path / "plain.pt") is None
    with pytest.raises(ValueError, match="not labelled"):
        train_encoder(m, x, steps=1, progress=False, select_on=ImageSet(x[:4], list("abcd")))
    with pytest.raises(ValueError, match="normal and abnormal images; all 4 are labelled 0"):
        train_encoder(m, x, steps=1, progress=False, select_on=ImageSet(x[:4], list("abcd"), torch.zeros(4)))


def test_scoring_options_are_saved_apart_from_the_architecture(det, tmp_path):
    import json

    m = AnoGAN(**TINY, map_sigma=1.5, image_score="map")
    m.load_state_dict(det.state_dict())
    m.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())["config"]
    usage = json.loads((tmp_path / "m" / "inference.json").read_text())
    assert set(usage) == set(AnoGAN.inference_options)                     # how it scores, all of it …
    assert not set(config) & set(AnoGAN.inference_options)                 # … and none of it in the architecture
    assert config["image_size"] == 16 and usage["map_sigma"] == 1.5 and usage["image_score"] == "map"
    back = AnoGAN.from_pretrained(tmp_path / "m")
    assert (back.map_sigma, back.image_score) == (1.5, "map")
    x = _images(2)
    assert torch.allclose(back.eval().score(x).maps, m.eval().score(x).maps, atol=2e-3)   # fp32 save, same maps
    (tmp_path / "m" / "inference.json").unlink()                           # without the file: the defaults
    assert AnoGAN.from_pretrained(tmp_path / "m").map_sigma == AnoGAN(**TINY).map_sigma
    (tmp_path / "m" / "inference.json").write_text(json.dumps({"width": 8}))
    with pytest.raises(ValueError, match="no inference options \\['width'\\]"):
        AnoGAN.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "inference.json").write_text("{not json")
    with pytest.raises(ValueError, match="inference.json: not valid JSON"):
        AnoGAN.from_pretrained(tmp_path / "m")


def test_grown_model_holds_the_smaller_models_layers(tmp_path):
    """load_grown_weights: a 32×32 model of width 2 from a 16×16 one of width 4 computes the same
    deep features: G's first stages and the trunks' last stages are the small model's."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    small = AnoGAN(image_size=16, width=4).eval()
    save_file(small.state_dict(), str(tmp_path / "small.safetensors"))
    big = AnoGAN(image_size=32, width=2)
    untouched = {k: v.clone() for k, v in big.state_dict().items()}
    fresh = big.load_grown_weights(tmp_path / "small.safetensors", small.config)
    big.eval()
    z = torch.randn(3, small.latent_dim)[:, :, None, None]
    k = 2                                                        # 16×16: two stride-2 stages
    assert torch.equal(big.generator.net[:3 * k](z), small.generator.net[:3 * k](z))
    assert big.generator.net[:3 * k](z).shape == (3, 4, 8, 8)
    h = torch.randn(3, 4, 8, 8)                                  # what the trunks see after their first stage
    for b, s in ((big.discriminator, small.discriminator), (big.encoder, small.encoder)):
        assert torch.equal(b.out(b.trunk.net[4:](h).flatten(1)), s.out(s.trunk.net[2:](h).flatten(1)))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert big.discriminator(x).shape == (2,) and big.generator(torch.randn(2, small.latent_dim)).shape == (2, 1, 32, 32)
    # the image-facing layers and the scoring buffers keep their initialisation
    assert set(fresh) == {k for k in untouched if k.startswith(("generator.net.6.", "generator.net.7.",
                                                                "generator.net.9.", "discriminator.trunk.net.0.",
                                                                "discriminator.trunk.net.2.", "encoder.trunk.net.0.",
                                                                "encoder.trunk.net.2."))} | {
        "thresholds", "calibration_iterations"}
    for key in fresh:
        assert torch.equal(big.state_dict()[key], untouched[key]) or key == "thresholds", key
    with pytest.raises(ValueError, match="cannot grow a 32×32 model of width 4"):
        AnoGAN(image_size=32, width=4).load_grown_weights(tmp_path / "small.safetensors", small.config)
    with pytest.raises(ValueError, match="cannot grow"):
        AnoGAN(image_size=16, width=4).load_grown_weights(tmp_path / "small.safetensors", small.config)
    fresh = AnoGAN(image_size=64, width=1).load_grown_weights(tmp_path / "small.safetensors", small.config)
    assert "generator.net.3.weight" not in fresh and "generator.net.6.weight" in fresh            # grown twice
    assert "discriminator.trunk.net.4.weight" in fresh and "discriminator.trunk.net.6.weight" not in fresh
