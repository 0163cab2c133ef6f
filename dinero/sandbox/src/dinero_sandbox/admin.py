"""The sandbox-only API under /_sandbox/: health, reset, request log, trial balance, consent,
token expiry and faults. Not part of Dinero; admin JSON is snake_case, money in integer øre."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dinero_sandbox.auth import expire_tokens, revoke_org
from dinero_sandbox.context import sandbox_of
from dinero_sandbox.faults import FaultRule, parse_fault_config
from dinero_sandbox.jsonio import DecimalJSONResponse
from dinero_sandbox.ledger import journal, trial_balance
from dinero_sandbox.seed import SEED_ORGS, default_chart, default_vat_types
from dinero_sandbox.state import Account, ConnectUser, Organization


def _org(request: Request) -> Organization | None:
    return sandbox_of(request).state.orgs.get(int(request.path_params["org"]))


def _unknown_org() -> JSONResponse:
    return JSONResponse({"error": "unknown organisation"}, status_code=404)


async def health(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return JSONResponse(
        {"status": "ok", "orgs": sorted(sandbox.state.orgs), "port": sandbox.config.port}
    )


async def reset(request: Request) -> Response:
    sandbox_of(request).reset()
    return JSONResponse({"status": "reset", "orgs": [o.id for o in SEED_ORGS]})


async def requests_log(request: Request) -> Response:
    sandbox = sandbox_of(request)
    params = request.query_params
    entries: list[dict[str, Any]] = sandbox.requests
    if params.get("org"):
        entries = [e for e in entries if e["org"] == int(params["org"])]
    if params.get("method"):
        entries = [e for e in entries if e["method"] == params["method"].upper()]
    if params.get("path_contains"):
        entries = [e for e in entries if params["path_contains"] in e["path"]]
    if params.get("since_seq"):
        entries = [e for e in entries if e["seq"] > int(params["since_seq"])]
    # Bodies were parsed with Decimal; re-render through the Decimal-safe encoder.
    return DecimalJSONResponse({"requests": entries})


async def clear_requests(request: Request) -> Response:
    sandbox_of(request).requests.clear()
    return JSONResponse({"status": "cleared"})


async def trial_balance_view(request: Request) -> Response:
    org = _org(request)
    if org is None:
        return _unknown_org()
    balances = trial_balance(org)
    return JSONResponse(
        {
            "org": org.id,
            "unit": "øre, debit positive",
            "balances": {str(k): v for k, v in balances.items()},
            "accounts": [
                {
                    "number": number,
                    "name": org.accounts[number].name if number in org.accounts else None,
                    "balance": balance,
                }
                for number, balance in balances.items()
            ],
            "total": sum(balances.values()),
        }
    )


async def journal_view(request: Request) -> Response:
    org = _org(request)
    if org is None:
        return _unknown_org()
    return JSONResponse(
        {
            "org": org.id,
            "postings": [
                {
                    "account": p.account,
                    "amount": p.amount_ore,
                    "date": p.date.isoformat(),
                    "source": p.source,
                }
                for p in journal(org)
            ],
        }
    )


async def emails(request: Request) -> Response:
    org = _org(request)
    if org is None:
        return _unknown_org()
    return Response(
        "[" + ",".join(e.model_dump_json() for e in org.emails) + "]",
        media_type="application/json",
    )


async def revoke(request: Request) -> Response:
    org = _org(request)
    if org is None:
        return _unknown_org()
    return JSONResponse({"revoked_grants": revoke_org(sandbox_of(request), org.id)})


async def expire(request: Request) -> Response:
    raw = request.query_params.get("org")
    count = expire_tokens(sandbox_of(request), int(raw) if raw else None)
    return JSONResponse({"expired": count})


async def get_faults(request: Request) -> Response:
    return Response(
        sandbox_of(request).faults.snapshot().model_dump_json(), media_type="application/json"
    )


async def put_faults(request: Request) -> Response:
    """Replace every rule: body {"seed": 1, "rules": [...]} or a bare list of rules."""
    try:
        config = parse_fault_config(await request.body())
    except ValidationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    sandbox_of(request).faults.replace(config)
    return await get_faults(request)


async def add_fault(request: Request) -> Response:
    try:
        rule = FaultRule.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    sandbox_of(request).faults.add(rule)
    return await get_faults(request)


async def clear_faults(request: Request) -> Response:
    faults = sandbox_of(request).faults
    faults.rules.clear()
    return await get_faults(request)


async def reset_rate_limits(request: Request) -> Response:
    sandbox_of(request).limiter.reset()
    return JSONResponse({"status": "reset"})


async def create_org(request: Request) -> Response:
    """A fresh organisation with the default chart, so each test or demo tenant owns one.

    Body (all optional): `name`, `is_pro` (true), `is_vat_free` (false), `api_key`,
    `deposit_accounts` [{"number", "name"}] added to the chart (e.g. 55010 "Stripe"), and
    `connect_user`: the e-mail of a Visma Connect user (made on first use) who reaches this
    organisation; `login_hint` at the authorize call picks them.
    """
    body: dict[str, Any] = await request.json() if await request.body() else {}
    sandbox = sandbox_of(request)
    org_id = max([*sandbox.state.orgs, 900_000]) + 1
    chart = default_chart()
    for extra in body.get("deposit_accounts", []):
        number = int(extra["number"])
        chart[number] = Account(
            number=number, name=str(extra["name"]), category="Assets", is_deposit=True
        )
    org = Organization(
        id=org_id,
        name=str(body.get("name", f"Sandbox org {org_id}")),
        is_pro=bool(body.get("is_pro", True)),
        is_vat_free=bool(body.get("is_vat_free", False)),
        email=f"org{org_id}@bogfoer.test",
        api_key=str(body.get("api_key", f"sandbox-apikey-{org_id}")),
        accounts=chart,
        vat_types=default_vat_types(),
        template_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"dinero-sandbox/template/{org_id}")),
    )
    sandbox.state.orgs[org_id] = org
    if email := body.get("connect_user"):
        user = sandbox.state.users.setdefault(
            str(email),
            ConnectUser(subject=str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{email}")), email=email),
        )
        user.orgs.append(org_id)
    sandbox.persist()
    return JSONResponse(
        {"id": org_id, "api_key": org.api_key, "template_id": org.template_id}, status_code=201
    )


async def edit_account(request: Request) -> Response:
    """A bookkeeper edits an account in Dinero's web app (body: `vat_code`, "none" for no
    VAT): later documents on it get the new VAT, as in Dinero."""
    sandbox = sandbox_of(request)
    org = _org(request)
    if org is None:
        return _unknown_org()
    account = org.accounts.get(int(request.path_params["number"]))
    if account is None:
        return JSONResponse({"error": "unknown account"}, status_code=404)
    body: dict[str, Any] = await request.json()
    code = body.get("vat_code")
    if not isinstance(code, str) or (code.lower() != "none" and org.vat_type(code) is None):
        return JSONResponse({"error": f"unknown VAT code {code!r}"}, status_code=422)
    org.accounts[account.number] = account.model_copy(
        update={"vat_code": None if code.lower() == "none" else code.upper()}
    )
    sandbox.persist()
    return JSONResponse({"number": account.number, "vat_code": code})


async def rotate_api_key(request: Request) -> Response:
    """Dinero issues the organisation a new API key (after a revocation, say): the old key
    and its revocation are gone, the new key works for the legacy grant."""
    sandbox = sandbox_of(request)
    org = _org(request)
    if org is None:
        return _unknown_org()
    org.api_key = f"sandbox-apikey-{org.id}-{uuid.uuid4().hex[:8]}"
    # Tokens issued under the old key die with it (the grant id is the org's id).
    expire_tokens(sandbox, org.id)
    revoked = sandbox.state.auth.revoked_grants
    if str(org.id) in revoked:
        revoked.remove(str(org.id))
    sandbox.persist()
    return JSONResponse({"id": org.id, "api_key": org.api_key})
