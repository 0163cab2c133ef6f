"""The Dinero API client the poster uses: one `httpx.AsyncClient` per process, typed calls.

    async with DineroClient.open(config, store) as dinero:
        org = dinero.organisation(tenant="t42", organization_id=123456)
        created = await org.create_invoice(InvoiceCreate(...))
        invoice = await org.book_invoice(created.guid, created.timestamp)

Every call goes through `_Transport.request`: rate limit, bearer token, send, classify.
Reads are retried with full-jitter backoff; writes are never resent after they may have
reached Dinero (see `errors.UnknownOutcome`), only after a definite refusal (429, 401).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bogfoer_dinero.auth import Bearer, CredentialStore, DineroAuth
from bogfoer_dinero.config import DineroConfig
from bogfoer_dinero.errors import (
    DineroError,
    DineroValidationError,
    NotFound,
    ReauthRequired,
    RetryLater,
    StaleTimestamp,
    TenantParked,
    UnknownOutcome,
)
from bogfoer_dinero.models import (
    BookRequest,
    Contact,
    ContactCreate,
    ContactCreated,
    Created,
    CreditNote,
    CreditNoteCreate,
    DepositAccount,
    DepositAccountCreate,
    EntryAccount,
    Invoice,
    InvoiceCreate,
    InvoicePayments,
    InvoicePreview,
    InvoiceTemplate,
    InvoiceUpdate,
    MailoutRequest,
    MailoutResult,
    ManualVoucher,
    ManualVoucherCreate,
    Organisation,
    Page,
    PaymentCreate,
    SalesSettings,
    TimestampBody,
    VatType,
    dump_json,
    normalise_vat_number,
    parse_response,
    query_filter,
)
from bogfoer_dinero.observe import CallObserver, NoObserver, operation_of
from bogfoer_dinero.ratelimit import Limiter, RateLimiter

__all__ = ["DineroClient", "OrganisationClient"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_NOT_FOUND_CODES = frozenset({63, 65})
_NO_SUBSCRIPTION_CODES = frozenset({48, 90})
_STALE_TIMESTAMP_CODE = 58

#: Default list fields: enough to find a document by ExternalReference and act on it.
INVOICE_LIST_FIELDS = (
    "Guid,Number,ExternalReference,Status,PaymentStatus,TotalInclVat,TimeStamp,Date,"
    "ContactGuid,ContactName,Description"
)
CREDIT_NOTE_LIST_FIELDS = INVOICE_LIST_FIELDS + ",CreditNoteFor"
CONTACT_LIST_FIELDS = "ContactGuid,Name,ExternalReference,Email,VatNumber,DeletedAt,UpdatedAt"
ORGANISATION_FIELDS = "Id,Name,IsPro,IsVatFree,VatNumber,Email"


def _error_details(response: httpx.Response) -> tuple[int | None, str]:
    """Dinero's error `code` and the most specific message in its (varied) error body."""
    text = response.text
    try:
        body = response.json()
    except ValueError:
        return None, (text.strip()[:300] or response.reason_phrase)
    if not isinstance(body, dict):
        return None, text[:300]
    code = body.get("code", body.get("Code"))
    message = body.get("message") or body.get("Message") or body.get("error") or ""
    details: list[str] = []
    validation = body.get("validationErrors")
    if isinstance(validation, dict):
        details = [f"{k}: {v}" for k, v in validation.items() if v and v != message]
    if details:
        message = f"{message} ({'; '.join(details)})" if message else "; ".join(details)
    return (code if isinstance(code, int) else None), str(message or response.reason_phrase)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify(response: httpx.Response, *, write: bool) -> DineroError | None:
    """The error a response means, or None for success. Pure: no I/O, no state."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    code, message = _error_details(response)
    request = response.request
    where: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "raw_body": response.text,
        "method": request.method,
        "path": request.url.path,
    }
    if status == 429:
        return RetryLater(message, retry_after=_retry_after(response), **where)
    if status == 480:
        return RetryLater(f"endpoint in brownout (deprecated): {message}", **where)
    if status >= 500:
        if write:
            return UnknownOutcome(f"server error after the write was sent: {message}", **where)
        return RetryLater(message, retry_after=_retry_after(response), **where)
    if status == 401:
        return ReauthRequired(message, **where)
    if status == 403:
        if code in _NO_SUBSCRIPTION_CODES:
            return TenantParked(f"no active Dinero Pro subscription: {message}", **where)
        return TenantParked(f"no access: {message}", **where)
    if status == 404 or code in _NOT_FOUND_CODES:
        return NotFound(message, **where)
    if status == 400 and code == _STALE_TIMESTAMP_CODE:
        return StaleTimestamp(message, **where)
    return DineroValidationError(message, **where)


def budget_key(client_id: str, organization_id: int | None, tenant: str) -> tuple[str | int, ...]:
    """The rate-limit budget a call draws on. Dinero's limit is per organisation and client
    id: a call on an organisation takes a slot of that organisation's. A call that names
    none (`GET /v1/organizations`) is in no organisation's budget; it is counted per tenant
    (its consent or key), not in one budget for the client id: that one was shared by every
    tenant, and fifty organisations' charts (each needs the list once, for its VAT status)
    waited up to two windows for it."""
    if organization_id is None:
        return (client_id, "tenant", tenant)
    return (client_id, organization_id)


class _Transport:
    """Rate limit, authenticate, send, classify, retry what is safe to retry."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: DineroConfig,
        auth: DineroAuth,
        limiter: Limiter,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self.http = http
        self.config = config
        self.auth = auth
        self.limiter = limiter
        self.observer: CallObserver = observer or NoObserver()
        self._sleep = sleep
        self._rng = rng
        self._base = config.api_base_url.rstrip("/")

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt))."""
        growth = float(2**attempt)
        ceiling = min(self.config.backoff_cap_seconds, self.config.backoff_base_seconds * growth)
        return self._rng() * ceiling

    async def request(
        self,
        tenant: str,
        organization_id: int | None,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: BaseModel | None = None,
        write: bool | None = None,
    ) -> httpx.Response:
        is_write = method != "GET" if write is None else write
        content = dump_json(body) if body is not None else None
        query = {
            k: (str(v).lower() if isinstance(v, bool) else v) for k, v in (params or {}).items()
        }
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            bearer = await self.auth.bearer(tenant)
            key = budget_key(bearer.client_id, organization_id, tenant)
            response, error = await self._send_once(
                tenant, bearer, key, method, path, query, content, is_write
            )
            if error is None:
                assert response is not None
                return response
            if isinstance(error, ReauthRequired) and not renewed:
                # 401 means Dinero did nothing; one renewal and one resend are safe.
                renewed = True
                await self.auth.renew_after_401(tenant, bearer)
                continue
            # A write is resent only after a definite refusal: 429, or a connection that
            # was never made (status None: such writes never left this process).
            retryable = isinstance(error, RetryLater) and (
                not is_write or error.status_code in (429, None)
            )
            if not retryable or attempt >= self.config.max_attempts:
                raise error
            assert isinstance(error, RetryLater)
            delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            if error.status_code == 429:
                await self.limiter.hold(key, delay)
            log.warning(
                "dinero %s %s: %s; retry %d in %.2fs",
                method,
                path,
                type(error).__name__,
                attempt,
                delay,
            )
            await self._sleep(delay)

    async def _send_once(
        self,
        tenant: str,
        bearer: Bearer,
        key: tuple[str | int, ...],
        method: str,
        path: str,
        query: Mapping[str, str | int],
        content: bytes | None,
        is_write: bool,
    ) -> tuple[httpx.Response | None, DineroError | None]:
        headers = {
            "Authorization": f"Bearer {bearer.token.get_secret_value()}",
            "Accept": "application/json",
        }
        if content is not None:
            headers["Content-Type"] = "application/json"
        operation = operation_of(method, path)
        queued = time.monotonic()
        async with self.limiter.slot(key):
            started = time.monotonic()
            self.observer.rate_limit_wait(tenant, started - queued)
            try:
                response = await self.http.request(
                    method, self._base + path, params=query, content=content, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left this process: nothing happened, for reads and writes.
                self.observer.call(tenant, operation, "unreachable", time.monotonic() - started)
                return None, RetryLater(
                    f"could not reach Dinero: {type(exc).__name__}", method=method, path=path
                )
            except httpx.TransportError as exc:
                lost = "unknown_outcome" if is_write else "read_failed"
                self.observer.call(tenant, operation, lost, time.monotonic() - started)
                if is_write:
                    return None, UnknownOutcome(
                        f"write sent, answer lost: {type(exc).__name__}; "
                        "look the ExternalReference up before writing again",
                        method=method,
                        path=path,
                    )
                return None, RetryLater(
                    f"read failed: {type(exc).__name__}", method=method, path=path
                )
        error = classify(response, write=is_write)
        status = (
            "unknown_outcome" if isinstance(error, UnknownOutcome) else str(response.status_code)
        )
        self.observer.call(tenant, operation, status, time.monotonic() - started)
        log.debug(
            "dinero %s %s -> %d in %.0f ms",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response, error


class DineroClient:
    """One per process. Owns (or borrows) the `httpx.AsyncClient`, the token cache and the
    rate limiter; hands out per-organisation views with `organisation()`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: DineroConfig,
        store: CredentialStore,
        *,
        limiter: Limiter | None = None,
        auth: DineroAuth | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self.config = config
        self.auth = auth if auth is not None else DineroAuth(http, config, store)
        self.limiter: Limiter = limiter or RateLimiter(
            config.rate_limit_requests, config.rate_limit_window_seconds
        )
        self._transport = _Transport(
            http, config, self.auth, self.limiter, sleep=sleep, rng=rng, observer=observer
        )

    def __repr__(self) -> str:
        return f"DineroClient(api={self.config.api_base_url!r})"

    @classmethod
    @asynccontextmanager
    async def open(
        cls, config: DineroConfig, store: CredentialStore, **kwargs: Any
    ) -> AsyncIterator[DineroClient]:
        """Create the process's HTTP client with our timeouts; close it on exit."""
        timeout = httpx.Timeout(
            config.read_timeout_seconds,
            connect=config.connect_timeout_seconds,
            pool=config.connect_timeout_seconds,
        )
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            yield cls(http, config, store, **kwargs)

    async def organisations(self, tenant: str) -> list[Organisation]:
        """The organisations the tenant's credentials reach (`GET /v1/organizations`)."""
        response = await self._transport.request(
            tenant, None, "GET", "/v1/organizations", params={"fields": ORGANISATION_FIELDS}
        )
        return _parse(list[Organisation], response)

    def organisation(self, tenant: str, organization_id: int) -> OrganisationClient:
        return OrganisationClient(self._transport, tenant, organization_id)


