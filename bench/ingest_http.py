"""ingest_http: signed POSTs per second through ingest's HTTP edge against a minimal endpoint
doing only the work no front door to Kafka can avoid, measured in the same run with `wrk`.

Setup (all on loopback, in a temporary folder): Apache Kafka and PostgreSQL of their own;
ingest as its own process (`python -m bogfoer_ingest`), one tenant onboarded with an HMAC
secret; the anchor (`bench.anchors http`: Starlette on uvicorn with uvloop and httptools;
per request the body read, the `Bogfoer-Signature` HMAC checked, the JSON parsed, one record
produced with the idempotent producer, acks=all, and its ack awaited) as its own process.

Load: `wrk` (Debian's package, installed by `make bench`), 1 thread, CONNECTIONS
connections, SECONDS seconds a run, cycling through BODIES signed shop events (the mapper
benchmark's stream). Every answer must be a 2xx. After one warm-up each, REPEATS runs,
anchor and ingest alternately; the median rates, and the ratio the median of each
repetition's ingest / anchor (`paired_speed_ratio`). Then each is paced at half the anchor's
median rate (wrk's per-connection `delay`) and its p99 latency taken.

Targets (issue 9): ingest at least 0.7 x the anchor's rate; ingest's p99 at half the
anchor's rate at most P99_LIMIT_MS (the row's ratio is p99 / limit, at most 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import infra
from bench.common import Result, paired_speed_ratio
from bench.mapper_decide import inbound_bodies
from bogfoer_devstack.ports import free_port
from bogfoer_devstack.shop import signature

CONNECTIONS = 32
SECONDS = 8
REPEATS = 3
BODIES = 500
TARGET = 0.7
P99_LIMIT_MS = 25.0
TENANT = "bench-http-shop"
ANCHOR_TOPIC = "bench.sink.v1"

# Requests cycle through the pre-signed bodies (one a line, compact JSON: no newline in
# it); `delay` paces each connection when PACE_MS is above 0.
_SCRIPT = """
local bodies, signatures, i = {}, {}, 0
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
for line in io.lines("%(signatures)s") do signatures[#signatures + 1] = line end
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Bogfoer-Signature"] = signatures[i],
  }, bodies[i])
end
if %(pace)s > 0 then
  delay = function() return %(pace)s end
end
"""


@dataclass(frozen=True)
class Run:
    rate: float
    p99_ms: float


def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: `make bench` installs Debian's package")
    return found


def _script(workdir: Path, secret: str, pace_ms: float) -> Path:
    bodies = [body for _, body in inbound_bodies(BODIES // 5 + 10)][:BODIES]
    # Signed now: valid for the signature tolerance (5 minutes), longer than the run.
    (workdir / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")
    (workdir / "signatures.txt").write_text(
        "\n".join(signature(secret, body) for body in bodies) + "\n"
    )
    script = workdir / f"post-{pace_ms:.0f}.lua"
    script.write_text(
        _SCRIPT
        % {
            "bodies": workdir / "bodies.txt",
            "signatures": workdir / "signatures.txt",
            "pace": f"{pace_ms:.3f}",
        }
    )
    return script


def _unit_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse(output: str) -> Run:
    """Requests/s and p99 from `wrk --latency`'s report; refuses a run with errors."""
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        raise RuntimeError(f"{bad.group(1)} answers were not 2xx:\n{output}")
    errors = re.search(r"Socket errors: (.*)", output)
    if errors and re.search(r"timeout [1-9]|read [1-9]|write [1-9]|connect [1-9]", errors[1]):
        raise RuntimeError(f"socket errors:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s|m)\b", output)
    if rate is None or p99 is None:
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    return Run(float(rate[1]), _unit_ms(p99[1], p99[2]))


def load(url: str, script: Path, seconds: int = SECONDS) -> Run:
    return parse(report(url, script, seconds, CONNECTIONS))


