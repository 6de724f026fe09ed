"""App latency: server time to re-render each page after a widget change, from a cached run.

Drives the app with Streamlit's AppTest (the script run on the server, without the browser's
drawing time): runs the default model on the sample set once (and random weights, for the
Compare page), then, on each page, changes a widget and times the rerun. Prints the median and min-max of several reruns per page against
the 300 ms target, and writes benchmarks/results/app_latency.json.

    python benchmarks/app_latency_benchmark.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SE_ANALYSIS_HOME", tempfile.mkdtemp(prefix="se-latency-"))

from streamlit.testing.v1 import AppTest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import spread, write_results  # noqa: E402

PAGES = ROOT / "se_analysis" / "app" / "pages"


def timed_run(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return (time.perf_counter() - t0) * 1000


def main(repeats: int = 5) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.button(key="run_button").click().run()  # extract once; later runs come from the cache
    changes = {
        "run.py": lambda a, i: a.radio(key="sample_split").set_value(["eval", "all"][i % 2]),
        "paper.py": lambda a, i: a.multiselect(key="paper_classes").set_value([["church", "tench"],
                                                                                     ["golf ball"]][i % 2]),
        "depth.py": lambda a, i: a.selectbox(key="depth_block").set_value(["SE_5_1", "SE_6_3"][i % 2]),
        "classes.py": lambda a, i: a.selectbox(key="heatmap_block").set_value(["SE_2_1", "SE_6_3"][i % 2]),
        "image.py": lambda a, i: a.selectbox(key="image_block").set_value(["SE_2_1", "SE_6_3"][i % 2]),
        "ablation.py": lambda a, i: a.selectbox(key="abl_mode").set_value(["constant", "mean"][i % 2]),
        "channel.py": lambda a, i: a.number_input(key="channel_index").set_value([7, 100][i % 2]),
        "contrast.py": lambda a, i: a.selectbox(key="contrast_b").set_value(["church", "golf ball"][i % 2]),
        "compare.py": lambda a, i: a.selectbox(key="compare_block").set_value(["SE_5_1", "SE_6_3"][i % 2]),
    }
    from se_analysis import load_model
    from se_analysis.data.image_sets import sample_set
    from se_analysis.runs.extract import extract_cached

    random_net = load_model("default", pretrained=False)  # a second run for the Compare page
    extract_cached(random_net, sample_set("all", random_net.sample))
    print(f"{'page':18s} {'median ms':>10s} {'min-max ms':>14s}   (target < 300 ms)")
    results = {}
    for page, change in changes.items():
        at.switch_page(str(PAGES / page))
        timed_run(at)  # first visit fills the page's caches
        times = []
        for i in range(repeats):
            change(at, i)
            times.append(timed_run(at))
        flag = "ok" if statistics.median(times) < 300 else "SLOW"
        print(f"{page:18s} {statistics.median(times):10.0f} {min(times):6.0f}-{max(times):<7.0f}   {flag}")
        results[page] = spread(times)
    print(f"-> {write_results('app_latency', {'model': 'default', 'repeats': repeats, 'ms': results})}")


if __name__ == "__main__":
    main()
