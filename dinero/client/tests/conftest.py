"""Load the sandbox's pytest plugin (`dinero_sandbox`, `dinero_sandbox_factory`) here too."""

from __future__ import annotations

import pytest

from dinero_sandbox import pytest_plugin

PLUGIN = "dinero_sandbox.pytest_plugin"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.register(pytest_plugin, PLUGIN)
