"""First open of each page, in a real browser, for two checkouts side by side (before and after a change).

For each repeat and each side (alternating which goes first), a fresh `streamlit run app.py` of that
checkout (its own empty run store and caches), a new Chromium session at 1400x1000: press Run on
the bundled sample set, then open each page once through the sidebar and time the click until the
script run has finished and the page's charts are drawn. Prints median (min-max) seconds per page
and side, and writes benchmarks/results/page_open.json.

    python benchmarks/page_open_benchmark.py --before /path/to/old/checkout [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import spread, write_results  # noqa: E402

PAGES = ["Paper figure", "Depth", "Class × channel", "Two classes", "One channel", "One image", "Ablation",
         "Compare runs"]
# Text that shows once a page has done its work (the Ablation page's "Reference set" needs its inputs prepared).
MARKERS = {"Paper figure": "Mean excitation per channel, by class", "Depth": "Gates over depth",
           "Class × channel": "Which classes this block treats alike", "Two classes": "Two classes, channel by channel",
           "One channel": "One channel, up close", "One image": "One image against its class",
           "Ablation": "Reference set:", "Compare runs": "Two runs side by side"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(checkout: Path):
    port = _port()
    env = {**os.environ, "SE_ANALYSIS_HOME": tempfile.mkdtemp(prefix="se-open-"), "SE_ANALYSIS_OFFLINE": "1"}
    python = checkout / ".venv" / "bin" / "python"
    proc = subprocess.Popen([str(python if python.exists() else sys.executable), "-m", "streamlit", "run", "app.py",
                             "--server.headless", "true", "--server.port", str(port), "--server.fileWatcherType",
                             "none", "--browser.gatherUsageStats", "false"], cwd=checkout, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{checkout}: streamlit did not start")


def _idle(pg) -> None:
    pg.wait_for_timeout(300)
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=600_000)


def _settled(pg, marker: str) -> None:
    """The page's marker text is visible, no script run is going on, and its charts stopped changing."""
    pg.get_by_text(marker).first.wait_for()
    last = None
    while True:
        busy = pg.locator('[data-testid="stStatusWidget"]').count() > 0
        charts = pg.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                             ".map(g => (g.data || []).length).join(',')")
        if not busy and charts == last:
            return
        last = charts
        pg.wait_for_timeout(250)


def one_side(browser, checkout: Path) -> dict[str, float]:
    proc, url = _server(checkout)
    try:
        pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        pg.set_default_timeout(600_000)
        pg.goto(url)
        pg.get_by_text("Squeeze-and-Excitation gates, seen").wait_for()
        pg.get_by_role("button", name="Run", exact=True).click()
        pg.get_by_text("Top-1 accuracy").wait_for()
        _idle(pg)
        nav = pg.locator('[data-testid="stSidebarNav"]')
        out = {}
        for title in PAGES:
            link = nav.get_by_text(title, exact=True)
            if not link.count():
                continue  # the page does not exist on this side
            t0 = time.perf_counter()
            link.click()
            _settled(pg, MARKERS[title])
            out[title] = time.perf_counter() - t0 - 0.25  # the last stability check
        pg.context.close()
        return out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the other checkout (with its own .venv, or this one's python)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sides = {"before": Path(args.before).resolve(), "after": ROOT}
    times: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for r in range(args.repeats):
            for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                for page, sec in one_side(browser, sides[side]).items():
                    times[side].setdefault(page, []).append(sec)
        browser.close()
    print(f"{'page':16s} {'before (s)':>22s} {'after (s)':>22s}")
    for page in PAGES:
        cells = []
        for side in sides:
            v = times[side].get(page)
            cells.append(f"{spread(v)['median']:6.2f} ({min(v):.2f}-{max(v):.2f})" if v else f"{'-':>6s}")
        print(f"{page:16s} {cells[0]:>22s} {cells[1]:>22s}")
    print(f"-> {write_results('page_open', {'repeats': args.repeats, 'seconds': {s: {p: spread(v) for p, v in t.items()} for s, t in times.items()}})}")


if __name__ == "__main__":
    main()
