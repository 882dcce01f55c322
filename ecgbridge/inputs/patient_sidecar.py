"""Patient and study fields for non-DICOM inputs, from an optional sidecar beside the file.

A file `scan.png` may have a sidecar `scan.json` or `scan.csv` (same folder, same stem; the
forms `scan.png.json` / `scan.png.csv` are also accepted). Keys are DICOM keywords:

    {"PatientName": "Doe^Jane", "PatientID": "123", "PatientBirthDate": "1950-02-01",
     "PatientSex": "F", "AccessionNumber": "A1", "StudyDate": "20240105", "StudyTime": "0930",
     "StudyDescription": "ECG", "ReferringPhysicianName": "Who^Dr", "InstitutionName": "H",
     "StudyID": "1", "StudyInstanceUID": "1.2.3..."}

A CSV sidecar has a header row of the same keywords and one row of values. Unknown keys are
an error (a typo must not go unnoticed). Without a sidecar every patient field is empty.

UIDs: StudyInstanceUID comes from the sidecar when given (the result joins that study); else
it, the SeriesInstanceUID and each page's SOP Instance UID derive from the file's sha256, so
the same file always maps to the same UIDs and a re-run can never create a duplicate in PACS.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydicom.uid import generate_uid

from ecgbridge.inputs.errors import SidecarError

#: Largest sidecar we read (bytes); a bigger one is not a sidecar.
MAX_SIDECAR_BYTES = 64 * 1024
_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class PatientFields(BaseModel):
    """Patient/study attributes a sidecar may set; DICOM keywords, DICOM value formats."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    PatientName: str = ""
    PatientID: str = ""
    PatientBirthDate: str = ""
    PatientSex: str = ""
    AccessionNumber: str = ""
    StudyDate: str = ""
    StudyTime: str = ""
    StudyDescription: str = ""
    ReferringPhysicianName: str = ""
    InstitutionName: str = ""
    StudyID: str = ""
    StudyInstanceUID: str = ""

    @field_validator("PatientBirthDate", "StudyDate", mode="before")
    @classmethod
    def _date(cls, value: object) -> str:
        return _to_da(value)

    @field_validator("StudyTime", mode="before")
    @classmethod
    def _time(cls, value: object) -> str:
        text = "" if value is None else str(value).strip().replace(":", "")
        if text and not re.fullmatch(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?", text):
            raise ValueError(f"expected HHMMSS (or HH:MM:SS); found {value!r}")
        return text

    @field_validator("PatientSex", mode="before")
    @classmethod
    def _sex(cls, value: object) -> str:
        text = "" if value is None else str(value).strip().upper()
        if text not in ("", "M", "F", "O"):
            raise ValueError(f"expected one of M, F, O or empty; found {value!r}")
        return text

    @field_validator("StudyInstanceUID", mode="before")
    @classmethod
    def _uid(cls, value: object) -> str:
        text = "" if value is None else str(value).strip()
        if text and (len(text) > 64 or not _UID_RE.match(text)):
            raise ValueError(f"expected a DICOM UID (digits and dots, <= 64 chars); found {text!r}")
        return text

    @field_validator(
        "PatientName", "PatientID", "AccessionNumber", "StudyDescription",
        "ReferringPhysicianName", "InstitutionName", "StudyID", mode="before",
    )
    @classmethod
    def _text(cls, value: object) -> str:
        return "" if value is None else str(value)


@dataclass(frozen=True)
class InputIdentity:
    """Everything DICOM needs to describe one non-DICOM input file.

    fields: patient/study attributes (empty strings when unknown).
    study_uid, series_uid: UIDs of the study and series the input's pages belong to.
    sidecar: path of the sidecar that was read, or None.
    content_sha256: hex sha256 of the input file's bytes.
    """

    fields: PatientFields
    study_uid: str
    series_uid: str
    sidecar: Path | None
    content_sha256: str

    def page_sop_instance_uid(self, page_index: int) -> str:
        """SOP Instance UID standing for page `page_index` (0-based) of the input."""
        return generate_uid(entropy_srcs=["ecgbridge-input", self.content_sha256, str(page_index)])

    def dataset_attributes(self) -> dict[str, str]:
        """Patient/study keywords and values to put in a DICOM dataset (non-empty only)."""
        attrs = {k: v for k, v in self.fields.model_dump().items() if v}
        attrs["StudyInstanceUID"] = self.study_uid
        attrs["SeriesInstanceUID"] = self.series_uid
        return attrs


def sidecar_candidates(path: Path) -> list[Path]:
    """Paths where a sidecar for `path` may sit, in order of preference."""
    return [
        path.with_suffix(".json"),
        path.with_name(path.name + ".json"),
        path.with_suffix(".csv"),
        path.with_name(path.name + ".csv"),
    ]


def find_sidecar(path: Path) -> Path | None:
    """The first existing sidecar of `path`, or None. The file itself is never its sidecar."""
    for candidate in sidecar_candidates(path):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def is_sidecar_name(path: Path) -> bool:
    """True when `path` is named like a sidecar (.json / .csv); sweeps skip such files."""
    return path.suffix.lower() in (".json", ".csv")


def parse_sidecar(path: Path) -> PatientFields:
    """Read a JSON or CSV sidecar. Raises SidecarError naming the file and the bad key."""
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise SidecarError(
                f"sidecar {path.name} is {size} bytes; at most {MAX_SIDECAR_BYTES} are accepted"
            )
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SidecarError(f"cannot read sidecar {path.name}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SidecarError(f"sidecar {path.name} is not UTF-8: {exc}") from exc
    if path.suffix.lower() == ".json":
        raw = _parse_json(path.name, text)
    elif path.suffix.lower() == ".csv":
        raw = _parse_csv(path.name, text)
    else:
        raise SidecarError(f"sidecar {path.name} must end in .json or .csv")
    try:
        return PatientFields.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SidecarError(f"sidecar {path.name} is invalid: {problems}") from exc


def identity_for(path: Path, content_sha256: str) -> InputIdentity:
    """Patient fields (from the sidecar, if any) and UIDs for the input file at `path`."""
    sidecar = find_sidecar(path)
    fields = parse_sidecar(sidecar) if sidecar is not None else PatientFields()
    study_uid = fields.StudyInstanceUID or generate_uid(
        entropy_srcs=["ecgbridge-study", content_sha256]
    )
    series_uid = generate_uid(entropy_srcs=["ecgbridge-series", content_sha256])
    return InputIdentity(fields, study_uid, series_uid, sidecar, content_sha256)


def _parse_json(name: str, text: str) -> dict[str, object]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"sidecar {name} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SidecarError(f"sidecar {name} must hold a JSON object; found {type(raw).__name__}")
    return raw


def _parse_csv(name: str, text: str) -> dict[str, object]:
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if len(rows) != 2:
        raise SidecarError(
            f"sidecar {name} must have a header row and one value row; found {len(rows)} rows"
        )
    header, values = rows
    if len(header) != len(values):
        raise SidecarError(
            f"sidecar {name} has {len(header)} columns in its header but {len(values)} values"
        )
    return {key.strip(): value for key, value in zip(header, values)}


def _to_da(value: object) -> str:
    """A date as DICOM DA (YYYYMMDD); accepts YYYYMMDD or ISO YYYY-MM-DD."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise ValueError(f"expected a date YYYYMMDD or YYYY-MM-DD; found {value!r}")
