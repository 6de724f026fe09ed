"""Memory of the statistics: peak RSS for 1k and 10k images, streaming summary against kept arrays.

Each case runs in a fresh process (so peaks do not mix): synthetic gate batches shaped like
SE-ResNet-50's 16 blocks (256..2048 channels, 1000 classes) are pushed through
(a) a streaming :class:`GateMoments` (what ``extract(..., summary_only=True)`` keeps), and
(b) kept as float32 arrays then summarised (a full Run), and (c) kept as float16.
Prints peak RSS per case and the 10k / 1k ratios, median (min-max) over repeats that alternate the
order of the cases.

    python benchmarks/memory_benchmark.py --repeats 3
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3


def case(mode: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from se_analysis.runs.moments import GateMoments

    rng = np.random.default_rng(0)
    blocks = {f"b{i}": c for i, c in enumerate(CHANNELS)}
    k, batch = 1000, 100
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "streaming":
        s = GateMoments(blocks, k)
        for start in range(0, n, batch):
            s.update({b: rng.random((batch, c), dtype=np.float32) for b, c in blocks.items()},
                     rng.integers(0, k, batch))
    else:
        dtype = np.float32 if mode == "arrays-float32" else np.float16
        kept = {b: [] for b in blocks}
        classes = []
        for start in range(0, n, batch):
            for b, c in blocks.items():
                kept[b].append(rng.random((batch, c), dtype=np.float32).astype(dtype))
            classes.append(rng.integers(0, k, batch))
        arrays = {b: np.concatenate(v) for b, v in kept.items()}
        del kept
        s = GateMoments.from_arrays(arrays, np.concatenate(classes), k)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mode": mode, "n": n, "peak_mib": peak / 1024, "above_start_mib": (peak - base) / 1024}))


def main() -> None:
    import argparse
    import statistics

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from timing import spread, write_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per case, order alternated")
    args = parser.parse_args()
    cases = [(mode, n) for mode in ("streaming", "arrays-float32", "arrays-float16") for n in (1000, 10000)]
    peaks: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
    for r in range(args.repeats):
        for mode, n in (cases if r % 2 == 0 else cases[::-1]):
            out = subprocess.run([sys.executable, __file__, "--case", mode, str(n)], capture_output=True, text=True,
                                 check=True).stdout
            peaks[(mode, n)].append(json.loads(out.strip().splitlines()[-1])["above_start_mib"])
    print(f"SE-ResNet-50 shaped gates ({len(CHANNELS)} blocks, {sum(CHANNELS)} channels), 1000 classes; "
          f"peak RSS above start, median (min-max) of {args.repeats} fresh processes, cases alternated")
    print(f"{'statistics kept as':18s} {'1k images':>22s} {'10k images':>22s} {'10k / 1k':>18s}")
    payload = {}
    for mode in ("streaming", "arrays-float32", "arrays-float16"):
        a, b = peaks[(mode, 1000)], peaks[(mode, 10000)]
        ratios = [y / max(x, 1e-9) for x, y in zip(a, b)]

        def show(v: list[float], d: int = 0) -> str:
            return f"{statistics.median(v):.{d}f} ({min(v):.{d}f}-{max(v):.{d}f})"
        print(f"{mode:18s} {show(a):>18s} MiB {show(b):>18s} MiB {show(ratios, 2):>18s}")
        payload[mode] = {"1k_mib": spread(a), "10k_mib": spread(b), "ratio": spread(ratios)}
    print("wrote", write_results("memory", {"repeats": args.repeats, **payload}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--case":  # one case, in its own process
        case(sys.argv[2], int(sys.argv[3]))
    else:
        main()
