"""One channel page: the images that open and close one gate, its values per class, its specificity rank."""

from __future__ import annotations

import io

import streamlit as st

from se_analysis.analysis.drilldown import (
    channel_rank,
    channel_values,
    contact_sheet,
    top_images,
)
from se_analysis.app.common import (
    channel_stats,
    group_by_widget,
    open_page,
    show_figure,
    table_downloads,
)
from se_analysis.app.state import persist, prepare
from se_analysis.data.decode import load_source_image
from se_analysis.plots.separation import channel_violin
from se_analysis.runs.run import Run


def channel_ui(run: Run) -> tuple[str, int, int]:
    """Block, channel (from a click on the paper figure or heatmap, the link, or the deepest block's 0) and k."""
    clicked = st.session_state.pop("drill", None)
    if clicked:
        st.session_state["channel_block"], st.session_state["channel_index"] = clicked
    prepare("channel_block", run.gate_names[-1], "chblock", run.gate_names)
    c1, c2, c3 = st.columns([1, 1, 1])
    block = c1.selectbox("Block", run.gate_names, key="channel_block")
    channels = run.gate(block).channels
    prepare("channel_index", 0, "ch", list(range(channels)))
    if st.session_state["channel_index"] >= channels:
        st.session_state["channel_index"] = 0
    channel = c2.number_input(f"Channel (0-{channels - 1})", 0, channels - 1, step=1, key="channel_index")
    k = c3.select_slider("Images at each end", [4, 8, 12, 16, 24, 32], value=8, key="channel_k")
    persist("channel_block", "chblock")
    persist("channel_index", "ch")
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


def main() -> None:
    run, key, controls, figure = open_page("One channel, up close", gate_arrays=True)
    with controls:
        by = group_by_widget(run)
        block, channel, k = channel_ui(run)
    cs = channel_stats(run, key, by)
    rank = channel_rank(cs, block, channel)
    values = channel_values(run, block, channel, by)
    with figure:
        m = st.columns(3)
        m[0].metric("Class-specificity (η²)", f"{rank['specificity']:.3f}",
                    f"block median {rank['median_specificity']:.3f}", delta_color="off")
        m[1].metric("Rank in the block", f"{rank['rank']} of {rank['channels']}")
        m[2].metric("Mean gate", f"{values['value'].mean():.3f}", f"range {values['value'].min():.3f}-"
                    f"{values['value'].max():.3f}", delta_color="off")
        show_figure(channel_violin(values, rank), run, "channel_violin")
    table = top_images(run, block, channel, k)
    st.subheader(f"The {k} images that open this gate most")
    thumbnails_ui(table, "top")
    st.subheader(f"The {k} that close it most")
    thumbnails_ui(table, "bottom")
    buf = io.BytesIO()
    contact_sheet(table).save(buf, format="PNG")
    st.download_button("Download the contact sheet (PNG)", buf.getvalue(), file_name=f"{block}_ch{channel}.png",
                       mime="image/png", key="contact_sheet", icon=":material/download:")
    with st.expander("Tables"):
        st.dataframe(table, hide_index=True, width="stretch")
        table_downloads(table, f"top_images_{block}_ch{channel}")
        table_downloads(values, f"channel_values_{block}_ch{channel}")


main()
