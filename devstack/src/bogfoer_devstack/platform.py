"""A shop platform onboarding its shops through the portal's API, as docs/onboarding.md
tells one to: used by the end-to-end tests (and usable from a shell) so they drive the
portal exactly as a real platform would. The shop owner's consent at Visma Connect happens
in their browser; `consent` plays that browser against the Dinero sandbox over plain HTTP
(the sandbox consents at once and answers with the `form_post` page Visma Connect sends)."""

from __future__ import annotations

import datetime as dt
import html.parser
from dataclasses import dataclass
from typing import Any

import httpx

from bogfoer_devstack.stack import Stack


class FormPost(html.parser.HTMLParser):
    """The auto-submitting form of a `form_post` answer: its action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")


@dataclass
class Platform:
    stack: Stack
    http: httpx.Client

    @property
    def _portal(self) -> str:
        return f"{self.stack.url('portal')}/v1/onboardings"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.admin_token}"}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, f"{self._portal}{path}", json=body, headers=self._auth)
        if response.status_code != expect:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def create(
        self, tenant: str, purpose: str = "onboard", owner_email: str | None = None
    ) -> dict[str, Any]:
        """A new onboarding: `{"onboarding": {...}, "link": {"url", "expires_at"}}`."""
        body = {"tenant_id": tenant, "purpose": purpose, "owner_email": owner_email}
        created: dict[str, Any] = self.call("POST", "", body, expect=201)
        return created

    def consent(self, onboarding_id: str, return_url: str = "https://platform.test/done") -> str:
        """The owner's browser: to Visma Connect (the sandbox) and back through the portal's
        callback; returns where the browser ends up (the platform's `return_url`)."""
        authorize = self.call(
            "POST", f"/{onboarding_id}/dinero/authorize", {"return_url": return_url}
        )["authorize_url"]
        consented = self.http.get(authorize)
        consented.raise_for_status()
        form = FormPost()
        form.feed(consented.text)
        assert form.action is not None, consented.text
        back = self.http.post(form.action, data=form.fields, follow_redirects=False)
        assert back.status_code == 303, back.text
        finish = self.http.get(
            f"{self.stack.url('portal')}{back.headers['location']}", follow_redirects=False
        )
        assert finish.status_code == 303, finish.text
        return str(finish.headers["location"])

    def onboard(
        self,
        tenant: str,
        *,
        owner_email: str,
        organisation: int,
        stripe_api_key: str,
        booking_mode: str = "booked",
        trigger: str = "order_placed",
        since: dt.date | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Every step with the defaults of Dinero's chart; 55010 "Stripe" made on the way.
        Returns the activated onboarding and the shop's signing secret."""
        created = self.create(tenant, owner_email=owner_email)
        oid = created["onboarding"]["id"]
        self.consent(oid)
        self.call("PUT", f"/{oid}/organisation", {"organization_id": organisation})
        chart = self.call("GET", f"/{oid}/chart")
        accounts = {r["role"]: r["account"] for r in chart["roles"]}
        self.call(
            "PUT",
            f"/{oid}/accounts",
            {"accounts": accounts, "fee_account": 7220, "bank_account": 55000},
        )
        self.call("POST", f"/{oid}/stripe-account", {"number": 55010, "name": "Stripe"})
        secret = self.call("POST", f"/{oid}/signing-secret")["secret"]
        self.call("PUT", f"/{oid}/stripe", {"api_key": stripe_api_key})
        self.call("PUT", f"/{oid}/booking", {"booking_mode": booking_mode, "trigger": trigger})
        start = {"mode": "backfill", "since": since.isoformat()} if since else {"mode": "forward"}
        self.call("PUT", f"/{oid}/start", start)
        activated: dict[str, Any] = self.call("POST", f"/{oid}/activate")
        return activated, str(secret)
