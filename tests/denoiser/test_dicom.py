import random
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from denoiser.dicom.derive import derived_datasets, write_derived_series
from denoiser.dicom.read import DicomReadError, read_series
from denoiser.dicom.write import write_series


@pytest.fixture()
def volume():
    rng = np.random.default_rng(0)
    vol = rng.normal(40.0, 30.0, size=(5, 48, 40)).astype(np.float32)
    vol[:, :4] = -1000.0
    vol[2, 20:24, 20:24] = 1500.0
    return vol


@pytest.fixture()
def series_dir(tmp_path, volume):
    paths = write_series(
        volume,
        tmp_path / "src",
        patient_name="DOE^JANE",
        patient_id="P-1",
        series_description="Abdomen LD",
        pixel_spacing=(0.75, 0.8),
        slice_thickness=2.5,
        exposure_mas=50.0,
        ctdivol=3.1,
        seed=42,
    )
    return tmp_path / "src", paths


def test_write_series_is_a_valid_ct_series(series_dir, volume):
    folder, paths = series_dir
    assert len(paths) == len(volume)
    ds = pydicom.dcmread(paths[0])
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.Modality == "CT" and ds.PhotometricInterpretation == "MONOCHROME2"
    assert (ds.RescaleIntercept, ds.RescaleSlope, ds.PixelRepresentation) == (-1024, 1, 0)
    assert [float(v) for v in ds.PixelSpacing] == [0.75, 0.8]
    assert ds.PatientName == "DOE^JANE" and ds.FrameOfReferenceUID and ds.StudyInstanceUID
    assert float(ds.CTDIvol) == pytest.approx(3.1)
    # Deterministic UIDs with a seed.
    again = write_series(volume, folder.parent / "again", seed=42, series_description="x")
    assert pydicom.dcmread(again[0]).StudyInstanceUID == ds.StudyInstanceUID


def test_round_trip_with_shuffled_files_sorts_by_position(series_dir, volume, tmp_path):
    _, paths = series_dir
    shuffled = paths[:]
    random.Random(1).shuffle(shuffled)
    # Instance numbers that disagree with position must not matter.
    for i, path in enumerate(shuffled):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = i + 1
        ds.save_as(path)
    hu, headers = read_series(shuffled)
    np.testing.assert_allclose(hu, np.clip(np.rint(volume), -1024, None), atol=0.5)
    z = [float(h.ImagePositionPatient[2]) for h in headers]
    assert z == sorted(z)


def test_read_folder_skips_non_dicom_and_rejects_mixed_series(series_dir, tmp_path, volume):
    folder, _ = series_dir
    (folder / "notes.txt").write_text("not dicom")
    (folder / "README").write_text("no extension, not dicom either")
    hu, headers = read_series(folder)
    assert hu.shape == volume.shape
    assert "PixelData" not in headers[0]  # freed: the volume holds the pixels
    with pytest.raises(DicomReadError, match="notes.txt"):
        read_series([folder / "notes.txt"])
    write_series(volume[:1], folder / "other", seed=7)
    with pytest.raises(DicomReadError, match="one series at a time"):
        read_series(folder)


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage")
    with pytest.raises(DicomReadError, match="broken.dcm"):
        read_series([bad])
    with pytest.raises(DicomReadError, match="no such"):
        read_series(tmp_path / "missing")


def test_compressed_and_classic_test_files_read_to_hu():
    small = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu, _ = read_series(get_testdata_file("CT_small.dcm"))
    expected = small.pixel_array * float(small.RescaleSlope) + float(small.RescaleIntercept)
    np.testing.assert_array_equal(hu[0], expected)
    j2k = get_testdata_file("693_J2KR.dcm")  # JPEG 2000 lossless CT, decoded by pylibjpeg
    hu, headers = read_series([j2k])
    assert hu.shape == (1, 512, 512)
    assert pydicom.dcmread(j2k).file_meta.TransferSyntaxUID.is_compressed
    assert -1100 < np.median(hu) < 3100 and hu.std() > 50


def test_enhanced_multiframe_ct_splits_into_frames():
    path = get_testdata_file("eCT_Supplemental.dcm")
    hu, headers = read_series(path)
    ds = pydicom.dcmread(path)
    assert hu.shape == (2, 512, 512)
    assert [h.frame_number for h in headers] == [1, 2] or [h.frame_number for h in headers] == [
        2,
        1,
    ]
    frames = ds.pixel_array.astype(np.float32) - 1024.0
    for h, image in zip(headers, hu, strict=True):
        np.testing.assert_array_equal(image, frames[h.frame_number - 1])


def test_derived_series_tags_uids_and_geometry(series_dir, volume, tmp_path):
    folder, _ = series_dir
    hu, sources = read_series(folder)
    denoised = hu * 0.5 + 20.0
    paths = write_derived_series(
        sources, denoised, tmp_path / "out", model_name="acgan", model_version="1.2.0"
    )
    derived = [pydicom.dcmread(p) for p in paths]
    for src, ds in zip(sources, derived, strict=True):
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        for keyword in ("StudyInstanceUID", "FrameOfReferenceUID", "PatientID", "PatientName"):
            assert ds[keyword].value == src[keyword].value
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            assert list(ds[keyword].value) == list(src[keyword].value)
        assert ds.SliceThickness == src.SliceThickness
        assert "acgan" in ds.DerivationDescription and "1.2.0" in ds.DerivationDescription
        assert ds.DerivationCodeSequence[0].CodeValue == "113087"
        ref = ds.SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        series_ref = ds.ReferencedSeriesSequence[0]
        assert series_ref.SeriesInstanceUID == src.SeriesInstanceUID
        assert ds.SeriesNumber == src.SeriesNumber + 1000
        assert "denoised" in ds.SeriesDescription
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    back, _ = read_series(paths)
    assert np.abs(back - denoised).max() <= 0.5 + 1e-3
    assert len({ds.SeriesInstanceUID for ds in derived}) == 1


