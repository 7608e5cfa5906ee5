"""The view in the URL: sample genome, record, locus, strands and the open page's stage and strand choices live in
`st.query_params`, so a copied link opens the same view and the browser's back and forward buttons step through
views. The page itself is the URL's path (Streamlit's navigation: /enrichment, /latents …).

The parameters seed the session once, at its start, and again only when they change from outside (back/forward,
an edited URL); every run writes the session's view back (Streamlit adds a history entry when they change). An
uploaded genome cannot travel in a URL: a link then says `source=upload` and the rest applies once it is uploaded.
"""
from __future__ import annotations

import streamlit as st

from app import state
from app.components import plain
from dnahnet.checkpoint import bundled_names

SOURCE_UPLOAD, SOURCE_SAMPLE = "Upload a file", "Sample genome"  # the sidebar's "source" options
STRANDS = {"both": "both", "+": "plus", "-": "minus"}  # session value → URL word ('+' is a space in a query)
WORDS = {w: v for v, w in STRANDS.items()}
SIDEBAR_PARAMS = ("source", "sample", "record", "locus", "strands", "model")
# per page (its URL path): parameter → (session key of the page's widget, kind)
CHOICES = {
    "browser": {"stages": ("browser_stages", "stages"), "passes": ("browser_strands", "passes")},
    "latents": {"stage": ("lat_stage", "stage")},
    "enrichment": {"passes": ("enr_strand", "pass")},
    "levels": {"passes": ("lvl_strand", "pass")},
    "vocabulary": {"stage": ("voc_stage", "stage")},
}
PARAMS = SIDEBAR_PARAMS + tuple({p for page in CHOICES.values() for p in page})


def page_name(page) -> str:
    """'browser', 'latents' …: the page's URL path (the default page's is empty)."""
    return getattr(page, "url_path", "") or "browser"


# ---------------------------------------------------------------------------------------------- reading
def read(page, notices) -> None:
    """Seed the session from the URL at the session's first run, and when the URL changed from outside."""
    params = {k: v for k, v in st.query_params.to_dict().items() if k in PARAMS}
    seen = st.session_state.get("url_seen")
    if seen is not None and (params == seen or not params):  # ours, or cleared by a page change: nothing new
        return
    st.session_state["url_seen"] = params
    reset = seen is not None  # back/forward: what the URL leaves out goes back to its default
    problems = _seed_sidebar(params, reset) + _seed_choices(page_name(page), params, reset)
    if problems:
        notices.warning("**Parts of this link were not understood and were left out:** "
                        + ", ".join(plain(f"{k}={v[:40]}") for k, v in problems))


def _seed_sidebar(params: dict, reset: bool) -> list[tuple[str, str]]:
    from sample_genomes.catalogue import CATALOGUE

    ss, problems = st.session_state, []
    sample, source = params.get("sample"), params.get("source")
    if source == "upload":
        ss["source"] = SOURCE_UPLOAD
    elif sample in {e.key for e in CATALOGUE}:
        ss["source"], ss["sample"] = SOURCE_SAMPLE, sample
    elif reset:
        ss["source"] = SOURCE_SAMPLE
        ss.pop("sample", None)
    if source not in (None, "upload"):
        problems.append(("source", source))
    if sample is not None and source != "upload" and ss.get("sample") != sample:
        problems.append(("sample", sample))
    if "record" in params:
        ss["record"] = params["record"]  # checked against the genome's records by the sidebar
    elif reset:
        ss.pop("record", None)
    if "locus" in params or reset:
        ss["locus_pending"] = ss["locus_query"] = " ".join(params.get("locus", "").split())  # resolved by inputs
    if "model" in params:  # a checkpoint's name, taken only when this server offers it
        if params["model"] in state.checkpoint_choices():
            ss[state.MODEL_KEY] = params["model"]
        else:
            problems.append(("model", params["model"]))
    elif reset:
        ss.pop(state.MODEL_KEY, None)
    if params.get("strands") in WORDS:
        ss["strands"] = WORDS[params["strands"]]
    elif "strands" in params or reset:
        ss.pop("strands", None)
        if "strands" in params:
            problems.append(("strands", params["strands"]))
    return problems


