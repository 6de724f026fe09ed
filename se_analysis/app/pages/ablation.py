"""Ablation page: replace gates with their means at chosen blocks; before and after, sweeps over depth, folding."""

from __future__ import annotations

import base64
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import streamlit as st

from se_analysis import ablation as ablate
from se_analysis.ablation import MODE_LABELS, Ablation
from se_analysis.ablation.fold_search import fold_run, greedy_fold
from se_analysis.analysis import stats
from se_analysis.app.common import (
    RUN_KEY,
    block_stats,
    channel_stats,
    default_classes,
    first_line,
    open_page,
    progress_callback,
    report_download,
    run_model,
    shared_results,
    show_figure,
    store,
    table_downloads,
)
from se_analysis.app.layout import METRICS_ROW, SUBHEADER_ROW
from se_analysis.app.state import kept, query_value, set_query
from se_analysis.data.decode import load_source_image
from se_analysis.data.image_sets import ImageSet
from se_analysis.gates.blocks import block_presets
from se_analysis.models.fold import save_folded
from se_analysis.models.senet import SENet
from se_analysis.plots import ablation as plots_ablation
from se_analysis.runs.locate import images_here
from se_analysis.runs.refs import run_id
from se_analysis.runs.run import Run


@dataclass(frozen=True)
class Inputs:
    """What the ablations of one run evaluate: the model, the images, the evaluated and reference Runs."""

    net: SENet
    source: ImageSet
    evaluated: Run
    reference: Run
    text: str  # a sentence saying where the means come from


@st.cache_resource(show_spinner="Preparing the evaluated and reference images…", max_entries=4)
def _inputs(run_key: str, _net: SENet, _run: Run) -> tuple:
    """The evaluated and reference Runs of a run (cached by its key; model and Run are not hashed)."""
    return ablate.ablation_inputs(_net, _run, store())


def inputs_for(run: Run, key: str) -> Inputs:
    """The ablation inputs of the current run, or an error and a stop."""
    net = run_model(run)
    here, why = images_here(run)
    if not here and run.manifest.get("data_spec", {}).get("kind") != "uploads":
        st.info(f"Ablations run the model over the images again, and {why}. To ablate, open the run where its "
                "images are, or extract the images' copy on this machine.")
        st.stop()
    try:
        if run.manifest.get("data_spec", {}).get("kind") == "uploads":
            src = st.session_state.get("source")
            if src is None or src.fingerprint != run.manifest["data_fingerprint"]:
                st.error("This run's uploaded images are no longer in this session: upload them again on the Run page.")
                st.stop()
            return Inputs(net, src, run, run, f"means from the {len(run)} uploaded images themselves (no disjoint "
                                              "reference set)")
        return Inputs(net, *_inputs(key, net, run))
    except (OSError, ValueError) as e:
        st.error(f"The images of this run cannot be read again: {first_line(e)}")
        st.stop()


def mode_labels(run: Run) -> dict[str, str]:
    """The replacement modes this run supports (the oracle class mean needs labels)."""
    return {m: label for m, label in MODE_LABELS.items() if run.has_labels or m != "class-mean"}


def ablation_ui(evaluated: Run, key: str) -> Ablation | None:
    """Preset, blocks, mode and constant (in the link: ablate, mode, c); the Ablation to run once the button is
    pressed (or the link says it ran)."""
    names = evaluated.gate_names
    presets = {"custom": None, **block_presets(evaluated.gates)}
    labels = mode_labels(evaluated)
    c1, c2, c3 = st.columns([1, 2, 1])
    preset = kept(c1.selectbox, "Preset", list(presets), key="abl_preset", default="custom")
    # Each preset has its own blocks widget; a preset starts on its blocks, custom on the link's.
    blocks = kept(c2.multiselect, "Blocks to ablate", names, key=f"abl_blocks_{preset}",
                  default=presets[preset] or names[-1:], param="ablate", from_link=presets[preset] is None)
    if not evaluated.has_labels:
        st.caption("These images have no labels: accuracy cannot be measured, so the ablation shows flipped "
                   "predictions, the change in confidence and the KL divergence between before and after; the "
                   "class-mean (oracle) mode needs labels and is not offered.")
    mode = kept(c3.selectbox, "Replace with", list(labels), key="abl_mode", default="mean", param="mode",
                format_func=labels.get)
    constant = 1.0
    if mode == "constant":
        constant = kept(st.select_slider, "Constant (1.0 = identity, the SE block switched off)",
                        [0.0, 0.25, 0.5, 0.75, 1.0], key="abl_constant", default=1.0, param="c")
    else:
        set_query(c=None)
    if blocks and st.button("Run ablation", type="primary", key="abl_run"):
        st.session_state["abl_result"] = (key, Ablation(tuple(blocks), mode, constant))
        set_query(ran="1")
    elif "abl_result" not in st.session_state and query_value("ran") == "1" and blocks:  # a shared link
        st.session_state["abl_result"] = (key, Ablation(tuple(blocks), mode, constant))
    chosen = st.session_state.get("abl_result")
    return chosen[1] if chosen and chosen[0] == key else None


