"""Log lines are JSON with the current trace's ids, so a log line leads to its trace."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from bogfoer_kit.logs import JsonFormatter


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
