"""Backfill pieces without a PACS: token bucket, time window, selection, ledger, progress."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ecgbridge.backfill.ledger import BackfillLedger
from ecgbridge.backfill.pacing import TimeWindow, TokenBucket, WindowGate
from ecgbridge.backfill.progress import LedgerCollector, Progress
from ecgbridge.backfill.query import Candidate
from ecgbridge.backfill.selection import Selection

SC = "1.2.840.10008.5.1.4.1.1.7"
CT = "1.2.840.10008.5.1.4.1.1.2"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_paces_to_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(9):
        bucket.acquire()
    assert clock.now == pytest.approx(4.0)  # first free, then one every 0.5 s
    clock.now += 10.0  # idle: the bucket refills only up to its burst
    bucket.acquire()
    bucket.acquire()
    assert clock.now == pytest.approx(14.5)


def test_token_bucket_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(0)


def test_window_across_midnight() -> None:
    w = TimeWindow.parse("19:00-06:00")
    day = dt.datetime(2024, 3, 1)
    assert w.is_open(day.replace(hour=23)) and w.is_open(day.replace(hour=5, minute=59))
    assert not w.is_open(day.replace(hour=6)) and not w.is_open(day.replace(hour=12))
    assert w.seconds_until_open(day.replace(hour=18, minute=30)) == 1800
    assert w.seconds_until_open(day.replace(hour=20)) == 0
    same_day = TimeWindow.parse("08:00-17:30")
    assert same_day.seconds_until_open(day.replace(hour=18)) == 14 * 3600
    assert str(same_day) == "08:00-17:30"


@pytest.mark.parametrize("text", ["7pm-6am", "25:00-06:00", "19:00-19:00", "19:00"])
def test_window_parse_errors(text: str) -> None:
    with pytest.raises(ValueError, match="19:00-06:00|invalid|equal"):
        TimeWindow.parse(text)


def test_gate_sleeps_until_window_opens() -> None:
    clock = FakeClock()
    start = dt.datetime(2024, 3, 1, 17, 0)
    gate = WindowGate(TimeWindow.parse("19:00-06:00"),
                      now=lambda: start + dt.timedelta(seconds=clock.now),
                      sleep=clock.sleep, max_sleep_s=600)
    pauses: list[float] = []
    assert gate.wait_open(pauses.append) == 7200
    assert clock.slept == [600] * 12 and pauses[0] == 7200
    assert gate.wait_open() == 0


def _cand(**kw: object) -> Candidate:
    base = {"study_uid": "1", "series_uid": "1.1", "sop_uid": "1.1.1", "sop_class_uid": SC,
                "modality": "OT", "series_description": "ECG 12-lead", "study_description": "",
                "study_date": "20200101", "rows": 1700, "columns": 2200, "frames": None}
    base.update(kw)
    return Candidate(**base)  # type: ignore[arg-type]


def test_selection_reasons() -> None:
    sel = Selection()
    assert sel.skip_reason(_cand()) is None
    assert sel.skip_reason(_cand(series_description="", study_description="EKG rest")) is None
    assert sel.skip_reason(_cand(sop_class_uid=CT)) == "sop_class_not_ecg_picture"
    assert sel.skip_reason(_cand(series_description="Wound photo")) == "description_not_ecg"
    assert sel.skip_reason(_cand(rows=120, columns=200)) == "image_too_small"
    custom = Selection(modalities=("DOC",), series_description="*rhythm*")
    assert custom.skip_reason(_cand()) == "modality_not_selected"
    assert custom.skip_reason(_cand(modality="DOC")) == "description_not_ecg"
    assert custom.skip_reason(_cand(modality="DOC", series_description="Rhythm strip")) is None


def test_ledger_final_states_are_kept(tmp_path: Path) -> None:
    ledger = BackfillLedger(tmp_path / "b.sqlite3")
    common = {"pacs": "pacs", "study_uid": "1", "series_uid": "1.1"}
    ledger.mark("a", state="failed", reason="timeout", **common)  # type: ignore[arg-type]
    assert ledger.final_uids("pacs") == set()
    ledger.mark("a", state="queued", job_id="j1", **common)  # type: ignore[arg-type]
    ledger.mark("a", state="failed", reason="late", **common)  # type: ignore[arg-type]
    ledger.mark("b", state="skipped", reason="description_not_ecg", **common)  # type: ignore[arg-type]
    assert ledger.state_of("a") == "queued"
    assert ledger.final_uids("pacs") == {"a", "b"} and ledger.final_uids("other") == set()
    assert ledger.counts() == {"queued": 1, "skipped": 1, "failed": 0}
    assert ledger.skip_reasons("pacs") == {"description_not_ecg": 1}
    ledger.close()
    registry = CollectorRegistry()
    registry.register(LedgerCollector(tmp_path / "b.sqlite3"))
    assert registry.get_sample_value("ecgbridge_backfill_ledger_items", {"state": "queued"}) == 1


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_eta_and_gauges() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    stream = FakeTty()
    progress = Progress(4, "pacs", registry, stream=stream, clock=clock)
    progress.advance("skipped")
    clock.now = 2.0
    progress.advance("queued")
    clock.now = 4.0
    progress.advance("queued")  # 2 retrievals in 4 s: 0.5/s, 1 left -> ETA 2 s
    assert progress.eta_s() == pytest.approx(2.0)
    assert "3/4" in stream.getvalue() and "ETA 00:00:02" in stream.getvalue()
    assert registry.get_sample_value("ecgbridge_backfill_remaining", {"pacs": "pacs"}) == 1
    assert registry.get_sample_value(
        "ecgbridge_backfill_items", {"pacs": "pacs", "outcome": "queued"}) == 2
    with pytest.raises(ValueError, match="outcome"):
        progress.advance("lost")
