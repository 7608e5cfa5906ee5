"""Links from one page to another made in code (Latents → "Show this chunk in the browser") that keep the sidebar.

st.switch_page reruns without the browser's widget values, and Streamlit then drops the state of every widget, the
sidebar's included: the next run would fall back to the default sample while the browser still shows the user's
choices. Links between pages go through `switch_page`, which keeps the sidebar's inputs for that next run, and the
sidebar calls `restore_inputs` before drawing its widgets. (Apart from `app.inputs`, which draws the sidebar, so
that `app.viewport` can link to the browser without importing the sidebar that imports it.)
"""
from __future__ import annotations

import streamlit as st

from app import url_view

INPUT_KEYS = ("source", "sample", "record", "strands", "locus_query", "own_companion", "report_static")
UPLOAD_KEYS = ("genome_file", "gff_file", "companion_file")  # a file uploader's value cannot be set: kept aside


def switch_page(page: str) -> None:
    """st.switch_page that keeps the sidebar's inputs (genome, uploads, record, strands, region, promoter table)
    and the URL's view parameters (st.switch_page alone clears them)."""
    st.session_state["inputs_before_switch"] = {k: st.session_state[k] for k in INPUT_KEYS + UPLOAD_KEYS
                                                if st.session_state.get(k) is not None}
    st.switch_page(page, query_params=url_view.kept_on_switch())


def restore_inputs() -> None:
    """The run after `switch_page`: put back the inputs whose state Streamlit dropped (before their widgets exist);
    an upload goes to `kept_<key>`, since a file uploader's value cannot be set."""
    for key, value in (st.session_state.pop("inputs_before_switch", None) or {}).items():
        if key in UPLOAD_KEYS:
            st.session_state[f"kept_{key}"] = value
        elif key not in st.session_state:
            st.session_state[key] = value
