"""C-FIND against a PACS, study level, then series, then instance (Study Root model).

Study level narrows by StudyDate range; series level gives Modality and SeriesDescription;
instance level gives each SOP Instance UID with its SOP Class UID and size (Rows, Columns,
NumberOfFrames) so that non-ECG objects can be skipped before anything is retrieved.
"""
from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
)

from ecgbridge.dicom.association import quiet_reactor, with_no_delay
from ecgbridge.errors import DeliveryError

__all__ = ["Candidate", "PacsPeer", "QueryError", "date_range", "find_candidates",
           "quiet_reactor"]

#: C-FIND statuses that carry a match.
_PENDING = (0xFF00, 0xFF01)


class QueryError(DeliveryError):
    """The PACS could not be reached or refused a query (retry later)."""

    reason = "pacs_query_failed"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, retryable=True, status=status)


@dataclass(frozen=True)
class PacsPeer:
    """The archive to convert: its AE title, address, and the AE title we call it from."""

    ae_title: str
    host: str
    port: int
    calling_ae_title: str = "ECGBRIDGE"
    ssl_context: ssl.SSLContext | None = None
    timeout_s: float = 60.0

    def associate(self, ae: AE, **kwargs: Any) -> Association:
        """Open an association from `ae`; QueryError when it is not established.

        TCP_NODELAY is set on the socket (`ecgbridge.dicom.association.set_no_delay`); call
        `quiet_reactor(assoc)` before each request sent on it.
        """
        ae.acse_timeout = self.timeout_s
        ae.dimse_timeout = self.timeout_s
        ae.network_timeout = self.timeout_s
        tls_args = (self.ssl_context, self.host) if self.ssl_context is not None else None
        handlers = with_no_delay(kwargs.pop("evt_handlers", None))
        assoc = ae.associate(self.host, self.port, ae_title=self.ae_title, tls_args=tls_args,
                             evt_handlers=handlers, **kwargs)
        if not assoc.is_established:
            raise QueryError(
                f"no association with {self.ae_title}@{self.host}:{self.port} "
                f"(rejected={assoc.is_rejected}, aborted={assoc.is_aborted})"
            )
        return assoc


@dataclass(frozen=True)
class Candidate:
    """One SOP Instance found in the PACS, with what the query told about it."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    modality: str
    series_description: str
    study_description: str
    study_date: str
    rows: int | None
    columns: int | None
    frames: int | None


def date_range(date_from: dt.date, date_to: dt.date) -> str:
    """DICOM range matching value for StudyDate, e.g. 20200101-20201231."""
    if date_to < date_from:
        raise ValueError(f"--to ({date_to}) is before --from ({date_from})")
    return f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"


def find_candidates(
    peer: PacsPeer, date_from: dt.date, date_to: dt.date, modalities: tuple[str, ...] = ()
) -> Iterator[Candidate]:
    """Every instance of every series (of `modalities`, when given) of every study dated in
    [date_from, date_to]. One association for the whole walk. Raises QueryError."""
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = peer.associate(ae)
    try:
        study_q = Dataset()
        study_q.QueryRetrieveLevel = "STUDY"
        study_q.StudyInstanceUID = ""
        study_q.StudyDate = date_range(date_from, date_to)
        study_q.StudyDescription = ""
        for study in _find(assoc, study_q):
            study_uid = str(study.get("StudyInstanceUID", ""))
            if not study_uid:
                continue
            series_q = Dataset()
            series_q.QueryRetrieveLevel = "SERIES"
            series_q.StudyInstanceUID = study_uid
            series_q.SeriesInstanceUID = ""
            # One modality is matched by the PACS; several are filtered here (value-list
            # matching of Modality is not supported by every PACS).
            series_q.Modality = modalities[0] if len(modalities) == 1 else ""
            series_q.SeriesDescription = ""
            for series in _find(assoc, series_q):
                series_uid = str(series.get("SeriesInstanceUID", ""))
                modality = str(series.get("Modality", ""))
                if not series_uid or (modalities and modality not in modalities):
                    continue
                inst_q = Dataset()
                inst_q.QueryRetrieveLevel = "IMAGE"
                inst_q.StudyInstanceUID = study_uid
                inst_q.SeriesInstanceUID = series_uid
                inst_q.SOPInstanceUID = ""
                inst_q.SOPClassUID = ""
                inst_q.Rows = None
                inst_q.Columns = None
                inst_q.NumberOfFrames = None
                for inst in _find(assoc, inst_q):
                    sop_uid = str(inst.get("SOPInstanceUID", ""))
                    if not sop_uid:
                        continue
                    yield Candidate(
                        study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid,
                        sop_class_uid=str(inst.get("SOPClassUID", "")), modality=modality,
                        series_description=str(series.get("SeriesDescription", "") or ""),
                        study_description=str(study.get("StudyDescription", "") or ""),
                        study_date=str(study.get("StudyDate", "") or ""),
                        rows=_int(inst.get("Rows")), columns=_int(inst.get("Columns")),
                        frames=_int(inst.get("NumberOfFrames")),
                    )
    finally:
        assoc.release()


def _find(assoc: Association, query: Dataset) -> list[Dataset]:
    """All matches of one C-FIND (collected before the next request on the association)."""
    found: list[Dataset] = []
    quiet_reactor(assoc)
    for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        if not status:
            raise QueryError(
                "C-FIND got no answer (timeout, abort, or the PACS refused the query: "
                "does it know our calling AE title?)"
            )
        code = int(status.Status)
        if code in _PENDING:
            if identifier is not None:
                found.append(identifier)
        elif code != 0x0000:
            raise QueryError(
                f"C-FIND at {query.QueryRetrieveLevel} level failed with status 0x{code:04X}",
                status=code,
            )
    return found


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None
