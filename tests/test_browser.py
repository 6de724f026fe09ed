"""The main flow in a real browser: `streamlit run app.py`, driven by Playwright in Debian's Chromium.

Screenshots of every step go to ``artifacts/browser/`` (or ``$SE_ANALYSIS_SCREENSHOTS``).
Skipped where /usr/bin/chromium or Playwright's Python package is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """The one folder the app may read in these tests (its data root)."""
    return tmp_path_factory.mktemp("browser_data")


@contextlib.contextmanager
def serve(env: dict, script_args: tuple[str, ...] = ()):
    """A `streamlit run app.py [-- script_args]` on a free loopback port, yielding its URL; always stopped."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", *(("--", *script_args) if script_args else ())],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                pytest.fail(f"streamlit did not start on {url}: {out[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_root):
    """The app on a free loopback port, reading only ``data_root``."""
    env = {**os.environ, "SE_ANALYSIS_HOME": str(tmp_path_factory.mktemp("browser_home")), "SE_ANALYSIS_OFFLINE": "1",
           "SE_ANALYSIS_DATA_ROOTS": str(data_root)}
    with serve(env) as url:
        yield url


SHOTS = Path(os.environ.get("SE_ANALYSIS_SCREENSHOTS", ROOT / "artifacts" / "browser"))


@pytest.fixture(scope="module")
def browser(server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def _click_opens_channel(page, x: float, y: float, block: str, channel: int) -> None:
    """Click a figure at (x, y) and check that the One channel page opens on ``block`` / ``channel``."""
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.get_by_text("One channel, up close").first.wait_for()
    _wait_idle(page)
    assert page.locator('[data-testid="stNumberInput"] input').first.input_value() == str(channel)
    assert page.locator('[data-testid="stSelectbox"] input').first.input_value() == block
    _no_exception(page)


def _new_page(browser):
    """A page in a context of its own: its own cookies and Streamlit session."""
    pg = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    pg.set_default_timeout(180_000)
    pg.shots = SHOTS
    return pg


@pytest.fixture(scope="module")
def page(browser):
    return _new_page(browser)


def _shot(page, name: str) -> None:
    page.wait_for_timeout(800)  # let plotly finish drawing
    page.screenshot(path=str(page.shots / f"{name}.png"), full_page=True)


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def _trace_counts(page) -> list[int]:
    page.wait_for_selector(".js-plotly-plot .main-svg")
    return page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => g.data.length)")


def _wait_traces(page, expected: list[int]) -> list[int]:
    """Wait until the page's charts hold exactly ``expected`` traces (the state asserted), then return them."""
    page.wait_for_function(
        "(want) => JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(g => (g.data || []).length)) === JSON.stringify(want)", arg=expected, timeout=180_000)
    return _trace_counts(page)


def _go(page, title: str) -> None:
    """Follow a page link: in the sidebar, or in the top navigation (presentation mode)."""
    side = page.locator('[data-testid="stSidebarNav"]')
    if side.count() and side.is_visible():
        side.get_by_text(title, exact=True).click()
    else:
        page.locator('[data-testid="stTopNavLinkContainer"], header').get_by_text(title, exact=True).first.click()


def _wait_idle(page) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)


