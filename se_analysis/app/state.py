"""The view in the URL: query parameters that reopen the same model, run, classes, blocks and ablation.

Pages read their defaults from the query string (so a shared link shows the same view) and
write their current choices back. Presentation mode (``?present=1``) enlarges fonts and hides
the sidebar.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

import streamlit as st

__all__ = ["keep_widget_state", "persist", "prepare", "query_list", "query_value", "remember_widget_state", "set_query"]


T = TypeVar("T")






T = TypeVar("T")

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
