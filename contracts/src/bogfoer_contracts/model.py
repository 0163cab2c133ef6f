"""The base of every contract model: unknown fields refused, and no text that cannot be
stored or sent on.

PostgreSQL refuses a NUL character in text, and a lone surrogate (`\\ud800`, valid in JSON
escapes) has no UTF-8 form, so neither could reach Dinero or the ledger. A contract refuses
both wherever they occur — any field, any depth, keys of free-form objects too — so the
door answers 422 instead of a consumer dead-lettering what was already accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def unstorable_text(value: Any) -> str | None:
    """Where `value` (JSON-like: dicts, lists, strings) holds text that cannot be stored,
    and why; None when all of it can. Iterative: no recursion limit for deep input."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                return f"{where or 'the value'} {problem}"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (problem := _text_problem(key)) is not None:
                    return f"a key in {where or 'the object'} {problem}"
                stack.append((name, child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (U+0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (U+D800–U+DFFF), which is not text"
    return None


class StorableText(BaseModel):
    """Refuses NUL characters and lone surrogates anywhere in the input (see the module)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        problem = unstorable_text(data)
        if problem is not None:
            raise ValueError(problem)
        return data


class ContractModel(StorableText):
    # Unknown fields are refused: a misspelt amount must fail loudly, never become zero.
    model_config = ConfigDict(extra="forbid", frozen=True)
