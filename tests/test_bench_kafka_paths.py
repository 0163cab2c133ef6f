"""The streams `kafka_paths` measures: as many records as its table says."""

from __future__ import annotations

import pytest

from bench import kafka_paths


@pytest.mark.parametrize("stage", kafka_paths.STAGES, ids=lambda s: s.name)
def test_each_stage_is_given_the_records_it_counts(stage: kafka_paths.Stage) -> None:
    assert len(stage.records("t0", 600)) == 600
