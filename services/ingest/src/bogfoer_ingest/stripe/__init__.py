"""Stripe webhooks to canonical events: `normalise` plus the API reads it needs."""

from bogfoer_ingest.stripe.api import (
    StripeApi,
    StripeBalance,
    StripeFetchError,
    StripePermanent,
    StripeTransient,
)
from bogfoer_ingest.stripe.normalise import StripeEventError, normalise

__all__ = [
    "StripeApi",
    "StripeBalance",
    "StripeEventError",
    "StripeFetchError",
    "StripePermanent",
    "StripeTransient",
    "normalise",
]
