"""Class probabilities from logits, in float64 and exact for any logits (one copy for the whole library)."""

from __future__ import annotations

import numpy as np

__all__ = ["log_softmax", "softmax"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities; no probability is clipped, so NLL stays exact for confident mistakes."""
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) probabilities."""
    return np.exp(log_softmax(logits))
