"""One image page: an image's gates against the mean gates of its class."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.app.common import group_by_widget, open_page, show_figure
from se_analysis.app.state import kept
from se_analysis.data.decode import load_source_image
from se_analysis.runs.run import Run


def image_ui(run: Run, by: str) -> tuple[pd.Series, str] | None:
    """Class, image and block (all kept in the link); the chosen image's row, or None when nothing matches."""
    images = run.images
    col_class = "label_name" if by == "label" else "pred_name"
    classes = sorted(images[col_class].unique().tolist())
    cls = kept(st.selectbox, "Class", classes, key="image_class", default=classes[0], param="iclass")
    candidates = images[images[col_class] == cls]
    only_wrong = st.checkbox("Only misclassified images", value=False, key="image_wrong", disabled=not run.has_labels)
    if only_wrong:
        candidates = candidates[candidates["correct"] == False]  # noqa: E712 - nullable boolean column
    if candidates.empty:
        st.info("No image matches.")
        return None
    ids = candidates["image_id"].tolist()
    by_id = candidates.set_index("image_id")
    image_id = kept(st.selectbox, "Image", ids, key="image_pick", default=ids[0], param="img",
                    format_func=lambda i: f"{i} → {by_id.loc[i, 'pred_name']} ({by_id.loc[i, 'confidence']:.2f})")
    block = kept(st.selectbox, "Block", run.gate_names, key="image_block", default=run.gate_names[-1],
                 param="iblock")
    return candidates[candidates["image_id"] == image_id].iloc[0], block


def main() -> None:
    run, key, controls, figure = open_page("One image against its class", gate_arrays=True)
    with controls:
        by = group_by_widget(run)
        chosen = image_ui(run, by)
    if chosen is None:
        return
    row, block = chosen
    with figure:
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


main()
