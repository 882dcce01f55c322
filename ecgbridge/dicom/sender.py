"""Deliver result objects to a DICOM node with C-STORE (pynetdicom SCU).

`send_datasets(node, datasets)` opens one association (TLS when the node has it), proposes
one presentation context per SOP class (the dataset's own transfer syntax, plus Explicit and
Implicit VR Little Endian), sends every dataset and releases. It returns when every dataset
was stored (success or warning status) and raises `DeliveryError` otherwise:

- retryable: TCP connection refused / unreachable, association rejected or aborted, a
  timeout (no response), status 0xA7xx (out of resources);
- permanent: no accepted presentation context for a SOP class, 0xA9xx (data set does not
  match SOP class), 0xCxxx (cannot understand) and every other failure status.

Warnings (0x0001, 0xB000, 0xB006, 0xB007, ...) count as delivered. Datasets sent before a
failure stay delivered; resending is harmless because result UIDs are deterministic.

The outgoing socket has Nagle's algorithm off, and `quiet_reactor` runs before every C-STORE
on the shared association (pynetdicom's reactor race, see `ecgbridge.dicom.association`).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context

from ecgbridge.config import TlsConfig
from ecgbridge.dicom.association import quiet_reactor, with_no_delay
from ecgbridge.dicom.tls import client_ssl_context
from ecgbridge.errors import DeliveryError

LOG = logging.getLogger(__name__)

#: pynetdicom (and PS3.8) allow at most 128 presentation contexts per association.
MAX_CONTEXTS = 128


@dataclass(frozen=True)
class Timeouts:
    """Association timeouts in seconds (s): TCP connect, ACSE (association), DIMSE
    (waiting for a C-STORE response) and network (idle)."""

    connection_s: float = 10.0
    acse_s: float = 30.0
    dimse_s: float = 60.0
    network_s: float = 60.0


@dataclass(frozen=True)
class DicomNode:
    """A C-STORE SCP we deliver to: called AE title, host, port, optional TLS.

    With TLS the peer's certificate must name `host` unless `tls.verify_hostname` (the
    destination's configuration) or `check_hostname` is False.
    """

    ae_title: str
    host: str
    port: int
    tls: TlsConfig | None = None
    calling_ae_title: str = "ECGBRIDGE"
    timeouts: Timeouts = field(default_factory=Timeouts)
    check_hostname: bool = True

    def __post_init__(self) -> None:
        for name in ("ae_title", "calling_ae_title"):
            value = getattr(self, name)
            if not 1 <= len(value.strip()) <= 16 or "\\" in value:
                raise ValueError(f"{name} must be 1-16 characters without backslash; found {value!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535; found {self.port}")

    def __str__(self) -> str:
        scheme = "dicom+tls" if self.tls else "dicom"
        return f"{scheme}://{self.ae_title}@{self.host}:{self.port}"


def status_outcome(status: int) -> tuple[bool, bool]:
    """(delivered, retryable) for a C-STORE response status (PS3.4 B.2.3, PS3.7 C).

    Success 0x0000 and warnings (0x0001, 0xB000-0xBFFF) are delivered; 0xA7xx (out of
    resources) is a retryable failure; every other status is a permanent failure.
    """
    if status == 0x0000 or status == 0x0001 or 0xB000 <= status <= 0xBFFF:
        return True, False
    if 0xA700 <= status <= 0xA7FF:
        return False, True
    return False, False


def _contexts(datasets: Sequence[Dataset]) -> list[PresentationContext]:
    syntaxes: dict[str, list[str]] = {}
    for ds in datasets:
        sop_class = str(ds.get("SOPClassUID", "")).strip()
        if not sop_class:
            raise DeliveryError("a dataset to send has no SOP Class UID", retryable=False)
        meta = getattr(ds, "file_meta", None)
        own = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        wanted = syntaxes.setdefault(sop_class, [])
        for syntax in (own, ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if syntax and syntax not in wanted:
                wanted.append(syntax)
    if len(syntaxes) > MAX_CONTEXTS:
        raise DeliveryError(
            f"at most {MAX_CONTEXTS} SOP classes per association; found {len(syntaxes)}",
            retryable=False,
        )
    return [build_context(sop_class, ts) for sop_class, ts in syntaxes.items()]


def _association_failure(node: DicomNode, assoc: Association, connected: bool) -> DeliveryError:
    if not connected:
        what = "could not be reached (connection refused, unreachable or timed out)"
    elif assoc.rejected_contexts and not assoc.accepted_contexts:
        refused = sorted({str(UID(cx.abstract_syntax or "").name) for cx in assoc.rejected_contexts})
        return DeliveryError(
            f"{node} accepted no presentation context (refused: {', '.join(refused)})",
            retryable=False,
        )
    elif assoc.is_rejected:
        what = "rejected the association"
    elif assoc.is_aborted:
        what = "aborted the association (or the TLS handshake failed)"
    else:
        what = "did not answer the association request in time"
    return DeliveryError(f"{node} {what}", retryable=True)


def open_association(node: DicomNode, datasets: Sequence[Dataset]) -> tuple[AE, Association]:
    """An established association to `node` proposing the contexts `datasets` need, with
    TCP_NODELAY on its socket. The caller releases it and shuts the AE down.

    Raises DeliveryError (retryable or not, see the module docstring) when it cannot be opened.
    """
    ae = AE(ae_title=node.calling_ae_title)
    ae.connection_timeout = node.timeouts.connection_s
    ae.acse_timeout = node.timeouts.acse_s
    ae.dimse_timeout = node.timeouts.dimse_s
    ae.network_timeout = node.timeouts.network_s
    contexts = _contexts(datasets)
    tls_args = None
    if node.tls is not None:
        try:
            check_hostname = node.check_hostname and node.tls.verify_hostname
            tls_args = (client_ssl_context(node.tls, check_hostname=check_hostname), node.host)
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            raise DeliveryError(
                f"TLS settings for {node} are unusable: {error}", retryable=False
            ) from error
    connected: list[bool] = []
    assoc = ae.associate(
        node.host, node.port, contexts=contexts, ae_title=node.ae_title, tls_args=tls_args,
        evt_handlers=with_no_delay([(evt.EVT_CONN_OPEN, lambda event: connected.append(True))]),
    )
    if not assoc.is_established:
        ae.shutdown()
        raise _association_failure(node, assoc, bool(connected))
    return ae, assoc


def send_datasets(node: DicomNode, datasets: Sequence[Dataset]) -> None:
    """C-STORE every dataset to `node` over one association; see the module docstring.

    Raises DeliveryError(message, retryable=..., status=...) on the first failure.
    """
    if not datasets:
        return
    ae, assoc = open_association(node, datasets)
    try:
        for index, ds in enumerate(datasets):
            _send_one(node, assoc, ds, index, len(datasets))
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def _send_one(node: DicomNode, assoc: Association, ds: Dataset, index: int, total: int) -> None:
    uid = str(ds.get("SOPInstanceUID", "?"))
    where = f"dataset {index + 1}/{total} (SOP Instance {uid}) to {node}"
    sop_class = UID(str(ds.SOPClassUID))
    try:
        quiet_reactor(assoc)
        response = assoc.send_c_store(ds)
    except ValueError as error:  # no accepted presentation context for this SOP class / syntax
        raise DeliveryError(
            f"{where}: the peer accepted no presentation context for {sop_class.name} "
            f"({sop_class}): {error}",
            retryable=False,
        ) from error
    except RuntimeError as error:  # association lost while sending
        raise DeliveryError(f"{where}: association lost: {error}", retryable=True) from error
    if "Status" not in response:
        raise DeliveryError(
            f"{where}: no C-STORE response (timeout, abort or invalid response)", retryable=True
        )
    status = int(response.Status)
    delivered, retryable = status_outcome(status)
    if delivered:
        if status != 0x0000:
            LOG.warning("C-STORE warning status 0x%04X for %s", status, where)
        return
    comment = str(response.get("ErrorComment", "") or "")
    raise DeliveryError(
        f"{where}: C-STORE failed with status 0x{status:04X}"
        + (f" ({comment})" if comment else ""),
        retryable=retryable,
        status=status,
    )
