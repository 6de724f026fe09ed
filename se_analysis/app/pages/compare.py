"""Compare page: two Runs with the same gates side by side (two image sets, trained against random, two checkpoints)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis.analysis.two_runs import gate_differences, run_differences
from se_analysis.app.common import (
    OPENED_KEY,
    RUN_KEY,
    first_line,
    load_run,
    require_run,
    run_path,
    show_figure,
    store,
    table_downloads,
)
from se_analysis.app.layout import controls_and_figure
from se_analysis.app.state import kept
from se_analysis.runs.refs import RunNotFound
from se_analysis.runs.run import Run, manifest_row
from se_analysis.utils.text import plural
from se_analysis.views.two_runs import two_runs_view
from se_analysis.views.view import View


def describe(row: pd.Series) -> str:
    weights = "random weights" if not row["pretrained"] else str(row["weights"])[:40]
    return f"{row['model']} · {weights} · {row['data']} · {plural(int(row['images']), 'image')} · {row['key']}"


def pick_ui(runs: pd.DataFrame, current: str) -> tuple[str, str]:
    """Run A (the current run by default) and run B (kept in the link as ``ra`` and ``rb``): by default the
    newest other run with A's gates (names and channel counts), else the newest other run."""
    keys = runs["key"].tolist()
    gates = dict(zip(runs["key"], runs["gate_channels"]))
    a = kept(st.selectbox, "Run A", keys, key="compare_a", default=current, param="ra",
             format_func={row["key"]: describe(row) for _, row in runs.iterrows()}.get)
    others = [k for k in keys if k != a]
    alike = [k for k in others if not gate_differences(gates[a], gates[k])]
    label = {row["key"]: describe(row) + ("" if row["key"] in alike or row["key"] == a else " · other gates")
             for _, row in runs.iterrows()}
    b = kept(st.selectbox, "Run B", keys, key="compare_b", default=(alike or others)[0], param="rb",
             format_func=label.get)
    return a, b


@st.cache_data(show_spinner="Comparing every channel…", max_entries=8)
def compare_view(_a: Run, _b: Run, key_a: str, key_b: str) -> View:
    """The Compare view of A against B (its tables, and the deepest block's differences)."""
    return two_runs_view(_a, _b)


def main() -> None:
    st.title("Two runs side by side")
    run, current = require_run()
    runs = store().list()
    ref = st.session_state.get(RUN_KEY)
    stored = set(runs["key"])
    by_path = []  # Runs this session opened by path (the current one first): offered as A and as B
    for opened in dict.fromkeys([ref, *reversed(st.session_state.get(OPENED_KEY, []))]):
        if opened and opened not in stored:
            try:
                row = manifest_row(run_path(opened))
            except RunNotFound:  # moved away since
                row = None
            if row is not None:
                by_path.append({"key": opened, **row})
    if by_path:
        runs = pd.concat([pd.DataFrame(by_path), runs], ignore_index=True)
        if ref == by_path[0]["key"]:
            current = ref
    runs = runs[~runs["summary_only"].astype(bool)]
    if len(runs) < 2:
        st.info("Only one run is stored or open. Make a second one on the Run page (the same model on other images, "
                "random weights, or another checkpoint), or open another Run folder there; then compare them here.")
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
    a, b = load_run(key_a), load_run(key_b)
    try:
        view = compare_view(a, b, key_a, key_b)
    except ValueError as e:
        st.error(f"These runs do not compare: {first_line(e)}")
        st.info("Runs compare when their models have the same gates: the same model on other images, with "
                "random weights, or with another checkpoint. Runs marked “· other gates” in Run B do not.")
        return
    differences = run_differences(a, b)
    if differences:  # they compare on the gates they share
        st.info("Compared on the gates both runs have with the same channel count; otherwise: "
                + "; ".join(differences) + ".")
    shift, blocks = view.tables["channel_shift"], view.tables["block_shift"]
    with figure:
        show_figure(view.figures["shift"], a, "compare_shift")
    show_figure(view.figures["specificity"], a, "compare_specificity")
    names = blocks["block"].tolist()
    block = kept(st.selectbox, "Block", names, key="compare_block", default=names[-1], param="cmpblock")
    if f"difference_{block}" not in view.figures:  # another block than the deepest: drawn from the cached tables
        view = two_runs_view(a, b, blocks=[block], tables=view.tables)
    show_figure(view.figures[f"difference_{block}"], a, "compare_difference")
    with st.expander("Tables"):
        st.dataframe(blocks, hide_index=True, width="stretch")
        table_downloads(blocks, "block_shift")
        table_downloads(shift, "channel_shift")


main()
