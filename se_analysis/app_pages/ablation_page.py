"""Ablation page: replace gates with their means at chosen blocks; before and after, and sweeps over depth."""

from __future__ import annotations

import base64
import io

import pandas as pd
import streamlit as st

from se_analysis import ablate, plots_ablation, stats
from se_analysis.app_pages.common import (block_stats, channel_stats, default_classes, progress_callback,
                                          report_download, require_gate_arrays, require_run, run_model, show_figure,
                                          store, table_downloads)
from se_analysis.blocks import block_presets
from se_analysis.app_pages.view import query_list, query_value, set_query
from se_analysis.data import load_source_image

st.title("Ablation: replace gates with their means")
run, key = require_run()
require_gate_arrays(run)
st.caption("Replacing a block's gates by a constant per channel removes its input-dependence. If accuracy barely "
           "moves, that block's excitation could be a fixed channel scaling; if it drops, the network needs the "
           "gate to respond to the image.")
net = run_model(run)


@st.cache_resource(show_spinner="Preparing the evaluated and reference images…", max_entries=4)
def _inputs(run_key: str, _net, _run):
    """The evaluated and reference Runs of a run (cached by its key; model and Run are not hashed)."""
    return ablate.ablation_inputs(_net, _run, store())


try:
    if run.manifest.get("data_spec", {}).get("kind") == "uploads":
        src = st.session_state.get("source")
        if src is None or src.fingerprint != run.manifest["data_fingerprint"]:
            st.error("This run's uploaded images are no longer in this session: upload them again on the Run page.")
            st.stop()
        ev_source, evaluated, reference = src, run, run
        ref_text = f"means from the {len(run)} uploaded images themselves (no disjoint reference set)"
    else:
        ev_source, evaluated, reference, ref_text = _inputs(key, net, run)
except (OSError, ValueError) as e:
    st.error(f"The images of this run cannot be read again: {e}")
    st.stop()
st.info(f"Reference set: {ref_text}.")

names = evaluated.gate_names
presets = {"custom": None, **block_presets(evaluated.gates)}
c1, c2, c3 = st.columns([1, 2, 1])
preset = c1.selectbox("Preset", list(presets), key="abl_preset")
default_blocks = presets[preset] or query_list("ablate", names) or names[-1:]
blocks = c2.multiselect("Blocks to ablate", names, default=default_blocks, key=f"abl_blocks_{preset}")
mode_labels = {"mean": "mean over the reference set", "class-mean": "class mean (oracle: uses the true label)",
               "predicted-class-mean": "mean of the predicted class", "constant": "constant",
               "shuffle": "gates of another random image (control)"}
if not evaluated.has_labels:  # the oracle needs true labels
    mode_labels.pop("class-mean")
    st.caption("These images have no labels: accuracy cannot be measured, so the ablation shows flipped predictions, "
               "the change in confidence and the KL divergence between before and after; the class-mean (oracle) "
               "mode needs labels and is not offered.")
mode = c3.selectbox("Replace with", list(mode_labels), format_func=mode_labels.get, key="abl_mode",
                    index=list(mode_labels).index(query_value("mode", list(mode_labels)) or "mean"))
set_query(ablate=blocks, mode=mode)
constant = 1.0
if mode == "constant":
    constant = st.select_slider("Constant (1.0 = identity, the SE block switched off)", [0.0, 0.25, 0.5, 0.75, 1.0],
                                value=1.0, key="abl_constant")


def _ablate(run_key: str, blocks: tuple, mode: str, constant: float) -> dict:
    """Ablation tables, computed once per session and choice (with a progress bar)."""
    cache = st.session_state.setdefault("abl_cache", {})
    sel = (run_key, blocks, mode, constant)
    if sel not in cache:
        bar = st.progress(0.0, text="Ablating…")
        try:
            res = ablate.run_ablation(net, ev_source, evaluated, ablate.Ablation(blocks, mode, constant), reference,
                                      progress=progress_callback(bar, "images"))
        finally:
            bar.empty()
        cache[sel] = res.tables()
    return cache[sel]


if blocks and st.button("Run ablation", type="primary", key="abl_run"):
    st.session_state["abl_result"] = (key, tuple(blocks), mode, constant)

