"""Figure builders: a tidy DataFrame in, a plotly Figure out. No I/O, no state.

Every class keeps one colour in every figure (:func:`class_color`); the pooled class ``all``
is drawn in black. Figures built from random weights get :func:`add_warning`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis.analysis.stats import ALL, present_classes
from se_analysis.plots.palette import OTHER, class_colors, grid

__all__ = ["paper_figure", "depth_box", "specificity_curve", "class_heatmap", "within_class_band", "image_gates_figure",
           "contrast_figure", "similarity_heatmap", "MAX_ROWS"]

MAX_ROWS = 60  # classes a heatmap draws at most (28-30 px a row: under 2,000 px tall, a few MB at most)


def paper_figure(cs: pd.DataFrame, blocks: Sequence[str], classes: Sequence[str], include_all: bool = True,
                 height_per_row: int = 300, autoscale: bool = False,
                 colors: Mapping[str, str] | None = None) -> go.Figure:
    """The paper's Fig. 6: mean gate value per channel index, one line per class, a panel per block.

    Args:
        cs: :func:`se_analysis.analysis.stats.channel_stats` output.
        blocks: the blocks to show, one panel each, in depth order (whatever order they are given in).
        classes: class names to draw; ``all`` (every image) is added when ``include_all``.
        autoscale: each panel's y axis fits its data (class differences of 0.01 show), instead of 0-1.
        colors: each class's colour (:func:`~se_analysis.plots.palette.class_colors`; default: by position
            in ``classes``).
    """
    colors = colors or class_colors(classes, present_classes(cs))
    depth = cs.drop_duplicates("block").set_index("block")["depth"]
    blocks = sorted(blocks, key=lambda b: depth.get(b, 0))
    rows, cols = grid(len(blocks))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(blocks), shared_yaxes=not autoscale,
                        horizontal_spacing=0.04, vertical_spacing=min(0.25, 0.5 / rows))
    wanted = list(classes) + ([ALL] if include_all else [])
    for i, block in enumerate(blocks):
        r, c = divmod(i, cols)
        sub = cs[cs["block"] == block]
        for name in wanted:
            line = sub[sub["class"] == name].sort_values("channel")
            if line.empty:
                continue
            fig.add_trace(go.Scatter(
                x=line["channel"], y=line["mean"], mode="lines+markers", name=name, legendgroup=name,
                showlegend=i == 0, customdata=[block] * len(line),  # a click says which panel's channel it was
                marker=dict(size=2.5), selected=dict(marker=dict(size=8)), unselected=dict(marker=dict(opacity=1)),
                line=dict(color=colors.get(name, "#c7c7c7"), width=1.2 if name != ALL else 1.6,
                          dash="dot" if name == ALL else None),
                hovertemplate=f"{name}<br>channel %{{x}}<br>mean gate %{{y:.3f}}<extra>{block}</extra>",
            ), row=r + 1, col=c + 1)
        fig.update_xaxes(title_text="channel index", row=r + 1, col=c + 1)
    if autoscale:
        fig.update_yaxes(autorange=True)
        fig.update_yaxes(title_text="activation", col=1)
    else:
        fig.update_yaxes(title_text="activation", range=[0, 1.02], col=1)
    fig.update_layout(height=(height_per_row + 40) * rows, title="Mean excitation per channel, by class",
                      legend_title_text="class", margin=dict(t=80))
    return fig


def depth_box(quantiles: pd.DataFrame) -> go.Figure:
    """Distribution of gate values per block over depth: boxes from 5/25/50/75/95% quantiles."""
    q = quantiles.sort_values("depth")
    fig = go.Figure(go.Box(
        x=q["block"], q1=q["q25"], median=q["median"], q3=q["q75"], lowerfence=q["q05"], upperfence=q["q95"],
        mean=q["mean"], name="gate values", marker_color="#1f77b4", boxpoints=False,
    ))
    fig.update_layout(title="Gate values per block (whiskers: 5% and 95%)", xaxis_title="block (forward order)",
                      yaxis_title="gate value", yaxis_range=[0, 1.02])
    return fig


BIASED_CHANCE = 0.2  # eta squared's chance level, (K-1)/(N-1), above which the figure leads with omega squared


def specificity_curve(bstats: pd.DataFrame) -> go.Figure:
    """Class-specificity and saturation of each block, over depth.

    Where eta squared's chance level (K-1)/(N-1) is high (few images per class: above :data:`BIASED_CHANCE`),
    omega squared is drawn bold and eta squared thin, named as biased; with one image per class (N <= K),
    eta squared is 1 by construction and omega squared undefined: the figure says so instead.
    """
    s = bstats.sort_values("depth")
    chance = float(s["specificity_chance"].iloc[0]) if "specificity_chance" in s and len(s) else 0.0
    undefined = "specificity_omega2" in s and len(s) and bool(s["specificity_omega2"].isna().all()) and chance >= 1
    biased = undefined or chance > BIASED_CHANCE
    fig = go.Figure()
    eta_name = ("η² (1 by construction: one image per class)" if undefined else
                "class-specificity (η², biased: read ω²)" if biased else "class-specificity (η²)")
    fig.add_trace(go.Scatter(x=s["block"], y=s["specificity"], mode="lines+markers", name=eta_name,
                             line=dict(color="#d62728", width=1 if biased else 2.5, dash="dot" if undefined else None)))
    if "specificity_chance" in s:
        fig.add_trace(go.Scatter(x=s["block"], y=s["specificity_omega2"], mode="lines+markers",
                                 name="bias-corrected (ω²)" + (", undefined" if undefined else ""),
                                 line=dict(color="#9467bd", width=2.5 if biased else 1.5)))
        fig.add_trace(go.Scatter(x=s["block"], y=s["specificity_chance"], mode="lines",
                                 name="η² by chance, (K-1)/(N-1)", line=dict(color="#d62728", dash="dot", width=1)))
    fig.add_trace(go.Scatter(x=s["block"], y=s["saturation_high"], mode="lines+markers", name="share of gates > 0.9",
                             line=dict(color="#2ca02c", dash="dash")))
    fig.add_trace(go.Scatter(x=s["block"], y=s["saturation_low"], mode="lines+markers", name="share of gates < 0.1",
                             line=dict(color="#7f7f7f", dash="dot")))
    fig.update_layout(title="Class-specificity and saturation over depth", xaxis_title="block (forward order)",
                      yaxis_title="share", yaxis_range=[0, 1])
    if undefined:
        fig.add_annotation(text="One image per class: η² is 1 by construction and ω² is undefined (no spread "
                                "within a class to compare with);<br>class-specificity cannot be measured on these images",
                           xref="paper", yref="paper", x=0.5, y=0.55, showarrow=False, bgcolor="rgba(255,255,255,0.8)")
    return fig


def class_heatmap(table: pd.DataFrame, centred: bool = False, colors: Mapping[str, str] | None = None,
                  max_rows: int = MAX_ROWS) -> go.Figure:
    """Class x channel heatmap from :func:`stats.heatmap_table` (mean gates, or centred on each channel's mean).

    At most ``max_rows`` classes, the table's first rows (the title says how many more it has: choose them
    with the table's ``classes``); each row's label in its class's colour (``colors``, as in
    :func:`paper_figure`). Numbers go as typed arrays; a click layer of invisible markers carries the hover
    text and the click (``customdata``: the channel).
    """
    block = table["block"].iloc[0] if len(table) else ""
    total = int(table["row"].nunique()) if len(table) else 0
    if total > max_rows:
        table = table[table["row"] < max_rows]  # rows are numbered 0, 1, ... in the table's order
    z = table.pivot(index="row", columns="column", values="value").sort_index().sort_index(axis=1)
    classes = table.drop_duplicates("row").sort_values("row")["class"].tolist()
    channels = np.asarray(table.drop_duplicates("column").sort_values("column")["channel"], np.int32)
    sorted_by_spec = bool((np.diff(channels) < 0).any())
    zz = z.to_numpy(np.float32)
    if centred:
        lim = float(np.nanmax(np.abs(zz))) if zz.size else 1.0
        scale = dict(zmid=0, zmin=-lim, zmax=lim, colorscale="RdBu_r", colorbar=dict(title="class mean<br>- all mean"))
    else:
        scale = dict(zmin=0, zmax=1, colorscale="Viridis", colorbar=dict(title="mean gate"))
    fig = go.Figure(go.Heatmap(
        z=zz, x=np.arange(len(channels), dtype=np.int32), y=classes, customdata=np.tile(channels, (len(classes), 1)),
        **scale, hoverinfo="skip"))
    # Heatmaps cannot be selected: an invisible marker on every cell carries the hover text and the click.
    cols, rows = np.meshgrid(np.arange(len(channels), dtype=np.int32), np.arange(len(classes)))
    fig.add_trace(go.Scattergl(  # WebGL: thousands of cells stay cheap to draw
        x=cols.ravel(), y=[classes[r] for r in rows.ravel()], mode="markers", showlegend=False,
        marker=dict(size=10, opacity=0), selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        customdata=channels[cols.ravel()], text=[f"{v:.3f}" for v in zz.ravel()],
        hovertemplate="class %{y}<br>channel %{customdata}<br>value %{text}<extra></extra>"))
    what = "minus the all-image mean, " if centred else ""
    more = f"; the first {len(classes)} of {total} classes" if total > len(classes) else ""
    fig.update_layout(title=f"Mean gate per class and channel at {block} ({what}"
                            f"{'channels by specificity' if sorted_by_spec else 'channels in index order'}{more})",
                      xaxis_title="channel, most class-specific first" if sorted_by_spec else "channel index",
                      yaxis_title="class", height=min(2000, max(300, 28 * len(classes) + 150)))
    _colour_class_ticks(fig, classes, colors or class_colors(classes))
    if not sorted_by_spec:
        ticks = list(range(0, len(channels), max(1, len(channels) // 12)))
        fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=[str(channels[i]) for i in ticks])
    return fig


def _colour_class_ticks(fig: go.Figure, classes: Sequence[str], colors: Mapping[str, str], axis: str = "y") -> None:
    """Write each class's tick label in its colour (the classes not chosen keep the axis colour)."""
    text = [f"<span style='color:{colors[c]}'>{c}</span>" if colors.get(c, OTHER) != OTHER else c for c in classes]
    getattr(fig, f"update_{axis}axes")(tickmode="array", tickvals=list(classes), ticktext=text)


