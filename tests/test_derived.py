"""Tables kept beside a Run (PCA, decodability), the compact channel table, and Runs with blocks missing."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from se_analysis.analysis import separation, stats
from se_analysis.cli import main
from se_analysis.runs.derived import derived_table, stored_table
from se_analysis.runs.run import DERIVED_FOLDER, Run
from tests.conftest import make_run
from tests.test_app import APP, PAGES, no_errors


def _saved(tmp_path, **kwargs) -> Run:
    run = make_run(**kwargs)
    run.manifest["created"] = "2026-12-01T10:00:00"
    return Run.load(run.save(tmp_path / "run"))


def test_a_derived_table_is_computed_once_and_kept_in_the_run_folder(tmp_path):
    run = _saved(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1.5, 2.5], "block": ["a", "b"]})

    first = derived_table(run, "thing", compute)
    again = derived_table(Run.load(run.folder), "thing", compute)  # a new process would open the folder anew
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, again, check_dtype=False)
    assert [p.name.split(".")[0] for p in (run.folder / DERIVED_FOLDER).iterdir()] == ["thing"]
    assert stat.S_IMODE((next((run.folder / DERIVED_FOLDER).iterdir())).stat().st_mode) & 0o044  # readable by others


def test_a_run_written_again_over_its_folder_never_reads_the_old_table(tmp_path):
    run = _saved(tmp_path)
    derived_table(run, "thing", lambda: pd.DataFrame({"x": [1]}))
    other = make_run(seed=3)
    other.manifest["created"] = "2026-12-01T11:00:00"
    other.save(run.folder)
    assert stored_table(Run.load(run.folder), "thing") is None
    assert derived_table(Run.load(run.folder), "thing", lambda: pd.DataFrame({"x": [2]}))["x"].tolist() == [2]


def test_a_run_folder_it_cannot_write_keeps_its_tables_in_the_home_cache(tmp_path):
    run = _saved(tmp_path)
    (run.folder / DERIVED_FOLDER).write_text("a file where the folder would go")  # unwritable, even for root
    derived_table(run, "thing", lambda: pd.DataFrame({"x": [7]}))
    assert stored_table(Run.load(run.folder), "thing")["x"].tolist() == [7]
    assert (run.folder / DERIVED_FOLDER).is_file()


def test_a_damaged_table_is_computed_again(tmp_path):
    run = _saved(tmp_path)
    derived_table(run, "thing", lambda: pd.DataFrame({"x": [1]}))
    (kept,) = (run.folder / DERIVED_FOLDER).iterdir()
    kept.write_bytes(kept.read_bytes()[:20])  # cut short
    assert derived_table(run, "thing", lambda: pd.DataFrame({"x": [5]}))["x"].tolist() == [5]


def test_a_run_in_memory_computes_every_time():
    run, calls = make_run(), []
    for _ in range(2):
        derived_table(run, "thing", lambda: calls.append(1) or pd.DataFrame({"x": [1]}))
    assert len(calls) == 2


def test_stored_pca_and_decodability_equal_fresh_ones_for_any_grouping(tmp_path):
    run = _saved(tmp_path, n_per_class=(6, 6, 5, 4), channels=(4, 6))
    for by in ("label", "pred"):
        for _ in range(2):  # computed and kept, then read back from the folder by a Run opened anew
            pd.testing.assert_frame_equal(separation.stored_gate_pca(run, by), separation.gate_pca(run, by),
                                          check_dtype=False)
            pd.testing.assert_frame_equal(separation.stored_decodability(run, by), separation.decodability(run, by),
                                          check_dtype=False)
            run = Run.load(run.folder)
    assert len(list((run.folder / DERIVED_FOLDER).iterdir())) == 3  # one PCA for both groupings


def test_a_run_open_while_another_is_saved_over_its_folder_keeps_its_tables_apart(tmp_path):
    """The fingerprint is that of the files a Run was opened from: the old Run's table, computed after the
    new one replaced it on disk, is never read as the new one's."""
    old = _saved(tmp_path)
    new = make_run(seed=3)
    new.manifest["created"] = "2026-12-01T11:00:00"
    new.save(old.folder)
    derived_table(old, "thing", lambda: pd.DataFrame({"x": [1]}))  # the old Run, still open, keeps its own
    assert derived_table(Run.load(old.folder), "thing", lambda: pd.DataFrame({"x": [2]}))["x"].tolist() == [2]
    assert stored_table(Run.load(old.folder), "thing")["x"].tolist() == [2]  # kept; the old Run's is gone


def test_tables_of_an_older_recipe_are_computed_again(tmp_path, monkeypatch):
    from se_analysis.runs import derived

    run = _saved(tmp_path)
    derived_table(run, "thing", lambda: pd.DataFrame({"x": [1]}))
    monkeypatch.setattr(derived, "DERIVED_VERSION", derived.DERIVED_VERSION + 1)
    assert derived_table(run, "thing", lambda: pd.DataFrame({"x": [2]}))["x"].tolist() == [2]
    assert len(list((run.folder / DERIVED_FOLDER).iterdir())) == 1  # the old one removed


