"""Depth page: how gates change with depth: class-specificity, saturation, distributions, Fig. 7."""

import streamlit as st

from se_analysis import plots, stats
from se_analysis.app_pages.common import (block_quantiles, block_stats, channel_stats, default_classes,
                                          group_by_widget, require_run, show_figure, table_downloads)

st.title("Gates over depth")
run, key = require_run()
by = group_by_widget(run)
bstats = block_stats(run, key, by)
st.caption("Class-specificity is the share of a gate's variance that the class explains (between-class over total "
           "variance, η², averaged over channels); with K classes and N images, η² is (K-1)/(N-1) by chance alone (dotted "
           "line), and ω² corrects for that bias. The paper finds early blocks class-agnostic, later ones "
           "class-specific, and gates near the end saturating towards 1.")
note = stats.specificity_note(bstats)
if note:
    st.warning(note[0].upper() + note[1:] + ".")
if bstats["constant_channels"].any():
    const = bstats[bstats["constant_channels"] > 0]
    st.caption("Constant channels (the gate does not vary over these images; specificity 0): " + ", ".join(
        f"{r.block} {r.constant_channels}/{r.channels}" for r in const.itertuples()) + ".")
show_figure(plots.specificity_curve(bstats), run, "specificity")
show_figure(plots.depth_box(block_quantiles(run, key)), run, "depth_box")

st.subheader("Within-class mean and spread at one block")
cs = channel_stats(run, key, by)
block = st.selectbox("Block", run.gate_names, index=len(run.gate_names) - 1, key="depth_block")
present = stats.present_classes(cs)
classes = st.multiselect("Classes", present, default=default_classes(cs, 2), key="depth_classes")
show_figure(plots.within_class_band(cs, block, classes), run, "within_class")
with st.expander("Per-block table"):
    st.dataframe(bstats, width="stretch", hide_index=True)
    table_downloads(bstats, "block_stats")
