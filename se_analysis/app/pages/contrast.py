"""Two-class contrast page: which channels at a block separate class A from class B."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis.analysis import stats
from se_analysis.analysis.class_choice import classes_with_images
from se_analysis.analysis.contrast import contrast
from se_analysis.app.common import (
    channel_stats,
    clicked_point,
    default_classes,
    first_line,
    group_by_widget,
    open_channel,
    open_page,
    report_download,
    show_figure,
    table_downloads,
)
from se_analysis.app.state import kept
from se_analysis.export.report import CONTRAST_COLUMNS
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural
from se_analysis.views.contrast import contrast_view

EXPLANATION = ("For each channel at the block: Cohen's d of class A against class B (the difference of mean gates "
               "over the pooled SD) with its bootstrap 95 % interval (each class's images resampled, d recomputed), "
               "and Welch's t-test with Benjamini-Hochberg correction over the block's tested channels (a channel "
               "constant and equal in both classes is not tested). The figure shows the first channels by rank "
               "(those that separate the classes perfectly, hatched: every image of one class above every image of "
               "the other; then by |d|), drawn in the order of d; d is ±∞ where both classes are constant and "
               "differ (drawn at the axis edge). Red: A higher, blue: B higher, significant at a 5 % false-discovery "
               "rate; grey: not significant.")

# How the table shows its numbers: p-values in scientific notation (they reach 1e-30), d to two decimals.
COLUMN_CONFIG = {
    "p": st.column_config.NumberColumn("p", format="%.2e", help="Welch's t-test, two-sided"),
    "p_adjusted": st.column_config.NumberColumn("p_adjusted", format="%.2e",
                                                help="Benjamini-Hochberg over the block's tested channels"),
    "cohens_d": st.column_config.NumberColumn("cohens_d", format="%.2f"),
    "d_low": st.column_config.NumberColumn("d_low", format="%.2f", help="bootstrap 95 % interval of d"),
    "d_high": st.column_config.NumberColumn("d_high", format="%.2f", help="bootstrap 95 % interval of d"),
    "separates": st.column_config.CheckboxColumn("separates", help="every image of one class above every image of "
                                                                   "the other: ranked first"),
}


def pair_ui(run: Run, cs: pd.DataFrame, present: list[str]) -> tuple[str, str, str, int, bool]:
    """Block, class A, class B (from the paper figure's link, the URL, or the most distinct pair), how many
    channels shown and whether only the significant ones (all kept in the link)."""
    picked = st.session_state.pop("contrast_from_paper", None)  # set by the paper figure's button
    if picked:
        st.session_state["contrast_block"], st.session_state["contrast_a"], st.session_state["contrast_b"] = picked
    pair = default_classes(cs[cs["class"].isin(present + [stats.ALL])], 2, run=run)
    pair = pair + [c for c in present if c not in pair][:2 - len(pair)]
    c1, c2, c3 = st.columns([1, 1, 1])
    block = kept(c1.selectbox, "Block", run.gate_names, key="contrast_block", default=run.gate_names[-1],
                 param="cblock")
    class_a = kept(c2.selectbox, "Class A", present, key="contrast_a", default=pair[0], param="a",
                   placeholder="Type to search the classes")
    class_b = kept(c3.selectbox, "Class B", present, key="contrast_b", default=pair[1], param="b",
                   placeholder="Type to search the classes")
    c4, c5 = st.columns([2, 1], vertical_alignment="bottom")
    top = kept(c4.select_slider, "Channels shown", [10, 20, 30, 50, 100], key="contrast_top", default=30,
               param="ctop")
    significant_only = kept(c5.toggle, "Significant only", key="contrast_significant", default=False, param="csig",
                            codes={"1": True}, help="Only the channels that differ at a 5 % false-discovery rate, "
                                                    "in the figure and the table")
    return block, class_a, class_b, top, significant_only


@st.cache_data(show_spinner="Bootstrapping…", max_entries=16)
def contrast_table(_run: Run, run_key: str, block: str, a: str, b: str, by: str) -> pd.DataFrame:
    """The contrast's table, cached apart from its view: showing more or fewer channels does not bootstrap again."""
    return contrast(_run, block, a, b, by=by)


def main() -> None:
    run, key, controls, figure = open_page("Two classes, channel by channel", gate_arrays=True)
    with controls:
        st.caption(EXPLANATION)
        by = group_by_widget(run)
        cs = channel_stats(run, key, by)
        present, left_out = classes_with_images(cs, 2)  # a class's spread needs two of its images
        if len(present) < 2:
            st.info("A contrast compares the spread of each class's gates, so each class needs at least 2 images"
                    + (f"; {plural(left_out, 'class', 'classes')} here {'has' if left_out == 1 else 'have'} only one"
                       if left_out else "") + f": {len(present)} with 2 or more, nothing to compare.")
            return
        if left_out:
            st.caption(f"Offered: the {len(present)} classes with at least 2 images; {plural(left_out, 'class', 'classes')} "
                       "with a single image left out (a contrast needs each class's spread).")
        block, class_a, class_b, top, significant_only = pair_ui(run, cs, present)
    try:
        view = contrast_view(run, block, class_a, class_b, by, top=top, significant_only=significant_only,
                             table=contrast_table(run, key, block, class_a, class_b, by))
    except ValueError as e:
        st.error(first_line(e))
        return
    table, name = view.tables["contrast"], view.facts["name"]
    with figure:
        event = show_figure(view.figures["contrast"], run, "contrast", select=True, file_name=name)
        st.caption("Click a bar to open its channel: the images that open and close its gate.")
    point = clicked_point(event)
    if point and isinstance(point.get("customdata"), list) and point["customdata"]:
        open_channel(block, int(point["customdata"][0]), "contrast")
    first = [c for c in CONTRAST_COLUMNS if c in table]
    st.dataframe(table, hide_index=True, width="stretch", column_config=COLUMN_CONFIG,
                 column_order=first + [c for c in table.columns if c not in first])
    table_downloads(table, name)
    report_download(run, key, by=by, contrast=view, label="Download report with this contrast (HTML)")


main()
