"""The TLS client context every connection to Kafka or PostgreSQL uses when TLS is on."""

from __future__ import annotations

import ssl


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify the server's certificate and host name against `ca_file` (the operator's
    cluster CA), or against the system's CAs when it is None. TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
