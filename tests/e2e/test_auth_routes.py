"""Every route of every service, read from its OpenAPI, refuses missing and wrong credentials
unless it is on the short list of public ones below, so a new route cannot slip through
unauthenticated. Viewers cannot change anything; a tenant's read token reads that tenant
only."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx

from bogfoer_devstack.stack import SERVICES

# Public on purpose: probes, the login page itself, and the portal's doors for shop owners
# (the page that says to use a link; the one-time link, which is the credential; Visma
# Connect's answer, matched by its single-use state; tests/e2e/test_onboarding_api.py
# shows a finish only works for the session that started it).
PUBLIC = {
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/ops/login"),
    ("POST", "/ops/login"),
    ("GET", "/portal"),
    ("GET", "/portal/start/{token}"),
    ("POST", "/portal/start/{token}"),
    ("GET", "/portal/dinero/callback"),
    ("POST", "/portal/dinero/callback"),
    ("GET", "/portal/dinero/finish"),
}
# Authenticated by a scheme of their own (the shop's signature or API key, Stripe's
# signature), per tenant; tests/integration/test_ingest_api.py covers them.
OWN_SCHEME = {
    ("POST", "/v1/tenants/{tenant}/events"),
    ("POST", "/v1/tenants/{tenant}/events/batch"),
    ("POST", "/v1/tenants/{tenant}/webhooks/stripe"),
}
# Reads that only operators may do (they list who holds a tenant's tokens).
OPERATOR_READS = {("GET", "/v1/tenants/{tenant}/read-tokens")}
SAMPLE = {"tenant": "route-test", "posting_key": "bogfoer:route-test:invoice:x:1"}


def _path(template: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m.group(1), "1"), template)


def _routes(http: httpx.Client, base: str) -> list[tuple[str, str]]:
    spec = http.get(f"{base}/openapi.json").json()
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _call(http: httpx.Client, base: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return http.request(method, base + _path(path), json=body, **kwargs)


def _refused(response: httpx.Response, path: str, status: int, reasons: set[str]) -> str | None:
    """None when refused as expected, else what went wrong."""
    for pages, login in (("/ops", "/ops/login"), ("/portal", "/portal")):
        if path.startswith(pages):
            location = response.headers.get("location", "")
            if response.status_code == 303 and location.startswith(login):
                return None
            return f"{response.status_code} (a web page must send strangers to {login})"
    if response.status_code != status:
        return f"{response.status_code} {response.text[:200]}"
    reason = response.json()["error"]["reason"]
    return None if reason in reasons else f"reason {reason}"


def test_every_admin_and_ops_route_refuses_missing_and_wrong_credentials(
    stack: Any, http: httpx.Client
) -> None:
    checked = 0
    problems: list[str] = []
    wrong = {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"}
    forged = secrets.token_urlsafe(32)
    forged_session = {"Cookie": f"bogfoer_ops={forged}; bogfoer_portal={forged}"}
    viewer = {"Authorization": f"Bearer {stack.viewer_token}"}
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        for service in SERVICES:
            base = stack.url(service)
            routes = _routes(client, base)
            assert ("GET", "/metrics") in routes, f"{service} exports no /metrics"
            for method, path in routes:
                if (method, path) in PUBLIC | OWN_SCHEME:
                    continue
                checked += 1
                where = f"{service} {method} {path}"
                missing = _refused(
                    _call(client, base, method, path), path, 401, {"missing_credentials"}
                )
                bad = _refused(
                    _call(client, base, method, path, headers=wrong | forged_session),
                    path,
                    401,
                    {"bad_credentials"},
                )
                problems += [f"{where} without credentials: {missing}"] if missing else []
                problems += [f"{where} with wrong credentials: {bad}"] if bad else []
                if not path.startswith(("/ops", "/portal")) and (
                    method != "GET" or (method, path) in OPERATOR_READS
                ):
                    as_viewer = _call(client, base, method, path, headers=viewer)
                    if as_viewer.status_code != 403:
                        problems.append(f"{where} as a viewer: {as_viewer.status_code}")
    assert not problems, "\n".join(problems)
    assert checked >= 45  # the five services' protected routes were all found


def test_a_tenant_read_token_reads_its_tenant_and_nothing_else(
    stack: Any, http: httpx.Client, new_tenant: Any, operator: Any
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    ledger = stack.url("ledger")
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    issued = http.post(
        f"{ledger}/v1/tenants/{mine.tenant_id}/read-tokens",
        json={"label": "the shop platform"},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    as_tenant = {"Authorization": f"Bearer {token}"}

    own = http.get(f"{ledger}/v1/tenants/{mine.tenant_id}/postings", headers=as_tenant)
    assert own.status_code == 200, own.text
    counts = http.get(f"{ledger}/v1/tenants/{mine.tenant_id}/counts", headers=as_tenant)
    assert counts.status_code == 200
    for path in (
        f"/v1/tenants/{theirs.tenant_id}/postings",
        f"/v1/tenants/{theirs.tenant_id}/postings/bogfoer:{theirs.tenant_id}:invoice:x:1",
        f"/v1/tenants/{theirs.tenant_id}/counts",
    ):
        other = http.get(ledger + path, headers=as_tenant)
        assert (other.status_code, other.json()["error"]["reason"]) == (403, "tenant_forbidden")
    for path in ("/v1/counts", "/v1/dead-letters", "/v1/actions", "/metrics"):
        assert http.get(ledger + path, headers=as_tenant).status_code == 403, path
    # Not a login for the ops pages, and not a key for the other services.
    login = http.post(f"{ledger}/ops/login", data={"token": token})
    assert login.status_code == 401
    for service in ("ingest", "mapper", "poster"):
        assert http.get(f"{stack.url(service)}/metrics", headers=as_tenant).status_code == 401

    revoked = http.delete(
        f"{ledger}/v1/tenants/{mine.tenant_id}/read-tokens/{issued.json()['id']}", headers=admin
    )
    assert revoked.status_code == 204
    gone = http.get(f"{ledger}/v1/tenants/{mine.tenant_id}/postings", headers=as_tenant)
    assert (gone.status_code, gone.json()["error"]["reason"]) == (401, "bad_credentials")


def test_a_nul_in_an_ops_form_never_reaches_postgresql(
    stack: Any, http: httpx.Client, new_tenant: Any
) -> None:
    tenant = new_tenant()
    ledger = stack.url("ledger")
    with httpx.Client(base_url=ledger, timeout=30) as browser:
        assert browser.post("/ops/login", data={"token": stack.admin_token}).status_code == 303
        page = browser.get(
            "/ops/confirm", params={"action": "resume_tenant", "tenant": tenant.tenant_id}
        )
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        action_id = re.search(r'name="action_id" value="([^"]+)"', page.text)
        assert csrf is not None
        assert action_id is not None
        acted = browser.post(
            "/ops/actions",
            data={
                "csrf": csrf.group(1),
                "action_id": action_id.group(1),
                "action": "resume_tenant",
                "tenant": tenant.tenant_id,
                "note": "fixed\x00 by hand",
            },
        )
        assert acted.status_code == 303, acted.text
        trail = http.get(
            f"{ledger}/v1/actions",
            params={"tenant": tenant.tenant_id},
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        )
        assert trail.status_code == 200, trail.text
        assert [a["note"] for a in trail.json()] == ["fixed by hand"]