def test_main_flow(page, server):
    page.goto(server)
    page.get_by_text("Squeeze-and-Excitation gates, seen").wait_for()
    _shot(page, "01_opened")
    _no_exception(page)

    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Top-1 accuracy").wait_for()
    _wait_idle(page)
    metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert metrics[0] == "500" and metrics[1].endswith("%") and float(metrics[1].rstrip("%")) > 50
    _shot(page, "02_run_done")

    _go(page, "Paper figure")
    page.get_by_text("Mean excitation per channel, by class").first.wait_for()
    _wait_idle(page)
    assert _wait_traces(page, [6 * 5]) == [6 * 5]  # six blocks x (four classes + all)
    classes = page.locator('[data-testid="stMultiSelect"]').first
    for name in ("tench", "cassette player"):  # keep two classes: English springer and garbage truck
        classes.get_by_role("button", name=f"Remove {name}").click()
        _wait_idle(page)
    assert _wait_traces(page, [6 * 3]) == [6 * 3]  # two classes + all, in each of six panels
    _no_exception(page)
    _shot(page, "03_paper_figure_two_classes")

    # The class-specific study: two clicks from the paper figure to the contrast of its first two classes.
    page.get_by_role("button", name="Which channels separate").click()
    page.get_by_text("Two classes, channel by channel").first.wait_for()
    _wait_idle(page)
    page.wait_for_function(  # 30 bars (one trace per colour and hatching, and the hatching's legend key)
        "() => { const gd = document.querySelector('.js-plotly-plot'); return gd && gd.calcdata && "
        "gd.calcdata.filter((cd, i) => gd._fullData[i].customdata).reduce((n, cd) => n + cd.length, 0) === 30; }",
        timeout=180_000)
    _no_exception(page)
    _shot(page, "03b_two_class_contrast")
    # A click on a bar opens its channel (issue 20, item 13), as the paper figure and the heatmap do.
    x, y, channel = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const i = gd._fullData.findIndex((t, k) => t.customdata && gd.calcdata[k].length);
        const tr = gd._fullData[i], pt = gd.calcdata[i][0];
        const xa = gd._fullLayout[tr.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[tr.yaxis.replace('y', 'yaxis')];
        const box = gd.getBoundingClientRect();
        return [box.x + xa._offset + xa.c2p(pt.b + pt.s / 2), box.y + ya._offset + ya.c2p(pt.p), tr.customdata[0][0]];
    }""")
    _click_opens_channel(page, x, y, "SE_6_3", channel)

    # Class x channel: the heatmap (a cell per class and channel, plus its click layer) and class similarity.
    _go(page, "Class × channel")
    page.get_by_text("Which classes this block treats alike").wait_for()
    _wait_idle(page)
    assert _wait_traces(page, [2, 1]) == [2, 1]
    _no_exception(page)
    similarity = page.locator(".js-plotly-plot").nth(1)
    similarity.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    similarity.screenshot(path=str(page.shots / "03d_class_similarity.png"))

    # Click a channel of the paper figure: the One channel page opens on it.
    _go(page, "Paper figure")
    _wait_idle(page)
    _wait_traces(page, [6 * 3])
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const tr = gd._fullData[3];  // the second panel (SE_4_3), its first class
        const xa = gd._fullLayout[tr.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[tr.yaxis.replace('y', 'yaxis')];
        const pt = gd.calcdata[3][100];
        const box = gd.getBoundingClientRect();
        return [box.x + xa._offset + xa.c2p(pt.x), box.y + ya._offset + ya.c2p(pt.y)];
    }""")
    _click_opens_channel(page, x, y, "SE_4_3", 100)
    _shot(page, "03c_channel_drilldown")

    _go(page, "Depth")
    page.get_by_text("Gates over depth").first.wait_for()
    _wait_idle(page)
    # specificity (5 lines); box; 2 classes x (band + line); decodability (band, line, permuted, chance);
    # PCA: 9 panels x 10 classes
    assert _wait_traces(page, [5, 1, 4, 4, 90]) == [5, 1, 4, 4, 90]
    _no_exception(page)
    _shot(page, "04_depth")
    charts = page.locator(".js-plotly-plot")
    for i, name in ((3, "04b_decodability"), (4, "04c_pca_over_depth")):
        charts.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        charts.nth(i).screenshot(path=str(page.shots / f"{name}.png"))

    _go(page, "Ablation")
    page.get_by_text("Reference set:").wait_for()
    _wait_idle(page)
    page.get_by_role("button", name="Run ablation").click()
    page.get_by_text("Top-1 after").wait_for()
    _wait_idle(page)
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert len(values) == 4 and values[0].endswith("%") and values[1].endswith("%")
    counts = _trace_counts(page)
    assert counts[0] == 2  # per-class accuracy: before and after
    _no_exception(page)
    _shot(page, "05_ablation_before_after")


def run_folder_on_run_page(pg, server: str, folder) -> None:
    """Open the app, type ``folder`` into the Run page's folder box and press Run (the caller waits for the end)."""
    pg.goto(server)
    pg.get_by_text("Squeeze-and-Excitation gates, seen").wait_for()
    pg.get_by_text("folder on this machine").click()
    _wait_idle(pg)
    box = pg.locator('input[aria-label="Folder (one sub-folder per class, or a flat folder of images)"]')
    box.fill(str(folder))
    box.press("Enter")
    _wait_idle(pg)
    pg.get_by_role("button", name="Run", exact=True).click()


