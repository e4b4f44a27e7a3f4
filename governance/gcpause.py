"""Fewer pointless garbage collections while a large result is materialised.

Building thousands of model instances allocates many container objects that
all stay alive; CPython's young-generation collector runs every 700 net
allocations and finds nothing to free. With encrypted fields each row carries
a few more tracked objects than a plain row, so a 10,000-row governed read
triggered about four times as many collections as the same plain read, and
they took about half of its time (measured with ``gc.callbacks``; see
docs/performance.md).

:func:`relaxed` raises the young-generation threshold for the duration of a
block and restores it afterwards. Reference counting still frees everything
as usual; cycles are collected at the next collection after the block. The
threshold is process-wide, so nested and concurrent blocks share one
depth counter: the first in saves the old threshold, the last out restores it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Young-generation threshold inside a block (the default is 700).
THRESHOLD0 = 50_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] = ()


@contextmanager
def relaxed() -> Iterator[None]:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            if _saved[0] and _saved[0] < THRESHOLD0:
                gc.set_threshold(THRESHOLD0, *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved:
                gc.set_threshold(*_saved)
