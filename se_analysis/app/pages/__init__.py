"""The app's pages: one module each, widgets and layout only (the logic is in the library)."""

from pathlib import Path

import streamlit as st

__all__ = ["PAGES"]

_HERE = Path(__file__).parent

PAGES = [
    st.Page(str(_HERE / "run.py"), title="Run", icon=":material/play_arrow:", default=True, url_path="run"),
    st.Page(str(_HERE / "paper.py"), title="Paper figure", icon=":material/show_chart:", url_path="paper"),
    st.Page(str(_HERE / "depth.py"), title="Depth", icon=":material/stacked_line_chart:", url_path="depth"),
    st.Page(str(_HERE / "classes.py"), title="Class × channel", icon=":material/grid_on:", url_path="classes"),
    st.Page(str(_HERE / "contrast.py"), title="Two classes", icon=":material/compare_arrows:",
            url_path="contrast"),
    st.Page(str(_HERE / "channel.py"), title="One channel", icon=":material/center_focus_strong:",
            url_path="channel"),
    st.Page(str(_HERE / "image.py"), title="One image", icon=":material/image:", url_path="image"),
    st.Page(str(_HERE / "ablation.py"), title="Ablation", icon=":material/content_cut:", url_path="ablation"),
    st.Page(str(_HERE / "compare.py"), title="Compare runs", icon=":material/difference:", url_path="compare"),
]
