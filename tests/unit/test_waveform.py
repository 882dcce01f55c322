"""12-lead ECG waveform objects: content, round trip through a file, UIDs, IOD limits."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from ecgbridge.dicom.uids import derived_uids
from ecgbridge.dicom.waveform import (
    MDC_LEAD_CODES,
    PADDING_VALUE,
    TWELVE_LEAD_ECG_STORAGE,
    build_ecg_waveform,
    check_iod_limits,
    lead_codes,
    waveform_signals_uv,
)
from ecgbridge.errors import InputError, OutputError
from pipeline.types import LEADS
from tests.results import page_3x4_result, source_image


@pytest.fixture(autouse=True)
def strict_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invalid values raise while writing and reading (pydicom's strict validation)."""
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.RAISE)
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", pydicom.config.RAISE)


NOW = dt.datetime(2026, 1, 2, 3, 4, 5)
SHA = "0123456789abcdef" * 4


def _write_read(ds: Dataset) -> Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def test_round_trip_signals_within_one_microvolt() -> None:
    result = page_3x4_result()
    back = _write_read(build_ecg_waveform(
        source_image(), result, digitizer_version="0.1.0", weights_sha256=SHA, now=NOW
    ))
    drawn = ~np.isnan(result.signals_uv)
    # pydicom's own reading (padding is not interpreted by pydicom): (T, C) in uV
    array = back.waveform_array(0).T
    assert array.shape == result.signals_uv.shape
    assert np.max(np.abs(array[drawn] - result.signals_uv[drawn])) <= 1.0
    # our reader maps the padding value back to NaN
    signals = waveform_signals_uv(back)
    np.testing.assert_array_equal(np.isnan(signals), ~drawn)
    assert np.max(np.abs(signals[drawn] - result.signals_uv[drawn])) <= 0.5
    raw = np.frombuffer(back.WaveformSequence[0].WaveformData, "<i2").reshape(-1, 12).T
    assert np.all(raw[~drawn] == PADDING_VALUE)


def test_patient_study_copied_series_and_sop_new() -> None:
    source = source_image()
    ds = _write_read(build_ecg_waveform(
        source, page_3x4_result(), digitizer_version="0.1.0", weights_sha256=SHA, now=NOW
    ))
    for keyword in ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                    "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                    "AccessionNumber", "ReferringPhysicianName", "StudyDescription"):
        assert ds[keyword].value == source[keyword].value, keyword
    assert str(ds.PatientName) == "Müller^Jörg"
    assert ds.SOPClassUID == TWELVE_LEAD_ECG_STORAGE
    assert ds.file_meta.MediaStorageSOPClassUID == TWELVE_LEAD_ECG_STORAGE
    uids = derived_uids(source.SOPInstanceUID, "0.1.0")
    assert ds.SOPInstanceUID == uids.sop_instance_uid != source.SOPInstanceUID
    assert ds.SeriesInstanceUID == uids.series_instance_uid != source.SeriesInstanceUID
    assert ds.Modality == "ECG" and ds.SeriesDescription == "Digitized ECG"
    assert ds.AcquisitionDateTime == "20250314091212"
    assert ds.ContentDate == "20260102" and ds.ContentTime == "030405"
    assert ds.Manufacturer == "ecgbridge"
    assert "digitizer 0.1.0" in ds.SoftwareVersions and SHA in ds.SoftwareVersions
    assert SHA in ds.ContributingEquipmentSequence[0].ContributionDescription


def test_multiplex_group_definition() -> None:
    result = page_3x4_result()
    ds = _write_read(build_ecg_waveform(
        source_image(), result, digitizer_version="0.1.0", weights_sha256=None, now=NOW
    ))
    [group] = ds.WaveformSequence
    assert group.WaveformOriginality == "DERIVED"
    assert group.NumberOfWaveformChannels == 12
    assert group.NumberOfWaveformSamples == result.signals_uv.shape[1]
    assert float(group.SamplingFrequency) == 500.0
    assert group.WaveformBitsAllocated == 16 and group.WaveformSampleInterpretation == "SS"
    assert lead_codes(ds) == [MDC_LEAD_CODES[lead][0] for lead in LEADS]
    assert lead_codes(ds)[:3] == ["2:1", "2:2", "2:61"]
    for lead, channel in zip(LEADS, group.ChannelDefinitionSequence):
        source = channel.ChannelSourceSequence[0]
        assert source.CodingSchemeDesignator == "MDC"
        assert source.CodeMeaning == f"Lead {lead}"
        units = channel.ChannelSensitivityUnitsSequence[0]
        assert (units.CodeValue, units.CodingSchemeDesignator) == ("uV", "UCUM")
        assert float(channel.ChannelSensitivity) == 1.0
        assert float(channel.ChannelBaseline) == 0.0
        assert channel.WaveformBitsStored == 16
        assert channel.ChannelDerivationDescription.startswith("digitized from image by ecgbridge")
    assert ds.SoftwareVersions == ["ecgbridge 0.1.0", "digitizer 0.1.0"]


