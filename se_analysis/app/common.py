"""What every page shares: the cached model, the current Run, cached tables, export buttons."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from se_analysis import plots
from se_analysis.analysis import quantiles, stats
from se_analysis.analysis.class_choice import run_starting_classes, starting_classes
from se_analysis.app.cache import BoundedCache
from se_analysis.app.layout import FIGURE_ROOM, controls_and_figure
from se_analysis.app.state import kept, query_value, set_query
from se_analysis.export.files import figure_bytes
from se_analysis.export.report import report_html
from se_analysis.export.tables import table_bytes
from se_analysis.models.bundled.imagenet.deployed import with_activations
from se_analysis.models.checkpoints import load_checkpoint
from se_analysis.models.hub import PretrainedUnavailable
from se_analysis.models.user_code import MODELS_ENV, canonical_code, is_code_spec, model_spec, registered_models
from se_analysis.models.zoo import ZOO, SENet, load_model
from se_analysis.runs.refs import RunNotFound, run_folder, run_id
from se_analysis.runs.run import Run, RunStore
from se_analysis.views.standard import ablation_figures, standard_figures, standard_tables
from se_analysis.views.view import View

__all__ = ["choice_key", "chosen_classes", "chosen_or_starting", "OPENED_KEY", "RUN_KEY", "RUN_PROBLEM", "run_path",
           "startup_run", "block_quantiles", "block_stats", "channel_stats", "clicked_point", "current_run",
           "default_classes", "first_line", "get_checkpoint_model", "get_model", "group_by_widget", "load_run",
           "open_channel", "open_page", "progress_callback", "report_download", "require_gate_arrays",
           "require_run", "run_model", "trusted_code", "shared_results", "show_figure", "store", "table_downloads"]

RUN_KEY = "run_key"  # the session's Run reference: a store key or a Run folder's path
OPENED_KEY = "opened_runs"  # every Run reference this session has opened, in order
RUN_PROBLEM = "run_problem"  # why the last reference named no Run here
_PAGE_DIR = Path(__file__).parent / "pages"


def trusted_code(name: str, spec: dict | None = None) -> None:
    """Refuse model code that ``SE_ANALYSIS_MODELS`` does not name: the app imports no other code (none from an
    upload, a link or a Run's manifest)."""
    code = (spec or {}).get("code") or (name if is_code_spec(name) else None)
    if code is not None and canonical_code(code) not in registered_models(reserved=ZOO).values():
        raise ValueError(f"{code} is model code that {MODELS_ENV} does not name, and the app imports only the "
                         f"code named there (by whoever starts it); add it, e.g. {MODELS_ENV}='mine={code}'")


def _spec_json(spec: dict | None) -> str:
    return json.dumps(spec, sort_keys=True) if spec else ""


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _model(name: str, pretrained: bool, activations: str, spec_json: str) -> SENet:
    spec = json.loads(spec_json) if spec_json else None
    trusted_code(name, spec)
    return with_activations(load_model(name, pretrained=pretrained, spec=spec), activations)


def get_model(name: str, pretrained: bool, activations: str = "float", spec: dict | None = None) -> SENet:
    """One model object per (name, weights, activations, own-code options), shared by every session; hooks
    take its lock. Model code must be named in ``SE_ANALYSIS_MODELS`` (:func:`trusted_code`).

    ``activations="deployed"`` (the default only) is a separate copy with uint8 activations, so the float
    model is never hooked."""
    return _model(name, pretrained, activations, _spec_json(spec))


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=4)
def _checkpoint_model(name: str, file_name: str, digest: str, _data: bytes, spec_json: str = "") -> SENet:
    spec = json.loads(spec_json) if spec_json else None
    trusted_code(name, spec)
    return load_checkpoint(load_model(name, pretrained=False, spec=spec), _data, name=file_name)


def get_checkpoint_model(name: str, file_name: str, data: bytes, spec: dict | None = None) -> SENet:
    """An architecture with uploaded weights (a private copy; the shared model is not touched),
    cached by the file's content hash."""
    return _checkpoint_model(name, file_name, hashlib.sha256(data).hexdigest(), data, _spec_json(spec))


