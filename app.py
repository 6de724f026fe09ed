"""se-analysis: the Streamlit app. Page config and navigation only; pages live in se_analysis/app_pages."""

import streamlit as st

from se_analysis.app_pages import PAGES
from se_analysis.app_pages.view import setup

st.set_page_config(page_title="se-analysis: what SE gates do", page_icon=":material/tune:", layout="wide")
page = st.navigation(PAGES)
setup()
page.run()