sel = st.session_state.get("abl_result")
tables = None
if sel and sel[0] == key:
    try:
        tables = _ablate(*sel)
    except (ValueError, KeyError, RuntimeError) as e:
        st.session_state.pop("abl_result", None)  # the next choice starts clean
        st.error(f"This ablation could not run: {str(e.args[0] if isinstance(e, KeyError) else e).splitlines()[0]}")
if tables is not None:
    summary = tables["overall"].iloc[0]
    st.subheader(summary["ablation"])
    m = st.columns(4)
    if evaluated.has_labels:
        m[0].metric("Top-1 after", f"{summary['top1_after'] * 100:.2f}%", f"{summary['top1_change'] * 100:+.2f} points")
        m[1].metric("Top-1 before", f"{summary['top1_before'] * 100:.2f}%")
        m[2].metric("Mean NLL after", f"{summary['nll_after']:.4f}", f"{summary['nll_change']:+.4f}",
                    delta_color="inverse")
        m[3].metric("Predictions flipped", f"{summary['flipped_share'] * 100:.1f}%",
                    f"{int(summary['right_to_wrong'])} right→wrong, {int(summary['wrong_to_right'])} wrong→right",
                    delta_color="off")
        show_figure(plots_ablation.per_class_accuracy(tables["per_class"]), evaluated, "abl_per_class")
    else:
        m[0].metric("Predictions flipped", f"{summary['flipped_share'] * 100:.1f}%")
        m[1].metric("Confidence after", f"{summary['confidence_after'] * 100:.1f}%",
                    f"{summary['confidence_change'] * 100:+.1f} points", delta_color="off")
        m[2].metric("KL(before ‖ after)", f"{summary['kl_before_after']:.4f}")
        m[3].metric("Images", f"{int(summary['n'])}")
    cs = channel_stats(evaluated, f"{key}-eval", "label" if evaluated.has_labels else "pred")
    ab = ablate.Ablation(sel[1], sel[2], sel[3])
    replaced = ablate.replacement_stats(ab, evaluated, reference)
    b = st.selectbox("Block to compare", list(sel[1]), key="abl_overlay_block")
    present = stats.present_classes(cs)
    classes = st.multiselect("Classes", present, default=default_classes(cs, 2), key="abl_classes")
    show_figure(plots_ablation.gate_overlay(cs, replaced, b, classes), evaluated, "abl_overlay")
    show_figure(plots_ablation.downstream_shift(tables["downstream"]), evaluated, "abl_downstream")
    flips = tables["flips"]
    st.subheader(f"Flipped predictions ({len(flips)})")
    if len(flips):
        def thumb(source: str) -> str | None:
            img = load_source_image(source)
            if img is None:
                return None
            buf = io.BytesIO()
            img.convert("RGB").resize((56, 56)).save(buf, format="PNG")
            return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

        shown = flips.head(200).copy()
        shown.insert(0, "image", [thumb(s) for s in shown["source"]])
        st.dataframe(shown.drop(columns=["ablation", "source"]), hide_index=True, width="stretch",
                     column_config={"image": st.column_config.ImageColumn("image")})
    report_download(evaluated, key, tables, label="Download report with this ablation (HTML)")
    with st.expander("Tables"):
        for name, df in tables.items():
            st.markdown(f"**{name}**")
            st.dataframe(df, hide_index=True, width="stretch")
            table_downloads(df, f"ablation_{name}")

st.divider()
st.subheader("Sweeps over depth")
s1, s2 = st.columns(2)
sweep_mode = s1.selectbox("Replace with", [m for m in ("mean", "constant", "predicted-class-mean", "class-mean", "shuffle")
                                          if m in mode_labels], format_func=mode_labels.get, key="sweep_mode")
kinds = s2.multiselect("Sweeps", list(ablate.SWEEPS), default=list(ablate.SWEEPS), key="sweep_kinds")


def _sweep(run_key: str, kind: str, mode: str) -> pd.DataFrame:
    """A sweep's summary table, computed once per session and choice (with a progress bar)."""
    cache = st.session_state.setdefault("sweep_cache", {})
    if (run_key, kind, mode) not in cache:
        bar = st.progress(0.0, text=f"Sweep {kind}…")
        try:
            res = ablate.sweep(net, ev_source, evaluated, kind, mode, reference,
                               progress=progress_callback(bar, f"image-ablations ({kind})"))
        finally:
            bar.empty()
        cache[(run_key, kind, mode)] = res.overall
    return cache[(run_key, kind, mode)]


