"""The metric names a PromQL expression reads (enough PromQL for our dashboards and rules)."""

from __future__ import annotations

import re

# Functions, aggregations and keywords: every other bare name in an expression is a metric.
_NOT_METRICS = {
    "abs", "absent", "absent_over_time", "and", "avg", "avg_over_time", "bool", "bottomk",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "count", "count_over_time",
    "count_values", "delta", "deriv", "exp", "floor", "group", "group_left", "group_right",
    "histogram_quantile", "idelta", "increase", "inf", "irate", "label_join", "label_replace",
    "label_values", "last_over_time", "ln", "max", "max_over_time", "min", "min_over_time",
    "nan", "offset", "on", "or", "predict_linear", "quantile", "quantile_over_time", "rate",
    "resets", "round", "scalar", "sort", "sort_desc", "stddev", "sum", "sum_over_time",
    "time", "timestamp", "topk", "unless", "vector", "by", "without", "ignoring",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    text = re.sub(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", text)
    names = re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text)
    return {n for n in names if n not in _NOT_METRICS}
