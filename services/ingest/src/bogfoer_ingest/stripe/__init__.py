"""Stripe to canonical events: `normalise` (webhooks), `listed` (a backfill's lists), and
the API calls they and onboarding need."""

from bogfoer_ingest.stripe.api import (
    StripeApi,
    StripeBalance,
    StripeFetchError,
    StripePage,
    StripePermanent,
    StripeTransient,
    WebhookEndpoint,
)
from bogfoer_ingest.stripe.normalise import StripeEventError, listed, normalise

__all__ = [
    "StripeApi",
    "StripeBalance",
    "StripeEventError",
    "StripeFetchError",
    "StripePage",
    "StripePermanent",
    "StripeTransient",
    "WebhookEndpoint",
    "listed",
    "normalise",
]
