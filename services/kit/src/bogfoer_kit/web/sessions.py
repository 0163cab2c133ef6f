"""Web sessions: a random cookie, stored as a digest with who it belongs to, their role (and,
for a shop owner, the tenant) and the session's CSRF token; ended by logout, by expiry, or
when whatever opened it no longer holds (a token removed from settings, an onboarding
withdrawn).

Each service keeps its sessions in a table of its own schema with these columns:
`token_sha256 bytea PRIMARY KEY, subject text, role text, tenants text[], csrf_token text,
created_at timestamptz, expires_at timestamptz`.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from bogfoer_kit.auth import Principal, Role, token_digest

StillGranted = Callable[[Principal], Awaitable[bool]]
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str


class SessionStore:
    def __init__(
        self, pool: asyncpg.Pool, table: str, hours: float, still_granted: StillGranted
    ) -> None:
        if not _TABLE.match(table):
            raise ValueError(f"not a table name: {table!r}")
        self.pool = pool
        self.table = table
        self.lifetime = dt.timedelta(hours=hours)
        self.still_granted = still_granted

    async def open(self, principal: Principal) -> str:
        """A new session for someone just authenticated; returns the cookie's value."""
        token = secrets.token_urlsafe(32)
        await self.pool.execute(
            f"INSERT INTO {self.table} (token_sha256, subject, role, tenants, csrf_token,"  # noqa: S608 - a checked identifier
            " expires_at) VALUES ($1, $2, $3, $4, $5, now() + $6::interval)",
            token_digest(token),
            principal.subject,
            principal.role,
            sorted(principal.tenants),
            secrets.token_urlsafe(24),
            self.lifetime,
        )
        await self.pool.execute(f"DELETE FROM {self.table} WHERE expires_at < now()")  # noqa: S608
        return token

    async def find(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 200:
            return None
        row = await self.pool.fetchrow(
            f"SELECT subject, role, tenants, csrf_token FROM {self.table}"  # noqa: S608
            " WHERE token_sha256 = $1 AND expires_at > now()",
            token_digest(cookie),
        )
        if row is None:
            return None
        role: Role = row["role"]
        principal = Principal(row["subject"], role, frozenset(row["tenants"]))
        if not await self.still_granted(principal):
            return None  # what opened it was withdrawn
        return Session(principal, row["csrf_token"])

    async def close(self, cookie: str | None) -> None:
        if cookie:
            await self.pool.execute(
                f"DELETE FROM {self.table} WHERE token_sha256 = $1",  # noqa: S608
                token_digest(cookie),
            )
