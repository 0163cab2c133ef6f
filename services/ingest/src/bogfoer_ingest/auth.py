"""How a shop platform proves it speaks for a tenant (docs/ingest-api.md).

Either `Authorization: Bearer <api key>`, or a signature over the exact bytes sent:

    Bogfoer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

checked in constant time (signatures.py), within a replay window of `signature_tolerance`
seconds either side of now. Several v1 values may be sent while a secret is being rotated.
"""

from __future__ import annotations

import hmac
import time

from bogfoer_ingest.signatures import SignatureError, verify
from bogfoer_ingest.tenants import Tenant, api_key_hash
from bogfoer_kit.errors import ApiError

SIGNATURE_HEADER = "bogfoer-signature"


def authenticate(
    tenant: Tenant,
    body: bytes,
    authorization: str | None,
    signature: str | None,
    tolerance: int,
    now: float | None = None,
) -> None:
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key or tenant.api_key_sha256 is None:
            raise ApiError(401, "bad_api_key")
        if not hmac.compare_digest(api_key_hash(key.strip()), tenant.api_key_sha256):
            raise ApiError(401, "bad_api_key")
        return
    if not signature:
        raise ApiError(401, "missing_credentials", "send Bogfoer-Signature or a Bearer API key")
    if tenant.hmac_secret is None:
        raise ApiError(401, "bad_signature", "no signing secret is set for this tenant")
    try:
        verify(signature, body, tenant.hmac_secret, tolerance, time.time() if now is None else now)
    except SignatureError as exc:
        raise ApiError(401, exc.reason, exc.detail) from exc
