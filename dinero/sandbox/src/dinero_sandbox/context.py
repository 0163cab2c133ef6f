"""The running sandbox (config, state, services) and the helpers every handler uses."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.requests import Request

from dinero_sandbox import jsonio
from dinero_sandbox import state as state_io
from dinero_sandbox.errors import (
    NO_PRO_SUBSCRIPTION,
    NOT_FOUND_OR_BAD_URI,
    UNAUTHORISED_FOR_RESOURCE,
    DineroError,
    validation,
)
from dinero_sandbox.faults import FaultConfig, Faults
from dinero_sandbox.ratelimit import RateLimiter
from dinero_sandbox.seed import seeded_state
from dinero_sandbox.state import AccessToken, Organization, State

REQUEST_LOG_LIMIT = 20_000
ORG_IN_PATH = re.compile(r"^/v[0-9.]+/([0-9]+)(?:/|$)")


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8910
    rate_limit: int = 100
    rate_window_seconds: float = 60.0
    token_ttl_seconds: float = 3600.0
    refresh_grace_seconds: float = 30.0
    code_ttl_seconds: float = 300.0
    faults: FaultConfig = field(default_factory=FaultConfig)
    state_file: Path | None = None


class UnauthorizedError(Exception):
    """401: token missing, unknown, revoked or expired."""


class RateLimitedError(Exception):
    """429 with Dinero's plain-text body."""


class Sandbox:
    def __init__(self, config: Config) -> None:
        self.config = config
        loaded = state_io.load(config.state_file) if config.state_file else None
        self.state: State = loaded or seeded_state()
        self.faults = Faults(config.faults)
        self.limiter = RateLimiter(config.rate_limit, config.rate_window_seconds)
        self.requests: list[dict[str, Any]] = []
        self._request_seq = 0

    # -- time (one place, so tests reason about it) --
    @staticmethod
    def now() -> float:
        return time.time()

    @staticmethod
    def utcnow() -> datetime:
        return datetime.now(UTC)

    @staticmethod
    def today() -> date:
        return datetime.now(UTC).date()

    def persist(self) -> None:
        """Called after every mutation; a no-op unless a state file is configured."""
        if self.config.state_file is not None:
            state_io.save(self.state, self.config.state_file)

    def reset(self) -> None:
        self.state = seeded_state()
        self.faults.replace(FaultConfig())
        self.limiter.reset()
        self.requests.clear()
        self.persist()

    def log_request(
        self, method: str, path: str, query: str, org: int | None, body: bytes
    ) -> dict[str, Any]:
        self._request_seq += 1
        parsed: Any
        try:
            parsed = jsonio.loads(body) if body else None
        except ValueError:
            parsed = _redacted_form(body.decode("utf-8", errors="replace"))
        entry: dict[str, Any] = {
            "seq": self._request_seq,
            "at": self.utcnow().isoformat(),
            "method": method,
            "path": path,
            "query": query,
            "org": org,
            "body": parsed,
            "status": None,
            "fault": None,
        }
        self.requests.append(entry)
        del self.requests[:-REQUEST_LOG_LIMIT]
        return entry


_SECRET_FIELDS = ("client_secret", "password", "username", "refresh_token", "code", "code_verifier")


def _redacted_form(text: str) -> Any:
    """Token requests are form-encoded; log their fields without the secrets."""
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs:
        return text
    return {k: ("***" if k in _SECRET_FIELDS else v) for k, v in pairs}


def sandbox_of(request: Request) -> Sandbox:
    return cast(Sandbox, request.app.state.sandbox)


def org_in_path(path: str) -> int | None:
    match = ORG_IN_PATH.match(path)
    return int(match.group(1)) if match else None


def authenticate(request: Request) -> AccessToken:
    sandbox = sandbox_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError
    access = sandbox.state.auth.access.get(token.strip())
    if access is None or access.expires_at <= sandbox.now():
        raise UnauthorizedError
    if access.grant_id in sandbox.state.auth.revoked_grants:
        raise UnauthorizedError
    return access


def guard(request: Request) -> tuple[Sandbox, Organization]:
    """Authenticate, authorise the organisation in the path, require Pro, count the call."""
    sandbox = sandbox_of(request)
    access = authenticate(request)
    org_id = int(request.path_params["org"])
    org = sandbox.state.orgs.get(org_id)
    if org is None or org_id not in access.orgs:
        raise DineroError(
            403,
            UNAUTHORISED_FOR_RESOURCE,
            "UnauthorizedError",
            {"message": f"You do not have access to organization {org_id}."},
        )
    if not org.is_pro:
        raise DineroError(
            403,
            NO_PRO_SUBSCRIPTION,
            "No active Pro subscription",
            {"message": "API access requires a paid Dinero plan (Pro or higher)."},
        )
    if not sandbox.limiter.allow(access.client_id, org_id, sandbox.now()):
        raise RateLimitedError
    return sandbox, org


async def json_body(request: Request, required: bool = True) -> dict[str, Any]:
    """The request body with lower-cased keys (Dinero matches keys case-insensitively)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise validation("body", "A JSON body is required.")
        return {}
    try:
        parsed = jsonio.loads(raw)
    except ValueError:
        raise validation("body", "The body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise validation("body", "The body must be a JSON object.")
    return cast(dict[str, Any], jsonio.lower_keys(parsed))


def path_guid(request: Request, name: str, entity: str) -> str:
    raw = str(request.path_params[name])
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise DineroError(
            404, NOT_FOUND_OR_BAD_URI, "Invalid URI", {"message": f"Invalid {entity} guid."}
        ) from None
