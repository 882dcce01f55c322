"""The SCP against a real pynetdicom SCU on loopback (port chosen at runtime): spool before
ack, duplicates, allow-lists, 0xA700 on disk/database failure, TLS client certificates."""
from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import SecondaryCaptureImageStorage, Verification  # type: ignore

from ecgbridge.config import ScpConfig, TlsConfig
from ecgbridge.dicom.scp import StorageScp, host_allowed
from ecgbridge.dicom.status import Status
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.metrics import Metrics
from tests.integration.certs import CertFiles, make_pki
from tests.integration.sc_images import make_sc, write_raw_payload


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (32, 48, 3), dtype=np.uint8)


class Harness:
    def __init__(self, tmp: Path, **scp_kwargs: object) -> None:
        self.store = JobStore(tmp / "jobs.sqlite3")
        self.spool = Spool(tmp / "spool", tmp / "quarantine", int(scp_kwargs.pop("reserve", 0)))  # type: ignore[call-overload]
        config = ScpConfig(host="127.0.0.1", port=0, **scp_kwargs)  # type: ignore[arg-type]
        self.woken = 0
        self.scp = StorageScp(config, self.store, self.spool, Metrics(self.store.counts),
                              route=lambda ae: "pacs" if ae == "MOD1" else None,
                              on_received=self._wake)
        self.port = self.scp.start()[1]

    def _wake(self) -> None:
        self.woken += 1


@pytest.fixture()
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.scp.stop(drain_s=2)


def _scu(calling: str = "MOD1", *, syntax: str = ExplicitVRLittleEndian) -> AE:
    ae = AE(calling)
    ae.add_requested_context(Verification)
    ae.add_requested_context(SecondaryCaptureImageStorage, [syntax])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae


