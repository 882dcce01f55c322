"""The association helpers work with the installed pynetdicom: the reactor-race guard finds
the private attributes it needs (this test fails when an upgrade removes them), and every
association we open or accept has Nagle's algorithm off."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from ecgbridge.backfill.query import PacsPeer
from ecgbridge.dicom.association import (
    quiet_reactor,
    reactor_guard_supported,
    with_no_delay,
)
from ecgbridge.dicom.sender import DicomNode, Timeouts, open_association
from ecgbridge.dicom.waveform import TWELVE_LEAD_ECG_STORAGE, build_ecg_waveform
from tests.results import page_3x4_result, source_image


def _no_delay_on(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.fixture()
def peer() -> Iterator[tuple[int, list[bool]]]:
    """A Verification + 12-lead ECG Storage SCP on a free loopback port; the list collects,
    per C-ECHO, whether the accepted socket had TCP_NODELAY."""
    seen: list[bool] = []

    def on_echo(event: Event) -> int:
        seen.append(_no_delay_on(event.assoc.dul.socket.socket))  # type: ignore[union-attr]
        return 0

    scp = AE(ae_title="PEER")
    scp.add_supported_context(Verification)
    scp.add_supported_context(TWELVE_LEAD_ECG_STORAGE, [ExplicitVRLittleEndian])
    server: ThreadedAssociationServer = scp.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=with_no_delay([(evt.EVT_C_ECHO, on_echo)])
    )
    try:
        yield int(server.server_address[1]), seen
    finally:
        server.shutdown()


def _peer_association(port: int) -> Association:
    ae = AE(ae_title="ECGBRIDGE")
    ae.add_requested_context(Verification)
    return PacsPeer("PEER", "127.0.0.1", port, timeout_s=10).associate(ae)


def test_quiet_reactor_blocks_the_reactor_before_a_request(
    peer: tuple[int, list[bool]],
) -> None:
    assoc = _peer_association(peer[0])
    try:
        assert reactor_guard_supported(assoc), "pynetdicom internals changed: the guard is off"
        for _ in range(20):
            quiet_reactor(assoc)
            # the reactor thread is waiting on its checkpoint: it cannot take a response
            assert assoc._reactor_checkpoint._cond._waiters  # type: ignore[attr-defined]
            assert int(assoc.send_c_echo().Status) == 0
    finally:
        assoc.release()
    quiet_reactor(assoc)  # released: nothing to guard, returns at once


def test_accepted_and_query_sockets_have_no_delay(peer: tuple[int, list[bool]]) -> None:
    port, seen = peer
    assoc = _peer_association(port)
    try:
        assert _no_delay_on(assoc.dul.socket.socket)  # type: ignore[union-attr]
        assert int(assoc.send_c_echo().Status) == 0
    finally:
        assoc.release()
    assert seen == [True]


def test_sender_association_has_no_delay(peer: tuple[int, list[bool]]) -> None:
    node = DicomNode("PEER", "127.0.0.1", peer[0],
                     timeouts=Timeouts(connection_s=5, acse_s=5, dimse_s=5, network_s=5))
    wave = build_ecg_waveform(source_image(), page_3x4_result(), digitizer_version="t",
                              weights_sha256=None)
    ae, assoc = open_association(node, [wave])
    try:
        assert assoc.is_established
        assert _no_delay_on(assoc.dul.socket.socket)  # type: ignore[union-attr]
        assert reactor_guard_supported(assoc)
    finally:
        assoc.release()
        ae.shutdown()
