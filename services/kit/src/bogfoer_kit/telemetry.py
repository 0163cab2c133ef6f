"""OpenTelemetry: one tracer provider per process; spans cross Kafka in W3C headers.

Only FastStream's telemetry middleware instruments publishing (never also aiokafka's), so
each record has exactly one producer span; the consumer loops (`bogfoer_kit.consumer`)
carry each record's trace on to what it causes (`traced`), with a span per tenant batch.

A process that exports nothing does not record the traces it starts (`ParentBased(ALWAYS_OFF)`):
its spans still have their ids and are carried on in every `traceparent`, but they are the
SDK's non-recording spans, not a recorded span (attributes, events, a processor) thrown
away at its end — that cost ingest a tenth of its CPU per request, and FastStream's
producer span per record as much again. A trace that arrives sampled (started by a process
with an exporter) is recorded as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

# The sampler of a process that exports nothing: it records only what arrives sampled.
_UNRECORDED = ParentBased(ALWAYS_OFF)


def make_tracer_provider(service_name: str, exporter: str) -> TracerProvider:
    span_exporter: SpanExporter | None = None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    elif exporter != "none":
        raise ValueError(f"unknown otel exporter {exporter!r}: none, console or otlp")
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(ALWAYS_ON) if span_exporter is not None else _UNRECORDED,
    )
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


@contextmanager
def traced(context: Context | None) -> Iterator[None]:
    """Work inside `context` (a consumed record's trace): what it publishes or stores for
    publishing later carries that trace on."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def server_span(
    tracer: trace.Tracer, name: str, attributes: Attributes
) -> Iterator[dict[str, str] | None]:
    """`tracer.start_as_current_span(name, kind=SERVER, attributes=attributes)`: a request's
    trace starts here. In a process that exports nothing, with no trace around it, the span
    would be the SDK's non-recording span of two new ids: made here directly, without the
    sampler, the span's arguments and `use_span`'s layers (a tenth of ingest's own work
    for a request). What is published inside carries its `traceparent` as before.

    Yields the trace headers `propagate.inject` would write for the span, written out
    directly (a record's headers given them are not injected again: `bogfoer_kit.publish`),
    where that is certain: the span made here and the propagators the default W3C pair with
    no baggage in the context; else None (inject as before)."""
    if getattr(tracer, "sampler", None) is not _UNRECORDED or (
        trace.get_current_span().get_span_context().is_valid
    ):
        with tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER, attributes=attributes):
            yield None
        return
    ids = tracer.id_generator  # type: ignore[attr-defined]  # the SDK's Tracer (sampler above)
    trace_id, span_id = ids.generate_trace_id(), ids.generate_span_id()
    flags = TraceFlags.DEFAULT  # not sampled; the SDK's mark of a random trace id, as it sets
    if ids.is_trace_id_random():
        flags |= TraceFlags.RANDOM_TRACE_ID
    span = NonRecordingSpan(
        SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags))
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        if trace_id and span_id and _w3c_only() and not baggage.get_all():
            # TraceContextTextMapPropagator's `traceparent` (no trace state: a new trace).
            yield {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"}
        else:
            yield None
    finally:
        otel_context.detach(token)


def _w3c_only() -> bool:
    """Whether the process propagates with OpenTelemetry's default, W3C trace context and
    baggage (`OTEL_PROPAGATORS` unset, or `tracecontext,baggage`); worked out once for each
    propagator the process is given."""
    global _W3C
    textmap = propagate.get_global_textmap()
    if _W3C[0] is not textmap:
        _W3C = (
            textmap,
            isinstance(textmap, CompositePropagator)
            and [type(p) for p in getattr(textmap, "_propagators", ())]
            == [TraceContextTextMapPropagator, W3CBaggagePropagator],
        )
    return _W3C[1]


_W3C: tuple[object, bool] = (None, False)  # the last global propagator, and its answer
