"""The benchmark table's verdicts: a missed speed target fails the run; a burst of other
work during one repetition does not decide the ratio."""

from __future__ import annotations

import pytest

import bench.__main__ as bench_main
from bench.common import Result, paired_speed_ratio


def test_the_ratio_is_the_median_of_each_repetitions_own() -> None:
    anchors = [1000.0, 1000.0, 200.0]  # the third pair ran during a burst of other work
    measured = [500.0, 600.0, 100.0]
    assert paired_speed_ratio(anchors, measured) == 0.5


@pytest.mark.parametrize(("rate", "code"), [(0.49, 1), (0.5, 0)])
def test_a_speed_ratio_below_its_target_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, rate: float, code: int
) -> None:
    row = Result("stage", "rec/s", 1000.0, rate * 1000, rate, 0.5, at_least=True)
    monkeypatch.setattr(bench_main, "BENCHMARKS", {"stage": lambda: [row]})
    assert bench_main.main(["stage"]) == code
