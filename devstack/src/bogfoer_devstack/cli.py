"""`bogfoer-devstack up|down|restart|fetch`: the local Kafka broker and PostgreSQL for people.

`up` starts both in the background and writes their addresses to `<state>/infra.env`
(KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), which `make demo` and ad-hoc runs source. `down`
stops them and keeps their data; the next `up` starts them on it again, on the same ports.
`restart kafka|postgres` stops one and starts it again on its data and ports, so running
services must reconnect by themselves (as after a failover).
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


def _write_env(state: Path, broker: KafkaBroker, pg: Postgres) -> None:
    assert broker.process is not None
    text = (
        f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}\n"
        f"DATABASE_URL={pg.url}\n"
        f"BOGFOER_KAFKA_PID={broker.process.pid}\n"
        f"BOGFOER_KAFKA_PORT={broker.port}\n"
        f"BOGFOER_KAFKA_CONTROLLER_PORT={broker.controller_port}\n"
        f"BOGFOER_PG_DIR={pg.data_dir}\n"
        f"BOGFOER_PG_PORT={pg.port}\n"
    )
    (state / "infra.env").write_text(text)
    (state / "ports.env").write_text(text)  # what the next `up` starts on again


def _stop_kafka(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _broker(state: Path, env: dict[str, str], kafka_port: int = 0) -> KafkaBroker:
    return KafkaBroker(
        state / "kafka",
        port=kafka_port or int(env.get("BOGFOER_KAFKA_PORT", "0")),
        controller_port=int(env.get("BOGFOER_KAFKA_CONTROLLER_PORT", "0")),
    )


def _postgres(state: Path, env: dict[str, str], pg_port: int = 0) -> Postgres:
    return Postgres(state / "postgres", port=pg_port or int(env.get("BOGFOER_PG_PORT", "0")))


def up(state: Path, kafka_port: int, pg_port: int) -> None:
    env_file = state / "infra.env"
    if env_file.exists():
        print(f"already up (see {env_file}); run `make infra-down` first")
        return
    state.mkdir(parents=True, exist_ok=True)
    last = _read_env(state / "ports.env")
    broker = _broker(state, last, kafka_port).start()
    print(f"Apache Kafka {broker.version} (KRaft) at {broker.bootstrap_servers}")
    pg = _postgres(state, last, pg_port).start()
    print(f"PostgreSQL at {pg.url}")
    _write_env(state, broker, pg)
    print(f"wrote {env_file}")


def down(state: Path) -> None:
    env = _read_env(state / "infra.env")
    if not env:
        print("nothing to stop")
        return
    if pid := env.get("BOGFOER_KAFKA_PID"):
        _stop_kafka(int(pid))
    if pg_dir := env.get("BOGFOER_PG_DIR"):
        Postgres(Path(pg_dir), port=int(env.get("BOGFOER_PG_PORT", "0"))).stop()
    (state / "infra.env").unlink()
    print("stopped Kafka and PostgreSQL (their data stays for the next `up`)")


def restart(state: Path, what: str, down_for: float) -> None:
    env = _read_env(state / "infra.env")
    if not env:
        print("not up; run `make infra-up` first")
        return
    broker, pg = _broker(state, env), _postgres(state, env)
    if what == "kafka":
        _stop_kafka(int(env["BOGFOER_KAFKA_PID"]))
        time.sleep(down_for)
        broker.start()
        _write_env(state, broker, pg)  # the broker's new process id
        print(f"Kafka back at {broker.bootstrap_servers}")
    else:
        pg.stop()
        time.sleep(down_for)
        pg.start()
        print(f"PostgreSQL back at {pg.url}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bogfoer-devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "restart", "fetch"])
    parser.add_argument("what", nargs="?", choices=["kafka", "postgres"], help="for restart")
    parser.add_argument("--state", type=Path, default=Path(".run"))
    parser.add_argument("--kafka-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--pg-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--down-for", type=float, default=3.0, help="restart: seconds down")
    args = parser.parse_args()
    if args.command == "up":
        up(args.state.resolve(), args.kafka_port, args.pg_port)
    elif args.command == "down":
        down(args.state.resolve())
    elif args.command == "restart":
        if args.what is None:
            parser.error("restart what: kafka or postgres")
        restart(args.state.resolve(), args.what, args.down_for)
    else:
        print(f"Kafka {KAFKA_VERSION} jars in {ensure_jars()}")


if __name__ == "__main__":
    main()
