"""The one-file HTML report of a Run: its manifest, its figures, block statistics, an ablation and a fold
(plotly.js inlined once, readable offline)."""

from __future__ import annotations

import datetime as dt
import html
import json

import pandas as pd
import plotly.graph_objects as go

from se_analysis.runs.run import Run

__all__ = ["report_html", "CONTRAST_COLUMNS"]


def _table_html(df: pd.DataFrame, max_rows: int = 50) -> str:
    shown = df.head(max_rows)
    more = f"<p class='note'>First {max_rows} of {len(df)} rows.</p>" if len(df) > max_rows else ""
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0, classes="table") + more


# The contrast's columns in the report, in this order; p-values in scientific notation (they reach 1e-30).
CONTRAST_COLUMNS = ["rank", "channel", "cohens_d", "d_low", "d_high", "separates", "p_adjusted", "significant", "p",
                    "diff", "ci_low", "ci_high", "mean_a", "mean_b"]


def _contrast_html(table: pd.DataFrame) -> str:
    r = table.iloc[0]
    shown = table[[c for c in CONTRAST_COLUMNS if c in table]].copy()
    for col in ("p", "p_adjusted"):
        shown[col] = shown[col].map(lambda v: f"{v:.2e}")
    return (f"<h2>Two classes: {html.escape(str(r['class_a']))} (A, n = {int(r['n_a'])}) against "
            f"{html.escape(str(r['class_b']))} (B, n = {int(r['n_b'])}) at {html.escape(str(r['block']))}</h2>"
            "<p class='note'>Per channel: Cohen's d with its bootstrap 95 % interval (d_low, d_high), Welch's t-test "
            "with Benjamini-Hochberg correction over the block's tested channels (p_adjusted; significant at 5 %), "
            "A − B of the mean gates with its bootstrap 95 % interval; by rank (perfect separations first, then "
            "|d|).</p>" + _table_html(shown))


def report_html(run: Run, figures: dict[str, go.Figure], block_stats: pd.DataFrame | None = None,
                ablation: dict[str, pd.DataFrame] | None = None, fold: pd.DataFrame | None = None,
                contrast: pd.DataFrame | None = None) -> str:
    """One self-contained HTML page: the run's manifest, its figures, and ablation results.

    ``contrast``: a two-class contrast's table (:func:`~se_analysis.analysis.contrast.contrast`), shown
    with its class names, n per class and block (its figure is one of ``figures``).
    """
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
        if len(ablation["per_class"]):
            parts.append("<h3>Per-class accuracy</h3>" + _table_html(ablation["per_class"]))
        else:
            parts.append("<p class='note'>These images have no labels: accuracy and NLL cannot be measured, so the "
                         "ablation is measured by the predictions that flipped, the change in confidence and the KL "
                         "divergence between before and after (above).</p>")
        parts.append(f"<h3>Flipped predictions ({len(ablation['flips'])})</h3>" + _table_html(ablation["flips"]))
    if contrast is not None and len(contrast):
        parts.append(_contrast_html(contrast))
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
