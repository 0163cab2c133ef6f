"""429 with Dinero's plain body once an organisation exceeds its quota in the window."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration


def test_quota_per_org_with_a_sped_up_window(
    dinero_sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    sandbox = dinero_sandbox_factory("--rate-limit", "5", "--rate-window-seconds", "2")
    main = {"Authorization": f"Bearer {sandbox.password_token(sandbox.main_org)}"}
    other = {"Authorization": f"Bearer {sandbox.password_token(sandbox.vat_free_org)}"}
    with httpx.Client(base_url=sandbox.base_url) as client:
        statuses = [client.get("/v1/123456/vatTypes", headers=main).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        limited = client.get("/v1/123456/vatTypes", headers=main)
        assert limited.text.startswith("API calls quota exceeded!")
        assert limited.headers["content-type"].startswith("text/plain")
        # Another organisation has its own quota.
        assert client.get("/v1/234567/vatTypes", headers=other).status_code == 200
        time.sleep(2.1)
        assert client.get("/v1/123456/vatTypes", headers=main).status_code == 200


def test_default_quota_is_100_per_minute(dinero_sandbox: SandboxHandle) -> None:
    headers = {"Authorization": f"Bearer {dinero_sandbox.password_token()}"}
    with httpx.Client(base_url=dinero_sandbox.base_url, headers=headers) as client:
        statuses = [client.get("/v1/123456/vatTypes").status_code for _ in range(101)]
    assert statuses.count(200) == 100
    assert statuses[-1] == 429