def within_class_band(cs: pd.DataFrame, block: str, classes: Sequence[str],
                      colors: Mapping[str, str] | None = None) -> go.Figure:
    """Within-class mean and ±1 std per channel at one block (the paper's Fig. 7); ``colors`` as in
    :func:`paper_figure`."""
    colors = colors or class_colors(classes, present_classes(cs))
    fig = go.Figure()
    sub = cs[cs["block"] == block]
    for name in classes:
        line = sub[sub["class"] == name].sort_values("channel")
        if line.empty:
            continue
        color = colors.get(name, "#c7c7c7")
        x = line["channel"].tolist()
        upper = (line["mean"] + line["std"]).clip(upper=1).tolist()
        lower = (line["mean"] - line["std"]).clip(lower=0).tolist()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], fill="toself", fillcolor=color, opacity=0.18,
                                 line=dict(width=0), name=f"{name} ±1 std", legendgroup=name, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=line["mean"], mode="lines", name=name, legendgroup=name,
                                 line=dict(color=color, width=1.5)))
    fig.update_layout(title=f"Within-class mean and std of gates at {block}", xaxis_title="channel index",
                      yaxis_title="activation", yaxis_range=[0, 1.02])
    return fig


def image_gates_figure(df: pd.DataFrame, block: str, title: str | None = None) -> go.Figure:
    """One image's gates (bars) against its class mean (line) at one block."""
    sub = df[df["block"] == block].sort_values("channel")
    cls = sub["class"].iloc[0] if len(sub) else ""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=sub["channel"], y=sub["value"], name="this image", marker_color="#1f77b4"))
    fig.add_trace(go.Scatter(x=sub["channel"], y=sub["class_mean"], mode="lines", name=f"mean of class {cls}",
                             line=dict(color="#111111", width=1.5)))
    fig.update_layout(title=title or f"Gates of one image at {block} against its class mean",
                      xaxis_title="channel index", yaxis_title="gate value", yaxis_range=[0, 1.02], bargap=0.1)
    return fig


