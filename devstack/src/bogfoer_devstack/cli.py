"""`bogfoer-devstack up|down|status`: the local Kafka broker and PostgreSQL for people.

`up` starts both in the background and writes their addresses to `<state>/infra.env`
(KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), which `make demo` and ad-hoc runs source.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from bogfoer_devstack.kafka import KAFKA_VERSION, KafkaBroker, ensure_jars
from bogfoer_devstack.postgres import Postgres


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = (line for line in path.read_text().splitlines() if "=" in line)
    return dict(line.split("=", 1) for line in lines)


def up(state: Path, kafka_port: int, pg_port: int) -> None:
    env_file = state / "infra.env"
    if env_file.exists():
        print(f"already up (see {env_file}); run `make infra-down` first")
        return
    state.mkdir(parents=True, exist_ok=True)
    broker = KafkaBroker(state / "kafka", port=kafka_port).start()
    assert broker.process is not None
    print(f"Apache Kafka {broker.version} (KRaft) at {broker.bootstrap_servers}")
    pg = Postgres(state / "postgres", port=pg_port).start()
    print(f"PostgreSQL at {pg.url}")
    env_file.write_text(
        f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}\n"
        f"DATABASE_URL={pg.url}\n"
        f"BOGFOER_KAFKA_PID={broker.process.pid}\n"
        f"BOGFOER_PG_DIR={pg.data_dir}\n"
        f"BOGFOER_PG_PORT={pg.port}\n"
    )
    print(f"wrote {env_file}")


def down(state: Path) -> None:
    env = _read_env(state / "infra.env")
    if not env:
        print("nothing to stop")
        return
    if pid := env.get("BOGFOER_KAFKA_PID"):
        try:
            os.kill(int(pid), signal.SIGTERM)
            for _ in range(300):
                os.kill(int(pid), 0)
                time.sleep(0.1)
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    if pg_dir := env.get("BOGFOER_PG_DIR"):
        Postgres(Path(pg_dir), port=int(env.get("BOGFOER_PG_PORT", "0"))).stop()
    (state / "infra.env").unlink()
    print("stopped Kafka and PostgreSQL")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bogfoer-devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "fetch"])
    parser.add_argument("--state", type=Path, default=Path(".run"))
    parser.add_argument("--kafka-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--pg-port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    if args.command == "up":
        up(args.state.resolve(), args.kafka_port, args.pg_port)
    elif args.command == "down":
        down(args.state.resolve())
    else:
        print(f"Kafka {KAFKA_VERSION} jars in {ensure_jars()}")


if __name__ == "__main__":
    main()
