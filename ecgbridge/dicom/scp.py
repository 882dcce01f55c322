"""The DICOM listener: Verification and Storage (Secondary Capture, 4 multi-frame SC classes,
Encapsulated PDF) over pynetdicom, with calling-AE and host allow-lists, optional TLS, an
association limit and timeouts.

`handle_store` only spools: it writes the object as received (no decoding) to a spool file with
fsync, records a job row, and only then answers 0x0000. Any failure on that path is answered
with the status `status_for_error` gives (disk full, database error -> 0xA700), never dropped.
A SOP Instance UID already in the store is acknowledged and not processed again.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    EncapsulatedPDFStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameSingleBitSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from ecgbridge.config import ScpConfig, TlsConfig
from ecgbridge.dicom.association import set_no_delay
from ecgbridge.dicom.status import Status, status_for_error
from ecgbridge.errors import ConfigError, InputError
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.logging import get_logger
from ecgbridge.metrics import Metrics

#: Storage SOP classes we accept.
STORAGE_CLASSES: tuple[str, ...] = (
    SecondaryCaptureImageStorage,
    MultiFrameSingleBitSecondaryCaptureImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    EncapsulatedPDFStorage,
)

#: Transfer syntaxes accepted for storage. pynetdicom accepts, per proposed context, the first
#: syntax of THIS list that the sender proposed: compressed syntaxes come first so that a file is
#: taken in the syntax it was stored in (senders propose the file's own syntax plus uncompressed
#: fallbacks, and many cannot transcode); lossless before lossy, then uncompressed (deflated only
#: when asked for alone: pynetdicom's default proposal lists it after explicit/implicit).
TRANSFER_SYNTAXES: tuple[str, ...] = (
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLosslessSV1,
    JPEGLossless,
    RLELossless,
    JPEG2000,
    JPEGLSNearLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)


def server_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """TLS context of the listener: our cert/key; peers verified against `ca` when given,
    required to present a certificate when `require_client_cert`."""
    if tls.cert is None or tls.key is None:
        raise ValueError("a TLS listener needs cert and key; found none")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"scp.tls.cert/key: cannot load {tls.cert} / {tls.key}: {exc}") from exc
    if tls.ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(tls.ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"scp.tls.ca: cannot load {tls.ca}: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def host_allowed(address: str, allowed: list[str]) -> bool:
    """True when `allowed` is empty or `address` matches an entry (IP, CIDR or host name)."""
    if not allowed:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address in allowed
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            try:
                if address in {info[4][0] for info in socket.getaddrinfo(entry, None)}:
                    return True
            except OSError:
                continue
    return False


_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def is_valid_uid(uid: str) -> bool:
    """A DICOM UID: digits and dots, at most 64 characters (it names archive folders)."""
    return len(uid) <= 64 and _UID.match(uid) is not None


class StorageScp:
    """The listening service. `start()` binds (port 0: any free port); `stop()` drains.

    route: calling AE title -> destination name (None: results stay local).
    on_received: called after each accepted object (wakes the workers).
    """

    def __init__(
        self,
        config: ScpConfig,
        store: JobStore,
        spool: Spool,
        metrics: Metrics,
        route: Callable[[str], str | None],
        on_received: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.store = store
        self.spool = spool
        self.metrics = metrics
        self.route = route
        self.on_received = on_received
        self.log = get_logger(__name__)
        self._server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()
        # built now so that bad TLS files stop the service before anything starts
        self._ssl_context = server_ssl_context(config.tls) if config.tls else None
        self.ae = self._make_ae()

    def _make_ae(self) -> AE:
        cfg = self.config
        ae = AE(ae_title=cfg.ae_title)
        ae.add_supported_context(Verification)
        for sop_class in STORAGE_CLASSES:
            ae.add_supported_context(sop_class, list(TRANSFER_SYNTAXES))
        ae.require_calling_aet = list(cfg.allowed_calling_aes)
        ae.maximum_associations = cfg.max_associations
        ae.maximum_pdu_size = cfg.max_pdu_size
        ae.acse_timeout = cfg.timeouts.acse_s
        ae.dimse_timeout = cfg.timeouts.dimse_s
        ae.network_timeout = cfg.timeouts.network_s
        return ae

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        if self._server is None:
            raise RuntimeError("the SCP is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> tuple[str, int]:
        """Start listening in background threads; returns the bound (host, port)."""
        ssl_context = self._ssl_context
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_REJECTED, self._log_rejected),
            (evt.EVT_CONN_OPEN, set_no_delay),
        ]
        server = self.ae.start_server(
            (self.config.host, self.config.port), block=False, evt_handlers=handlers,
            ssl_context=ssl_context,
        )
        if server is None:  # block=False always returns the server
            raise RuntimeError("pynetdicom returned no server for a non-blocking start")
        allowed = list(self.config.allowed_hosts)
        log = self.log

        def verify_request(request: Any, client_address: Any) -> bool:
            ok = host_allowed(str(client_address[0]), allowed)
            if not ok:
                log.warning("association refused: host not allowed", peer_host=client_address[0])
            return ok

        # socketserver's documented hook: a False return closes the connection unanswered.
        server.verify_request = verify_request  # type: ignore[method-assign]
        self._server = server
        self.log.info("scp listening", ae_title=self.config.ae_title, address=self.address,
                      tls=ssl_context is not None)
        return self.address

    def stop(self, drain_s: float = 30.0) -> None:
        """Stop accepting associations, let active ones finish up to `drain_s`, abort the rest."""
        with self._lock:
            server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        deadline = time.monotonic() + drain_s
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        for assoc in self.ae.active_associations:
            assoc.abort()
        self.log.info("scp stopped")

    # -- handlers (run on association threads: keep them fast) -----------------------------
    def handle_echo(self, event: Event) -> int:
        return int(Status.SUCCESS)

    def _log_rejected(self, event: Event) -> None:
        self.log.warning("association rejected", calling_ae=event.assoc.requestor.ae_title,
                         peer_host=event.assoc.requestor.address)

    def handle_store(self, event: Event) -> int:
        """Spool the object durably and record its job, then answer (see module docstring)."""
        started = time.perf_counter()
        request = cast(C_STORE, event.request)
        sop_uid = str(request.AffectedSOPInstanceUID)
        sop_class = str(request.AffectedSOPClassUID)
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        peer_host = str(event.assoc.requestor.address)
        log = self.log.bind(sop_instance_uid=sop_uid, calling_ae=calling_ae)
        try:
            if not is_valid_uid(sop_uid):
                raise InputError(f"Affected SOP Instance UID {sop_uid[:80]!r} is not a DICOM UID "
                                 "(1-64 characters of digits and dots)")
            if self.store.has_sop(sop_uid):
                self.metrics.duplicates.inc()
                log.info("duplicate object acknowledged, not processed again")
                return int(Status.SUCCESS)
            job_id = uuid.uuid4().hex
            data = event.encoded_dataset(include_meta=True)
            spool_started = time.perf_counter()
            path = self.spool.put(job_id, data)
            db_started = time.perf_counter()
            try:
                inserted = self.store.insert_received(
                    job_id, sop_instance_uid=sop_uid, sop_class_uid=sop_class,
                    calling_ae=calling_ae, peer_host=peer_host, spool_path=path,
                    destination=self.route(calling_ae),
                )
            except BaseException:
                self.spool.remove(path)
                raise
            if not inserted:
                self.spool.remove(path)
                self.metrics.duplicates.inc()
                log.info("duplicate object acknowledged, not processed again")
                return int(Status.SUCCESS)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answered status, never a drop
            status = status_for_error(exc)
            self.metrics.refused.labels(status=f"0x{int(status):04X}").inc()
            log.error("object refused", status=f"0x{int(status):04X}", error=str(exc),
                      error_type=type(exc).__name__)
            return int(status)
        elapsed = time.perf_counter() - started
        self.metrics.received.labels(calling_ae=calling_ae).inc()
        self.metrics.ack_latency.observe(elapsed)
        log.info("object received", job_id=job_id, bytes=len(data),
                 ack_ms=round(elapsed * 1e3, 2),
                 spool_ms=round((db_started - spool_started) * 1e3, 2),
                 db_ms=round((time.perf_counter() - db_started) * 1e3, 2))
        self.on_received()
        return int(Status.SUCCESS)