def test_researcher_ablates_an_unlabelled_folder(browser, server, data_root):
    """A folder of photos without labels: ablation and sweeps show flips, confidence and KL, never a traceback."""
    import shutil

    folder = data_root / "unlabelled"
    folder.mkdir(exist_ok=True)
    for i, f in enumerate(sorted((ROOT / "data" / "imagenet" / "val_10x50").rglob("*.JPEG"))[::25]):
        shutil.copy(f, folder / f"photo{i:02d}.jpg")
    pg = _new_page(browser)
    run_folder_on_run_page(pg, server, folder)
    pg.get_by_text("Top-1 accuracy").wait_for()
    _wait_idle(pg)
    assert _metric_values(pg)[:2] == ["20", "no labels"]
    _go(pg, "Ablation")
    pg.get_by_text("Reference set:").wait_for()
    _wait_idle(pg)
    pg.get_by_role("button", name="Run ablation").click()
    pg.get_by_text("KL(before ‖ after)").wait_for()
    _wait_idle(pg)
    _no_exception(pg)
    _shot(pg, "07_unlabelled_ablation")
    pg.get_by_role("button", name="Run sweeps").click()
    pg.get_by_text("Sweep table").wait_for()
    _wait_idle(pg)
    _no_exception(pg)
    assert pg.locator('[data-testid="stAlert"]').filter(has_text="could not run").count() == 0
    _shot(pg, "08_unlabelled_sweeps")

    # Compare runs: this folder run (A) against the sample-set run of the first test (B), same model and gates.
    _go(pg, "Compare runs")
    pg.get_by_text("Two runs side by side").first.wait_for()
    _wait_idle(pg)
    if pg.get_by_text("Only one run is stored").count() == 0:  # the main flow ran first, in the same store
        assert _wait_traces(pg, [2, 4, 1]) == [2, 4, 1]
        _no_exception(pg)
        _shot(pg, "08b_compare_runs")


_FIGURE_BOX = """() => {
    // The page's first figure, axes included: the chart and every label plotly drew (ticks, axis and
    // subplot titles, legend), where they are on the screen; the category axes with how many of their
    // categories carry a label; the expanders (a Controls box) drawn above the figure; subplot titles
    // smaller than the tick labels; whether the figure's title repeats the page's.
    const gd = document.querySelector('.js-plotly-plot');
    const r = gd.getBoundingClientRect();
    const rect = b => ({left: Math.round(b.left), top: Math.round(b.top), right: Math.round(b.right),
                        bottom: Math.round(b.bottom)});
    const texts = Array.from(gd.querySelectorAll('text')).filter(t => t.textContent.trim()).map(t => {
        const g = t.closest('g[class]');
        return {cls: (g && g.getAttribute('class')) || '', text: t.textContent.trim().slice(0, 40),
                ...rect(t.getBoundingClientRect())};
    }).filter(t => t.right > t.left && t.bottom > t.top);
    const box = rect(r);
    for (const t of texts) {
        box.left = Math.min(box.left, t.left); box.top = Math.min(box.top, t.top);
        box.right = Math.max(box.right, t.right); box.bottom = Math.max(box.bottom, t.bottom);
    }
    const xticks = texts.filter(t => /^x\\d*tick$/.test(t.cls));
    const categories = Object.keys(gd._fullLayout).filter(k => /^[xy]axis\\d*$/.test(k))
        .map(k => gd._fullLayout[k]).filter(ax => ax.type === 'category' && ax.tickmode !== 'array' && ax.visible
                                                  && ax.showticklabels)
        .map(ax => ({axis: ax._id, categories: ax._categories.length,
                     labelled: texts.filter(t => t.cls === ax._id + 'tick').length}));
    const above = Array.from(document.querySelectorAll('[data-testid="stExpander"]'))
        .filter(e => e.getBoundingClientRect().top < r.top && e.getBoundingClientRect().height > 0)
        .map(e => e.innerText.trim().split('\\n')[0]);
    const L = gd._fullLayout, tick = L.xaxis.tickfont.size;
    const small_titles = (L.annotations || []).filter(a => a.xref === 'paper' && a.yref === 'paper' && !a.showarrow
        && a.yanchor === 'bottom' && a.font.size < tick).map(a => `${a.text} ${a.font.size} px < ${tick} px`);
    const h1 = (document.querySelector('h1') || {}).innerText || '';
    const repeated = (L.title && L.title.text || '').trim().toLowerCase() === h1.trim().toLowerCase();
    return {chart: rect(r), box, xticks: xticks.length, categories, above, small_titles, repeated,
            outside_chart: texts.filter(t => t.left < r.left - 1 || t.right > r.right + 1 || t.top < r.top - 1
                                             || t.bottom > r.bottom + 1).map(t => t.text)};
}"""


