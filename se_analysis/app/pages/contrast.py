"""Two-class contrast page: which channels at a block separate class A from class B."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis.analysis import stats
from se_analysis.analysis.contrast import contrast
from se_analysis.app.common import (
    channel_stats,
    default_classes,
    first_line,
    group_by_widget,
    open_page,
    show_figure,
    table_downloads,
)
from se_analysis.app.state import kept
from se_analysis.runs.run import Run
from se_analysis.views.contrast import contrast_view

EXPLANATION = ("For each channel at the block: the mean gate of class A minus class B with a bootstrap 95 % interval, "
               "Cohen's d, and Welch's t-test with Benjamini-Hochberg correction over the block's channels. Channels "
               "are ranked by |d|; coloured bars are significant at a 5 % false-discovery rate (red: A higher).")


def pair_ui(run: Run, cs: pd.DataFrame, present: list[str]) -> tuple[str, str, str, int]:
    """Block, class A, class B (from the paper figure's link, the URL, or the most distinct pair) and how many shown."""
    picked = st.session_state.pop("contrast_from_paper", None)  # set by the paper figure's button
    if picked:
        st.session_state["contrast_block"], st.session_state["contrast_a"], st.session_state["contrast_b"] = picked
    pair = default_classes(cs, 2)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
    block = kept(c1.selectbox, "Block", run.gate_names, key="contrast_block", default=run.gate_names[-1],
                 param="cblock")
    class_a = kept(c2.selectbox, "Class A", present, key="contrast_a", default=pair[0], param="a")
    class_b = kept(c3.selectbox, "Class B", present, key="contrast_b", default=pair[1], param="b")
    top = c4.select_slider("Channels shown", [10, 20, 30, 50, 100], value=30, key="contrast_top")
    return block, class_a, class_b, top


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
        present = stats.present_classes(cs)
        if len(present) < 2:
            st.info("A contrast needs two classes with images.")
            return
        block, class_a, class_b, top = pair_ui(run, cs, present)
    try:
        view = contrast_view(run, block, class_a, class_b, by, top=top,
                             table=contrast_table(run, key, block, class_a, class_b, by))
    except ValueError as e:
        st.error(first_line(e))
        return
    table = view.tables["contrast"]
    with figure:
        show_figure(view.figures["contrast"], run, "contrast")
    st.dataframe(table, hide_index=True, width="stretch")
    table_downloads(table, f"contrast_{block}_{class_a}_vs_{class_b}".replace(" ", "_"))


main()
