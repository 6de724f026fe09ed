"""The app's pages: one module each, widgets and layout only (the logic is in the library)."""

from pathlib import Path

import streamlit as st

_HERE = Path(__file__).parent

PAGES = [
    st.Page(str(_HERE / "run_page.py"), title="Run", icon="▶️", default=True, url_path="run"),
    st.Page(str(_HERE / "paper_page.py"), title="Paper figure", icon="📈", url_path="paper"),
    st.Page(str(_HERE / "depth_page.py"), title="Depth", icon="🪜", url_path="depth"),
    st.Page(str(_HERE / "classes_page.py"), title="Class × channel", icon="🟪", url_path="classes"),
    st.Page(str(_HERE / "image_page.py"), title="One image", icon="🖼️", url_path="image"),
    st.Page(str(_HERE / "ablation_page.py"), title="Ablation", icon="✂️", url_path="ablation"),
]
