"""Preprocessing for any input: foreground crop, tissue normalisation, the same result from every file kind."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from multigan.anomaly.data import read_images, simulate_lesions
from multigan.anomaly.preprocess import TISSUE_LEVEL, crop_box, foreground_mask, prepare_slice, tissue_normalize


def _head(rows=120, cols=100, top=20, left=15, h=80, w=64, value=100.0):
    """A bright ellipse with a darker core on a black field, like a skull-stripped slice."""
    yy, xx = np.mgrid[:rows, :cols]
    cy, cx = top + h / 2, left + w / 2
    r = ((yy - cy) / (h / 2)) ** 2 + ((xx - cx) / (w / 2)) ** 2
    img = np.where(r <= 1, value, 0.0)
    img[r <= 0.2] = 0.6 * value
    return img


def test_crop_is_invariant_to_field_of_view_and_intensity_scale():
    small = prepare_slice(_head(), size=32)
    # the same head in a larger field of view, shifted, 16-bit-like scale
    big = np.zeros((300, 260))
    big[100:220, 70:170] = _head()
    wide = prepare_slice(big * 37.0, size=32)
    assert np.abs(small.image - wide.image).max() < 1e-5
    assert small.box[2] == wide.box[2] == round(81 * 1.08)           # 81 rows of ellipse
    assert wide.box[:2] == (small.box[0] + 100, small.box[1] + 70)
    assert small.foreground_share > wide.foreground_share


def test_tissue_rule_leaves_room_for_bright_lesions():
    img = _head()
    lesion = img.copy()
    lesion[55:65, 40:50] = 180.0                          # 1.8× the tissue, inside the bright ring
    base, bright = prepare_slice(img, size=64), prepare_slice(lesion, size=64)
    assert base.reference == bright.reference == 100.0    # a lesion cannot rescale the slice
    y, lo, ref = tissue_normalize(lesion, lesion > 0)
    assert np.isclose(y[30, 50], TISSUE_LEVEL) and y[0, 0] == -1.0
    assert 0.9 < y[60, 45] <= 1.0                          # above the tissue, not clipped to it
    assert bright.image.max() > base.image.max() + 0.5


def test_foreground_keeps_lobes_and_drops_specks():
    img = np.zeros((100, 100))
    img[10:40, 10:40] = 1.0                                # two lobes of a low slice
    img[60:80, 55:80] = 1.0
    img[95, 95] = 1.0                                      # a speck of noise
    fg = foreground_mask(img)
    assert fg[20, 20] and fg[70, 70] and not fg[95, 95]
    top, left, side = crop_box(fg, 0.0)
    assert side == 70 and (top, left) == (10, 10)


def test_read_images_crop_matches_across_png8_png16_and_nifti(tmp_path):
    nib = pytest.importorskip("nibabel")
    head = _head()
    Image.fromarray(head.astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray((head * 300).astype(np.uint16)).save(tmp_path / "b.png")
    volume = np.rot90(head, k=-1)[:, :, None].astype(np.float32) * 0.01      # volume_slices turns it back
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / "c.nii.gz"))
    s = read_images(tmp_path, size=32)
    assert s.preprocess == "crop" and [p["box"] for p in s.preparation] == [[17, 4, 87]] * 3
    assert (s.images[1:] - s.images[0]).abs().max() < 0.02
    assert s.subset([2]).preparation == s.preparation[2:]


def test_masks_follow_the_crop(tmp_path):
    head = _head()
    mask = np.zeros(head.shape, np.uint8)
    mask[50:60, 40:50] = 255
    for sub in ("abnormal", "masks"):
        (tmp_path / sub).mkdir()
    Image.fromarray(head.astype(np.uint8)).save(tmp_path / "abnormal" / "x.png")
    Image.fromarray(mask).save(tmp_path / "masks" / "x.png")
    s = read_images(tmp_path, size=87)                      # crop side 87: one source pixel per pixel
    top, left, _ = s.preparation[0]["box"]
    expected = np.zeros((87, 87), bool)
    expected[50 - top:60 - top, 40 - left:50 - left] = True
    assert torch.equal(s.masks[0, 0], torch.from_numpy(expected))


def test_crop_needs_a_square_size_and_a_known_rule(tmp_path):
    Image.fromarray(_head().astype(np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="square"):
        read_images(tmp_path, size=(32, 48))
    with pytest.raises(ValueError, match="preprocess must be one of"):
        read_images(tmp_path, preprocess="resize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = read_images(tmp_path, size=(32, 48), preprocess="none")
    assert whole.preparation is None and whole.images.shape == (1, 1, 32, 48)


def test_simulator_keeps_polarity_and_options():
    img = torch.full((4, 1, 64, 64), -1.0)
    img[:, :, 8:56, 8:56] = 0.45                             # bright tissue everywhere
    bright, masks = simulate_lesions(img, seed=0, hyper_fraction=1.0, edge=(0.05, 0.05), texture=(0.0, 0.0))
    assert all(bright[i][masks[i]].mean() > 0.6 for i in range(4))   # brighter, not flipped to dark
    assert bright.max() <= 1.0
    dark, dmasks = simulate_lesions(img, seed=0, hyper_fraction=0.0)
    assert all(dark[i][dmasks[i]].mean() < 0.3 for i in range(4))
    with pytest.raises(ValueError, match="edge"):
        simulate_lesions(img, seed=0, edge=(0.0, 0.5))


def _brains(n, seed=0):
    """Prepared-looking slices: an ellipse of textured tissue around 0.2 on a −1 background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    inside = ((yy - 16) / 14) ** 2 + ((xx - 16) / 12) ** 2 <= 1
    x = torch.full((n, 1, 32, 32), -1.0)
    x[:, :, inside] = (0.2 + 0.2 * torch.randn(n, 1, int(inside.sum()), generator=g)).clamp(-0.7, 1)
    return x


