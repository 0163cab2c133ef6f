"""The portal's tables: onboardings with their progress, one-time links, and Visma Connect
authorisations in flight (sessions are the kit's, in `portal_sessions`)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from bogfoer_dinero.sealing import SecretSealer
from bogfoer_kit.auth import token_digest
from bogfoer_portal.progress import Progress, Purpose


@dataclass(frozen=True)
class Onboarding:
    id: str
    tenant_id: str
    purpose: Purpose
    owner_email: str | None
    created_by: str
    progress: Progress
    withdrawn_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _onboarding(row: asyncpg.Record) -> Onboarding:
    return Onboarding(
        id=row["id"],
        tenant_id=row["tenant_id"],
        purpose=row["purpose"],
        owner_email=row["owner_email"],
        created_by=row["created_by"],
        progress=Progress.model_validate_json(row["progress"]),
        withdrawn_at=row["withdrawn_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create(
    pool: asyncpg.Pool, tenant_id: str, purpose: Purpose, owner_email: str | None, who: str
) -> Onboarding:
    row = await pool.fetchrow(
        "INSERT INTO onboardings (id, tenant_id, purpose, owner_email, created_by, progress)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING *",
        uuid.uuid4().hex,
        tenant_id,
        purpose,
        owner_email,
        who,
        Progress().model_dump_json(),
    )
    assert row is not None
    return _onboarding(row)


async def get(pool: asyncpg.Pool, onboarding_id: str) -> Onboarding | None:
    row = await pool.fetchrow("SELECT * FROM onboardings WHERE id = $1", onboarding_id)
    return None if row is None else _onboarding(row)


async def of_tenant(pool: asyncpg.Pool, tenant_id: str) -> list[Onboarding]:
    rows = await pool.fetch(
        "SELECT * FROM onboardings WHERE tenant_id = $1 ORDER BY created_at DESC", tenant_id
    )
    return [_onboarding(r) for r in rows]


async def activated(pool: asyncpg.Pool, tenant_id: str) -> Onboarding | None:
    """The tenant's onboarding that was activated, if one was."""
    row = await pool.fetchrow(
        "SELECT * FROM onboardings WHERE tenant_id = $1 AND purpose = 'onboard'"
        " AND progress ? 'activated_at' AND progress->>'activated_at' IS NOT NULL LIMIT 1",
        tenant_id,
    )
    return None if row is None else _onboarding(row)


