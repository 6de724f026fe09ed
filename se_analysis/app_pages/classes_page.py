"""Class x channel page: a heatmap of mean gates per class and channel at one block."""

import streamlit as st

from se_analysis import plots
from se_analysis.app_pages.common import channel_stats, group_by_widget, require_run, show_figure

st.title("Class × channel")
run, key = require_run()
by = group_by_widget(run)
cs = channel_stats(run, key, by)
block = st.selectbox("Block", run.gate_names, index=len(run.gate_names) - 1, key="heatmap_block")
show_figure(plots.class_heatmap(cs, block), run, "class_heatmap")
