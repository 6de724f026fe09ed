"""Class x channel page: a heatmap of mean gates per class and channel at one block."""

import streamlit as st

from se_analysis import plots
from se_analysis.app_pages.common import channel_stats, group_by_widget, require_run, show_figure, table_downloads
from se_analysis.similarity import class_similarity

st.title("Class × channel")
run, key = require_run()
by = group_by_widget(run)
cs = channel_stats(run, key, by)
block = st.selectbox("Block", run.gate_names, index=len(run.gate_names) - 1, key="heatmap_block")
show_figure(plots.class_heatmap(cs, block), run, "class_heatmap")

st.subheader("Which classes this block treats alike")
metric = st.radio("Similarity", ["cosine", "correlation"], horizontal=True, key="similarity_metric",
                  help="Of the classes' mean gate vectors at the block; classes are ordered by average-linkage "
                       "clustering so that similar ones sit together.")
sim, order = class_similarity(cs, block, metric)
show_figure(plots.similarity_heatmap(sim, order), run, "class_similarity")
with st.expander("Data behind the figure"):
    st.dataframe(sim, hide_index=True, width="stretch")
    table_downloads(sim, f"class_similarity_{block}")
