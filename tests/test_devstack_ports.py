"""The devstack's ports are picked outside the kernel's ephemeral range: a port picked inside
it (`bind(0)` picks there) is bound seconds later by the service it is for, and meanwhile any
outgoing connection on the machine may take it as its own source port — the ledger once
failed to start with "address already in use" after its pool had opened its connections."""

from __future__ import annotations

import random
import socket

import pytest

from bogfoer_devstack.ports import ephemeral_range, free_port


def test_ports_are_picked_below_the_ephemeral_range_and_are_free() -> None:
    low, high = ephemeral_range()
    assert 1024 <= low <= high
    ports = [free_port() for _ in range(50)]
    assert all(1024 <= port < low for port in ports)
    assert len(set(ports)) == len(ports)  # never the same twice (one may be bound later)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_something_listens_on_is_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy, busy, 1025 if busy != 1025 else 1026])
        monkeypatch.setattr(random, "randrange", lambda _a, _b: next(picks))
        assert free_port() != busy
