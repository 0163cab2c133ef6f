"""Bogfør's production client for the Dinero API.

`DineroClient` (client.py) is the entry point; `DineroAuth` (auth.py) obtains tokens; errors
(errors.py) say what to do; money crosses to Dinero's decimals only in money.py.
"""

from bogfoer_dinero.auth import (
    Credentials,
    CredentialStore,
    DineroAuth,
    InMemoryCredentialStore,
)
from bogfoer_dinero.client import DineroClient, OrganisationClient
from bogfoer_dinero.config import DineroConfig
from bogfoer_dinero.errors import (
    DineroError,
    DineroRejected,
    DineroValidationError,
    NotFound,
    ReauthRequired,
    RetryLater,
    StaleTimestamp,
    TenantParked,
    UnknownOutcome,
)
from bogfoer_dinero.money import dinero_to_ore, ore_to_dinero
from bogfoer_dinero.observe import CallObserver, operation_of
from bogfoer_dinero.ratelimit import RateLimiter

__all__ = [
    "CallObserver",
    "CredentialStore",
    "Credentials",
    "DineroAuth",
    "DineroClient",
    "DineroConfig",
    "DineroError",
    "DineroRejected",
    "DineroValidationError",
    "InMemoryCredentialStore",
    "NotFound",
    "OrganisationClient",
    "RateLimiter",
    "ReauthRequired",
    "RetryLater",
    "StaleTimestamp",
    "TenantParked",
    "UnknownOutcome",
    "dinero_to_ore",
    "operation_of",
    "ore_to_dinero",
]
