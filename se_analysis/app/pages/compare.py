"""Compare page: two Runs with the same gates side by side (two image sets, trained against random, two checkpoints)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis.analysis.two_runs import block_shift, channel_shift, specificity_pair
from se_analysis.app.common import (
    _load_run,
    first_line,
    require_run,
    show_figure,
    store,
    table_downloads,
)
from se_analysis.app.layout import controls_and_figure
from se_analysis.app.state import persist, prepare
from se_analysis.plots.two_runs import (
    difference_per_channel,
    shift_per_block,
    specificity_both,
)
from se_analysis.runs.run import Run


def describe(row: pd.Series) -> str:
    weights = "random weights" if not row["pretrained"] else str(row["weights"])[:40]
    return f"{row['model']} · {weights} · {row['data']} · {row['images']} images · {row['key']}"


def pick_ui(runs: pd.DataFrame, current: str) -> tuple[str, str]:
    """Run A (the current run by default) and run B (kept in the link as ``a`` and ``b``)."""
    keys = runs["key"].tolist()
    label = {row["key"]: describe(row) for _, row in runs.iterrows()}
    others = [k for k in keys if k != current]
    prepare("compare_a", current, "ra", keys)
    prepare("compare_b", others[0], "rb", keys)
    a = st.selectbox("Run A", keys, key="compare_a", format_func=label.get)
    b = st.selectbox("Run B", keys, key="compare_b", format_func=label.get)
    persist("compare_a", "ra")
    persist("compare_b", "rb")
    return a, b


def load(key: str) -> Run:
    path = store().path(key)
    return _load_run(str(path), (path / "manifest.json").stat().st_mtime)


@st.cache_data(show_spinner="Comparing every channel…", max_entries=8)
def shift_tables(_a: Run, _b: Run, key_a: str, key_b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    shift = channel_shift(_a, _b)
    return shift, block_shift(shift)


def main() -> None:
    st.title("Two runs side by side")
    _, current = require_run()
    runs = store().list()
    runs = runs[~runs["summary_only"]]
    if len(runs) < 2:
        st.info("Only one run is stored. Make a second one on the Run page: the same model on other images, random "
                "weights, or another checkpoint; then compare them here.")
        return
    controls, figure = controls_and_figure()
    with controls:
        st.caption("Per channel: A − B of the mean gate, Welch's t-test over the two runs' images with "
                   "Benjamini-Hochberg correction within each block. Per block: the mean |A − B| (the shift) and the "
                   "share of channels that differ.")
        key_a, key_b = pick_ui(runs, current if current in set(runs["key"]) else runs["key"].iloc[0])
    if key_a == key_b:
        st.info("Choose two different runs.")
        return
    a, b = load(key_a), load(key_b)
    try:
        shift, blocks = shift_tables(a, b, key_a, key_b)
    except ValueError as e:
        st.error(f"These runs do not compare: {first_line(e)}")
        return
    with figure:
        show_figure(shift_per_block(blocks), a, "compare_shift")
    pair = specificity_pair(a, b, ("A", "B"))
    show_figure(specificity_both(pair), a, "compare_specificity")
    names = blocks["block"].tolist()
    prepare("compare_block", names[-1], "cmpblock", names)
    block = st.selectbox("Block", names, key="compare_block")
    persist("compare_block", "cmpblock")
    show_figure(difference_per_channel(shift, block), a, "compare_difference")
    with st.expander("Tables"):
        st.dataframe(blocks, hide_index=True, width="stretch")
        table_downloads(blocks, "block_shift")
        table_downloads(shift, "channel_shift")


main()
