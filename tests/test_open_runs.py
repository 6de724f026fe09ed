"""Opening a Run made anywhere: lazy arrays, stored moments, references by key or path, the Run page."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from se_analysis.runs.arrays import StoredArrays
from se_analysis.runs.refs import RunNotFound, run_folder, run_id
from se_analysis.runs.run import Run, RunStore, is_run_folder
from tests.conftest import make_run
from tests.test_app import APP, PAGES, no_errors


def test_stored_arrays_read_what_safetensors_wrote(tmp_path):
    """The header parser and memmaps give what the safetensors library itself reads back (a second reader)."""
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    arrays = {"gate/a": rng.uniform(size=(7, 3)).astype(np.float32), "gate/b": rng.uniform(size=(7, 5)).astype(
        np.float16), "n": np.arange(4, dtype=np.int64), "empty": np.zeros((0, 2), np.float32)}
    save_file(arrays, str(tmp_path / "x.safetensors"))
    lazy, full = StoredArrays(tmp_path / "x.safetensors"), load_file(str(tmp_path / "x.safetensors"))
    assert set(lazy) == set(full)
    for name, value in full.items():
        got = lazy[name]
        assert got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)
    assert isinstance(lazy["gate/a"], np.memmap) and not lazy["gate/a"].flags.writeable
    assert lazy.nbytes("gate/b") == 7 * 5 * 2


def test_stored_arrays_refuse_a_file_that_is_not_safetensors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(ValueError, match="not a safetensors file"):
        StoredArrays(tmp_path / "bad.safetensors")


def test_a_loaded_run_reads_gates_lazily_and_keeps_moments_that_match_a_hand_computation(tmp_path):
    run = make_run(n_per_class=(5, 7, 0, 4), channels=(3, 6), seed=3)
    run.save(tmp_path / "r")
    back = Run.load(tmp_path / "r")
    assert back.folder == tmp_path / "r"
    for name, values in run.gate_values.items():
        assert isinstance(back.gate_values[name], np.memmap)
        np.testing.assert_array_equal(back.gate_values[name], values)
    assert set(back.moments) == {"label", "pred"}
    labels, preds = run.images["label"].to_numpy(), run.images["pred"].to_numpy()
    for by, classes in (("label", labels), ("pred", preds)):
        m = back.moments[by]
        for block, values in run.gate_values.items():
            v = values.astype(np.float64)
            for k in range(4):
                rows = v[classes == k]
                if len(rows):
                    np.testing.assert_allclose(m.mean[block][k], rows.mean(0), rtol=1e-12)
                    np.testing.assert_allclose(m.m2[block][k], ((rows - rows.mean(0)) ** 2).sum(0), atol=1e-12)
                else:
                    assert m.n[k] == 0
            np.testing.assert_allclose(m.all_mean[block], v.mean(0), rtol=1e-12)


def test_a_summary_only_run_stays_without_gate_arrays(tmp_path):
    from se_analysis.runs.moments import GateMoments

    full = make_run(seed=1)
    moments = {by: GateMoments.from_arrays(full.gate_values, full.images[col].to_numpy(), 4)
               for by, col in (("label", "label"), ("pred", "pred"))}
    lean = Run(images=full.images, gate_values={}, logits=full.logits, manifest=full.manifest, moments=moments)
    lean.save(tmp_path / "lean")
    back = Run.load(tmp_path / "lean")
    assert not back.has_gate_arrays and set(back.moments) == {"label", "pred"}
    np.testing.assert_array_equal(back.moments["label"].mean["SE_2_1"], moments["label"].mean["SE_2_1"])


def test_references_name_a_store_key_or_a_run_folder_inside_the_roots(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "store")
    run = make_run(seed=2)
    store.put("abc123", run)
    inside, outside = tmp_path / "data", tmp_path / "elsewhere"
    run.save(inside / "myrun")
    run.save(outside / "other")
    (inside / "images").mkdir()
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(inside))
    assert run_folder("abc123", store) == store.path("abc123")
    assert run_folder(str(inside / "myrun"), store) == (inside / "myrun").resolve()
    with pytest.raises(RunNotFound, match="only Run folders inside the data roots"):
        run_folder(str(outside / "other"), store)
    assert run_folder(str(outside / "other"), store, trusted=[str(outside / "other")]) == (outside / "other").resolve()
    with pytest.raises(RunNotFound, match="is not a Run folder"):
        run_folder(str(inside / "images"), store)
    with pytest.raises(RunNotFound, match="no run 'nokey'"):
        run_folder("nokey", store)
    assert is_run_folder(inside / "myrun") and not is_run_folder(inside / "images")
    assert run_id("abc123") == "abc123"
    rid = run_id(str(inside / "myrun"))
    assert rid.isalnum() and rid == run_id(str(inside / "." / "myrun")) != run_id(str(outside / "other"))


def _run_in(folder, seed=4):
    run = make_run(n_per_class=(4, 4), seed=seed)
    run.manifest.update(model="tiny", weights="w", data="synthetic", created="2026-01-01T00:00:00", n_images=len(run),
                        device="cuda", host="gpu-box-that-is-not-here",
                        data_spec={"kind": "folder", "root": "/nonexistent/imagenet/val"})
    run.images["source"] = [f"/nonexistent/imagenet/val/x/{i}.JPEG" for i in range(len(run))]
    run.save(folder)
    return run


def test_a_link_opens_a_run_folder_in_place_and_says_its_images_are_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    _run_in(tmp_path / "copied-from-gpu-box")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run=str(tmp_path / "copied-from-gpu-box"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(str(tmp_path / "copied-from-gpu-box") in c.value for c in at.caption)
    said = " ".join(i.value for i in at.info)
    assert "/nonexistent/imagenet/val on gpu-box-that-is-not-here, which is not on this machine" in said
    at.switch_page(str(PAGES / "paper.py")).run()
    no_errors(at)
    assert at.get("plotly_chart")
    assert at.query_params["run"] == str(tmp_path / "copied-from-gpu-box")
    at.switch_page(str(PAGES / "ablation.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not os.listdir(RunStore().root) if RunStore().root.exists() else True  # opened in place, nothing copied


def test_a_link_to_a_folder_outside_the_roots_says_why_it_does_not_open(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path / "roots"))
    _run_in(tmp_path / "outside")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run=str(tmp_path / "outside"))
    at.run()
    assert not at.exception
    at.switch_page(str(PAGES / "paper.py")).run()
    assert any("only Run folders inside the data roots" in e.value.lower() or "Only Run folders" in e.value
               for e in at.error), [e.value for e in at.error]


def test_a_run_folder_typed_into_the_folder_box_is_recognised_and_opens(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    _run_in(tmp_path / "a-run")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="data_kind").set_value("folder on this machine").run()
    at.text_input(key="folder").input(str(tmp_path / "a-run")).run()
    no_errors(at)
    assert any("This folder is a **Run**" in i.value for i in at.info)
    at.button(key="open_run_from_folder").click().run()
    no_errors(at)
    assert at.query_params["run"] == str(tmp_path / "a-run")
    assert any(m.label == "Images" and m.value == "8" for m in at.metric)


def test_open_a_stored_run_lists_the_store_and_opens_by_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    run = make_run(n_per_class=(3, 3), seed=5)
    run.manifest.update(model="tiny", weights="w", data="synthetic set", created="2026-02-02T10:00:00", n_images=6)
    RunStore().put("stored1", run)
    _run_in(tmp_path / "by-path")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    listing = at.dataframe[0].value
    assert list(listing["key"]) == ["stored1"] and list(listing["images"]) == [6]
    assert listing["size (MB)"].iloc[0] == round(sum(f.stat().st_size for f in RunStore().path("stored1").iterdir())
                                                 / 2**20, 1)
    at.button(key="open_stored").click().run()
    no_errors(at)
    assert at.query_params["run"] == "stored1"
    at.text_input(key="run_folder_path").input(str(tmp_path / "by-path")).run()
    at.button(key="open_path").click().run()
    no_errors(at)
    assert at.query_params["run"] == str(tmp_path / "by-path")
    at.text_input(key="run_folder_path").input(str(tmp_path)).run()
    at.button(key="open_path").click().run()
    assert any("is not a Run folder" in e.value for e in at.error)


def test_manifest_records_the_machine_that_made_the_run(tmp_path):
    import socket

    from se_analysis.runs.manifest import new_manifest

    class _Net:  # only what new_manifest reads
        name, weights, weights_id, pretrained, checkpoint, preprocessing, class_names, gates = (
            "m", "w", "id", True, None, {}, ["a"], [])

    class _Images:
        name, fingerprint, spec = "imgs", "f", {"kind": "folder", "root": "/x"}

    m = new_manifest(_Net(), _Images(), device="cpu", amp_dtype=None, batch_size=1, channels_last=False, n_images=0,
                     n_skipped=0, summary_only=False)
    assert m["host"] == socket.gethostname()
    json.dumps(m)


def test_a_run_saved_over_the_folder_it_was_read_from_still_reads_its_own_values(tmp_path):
    """Saving a loaded Run back over its folder (adding the moments old Runs lack) replaces the file; the
    Run still open reads its own arrays (the file it mapped), never the new file at the old offsets."""
    run = make_run(seed=6)
    Run(images=run.images, gate_values=run.gate_values, logits=run.logits, manifest=run.manifest).save(tmp_path / "r")
    opened = Run.load(tmp_path / "r")
    other = make_run(seed=7, channels=(3, 5))
    other.save(tmp_path / "r")  # another Run over the same folder
    for name, values in run.gate_values.items():
        np.testing.assert_array_equal(opened.gate_values[name], values)
    np.testing.assert_array_equal(Run.load(tmp_path / "r").gate_values["SE_2_1"], other.gate_values["SE_2_1"])


def test_a_run_copied_only_in_part_says_so(tmp_path):
    make_run(seed=8).save(tmp_path / "r")
    f = tmp_path / "r" / "arrays.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cut short or damaged"):
        Run.load(tmp_path / "r")
    (tmp_path / "r" / "arrays.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ValueError, match="does not fit"):
        Run.load(tmp_path / "r")


def test_a_folder_named_like_a_key_opens_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(seed=9).save(tmp_path / "run1")
    assert run_folder("run1", RunStore(tmp_path / "store"), trusted=["run1"]) == (tmp_path / "run1").resolve()
    before = run_id("run1")
    assert before != "run1" and before.isalnum()
    make_run(seed=10).save(tmp_path / "run1")  # written again: a new Run to every cache
    assert run_id("run1") != before


def test_replacement_statistics_describe_the_replacement_not_the_stored_moments(tmp_path):
    """A loaded Run keeps moments of its own gates; the statistics of the values put in their place must not
    be read from them (a constant 0.5 has mean 0.5 and no spread)."""
    from se_analysis.ablation.spec import Ablation, replacement_stats

    make_run(seed=11).save(tmp_path / "r")
    run = Run.load(tmp_path / "r")
    table = replacement_stats(Ablation(("SE_3_1",), "constant", 0.5), run)
    np.testing.assert_allclose(table["mean"], 0.5)
    np.testing.assert_allclose(table["std"].fillna(0), 0.0, atol=1e-12)


def test_compare_offers_a_run_opened_by_path_as_run_a(tmp_path, monkeypatch):
    """A Run opened in place (not in the store) is Run A on the Compare page, against a stored Run with its gates:
    the numbers are those of the library's comparison of the two."""
    from se_analysis.analysis.two_runs import channel_shift

    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    opened = _run_in(tmp_path / "copied-from-gpu-box")
    stored = _run_in(tmp_path / "other", seed=9)
    RunStore().put("stored9", Run.load(tmp_path / "other"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run=str(tmp_path / "copied-from-gpu-box"))
    at.run()
    at.switch_page(str(PAGES / "compare.py")).run()
    no_errors(at)
    assert at.selectbox(key="compare_a").value == str(tmp_path / "copied-from-gpu-box")
    assert at.selectbox(key="compare_b").value == "stored9"
    assert at.get("plotly_chart")
    expected = channel_shift(opened, stored)
    (shown,) = [d.value for d in at.dataframe if "mean_abs_diff" in d.value.columns]
    for block, rows in expected.groupby("block"):  # the per-block shift, from the gates by hand
        a, b = opened.gate_values[block].astype(float), stored.gate_values[block].astype(float)
        by_hand = np.abs(a.mean(0) - b.mean(0)).mean()
        assert shown.set_index("block").loc[block, "mean_abs_diff"] == pytest.approx(by_hand)


def test_compare_offers_every_run_this_session_opened_by_path(tmp_path, monkeypatch):
    """Two Runs opened by path on the Run page, none in the store: Compare offers both, the current one as A and
    the other as B, and compares them (the per-block shift from the gates by hand)."""
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    first = _run_in(tmp_path / "first")
    second = _run_in(tmp_path / "second", seed=9)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for folder in ("first", "second"):
        at.text_input(key="run_folder_path").input(str(tmp_path / folder)).run()
        at.button(key="open_path").click().run()
        no_errors(at)
    at.switch_page(str(PAGES / "compare.py")).run()
    no_errors(at)
    assert at.selectbox(key="compare_a").value == str(tmp_path / "second")
    assert at.selectbox(key="compare_b").value == str(tmp_path / "first")
    (shown,) = [d.value for d in at.dataframe if "mean_abs_diff" in d.value.columns]
    for block in second.gate_names:
        a, b = second.gate_values[block].astype(float), first.gate_values[block].astype(float)
        assert shown.set_index("block").loc[block, "mean_abs_diff"] == pytest.approx(np.abs(a.mean(0) - b.mean(0)).mean())
