"""Log lines are JSON with the current trace's ids, so a log line leads to its trace."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from bogfoer_kit.logs import JsonFormatter, RateLimitedLogs, configure


def test_json_log_lines_carry_the_current_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("bogfoer", logging.INFO, __file__, 1, "posted %s", ("k1",), None)
    with tracer.start_as_current_span("hop") as span:
        line = json.loads(JsonFormatter().format(record))
        context = span.get_span_context()
    assert line["message"] == "posted k1"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_outside_a_span_there_is_no_trace_id() -> None:
    record = logging.LogRecord("bogfoer", logging.WARNING, __file__, 1, "plain", (), None)
    line = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in line
    assert line["level"] == "WARNING"


def test_a_flood_from_aiokafka_becomes_one_line_per_interval_with_a_count() -> None:
    now = [0.0]
    limit = RateLimitedLogs(interval=10.0, clock=lambda: now[0])

    def record(name: str, node: int) -> logging.LogRecord:
        msg = "Unable connect to node with id %s: %s"
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (node, "refused"), None)

    passed = []
    for tick in range(100):  # ten a second for ten seconds
        now[0] = tick / 10
        item = record("aiokafka.client", tick % 3)
        if limit.filter(item):
            passed.append(item.getMessage())
    assert passed == ["Unable connect to node with id 0: refused"]
    now[0] = 10.0
    item = record("aiokafka.client", 1)
    assert limit.filter(item)
    assert (
        item.getMessage() == "Unable connect to node with id 1: refused [99 more like this in 10 s]"
    )
    ours = logging.LogRecord("bogfoer_ingest", logging.ERROR, __file__, 1, "x", (), None)
    assert all(limit.filter(ours) for _ in range(5))  # our own lines are never held back


def test_httpx_logs_each_request_only_at_debug() -> None:
    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    handlers, level = root.handlers[:], root.level
    try:
        configure("INFO", "json")
        assert not httpx_log.isEnabledFor(logging.INFO)
        assert httpx_log.isEnabledFor(logging.WARNING)
        configure("DEBUG", "json")
        assert httpx_log.isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        httpx_log.setLevel(logging.NOTSET)