def test_echo_and_store_spool_before_ack(harness: Harness) -> None:
    ds = make_sc(_image())
    assoc = _scu().associate("127.0.0.1", harness.port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == Status.SUCCESS
    assert assoc.send_c_store(ds).Status == Status.SUCCESS
    assoc.release()
    (job,) = harness.store.list()
    assert (job.state, job.calling_ae, job.destination) == ("received", "MOD1", "pacs")
    assert job.sop_instance_uid == ds.SOPInstanceUID
    spooled = pydicom.dcmread(job.spool_path)
    assert spooled.SOPInstanceUID == ds.SOPInstanceUID
    assert spooled.PixelData == ds.PixelData
    assert harness.woken == 1


def test_same_sop_instance_twice_makes_one_job(harness: Harness) -> None:
    ds = make_sc(_image())
    assoc = _scu().associate("127.0.0.1", harness.port)
    assert assoc.send_c_store(ds).Status == Status.SUCCESS
    assert assoc.send_c_store(ds).Status == Status.SUCCESS
    assoc.release()
    assert harness.store.counts()["received"] == 1
    assert len(list(harness.spool.spool_dir.glob("*.dcm"))) == 1


def test_compressed_transfer_syntax_is_accepted(harness: Harness) -> None:
    assoc = _scu(syntax=JPEGBaseline8Bit).associate("127.0.0.1", harness.port)
    assert assoc.is_established
    cx = assoc.accepted_contexts
    assert any(c.transfer_syntax[0] == JPEGBaseline8Bit for c in cx)
    assoc.release()


def test_zero_byte_dataset_is_acknowledged_and_spooled(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pynetdicom's documented switch to send a file's data set bytes as they are
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    path = write_raw_payload(tmp_path / "zero.dcm", b"")
    assoc = _scu().associate("127.0.0.1", harness.port)
    status = assoc.send_c_store(path)
    assoc.release()
    assert status.Status == Status.SUCCESS
    assert harness.store.counts()["received"] == 1


def test_unknown_calling_ae_is_rejected(tmp_path: Path) -> None:
    h = Harness(tmp_path, allowed_calling_aes=["MOD1"])
    try:
        assoc = _scu("INTRUDER").associate("127.0.0.1", h.port)
        assert assoc.is_rejected
        assert _scu("MOD1").associate("127.0.0.1", h.port).is_established
    finally:
        h.scp.stop(drain_s=2)


def test_host_not_in_allow_list_gets_no_association(tmp_path: Path) -> None:
    h = Harness(tmp_path, allowed_hosts=["10.1.2.0/24"])
    try:
        assoc = _scu().associate("127.0.0.1", h.port)
        assert not assoc.is_established
    finally:
        h.scp.stop(drain_s=2)
    assert host_allowed("10.1.2.7", ["10.1.2.0/24"]) and not host_allowed("10.1.3.7", ["10.1.2.0/24"])


def test_disk_reserve_exceeded_answers_out_of_resources(tmp_path: Path) -> None:
    h = Harness(tmp_path, reserve=2**62)
    try:
        assoc = _scu().associate("127.0.0.1", h.port)
        assert assoc.send_c_store(make_sc(_image())).Status == Status.OUT_OF_RESOURCES
        assoc.release()
    finally:
        h.scp.stop(drain_s=2)
    assert sum(h.store.counts().values()) == 0
    assert list(h.spool.spool_dir.glob("*.dcm")) == []


def test_database_failure_answers_out_of_resources(harness: Harness) -> None:
    harness.store.close()
    assoc = _scu().associate("127.0.0.1", harness.port)
    assert assoc.send_c_store(make_sc(_image())).Status == Status.OUT_OF_RESOURCES
    assoc.release()
    assert list(harness.spool.spool_dir.glob("*.dcm")) == []


def _client_context(files: CertFiles, server_ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_ca))
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


def test_tls_accepts_the_right_client_certificate_and_rejects_a_wrong_one(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = TlsConfig(cert=pki.server.cert, key=pki.server.key, ca=pki.server.ca,
                    require_client_cert=True)
    h = Harness(tmp_path, tls=tls)
    try:
        good = _scu().associate("127.0.0.1", h.port,
                                tls_args=(_client_context(pki.client, pki.server.ca), "127.0.0.1"))
        assert good.is_established
        assert good.send_c_store(make_sc(_image())).Status == Status.SUCCESS
        good.release()
        rogue = _scu().associate(
            "127.0.0.1", h.port,
            tls_args=(_client_context(pki.rogue_client, pki.server.ca), "127.0.0.1"))
        assert not rogue.is_established
        plain = _scu().associate("127.0.0.1", h.port)
        assert not plain.is_established
    finally:
        h.scp.stop(drain_s=2)
    assert h.store.counts()["received"] == 1


def test_missing_tls_files_are_a_config_error_naming_the_key(tmp_path: Path) -> None:
    from ecgbridge.dicom.scp import server_ssl_context
    from ecgbridge.errors import ConfigError

    with pytest.raises(ConfigError, match="scp.tls.cert/key"):
        server_ssl_context(TlsConfig(cert=tmp_path / "no.pem", key=tmp_path / "no.key"))


def test_association_limit(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_associations=1)
    try:
        first = _scu().associate("127.0.0.1", h.port)
        assert first.is_established
        second = _scu().associate("127.0.0.1", h.port)
        assert second.is_rejected
        first.release()
    finally:
        h.scp.stop(drain_s=2)


def test_a_sop_instance_uid_that_is_not_a_uid_is_refused(harness: Harness) -> None:
    ds = make_sc(_image())
    ds.SOPInstanceUID = "1.2.3/../../x"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    assoc = _scu().associate("127.0.0.1", harness.port)
    assert assoc.send_c_store(ds).Status == Status.CANNOT_UNDERSTAND
    assoc.release()
    assert sum(harness.store.counts().values()) == 0


def test_uid_check() -> None:
    from ecgbridge.dicom.scp import is_valid_uid
    from ecgbridge.jobs.worker import archive_name

    assert is_valid_uid("1.2.840.10008.5.1.4.1.1.7") and not is_valid_uid("1..2")
    assert not is_valid_uid("1." + "2" * 70) and not is_valid_uid("../x")
    assert archive_name("1.2.3") == "1.2.3"
    assert archive_name("../x").startswith("sha256-") and "/" not in archive_name("../x")
