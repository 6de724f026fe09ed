"""Paper figure page: mean gate per channel, one line per class, one panel per block (Hu et al., Fig. 6)."""

from pathlib import Path

import streamlit as st

from se_analysis import plots, stats
from se_analysis.blocks import paper_blocks
from se_analysis.app_pages.view import query_list, set_query
from se_analysis.app_pages.common import (channel_stats, default_classes, group_by_widget, require_run, show_figure,
                                          table_downloads)

st.title("Mean excitation per channel, by class")
run, key = require_run()
st.caption("The paper's figure: at each block, the mean gate value of every channel over the images of a class. "
           "Lines that coincide mean the block treats those classes alike (class-agnostic); lines that part mean "
           "class-specific excitation.")
by = group_by_widget(run)
cs = channel_stats(run, key, by)
present = stats.present_classes(cs)
classes = st.multiselect("Classes", present, key="paper_classes",
                         default=query_list("classes", present) or default_classes(cs))
blocks = st.multiselect("Blocks", run.gate_names, key="paper_blocks",
                        default=query_list("blocks", run.gate_names) or paper_blocks(run.gates))
set_query(classes=classes, blocks=blocks)
c1, c2 = st.columns(2)
include_all = c1.checkbox("Show the mean over all images", value=True, key="paper_all")
autoscale = c2.checkbox("Fit each panel's y axis to its data", value=False, key="paper_autoscale",
                        help="The paper's 0-1 axis hides class differences of 0.01-0.05; this shows them.")
if not blocks:
    st.info("Choose at least one block.")
    st.stop()
fig = plots.paper_figure(cs, blocks, classes, include_all=include_all, autoscale=autoscale)
if len(classes) >= 2:  # one click to the contrast of the first two classes at the deepest block shown
    deepest = sorted(blocks, key=run.gate_names.index)[-1]
    if st.button(f"Which channels separate {classes[0]} from {classes[1]}? (at {deepest})", key="to_contrast",
                 icon=":material/compare_arrows:"):
        st.session_state["contrast_from_paper"] = (deepest, classes[0], classes[1])
        st.switch_page(str(Path(__file__).parent / "contrast_page.py"))
show_figure(fig, run, "paper_figure")
sel = cs[cs["block"].isin(blocks) & cs["class"].isin(list(classes) + ([stats.ALL] if include_all else []))]
with st.expander("Data behind the figure"):
    st.dataframe(sel, width="stretch", hide_index=True)
    table_downloads(sel, "channel_stats")
