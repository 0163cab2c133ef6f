"""A local stand-in for the slice of Stripe's API that ingest uses, plus the webhooks to match.

- `app` / `python -m bogfoer_devstack.stripe_double --port N`: serves, as Stripe does,
  - retrieves: `GET /v1/balance_transactions/{id}`, `/v1/charges/{id}` (`expand[]=refunds`),
    `/v1/refunds/{id}`, `/v1/payouts/{id}`;
  - lists, newest first, with Stripe's list shape and cursor paging (`limit` 1–100, default
    10; `starting_after`): `GET /v1/charges`, `/v1/refunds`, `/v1/payouts` and
    `/v1/balance_transactions`, filtered by `created[gt|gte|lt|lte]` (payouts also by
    `arrival_date[…]` and `status`, balance transactions by `payout` and `type`), with
    `expand[]=data.<field>` (`data.balance_transaction` on charges, `data.charge` on refunds);
  - webhook endpoints: `POST /v1/webhook_endpoints` (form-encoded `url`, `enabled_events[]`,
    `api_version`, `description`; the answer carries the signing `secret`, as only the
    create does), `GET /v1/webhook_endpoints`, `DELETE /v1/webhook_endpoints/{id}`;
  with Stripe's error bodies (401 for an unknown key, 404 `resource_missing`, 400
  `parameter_invalid_*`). Objects live per API key, as in per-account Stripe.
- Admin (no auth, never on a real network): `POST /_double/objects` loads objects,
  `POST /_double/deliver` sends webhook events to the account's registered endpoints, signed
  with each endpoint's secret (as Stripe does when something happens),
  `POST /_double/faults` makes the next calls fail (status or delay), `GET /_double/requests`
  lists the calls seen, `POST /_double/reset` forgets everything.
- `StripeWorld` builds consistent payments, refunds and payouts: the webhook events Stripe
  would send and the objects to load; `sign` signs a payload the way Stripe does.
- `StripeDoubleClient` drives a running double over HTTP (tests, the demo).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import random
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# The API version our webhook endpoints are pinned to; payload shapes follow it.
API_VERSION = "2025-10-29.clover"
DEFAULT_API_KEY = "rk_test_bogfoer_double"
Json = dict[str, Any]


# --- signing ----------------------------------------------------------------------------


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header: `t=…,v1=…`, HMAC-SHA256 of `t.payload` with the secret."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# --- the server -------------------------------------------------------------------------


@dataclass
class _Account:
    charges: dict[str, Json] = field(default_factory=dict)
    refunds: dict[str, Json] = field(default_factory=dict)
    balance_transactions: dict[str, Json] = field(default_factory=dict)
    payouts: dict[str, Json] = field(default_factory=dict)
    payout_contents: dict[str, list[str]] = field(default_factory=dict)
    webhook_endpoints: dict[str, Json] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int | None
    delay: float
    remaining: int


@dataclass
class _State:
    accounts: dict[str, _Account] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    requests: list[Json] = field(default_factory=list)
    # (API key, Idempotency-Key) -> the answer a POST gave: a retry gets the same answer.
    answered: dict[tuple[str, str], Json] = field(default_factory=dict)


def _error(status: int, type_: str, message: str, code: str | None = None) -> JSONResponse:
    body: Json = {"type": type_, "message": message}
    if code is not None:
        body["code"] = code
    return JSONResponse({"error": body}, status_code=status)


def _missing(kind: str, id_: str) -> JSONResponse:
    return _error(
        404,
        "invalid_request_error",
        f"No such {kind}: '{id_}'",
        code="resource_missing",
    )


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            user = base64.b64decode(value).decode().split(":", 1)[0]
        except ValueError:
            return None
        return user or None
    return None


def _expand(request: Request) -> set[str]:
    return {v for k, v in request.query_params.multi_items() if k.startswith("expand")}


_RANGE_OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda value, bound: value > bound,
    "gte": lambda value, bound: value >= bound,
    "lt": lambda value, bound: value < bound,
    "lte": lambda value, bound: value <= bound,
}


class _BadParameter(ValueError):
    pass


def _range_filter(request: Request, name: str) -> Callable[[Json], bool]:
    """`name[gt|gte|lt|lte]=<unix seconds>` (or `name=<unix seconds>`) as a predicate."""
    bounds: list[tuple[Callable[[int, int], bool], int]] = []
    for key, raw in request.query_params.multi_items():
        if key == name:
            op = "eq"
        elif key.startswith(f"{name}[") and key.endswith("]"):
            op = key[len(name) + 1 : -1]
        else:
            continue
        if not raw.isdigit():
            raise _BadParameter(f"Invalid integer: {raw}")
        if op == "eq":
            bounds.append((lambda value, bound: value == bound, int(raw)))
        elif op in _RANGE_OPS:
            bounds.append((_RANGE_OPS[op], int(raw)))
        else:
            raise _BadParameter(f"Received unknown parameter: {key}")
    return lambda obj: all(test(int(obj.get(name) or 0), bound) for test, bound in bounds)


def _newest_first(objects: dict[str, Json]) -> list[Json]:
    """Stripe lists newest first; objects made in the same second keep their order of making."""
    ordered = list(enumerate(objects.values()))
    ordered.sort(key=lambda pair: (int(pair[1].get("created") or 0), pair[0]), reverse=True)
    return [obj for _, obj in ordered]


async def _form(request: Request) -> list[tuple[str, str]]:
    """Stripe's form-encoded request body (`enabled_events[0]=…`)."""
    return parse_qsl((await request.body()).decode(), keep_blank_values=True)


