"""Stripe's API for one tenant's restricted key: what webhooks carry only as ids (charges,
balance transactions), the lists a backfill pages through (charges, refunds, payouts, newest
first), and the webhook endpoint onboarding registers.

Errors say what the caller does next:

    StripeFetchError
    ├── StripeTransient   network error, timeout, 409, 429, 5xx after all retries: retry later
    └── StripePermanent   400/401/402/403/404, or a response we cannot read: dead-letter
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import stripe
from pydantic import ValidationError

from bogfoer_contracts.admin import BackfillListing
from bogfoer_contracts.events import BalanceTransaction

T = TypeVar("T")

# Stripe's maximum page size: fewest round trips for a payout's contents.
PAGE_SIZE = 100
# The API version of the webhook endpoints we register: the shapes `normalise` reads.
WEBHOOK_API_VERSION = "2025-10-29.clover"
# What a tenant's endpoint is sent: every event `normalise` books.
WEBHOOK_EVENTS = (
    "charge.succeeded",
    "charge.captured",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "payout.paid",
)
# What a backfill lists, and by which time each list is cut: money captured or refunded in
# the range, payouts that arrived in the bank in it.
Listing = BackfillListing


class StripeFetchError(Exception):
    """A call to Stripe's API failed."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class StripeTransient(StripeFetchError):
    """Stripe did not answer usefully now; the same call may succeed later."""


class StripePermanent(StripeFetchError):
    """The call cannot succeed as it is (bad key, missing object, unreadable answer)."""


@dataclass(frozen=True)
class StripePage:
    """One page of a list, newest first; `has_more` says whether an older page follows."""

    rows: list[dict[str, Any]]
    has_more: bool

    @property
    def last_id(self) -> str | None:
        return str(self.rows[-1]["id"]) if self.rows else None


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    enabled_events: tuple[str, ...]
    # Only the create answers it; kept sealed by the caller.
    secret: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"WebhookEndpoint({self.id!r}, {self.url!r})"


class StripeBalance(Protocol):
    """What normalising a Stripe event needs to fetch, for one tenant."""

    async def balance_transaction(self, id: str) -> BalanceTransaction: ...

    async def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]: ...

    async def charge(self, id: str) -> dict[str, Any]:
        """The charge as Stripe's JSON, with its `refunds` list expanded."""
        ...


def to_balance_transaction(raw: dict[str, Any]) -> BalanceTransaction:
    """The contract's view of a Stripe balance transaction (source kept as an id)."""
    source = raw.get("source")
    if isinstance(source, dict):
        source = source.get("id")
    return BalanceTransaction(
        id=raw["id"],
        reporting_category=raw["reporting_category"],
        amount=raw["amount"],
        fee=raw.get("fee") or 0,
        net=raw["net"],
        source=source,
    )


def _is_transient(error: stripe.StripeError) -> bool:
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    status = error.http_status
    if isinstance(error, stripe.APIError):
        # An APIError without a status is an unreadable answer mid-flight; treat as a blip.
        return status is None or status >= 500 or status == 409
    return status is not None and (status >= 500 or status in (409, 429))


class _ContentClient(stripe.HTTPXClient):
    """stripe's HTTPX client hands a POST's form-encoded body to httpx as `data=<str>`, which
    httpx deprecates for raw content (a DeprecationWarning now, an error later): send it as
    `content=` instead. Reads (no body) are unchanged."""

    def _get_request_args_kwargs(  # type: ignore[no-untyped-def]
        self, method: str, url: str, headers: Mapping[str, str], post_data
    ):
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        body = kwargs.pop("data", None)
        if isinstance(body, str | bytes) and body:
            kwargs["content"] = body
        elif body:
            kwargs["data"] = body
        return args, kwargs


