"""Every page driven with Streamlit's AppTest: what is shown, not just that it runs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = Path(__file__).resolve().parent.parent / "se_analysis" / "app" / "pages"


def _decode(obj):
    """Plotly 7 sends arrays as {"dtype", "bdata" (base64), "shape"}: turn them back into lists."""
    if isinstance(obj, dict) and "bdata" in obj and "dtype" in obj:
        arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
        if "shape" in obj:
            arr = arr.reshape([int(n) for n in str(obj["shape"]).split(",")])
        return arr.tolist()
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def traces(at: AppTest) -> list[list[dict]]:
    """The plotly traces of every chart on the page, arrays decoded."""
    return [_decode(json.loads(c.proto.spec)["data"]) for c in at.get("plotly_chart")]


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def run_folder(folder, timeout: float = 180) -> AppTest:
    """A new session that runs the default over a folder on this machine."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.radio(key="data_kind").set_value("folder on this machine").run()
    at.text_input(key="folder").input(str(folder)).run()
    at.button(key="run_button").click().run()
    no_errors(at)
    return at


@pytest.fixture
def app_with_run() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    no_errors(at)
    at.button(key="run_button").click().run()
    no_errors(at)
    return at


@pytest.mark.parametrize("page", ["paper.py", "depth.py", "classes.py", "image.py"])
def test_pages_without_a_run_point_to_the_run_page(page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(str(PAGES / page)).run()
    no_errors(at)
    assert any("No run yet" in i.value for i in at.info)


def test_run_page_runs_the_default_on_the_sample_set(app_with_run):
    at = app_with_run
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "500" and metrics["SE gates"] == "9" and metrics["Skipped files"] == "0"
    from se_analysis import extract, load_model, sample_set

    library = extract(load_model("default"), sample_set("all")).images["correct"].mean()  # the app's source of truth
    assert metrics["Top-1 accuracy"] == f"{library * 100:.1f}%"


def test_paper_page_lines_follow_the_chosen_classes(app_with_run):
    at = app_with_run
    at.switch_page(str(PAGES / "paper.py")).run()
    no_errors(at)
    blocks = at.multiselect(key="paper_blocks").value
    # The paper's choice: the last block of each stage, and every block of the last stage.
    assert blocks == ["SE_2_1", "SE_4_3", "SE_5_2", "SE_6_1", "SE_6_2", "SE_6_3"]
    (data,) = traces(at)
    assert len(data) == len(blocks) * 5  # four classes + all
    at.multiselect(key="paper_classes").set_value(["parachute", "tench"]).run()
    at.multiselect(key="paper_blocks").set_value(["SE_6_3"]).run()
    (data,) = traces(at)
    assert [t["name"] for t in data] == ["parachute", "tench", "all"]
    assert len(data[0]["y"]) == 576


def test_depth_page_shows_specificity_over_every_block(app_with_run):
    at = app_with_run
    at.switch_page(str(PAGES / "depth.py")).run()
    no_errors(at)
    spec, box, band, dec, pca = traces(at)
    assert spec[0]["x"] == ["SE_2_1", "SE_4_1", "SE_4_2", "SE_4_3", "SE_5_1", "SE_5_2", "SE_6_1", "SE_6_2", "SE_6_3"]
    from se_analysis.analysis.separation import decodability
    from se_analysis.runs.run import RunStore

    expected = decodability(RunStore().get(at.session_state["run_key"]))
    assert dec[1]["x"] == spec[0]["x"] and np.allclose(dec[1]["y"], expected["accuracy"])
    assert len(pca) == 9 * 10 and sum(t.get("showlegend", True) for t in pca) == 10  # nine panels, ten classes
    assert all(0 <= y <= 1 for y in spec[0]["y"])
    assert box[0]["type"] == "box"
    assert len(band) == 2 * 4  # the default selection, four classes as on every page: band + line each
    at.radio(key="group_by").set_value("pred").run()
    no_errors(at)


def test_heatmap_and_image_pages(app_with_run):
    at = app_with_run
    at.switch_page(str(PAGES / "classes.py")).run()
    no_errors(at)
    hm, sim = traces(at)
    assert np.array(hm[0]["z"]).shape == (10, 576)
    assert np.array(sim[0]["z"]).shape == (10, 10)  # which classes the block treats alike
    at.selectbox(key="heatmap_block").set_value("SE_2_1").run()
    assert np.array(traces(at)[0][0]["z"]).shape == (10, 16)
    at.switch_page(str(PAGES / "image.py")).run()
    no_errors(at)
    img, where = traces(at)  # its gates against its class, and where in it they open (the microscope's map)
    assert [t["type"] for t in img] == ["bar", "scatter"]
    assert [t["type"] for t in where] == ["image", "image", "heatmap"]
    at.checkbox(key="image_wrong").check().run()
    no_errors(at)
    from se_analysis.runs.run import RunStore

    run = RunStore().get(at.session_state["run_key"])
    cls = at.selectbox(key="image_class").value
    wrong = run.images[(run.images["label_name"] == cls) & (run.images["correct"] == False)]  # noqa: E712
    assert len(at.selectbox(key="image_pick").options) == len(wrong) > 0  # only this class's misclassified images


def test_folder_source_reports_skipped_files(tmp_path):
    (tmp_path / "Bag").mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28), 90 * i, np.uint8)).save(tmp_path / "Bag" / f"{i}.png")
    (tmp_path / "Bag" / "oops.jpg").write_text("not an image")
    at = run_folder(tmp_path)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "3" and metrics["Skipped files"] == "1"
    assert any("skipped" in w.value for w in at.warning)


