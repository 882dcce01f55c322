"""The guard against pynetdicom's reactor race is active with the installed pynetdicom."""
from __future__ import annotations

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from ecgbridge.backfill.query import PacsPeer, quiet_reactor


def test_quiet_reactor_blocks_the_reactor_before_a_request() -> None:
    scp = AE(ae_title="PEER")
    scp.add_supported_context(Verification)
    server = scp.start_server(("127.0.0.1", 0), block=False)
    try:
        port = int(server.server_address[1])
        ae = AE(ae_title="ECGBRIDGE")
        ae.add_requested_context(Verification)
        assoc = PacsPeer("PEER", "127.0.0.1", port, timeout_s=10).associate(ae)
        try:
            for _ in range(20):
                quiet_reactor(assoc)
                # the reactor thread is waiting on its checkpoint: it cannot take a response
                assert assoc._reactor_checkpoint._cond._waiters
                assert int(assoc.send_c_echo().Status) == 0
        finally:
            assoc.release()
    finally:
        server.shutdown()