def _lookup(account: _Account, field_name: str, id_: str) -> Json | None:
    """The object an expandable field names."""
    kinds = {
        "balance_transaction": account.balance_transactions,
        "charge": account.charges,
        "refund": account.refunds,
        "payout": account.payouts,
    }
    found = kinds.get(field_name, {}).get(id_)
    return found


def _public(endpoint: Json) -> Json:
    return {k: v for k, v in endpoint.items() if not k.startswith("_")}


def create_app() -> Starlette:
    state = _State()

    async def guard(request: Request) -> tuple[_Account | None, JSONResponse | None]:
        key = _api_key(request)
        state.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "api_key": key,
            }
        )
        for fault in state.faults:
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    if fault.status == 429:
                        return None, _error(
                            429, "invalid_request_error", "Too many requests", "rate_limit"
                        )
                    return None, _error(fault.status, "api_error", "Injected fault")
                break
        account = state.accounts.get(key) if key else None
        if account is None:
            shown = f"{key[:8]}***" if key else "none"
            return None, _error(401, "invalid_request_error", f"Invalid API Key provided: {shown}")
        return account, None

    async def balance_transaction(request: Request) -> JSONResponse:
        account, refusal = await guard(request)
        if refusal is not None or account is None:
            return refusal or _error(500, "api_error", "unreachable")
        id_ = request.path_params["id"]
        txn = account.balance_transactions.get(id_)
        return JSONResponse(txn) if txn else _missing("balance transaction", id_)

    def page_of(
        request: Request, account: _Account, kind: str, objects: list[Json], url: str
    ) -> JSONResponse:
        """One page of a list, Stripe's way: `limit`, `starting_after`, `has_more`, expand."""
        params = request.query_params
        try:
            limit = int(params.get("limit", "10"))
        except ValueError:
            return _error(400, "invalid_request_error", "Invalid integer: limit")
        if not 1 <= limit <= 100:
            return _error(400, "invalid_request_error", "Invalid limit: must be 1 to 100")
        start = 0
        if after := params.get("starting_after"):
            ids = [o["id"] for o in objects]
            if after not in ids:
                return _missing(kind, after)
            start = ids.index(after) + 1
        data = [copy.deepcopy(o) for o in objects[start : start + limit]]
        for field_name in (e.removeprefix("data.") for e in _expand(request)):
            for obj in data:
                ref = obj.get(field_name)
                found = _lookup(account, field_name, ref) if isinstance(ref, str) else None
                if found is not None:
                    obj[field_name] = copy.deepcopy(found)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "has_more": start + limit < len(objects),
                "url": url,
            }
        )

    def lister(
        kind: str, attr: str, url: str, filters: tuple[str, ...] = ("created",)
    ) -> Callable[[Request], Any]:
        async def list_(request: Request) -> JSONResponse:
            account, refusal = await guard(request)
            if refusal is not None or account is None:
                return refusal or _error(500, "api_error", "unreachable")
            try:
                tests = [_range_filter(request, name) for name in filters]
            except _BadParameter as exc:
                return _error(400, "invalid_request_error", str(exc))
            status = request.query_params.get("status")
            objects = [
                o
                for o in _newest_first(getattr(account, attr))
                if all(test(o) for test in tests) and (status is None or o.get("status") == status)
            ]
            return page_of(request, account, kind, objects, url)

        return list_

    async def balance_transactions(request: Request) -> JSONResponse:
        account, refusal = await guard(request)
        if refusal is not None or account is None:
            return refusal or _error(500, "api_error", "unreachable")
        params = request.query_params
        payout = params.get("payout")
        if payout is None:
            listed = _newest_first(account.balance_transactions)
        elif payout in account.payout_contents:
            listed = [account.balance_transactions[i] for i in account.payout_contents[payout]]
        else:
            return _missing("payout", payout)
        try:
            created = _range_filter(request, "created")
        except _BadParameter as exc:
            return _error(400, "invalid_request_error", str(exc))
        type_ = params.get("type")
        objects = [t for t in listed if created(t) and (type_ is None or t.get("type") == type_)]
        return page_of(request, account, "balance transaction", objects, "/v1/balance_transactions")

    async def create_webhook_endpoint(request: Request) -> JSONResponse:
        account, refusal = await guard(request)
        if refusal is not None or account is None:
            return refusal or _error(500, "api_error", "unreachable")
        idempotency = (_api_key(request) or "", request.headers.get("idempotency-key", ""))
        if idempotency[1] and idempotency in state.answered:
            return JSONResponse(state.answered[idempotency])
        form = await _form(request)
        fields = dict(form)
        events = [v for k, v in form if k.startswith("enabled_events")]
        url = fields.get("url", "")
        if not url.startswith(("http://", "https://")):
            return _error(400, "invalid_request_error", "Invalid URL: url", "url_invalid")
        if not events:
            return _error(400, "invalid_request_error", "Missing required param: enabled_events.")
        endpoint: Json = {
            "id": f"we_{secrets.token_hex(12)}",
            "object": "webhook_endpoint",
            "api_version": fields.get("api_version"),
            "created": int(time.time()),
            "description": fields.get("description"),
            "enabled_events": events,
            "livemode": False,
            "metadata": {},
            "status": "enabled",
            "url": url,
        }
        # The secret is answered at creation only; later reads leave it out, as Stripe does.
        secret = f"whsec_{secrets.token_hex(16)}"
        account.webhook_endpoints[endpoint["id"]] = {**endpoint, "_secret": secret}
        answer = {**endpoint, "secret": secret}
        if idempotency[1]:
            state.answered[idempotency] = answer
        return JSONResponse(answer)

    async def webhook_endpoints(request: Request) -> JSONResponse:
        account, refusal = await guard(request)
        if refusal is not None or account is None:
            return refusal or _error(500, "api_error", "unreachable")
        shown = {k: _public(v) for k, v in account.webhook_endpoints.items()}
        return page_of(
            request, account, "webhook endpoint", _newest_first(shown), "/v1/webhook_endpoints"
        )

    async def delete_webhook_endpoint(request: Request) -> JSONResponse:
        account, refusal = await guard(request)
        if refusal is not None or account is None:
            return refusal or _error(500, "api_error", "unreachable")
        id_ = request.path_params["id"]
        if account.webhook_endpoints.pop(id_, None) is None:
            return _missing("webhook endpoint", id_)
        return JSONResponse({"id": id_, "object": "webhook_endpoint", "deleted": True})

    async def deliver(request: Request) -> JSONResponse:
        """Send events to every endpoint of the account that enabled their type, signed."""
        body = await request.json()
        account = state.accounts.get(body.get("api_key", DEFAULT_API_KEY))
        if account is None:
            return JSONResponse({"error": "unknown api_key"}, status_code=404)
        outcomes: list[Json] = []
        async with httpx.AsyncClient(timeout=10) as http:
            for event in body.get("events", []):
                payload = json.dumps(event).encode()
                for endpoint in account.webhook_endpoints.values():
                    enabled = endpoint["enabled_events"]
                    if "*" not in enabled and event["type"] not in enabled:
                        continue
                    answer = await http.post(
                        endpoint["url"],
                        content=payload,
                        headers={
                            "Content-Type": "application/json; charset=utf-8",
                            "Stripe-Signature": sign(payload, endpoint["_secret"]),
                        },
                    )
                    outcomes.append(
                        {
                            "event": event["id"],
                            "endpoint": endpoint["id"],
                            "status": answer.status_code,
                        }
                    )
        return JSONResponse({"deliveries": outcomes})

    async def charge(request: Request) -> JSONResponse:
        account, refusal = await guard(request)
        if refusal is not None or account is None:
            return refusal or _error(500, "api_error", "unreachable")
        id_ = request.path_params["id"]
        found = account.charges.get(id_)
        if found is None:
            return _missing("charge", id_)
        body = copy.deepcopy(found)
        if "refunds" in _expand(request):
            refunds = [r for r in account.refunds.values() if r.get("charge") == id_]
            body["refunds"] = {
                "object": "list",
                "data": refunds,
                "has_more": False,
                "url": f"/v1/charges/{id_}/refunds",
            }
        return JSONResponse(body)

    def _getter(kind: str, attr: str) -> Any:
        async def get(request: Request) -> JSONResponse:
            account, refusal = await guard(request)
            if refusal is not None or account is None:
                return refusal or _error(500, "api_error", "unreachable")
            id_ = request.path_params["id"]
            found = getattr(account, attr).get(id_)
            return JSONResponse(found) if found else _missing(kind, id_)

        return get

    async def load(request: Request) -> JSONResponse:
        body = await request.json()
        account = state.accounts.setdefault(body.get("api_key", DEFAULT_API_KEY), _Account())
        for attr in ("charges", "refunds", "balance_transactions", "payouts"):
            for obj in body.get(attr, []):
                getattr(account, attr)[obj["id"]] = obj
        for payout_id, txn_ids in body.get("payout_contents", {}).items():
            account.payout_contents[payout_id] = list(txn_ids)
        return JSONResponse({"ok": True})

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        state.faults.append(
            _Fault(
                status=body.get("status"),
                delay=float(body.get("delay", 0)),
                remaining=int(body.get("count", 1)),
            )
        )
        return JSONResponse({"ok": True})

    async def requests_seen(request: Request) -> JSONResponse:
        return JSONResponse(state.requests)

    async def reset(request: Request) -> JSONResponse:
        state.accounts.clear()
        state.faults.clear()
        state.requests.clear()
        state.answered.clear()
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/v1/balance_transactions", balance_transactions),
            Route("/v1/balance_transactions/{id}", balance_transaction),
            Route("/v1/charges", lister("charge", "charges", "/v1/charges")),
            Route("/v1/charges/{id}", charge),
            Route("/v1/refunds", lister("refund", "refunds", "/v1/refunds")),
            Route("/v1/refunds/{id}", _getter("refund", "refunds")),
            Route(
                "/v1/payouts",
                lister("payout", "payouts", "/v1/payouts", ("created", "arrival_date")),
            ),
            Route("/v1/payouts/{id}", _getter("payout", "payouts")),
            Route("/v1/webhook_endpoints", webhook_endpoints, methods=["GET"]),
            Route("/v1/webhook_endpoints", create_webhook_endpoint, methods=["POST"]),
            Route("/v1/webhook_endpoints/{id}", delete_webhook_endpoint, methods=["DELETE"]),
            Route("/_double/objects", load, methods=["POST"]),
            Route("/_double/deliver", deliver, methods=["POST"]),
            Route("/_double/faults", faults, methods=["POST"]),
            Route("/_double/requests", requests_seen),
            Route("/_double/reset", reset, methods=["POST"]),
        ]
    )