def _contrast_facts(table: pd.DataFrame, shown: int, significant_only: bool, model: str | None,
                    by: str | None) -> str:
    """The line under the contrast's title: model, n per class, grouping, how many differ, which are shown."""
    r = table.iloc[0]
    kind, _, depth = (by or "").partition(":")
    grouped = {"label": "true label", "pred": "predicted class", "folder": "folder",
               "superclass": f"WordNet superclass at depth {depth}",
               "pred-superclass": f"predicted WordNet superclass at depth {depth}"}.get(kind, by)
    parts = [f"model {model}" if model else None,
             f"A {r['class_a']}: n = {int(r['n_a'])}, B {r['class_b']}: n = {int(r['n_b'])}",
             f"grouped by {grouped}" if grouped else None,
             f"{int(table['significant'].sum())} of {len(table)} channels differ (Welch, BH 5 %)",
             f"shown: {shown}" + (" significant" if significant_only else "") + " by rank"]
    return " · ".join(p for p in parts if p)


def contrast_figure(table: pd.DataFrame, top: int = 30, significant_only: bool = False, model: str | None = None,
                    by: str | None = None) -> go.Figure:
    """Cohen's d of A against B with its bootstrap 95 % interval, for the ``top`` channels by rank.

    The channels shown are the first ``top`` by rank (perfect separations first, then |d|; with
    ``significant_only``, among the significant ones), drawn in the order of d so that bar lengths read
    from most negative to most positive. Red: A higher, blue: B higher, both significant at a 5 %
    false-discovery rate; grey: not significant. Hatched: the channel separates the classes perfectly;
    an infinite d (both classes constant and different) is drawn at the axis edge and labelled. The
    title's second line names the model (``model``), n per class, the grouping (``by``) and how many
    channels differ. A bar's ``customdata[0]`` is its channel (a click opens it).
    """
    t = table[table["significant"]] if significant_only else table
    t = t.nsmallest(top, "rank")
    block, a, b = table["block"].iloc[0], table["class_a"].iloc[0], table["class_b"].iloc[0]
    d = t["cohens_d"].to_numpy(np.float64)
    low = t["d_low"].to_numpy(np.float64) if "d_low" in t else d
    high = t["d_high"].to_numpy(np.float64) if "d_high" in t else d
    finite = np.abs(np.concatenate([d, low, high]))
    finite = finite[np.isfinite(finite)]
    edge = 1.08 * max(float(finite.max()) if len(finite) else 0.0, 0.5)
    order = np.lexsort((t["channel"].to_numpy(), d))  # by d, most negative at the bottom
    t, d, low, high = t.iloc[order], d[order], low[order], high[order]
    x = np.clip(d, -edge, edge)
    labels = [f"ch {c}" for c in t["channel"]]
    separates = t["separates"].to_numpy(bool) if "separates" in t else np.isinf(d)
    signif = t["significant"].to_numpy(bool)
    groups = [(f"{a} (A) higher, significant", "#d62728", signif & (d >= 0)),
              (f"{b} (B) higher, significant", "#1f77b4", signif & (d < 0)),
              ("not significant (FDR 5 %)", "#bbbbbb", ~signif)]
    hover = np.array([_contrast_hover(r, v, lo, hi, sep) for r, v, lo, hi, sep in
                      zip(t.itertuples(), d, low, high, separates)], dtype=object)
    fig = go.Figure()
    for (name, color, group), hatched in ((g, h) for g in groups for h in (False, True)):
        rows = group & (separates == hatched)  # apart, so that a legend's icon is never hatched by its first bar
        if not rows.any():
            continue
        inf = np.isinf(d[rows])
        fig.add_trace(go.Bar(
            x=x[rows], y=[labels[i] for i in np.flatnonzero(rows)], orientation="h", name=name, legendgroup=name,
            showlegend=not (hatched and (group & ~separates).any()), marker_color=color,
            marker_pattern_shape="/" if hatched else "",
            text=np.where(inf, np.where(d[rows] > 0, "separates perfectly (d = +∞)", "separates perfectly (d = −∞)"),
                          ""), textposition="inside", insidetextanchor="middle",
            error_x=dict(type="data", symmetric=False, color="#444444",  # none on an infinite d's bar
                         array=np.where(inf, np.nan, np.clip(high[rows], -edge, edge) - x[rows]),
                         arrayminus=np.where(inf, np.nan, x[rows] - np.clip(low[rows], -edge, edge))),
            customdata=np.column_stack([t["channel"].to_numpy()[rows], hover[rows]]).tolist(),
            hovertemplate="%{customdata[1]}<extra></extra>"))
    if separates.any():  # a legend entry for the hatching
        fig.add_trace(go.Bar(x=[None], y=[None], orientation="h", name="hatched: separates perfectly",
                             marker=dict(color="#ffffff", line=dict(color="#444444", width=1),
                                         pattern=dict(shape="/", fgcolor="#444444"))))
    fig.add_vline(x=0, line_width=1, line_color="#444444")
    facts = _contrast_facts(table, len(t), significant_only, model, by)
    fig.update_layout(title=f"{block}: the channels that separate {a} (A) from {b} (B)<br><sup>{facts}</sup>",
                      xaxis_title="Cohen's d, (A − B) / pooled SD; whiskers: bootstrap 95 % interval of d",
                      yaxis_title="channel", barmode="overlay", legend=dict(traceorder="normal"),
                      uniformtext=dict(minsize=11, mode="show"),
                      xaxis_range=[-edge * 1.02, edge * 1.02], height=max(400, 18 * len(t) + 180))
    fig.update_yaxes(categoryorder="array", categoryarray=labels)
    if not len(t):
        fig.add_annotation(text="No channel differs at FDR 5 %" if significant_only else "No channel",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def _contrast_hover(r, d: float, low: float, high: float, separates: bool) -> str:
    """One bar's hover text: d and A − B with their intervals, both means, p and its BH adjustment."""
    return (f"channel {r.channel}: d {_signed(d)} [{_signed(low)}, {_signed(high)}]"
            f"<br>A−B {r.diff:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]<br>A {r.mean_a:.3f}, B {r.mean_b:.3f}"
            f"<br>p {r.p:.2e}, BH-adjusted {r.p_adjusted:.2e}"
            + ("<br>separates perfectly: every image of one class above every image of the other" if separates else ""))


def _signed(v: float) -> str:
    """A value of d for the hover: two decimals, or +∞ / −∞."""
    return ("+∞" if v > 0 else "−∞") if np.isinf(v) else f"{v:+.2f}"


def similarity_heatmap(table: pd.DataFrame, order: Sequence[str], colors: Mapping[str, str] | None = None,
                       max_classes: int = MAX_ROWS, total: int | None = None) -> go.Figure:
    """Class x class similarity of mean gate vectors, in clustering order (from :func:`class_similarity`).

    At most ``max_classes`` classes (the first in ``order``): ask :func:`class_similarity` for the chosen
    classes at 1,000. ``total``: how many classes the run has, named in the title when more than shown.
    Tick labels in each class's colour (``colors``).
    """
    order = list(order)[:max_classes]
    z = table.pivot(index="class_a", columns="class_b", values="similarity").reindex(index=order, columns=order)
    zz = z.to_numpy(np.float32)
    metric, block = table["metric"].iloc[0], table["block"].iloc[0]
    off = zz[~np.eye(len(order), dtype=bool)] if len(order) > 1 else np.array([1.0])
    fig = go.Figure(go.Heatmap(z=zz, x=order, y=order, colorscale="Viridis",
                               zmin=float(np.nanmin(off)), zmax=1.0, colorbar=dict(title=metric),
                               hovertemplate="%{y} · %{x}<br>" + metric + " %{z:.4f}<extra></extra>"))
    shown = f"; {len(order)} of {total} classes" if total and total > len(order) else ""
    fig.update_layout(title=f"Which classes {block} treats alike: {metric} of mean gate vectors (clustered order{shown})",
                      height=min(2000, max(350, 30 * len(order) + 180)), yaxis_autorange="reversed")
    colors = colors or class_colors(order)
    _colour_class_ticks(fig, order, colors, "x")
    _colour_class_ticks(fig, order, colors, "y")
    return fig
