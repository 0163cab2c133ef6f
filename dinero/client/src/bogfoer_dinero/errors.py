"""What went wrong talking to Dinero, named by what the caller should do about it.

Our exception hierarchy::

    DineroError                   (never raised itself)
    ├── RetryLater                nothing happened; try again after `retry_after` seconds
    │                             (429, 480 brownout, 5xx or network failure on a read,
    │                             a write that never left this process, token endpoint down)
    ├── UnknownOutcome            a write may or may not have happened (timeout, reset or 5xx
    │                             after the request was sent): never resend blindly, look the
    │                             ExternalReference up first
    ├── StaleTimestamp            400 code 58: re-read the entity and retry with its Timestamp
    ├── ReauthRequired            401 even with a freshly issued token: get new credentials
    ├── TenantParked              consent revoked (`invalid_grant`), no Pro plan (403 code
    │                             90 or 48), no access to the organisation: stop posting for
    │                             this tenant until a person fixes it
    └── DineroRejected            Dinero refused this request; dead-letter it with `message`
        ├── DineroValidationError 400 validation errors, 413, other 4xx
        └── NotFound              404, or an entity that is gone (codes 63, 65)

Every error that came from an HTTP response carries the status, Dinero's own error `code`
and `message`, and the raw body (for the dead-letter record). None carries a token.
"""

# The names say what to do (RetryLater, TenantParked), as the brief and callers use them;
# an "Error" suffix would only lengthen them.

from __future__ import annotations

__all__ = [
    "DineroError",
    "DineroRejected",
    "DineroValidationError",
    "NotFound",
    "ReauthRequired",
    "RetryLater",
    "StaleTimestamp",
    "TenantParked",
    "UnknownOutcome",
]


class DineroError(Exception):
    """Base class; carries what Dinero said, if it said anything."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: int | None = None,
        raw_body: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.raw_body = raw_body
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        status = f" (HTTP {self.status_code}" if self.status_code is not None else ""
        code = f", code {self.code})" if self.code is not None else (")" if status else "")
        return f"{where}{self.message}{status}{code}"


class RetryLater(DineroError):
    """Nothing was done; the same call may be made again after `retry_after` seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        code: int | None = None,
        raw_body: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, code=code, raw_body=raw_body, method=method, path=path
        )
        self.retry_after = retry_after


class UnknownOutcome(DineroError):
    """A write was sent and its answer lost: look up by ExternalReference before writing again."""


class StaleTimestamp(DineroError):
    """The Timestamp sent is outdated (code 58): re-read the entity, check, retry."""


class ReauthRequired(DineroError):
    """Dinero answered 401 to a freshly issued token."""


class TenantParked(DineroError):
    """The tenant cannot be served until a person acts (re-consent, subscription, access)."""


class DineroRejected(DineroError):
    """Dinero refused the request as it stands; retrying it unchanged will not help."""


class DineroValidationError(DineroRejected):
    """400 (other than code 58), 413 and other 4xx answers, with Dinero's own message."""


class NotFound(DineroRejected):
    """The route or entity does not exist, or was deleted."""