def run_model(run: Run) -> SENet:
    """The model a Run was made with: by name (own code with its options, if named in ``SE_ANALYSIS_MODELS``),
    or the uploaded checkpoint still in this session."""
    m = run.manifest
    spec = m.get("model_spec")
    try:
        trusted_code(m["model"], spec)
    except ValueError as e:
        st.error(f"This run's model cannot be opened here: {e}.")
        st.stop()
    if spec and m["model"] in registered_models(reserved=ZOO) and spec == model_spec(spec["code"]):
        spec = None  # the app's own-code model, as the Run page loads it (one shared copy)
    if m.get("checkpoint"):
        ckpt = st.session_state.get("checkpoint")
        if ckpt is None:
            st.error("This run used an uploaded checkpoint that is no longer in this session: upload it again.")
            st.stop()
        return get_checkpoint_model(m["model"], ckpt.name, ckpt.getvalue(), spec)
    try:
        return get_model(m["model"], bool(m.get("pretrained", True)), m.get("activations", "float"), spec)
    except (KeyError, ValueError, OSError, PretrainedUnavailable) as e:  # a Run made elsewhere, with another model
        reason = first_line(e).rstrip(".")
        st.error(f"This run's model, {m['model']!r}, cannot be loaded on this machine: {reason}. The "
                 "statistics pages work from the stored gates; ablations need the model itself.")
        st.stop()


@st.cache_resource
def shared_results(name: str) -> BoundedCache:
    """Results shared by every session (ablations, sweeps, folds), keyed by run key and choice; bounded.

    A shared link that names an ablation is answered from here without running it again.
    """
    return BoundedCache(24)


def progress_callback(bar, unit: str = "images"):
    """A ``progress(done, total)`` that shows done / total and the rate on a ``st.progress`` bar."""
    t0 = time.time()

    def update(done: int, total: int) -> None:
        rate = done / max(time.time() - t0, 1e-6)
        bar.progress(done / max(total, 1), text=f"{done} / {total} {unit} ({rate:.0f}/s)")
    return update


def store() -> RunStore:
    """The store of Runs on this machine."""
    return RunStore()


@st.cache_resource(max_entries=8)
def _cached_run(path: str, mtime: float) -> Run:
    return Run.load(path)


def startup_run() -> str | None:
    """The Run named where the app was started (``streamlit run app.py -- --run PATH``), else None."""
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == "--run" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--run="):
            return a.split("=", 1)[1]
    return None


def run_path(ref: str) -> Path:
    """The folder of the Run ``ref`` names (a store key or a Run folder's path), or :class:`RunNotFound`."""
    trusted = [startup_run()] if startup_run() else []
    return run_folder(ref, store(), trusted=trusted)


def load_run(ref: str) -> Run:
    """A stored Run, opened once and shared by every session (Runs are never modified; a new one is opened
    anew). ``ref``: a store key or a Run folder's path; the Run opens in place, reading its gates lazily."""
    path = run_path(ref)
    return _cached_run(str(path), (path / "manifest.json").stat().st_mtime)


def current_run() -> tuple[Run, str] | None:
    """The Run this session is looking at (the session's, else the link's ``run``, else the one named at start),
    kept in the link; with the short id its caches and file names use (:func:`~se_analysis.runs.refs.run_id`)."""
    ref = st.session_state.get(RUN_KEY) or query_value("run") or startup_run()
    if not ref:
        return None
    try:
        run = load_run(ref)
    except RunNotFound as e:
        st.session_state[RUN_PROBLEM] = first_line(e)
        return None
    except (OSError, ValueError) as e:
        st.session_state[RUN_PROBLEM] = f"cannot open the run {ref}: {first_line(e)}"
        return None
    st.session_state.pop(RUN_PROBLEM, None)
    st.session_state[RUN_KEY] = ref
    opened = st.session_state.setdefault(OPENED_KEY, [])
    if ref not in opened:  # the Runs this session has opened (Compare offers those opened by path, too)
        opened.append(ref)
    set_query(run=ref)
    return run, run_id(ref)


def require_run() -> tuple[Run, str]:
    """The current Run, or a pointer to the Run page and a stop."""
    got = current_run()
    if got is None:
        if problem := st.session_state.get(RUN_PROBLEM):
            st.error(problem[0].upper() + problem[1:] + ".")
        st.info("No run yet: run a model over some images first, or open a stored run on the Run page.")
        st.page_link(str(_PAGE_DIR / "run.py"), label="Go to the Run page", icon=":material/play_arrow:")
        st.stop()
    run, key = got
    if not run.manifest.get("pretrained", True):
        st.warning("This run uses **random weights**: its gates say nothing about a trained network.")
    return run, key


def first_line(e: BaseException) -> str:
    """An error as one line: its message's first non-blank line (KeyError's quotes left out), else its type's name."""
    text = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)


def open_page(title: str, gate_arrays: bool = False, controls_open: bool = False):
    """A page's start: its title, the current Run (else a pointer to the Run page), and where its
    controls and its figure go (see :func:`se_analysis.app.layout.controls_and_figure`; ``controls_open``:
    a page that has no figure to show yet opens on its controls when presenting).

    Returns:
        (run, run key, controls container, figure container).
    """
    st.title(title)
    st.session_state["page_title"] = title  # presenting, a figure titled alike is shown without its title
    run, key = require_run()
    if gate_arrays:
        require_gate_arrays(run)
    controls, figure = controls_and_figure(expanded=controls_open)
    return run, key, controls, figure


