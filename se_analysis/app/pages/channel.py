"""One channel page: the images that open and close one gate, its values per class, its specificity rank."""

from __future__ import annotations

import io

import streamlit as st
import torch

from se_analysis.analysis.drilldown import rank_text
from se_analysis.app.common import (
    channel_stats,
    chosen_or_starting,
    group_by_widget,
    open_page,
    progress_callback,
    run_model,
    show_figure,
    table_downloads,
)
from se_analysis.app.layout import METRICS_ROW
from se_analysis.app.microscope import explained, reference_for, visualization
from se_analysis.app.state import kept
from se_analysis.data.decode import load_source_image
from se_analysis.plots.overlay import map_picture
from se_analysis.runs.run import Run
from se_analysis.views.channel import channel_view
from se_analysis.views.view import View


def channel_ui(run: Run) -> tuple[str, int, int]:
    """Block, channel (from a click on the paper figure or heatmap, the link, or the deepest block's 0) and k."""
    clicked = st.session_state.pop("drill", None)
    if clicked:
        st.session_state["channel_block"], st.session_state["channel_index"] = clicked
    c1, c2, c3 = st.columns([1, 1, 1])
    block = kept(c1.selectbox, "Block", run.gate_names, key="channel_block", default=run.gate_names[-1],
                 param="chblock")
    channels = run.gate(block).channels
    # a channel kept from a wider block, beyond this one's, is not allowed: channel 0 then
    channel = kept(c2.number_input, f"Channel (0-{channels - 1})", key="channel_index", default=0, param="ch",
                   allowed=range(channels), min_value=0, max_value=channels - 1, step=1)
    k = c3.select_slider("Images at each end", [4, 8, 12, 16, 24, 32], value=8, key="channel_k")
    return block, int(channel), k


def thumbnails_ui(table, end: str, cols: int = 8) -> None:
    """A grid of the images at one end, captioned with the gate value, label and prediction."""
    part = table[table["end"] == end].sort_values("rank")
    grid = st.columns(cols)
    for i, r in enumerate(part.itertuples()):
        img = load_source_image(r.source)
        with grid[i % cols]:
            if img is not None:
                st.image(img.convert("RGB").resize((112, 112)), width="stretch")
            else:
                st.caption(":material/cloud_off: image not on this machine")
            st.caption(f"**{r.value:.3f}** · {r.label_name} → {r.pred_name}")
    if len(part):
        edge = part.iloc[-1]
        shown = int((part["value"] == edge["value"]).sum())
        if int(edge["tied"]) > shown:
            st.caption(f"{int(edge['tied']):,} images tie at {edge['value']:.3f}; shown are the first {shown} of them "
                       "in the run's order.")


def maps_ui(run: Run, key: str, table, block: str, channel: int, cols: int = 8) -> None:
    """Where the gate opens in each of the top images: the channel's explain map blended into the image."""
    part = table[table["end"] == "top"].sort_values("rank")
    found = [(r, load_source_image(r.source)) for r in part.itertuples()]
    if all(img is None for _, img in found):
        st.info("These images are not on this machine (the run was made elsewhere): their maps need the images.")
        return
    net = run_model(run)
    z0, text = reference_for(run, key, net, block, "mean")
    grid = st.columns(cols)
    for i, (r, img) in enumerate(found):
        with grid[i % cols]:
            if img is None:
                st.caption(":material/cloud_off: not on this machine")
                continue
            e, picture = explained(key, f"run:{r.image_id}", net, net.transform(img), block, channel, z0, text)
            st.image(map_picture(picture, e, size=112), width="stretch")
            st.caption(f"gate {e.gate:.3f} · map sum {e.sum_contributions:+.2f}")
    st.caption(f"Red: where the image opens this gate, blue: where it closes it ({text}; the map of each image "
               "sums to its pre-activation's change).")


