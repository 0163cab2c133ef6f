"""The portal's platform API and what guards the flow: steps in order, refusals in words,
one-time links, a consent only its own browser session may finish, the backfill's progress
on the owner's page, and a reconnect after a revoked consent that resumes a parked tenant."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bogfoer_devstack.platform import FormPost, Platform
from bogfoer_devstack.sales import goods, order
from bogfoer_devstack.shop import Shop
from bogfoer_devstack.stripe_double import StripeDoubleClient


def owner_with_orgs(
    http: httpx.Client, sandbox: Any, tenant: str, *pro: bool
) -> tuple[str, list[int]]:
    """A shop owner's Visma Connect login and their organisations (Pro or not)."""
    owner = f"ejer@{tenant}.test"
    orgs = [
        http.post(
            f"{sandbox.base_url}/_sandbox/orgs",
            json={"name": f"{tenant} {i}", "is_pro": is_pro, "connect_user": owner},
        ).json()["id"]
        for i, is_pro in enumerate(pro)
    ]
    return owner, orgs


@dataclass
class Onboarded:
    tenant: str
    owner: str
    org: int
    platform: Platform
    onboarding: dict[str, Any]
    secret: str


def onboarded(
    stack: Any,
    http: httpx.Client,
    sandbox: Any,
    stripe_double: StripeDoubleClient,
    prefix: str,
    since: dt.date | None = None,
) -> Onboarded:
    """A shop onboarded through the platform API, with an empty Stripe account."""
    tenant = f"{prefix}-{secrets.token_hex(3)}"
    owner, (org,) = owner_with_orgs(http, sandbox, tenant, True)
    key = f"rk_test_{tenant.replace('-', '_')}"
    stripe_double.load({"api_key": key})
    platform = Platform(stack, http)
    activated, secret = platform.onboard(
        tenant, owner_email=owner, organisation=org, stripe_api_key=key, since=since
    )
    return Onboarded(tenant, owner, org, platform, activated, secret)


