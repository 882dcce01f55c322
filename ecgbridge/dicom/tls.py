"""TLS context of our DICOM client side (the C-STORE SCU that delivers results).

The listener's context is `ecgbridge.dicom.scp.server_ssl_context`; both read the same
`ecgbridge.config.TlsConfig` (PEM files: cert/key = our identity, ca = whom we trust).
"""
from __future__ import annotations

import ssl

from ecgbridge.config import TlsConfig


def client_ssl_context(tls: TlsConfig, *, check_hostname: bool = True) -> ssl.SSLContext:
    """An `ssl.SSLContext` for connecting to a TLS DICOM peer (TLS >= 1.2).

    The peer's certificate is always verified: against `tls.ca` when given, else against the
    system's trusted CAs. `check_hostname` also requires the certificate to name the host we
    dial (an IP SAN when dialling an address). `tls.cert`/`tls.key`, when given, are our
    client certificate for peers that require one.
    Raises FileNotFoundError / ssl.SSLError for missing or unreadable files.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=_path(tls.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if tls.cert is not None:
        ctx.load_cert_chain(certfile=str(tls.cert), keyfile=_path(tls.key))
    return ctx


def _path(value: object) -> str | None:
    return None if value is None else str(value)
