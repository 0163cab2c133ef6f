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

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased


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
        sampler=ParentBased(ALWAYS_ON if span_exporter is not None else ALWAYS_OFF),
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
