"""Depth page: how gates change with depth: class-specificity, saturation, distributions, Fig. 7."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.separation import (
    precompute_separation,
    separation_to_compute,
    stored_decodability,
    stored_gate_pca,
)
from se_analysis.app.common import (
    block_quantiles,
    block_stats,
    channel_stats,
    choice_key,
    default_classes,
    first_line,
    group_by_widget,
    open_page,
    show_figure,
    table_downloads,
)
from se_analysis.app.state import kept
from se_analysis.plots.animation import depth_animation
from se_analysis.plots.separation import decodability_curve, pca_small_multiples
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

EXPLANATION = ("Class-specificity is the share of a gate's variance that the class explains (between-class over total "
               "variance, η², averaged over channels); with K classes and N images, η² is (K-1)/(N-1) by chance alone "
               "(dotted line), and ω² corrects for that bias. The paper finds early blocks class-agnostic, later ones "
               "class-specific, and gates near the end saturating towards 1.")


def notes_ui(bstats: pd.DataFrame) -> None:
    """Why a specificity may mislead (few images per class, NaN gates) and which channels are constant."""
    note = stats.specificity_note(bstats)
    if note:
        st.warning(note[0].upper() + note[1:] + ".")
    if bstats["constant_channels"].any():
        const = bstats[bstats["constant_channels"] > 0]
        st.caption("Constant channels (the gate does not vary over these images; specificity 0): " + ", ".join(
            f"{r.block} {r.constant_channels}/{r.channels}" for r in const.itertuples()) + ".")


def band_ui(run: Run, cs: pd.DataFrame, by: str) -> tuple[str, list[str]]:
    """Block and classes of the within-class band (block in the link, classes shared with the other pages)."""
    present = stats.present_classes(cs)
    c1, c2 = st.columns([1, 3])
    block = kept(c1.selectbox, "Block", run.gate_names, key="depth_block", default=run.gate_names[-1],
                 param="dblock")
    classes = kept(c2.multiselect, "Classes", present, key=choice_key("depth_classes", by),
                   default=default_classes(cs, run=run), param="classes", shared=choice_key("classes", by),
                   placeholder="Type to search the classes")
    return block, classes


@st.cache_data(show_spinner="Fitting nearest class means and permutations (once per run: kept beside it)…",
               max_entries=8)
def decodability_table(_run: Run, run_key: str, by: str) -> pd.DataFrame:
    return stored_decodability(_run, by=by)


@st.cache_resource(show_spinner="Projecting gate vectors (once per run: kept beside it)…", max_entries=4)
def pca_table(_run: Run, run_key: str, by: str) -> pd.DataFrame:
    """Every image on every block's two axes: 800,000 rows at ImageNet val on SE-ResNet-50, shared read-only
    (``st.cache_data`` would pickle it on every rerun)."""
    return stored_gate_pca(_run, by=by)


@st.cache_resource(show_spinner=False, max_entries=8)
def pca_figure(_table: pd.DataFrame, run_key: str, by: str, selection: tuple[str, ...] = ()):
    """The PCA small multiples, built once per run, grouping and chosen classes (their colours); shared
    read-only (the stamp :func:`show_figure` may add is the same every time)."""
    return pca_small_multiples(_table, selection=selection)


def separation_ui(run: Run, key: str, by: str, classes: list[str] | None = None, notice=None) -> None:
    """Classes over depth: decodability against chance and permutations, and PCA small multiples (the chosen
    ``classes`` coloured as on every page); ``notice``: where at the top of the page a progress bar tells how far
    the kept tables are, when they must be computed."""
    st.subheader("Do the classes separate over depth?")
    if not run.has_gate_arrays:
        st.info("A summary-only run keeps no per-image gates: PCA and decodability need a full run.")
        return
    st.caption("Nearest class mean on each block's gate vectors, fitted on the first half of each class's images and "
               "scored on the second half, with a bootstrap 95 % interval over the scored images; the dashed line is "
               "what the same classifier reaches with shuffled labels (95th percentile of the permutations, scored on "
               "a fixed subset of the eval images when there are many; the figure says how many), the dotted line "
               "chance. Below, every image's gate vector on its block's first two principal axes.")
    tried = st.session_state.setdefault("separation_tried", set())  # once per session (none to decode: no retry)
    if (key, by) not in tried and separation_to_compute(run, by):  # an older Run, or one without derived/
        slot = notice if notice is not None else st.empty()
        what_for = "once for this Run and grouping, kept beside it for every later open"
        bar = slot.progress(0.0, text=f"Computing the PCA and decodability over depth below ({what_for})…")
        try:
            precompute_separation(run, by, lambda done, what: bar.progress(
                min(done, 1.0), text=f"Computing the PCA and decodability over depth below ({what_for}): {what} "
                                     f"({done:.0%})"))
            tried.add((key, by))  # done (a rerun that cut it short tries again)
        finally:
            slot.empty()
    try:
        dec = decodability_table(run, key, by)
    except ValueError as e:
        line = first_line(e)
        st.info(line[0].upper() + line[1:] + ": a class needs one image to fit its mean and one to score it.")
        dec = None
    if dec is not None:
        left = int(dec["classes_left_out"].iloc[0]) if "classes_left_out" in dec else 0
        if left:
            st.caption(f"{plural(left, 'class', 'classes')} with a single image left out: a class needs one image "
                       f"to fit its mean and one to score it ({int(dec['classes'].iloc[0])} classes decoded).")
        show_figure(decodability_curve(dec), run, "decodability")
        with st.expander("Decodability table"):
            st.dataframe(dec, hide_index=True, width="stretch")
            table_downloads(dec, "decodability")
    pca = pca_table(run, key, by)
    show_figure(pca_figure(pca, key, by, tuple(classes or ())), run, "pca_over_depth")
    with st.expander("PCA table"):
        table_downloads(pca, "pca_over_depth")


def main() -> None:
    run, key, controls, figure = open_page("Gates over depth")
    with controls:
        by = group_by_widget(run)
        st.caption(EXPLANATION)
        play = kept(st.toggle, "Play through depth", key="depth_play", default=False, param="dplay", codes={"1": True},
                    help="The within-class mean ± 1 std of the classes below, one block at a time, every block in "
                         "forward order.")
    bstats = block_stats(run, key, by)
    with figure:
        notice = st.empty()  # the kept tables' progress, where it is seen (they are drawn at the page's end)
        animation = st.container()  # filled once the classes below are chosen
        show_figure(plots.specificity_curve(bstats), run, "specificity")
    notes_ui(bstats)
    show_figure(plots.depth_box(block_quantiles(run, key)), run, "depth_box")
    st.subheader("Within-class mean and spread at one block")
    cs = channel_stats(run, key, by)
    block, classes = band_ui(run, cs, by)
    show_figure(plots.within_class_band(cs, block, classes), run, "within_class")
    if play:
        with animation:
            show_figure(depth_animation(cs, run.gate_names, classes, include_all=False, spread=True), run,
                        "depth_animation")
    with st.expander("Per-block table"):
        st.dataframe(bstats, width="stretch", hide_index=True)
        table_downloads(bstats, "block_stats")
    separation_ui(run, key, by, classes, notice)


main()
