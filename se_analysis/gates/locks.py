"""One re-entrant lock per model, so that hooked passes and traces of a shared model never overlap.

App sessions share one model object. Gate hooks (:mod:`.hooks`) are registered on that object
and torch.fx tracing (:mod:`.fx`) patches ``nn.Module.__call__`` while it runs, so every use of a
model that depends on its hooks, or that traces it, holds :func:`model_lock` for its duration.
"""

from __future__ import annotations

import threading
import weakref

from torch import nn

__all__ = ["model_lock"]

_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock that serialises hooked use of ``model`` (shared between app sessions)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock
