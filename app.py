"""se-analysis: the Streamlit app. Page config and navigation only; pages live in se_analysis/app/pages."""

import streamlit as st

from se_analysis.app.layout import presenting, setup
from se_analysis.app.pages import PAGES

st.set_page_config(page_title="se-analysis: what SE gates do", page_icon=":material/tune:", layout="wide")
page = st.navigation(PAGES, position="top" if presenting() else "sidebar")  # presenting: links stay visible
setup()
page.run()
