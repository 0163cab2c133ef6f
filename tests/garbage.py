"""What only the collector would free, kept for a test to look at: for the tests that a
failure leaves no reference cycle behind (a failed batch or poll kept until the collector's
next pass, which the services' raised thresholds put far apart)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def kept() -> Iterator[list[Any]]:
    """The collector off and what it finds kept (`DEBUG_SAVEALL`): call `gc.collect()` and
    look in the list. Everything as it was afterwards."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
