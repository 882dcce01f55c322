"""The Orthanc fixture itself: it answers REST and accepts a C-STORE from dcmtk."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.integration.orthanc import Modality, OrthancServer

pytestmark = pytest.mark.integration


def _tiny_sc(path: Path) -> str:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["orthanc-fixture-test"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["orthanc-fixture-study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["orthanc-fixture-series"])
    ds.PatientID, ds.PatientName, ds.Modality = "P1", "Test^Fixture", "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 2, 2, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes([0, 64, 128, 255])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def test_orthanc_answers_and_stores(
    orthanc: OrthancServer, dcmtk: Callable[[str], Path], tmp_path: Path
) -> None:
    assert orthanc.get_json("/system")["DicomAet"] == "ORTHANC"
    assert "ECGBRIDGE" in orthanc.get_json("/modalities")
    orthanc.clear()
    uid = _tiny_sc(tmp_path / "sc.dcm")
    subprocess.run(
        [str(dcmtk("storescu")), "-aet", "TESTSCU", "-aec", orthanc.aet, "127.0.0.1",
         str(orthanc.dicom_port), str(tmp_path / "sc.dcm")],
        check=True, capture_output=True, timeout=30,
    )
    [instance] = orthanc.wait_for_instances(1)
    assert orthanc.find_instances(SOPInstanceUID=uid) == [instance]
    assert orthanc.instance_tags(instance)["PatientID"] == "P1"
    assert orthanc.instance_dataset(instance).SOPInstanceUID == uid
    orthanc.register_modality("OTHER", Modality("OTHERAE", "127.0.0.1", 11113))
    assert "OTHER" in orthanc.get_json("/modalities")
    orthanc.clear()
    assert orthanc.instances() == []
