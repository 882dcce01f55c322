"""Pages without a DICOM object of their own become Secondary Capture datasets.

A swept PNG/JPEG/TIFF/PDF page, or one page of a received Encapsulated PDF, is wrapped in a
Secondary Capture Image (RGB, 8 bit) carrying the patient/study it belongs to, so that it goes
through exactly the same job path as an SC image received from a modality. Every UID derives
from content (file sha256 and page index, or source SOP Instance UID and page index): wrapping
the same page twice gives the same object, so the job store's SOP-Instance-UID uniqueness makes
re-runs harmless.
"""
from __future__ import annotations

import io

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from ecgbridge.inputs.patient_sidecar import InputIdentity
from ecgbridge.inputs.pdf import PdfLimits, pages_from_encapsulated_pdf

#: SOP Class UID of Secondary Capture Image Storage.
SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"
#: Patient and study attributes copied from an Encapsulated PDF to its page images.
_COPIED = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "IssuerOfPatientID",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription", "InstitutionName",
)
_TYPE2 = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber",
)


def secondary_capture(
    page: np.ndarray,
    *,
    attributes: dict[str, str],
    sop_instance_uid: str,
    page_index: int,
    page_count: int,
    conversion_type: str,
) -> Dataset:
    """One RGB page as a Secondary Capture Image dataset (with file meta, explicit VR LE).

    page: (H, W, 3) uint8 RGB. attributes: patient/study keywords, including
    StudyInstanceUID and SeriesInstanceUID. conversion_type: DICOM defined term (SD scanned
    document, SI scanned image, WSD workstation).
    """
    if page.ndim != 3 or page.shape[2] != 3 or page.dtype != np.uint8:
        raise ValueError(f"page must be (H, W, 3) uint8; found {page.shape} {page.dtype}")
    for key in ("StudyInstanceUID", "SeriesInstanceUID"):
        if not attributes.get(key):
            raise ValueError(f"attributes must give {key}; found {attributes.get(key)!r}")
    ds = Dataset()
    for key in _TYPE2:
        setattr(ds, key, "")
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.SOPClassUID = SECONDARY_CAPTURE_SOP_CLASS
    ds.SOPInstanceUID = sop_instance_uid
    ds.Modality = "OT"
    ds.ConversionType = conversion_type
    ds.SeriesNumber = 1
    ds.InstanceNumber = page_index + 1
    ds.SeriesDescription = f"ECG picture, page {page_index + 1} of {page_count}"
    ds.PatientOrientation = ""
    ds.Laterality = ""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(page.shape[0]), int(page.shape[1])
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(page).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def secondary_captures_for_input(
    pages: list[np.ndarray], identity: InputIdentity, conversion_type: str
) -> list[Dataset]:
    """SC datasets for every page of one non-DICOM input (same study and series)."""
    attrs = identity.dataset_attributes()
    return [
        secondary_capture(
            page, attributes=attrs, sop_instance_uid=identity.page_sop_instance_uid(i),
            page_index=i, page_count=len(pages), conversion_type=conversion_type,
        )
        for i, page in enumerate(pages)
    ]


def secondary_captures_from_encapsulated_pdf(
    ds: Dataset, limits: PdfLimits | None = None
) -> list[Dataset]:
    """One SC dataset per page of a received Encapsulated PDF Storage object.

    Patient and study are copied from `ds`; the series and each page's SOP Instance UID derive
    from `ds.SOPInstanceUID`, so a PDF received twice yields the same page objects.
    """
    pages = pages_from_encapsulated_pdf(ds, limits)
    source_uid = str(ds.get("SOPInstanceUID", ""))
    if not source_uid:
        from ecgbridge.errors import CorruptObjectError

        raise CorruptObjectError("Encapsulated PDF has no SOPInstanceUID; expected one")
    attrs = {k: str(ds[k].value) for k in _COPIED if k in ds and ds[k].value is not None}
    if "StudyInstanceUID" not in attrs:
        attrs["StudyInstanceUID"] = generate_uid(entropy_srcs=["ecgbridge-study", source_uid])
    attrs["SeriesInstanceUID"] = generate_uid(entropy_srcs=["ecgbridge-pdf-series", source_uid])
    return [
        secondary_capture(
            page, attributes=attrs,
            sop_instance_uid=generate_uid(entropy_srcs=["ecgbridge-pdf-page", source_uid, str(i)]),
            page_index=i, page_count=len(pages), conversion_type="WSD",
        )
        for i, page in enumerate(pages)
    ]


def to_bytes(ds: Dataset) -> bytes:
    """A dataset with file meta as DICOM Part 10 bytes."""
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()
