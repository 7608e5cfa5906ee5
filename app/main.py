"""dnaHNet Explorer: `streamlit run app/main.py`.

The sidebar picks a genome and settings (seeded from the URL by `app.url_view`); this script runs (or fetches) the
analysis, writes the view back into the URL, then hands the page to `st.navigation`. Pages live in app/views/, one
file each, and read the analysis from `app.state.current()`.
(Not app/pages/: a folder of that name beside the main script puts Streamlit's page manager in its legacy
multipage mode, and AppTest then reruns a page without this script, losing the sidebar.)
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: dnahnet, interpret, app

from dnahnet import threads  # noqa: E402 (first: it sets OMP_WAIT_POLICY before torch loads OpenMP)

threads.thread_policy()  # a bad $DNAHNET_THREAD_POLICY stops the app at start-up, by name

import streamlit as st  # noqa: E402

from app import components, inputs, runner, url_view  # noqa: E402
from app.components import plain  # noqa: E402

st.set_page_config(page_title="dnaHNet Explorer", page_icon="🧬", layout="wide",
                   menu_items={"About": "dnaHNet Explorer: where a hierarchical DNA language model puts its chunk "
                                        "boundaries, against genes, codons and promoters."})

PAGES = [
    st.Page("views/browser.py", title="Browser", icon=":material/genetics:", default=True),
    st.Page("views/enrichment.py", title="Enrichment", icon=":material/bar_chart:"),
    st.Page("views/latents.py", title="Latents", icon=":material/scatter_plot:"),
    st.Page("views/levels.py", title="Levels", icon=":material/stacked_line_chart:"),
    st.Page("views/vocabulary.py", title="Vocabulary", icon=":material/dictionary:"),
    st.Page("views/mutagenesis.py", title="Mutagenesis", icon=":material/biotech:"),
    st.Page("views/about.py", title="About", icon=":material/info:"),
]
page = st.navigation(PAGES)

notices = st.container()  # input problems, progress and the run button appear above the page
url_view.read(page, notices)  # a link's (or back/forward's) sample, locus, strands and choices seed the inputs
request = inputs.sidebar(notices)
try:
    analysis = runner.ensure_analysis(request, notices, live_tracks=url_view.page_name(page) == "browser")
except Exception as e:  # noqa: BLE001 - a failed run is shown; the inputs stay usable
    notices.error(f"**The analysis failed:** {plain(f'{type(e).__name__}: {e}')}")
    analysis = None
url_view.check_choices(analysis)
url_view.write(page, request, analysis)  # before the page: a page may stop the script
components.sidebar_footer(analysis)
page.run()
