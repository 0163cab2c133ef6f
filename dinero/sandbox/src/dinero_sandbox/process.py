"""Run the sandbox as a real separate process and talk to its admin API (tests, demo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dinero_sandbox.seed import (
    CONNECT_CLIENT,
    DEFAULT_USER,
    LEGACY_CLIENT_ID,
    LEGACY_CLIENT_SECRET,
    ORG_MAIN,
    ORG_NO_PRO,
    ORG_VAT_FREE,
    SEED_ORGS,
)

STARTUP_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ConnectCredentials:
    """Visma Connect authorization-code flow against the sandbox."""

    client_id: str
    client_secret: str
    redirect_uri: str
    user_email: str
    scope: str = "dineropublicapi:read dineropublicapi:write offline_access"


@dataclass(frozen=True)
class LegacyCredentials:
    """The API-key password grant: Basic client auth, username = password = the org's key."""

    client_id: str
    client_secret: str
    api_keys: dict[int, str]


@dataclass
class SandboxHandle:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    args: tuple[str, ...]
    org_ids: tuple[int, ...] = tuple(seed.id for seed in SEED_ORGS)
    main_org: int = ORG_MAIN
    vat_free_org: int = ORG_VAT_FREE
    no_pro_org: int = ORG_NO_PRO
    connect: ConnectCredentials = field(
        default_factory=lambda: ConnectCredentials(
            CONNECT_CLIENT.client_id,
            CONNECT_CLIENT.client_secret,
            CONNECT_CLIENT.redirect_uris[0],
            DEFAULT_USER.email,
        )
    )
    legacy: LegacyCredentials = field(
        default_factory=lambda: LegacyCredentials(
            LEGACY_CLIENT_ID, LEGACY_CLIENT_SECRET, {seed.id: seed.api_key for seed in SEED_ORGS}
        )
    )

    # The three base URLs a client is configured with all point here.
    @property
    def api_base_url(self) -> str:
        return self.base_url

    @property
    def connect_base_url(self) -> str:
        return self.base_url

    @property
    def authz_base_url(self) -> str:
        return self.base_url

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.base_url}/_sandbox{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "/health")
        return result

    def reset(self) -> None:
        self._admin("POST", "/reset")

    def requests(self, org: int | None = None, **filters: str) -> list[dict[str, Any]]:
        params = dict(filters)
        if org is not None:
            params["org"] = str(org)
        result: list[dict[str, Any]] = self._admin("GET", "/requests", params=params)["requests"]
        return result

    def trial_balance(self, org: int) -> dict[int, int]:
        """Balance per account in øre, debit positive."""
        balances = self._admin("GET", f"/orgs/{org}/trial-balance")["balances"]
        return {int(k): int(v) for k, v in balances.items()}

    def emails(self, org: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._admin("GET", f"/orgs/{org}/emails")
        return result

    def set_faults(self, rules: list[dict[str, Any]], seed: int = 0) -> None:
        self._admin("PUT", "/faults", content=json.dumps({"seed": seed, "rules": rules}))

    def add_fault(self, **rule: Any) -> None:
        self._admin("POST", "/faults", content=json.dumps(rule))

    def clear_faults(self) -> None:
        self._admin("DELETE", "/faults")

    def revoke(self, org: int) -> None:
        self._admin("POST", f"/orgs/{org}/revoke")

    def expire_tokens(self, org: int | None = None) -> None:
        self._admin("POST", "/tokens/expire", params={"org": str(org)} if org else {})

    # -- getting tokens the way a client would --
    def password_token(self, org: int = ORG_MAIN, api_key: str | None = None) -> str:
        """A token through the API-key grant; `api_key` for organisations made at run time."""
        key = api_key or self.legacy.api_keys[org]
        response = httpx.post(
            f"{self.base_url}/dineroapi/oauth/token",
            auth=(self.legacy.client_id, self.legacy.client_secret),
            data={
                "grant_type": "password",
                "scope": "read write",
                "username": key,
                "password": key,
            },
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def authorization_code(
        self, state: str = "sandbox-state", login_hint: str | None = None
    ) -> str:
        """A consent's code; `login_hint` picks the user (default: the seeded owner)."""
        params = {
            "client_id": self.connect.client_id,
            "response_type": "code",
            "scope": self.connect.scope,
            "redirect_uri": self.connect.redirect_uri,
            "state": state,
        }
        if login_hint is not None:
            params["login_hint"] = login_hint
        response = httpx.get(f"{self.base_url}/connect/authorize", params=params, timeout=10)
        assert response.status_code == 302, response.text
        query = httpx.URL(response.headers["location"]).params
        return str(query["code"])

    def connect_tokens(self, login_hint: str | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base_url}/connect/token",
            data={
                "grant_type": "authorization_code",
                "code": self.authorization_code(login_hint=login_hint),
                "redirect_uri": self.connect.redirect_uri,
                "client_id": self.connect.client_id,
                "client_secret": self.connect.client_secret,
            },
            timeout=10,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_sandbox(
    *args: str, port: int | None = None, log_dir: Path | None = None
) -> SandboxHandle:
    """Start `python -m dinero_sandbox` on a free loopback port and wait for its health check."""
    port = port or free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="dinero-sandbox-"))
    log_path = log_dir / f"sandbox-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DINERO_SANDBOX_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 — our own module, fixed argument list
            [sys.executable, "-m", "dinero_sandbox", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    handle = SandboxHandle(
        base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, args=args
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited early:\n{log_path.read_text(errors='replace')}")
        try:
            handle.health()
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        return handle
    handle.stop()
    raise RuntimeError(f"sandbox did not become healthy:\n{log_path.read_text(errors='replace')}")