def _to_top(page) -> None:
    """Scroll back to the top of the page, as the audience first sees it."""
    page.evaluate("""() => { window.scrollTo(0, 0);
        document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"], section.main')
            .forEach(e => { e.scrollTop = 0; }); }""")
    page.wait_for_timeout(500)


def _figure_problems(title: str, m: dict, width: int = 1280, height: int = 720) -> list[str]:
    """What keeps the page's first figure (axes, labels and titles included) from showing whole, unscrolled."""
    b, out = m["box"], []
    if b["left"] < 0 or b["top"] < 0 or b["right"] > width or b["bottom"] > height:
        out.append(f"{title}: the figure with its labels spans {b}, beyond the {width}x{height} screen")
    if m["outside_chart"]:
        out.append(f"{title}: labels cut at the chart's edge: {m['outside_chart'][:4]}")
    if not m["xticks"]:
        out.append(f"{title}: no x tick labels drawn")
    for c in m["categories"]:
        if c["labelled"] < c["categories"]:
            out.append(f"{title}: {c['labelled']} of {c['categories']} categories labelled on axis {c['axis']}")
    if m["above"]:
        out.append(f"{title}: {m['above']} above the figure")
    if m["small_titles"]:
        out.append(f"{title}: subplot titles smaller than the tick labels: {m['small_titles'][:2]}")
    if m["repeated"]:
        out.append(f"{title}: the figure repeats the page's title")
    return out


def test_presenter_at_1280x720(browser, page, server):
    """Presentation mode at 1280x720: page links stay (top navigation); on every analysis page the figure,
    axes, tick labels and titles included, lies inside the screen unscrolled, every category of its axes
    labelled, no expander above it; the Ablation page without a result opens on its controls (not on a
    closed box); metrics stay large and their deltas whole, select text is large."""
    if not page.url.startswith(server):  # run alone (-k presenter): make the run the main flow makes
        page.goto(server)
        page.get_by_text("Squeeze-and-Excitation gates, seen").wait_for()
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Top-1 accuracy").wait_for()
    page.set_viewport_size({"width": 1280, "height": 720})
    _go(page, "Run")
    _wait_idle(page)
    page.get_by_text("Presentation mode").click()
    _wait_idle(page)
    links = page.locator('[data-testid="stTopNavLinkContainer"] a, [data-testid="stTopNavLink"]')
    assert links.count() >= 5, "presentation mode keeps the page links"
    boxes, problems = {}, []

    def go(title: str) -> None:  # follow a link and wait for its page (its own title), not the last one's figure
        before = page.evaluate("() => (document.querySelector('h1') || {}).innerText")
        _go(page, title)
        page.wait_for_function("(b) => { const h = document.querySelector('h1'); return h && h.innerText !== b; }",
                               arg=before)
        _wait_idle(page)

    def measure(title: str, shot: str) -> None:
        page.wait_for_selector(".js-plotly-plot .main-svg")
        _to_top(page)
        page.wait_for_timeout(800)
        _no_exception(page)
        m = page.evaluate(_FIGURE_BOX)
        boxes[title] = m["box"]
        problems.extend(_figure_problems(title, m))
        page.screenshot(path=str(page.shots / f"{shot}.png"))  # what the audience sees, unscrolled

    for title, shot in (("Paper figure", "09_present_paper"), ("Depth", "10_present_depth"),
                        ("Class × channel", "11_present_heatmap"), ("Two classes", "12_present_contrast"),
                        ("One channel", "12b_present_channel"), ("One image", "12c_present_image")):
        go(title)
        measure(title, shot)
    # A session that has run no ablation yet (a link to the page): its controls are open, nothing to open first.
    fresh = _new_page(browser)
    fresh.set_viewport_size({"width": 1280, "height": 720})
    run_key = re.search(r"[?&]run=(\w+)", page.url).group(1)
    fresh.goto(f"{server}/ablation?run={run_key}&present=1")
    fresh.get_by_text("Reference set:").wait_for(state="attached")
    _wait_idle(fresh)
    _no_exception(fresh)
    try:  # the script may still be drawing the controls after "Reference set:" (slow CI cores): wait for them
        fresh.get_by_role("button", name="Run ablation").wait_for(state="visible", timeout=60_000)
    except playwright_api.TimeoutError:
        problems.append("Ablation: opens on a closed Controls box (no result above it)")
    fresh.screenshot(path=str(fresh.shots / "13a_present_ablation_not_run.png"))
    fresh.context.close()
    go("Ablation")
    if page.get_by_text("Top-1 after").count() == 0:  # no ablation yet in this session: run one
        if not page.get_by_role("button", name="Run ablation").is_visible():
            page.get_by_text("Controls", exact=True).click()  # the collapsed controls
        page.get_by_role("button", name="Run ablation").click()
        page.get_by_text("Top-1 after").wait_for()
        _wait_idle(page)
    sizes = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMetricValue"]'))
        .map(e => parseFloat(getComputedStyle(e.querySelector('div,p') || e).fontSize))""")
    assert min(sizes) >= 30, sizes
    clipped = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMetricDelta"]'))
        .filter(e => e.scrollWidth > e.clientWidth + 1).length""")
    assert clipped == 0
    select_size = page.evaluate("""() => parseFloat(getComputedStyle(
        document.querySelector('[data-testid="stSelectbox"] input')).fontSize)""")
    assert select_size >= 18, select_size
    measure("Ablation", "13_present_ablation")
    go("Compare runs")
    page.locator(".js-plotly-plot .main-svg").or_(page.get_by_text("Only one run is stored")).or_(
        page.locator('[data-testid="stAlert"]')).first.wait_for()
    _wait_idle(page)
    if page.locator(".js-plotly-plot").count():  # a second run is there (the unlabelled folder's)
        measure("Compare runs", "14_present_compare")
    print("figure boxes at 1280x720:", boxes)
    assert not problems, "\n".join(problems)