async def update(
    pool: asyncpg.Pool,
    onboarding_id: str,
    change: Callable[[Onboarding], Awaitable[Progress]],
) -> Onboarding:
    """Apply `change` to the onboarding's progress under its row lock, so two clicks (or a
    page and the API) never lose each other's step."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM onboardings WHERE id = $1 FOR UPDATE", onboarding_id
        )
        if row is None:
            raise LookupError(onboarding_id)
        progress = await change(_onboarding(row))
        saved = await conn.fetchrow(
            "UPDATE onboardings SET progress = $2::jsonb, updated_at = now() WHERE id = $1"
            " RETURNING *",
            onboarding_id,
            progress.model_dump_json(),
        )
    assert saved is not None
    return _onboarding(saved)


async def withdraw(pool: asyncpg.Pool, onboarding_id: str) -> None:
    await pool.execute(
        "UPDATE onboardings SET withdrawn_at = now(), updated_at = now()"
        " WHERE id = $1 AND withdrawn_at IS NULL",
        onboarding_id,
    )


# --- one-time links -----------------------------------------------------------------------


async def new_link(pool: asyncpg.Pool, onboarding_id: str, hours: float) -> tuple[str, dt.datetime]:
    """A link token (shown once; only its digest is kept) and when it expires."""
    token = secrets.token_urlsafe(32)
    expires: dt.datetime = await pool.fetchval(
        "INSERT INTO onboarding_links (token_sha256, onboarding_id, expires_at)"
        " VALUES ($1, $2, now() + $3::interval) RETURNING expires_at",
        token_digest(token),
        onboarding_id,
        dt.timedelta(hours=hours),
    )
    return token, expires


LinkState = str  # "valid", "used", "expired"


async def look_at_link(pool: asyncpg.Pool, token: str) -> tuple[Onboarding, LinkState] | None:
    row = await pool.fetchrow(
        "SELECT o.*, l.used_at AS link_used_at, l.expires_at < now() AS link_expired"
        " FROM onboarding_links l JOIN onboardings o ON o.id = l.onboarding_id"
        " WHERE l.token_sha256 = $1",
        token_digest(token),
    )
    if row is None:
        return None
    state = "used" if row["link_used_at"] else "expired" if row["link_expired"] else "valid"
    return _onboarding(row), state


async def use_link(pool: asyncpg.Pool, token: str) -> str | None:
    """Spend the link: the onboarding it opens, or None if used, expired or unknown."""
    found: str | None = await pool.fetchval(
        "UPDATE onboarding_links SET used_at = now() WHERE token_sha256 = $1"
        " AND used_at IS NULL AND expires_at > now() RETURNING onboarding_id",
        token_digest(token),
    )
    return found


# --- Visma Connect authorisations in flight ----------------------------------------------


@dataclass(frozen=True)
class Authorization:
    onboarding_id: str
    verifier: str
    redirect_uri: str
    code: str | None
    session_sha256: bytes | None
    return_url: str | None

    def __repr__(self) -> str:  # never the verifier or the code
        return f"Authorization({self.onboarding_id!r})"


def _authorization(row: asyncpg.Record, verifier: str, code: str | None) -> Authorization:
    return Authorization(
        onboarding_id=row["onboarding_id"],
        verifier=verifier,
        redirect_uri=row["redirect_uri"],
        code=code,
        session_sha256=row["session_sha256"],
        return_url=row["return_url"],
    )


class Authorizations:
    def __init__(self, pool: asyncpg.Pool, sealer: SecretSealer) -> None:
        self.pool = pool
        self.sealer = sealer

    @staticmethod
    def _context(onboarding_id: str, column: str) -> str:
        return f"portal:{onboarding_id}:{column}"

    async def begin(
        self,
        onboarding_id: str,
        state: str,
        verifier: str,
        redirect_uri: str,
        session_sha256: bytes | None,
        return_url: str | None,
        minutes: float,
    ) -> None:
        await self.pool.execute(
            "INSERT INTO dinero_authorizations (state_sha256, onboarding_id, code_verifier,"
            " redirect_uri, session_sha256, return_url, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)",
            token_digest(state),
            onboarding_id,
            self.sealer.seal(verifier, self._context(onboarding_id, "code_verifier")),
            redirect_uri,
            session_sha256,
            return_url,
            dt.timedelta(minutes=minutes),
        )
        await self.pool.execute(
            "DELETE FROM dinero_authorizations WHERE expires_at < now() - interval '1 day'"
        )

    async def record_code(self, state: str, code: str) -> str | None:
        """The callback's code, kept (sealed) for the finish step; the onboarding it is for,
        or None when the state is unknown, spent or too old."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT onboarding_id FROM dinero_authorizations WHERE state_sha256 = $1"
                " AND used_at IS NULL AND code IS NULL AND expires_at > now() FOR UPDATE",
                token_digest(state),
            )
            if row is None:
                return None
            onboarding_id: str = row["onboarding_id"]
            await conn.execute(
                "UPDATE dinero_authorizations SET code = $2 WHERE state_sha256 = $1",
                token_digest(state),
                self.sealer.seal(code, self._context(onboarding_id, "code")),
            )
        return onboarding_id

    async def take(self, state: str) -> Authorization | None:
        """Spend the authorisation (once): its verifier and code, for the exchange."""
        row = await self.pool.fetchrow(
            "UPDATE dinero_authorizations SET used_at = now() WHERE state_sha256 = $1"
            " AND used_at IS NULL AND code IS NOT NULL AND expires_at > now() RETURNING *",
            token_digest(state),
        )
        if row is None:
            return None
        onboarding_id = row["onboarding_id"]
        return _authorization(
            row,
            self.sealer.open(row["code_verifier"], self._context(onboarding_id, "code_verifier")),
            self.sealer.open(row["code"], self._context(onboarding_id, "code")),
        )

    async def peek(self, state: str) -> Authorization | None:
        """Who the authorisation belongs to, without spending it (no secrets)."""
        row = await self.pool.fetchrow(
            "SELECT onboarding_id, redirect_uri, session_sha256, return_url"
            " FROM dinero_authorizations WHERE state_sha256 = $1",
            token_digest(state),
        )
        return None if row is None else _authorization(row, verifier="", code=None)
