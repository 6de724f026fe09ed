"""Paper figure page: mean gate per channel, one line per class, one panel per block (Hu et al., Fig. 6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.app.common import (
    channel_stats,
    choice_key,
    clicked_point,
    default_classes,
    group_by_widget,
    open_channel,
    open_page,
    report_download,
    show_figure,
    table_downloads,
)
from se_analysis.app.state import kept
from se_analysis.gates.blocks import paper_blocks
from se_analysis.plots.animation import depth_animation
from se_analysis.runs.run import Run


def choices_ui(run: Run, cs: pd.DataFrame, by: str) -> tuple[list[str], list[str], bool, bool]:
    """Classes (shared with the other pages), blocks, the all-image line and autoscale, kept in the link."""
    present = stats.present_classes(cs)
    classes = kept(st.multiselect, "Classes", present, key=choice_key("paper_classes", by),
                   default=default_classes(cs, run=run), param="classes", shared=choice_key("classes", by),
                   placeholder="Type to search the classes",
                   help="Searches as you type. Colours follow the order chosen, on every page.")
    blocks = kept(st.multiselect, "Blocks", run.gate_names, key="paper_blocks", default=paper_blocks(run.gates),
                  param="blocks")
    c1, c2 = st.columns(2)
    include_all = c1.checkbox("Show the mean over all images", value=True, key="paper_all")
    autoscale = c2.checkbox("Fit each panel's y axis to its data", value=False, key="paper_autoscale",
                            help="The paper's 0-1 axis hides class differences of 0.01-0.05; this shows them.")
    return classes, blocks, include_all, autoscale


def to_contrast_ui(run: Run, classes: list[str], blocks: list[str]) -> None:
    """One click to the contrast of the first two classes at the deepest block shown."""
    if len(classes) < 2:
        return
    deepest = sorted(blocks, key=run.gate_names.index)[-1]
    if st.button(f"Which channels separate {classes[0]} from {classes[1]}? (at {deepest})", key="to_contrast",
                 icon=":material/compare_arrows:"):
        st.session_state["contrast_from_paper"] = (deepest, classes[0], classes[1])
        st.switch_page(str(Path(__file__).parent / "contrast.py"))


def main() -> None:
    run, key, controls, figure = open_page("Mean excitation per channel, by class")
    with controls:
        st.caption("The paper's figure: at each block, the mean gate value of every channel over the images of a "
                   "class. Lines that coincide mean the block treats those classes alike (class-agnostic); lines "
                   "that part mean class-specific excitation.")
        by = group_by_widget(run)
        cs = channel_stats(run, key, by)
        classes, blocks, include_all, autoscale = choices_ui(run, cs, by)
        play = kept(st.toggle, "Play through depth", key="paper_play", default=False, param="play", codes={"1": True},
                    help="One block at a time, every block in forward order, with play/pause and a slider.")
    if not blocks:
        st.info("Choose at least one block.")
        return
    chart = "paper_animation" if play else "paper_figure"
    with figure:
        fig = depth_animation(cs, run.gate_names, classes, include_all=include_all) if play else \
            plots.paper_figure(cs, blocks, classes, include_all=include_all, autoscale=autoscale)
        event = show_figure(fig, run, chart, select=True)
        st.caption("Click a line to open that channel: the images that open and close its gate.")
    point = clicked_point(event)
    if point and point.get("customdata") in run.gate_names:
        open_channel(point["customdata"], int(point["x"]), chart)
    to_contrast_ui(run, classes, blocks)
    report_download(run, key, classes=classes, blocks=blocks, by=by)
    sel = cs[cs["block"].isin(blocks) & cs["class"].isin(list(classes) + ([stats.ALL] if include_all else []))]
    with st.expander("Data behind the figure"):
        st.dataframe(sel, width="stretch", hide_index=True,  # the class wide enough for "tench (n01440764)"
                     column_config={"class": st.column_config.TextColumn("class", width="medium")})
        table_downloads(sel, "channel_stats")


main()