def test_library_never_imports_streamlit():
    code = "import sys, se_analysis; import se_analysis.cli; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(APP).parent).stdout.strip()
    assert out == "False"


def test_ablation_page_before_and_after(app_with_run):
    at = app_with_run
    at.switch_page(str(PAGES / "ablation.py")).run()
    no_errors(at)
    assert any("reference half" in i.value and "disjoint" in i.value for i in at.info)
    at.selectbox(key="abl_preset").set_value("last stage").run()
    assert at.multiselect(key="abl_blocks_last stage").value == ["SE_6_1", "SE_6_2", "SE_6_3"]
    at.selectbox(key="abl_mode").set_value("constant").run()
    at.button(key="abl_run").click().run()
    no_errors(at)
    metrics = {m.label: m for m in at.metric}
    assert {"Top-1 after", "Top-1 before", "Mean NLL after", "Predictions flipped"} <= set(metrics)
    per_class, overlay, downstream = traces(at)
    assert [t["name"] for t in per_class] == ["before", "after"] and len(per_class[0]["x"]) == 10
    replaced = [t for t in overlay if t["name"].endswith("(replaced)")]
    assert replaced and all(set(t["y"]) == {1.0} for t in replaced)  # constant 1.0 drawn over the originals
    assert len(downstream[0]["x"]) == 9
    at.button(key="sweep_run").click().run()
    no_errors(at)
    charts = traces(at)
    assert len(charts) == 5  # + sweep bars and cumulative curves
    assert [t["name"] for t in charts[4] if t.get("mode") == "lines+markers"] == ["cumulative-from-end",
                                                                                 "cumulative-from-start"]


def test_a_link_reopens_the_same_view(app_with_run):
    key = app_with_run.session_state["run_key"]
    at = AppTest.from_file(APP, default_timeout=120)  # a new session, as when a link is opened
    at.query_params["run"] = key
    at.query_params["classes"] = "church,tench"
    at.query_params["blocks"] = "SE_5_2"
    at.run()
    at.switch_page(str(PAGES / "paper.py")).run()
    no_errors(at)
    assert at.multiselect(key="paper_classes").value == ["church", "tench"]
    assert at.multiselect(key="paper_blocks").value == ["SE_5_2"]
    (data,) = traces(at)
    assert [t["name"] for t in data] == ["church", "tench", "all"]
    at.multiselect(key="paper_classes").set_value(["golf ball"]).run()
    assert at.query_params["classes"] in ("golf ball", ["golf ball"]) and at.query_params["run"] in (key, [key])


