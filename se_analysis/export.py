"""Figures and tables out of the app: PNG/SVG/HTML files, tidy tables, and a one-file HTML report.

Static images are rendered by kaleido, which drives a Chromium-family browser: it uses
``$BROWSER_PATH`` when set, else Debian's ``/usr/bin/chromium`` when present. The report is
one self-contained HTML file (plotly.js inlined once), readable offline.
"""

from __future__ import annotations

import atexit
import datetime as dt
import html
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from . import plots, plots_ablation, stats
from .blocks import paper_blocks
from .runs import Run
from .tables import write_table

__all__ = ["figure_bytes", "standard_figures", "standard_tables", "export_run", "report_html", "FORMATS"]

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


def standard_figures(run: Run, classes: Sequence[str] | None = None, blocks: Sequence[str] | None = None,
                     by: str = "label", tables: dict[str, pd.DataFrame] | None = None) -> dict[str, go.Figure]:
    """The figures the app shows for a run, with the app's defaults where no choice is given.

    ``tables``: :func:`standard_tables` of the same run and grouping, when the caller has them
    already (they are computed here otherwise, once).
    """
    tables = tables if tables is not None else standard_tables(run, by=by)
    cs, bstats = tables["channel_stats"], tables["block_stats"]
    chosen = list(classes) if classes else stats.distinct_classes(cs)
    chosen_blocks = list(blocks) if blocks else paper_blocks(run.gates)
    last = run.gate_names[-1]
    figs = {
        "paper_figure": plots.paper_figure(cs, chosen_blocks, chosen),
        "specificity": plots.specificity_curve(bstats),
        "depth_box": plots.depth_box(tables["block_quantiles"]),
        "within_class": plots.within_class_band(cs, last, chosen[:2]),
    }
    for block in chosen_blocks:
        figs[f"class_heatmap_{block}"] = plots.class_heatmap(stats.heatmap_table(cs, block))
    from .similarity import class_similarity

    sim, order = class_similarity(cs, last)
    figs[f"class_similarity_{last}"] = plots.similarity_heatmap(sim, order)
    if run.has_gate_arrays:
        from .plots_separation import decodability_curve, pca_small_multiples
        from .separation import gate_pca

        if "decodability" in tables:  # absent with fewer than two classes: nothing to decode
            figs["decodability"] = decodability_curve(tables["decodability"])
        figs["pca_over_depth"] = pca_small_multiples(gate_pca(run, by=by))
    if not run.manifest.get("pretrained", True):
        for fig in figs.values():
            plots.add_warning(fig, "random weights: not a trained network")
    return figs


def standard_tables(run: Run, by: str = "label") -> dict[str, pd.DataFrame]:
    """The tidy tables behind the standard figures, plus the images table."""
    tables = {"images": run.images, "channel_stats": stats.channel_stats(run, by=by),
              "block_stats": stats.block_stats(run, by=by), "block_quantiles": stats.block_quantiles(run),
              "skipped": run.skipped}
    if run.has_gate_arrays:
        from .separation import decodability

        try:
            tables["decodability"] = decodability(run, by=by)
        except ValueError:
            pass
    return tables


def ablation_figures(tables: dict[str, pd.DataFrame]) -> dict[str, go.Figure]:
    """Figures of one ablation's tables (``AblationResult.tables()``)."""
    return {"ablation_per_class": plots_ablation.per_class_accuracy(tables["per_class"]),
            "ablation_downstream": plots_ablation.downstream_shift(tables["downstream"])}


def channel_views(run: Run, block: str, channel: int, by: str = "label", k: int = 16
                  ) -> tuple[dict[str, go.Figure], dict[str, pd.DataFrame]]:
    """The One channel page's figure and tables for (block, channel)."""
    from .drilldown import channel_rank, channel_values, top_images
    from .plots_separation import channel_violin

    values = channel_values(run, block, channel, by)
    rank = channel_rank(stats.channel_stats(run, by=by, blocks=[block]), block, channel)
    name = f"{block}_ch{channel}"
    return ({f"channel_{name}": channel_violin(values, rank)},
            {f"top_images_{name}": top_images(run, block, channel, k), f"channel_values_{name}": values})


def compare_views(run: Run, other: Run) -> tuple[dict[str, go.Figure], dict[str, pd.DataFrame]]:
    """The Compare page's figures and tables, this run as A and ``other`` as B."""
    from .plots_compare import difference_per_channel, shift_per_block, specificity_both
    from .run_compare import block_shift, channel_shift, specificity_pair

    shift = channel_shift(run, other)
    blocks = block_shift(shift)
    pair = specificity_pair(run, other)
    deepest = blocks["block"].iloc[-1]
    return ({"compare_shift": shift_per_block(blocks), "compare_specificity": specificity_both(pair),
             f"compare_difference_{deepest}": difference_per_channel(shift, deepest)},
            {"compare_channel_shift": shift, "compare_block_shift": blocks, "compare_specificity": pair})


