"""The PromQL reader the dashboard and alert test relies on: it must find every metric."""

from __future__ import annotations

import pytest

from tests.promql import metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (tenant) (bogfoer_ledger_postings{state="failed"}) > 0',
            {"bogfoer_ledger_postings"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, operation) "
            "(rate(bogfoer_dinero_call_duration_seconds_bucket[$__rate_interval])))",
            {"bogfoer_dinero_call_duration_seconds_bucket"},
        ),
        (
            "a_total > 100 and deriv(sum by (group) (b_lag)[15m:1m]) > 0",
            {"a_total", "b_lag"},
        ),
        ('up{job=~"bogfoer.*"} == 0', {"up"}),
        ("time() - max(x_seconds) > 300 or vector(0)", {"x_seconds"}),
        ("label_values(bogfoer_ledger_postings, tenant)", {"bogfoer_ledger_postings"}),
        ('max(y{tenant="$tenant"}) / 100', {"y"}),
    ],
)
def test_metric_names_are_found_and_nothing_else(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