def ablation_tables(inp: Inputs, key: str, ablation: Ablation) -> dict[str, pd.DataFrame]:
    """The ablation's tables, from the cache shared by sessions, else computed with a progress bar."""
    def compute() -> dict[str, pd.DataFrame]:
        bar = st.progress(0.0, text="Ablating…")
        try:
            return ablate.run_ablation(inp.net, inp.source, inp.evaluated, ablation, inp.reference,
                                       progress=progress_callback(bar, "images")).tables()
        finally:
            bar.empty()
    return shared_results("ablation").get_or_compute((key, ablation), compute)


def metrics_ui(evaluated: Run, overall: pd.Series) -> None:
    """Four numbers: accuracy and NLL before/after and flips (labelled), or flips, confidence and KL."""
    m = st.columns(4)
    if evaluated.has_labels:
        m[0].metric("Top-1 after", f"{overall['top1_after'] * 100:.2f}%", f"{overall['top1_change'] * 100:+.2f} points")
        m[1].metric("Top-1 before", f"{overall['top1_before'] * 100:.2f}%")
        m[2].metric("Mean NLL after", f"{overall['nll_after']:.4f}", f"{overall['nll_change']:+.4f}",
                    delta_color="inverse")
        m[3].metric("Predictions flipped", f"{overall['flipped_share'] * 100:.1f}%",
                    f"{int(overall['right_to_wrong'])} right→wrong, {int(overall['wrong_to_right'])} wrong→right",
                    delta_color="off", delta_arrow="off")  # counts, not a change: no arrow
    else:
        m[0].metric("Predictions flipped", f"{overall['flipped_share'] * 100:.1f}%")
        m[1].metric("Confidence after", f"{overall['confidence_after'] * 100:.1f}%",
                    f"{overall['confidence_change'] * 100:+.1f} points", delta_color="off")
        m[2].metric("KL(before ‖ after)", f"{overall['kl_before_after']:.4f}")
        m[3].metric("Images", f"{int(overall['n'])}")


