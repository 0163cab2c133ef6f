"""Access tokens for Dinero: Visma Connect (code + rotating refresh) and the legacy API key.

`DineroAuth` hands the client a valid bearer token per tenant (one credential set: a Visma
Connect consent, which serves every organisation its user reaches, or one organisation's
legacy API key). Renewal is serialised twice: an `asyncio.Lock` per tenant inside this
process, and the credential store's lock (`SELECT … FOR UPDATE` in PostgreSQL) across
processes and replicas. A rotated refresh token is committed in the same transaction that
consumed the old one, before the new access token is used.

Tokens live in `SecretStr`; no repr, log line or error message carries one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bogfoer_dinero.config import DineroConfig
from bogfoer_dinero.errors import DineroError, RetryLater, TenantParked

__all__ = [
    "Bearer",
    "CredentialKind",
    "CredentialStore",
    "CredentialTransaction",
    "Credentials",
    "DineroAuth",
    "InMemoryCredentialStore",
]

log = logging.getLogger(__name__)

CredentialKind = Literal["visma_connect", "api_key"]
CONNECT_SCOPES = "dineropublicapi:read dineropublicapi:write offline_access"
LEGACY_SCOPES = "read write"


@dataclass(frozen=True)
class Credentials:
    """One tenant's credential set as stored. Secrets are `SecretStr`; the repr masks them."""

    kind: CredentialKind
    access_token: SecretStr | None = None
    access_expires_at: datetime | None = None
    refresh_token: SecretStr | None = None
    api_key: SecretStr | None = None
    #: Set when the tenant must be re-authorised by a person; then no token is requested.
    parked_reason: str | None = None

    def usable_at(self, now: datetime, margin: timedelta) -> bool:
        return (
            self.parked_reason is None
            and self.access_token is not None
            and self.access_expires_at is not None
            and now + margin < self.access_expires_at
        )


@dataclass(frozen=True)
class Bearer:
    """A token to send, and the client id it was issued to (half of the rate-limit key)."""

    token: SecretStr
    client_id: str


class CredentialTransaction(Protocol):
    """A tenant's row, locked against every other renewer until the transaction ends."""

    @property
    def current(self) -> Credentials | None: ...

    async def save(self, credentials: Credentials) -> None:
        """Write within the transaction; it commits when the `lock` block exits cleanly."""


class CredentialStore(Protocol):
    async def get(self, tenant: str) -> Credentials | None: ...

    async def put(self, tenant: str, credentials: Credentials) -> None:
        """Store new credentials (a fresh consent or API key), replacing any old ones."""

    def lock(self, tenant: str) -> AbstractAsyncContextManager[CredentialTransaction]:
        """Lock the tenant's row; writes made through it commit together on a clean exit."""


class _MemoryTransaction:
    def __init__(self, current: Credentials | None) -> None:
        self._current = current
        self.staged: Credentials | None = None

    @property
    def current(self) -> Credentials | None:
        return self._current

    async def save(self, credentials: Credentials) -> None:
        self.staged = credentials


class InMemoryCredentialStore:
    """For tests and single-process tools: a dict, with one asyncio lock per tenant."""

    def __init__(self) -> None:
        self._rows: dict[str, Credentials] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"InMemoryCredentialStore(tenants={len(self._rows)})"

    async def get(self, tenant: str) -> Credentials | None:
        return self._rows.get(tenant)

    async def put(self, tenant: str, credentials: Credentials) -> None:
        async with self.lock(tenant) as row:
            await row.save(credentials)

    @asynccontextmanager
    async def lock(self, tenant: str) -> AsyncIterator[CredentialTransaction]:
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            transaction = _MemoryTransaction(self._rows.get(tenant))
            yield transaction
            if transaction.staged is not None:
                self._rows[tenant] = transaction.staged


class _TokenResponse(BaseModel):
    access_token: SecretStr
    expires_in: float = 3600
    token_type: str = "Bearer"  # noqa: S105 - a token type name, not a secret
    refresh_token: SecretStr | None = None


class _UncertainError(Exception):
    """The token request was sent and its answer lost (timeout, reset, 5xx)."""


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"HTTP {response.status_code}"


