"""freeze_startup_heap: what `specwire serve` hides from full collections once it serves."""

from __future__ import annotations

import gc
import weakref

from specwire.console.server import freeze_startup_heap


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


def test_the_startup_heap_leaves_the_collectors_scans_and_still_dies_by_refcount() -> None:
    kept, dropped = Node(), Node()
    gone = weakref.ref(dropped)
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        assert not any(obj is kept for obj in gc.get_objects())  # no collection walks it
        del dropped
        assert gone() is None  # reference counting still frees a frozen object
        made_after = Node()
        assert any(obj is made_after for obj in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(obj is kept for obj in gc.get_objects())
