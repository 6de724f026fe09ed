"""Figures and tables out of the app: PNG/SVG/HTML files, tidy tables, and a one-file HTML report.

Static images are rendered by kaleido, which drives a Chromium-family browser: it uses
``$BROWSER_PATH`` when set, else Debian's ``/usr/bin/chromium`` when present. The report is
one self-contained HTML file (plotly.js inlined once), readable offline.
"""

from __future__ import annotations

import atexit
import os
import threading
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from se_analysis.export.report import report_html
from se_analysis.export.tables import write_table
from se_analysis.plots import ablation as plots_ablation
from se_analysis.runs.run import Run
from se_analysis.views.channel import channel_view
from se_analysis.views.contrast import contrast_view
from se_analysis.views.standard import ablation_figures, standard_figures, standard_tables
from se_analysis.views.two_runs import two_runs_view

__all__ = ["figure_bytes", "write_figure", "write_figures", "export_run", "FORMATS"]


FORMATS = ("png", "svg", "html")


_KALEIDO_LOCK = threading.Lock()
_kaleido_started = False


def _ensure_browser() -> None:
    """Point kaleido at a system Chromium and keep one browser running for all images (0.15 s each, not 2 s)."""
    global _kaleido_started
    if not os.environ.get("BROWSER_PATH"):
        for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"):
            if os.path.exists(candidate):
                os.environ["BROWSER_PATH"] = candidate
                break
    if not _kaleido_started:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        atexit.register(kaleido.stop_sync_server, silence_warnings=True)
        _kaleido_started = True


def figure_bytes(fig: go.Figure, fmt: str, width: int = 1200, height: int | None = None, scale: float = 2) -> bytes:
    """A figure as PNG, SVG (kaleido) or interactive, self-contained HTML."""
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True).encode()
    if fmt not in ("png", "svg"):
        raise ValueError(f"unknown format {fmt!r}; choose png, svg or html")
    import plotly.io as pio

    h = height or fig.layout.height or 600
    with _KALEIDO_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The kopts argument is ignored")
        _ensure_browser()
        return pio.to_image(fig, format=fmt, width=width, height=h, scale=scale if fmt == "png" else 1)



def write_figure(fig: go.Figure, path: str | Path, fmt: str, self_contained: bool = False) -> Path:
    """Write one figure as ``fmt`` (png, svg, html) to ``path``.

    HTML pages load one ``plotly.min.js`` written beside them (not 4.8 MB inlined in each), unless
    ``self_contained``: then plotly.js is inlined and the file stands alone.
    """
    path = Path(path)
    if fmt == "html" and not self_contained:
        fig.write_html(path, include_plotlyjs="directory")
    else:
        path.write_bytes(figure_bytes(fig, fmt))
    return path


def write_figures(figs: dict[str, go.Figure], out: str | Path, formats: Sequence[str],
                  self_contained: bool = False) -> list[Path]:
    """Write every figure in every format as ``out/<name>.<format>`` (see :func:`write_figure`); return the paths.

    The one figure writer of ``export``, ``compare`` and ``contrast`` (name files with :meth:`View.renamed`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [write_figure(fig, out / f"{name}.{fmt}", fmt, self_contained)
            for name, fig in figs.items() for fmt in formats]


def export_run(run: Run, out: str | Path, formats: Sequence[str] = FORMATS, table_format: str = "csv",
               classes: Sequence[str] | None = None, blocks: Sequence[str] | None = None,
               ablation: dict[str, pd.DataFrame] | None = None, report: bool = True,
               fold: pd.DataFrame | None = None, channels: Sequence[tuple[str, int]] = (),
               compare: Run | None = None, contrast: tuple[str, str, str] | None = None,
               contrast_by: str | None = None, by: str = "label") -> list[Path]:
    """Write every standard figure in ``formats``, every table, and the report; return the paths.

    ``by`` groups the images of the statistics (:data:`~se_analysis.analysis.stats.GroupBy`: ``label``,
    ``pred``, ``folder``, ``superclass:<depth>`` ...), as the app's pages do.

    ``fold`` is a fold search's Pareto table (``fold --budget``); it adds its figure and table.
    ``channels`` adds the One channel views of each (block, channel), with a contact sheet;
    ``compare`` adds the Compare views of this run (A) against that one (B); ``contrast`` (block, class A,
    class B) adds that two-class contrast, its figure and table named after them
    (:func:`~se_analysis.views.contrast.contrast_name`) and its table in the report; ``contrast_by``
    groups its images (default: ``by``, the true label by default, else the prediction).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = standard_tables(run, by=by)
    figs = standard_figures(run, classes, blocks, by=by, tables=tables)
    for block, channel in channels:
        view = channel_view(run, block, channel, by).renamed(suffix=f"_{block}_ch{channel}")
        figs.update(view.figures)
        tables.update(view.tables)
        for name, picture in view.pictures.items():
            picture.save(out / f"{name}.png")
    if compare is not None:
        view = two_runs_view(run, compare).renamed(prefix="compare_")
        figs.update(view.figures)
        tables.update(view.tables)
    contrast_table = None
    if contrast is not None:
        block, class_a, class_b = contrast
        by_contrast = contrast_by or (by if by != "label" or run.has_labels else "pred")
        view = contrast_view(run, block, class_a, class_b, by=by_contrast)
        contrast_table = view.tables["contrast"]
        view = view.renamed(names={"contrast": view.facts["name"]})
        figs.update(view.figures)
        tables.update(view.tables)
    if ablation:
        figs.update(ablation_figures(ablation))
        tables.update({f"ablation_{k}": v for k, v in ablation.items()})
    if fold is not None:
        figs["fold_pareto"] = plots_ablation.fold_pareto(fold)
        tables["fold_pareto"] = fold
    written = write_figures(figs, out, formats)
    for name, df in tables.items():
        written.append(write_table(df, out / f"{name}.{table_format}"))
    if report:
        path = out / "report.html"
        page = report_html(run, figs, tables.get("block_stats"), ablation, fold, contrast_table)
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written
