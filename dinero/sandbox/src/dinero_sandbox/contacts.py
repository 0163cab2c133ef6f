"""Contacts: create, get, update, delete, list with queryFilter."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dinero_sandbox.context import guard, json_body, path_guid
from dinero_sandbox.errors import deleted, not_found, validation
from dinero_sandbox.jsonio import DecimalJSONResponse
from dinero_sandbox.listing import make_filter, paginate, parse_changes_since, project
from dinero_sandbox.parsing import MAX_REFERENCE_LENGTH, boolean, integer, text
from dinero_sandbox.state import Contact, Organization

REQUIRED = ("Name", "CountryKey", "IsPerson", "IsMember", "UseCvr")
TEXT_FIELDS = (
    "Name",
    "CountryKey",
    "ExternalReference",
    "Email",
    "Street",
    "ZipCode",
    "City",
    "Phone",
    "Webpage",
    "AttPerson",
    "VatNumber",
    "EanNumber",
    "PaymentConditionType",
    "PreferredInvoiceLanguageKey",
    "PreferredInvoiceCurrencyKey",
)
BOOL_FIELDS = ("IsPerson", "IsMember", "UseCvr")
FILTERABLE = ("Name", "Email", "ExternalReference", "VatNumber", "EanNumber", "IsPerson")
DEFAULT_FIELDS = "ContactGuid,Name"


def _read(body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        limit = MAX_REFERENCE_LENGTH if name == "ExternalReference" else None
        data[name] = text(body, name, required=name in REQUIRED, max_length=limit)
    for name in BOOL_FIELDS:
        data[name] = boolean(body, name, required=True)
    data["PaymentConditionNumberOfDays"] = integer(body, "PaymentConditionNumberOfDays")
    country = data["CountryKey"]
    if not (len(country) == 2 and country.isalpha()):
        raise validation("CountryKey", "CountryKey must be an ISO 3166 alpha-2 code.")
    data["CountryKey"] = country.upper()
    return data


def contact_row(contact: Contact) -> dict[str, Any]:
    return {
        "ContactGuid": contact.guid,
        **contact.data,
        "IsDebitor": True,
        "IsCreditor": False,
        "CreatedAt": contact.created_at,
        "UpdatedAt": contact.updated_at,
        "DeletedAt": contact.deleted_at,
    }


def _find(org: Organization, guid: str) -> Contact:
    contact = org.contacts.get(guid)
    if contact is None:
        raise not_found("contact")
    return contact


async def create_contact(request: Request) -> Response:
    sandbox, org = guard(request)
    data = _read(await json_body(request))
    now = sandbox.utcnow()
    contact = Contact(
        guid=str(uuid.uuid4()),
        seq=sandbox.state.next_seq(),
        data=data,
        created_at=now,
        updated_at=now,
    )
    org.contacts[contact.guid] = contact
    sandbox.persist()
    return DecimalJSONResponse({"ContactGuid": contact.guid}, status_code=201)


async def get_contact(request: Request) -> Response:
    _, org = guard(request)
    contact = _find(org, path_guid(request, "guid", "contact"))
    return DecimalJSONResponse(contact_row(contact))


async def update_contact(request: Request) -> Response:
    sandbox, org = guard(request)
    contact = _find(org, path_guid(request, "guid", "contact"))
    if contact.deleted_at is not None:
        raise deleted("Contact")
    contact.data = _read(await json_body(request))
    contact.updated_at = sandbox.utcnow()
    sandbox.persist()
    return Response(status_code=200)


async def delete_contact(request: Request) -> Response:
    sandbox, org = guard(request)
    contact = _find(org, path_guid(request, "guid", "contact"))
    if contact.deleted_at is not None:
        raise deleted("Contact")
    contact.deleted_at = contact.updated_at = sandbox.utcnow()
    sandbox.persist()
    return Response(status_code=200)


async def list_contacts(request: Request) -> Response:
    """Ordered by UpdatedAt; deleted contacts only with deletedOnly=true."""
    _, org = guard(request)
    params = request.query_params
    matches = make_filter(params.get("queryFilter"), FILTERABLE)
    since = parse_changes_since(params.get("changesSince"))
    deleted_only = params.get("deletedOnly", "false").lower() == "true"
    everything = sorted(org.contacts.values(), key=lambda c: (c.updated_at, c.seq))
    rows = [
        project(contact_row(c), params.get("fields"), DEFAULT_FIELDS)
        for c in everything
        if (c.deleted_at is not None) == deleted_only
        and (since is None or c.updated_at >= since)
        and matches(contact_row(c))
    ]
    return DecimalJSONResponse(paginate(rows, len(everything), params))
