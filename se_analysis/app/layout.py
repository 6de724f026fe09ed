"""Layout: presentation mode (larger fonts, no sidebar, figures first), the sidebar's setup, and where a
page's controls and figure go.

Presentation mode is kept in the link as ``?present=1`` (through :mod:`se_analysis.app.state`).
"""

from __future__ import annotations

import streamlit as st

from se_analysis.app.state import kept, query_value, set_query

__all__ = ["FIGURE_ROOM", "METRICS_ROW", "PRESENT_CSS", "SUBHEADER_ROW", "controls_and_figure", "presenting",
           "setup"]

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
h1 { font-size: 2.4rem !important; padding: 0.5rem 0 0.5rem !important; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; max-width: 98%; position: relative; }
/* the exit button at the right of the title's row, out of the flow: the figure starts one row higher */
.st-key-exit_present { position: absolute; top: 4.5rem; right: 1.5rem; width: auto !important; z-index: 5; }
</style>
"""

#: What a figure may take of a 1280x720 screen in presentation mode (px): the height left under the top
#: navigation and the page's title, and the width of the page's column. ``show_figure`` caps each figure
#: at this height, less what the page puts above it in its figure's container (``METRICS_ROW``, ...).
FIGURE_ROOM = (1100, 555)  # measured: 134 px of navigation and title above, ~30 px to spare below
METRICS_ROW = 130  # a row of st.metric with their deltas, at presentation sizes (measured: 127)
SUBHEADER_ROW = 60  # an st.subheader (measured: 62)


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
            kept(st.select_slider, "PNG export scale", [1, 2, 3, 4], key="png_scale", default=2,
                 help="Figures export 1200 px wide times this (2: 2400 px, for slides and print).")
            st.toggle("Presentation mode", key="present_toggle", help="Larger fonts, top navigation, figures "
                      "first; kept in the link.",
                      on_change=lambda: st.session_state.update(present=st.session_state["present_toggle"]))


def controls_and_figure(label: str = "Controls", expanded: bool = False):
    """(controls container, figure container): controls above the figure, or, when presenting,
    the figure first and the controls below it in an expander, collapsed (so a 1280x720 screen
    shows the figure without scrolling) unless ``expanded`` (a page with no figure yet, such as an
    ablation not run, opens on its controls). Widgets go into the first, the figure into the second."""
    if presenting():
        figure = st.container()
        return st.expander(label, expanded=expanded, icon=":material/tune:"), figure
    controls = st.container()
    return controls, st.container()
