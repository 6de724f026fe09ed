"""The Streamlit app's machinery: pages, widget state and the link, layout, caches."""

