"""Patient sidecars (JSON / CSV beside a file) and UIDs derived from content."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgbridge.inputs.errors import SidecarError
from ecgbridge.inputs.patient_sidecar import find_sidecar, identity_for, parse_sidecar

SHA = "ab" * 32


def test_no_sidecar_gives_empty_fields_and_stable_uids(tmp_path: Path) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(b"x")
    first = identity_for(image, SHA)
    again = identity_for(image, SHA)
    other = identity_for(image, "cd" * 32)
    assert first.sidecar is None
    assert first.fields.PatientName == "" and first.fields.PatientID == ""
    assert first.study_uid == again.study_uid and first.series_uid == again.series_uid
    assert first.study_uid != other.study_uid
    assert first.page_sop_instance_uid(0) != first.page_sop_instance_uid(1)
    assert first.page_sop_instance_uid(1) == again.page_sop_instance_uid(1)
    assert set(first.dataset_attributes()) == {"StudyInstanceUID", "SeriesInstanceUID"}


def test_json_sidecar(tmp_path: Path) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(b"x")
    (tmp_path / "scan.json").write_text(json.dumps({
        "PatientName": "Doe^Jane", "PatientID": "123", "PatientBirthDate": "1950-02-01",
        "PatientSex": "f", "StudyTime": "09:30:00", "StudyInstanceUID": "1.2.826.0.1.3680043.2.1",
    }))
    ident = identity_for(image, SHA)
    assert ident.sidecar == tmp_path / "scan.json"
    assert ident.fields.PatientBirthDate == "19500201"
    assert ident.fields.PatientSex == "F"
    assert ident.fields.StudyTime == "093000"
    assert ident.study_uid == "1.2.826.0.1.3680043.2.1"
    attrs = ident.dataset_attributes()
    assert attrs["PatientName"] == "Doe^Jane" and attrs["PatientID"] == "123"


def test_csv_sidecar_with_full_name(tmp_path: Path) -> None:
    pdf = tmp_path / "export.pdf"
    pdf.write_bytes(b"%PDF-")
    (tmp_path / "export.pdf.csv").write_text(
        "PatientID,PatientName,StudyDate\n\"77\",\"Roe^Richard\",20240105\n"
    )
    assert find_sidecar(pdf) == tmp_path / "export.pdf.csv"
    fields = identity_for(pdf, SHA).fields
    assert (fields.PatientID, fields.PatientName, fields.StudyDate) == (
        "77", "Roe^Richard", "20240105")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("a.json", "{not json", "not valid JSON"),
        ("a.json", "[1, 2]", "JSON object"),
        ("a.json", '{"PatientNmae": "x"}', "PatientNmae"),
        ("a.json", '{"PatientBirthDate": "01/02/1950"}', "PatientBirthDate"),
        ("a.json", '{"PatientSex": "X"}', "PatientSex"),
        ("a.json", '{"StudyInstanceUID": "1.2.abc"}', "StudyInstanceUID"),
        ("a.csv", "PatientID\n1\n2\n", "one value row"),
        ("a.csv", "PatientID,PatientName\n1\n", "2 columns"),
    ],
)
def test_bad_sidecars_name_the_problem(
    tmp_path: Path, name: str, content: str, match: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SidecarError, match=match):
        parse_sidecar(path)