class DineroAuth:
    """Hands out valid bearer tokens per tenant; owns code exchange and token renewal."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: DineroConfig,
        store: CredentialStore,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._config = config
        self._store = store
        self._now = now
        self._monotonic = monotonic
        self._sleep = sleep
        self._cache: dict[str, Credentials] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._margin = timedelta(seconds=config.token_renew_margin_seconds)
        #: Token-endpoint requests made by this instance (for tests and metrics).
        self.grants_requested = 0

    def __repr__(self) -> str:
        return f"DineroAuth(tenants_cached={len(self._cache)})"

    # --- onboarding ------------------------------------------------------------------------

    async def exchange_code(
        self,
        tenant: str,
        code: str,
        redirect_uri: str,
        *,
        code_verifier: str | None = None,
    ) -> None:
        """Finish the Visma Connect authorisation: trade the code for tokens and store them."""
        client_id, secret = self._connect_client()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": secret,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        try:
            token = await self._post_token(self._config.connect_token_url, form, auth=None)
        except _UncertainError as exc:
            # A code is single-use; whether it was spent is unknown. The user starts over.
            raise RetryLater("code exchange answer lost; restart the authorisation") from exc
        if token.refresh_token is None:
            raise TenantParked("Visma Connect issued no refresh token; request offline_access")
        credentials = Credentials(
            kind="visma_connect",
            access_token=token.access_token,
            access_expires_at=self._now() + timedelta(seconds=token.expires_in),
            refresh_token=token.refresh_token,
        )
        await self._store.put(tenant, credentials)
        self._cache[tenant] = credentials

    async def register_api_key(self, tenant: str, api_key: str) -> None:
        """Store an organisation's legacy API key once Dinero has granted a token for it.

        A key Dinero refuses raises `TenantParked` (nothing is stored, the tenant's current
        credentials stay); an unreachable token endpoint raises `RetryLater`.
        """
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            granted = await self._password_grant(
                Credentials(kind="api_key", api_key=SecretStr(api_key))
            )
            await self._store.put(tenant, granted)
            self._cache[tenant] = granted

    # --- tokens ----------------------------------------------------------------------------

    async def bearer(self, tenant: str) -> Bearer:
        """A token valid for at least the renew margin, renewing it first if needed."""
        cached = self._cache.get(tenant)
        if cached is not None and cached.usable_at(self._now(), self._margin):
            return self._bearer(cached)
        return await self._renew(tenant, rejected=None)

    async def renew_after_401(self, tenant: str, rejected: Bearer) -> Bearer:
        """Dinero refused `rejected`: get a different token (unless someone already did)."""
        return await self._renew(tenant, rejected=rejected.token)

    def forget(self, tenant: str) -> None:
        self._cache.pop(tenant, None)

    def _bearer(self, credentials: Credentials) -> Bearer:
        assert credentials.access_token is not None
        client_id = (
            self._config.connect_client_id
            if credentials.kind == "visma_connect"
            else self._config.legacy_client_id
        )
        return Bearer(token=credentials.access_token, client_id=client_id or "")

    async def _renew(self, tenant: str, rejected: SecretStr | None) -> Bearer:
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            cached = self._cache.get(tenant)
            if cached is not None and self._fresh(cached, rejected):
                return self._bearer(cached)
            outcome: Credentials | DineroError
            async with self._store.lock(tenant) as row:
                current = row.current
                if current is None:
                    raise TenantParked(f"no Dinero credentials stored for tenant {tenant!r}")
                if current.parked_reason is not None:
                    raise TenantParked(current.parked_reason)
                if self._fresh(current, rejected):
                    outcome = current  # another process or replica renewed it meanwhile
                else:
                    try:
                        outcome = await self._grant(current)
                    except TenantParked as exc:
                        # Persist the park so no replica keeps knocking (Dinero watches for
                        # repeated 400/401 and may revoke the integration).
                        await row.save(replace(current, access_token=None, parked_reason=str(exc)))
                        outcome = exc
                    else:
                        await row.save(outcome)
            # The row is committed here: a rotated refresh token is stored before we use it.
            if isinstance(outcome, DineroError):
                self._cache.pop(tenant, None)
                raise outcome
            self._cache[tenant] = outcome
            return self._bearer(outcome)

    def _fresh(self, credentials: Credentials, rejected: SecretStr | None) -> bool:
        if not credentials.usable_at(self._now(), self._margin):
            return False
        assert credentials.access_token is not None
        return (
            rejected is None
            or credentials.access_token.get_secret_value() != rejected.get_secret_value()
        )

    async def _grant(self, current: Credentials) -> Credentials:
        if current.kind == "api_key":
            return await self._password_grant(current)
        return await self._refresh_grant(current)

    async def _refresh_grant(self, current: Credentials) -> Credentials:
        if current.refresh_token is None:
            raise TenantParked("no refresh token stored; the user must authorise again")
        client_id, secret = self._connect_client()
        form = {
            "grant_type": "refresh_token",
            "refresh_token": current.refresh_token.get_secret_value(),
            "client_id": client_id,
            "client_secret": secret,
        }
        first_sent = self._monotonic()
        grace = self._config.refresh_grace_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                token = await self._post_token(self._config.connect_token_url, form, auth=None)
                break
            except _UncertainError as exc:
                # The old refresh token may have been consumed. Visma Connect lets the same
                # token be exchanged again only within the grace period; past it, a replay
                # could be taken for token theft, so the user must authorise again.
                elapsed = self._monotonic() - first_sent
                if attempt < 4 and elapsed + 1.0 < grace:
                    log.warning("token refresh answer lost; replaying within the grace period")
                    await self._sleep(min(0.2 * attempt, max(0.0, grace - elapsed - 1.0)))
                    continue
                raise TenantParked(
                    "refresh answer lost outside the grace period; re-authorise"
                ) from exc
        rotated = token.refresh_token or current.refresh_token  # "re-use" mode returns none
        log.info("refreshed Visma Connect token (attempts=%d)", attempt)
        return Credentials(
            kind="visma_connect",
            access_token=token.access_token,
            access_expires_at=self._now() + timedelta(seconds=token.expires_in),
            refresh_token=rotated,
        )

    async def _password_grant(self, current: Credentials) -> Credentials:
        if current.api_key is None:
            raise TenantParked("no API key stored")
        client_id = self._config.legacy_client_id
        secret = self._config.legacy_client_secret
        if client_id is None or secret is None:
            raise TenantParked("legacy client id/secret not configured")
        key = current.api_key.get_secret_value()
        form = {"grant_type": "password", "scope": LEGACY_SCOPES, "username": key, "password": key}
        try:
            token = await self._post_token(
                self._config.legacy_token_url,
                form,
                auth=httpx.BasicAuth(client_id, secret.get_secret_value()),
            )
        except _UncertainError as exc:
            # The password grant only issues another token: safe to run again later.
            raise RetryLater("legacy token endpoint did not answer", retry_after=1.0) from exc
        log.info("obtained legacy API-key token")
        return replace(
            current,
            access_token=token.access_token,
            access_expires_at=self._now() + timedelta(seconds=token.expires_in),
        )

    def _connect_client(self) -> tuple[str, str]:
        client_id = self._config.connect_client_id
        secret = self._config.connect_client_secret
        if client_id is None or secret is None:
            raise TenantParked("Visma Connect client id/secret not configured")
        return client_id, secret.get_secret_value()

    async def _post_token(
        self, url: str, form: dict[str, str], auth: httpx.Auth | None
    ) -> _TokenResponse:
        self.grants_requested += 1
        try:
            response = await self._http.post(
                url,
                data=form,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryLater(f"token endpoint unreachable: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise _UncertainError(type(exc).__name__) from exc
        if response.status_code == 429:
            raise RetryLater("token endpoint rate limited", status_code=429)
        if response.status_code >= 500:
            raise _UncertainError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            error = _oauth_error(response)
            # invalid_grant: consent revoked, refresh token spent, or API key withdrawn.
            # invalid_client and the like: our registration is wrong. Either way a person
            # has to act; retrying only adds to Dinero's count of failed calls.
            raise TenantParked(
                f"token endpoint refused the grant: {error}", status_code=response.status_code
            )
        try:
            return _TokenResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise _UncertainError("unreadable token response") from exc
