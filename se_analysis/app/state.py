"""Widget state and the link: how a choice survives page changes and goes into the URL.

Every widget that keeps its value, or whose value goes into the link, is drawn through :func:`kept`:

* its value survives page changes (Streamlit forgets a widget's value once a run does not draw it,
  e.g. while another page is open; a shadow copy under ``_kept_<key>`` survives and brings it back);
* with ``param``, the link (the URL's query parameters) mirrors it, so that a shared link reopens the
  same view, and a new session opened from a link takes the link's value;
* with ``shared``, it is a choice carried from page to page (the classes: each page's widget has its
  own key, and starts from the session's ``shared`` choice).

:func:`query_value` and :func:`set_query` read and write the link's parameters that no widget draws
(the run key, presentation mode, an ablation that ran), and take out those of widgets not drawn.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import streamlit as st

__all__ = ["kept", "query_value", "set_query"]


def _query_list(name: str, allowed: Sequence[str] | None = None) -> list[str] | None:
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
    """Write choices into the URL (lists comma-separated); None (or an empty list) removes a parameter."""
    for name, value in values.items():
        if value is None or (not isinstance(value, str) and not value):
            if name in st.query_params:
                del st.query_params[name]
        else:
            text = value if isinstance(value, str) else ",".join(value)
            if st.query_params.get(name) != text:
                st.query_params[name] = text


def _allowed_value(value, allowed: Sequence | None, many: bool):
    """``value`` restricted to ``allowed`` (a list loses the values not allowed); None when nothing is left."""
    if allowed is None or value is None:
        return value
    if many:
        kept_values = [v for v in value if v in allowed]
        return kept_values if kept_values or not value else None
    return value if value in allowed else None


def _from_link(param: str, allowed: Sequence | None, many: bool, codes: Mapping[str, Any] | None):
    """The link's value of ``param`` as the widget holds it: a list, a number, or a code's widget value."""
    if many:
        return _query_list(param)
    raw = query_value(param)
    if raw is not None and codes is not None:
        return codes.get(raw)
    if raw is not None and allowed and not isinstance(allowed[0], str):
        try:  # numbers in the link
            return type(allowed[0])(raw)
        except ValueError:
            return None
    return raw


def _prepare(key: str, default, param: str | None, allowed: Sequence | None, many: bool, shared: str | None,
             codes: Mapping[str, Any] | None, from_link: bool) -> None:
    """Give a widget its starting value before it is drawn.

    In order: the value the widget holds now, the session's ``shared`` choice (e.g. the classes,
    carried across pages), the value it had (kept across page changes), the link's ``param``, else
    ``default``. Values not in ``allowed`` are dropped.
    """
    if key in st.session_state and _allowed_value(st.session_state[key], allowed, many) is not None:
        # Written back as the session's own value: a widget of the same key on another page (the grouping,
        # drawn by every page) is a new widget, which would start from its default instead of a value
        # that the old one owned.
        st.session_state[key] = st.session_state[key]
        return
    # Within a session the link mirrors the choices, so it comes after them; a new session opened
    # from a shared link has none, and takes the link's.
    candidates = [st.session_state.get(shared)] if shared else []
    candidates.append(st.session_state.get(f"_kept_{key}"))
    if param and from_link:
        candidates.append(_from_link(param, allowed, many, codes))
    for value in candidates:
        value = _allowed_value(value, allowed, many)
        if value is not None:
            st.session_state[key] = value
            return
    st.session_state[key] = default


def _persist(key: str, param: str | None, shared: str | None, codes: Mapping[str, Any] | None) -> None:
    """After the widget is drawn: keep its value across page changes, in the link and as the shared choice."""
    value = st.session_state.get(key)
    st.session_state[f"_kept_{key}"] = value
    if shared:
        st.session_state[shared] = value
    if param:
        if codes is not None:
            value = next((code for code, v in codes.items() if v == value), None)
        if not isinstance(value, (list, tuple)):
            value = None if value is None or value == "" else str(value)
        set_query(**{param: value})


def kept(widget: Callable, label: str, options: Sequence | None = None, *, key: str, default, param: str | None = None,
         allowed: Sequence | None = None, shared: str | None = None, codes: Mapping[str, Any] | None = None,
         from_link: bool = True, **kwargs):
    """Draw ``widget(label, options, key=key, **kwargs)`` with its value kept; returns the widget's value.

    Args:
        widget: a Streamlit widget function or a container's (``st.selectbox``, ``cols[0].multiselect``).
        options: the widget's options (passed on), also the values allowed unless ``allowed`` says otherwise.
        key: the widget's key. Its value survives page changes.
        default: the value when nothing else gives one; a list for a widget of many values (multiselect).
            Do not pass the widget's own ``index``/``value``/``default``: the value comes from here.
        param: the link's query parameter that mirrors the value (and opens a new session on it).
        allowed: the values allowed, where they are not ``options`` (e.g. a number input's range).
        shared: a session key holding a choice carried across pages (the widget starts from it).
        codes: the link's short codes for the widget's values (``{"random": "random (for comparison)"}``).
        from_link: False to start a new widget without the link's value (the link then only mirrors it).

    A conditional widget in the link: where it is not drawn, take its parameter out with
    ``set_query(param=None)``.
    """
    many = isinstance(default, (list, tuple))
    _prepare(key, default, param, options if allowed is None else allowed, many, shared, codes, from_link)
    value = widget(label, *(() if options is None else (options,)), key=key, **kwargs)
    _persist(key, param, shared, codes)
    return value