def require_gate_arrays(run: Run) -> None:
    """Stop with a message on summary-only runs, which keep no per-image gates."""
    if not run.has_gate_arrays:
        st.info("This run kept only statistics per block and class (summary-only), not every image's gates. "
                "Per-image views and ablations need a full run: run it again without --summary-only.")
        st.stop()


@st.cache_resource(max_entries=16)
def _grouping_choices(_run: Run, run_key: str) -> tuple[bool, dict]:
    """Whether the Run's images come from class folders, and its WordNet levels by kind: scans of 50,000 image
    ids and labels, once per Run instead of on every rerun of every page."""
    return (_run.has_gate_arrays and stats.folder_names(_run) is not None,
            {kind: stats.superclass_levels(_run, kind) for kind in ("superclass", "pred-superclass")})


def group_by_widget(run: Run) -> str:
    """Group images by true label, the model's prediction, (for class folders) the folder they came from, or (for
    ImageNet models) the WordNet superclass of the label or prediction at a depth picked here: ``superclass:9``."""
    options = {"label": "true label"} if run.has_labels else {}
    options["pred"] = "predicted class"
    has_folders, levels = (_grouping_choices(run, run_id(str(run.folder))) if run.folder is not None
                           else _grouping_choices.__wrapped__(run, ""))
    if has_folders:
        options["folder"] = "folder"
    if levels["superclass"]:
        options["superclass"] = "superclass (WordNet)"
    if levels["pred-superclass"]:
        options["pred-superclass"] = "predicted superclass (WordNet)"
    asked = st.session_state.get("group_by") or query_value("by")
    if asked in levels and asked not in options:
        st.caption("Grouping by WordNet superclass needs a model of the 1000 ImageNet classes and images of two "
                   "classes or more; this run groups by label, prediction or folder.")
    if not run.has_labels:
        st.caption("These images have no labels of this model's classes: group them by the model's prediction"
                   + (", or by the folder they came from." if "folder" in options else "."))
    if len(options) == 1:
        return "pred"
    kind = kept(st.radio, "Group images by", list(options), key="group_by", param="by",
                default="label" if run.has_labels else "folder", format_func=options.get, horizontal=True)
    if kind not in levels:
        set_query(wndepth=None)
        return kind
    by_depth = {lv.depth: lv for lv in levels[kind]}
    depths = list(by_depth)
    n_classes = max(lv.groups for lv in levels[kind])  # the deepest level leaves every class on its own
    default = min(depths, key=lambda d: (abs(by_depth[d].groups - n_classes ** 0.5), d))  # about sqrt(K) groups
    depth = kept(st.select_slider, "WordNet depth (from entity, 0)", depths, key="group_depth", param="wndepth",
                 default=default, format_func=lambda d: f"{d}: {by_depth[d].groups} groups",  # always 2 or more
                 help="Depth counts from WordNet's root, entity; WordNet is uneven (vehicle is at depth 7, bird "
                      "at 9, dog at 13), so each depth says how many groups it makes of this run's classes.")
    st.caption(by_depth[depth].label())
    return f"{kind}:{depth}"


@st.cache_resource(show_spinner="Reading the statistics…", max_entries=8)
def channel_stats(_run: Run, key: str, by: str) -> pd.DataFrame:
    """Every channel's statistics per class, shared by every session and never copied: at 1000 classes on
    SE-ResNet-50 it is 15 million rows, which ``st.cache_data`` would pickle on every rerun (read-only)."""
    return stats.channel_stats(_run, by=by)


@st.cache_data(show_spinner=False, max_entries=32)
def block_stats(_run: Run, key: str, by: str) -> pd.DataFrame:
    return stats.block_stats(_run, by=by)


@st.cache_data(show_spinner=False, max_entries=32)
def block_quantiles(_run: Run, key: str) -> pd.DataFrame:
    return quantiles.block_quantiles(_run)


