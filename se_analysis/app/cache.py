"""A bounded least-recently-used cache of results that every session shares (ablations, sweeps, folds)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

__all__ = ["BoundedCache"]


T = TypeVar("T")


class BoundedCache(OrderedDict):
    """A least-recently-used dict of at most ``max_entries`` results, safe to share between sessions.

    The lock guards the dict, not the computation: two sessions asking for the same new key
    may both compute it (the results are equal), but neither waits for the other.
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = compute()
        with self._lock:
            self[key] = value
            while len(self) > self.max_entries:
                self.popitem(last=False)
        return value
