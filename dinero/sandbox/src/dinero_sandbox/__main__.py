"""`python -m dinero_sandbox`: run the sandbox on 127.0.0.1 (flags override the environment)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from dinero_sandbox.app import create_app
from dinero_sandbox.context import Config
from dinero_sandbox.faults import FaultConfig, parse_fault_config


def parse_args(argv: list[str] | None = None) -> Config:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m dinero_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="only loopback addresses")
    parser.add_argument("--port", type=int, default=int(env.get("DINERO_SANDBOX_PORT", "8910")))
    parser.add_argument("--rate-limit", type=int, default=100, help="calls per window per org")
    parser.add_argument("--rate-window-seconds", type=float, default=60.0)
    parser.add_argument("--token-ttl-seconds", type=float, default=3600.0)
    parser.add_argument("--refresh-grace-seconds", type=float, default=30.0)
    parser.add_argument(
        "--faults",
        default=env.get("DINERO_SANDBOX_FAULTS"),
        help='JSON: {"seed": 1, "rules": [...]} or a list of rules (env DINERO_SANDBOX_FAULTS)',
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=Path(env["DINERO_SANDBOX_STATE_FILE"])
        if env.get("DINERO_SANDBOX_STATE_FILE")
        else None,
        help="persist state as JSON here (env DINERO_SANDBOX_STATE_FILE); memory only if unset",
    )
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the sandbox binds loopback addresses only")
    return Config(
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        rate_window_seconds=args.rate_window_seconds,
        token_ttl_seconds=args.token_ttl_seconds,
        refresh_grace_seconds=args.refresh_grace_seconds,
        faults=parse_fault_config(args.faults) if args.faults else FaultConfig(),
        state_file=args.state_file,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
