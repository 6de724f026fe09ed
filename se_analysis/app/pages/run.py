"""Run page: pick a model and images, run them with a progress bar, see the run's summary."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st
import torch

from se_analysis.app.common import (
    RUN_KEY,
    RUN_PROBLEM,
    current_run,
    first_line,
    get_checkpoint_model,
    get_model,
    progress_callback,
    report_download,
    run_path,
    store,
    table_downloads,
)
from se_analysis.app.state import kept, query_value, set_query
from se_analysis.data.access import (
    MAX_UPLOAD_IMAGES,
    FolderRefused,
    check_folder,
    data_roots,
)
from se_analysis.data.image_sets import image_folder, sample_set, uploads
from se_analysis.data.labels import wnids_for
from se_analysis.data.suitability import input_warnings
from se_analysis.export.tables import gate_values_table, table_bytes
from se_analysis.gates.find import NoSEGatesError
from se_analysis.models.catalog import Catalog, cached_catalog, catalog_file, se_architectures
from se_analysis.models.checkpoints import CheckpointError
from se_analysis.models.hub import PretrainedUnavailable
from se_analysis.models.user_code import is_code_spec, registered_models
from se_analysis.models.zoo import ZOO
from se_analysis.runs.extract import extract_cached, resolve_device
from se_analysis.runs.locate import images_here, made_elsewhere
from se_analysis.runs.refs import RunNotFound
from se_analysis.runs.run import is_run_folder
from se_analysis.utils.text import plural


@st.cache_data(show_spinner=False, max_entries=16)
def suitability(fingerprint: str, weights_id: str, _source, preprocessing: dict) -> list[str]:
    """Whether the images plainly do not suit the model (a few are decoded; cached by data and model)."""
    return input_warnings(_source, preprocessing)


INTRO = ("An SE block rescales each channel of a feature map by a gate `s = sigmoid(W2 relu(W1 z))`, where `z` is "
         "the channel's global average (Hu et al., 2017). Run a network over images to record every gate, then "
         "explore them per class and per depth on the other pages.")
# The link carries the choices (model, weights, data, split, folder); weights and data as these short codes.
WEIGHTS = {"trained": "trained", "random": "random (for comparison)", "checkpoint": "upload a checkpoint"}
DATA = {"sample": "bundled sample set", "folder": "folder on this machine", "upload": "upload"}
ACTIVATIONS = {"float": "float", "deployed": "as deployed (uint8)"}  # the default's two modes


@dataclass(frozen=True)
class Choices:
    """What the sidebar chose: model, weights, checkpoint, image set kind and speed settings."""

    model_name: str
    weights_kind: str
    pretrained: bool
    ckpt: object  # the uploaded checkpoint file, or None
    data_kind: str
    batch_size: int
    amp: str
    channels_last: bool
    activations: str = "float"  # the default with Google's weights only: "float" or "deployed"


@st.cache_resource(show_spinner=False, max_entries=2)
def _listing(path: str, mtime: float) -> Catalog | None:
    return cached_catalog()


def listing() -> Catalog | None:
    """The listing of every timm / torchvision SE architecture, read once from its cache (and again when it
    changes there, e.g. built by `models --all`), or None until it is built."""
    path = catalog_file()
    return _listing(str(path), path.stat().st_mtime if path.exists() else 0.0)


def model_options() -> dict[str, str]:
    """The picker's models and their labels: the zoo, ``SE_ANALYSIS_MODELS`` (the only code the app imports),
    then every timm and torchvision architecture with SE gates and each of its pretrained weights, once listed.
    A link (or a linked run) naming another timm / torchvision architecture adds it."""
    options = {n: f"{n}: {e.description}" for n, e in ZOO.items()}
    try:
        options.update({n: f"{n}: your own code, {code}" for n, code in registered_models(reserved=ZOO).items()})
    except ValueError as e:
        st.sidebar.error(str(e))
    catalog = listing()
    for a in catalog.architectures if catalog is not None else []:
        options.setdefault(a.name, f"{a.name} · {a.gates} SE gates")
        for w in a.weights if len(a.weights) > 1 else ():  # several weights: each by name (the first: default)
            options.setdefault(f"{a.name}.{w}", f"{a.name}.{w} · {a.gates} SE gates")
    linked = current_run()
    for name in (query_value("model"), linked[0].manifest.get("model") if linked is not None else None):
        if name and name.startswith(("timm/", "torchvision/")) and not is_code_spec(name):
            options.setdefault(name, name)
    return options


def listing_ui() -> None:
    """Until the listing is built: a button that builds it (once per library version), with its progress."""
    if listing() is not None:
        return
    if st.button("List every timm and torchvision SE architecture", key="build_listing", icon=":material/list:",
                 help="Builds each architecture on the meta device (no weights) and counts its SE gates, once per "
                      "library version (a minute or two on two cores); the picker then holds them all. "
                      "`python -m se_analysis models --all` builds the same listing."):
        bar = st.progress(0.0, text="Listing…")
        se_architectures(progress=progress_callback(bar, unit="architectures"))
        st.rerun()


def linked_defaults(options: dict[str, str]) -> tuple[str, str]:
    """The model and weights to start with: those of the run the link opened (a link to a run without the
    Run page's choices shows that run's model and weights), else the default model, trained."""
    linked = current_run()
    m = linked[0].manifest if linked is not None else {}
    random = bool(m) and not m.get("pretrained", True) and not m.get("checkpoint")
    return (m["model"] if m.get("model") in options else "default"), WEIGHTS["random" if random else "trained"]


def sidebar_ui() -> Choices:
    """Model, weights, images and speed, in the sidebar (kept across pages and in the link)."""
    options = model_options()
    model_default, weights_default = linked_defaults(options)
    with st.sidebar:
        st.header("Model and images")
        model_name = kept(st.selectbox, "Model", list(options), key="model_name", default=model_default,
                          param="model", format_func=lambda n: options.get(n, n),
                          help="Type to search. timm and torchvision architectures load by name with their own "
                               "preprocessing and classes; your own model code is offered when whoever starts the "
                               "app names it in SE_ANALYSIS_MODELS (name=module:function or name=file.py:function).")
        listing_ui()
        weights_kind = kept(st.radio, "Weights", list(WEIGHTS.values()), key="weights", default=weights_default,
                            param="weights", codes=WEIGHTS,
                            help="Random weights are marked on every figure. Checkpoints: .safetensors or a "
                                 ".pt/.pth state dict; pickled whole models are refused.")
        ckpt = None
        if weights_kind == WEIGHTS["checkpoint"]:
            ckpt = st.file_uploader("Checkpoint", type=["safetensors", "pt", "pth", "bin"], key="checkpoint")
        activations = "float"
        if model_name == "default" and weights_kind == WEIGHTS["trained"]:
            linked = current_run()
            linked_mode = linked[0].manifest.get("activations", "float") if linked is not None else "float"
            activations = {v: k for k, v in ACTIVATIONS.items()}[kept(
                st.radio, "Activations", list(ACTIVATIONS.values()), key="activations", param="activations",
                default=ACTIVATIONS.get(linked_mode, ACTIVATIONS["float"]), codes=ACTIVATIONS, horizontal=True,
                help="Google's network as its TFLite file runs it: every activation quantised to uint8 at the "
                     "file's scales and zero points (weights unchanged).")]
        else:
            set_query(activations=None)
        data_kind = kept(st.radio, "Images", list(DATA.values()), key="data_kind", default=DATA["sample"],
                         param="data", codes=DATA)
        batch_size = kept(st.select_slider, "Batch size", [16, 32, 64, 128, 256], key="batch_size", default=128)
        st.caption(f"Device: **{resolve_device()}** (CUDA, else MPS, else CPU)")
        with st.expander("Speed"):
            amp = kept(st.radio, "Precision", ["fp32", "bf16 autocast", "fp16 autocast"], key="amp", default="fp32",
                       horizontal=True, help="Mixed precision is faster on recent GPUs and CPUs; gates move by ~1e-3.")
            channels_last = kept(st.checkbox, "channels_last memory format", key="channels_last", default=False)
    return Choices(model_name=model_name, weights_kind=weights_kind, pretrained=weights_kind == WEIGHTS["trained"],
                   ckpt=ckpt, data_kind=data_kind, batch_size=batch_size, amp=amp, channels_last=channels_last,
                   activations=activations)


def model_ui(c: Choices):
    """The chosen model (shared, or a private copy with the uploaded checkpoint), or a one-line error and None."""
    try:
        if c.weights_kind == WEIGHTS["checkpoint"]:
            if c.ckpt is None:
                st.info("Upload a checkpoint for the chosen architecture in the sidebar.")
                return None
            net = get_checkpoint_model(c.model_name, c.ckpt.name, c.ckpt.getvalue())
        else:
            net = get_model(c.model_name, c.pretrained, c.activations)
    except (NoSEGatesError, CheckpointError) as e:
        st.error(str(e))
        return None
    except PretrainedUnavailable as e:
        st.error(f"{e}. Choose random weights (every figure is then marked) or upload a checkpoint.")
        return None
    except Exception as e:  # noqa: BLE001 - any load failure is shown, never a traceback
        st.error(f"Could not load {c.model_name!r} with {'trained' if c.pretrained else 'random'} weights: "
                 f"{type(e).__name__}: {e}")
        return None
    st.caption(f"Selected model **{net.name}**: {len(net.gates)} SE gates ({net.gates[0].name} … "
               f"{net.gates[-1].name}); weights: {net.weights}")
    return net


def source_ui(net, data_kind: str):
    """The images: the model's sample set (a split), a folder in the data roots, or uploads; None until chosen.

    The link names the split only for the sample set, the folder only for a folder.
    """
    source = None
    if data_kind != DATA["sample"]:
        set_query(split=None)
    if data_kind != DATA["folder"]:
        set_query(folder=None)
    if data_kind == DATA["sample"]:
        split = kept(st.radio, "Which images", ["all", "eval", "reference"], key="sample_split", default="all",
                     param="split", horizontal=True,
                     help="The sample set that suits this model (ImageNet val, 10 classes x 50, for ImageNet "
                          "models; Fashion-MNIST test images for the Fashion-MNIST model); 'reference' and "
                          "'eval' are its two disjoint halves.")
        if net.sample is None:
            st.info(f"{net.name} has no bundled sample set: choose a folder or upload images.")
        else:
            source = sample_set(split, net.sample)
    elif data_kind == DATA["folder"]:
        folder = kept(st.text_input, "Folder (one sub-folder per class, or a flat folder of images)", key="folder",
                      default="", param="folder", help="Folders inside the data roots only (your home folder by "
                                                       "default; set SE_ANALYSIS_DATA_ROOTS where the app is started).")
        if folder and is_run_folder(os.path.expanduser(folder)):
            st.info("This folder is a **Run** (manifest.json, images.parquet, arrays.safetensors), not a folder of "
                    "images: open it to explore its gates.")
            if st.button("Open this run", key="open_run_from_folder", icon=":material/folder_open:"):
                open_ref(folder)
        elif folder:
            try:
                source = image_folder(check_folder(folder), net.class_names, wnids_for(net.class_names),
                                      data_roots())
            except FolderRefused as e:
                st.error(str(e))
            except OSError as e:
                st.error(f"Cannot read this folder: {e.strerror or type(e).__name__}")
    else:
        files = st.file_uploader("Images", accept_multiple_files=True, key="uploads",
                                 type=["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"])
        if files and len(files) > MAX_UPLOAD_IMAGES:
            st.error(f"{len(files)} files uploaded; at most {MAX_UPLOAD_IMAGES} at a time. Use a folder for more.")
        elif files:
            source = uploads([(f.name, f.getvalue()) for f in files], class_names=net.class_names)
    return source


def run_ui(net, source, c: Choices) -> None:
    """How many images, warnings about them, and the Run button with its progress bar."""
    st.write(f"**{len(source)}** {'image' if len(source) == 1 else 'images'} from {source.name}.")
    if source.note:
        st.warning(source.note[0].upper() + source.note[1:] + ".")
    for warning in suitability(source.fingerprint, net.weights_id, source, net.preprocessing):
        st.warning(warning[0].upper() + warning[1:] + ".", icon=":material/warning:")
    if not st.button("Run", type="primary", disabled=len(source) == 0, key="run_button"):
        return
    bar = st.progress(0.0, text="Starting… (changing any widget cancels the run)")
    try:
        amp_dtype = {"bf16 autocast": torch.bfloat16, "fp16 autocast": torch.float16}.get(c.amp)
        run, key = extract_cached(net, source, store(), batch_size=c.batch_size, progress=progress_callback(bar),
                                  amp_dtype=amp_dtype, channels_last=c.channels_last)
    except Exception as e:  # noqa: BLE001 - Streamlit's stop/rerun are BaseExceptions and pass through
        if "out of memory" in str(e).lower():
            st.error("Out of memory even one image at a time: choose a smaller model or another device. "
                     "Finished batches are kept.")
        else:
            st.error(f"The run stopped: {type(e).__name__}: {first_line(e)}. "
                     "Finished batches are kept; Run again resumes from them.")
        st.stop()
    bar.progress(1.0, text=f"Done: {plural(len(run), 'image')}")
    st.session_state[RUN_KEY] = key
    st.session_state["source"] = source  # uploads cannot be listed again from disk


def current_run_ui(model_name: str) -> None:
    """What the current run is: its numbers, provenance, skipped files and downloads."""
    got = current_run()
    if got is None:
        return
    run, key = got
    st.subheader("Current run")
    if (m_name := run.manifest.get("model")) and m_name != model_name:
        st.caption(f"The current run was made with **{m_name}**, not the selected model; press Run to make one "
                   "with the selection.")
    m = run.manifest
    cols = st.columns(4)
    cols[0].metric("Images", f"{len(run):,}")
    acc = run.images["correct"].dropna()
    cols[1].metric("Top-1 accuracy", f"{acc.mean() * 100:.1f}%" if len(acc) else "no labels")
    cols[2].metric("SE gates", len(run.gate_names))
    cols[3].metric("Skipped files", len(run.skipped))
    ref = st.session_state.get(RUN_KEY, key)
    where = f"folder `{run.folder}`" if run.folder is not None and ref != key else f"run key `{key}`"
    host = made_elsewhere(run)
    st.caption(f"Model {m['model']} · weights {m['weights']} · data {m['data']} · {m['created']} · "
               f"device {m.get('device', 'unknown')}{f' on {host}' if host else ''} · {where}")
    here, why = images_here(run)
    if not here:
        st.info(f"The images are not here: {why}. Thumbnails say so, and ablations (which run the model over the "
                "images again) explain why they cannot run.", icon=":material/cloud_off:")
    if len(run.skipped):
        st.warning(f"{plural(len(run.skipped), 'file')} skipped; every other image was kept.")
        st.dataframe(run.skipped, width="stretch", hide_index=True)
    report_download(run, key)
    if run.has_gate_arrays:
        st.download_button("Download every image's gates (Parquet)",
                           lambda: table_bytes(gate_values_table(run), "parquet"),
                           file_name=f"gate_values-{key}.parquet", mime="application/octet-stream", on_click="ignore",
                           key="per_image_gates", icon=":material/download:",
                           help="One row per image, block and channel: image_id, label_name, pred_name, block, "
                                "channel, value. `python -m se_analysis export --per-image` writes the same.")
    with st.expander("Images table", expanded=False):
        st.dataframe(run.images, width="stretch", hide_index=True)
        table_downloads(run.images, "images")


def open_ref(ref: str) -> None:
    """Make ``ref`` (a store key or a Run folder's path) this session's Run, or say why it cannot be."""
    try:
        run_path(ref)
    except RunNotFound as e:
        st.error(first_line(e)[0].upper() + first_line(e)[1:] + ".")
        return
    st.session_state[RUN_KEY] = ref
    set_query(run=ref)
    st.rerun()


def stored_runs_ui() -> None:
    """Open a stored Run: the run store's listing (model, data, images, date, size), or a Run folder by its path."""
    with st.expander("Open a stored run", icon=":material/folder_open:",
                     expanded=current_run() is None and bool(st.session_state.get(RUN_PROBLEM))):
        if problem := st.session_state.get(RUN_PROBLEM):
            st.error(problem[0].upper() + problem[1:] + ".")
        listing = store().list()
        if len(listing):
            table = listing.assign(size=(listing["size"] / 2**20).round(1))[
                ["key", "model", "data", "images", "created", "size"]].rename(columns={"size": "size (MB)"})
            st.dataframe(table, hide_index=True, width="stretch", height=min(35 * (len(table) + 1) + 3, 280))
            c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
            labels = {r.key: f"{r.model} · {r.data} · {r.images:,} images · {str(r.created)[:16]}"
                      for r in listing.itertuples()}
            pick = c1.selectbox("Stored run", list(labels), format_func=labels.get, key="stored_run_pick")
            if c2.button("Open", key="open_stored", width="stretch"):
                open_ref(pick)
        else:
            st.caption(f"The run store ({store().root}) is empty.")
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        path = c1.text_input("Or a Run folder (made here or copied from elsewhere, e.g. by `extract --out` or "
                             "`torchrun ... extract`)", key="run_folder_path", placeholder="/data/runs/imagenet-val",
                             help="It opens in place: nothing is copied, its gates are read from the folder as pages "
                                  "need them. Folders inside the data roots only; `streamlit run app.py -- --run "
                                  "PATH` opens any.")
        # Never disabled: a path typed and not yet committed (no Enter, the field still focused) reaches the
        # script with the click itself, so the first click opens it.
        if c2.button("Open", key="open_path", width="stretch"):
            if path.strip():
                open_ref(path.strip())
            else:
                st.warning("Type a Run folder's path first (a folder with manifest.json, images.parquet and "
                           "arrays.safetensors).")


def main() -> None:
    st.title("Squeeze-and-Excitation gates, seen")
    st.markdown(INTRO)
    choices = sidebar_ui()
    stored_runs_ui()
    st.subheader("Make a run", help="The model chosen in the sidebar over the images below; the run open now "
                 "is described under Current run.")
    net = model_ui(choices)  # None (with its message) when it cannot load: the run already open still shows
    if net is not None:
        source = source_ui(net, choices.data_kind)
        if source is not None:
            run_ui(net, source, choices)
    current_run_ui(choices.model_name)


main()
