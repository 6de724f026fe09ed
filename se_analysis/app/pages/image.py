"""One image page: an image's gates against the mean gates of its class, and where in it the gates open;
or your own image (an upload or the camera) through the run's model."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.single import gates_against_class, top_predictions
from se_analysis.app.common import channel_stats, group_by_widget, open_page, run_model, show_figure
from se_analysis.app.microscope import REFERENCES, explained, own_image, reference_for
from se_analysis.app.state import kept
from se_analysis.data.decode import load_source_image
from se_analysis.plots.microscope import explain_figure
from se_analysis.runs.run import Run

SOURCES = {"run": "from this run", "own": "your own (upload or camera)"}
WHOLE_BLOCK = -1  # the channel picker's "whole block"
OWN_LINE = 45  # px: the prediction's line above the own image's map, presenting


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
    return candidates[candidates["image_id"] == image_id].iloc[0], block_ui(run)


def block_ui(run: Run) -> str:
    """The block (kept in the link)."""
    return kept(st.selectbox, "Block", run.gate_names, key="image_block", default=run.gate_names[-1],
                param="iblock")


def explain_ui(run: Run, block: str) -> tuple[int | None, str]:
    """The explain map's channel (None: the whole block) and its reference (``mean`` or ``zero``), in the link."""
    c1, c2 = st.columns(2)
    channels = [WHOLE_BLOCK, *range(run.gate(block).channels)]
    channel = kept(c1.selectbox, "Where the gates open: channel", channels, key="image_channel", default=WHOLE_BLOCK,
                   param="ich", format_func=lambda c: "whole block" if c == WHOLE_BLOCK else f"channel {c}")
    reference = kept(c2.radio, "Against", list(REFERENCES), key="image_reference", default="mean", param="iref",
                     format_func=REFERENCES.get, horizontal=True,
                     help="What the image's squeeze is compared with: the mean squeeze of up to 64 of the run's "
                          "images, or zero.")
    return (None if channel == WHOLE_BLOCK else int(channel)), reference


def map_ui(run: Run, key: str, image_id: str, img, block: str, channel: int | None, reference: str) -> None:
    """The explain map of a run's image (``img``: its file, None when it is not on this machine)."""
    if img is None:
        st.info("This image is not on this machine (the run was made elsewhere): where its gates open needs the "
                "image itself.")
        return
    net = run_model(run)
    z0, text = reference_for(run, key, net, block, reference)
    e, picture = explained(key, f"run:{image_id}", net, net.transform(img), block, channel, z0, text)
    show_figure(explain_figure(picture, e), run, "image_explain")


def own_image_ui(run: Run, key: str, by: str, block: str, channel: int | None, reference: str) -> None:
    """Your own image through the run's model (no new run): its top-5, its map, its gates against its class."""
    net = run_model(run)
    results = st.container()  # above the inputs: presenting, a photo's results show without scrolling
    camera = st.toggle("Use the camera", key="own_camera", help="The browser asks for the camera only once this is on.")
    got = st.camera_input("Take a photo", key="own_photo") if camera else \
        st.file_uploader("Your image", key="own_upload", help="Any image file (JPEG, PNG, WebP, …); it goes "
                         "through this run's model and is not added to the run.")
    if got is None:
        st.caption("Upload an image, or turn on the camera: it goes through this run's model, not into the run.")
        return
    result, digest = own_image(key, net, got.getvalue())
    if isinstance(result, str):
        results.error(result)
        return
    top = top_predictions(result.logits, net.class_names)
    predicted = top["class"].iloc[0]
    gates = gates_against_class(result.gates, channel_stats(run, key, by), predicted, blocks=[block])
    z0, text = reference_for(run, key, net, block, reference)
    e, picture = explained(key, f"own:{digest}", net, result.input, block, channel, z0, text)
    with results:  # presenting: the prediction's line and the map fill the screen; the top-5 and gates below
        st.markdown(f"predicted **{predicted}** ({top['probability'].iloc[0]:.2f}), by this run's model")
        show_figure(explain_figure(picture, e), run, "own_explain", above=OWN_LINE)
        left, right = st.columns([1, 2])
        left.dataframe(top[["class", "probability"]], hide_index=True, width="stretch", column_config={
            "probability": st.column_config.ProgressColumn("probability", format="%.3f", min_value=0.0,
                                                           max_value=1.0)})
        if gates["class"].iloc[0] != predicted:
            left.caption(f"This run has no image of {predicted}: the gates are shown against the mean over all "
                         "its images.")
        with right:
            show_figure(plots.image_gates_figure(gates, block), run, "own_gates")


def main() -> None:
    run, key, controls, figure = open_page("One image against its class", gate_arrays=True)
    with controls:
        own = kept(st.radio, "Image", list(SOURCES), key="image_source", default="run", param="isrc",
                   format_func=SOURCES.get, horizontal=True) == "own"
        by = group_by_widget(run)
        chosen = (None, block_ui(run)) if own else image_ui(run, by)
        if chosen is not None:
            channel, reference = explain_ui(run, chosen[1])
    if chosen is None:
        return
    row, block = chosen
    if own:
        with figure:
            own_image_ui(run, key, by, block, channel, reference)
        return
    with figure:
        left, right = st.columns([1, 4])
        img = load_source_image(row["source"])
        if img is not None:
            left.image(img.resize((112, 112)) if img.size[0] < 112 else img, caption=row["image_id"])
        else:
            left.caption(":material/cloud_off: this image is not on this machine (the statistics are from the "
                         "stored gates)")
        left.markdown(f"label **{row['label_name']}**  \npredicted **{row['pred_name']}** ({row['confidence']:.2f})")
        df = stats.image_gates(run, int(row["index"]), by=by, blocks=[block])
        with right:
            show_figure(plots.image_gates_figure(df, block), run, "image_gates")
        map_ui(run, key, row["image_id"], img, block, channel, reference)


main()
