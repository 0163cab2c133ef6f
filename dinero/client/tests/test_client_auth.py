"""Token handling: code exchange, rotation stored before use, grace, one refresh at a time."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import pytest
from dinero_client_harness import CONFIG, expired_connect, make_harness
from pydantic import SecretStr

from bogfoer_dinero.auth import Credentials, DineroAuth
from bogfoer_dinero.config import DineroConfig
from bogfoer_dinero.errors import ReauthRequired, RetryLater, TenantParked


async def ok_api(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=[{"Id": 1, "Name": "Demo ApS", "IsPro": True}])


async def test_code_exchange_stores_tokens_and_sends_the_documented_form() -> None:
    h = make_harness(ok_api)
    await h.auth().exchange_code("t1", "the-code", "https://app.test/cb", code_verifier="v")
    form = h.tokens.forms[-1]
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://app.test/cb",
        "client_id": "isv_test",
        "client_secret": "connect-client-secret",
        "code_verifier": "v",
    }
    stored = await h.store.get("t1")
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == "rt-1"
    await h.client.organisations("t1")
    assert h.api_calls[-1].headers["Authorization"] == "Bearer at-1"
    assert h.tokens.refresh_calls == 0


async def test_rotated_refresh_token_is_stored_before_the_new_access_token_is_used() -> None:
    seen_in_store: list[str] = []

    async def api(request: httpx.Request) -> httpx.Response:
        stored = await h.store.get("t1")
        assert stored is not None
        assert stored.refresh_token is not None
        seen_in_store.append(stored.refresh_token.get_secret_value())
        return await ok_api(request)

    h = make_harness(api)
    await h.store.put("t1", expired_connect("rt-0"))
    await h.client.organisations("t1")
    assert h.api_calls[-1].headers["Authorization"] == "Bearer at-1"
    assert seen_in_store == ["rt-1"]
    # The next expiry refreshes with the rotated token, not the consumed one.
    h.clock.t += 3600
    await h.client.organisations("t1")
    assert [f["refresh_token"] for f in h.tokens.forms] == ["rt-0", "rt-1"]
    assert h.api_calls[-1].headers["Authorization"] == "Bearer at-2"


async def test_token_is_renewed_within_the_margin_before_expiry() -> None:
    h = make_harness(ok_api)
    await h.store.put("t1", expired_connect())
    await h.client.organisations("t1")
    h.clock.t += 3600 - CONFIG.token_renew_margin_seconds - 1
    await h.client.organisations("t1")
    assert h.tokens.refresh_calls == 1
    h.clock.t += 2
    await h.client.organisations("t1")
    assert h.tokens.refresh_calls == 2


async def test_two_concurrent_callers_cause_exactly_one_refresh() -> None:
    h = make_harness(ok_api)
    h.tokens.delay = 0.05  # both callers are waiting while the refresh is in flight
    await h.store.put("t1", expired_connect())
    first, second = await asyncio.gather(h.auth().bearer("t1"), h.auth().bearer("t1"))
    assert h.tokens.refresh_calls == 1
    assert first.token.get_secret_value() == second.token.get_secret_value() == "at-1"


async def test_two_processes_sharing_a_store_cause_exactly_one_refresh() -> None:
    # Two DineroAuth instances stand for two replicas; only the store's lock is shared.
    h = make_harness(ok_api)
    h.tokens.delay = 0.05
    await h.store.put("t1", expired_connect())
    other = DineroAuth(h.http, CONFIG, h.store, now=h.clock.now, monotonic=h.clock.monotonic)
    first, second = await asyncio.gather(h.auth().bearer("t1"), other.bearer("t1"))
    assert h.tokens.refresh_calls == 1
    assert first.token.get_secret_value() == second.token.get_secret_value() == "at-1"


async def test_lost_refresh_answer_is_replayed_within_the_grace_period() -> None:
    h = make_harness(ok_api)
    await h.store.put("t1", expired_connect())
    h.tokens.faults = ["drop"]  # the server rotates, the answer never arrives
    bearer = await h.auth().bearer("t1")
    assert [f["refresh_token"] for f in h.tokens.forms] == ["rt-0", "rt-0"]
    assert bearer.token.get_secret_value() == "at-1"  # the grace answer: same token set
    stored = await h.store.get("t1")
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == "rt-1"


async def test_lost_refresh_answer_without_grace_parks_and_is_never_replayed() -> None:
    config = CONFIG.model_copy(update={"refresh_grace_seconds": 0.0})
    h = make_harness(ok_api, config=config)
    await h.store.put("t1", expired_connect())
    h.tokens.faults = ["drop"]
    with pytest.raises(TenantParked, match="grace"):
        await h.auth().bearer("t1")
    assert h.tokens.refresh_calls == 1
    stored = await h.store.get("t1")
    assert stored is not None
    assert stored.parked_reason is not None
    with pytest.raises(TenantParked):
        await h.client.organisations("t1")
    assert h.tokens.refresh_calls == 1
    assert h.api_calls == []


async def test_token_endpoint_5xx_is_replayed_in_grace_then_parks_outside_it() -> None:
    h = make_harness(ok_api)
    await h.store.put("t1", expired_connect())
    h.tokens.faults = [503, 503]
    bearer = await h.auth().bearer("t1")
    assert bearer.token.get_secret_value() == "at-1"
    assert h.tokens.refresh_calls == 1  # the two 503s never reached the grant logic
    assert len(h.tokens.forms) == 3


async def test_invalid_grant_parks_the_tenant_and_stops_asking() -> None:
    h = make_harness(ok_api)
    await h.store.put("t1", expired_connect())
    h.tokens.revoked = True
    with pytest.raises(TenantParked, match="invalid_grant"):
        await h.client.organisations("t1")
    with pytest.raises(TenantParked):
        await h.client.organisations("t1")
    assert h.tokens.refresh_calls == 1
    stored = await h.store.get("t1")
    assert stored is not None
    assert stored.parked_reason is not None
    assert stored.access_token is None
    # A fresh consent un-parks the tenant.
    h.tokens.revoked = False
    await h.auth().exchange_code("t1", "code-2", "https://app.test/cb")
    await h.client.organisations("t1")


async def test_token_endpoint_unreachable_is_retry_later_and_leaves_the_store_alone() -> None:
    h = make_harness(ok_api)
    await h.store.put("t1", expired_connect())

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    auth = DineroAuth(httpx.AsyncClient(transport=httpx.MockTransport(refuse)), CONFIG, h.store)
    with pytest.raises(RetryLater):
        await auth.bearer("t1")
    assert await h.store.get("t1") == expired_connect()


async def test_legacy_api_key_grant_uses_basic_auth_and_reruns_near_expiry() -> None:
    h = make_harness(ok_api)
    await h.auth().register_api_key("org-9", "the-api-key")
    await h.client.organisations("org-9")
    form = h.tokens.forms[-1]
    assert form["grant_type"] == "password"
    assert form["username"] == form["password"] == "the-api-key"
    assert h.api_calls[-1].headers["Authorization"] == "Bearer legacy-at-1"
    stored = await h.store.get("org-9")
    assert stored is not None
    assert stored.refresh_token is None
    await h.client.organisations("org-9")
    assert h.tokens.password_calls == 1
    h.clock.t += 3600 - 60  # inside the renew margin: run the grant again
    await h.client.organisations("org-9")
    assert h.tokens.password_calls == 2
    assert h.api_calls[-1].headers["Authorization"] == "Bearer legacy-at-2"


async def test_legacy_withdrawn_key_parks() -> None:
    h = make_harness(ok_api)
    await h.auth().register_api_key("org-9", "the-api-key")
    h.tokens.revoked = True
    h.clock.t += 3600  # the token expires; the withdrawn key gets no new one
    with pytest.raises(TenantParked):
        await h.client.organisations("org-9")


async def test_an_api_key_dinero_refuses_is_not_stored() -> None:
    h = make_harness(ok_api)
    await h.auth().register_api_key("org-9", "the-api-key")
    kept = await h.store.get("org-9")
    h.tokens.revoked = True
    with pytest.raises(TenantParked, match="refused"):
        await h.auth().register_api_key("org-9", "a-wrong-key")
    assert await h.store.get("org-9") == kept  # the working key stays


async def test_a_401_renews_once_and_resends_then_gives_up() -> None:
    answers = [401, 200, 401, 401]

    async def api(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        if status == 401:
            return httpx.Response(401, json={"code": 41, "message": "Unauthorized"})
        return await ok_api(request)

    h = make_harness(api)
    await h.auth().exchange_code("t1", "c", "https://app.test/cb")
    orgs = await h.client.organisations("t1")
    assert orgs[0].name == "Demo ApS"
    assert [r.headers["Authorization"] for r in h.api_calls] == ["Bearer at-1", "Bearer at-2"]
    with pytest.raises(ReauthRequired):
        await h.client.organisations("t1")
    assert h.tokens.refresh_calls == 2


async def test_unknown_tenant_is_parked() -> None:
    h = make_harness(ok_api)
    with pytest.raises(TenantParked, match="no Dinero credentials"):
        await h.client.organisations("nobody")


async def test_tokens_and_secrets_never_reach_logs_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [401, 200]

    async def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.pop(0), json=[{"Id": 1}])

    h = make_harness(api)
    await h.store.put("t1", expired_connect())
    await h.client.organisations("t1")
    h.tokens.revoked = True
    with pytest.raises(TenantParked) as parked:
        await h.auth().register_api_key("org-9", "the-api-key")
    texts = [
        caplog.text,
        repr(h.client),
        repr(h.auth()),
        repr(h.store),
        repr(await h.store.get("t1")),
        repr(await h.store.get("org-9")),
        repr(CONFIG),
        str(CONFIG),
        str(parked.value),
        repr(parked.value),
    ]
    assert "refreshed" in caplog.text  # the log was captured at all
    for text in texts:
        for secret in ("at-1", "at-2", "rt-0", "rt-1", "the-api-key", "client-secret"):
            assert secret not in text, (secret, text)


def test_credentials_freshness_respects_the_margin() -> None:
    from datetime import timedelta

    c = Credentials(
        kind="visma_connect",
        access_token=SecretStr("x"),
        access_expires_at=datetime(2025, 1, 1, 12, tzinfo=UTC),
    )
    assert c.usable_at(datetime(2025, 1, 1, 11, 57, tzinfo=UTC), timedelta(minutes=2))
    assert not c.usable_at(datetime(2025, 1, 1, 11, 58, tzinfo=UTC), timedelta(minutes=2))
    assert not Credentials(kind="api_key").usable_at(datetime.now(UTC), timedelta(0))
    _ = DineroConfig()  # defaults build without any secret
