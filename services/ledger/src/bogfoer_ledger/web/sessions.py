"""The web app's sessions: a random cookie, stored as a digest with who logged in, their
role and the session's CSRF token; ended by logout, by expiry, or when the token that
opened it is no longer granted in settings."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import asyncpg

from bogfoer_kit.auth import Principal, Role, StaticTokens, token_digest

COOKIE = "bogfoer_ops"


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, grants: StaticTokens, hours: float) -> None:
        self.pool = pool
        self.grants = grants
        self.lifetime = dt.timedelta(hours=hours)

    async def open(self, principal: Principal) -> str:
        """A new session for someone just authenticated; returns the cookie's value."""
        token = secrets.token_urlsafe(32)
        await self.pool.execute(
            "INSERT INTO ops_sessions (token_sha256, subject, role, csrf_token, expires_at)"
            " VALUES ($1, $2, $3, $4, now() + $5::interval)",
            token_digest(token),
            principal.subject,
            principal.role,
            secrets.token_urlsafe(24),
            self.lifetime,
        )
        await self.pool.execute("DELETE FROM ops_sessions WHERE expires_at < now()")
        return token

    async def find(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 200:
            return None
        row = await self.pool.fetchrow(
            "SELECT subject, role, csrf_token FROM ops_sessions"
            " WHERE token_sha256 = $1 AND expires_at > now()",
            token_digest(cookie),
        )
        if row is None:
            return None
        role: Role = row["role"]
        if not self.grants.grants(row["subject"], role):
            return None  # the token that opened it was withdrawn
        return Session(Principal(row["subject"], role), row["csrf_token"])

    async def close(self, cookie: str | None) -> None:
        if cookie:
            await self.pool.execute(
                "DELETE FROM ops_sessions WHERE token_sha256 = $1", token_digest(cookie)
            )
