"""The microscope in a real browser (issue 22): One image in presentation mode at 1280x720 with a photo from the
camera (Chromium's fake media stream), and the paper figure played through depth.

The server is test_browser's (`streamlit run app.py` on a free loopback port); screenshots go to
``$SE_ANALYSIS_SCREENSHOTS`` (default ``artifacts/browser/``). Skipped where /usr/bin/chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.test_browser import (  # noqa: F401 - data_root and server are fixtures
    CHROMIUM,
    ROOT,
    SHOTS,
    _go,
    _no_exception,
    _to_top,
    _wait_idle,
    data_root,
    playwright_api,
    pytestmark,
    run_folder_on_run_page,
    server,
)

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def camera_page(server):
    """A 1280x720 page in a Chromium whose camera is its fake device (a generated picture), allowed without asking."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", *FAKE_CAMERA])
        try:
            context = b.new_context(viewport={"width": 1280, "height": 720}, permissions=["camera"])
            pg = context.new_page()
            pg.set_default_timeout(int(os.environ.get("SE_ANALYSIS_BROWSER_TIMEOUT_MS", 180_000)))
            yield pg
        finally:
            b.close()


def _shot(page, name: str) -> None:
    page.wait_for_timeout(800)  # let plotly finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"))  # what the audience sees, unscrolled


@pytest.fixture(scope="module")
def run_key(camera_page, server, data_root) -> str:
    """A run of the default over 9 ImageNet images (3 classes) from a folder, made through the Run page."""
    folder = data_root / "microscope"
    for wnid in sorted(p.name for p in (ROOT / "data" / "imagenet" / "val_10x50").iterdir() if p.is_dir())[:3]:
        (folder / wnid).mkdir(parents=True, exist_ok=True)
        for f in sorted((ROOT / "data" / "imagenet" / "val_10x50" / wnid).iterdir())[:3]:
            shutil.copy(f, folder / wnid / f.name)
    pg = camera_page
    run_folder_on_run_page(pg, server, folder)
    pg.get_by_text("Top-1 accuracy").or_(pg.get_by_text("Done: 9 images")).first.wait_for()
    _wait_idle(pg)
    _go(pg, "One image")  # the session's run: the page puts it in the link
    pg.get_by_text("One image against its class").first.wait_for()
    pg.wait_for_function("() => /[?&]run=/.test(location.search)")
    return re.search(r"[?&]run=([^&]+)", pg.url).group(1)


def test_presenter_takes_a_photo_on_the_one_image_page(camera_page, server, run_key):
    pg = camera_page
    pg.goto(f"{server}/image?run={run_key}&present=1&isrc=own")
    pg.get_by_text("One image against its class").first.wait_for()
    _wait_idle(pg)
    _no_exception(pg)
    assert pg.locator('[data-testid="stCameraInput"]').count() == 0  # no camera until asked
    pg.get_by_text("Use the camera").click()
    take = pg.get_by_role("button", name=re.compile("Take Photo", re.I))
    take.wait_for()
    pg.wait_for_timeout(1500)  # the fake stream's first frames
    _shot(pg, "m1_present_camera")
    take.click()
    pg.get_by_text("predicted", exact=False).first.wait_for()
    _wait_idle(pg)
    _no_exception(pg)
    pg.locator(".js-plotly-plot .main-svg").first.wait_for()
    traces = pg.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                         ".map(g => g.data.map(t => t.type))")
    assert ["image", "image", "heatmap"] in traces and ["bar", "scatter"] in traces  # the map, the gates
    title = pg.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.title.text")
    assert title.startswith("Where in the image every gate of SE_6_3 opens")
    _to_top(pg)
    box = pg.evaluate("() => { const r = document.querySelector('.js-plotly-plot').getBoundingClientRect(); "
                      "return {top: r.top, bottom: r.bottom, right: r.right}; }")
    assert box["top"] >= 0 and box["bottom"] <= 720 and box["right"] <= 1280, box  # the map on screen, unscrolled
    assert pg.locator('[data-testid="stDataFrame"]').count() == 1  # the top-5
    _shot(pg, "m2_present_photo_map")


def test_presenter_plays_the_paper_figure_through_depth(camera_page, server, run_key):
    pg = camera_page
    pg.goto(f"{server}/paper?run={run_key}&present=1&play=1")
    pg.get_by_text("Mean excitation per channel, by class").first.wait_for()
    pg.locator(".js-plotly-plot .main-svg").first.wait_for()
    _wait_idle(pg)
    _no_exception(pg)
    state = "() => { const g = document.querySelector('.js-plotly-plot'); return [g.data[0].x.length, " \
            "(g.querySelector('.slider-group .slider-label') || {}).textContent]; }"
    first = pg.evaluate(state)
    _shot(pg, "m3_present_play_first")
    assert first == [16, "block SE_2_1"], first
    pg.locator(".updatemenu-button").filter(has_text="Play").first.click()
    pg.wait_for_function(f"() => ({state})()[1] !== 'block SE_2_1'", timeout=30_000)
    pg.wait_for_timeout(1000)
    later = pg.evaluate(state)
    assert later[1] != "block SE_2_1" and later[0] != 16, later  # another block, with its own channels
    _shot(pg, "m4_present_play_later")
    pg.locator(".updatemenu-button").filter(has_text="Pause").first.click()
    _no_exception(pg)


def test_channel_page_maps_and_what_opens_the_gate(camera_page, server, run_key):
    """The One channel page: the top images' maps (the toggle) and the visualisation (8 steps) beside them."""
    pg = camera_page
    pg.goto(f"{server}/channel?run={run_key}&chblock=SE_4_3&ch=7")
    pg.get_by_text("One channel, up close").first.wait_for()
    _wait_idle(pg)
    pg.get_by_text("Show where the gate opens").click()
    pg.get_by_text("map sum").first.wait_for()
    _wait_idle(pg)
    pg.get_by_text("Optimisation steps").scroll_into_view_if_needed()
    slider = pg.locator('[data-testid="stSlider"]').filter(has_text="Optimisation steps").get_by_role("slider")
    slider.focus()
    for _ in range(4):  # from the CPU default (64) down to 8
        slider.press("ArrowLeft")
    _wait_idle(pg)
    pg.get_by_role("button", name="Make it").click()
    pg.get_by_text("steps in").first.wait_for()
    _wait_idle(pg)
    _no_exception(pg)
    pg.get_by_text("Show where the gate opens").scroll_into_view_if_needed()
    _shot(pg, "m5_channel_maps_visualize")
