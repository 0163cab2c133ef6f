"""Fixtures of the sandbox tests (the sandbox plugin itself is listed in the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_harness import Api

from dinero_sandbox.process import SandboxHandle


@pytest.fixture
def api(dinero_sandbox: SandboxHandle) -> Iterator[Api]:
    """Org 123456 through the legacy password grant."""
    client = Api(dinero_sandbox, dinero_sandbox.password_token(), dinero_sandbox.main_org)
    try:
        yield client
    finally:
        client.http.close()
