"""dnaHNet Explorer (placeholder until the app lands)."""
import streamlit as st

st.set_page_config(page_title="dnaHNet Explorer", layout="wide")
st.title("dnaHNet Explorer")
st.info("The app is being built; see README.md.")
