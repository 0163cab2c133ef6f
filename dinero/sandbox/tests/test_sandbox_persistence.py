"""With --state-file, documents, numbers and tokens survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sandbox_harness import Api

from dinero_sandbox.process import SandboxHandle, free_port

pytestmark = pytest.mark.integration


def test_state_survives_a_restart(
    dinero_sandbox_factory: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    state_file = tmp_path / "sandbox-state.json"
    port = free_port()
    first = dinero_sandbox_factory("--state-file", str(state_file), port=port)
    token = first.password_token()
    api = Api(first, token, first.main_org)
    try:
        booked = api.booked_invoice(api.contact())
        before = first.trial_balance(first.main_org)
    finally:
        api.http.close()
    first.stop()
    assert state_file.exists()

    second = dinero_sandbox_factory("--state-file", str(state_file), port=port)
    api = Api(second, token, second.main_org)  # the old token is still valid
    try:
        read = api.get(f"/invoices/{booked['Guid']}").json()
        assert (read["Number"], read["TimeStamp"]) == (1, booked["TimeStamp"])
        assert second.trial_balance(second.main_org) == before
        assert api.booked_invoice(read["ContactGuid"])["Number"] == 2
    finally:
        api.http.close()
