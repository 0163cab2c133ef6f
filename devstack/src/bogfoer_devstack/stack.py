"""The services as separate processes, for end-to-end tests and `make demo`.

Each service runs as `python -m bogfoer_<name>` with its settings in the environment,
its log in the work folder, and is ready when `GET /health/ready` answers 200.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bogfoer_devstack.ports import free_port, stop_process

SERVICES = ("ingest", "mapper", "poster", "ledger", "portal")


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"bogfoer_{self.name}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            if self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait for the graceful drain, SIGKILL if it does not come."""
        return stop_process(self.process, timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> ServiceProcess:
        self.stop()
        self.start()
        self.wait_ready()
        return self

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    """Settings shared by the services of one run, and the processes themselves."""

    workdir: Path
    kafka_bootstrap: str
    database_url: str
    dinero_url: str
    stripe_url: str = "http://127.0.0.1:9"  # unused unless a Stripe double runs
    dinero_legacy_client_id: str = ""
    dinero_legacy_client_secret: str = ""
    dinero_connect_client_id: str = ""
    dinero_connect_client_secret: str = ""
    dinero_rate_limit: int = 100
    dinero_rate_window_seconds: float = 60.0
    extra_env: dict[str, str] = field(default_factory=dict)
    # The operator token (subject `admin`) and a viewer token, granted by every service.
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    viewer_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def env_for(self, name: str, port: int) -> dict[str, str]:
        from bogfoer_dinero.sealing import SecretSealer

        prefix = f"BOGFOER_{name.upper()}_"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOGFOER_")}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "DATABASE_URL": self.database_url,
                f"{prefix}HTTP_PORT": str(port),
                f"{prefix}ADMIN_TOKEN": self.admin_token,
                f"{prefix}AUTH_TOKENS": json.dumps(
                    [{"subject": "viewer", "role": "viewer", "token": self.viewer_token}]
                ),
                f"{prefix}GRACEFUL_TIMEOUT_SECONDS": "20",
            }
        )
        if name in ("ledger", "portal"):
            # Plain HTTP on loopback: the session cookie cannot be Secure-only here.
            env[f"{prefix}SESSION_COOKIE_SECURE"] = "false"
        if name == "ledger":
            env[f"{prefix}LAG_INTERVAL_SECONDS"] = "2"
        if name == "ingest":
            env[f"{prefix}SECRETS_KEY"] = SecretSealer.generate_key()
            env[f"{prefix}STRIPE_API_BASE"] = self.stripe_url
        if name == "poster":
            env.update(
                {
                    f"{prefix}CREDENTIALS_KEY": SecretSealer.generate_key(),
                    f"{prefix}DINERO_API_URL": self.dinero_url,
                    f"{prefix}DINERO_CONNECT_TOKEN_URL": f"{self.dinero_url}/connect/token",
                    f"{prefix}DINERO_LEGACY_TOKEN_URL": f"{self.dinero_url}/dineroapi/oauth/token",
                    f"{prefix}DINERO_LEGACY_CLIENT_ID": self.dinero_legacy_client_id,
                    f"{prefix}DINERO_LEGACY_CLIENT_SECRET": self.dinero_legacy_client_secret,
                    f"{prefix}DINERO_CONNECT_CLIENT_ID": self.dinero_connect_client_id,
                    f"{prefix}DINERO_CONNECT_CLIENT_SECRET": self.dinero_connect_client_secret,
                    f"{prefix}DINERO_RATE_LIMIT": str(self.dinero_rate_limit),
                    f"{prefix}DINERO_RATE_WINDOW_SECONDS": str(self.dinero_rate_window_seconds),
                    f"{prefix}DINERO_READ_TIMEOUT_SECONDS": "5",
                    f"{prefix}RETRY_BASE_SECONDS": "0.2",
                    f"{prefix}RETRY_CAP_SECONDS": "3",
                    f"{prefix}DRAFT_POLL_MIN_SECONDS": "0.5",
                    f"{prefix}DRAFT_POLL_MAX_SECONDS": "5",
                    f"{prefix}POLL_INTERVAL_SECONDS": "0.2",
                    # A restarted poster is a new replica: it waits out the old lease.
                    f"{prefix}CLAIM_LEASE_SECONDS": "8",
                }
            )
        if name == "portal":
            # The portal carries out onboarding through the poster's and ingest's admin APIs.
            env.update(
                {
                    f"{prefix}SECRETS_KEY": SecretSealer.generate_key(),
                    f"{prefix}POSTER_URL": self._url_of("poster"),
                    f"{prefix}POSTER_TOKEN": self.admin_token,
                    f"{prefix}INGEST_URL": self._url_of("ingest"),
                    f"{prefix}INGEST_TOKEN": self.admin_token,
                    f"{prefix}DINERO_CONNECT_AUTHORIZE_URL": f"{self.dinero_url}/connect/authorize",
                    f"{prefix}DINERO_CONNECT_CLIENT_ID": self.dinero_connect_client_id,
                }
            )
        env.update(self.extra_env)
        return env

    def _url_of(self, name: str) -> str:
        port = self.ports.get(name)
        return f"http://127.0.0.1:{port}" if port else "http://127.0.0.1:9"

    def start(self, names: tuple[str, ...] = SERVICES) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports |= {name: free_port() for name in names}
        for name in names:
            port = self.ports[name]
            service = ServiceProcess(
                name, port, self.env_for(name, port), self.workdir / f"{name}.log"
            )
            self.services[name] = service.start()
        for name in names:
            self.services[name].wait_ready()
        return self

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def url(self, name: str) -> str:
        return self.services[name].url


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack.start()
    finally:
        stack.stop()
