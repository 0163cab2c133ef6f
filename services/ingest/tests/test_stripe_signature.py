"""The double's signed webhooks pass the `stripe` library's check; tampering fails it."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from bogfoer_devstack.stripe_double import StripeWorld, sign

SECRET = "whsec_test_bogfoer"


def _payload() -> bytes:
    world = StripeWorld()
    pay = world.payment(12_500, order_id="1042")
    return json.dumps(pay.events["payment_intent.succeeded"]).encode()


def test_signed_payload_is_accepted() -> None:
    payload = _payload()
    event = stripe.Webhook.construct_event(payload, sign(payload, SECRET), SECRET)
    assert event.type == "payment_intent.succeeded"
    assert event.id.startswith("evt_")
    assert event.livemode is False


def test_tampered_payload_is_rejected() -> None:
    payload = _payload()
    header = sign(payload, SECRET)
    tampered = payload.replace(b"12500", b"1250")
    assert tampered != payload
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, SECRET)


def test_other_secret_is_rejected() -> None:
    payload = _payload()
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign(payload, "whsec_other"), SECRET)


def test_old_timestamp_is_rejected() -> None:
    payload = _payload()
    header = sign(payload, SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(payload, header, SECRET, tolerance=300)


def test_signature_is_stripes_scheme() -> None:
    """t=…,v1=… with the HMAC-SHA256 of `t.payload` — checked against the library's own."""
    payload = _payload()
    header = sign(payload, SECRET, timestamp=1_767_225_600)
    expected = stripe.WebhookSignature._compute_signature(f"1767225600.{payload.decode()}", SECRET)
    assert header == f"t=1767225600,v1={expected}"