def export_run(run: Run, out: str | Path, formats: Sequence[str] = FORMATS, table_format: str = "csv",
               classes: Sequence[str] | None = None, blocks: Sequence[str] | None = None,
               ablation: dict[str, pd.DataFrame] | None = None, report: bool = True,
               fold: pd.DataFrame | None = None, channels: Sequence[tuple[str, int]] = (),
               compare: Run | None = None) -> list[Path]:
    """Write every standard figure in ``formats``, every table, and the report; return the paths.

    ``fold`` is a fold search's Pareto table (``fold --budget``); it adds its figure and table.
    ``channels`` adds the One channel views of each (block, channel), with a contact sheet;
    ``compare`` adds the Compare views of this run (A) against that one (B).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = standard_tables(run)
    figs = standard_figures(run, classes, blocks, tables=tables)
    for block, channel in channels:
        f, t = channel_views(run, block, channel)
        figs.update(f)
        tables.update(t)
        from .drilldown import contact_sheet

        contact_sheet(t[f"top_images_{block}_ch{channel}"]).save(out / f"contact_sheet_{block}_ch{channel}.png")
    if compare is not None:
        f, t = compare_views(run, compare)
        figs.update(f)
        tables.update(t)
    if ablation:
        figs.update(ablation_figures(ablation))
        tables.update({f"ablation_{k}": v for k, v in ablation.items()})
    if fold is not None:
        figs["fold_pareto"] = plots_ablation.fold_pareto(fold)
        tables["fold_pareto"] = fold
    written = []
    for name, fig in figs.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            if fmt == "html":  # one plotly.min.js beside the pages instead of 4.8 MB inlined in each
                fig.write_html(path, include_plotlyjs="directory")
            else:
                path.write_bytes(figure_bytes(fig, fmt))
            written.append(path)
    for name, df in tables.items():
        written.append(write_table(df, out / f"{name}.{table_format}"))
    if report:
        path = out / "report.html"
        path.write_text(report_html(run, figs, tables.get("block_stats"), ablation, fold), encoding="utf-8")
        written.append(path)
    return written


def _table_html(df: pd.DataFrame, max_rows: int = 50) -> str:
    shown = df.head(max_rows)
    more = f"<p class='note'>First {max_rows} of {len(df)} rows.</p>" if len(df) > max_rows else ""
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0, classes="table") + more


def report_html(run: Run, figures: dict[str, go.Figure], block_stats: pd.DataFrame | None = None,
                ablation: dict[str, pd.DataFrame] | None = None, fold: pd.DataFrame | None = None) -> str:
    """One self-contained HTML page: the run's manifest, its figures, and ablation results."""
    from plotly.offline import get_plotlyjs

    m = run.manifest
    facts = {
        "model": m.get("model"), "weights": m.get("weights"), "weights id": m.get("weights_id"),
        "checkpoint": m.get("checkpoint"), "data": m.get("data"), "data fingerprint": m.get("data_fingerprint"),
        "images": len(run), "skipped files": len(run.skipped), "preprocessing": json.dumps(m.get("preprocessing")),
        "gates": ", ".join(run.gate_names), "created": m.get("created"), "device": m.get("device"),
    }
    acc = run.images["correct"].dropna()
    if len(acc):
        facts["top-1 accuracy"] = f"{acc.mean() * 100:.2f}%"
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in facts.items() if v is not None)
    parts = [f"<h2>{html.escape(name.replace('_', ' '))}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False)
             for name, fig in figures.items()]
    if block_stats is not None:
        parts.append("<h2>Per-block statistics</h2>" + _table_html(block_stats))
    if ablation:
        parts.append("<h2>Ablation</h2>" + _table_html(ablation["overall"]))
        parts.append("<h3>Per-class accuracy</h3>" + _table_html(ablation["per_class"]))
        parts.append(f"<h3>Flipped predictions ({len(ablation['flips'])})</h3>" + _table_html(ablation["flips"]))
    if fold is not None:
        parts.append("<h2>Fold: which SE blocks can go</h2>" + _table_html(fold))
    warning = ("<p class='warn'>⚠ Random weights: these gates say nothing about a trained network.</p>"
               if not m.get("pretrained", True) else "")
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>se-analysis report: {html.escape(str(m.get('model')))}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }} th, td {{ padding: 0.2rem 0.6rem; text-align: left; }}
tr:nth-child(even) {{ background: #f6f6f6; }} .warn {{ color: #b00020; font-weight: bold; }} .note {{ color: #666; }}
</style></head><body>
<h1>SE gates of {html.escape(str(m.get('model')))} on {html.escape(str(m.get('data')))}</h1>
<p class="note">Report written {when} by se-analysis.</p>{warning}
<h2>Run</h2><table>{rows}</table>
{''.join(parts)}
</body></html>"""