def test_domain_profile_flags_images_unlike_training_and_survives_save(tmp_path):
    from multigan.anomaly import AnoGAN

    model = AnoGAN(image_size=32, width=8)
    model.set_domain(_brains(200))
    odd = _brains(4, seed=1)
    odd[:2] = ((odd[:2] + 1) * 0.6 - 1)                      # two images with their contrast squeezed
    with pytest.warns(UserWarning, match="2 of 4 images look unlike the training images"):
        res = model.score(odd)
    assert [d["unlike_training"] for d in res.details] == [True, True, False, False]
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "domain.json").is_file()
    assert AnoGAN.from_pretrained(tmp_path / "m").domain == model.domain
    res.to_csv(tmp_path / "s.csv")
    header, first = (tmp_path / "s.csv").read_text().splitlines()[:2]
    assert header.endswith("domain_distance,unlike_training") and first.endswith(",yes")


def test_score_warns_when_images_were_read_another_way(tmp_path):
    from multigan.anomaly import AnoGAN

    Image.fromarray(_head().astype(np.uint8)).save(tmp_path / "a.png")
    model = AnoGAN(image_size=32, width=8, preprocess="none")
    images = read_images(tmp_path, size=32)
    with pytest.warns(UserWarning, match="read with preprocess='crop' but this model was trained on preprocess='none'"):
        res = model.score(images)
    assert res.details == [{"crop": "17 4 87", "foreground_share": images.preparation[0]["foreground_share"]}]


def test_evaluate_reports_each_lesion_group_apart():
    from multigan.anomaly import AnoGAN
    from multigan.anomaly.data import ImageSet
    from multigan.anomaly.evaluate import evaluate_model
    from multigan.anomaly.metrics import auroc

    torch.manual_seed(0)
    model = AnoGAN(image_size=32, width=8, latent_dim=8)
    images = _brains(12, seed=2)
    labels = torch.tensor([0] * 6 + [1] * 6)
    images[6:9, :, 10:16, 10:16] = 1.0                        # three bright lesions, three dark
    images[9:, :, 10:16, 10:16] = -0.9
    bright = torch.tensor([False] * 6 + [True] * 3 + [False] * 3)
    table = evaluate_model(model, ImageSet(images, [str(i) for i in range(12)], labels), methods=["izif"],
                           groups={"bright": bright, "dark": ~bright & (labels == 1)})
    scores = model.score(images).scores
    assert table["izif"]["auroc_bright"] == pytest.approx(auroc(scores[:9], labels[:9]))
    assert table["izif"]["auroc_dark"] == pytest.approx(auroc(torch.cat([scores[:6], scores[9:]]),
                                                              torch.tensor([0] * 6 + [1] * 3)))
