"""The committed JSON Schemas match the models; regenerate with `make schemas`."""

from __future__ import annotations

from bogfoer_contracts.schemas import SCHEMA_DIR, generate


def test_committed_schemas_match_the_models() -> None:
    expected = generate()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.schema.json")}
    assert set(committed) == set(expected), "schema files added or removed: run `make schemas`"
    drifted = sorted(name for name, text in expected.items() if committed[name] != text)
    assert not drifted, f"models changed without regenerating {drifted}: run `make schemas`"
