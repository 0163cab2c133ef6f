"""A shop platform and an operator, as the HTTP APIs see them: used by the end-to-end
tests and `make demo` so both drive Bogfør exactly as real clients would."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bogfoer_devstack.stack import Stack


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Bogfoer-Signature, computed the way docs/ingest-api.md tells a platform to."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class Operator:
    stack: Stack
    http: httpx.Client

    @property
    def _admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.admin_token}"}

    @property
    def viewer(self) -> dict[str, str]:
        """Read access to the ops API (the ledger's postings, counts, dead letters)."""
        return {"Authorization": f"Bearer {self.stack.viewer_token}"}

    def onboard(
        self,
        tenant: str,
        *,
        hmac_secret: str,
        dinero_api_key: str,
        settings: dict[str, Any],
        stripe_webhook_secret: str | None = None,
        stripe_api_key: str | None = None,
    ) -> dict[str, Any]:
        """Connect a tenant end to end: ingest credentials, Dinero key, validated settings."""
        creds: dict[str, Any] = {"hmac_secret": hmac_secret}
        if stripe_webhook_secret:
            creds |= {
                "stripe_webhook_secret": stripe_webhook_secret,
                "stripe_api_key": stripe_api_key,
            }
        r = self.http.put(
            f"{self.stack.url('ingest')}/v1/admin/tenants/{tenant}/credentials",
            json=creds,
            headers=self._admin,
        )
        r.raise_for_status()
        r = self.http.put(
            f"{self.stack.url('poster')}/v1/tenants/{tenant}/dinero/api-key",
            json={"api_key": dinero_api_key},
            headers=self._admin,
        )
        r.raise_for_status()
        r = self.http.put(
            f"{self.stack.url('poster')}/v1/tenants/{tenant}/settings",
            json=settings,
            headers=self._admin,
        )
        if r.status_code != 200:
            raise RuntimeError(f"settings refused: {r.status_code} {r.text}")
        config: dict[str, Any] = r.json()
        return config

    def postings(self, tenant: str, **params: str) -> list[dict[str, Any]]:
        r = self.http.get(
            f"{self.stack.url('ledger')}/v1/tenants/{tenant}/postings",
            params={"limit": "1000", **params},
            headers=self.viewer,
        )
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()
        return rows

    def posting(self, tenant: str, posting_key: str) -> dict[str, Any]:
        """One posting with its command and history, from the ledger's ops API."""
        r = self.http.get(
            f"{self.stack.url('ledger')}/v1/tenants/{tenant}/postings/{posting_key}",
            headers=self.viewer,
        )
        r.raise_for_status()
        found: dict[str, Any] = r.json()
        return found

    def dead_letters(self, tenant: str) -> list[dict[str, Any]]:
        r = self.http.get(
            f"{self.stack.url('ledger')}/v1/dead-letters",
            params={"tenant": tenant},
            headers=self.viewer,
        )
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()
        return rows

    def wait_settled(
        self,
        tenant: str,
        expected: int,
        timeout: float = 60.0,
        settled: tuple[str, ...] = ("done", "failed", "held", "parked"),
    ) -> list[dict[str, Any]]:
        """Wait until the ledger shows `expected` postings, none of them still moving."""
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = self.postings(tenant)
            if len(rows) >= expected and all(r["state"] in settled for r in rows):
                return rows
            time.sleep(0.3)
        states = sorted((r["posting_key"], r["state"], r.get("detail")) for r in rows)
        raise TimeoutError(f"{tenant}: {len(rows)}/{expected} postings settled: {states}")


@dataclass
class Shop:
    """A shop platform sending canonical events for one tenant, signed with its secret."""

    stack: Stack
    http: httpx.Client
    tenant: str
    secret: str
    source: str = "shopify"

    def send(
        self,
        type_: str,
        source_event_id: str,
        occurred_at: str,
        data: dict[str, Any],
        *,
        backfill: bool = False,
    ) -> httpx.Response:
        """One event; `backfill`: history sent again after onboarding (docs/onboarding.md)."""
        event = self.event(type_, source_event_id, occurred_at, data)
        if backfill:
            event["backfill"] = True
        return self.send_raw(json.dumps(event).encode())

    def event(
        self, type_: str, source_event_id: str, occurred_at: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """An event as this shop's platform sends it."""
        return {
            "type": type_,
            "source": self.source,
            "source_event_id": source_event_id,
            "occurred_at": occurred_at,
            "data": data,
        }

    def send_batch(self, events: list[tuple[str, str, str, dict[str, Any]]]) -> httpx.Response:
        """Up to 500 events `(type, source_event_id, occurred_at, data)` in one request
        (`POST …/events/batch`, docs/ingest-api.md)."""
        body = {"events": [self.event(*event) for event in events]}
        return self.send_raw(json.dumps(body).encode(), route="events/batch")

    def send_raw(self, body: bytes, sign: bool = True, route: str = "events") -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if sign:
            headers["Bogfoer-Signature"] = signature(self.secret, body)
        return self.http.post(
            f"{self.stack.url('ingest')}/v1/tenants/{self.tenant}/{route}",
            content=body,
            headers=headers,
        )
