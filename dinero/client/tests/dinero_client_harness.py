"""Shared helpers for the client's unit tests: a config, a scripted token endpoint, a client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr

from bogfoer_dinero.auth import Credentials, DineroAuth, InMemoryCredentialStore
from bogfoer_dinero.client import DineroClient
from bogfoer_dinero.config import DineroConfig
from bogfoer_dinero.ratelimit import RateLimiter

API = "https://dinero.test"
CONNECT_TOKEN = "https://connect.test/connect/token"
LEGACY_TOKEN = "https://authz.test/dineroapi/oauth/token"

CONFIG = DineroConfig(
    api_base_url=API,
    connect_token_url=CONNECT_TOKEN,
    legacy_token_url=LEGACY_TOKEN,
    connect_client_id="isv_test",
    connect_client_secret=SecretStr("connect-client-secret"),
    legacy_client_id="legacy_test",
    legacy_client_secret=SecretStr("legacy-client-secret"),
    refresh_grace_seconds=30,
)

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Clock:
    """Wall clock and monotonic clock the tests move by hand."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> datetime:
        return datetime(2025, 3, 14, tzinfo=UTC) + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t


@dataclass
class TokenServer:
    """A scripted Visma Connect / legacy token endpoint with one-time refresh tokens."""

    clock: Clock
    grace: float = 30.0
    delay: float = 0.0
    issued: int = 0
    refresh_calls: int = 0
    password_calls: int = 0
    #: refresh token -> time it was consumed (None: still unused)
    refresh_tokens: dict[str, float | None] = field(default_factory=dict)
    #: for each consumed refresh token: the response it produced, returned again in grace
    answers: dict[str, dict[str, object]] = field(default_factory=dict)
    revoked: bool = False
    #: scripted failures for the next token calls: "drop" (commit, lose answer) or a status
    faults: list[str | int] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)

    def new_tokens(self) -> dict[str, object]:
        self.issued += 1
        refresh = f"rt-{self.issued}"
        self.refresh_tokens[refresh] = None
        return {
            "access_token": f"at-{self.issued}",
            "expires_in": 3600,
            "token_type": "Bearer",
            "refresh_token": refresh,
            "scope": "dineropublicapi:read dineropublicapi:write offline_access",
        }

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        self.forms.append(form)
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, int):
            return httpx.Response(fault, json={"error": "server_error"})
        grant = form["grant_type"]
        if grant == "password":
            self.password_calls += 1
            basic = base64.b64encode(b"legacy_test:legacy-client-secret").decode()
            if (
                request.headers.get("Authorization") != f"Basic {basic}"
                or form["username"] != form["password"]
                or form["scope"] != "read write"
            ):
                return httpx.Response(400, json={"error": "invalid_client"})
            if self.revoked:
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.issued += 1
            body: dict[str, object] = {
                "access_token": f"legacy-at-{self.issued}",
                "expires_in": 3600,
            }
        elif grant == "authorization_code":
            body = self.new_tokens()
        else:
            assert grant == "refresh_token"
            self.refresh_calls += 1
            token = form["refresh_token"]
            if self.revoked or token not in self.refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant"})
            consumed = self.refresh_tokens[token]
            if consumed is None:
                self.refresh_tokens[token] = self.clock.t
                body = self.answers[token] = self.new_tokens()
            elif self.clock.t - consumed <= self.grace:
                body = self.answers[token]
            else:
                return httpx.Response(400, json={"error": "invalid_grant"})
        if fault == "drop":
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(200, json=body)


def expired_connect(refresh: str = "rt-0") -> Credentials:
    return Credentials(
        kind="visma_connect",
        access_token=SecretStr("at-0"),
        access_expires_at=datetime(2000, 1, 1, tzinfo=UTC),
        refresh_token=SecretStr(refresh),
    )


@dataclass
class Harness:
    clock: Clock
    tokens: TokenServer
    store: InMemoryCredentialStore
    http: httpx.AsyncClient
    client: DineroClient
    sleeps: list[float]
    api_calls: list[httpx.Request]

    def auth(self) -> DineroAuth:
        return self.client.auth


def make_harness(
    api: Handler | None = None,
    *,
    config: DineroConfig = CONFIG,
    store: InMemoryCredentialStore | None = None,
) -> Harness:
    clock = Clock()
    tokens = TokenServer(clock)
    tokens.refresh_tokens["rt-0"] = None
    api_calls: list[httpx.Request] = []

    async def route(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith((CONNECT_TOKEN, LEGACY_TOKEN)):
            return await tokens(request)
        api_calls.append(request)
        if api is None:
            return httpx.Response(404, text="<html>no route</html>")
        return await api(request)

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.t += seconds

    http = httpx.AsyncClient(transport=httpx.MockTransport(route))
    store = store or InMemoryCredentialStore()
    auth = DineroAuth(http, config, store, now=clock.now, monotonic=clock.monotonic, sleep=sleep)
    limiter = RateLimiter(
        config.rate_limit_requests,
        config.rate_limit_window_seconds,
        clock=clock.monotonic,
        sleep=sleep,
    )
    client = DineroClient(
        http, config, store, auth=auth, limiter=limiter, sleep=sleep, rng=lambda: 0.5
    )
    return Harness(clock, tokens, store, http, client, sleeps, api_calls)