def _seed_choices(page: str, params: dict, reset: bool) -> list[tuple[str, str]]:
    problems = []
    for name, (key, kind) in CHOICES.get(page, {}).items():
        if name not in params:
            if reset:
                st.session_state.pop(key, None)
            continue
        value = _parse(kind, params[name])
        if value is None:
            problems.append((name, params[name]))
            st.session_state.pop(key, None)
        else:
            st.session_state[key] = value
    return problems


def _parse(kind: str, text: str):
    """A URL word → the widget's value (stages count from 1 in the URL, from 0 in code); None when it is not one."""
    words = [w for w in text.split(",") if w]
    if kind in ("stages", "stage"):
        if not words or not all(w.isdigit() and 1 <= int(w) <= 9 for w in words):
            return None
        stages = [int(w) - 1 for w in words]
        return stages if kind == "stages" else (stages[0] if len(stages) == 1 else None)
    if not words or not all(w in WORDS for w in words):
        return None
    strands = [WORDS[w] for w in words]
    if kind == "passes":
        return [s for s in strands if s != "both"] or None
    return strands[0] if len(strands) == 1 else None


def check_choices(analysis) -> None:
    """Forget a Latents or Vocabulary stage this analysis does not have (a link's, or another genome's)."""
    for key in ("lat_stage", "voc_stage"):
        if analysis is not None and st.session_state.get(key) not in (None, *range(analysis.n_stages)):
            del st.session_state[key]


# ---------------------------------------------------------------------------------------------- writing
def write(page, request, analysis) -> None:
    """Put this run's view into the URL (before the page runs: a page may stop the script)."""
    want = {**_sidebar_params(request), **_choice_params(page_name(page), analysis)}
    want = {k: want[k] for k in PARAMS if k in want}  # one order: a view has one URL
    params = st.query_params.to_dict()
    if want != {k: v for k, v in params.items() if k in PARAMS}:
        others = {k: v for k, v in params.items() if k not in PARAMS}
        st.query_params.from_dict({**want, **others})  # one change: one history entry
    st.session_state["url_seen"] = want


def _sidebar_params(request) -> dict[str, str]:
    ss, out = st.session_state, {}
    if ss.get("source") == SOURCE_UPLOAD:
        out["source"] = "upload"  # the file itself cannot travel: the link asks for it
    elif ss.get("sample"):
        out["sample"] = str(ss["sample"])
    pending = ss.get("locus_pending")
    choices = ss.get("locus_choices")
    got = ss.get("locus")
    if pending:  # not resolved yet (its genome is not open): keep what the link said
        out["locus"] = pending
    elif choices and request is not None and choices[0] == request.source_key:
        out["locus"] = choices[1]  # the name that asked for a choice
    elif got and request is not None and got[0] == request.source_key:
        out["locus"] = got[1].text
    elif request is not None and ss.get("record") == request.record.id:
        out["record"] = request.record.id  # the record picked in a multi-record genome
    strands = STRANDS.get(ss.get("strands", "both"), "both")
    if strands != "both":
        out["strands"] = strands
    model = ss.get(state.MODEL_KEY)
    if model and model != state.default_model_choice() and model in bundled_names():
        out["model"] = model  # a shipped checkpoint's name only: a server path does not belong in a shared link
    return out


def _choice_params(page: str, analysis) -> dict[str, str]:
    """The open page's stage and strand choices that differ from its defaults (the URL stays short)."""
    if analysis is None:
        return {}
    defaults = {"browser_stages": list(range(analysis.n_stages)), "browser_strands": list(analysis.strands),
                "lat_stage": 0, "voc_stage": 0, "enr_strand": "both", "lvl_strand": "both"}
    out = {}
    for name, (key, kind) in CHOICES.get(page, {}).items():
        value = st.session_state.get(key)
        if value is None or value == defaults[key] or (isinstance(value, list) and sorted(value) == defaults[key]):
            continue
        if kind == "stages":
            out[name] = ",".join(str(int(s) + 1) for s in value)
        elif kind == "stage":
            out[name] = str(int(value) + 1)
        elif kind == "passes":
            out[name] = ",".join(STRANDS.get(s, s) for s in value)
        else:
            out[name] = STRANDS.get(value, value)
    return out


def kept_on_switch() -> dict[str, str]:
    """The sidebar's parameters, for `st.switch_page` (which otherwise clears the URL's parameters)."""
    return {k: v for k, v in st.query_params.to_dict().items() if k in SIDEBAR_PARAMS}