def test_pca_past_its_fit_rows_projects_every_image_on_the_subset_s_axes(monkeypatch):
    """Axes from an SVD of the evenly spaced rows (centred by the mean of all), every row projected (by hand)."""
    monkeypatch.setattr(separation, "PCA_FIT_ROWS", 7)
    run = make_run(n_per_class=(9, 9, 9, 2), channels=(5, 4), seed=4)
    got = separation.gate_pca(run)
    for block in run.gate_names:
        v = run.gate_values[block].astype(np.float64)
        x = v - v.mean(0)
        pick = np.round(np.linspace(0, len(v) - 1, 7)).astype(int)
        _, s, vt = np.linalg.svd(x[pick], full_matrices=False)
        rows = got[got["block"] == block]
        for i, col in enumerate(("pc1", "pc2")):
            np.testing.assert_allclose(np.abs(rows[col]), np.abs(x @ vt[i]), atol=1e-10)
        assert rows["pc1_share"].iloc[0] == pytest.approx(s[0] ** 2 / (s ** 2).sum())
    assert len(got) == len(run) * 2


def test_the_compact_channel_table_holds_the_same_numbers(monkeypatch):
    """Past CATEGORICAL_ROWS: categorical block and class, float32 means; the values are those of a groupby
    over the gates (a second method), and two classes sharing a name share a category, as before."""
    run = make_run(n_per_class=(5, 7, 0, 4), channels=(3, 5), seed=2)
    run.manifest["class_names"] = ["crane", "pug", "goldfish", "crane"]
    full = stats.channel_stats(run)
    monkeypatch.setattr(stats, "CATEGORICAL_ROWS", 0)
    compact = stats.channel_stats(run)
    assert isinstance(compact["class"].dtype, pd.CategoricalDtype) and compact["mean"].dtype == np.float32
    assert list(compact["block"].cat.categories) == run.gate_names
    assert compact["class"].astype(str).tolist() == full["class"].astype(str).tolist()
    for col in ("block", "channel", "class_index", "n", "depth"):
        assert compact[col].astype(str).tolist() == full[col].astype(str).tolist()
    y = run.images["label"].to_numpy()
    for block in run.gate_names:
        v = pd.DataFrame(run.gate_values[block].astype(np.float64))
        by_hand = v.groupby(y).mean()
        rows = compact[(compact["block"] == block) & (compact["class_index"] >= 0)]
        spread = v.groupby(y).std(ddof=0)
        for r in rows.itertuples():
            assert r.mean == pytest.approx(by_hand.loc[r.class_index, r.channel], rel=1e-6)
            assert r.std == pytest.approx(spread.loc[r.class_index, r.channel], rel=1e-5, abs=1e-7)
            assert r.n == (y == r.class_index).sum()
        pooled = compact[(compact["block"] == block) & (compact["class"] == "all")]
        np.testing.assert_allclose(pooled["mean"], v.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(pooled["std"], v.std(axis=0, ddof=0), rtol=1e-5)
    assert stats.present_classes(compact) == ["crane", "pug"]


def test_a_run_folder_missing_a_block_says_so(tmp_path):
    from safetensors.numpy import load_file, save_file

    run = _saved(tmp_path)
    arrays = load_file(str(run.folder / "arrays.safetensors"))
    del arrays["gate/SE_3_1"]
    save_file(arrays, str(run.folder / "arrays.safetensors"))
    with pytest.raises(ValueError, match="lacks the gates of SE_3_1"):
        Run.load(run.folder)
    partial = make_run()
    del partial.gate_values["SE_3_1"]
    with pytest.raises(ValueError, match="not for SE_3_1"):
        partial.save(tmp_path / "partial")
    assert not (tmp_path / "partial").exists()


def test_extract_keeps_the_depth_page_s_tables_and_the_page_reads_them(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["extract", "--model", "default", "--data", "sample", "--split", "eval", "--out", str(out),
                 "--quiet"]) == 0
    run = Run.load(out)
    kept = sorted(p.name.split(".")[0] for p in (out / DERIVED_FOLDER).iterdir())
    assert kept == ["decodability-label", f"pca-fit{separation.PCA_FIT_ROWS}"]
    expected = separation.decodability(run)

    def never(*args, **kwargs):
        raise AssertionError("computed again although the Run folder keeps it")

    monkeypatch.setattr(separation, "decodability", never)
    monkeypatch.setattr(separation, "pca_scores", never)
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["run"] = str(out)
    at.run()
    at.switch_page(str(PAGES / "depth.py")).run()
    no_errors(at)
    shown = [e for e in at.get("dataframe") if len(e.value) == len(expected) and "accuracy" in e.value.columns]
    assert shown and np.allclose(shown[0].value["accuracy"], expected["accuracy"])


def test_a_run_s_size_counts_its_kept_tables(tmp_path):
    from se_analysis.runs.run import folder_size

    run = _saved(tmp_path)
    before = sum(p.stat().st_size for p in run.folder.iterdir())
    derived_table(run, "thing", lambda: pd.DataFrame({"x": np.arange(1000)}))
    (kept,) = (run.folder / DERIVED_FOLDER).iterdir()
    assert folder_size(run.folder) == before + kept.stat().st_size


def test_computing_the_kept_tables_tells_its_progress_block_by_block(tmp_path):
    """An older Run's first Depth open shows how far the kept tables have got: after each block, the share of
    the channels done (PCA first, a third of the bar, then decodability), and then reads them."""
    run = _saved(tmp_path, channels=(3, 5, 8))
    assert separation.separation_to_compute(run) and not separation.separation_to_compute(make_run())
    told = []
    separation.precompute_separation(run, progress=lambda done, what: told.append((round(done, 12), what)))
    by_hand = [(round(a + w * c / 16, 12), f"{phase}: {b}") for phase, a, w in (("PCA", 0, 1 / 3),
                                                                               ("decodability", 1 / 3, 2 / 3))
               for b, c in (("SE_2_1", 3), ("SE_3_1", 8), ("SE_4_1", 16))]
    assert told == by_hand
    again = Run.load(run.folder)
    assert not separation.separation_to_compute(again) and separation.separation_to_compute(again, "pred")
    told.clear()
    separation.precompute_separation(again, "pred", lambda done, what: told.append(round(done, 12)))
    assert told == [round(c / 16, 12) for c in (3, 8, 16)]  # the PCA is kept: decodability is the whole bar


def test_the_depth_page_computes_an_older_run_s_tables_once_and_keeps_them(tmp_path, monkeypatch):
    run = _saved(tmp_path)
    assert not (run.folder / DERIVED_FOLDER).exists()
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["run"] = str(run.folder)
    at.run()
    at.switch_page(str(PAGES / "depth.py")).run()
    no_errors(at)
    assert not separation.separation_to_compute(Run.load(run.folder))
    expected = separation.decodability(run)
    shown = [e for e in at.get("dataframe") if len(e.value) == len(expected) and "accuracy" in e.value.columns]
    assert shown and np.allclose(shown[0].value["accuracy"], expected["accuracy"])


def test_the_home_cache_keeps_the_most_recently_used_runs_only(tmp_path, monkeypatch):
    """Tables of read-only Run folders go to the home cache, which keeps the Runs last used (read or written)
    and removes the others' tables; a Run whose tables were removed computes them again."""
    import os

    from se_analysis.runs import derived

    monkeypatch.setattr(derived, "HOME_RUNS_KEPT", 3)
    home = Path(os.environ["SE_ANALYSIS_HOME"]) / DERIVED_FOLDER
    runs = []
    for i in range(5):
        run = make_run(seed=i)
        run.manifest["created"] = f"2026-12-01T10:00:0{i}"
        run = Run.load(run.save(tmp_path / f"run{i}"))
        (run.folder / DERIVED_FOLDER).write_text("a file where the folder would go")
        runs.append(run)
    for i, run in enumerate(runs[:3]):
        derived_table(run, "thing", lambda i=i: pd.DataFrame({"x": [i]}))
        os.utime(home / run.fingerprint, (1_000 + i, 1_000 + i))  # used in this order, a second apart
    assert stored_table(runs[0], "thing")["x"].tolist() == [0]  # read: now the most recently used
    derived_table(runs[3], "thing", lambda: pd.DataFrame({"x": [3]}))
    derived_table(runs[4], "thing", lambda: pd.DataFrame({"x": [4]}))
    assert sorted(p.name for p in home.iterdir()) == sorted(r.fingerprint for r in (runs[0], runs[3], runs[4]))
    assert stored_table(runs[1], "thing") is None and stored_table(runs[2], "thing") is None
    assert stored_table(runs[0], "thing")["x"].tolist() == [0]


def test_export_of_an_older_run_keeps_its_tables_and_says_how_far_it_is(tmp_path, capsys):
    run = _saved(tmp_path)
    assert main(["export", "--run", str(run.folder), "--out", str(tmp_path / "out"), "--formats", "html",
                 "--no-report"]) == 0
    assert "kept tables (decodability: SE_3_1)" in capsys.readouterr().err  # the bar names the last block
    assert not separation.separation_to_compute(Run.load(run.folder))
    assert main(["export", "--run", str(run.folder), "--out", str(tmp_path / "again"), "--formats", "html",
                 "--no-report"]) == 0
    assert "kept tables" not in capsys.readouterr().err  # read, not computed again
