"""The backfill loop with a PACS that cannot be reached: failures are recorded and retried."""
from __future__ import annotations

import socket
from pathlib import Path

from ecgbridge.backfill.ledger import BackfillLedger
from ecgbridge.backfill.query import Candidate, PacsPeer
from ecgbridge.backfill.retrieve import GetRetriever
from ecgbridge.backfill.runner import BackfillRunner, plan
from ecgbridge.backfill.selection import Selection
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.sweeps.submit import StoreSink

SC = "1.2.840.10008.5.1.4.1.1.7"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cand(uid: str, description: str = "ECG", sop_class: str = SC) -> Candidate:
    return Candidate(study_uid="1", series_uid="1.1", sop_uid=uid, sop_class_uid=sop_class,
                     modality="OT", series_description=description, study_description="",
                     study_date="20200101", rows=1000, columns=1400, frames=None)


def test_unreachable_pacs_marks_failed_and_a_rerun_retries(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    sink = StoreSink(store, Spool(tmp_path / "spool", tmp_path / "q"))
    peer = PacsPeer("NOPE", "127.0.0.1", _closed_port(), timeout_s=5)
    ledger = BackfillLedger(tmp_path / "backfill.sqlite3")
    candidates = [_cand("1.1.1"), _cand("1.1.2", description="Photo")]
    runner = BackfillRunner("pacs", Selection(), ledger,
                            GetRetriever(peer, sink, destination="pacs"), limit=10)
    summary = runner.run(candidates)
    assert (summary.failed, summary.skipped, summary.queued) == (1, 1, 0)
    assert "no association" in summary.errors[0]
    assert ledger.state_of("1.1.1") == "failed" and ledger.state_of("1.1.2") == "skipped"
    lines = plan(candidates, Selection(), ledger.final_uids("pacs"))
    assert [(ln.action, ln.reason) for ln in lines] == [("retrieve", None), ("done", None)]
    again = BackfillRunner("pacs", Selection(), ledger,
                           GetRetriever(peer, sink, destination="pacs")).run(candidates)
    assert (again.failed, again.already_done) == (1, 1)
    assert store.list() == []
    store.close()
    ledger.close()


def test_limit_stops_after_n_retrievals(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    sink = StoreSink(store, Spool(tmp_path / "spool", tmp_path / "q"))
    peer = PacsPeer("NOPE", "127.0.0.1", _closed_port(), timeout_s=5)
    ledger = BackfillLedger(tmp_path / "backfill.sqlite3")
    summary = BackfillRunner("pacs", Selection(), ledger,
                             GetRetriever(peer, sink, destination="pacs"), limit=1,
                             ).run([_cand("1"), _cand("2"), _cand("3")])
    assert summary.failed == 1 and summary.stopped
    store.close()
    ledger.close()
