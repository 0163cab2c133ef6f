"""The devstack formats its broker's storage with a cluster id of its own making."""

from __future__ import annotations

import re

from bogfoer_devstack.kafka import _cluster_id


def test_cluster_ids_are_kafkas_shape_and_never_read_as_an_option() -> None:
    # 1 in 64 random ids starts with "-"; 2,000 draws miss that with chance (63/64)^2000 ≈ 0.
    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)
    assert not any(i.startswith("-") for i in ids)
