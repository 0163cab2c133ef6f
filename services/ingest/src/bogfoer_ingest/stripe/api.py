"""Reads what Stripe webhooks carry only as ids: charges and balance transactions.

Errors say what the caller does next:

    StripeFetchError
    ├── StripeTransient   network error, timeout, 409, 429, 5xx after all retries: retry later
    └── StripePermanent   400/401/402/403/404, or a response we cannot read: dead-letter
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import stripe
from pydantic import ValidationError

from bogfoer_contracts.events import BalanceTransaction

T = TypeVar("T")

# Stripe's maximum page size: fewest round trips for a payout's contents.
PAGE_SIZE = 100


class StripeFetchError(Exception):
    """A read from Stripe's API failed."""


class StripeTransient(StripeFetchError):
    """Stripe did not answer usefully now; the same call may succeed later."""


class StripePermanent(StripeFetchError):
    """The call cannot succeed as it is (bad key, missing object, unreadable answer)."""


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
        self._owns_http = http_client is None
        self._http = http_client or stripe.HTTPXClient(timeout=timeout)
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
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await fetch()
            except stripe.StripeError as error:
                if not _is_transient(error):
                    raise StripePermanent(f"{what}: {error}") from error
                if attempt == self._max_attempts:
                    raise StripeTransient(
                        f"{what}: gave up after {attempt} attempts: {error}"
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


def _bind(
    fetch: Callable[[Any, stripe.RequestOptions], Awaitable[T]],
    params: Any,
    options: stripe.RequestOptions,
) -> Callable[[], Awaitable[T]]:
    """A retryable call with its arguments fixed now (a loop's lambda would see them change)."""
    return lambda: fetch(params, options)


def _parse(what: str, raw: dict[str, Any]) -> BalanceTransaction:
    try:
        return to_balance_transaction(raw)
    except (KeyError, ValidationError) as error:
        raise StripePermanent(f"{what}: unreadable: {error}") from error
