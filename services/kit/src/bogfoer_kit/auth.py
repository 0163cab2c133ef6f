"""Who may call an admin or ops route: principals, roles, and the authenticators behind them.

Three roles, each including the one before it for what it may read:
- `tenant`: a shop platform's read token, scoped to its own tenants' postings;
- `viewer`: ops, reading everything (the web app's pages, the ops API, `/metrics`);
- `operator`: a viewer who may also act (re-drive, re-map, resume, settings, credentials).

A credential is turned into a `Principal` by a chain of `Authenticator`s: today the tokens
from settings (`StaticTokens`) and, in the ledger, tenant read tokens it issued; an OIDC
provider plugs in as one more authenticator (a bearer JWT checked against the provider's
keys) and, for the web app, one more login route; no route changes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal, Protocol

from fastapi import Header, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from bogfoer_kit.errors import ApiError

Role = Literal["tenant", "viewer", "operator"]
_RANK: dict[Role, int] = {"tenant": 0, "viewer": 1, "operator": 2}


@dataclass(frozen=True)
class Principal:
    """Someone authenticated: `subject` names them in logs and in the actions' trail."""

    subject: str
    role: Role
    # Only for the `tenant` role: the tenants whose postings it may read.
    tenants: frozenset[str] = field(default_factory=frozenset)

    def has(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def may_read(self, tenant_id: str) -> bool:
        return self.has("viewer") or tenant_id in self.tenants


class TokenGrant(BaseModel):
    """One token from settings (`BOGFOER_<SERVICE>_AUTH_TOKENS`, a JSON list of these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=200)
    role: Role
    token: SecretStr = Field(min_length=16)
    tenants: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _tenants_only_for_tenant_role(self) -> TokenGrant:
        if (self.role == "tenant") != bool(self.tenants):
            raise ValueError("a tenant token names its tenants; other roles name none")
        return self


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Authenticator(Protocol):
    """Turns a presented credential into a principal, or None when it does not know it."""

    async def authenticate(self, credential: str) -> Principal | None: ...


class StaticTokens:
    """Tokens from settings, compared by digest in constant time."""

    def __init__(self, grants: Sequence[TokenGrant]) -> None:
        self._grants = [(token_digest(g.token.get_secret_value()), g) for g in grants]

    async def authenticate(self, credential: str) -> Principal | None:
        presented = token_digest(credential)
        found: TokenGrant | None = None
        for digest, grant in self._grants:  # no early exit: every digest is compared
            if hmac.compare_digest(digest, presented):
                found = grant
        if found is None:
            return None
        return Principal(found.subject, found.role, frozenset(found.tenants))

    def grants(self, subject: str, role: Role) -> bool:
        """Whether a grant for `subject` with `role` still exists (sessions re-check this)."""
        return any(g.subject == subject and g.role == role for _, g in self._grants)


def bearer_of(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Guard:
    """FastAPI dependencies that admit a request with the role a route needs."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self.authenticators = list(authenticators)

    async def principal(self, authorization: str | None) -> Principal:
        credential = bearer_of(authorization)
        if credential is None:
            raise ApiError(
                401, "missing_credentials", "send Authorization: Bearer <token>", _CHALLENGE
            )
        for authenticator in self.authenticators:
            found = await authenticator.authenticate(credential)
            if found is not None:
                return found
        raise ApiError(401, "bad_credentials", None, _CHALLENGE)

    def require(self, role: Role) -> Callable[..., Awaitable[Principal]]:
        """A dependency: the caller must hold `role` (or a higher one)."""

        async def dependency(
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        ) -> Principal:
            found = await self.principal(authorization)
            if not found.has(role):
                raise ApiError(403, "forbidden", {"needs_role": role, "has_role": found.role})
            return found

        return dependency

    def tenant_reader(self) -> Callable[..., Awaitable[Principal]]:
        """A dependency for `/…/tenants/{tenant}/…` reads: ops, or that tenant's own token."""

        async def dependency(
            request: Request,
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        ) -> Principal:
            found = await self.principal(authorization)
            tenant = str(request.path_params.get("tenant", ""))
            if not found.may_read(tenant):
                raise ApiError(403, "tenant_forbidden", {"tenant": tenant})
            return found

        return dependency


def settings_authenticator(
    grants: Sequence[TokenGrant], admin_token: SecretStr | None
) -> StaticTokens:
    """The tokens a service's settings grant: its `auth_tokens`, and its `admin_token`
    (when set) as the operator `admin`, which the onboarding scripts and the demo use."""
    every = list(grants)
    if admin_token is not None:
        every.append(TokenGrant(subject="admin", role="operator", token=admin_token))
    return StaticTokens(every)
