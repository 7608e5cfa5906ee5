"""Latents page (being built)."""
import streamlit as st

from app import components

a = components.require_analysis()
components.page_header("Latents", a, "")
st.write({"stages": a.n_stages, "strands": a.strands})
