"""Numeric helpers used at every layer, one copy each."""

from .numeric import (
    bootstrap_means,
    log_softmax,
    mean_interval,
    percentile_interval,
    softmax,
)

__all__ = [
    "log_softmax",
    "softmax",
    "bootstrap_means",
    "percentile_interval",
    "mean_interval",
]