if kinds and st.button("Run sweeps", key="sweep_run"):
    st.session_state["sweep_sel"] = (key, tuple(kinds), sweep_mode)
ssel = st.session_state.get("sweep_sel")
results = None
if ssel and ssel[0] == key:
    try:
        results = {kind: _sweep(key, kind, ssel[2]) for kind in ssel[1]}
    except (ValueError, KeyError, RuntimeError) as e:
        st.session_state.pop("sweep_sel", None)
        st.error(f"The sweep could not run: {str(e.args[0] if isinstance(e, KeyError) else e).splitlines()[0]}")
if results is not None:
    if "one-at-a-time" in results:
        show_figure(plots_ablation.sweep_bars(results["one-at-a-time"], block_stats(
            evaluated, f"{key}-eval", "label" if evaluated.has_labels else "pred")), evaluated, "sweep_bars")
    cumulative = [results[k] for k in ("cumulative-from-end", "cumulative-from-start") if k in results]
    if cumulative:
        show_figure(plots_ablation.cumulative_curve(cumulative), evaluated, "sweep_cumulative")
    all_sweeps = pd.concat(results.values(), ignore_index=True)
    slow = all_sweeps["fallback"].fillna("").astype(str) if "fallback" in all_sweeps else pd.Series(dtype=str)
    if (slow != "").any():
        st.info(f"These sweeps ran whole forward passes (the slow path): {slow[slow != ''].iloc[0]}.")
    with st.expander("Sweep table"):
        st.dataframe(all_sweeps, hide_index=True, width="stretch")
        table_downloads(all_sweeps, "sweeps")

st.divider()
st.subheader("Fold: which SE blocks can go")
st.caption("A block whose gates are replaced by their reference mean is a fixed channel scale: the SE block can be "
           "removed and the scale folded exactly into the next convolution or the batch norm before it. The search "
           "folds blocks cheapest first (by their one-at-a-time cost) while top-1 stays within the budget.")
if not evaluated.has_labels:
    st.info("The fold search needs labelled images (its budget is an accuracy budget).")
else:
    budget = st.select_slider("Accuracy budget (top-1 points)", [0.0, 0.25, 0.5, 1.0, 2.0, 5.0], value=0.5,
                              key="fold_budget")
    if st.button("Search", key="fold_run"):
        st.session_state["fold_sel"] = (key, budget)
    fsel = st.session_state.get("fold_sel")
    if fsel and fsel[0] == key:
        cache = st.session_state.setdefault("fold_cache", {})
        if fsel not in cache:
            from se_analysis.fold_search import greedy_fold

            with st.spinner("Folding blocks one at a time…"):
                try:
                    cache[fsel] = greedy_fold(net, ev_source, evaluated, reference, fsel[1])
                except (ValueError, RuntimeError) as e:
                    st.session_state.pop("fold_sel", None)
                    st.error(f"The fold search could not run: {str(e).splitlines()[0]}")
        table = cache.get(fsel)
        if table is not None:
            show_figure(plots_ablation.fold_pareto(table), evaluated, "fold_pareto")
            st.dataframe(table, hide_index=True, width="stretch")
            table_downloads(table, "fold_pareto")
            blocks = [b for b in table["blocks"].iloc[-1].split(",") if b]
            if blocks:
                from se_analysis.fold import save_folded
                from se_analysis.fold_search import fold_run

                def folded_bytes() -> bytes:
                    import tempfile
                    from pathlib import Path

                    folded, plan, _ = fold_run(net, evaluated, blocks, reference)
                    with tempfile.TemporaryDirectory() as d:
                        return save_folded(folded, plan, Path(d) / "f.safetensors", net.name,
                                           "mean over the reference images").read_bytes()

                st.download_button(f"Download the folded model ({len(blocks)} SE blocks removed)", folded_bytes,
                                   file_name=f"{net.name.replace('/', '_')}-folded.safetensors",
                                   mime="application/octet-stream", on_click="ignore", key="fold_download",
                                   icon=":material/download:")
                st.caption("Open it on the Run page with **upload a checkpoint** for the same model.")
