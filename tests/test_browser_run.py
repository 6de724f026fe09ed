"""A Run made by the CLI, opened with `streamlit run app.py -- --run PATH`, walked page by page in Chromium.

The researcher's workflow: `extract` on one machine, copy the Run folder, open it on another. Here
the folder is extracted by the CLI into a folder outside every data root and outside the run store
(so it can only open through ``-- --run``), and its images are then moved away, as on a laptop that
has the Run but not the images. Skipped where /usr/bin/chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, ROOT, SHOTS, _new_page, _no_exception, _shot, _wait_idle, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")

SAMPLE = ROOT / "data" / "imagenet" / "val_10x50"
# each page, and text it shows once its work is done
PAGES = {"Paper figure": "Mean excitation per channel, by class", "Depth": "Gates over depth",
         "Class × channel": "Which classes this block treats alike", "Two classes": "Two classes, channel by channel",
         "One channel": "One channel, up close", "One image": "One image against its class",
         "Compare runs": "Two runs side by side", "Ablation": "Ablations run the model over the images again"}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> Path:
    """A Run extracted by the CLI from a folder of 3 classes x 4 images, whose images are then gone."""
    images = tmp_path_factory.mktemp("gpu_box_images")
    for wnid in sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())[:3]:
        (images / wnid).mkdir()
        for f in sorted((SAMPLE / wnid).iterdir())[:4]:
            shutil.copy(f, images / wnid / f.name)
    out = tmp_path_factory.mktemp("copied_runs") / "val-3x4"
    env = {**os.environ, "SE_ANALYSIS_DATA_ROOTS": str(images)}
    done = subprocess.run([sys.executable, "-m", "se_analysis", "extract", "--data", str(images), "--out", str(out),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.rmtree(images)  # the laptop has the Run, not the images
    return out


@pytest.fixture(scope="module")
def server_on_run(tmp_path_factory, cli_run):
    """The app started on the Run by its path (`-- --run PATH`), whose folder lies in no data root."""
    env = {**os.environ, "SE_ANALYSIS_HOME": str(tmp_path_factory.mktemp("home")), "SE_ANALYSIS_OFFLINE": "1",
           "SE_ANALYSIS_DATA_ROOTS": str(tmp_path_factory.mktemp("empty_root"))}
    with serve(env, ("--run", str(cli_run))) as url:
        yield url


def _launch(p):
    """Headless Debian Chromium, as the other browser tests launch it."""
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])


def test_a_cli_run_opens_with_dash_dash_run_and_every_page_works(server_on_run, cli_run):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = _new_page(browser)
            page.goto(server_on_run)
            page.get_by_text("Current run").wait_for()
            _wait_idle(page)
            body = page.inner_text("body")
            assert str(cli_run) in body and "12" in body, body[-1500:]  # opened in place, by its path
            _no_exception(page)
            _shot(page, "run_01_opened_by_path")
            for title, marker in PAGES.items():
                page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
                page.get_by_text(marker).first.wait_for()
                _wait_idle(page)
                _no_exception(page)
                if title not in ("Ablation", "Compare runs"):
                    page.wait_for_selector(".js-plotly-plot .main-svg")
                assert f"run={cli_run}".replace("/", "%2F") in page.url or f"run={cli_run}" in page.url
                _shot(page, "run_" + title.lower().replace(" ", "_").replace("×", "x"))
            page.locator('[data-testid="stSidebarNav"]').get_by_text("One channel", exact=True).click()
            page.get_by_text("image not on this machine").first.wait_for()
        finally:
            browser.close()


def test_a_run_folder_typed_on_the_run_page_opens_on_the_first_click(tmp_path_factory, cli_run):
    """Typed into "Or a Run folder" and Open clicked at once (no Enter, the field still focused): the Run opens
    on that first click (the button used to stay disabled until the field had lost its focus)."""
    env = {**os.environ, "SE_ANALYSIS_HOME": str(tmp_path_factory.mktemp("home2")), "SE_ANALYSIS_OFFLINE": "1",
           "SE_ANALYSIS_DATA_ROOTS": str(cli_run.parent)}
    with serve(env) as url, playwright_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = _new_page(browser)
            page.goto(url)
            page.get_by_text("Open a stored run").click()  # the collapsed box
            field = page.get_by_placeholder("/data/runs/imagenet-val")
            field.wait_for()
            _wait_idle(page)
            field.click()
            field.press_sequentially(str(cli_run), delay=5)
            page.get_by_role("button", name="Open", exact=True).last.click(timeout=20_000)  # not left disabled
            page.wait_for_function("(p) => document.body.innerText.includes(p) && "
                                   "!document.querySelector('[data-testid=\"stStatusWidget\"]')", arg=str(cli_run),
                                   timeout=30_000)
            _wait_idle(page)
            _no_exception(page)
            assert f"run={cli_run}".replace("/", "%2F") in page.url or f"run={cli_run}" in page.url
        finally:
            browser.close()
