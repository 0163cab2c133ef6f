"""The tracer provider a service makes: with no exporter nothing is recorded, but every span
still has its ids and carries the trace on in `traceparent`; with one, traces are recorded."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from bogfoer_kit.telemetry import make_tracer_provider


def _carried(exporter: str) -> tuple[bool, bool, str, str]:
    """Whether the request's and the record's spans recorded, and the trace id each carries."""
    provider = make_tracer_provider("ingest", exporter)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("receive order.placed", kind=trace.SpanKind.SERVER) as root:
        root_recorded = root.is_recording()
        headers: dict[str, str] = {}
        propagate.inject(headers)
    context = propagate.extract(headers)
    with tracer.start_as_current_span("process", context=context) as child:
        child_recorded = child.is_recording()
        child_headers: dict[str, str] = {}
        propagate.inject(child_headers)
    provider.shutdown()  # its exporter's output, before the test's capture is closed
    return (
        root_recorded,
        child_recorded,
        headers["traceparent"].split("-")[1],
        child_headers["traceparent"].split("-")[1],
    )


def test_without_an_exporter_spans_are_not_recorded_but_carry_the_trace() -> None:
    root_recorded, child_recorded, trace_id, child_trace_id = _carried("none")
    assert not root_recorded
    assert not child_recorded
    assert int(trace_id, 16) != 0
    assert child_trace_id == trace_id


def test_with_an_exporter_every_span_is_recorded_in_one_trace() -> None:
    root_recorded, child_recorded, trace_id, child_trace_id = _carried("console")
    assert root_recorded
    assert child_recorded
    assert child_trace_id == trace_id


class _Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_a_trace_sampled_upstream_is_recorded_by_a_process_without_an_exporter() -> None:
    """A process with no exporter of its own keeps a sampled trace sampled for those after it."""
    upstream = make_tracer_provider("mapper", "console")
    with upstream.get_tracer("test").start_as_current_span("publish"):
        headers: dict[str, str] = {}
        propagate.inject(headers)
    upstream.shutdown()
    provider = make_tracer_provider("poster", "none")
    kept = _Kept()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    with provider.get_tracer("test").start_as_current_span(
        "post", context=propagate.extract(headers)
    ):
        pass
    assert [s.name for s in kept.spans] == ["post"]
    assert headers["traceparent"].endswith(("-01", "-03"))
