"""The microscope in the app (issue 22): explain maps on the One image and One channel pages, the own image,
what opens a gate most, and the paper figure and Depth page played through depth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app import APP, PAGES, _decode, _open, _stored, no_errors, run_folder

ROOT = Path(__file__).resolve().parent.parent
VAL = ROOT / "data" / "imagenet" / "val_10x50"


def _spec(at: AppTest, i: int = 0) -> dict:
    """The i-th chart's whole plotly figure (frames and layout too), arrays decoded."""
    return _decode(json.loads(at.get("plotly_chart")[i].proto.spec))


def _class_means(run, block: str) -> dict[str, np.ndarray]:
    """Mean gate per channel of every labelled class and of all images, from the run's gate arrays."""
    v = run.gate_values[block].astype(np.float64)
    y = run.images["label"].to_numpy()
    out = {run.class_names[k]: v[y == k].mean(0) for k in np.unique(y)}
    out["all"] = v.mean(0)
    return out


def test_paper_page_plays_through_depth_one_frame_per_block():
    """A link with play=1 opens the paper figure as an animation: a frame per block in forward order, each frame's
    lines the class means of that block's gates (recomputed here from the gate arrays), play/pause and a slider."""
    run = _stored("play1", "2024-01-01T00:00:00", n_per_class=(6, 7, 0, 5), channels=(6, 40), seed=3)
    at = _open("play1", "paper.py", play="1", classes="c0,c3")
    assert at.toggle(key="paper_play").value
    fig = _spec(at)
    assert [f["name"] for f in fig["frames"]] == run.gate_names
    classes = at.multiselect(key="paper_classes").value
    assert classes == ["c0", "c3"]
    for frame in fig["frames"]:
        block = frame["name"]
        want = _class_means(run, block)
        assert [t["name"] for t in frame["data"]] == classes + ["all"]
        for t in frame["data"]:
            assert t["x"] == list(range(run.gate_values[block].shape[1]))
            assert np.allclose(t["y"], want[t["name"]], atol=1e-6), (block, t["name"])
        assert frame["layout"]["xaxis"]["range"] == [-0.5, run.gate_values[block].shape[1] - 0.5]
    assert [t["name"] for t in fig["data"]] == classes + ["all"]  # the first block is shown before playing
    (menu,) = fig["layout"]["updatemenus"]
    assert [b["label"] for b in menu["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert [s["label"] for s in fig["layout"]["sliders"][0]["steps"]] == run.gate_names
    at.toggle(key="paper_play").set_value(False).run()
    no_errors(at)
    assert "play" not in at.query_params and "frames" not in _spec(at)  # the paper figure again


def test_depth_page_plays_the_within_class_band_through_depth():
    run = _stored("play2", "2024-01-01T00:00:00", n_per_class=(6, 7, 0, 5), channels=(6, 40), seed=4)
    at = _open("play2", "depth.py", dplay="1", classes="c1,c3")
    figs = [_spec(at, i) for i in range(len(at.get("plotly_chart")))]
    (anim,) = [f for f in figs if f.get("frames")]
    assert figs[0] is anim  # first on the page: what a presenter sees
    assert [f["name"] for f in anim["frames"]] == run.gate_names
    for frame in anim["frames"]:
        want = _class_means(run, frame["name"])
        lines = [t for t in frame["data"] if t.get("fill") != "toself"]
        bands = [t for t in frame["data"] if t.get("fill") == "toself"]
        assert [t["name"] for t in lines] == ["c1", "c3"] and len(bands) == 2  # a band per class, no "all"
        for t in lines:
            assert np.allclose(t["y"], want[t["name"]], atol=1e-6)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """The default over 3 images of each of 3 classes, copied into a folder the app may read (its data root);
    the session after the run, on the One image page."""
    root = tmp_path_factory.getbasetemp() / "microscope_images"
    for wnid in sorted(p.name for p in VAL.iterdir() if p.is_dir())[:3]:
        (root / wnid).mkdir(parents=True, exist_ok=True)
        for f in sorted((VAL / wnid).iterdir())[:3]:
            shutil.copy(f, root / wnid / f.name)
    return root


def test_one_image_page_explain_map_of_a_stored_image(folder_run):
    """The chosen image's explain map: the whole block by default, against the mean squeeze of the run's images
    (said on the figure); one channel on request, equal to the library's map; zero as the other reference."""
    from se_analysis import load_model
    from se_analysis.analysis.single import stored_inputs
    from se_analysis.data.decode import load_source_image
    from se_analysis.microscope import explain, reference_squeeze
    from se_analysis.runs.run import RunStore

    at = run_folder(folder_run)
    at.switch_page(str(PAGES / "image.py")).run()
    no_errors(at)
    assert at.selectbox(key="image_channel").value == -1 and at.radio(key="image_reference").value == "mean"
    gates, whole = _spec(at, 0), _spec(at, 1)
    assert [t["type"] for t in gates["data"]] == ["bar", "scatter"]
    assert [t["type"] for t in whole["data"]] == ["image", "image", "heatmap"]
    assert "reference: mean squeeze over 9 of this run's images" in whole["layout"]["title"]["subtitle"]["text"]
    assert "every gate of SE_6_3" in whole["layout"]["title"]["text"]
    at.selectbox(key="image_block").set_value("SE_4_3").run()
    at.selectbox(key="image_channel").set_value(7).run()
    no_errors(at)
    fig = _spec(at, 1)
    assert "SE_4_3 channel 7" in fig["layout"]["title"]["text"]
    run = RunStore().get(at.session_state["run_key"])
    net = load_model("default")
    row = run.images[run.images["image_id"] == at.selectbox(key="image_pick").value].iloc[0]
    x = net.transform(load_source_image(row["source"]))
    z0 = reference_squeeze(net, stored_inputs(run, net)[0], "SE_4_3")
    want = explain(net, x, "SE_4_3", channel=7, z0=z0)
    assert f"sum of the map = {want.sum_contributions:.4g}" in fig["layout"]["title"]["subtitle"]["text"]
    heat = np.array(fig["data"][2]["z"])
    assert heat.shape == (224, 224) and np.sign(heat).sum() != 0
    at.radio(key="image_reference").set_value("zero").run()
    no_errors(at)
    zero = explain(net, x, "SE_4_3", channel=7)
    subtitle = _spec(at, 1)["layout"]["title"]["subtitle"]["text"]
    assert "reference: zero squeeze" in subtitle and f"{zero.sum_contributions:.4g}" in subtitle


def _own(at: AppTest) -> AppTest:
    at.switch_page(str(PAGES / "image.py")).run()
    at.radio(key="image_source").set_value("own").run()
    no_errors(at)
    return at


def test_try_your_own_image_upload_and_camera(folder_run):
    """An upload goes through the run's model (no new run): its top-5 with probabilities, its gates against the
    run's mean of its predicted class, and its explain map; bad files get a sentence, not a traceback; the camera
    is asked for only behind its toggle."""
    from se_analysis import load_model
    from se_analysis.analysis.single import forward_one, top_predictions
    from se_analysis.data.decode import decode_image
    from se_analysis.runs.run import RunStore

    at = _own(run_folder(folder_run))
    assert not at.camera_input and len(at.file_uploader) == 1  # no camera until asked
    n_runs = len(RunStore().list())
    photo = sorted((VAL / "n01440764").iterdir())[10]  # a tench the run did not see
    at.file_uploader(key="own_upload").upload(photo.name, photo.read_bytes(), "image/jpeg").run()
    no_errors(at)
    net = load_model("default")
    one = forward_one(net, decode_image(photo))
    want = top_predictions(one.logits, net.class_names)
    (table,) = at.dataframe
    assert table.value["class"].tolist() == want["class"].tolist()
    assert np.allclose(table.value["probability"], want["probability"])
    assert any(f"predicted **{want['class'].iloc[0]}**" in m.value for m in at.markdown)
    explain_fig, gates_fig = _spec(at, 0), _spec(at, 1)
    assert [t["type"] for t in explain_fig["data"]] == ["image", "image", "heatmap"]
    assert "reference: mean squeeze over 9 of this run's images" in explain_fig["layout"]["title"]["subtitle"]["text"]
    bars, line = gates_fig["data"]
    assert np.allclose(bars["y"], one.gates["SE_6_3"], atol=1e-6)
    run = RunStore().get(at.session_state["run_key"])
    cls = want["class"].iloc[0]
    labels = run.images["label"].to_numpy()
    k = net.class_names.index(cls)
    mean = run.gate_values["SE_6_3"][labels == k].mean(0) if (labels == k).any() else run.gate_values["SE_6_3"].mean(0)
    assert np.allclose(line["y"], mean, atol=1e-6)
    assert len(run) == 9 and len(RunStore().list()) == n_runs  # no new run
    at.file_uploader(key="own_upload").upload("notes.txt", b"not an image at all", "text/plain").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("This file is not an image that can be read:")
    at.file_uploader(key="own_upload").upload("broken.jpg", photo.read_bytes()[:600], "image/jpeg").run()
    assert not at.exception and len(at.error) == 1 and "not an image that can be read" in at.error[0].value
    at.toggle(key="own_camera").set_value(True).run()
    assert len(at.camera_input) == 1 and not at.file_uploader
    at.camera_input(key="own_photo").upload("photo.jpg", photo.read_bytes()).run()
    no_errors(at)
    assert at.dataframe[0].value["class"].tolist() == want["class"].tolist()


def test_one_channel_page_maps_of_the_top_images_and_what_opens_the_gate(folder_run):
    """The toggle draws each top image's map for the channel (its gate and map sum those of the library, against
    the run's mean squeeze); the button makes the visualisation with a progress bar, then shows it (kept on disk:
    a second session gets it at once)."""
    import time

    from se_analysis import load_model
    from se_analysis.analysis.drilldown import top_images
    from se_analysis.analysis.single import stored_inputs
    from se_analysis.data.decode import load_source_image
    from se_analysis.microscope import explain, reference_squeeze
    from se_analysis.runs.run import RunStore

    at = run_folder(folder_run)
    key = at.session_state["run_key"]
    at.switch_page(str(PAGES / "channel.py")).run()
    at.selectbox(key="channel_block").set_value("SE_2_1").run()
    at.number_input(key="channel_index").set_value(3).run()
    no_errors(at)
    before = len(at.get("image"))
    t0 = time.perf_counter()
    at.toggle(key="channel_maps").set_value(True).run()
    print(f"maps of the top images: {time.perf_counter() - t0:.2f} s")
    no_errors(at)
    run = RunStore().get(key)
    top = top_images(run, "SE_2_1", 3, k=8)
    top = top[top["end"] == "top"].sort_values("rank")
    assert len(at.get("image")) == before + len(top)
    net = load_model("default")
    z0 = reference_squeeze(net, stored_inputs(run, net)[0], "SE_2_1")
    captions = [c.value for c in at.caption if c.value.startswith("gate ")]
    want = []
    for source in top["source"]:
        e = explain(net, net.transform(load_source_image(source)), "SE_2_1", channel=3, z0=z0)
        want.append(f"gate {e.gate:.3f} · map sum {e.sum_contributions:+.2f}")
    assert captions == want
    assert np.allclose([float(c.split()[1]) for c in captions], top["value"], atol=2e-3)  # the run's own gates
    assert any("mean squeeze over 9 of this run's images" in c.value for c in at.caption)
    at.select_slider(key="visualize_steps").set_value(8).run()
    t0 = time.perf_counter()
    at.button(key="visualize").click().run()
    print(f"visualize, 8 steps: {time.perf_counter() - t0:.2f} s")
    no_errors(at)
    assert len(at.get("image")) == before + len(top) + 1
    (made,) = [c.value for c in at.caption if "steps in" in c.value]
    assert made.startswith(f"{run.manifest['model']} with {run.manifest['weights']} · pre-activation")
    assert "8 steps" in made  # the picture says which model and weights it was optimised on
    other = AppTest.from_file(APP, default_timeout=120)  # a new session: from the disk cache
    other.query_params.update(run=key, chblock="SE_2_1", ch="3")
    other.run()
    other.switch_page(str(PAGES / "channel.py")).run()
    other.select_slider(key="visualize_steps").set_value(8).run()
    t0 = time.perf_counter()
    other.button(key="visualize").click().run()
    assert time.perf_counter() - t0 < 5 and [c.value for c in other.caption if "steps in" in c.value] == [made]