def visualize_ui(run: Run, key: str, block: str, channel: int) -> None:
    """What opens this gate most: an image optimised for it, made on a click, kept on disk."""
    st.markdown("**What opens this gate most**")
    # measured on 2 shared CPU cores: 0.5-1 s a step at the default's last block (64 steps: 35-75 s), 0.13 s at its
    # first; a GPU makes Lucid's 256 in seconds
    steps = kept(st.select_slider, "Optimisation steps", [8, 32, 64, 128, 256], key="visualize_steps",
                 default=256 if torch.cuda.is_available() else 64,
                 help="More steps: a clearer picture, made more slowly (each is kept, per model, block and channel).")
    shown = st.session_state.setdefault("visualized", set())
    wanted = (key, block, channel, steps)
    if st.button("Make it", key="visualize", icon=":material/auto_awesome:"):
        shown.add(wanted)
    if wanted not in shown:
        st.caption("An image optimised to open this gate (Lucid's recipe), beside the real images that open it.")
        return
    bar = st.progress(0.0, text="optimising…")
    vis = visualization(run_model(run), block, channel, steps, progress_callback(bar, "steps"))
    bar.empty()
    st.image(vis.image, width="stretch")
    m = run.manifest
    weights = "random weights" if not m.get("pretrained", True) else str(m.get("weights") or "its weights")
    st.caption(f"{m.get('model', 'the model')} with {weights} · pre-activation {vis.preactivation:.3g} · "
               f"{vis.steps} steps in {vis.seconds:.1f} s · seed {vis.seed}")


@st.cache_data(show_spinner=False, max_entries=16)
def view(_run: Run, key: str, block: str, channel: int, by: str, k: int, selection: tuple[str, ...] = ()) -> View:
    """The One-channel view, ranked against the page-cached channel statistics (not recomputed per channel);
    classes coloured by the session's chosen classes, as on every page."""
    return channel_view(_run, block, channel, by, k, cs=channel_stats(_run, key, by), selection=selection)


def main() -> None:
    run, key, controls, figure = open_page("One channel, up close", gate_arrays=True)
    with controls:
        by = group_by_widget(run)
        block, channel, k = channel_ui(run)
    v = view(run, key, block, channel, by, k, tuple(chosen_or_starting(run, channel_stats(run, key, by), by)))
    rank, values, table = v.facts["rank"], v.tables["channel_values"], v.tables["top_images"]
    with figure:
        m = st.columns(3)
        # the arrow follows the sign of the difference from the block's median (grey: neither good nor bad)
        m[0].metric("Class-specificity (η²)", f"{rank['specificity']:.3f}",
                    f"{rank['specificity'] - rank['median_specificity']:+.3f}", delta_color="off",
                    delta_description=f"against the block median {rank['median_specificity']:.3f}")
        m[1].metric("Rank in the block", rank_text(rank).removeprefix("rank "))  # ties said as ties
        m[2].metric("Mean gate", f"{values['value'].mean():.3f}", f"range {values['value'].min():.3f}-"
                    f"{values['value'].max():.3f}", delta_color="off", delta_arrow="off")  # a range has no direction
        show_figure(v.figures["channel"], run, "channel_violin", above=METRICS_ROW)  # presenting: under the metrics
    st.subheader(f"The {k} images that open this gate most")
    images, made = st.columns([4, 1])
    with images:
        thumbnails_ui(table, "top")
        if st.toggle("Show where the gate opens", key="channel_maps",
                     help="Each image's explain map for this channel, against the mean squeeze of the run's images."):
            maps_ui(run, key, table, block, channel)
    with made:
        visualize_ui(run, key, block, channel)
    st.subheader(f"The {k} that close it most")
    thumbnails_ui(table, "bottom")
    buf = io.BytesIO()
    v.pictures["contact_sheet"].save(buf, format="PNG")
    st.download_button("Download the contact sheet (PNG)", buf.getvalue(), file_name=f"{block}_ch{channel}.png",
                       mime="image/png", key="contact_sheet", icon=":material/download:")
    with st.expander("Tables"):
        st.dataframe(table, hide_index=True, width="stretch")
        table_downloads(table, f"top_images_{block}_ch{channel}")
        table_downloads(values, f"channel_values_{block}_ch{channel}")


main()
