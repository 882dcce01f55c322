"""12-Lead ECG Waveform Storage objects built from a digitized Secondary Capture image.

`build_ecg_waveform(source, result, ...)` makes a 1.2.840.10008.5.1.4.1.1.9.1.1 object in the
spirit of highdicom's `from_ref_dataset`: Patient and Study copied from the source image; a
new Series (Modality ECG) and SOP Instance whose UIDs derive from the source UID and the
digitizer version (`ecgbridge.dicom.uids`); equipment naming ecgbridge, the digitizer version
and the weights' SHA-256; one multiplex group of 12 channels (MDC lead codes of CID 3001,
UCUM "uV" sensitivity, SS 16-bit samples, 1 uV per unit so +-32.767 mV fits), marked
DERIVED, with samples not drawn on the page set to the Waveform Padding Value (-32768); and
references to the source image (Referenced Instance Sequence and Conversion Source
Attributes Sequence). `check_iod_limits` enforces the IOD's limits before anything is sent.

`waveform_signals_uv(ds)` reads a group back as (C, T) float32 uV with NaN for padding.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from ecgbridge import __version__ as ecgbridge_version
from ecgbridge.dicom.uids import derived_uids
from ecgbridge.errors import InputError, OutputError
from pipeline.types import LEADS, DigitizationResult

#: 12-Lead ECG Waveform Storage.
TWELVE_LEAD_ECG_STORAGE = UID("1.2.840.10008.5.1.4.1.1.9.1.1")
#: Value stored for samples that were not drawn on the page (SS).
PADDING_VALUE = -32768
#: Largest magnitude stored, in uV (1 uV per unit); larger values are clipped.
MAX_ABS_UV = 32767

#: IOD limits of the 12-lead ECG (PS3.3 A.34.3.4).
MAX_GROUPS = 5
MAX_CHANNELS = 13
MIN_FS_HZ = 200.0
MAX_FS_HZ = 1000.0
MAX_SAMPLES = 16384

#: MDC codes of the 12 leads (CID 3001 "ECG Leads"), in `LEADS` order: (code, meaning).
MDC_LEAD_CODES: dict[str, tuple[str, str]] = {
    "I": ("2:1", "Lead I"),
    "II": ("2:2", "Lead II"),
    "III": ("2:61", "Lead III"),
    "aVR": ("2:62", "Lead aVR"),
    "aVL": ("2:63", "Lead aVL"),
    "aVF": ("2:64", "Lead aVF"),
    "V1": ("2:3", "Lead V1"),
    "V2": ("2:4", "Lead V2"),
    "V3": ("2:5", "Lead V3"),
    "V4": ("2:6", "Lead V4"),
    "V5": ("2:7", "Lead V5"),
    "V6": ("2:8", "Lead V6"),
}

#: Purpose of reference for the source image: (DCM 121322, PS3.16 CID 7004 is extensible).
SOURCE_IMAGE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")

#: Contributing equipment purpose (CID 7005).
PROCESSING_EQUIPMENT = ("109102", "DCM", "Processing Equipment")
MODEL_NAME = "ecgbridge image digitizer"

DEFAULT_SERIES_NUMBER = 900
DEFAULT_SERIES_DESCRIPTION = "Digitized ECG"
DEFAULT_MANUFACTURER = "ecgbridge"

_PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_PATIENT_OPTIONAL = (
    "IssuerOfPatientID", "OtherPatientIDsSequence", "PatientAge", "PatientSize", "PatientWeight",
    "EthnicGroup", "PatientComments",
)
_STUDY_TYPE2 = ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
_STUDY_OPTIONAL = ("StudyDescription", "IssuerOfAccessionNumberSequence")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _acquisition_datetime(source: Dataset, fallback: dt.datetime) -> str:
    """Best acquisition time known for the source, as DT; the creation time when none."""
    value = str(source.get("AcquisitionDateTime", "") or "").strip()
    if value:
        return value
    for date_kw, time_kw in (
        ("AcquisitionDate", "AcquisitionTime"),
        ("ContentDate", "ContentTime"),
        ("StudyDate", "StudyTime"),
        ("SeriesDate", "SeriesTime"),
    ):
        date = str(source.get(date_kw, "") or "").strip()
        if date:
            return date + str(source.get(time_kw, "") or "").strip()
    return fallback.strftime("%Y%m%d%H%M%S")


def digital_samples(signals_uv: np.ndarray) -> np.ndarray:
    """(L, T) float uV with NaN -> (T, L) int16 multiplexed samples, NaN -> PADDING_VALUE.

    Values are rounded to whole uV and clipped to +-`MAX_ABS_UV`.
    """
    signals = np.asarray(signals_uv, dtype=np.float64)
    missing = np.isnan(signals)
    digital = np.clip(np.rint(np.nan_to_num(signals, nan=0.0)), -MAX_ABS_UV, MAX_ABS_UV)
    out = digital.astype(np.int16)
    out[missing] = PADDING_VALUE
    return np.ascontiguousarray(out.T)


def _check_result(result: DigitizationResult) -> None:
    signals = result.signals_uv
    if signals.ndim != 2 or signals.shape[0] != len(LEADS):
        raise OutputError(f"signals_uv must have shape (12, T); found {signals.shape}")
    if tuple(result.leads) != LEADS:
        raise OutputError(f"result.leads must be {LEADS}; found {tuple(result.leads)}")
    if signals.shape[1] == 0:
        raise OutputError("signals_uv has no samples (T = 0)")
    if not np.isfinite(result.fs_hz) or result.fs_hz <= 0:
        raise OutputError(f"fs_hz must be a positive number; found {result.fs_hz}")


def _check_source(source: Dataset) -> None:
    missing = [kw for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")
               if not str(source.get(kw, "") or "").strip()]
    if missing:
        raise InputError(f"source image lacks {', '.join(missing)}; cannot derive a waveform")


def build_ecg_waveform(
    source: Dataset,
    result: DigitizationResult,
    *,
    digitizer_version: str,
    weights_sha256: str | None,
    frame: int = 0,
    n_source_frames: int | None = None,
    institution_name: str | None = None,
    manufacturer: str = DEFAULT_MANUFACTURER,
    series_number: int = DEFAULT_SERIES_NUMBER,
    series_description: str = DEFAULT_SERIES_DESCRIPTION,
    now: dt.datetime | None = None,
) -> FileDataset:
    """A 12-lead ECG Waveform object for `result` digitized from frame `frame` of `source`.

    source: the received image (any SOP class; its SOP Class/Instance and Study Instance
        UIDs are required).
    result: signals_uv (L=12, T) float uV with NaN where not drawn, at fs_hz Hz.
    digitizer_version: goes into the UIDs, Software Versions and the derivation description.
    weights_sha256: hex SHA-256 (64 digits, any case) of the network weights used, or None
        (rule-based digitizer).
    frame: 0-based index of the digitized frame (or PDF page) of `source`.
    n_source_frames: how many frames or pages `source` holds; None reads NumberOfFrames
        (1 when absent). An Encapsulated PDF has pages but no NumberOfFrames: pass its
        page count.
    now: creation time (Content Date/Time); local time now when None.

    Raises InputError when the source lacks the UIDs it must have; OutputError when the
    result's shape or rate is invalid or the object breaks the IOD's limits.
    """
    _check_source(source)
    _check_result(result)
    n_frames = n_source_frames or int(source.get("NumberOfFrames", 1) or 1)
    if not 0 <= frame < n_frames:
        raise OutputError(f"frame must be in 0..{n_frames - 1} (source frames); found {frame}")
    if weights_sha256 is not None:
        weights_sha256 = weights_sha256.strip().lower()
        if len(weights_sha256) != 64 or any(c not in "0123456789abcdef" for c in weights_sha256):
            raise OutputError(f"weights_sha256 must be 64 hex digits; found {weights_sha256!r}")
    created = now or dt.datetime.now()
    uids = derived_uids(str(source.SOPInstanceUID), digitizer_version, frame)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TWELVE_LEAD_ECG_STORAGE
    meta.MediaStorageSOPInstanceUID = UID(uids.sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)

    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = TWELVE_LEAD_ECG_STORAGE
    ds.SOPInstanceUID = uids.sop_instance_uid
    ds.InstanceCreationDate = created.strftime("%Y%m%d")
    ds.InstanceCreationTime = created.strftime("%H%M%S")
    ds.ConversionSourceAttributesSequence = DicomSequence([_image_reference(source, frame)])

    # Patient, Patient Study, General Study: copied from the source
    for keyword in _PATIENT_KEYWORDS + _STUDY_TYPE2:
        setattr(ds, keyword, source.get(keyword, None))
    for keyword in _PATIENT_OPTIONAL + _STUDY_OPTIONAL:
        if keyword in source:
            ds[keyword] = source[keyword]
    ds.StudyInstanceUID = source.StudyInstanceUID

    # General Series
    ds.Modality = "ECG"
    ds.SeriesInstanceUID = uids.series_instance_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.SeriesDate = created.strftime("%Y%m%d")
    ds.SeriesTime = created.strftime("%H%M%S")

    # General Equipment
    ds.Manufacturer = manufacturer
    if institution_name:
        ds.InstitutionName = institution_name
    ds.ManufacturerModelName = MODEL_NAME
    versions = [f"ecgbridge {ecgbridge_version}", f"digitizer {digitizer_version}"]
    if weights_sha256:
        versions.append(weights_sha256)  # LO holds 64 characters: the bare hash fits
    ds.SoftwareVersions = [v[:64] for v in versions]
    ds.ContributingEquipmentSequence = DicomSequence(
        [_contribution(manufacturer, versions, digitizer_version, weights_sha256, created)]
    )

    # Waveform Identification
    ds.InstanceNumber = frame + 1
    ds.ContentDate = created.strftime("%Y%m%d")
    ds.ContentTime = created.strftime("%H%M%S")
    ds.AcquisitionDateTime = _acquisition_datetime(source, created)
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    reference.PurposeOfReferenceCodeSequence = DicomSequence([_code(*SOURCE_IMAGE_PURPOSE)])
    ds.ReferencedInstanceSequence = DicomSequence([reference])

    # Acquisition Context (type 2: present, empty)
    ds.AcquisitionContextSequence = DicomSequence([])

    # Waveform
    ds.WaveformSequence = DicomSequence(
        [_multiplex_group(result, digitizer_version)]
    )
    check_iod_limits(ds)
    return ds


def _contribution(
    manufacturer: str,
    versions: list[str],
    digitizer_version: str,
    weights_sha256: str | None,
    created: dt.datetime,
) -> Dataset:
    """Contributing Equipment item naming ecgbridge as the processing equipment."""
    item = Dataset()
    item.PurposeOfReferenceCodeSequence = DicomSequence([_code(*PROCESSING_EQUIPMENT)])
    item.Manufacturer = manufacturer
    item.ManufacturerModelName = MODEL_NAME
    item.SoftwareVersions = [v[:64] for v in versions]
    item.ContributionDateTime = created.strftime("%Y%m%d%H%M%S")
    item.ContributionDescription = (
        f"12-lead ECG digitized from a picture by ecgbridge {ecgbridge_version}, digitizer "
        f"{digitizer_version}, network weights sha256 {weights_sha256 or 'none'}"
    )
    return item


def _image_reference(source: Dataset, frame: int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if int(source.get("NumberOfFrames", 1) or 1) > 1:
        item.ReferencedFrameNumber = frame + 1
    return item


def _multiplex_group(result: DigitizationResult, digitizer_version: str) -> Dataset:
    samples = digital_samples(result.signals_uv)  # (T, L)
    n_samples, n_channels = samples.shape
    group = Dataset()
    group.WaveformOriginality = "DERIVED"
    group.NumberOfWaveformChannels = n_channels
    group.NumberOfWaveformSamples = n_samples
    group.SamplingFrequency = f"{result.fs_hz:g}"
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = DicomSequence(
        [_channel(lead, digitizer_version) for lead in LEADS]
    )
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.add(DataElement(0x5400100A, "OW", np.array([PADDING_VALUE], "<i2").tobytes()))
    group.add(DataElement(0x54001010, "OW", samples.astype("<i2").tobytes()))
    return group


def _channel(lead: str, digitizer_version: str) -> Dataset:
    code, meaning = MDC_LEAD_CODES[lead]
    channel = Dataset()
    channel.ChannelLabel = lead
    channel.ChannelSourceSequence = DicomSequence([_code(code, "MDC", meaning)])
    channel.ChannelSensitivity = "1"
    channel.ChannelSensitivityUnitsSequence = DicomSequence([_code("uV", "UCUM", "microvolt")])
    channel.ChannelSensitivityCorrectionFactor = "1"
    channel.ChannelBaseline = "0"
    channel.ChannelSampleSkew = "0"
    channel.WaveformBitsStored = 16
    channel.ChannelDerivationDescription = (
        f"digitized from image by ecgbridge {ecgbridge_version} (digitizer {digitizer_version})"
    )[:64]
    return channel


def check_iod_limits(ds: Dataset) -> None:
    """Raise OutputError unless `ds` keeps the 12-lead ECG IOD's limits.

    <= 5 multiplex groups; per group <= 13 channels, 200-1000 Hz, <= 16384 samples, SS 16-bit
    samples, a channel definition per channel and Waveform Data of channels x samples x 2 bytes.
    """
    if str(ds.get("SOPClassUID", "")) != TWELVE_LEAD_ECG_STORAGE:
        raise OutputError(
            f"SOP Class UID must be {TWELVE_LEAD_ECG_STORAGE}; found {ds.get('SOPClassUID')}"
        )
    if ds.get("Modality") != "ECG":
        raise OutputError(f"Modality must be 'ECG'; found {ds.get('Modality')!r}")
    groups = ds.get("WaveformSequence")
    if not groups:
        raise OutputError("Waveform Sequence is missing or empty")
    if len(groups) > MAX_GROUPS:
        raise OutputError(f"at most {MAX_GROUPS} multiplex groups allowed; found {len(groups)}")
    for index, group in enumerate(groups):
        where = f"multiplex group {index}"
        channels = int(group.NumberOfWaveformChannels)
        samples = int(group.NumberOfWaveformSamples)
        fs = float(group.SamplingFrequency)
        if not 1 <= channels <= MAX_CHANNELS:
            raise OutputError(f"{where}: 1..{MAX_CHANNELS} channels allowed; found {channels}")
        if not MIN_FS_HZ <= fs <= MAX_FS_HZ:
            raise OutputError(
                f"{where}: sampling frequency must be {MIN_FS_HZ:g}-{MAX_FS_HZ:g} Hz; found {fs:g}"
            )
        if not 1 <= samples <= MAX_SAMPLES:
            raise OutputError(f"{where}: 1..{MAX_SAMPLES} samples allowed; found {samples}")
        if group.WaveformSampleInterpretation != "SS" or int(group.WaveformBitsAllocated) != 16:
            raise OutputError(
                f"{where}: samples must be SS with 16 bits allocated; found "
                f"{group.WaveformSampleInterpretation} / {group.WaveformBitsAllocated}"
            )
        definitions = len(group.get("ChannelDefinitionSequence") or [])
        if definitions != channels:
            raise OutputError(
                f"{where}: {channels} channels but {definitions} channel definitions"
            )
        data = group.get("WaveformData")
        expected = channels * samples * 2
        if data is None or len(data) != expected:
            raise OutputError(
                f"{where}: Waveform Data must be {expected} bytes; "
                f"found {0 if data is None else len(data)}"
            )


def waveform_signals_uv(ds: Dataset, group: int = 0) -> np.ndarray:
    """Multiplex group `group` of `ds` as (C, T) float32 in uV, NaN where padded.

    Uses each channel's sensitivity x correction factor and baseline; sensitivity units must
    be uV or mV (CID 3440's ECG units). Raises OutputError for other units or sample types.
    """
    item = ds.WaveformSequence[group]
    if item.WaveformSampleInterpretation != "SS" or int(item.WaveformBitsAllocated) != 16:
        raise OutputError(
            f"only SS 16-bit waveforms are read; found {item.WaveformSampleInterpretation} / "
            f"{item.WaveformBitsAllocated}"
        )
    channels = int(item.NumberOfWaveformChannels)
    raw = np.frombuffer(item.WaveformData, dtype="<i2").reshape(-1, channels).T
    padding = None
    if "WaveformPaddingValue" in item:
        padding = int(np.frombuffer(item.WaveformPaddingValue[:2], dtype="<i2")[0])
    out = np.empty(raw.shape, dtype=np.float32)
    for index, channel in enumerate(item.ChannelDefinitionSequence):
        units = channel.ChannelSensitivityUnitsSequence[0].CodeValue
        to_uv = {"uV": 1.0, "mV": 1000.0}.get(units)
        if to_uv is None:
            raise OutputError(f"channel {index}: sensitivity units must be uV or mV; found {units}")
        scale = float(channel.ChannelSensitivity) * float(
            channel.get("ChannelSensitivityCorrectionFactor", 1)
        )
        baseline = float(channel.get("ChannelBaseline", 0))
        out[index] = (raw[index] * scale + baseline) * to_uv
        if padding is not None:
            out[index, raw[index] == padding] = np.nan
    return out


def lead_codes(ds: Dataset, group: int = 0) -> Sequence[str]:
    """The MDC code values of a group's channels, in channel order."""
    return [
        channel.ChannelSourceSequence[0].CodeValue
        for channel in ds.WaveformSequence[group].ChannelDefinitionSequence
    ]
