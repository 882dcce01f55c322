"""Retrieval of selected instances from the PACS into the service's job store.

`GetRetriever` (default): C-GET; the PACS sends the object back on our own association and the
handler spools it and records its job exactly as the SCP does for a received object (the
result goes to the `destination` named, normally the same PACS). No listening port is needed.
`MoveRetriever`: C-MOVE to our running SCP's AE title (the PACS must know that AE); the
service receives the object like any other and routes results by its calling AE.
One association is kept open across instances and reopened after a failure.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from ecgbridge.backfill.query import Candidate, PacsPeer, QueryError
from ecgbridge.dicom.association import quiet_reactor
from ecgbridge.dicom.scp import STORAGE_CLASSES, TRANSFER_SYNTAXES
from ecgbridge.dicom.status import Status, status_for_error
from ecgbridge.logging import get_logger
from ecgbridge.sweeps.submit import StoreSink


@dataclass(frozen=True)
class Retrieved:
    """Outcome of one retrieval: job_id (None when it failed), and why it failed."""

    job_id: str | None
    error: str | None = None
    new: bool = False


class Retriever(Protocol):
    """Brings one instance into the job store."""

    def retrieve(self, candidate: Candidate) -> Retrieved: ...

    def close(self) -> None: ...


def _query_for(c: Candidate) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = c.study_uid
    ds.SeriesInstanceUID = c.series_uid
    ds.SOPInstanceUID = c.sop_uid
    return ds


class GetRetriever:
    """C-GET each instance; store it through `sink` with results routed to `destination`.

    origin: recorded as the job's calling AE (the PACS's AE title by default).
    """

    def __init__(
        self, peer: PacsPeer, sink: StoreSink, *, destination: str | None, origin: str | None = None
    ) -> None:
        self.peer = peer
        self.sink = sink
        self.destination = destination
        self.origin = origin or peer.ae_title
        self.log = get_logger(__name__)
        self._assoc: Association | None = None
        self._received: dict[str, tuple[str, bool]] = {}

    def _ae(self) -> AE:
        ae = AE(ae_title=self.peer.calling_ae_title)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        for sop_class in STORAGE_CLASSES:
            ae.add_requested_context(sop_class, list(TRANSFER_SYNTAXES))
        return ae

    def _association(self) -> Association:
        if self._assoc is None or not self._assoc.is_established:
            roles = [build_role(c, scp_role=True) for c in STORAGE_CLASSES]
            self._assoc = self.peer.associate(
                self._ae(), ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
            )
        return self._assoc

    def _on_store(self, event: Event) -> int:
        request = event.request
        sop_uid = str(request.AffectedSOPInstanceUID)  # type: ignore[union-attr]
        sop_class = str(request.AffectedSOPClassUID)  # type: ignore[union-attr]
        try:
            data = event.encoded_dataset(include_meta=True)
            self._received[sop_uid] = self.sink.put(
                data, sop_uid, sop_class, origin=self.origin, destination=self.destination,
                peer_host=self.peer.host,
            )
        except Exception as exc:  # noqa: BLE001 - any failure is answered as a status
            status = status_for_error(exc)
            self.log.error("retrieved object not stored", sop_instance_uid=sop_uid,
                           status=f"0x{int(status):04X}", error=str(exc))
            return int(status)
        return int(Status.SUCCESS)

    def retrieve(self, candidate: Candidate) -> Retrieved:
        if self.sink.store.has_sop(candidate.sop_uid):
            return Retrieved(f"sop:{candidate.sop_uid}")
        try:
            assoc = self._association()
            quiet_reactor(assoc)
            last = None
            for status, _identifier in assoc.send_c_get(
                _query_for(candidate), StudyRootQueryRetrieveInformationModelGet
            ):
                if status:
                    last = int(status.Status)
        except QueryError as exc:
            self.close()
            return Retrieved(None, exc.message)
        got = self._received.pop(candidate.sop_uid, None)
        self._received.clear()  # anything else the PACS sent was not asked for
        if got is not None:
            return Retrieved(got[0], new=got[1])
        self.close()
        return Retrieved(None, f"C-GET ended with status "
                               f"{'none' if last is None else f'0x{last:04X}'}; object not stored")

    def close(self) -> None:
        if self._assoc is not None:
            if self._assoc.is_established:
                self._assoc.release()
            self._assoc = None


class MoveRetriever:
    """C-MOVE each instance to `move_ae_title` (our service's SCP, known to the PACS).

    has_job: optional check that the service recorded the SOP Instance (shared job store).
    """

    def __init__(
        self, peer: PacsPeer, move_ae_title: str,
        has_job: Callable[[str], bool] | None = None,
    ) -> None:
        self.peer = peer
        self.move_ae_title = move_ae_title
        self.has_job = has_job
        self._assoc: Association | None = None

    def _association(self) -> Association:
        if self._assoc is None or not self._assoc.is_established:
            ae = AE(ae_title=self.peer.calling_ae_title)
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            self._assoc = self.peer.associate(ae)
        return self._assoc

    def retrieve(self, candidate: Candidate) -> Retrieved:
        if self.has_job is not None and self.has_job(candidate.sop_uid):
            return Retrieved(f"sop:{candidate.sop_uid}")
        try:
            assoc = self._association()
            quiet_reactor(assoc)
            final, completed = None, 0
            for status, _identifier in assoc.send_c_move(
                _query_for(candidate), self.move_ae_title,
                StudyRootQueryRetrieveInformationModelMove,
            ):
                if status:
                    final = int(status.Status)
                    completed = int(status.get("NumberOfCompletedSuboperations", completed) or 0)
        except QueryError as exc:
            self.close()
            return Retrieved(None, exc.message)
        if final == 0x0000 and (self.has_job is None or self.has_job(candidate.sop_uid)):
            return Retrieved(f"sop:{candidate.sop_uid}", new=True)
        self.close()
        code = "none" if final is None else f"0x{final:04X}"
        return Retrieved(None, f"C-MOVE to {self.move_ae_title} ended with status {code} "
                               f"({completed} sub-operations completed)")

    def close(self) -> None:
        if self._assoc is not None:
            if self._assoc.is_established:
                self._assoc.release()
            self._assoc = None
