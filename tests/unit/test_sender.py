"""Sender: status outcomes, node checks, TLS context, and statuses end to end against a
pynetdicom Storage SCP on loopback."""
from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer

from ecgbridge.config import TlsConfig
from ecgbridge.dicom.sender import DicomNode, Timeouts, send_datasets, status_outcome
from ecgbridge.dicom.tls import client_ssl_context
from ecgbridge.dicom.waveform import TWELVE_LEAD_ECG_STORAGE, build_ecg_waveform
from ecgbridge.errors import DeliveryError
from tests.results import page_3x4_result, source_image


@pytest.mark.parametrize(
    ("status", "delivered", "retryable"),
    [
        (0x0000, True, False),
        (0x0001, True, False),
        (0xB000, True, False),
        (0xB007, True, False),
        (0xB006, True, False),
        (0xA700, False, True),
        (0xA7FF, False, True),
        (0xA900, False, False),
        (0xC000, False, False),
        (0xC211, False, False),
        (0x0110, False, False),
        (0x0122, False, False),
        (0x0211, False, False),
    ],
)
def test_status_outcome(status: int, delivered: bool, retryable: bool) -> None:
    assert status_outcome(status) == (delivered, retryable)


def test_node_checks_and_str() -> None:
    node = DicomNode("PACS", "127.0.0.1", 104)
    assert str(node) == "dicom://PACS@127.0.0.1:104"
    assert node.calling_ae_title == "ECGBRIDGE"
    with pytest.raises(ValueError, match="ae_title must be 1-16 characters"):
        DicomNode("A" * 17, "127.0.0.1", 104)
    with pytest.raises(ValueError, match="port must be 1..65535; found 0"):
        DicomNode("PACS", "127.0.0.1", 0)


def test_client_tls_context_verifies_peer(tmp_path: Path) -> None:
    ctx = client_ssl_context(TlsConfig())
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert not client_ssl_context(TlsConfig(), check_hostname=False).check_hostname
    with pytest.raises(FileNotFoundError):
        client_ssl_context(TlsConfig(ca=tmp_path / "missing.pem"))


# -- against a pynetdicom SCP on loopback that answers with a chosen status ---------------------

@pytest.fixture()
def scp() -> Iterator[Callable[[int], DicomNode]]:
    """`scp(status)` starts a Storage SCP on a free loopback port answering `status` to every
    C-STORE (and refusing associations called anything but "STATUSSCP")."""
    servers: list[ThreadedAssociationServer] = []

    def start(status: int) -> DicomNode:
        ae = AE(ae_title="STATUSSCP")
        ae.require_called_aet = True
        ae.add_supported_context(TWELVE_LEAD_ECG_STORAGE, [ExplicitVRLittleEndian])
        handlers = [(evt.EVT_C_STORE, lambda event: status)]
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        servers.append(server)
        return DicomNode("STATUSSCP", "127.0.0.1", server.server_address[1],
                         timeouts=Timeouts(connection_s=5, acse_s=5, dimse_s=5, network_s=5))

    yield start
    for server in servers:
        server.shutdown()


def _waveform() -> Dataset:
    return build_ecg_waveform(source_image(), page_3x4_result(), digitizer_version="t",
                              weights_sha256=None)


@pytest.mark.parametrize(
    ("status", "retryable"), [(0xA700, True), (0xA900, False), (0xC000, False), (0x0110, False)]
)
def test_failure_statuses(scp: Callable[[int], DicomNode], status: int, retryable: bool) -> None:
    with pytest.raises(DeliveryError) as info:
        send_datasets(scp(status), [_waveform()])
    assert info.value.status == status and info.value.retryable is retryable
    assert f"0x{status:04X}" in info.value.message


@pytest.mark.parametrize("status", [0x0000, 0xB000, 0xB007])
def test_success_and_warnings_deliver(scp: Callable[[int], DicomNode], status: int) -> None:
    send_datasets(scp(status), [_waveform(), _waveform()])


def test_wrong_called_ae_is_rejected_and_retryable(scp: Callable[[int], DicomNode]) -> None:
    node = scp(0x0000)
    wrong = dataclasses.replace(node, ae_title="SOMEONEELSE")
    with pytest.raises(DeliveryError, match="rejected the association") as info:
        send_datasets(wrong, [_waveform()])
    assert info.value.retryable and info.value.status is None


def _recording_scp(ae_title: str, ssl_context: ssl.SSLContext | None = None
                   ) -> tuple[ThreadedAssociationServer, list[str]]:
    """A pynetdicom Storage SCP on a free loopback port accepting 12-lead ECG objects:
    (server, SOP Instance UIDs stored, in arrival order)."""
    stored: list[str] = []
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(TWELVE_LEAD_ECG_STORAGE, [ExplicitVRLittleEndian])

    def on_store(event: evt.Event) -> int:
        stored.append(str(event.request.AffectedSOPInstanceUID))  # type: ignore[union-attr]
        return 0

    server = ae.start_server(("127.0.0.1", 0), block=False, ssl_context=ssl_context,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    if server is None:  # block=False always returns the running server
        raise RuntimeError("pynetdicom started no server")
    return server, stored


def test_nothing_to_send_opens_no_association() -> None:
    send_datasets(DicomNode("X", "127.0.0.1", 1), [])


def test_many_datasets_over_one_association_all_arrive() -> None:
    """Back-to-back C-STOREs on one association (guarded against pynetdicom's reactor race):
    each is answered and stored once."""
    server, stored = _recording_scp("COUNTSCP")
    try:
        waves = [build_ecg_waveform(source_image(), page_3x4_result(), digitizer_version=f"v{i}",
                                    weights_sha256=None) for i in range(12)]
        node = DicomNode("COUNTSCP", "127.0.0.1", server.server_address[1],
                         timeouts=Timeouts(connection_s=5, acse_s=5, dimse_s=5, network_s=5))
        send_datasets(node, waves)
    finally:
        server.shutdown()
    assert stored == [str(w.SOPInstanceUID) for w in waves]


def test_tls_verify_hostname(tmp_path: Path) -> None:
    """A peer whose certificate (signed by our CA) does not name the host we dial: refused
    while verify_hostname is on (the default), delivered when the destination turns it off."""
    from ecgbridge.dicom.scp import server_ssl_context
    from tests.integration.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    # the client certificate (CN=client, no SAN) serves as the peer's: it names no host
    peer_tls = TlsConfig(cert=pki.client.cert, key=pki.client.key)
    server, stored = _recording_scp("TLSSCP", server_ssl_context(peer_tls))
    fast = Timeouts(connection_s=5, acse_s=5, dimse_s=5, network_s=5)
    port = server.server_address[1]
    try:
        strict = TlsConfig(ca=pki.server.ca)
        with pytest.raises(DeliveryError) as info:
            send_datasets(DicomNode("TLSSCP", "127.0.0.1", port, tls=strict, timeouts=fast),
                          [_waveform()])
        assert info.value.retryable and not stored
        lax = TlsConfig(ca=pki.server.ca, verify_hostname=False)
        send_datasets(DicomNode("TLSSCP", "127.0.0.1", port, tls=lax, timeouts=fast),
                      [_waveform()])
        assert len(stored) == 1
        untrusted = TlsConfig(ca=pki.rogue_client.ca, verify_hostname=False)
        with pytest.raises(DeliveryError):  # the certificate itself is still verified
            send_datasets(DicomNode("TLSSCP", "127.0.0.1", port, tls=untrusted, timeouts=fast),
                          [_waveform()])
        assert len(stored) == 1
    finally:
        server.shutdown()
