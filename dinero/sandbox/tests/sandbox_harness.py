"""Helpers for the sandbox's own tests: a thin authenticated client and error-shape checks."""

from __future__ import annotations

from typing import Any

import httpx

from dinero_sandbox.process import SandboxHandle


class Api:
    """A thin authenticated client for one organisation of a running sandbox."""

    def __init__(self, sandbox: SandboxHandle, token: str, org: int) -> None:
        self.sandbox = sandbox
        self.org = org
        self.http = httpx.Client(
            base_url=sandbox.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def url(self, path: str, version: str = "v1") -> str:
        return f"/{version}/{self.org}{path}"

    def get(self, path: str, version: str = "v1", **kwargs: Any) -> httpx.Response:
        return self.http.get(self.url(path, version), **kwargs)

    def post(self, path: str, body: Any = None, version: str = "v1") -> httpx.Response:
        return self.http.post(self.url(path, version), json=body)

    def put(self, path: str, body: Any, version: str = "v1") -> httpx.Response:
        return self.http.put(self.url(path, version), json=body)

    def delete(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.request("DELETE", self.url(path), json=body)

    def contact(self, **extra: Any) -> str:
        body = {
            "Name": "Anna Kunde",
            "CountryKey": "DK",
            "IsPerson": True,
            "IsMember": False,
            "UseCvr": False,
            "Email": "anna@kunde.test",
            **extra,
        }
        response = self.post("/contacts", body)
        assert response.status_code == 201, response.text
        guid: str = response.json()["ContactGuid"]
        return guid

    def invoice(self, contact: str, **extra: Any) -> dict[str, Any]:
        body = {
            "ContactGuid": contact,
            "Date": "2025-03-14",
            "ShowLinesInclVat": True,
            "ProductLines": [
                {
                    "Description": "T-shirt",
                    "Quantity": 2,
                    "Unit": "parts",
                    "AccountNumber": 1000,
                    "BaseAmountValue": 125.00,
                },
                {
                    "Description": "Fragt",
                    "Quantity": 1,
                    "Unit": "shipment",
                    "AccountNumber": 1350,
                    "BaseAmountValue": 50.00,
                },
            ],
            **extra,
        }
        response = self.post("/invoices", body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def booked_invoice(self, contact: str, **extra: Any) -> dict[str, Any]:
        created = self.invoice(contact, **extra)
        response = self.post(
            f"/invoices/{created['Guid']}/book", {"Timestamp": created["TimeStamp"]}
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def assert_dinero_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """Dinero's error shape: code, message, validationErrors, errorMessageList."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert isinstance(body["validationErrors"], dict)
    assert isinstance(body["errorMessageList"], list)
    return body
