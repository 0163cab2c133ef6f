"""OpenTelemetry: one tracer provider per process; spans cross Kafka in W3C headers.

Only FastStream's telemetry middleware instruments publishing (never also aiokafka's), so
each record has exactly one producer span; the consumer loops (`bogfoer_kit.consumer`)
carry each record's trace on to what it causes (`traced`), with a span per tenant batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter


def make_tracer_provider(service_name: str, exporter: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    span_exporter: SpanExporter | None = None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    elif exporter != "none":
        raise ValueError(f"unknown otel exporter {exporter!r}: none, console or otlp")
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
