"""One image page: an image's gates against the mean gates of its class."""

import streamlit as st

from se_analysis import plots, stats
from se_analysis.app_pages.common import group_by_widget, require_gate_arrays, require_run, show_figure
from se_analysis.data import load_source_image

st.title("One image against its class")
run, key = require_run()
require_gate_arrays(run)
by = group_by_widget(run)
images = run.images
col_class = "label_name" if by == "label" else "pred_name"
classes = sorted(images[col_class].unique().tolist())
cls = st.selectbox("Class", classes, key="image_class")
candidates = images[images[col_class] == cls]
only_wrong = st.checkbox("Only misclassified images", value=False, key="image_wrong",
                         disabled=not run.has_labels)
if only_wrong:
    candidates = candidates[candidates["correct"] == False]  # noqa: E712 - nullable boolean column
if candidates.empty:
    st.info("No image matches.")
    st.stop()
row_pos = st.selectbox("Image", list(range(len(candidates))), key="image_pick",
                       format_func=lambda i: f"{candidates.iloc[i]['image_id']} → {candidates.iloc[i]['pred_name']} "
                                             f"({candidates.iloc[i]['confidence']:.2f})")
row = candidates.iloc[row_pos]
block = st.selectbox("Block", run.gate_names, index=len(run.gate_names) - 1, key="image_block")
left, right = st.columns([1, 4])
img = load_source_image(row["source"])
if img is not None:
    left.image(img.resize((112, 112)) if img.size[0] < 112 else img, caption=row["image_id"])
else:
    left.caption("(image not available)")
left.markdown(f"label **{row['label_name']}**  \npredicted **{row['pred_name']}** ({row['confidence']:.2f})")
df = stats.image_gates(run, int(row["index"]), by=by, blocks=[block])
with right:
    show_figure(plots.image_gates_figure(df, block), run, "image_gates")
