"""The tracer provider a service makes: with no exporter nothing is recorded, but every span
still has its ids and carries the trace on in `traceparent`; with one, traces are recorded."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bogfoer_kit.telemetry import make_tracer_provider, server_span


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


def _sampled_upstream() -> dict[str, str]:
    """The trace headers of a record published inside a recorded (sampled) span."""
    upstream = make_tracer_provider("mapper", "console")
    with upstream.get_tracer("test").start_as_current_span("publish"):
        headers: dict[str, str] = {}
        propagate.inject(headers)
    upstream.shutdown()
    return headers


def _kept_without_exporter(service: str) -> tuple[TracerProvider, _Kept]:
    """A provider without an exporter, and what it records anyway (a sampled trace's spans)."""
    provider = make_tracer_provider(service, "none")
    kept = _Kept()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    return provider, kept


def test_a_trace_sampled_upstream_is_recorded_by_a_process_without_an_exporter() -> None:
    """A process with no exporter of its own keeps a sampled trace sampled for those after it."""
    headers = _sampled_upstream()
    provider, kept = _kept_without_exporter("poster")
    with provider.get_tracer("test").start_as_current_span(
        "post", context=propagate.extract(headers)
    ):
        pass
    assert [s.name for s in kept.spans] == ["post"]
    assert headers["traceparent"].endswith(("-01", "-03"))


def _published_inside(tracer: trace.Tracer, door: str) -> tuple[dict[str, str], bool]:
    """The trace headers a record published inside a request's span carries, and whether
    the span recorded; `door`: through `server_span` or the SDK's own span."""
    headers: dict[str, str] = {}
    if door == "server_span":
        with server_span(tracer, "receive order.placed", {"bogfoer.tenant_id": "t"}):
            propagate.inject(headers)
            return headers, trace.get_current_span().is_recording()
    with tracer.start_as_current_span(
        "receive order.placed", kind=trace.SpanKind.SERVER, attributes={"bogfoer.tenant_id": "t"}
    ) as span:
        propagate.inject(headers)
        return headers, span.is_recording()


def test_a_request_span_without_an_exporter_carries_what_the_sdks_span_carried() -> None:
    """The request's span made directly (no exporter, no trace around it): its records carry
    a `traceparent` of the same form as the SDK's non-recording span gave them — a new
    trace, not sampled, nothing else — and each request starts its own trace."""
    tracer = make_tracer_provider("ingest", "none").get_tracer("test")
    sdk, sdk_recorded = _published_inside(tracer, "sdk")
    first, recorded = _published_inside(tracer, "server_span")
    second, _ = _published_inside(tracer, "server_span")
    assert not sdk_recorded
    assert not recorded
    assert sorted(first) == sorted(sdk) == ["traceparent"]
    sdk_flags = sdk["traceparent"].split("-")[3]
    assert not int(sdk_flags, 16) & 1  # not sampled
    for headers in (sdk, first, second):
        version, trace_id, span_id, flags = headers["traceparent"].split("-")
        assert (version, len(trace_id), len(span_id), flags) == ("00", 32, 16, sdk_flags)
        assert int(trace_id, 16) != 0
        assert int(span_id, 16) != 0
    assert first["traceparent"].split("-")[1] != second["traceparent"].split("-")[1]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the context is restored


def test_a_request_span_is_recorded_by_a_process_with_an_exporter() -> None:
    kept = _Kept()
    recording = make_tracer_provider("ingest", "console")
    recording.add_span_processor(SimpleSpanProcessor(kept))
    headers, recorded = _published_inside(recording.get_tracer("test"), "server_span")
    recording.shutdown()
    assert recorded
    assert int(headers["traceparent"].split("-")[3], 16) & 1  # sampled
    assert [(s.name, s.kind, dict(s.attributes or {})) for s in kept.spans] == [
        ("receive order.placed", trace.SpanKind.SERVER, {"bogfoer.tenant_id": "t"})
    ]


def test_a_request_span_inside_a_sampled_trace_is_recorded_without_an_exporter() -> None:
    carried = _sampled_upstream()
    provider, kept = _kept_without_exporter("ingest")
    token = otel_context.attach(propagate.extract(carried))
    try:
        _, recorded = _published_inside(provider.get_tracer("test"), "server_span")
    finally:
        otel_context.detach(token)
    assert recorded
    assert [s.name for s in kept.spans] == ["receive order.placed"]


def test_a_request_span_made_directly_gives_the_trace_headers_inject_would_write() -> None:
    """What `server_span` yields for its records is what `propagate.inject` writes inside it
    (ingest gives it to both of a request's records instead of injecting for them)."""
    tracer = make_tracer_provider("ingest", "none").get_tracer("test")
    for _ in range(20):
        with server_span(tracer, "receive order.placed", {}) as given:
            injected: dict[str, str] = {}
            propagate.inject(injected)
        assert given == injected
        assert list(injected) == ["traceparent"]


def test_a_request_span_gives_no_trace_headers_where_inject_may_write_others() -> None:
    """A recorded span, baggage in the context or other propagators: its records are
    injected as before (None)."""
    recording = make_tracer_provider("ingest", "console")
    with server_span(recording.get_tracer("test"), "receive", {}) as given:
        assert given is None
    recording.shutdown()
    tracer = make_tracer_provider("ingest", "none").get_tracer("test")
    token = otel_context.attach(baggage.set_baggage("shop", "a"))
    try:
        with server_span(tracer, "receive", {}) as given:
            injected: dict[str, str] = {}
            propagate.inject(injected)
            assert given is None
            assert "baggage" in injected
    finally:
        otel_context.detach(token)
    textmap = propagate.get_global_textmap()
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    try:
        with server_span(tracer, "receive", {}) as given:
            assert given is None
    finally:
        propagate.set_global_textmap(textmap)
