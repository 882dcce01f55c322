"""Sender pieces that need no peer: status outcomes, node checks, TLS context."""
from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ecgbridge.config import TlsConfig
from ecgbridge.dicom.sender import DicomNode, status_outcome
from ecgbridge.dicom.tls import client_ssl_context


@pytest.mark.parametrize(
    ("status", "delivered", "retryable"),
    [
        (0x0000, True, False),
        (0x0001, True, False),
        (0xB000, True, False),
        (0xB007, True, False),
        (0xB006, True, False),
        (0xA700, False, True),
        (0xA7FF, False, True),
        (0xA900, False, False),
        (0xC000, False, False),
        (0xC211, False, False),
        (0x0110, False, False),
        (0x0122, False, False),
        (0x0211, False, False),
    ],
)
def test_status_outcome(status: int, delivered: bool, retryable: bool) -> None:
    assert status_outcome(status) == (delivered, retryable)


def test_node_checks_and_str() -> None:
    node = DicomNode("PACS", "127.0.0.1", 104)
    assert str(node) == "dicom://PACS@127.0.0.1:104"
    assert node.calling_ae_title == "ECGBRIDGE"
    with pytest.raises(ValueError, match="ae_title must be 1-16 characters"):
        DicomNode("A" * 17, "127.0.0.1", 104)
    with pytest.raises(ValueError, match="port must be 1..65535; found 0"):
        DicomNode("PACS", "127.0.0.1", 0)


def test_client_tls_context_verifies_peer(tmp_path: Path) -> None:
    ctx = client_ssl_context(TlsConfig())
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert not client_ssl_context(TlsConfig(), check_hostname=False).check_hostname
    with pytest.raises(FileNotFoundError):
        client_ssl_context(TlsConfig(ca=tmp_path / "missing.pem"))