app = create_app()


# --- a client for tests and the demo ----------------------------------------------------


@dataclass
class StripeDoubleClient:
    """Loads objects into, and switches faults on, a running double."""

    base_url: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def load(self, objects: Json) -> None:
        self.http.post(f"{self.base_url}/_double/objects", json=objects).raise_for_status()

    def deliver(self, api_key: str, events: list[Json]) -> list[Json]:
        """Stripe sends `events` to the account's registered endpoints; their answers."""
        response = self.http.post(
            f"{self.base_url}/_double/deliver", json={"api_key": api_key, "events": events}
        )
        response.raise_for_status()
        deliveries: list[Json] = response.json()["deliveries"]
        return deliveries

    def fault(self, *, status: int | None = None, delay: float = 0, count: int = 1) -> None:
        """The next `count` API calls answer `status` (Stripe's error body) and/or wait `delay`."""
        body = {"status": status, "delay": delay, "count": count}
        self.http.post(f"{self.base_url}/_double/faults", json=body).raise_for_status()

    def requests(self) -> list[Json]:
        response = self.http.get(f"{self.base_url}/_double/requests")
        response.raise_for_status()
        seen: list[Json] = response.json()
        return seen

    def reset(self) -> None:
        self.http.post(f"{self.base_url}/_double/reset").raise_for_status()

    def close(self) -> None:
        self.http.close()