def show_figure(fig: go.Figure, run: Run, key: str, select: bool = False, file_name: str | None = None,
                above: int = 0):
    """Render a figure (stamped when the weights are random) with PNG, SVG and HTML downloads made on click.

    With ``select``, a click on a point reruns the page and the selection event is returned. The downloads
    are ``<file_name>.<format>`` (default: ``key``), of the figure as built. Presenting, the figure shown is
    fitted to a 1280x720 screen (:func:`se_analysis.plots.fit_to_screen`): at most
    ``FIGURE_ROOM`` high, less ``above``, the px the page puts above it under its title (metrics, ...).
    """
    if not run.manifest.get("pretrained", True) and not (fig.layout.title.subtitle.text or "").startswith("⚠"):
        plots.add_warning(fig, "random weights: not a trained network")  # once: a cached figure is shared
    present = bool(st.session_state.get("present"))
    shown = fig
    if present:  # Streamlit's chart theme would override the larger fonts, so it is left out
        width, height = FIGURE_ROOM
        shown = plots.fit_to_screen(fig, height - above, width=width, drop_title=st.session_state.get("page_title"))
    event = st.plotly_chart(shown, width="stretch", key=f"chart-{key}", theme=None if present else "streamlit",
                            **(dict(on_select="rerun", selection_mode="points") if select else {}))
    scale = float(st.session_state.get("png_scale", 2))
    row = st.container(horizontal=True)  # each button as wide as its label, in any column (never "PN…")
    for fmt, mime in zip(("png", "svg", "html"), ("image/png", "image/svg+xml", "text/html")):
        row.download_button(fmt.upper() + (f" ×{scale:g}" if fmt == "png" else ""),
                            data=lambda fmt=fmt: figure_bytes(fig, fmt, scale=scale),
                            file_name=f"{file_name or key}.{fmt}",
                            mime=mime, key=f"dl-{fmt}-{key}", on_click="ignore", icon=":material/download:")
    return event


def open_channel(block: str, channel: int, chart: str) -> None:
    """Open the Channel page on (block, channel), from a click on the figure ``chart`` (its selection is
    cleared, so that coming back does not open the channel again)."""
    st.session_state.pop(f"chart-{chart}", None)
    st.session_state["drill"] = (block, int(channel))
    st.switch_page(str(_PAGE_DIR / "channel.py"))


def clicked_point(event) -> dict | None:
    """The first clicked point of a selection event, or None."""
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), "points", None) or []
    return points[0] if points else None


def choice_key(base: str, by: str) -> str:
    """The session key of a class choice under grouping ``by``. Superclasses and folders are chosen apart from
    classes (the groups of a WordNet depth are not classes, and a folder reads ``goldfish (n01443537)``), so
    grouping by either and back keeps each selection; labels and predictions share the classes."""
    return f"{base}@{by}" if stats.parse_group_by(by)[0] in ("superclass", "pred-superclass", "folder") else base


def chosen_classes(by: str) -> list[str] | None:
    """The classes (or superclasses) chosen on the pages for grouping ``by``, if any."""
    return st.session_state.get(choice_key("classes", by))


def chosen_or_starting(run: Run, cs: pd.DataFrame, by: str) -> list[str]:
    """The classes chosen for grouping ``by`` that have images here, else those every page starts on
    (:func:`default_classes`)."""
    present = set(stats.present_classes(cs))
    return [c for c in chosen_classes(by) or () if c in present] or default_classes(cs, run=run)


def report_download(run: Run, key: str, ablation: dict | None = None, label: str = "Download report (HTML)",
                    classes: list[str] | None = None, blocks: list[str] | None = None, by: str = "label",
                    contrast: View | None = None) -> None:
    """A one-file HTML report of the run as it is viewed (the chosen classes and blocks; an ablation; a two-class
    contrast's view, its figure and table), built on click."""
    classes = classes if classes is not None else chosen_classes(by)

    def build() -> str:
        tables = standard_tables(run, by=by)
        figs = standard_figures(run, classes=classes or None, blocks=blocks or None, by=by, tables=tables)
        if ablation:
            figs.update(ablation_figures(ablation))
        if contrast is not None:
            figs.update(contrast.renamed(names={"contrast": contrast.facts["name"]}).figures)
        return report_html(run, figs, tables["block_stats"], ablation,
                           contrast=contrast.tables["contrast"] if contrast is not None else None)

    name = f"se-analysis-report-{key}" + (f"-{contrast.facts['name']}" if contrast is not None else "")
    st.download_button(label, data=build, file_name=f"{name}.html", mime="text/html",
                       key=f"report-{key}-{bool(ablation)}-{contrast is not None}", on_click="ignore",
                       icon=":material/description:")


def table_downloads(df: pd.DataFrame, name: str) -> None:
    """CSV and Parquet downloads of a tidy table, written when clicked (a PCA table of 800,000 rows takes seconds
    to write: every rerun would pay it)."""
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", lambda: table_bytes(df, "csv"), file_name=f"{name}.csv", mime="text/csv",
                       key=f"csv-{name}", on_click="ignore")
    c2.download_button("Download Parquet", lambda: table_bytes(df, "parquet"), file_name=f"{name}.parquet",
                       mime="application/octet-stream", key=f"parquet-{name}", on_click="ignore")


def default_classes(cs: pd.DataFrame, k: int = 4, run: Run | None = None) -> list[str]:
    """Classes to start with (:func:`se_analysis.analysis.class_choice.starting_classes`): on an ImageNet model
    (``run`` given), the paper's four classes of Fig. 6 where present; else the most frequent classes, ties
    broken by how much their mean gates differ at the deepest block."""
    return run_starting_classes(run, cs, k) if run is not None else starting_classes(cs, k)
