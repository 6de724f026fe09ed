"""ImageNet scale: every page's first open and re-render, figure sizes, memory, and `export`, on 50,000 images.

Two Runs of 1000 ImageNet classes x 50 images (benchmarks/scale_runs.py: the Run format, synthetic
gates) with the default's layout (9 blocks, 2,376 channels) and SE-ResNet-50's (16 blocks, 15,104
channels), float16 gates. For each repeat, the layouts alternate (A B, B A, ...) and each runs in a
fresh process (empty caches), so each first open is a real first open:

* the app (Streamlit's AppTest, the app's own script in this process) opens on the Run page without a
  run: "empty app" RSS; then the Run is opened by its path and every analysis page is opened once
  ("first", seconds) and rendered again ("again"), with the size of the figures it sends and the
  process's RSS after it;
* `python -m se_analysis export --run PATH --out DIR` is timed in its own process;
* before them, the Run's kept PCA and decodability (``derived/``) are removed and computed again in a fresh
  process (``precompute``): what ``extract`` adds after saving a Run, and what the Depth page pays once on a
  Run saved without them (by an older version or another tool).

Prints median (min-max) per page and layout, against the targets (first open < 10 s, re-render < 1 s,
figures < 5 MB, RSS < 2 GB above the empty app, export < 120 s), and writes
benchmarks/results/scale.json.

    python benchmarks/scale_benchmark.py [--repeats 3] [--runs /tmp/scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_runs import ensure_scale_run  # noqa: E402
from timing import write_results  # noqa: E402

from se_analysis.runs.run import DERIVED_FOLDER  # noqa: E402

PRECOMPUTE = ("import sys; from se_analysis.runs.run import Run; "
              "from se_analysis.analysis.separation import precompute_separation; "
              "precompute_separation(Run.load(sys.argv[1]))")

PAGES = ["paper", "depth", "classes", "contrast", "channel", "image", "compare"]
LAYOUTS = ["default", "se_resnet50"]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def pages_worker(run: str) -> None:
    """One fresh process: empty app, then every page first and again; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    os.environ["SE_ANALYSIS_HOME"] = tempfile.mkdtemp(prefix="se-scale-")
    os.environ["SE_ANALYSIS_DATA_ROOTS"] = str(Path(run).parent)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()
    out = {"empty_rss": _rss_mb(), "pages": {}}
    at.session_state["run_key"] = run
    t = time.perf_counter()
    at.run()
    out["pages"]["run"] = {"first": time.perf_counter() - t, "rss": _rss_mb()}
    for page in PAGES:
        t = time.perf_counter()
        at.switch_page(str(ROOT / "se_analysis" / "app" / "pages" / f"{page}.py")).run()
        first = time.perf_counter() - t
        t = time.perf_counter()
        at.run()
        again = time.perf_counter() - t
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        out["pages"][page] = {
            "first": first, "again": again, "rss": _rss_mb(),
            "figure_mb": max([len(c.proto.spec) / 1e6 for c in at.get("plotly_chart")], default=0.0),
            "height_px": max([s.get("layout", {}).get("height") or 0 for s in specs], default=0),
            "errors": [e.value for e in at.exception][:1] + [e.value[:120] for e in at.error][:1]}
    print(json.dumps(out))


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--runs", default="/tmp/scale", help="where the synthetic Runs are written once")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        pages_worker(a.worker)
        return
    runs = {lay: str(ensure_scale_run(Path(a.runs) / lay, lay)) for lay in LAYOUTS}
    pages: dict[str, list[dict]] = {lay: [] for lay in LAYOUTS}
    export: dict[str, list[float]] = {lay: [] for lay in LAYOUTS}
    precompute: dict[str, list[float]] = {lay: [] for lay in LAYOUTS}
    for r in range(a.repeats):
        for lay in (LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]):
            shutil.rmtree(Path(runs[lay]) / DERIVED_FOLDER, ignore_errors=True)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", PRECOMPUTE, runs[lay]], cwd=ROOT, check=True, timeout=3600)
            precompute[lay].append(time.perf_counter() - t)
            done = subprocess.run([sys.executable, __file__, "--worker", runs[lay]], capture_output=True, text=True,
                                  timeout=3600)
            line = [x for x in done.stdout.splitlines() if x.startswith("{")]
            if not line:
                raise SystemExit(f"{lay}: the page worker failed:\n{done.stderr[-3000:]}")
            pages[lay].append(json.loads(line[-1]))
            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                ex = subprocess.run([sys.executable, "-m", "se_analysis", "export", "--run", runs[lay], "--out", d],
                                    cwd=ROOT, capture_output=True, text=True, timeout=3600)
                export[lay].append(time.perf_counter() - t)
                if ex.returncode:
                    raise SystemExit(f"{lay}: export failed:\n{ex.stderr[-3000:]}")
            print(f"repeat {r + 1} {lay}: done", flush=True)
    results = {}
    for lay in LAYOUTS:
        reps = pages[lay]
        print(f"\n{lay} (50,000 images x 1000 classes), median (min-max) of {a.repeats}:")
        print(f"{'page':10} {'first s':>18} {'again s':>18} {'figure MB':>10} {'height':>7} {'RSS-empty MB':>14}")
        res = {"empty_rss_mb": [x["empty_rss"] for x in reps], "export_s": export[lay],
               "precompute_s": precompute[lay], "pages": {}}
        for page in ["run", *PAGES]:
            first = [x["pages"][page]["first"] for x in reps]
            again = [x["pages"][page].get("again", 0.0) for x in reps]
            above = [x["pages"][page]["rss"] - x["empty_rss"] for x in reps]
            mb = max(x["pages"][page].get("figure_mb", 0.0) for x in reps)
            height = max(x["pages"][page].get("height_px", 0) for x in reps)
            errors = [e for x in reps for e in x["pages"][page].get("errors", [])]
            res["pages"][page] = {"first_s": first, "again_s": again, "rss_above_empty_mb": above, "figure_mb": mb,
                                  "height_px": height, "errors": errors[:1]}
            print(f"{page:10} {_spread(first):>18} {_spread(again):>18} {mb:>10.2f} {height:>7} "
                  f"{_spread(above):>14} {errors[:1] if errors else ''}")
        peak = [max(x["pages"][pg]["rss"] for pg in x["pages"]) - x["empty_rss"] for x in reps]
        res["peak_rss_above_empty_mb"] = peak
        print(f"RSS after every page, above the empty app: {_spread(peak)} MB (target < 2048)")
        print(f"export: {_spread(export[lay])} s (target < 120)")
        print(f"PCA and decodability kept with the Run (extract's last step): {_spread(precompute[lay])} s")
        results[lay] = res
    write_results("scale", results)


if __name__ == "__main__":
    main()
