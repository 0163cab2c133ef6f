"""Organisations, entry and deposit accounts, VAT types, invoice templates, sales settings."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dinero_sandbox.context import authenticate, guard, json_body, sandbox_of
from dinero_sandbox.errors import validation
from dinero_sandbox.jsonio import DecimalJSONResponse
from dinero_sandbox.listing import project
from dinero_sandbox.parsing import required_integer, required_text, text
from dinero_sandbox.state import Account, Organization

# The swagger's default field list, casing included [client]; ask with `fields=` for PascalCase.
ORGANIZATION_DEFAULT_FIELDS = "id,name,isPro"


def organization_row(org: Organization) -> dict[str, Any]:
    return {
        "Id": org.id,
        "Name": org.name,
        "IsPro": org.is_pro,
        "IsVatFree": org.is_vat_free,
        "VatNumber": org.vat_number,
        "Email": org.email,
    }


async def list_organizations(request: Request) -> Response:
    """GET /v1/organizations — a plain array of what the token can reach."""
    sandbox = sandbox_of(request)
    access = authenticate(request)
    fields = request.query_params.get("fields")
    rows = [
        project(organization_row(sandbox.state.orgs[org_id]), fields, ORGANIZATION_DEFAULT_FIELDS)
        for org_id in sorted(access.orgs)
        if org_id in sandbox.state.orgs
    ]
    return DecimalJSONResponse(rows)


def account_row(account: Account) -> dict[str, Any]:
    return {
        "AccountNumber": account.number,
        "Name": account.name,
        "VatCode": account.vat_code or "none",
        "Category": account.category,
        "IsHidden": account.is_hidden,
        "IsDefaultSalesAccount": account.is_default_sales,
    }


async def list_entry_accounts(request: Request) -> Response:
    """Every ledger account, deposit accounts included [unverified]."""
    _, org = guard(request)
    categories = request.query_params.get("categoryFilter")
    wanted = {c.strip().lower() for c in categories.split(",")} if categories else None
    rows = [
        project(account_row(a), request.query_params.get("fields"), ",".join(account_row(a)))
        for a in sorted(org.accounts.values(), key=lambda a: a.number)
        if wanted is None or a.category.lower() in wanted
    ]
    return DecimalJSONResponse(rows)


def deposit_row(account: Account) -> dict[str, Any]:
    return {
        "AccountNumber": account.number,
        "Name": account.name,
        "RegistrationNumber": account.registration_number,
        "BankAccountNumber": account.bank_account_number,
        "IbanNumber": account.iban,
        "SwiftNumber": account.swift,
    }


async def list_deposit_accounts(request: Request) -> Response:
    _, org = guard(request)
    rows = [
        project(deposit_row(a), request.query_params.get("fields"), "AccountNumber,Name")
        for a in sorted(org.accounts.values(), key=lambda a: a.number)
        if a.is_deposit
    ]
    return DecimalJSONResponse(rows)


def _new_account_number(body: dict[str, Any], org: Organization) -> tuple[int, str]:
    number = required_integer(body, "Number")
    name = required_text(body, "Name")
    if number <= 0:
        raise validation("Number", "Number must be positive.")
    if number in org.accounts:
        raise validation("Number", f"Account {number} already exists.")
    return number, name


async def create_deposit_account(request: Request) -> Response:
    """POST /v1/{org}/accounts/deposit — 201 with an empty body."""
    sandbox, org = guard(request)
    body = await json_body(request)
    number, name = _new_account_number(body, org)
    org.accounts[number] = Account(
        number=number,
        name=name,
        category="Assets",
        is_deposit=True,
        registration_number=text(body, "RegistrationNumber"),
        bank_account_number=text(body, "AccountNumber"),
        iban=text(body, "IbanNumber"),
        swift=text(body, "SwiftNumber"),
    )
    sandbox.persist()
    return Response(status_code=201)


async def create_entry_account(request: Request) -> Response:
    """POST /v1/{org}/accounts/entry — 201 with an empty body."""
    sandbox, org = guard(request)
    body = await json_body(request)
    number, name = _new_account_number(body, org)
    vat_code = text(body, "VatCode")
    if vat_code is not None and vat_code.lower() != "none" and org.vat_type(vat_code) is None:
        raise validation("VatCode", f"Unknown VAT code {vat_code}.")
    org.accounts[number] = Account(
        number=number,
        name=name,
        vat_code=None if vat_code is None or vat_code.lower() == "none" else vat_code.upper(),
        category=text(body, "Category") or "Expenses",
    )
    sandbox.persist()
    return Response(status_code=201)


async def list_vat_types(request: Request) -> Response:
    _, org = guard(request)
    return DecimalJSONResponse(
        [{"VatCode": v.code, "Name": v.name, "VatRate": v.rate} for v in org.vat_types]
    )


async def list_templates(request: Request) -> Response:
    _, org = guard(request)
    return DecimalJSONResponse([{"Id": org.template_id, "Name": "Standard", "IsDefault": True}])


async def sales_settings(request: Request) -> Response:
    _, org = guard(request)
    return DecimalJSONResponse(
        {
            "LinesInclVat": False,
            "DefaultAccountNumber": 1000,
            "InvoiceTemplateId": org.template_id,
            "FikCode": None,
            "UseFikCode": False,
            "PaymentConditionType": "Netto",
            "PaymentConditionNumberOfDays": 8,
        }
    )
