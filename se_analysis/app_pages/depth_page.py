"""Depth page: how gates change with depth: class-specificity, saturation, distributions, Fig. 7."""

import streamlit as st

from se_analysis import plots
from se_analysis.app_pages.common import (block_quantiles, block_summary, channel_stats, default_classes,
                                          group_by_widget, require_run, show_figure, table_downloads)

st.title("Gates over depth")
run, key = require_run()
by = group_by_widget(run)
summary = block_summary(run, key, by)
st.caption("Class-specificity is the share of a gate's variance that the class explains (between-class over total "
           "variance, η², averaged over channels). The paper finds early blocks class-agnostic, later ones "
           "class-specific, and gates near the end saturating towards 1.")
show_figure(plots.specificity_curve(summary), run, "specificity")
show_figure(plots.depth_box(block_quantiles(run, key)), run, "depth_box")

st.subheader("Within-class mean and spread at one block")
cs = channel_stats(run, key, by)
block = st.selectbox("Block", run.gate_names, index=len(run.gate_names) - 1, key="depth_block")
present = cs[cs["class_index"] >= 0].drop_duplicates("class").sort_values("class_index")["class"].tolist()
classes = st.multiselect("Classes", present, default=[c for c in default_classes(run.class_names) if c in present][:2],
                         key="depth_classes")
show_figure(plots.within_class_band(cs, block, classes), run, "within_class")
with st.expander("Per-block table"):
    st.dataframe(summary, width="stretch", hide_index=True)
    table_downloads(summary, "block_summary")
