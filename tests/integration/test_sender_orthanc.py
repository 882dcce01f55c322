"""send_datasets against a real Orthanc: delivered and visible over REST, idempotent,
retryable when nobody listens, permanent when the peer refuses the SOP class; over TLS."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from ecgbridge.config import TlsConfig
from ecgbridge.dicom.sender import DicomNode, Timeouts, send_datasets
from ecgbridge.dicom.waveform import build_ecg_waveform, waveform_signals_uv
from ecgbridge.errors import DeliveryError
from tests.integration.orthanc import ORTHANC_BINARY, OrthancServer, free_tcp_port, start_orthanc
from tests.results import page_3x4_result, source_image

pytestmark = pytest.mark.integration
NOW = dt.datetime(2026, 1, 2, 3, 4, 5)
FAST = Timeouts(connection_s=5, acse_s=10, dimse_s=20, network_s=20)


def _waveforms(n: int) -> list[Dataset]:
    out = []
    for frame in range(n):
        out.append(build_ecg_waveform(
            source_image(frames=max(n, 1)), page_3x4_result(), digitizer_version="test-1",
            weights_sha256=None, frame=frame, now=NOW,
        ))
    return out


def test_delivered_and_visible_over_rest(orthanc: OrthancServer) -> None:
    orthanc.clear()
    sent = _waveforms(2)
    node = DicomNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port, timeouts=FAST)
    send_datasets(node, sent)
    stored = orthanc.wait_for_instances(2)
    assert len(stored) == 2
    for ds in sent:
        [instance] = orthanc.find_instances(SOPInstanceUID=str(ds.SOPInstanceUID))
        back = orthanc.instance_dataset(instance)
        assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.9.1.1"
        assert back.PatientID == "PID-42" and back.StudyInstanceUID == ds.StudyInstanceUID
        np.testing.assert_array_equal(
            np.isnan(waveform_signals_uv(back)), np.isnan(waveform_signals_uv(ds))
        )
    # a resend (same deterministic UIDs) makes no duplicate
    send_datasets(node, sent)
    assert len(orthanc.instances()) == 2
    orthanc.clear()


def test_closed_port_is_retryable() -> None:
    node = DicomNode("NOBODY", "127.0.0.1", free_tcp_port(), timeouts=FAST)
    with pytest.raises(DeliveryError) as info:
        send_datasets(node, _waveforms(1))
    assert info.value.retryable and info.value.status is None
    assert "could not be reached" in info.value.message


def test_refused_sop_class_is_permanent(orthanc: OrthancServer) -> None:
    ds = _waveforms(1)[0]
    ds.SOPClassUID = "1.2.826.0.1.3680043.8.498.999"  # a class Orthanc does not know
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    node = DicomNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port, timeouts=FAST)
    with pytest.raises(DeliveryError) as info:
        send_datasets(node, [ds])
    assert not info.value.retryable
    assert "accepted no presentation context" in info.value.message, info.value.message


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrthancServer, Path]]:
    """An Orthanc speaking DICOM over TLS that requires a client certificate from our CA."""
    if not ORTHANC_BINARY.is_file():
        pytest.skip(f"{ORTHANC_BINARY} is not installed (Debian package orthanc)")
    pytest.importorskip("cryptography")
    from tests.integration.certs import make_pki

    workdir = tmp_path_factory.mktemp("orthanc-tls")
    pki = make_pki(workdir / "pki")
    extra = {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(pki.server.cert),
        "DicomTlsPrivateKey": str(pki.server.key),
        "DicomTlsTrustedCertificates": str(pki.server.ca),
        "DicomTlsRemoteCertificateRequired": True,
    }
    with start_orthanc(workdir, extra_config=extra) as server:
        yield server, workdir / "pki"


def test_tls_delivery_and_wrong_client_certificate(tls_orthanc: tuple[OrthancServer, Path]) -> None:
    server, pki = tls_orthanc
    good = TlsConfig(cert=pki / "client.pem", key=pki / "client.key", ca=pki / "test-ca.pem")
    ds = _waveforms(1)[0]
    send_datasets(DicomNode(server.aet, "127.0.0.1", server.dicom_port, tls=good, timeouts=FAST),
                  [ds])
    assert server.find_instances(SOPInstanceUID=str(ds.SOPInstanceUID))

    rogue = TlsConfig(cert=pki / "rogue-client.pem", key=pki / "rogue-client.key",
                      ca=pki / "test-ca.pem")
    with pytest.raises(DeliveryError) as info:
        send_datasets(
            DicomNode(server.aet, "127.0.0.1", server.dicom_port, tls=rogue, timeouts=FAST), [ds]
        )
    assert info.value.retryable
    untrusted = TlsConfig(cert=pki / "client.pem", key=pki / "client.key", ca=pki / "rogue-ca.pem")
    with pytest.raises(DeliveryError):  # we do not trust the server's certificate
        send_datasets(
            DicomNode(server.aet, "127.0.0.1", server.dicom_port, tls=untrusted, timeouts=FAST),
            [ds],
        )