def test_presentation_mode(app_with_run):
    at = app_with_run
    at.toggle(key="present_toggle").set_value(True).run()
    no_errors(at)
    assert any("stSidebar" in m.value for m in at.markdown)
    assert at.query_params["present"] in ("1", ["1"])
    at.switch_page(str(PAGES / "depth.py")).run()
    (spec, *_) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert spec["layout"]["font"]["size"] == 18
    at.button(key="exit_present").click().run()
    assert "present" not in at.query_params and not any("stSidebar" in m.value for m in at.markdown)


def test_summary_only_run_in_the_app(tmp_path, monkeypatch):
    from se_analysis.cli import main

    assert main(["extract", "--split", "eval", "--summary-only", "--out", str(tmp_path / "lean"), "--quiet"]) == 0
    from se_analysis.runs.run import Run, RunStore

    RunStore().put("leanrun0000000a", Run.load(tmp_path / "lean"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = "leanrun0000000a"
    at.run()
    at.switch_page(str(PAGES / "depth.py")).run()
    no_errors(at)
    assert len(traces(at)) == 3
    at.switch_page(str(PAGES / "image.py")).run()
    no_errors(at)
    assert any("summary-only" in i.value for i in at.info)


def test_run_with_bf16_and_channels_last(tmp_path):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.radio(key="sample_split").set_value("eval").run()
    at.radio(key="amp").set_value("bf16 autocast").run()
    at.checkbox(key="channels_last").check().run()
    at.button(key="run_button").click().run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "250" and float(metrics["Top-1 accuracy"].rstrip("%")) > 45


def _page_files() -> list[str]:
    """Every page module, found by glob (as Streamlit's app-action smoke test does): helpers excluded."""
    return sorted(p.name for p in PAGES.glob("*.py") if p.name != "__init__.py")


def test_the_page_glob_finds_every_page_of_the_app():
    navigation = (PAGES / "__init__.py").read_text()  # the st.navigation list
    assert len(_page_files()) == 9 and all(name in navigation for name in _page_files())


@pytest.mark.parametrize("page", _page_files())
def test_smoke_every_page_after_a_run(app_with_run, page):
    at = app_with_run
    at.switch_page(str(PAGES / page)).run()
    no_errors(at)
    assert at.title, page  # the page drew its heading


def test_unlabelled_folder_ablations_and_sweeps(tmp_path):
    """The researcher's wall: ablations of an unlabelled run show what can be measured, never a traceback."""
    import shutil

    from se_analysis.data.paths import IMAGENET_SAMPLE

    for f in sorted(IMAGENET_SAMPLE.glob("*/*.JPEG"))[::50]:  # one image per class, no labels
        shutil.copy(f, tmp_path / f.name)
    at = run_folder(tmp_path)
    at.switch_page(str(PAGES / "ablation.py")).run()
    no_errors(at)
    assert "class-mean" not in at.selectbox(key="abl_mode").options  # needs labels: not offered
    for mode in ("mean", "predicted-class-mean", "mean"):  # switching back and forth keeps the page working
        at.selectbox(key="abl_mode").set_value(mode).run()
        at.button(key="abl_run").click().run()
        no_errors(at)
        metrics = {m.label: m.value for m in at.metric}
        assert {"Predictions flipped", "Confidence after", "KL(before ‖ after)"} <= set(metrics)
    at.button(key="sweep_run").click().run()
    no_errors(at)
    assert any(t.get("name") == "predictions flipped (%)" for chart in traces(at) for t in chart)


def test_run_page_keeps_its_choices_across_pages(tmp_path):
    (tmp_path / "imgs").mkdir()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="data_kind").set_value("folder on this machine").run()
    at.text_input(key="folder").input(str(tmp_path / "imgs")).run()
    at.switch_page(str(PAGES / "depth.py")).run()
    at.switch_page(str(PAGES / "run.py")).run()
    no_errors(at)
    assert at.radio(key="data_kind").value == "folder on this machine"
    assert at.text_input(key="folder").value == str(tmp_path / "imgs")


def test_bounded_cache_keeps_the_most_recently_used():
    from se_analysis.app.cache import BoundedCache

    cache, calls = BoundedCache(2), []

    def compute(k):
        calls.append(k)
        return k * 10
    for k in (1, 2, 1, 3, 2, 1):  # 3 evicts 2 (1 was used more recently), 2 evicts 1, 1 evicts 3
        assert cache.get_or_compute(k, lambda k=k: compute(k)) == k * 10
    assert calls == [1, 2, 3, 2, 1] and list(cache) == [2, 1]


def test_a_link_to_a_random_weights_run_reopens_its_view_and_ablation():
    """The whole view lives in the link: weights, heatmap choices, and an ablation that re-runs (issue 14.14)."""
    from se_analysis import load_model
    from se_analysis.data.image_sets import sample_set
    from se_analysis.runs.extract import extract_cached

    net = load_model("fmnist-se-resnet", pretrained=False)
    _, key = extract_cached(net, sample_set("eval", net.sample))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["run"] = key
    at.run()
    no_errors(at)
    assert at.selectbox(key="model_name").value == "fmnist-se-resnet"
    assert at.radio(key="weights").value == "random (for comparison)"
    at.query_params.update(block="SE_4_1", sort="specificity")
    at.switch_page(str(PAGES / "classes.py")).run()
    no_errors(at)
    assert at.selectbox(key="heatmap_block").value == "SE_4_1" and at.radio(key="heatmap_sort").value == "specificity"
    heat = traces(at)[0][0]
    assert heat["customdata"][0] != sorted(heat["customdata"][0])  # channels in specificity order
    at.query_params.update(ablate="SE_4_3", mode="constant", c="1.0", ran="1")
    at.switch_page(str(PAGES / "ablation.py")).run()
    no_errors(at)
    assert at.multiselect(key="abl_blocks_custom").value == ["SE_4_3"]
    assert at.selectbox(key="abl_mode").value == "constant"
    assert [m.label for m in at.metric][:2] == ["Top-1 after", "Top-1 before"]  # the ablation ran from the link


def test_channel_page_from_a_link(app_with_run):
    """The One channel page opens on the link's block and channel; its rank and violins match the library."""
    from se_analysis.analysis import stats
    from se_analysis.analysis.drilldown import channel_rank
    from se_analysis.runs.run import RunStore

    at = app_with_run
    at.query_params.update(chblock="SE_6_3", ch="7")
    at.switch_page(str(PAGES / "channel.py")).run()
    no_errors(at)
    assert at.selectbox(key="channel_block").value == "SE_6_3" and at.number_input(key="channel_index").value == 7
    run = RunStore().get(at.session_state["run_key"])
    rank = channel_rank(stats.channel_stats(run), "SE_6_3", 7)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rank in the block"] == f"{rank['rank']} of 576"
    (violin,) = traces(at)
    assert len(violin) == 10 and all(t["type"] == "violin" for t in violin)


def test_compare_page_trained_against_random(app_with_run):
    """Compare runs: the current (trained) run against a random-weights run of the same images."""
    from se_analysis import load_model
    from se_analysis.analysis.two_runs import block_shift, channel_shift
    from se_analysis.data.image_sets import sample_set
    from se_analysis.runs.run import RunStore

    at = app_with_run
    trained = RunStore().get(at.session_state["run_key"])
    net = load_model("default", pretrained=False)
    random_run, key_b = extract_cached_quiet(net, sample_set("all", net.sample))
    at.switch_page(str(PAGES / "compare.py")).run()
    no_errors(at)
    at.selectbox(key="compare_b").set_value(key_b).run()
    no_errors(at)
    shift, spec, diff = traces(at)
    expected = block_shift(channel_shift(trained, random_run))
    assert shift[0]["x"] == expected["block"].tolist() and np.allclose(shift[0]["y"], expected["mean_abs_diff"])
    assert len(diff[0]["x"]) == 576  # SE_6_3's channels


def extract_cached_quiet(net, source):
    from se_analysis.runs.extract import extract_cached

    return extract_cached(net, source)


def test_ablation_page_says_a_labelled_folder_s_means_come_from_a_disjoint_half(tmp_path):
    """Issue 20: a labelled folder's ablation takes its means from the first half of each class, and the page
    says which images supply them."""
    import shutil

    from se_analysis.data.paths import IMAGENET_SAMPLE

    for wnid in ("n01440764", "n03000684"):  # two class folders of four images each, named by WordNet id
        (tmp_path / wnid).mkdir()
        for f in sorted((IMAGENET_SAMPLE / wnid).glob("*.JPEG"))[:4]:
            shutil.copy(f, tmp_path / wnid / f.name)
    at = run_folder(tmp_path)
    at.switch_page(str(PAGES / "ablation.py")).run()
    no_errors(at)
    said = [i.value for i in at.info if "Reference set" in i.value]
    assert len(said) == 1 and "reference half of each class of this folder (4 images" in said[0]
    assert "disjoint other half (4 images)" in said[0]


def _stored(key: str, created: str, change=None, **make):
    """A synthetic Run (tests.conftest.make_run, then ``change(run)``) in the store, as the app lists it."""
    from se_analysis.runs.run import RunStore
    from tests.conftest import make_run

    run = make_run(**make)
    run.manifest.update(model="tiny", weights="w", data="synthetic", created=created, n_images=len(run), device="cpu")
    if change is not None:
        change(run)
    RunStore().put(key, run)
    return run


def _open(key: str, page: str, **params) -> AppTest:
    """A new session opened from a link to ``page`` of the stored run ``key``."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run=key, **params)
    at.run()
    at.switch_page(str(PAGES / page)).run()
    no_errors(at)
    return at


def _ancestors(node, target, path=()):
    """The blocks from the root down to ``target`` (an element of the tree)."""
    if node is target:
        return path
    for child in (node.children.values() if isinstance(getattr(node, "children", None), dict) else []):
        found = _ancestors(child, target, path + (node,))
        if found is not None:
            return found
    return None


def test_contrast_page_link_keeps_grouping_channels_shown_and_significant_only():
    """Issue 20, item 13: a link keeps the grouping (by) and 'Channels shown' (ctop) and 'Significant only' (csig),
    so a colleague sees the sender's figure; p columns in scientific notation, the test's columns first."""
    from se_analysis.analysis.contrast import contrast

    def opens(run):  # by prediction, c0 opens its first 12 channels
        run.gate_values["SE_3_1"][run.images["pred"].to_numpy() == 0, :12] += 0.6

    run = _stored("contrast1", "2024-01-01T00:00:00", opens, n_per_class=(20, 20, 0, 10), channels=(6, 40), seed=1)
    at = _open("contrast1", "contrast.py", by="pred", ctop="10", csig="1", cblock="SE_3_1", a="c0", b="c1")
    assert at.radio(key="group_by").value == "pred"
    assert at.select_slider(key="contrast_top").value == 10 and at.toggle(key="contrast_significant").value
    expected = contrast(run, "SE_3_1", "c0", "c1", by="pred")
    significant = expected[expected["significant"]]
    (bars,) = traces(at)
    shown = sorted(int(c[0]) for t in bars if t.get("customdata") for c in t["customdata"])
    assert shown == sorted(significant.nsmallest(10, "rank")["channel"]) and len(significant) > 10
    df = at.dataframe[0]
    config = json.loads(df.proto.columns)
    assert config["p"]["type_config"]["format"] == config["p_adjusted"]["type_config"]["format"] == "%.2e"
    assert list(df.proto.column_order)[:8] == ["rank", "channel", "cohens_d", "d_low", "d_high", "separates",
                                               "p_adjusted", "significant"]
    assert len(df.value) == len(significant)  # the table follows the filter
    assert any(b.proto.label == "Download report with this contrast (HTML)" for b in at.get("download_button"))
    at.select_slider(key="contrast_top").set_value(20).run()
    at.toggle(key="contrast_significant").set_value(False).run()
    assert at.query_params["ctop"] in ("20", ["20"]) and "csig" not in at.query_params
    assert at.query_params["by"] in ("pred", ["pred"])


def test_channel_page_metric_arrow_follows_the_difference_from_the_median():
    """Issue 20, item 10: '↑ block median 0.379' under an eta squared of 0.241; the arrow now follows the sign."""
    from streamlit.proto.Metric_pb2 import Metric

    from se_analysis.analysis import stats
    from se_analysis.analysis.drilldown import channel_rank

    run = _stored("channel1", "2024-01-01T00:00:00", n_per_class=(8, 8, 0, 8), channels=(6, 40), seed=2)
    cs = stats.channel_stats(run)
    ranks = [channel_rank(cs, "SE_3_1", c) for c in range(40)]
    low = next(r for r in ranks if r["specificity"] < r["median_specificity"])
    at = _open("channel1", "channel.py", chblock="SE_3_1", ch=str(low["channel"]))
    metrics = {m.label: m.proto for m in at.metric}
    eta = metrics["Class-specificity (η²)"]
    assert eta.body == f"{low['specificity']:.3f}"
    assert eta.delta == f"{low['specificity'] - low['median_specificity']:+.3f}" and eta.delta.startswith("-")
    assert eta.direction == Metric.MetricDirection.DOWN
    assert "block median" in eta.delta_description
    assert metrics["Mean gate"].direction == Metric.MetricDirection.NONE  # a range: no arrow


def test_compare_page_opens_on_a_run_with_the_same_gates_and_says_what_differs():
    """Issue 20, item 11: Run B defaulted to the newest stored run, even one with other gates, and the error
    said 'share no gate: SE_2_1, ... against SE_2_1, ...'."""
    _stored("runa", "2024-01-01T00:00:00", channels=(3, 5), seed=1)
    _stored("runb", "2024-01-02T00:00:00", channels=(3, 5), seed=2)
    _stored("runc", "2024-01-03T00:00:00", channels=(3, 7), seed=3)  # the newest: SE_3_1 has other channels
    at = _open("runa", "compare.py")
    assert at.selectbox(key="compare_a").value == "runa" and at.selectbox(key="compare_b").value == "runb"
    assert len(traces(at)) == 3  # shift, specificity, differences: the comparison is shown
    assert "other gates" in at.selectbox(key="compare_b").format_func("runc")
    at.selectbox(key="compare_b").set_value("runc").run()
    assert not at.exception
    (info,) = at.info  # they compare on SE_2_1, the gate both have with the same channels
    assert "other channel counts (A against B): SE_3_1 5 against 7" in info.value and "SE_2_1 " not in info.value
    _stored("rund", "2024-01-04T00:00:00", channels=(4, 7), seed=4)
    at.run()  # the page lists it
    at.selectbox(key="compare_b").set_value("rund").run()
    (error,) = at.error
    assert error.value == ("These runs do not compare: the runs share no gate with the same channel count: "
                           "other channel counts (A against B): SE_2_1 3 against 4, SE_3_1 5 against 7")


def test_labels_and_download_buttons_are_not_truncated():
    """Issue 20, item 12: 'Centre each channel on its all-image m…' and the One image page's 'PN…' / 'HT…'."""
    _stored("labels1", "2024-01-01T00:00:00", n_per_class=(6, 6, 0, 6), seed=4)
    at = _open("labels1", "classes.py")
    toggle = at.toggle(key="heatmap_centre")
    assert len(toggle.label) <= 24 and "all-image mean" in toggle.help  # fits a third of the page; help says more
    at.switch_page(str(PAGES / "image.py")).run()
    no_errors(at)
    for button in at.get("download_button"):
        if button.proto.label.split()[0] in ("PNG", "SVG", "HTML"):
            widths = [b.proto.weight for b in _ancestors(at._tree, button) if getattr(b, "type", "") == "column"]
            assert all(w >= 0.5 for w in widths), (button.proto.label, widths)  # no narrow column of its own


def test_a_run_whose_model_this_machine_lacks_says_so_on_the_ablation_page():
    """A Run made elsewhere, with a model not known here: the statistics pages work; the Ablation page says why
    it cannot ablate, instead of raising."""
    _stored("elsewhere", "2024-01-01T00:00:00", n_per_class=(4, 4), seed=2)  # its model is "tiny"
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run="elsewhere")
    at.run()
    at.switch_page(str(PAGES / "paper.py")).run()
    no_errors(at)
    at.switch_page(str(PAGES / "ablation.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert "'tiny', cannot be loaded on this machine: unknown model 'tiny'" in error.value
    assert "ablations need the model itself" in error.value


def _store_foldered_run(key: str) -> None:
    """Store, as ``key``, a small labelled Run whose images came from two class folders, cats/ and dogs/."""
    from se_analysis.runs.run import RunStore
    from tests.conftest import make_run

    run = make_run()
    run.images["image_id"] = [f"{'cats' if i % 2 else 'dogs'}/{i}.png" for i in range(len(run))]
    run.manifest.update(model="tiny", weights="w", data="synthetic", created="2024-01-01T00:00:00", n_images=len(run),
                        device="cpu", data_spec={"kind": "folder", "root": "/elsewhere"})
    RunStore().put(key, run)


def test_the_grouping_stays_as_chosen_from_page_to_page():
    """Every page draws the same grouping control: chosen on one page, it holds on every page after (it
    used to hold for one page change and then fall back to the true label), from a click and from a link."""
    _store_foldered_run("foldered")
    at = _open("foldered", "paper.py")
    at.radio(key="group_by").set_value("folder").run()
    pages = ("depth.py", "classes.py", "contrast.py", "channel.py", "paper.py", "classes.py")
    for page in pages:
        at.switch_page(str(PAGES / page)).run()
        no_errors(at)
        assert (page, at.radio(key="group_by").value, at.query_params.get("by")) == (page, "folder", "folder")
    linked = _open("foldered", "depth.py", by="folder")
    for page in pages:
        linked.switch_page(str(PAGES / page)).run()
        assert (page, linked.radio(key="group_by").value) == (page, "folder")


def test_folders_are_chosen_apart_from_classes():
    """Folders read differently from classes (``goldfish (n01443537)``), so they are chosen on their own: the
    classes chosen before grouping by folder are still chosen after grouping back, and the Class x channel
    page's colours follow the chosen classes that are present (not the folder names, absent under labels)."""
    _store_foldered_run("foldered2")
    at = _open("foldered2", "paper.py")
    at.multiselect(key="paper_classes").set_value(["c3", "c1"]).run()
    at.radio(key="group_by").set_value("folder").run()
    no_errors(at)
    assert set(at.multiselect(key="paper_classes@folder").value) <= {"cats", "dogs"}
    at.multiselect(key="paper_classes@folder").set_value(["dogs"]).run()
    at.switch_page(str(PAGES / "classes.py")).run()
    at.radio(key="group_by").set_value("label").run()
    no_errors(at)
    assert at.session_state["classes"] == ["c3", "c1"]
    (sim,) = [f for f in at.get("plotly_chart") if "treats alike" in str(f.proto.spec)]
    # the first two colours (Tab10's blue and orange, as the palette's first) go to the chosen c3 and c1
    ticks = json.loads(sim.proto.spec)["layout"]["xaxis"]["ticktext"]
    assert "<span style='color:#1f77b4'>c3</span>" in ticks and "<span style='color:#ff7f0e'>c1</span>" in ticks
    at.switch_page(str(PAGES / "paper.py")).run()
    assert at.multiselect(key="paper_classes").value == ["c3", "c1"]
    at.radio(key="group_by").set_value("folder").run()
    assert at.multiselect(key="paper_classes@folder").value == ["dogs"]