def _parse(model: type[_T], response: httpx.Response) -> _T:
    try:
        return parse_response(model, response.content)
    except (ValueError, ValidationError) as exc:
        request = response.request
        raise DineroValidationError(
            f"unexpected response shape: {exc}",
            status_code=response.status_code,
            raw_body=response.text,
            method=request.method,
            path=request.url.path,
        ) from exc


class OrganisationClient:
    """Everything one tenant does in one Dinero organisation."""

    def __init__(self, transport: _Transport, tenant: str, organization_id: int) -> None:
        self._t = transport
        self.tenant = tenant
        self.organization_id = organization_id
        self._prefix = f"/{organization_id}"

    def __repr__(self) -> str:
        return f"OrganisationClient(tenant={self.tenant!r}, organization_id={self.organization_id})"

    async def _call(
        self,
        method: str,
        resource: str,
        *,
        version: str = "v1",
        params: Mapping[str, str | int | bool] | None = None,
        body: BaseModel | None = None,
        write: bool | None = None,
    ) -> httpx.Response:
        path = f"/{version}{self._prefix}/{resource}"
        return await self._t.request(
            self.tenant, self.organization_id, method, path, params=params, body=body, write=write
        )

    async def _created(
        self,
        response: httpx.Response,
        lookup: Callable[[], Awaitable[Sequence[Invoice | ManualVoucher]]] | None,
    ) -> Created:
        """A create's `{Guid, TimeStamp}`; Dinero may answer 201 with no body at all, and
        then the ExternalReference look-up finds what was created."""
        if response.content.strip():
            return _parse(Created, response)
        found = await lookup() if lookup is not None else []
        if len(found) == 1:
            return Created(guid=found[0].guid, timestamp=found[0].timestamp)
        raise UnknownOutcome(
            "created, but Dinero returned no Guid and the ExternalReference look-up "
            f"found {len(found)} matches",
            status_code=response.status_code,
            method=response.request.method,
            path=response.request.url.path,
        )

    # --- accounts, VAT, settings ------------------------------------------------------------

    async def entry_accounts(self, category_filter: str | None = None) -> list[EntryAccount]:
        params: dict[str, str | int | bool] = {
            "fields": "AccountNumber,Name,VatCode,Category,IsHidden,IsDefaultSalesAccount"
        }
        if category_filter is not None:
            params["categoryFilter"] = category_filter
        return _parse(list[EntryAccount], await self._call("GET", "accounts/entry", params=params))

    async def deposit_accounts(self) -> list[DepositAccount]:
        response = await self._call(
            "GET", "accounts/deposit", params={"fields": "AccountNumber,Name"}
        )
        return _parse(list[DepositAccount], response)

    async def create_deposit_account(self, account: DepositAccountCreate) -> None:
        """Create a deposit account (a "beholdning" payments can land on, e.g. Stripe)."""
        await self._call("POST", "accounts/deposit", body=account)

    async def vat_types(self) -> list[VatType]:
        return _parse(list[VatType], await self._call("GET", "vatTypes"))

    async def invoice_templates(self) -> list[InvoiceTemplate]:
        return _parse(list[InvoiceTemplate], await self._call("GET", "invoices/templates"))

    async def sales_settings(self) -> SalesSettings:
        return _parse(SalesSettings, await self._call("GET", "sales/settings"))

    # --- contacts ---------------------------------------------------------------------------

    async def create_contact(self, contact: ContactCreate) -> str:
        """Create a contact; returns its ContactGuid."""
        response = await self._call("POST", "contacts", body=contact)
        return _parse(ContactCreated, response).contact_guid

    async def get_contact(self, contact_guid: str) -> Contact:
        return _parse(Contact, await self._call("GET", f"contacts/{contact_guid}"))

    async def find_contacts(
        self,
        *,
        external_reference: str | None = None,
        email: str | None = None,
        vat_number: str | None = None,
    ) -> list[Contact]:
        """Live (not deleted) contacts matching every given field exactly.

        VAT numbers are normalised the way `ContactCreate` stores them; e-mails are trimmed.
        Dedup order for callers: ExternalReference, then VAT number, then e-mail.
        """
        clauses: dict[str, str] = {}
        if external_reference is not None:
            clauses["ExternalReference"] = external_reference
        if vat_number is not None:
            clauses["VatNumber"] = normalise_vat_number(vat_number)
        if email is not None:
            clauses["Email"] = email.strip()
        if not clauses:
            raise ValueError("give at least one of external_reference, email, vat_number")
        found: list[Contact] = []
        page = 0
        while True:
            params: dict[str, str | int | bool] = {
                "fields": CONTACT_LIST_FIELDS,
                "queryFilter": query_filter(**clauses),
                "page": page,
                "pageSize": 1000,
            }
            result = _parse(Page[Contact], await self._call("GET", "contacts", params=params))
            found.extend(c for c in result.collection if c.deleted_at is None)
            if result.is_last:
                return found
            page += 1

    # --- invoices ---------------------------------------------------------------------------

    async def create_invoice(self, invoice: InvoiceCreate) -> Created:
        """Create a draft. On UnknownOutcome, `find_invoices(external_reference=…)` first."""
        response = await self._call("POST", "invoices", body=invoice)
        ref = invoice.external_reference
        return await self._created(
            response, (lambda: self.find_invoices(ref)) if ref is not None else None
        )

    async def update_invoice(self, guid: str, invoice: InvoiceUpdate) -> Created:
        """Replace a draft's content (`PUT /v1.2/…`); returns its new TimeStamp."""
        response = await self._call("PUT", f"invoices/{guid}", version="v1.2", body=invoice)
        return _parse(Created, response)

    async def preview_invoice(self, invoice: InvoiceCreate) -> InvoicePreview:
        """Dinero's totals for `invoice` without saving anything (`POST invoices/fetch`)."""
        response = await self._call("POST", "invoices/fetch", body=invoice, write=False)
        return _parse(InvoicePreview, response)

    async def get_invoice(self, guid: str) -> Invoice:
        return _parse(Invoice, await self._call("GET", f"invoices/{guid}"))

    async def list_invoices(
        self,
        *,
        page: int = 0,
        page_size: int = 100,
        fields: str = INVOICE_LIST_FIELDS,
        external_reference: str | None = None,
        description: str | None = None,
        status_filter: list[str] | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        changes_since: datetime | None = None,
        free_text_search: str | None = None,
        deleted_only: bool = False,
    ) -> Page[Invoice]:
        """One page (0-based) of invoices; see `iter_invoices` for all of them."""
        params = _list_params(
            page=page,
            page_size=page_size,
            fields=fields,
            clauses={"ExternalReference": external_reference, "Description": description},
            status_filter=status_filter,
            start_date=start_date,
            end_date=end_date,
            changes_since=changes_since,
            free_text_search=free_text_search,
            deleted_only=deleted_only,
        )
        return _parse(Page[Invoice], await self._call("GET", "invoices", params=params))

    async def iter_invoices(self, **filters: Any) -> AsyncIterator[Invoice]:
        """Every invoice matching `filters` (as for `list_invoices`), page by page."""
        async for item in _pages(self.list_invoices, filters):
            yield item

    async def find_invoices(self, external_reference: str) -> list[Invoice]:
        """The invoices carrying this ExternalReference (normally zero or one)."""
        return [i async for i in self.iter_invoices(external_reference=external_reference)]

    async def book_invoice(self, guid: str, timestamp: str, number: int | None = None) -> Invoice:
        """Book a draft; returns the booked invoice with its Number and new TimeStamp.

        StaleTimestamp: re-read first; a set Number means someone already booked it.
        """
        body = BookRequest(timestamp=timestamp, number=number)
        return _parse(Invoice, await self._call("POST", f"invoices/{guid}/book", body=body))

    async def email_invoice(self, guid: str, mailout: MailoutRequest) -> MailoutResult:
        """Send a booked invoice. Resending mails again: check `mail_out_status` first."""
        response = await self._call("POST", f"invoices/{guid}/email", body=mailout)
        return _parse(MailoutResult, response) if response.content.strip() else MailoutResult()

    async def add_payment(self, guid: str, payment: PaymentCreate) -> Created:
        """Register a payment on a booked invoice; `timestamp` in the result is the invoice's."""
        response = await self._call("POST", f"invoices/{guid}/payments", body=payment)
        return await self._created(response, None)

    async def list_payments(self, guid: str) -> InvoicePayments:
        response = await self._call("GET", f"invoices/{guid}/payments", version="v2")
        return _parse(InvoicePayments, response)

    async def generate_credit_note(self, guid: str, timestamp: str) -> Created:
        """A draft credit note mirroring the booked invoice `guid`."""
        body = TimestampBody(timestamp=timestamp)
        response = await self._call("POST", f"invoices/{guid}/generate-creditnote", body=body)
        return await self._created(response, None)

    async def delete_invoice(self, guid: str, timestamp: str) -> None:
        """Delete a draft invoice."""
        await self._call("DELETE", f"invoices/{guid}", body=TimestampBody(timestamp=timestamp))

    # --- credit notes -----------------------------------------------------------------------

    async def create_credit_note(self, credit_note: CreditNoteCreate) -> Created:
        response = await self._call("POST", "sales/creditnotes", body=credit_note)
        ref = credit_note.external_reference
        return await self._created(
            response, (lambda: self.find_credit_notes(ref)) if ref is not None else None
        )

    async def get_credit_note(self, guid: str) -> CreditNote:
        return _parse(CreditNote, await self._call("GET", f"sales/creditnotes/{guid}"))

    async def book_credit_note(
        self, guid: str, timestamp: str, number: int | None = None
    ) -> CreditNote:
        body = BookRequest(timestamp=timestamp, number=number)
        response = await self._call("POST", f"sales/creditnotes/{guid}/book", body=body)
        return _parse(CreditNote, response)

    async def delete_credit_note(self, guid: str, timestamp: str) -> None:
        body = TimestampBody(timestamp=timestamp)
        await self._call("DELETE", f"sales/creditnotes/{guid}", body=body)

    async def list_credit_notes(
        self,
        *,
        page: int = 0,
        page_size: int = 100,
        fields: str = CREDIT_NOTE_LIST_FIELDS,
        external_reference: str | None = None,
        contact_guid: str | None = None,
        description: str | None = None,
        status_filter: list[str] | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        changes_since: datetime | None = None,
        free_text_search: str | None = None,
        deleted_only: bool = False,
    ) -> Page[CreditNote]:
        params = _list_params(
            page=page,
            page_size=page_size,
            fields=fields,
            clauses={
                "ExternalReference": external_reference,
                "ContactGuid": contact_guid,
                "Description": description,
            },
            status_filter=status_filter,
            start_date=start_date,
            end_date=end_date,
            changes_since=changes_since,
            free_text_search=free_text_search,
            deleted_only=deleted_only,
        )
        response = await self._call("GET", "sales/creditnotes", params=params)
        return _parse(Page[CreditNote], response)

    async def iter_credit_notes(self, **filters: Any) -> AsyncIterator[CreditNote]:
        async for item in _pages(self.list_credit_notes, filters):
            yield item

    async def find_credit_notes(self, external_reference: str) -> list[CreditNote]:
        return [c async for c in self.iter_credit_notes(external_reference=external_reference)]

    # --- manual vouchers (the path really is spelled "manuel") ---------------------------------

    async def create_manual_voucher(self, voucher: ManualVoucherCreate) -> Created:
        response = await self._call("POST", "vouchers/manuel", body=voucher)
        ref = voucher.external_reference
        return await self._created(
            response, (lambda: self.find_manual_vouchers(ref)) if ref is not None else None
        )

    async def get_manual_voucher(self, guid: str) -> ManualVoucher:
        return _parse(ManualVoucher, await self._call("GET", f"vouchers/manuel/{guid}"))

    async def book_manual_voucher(
        self, guid: str, timestamp: str, number: int | None = None
    ) -> ManualVoucher:
        body = BookRequest(timestamp=timestamp, number=number)
        response = await self._call("POST", f"vouchers/manuel/{guid}/book", body=body)
        return _parse(ManualVoucher, response)

    async def delete_manual_voucher(self, guid: str, timestamp: str) -> None:
        body = TimestampBody(timestamp=timestamp)
        await self._call("DELETE", f"vouchers/manuel/{guid}", body=body)

    async def list_manual_vouchers(
        self,
        *,
        page: int = 0,
        page_size: int = 100,
        fields: str | None = None,
        external_reference: str | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        changes_since: datetime | None = None,
    ) -> Page[ManualVoucher]:
        params = _list_params(
            page=page,
            page_size=page_size,
            fields=fields,
            clauses={"ExternalReference": external_reference},
            status_filter=None,
            start_date=start_date,
            end_date=end_date,
            changes_since=changes_since,
            free_text_search=None,
            deleted_only=False,
        )
        response = await self._call("GET", "vouchers/manuel", params=params)
        return _parse(Page[ManualVoucher], response)

    async def iter_manual_vouchers(self, **filters: Any) -> AsyncIterator[ManualVoucher]:
        async for item in _pages(self.list_manual_vouchers, filters):
            yield item

    async def find_manual_vouchers(self, external_reference: str) -> list[ManualVoucher]:
        return [v async for v in self.iter_manual_vouchers(external_reference=external_reference)]


