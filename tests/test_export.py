"""Export: figures to PNG/SVG/HTML, tables, and the self-contained report, from the library and the CLI."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from se_analysis.export.files import figure_bytes
from se_analysis.export.report import report_html
from se_analysis.views.standard import standard_figures
from tests.conftest import make_run

needs_browser = pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium for kaleido")


def test_standard_figures_and_report_are_self_contained():
    run = make_run()
    run.manifest.update(model="tiny", data="synthetic", weights="w", pretrained=False)
    figs = standard_figures(run, classes=["c0", "c1"], blocks=["SE_3_1"])
    assert set(figs) == {"paper_figure", "specificity", "depth_box", "within_class", "class_heatmap_SE_3_1",
                         "class_similarity_SE_3_1", "decodability", "pca_over_depth"}  # similarity: at the deepest block
    assert all("random weights" in f.layout.title.subtitle.text for f in figs.values())
    page = report_html(run, figs)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.findall(r"<script[^>]*\bsrc=", page)  # plotly.js is inlined, nothing is fetched
    body = page.split("</head>")[1]
    assert "http://" not in body and "https://" not in body
    assert len(re.findall(r'<div id="[^"]+" class="plotly-graph-div"', body)) == len(figs)
    assert "Random weights" in body


@needs_browser
def test_png_and_svg():
    fig = standard_figures(make_run())["specificity"]
    assert figure_bytes(fig, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in figure_bytes(fig, "svg")[:200]
    with pytest.raises(ValueError, match="unknown format"):
        figure_bytes(fig, "gif")


@needs_browser
def test_cli_export(tmp_path):
    from se_analysis.cli import main

    run_dir = tmp_path / "run"
    assert main(["extract", "--split", "eval", "--out", str(run_dir), "--quiet"]) == 0
    assert main(["ablate", "--run", str(run_dir), "--blocks", "SE_4_3", "--out", str(tmp_path / "abl.csv")]) == 0
    out = tmp_path / "export"
    assert main(["export", "--run", str(run_dir), "--out", str(out), "--formats", "png,svg,html",
                 "--ablation", str(tmp_path / "abl.csv"), "--table-format", "parquet"]) == 0
    for name in ("paper_figure", "specificity", "depth_box", "ablation_per_class"):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.svg").exists()
        assert (out / f"{name}.html").exists()
    assert (out / "plotly.min.js").exists()
    assert len(pd.read_parquet(out / "block_stats.parquet")) == 9
    report = (out / "report.html").read_text()
    assert "SE_4_3" in report and "Ablation" in report and "Flipped predictions" in report


def test_per_image_gate_values_round_trip(tmp_path):
    """export --per-image writes each image's gates, one row per (image, block, channel), equal to the Run's arrays."""
    import pandas as pd

    from se_analysis.cli import main
    from tests.conftest import make_run

    run = make_run()
    run.save(tmp_path / "run")
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--formats", "html",
                 "--table-format", "parquet", "--no-report", "--per-image"]) == 0
    table = pd.read_parquet(tmp_path / "out" / "gate_values.parquet")
    assert len(table) == len(run) * (3 + 5)
    for block, v in run.gate_values.items():
        wide = table[table["block"] == block].pivot(index="image_id", columns="channel", values="value")
        np.testing.assert_array_equal(wide.loc[run.images["image_id"]].to_numpy(), v)


def test_export_adds_channel_and_compare_views(tmp_path):
    """export --channel and --compare put the One channel and Compare views into the files and the report."""
    from se_analysis.analysis.two_runs import block_shift, channel_shift
    from se_analysis.cli import main

    a, b = make_run(seed=1), make_run(seed=2)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert main(["export", "--run", str(tmp_path / "a"), "--out", str(tmp_path / "o"), "--formats", "html",
                 "--channel", "SE_3_1:2", "--compare", str(tmp_path / "b")]) == 0
    out = tmp_path / "o"
    for name in ("channel_SE_3_1_ch2.html", "top_images_SE_3_1_ch2.csv", "contact_sheet_SE_3_1_ch2.png",
                 "compare_shift.html", "compare_block_shift.csv", "decodability.csv"):
        assert (out / name).exists(), name
    got = pd.read_csv(out / "compare_block_shift.csv")
    np.testing.assert_allclose(got["mean_abs_diff"], block_shift(channel_shift(a, b))["mean_abs_diff"])
    report = (out / "report.html").read_text()
    assert "compare shift" in report and "channel SE 3 1 ch2" in report
    assert main(["export", "--run", str(tmp_path / "a"), "--out", str(out), "--channel", "SE_3_1"]) == 2


def test_export_and_the_report_include_a_contrast(tmp_path):
    """Issue 20, item 13: export --contrast A,B --contrast-block puts the contrast's figure and table, named after
    block and classes, into the files and the report, with its classes, n per class and p in scientific notation."""
    from se_analysis.analysis.contrast import contrast
    from se_analysis.cli import main

    run = make_run(n_per_class=(12, 9, 0, 4), seed=3)
    run.gate_values["SE_3_1"][run.images["label"].to_numpy() == 0, 1] += 0.8  # channel 1: c0 far higher
    run.save(tmp_path / "run")
    out = tmp_path / "o"
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(out), "--formats", "html",
                 "--contrast", "c0,c1", "--contrast-block", "SE_3_1"]) == 0
    name = "contrast_SE_3_1_c0_vs_c1"
    assert (out / f"{name}.html").exists()
    table = pd.read_csv(out / f"{name}.csv")
    expected = contrast(run, "SE_3_1", "c0", "c1")
    np.testing.assert_allclose(table["cohens_d"], expected["cohens_d"])
    report = (out / "report.html").read_text()
    assert "Two classes: c0 (A, n = 12) against c1 (B, n = 9) at SE_3_1" in report
    assert name.replace("_", " ") in report  # the figure's heading
    p = expected.set_index("channel").loc[1, "p_adjusted"]
    assert f"<td>{p:.2e}</td>" in report and p < 1e-3  # not 0.0009
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(out), "--contrast", "c0"]) == 2
