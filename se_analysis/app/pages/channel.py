"""One channel page: the images that open and close one gate, its values per class, its specificity rank."""

from __future__ import annotations

import io

import streamlit as st

from se_analysis.app.common import (
    channel_stats,
    group_by_widget,
    open_page,
    show_figure,
    table_downloads,
)
from se_analysis.app.layout import METRICS_ROW
from se_analysis.app.state import kept
from se_analysis.data.decode import load_source_image
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
            st.caption(f"**{r.value:.3f}** · {r.label_name} → {r.pred_name}")


@st.cache_data(show_spinner=False, max_entries=16)
def view(_run: Run, key: str, block: str, channel: int, by: str, k: int) -> View:
    """The One-channel view, ranked against the page-cached channel statistics (not recomputed per channel)."""
    return channel_view(_run, block, channel, by, k, cs=channel_stats(_run, key, by))


def main() -> None:
    run, key, controls, figure = open_page("One channel, up close", gate_arrays=True)
    with controls:
        by = group_by_widget(run)
        block, channel, k = channel_ui(run)
    v = view(run, key, block, channel, by, k)
    rank, values, table = v.facts["rank"], v.tables["channel_values"], v.tables["top_images"]
    with figure:
        m = st.columns(3)
        # the arrow follows the sign of the difference from the block's median (grey: neither good nor bad)
        m[0].metric("Class-specificity (η²)", f"{rank['specificity']:.3f}",
                    f"{rank['specificity'] - rank['median_specificity']:+.3f}", delta_color="off",
                    delta_description=f"against the block median {rank['median_specificity']:.3f}")
        m[1].metric("Rank in the block", f"{rank['rank']} of {rank['channels']}")
        m[2].metric("Mean gate", f"{values['value'].mean():.3f}", f"range {values['value'].min():.3f}-"
                    f"{values['value'].max():.3f}", delta_color="off", delta_arrow="off")  # a range has no direction
        show_figure(v.figures["channel"], run, "channel_violin", above=METRICS_ROW)  # presenting: under the metrics
    st.subheader(f"The {k} images that open this gate most")
    thumbnails_ui(table, "top")
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