def _list_params(
    *,
    page: int,
    page_size: int,
    fields: str | None,
    clauses: Mapping[str, str | None],
    status_filter: list[str] | None,
    start_date: date | None,
    end_date: date | None,
    changes_since: datetime | None,
    free_text_search: str | None,
    deleted_only: bool,
) -> dict[str, str | int | bool]:
    if page < 0 or not 1 <= page_size <= 1000:
        raise ValueError("page is 0-based; page_size is 1..1000")
    if (start_date is None) != (end_date is None):
        raise ValueError("give both start_date and end_date, or neither")
    params: dict[str, str | int | bool] = {"page": page, "pageSize": page_size}
    if fields:
        params["fields"] = fields
    set_clauses = {k: v for k, v in clauses.items() if v is not None}
    if set_clauses:
        params["queryFilter"] = query_filter(**set_clauses)
    if status_filter:
        params["statusFilter"] = ",".join(status_filter)
    if start_date is not None and end_date is not None:
        params["startDate"] = start_date.isoformat()
        params["endDate"] = end_date.isoformat()
    if changes_since is not None:
        if changes_since.tzinfo is None:
            raise ValueError("changes_since must be timezone-aware")
        params["changesSince"] = changes_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if free_text_search:
        params["freeTextSearch"] = free_text_search
    if deleted_only:
        params["deletedOnly"] = True
    return params


async def _pages(
    fetch: Callable[..., Awaitable[Page[_T]]], filters: Mapping[str, Any]
) -> AsyncIterator[_T]:
    """Page from 0 until a page holds fewer results than the page size (Dinero's rule)."""
    page = int(filters.get("page", 0))
    rest = {k: v for k, v in filters.items() if k != "page"}
    while True:
        result = await fetch(page=page, **rest)
        for item in result.collection:
            yield item
        if result.is_last or not result.collection:
            return
        page += 1
