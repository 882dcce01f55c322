"""Proposed configuration keys for folder sweeps (to merge into the root `Settings` as `sweeps`).

YAML example:

    sweeps:
      folders:
        - name: cardiology-scans
          path: /srv/ecg-inbox/scans
          interval_s: 60            # or: cron: "*/5 7-19 * * mon-fri"
          stable_s: 10
          destination: pacs         # results of inputs with DICOM metadata go here
          pdf_dpi: 200
"""
from __future__ import annotations

from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class SweepFolderConfig(BaseModel):
    """One watched folder and its rules.

    name: short unique name (logs, metrics, job origin `sweep:<name>`).
    path: the folder swept (top level only; hidden files and sidecars are not inputs).
    done_dir / failed_dir: where inputs go afterwards (default `<path>/done`, `<path>/failed`).
    interval_s / cron: schedule; exactly one of them (cron: 5-field crontab, server time zone).
    stable_s: a file is taken once its size and mtime are unchanged across two looks this many
        seconds apart.
    destination: destination name for results of inputs that carry DICOM metadata (DICOM
        files, or images/PDF with a sidecar giving PatientID); None: the routing default.
    send_without_metadata: also send results of inputs with no patient metadata to PACS
        (default False: they go to the WFDB archive only).
    pdf_dpi / max_pages / max_pixels: PDF rendering resolution (dpi) and refusal limits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    path: Path
    done_dir: Path | None = None
    failed_dir: Path | None = None
    interval_s: float | None = Field(None, gt=0)
    cron: str | None = None
    stable_s: float = Field(5.0, ge=0)
    destination: str | None = None
    send_without_metadata: bool = False
    pdf_dpi: float = Field(200.0, ge=72, le=600)
    max_pages: int = Field(20, ge=1, le=1000)
    max_pixels: int = Field(40_000_000, ge=1)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a 5-field crontab expression ({exc}); found {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> SweepFolderConfig:
        if (self.interval_s is None) == (self.cron is None):
            raise ValueError(
                f"folder {self.name!r}: give exactly one of interval_s or cron; found "
                f"interval_s={self.interval_s!r}, cron={self.cron!r}"
            )
        return self

    @property
    def done_path(self) -> Path:
        return self.done_dir or self.path / "done"

    @property
    def failed_path(self) -> Path:
        return self.failed_dir or self.path / "failed"


class SweepsConfig(BaseModel):
    """All swept folders. `ledger`: the content-hash database (default `<state_dir>/sweeps.sqlite3`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folders: list[SweepFolderConfig] = Field(default_factory=list)
    ledger: Path | None = None

    @model_validator(mode="after")
    def _unique(self) -> SweepsConfig:
        names = [f.name for f in self.folders]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sweep folder names must be unique; repeated: {dupes}")
        paths = [f.path.resolve() for f in self.folders]
        same = sorted({str(p) for p in paths if paths.count(p) > 1})
        if same:
            raise ValueError(f"a folder may be swept by one entry only; repeated: {same}")
        return self
