"""AnomalyResult (multigan.anomaly.pipeline): labels, subsets, CSV/JSON reports and overlay PNGs."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multigan.anomaly import metrics as M
from multigan.anomaly.pipeline import AnomalyResult, apply_colormap, safe_file_stems

N, H, W = 4, 16, 16
GREEN = (0, 255, 0)


def make(**overrides) -> AnomalyResult:
    """Four greyscale 16×16 images; images 1 and 3 carry a square lesion that the map lights up."""
    gen = torch.Generator().manual_seed(0)
    masks = torch.zeros(N, 1, H, W, dtype=torch.bool)
    masks[1, 0, 4:9, 4:9] = True
    masks[3, 0, 8:14, 2:8] = True
    images = torch.rand(N, 1, H, W, generator=gen) * 1.6 - 0.8
    maps = torch.rand(N, 1, H, W, generator=gen) * 0.1 + masks.float() * 0.8
    kw = {"scores": torch.tensor([0.12, 0.95, 0.30, 0.71]), "maps": maps, "images": images,
              "names": ["scans/a.png", "scans/b.png", "c:1", "scans/a.png"], "threshold": 0.5, "method": "f-anogan",
              "reconstructions": (images * 0.9).clamp(-1, 1), "failures": [("scans/broken.dcm", "not a DICOM file")],
              "truth": torch.tensor([0, 1, 0, 1]), "masks": masks}
    kw.update(overrides)
    return AnomalyResult(**kw)


# --------------------------------------------------------------------------- basics

def test_labels_threshold_and_len() -> None:
    res = make()
    assert len(res) == N
    assert res.labels.tolist() == [False, True, False, True]
    assert make(threshold=None).labels is None
    other = res.with_threshold(0.2)
    assert other.labels.tolist() == [False, True, True, True] and res.threshold == 0.5
    assert other.with_threshold(None).labels is None
    assert "f-anogan" in repr(res) and "failed=1" in repr(res)


def test_getitem_and_subset() -> None:
    res = make()
    one = res[1]
    assert len(one) == 1 and one.names == ["scans/b.png"] and one.truth.tolist() == [1]
    assert one.maps.shape == (1, 1, H, W) and one.masks.shape == (1, 1, H, W)
    assert res[-1].names == ["scans/a.png"] and res[-1].scores.tolist() == pytest.approx([0.71])
    assert res[1:3].names == ["scans/b.png", "c:1"]
    assert res[res.labels].scores.tolist() == pytest.approx([0.95, 0.71])
    assert res[[3, 0]].names == ["scans/a.png", "scans/a.png"] and len(res[[]]) == 0
    assert res.subset([0], keep_failures=False).failures == [] and res[0].failures == res.failures
    with pytest.raises(IndexError):
        res[4]
    with pytest.raises(IndexError):
        res[torch.tensor([True, False])]


def test_accepts_numpy_and_missing_channel() -> None:
    res = AnomalyResult(np.array([1.0, 2.0]), np.zeros((2, 8, 8)), np.zeros((2, 8, 8), np.float32), ["x", "y"],
                        masks=np.zeros((2, 8, 8), np.uint8), truth=[True, False])
    assert res.maps.shape == (2, 1, 8, 8) and res.images.shape == (2, 1, 8, 8)
    assert res.masks.dtype == torch.bool and res.truth.tolist() == [1, 0]


@pytest.mark.parametrize("overrides, match", [
    ({"scores": torch.zeros(3)}, "3 scores"),
    ({"scores": torch.zeros(N, 1)}, r"shape \(N,\)"),
    ({"scores": torch.tensor([0.1, float("nan"), 0.2, 0.3])}, "NaN"),
    ({"maps": torch.zeros(N, 2, H, W)}, "maps must have shape"),
    ({"maps": torch.zeros(N, 1, H, W + 1)}, "maps are"),
    ({"maps": -torch.ones(N, 1, H, W)}, ">= 0"),
    ({"images": torch.zeros(N, 2, H, W)}, "images must have shape"),
    ({"images": torch.full((N, 1, H, W), 2.0)}, r"\[-1, 1\]"),
    ({"names": ["a", "b"]}, "names"),
    ({"reconstructions": torch.zeros(N, 3, H, W)}, "reconstructions must match"),
    ({"truth": torch.tensor([0, 1])}, "truth must have shape"),
    ({"truth": torch.tensor([0, 1, 2, 0])}, "0 and 1"),
    ({"masks": torch.zeros(N, 1, 8, 8, dtype=torch.bool)}, "masks must have shape"),
    ({"failures": [("only-a-path",)]}, "path, reason"),
    ({"threshold": float("inf")}, "finite"),
])
def test_bad_shapes_raise(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(**overrides)


def test_bad_types_raise() -> None:
    with pytest.raises(TypeError, match="names"):
        make(names="abcd")
    with pytest.raises(TypeError, match="strings"):
        make(names=[1, 2, 3, 4])


# --------------------------------------------------------------------------- CSV / JSON

def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_lists_every_image_and_failure(tmp_path: Path) -> None:
    res = make(failures=[("scans/broken.dcm", "not a DICOM file"), ("scans/x.nii", "truncated, file")])
    path = res.to_csv(tmp_path / "out" / "scores.csv")
    rows = read_csv(path)
    assert len(rows) == N + 2
    assert list(rows[0]) == ["name", "status", "score", "label", "max_map", "truth", "reason"]
    ok, failed = rows[:N], rows[N:]
    assert [r["name"] for r in ok] == res.names and {r["status"] for r in ok} == {"ok"}
    assert np.array_equal(np.array([r["score"] for r in ok], np.float32), res.scores.numpy())   # exact
    assert ok[0]["score"] == "0.12"                                                 # shortest float32 form
    assert [r["label"] for r in ok] == ["normal", "anomalous", "normal", "anomalous"]
    assert [r["truth"] for r in ok] == ["normal", "anomalous", "normal", "anomalous"]
    assert np.array_equal(np.array([r["max_map"] for r in ok], np.float32), res.maps.amax(dim=(1, 2, 3)).numpy())
    assert [(r["name"], r["status"], r["score"], r["reason"]) for r in failed] == [
        ("scans/broken.dcm", "failed", "", "not a DICOM file"), ("scans/x.nii", "failed", "", "truncated, file")]
    assert not [p for p in path.parent.iterdir() if p.name != "scores.csv"]        # no temporaries left


def test_csv_has_no_column_that_is_always_empty(tmp_path: Path) -> None:
    """Without failures there is no reason column, without a threshold no label column, without truth no
    truth column: pandas and spreadsheets give every column a type."""
    plain = read_csv(make(failures=[], threshold=None, truth=None, masks=None).to_csv(tmp_path / "plain.csv"))
    assert list(plain[0]) == ["name", "status", "score", "max_map"]
    assert all(row[k] for row in plain for k in row)                 # no empty cell
    full = read_csv(make(failures=[]).to_csv(tmp_path / "full.csv"))
    assert list(full[0]) == ["name", "status", "score", "label", "max_map", "truth"]
    assert {r["label"] for r in full} == {"normal", "anomalous"}


def test_csv_without_threshold_or_truth(tmp_path: Path) -> None:
    rows = read_csv(make(threshold=None, truth=None).to_csv(tmp_path / "s.csv"))
    assert "truth" not in rows[0] and "label" not in rows[0] and len(rows) == N + 1


def test_json_round_trip(tmp_path: Path) -> None:
    res = make()
    doc = json.loads(res.to_json(tmp_path / "report.json", pixel_threshold=0.5).read_text())
    assert doc["method"] == "f-anogan" and doc["threshold"] == 0.5 and doc["map_margin"] == 0
    assert doc["counts"] == {"inputs": N + 1, "scored": N, "failed": 1, "anomalous": 2, "normal": 2}
    assert [im["name"] for im in doc["images"]] == res.names
    assert [im["score"] for im in doc["images"]] == [0.12, 0.95, 0.30, 0.71]
    assert np.array_equal(np.array([im["max_map"] for im in doc["images"]], np.float32),
                          res.maps.amax(dim=(1, 2, 3)).numpy())
    assert [im["label"] for im in doc["images"]] == ["normal", "anomalous", "normal", "anomalous"]
    assert [im["truth"] for im in doc["images"]] == ["normal", "anomalous", "normal", "anomalous"]
    assert doc["failures"] == [{"path": "scans/broken.dcm", "reason": "not a DICOM file"}]
    want = M.evaluate_scores(res.scores, res.truth, 0.5, res.maps, res.masks, pixel_threshold=0.5)
    assert doc["summary"] == pytest.approx(want)
    assert doc["summary"]["image_auroc"] == 1.0 and doc["summary"]["pixel_auroc"] == 1.0
    assert doc["summary"]["dice"] > 0.98 and doc["summary"]["f1"] == 1.0           # quantile search
    assert doc["summary"]["dice_at_pixel_threshold"] == 1.0
    assert doc["score_stats"]["max"] == pytest.approx(0.95)


def test_json_without_truth_and_nan_as_null(tmp_path: Path) -> None:
    doc = json.loads(make(truth=None).to_json(tmp_path / "a.json").read_text())
    assert "summary" not in doc and "truth" not in doc["images"][0]
    text = make(truth=torch.zeros(N, dtype=torch.long)).to_json(tmp_path / "b.json").read_text()
    doc = json.loads(text)                                     # strict JSON: no NaN tokens
    assert "NaN" not in text and doc["summary"]["image_auroc"] is None


def test_summary_with_given_truth() -> None:
    res = make(truth=None, masks=None)
    assert "metrics" not in res.summary()
    s = res.summary(truth=[1, 0, 0, 1])
    assert s["metrics"]["image_auroc"] == pytest.approx(M.auroc(res.scores, [1, 0, 0, 1]))
    assert "pixel_auroc" not in s["metrics"]
    with pytest.raises(ValueError, match="truth"):
        res.summary(truth=[1, 0])


def test_empty_result_reports_failures(tmp_path: Path) -> None:
    res = AnomalyResult(torch.zeros(0), torch.zeros(0, 1, 8, 8), torch.zeros(0, 1, 8, 8), [],
                        threshold=0.5, failures=[("a.png", "cannot read")])
    paths = res.write_report(tmp_path / "rep")
    assert paths["overlays"] == [] and len(read_csv(paths["csv"])) == 1
    assert json.loads(paths["json"].read_text())["counts"]["failed"] == 1


# --------------------------------------------------------------------------- overlays

def test_overlays_written_with_outline(tmp_path: Path) -> None:
    res = make()
    paths = res.save_overlays(tmp_path / "ov", scale=1, legend=False)
    assert len(paths) == N and len({p.name for p in paths}) == N
    assert [p.name for p in paths] == ["scans_a.png", "scans_b.png", "c_1.png", "scans_a-2.png"]
    for i, p in enumerate(paths):
        img = np.asarray(Image.open(p).convert("RGB"))
        assert img.shape == (H, 3 * W + 2 * 2, 3)                 # input | reconstruction | overlay
        overlay = img[:, 2 * (W + 2):]
        green = np.all(overlay == GREEN, axis=-1)
        if res.masks[i].any():
            m = res.masks[i, 0].numpy()
            assert green[m].any() and not green[m].all()
            assert not green[~m].any()                                              # only on the mask edge
            ys, xs = np.nonzero(m)
            assert green[ys.min(), xs.min()] and not green[(ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2]
        else:
            assert not green.any()


def test_overlay_panels_and_global_scale(tmp_path: Path) -> None:
    res = make(reconstructions=None, masks=None)
    paths = res.save_overlays(tmp_path, alpha=1.0, colormap="jet", scale=2, legend=False)
    img = np.asarray(Image.open(paths[0]).convert("RGB"))
    assert img.shape == (2 * H, 2 * 2 * W + 2, 3)                # input | overlay, doubled
    # input panel is the image mapped from [-1, 1] to [0, 255]
    want = np.round((res.images[0, 0].numpy().astype(np.float64) + 1) / 2 * 255)
    assert np.abs(img[::2, : 2 * W : 2, 0].astype(float) - want).max() <= 1
    # global scale: the same map value gets the same colour in every image
    vmax = float(np.percentile(res.maps.numpy(), 99))
    heat = np.round(apply_colormap(res.maps[1, 0].numpy() / vmax, "jet") * 255)
    got = np.asarray(Image.open(paths[1]).convert("RGB"))[::2, 2 * W + 2::2].astype(float)
    assert np.abs(got - heat).max() <= 1
    per = res.save_overlays(tmp_path / "per", normalise="per-image")
    assert len(per) == N
    with pytest.raises(ValueError, match="normalise"):
        res.save_overlays(tmp_path, normalise="minmax")
    with pytest.raises(ValueError, match="colormap"):
        res.save_overlays(tmp_path, colormap="viridis")
    with pytest.raises(ValueError, match="alpha"):
        res.save_overlays(tmp_path, alpha=2)


def test_rgb_images_overlay(tmp_path: Path) -> None:
    res = make(images=torch.zeros(N, 3, H, W), reconstructions=torch.zeros(N, 3, H, W))
    img = np.asarray(Image.open(res.save_overlays(tmp_path, scale=1, legend=False)[0]))
    assert img.shape == (H, 3 * W + 4, 3) and (img[:, :W] == 128).all()


def test_overlays_are_enlarged_with_a_legend_by_default(tmp_path: Path) -> None:
    """By default panels are enlarged towards 256 px (at most 8×: H = 16 gives 128 px), titled, and a footer holds the score, the threshold
    and a colour bar of the heat scale."""
    res = make(masks=None)
    plain = np.asarray(Image.open(res.save_overlays(tmp_path / "plain", scale=8, legend=False)[1]).convert("RGB"))
    img = np.asarray(Image.open(res.save_overlays(tmp_path / "legend")[1]).convert("RGB"))
    assert img.shape[1] == plain.shape[1] == 3 * 8 * W + 2 * 2 and img.shape[0] == 8 * H + 20 + 44
    assert (img[20:20 + 8 * H] == plain).all()                      # the panels, unchanged, under the titles
    header, footer = img[:20], img[20 + 8 * H:]
    assert (header < 128).any() and (footer < 128).any()           # text drawn
    bar = footer[8:16, 2 * (8 * W + 2) + 4:-4]                      # the colour bar under the overlay panel
    ramp = np.round(apply_colormap(np.linspace(0, 1, bar.shape[1]), "inferno") * 255)
    assert np.abs(bar[4].astype(float) - ramp).max() <= 1


def test_write_report(tmp_path: Path) -> None:
    paths = make().write_report(tmp_path / "report", colormap="jet")
    assert paths["csv"] == tmp_path / "report" / "scores.csv" and paths["csv"].is_file()
    assert paths["json"] == tmp_path / "report" / "report.json" and paths["json"].is_file()
    assert len(paths["overlays"]) == N and all(p.parent == tmp_path / "report" / "overlays" for p in paths["overlays"])


def test_safe_file_stems() -> None:
    assert safe_file_stems(["a/b:c.png", "A/B:C.jpg", "..hidden", "", "x y"]) == [
        "a_b_c", "A_B_C-2", "hidden", "image_3", "x_y"]
    assert math.isclose(len(safe_file_stems(["x" * 500])[0]), 120)


@pytest.mark.parametrize("axis, flip", [(2, False), (2, True), (0, True)])
def test_volume_map_lands_on_the_voxels_its_slices_were_cut_from(tmp_path: Path, axis: int, flip: bool) -> None:
    """write_volumes is the inverse of reading: the map volume, read back the way scans are read
    (RAS+, cut into slices), holds each slice's map in its crop square; and it keeps the input's own
    grid: shape, orientation (an LAS input stays LAS) and affine."""
    nib = pytest.importorskip("nibabel")
    from multigan.anomaly.data import volume_slices
    shape = (40, 48, 7) if axis == 2 else (7, 40, 48)
    affine = np.diag([-2.0 if flip else 2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = (60, -70, -10)
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), affine), str(tmp_path / "head.nii.gz"))
    rows, cols = volume_slices(np.zeros(nib.as_closest_canonical(nib.load(str(tmp_path / "head.nii.gz"))).shape),
                               axis).shape[1:]
    scored = [1, 2, 4, 5]                                          # 0, 3 and 6 "empty": not scored
    maps = torch.zeros(4, 1, 16, 16)
    maps[:, :, 4:12, 8:16] = torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None, None, None]   # a block per slice
    res = AnomalyResult(torch.tensor([0.1, 0.9, 0.3, 0.2]), maps, torch.zeros(4, 1, 16, 16),
                        [f"head.nii.gz:{k}" for k in scored], threshold=0.5, method="f-anogan")
    box = [6, -4, 32]                                              # reaches past the slice's left edge
    prep = [{"box": box, "foreground_share": 0.5, "axis": axis, "slice_shape": [rows, cols]} for _ in scored]
    out = res.write_volumes(tmp_path / "out", tmp_path / "head.nii.gz", prep)
    assert out == [{"file": "head.nii.gz", "score": pytest.approx(0.9), "label": "anomalous", "slices": 4,
                    "slices_not_judged": 0, "most_anomalous_slice": 2, "montage_slices": [2, 4, 5, 1],
                    "map": "head_anomaly.nii.gz",
                    "montage": "head_montage.png"}]
    written = nib.load(str(tmp_path / "out" / "head_anomaly.nii.gz"))
    assert written.shape == shape
    np.testing.assert_array_equal(written.affine, affine)
    back = volume_slices(nib.as_closest_canonical(written).get_fdata(dtype=np.float32), axis)
    block = np.zeros((rows, cols), bool)
    block[6 + 8:6 + 24, -4 + 16:-4 + 32] = True                   # rows 4-12, cols 8-16 of 16: ×2, then shifted
    for value, k in enumerate(scored, start=1):                   # (bilinear ×2 blurs the edges by a pixel)
        np.testing.assert_array_equal(back[k] > value / 2, block)
        assert back[k].max() == pytest.approx(value)
    assert not back[[0, 3, 6]].any()
    assert [d["slice"] for d in res.details] == scored and res.details[0]["volume"] == "head.nii.gz"
    res.write_report(tmp_path / "out", volumes=out)
    with open(tmp_path / "out" / "scores.csv", newline="") as f:
        assert [r["slice"] for r in csv.DictReader(f)] == ["1", "2", "4", "5"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["volumes"] == out
    montage = np.asarray(Image.open(tmp_path / "out" / "head_montage.png"))
    assert montage.shape[1] == 2 * 128 + 2 and montage.shape[0] > 4 * 128   # 4 slices; input | map, 16 px × 8 each


def test_volume_verdict_skips_slices_unlike_the_training_ones(tmp_path: Path) -> None:
    """A slice with little foreground (the skull's top, the neck) does not decide the volume, nor the
    map volume's display window; its residual stays in the map."""
    nib = pytest.importorskip("nibabel")
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 3), np.float32), np.eye(4)), str(tmp_path / "v.nii"))
    maps = torch.zeros(3, 1, 8, 8)
    maps[0], maps[1, :, 2:4, 2:4], maps[2, :, 5:7, 5:7] = 5.0, 0.75, 0.5
    res = AnomalyResult(torch.tensor([0.9, 0.2, 0.1]), maps, torch.zeros(3, 1, 8, 8),
                        ["v.nii:0", "v.nii:1", "v.nii:2"], threshold=0.5)
    prep = [{"box": [0, 0, 64], "foreground_share": share, "axis": 2, "slice_shape": [64, 64]}
            for share in (0.05, 0.4, 0.5)]
    (row,) = res.write_volumes(tmp_path, tmp_path / "v.nii", prep)
    assert (row["score"], row["label"], row["most_anomalous_slice"], row["slices_not_judged"]) == \
        (pytest.approx(0.2), "normal", 1, 1)
    written = nib.load(str(tmp_path / "v_anomaly.nii.gz"))
    assert (float(written.header["cal_min"]), float(written.header["cal_max"])) == (0.0, 0.75)
    assert written.get_fdata().max() == pytest.approx(5.0)          # the unjudged slice's map is kept
    with pytest.raises(ValueError, match="preparation records"):
        res.write_volumes(tmp_path, tmp_path / "v.nii", prep[:2])
    wrong = [dict(p, slice_shape=[64, 32]) for p in prep]
    with pytest.raises(ValueError, match="not the volume whose slices were scored"):
        res.write_volumes(tmp_path / "w", tmp_path / "v.nii", wrong)
    assert not (tmp_path / "w").exists()                         # nothing written