class StripeApi(StripeBalance):
    """`StripeBalance` over Stripe's API, with the tenant's restricted key on every call.

    One instance owns one `httpx.AsyncClient` (through `stripe.HTTPXClient`); create it once
    in the app's lifespan and derive per-tenant views with `for_tenant`, which share it.
    """

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = stripe.DEFAULT_API_BASE,
        timeout: float = 20.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        page_size: int = PAGE_SIZE,
        http_client: stripe.HTTPXClient | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._page_size = page_size
        # A key that cannot go in an Authorization header (empty — "Bearer " ends in a space —,
        # not visible ASCII) is no Stripe key: every call with it is refused at once rather
        # than "retried" forever.
        self._sendable = bool(api_key) and all("!" <= c <= "~" for c in api_key)
        self._owns_http = http_client is None
        self._http = http_client or _ContentClient(timeout=timeout)
        # Retries are ours (429 included, bounded backoff); the library's are switched off.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self._api_base},
            max_network_retries=0,
            http_client=self._http,
        )

    def for_tenant(self, api_key: str) -> StripeApi:
        """The same connection, reading with another tenant's restricted key."""
        return StripeApi(
            api_key,
            api_base=self._api_base,
            timeout=self._timeout,
            max_attempts=self._max_attempts,
            backoff_seconds=self._backoff,
            max_backoff_seconds=self._max_backoff,
            page_size=self._page_size,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            # stripe leaves this method unannotated; it closes the httpx.AsyncClient.
            await self._http.close_async()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def _options(self) -> stripe.RequestOptions:
        return {"api_key": self._api_key}

    async def _call(self, what: str, fetch: Callable[[], Awaitable[T]]) -> T:
        if not self._sendable:
            raise StripePermanent(f"{what}: the tenant's Stripe key is not a Stripe key", 401)
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await fetch()
            except stripe.StripeError as error:
                if not _is_transient(error):
                    raise StripePermanent(f"{what}: {error}", error.http_status) from error
                if attempt == self._max_attempts:
                    raise StripeTransient(
                        f"{what}: gave up after {attempt} attempts: {error}", error.http_status
                    ) from error
                delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable: the loop returns or raises")

    async def balance_transaction(self, id: str) -> BalanceTransaction:
        obj = await self._call(
            f"balance transaction {id}",
            lambda: self._client.v1.balance_transactions.retrieve_async(id, options=self._options),
        )
        return _parse(f"balance transaction {id}", obj.to_dict())

    async def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        """Every balance transaction of the payout, the payout's own included, page by page."""
        out: list[BalanceTransaction] = []
        after: str | None = None
        while True:
            params: stripe.params.BalanceTransactionListParams = {
                "payout": payout_id,
                "limit": self._page_size,
            }
            if after is not None:
                params["starting_after"] = after
            page = await self._call(
                f"balance transactions of payout {payout_id}",
                _bind(self._client.v1.balance_transactions.list_async, params, self._options),
            )
            rows = [item.to_dict() for item in page.data]
            out.extend(_parse(f"balance transaction of payout {payout_id}", r) for r in rows)
            if not page.has_more or not rows:
                return out
            after = rows[-1]["id"]

    async def charge(self, id: str) -> dict[str, Any]:
        obj = await self._call(
            f"charge {id}",
            lambda: self._client.v1.charges.retrieve_async(
                id, {"expand": ["refunds"]}, options=self._options
            ),
        )
        return obj.to_dict()

    # --- lists, for a backfill ---------------------------------------------------------

    async def list_page(
        self, listing: Listing, since: int, until: int, starting_after: str | None
    ) -> StripePage:
        """One page of `listing` in [since, until) (Unix seconds), newest first, continuing
        after `starting_after`. Charges come with their balance transaction (the fee),
        refunds with their charge (the order id in its metadata), payouts only once paid."""
        window = {"gte": since, "lt": until}
        v1 = self._client.v1
        fetch: Callable[[Any, stripe.RequestOptions], Awaitable[Any]]
        params: dict[str, Any] = {"limit": self._page_size}
        if listing == "charges":
            fetch = v1.charges.list_async
            params |= {"created": window, "expand": ["data.balance_transaction"]}
        elif listing == "refunds":
            fetch = v1.refunds.list_async
            params |= {"created": window, "expand": ["data.charge"]}
        else:
            fetch = v1.payouts.list_async
            params |= {"arrival_date": window, "status": "paid"}
        if starting_after is not None:
            params["starting_after"] = starting_after
        page: Any = await self._call(f"{listing} list", _bind(fetch, params, self._options))
        return StripePage([item.to_dict() for item in page.data], bool(page.has_more))

    async def verify(self) -> None:
        """Raises unless the key may read the balance (a wrong or revoked key: 401)."""
        await self._call(
            "balance transactions",
            _bind(self._client.v1.balance_transactions.list_async, {"limit": 1}, self._options),
        )

    # --- the tenant's webhook endpoint -------------------------------------------------

    async def webhook_endpoints(self) -> list[WebhookEndpoint]:
        out: list[WebhookEndpoint] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self._page_size}
            if after is not None:
                params["starting_after"] = after
            page = await self._call(
                "webhook endpoints",
                _bind(self._client.v1.webhook_endpoints.list_async, params, self._options),
            )
            rows = [item.to_dict() for item in page.data]
            out.extend(_endpoint(r) for r in rows)
            if not page.has_more or not rows:
                return out
            after = rows[-1]["id"]

    async def delete_webhook_endpoint(self, id: str) -> None:
        await self._call(
            f"delete webhook endpoint {id}",
            lambda: self._client.v1.webhook_endpoints.delete_async(id, options=self._options),
        )

    async def create_webhook_endpoint(
        self, url: str, description: str, idempotency_key: str
    ) -> WebhookEndpoint:
        """A new endpoint for `url` with the events we book, pinned to our API version.
        The idempotency key makes a retried create (an answer lost) one endpoint."""
        params: dict[str, Any] = {
            "url": url,
            "enabled_events": list(WEBHOOK_EVENTS),
            "api_version": WEBHOOK_API_VERSION,
            "description": description,
        }
        options: stripe.RequestOptions = {
            "api_key": self._api_key,
            "idempotency_key": idempotency_key,
        }
        created = await self._call(
            f"create webhook endpoint for {url}",
            _bind(self._client.v1.webhook_endpoints.create_async, params, options),
        )
        return _endpoint(created.to_dict())


def _bind(
    fetch: Callable[[Any, stripe.RequestOptions], Awaitable[T]],
    params: Any,
    options: stripe.RequestOptions,
) -> Callable[[], Awaitable[T]]:
    """A retryable call with its arguments fixed now (a loop's lambda would see them change)."""
    return lambda: fetch(params, options)


def _endpoint(raw: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=str(raw["id"]),
        url=str(raw["url"]),
        enabled_events=tuple(raw.get("enabled_events") or ()),
        secret=raw.get("secret"),
    )


def _parse(what: str, raw: dict[str, Any]) -> BalanceTransaction:
    try:
        return to_balance_transaction(raw)
    except (KeyError, ValidationError) as error:
        raise StripePermanent(f"{what}: unreadable: {error}") from error
