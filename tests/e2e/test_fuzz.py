"""Generated requests against every route each service's OpenAPI lists (issue 12).

Schemathesis builds the requests from `/openapi.json` of ingest, mapper, poster, ledger and
the portal, running as processes against the real broker, PostgreSQL and the Dinero sandbox: half
within the schema (positive), half outside it (negative), at least `REQUESTS_PER_SERVICE`
per service spread over all of its routes (a thousand per route would cost several minutes
of suite time). Requests are made to reach the real logic: shop events signed with the
tenant's secret, Stripe webhooks with its webhook secret, admin and ops routes with the
admin token, and a schema-valid tenant in a path replaced by a tenant that exists. A route
added to a service is fuzzed as soon as its OpenAPI lists it.

A run fails on any 5xx, on any 2xx for a request the schema refuses (Schemathesis'
`negative_data_rejection`), and — checked once the pipeline has settled — on any accepted
event that was lost: every shop event ingest accepted must be in the mapper's store and
either dead-lettered visibly, booked or held in the ledger under its own facts (a posting
whose command names an event of the same order, so a key shared by two orders is caught),
or waiting for its order as documented.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection

from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_devstack.shop import signature
from bogfoer_devstack.stack import SERVICES, Stack
from bogfoer_devstack.stripe_double import sign
from bogfoer_rules.policy import OrderState
from tests.e2e.conftest import Tenant

REQUESTS_PER_SERVICE = int(os.environ.get("BOGFOER_FUZZ_REQUESTS", "1000"))
CHECKS: list[CheckFunction] = [not_a_server_error, negative_data_rejection]
SETTINGS_CHECKED_IN_DINERO = 10
# Run before the routes that can take a tenant's Dinero connection away.
LAST = ("/dinero/api-key", "/dinero/authorization-code")


@dataclass
class Fuzz:
    """The tenants requests are steered to, and what the run saw."""

    stack: Stack
    service: str
    events_tenant: Tenant  # receives shop events and webhooks; its secrets never change
    admin_tenant: Tenant  # the admin routes may change its credentials and settings
    sent: int = 0
    sent_events: int = 0
    settings_steered: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    accepted_events: set[str] = field(default_factory=set)
    accepted_stripe: dict[str, str] = field(default_factory=dict)
    dead_letter_ids: list[int] = field(default_factory=list)

    def tenant_for(self, path: str) -> Tenant:
        admin = self.service == "poster" or "/admin/" in path
        return self.admin_tenant if admin else self.events_tenant


def _operations(base: str) -> Iterator[Any]:
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    # 413 is a refusal too: ingest's batch route answers it for more than 500 events or a
    # body over the size limit (Schemathesis's default list of rejections leaves it out).
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    # An operation Schemathesis cannot read is a schema bug: `ok()` raises it.
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    yield from sorted(operations, key=lambda op: (op.path.endswith(LAST), op.path, op.method))


def _strategy(operation: Any) -> st.SearchStrategy[Case[Any]]:
    positive: st.SearchStrategy[Case[Any]] = operation.as_strategy(GenerationMode.POSITIVE)
    if not _has_inputs(operation):
        return positive  # nothing to get wrong: no negative case exists
    return st.one_of(positive, operation.as_strategy(GenerationMode.NEGATIVE))


def _steer(fuzz: Fuzz, case: Case[Any]) -> None:
    """Point a case at data that exists, so it reaches the real logic. Only values valid by
    the schema are swapped (for other valid values): what makes a negative case invalid is
    left as generated."""
    tenant = fuzz.tenant_for(case.path)
    parameters = case.path_parameters or {}
    value = parameters.get("tenant")
    # Settings are checked against Dinero (four calls each, 100 a minute per organisation),
    # and onboarding reads the organisations and the chart from it: a few reach the connected
    # tenant, the rest stay with tenants Dinero does not know.
    dinero_bound = (
        case.path.endswith(("/settings", "/settings/check")) or "/dinero/organisations" in case.path
    )
    if dinero_bound and fuzz.settings_steered >= SETTINGS_CHECKED_IN_DINERO:
        value = None
    if isinstance(value, str) and re.fullmatch(TENANT_PATTERN, value):
        parameters["tenant"] = tenant.tenant_id
        fuzz.settings_steered += dinero_bound
    letter = parameters.get("dead_letter_id")
    if isinstance(letter, int) and 1 <= letter < 2**63:
        # Only this run's own dead letters are re-driven, never another test's.
        known = fuzz.dead_letter_ids
        parameters["dead_letter_id"] = known[letter % len(known)] if known else 2**62
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("dinero_organization_id"), int):
        body["dinero_organization_id"] = tenant.org_id  # the org its Dinero key opens
    source_event_id = body.get("source_event_id") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(source_event_id, str):
        # Ids come from the body; Hypothesis repeats small ones, which would be redeliveries.
        fuzz.sent_events += 1
        body["source_event_id"] = f"{source_event_id[:200]}~{fuzz.sent_events}"


def _send(fuzz: Fuzz, http: httpx.Client, base: str, case: Case[Any]) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=base)
    headers = {
        k: v for k, v in kwargs.get("headers", {}).items() if not k.startswith("X-Schemathesis")
    }
    body: bytes | None = None
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()
    elif isinstance(kwargs.get("data"), str | bytes):
        data = kwargs["data"]
        body = data.encode() if isinstance(data, str) else data
    tenant = fuzz.tenant_for(case.path)
    payload = body or b""
    if case.path.endswith(("/events", "/events/batch")):
        headers["Bogfoer-Signature"] = signature(tenant.shop.secret, payload)
        headers.pop("Authorization", None)
        headers.pop("authorization", None)
    elif case.path.endswith("/webhooks/stripe"):
        headers["Stripe-Signature"] = sign(payload, tenant.stripe_webhook_secret)
    else:
        headers.pop("authorization", None)
        headers["Authorization"] = f"Bearer {fuzz.stack.admin_token}"
    return http.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        content=body,
        # Header values as bytes: a generated value need not be Latin-1.
        headers={k.encode(): str(v).encode() for k, v in headers.items()},
    )


def _record(fuzz: Fuzz, case: Case[Any], response: httpx.Response) -> None:
    fuzz.statuses[response.status_code] = fuzz.statuses.get(response.status_code, 0) + 1
    fuzz.sent += 1
    if response.status_code == 202 and case.path.endswith("/events"):
        fuzz.accepted_events.add(response.json()["event_id"])
    if response.status_code == 200 and case.path.endswith("/events/batch"):
        results = response.json()["results"]
        fuzz.accepted_events.update(r["event_id"] for r in results if r["status"] == "accepted")
    if response.status_code == 200 and case.path.endswith("/webhooks/stripe"):
        answer = response.json()
        fuzz.accepted_stripe[answer["stripe_event_id"]] = answer["type"]


def _has_inputs(operation: Any) -> bool:
    return bool(operation.body or list(operation.iter_parameters()))


def _fuzz(fuzz: Fuzz) -> None:
    base = fuzz.stack.url(fuzz.service)
    operations = list(_operations(base))
    # Routes without inputs (health) have one possible request each.
    fixed = [op for op in operations if not _has_inputs(op)]  # one request says it all
    open_ = [op for op in operations if _has_inputs(op)]
    per_operation = math.ceil((REQUESTS_PER_SERVICE - len(fixed)) / max(1, len(open_)))
    started = time.monotonic()
    with httpx.Client(timeout=30) as http:
        letters = http.get(
            f"{fuzz.stack.url('ledger')}/v1/dead-letters",
            params={"tenant": fuzz.events_tenant.tenant_id},
            headers={"Authorization": f"Bearer {fuzz.stack.admin_token}"},
        )
        if letters.status_code == 200:
            fuzz.dead_letter_ids = [letter["id"] for letter in letters.json()]
        for operation in operations:
            target = per_operation if _has_inputs(operation) else 1
            first = fuzz.sent
            # Hypothesis stops early on a small input space; go again until the share is sent.
            while (missing := target - (fuzz.sent - first)) > 0:
                before = fuzz.sent
                _run(fuzz, http, base, operation, missing)
                if fuzz.sent == before:
                    break  # nothing new can be generated
    took = time.monotonic() - started
    print(  # noqa: T201 - the figures of the run
        f"\n[fuzz] {fuzz.service}: {fuzz.sent} requests in {took:.0f} s over {len(operations)} "
        f"routes ({per_operation} to each with inputs); "
        f"statuses {dict(sorted(fuzz.statuses.items()))}"
    )
    if open_:
        assert fuzz.sent >= REQUESTS_PER_SERVICE
    else:  # only fixed routes (the mapper's health): each asked, nothing to generate
        assert fuzz.sent == len(fixed)


def _run(fuzz: Fuzz, http: httpx.Client, base: str, operation: Any, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation))
    def run(case: Case[Any]) -> None:
        _steer(fuzz, case)
        try:
            response = _send(fuzz, http, base, case)
        except httpx.HTTPError as exc:  # no answer is a failure too: say to what
            raise AssertionError(
                f"{case.method} {case.formatted_path} {case.query} {case.body!r:.500}: {exc!r}"
            ) from exc
        _record(fuzz, case, response)
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("service", SERVICES)
async def test_generated_requests_get_no_5xx_no_2xx_for_refused_input_and_lose_nothing(
    new_tenant: Any, stack: Stack, database_url: str, service: str
) -> None:
    # Every order is invoiced at once and nothing is before the cutover, so an accepted
    # event has somewhere visible to go.
    events = new_tenant(booking_mode="draft", trigger="order_placed", cutover="2000-01-01")
    admin = new_tenant(booking_mode="draft", trigger="order_placed")
    fuzz = Fuzz(stack, service, events, admin)
    await asyncio.to_thread(_fuzz, fuzz)
    if service == "ingest":
        await _nothing_lost(fuzz, database_url)


# --- nothing accepted is lost -----------------------------------------------------------


@dataclass
class Books:
    events: dict[str, tuple[str, bool, str | None]]  # event id -> (state key, processed, outcome)
    states: dict[str, OrderState]
    postings: dict[str, dict[str, Any]]  # posting key -> {state, kind, command}
    dead_letter_payloads: list[bytes]

    def dead_lettered(self, needle: str) -> bool:
        return any(needle.encode() in payload for payload in self.dead_letter_payloads)


async def _books(database_url: str, tenant: str) -> Books:
    conn = await asyncpg.connect(database_url)
    try:
        events = {
            r["event_id"]: (r["state_key"], r["processed"], r["outcome"])
            for r in await conn.fetch(
                "SELECT event_id, state_key, processed, outcome FROM mapper.events"
                " WHERE tenant_id = $1",
                tenant,
            )
        }
        states = {
            r["state_key"]: OrderState.load(r["state"])
            for r in await conn.fetch(
                "SELECT state_key, state::text AS state FROM mapper.order_states"
                " WHERE tenant_id = $1",
                tenant,
            )
        }
        postings = {
            r["posting_key"]: {
                "state": r["state"],
                "kind": r["kind"],
                "command": json.loads(r["command"]) if r["command"] else None,
            }
            for r in await conn.fetch(
                "SELECT posting_key, state, kind, command::text AS command FROM ledger.postings"
                " WHERE tenant_id = $1",
                tenant,
            )
        }
        letters = [
            bytes(r["payload"])
            for r in await conn.fetch(
                "SELECT payload FROM ledger.dead_letters WHERE tenant_id = $1 OR tenant_id IS NULL",
                tenant,
            )
        ]
        return Books(events, states, postings, letters)
    finally:
        await conn.close()


def _lost(books: Books, accepted: set[str]) -> list[str]:
    """What is wrong with the accepted events' fate; empty when every one is accounted for."""
    problems: list[str] = []
    for event_id in sorted(accepted):
        if event_id not in books.events:
            if not books.dead_lettered(event_id):
                problems.append(f"{event_id}: accepted, but neither mapped nor dead-lettered")
            continue
        state_key, processed, outcome = books.events[event_id]
        if not processed:
            problems.append(f"{event_id}: not processed yet ({state_key})")
            continue
        state = books.states.get(state_key)
        if state is None:
            problems.append(f"{event_id}: processed ({outcome}) but its state is gone")
            continue
        settled = state.emitted or state.holds_raised
        # An order cancelled before it was invoiced is never booked (mapper-rules.md).
        if state.placed is not None and not settled and not state.cancelled_before_invoice:
            problems.append(f"{event_id}: {state_key} has its order but nothing booked or held")
    for state_key, state in books.states.items():
        for key in state.emitted:
            posting = books.postings.get(key)
            if posting is None:
                problems.append(f"{state_key}: emitted {key}, which the ledger never got")
                continue
            command = posting["command"] or {}
            shared = posting["kind"] == "contact" or command.get("purpose") == "fee"
            if not shared and not set(command.get("source_event_ids", [])) & set(
                state.seen_event_ids
            ):
                problems.append(f"{state_key}: {key} in the ledger belongs to other facts")
        for marker in state.holds_raised:
            key = marker.split("|", 1)[0]
            if key not in books.postings:
                problems.append(f"{state_key}: held {key}, which the ledger never showed")
    return problems


async def _nothing_lost(fuzz: Fuzz, database_url: str) -> None:
    """Every shop event accepted has reached the books, a hold or a dead letter (or waits
    for its order, as documented), once the pipeline has settled."""
    accepted = fuzz.accepted_events
    assert accepted, "the fuzzing was accepted nowhere: it never reached the pipeline"
    deadline = time.monotonic() + 90
    problems = ["not checked"]
    while time.monotonic() < deadline:
        books = await _books(database_url, fuzz.events_tenant.tenant_id)
        problems = _lost(books, accepted)
        if not problems:
            break
        await asyncio.sleep(1.0)
    print(  # noqa: T201 - the figures of the run
        f"\n[fuzz] {len(accepted)} shop events accepted, {len(fuzz.accepted_stripe)} Stripe "
        f"events; ledger: {len(books.postings)} postings "
        f"({sum(p['state'] == 'held' for p in books.postings.values())} held), "
        f"{len(books.dead_letter_payloads)} dead letters"
    )
    assert not problems, "\n".join(problems[:30])
