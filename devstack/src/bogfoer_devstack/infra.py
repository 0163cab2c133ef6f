"""What a local run of the whole pipeline stands on: Kafka, PostgreSQL, the Dinero sandbox
and the Stripe API double, each a process with its log in the work folder (`make demo`,
`make chaos`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.ports import free_port, stop_process, wait_for_port
from bogfoer_devstack.postgres import Postgres
from bogfoer_devstack.stack import Stack
from dinero_sandbox.process import SandboxHandle, start_sandbox


@dataclass
class Infra:
    broker: KafkaBroker
    postgres: Postgres
    sandbox: SandboxHandle
    stripe_url: str

    def stack(self, workdir: Path, database_url: str | None = None, **settings: Any) -> Stack:
        """The services' settings for this infrastructure (not started)."""
        return Stack(
            workdir=workdir,
            kafka_bootstrap=self.broker.bootstrap_servers,
            database_url=database_url or self.postgres.url,
            dinero_url=self.sandbox.base_url,
            stripe_url=self.stripe_url,
            dinero_legacy_client_id=self.sandbox.legacy.client_id,
            dinero_legacy_client_secret=self.sandbox.legacy.client_secret,
            dinero_connect_client_id=self.sandbox.connect.client_id,
            dinero_connect_client_secret=self.sandbox.connect.client_secret,
            **settings,
        )


@contextmanager
def local_infra(workdir: Path, sandbox_args: tuple[str, ...] = ()) -> Iterator[Infra]:
    """Start everything in `workdir`; stopped again when the block ends."""
    with ExitStack() as cleanup:
        broker = KafkaBroker(workdir / "kafka").start()
        cleanup.callback(broker.stop)
        postgres = Postgres(workdir / "postgres").start()
        cleanup.callback(postgres.stop)
        sandbox = start_sandbox(*sandbox_args, log_dir=workdir)
        cleanup.callback(sandbox.stop)
        port = free_port()
        with (workdir / "stripe-double.log").open("wb") as log:
            stripe = subprocess.Popen(
                [sys.executable, "-m", "bogfoer_devstack.stripe_double", "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        cleanup.callback(stop_process, stripe)
        if not wait_for_port(port, 20):
            raise RuntimeError(f"the Stripe double did not listen on {port}")
        yield Infra(broker, postgres, sandbox, f"http://127.0.0.1:{port}")
