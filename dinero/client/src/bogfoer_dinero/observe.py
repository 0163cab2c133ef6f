"""What the client tells its owner about each call, for metrics: the operation, how it
ended and how long it took, and how long the rate limiter made it wait.

The client itself depends on no metrics library; the poster passes an observer that
records Prometheus metrics. Operations are path templates, so their number is bounded:
`/v1/123/invoices/<guid>/book` is `invoices/{id}/book`.
"""

from __future__ import annotations

import re
from typing import Protocol

__all__ = ["CallObserver", "NoObserver", "operation_of"]

_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_ID = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


def operation_of(method: str, path: str) -> str:
    """`GET invoices`, `POST invoices/{id}/book`: the method and the path without its version,
    organisation id and document ids."""
    segments = [s for s in path.split("/") if s]
    if segments and _VERSION.match(segments[0]):
        segments = segments[1:]
    if segments and segments[0].isdigit():
        segments = segments[1:]  # the organisation
    shape = "/".join("{id}" if _ID.match(s) else s for s in segments)
    return f"{method.upper()} {shape or '/'}"


class CallObserver(Protocol):
    def call(self, tenant: str, operation: str, status: str, seconds: float) -> None:
        """One request ended: `status` is the HTTP status, or `unknown_outcome` (a write whose
        answer was lost), `unreachable` (never sent) or `read_failed`."""

    def rate_limit_wait(self, tenant: str, seconds: float) -> None:
        """A request waited this long for a rate-limit token before it was sent."""


class NoObserver:
    def call(self, tenant: str, operation: str, status: str, seconds: float) -> None:
        return None

    def rate_limit_wait(self, tenant: str, seconds: float) -> None:
        return None