def report(url: str, script: Path, seconds: int, connections: int) -> str:
    """wrk's report (`--latency`) of one run of `script` against `url`."""
    return subprocess.run(
        [
            wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout


def http_anchor(bootstrap: str, secret: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.anchors",
            "http",
            "--bootstrap",
            bootstrap,
            "--port",
            str(port),
            f"--secret={secret}",  # one word: a secret may begin with "-" (token_urlsafe)
            "--topic",
            ANCHOR_TOPIC,
        ]
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the HTTP anchor exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the HTTP anchor did not start")


def ingest_and_anchor(
    found: infra.Infra, cleanup: contextlib.ExitStack, name: str, tenants: list[str], secret: str
) -> dict[str, str]:
    """ingest (its tenants signing with `secret`) and the HTTP anchor, started and stopped
    with `cleanup`: their base URLs by name."""
    database = asyncio.run(found.database())
    stack = found.stack(name, database, BOGFOER_INGEST_LOG_LEVEL="WARNING")
    cleanup.callback(stack.stop)
    stack.start(("ingest",))
    for tenant in tenants:
        infra.put_credentials(stack, tenant, {"hmac_secret": secret})
    port = free_port()
    anchor = http_anchor(found.bootstrap, secret, port)
    cleanup.callback(anchor.wait, 30)
    cleanup.callback(anchor.terminate)
    return {"anchor": f"http://127.0.0.1:{port}", "ingest": stack.url("ingest")}


def run() -> list[Result]:
    wrk()
    secret = secrets.token_urlsafe(24)
    with infra.infra() as found, contextlib.ExitStack() as cleanup:
        bases = ingest_and_anchor(found, cleanup, "ingest-http", [TENANT], secret)
        path = f"/v1/tenants/{TENANT}/events"
        urls = {name: base + path for name, base in bases.items()}
        flat = _script(found.workdir, secret, 0)
        for url in urls.values():
            load(url, flat, 3)  # warm-up: connections, the producer, the tenant cache
        runs: dict[str, list[Run]] = {"anchor": [], "ingest": []}
        for _ in range(REPEATS):
            for name, url in urls.items():
                runs[name].append(load(url, flat))
                print(f"  {name}: {runs[name][-1].rate:,.0f} req/s", flush=True)
        anchor_rate = statistics.median(r.rate for r in runs["anchor"])
        ingest_rate = statistics.median(r.rate for r in runs["ingest"])
        # Half the anchor's rate over CONNECTIONS connections: each waits this long
        # between its answer and its next request.
        paced = _script(found.workdir, secret, CONNECTIONS * 1000 / (anchor_rate / 2))
        at_half = {name: load(url, paced) for name, url in urls.items()}
        print(
            f"  at half the anchor's rate: anchor p99 {at_half['anchor'].p99_ms:.1f} ms"
            f" ({at_half['anchor'].rate:,.0f} req/s), ingest p99 {at_half['ingest'].p99_ms:.1f}"
            f" ms ({at_half['ingest'].rate:,.0f} req/s)",
            flush=True,
        )
    return [
        Result(
            "ingest_http",
            "req/s",
            anchor_rate,
            ingest_rate,
            paired_speed_ratio([r.rate for r in runs["anchor"]], [r.rate for r in runs["ingest"]]),
            TARGET,
            f"wrk 1 thread, {CONNECTIONS} connections, {SECONDS} s, median of {REPEATS}"
            " (the ratio: of each repetition's);"
            " anchor Starlette on uvloop + httptools: HMAC, JSON parse, one acks=all produce",
            at_least=True,
        ),
        Result(
            "ingest_http_p99",
            "ms",
            at_half["anchor"].p99_ms,
            at_half["ingest"].p99_ms,
            at_half["ingest"].p99_ms / P99_LIMIT_MS,
            1.0,
            f"p99 with both paced at half the anchor's rate ({anchor_rate / 2:,.0f} req/s);"
            f" ratio = ingest's p99 / {P99_LIMIT_MS:.0f} ms",
        ),
    ]
