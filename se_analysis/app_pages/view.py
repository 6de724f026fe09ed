"""The view in the URL: query parameters that reopen the same model, run, classes, blocks and ablation.

Pages read their defaults from the query string (so a shared link shows the same view) and
write their current choices back. Presentation mode (``?present=1``) enlarges fonts and hides
the sidebar.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Sequence, TypeVar

import streamlit as st

T = TypeVar("T")

PRESENT_CSS = """
<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stWidgetLabel"] p, [data-testid="stCaptionContainer"] {
    font-size: 1.25rem !important; }
/* after the paragraph rule, and more specific, so that metrics stay large */
[data-testid="stMetricValue"], [data-testid="stMetricValue"] div, [data-testid="stMetricValue"] p {
    font-size: 2.6rem !important; line-height: 1.2 !important; }
[data-testid="stMetricDelta"], [data-testid="stMetricDelta"] div, [data-testid="stMetricDelta"] p {
    font-size: 1.1rem !important; white-space: normal !important; overflow: visible !important; }
[data-testid="stMetricLabel"] p { font-size: 1.2rem !important; }
[data-testid="stSelectbox"] input, [data-testid="stMultiSelect"] input, [data-testid="stMultiSelect"] span,
[data-baseweb="select"] div, [data-baseweb="tag"] span, [role="listbox"] [role="option"] {
    font-size: 1.2rem !important; }
h1 { font-size: 2.4rem !important; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; max-width: 98%; }
</style>
"""


def query_list(name: str, allowed: Sequence[str] | None = None) -> list[str] | None:
    """A comma-separated query parameter as a list (only ``allowed`` values), or None when absent."""
    raw = st.query_params.get(name)
    if not raw:
        return None
    values = [v for v in raw.split(",") if v]
    if allowed is not None:
        values = [v for v in values if v in allowed]
    return values or None


def query_value(name: str, allowed: Sequence[str] | None = None) -> str | None:
    """A single query parameter, if present (and allowed)."""
    v = st.query_params.get(name)
    return v if v and (allowed is None or v in allowed) else None


def set_query(**values: str | Sequence[str] | None) -> None:
    """Write choices into the URL (lists comma-separated); None removes a parameter."""
    for name, value in values.items():
        if value is None or (not isinstance(value, str) and not value):
            if name in st.query_params:
                del st.query_params[name]
        else:
            text = value if isinstance(value, str) else ",".join(value)
            if st.query_params.get(name) != text:
                st.query_params[name] = text


def presenting() -> bool:
    """Whether presentation mode is on (from the session, else the link's ``present=1``)."""
    if "present" not in st.session_state:
        st.session_state["present"] = query_value("present") == "1"
    return bool(st.session_state["present"])


def setup() -> None:
    """Presentation mode: a toggle (kept in the URL), larger fonts, no sidebar; an exit button while on.

    The page links then sit in the top navigation (``app.py`` asks :func:`presenting` first).
    """
    if presenting():
        st.markdown(PRESENT_CSS, unsafe_allow_html=True)
        if st.button("Exit presentation mode", key="exit_present", type="tertiary"):
            st.session_state["present"] = False
            set_query(present=None)
            st.rerun()
        set_query(present="1")
    else:
        with st.sidebar:
            prepare("png_scale", 2, allowed=[1, 2, 3, 4])
            st.select_slider("PNG export scale", [1, 2, 3, 4], key="png_scale",
                             help="Figures export 1200 px wide times this (2: 2400 px, for slides and print).")
            persist("png_scale")
            st.toggle("Presentation mode", key="present_toggle", help="Larger fonts, top navigation, figures "
                      "first; kept in the link.",
                      on_change=lambda: st.session_state.update(present=st.session_state["present_toggle"]))


def controls_and_figure(label: str = "Controls"):
    """(controls container, figure container): controls above the figure, or, when presenting,
    the figure first and the controls below it in a collapsed expander, so a 1280x720 screen
    shows the figure without scrolling. Widgets go into the first, the figure into the second."""
    if presenting():
        figure = st.container()
        return st.expander(label, expanded=False, icon=":material/tune:"), figure
    controls = st.container()
    return controls, st.container()


class BoundedCache(OrderedDict):
    """A least-recently-used dict of at most ``max_entries`` results, safe to share between sessions.

    The lock guards the dict, not the computation: two sessions asking for the same new key
    may both compute it (the results are equal), but neither waits for the other.
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = compute()
        with self._lock:
            self[key] = value
            while len(self) > self.max_entries:
                self.popitem(last=False)
        return value


def keep_widget_state(*keys: str) -> None:
    """Keep these widgets' values across page changes.

    Streamlit forgets a widget's value once a run does not draw it (another page was open). A
    shadow copy under ``_kept_<key>`` survives; restoring it before the widget is drawn brings the
    choice back. Call at the top of the page, before the widgets.
    """
    for key in keys:
        shadow = f"_kept_{key}"
        if key not in st.session_state and shadow in st.session_state:
            st.session_state[key] = st.session_state[shadow]


def remember_widget_state(*keys: str) -> None:
    """Copy these widgets' current values to their shadows (call after the widgets are drawn)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[f"_kept_{key}"] = st.session_state[key]


def prepare(key: str, default, param: str | None = None, allowed: Sequence | None = None, many: bool = False,
            shared: str | None = None) -> None:
    """Give a widget its starting value before it is drawn (call it, then draw the widget with ``key``).

    In order: the session's ``shared`` choice (e.g. the classes, carried across pages), the value
    it had (kept across page changes), the link's ``param``, else ``default``. Values not in
    ``allowed`` are dropped. Draw the widget without ``default``/``index`` and call :func:`persist`.
    """
    def ok(value):
        if allowed is None or value is None:
            return value
        if many:
            kept = [v for v in value if v in allowed]
            return kept if kept or not value else None
        return value if value in allowed else None

    if key in st.session_state and ok(st.session_state[key]) is not None:
        return
    # Within a session the link mirrors the choices, so it comes after them; a new session opened
    # from a shared link has none, and takes the link's.
    candidates = [st.session_state.get(shared)] if shared else []
    candidates.append(st.session_state.get(f"_kept_{key}"))
    if param:
        raw = query_list(param) if many else query_value(param)
        if raw is not None and not many and allowed is not None and not isinstance(allowed[0], str):
            try:  # numbers in the link
                raw = type(allowed[0])(raw)
            except ValueError:
                raw = None
        candidates.append(raw)
    for value in candidates:
        value = ok(value)
        if value is not None:
            st.session_state[key] = value
            return
    st.session_state[key] = default


def persist(key: str, param: str | None = None, shared: str | None = None) -> None:
    """After the widget is drawn: keep its value across page changes, in the link and as the shared choice."""
    value = st.session_state.get(key)
    st.session_state[f"_kept_{key}"] = value
    if shared:
        st.session_state[shared] = value
    if param:
        set_query(**{param: value if isinstance(value, (list, tuple)) else (None if value is None else str(value))})
