"""ingest_batch: shop events per second through ingest's batch route
(`POST /v1/tenants/{t}/events/batch`, 500 events a request), measured with `wrk`.

Setup (all on loopback, in a temporary folder): Apache Kafka and PostgreSQL of their own;
ingest as its own process, TENANTS tenants onboarded with one HMAC secret (a platform sends
for many shops; each tenant's records share a partition, as in production); the HTTP anchor
(`bench.anchors http`, its batch route: the HMAC checked, the JSON parsed, the body and each
event produced with the idempotent producer, acks=all, every ack awaited) as its own process.

Load: `wrk`, 1 thread, CONNECTIONS connections, SECONDS seconds a run, cycling through
BATCHES signed batches of EVENTS_PER_BATCH distinct shop events (the mapper benchmark's
stream), each batch for one of the tenants. Every answer must be a 200 in which every event
was accepted (a Lua `response` hook counts any answer that is not), so requests/s times
EVENTS_PER_BATCH is accepted events/s. After one warm-up each, REPEATS runs, anchor and
ingest alternately; the medians.

Target (issue 9): at least TARGET_EVENTS_PER_SECOND events/s, an absolute figure in the issue;
the row's ratio is the measured rate over it (at least 1). The anchor's rate is shown beside
it: the same machine's ceiling for this work, to read a miss by (a loaded machine, or ingest).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import statistics
from pathlib import Path

from bench import infra
from bench.common import Result
from bench.ingest_http import ingest_and_anchor, parse, report, wrk
from bench.mapper_decide import inbound_bodies
from bogfoer_devstack.shop import signature

EVENTS_PER_BATCH = 500
BATCHES = 12
TENANTS = 4
CONNECTIONS = 4  # enough to keep one process busy; more only queue behind its CPU
SECONDS = 8
REPEATS = 3
TARGET_EVENTS_PER_SECOND = 20_000.0

# Each request is one of the pre-signed batches (one a line: compact JSON, no newline) to
# its tenant's path; an answer that is not a 200 with every event accepted is counted, and
# the count printed at the end, where `run` reads it.
_SCRIPT = """
local paths, bodies, signatures, i = {}, {}, {}, 0
refused = 0  -- a global: done() reads it through thread:get
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
for line in io.lines("%(signatures)s") do signatures[#signatures + 1] = line end
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", paths[i], {
    ["Content-Type"] = "application/json",
    ["Bogfoer-Signature"] = signatures[i],
  }, bodies[i])
end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"rejected":%%s*0[,}]')
     or not string.find(body, '"duplicate":%%s*0[,}]') then
    refused = refused + 1
  end
end
-- done() runs in the main script, not in the thread that counted.
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("refused") end
  io.write(string.format("not all accepted: %%d\\n", total))
end
"""


def tenants() -> list[str]:
    return [f"bench-batch-{n}" for n in range(TENANTS)]


def _script(workdir: Path, secret: str) -> Path:
    events = [json.loads(body) for _, body in inbound_bodies(BATCHES * EVENTS_PER_BATCH // 5 + 10)]
    batches = [
        json.dumps({"events": events[n * EVENTS_PER_BATCH : (n + 1) * EVENTS_PER_BATCH]}).encode()
        for n in range(BATCHES)
    ]
    assert all(len(json.loads(b)["events"]) == EVENTS_PER_BATCH for b in batches)
    names = tenants()
    (workdir / "paths.txt").write_text(
        "".join(f"/v1/tenants/{names[n % TENANTS]}/events/batch\n" for n in range(BATCHES))
    )
    (workdir / "batches.txt").write_bytes(b"\n".join(batches) + b"\n")
    # Signed now: valid for the signature tolerance (5 minutes), longer than the run.
    (workdir / "batch-signatures.txt").write_text(
        "\n".join(signature(secret, body) for body in batches) + "\n"
    )
    script = workdir / "post-batch.lua"
    script.write_text(
        _SCRIPT
        % {
            "paths": workdir / "paths.txt",
            "bodies": workdir / "batches.txt",
            "signatures": workdir / "batch-signatures.txt",
        }
    )
    return script


def events_per_second(url: str, script: Path, seconds: int = SECONDS) -> float:
    """Accepted events/s of one wrk run; refuses a run in which any event was not taken."""
    output = report(url, script, seconds, CONNECTIONS)
    refused = _refused(output)
    if refused:
        raise RuntimeError(f"{refused} answers did not accept every event:\n{output}")
    return parse(output).rate * EVENTS_PER_BATCH


def _refused(output: str) -> int:
    found = re.search(r"not all accepted: (\d+)", output)
    if found is None:
        raise RuntimeError(f"the script's count is missing from wrk's report:\n{output}")
    return int(found[1])


def run() -> list[Result]:
    wrk()
    secret = secrets.token_urlsafe(24)
    with infra.infra() as found, contextlib.ExitStack() as cleanup:
        bases = ingest_and_anchor(found, cleanup, "ingest-batch", tenants(), secret)
        script = _script(found.workdir, secret)
        for base in bases.values():
            events_per_second(base, script, 3)  # warm-up: connections, producer, tenant cache
        rates: dict[str, list[float]] = {"anchor": [], "ingest": []}
        for _ in range(REPEATS):
            for name, base in bases.items():
                rates[name].append(events_per_second(base, script))
                print(f"  {name}: {rates[name][-1]:,.0f} events/s", flush=True)
        anchor_rate = statistics.median(rates["anchor"])
        ingest_rate = statistics.median(rates["ingest"])
    return [
        Result(
            "ingest_batch",
            "events/s",
            TARGET_EVENTS_PER_SECOND,
            ingest_rate,
            ingest_rate / TARGET_EVENTS_PER_SECOND,
            1.0,
            f"batches of {EVENTS_PER_BATCH} to {TENANTS} tenants, wrk 1 thread, {CONNECTIONS}"
            f" connections, {SECONDS} s, median of {REPEATS}; baseline = the issue's"
            f" {TARGET_EVENTS_PER_SECOND:,.0f} events/s; the anchor (HMAC, parse, every event"
            f" produced acks=all) did {anchor_rate:,.0f} events/s in the same run",
            at_least=True,
        )
    ]
