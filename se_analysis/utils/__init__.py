"""Numeric helpers used at every layer, one copy each; and the words for counts in messages."""

from .numeric import (
    WelchTest,
    benjamini_hochberg,
    bootstrap_means,
    cohens_d,
    cohens_d_interval,
    log_softmax,
    mean_interval,
    percentile_interval,
    separation_p,
    softmax,
    welch_bh,
)
from .text import plural

__all__ = [
    "log_softmax",
    "softmax",
    "bootstrap_means",
    "percentile_interval",
    "mean_interval",
    "benjamini_hochberg",
    "WelchTest",
    "separation_p",
    "welch_bh",
    "cohens_d",
    "cohens_d_interval",
    "plural",
]
