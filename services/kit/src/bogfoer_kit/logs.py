"""Structured logs: one JSON object a line, carrying the trace and span ids of the current
OpenTelemetry span so a log line leads to its trace. Messages name tenant, event id and
posting key; secrets never reach a log (tokens and keys are SecretStr, masked in reprs)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable

from opentelemetry import trace


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class RateLimitedLogs(logging.Filter):
    """At most one line per message template per `interval` seconds from chatty libraries.

    With its broker gone, aiokafka logs the same connection error about ten times a second
    from every client until the broker returns; one line every ten seconds, followed by how
    many were held back, says the same. Our own loggers are never limited.
    """

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.msg)
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1] and isinstance(record.msg, str):
            record.msg = f"{record.msg} [{last[1]} more like this in {now - last[0]:.0f} s]"
        self._last[key] = (now, 0)
        return True


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RateLimitedLogs())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request it sends at INFO: under a backlog the poster's Dinero calls
    # made that a line each, formatted and written, tens a second. Request by request they
    # are DEBUG's business (and the metrics' per operation and status).
    debug = logging.getLevelName(level) == logging.DEBUG
    logging.getLogger("httpx").setLevel(logging.DEBUG if debug else logging.WARNING)