def test_overlay_draws_the_contour_of_the_map_above_map_threshold(tmp_path: Path) -> None:
    maps = torch.zeros(2, 1, 8, 8)
    maps[0, 0, 2:5, 3:6] = 1.0                                   # a 3 × 3 residual blob above 0.5
    images = torch.zeros(2, 1, 8, 8)
    plain = AnomalyResult(torch.tensor([0.9, 0.1]), maps, images, ["a.png", "b.png"], threshold=0.5)
    contoured = AnomalyResult(torch.tensor([0.9, 0.1]), maps, images, ["a.png", "b.png"], threshold=0.5,
                              map_threshold=0.5)
    panels = contoured._overlay(0, 1.0, 0.5, "inferno", 1)[:, :, -8:].transpose(1, 2, 0)   # the overlay panel
    cyan = np.all(panels == (0, 255, 255), axis=-1)
    ring = np.zeros((8, 8), bool)
    ring[2:5, 3:6] = True
    ring[3, 4] = False                                           # the blob's outline: all but its centre
    np.testing.assert_array_equal(cyan, ring)
    assert not np.all(plain._overlay(0, 1.0, 0.5, "inferno", 1).transpose(1, 2, 0) == (0, 255, 255), axis=-1).any()
    assert not np.all(contoured._overlay(1, 1.0, 0.5, "inferno", 1).transpose(1, 2, 0) == (0, 255, 255),
                      axis=-1).any()                             # nothing above the level: no contour
    with_key, without = (Image.open(p) for p in (contoured.save_overlays(tmp_path / "c")[0],
                                                  plain.save_overlays(tmp_path / "p")[0]))
    assert with_key.size == without.size                         # one key line fits the footer
    assert [text for text, _ in contoured._key_lines(0)] == ["cyan: residual above the threshold"]
    assert contoured._key_lines(1) == []                         # no contour drawn, no key
    rim = dataclasses.replace(contoured, map_margin=3)
    assert [text.strip() for text, _ in rim._key_lines(0)] == [
        "cyan: residual above the threshold", "the 3 px of tissue next to the background are not scored"]
    assert rim.subset([0]).map_margin == 3
    with pytest.raises(ValueError, match="map_threshold"):
        AnomalyResult(torch.tensor([0.9]), maps[:1], images[:1], ["a.png"], map_threshold=float("nan"))
    with pytest.raises(ValueError, match="map_margin"):
        AnomalyResult(torch.tensor([0.9]), maps[:1], images[:1], ["a.png"], map_margin=-1)
