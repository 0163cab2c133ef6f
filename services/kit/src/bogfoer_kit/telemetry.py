"""OpenTelemetry: one tracer provider per process; spans cross Kafka in W3C headers.

Only FastStream's telemetry middleware instruments Kafka (never also aiokafka's), so
each hop has exactly one producer and one consumer span.
"""

from __future__ import annotations

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
