"""The poster's metrics: Dinero calls and rate-limit waits (from the client's observer) and
the outcome of each attempt at a posting. Per-tenant series only where one series per
tenant suffices; per operation and status, never per tenant."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DINERO_CALLS = Counter(
    "bogfoer_dinero_calls_total",
    "Dinero API requests by operation and status (HTTP status, unknown_outcome, unreachable,"
    " read_failed)",
    ["operation", "status"],
)
DINERO_TENANT_CALLS = Counter(
    "bogfoer_dinero_tenant_calls_total",
    "Dinero API requests by tenant and status",
    ["tenant", "status"],
)
DINERO_DURATION = Histogram(
    "bogfoer_dinero_call_duration_seconds",
    "Time a Dinero API request took, by operation",
    ["operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RATE_LIMIT_WAIT = Histogram(
    "bogfoer_dinero_rate_limit_wait_seconds",
    "Time a Dinero request waited for a rate-limit token before it was sent",
    buckets=(0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0),
)
RATE_LIMIT_WAIT_BY_TENANT = Counter(
    "bogfoer_dinero_rate_limit_wait_seconds_by_tenant_total",
    "Seconds spent waiting for rate-limit tokens, by tenant",
    ["tenant"],
)
ATTEMPTS = Counter(
    "bogfoer_poster_attempts_total",
    "Attempts at a posting by kind and how they ended (done, waiting, retry, failed, parked)",
    ["kind", "outcome"],
)
TOTALS_MISMATCH = Counter(
    "bogfoer_poster_booked_totals_mismatch_total",
    "Documents Dinero booked with other totals than its chart predicted (the chart changed"
    " since the poster read it): each needs a person",
    ["document"],
)
SUMMARIES = Counter(
    "bogfoer_poster_summary_documents_total",
    "Daily-summary documents made when a tenant's day closed, by kind",
    ["kind"],
)
ACTIONS = Counter(
    "bogfoer_poster_actions_total",
    "Operator actions on ops.actions.v1 carried out by the poster, by action and outcome",
    ["action", "outcome"],
)


class DineroMetrics:
    """The Dinero client's observer (bogfoer_dinero.CallObserver), as Prometheus metrics."""

    def call(self, tenant: str, operation: str, status: str, seconds: float) -> None:
        DINERO_CALLS.labels(operation, status).inc()
        DINERO_TENANT_CALLS.labels(tenant, status).inc()
        DINERO_DURATION.labels(operation).observe(seconds)

    def rate_limit_wait(self, tenant: str, seconds: float) -> None:
        RATE_LIMIT_WAIT.observe(seconds)
        if seconds > 0:
            RATE_LIMIT_WAIT_BY_TENANT.labels(tenant).inc(seconds)
