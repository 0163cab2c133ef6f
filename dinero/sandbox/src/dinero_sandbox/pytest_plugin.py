"""Pytest fixtures that run the sandbox as a real separate process.

- `dinero_sandbox_process` (session): one process for the whole run.
- `dinero_sandbox` (function): that process, reset to its seeded state before each test.
- `dinero_sandbox_factory` (function): start extra sandboxes with custom flags, e.g.
  `dinero_sandbox_factory("--rate-limit", "5", "--rate-window-seconds", "2")`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dinero_sandbox.process import SandboxHandle, start_sandbox

__all__ = ["SandboxHandle", "start_sandbox"]


@pytest.fixture(scope="session")
def dinero_sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    handle = start_sandbox(log_dir=tmp_path_factory.mktemp("dinero-sandbox"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def dinero_sandbox(dinero_sandbox_process: SandboxHandle) -> SandboxHandle:
    """The shared sandbox, reset to the seeded state (and no faults) for this test."""
    dinero_sandbox_process.reset()
    return dinero_sandbox_process


@pytest.fixture
def dinero_sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., SandboxHandle]]:
    started: list[SandboxHandle] = []

    def start(*args: str, port: int | None = None) -> SandboxHandle:
        handle = start_sandbox(*args, port=port, log_dir=tmp_path)
        started.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in started:
            handle.stop()
