"""The independent check after a run: what Dinero holds, read through Dinero's own API (not
our ledger), compared with the fault-free twin's books.

Every document we write carries its posting key as ExternalReference, and a posting key is
`bogfoer:<tenant>:…`: a twin's references are the fault-free shop's with the tenant id
swapped. Counted per reference: invoices, credit notes, manual vouchers, and the payments
on each invoice. Contacts are counted per customer (VAT number, else e-mail address): a
returning customer's orders share one contact, which carries the reference of whichever of
their contact postings created it first, and under retries that need not be the same one
as in the fault-free run; each must still carry one of the twin's contact references. The
trial balance and the e-mails sent come from the sandbox's own books (Dinero's public API
has no trial balance).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from dinero_sandbox.process import SandboxHandle

# (what, ExternalReference) -> how many documents carry it
Documents = Counter[tuple[str, str]]
_LISTS = {
    "contact": ("/v1/{org}/contacts", "ContactGuid,ExternalReference,VatNumber,Email"),
    "invoice": ("/v1/{org}/invoices", "Guid,ExternalReference"),
    "credit note": ("/v1/{org}/sales/creditnotes", "Guid,ExternalReference"),
    "voucher": ("/v1/{org}/vouchers/manuel", "Guid,ExternalReference"),
}


@dataclass(frozen=True)
class Books:
    documents: Documents  # contacts by ("contact", customer), the rest by reference
    balance: dict[int, int]  # øre per account, debit positive, zeros left out
    emails: int
    contact_references: tuple[str, ...] = ()


def _customer(contact: dict[str, Any]) -> str:
    vat = (contact.get("VatNumber") or "").strip()
    return f"vat:{vat}" if vat else f"email:{(contact.get('Email') or '').strip().lower()}"


@dataclass(frozen=True)
class Comparison:
    documents: int  # in the twin's organisation
    duplicates: int  # copies beyond the first of a reference
    missing: int  # references of the fault-free shop the twin lacks
    unexpected: int  # references the twin has and the fault-free shop has not
    balance_equal: bool
    emails: tuple[int, int]  # (fault-free, twin)
    # Which: (what, reference) of the twin's duplicates, missing and unexpected documents.
    differences: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            not (self.duplicates or self.missing or self.unexpected)
            and self.balance_equal
            and self.emails[0] == self.emails[1]
        )


def compare(reference: Books, ref_tenant: str, twin: Books, twin_tenant: str) -> Comparison:
    expected = {(what, ref.replace(ref_tenant, twin_tenant)) for what, ref in reference.documents}
    seen = set(twin.documents)
    ours = f"bogfoer:{twin_tenant}:contact:"
    foreign = [ref for ref in twin.contact_references if not ref.startswith(ours)]
    differences = (
        [f"{n} x {what} {ref}" for (what, ref), n in sorted(twin.documents.items()) if n > 1]
        + [f"missing {what} {ref}" for what, ref in sorted(expected - seen)]
        + [f"unexpected {what} {ref}" for what, ref in sorted(seen - expected)]
        + [f"contact with a foreign reference {ref}" for ref in foreign]
    )
    return Comparison(
        documents=sum(twin.documents.values()),
        duplicates=sum(n - 1 for n in twin.documents.values() if n > 1),
        missing=len(expected - seen),
        unexpected=len(seen - expected) + len(foreign),
        balance_equal=reference.balance == twin.balance,
        emails=(reference.emails, twin.emails),
        differences=tuple(differences),
    )


class DineroReader:
    """Reads an organisation's documents the way any Dinero integration would."""

    def __init__(self, sandbox: SandboxHandle, http: httpx.Client) -> None:
        self.sandbox = sandbox
        self.http = http

    def books(self, org: int, api_key: str) -> Books:
        token = self.sandbox.password_token(org, api_key)
        headers = {"Authorization": f"Bearer {token}"}
        documents: Documents = Counter()
        invoices = []
        contact_references = []
        for what, (path, fields) in _LISTS.items():
            for row in self._list(path.format(org=org), fields, headers):
                reference = row.get("ExternalReference") or ""
                if what == "contact":
                    documents[(what, _customer(row))] += 1
                    contact_references.append(reference)
                    continue
                documents[(what, reference)] += 1
                if what == "invoice":
                    invoices.append(row["Guid"])
        for guid in invoices:
            found = self._get(f"/v2/{org}/invoices/{guid}/payments", {}, headers)
            for payment in found["Payments"]:
                documents[("payment", payment.get("ExternalReference") or "")] += 1
        balance = {k: v for k, v in self.sandbox.trial_balance(org).items() if v}
        emails = len(self.sandbox.emails(org))
        return Books(documents, balance, emails, tuple(contact_references))

    def _list(self, path: str, fields: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            params = {"fields": fields, "pageSize": "1000", "page": str(page)}
            found = self._get(path, params, headers)
            rows += found["Collection"]
            if len(found["Collection"]) < 1000:
                return rows
            page += 1

    def _get(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        for _ in range(30):
            response = self.http.get(
                f"{self.sandbox.base_url}{path}", params=params, headers=headers, timeout=30
            )
            if response.status_code != 429:  # the rate limit: wait for the window to move
                response.raise_for_status()
                return response.json()
            time.sleep(2)
        raise RuntimeError(f"Dinero kept answering 429 to {path}")
