"""Shared by the benchmarks: alternate the sides, repeat, report median and min-max, keep a results file.

Machines here are noisy. Every benchmark runs its sides in one process, alternating their order
from repeat to repeat (A B, B A, A B, ...) so that drift in load hits each side alike, and reports
per-repeat ratios as median and min-max, never one lucky run. Results go to
``benchmarks/results/<name>.json``; the README quotes those ranges.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def alternate(sides: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each side, ``repeats`` times, the order reversed on every other repeat."""
    names = list(sides)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(values: list[float], digits: int = 3) -> str:
    s = spread(values)
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def write_results(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine's facts beside the figures."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {"machine": platform.machine(), "processor": platform.processor(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M")}
    path.write_text(json.dumps({**meta, **payload}, indent=2))
    return path