def test_derived_uids_are_deterministic_and_model_specific(series_dir):
    folder, _ = series_dir
    hu, sources = read_series(folder)
    a = derived_datasets(sources, hu, model_name="m", model_version="1")
    b = derived_datasets(sources, hu, model_name="m", model_version="1")
    c = derived_datasets(sources, hu, model_name="m", model_version="2")
    assert [d.SOPInstanceUID for d in a] == [d.SOPInstanceUID for d in b]
    assert a[0].SeriesInstanceUID == b[0].SeriesInstanceUID != c[0].SeriesInstanceUID
    assert not {d.SOPInstanceUID for d in a} & {d.SOPInstanceUID for d in c}


def test_derived_rescale_keeps_out_of_range_hu(series_dir):
    folder, _ = series_dir
    hu, sources = read_series(folder)
    wide = hu.copy()
    wide[0, 0, 0] = -3000.0  # below the source's -1024 intercept
    wide[1, 0, 0] = 70000.0  # beyond any 16-bit slope-1 encoding
    datasets = derived_datasets(sources, wide, model_name="m", model_version="1")
    back, _ = read_series(datasets)
    tolerance = float(datasets[0].RescaleSlope) / 2 + 1e-3
    assert np.abs(back - wide).max() <= tolerance
    same = derived_datasets(sources, hu, model_name="m", model_version="1")
    assert (same[0].RescaleIntercept, same[0].PixelRepresentation) == (-1024, 0)


def test_derived_from_enhanced_and_compressed_sources(tmp_path):
    hu, sources = read_series(get_testdata_file("eCT_Supplemental.dcm"))
    paths = write_derived_series(sources, hu, tmp_path, model_name="m", model_version="1")
    ds = pydicom.dcmread(paths[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.SourceImageSequence[0].ReferencedFrameNumber in (1, 2)
    assert "PerFrameFunctionalGroupsSequence" not in ds
    back, _ = read_series(paths)
    np.testing.assert_allclose(back, hu, atol=0.5)
    src = tmp_path / "j2k"
    src.mkdir()
    shutil.copy(get_testdata_file("693_J2KR.dcm"), src / "a.dcm")
    hu, sources = read_series(src)
    out = write_derived_series(sources, hu, tmp_path / "d2", model_name="m", model_version="1")
    derived = pydicom.dcmread(out[0])
    assert not derived.file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_allclose(read_series(out)[0], hu, atol=0.5)


def test_mismatched_shapes_raise(series_dir):
    folder, _ = series_dir
    hu, sources = read_series(folder)
    with pytest.raises(ValueError, match="source slices"):
        derived_datasets(sources, hu[:2], model_name="m", model_version="1")
    with pytest.raises(ValueError, match="denoised slice"):
        derived_datasets(sources, hu[:, :10], model_name="m", model_version="1")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"Modality": "MR", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.4"}, "modality MR"),
        ({"PhotometricInterpretation": "MONOCHROME1"}, "MONOCHROME1"),
        ({"RescaleType": "MGML"}, "RescaleType MGML"),  # a dual-energy iodine map
        ({"SeriesInstanceUID": None}, "no SeriesInstanceUID"),
        # A screenshot that says Modality CT: its SOP class decides.
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, "SOP class Secondary Capture"),
    ],
)
def test_what_is_not_a_ct_in_hu_is_refused_before_any_work(series_dir, edit, reason):
    _, paths = series_dir
    ds = pydicom.dcmread(paths[2])
    for keyword, value in edit.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(paths[2])
    with pytest.raises(DicomReadError, match=reason) as caught:
        read_series(paths)
    assert paths[2].name in str(caught.value)


def test_a_file_without_preamble_and_a_duplicate_copy_are_each_read_once(series_dir, volume):
    folder, paths = series_dir
    ds = pydicom.dcmread(paths[1])
    ds.preamble = None  # what some older systems write: no preamble, no "DICM"
    pydicom.dcmwrite(paths[1], ds, enforce_file_format=False)
    assert paths[1].read_bytes()[128:132] != b"DICM"
    (folder / "backup").mkdir()
    shutil.copy(paths[3], folder / "backup" / "copy-of-slice")
    # Not DICOM, though it starts like a group 0008 element: skipped like any other file.
    (folder / "volume.raw").write_bytes(b"\x08\x00" + bytes(range(256)) * 8)
    hu, headers = read_series(folder)
    assert hu.shape == volume.shape  # five slices: the copy once, the bare file too
    assert len({h.SOPInstanceUID for h in headers}) == len(volume)


def test_the_output_folder_inside_the_input_folder_is_not_read_back(series_dir, volume):
    folder, _ = series_dir
    hu, headers = read_series(folder)
    write_derived_series(headers, hu, folder / "denoised", model_name="m", model_version="1")
    with pytest.raises(DicomReadError, match="one series at a time"):
        read_series(folder)
    again, _ = read_series(folder, exclude=folder / "denoised")
    assert again.shape == volume.shape
