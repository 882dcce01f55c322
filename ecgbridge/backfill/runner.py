"""The back-conversion loop: query, select, pace, retrieve, record, report.

For each candidate found by C-FIND: already queued/skipped in the ledger -> counted and passed;
not an ECG picture -> recorded as skipped with its reason; otherwise the loop waits for the time
window and a rate token, retrieves the instance into the job store and records it as queued
(or failed, to be tried again on the next run). `stop` (SIGTERM/SIGINT) ends the loop after the
current item; a kill -9 loses at most the current item's ledger row, and re-running redoes it
without a duplicate job (the job store keys jobs by SOP Instance UID).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ecgbridge.backfill.ledger import BackfillLedger
from ecgbridge.backfill.pacing import TokenBucket, WindowGate
from ecgbridge.backfill.progress import Progress
from ecgbridge.backfill.query import Candidate
from ecgbridge.backfill.retrieve import Retriever
from ecgbridge.backfill.selection import Selection
from ecgbridge.logging import get_logger


@dataclass
class Summary:
    """Counts of one run; `new_jobs` are jobs created by this run (others already existed)."""

    found: int = 0
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    already_done: int = 0
    new_jobs: int = 0
    stopped: bool = False
    skip_reasons: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlanLine:
    """What a dry run would do with one candidate: action retrieve / skip / done."""

    action: str
    candidate: Candidate
    reason: str | None


def plan(
    candidates: Sequence[Candidate], selection: Selection, done: set[str]
) -> list[PlanLine]:
    """The dry-run listing: per candidate, retrieve, skip (with reason) or done (earlier run)."""
    lines = []
    for c in candidates:
        if c.sop_uid in done:
            lines.append(PlanLine("done", c, None))
            continue
        reason = selection.skip_reason(c)
        lines.append(PlanLine("skip" if reason else "retrieve", c, reason))
    return lines


class BackfillRunner:
    """Runs one back-conversion over a list of candidates (see module docstring).

    limit: stop after this many retrievals (None: no limit).
    """

    def __init__(
        self,
        pacs: str,
        selection: Selection,
        ledger: BackfillLedger,
        retriever: Retriever,
        *,
        bucket: TokenBucket | None = None,
        gate: WindowGate | None = None,
        stop: threading.Event | None = None,
        limit: int | None = None,
        progress_factory: Callable[[int], Progress] | None = None,
    ) -> None:
        self.pacs = pacs
        self.selection = selection
        self.ledger = ledger
        self.retriever = retriever
        self.bucket = bucket
        self.gate = gate or WindowGate(None)
        self.stop = stop or threading.Event()
        self.limit = limit
        self.progress_factory = progress_factory
        self.log = get_logger(__name__).bind(pacs=pacs)

    def run(self, candidates: Sequence[Candidate]) -> Summary:
        summary = Summary(found=len(candidates))
        progress = self.progress_factory(len(candidates)) if self.progress_factory else None
        done = self.ledger.final_uids(self.pacs)
        retrievals = 0
        try:
            for c in candidates:
                if self.stop.is_set() or (self.limit is not None and retrievals >= self.limit):
                    summary.stopped = True
                    break
                outcome = self._one(c, done, summary, progress)
                if outcome in ("queued", "failed"):
                    retrievals += 1
                if progress is not None:
                    progress.advance(outcome)
        finally:
            self.retriever.close()
            if progress is not None:
                progress.finish()
        self.log.info("backfill run ended", found=summary.found, queued=summary.queued,
                      skipped=summary.skipped, failed=summary.failed,
                      already_done=summary.already_done, new_jobs=summary.new_jobs,
                      stopped=summary.stopped)
        return summary

    def _one(
        self, c: Candidate, done: set[str], summary: Summary, progress: Progress | None
    ) -> str:
        if c.sop_uid in done:
            summary.already_done += 1
            return "already_done"
        reason = self.selection.skip_reason(c)
        if reason is not None:
            self.ledger.mark(c.sop_uid, pacs=self.pacs, study_uid=c.study_uid,
                             series_uid=c.series_uid, state="skipped", reason=reason)
            summary.skipped += 1
            summary.skip_reasons[reason] = summary.skip_reasons.get(reason, 0) + 1
            return "skipped"
        self.gate.wait_open(progress.set_paused if progress is not None else lambda s: None)
        if progress is not None:
            progress.set_paused(0)
        if self.bucket is not None:
            self.bucket.acquire()
        got = self.retriever.retrieve(c)
        if got.job_id is None:
            self.ledger.mark(c.sop_uid, pacs=self.pacs, study_uid=c.study_uid,
                             series_uid=c.series_uid, state="failed", reason=got.error)
            summary.failed += 1
            summary.errors.append(f"{c.sop_uid}: {got.error}")
            self.log.warning("retrieval failed", sop_instance_uid=c.sop_uid, error=got.error)
            return "failed"
        self.ledger.mark(c.sop_uid, pacs=self.pacs, study_uid=c.study_uid,
                         series_uid=c.series_uid, state="queued", job_id=got.job_id)
        summary.queued += 1
        summary.new_jobs += int(got.new)
        self.log.debug("queued", sop_instance_uid=c.sop_uid, job_id=got.job_id)
        return "queued"
