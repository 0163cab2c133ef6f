"""Pytest fixtures for Stripe: the local double and Stripe's own stripe-mock, as processes.

- `stripe_double_process` (session): `python -m bogfoer_devstack.stripe_double` on a free port.
- `stripe_double` (function): a `StripeDoubleClient` for that process, reset before each test.
- `stripe_mock` (session): the base URL of stripe-mock (github.com/stripe/stripe-mock), built
  with `go install` into ~/.cache/bogfoer/go on first use. A failed build or start is an
  error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bogfoer_devstack.ports import free_port, wait_for_port
from bogfoer_devstack.stripe_double import StripeDoubleClient

STARTUP_TIMEOUT_SECONDS = 20.0
STRIPE_MOCK_MODULE = "github.com/stripe/stripe-mock"
# Pinned so every machine builds the same fixtures; bump deliberately.
STRIPE_MOCK_VERSION = "v0.203.0"
GO_BIN_DIR = Path(
    os.environ.get("BOGFOER_GO_BIN", Path.home() / ".cache" / "bogfoer" / "go" / "bin")
)


def _start(args: list[str], port: int, log: Path, what: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    if not wait_for_port(port, STARTUP_TIMEOUT_SECONDS):
        process.kill()
        process.wait()
        raise RuntimeError(f"{what} did not listen on {port}:\n{log.read_text()}")
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def stripe_double_process() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bogfoer-stripe-double-") as tmp:
        process = _start(
            [sys.executable, "-m", "bogfoer_devstack.stripe_double", "--port", str(port)],
            port,
            Path(tmp) / "stripe-double.log",
            "the Stripe double",
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(process)


@pytest.fixture
def stripe_double(stripe_double_process: str) -> Iterator[StripeDoubleClient]:
    client = StripeDoubleClient(stripe_double_process)
    client.reset()
    try:
        yield client
    finally:
        client.close()


def stripe_mock_binary() -> Path:
    """The stripe-mock binary, built from the Go module on first use."""
    binary = GO_BIN_DIR / STRIPE_MOCK_VERSION / "stripe-mock"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("stripe-mock needs Go on PATH to build it")
    env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-modcacherw"}
    result = subprocess.run(
        [go, "install", f"{STRIPE_MOCK_MODULE}@{STRIPE_MOCK_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not binary.exists():
        raise RuntimeError(f"go install stripe-mock failed:\n{result.stdout}{result.stderr}")
    return binary


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[str]:
    binary = stripe_mock_binary()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bogfoer-stripe-mock-") as tmp:
        process = _start(
            [str(binary), "-http-addr", f"127.0.0.1:{port}"],
            port,
            Path(tmp) / "stripe-mock.log",
            "stripe-mock",
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(process)