# --- building consistent worlds ---------------------------------------------------------


@dataclass
class Payment:
    payment_intent: Json | None
    charge: Json
    balance_transaction: Json
    events: dict[str, Json]

    @property
    def id(self) -> str:
        """What ingest calls the payment: the PaymentIntent, else the charge."""
        return str((self.payment_intent or self.charge)["id"])


@dataclass
class Refund:
    refund: Json
    balance_transaction: Json | None
    events: dict[str, Json]


@dataclass
class Payout:
    payout: Json
    balance_transaction: Json
    contents: list[str]
    events: dict[str, Json]


class StripeWorld:
    """One Stripe account's history, built step by step with consistent ids and amounts.

    `events` collects every webhook event in the order Stripe would send it; `objects()` is
    the body for `POST /_double/objects`. Amounts are integer minor units throughout.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        currency: str = "dkk",
        start: int = 1_767_225_600,  # 2026-01-01T00:00:00Z
        seed: int = 0,
    ) -> None:
        self.api_key = api_key
        self.currency = currency.lower()
        self.events: list[Json] = []
        self._clock = start
        self._random = random.Random(seed)
        self._charges: dict[str, Json] = {}
        self._refunds: dict[str, Json] = {}
        self._txns: dict[str, Json] = {}
        self._payouts: dict[str, Json] = {}
        self._contents: dict[str, list[str]] = {}
        self._unpaid: list[str] = []

    def new_id(self, prefix: str) -> str:
        alphabet = string.ascii_letters + string.digits
        return f"{prefix}_{''.join(self._random.choices(alphabet, k=24))}"

    def _tick(self) -> int:
        self._clock += 60
        return self._clock

    def wait(self, seconds: int) -> int:
        """Let time pass before the next object (e.g. days between payments); the new time."""
        self._clock += seconds
        return self._clock

    def _event(self, type_: str, obj: Json, created: int) -> Json:
        event: Json = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self.events.append(event)
        return event

    def _txn(self, *, amount: int, fee: int, category: str, source: str, created: int) -> Json:
        txn: Json = {
            "id": self.new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": created + 2 * 86_400,
            "created": created,
            "currency": self.currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": (
                [
                    {
                        "amount": fee,
                        "application": None,
                        "currency": self.currency,
                        "description": "Stripe processing fees",
                        "type": "stripe_fee",
                    }
                ]
                if fee
                else []
            ),
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "pending",
            "type": category if category != "fee" else "stripe_fee",
        }
        self._txns[txn["id"]] = txn
        return txn

    def payment(
        self,
        amount: int,
        *,
        order_id: str | None = None,
        fee: int | None = None,
        method: str = "card",
        currency: str | None = None,
        settled_amount: int | None = None,
        with_payment_intent: bool = True,
    ) -> Payment:
        """A captured payment. `settled_amount`: the amount in the account's currency when
        `currency` differs (Stripe converts; the fee is then in the account's currency)."""
        created = self._tick()
        currency = (currency or self.currency).lower()
        settled = amount if settled_amount is None else settled_amount
        fee = settled * 15 // 1000 + 180 if fee is None else fee
        metadata = {"order_id": order_id} if order_id else {}
        charge_id = self.new_id("ch")
        pi_id = self.new_id("pi") if with_payment_intent else None
        txn = self._txn(
            amount=settled, fee=fee, category="charge", source=charge_id, created=created
        )
        charge: Json = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": txn["id"],
            "captured": True,
            "created": created,
            "currency": currency,
            "description": None,
            "livemode": False,
            "metadata": dict(metadata),
            "paid": True,
            "payment_intent": pi_id,
            "payment_method_details": {"type": method, method: {}},
            "refunded": False,
            "status": "succeeded",
        }
        self._charges[charge_id] = charge
        self._unpaid.append(txn["id"])
        events = {"charge.succeeded": self._event("charge.succeeded", charge, created)}
        intent: Json | None = None
        if pi_id is not None:
            intent = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "capture_method": "automatic",
                "created": created - 5,
                "currency": currency,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": dict(metadata),
                "payment_method_types": [method],
                "status": "succeeded",
            }
            events["payment_intent.succeeded"] = self._event(
                "payment_intent.succeeded", intent, created
            )
        return Payment(intent, charge, txn, events)

    def refund(
        self,
        payment: Payment,
        amount: int | None = None,
        *,
        status: str = "succeeded",
        settled_amount: int | None = None,
    ) -> Refund:
        """A refund of (part of) a payment; only a succeeded one moves money."""
        created = self._tick()
        charge = self._charges[payment.charge["id"]]
        amount = charge["amount"] - charge["amount_refunded"] if amount is None else amount
        refund_id = self.new_id("re")
        txn: Json | None = None
        if status == "succeeded":
            settled = amount if settled_amount is None else settled_amount
            txn = self._txn(
                amount=-settled, fee=0, category="refund", source=refund_id, created=created
            )
            self._unpaid.append(txn["id"])
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        refund: Json = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": txn["id"] if txn else None,
            "charge": charge["id"],
            "created": created,
            "currency": charge["currency"],
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": "requested_by_customer",
            "status": status,
        }
        self._refunds[refund_id] = refund
        events = {"refund.created": self._event("refund.created", refund, created)}
        if status == "succeeded":
            events["charge.refunded"] = self._event("charge.refunded", charge, created)
        return Refund(refund, txn, events)

    def payout(self, *, arrival_days: int = 2) -> Payout:
        """An automatic payout of every balance transaction not yet paid out."""
        created = self._tick()
        contents = list(self._unpaid)
        self._unpaid.clear()
        amount = sum(self._txns[t]["net"] for t in contents)
        payout_id = self.new_id("po")
        txn = self._txn(amount=-amount, fee=0, category="payout", source=payout_id, created=created)
        arrival_day = dt.datetime.fromtimestamp(created, dt.UTC).date() + dt.timedelta(
            days=arrival_days
        )
        arrival = int(dt.datetime.combine(arrival_day, dt.time(), dt.UTC).timestamp())
        payout: Json = {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "arrival_date": arrival,
            "automatic": True,
            "balance_transaction": txn["id"],
            "created": created,
            "currency": self.currency,
            "livemode": False,
            "method": "standard",
            "status": "paid",
            "type": "bank_account",
        }
        self._payouts[payout_id] = payout
        # Stripe lists the payout's own transaction with its contents, newest first.
        self._contents[payout_id] = [txn["id"], *reversed(contents)]
        event = self._event("payout.paid", payout, arrival)
        return Payout(payout, txn, self._contents[payout_id], {"payout.paid": event})

    def objects(self) -> Json:
        """The body for `POST /_double/objects`: everything built so far, for this key."""
        return copy.deepcopy(
            {
                "api_key": self.api_key,
                "charges": list(self._charges.values()),
                "refunds": list(self._refunds.values()),
                "balance_transactions": list(self._txns.values()),
                "payouts": list(self._payouts.values()),
                "payout_contents": self._contents,
            }
        )


# --- the command line -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the local Stripe API double.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    args = parser.parse_args(argv)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
