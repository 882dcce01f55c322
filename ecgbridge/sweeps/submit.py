"""Swept inputs into the service's job store, by the same path as objects received by the SCP.

A DICOM file is spooled as it is; non-DICOM pages (and pages of an Encapsulated PDF file) are
wrapped as Secondary Capture objects (`ecgbridge.inputs.wrap`) and spooled one job per page.
Each job is keyed by its SOP Instance UID, which derives from content, so submitting the same
input twice makes no second job.
"""
from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ecgbridge.dicom.scp import STORAGE_CLASSES
from ecgbridge.errors import CorruptObjectError, UnsupportedObjectError
from ecgbridge.inputs.pdf import ENCAPSULATED_PDF_SOP_CLASS, PdfLimits
from ecgbridge.inputs.wrap import secondary_captures_from_encapsulated_pdf, to_bytes
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore


@dataclass(frozen=True)
class Submitted:
    """job_ids: jobs made for the input (`sop:<uid>` for one already in the store); new: how
    many jobs were new."""

    job_ids: list[str]
    new: int


def parse_dicom_header(data: bytes, name: str) -> Dataset:
    """Parse a Part 10 file; CorruptObjectError (naming the file) when it cannot be."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        str(ds.SOPInstanceUID)
        str(ds.SOPClassUID)
    except (InvalidDicomError, AttributeError, ValueError, EOFError, KeyError, TypeError,
            OverflowError) as exc:
        raise CorruptObjectError(f"{name} cannot be parsed as DICOM: {exc}") from exc
    return ds


class StoreSink:
    """Submits swept inputs as `received` jobs of the service's JobStore.

    `origin` (e.g. `sweep:<folder>`) is recorded as the job's calling AE, so `ecgbridge jobs`
    can filter swept jobs. pdf_limits: rendering rules for Encapsulated PDF files.
    """

    def __init__(self, store: JobStore, spool: Spool, pdf_limits: PdfLimits | None = None) -> None:
        self.store = store
        self.spool = spool
        self.pdf_limits = pdf_limits or PdfLimits()

    def submit_dicom(
        self, data: bytes, *, name: str, origin: str, destination: str | None
    ) -> Submitted:
        """Spool one DICOM file (or its PDF pages as SC objects) as job(s)."""
        ds = parse_dicom_header(data, name)
        sop_class = str(ds.SOPClassUID)
        if sop_class == ENCAPSULATED_PDF_SOP_CLASS:
            pages = secondary_captures_from_encapsulated_pdf(ds, self.pdf_limits)
            return self.submit_datasets(pages, origin=origin, destination=destination)
        if sop_class not in STORAGE_CLASSES:
            raise UnsupportedObjectError(
                f"{name} has SOP class {sop_class}; expected Secondary Capture, multi-frame SC "
                "or Encapsulated PDF"
            )
        job_id, new = self.put(
            data, str(ds.SOPInstanceUID), sop_class, origin=origin, destination=destination
        )
        return Submitted([job_id], int(new))

    def submit_datasets(
        self, datasets: list[Dataset], *, origin: str, destination: str | None
    ) -> Submitted:
        """Spool datasets (with file meta) as one job each."""
        ids, new = [], 0
        for ds in datasets:
            job_id, created = self.put(
                to_bytes(ds), str(ds.SOPInstanceUID), str(ds.SOPClassUID),
                origin=origin, destination=destination,
            )
            ids.append(job_id)
            new += int(created)
        return Submitted(ids, new)

    def put(
        self, data: bytes, sop_uid: str, sop_class: str, *, origin: str,
        destination: str | None, peer_host: str = "sweep",
    ) -> tuple[str, bool]:
        """Spool one encoded object (Part 10 bytes) and record its `received` job.

        Returns (job id, True) for a new job, (`sop:<uid>`, False) when the SOP Instance UID
        already has one. Raises OutOfResourcesError (disk, database) with nothing recorded.
        """
        if self.store.has_sop(sop_uid):
            return f"sop:{sop_uid}", False
        job_id = uuid.uuid4().hex
        path = self.spool.put(job_id, data)
        try:
            inserted = self.store.insert_received(
                job_id, sop_instance_uid=sop_uid, sop_class_uid=sop_class, calling_ae=origin,
                peer_host=peer_host, spool_path=path, destination=destination,
            )
        except BaseException:
            self.spool.remove(path)
            raise
        if not inserted:
            self.spool.remove(path)
            return f"sop:{sop_uid}", False
        return job_id, True
