"""Scheduled folder sweeps: stable files in watched folders become jobs, exactly once.

`stability` decides when a file is complete, `lock` keeps one sweep per folder across
processes, `ledger` remembers content hashes, `sweep` runs one pass over one folder, `scheduler`
runs passes on cron or interval triggers with APScheduler 3.
"""
