"""Manual vouchers (finansbilag) under Dinero's own spelling, /vouchers/manuel."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dinero_sandbox.context import Sandbox, guard, json_body, path_guid
from dinero_sandbox.errors import deleted, not_found, stale_timestamp, validation
from dinero_sandbox.jsonio import DecimalJSONResponse
from dinero_sandbox.listing import make_filter, paginate, parse_changes_since, project
from dinero_sandbox.money import ore_to_kroner, vat_from_gross
from dinero_sandbox.parsing import (
    MAX_REFERENCE_LENGTH,
    day,
    integer,
    required_amount_ore,
    text,
    timestamp,
)
from dinero_sandbox.seed import SYSTEM_ACCOUNTS
from dinero_sandbox.state import Organization, Voucher, VoucherLine

FILTERABLE = ("ExternalReference",)
DEFAULT_FIELDS = "Guid,VoucherNumber,VoucherDate,ExternalReference,Status,Timestamp"


def _vat_code(item: dict[str, Any], name: str, org: Organization, where: str) -> str | None:
    """None → the account's default code; "none"/"NONE" → no VAT; "" is refused (reports
    disagree whether Dinero accepts it, so the sandbox takes the conservative side)."""
    if name.lower() not in item or item[name.lower()] is None:
        return None
    code = text(item, name)
    if code == "":
        raise validation(f"{where}.{name}", "Send null or 'none', never an empty string.")
    assert code is not None
    if code.lower() == "none":
        return "none"
    if org.vat_type(code) is None:
        raise validation(f"{where}.{name}", f"Unknown VAT code {code}.")
    return code.upper()


def _account(
    item: dict[str, Any], name: str, org: Organization, where: str, required: bool
) -> int | None:
    number = integer(item, name, required=required)
    if number is None:
        return None
    if number not in org.accounts:
        raise validation(f"{where}.{name}", f"Account {number} does not exist.")
    if number in SYSTEM_ACCOUNTS:
        # Dinero may refuse the debtor control and VAT accounts on vouchers; refuse [unverified].
        raise validation(f"{where}.{name}", f"Account {number} cannot be used on a voucher.")
    return number


def _read(body: dict[str, Any], org: Organization) -> dict[str, Any]:
    raw = body.get("lines")
    if not isinstance(raw, list) or not raw:
        raise validation("Lines", "A voucher needs at least one line.")
    lines = []
    for index, item in enumerate(raw):
        where = f"Lines[{index}]"
        if not isinstance(item, dict):
            raise validation(where, "Each line must be an object.")
        account = _account(item, "AccountNumber", org, where, required=True)
        assert account is not None  # required=True raised otherwise
        amount = required_amount_ore(item, "Amount")
        lines.append(
            VoucherLine(
                description=text(item, "Description"),
                account_number=account,
                balancing_account_number=_account(
                    item, "BalancingAccountNumber", org, where, required=False
                ),
                amount_ore=amount,
                account_vat_code=_vat_code(item, "AccountVatCode", org, where),
                balancing_account_vat_code=_vat_code(item, "BalancingAccountVatCode", org, where),
            )
        )
    voucher_date = day(body, "VoucherDate", required=True)
    return {
        "voucher_date": voucher_date,
        "external_reference": text(body, "ExternalReference", max_length=MAX_REFERENCE_LENGTH),
        "file_guid": text(body, "FileGuid"),
        "lines": lines,
    }


def _line_row(line: VoucherLine, org: Organization) -> dict[str, Any]:
    code = line.account_vat_code
    resolved = org.accounts[line.account_number].vat_code if code is None else code
    vat = org.vat_type(resolved)
    vat_ore = vat_from_gross(line.amount_ore, vat.rate) if vat and not org.is_vat_free else 0
    return {
        "Description": line.description,
        "AccountNumber": line.account_number,
        "BalancingAccountNumber": line.balancing_account_number,
        "Amount": ore_to_kroner(line.amount_ore),
        "AccountVatCode": line.account_vat_code,
        "BalancingAccountVatCode": line.balancing_account_vat_code,
        "AmountExclVatValue": ore_to_kroner(line.amount_ore - vat_ore),
        "AmountInclVatValue": ore_to_kroner(line.amount_ore),
        "VatAmountValue": ore_to_kroner(vat_ore),
    }


def voucher_row(voucher: Voucher, org: Organization) -> dict[str, Any]:
    return {
        "Guid": voucher.guid,
        "Timestamp": voucher.timestamp,
        "VoucherNumber": voucher.number,
        "Status": voucher.status,
        "VoucherDate": voucher.voucher_date,
        "ExternalReference": voucher.external_reference,
        "FileGuid": voucher.file_guid,
        "Lines": [_line_row(line, org) for line in voucher.lines],
        "CreatedAt": voucher.created_at,
        "UpdatedAt": voucher.updated_at,
        "DeletedAt": voucher.deleted_at,
    }


def _find(org: Organization, request: Request) -> Voucher:
    voucher = org.vouchers.get(path_guid(request, "guid", "voucher"))
    if voucher is None:
        raise not_found("voucher")
    return voucher


def _mutable(voucher: Voucher, given: str | None) -> None:
    if voucher.deleted_at is not None:
        raise deleted("Voucher")
    if given is not None and given.upper() != voucher.timestamp:
        raise stale_timestamp("voucher")


def _touch(sandbox: Sandbox, voucher: Voucher) -> None:
    voucher.timestamp = sandbox.state.next_timestamp()
    voucher.updated_at = sandbox.utcnow()


async def create_voucher(request: Request) -> Response:
    sandbox, org = guard(request)
    fields = _read(await json_body(request), org)
    now = sandbox.utcnow()
    voucher = Voucher(
        guid=str(uuid.uuid4()),
        seq=sandbox.state.next_seq(),
        timestamp=sandbox.state.next_timestamp(),
        created_at=now,
        updated_at=now,
        **fields,
    )
    org.vouchers[voucher.guid] = voucher
    sandbox.persist()
    return DecimalJSONResponse(
        {"Guid": voucher.guid, "Timestamp": voucher.timestamp}, status_code=201
    )


async def get_voucher(request: Request) -> Response:
    _, org = guard(request)
    voucher = _find(org, request)
    if voucher.deleted_at is not None:
        raise deleted("Voucher", status=404)
    return DecimalJSONResponse(voucher_row(voucher, org))


async def update_voucher(request: Request) -> Response:
    sandbox, org = guard(request)
    voucher = _find(org, request)
    body = await json_body(request)
    _mutable(voucher, timestamp(body))
    if voucher.status != "Draft":
        raise validation("Status", "Only a draft voucher can be updated.")
    for name, value in _read(body, org).items():
        setattr(voucher, name, value)
    _touch(sandbox, voucher)
    sandbox.persist()
    return DecimalJSONResponse({"Guid": voucher.guid, "Timestamp": voucher.timestamp})


async def delete_voucher(request: Request) -> Response:
    """Needs {"Timestamp"} in the JSON body; a query parameter is not enough."""
    sandbox, org = guard(request)
    voucher = _find(org, request)
    body = await json_body(request)
    _mutable(voucher, timestamp(body))
    if voucher.status != "Draft":
        raise validation("Status", "Only a draft voucher can be deleted.")
    voucher.deleted_at = sandbox.utcnow()
    _touch(sandbox, voucher)
    sandbox.persist()
    return Response(status_code=200)


async def book_voucher(request: Request) -> Response:
    sandbox, org = guard(request)
    voucher = _find(org, request)
    body = await json_body(request)
    _mutable(voucher, timestamp(body))
    if voucher.status != "Draft":
        raise validation("Status", "The voucher is already booked.")
    unbalanced = sum(
        line.amount_ore for line in voucher.lines if line.balancing_account_number is None
    )
    if unbalanced:
        raise validation("Lines", "Lines without a balancing account must sum to zero.")
    requested = integer(body, "Number")
    used = {v.number for v in org.vouchers.values() if v.number is not None}
    if requested is not None and (requested <= 0 or requested in used):
        raise validation("Number", f"Number {requested} is already used or invalid.")
    number = requested if requested is not None else org.next_voucher_number
    while requested is None and number in used:
        number += 1
    org.next_voucher_number = max(org.next_voucher_number, number + 1)
    voucher.number = number
    voucher.status = "Booked"
    voucher.booked_at = sandbox.utcnow()
    _touch(sandbox, voucher)
    sandbox.persist()
    return DecimalJSONResponse(voucher_row(voucher, org))


async def list_vouchers(request: Request) -> Response:
    """GET /v1/{org}/vouchers/manuel — a sandbox convenience in Dinero's list shape [unverified]."""
    _, org = guard(request)
    params = request.query_params
    matches = make_filter(params.get("queryFilter"), FILTERABLE)
    since = parse_changes_since(params.get("changesSince"))
    deleted_only = params.get("deletedOnly", "false").lower() == "true"
    everything = sorted(org.vouchers.values(), key=lambda v: v.seq)
    rows = []
    for voucher in everything:
        row = voucher_row(voucher, org)
        if (voucher.deleted_at is not None) != deleted_only or not matches(row):
            continue
        if since is not None and voucher.updated_at < since:
            continue
        rows.append(project(row, params.get("fields"), DEFAULT_FIELDS))
    return DecimalJSONResponse(paginate(rows, len(everything), params))
