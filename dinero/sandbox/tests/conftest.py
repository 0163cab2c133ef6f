"""Load the sandbox plugin when the repo-root conftest has not (it lists it in pytest_plugins)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_harness import Api

from dinero_sandbox import pytest_plugin
from dinero_sandbox.pytest_plugin import SandboxHandle

PLUGIN = "dinero_sandbox.pytest_plugin"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.register(pytest_plugin, PLUGIN)


@pytest.fixture
def api(dinero_sandbox: SandboxHandle) -> Iterator[Api]:
    """Org 123456 through the legacy password grant."""
    client = Api(dinero_sandbox, dinero_sandbox.password_token(), dinero_sandbox.main_org)
    try:
        yield client
    finally:
        client.http.close()
