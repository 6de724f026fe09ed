"""How long listing every timm and torchvision SE architecture takes: cold (built) and warm (read from its cache).

Cold builds the whole listing (``se_architectures(refresh=True)``: every architecture on the meta device, in
``--workers`` scanning processes) into a temporary ``$SE_ANALYSIS_HOME``; warm reads it back, as ``models --all``
and the app's picker do afterwards. Prints median (min-max) seconds over the repeats, the number of
architectures with SE gates in each library, and writes benchmarks/results/catalog.json.

    python benchmarks/catalog_benchmark.py                    # 3 cold, 20 warm repeats
    python benchmarks/catalog_benchmark.py --cold 1 --workers 1
    python benchmarks/catalog_benchmark.py --verify           # + a plain meta-device scan in this process, compared
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import fmt, spread, write_results  # noqa: E402

from se_analysis.models import catalog  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cold", type=int, default=3, help="cold repeats (each builds the whole listing)")
    p.add_argument("--warm", type=int, default=20, help="warm repeats (each reads the cached listing)")
    p.add_argument("--workers", type=int, default=None, help="scanning processes (default: one per core, at most 8)")
    p.add_argument("--verify", action="store_true", help="also scan every architecture in this process on the plain "
                                                         "meta device (weights initialised) and compare the counts")
    args = p.parse_args()
    os.environ["SE_ANALYSIS_HOME"] = tempfile.mkdtemp(prefix="se_catalog_")
    cold, warm, built = [], [], None
    for _ in range(args.cold):
        t0 = time.perf_counter()
        built = catalog.se_architectures(refresh=True, workers=args.workers)
        cold.append(time.perf_counter() - t0)
    for _ in range(args.warm):
        t0 = time.perf_counter()
        read = catalog.se_architectures()
        warm.append(time.perf_counter() - t0)
    assert read.architectures == built.architectures
    counts = built.counts()
    workers = args.workers or min(8, os.cpu_count() or 1)
    print(f"{built.scanned} architectures scanned (timm {built.versions['timm']}, torchvision "
          f"{built.versions['torchvision']}), {workers} scanning processes, {os.cpu_count()} CPU cores")
    print(f"with SE gates: timm {counts.get('timm', 0)}, torchvision {counts.get('torchvision', 0)}; "
          f"not built: {len(built.failed)}")
    print(f"cold (built): {fmt(cold, 1)} s over {len(cold)} repeats; warm (cached): {fmt([w * 1000 for w in warm], 2)} "
          f"ms over {len(warm)} repeats")
    payload = {"scanned": built.scanned, "with_se": counts, "failed": built.failed, "workers": workers,
               "cpu_count": os.cpu_count(), "cold_s": spread(cold), "warm_ms": spread([w * 1000 for w in warm]),
               "versions": built.versions}
    if args.verify:
        t0 = time.perf_counter()
        plain = {r["name"]: r["gates"] for r in catalog.scan_architectures(catalog.architecture_names(), workers=0)}
        fast = {a.name: a.gates for a in built.architectures}
        differ = {n: (plain.get(n, 0), fast.get(n, 0)) for n in set(plain) | set(fast)
                  if plain.get(n, 0) != fast.get(n, 0)}
        payload["verify"] = {"seconds_in_process": time.perf_counter() - t0, "differ": differ}
        print(f"in-process plain meta scan: {time.perf_counter() - t0:.0f} s; architectures whose count differs: "
              f"{len(differ)} {differ if differ else ''}")
    print(f"-> {write_results('catalog', payload)}")


if __name__ == "__main__":
    main()