def _metric_values(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def test_two_sessions_at_once_get_what_a_session_alone_gets(browser, server):
    """Two browser contexts run extraction, then an ablation, at the same time on the one shared model;
    each must show exactly what the library computes alone."""
    from se_analysis import ablation as ablate
    from se_analysis import extract, load_model, sample_set

    pages = [_new_page(browser) for _ in range(2)]
    for pg in pages:  # two sessions share two cores: each waits for both runs (slow under load, never stuck)
        pg.set_default_timeout(600_000)
    for pg in pages:
        pg.goto(server)
        pg.get_by_text("Squeeze-and-Excitation gates, seen").wait_for()
    for pg in pages:  # both click before either finishes
        pg.get_by_role("button", name="Run", exact=True).click()
    for pg in pages:
        pg.get_by_text("Top-1 accuracy").wait_for()
        _wait_idle(pg)
    net = load_model("default")
    alone = extract(net, sample_set("all"))
    expected_run = ["500", f"{alone.images['correct'].mean() * 100:.1f}%", "9", "0"]
    assert [_metric_values(pg) for pg in pages] == [expected_run, expected_run]

    for pg in pages:
        _go(pg, "Ablation")
        pg.get_by_text("Reference set:").wait_for()
        _wait_idle(pg)
    for pg in pages:
        pg.get_by_role("button", name="Run ablation").click()
    for pg in pages:
        pg.get_by_text("Top-1 after").wait_for()
        _wait_idle(pg)
    ev_source, evaluated, reference, _ = ablate.ablation_inputs(net, alone)
    s = ablate.run_ablation(net, ev_source, evaluated, ablate.Ablation(("SE_6_3",), "mean"), reference).overall.iloc[0]
    expected = [f"{s['top1_after'] * 100:.2f}%", f"{s['top1_before'] * 100:.2f}%", f"{s['nll_after']:.4f}",
                f"{s['flipped_share'] * 100:.1f}%"]
    for pg in pages:
        _no_exception(pg)
        assert _metric_values(pg)[:4] == expected
    _shot(pages[1], "06_second_session_ablation")