def danish_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_steps_go_in_order_and_refusals_say_why(
    stack: Any, http: httpx.Client, e2e_sandbox: Any, stripe_double: StripeDoubleClient
) -> None:
    tenant = f"api-{secrets.token_hex(3)}"
    owner, (pro, hobby) = owner_with_orgs(http, e2e_sandbox, tenant, True, False)
    platform = Platform(stack, http)
    oid = platform.create(tenant, owner_email=owner)["onboarding"]["id"]

    early = http.put(
        f"{stack.url('portal')}/v1/onboardings/{oid}/organisation",
        json={"organization_id": pro},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    assert early.status_code == 409
    assert early.json()["error"] == {
        "reason": "step_not_open",
        "detail": {"step": "organisation", "next_step": "dinero"},
    }
    assert platform.consent(oid) == "https://platform.test/done"
    orgs = platform.call("GET", f"/{oid}/organisations")
    assert [(o["id"], o["is_pro"]) for o in orgs] == [(pro, True), (hobby, False)]
    refused = platform.call("PUT", f"/{oid}/organisation", {"organization_id": hobby}, expect=422)[
        "error"
    ]
    assert refused["reason"] == "organisation_not_pro"
    assert "no Dinero Pro subscription" in refused["detail"]
    # The poster itself says so too, for settings and charts (it used to answer settings
    # for an organisation without Pro with 409 dinero_not_connected: Dinero's 403 code 90).
    poster = f"{stack.url('poster')}/v1/tenants/{tenant}"
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    settings = {"dinero_organization_id": hobby, "cutover": "2026-11-01"}
    for answer in (
        http.put(f"{poster}/settings", json=settings, headers=admin),
        http.post(f"{poster}/settings/check", json=settings, headers=admin),
        http.get(f"{poster}/dinero/organisations/{hobby}/chart", headers=admin),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["reason"] == "organisation_not_pro"
    platform.call("PUT", f"/{oid}/organisation", {"organization_id": pro})

    # A goods account without VAT: warned in the chart, refused by the poster.
    chart = platform.call("GET", f"/{oid}/chart")
    assert {a["number"]: a["vat_code"] for a in chart["chart"]["entry_accounts"]}[1050] == "none"
    assert all(r["warning"] is None for r in chart["roles"])
    accounts = {r["role"]: r["account"] for r in chart["roles"]}
    wrong = {
        "accounts": accounts | {"goods_domestic": 1050},
        "fee_account": 7220,
        "bank_account": 55000,
    }
    mismatch = platform.call("PUT", f"/{oid}/accounts", wrong, expect=422)["error"]
    assert mismatch["reason"] == "account_vat_mismatch"
    assert [p["field"] for p in mismatch["detail"]] == ["accounts.goods_domestic"]
    platform.call("PUT", f"/{oid}/accounts", wrong | {"accounts": accounts})

    # The Stripe account made twice is one account; a deposit number that is an entry
    # account is refused.
    taken = platform.call(
        "POST", f"/{oid}/stripe-account", {"number": 1000, "name": "Stripe"}, expect=409
    )
    assert taken["error"]["reason"] == "account_number_taken"
    for _ in range(2):
        platform.call("POST", f"/{oid}/stripe-account", {"number": 55010, "name": "Stripe"})
    deposits = [
        a["number"] for a in platform.call("GET", f"/{oid}/chart")["chart"]["deposit_accounts"]
    ]
    assert deposits.count(55010) == 1

    first = platform.call("POST", f"/{oid}/signing-secret")
    second = platform.call("POST", f"/{oid}/signing-secret")
    assert first["secret"] != second["secret"]
    assert second["endpoints"]["events"].endswith(f"/v1/tenants/{tenant}/events")
    # Only the newest secret signs.
    shop = Shop(stack, http, tenant, first["secret"])
    now = dt.datetime.now(dt.UTC).isoformat()
    sent = shop.send("order.placed", "X1", now, order("X1", lines=[goods("1", 100)]))
    assert (sent.status_code, sent.json()["error"]["reason"]) == (401, "bad_signature")

    # Stripe: a key Stripe does not know, then a pasted webhook secret (no endpoint made).
    unknown = platform.call("PUT", f"/{oid}/stripe", {"api_key": "rk_test_unknown_key"}, expect=422)
    assert unknown["error"]["reason"] == "stripe_refused_api_key"
    publishable = platform.call("PUT", f"/{oid}/stripe", {"api_key": "pk_test_abcdef"}, expect=422)
    assert publishable["error"]["reason"] == "invalid_request"
    key = f"rk_test_{tenant.replace('-', '_')}"
    stripe_double.load({"api_key": key})
    pasted = platform.call(
        "PUT", f"/{oid}/stripe", {"api_key": key, "webhook_secret": "whsec_from_the_dashboard"}
    )
    assert pasted["webhook_endpoint"] is None
    assert stripe_double.requests()[-1]["path"] == "/v1/balance_transactions"  # only checked

    future = (danish_today() + dt.timedelta(days=2)).isoformat()
    later = platform.call("PUT", f"/{oid}/start", {"mode": "backfill", "since": future}, expect=422)
    assert later["error"]["reason"] == "backfill_in_the_future"
    activate_early = platform.call("POST", f"/{oid}/activate", expect=409)
    assert activate_early["error"]["detail"]["next_step"] == "booking"


def test_a_link_works_once_and_only_the_session_that_left_for_dinero_may_finish(
    stack: Any, http: httpx.Client, e2e_sandbox: Any
) -> None:
    tenant = f"link-{secrets.token_hex(3)}"
    owner, _ = owner_with_orgs(http, e2e_sandbox, tenant, True)
    platform = Platform(stack, http)
    created = platform.create(tenant, owner_email=owner)
    link = created["link"]["url"]
    portal = stack.url("portal")

    with httpx.Client(timeout=30) as owner_browser, httpx.Client(timeout=30) as stranger:
        assert owner_browser.get(link).status_code == 200  # looking spends nothing
        begun = owner_browser.post(link, follow_redirects=False)
        assert (begun.status_code, begun.headers["location"]) == (303, "/portal/onboarding/dinero")
        assert stranger.post(link, follow_redirects=False).status_code == 410
        assert "has been used" in stranger.get(link).text

        page = owner_browser.get(f"{portal}/portal/onboarding/dinero")
        assert page.status_code == 200
        # A form without the session's CSRF token does nothing.
        forged = owner_browser.post(
            f"{portal}/portal/onboarding/dinero", data={"csrf": "x"}, follow_redirects=False
        )
        assert forged.status_code == 403
        leave = owner_browser.post(
            f"{portal}/portal/onboarding/dinero",
            data={"csrf": csrf_of(page)},
            follow_redirects=False,
        )
        assert leave.status_code == 303
        authorize = httpx.URL(leave.headers["location"])
        assert authorize.params["code_challenge_method"] == "S256"
        assert authorize.params["response_mode"] == "form_post"
        assert authorize.params["login_hint"] == owner
        consented = http.get(str(authorize))
        form = FormPost()
        form.feed(consented.text)
        assert form.action == f"{portal}/portal/dinero/callback"

        # The stranger brings the code back (a link sent to someone else, say): refused.
        back = stranger.post(form.action, data=form.fields, follow_redirects=False)
        assert back.status_code == 303
        finish = f"{portal}{back.headers['location']}"
        refused = stranger.get(finish, follow_redirects=False)
        assert refused.status_code == 403
        assert "authorization_of_another_session" in refused.text
        # The same answer twice is refused too (a code is recorded once).
        again = stranger.post(form.action, data=form.fields, follow_redirects=False)
        assert again.status_code == 400
        # The owner's session finishes it.
        done = owner_browser.get(finish, follow_redirects=False)
        assert (done.status_code, done.headers["location"]) == (
            303,
            "/portal/onboarding/organisation",
        )
        view = platform.call("GET", f"/{created['onboarding']['id']}")
        assert view["progress"]["dinero_connected_at"] is not None
        assert view["next_step"] == "organisation"
        # Withdrawn: the owner's session ends with it.
        platform.call("DELETE", f"/{created['onboarding']['id']}", expect=204)
        gone = owner_browser.get(f"{portal}/portal/onboarding/organisation", follow_redirects=False)
        assert (gone.status_code, gone.headers["location"]) == (303, "/portal")


def test_reconnecting_after_a_revoked_consent_resumes_the_parked_tenant(
    stack: Any,
    operator: Any,
    http: httpx.Client,
    e2e_sandbox: Any,
    stripe_double: StripeDoubleClient,
) -> None:
    shop_of = onboarded(stack, http, e2e_sandbox, stripe_double, "again")
    tenant, owner, org, platform = shop_of.tenant, shop_of.owner, shop_of.org, shop_of.platform
    secret = shop_of.secret
    second_try = platform.call("POST", "", {"tenant_id": tenant}, expect=409)
    assert second_try["error"]["reason"] == "tenant_already_onboarded"

    # The owner withdraws Bogfør's access in Dinero; the next sale parks the tenant.
    e2e_sandbox.revoke(org)
    e2e_sandbox.expire_tokens()
    shop = Shop(stack, http, tenant, secret)
    now = dt.datetime.now(dt.UTC).isoformat()
    placed = order("R1", lines=[goods("1", 10_000)], placed_at=now)
    assert shop.send("order.placed", "R1-placed", now, placed).status_code == 202
    deadline = time.monotonic() + 60
    while "parked" not in {r["state"] for r in operator.postings(tenant)}:
        assert time.monotonic() < deadline, operator.postings(tenant)
        time.sleep(0.3)
    connection = http.get(
        f"{stack.url('poster')}/v1/tenants/{tenant}/dinero",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    ).json()
    assert connection["connected"] is False
    assert connection["parked"] is not None

    reconnect = platform.create(tenant, purpose="reconnect", owner_email=owner)
    rid = reconnect["onboarding"]["id"]
    assert [s["step"] for s in reconnect["onboarding"]["steps"]] == ["dinero"]
    platform.consent(rid)
    view = platform.call("GET", f"/{rid}")
    assert view["progress"]["resumed"] is True
    assert view["next_step"] is None
    rows = operator.wait_settled(tenant, expected=2, settled=("done",))
    assert {r["state"] for r in rows} == {"done"}
    assert e2e_sandbox.trial_balance(org)[1000] == -8_000
    trail = http.get(
        f"{stack.url('ledger')}/v1/actions",
        params={"tenant": tenant},
        headers=operator.viewer,
    ).json()
    assert [a["action"] for a in trail] == ["resume_tenant"]


def test_the_owner_sees_the_backfills_progress_on_the_page(
    stack: Any, http: httpx.Client, e2e_sandbox: Any, stripe_double: StripeDoubleClient
) -> None:
    shop_of = onboarded(
        stack, http, e2e_sandbox, stripe_double, "page", since=danish_today() - dt.timedelta(3)
    )
    platform, oid = shop_of.platform, shop_of.onboarding["id"]
    link = platform.call("POST", f"/{oid}/links", expect=201)["url"]
    with httpx.Client(timeout=30) as owner_browser:
        owner_browser.post(link)
        done = owner_browser.get(f"{stack.url('portal')}/portal/onboarding/done")
        assert "Bogfør is booking your sales" in done.text
        assert 'hx-get="/portal/onboarding/backfill"' in done.text
        fragment = ""
        for _ in range(100):
            fragment = owner_browser.get(f"{stack.url('portal')}/portal/onboarding/backfill").text
            if 'id="backfill-done"' in fragment:
                break
        assert "100 %" in fragment, fragment