def test_references_to_source_image() -> None:
    source = source_image(frames=3)
    ds = build_ecg_waveform(
        source, page_3x4_result(), digitizer_version="0.1.0", weights_sha256=SHA, frame=2,
        now=NOW,
    )
    [ref] = ds.ReferencedInstanceSequence
    assert ref.ReferencedSOPClassUID == source.SOPClassUID
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    [conv] = ds.ConversionSourceAttributesSequence
    assert conv.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert conv.ReferencedFrameNumber == 3
    assert ds.InstanceNumber == 3
    assert ds.SOPInstanceUID == derived_uids(source.SOPInstanceUID, "0.1.0", 2).sop_instance_uid


def test_page_of_a_pdf_source_without_number_of_frames() -> None:
    source = source_image()  # stands for an Encapsulated PDF: pages, no NumberOfFrames
    ds = build_ecg_waveform(
        source, page_3x4_result(), digitizer_version="0.1.0", weights_sha256=SHA, frame=1,
        n_source_frames=2, now=NOW,
    )
    [conv] = ds.ConversionSourceAttributesSequence
    assert "ReferencedFrameNumber" not in conv
    assert ds.InstanceNumber == 2
    assert ds.SOPInstanceUID == derived_uids(source.SOPInstanceUID, "0.1.0", 1).sop_instance_uid
    with pytest.raises(OutputError, match=r"frame must be in 0..1"):
        build_ecg_waveform(source, page_3x4_result(), digitizer_version="0.1.0",
                           weights_sha256=SHA, frame=2, n_source_frames=2, now=NOW)


def test_uids_deterministic_and_distinct() -> None:
    a = derived_uids("1.2.3.4", "0.1.0")
    assert a == derived_uids("1.2.3.4", "0.1.0")
    assert a.sop_instance_uid != derived_uids("1.2.3.4", "0.2.0").sop_instance_uid
    assert a.sop_instance_uid != derived_uids("1.2.3.5", "0.1.0").sop_instance_uid
    b = derived_uids("1.2.3.4", "0.1.0", frame=1)
    assert b.series_instance_uid == a.series_instance_uid
    assert b.sop_instance_uid != a.sop_instance_uid
    assert len(a.sop_instance_uid) <= 64
    with pytest.raises(ValueError, match="valid UID"):
        derived_uids("not a uid", "0.1.0")
    with pytest.raises(ValueError, match="frame"):
        derived_uids("1.2.3", "0.1.0", frame=-1)


def test_values_beyond_32_mv_clip() -> None:
    result = page_3x4_result()
    signals = np.zeros_like(result.signals_uv)
    signals[0, :2] = [40000.0, -40000.0]
    ds = build_ecg_waveform(
        source_image(), dataclasses.replace(result, signals_uv=signals),
        digitizer_version="0.1.0", weights_sha256=None, now=NOW,
    )
    assert waveform_signals_uv(ds)[0, :2].tolist() == [32767.0, -32767.0]


@pytest.mark.parametrize(
    ("fs_hz", "n_samples", "match"),
    [(100.0, 1000, "200-1000 Hz; found 100"), (2000.0, 1000, "found 2000"),
     (500.0, 20000, "16384 samples allowed; found 20000")],
)
def test_iod_limits_refuse(fs_hz: float, n_samples: int, match: str) -> None:
    result = dataclasses.replace(
        page_3x4_result(), fs_hz=fs_hz,
        signals_uv=np.zeros((12, n_samples), dtype=np.float32),
    )
    with pytest.raises(OutputError, match=match):
        build_ecg_waveform(source_image(), result, digitizer_version="v", weights_sha256=None)


def test_check_iod_limits_on_tampered_objects() -> None:
    ds = build_ecg_waveform(
        source_image(), page_3x4_result(), digitizer_version="v", weights_sha256=None, now=NOW
    )
    check_iod_limits(ds)
    ds.WaveformSequence = [ds.WaveformSequence[0]] * 6
    with pytest.raises(OutputError, match="at most 5 multiplex groups allowed; found 6"):
        check_iod_limits(ds)
    ds.WaveformSequence = ds.WaveformSequence[:1]
    ds.WaveformSequence[0].NumberOfWaveformChannels = 14
    with pytest.raises(OutputError, match="1..13 channels allowed; found 14"):
        check_iod_limits(ds)
    ds.WaveformSequence[0].NumberOfWaveformChannels = 12
    ds.WaveformSequence[0].WaveformData = b"\0\0"
    with pytest.raises(OutputError, match="Waveform Data must be 120000 bytes; found 2"):
        check_iod_limits(ds)
    ds.Modality = "OT"
    with pytest.raises(OutputError, match="Modality"):
        check_iod_limits(ds)


def test_bad_inputs_raise() -> None:
    source = source_image()
    del source.StudyInstanceUID
    with pytest.raises(InputError, match="StudyInstanceUID"):
        build_ecg_waveform(source, page_3x4_result(), digitizer_version="v", weights_sha256=None)
    with pytest.raises(OutputError, match="weights_sha256"):
        build_ecg_waveform(
            source_image(), page_3x4_result(), digitizer_version="v", weights_sha256="xyz"
        )
    with pytest.raises(OutputError, match=r"frame must be in 0..0 \(source frames\); found 1"):
        build_ecg_waveform(
            source_image(), page_3x4_result(), digitizer_version="v", weights_sha256=None, frame=1
        )
    empty = dataclasses.replace(page_3x4_result(), signals_uv=np.zeros((12, 0), np.float32))
    with pytest.raises(OutputError, match="no samples"):
        build_ecg_waveform(source_image(), empty, digitizer_version="v", weights_sha256=None)
