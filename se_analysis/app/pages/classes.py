"""Class x channel page: a heatmap of mean gates per class and channel at one block, and class similarity."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.class_choice import top_classes
from se_analysis.analysis.similarity import class_similarity
from se_analysis.app.common import (
    channel_stats,
    choice_key,
    chosen_or_starting,
    clicked_point,
    group_by_widget,
    open_channel,
    open_page,
    show_figure,
    table_downloads,
)
from se_analysis.app.state import kept
from se_analysis.plots.palette import MAX_COLOURED, class_colors
from se_analysis.runs.run import Run


def heatmap_ui(run: Run, cs: pd.DataFrame, by: str) -> tuple[str, list[str], bool, str]:
    """Block, classes, centring and channel order of the heatmap (kept in the link)."""
    names, present = run.gate_names, stats.present_classes(cs)
    c1, c2, c3 = st.columns([1, 1, 1])
    block = kept(c1.selectbox, "Block", names, key="heatmap_block", default=names[-1], param="block")
    centre = kept(c2.toggle, "Centre on channel means", key="heatmap_centre", default=False,
                  help="Centre each channel on its all-image mean: shows which channels a class opens (red) or "
                       "closes (blue) more than the images overall.")
    sort = kept(c3.radio, "Channel order", ["channel", "specificity"], key="heatmap_sort", default="channel",
                param="sort", horizontal=True,
                format_func={"channel": "index", "specificity": "most class-specific first"}.get)
    # Up to 20 classes every class is a row; past that, the classes chosen on the other pages (at most
    # plots.MAX_ROWS rows: a heatmap of 1,000 rows is 24 MB and 28,000 px).
    chosen = chosen_or_starting(run, cs, by)
    classes = kept(st.multiselect, "Classes (rows)", present, key=choice_key("heatmap_classes", by),
                   default=present if len(present) <= MAX_COLOURED else [c for c in chosen if c in present][:plots.MAX_ROWS],
                   param="hclasses", max_selections=plots.MAX_ROWS, placeholder="Type to search the classes",
                   help=f"Searches as you type; at most {plots.MAX_ROWS} rows.")
    return block, classes, centre, sort


@st.cache_data(max_entries=32, show_spinner=False)
def compared_classes(_cs: pd.DataFrame, run_key: str, by: str, chosen: tuple[str, ...]) -> list[str]:
    """The similarity matrix's classes past 20 (:func:`top_classes`), once per Run, grouping and choice: the
    farthest-point spread over 1000 classes x 2,048 channels is not redone on every rerun."""
    return top_classes(_cs, plots.MAX_ROWS, chosen)


def similarity_ui(run: Run, key: str, cs: pd.DataFrame, block: str, colors: dict[str, str], by: str) -> None:
    """Which classes the block treats alike: class x class similarity in clustering order (every class up to
    20; past that, the chosen classes and then the most frequent, at most plots.MAX_ROWS)."""
    st.subheader("Which classes this block treats alike")
    metric = st.radio("Similarity", ["cosine", "correlation"], horizontal=True, key="similarity_metric",
                      help="Of the classes' mean gate vectors at the block; classes are ordered by average-linkage "
                           "clustering so that similar ones sit together.")
    present = stats.present_classes(cs)
    compared = present if len(present) <= MAX_COLOURED else \
        compared_classes(cs, key, by, tuple(chosen_or_starting(run, cs, by)))
    if len(compared) < len(present):
        st.caption(f"{len(compared)} of {len(present)} classes: the chosen ones, then the most frequent, and "
                   f"among classes of equal count those whose mean gates differ most (a {len(present)} x "
                   f"{len(present)} matrix would not fit a page).")
    sim, order = class_similarity(cs, block, metric, classes=compared)
    show_figure(plots.similarity_heatmap(sim, order, colors=colors, total=len(present)), run, "class_similarity")
    with st.expander("Data behind the figure"):
        st.dataframe(sim, hide_index=True, width="stretch")
        table_downloads(sim, f"class_similarity_{block}")


def main() -> None:
    run, key, controls, figure = open_page("Class × channel")
    with controls:
        by = group_by_widget(run)
        cs = channel_stats(run, key, by)
        block, classes, centre, sort = heatmap_ui(run, cs, by)
    if not classes:
        st.info("Choose at least one class.")
        return
    colors = class_colors(chosen_or_starting(run, cs, by), stats.present_classes(cs))
    table = stats.heatmap_table(cs, block, classes, centre=centre, sort=sort)
    with figure:
        event = show_figure(plots.class_heatmap(table, centred=centre, colors=colors), run, "class_heatmap",
                            select=True)
        st.caption("Click a cell to open its channel: the images that open and close its gate.")
    point = clicked_point(event)
    if point and point.get("customdata") is not None:
        open_channel(block, int(point["customdata"]), "class_heatmap")
    with st.expander("Data behind the heatmap"):
        st.dataframe(table, hide_index=True, width="stretch")
        table_downloads(table, f"class_heatmap_{block}")
    similarity_ui(run, key, cs, block, colors, by)


main()
