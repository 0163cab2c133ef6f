"""The mapper's tables: tenant settings, events seen, order states, the outbox."""

from __future__ import annotations

from bogfoer_contracts.tenants import TenantConfig
from bogfoer_kit.db import Conn


async def lock_tenant(conn: Conn, tenant_id: str) -> None:
    """Serialise this transaction with the tenant's other event and settings transactions."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"mapper:{tenant_id}")


async def save_config(conn: Conn, config: TenantConfig) -> bool:
    """Store a tenant's settings unless a newer version is already stored."""
    row = await conn.fetchrow(
        "INSERT INTO tenant_configs (tenant_id, version, config) VALUES ($1, $2, $3::jsonb)"
        " ON CONFLICT (tenant_id) DO UPDATE SET version = EXCLUDED.version,"
        " config = EXCLUDED.config, updated_at = now()"
        " WHERE tenant_configs.version < EXCLUDED.version RETURNING 1",
        config.tenant_id,
        config.version,
        config.model_dump_json(),
    )
    return row is not None


async def load_config(conn: Conn, tenant_id: str) -> TenantConfig | None:
    raw = await conn.fetchval("SELECT config FROM tenant_configs WHERE tenant_id = $1", tenant_id)
    return None if raw is None else TenantConfig.model_validate_json(raw)


async def record_event(
    conn: Conn, tenant_id: str, event_id: str, state_key: str, payload: str, backfill: bool
) -> int | None:
    """Remember an event; None when this id was seen before (a redelivery)."""
    seq: int | None = await conn.fetchval(
        "INSERT INTO events (tenant_id, event_id, state_key, payload, backfill)"
        " VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING RETURNING seq",
        tenant_id,
        event_id,
        state_key,
        payload,
        backfill,
    )
    return seq


async def unprocessed(conn: Conn, tenant_id: str) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        "SELECT seq, payload::text AS payload FROM events"
        " WHERE tenant_id = $1 AND NOT processed ORDER BY seq FOR UPDATE",
        tenant_id,
    )
    return [(r["seq"], r["payload"]) for r in rows]


async def forget_event(conn: Conn, seq: int) -> None:
    await conn.execute("DELETE FROM events WHERE seq = $1", seq)


async def mark_processed(conn: Conn, seq: int, outcome: str) -> None:
    await conn.execute(
        "UPDATE events SET processed = true, outcome = $2 WHERE seq = $1", seq, outcome
    )


async def load_state(conn: Conn, tenant_id: str, state_key: str) -> str | None:
    raw: str | None = await conn.fetchval(
        "SELECT state::text FROM order_states WHERE tenant_id = $1 AND state_key = $2 FOR UPDATE",
        tenant_id,
        state_key,
    )
    return raw


async def save_state(conn: Conn, tenant_id: str, state_key: str, state: str) -> None:
    await conn.execute(
        "INSERT INTO order_states (tenant_id, state_key, state) VALUES ($1, $2, $3::jsonb)"
        " ON CONFLICT (tenant_id, state_key) DO UPDATE SET state = EXCLUDED.state,"
        " updated_at = now()",
        tenant_id,
        state_key,
        state,
    )


async def record_origins(conn: Conn, tenant_id: str, state_key: str, keys: list[str]) -> None:
    """Remember that these posting keys (emitted or held) come from this state."""
    if keys:
        await conn.execute(
            "INSERT INTO posting_origins (tenant_id, posting_key, state_key)"
            " SELECT $1, key, $2 FROM unnest($3::text[]) AS key ON CONFLICT DO NOTHING",
            tenant_id,
            state_key,
            keys,
        )


async def origin(conn: Conn, tenant_id: str, posting_key: str) -> tuple[str, int] | None:
    """(state key, revision) of a posting key; the first state that gave it."""
    row = await conn.fetchrow(
        "SELECT state_key, revision FROM posting_origins WHERE tenant_id = $1"
        " AND posting_key = $2 ORDER BY state_key LIMIT 1",
        tenant_id,
        posting_key,
    )
    return None if row is None else (row["state_key"], row["revision"])


async def set_revision(conn: Conn, tenant_id: str, posting_key: str, revision: int) -> None:
    await conn.execute(
        "UPDATE posting_origins SET revision = $3 WHERE tenant_id = $1 AND posting_key = $2",
        tenant_id,
        posting_key,
        revision,
    )


async def held_states(conn: Conn, tenant_id: str) -> list[tuple[str, str]]:
    """(state key, state) of the tenant's states that hold something back."""
    rows = await conn.fetch(
        "SELECT state_key, state::text AS state FROM order_states WHERE tenant_id = $1"
        " AND jsonb_array_length(state -> 'holds_raised') > 0 ORDER BY state_key FOR UPDATE",
        tenant_id,
    )
    return [(r["state_key"], r["state"]) for r in rows]


async def claim_action(conn: Conn, action_id: str) -> bool:
    """False when this operator action was carried out before (a redelivery)."""
    row = await conn.fetchrow(
        "INSERT INTO actions_applied (action_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
        action_id,
    )
    return row is not None
