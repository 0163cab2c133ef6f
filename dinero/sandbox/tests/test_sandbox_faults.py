"""Each fault kind: 5xx, 480 brownout, latency, hang, commit-then-drop; seeded rates; start-up."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from sandbox_harness import Api

from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration

INVOICES = "/v1/*/invoices"


def test_next_n_matching_requests_get_a_5xx(dinero_sandbox: SandboxHandle, api: Api) -> None:
    dinero_sandbox.add_fault(kind="error", status=503, method="GET", path="/v1/*/vatTypes", count=2)
    statuses = [api.get("/vatTypes").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert api.get("/accounts/entry").status_code == 200
    logged = dinero_sandbox.requests(org=api.org, path_contains="vatTypes")
    assert [(r["status"], r["fault"]) for r in logged] == [
        (503, "error"),
        (503, "error"),
        (200, None),
    ]


def test_brownout_480(dinero_sandbox: SandboxHandle, api: Api) -> None:
    dinero_sandbox.add_fault(kind="brownout", path="/v1/*/contacts", count=1)
    assert api.get("/contacts").status_code == 480
    assert api.get("/contacts").status_code == 200


def test_latency_delays_but_serves(dinero_sandbox: SandboxHandle, api: Api) -> None:
    dinero_sandbox.add_fault(kind="latency", delay_ms=600, path="/v1/*/vatTypes")
    started = time.monotonic()
    assert api.get("/vatTypes").status_code == 200
    assert time.monotonic() - started >= 0.6


def test_hang_outlasts_a_client_timeout_and_applies_nothing(
    dinero_sandbox: SandboxHandle, api: Api
) -> None:
    dinero_sandbox.add_fault(kind="hang", method="POST", path="/v1/*/contacts", count=1)
    body = {"Name": "x", "CountryKey": "DK", "IsPerson": True, "IsMember": False, "UseCvr": False}
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(api.url("/contacts"), json=body, timeout=0.5)
    assert api.get("/contacts").json()["Pagination"]["Result"] == 0


def test_commit_then_drop_applies_the_write_and_aborts(
    dinero_sandbox: SandboxHandle, api: Api
) -> None:
    contact = api.contact()
    dinero_sandbox.add_fault(kind="drop_after_commit", method="POST", path=INVOICES, count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.invoice(contact, ExternalReference="shop:order:77")
    found = api.get(
        "/invoices", params={"queryFilter": "ExternalReference eq 'shop:order:77'"}
    ).json()
    assert found["Pagination"]["Result"] == 1
    logged = dinero_sandbox.requests(org=api.org, method="POST", path_contains="invoices")
    assert (logged[-1]["status"], logged[-1]["fault"]) == (201, "drop_after_commit")


def test_commit_then_hang_never_answers(dinero_sandbox: SandboxHandle, api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    dinero_sandbox.add_fault(
        kind="drop_after_commit",
        mode="hang",
        method="POST",
        path="/v1/*/invoices/*/payments",
        count=1,
    )
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            api.url(f"/invoices/{booked['Guid']}/payments"),
            json={"Timestamp": booked["TimeStamp"], "DepositAccountNumber": 55000, "Amount": 300},
            timeout=0.5,
        )
    payments = api.get(f"/invoices/{booked['Guid']}/payments", version="v2").json()
    assert payments["RemainingAmount"] == 0.0


def test_org_scoped_faults_leave_other_orgs_alone(dinero_sandbox: SandboxHandle, api: Api) -> None:
    dinero_sandbox.set_faults([{"kind": "error", "status": 500, "org": 234567}])
    assert api.get("/vatTypes").status_code == 200
    token = dinero_sandbox.password_token(dinero_sandbox.vat_free_org)
    other = httpx.get(
        f"{dinero_sandbox.base_url}/v1/234567/vatTypes",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert other.status_code == 500
    assert other.json()["code"] == 50
    dinero_sandbox.clear_faults()
    again = httpx.get(
        f"{dinero_sandbox.base_url}/v1/234567/vatTypes",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert again.status_code == 200


def test_seeded_rates_are_reproducible(dinero_sandbox: SandboxHandle, api: Api) -> None:
    def run() -> list[int]:
        dinero_sandbox.set_faults(
            [{"kind": "error", "rate": 0.5, "path": "/v1/*/vatTypes"}], seed=7
        )
        return [api.get("/vatTypes").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(500) < 20


def test_faults_given_at_start(dinero_sandbox_factory: Callable[..., SandboxHandle]) -> None:
    rules = {"seed": 1, "rules": [{"kind": "error", "status": 502, "org": 123456, "count": 1}]}
    sandbox = dinero_sandbox_factory("--faults", json.dumps(rules))
    headers = {"Authorization": f"Bearer {sandbox.password_token()}"}
    assert httpx.get(f"{sandbox.base_url}/v1/123456/vatTypes", headers=headers).status_code == 502
    assert httpx.get(f"{sandbox.base_url}/v1/123456/vatTypes", headers=headers).status_code == 200
