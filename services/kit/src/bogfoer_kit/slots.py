"""Fast constructors for frozen, slotted dataclasses made by the thousand in a poll.

A frozen dataclass's `__init__` sets each field through `object.__setattr__` (~0.7-1.1 µs
for a few fields); setting the slots through their descriptors directly costs ~0.3-0.4.
A class's `of` classmethod makes the instance with `object.__new__` and these setters; a
test holds each `of` to its class's `__init__` (`tests/test_slot_constructors.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Setter = Callable[[Any, Any], None]


def setters(cls: type, *fields: str) -> tuple[Setter, ...]:
    """The slot descriptors' `__set__` of `fields` of `cls`, in that order."""
    return tuple(cls.__dict__[name].__set__ for name in fields)


__all__ = ["Setter", "setters"]