def _thumbnail(source: str) -> str | None:
    img = load_source_image(source)
    if img is None:
        return None
    buf = io.BytesIO()
    img.convert("RGB").resize((56, 56)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def result_ui(inp: Inputs, key: str, ablation: Ablation, tables: dict[str, pd.DataFrame]) -> None:
    """Before/after numbers, per-class accuracy, gates against their replacement, downstream shift, flips."""
    evaluated = inp.evaluated
    overall = tables["overall"].iloc[0]
    st.subheader(overall["ablation"])
    metrics_ui(evaluated, overall)
    if evaluated.has_labels:
        show_figure(plots_ablation.per_class_accuracy(tables["per_class"]), evaluated, "abl_per_class",
                    above=SUBHEADER_ROW + METRICS_ROW)  # presenting: under the ablation's name and numbers
    by = "label" if evaluated.has_labels else "pred"
    cs = channel_stats(evaluated, f"{key}-eval", by)
    replaced = ablate.replacement_stats(ablation, evaluated, inp.reference, by=by)
    b = st.selectbox("Block to compare", list(ablation.blocks), key="abl_overlay_block")
    classes = st.multiselect("Classes", stats.present_classes(cs), default=default_classes(cs, 2), key="abl_classes")
    show_figure(plots_ablation.gate_overlay(cs, replaced, b, classes), evaluated, "abl_overlay")
    show_figure(plots_ablation.downstream_shift(tables["downstream"]), evaluated, "abl_downstream")
    flips = tables["flips"]
    st.subheader(f"Flipped predictions ({len(flips)})")
    if len(flips):
        shown = flips.head(200).copy()
        shown.insert(0, "image", [_thumbnail(s) for s in shown["source"]])
        st.dataframe(shown.drop(columns=["ablation", "source"]), hide_index=True, width="stretch",
                     column_config={"image": st.column_config.ImageColumn("image")})
    report_download(evaluated, key, tables, label="Download report with this ablation (HTML)")
    with st.expander("Tables"):
        for name, df in tables.items():
            st.markdown(f"**{name}**")
            st.dataframe(df, hide_index=True, width="stretch")
            table_downloads(df, f"ablation_{name}")


def sweep_choice_ui(evaluated: Run, key: str) -> tuple[tuple[str, ...], str] | None:
    """Which sweeps and which replacement; (kinds, mode) once the button is pressed."""
    labels = mode_labels(evaluated)
    s1, s2 = st.columns(2)
    mode = s1.selectbox("Replace with", list(labels),
                        format_func=labels.get, key="sweep_mode")
    kinds = s2.multiselect("Sweeps", list(ablate.SWEEPS), default=list(ablate.SWEEPS), key="sweep_kinds")
    if kinds and st.button("Run sweeps", key="sweep_run"):
        st.session_state["sweep_sel"] = (key, tuple(kinds), mode)
    chosen = st.session_state.get("sweep_sel")
    return chosen[1:] if chosen and chosen[0] == key else None


def sweep_table(inp: Inputs, key: str, kind: str, mode: str, progress: Callable[[int, int], None]) -> pd.DataFrame:
    """One sweep's overall table, from the shared cache or computed."""
    return shared_results("sweep").get_or_compute((key, kind, mode), lambda: ablate.sweep(
        inp.net, inp.source, inp.evaluated, kind, mode, inp.reference, progress=progress).overall)


def sweep_figures(inp: Inputs, key: str, results: dict[str, pd.DataFrame], slots: list, final: bool) -> None:
    """The one-at-a-time bars and the cumulative curve of the sweeps finished so far."""
    evaluated = inp.evaluated
    if "one-at-a-time" in results:
        fig = plots_ablation.sweep_bars(results["one-at-a-time"], block_stats(
            evaluated, f"{key}-eval", "label" if evaluated.has_labels else "pred"))
        with slots[0].container():
            if final:
                show_figure(fig, evaluated, "sweep_bars")
            else:
                st.plotly_chart(fig, key=f"sweep-bars-{len(results)}")
    cumulative = [results[k] for k in ("cumulative-from-end", "cumulative-from-start") if k in results]
    if cumulative:
        fig = plots_ablation.cumulative_curve(cumulative)
        with slots[1].container():
            if final:
                show_figure(fig, evaluated, "sweep_cumulative")
            else:
                st.plotly_chart(fig, key=f"sweep-cum-{len(results)}")


def sweeps_ui(inp: Inputs, key: str) -> None:
    """Sweeps over depth; each figure appears as its sweep finishes, the bar says which sweep of how many."""
    st.subheader("Sweeps over depth")
    chosen = sweep_choice_ui(inp.evaluated, key)
    if not chosen:
        return
    kinds, mode = chosen
    slots = [st.empty(), st.empty()]
    results: dict[str, pd.DataFrame] = {}
    for i, kind in enumerate(kinds, 1):
        bar = st.progress(0.0, text=f"Sweep {i} of {len(kinds)}: {kind}…")
        try:
            results[kind] = sweep_table(inp, key, kind, mode, progress_callback(
                bar, f"image-ablations — sweep {i} of {len(kinds)} ({kind})"))
        except (ValueError, KeyError, RuntimeError) as e:
            st.session_state.pop("sweep_sel", None)
            st.error(f"The sweep could not run: {first_line(e)}")
            return
        finally:
            bar.empty()
        if i < len(kinds):
            sweep_figures(inp, key, results, slots, final=False)
    sweep_figures(inp, key, results, slots, final=True)
    all_sweeps = pd.concat(results.values(), ignore_index=True)
    slow = all_sweeps["fallback"].fillna("").astype(str) if "fallback" in all_sweeps else pd.Series(dtype=str)
    if (slow != "").any():
        st.info(f"These sweeps ran whole forward passes (the slow path): {slow[slow != ''].iloc[0]}.")
    with st.expander("Sweep table"):
        st.dataframe(all_sweeps, hide_index=True, width="stretch")
        table_downloads(all_sweeps, "sweeps")


def fold_ui(inp: Inputs, key: str) -> None:
    """Which SE blocks can be folded into constants within an accuracy budget, and the folded model."""
    st.subheader("Fold: which SE blocks can go")
    st.caption("A block whose gates are replaced by their reference mean is a fixed channel scale: the SE block can "
               "be removed and the scale folded exactly into the next convolution or the batch norm before it. The "
               "search folds blocks cheapest first (by their one-at-a-time cost) while top-1 stays within the budget.")
    if not inp.evaluated.has_labels:
        st.info("The fold search needs labelled images (its budget is an accuracy budget).")
        return
    budget = st.select_slider("Accuracy budget (top-1 points)", [0.0, 0.25, 0.5, 1.0, 2.0, 5.0], value=0.5,
                              key="fold_budget")
    if st.button("Search", key="fold_run"):
        st.session_state["fold_sel"] = (key, budget)
    chosen = st.session_state.get("fold_sel")
    if not chosen or chosen[0] != key:
        return
    try:
        with st.spinner("Folding blocks one at a time…"):
            table = shared_results("fold").get_or_compute(chosen, lambda: greedy_fold(
                inp.net, inp.source, inp.evaluated, inp.reference, chosen[1]))
    except (ValueError, RuntimeError) as e:
        st.session_state.pop("fold_sel", None)
        st.error(f"The fold search could not run: {first_line(e)}")
        return
    show_figure(plots_ablation.fold_pareto(table), inp.evaluated, "fold_pareto")
    st.dataframe(table, hide_index=True, width="stretch")
    table_downloads(table, "fold_pareto")
    blocks = [b for b in table["blocks"].iloc[-1].split(",") if b]
    if blocks:
        st.download_button(f"Download the folded model ({len(blocks)} SE blocks removed)",
                           lambda: folded_model_bytes(inp, blocks),
                           file_name=f"{inp.net.name.replace('/', '_')}-folded.safetensors",
                           mime="application/octet-stream", on_click="ignore", key="fold_download",
                           icon=":material/download:")
        st.caption("Open it on the Run page with **upload a checkpoint** for the same model.")


def folded_model_bytes(inp: Inputs, blocks: list[str]) -> bytes:
    """The model with these blocks folded, as a safetensors file."""
    folded, plan, _ = fold_run(inp.net, inp.evaluated, blocks, inp.reference)
    with tempfile.TemporaryDirectory() as d:
        return save_folded(folded, plan, Path(d) / "f.safetensors", inp.net.name,
                           "mean over the reference images").read_bytes()


def main() -> None:
    ref = st.session_state.get(RUN_KEY) or query_value("run")
    shown = bool(ref) and (st.session_state.get("abl_result") or (None,))[0] == run_id(ref)
    # presenting, a page without a result yet opens on its controls (not on a closed box)
    run, key, controls, figure = open_page("Ablation: replace gates with their means", gate_arrays=True,
                                           controls_open=not shown and query_value("ran") != "1")
    with controls:  # presenting: the result first, these in a collapsed expander below it
        st.caption("Replacing a block's gates by a constant per channel removes its input-dependence. If accuracy "
                   "barely moves, that block's excitation could be a fixed channel scaling; if it drops, the network "
                   "needs the gate to respond to the image.")
        inp = inputs_for(run, key)
        st.info(f"Reference set: {inp.text}.")
        ablation = ablation_ui(inp.evaluated, key)
    tables = None
    if ablation is not None:
        try:
            tables = ablation_tables(inp, key, ablation)
        except (ValueError, KeyError, RuntimeError) as e:
            st.session_state.pop("abl_result", None)  # the next choice starts clean
            set_query(ran=None)
            st.error(f"This ablation could not run: {first_line(e)}")
    if tables is not None:
        with figure:
            result_ui(inp, key, ablation, tables)
    st.divider()
    sweeps_ui(inp, key)
    st.divider()
    fold_ui(inp, key)

main()
