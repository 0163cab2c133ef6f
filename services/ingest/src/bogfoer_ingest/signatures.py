"""One signature scheme for both doors: HMAC-SHA256 over the exact bytes sent.

    <Header>: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>[,v1=…]

`Bogfoer-Signature` (docs/ingest-api.md) and Stripe's `Stripe-Signature` are the same
scheme, so one strict parser checks both: the timestamp is 1–12 ASCII digits (`²` is a
digit to `str.isdigit`, a 400-digit number overflows a float), each `v1` is 64 lower-case
hex digits (anything else is ignored, never compared), and the timestamp must lie within
`tolerance` seconds of now on *either* side (the stripe library checks only the past, so a
signature dated in the future stayed replayable for as long as its date was ahead).
"""

from __future__ import annotations

import hashlib
import hmac
import re

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(r"[0-9a-f]{64}")
# The header as signers write it, one timestamp and one signature (`sign`).
_USUAL = re.compile(r"t=([0-9]{1,12}),v1=([0-9a-f]{64})")


class SignatureError(Exception):
    """Why a signature was refused; `reason` is the error shape's machine-readable word."""

    def __init__(self, reason: str, detail: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def sign(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, without an HMAC object per request.
    return hmac.digest(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hex()


def verify(header: str, body: bytes, secret: str, tolerance: int, now: float) -> None:
    """Raise `SignatureError` unless `header` signs `body` with `secret`, dated near `now`."""
    usual = _USUAL.fullmatch(header)
    if usual is not None:  # what the parse below makes of it, in one match
        stamps, wellformed = [usual[1]], [usual[2]]
    else:
        parts = [item.partition("=") for item in header.split(",")]
        stamps = [value.strip() for key, _, value in parts if key.strip() == "t"]
        macs = [value.strip() for key, _, value in parts if key.strip() == "v1"]
        wellformed = [mac for mac in macs if _MAC.fullmatch(mac)]
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]) or not wellformed:
        raise SignatureError("bad_signature", "expected t=<unix seconds>,v1=<64 hex digits>")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature_expired", {"tolerance_seconds": tolerance})
    expected = _mac(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, mac) for mac in wellformed):
        raise SignatureError("bad_signature", "no v1 matches the body")
