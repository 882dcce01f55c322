"""Back-conversion of an archive: find ECG images in a PACS, retrieve them, make them jobs.

`query` (C-FIND study -> series -> instance), `selection` (which objects look like ECGs),
`retrieve` (C-GET into the job store, or C-MOVE to our SCP), `ledger` (done/skipped SOP
Instance UIDs, so a re-run resumes), `pacing` (token bucket, time window), `progress` (terminal
bar, Prometheus gauges), `runner` (the loop), `cmd` (`ecgbridge backfill`).
"""
