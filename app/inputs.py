"""The sidebar: pick a genome (sample or upload), a record, strands and a region → a `state.Request`.

The region comes first when the user wants it: a gene name, locus tag or `record:start-end` typed in the region
form (applied with its button, never per keystroke) is resolved on the GenBank annotation (`app.locus`) and
analysed with its context at once; the whole record is offered afterwards, analysed in the background.

Every bad input becomes a message in the page that says what was skipped; the rest of the file stays usable.
Messages are written into `notices` (a container at the top of the page) so they are seen, not hidden in the sidebar.
Whatever came from the user's files (names, ids, definitions, problems quoting them) goes through `components.plain`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from app import locus, page_links, runner, state, viewport
from app.components import bullets, plain

COMPANION_EXTENSIONS = (".csv", ".tsv", ".txt", ".bed", ".gff", ".gff3")


# ---------------------------------------------------------------------------------------------- reading files
def split_extension(name: str) -> tuple[str, bool]:
    """('.gbk', True) for 'x.gbk.gz': the format extension (lowercase) and whether it was gzipped."""
    p = Path(name.lower())
    gz = p.suffix == ".gz"
    if gz:
        p = p.with_suffix("")
    return p.suffix, gz


def format_for(name: str) -> str | None:
    """The genome format a file name promises, or None when the extension is not one we know (genome_io's table)."""
    from dnahnet.genome_io import format_from_name

    return format_from_name(name)


@st.cache_resource(max_entries=4, show_spinner="Reading the genome file…")
def read_upload(digest: str, name: str, _data: bytes, gff_digest: str = "", gff_name: str = "", _gff=None):
    """Parse an uploaded genome (+ optional GFF3) once per content digest → GenomeFile (shared, never modified:
    a resource, so reruns do not unpickle a whole genome)."""
    from dnahnet.genome_io import FORMAT_BY_EXTENSION, read_genome

    fmt = format_for(name)
    genome = read_genome(_data, fmt=fmt, gff=_gff, name=name)
    if fmt is None:
        ext = split_extension(name)[0] or "(none)"
        known = ", ".join(sorted(f".{e}" for e in FORMAT_BY_EXTENSION))
        what = f"read it as {genome.fmt or 'nothing'} from its content" if genome.records else "nothing could be read"
        genome.problems.insert(0, f"unknown file extension {ext!r} (expected one of {known}, optionally .gz); {what}")
    return genome


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def report_problems(notices, label: str, genome, kind: str = "genome") -> None:
    """One error (nothing usable) or warning (some things skipped) listing every problem in words."""
    problems = list(getattr(genome, "problems", []) or [])
    records = list(getattr(genome, "records", []) or [])
    if not records:
        lines = bullets(problems or ["no sequence record found"])
        notices.error(f"**Could not read any {kind} from {plain(label)}.**\n\n{lines}")
    elif problems:
        more = f"\n- … and {len(problems) - 25} more" if len(problems) > 25 else ""
        notices.warning(f"**{plain(label)}: read {len(records)} record(s); some parts were skipped or changed.**\n\n"
                        f"{bullets(problems[:25])}{more}")


# ---------------------------------------------------------------------------------------------- samples
DEFAULT_SAMPLE = "phage_lambda"  # 48.5 kb, well annotated: the first analysis is short even on a 2-core CPU
NCBI_SUFFIX = " · download from NCBI"


@st.cache_data(ttl=60, show_spinner=False)
def sample_options() -> dict[str, str]:
    """key -> menu label: genomes on this machine first (smallest first), then those fetched from NCBI on demand."""
    from sample_genomes import catalogue, loader

    local = {e.key for e in loader.list_available()}
    entries = sorted(catalogue.CATALOGUE, key=lambda e: (e.key not in local, e.size_bp))
    return {e.key: e.label if e.key in local else e.label + NCBI_SUFFIX for e in entries}


@st.cache_resource(max_entries=4, show_spinner="Opening the sample genome…")
def open_sample(key: str):
    """The sample's GenomeFile (from the data directory, the cache, or NCBI once); shared, never modified."""
    from sample_genomes import loader

    return loader.load_sample(key)


@st.cache_data(max_entries=4, show_spinner=False)
def sample_companion(key: str) -> tuple[str, bytes] | None:
    """The sample's own promoter/TSS table (E. coli: RegulonDB) as (file name, bytes), or None."""
    from sample_genomes import loader

    path = loader.companion_path(key)
    return (path.name, path.read_bytes()) if path is not None else None


def _file_uploader(label: str, key: str, **kwargs):
    """The sidebar's file uploader `key`; after `page_links.switch_page` emptied it, the file it held until the user
    changes it (a new file or removing it forgets the kept one)."""
    kept = f"kept_{key}"
    up = st.sidebar.file_uploader(label, key=key, on_change=_forget, args=(kept,), **kwargs)
    if up is not None:
        st.session_state.pop(kept, None)
        return up
    up = st.session_state.get(kept)
    if up is not None:
        st.sidebar.caption(f"Still using **{plain(up.name)}** (uploaded before the page changed).")
    return up


def _forget(key: str) -> None:
    st.session_state.pop(key, None)


# ---------------------------------------------------------------------------------------------- sidebar
def sidebar(notices) -> state.Request | None:
    """Draw the inputs; return the request they describe (None when there is nothing to analyse)."""
    page_links.restore_inputs()
    sb = st.sidebar
    sb.header("Genome")
    try:
        options = sample_options()
    except Exception as e:  # noqa: BLE001 - uploads still work without the catalogue
        options = {}
        notices.warning(f"The sample catalogue could not be read ({plain(e)}); upload a genome instead.")
    # a link's ?source=upload / ?sample=<key> were put into the session by app.url_view before these widgets
    source = sb.radio("Source", ["Sample genome", "Upload a file"], horizontal=True, key="source",
                      index=0 if options else 1)
    if source == "Sample genome":  # a genome kept across a page link does not come back with a later upload form
        for key in ("genome_file", "gff_file"):
            _forget(f"kept_{key}")
    sample_key = None
    if source == "Sample genome" and options:
        keys = list(options)
        if st.session_state.get("sample") not in keys:
            st.session_state.pop("sample", None)
        sample_key = sb.selectbox("Sample", keys, index=keys.index(DEFAULT_SAMPLE) if DEFAULT_SAMPLE in keys else 0,
                                  format_func=options.get, key="sample")
        if options[sample_key].endswith(NCBI_SUFFIX) and st.session_state.get("fetch_ok") != sample_key:
            # not on this machine: downloading is the user's decision (and may fail offline)
            if not sb.button("Download from NCBI", key="fetch_sample", icon=":material/cloud_download:"):
                notices.info(f"{options[sample_key].removesuffix(NCBI_SUFFIX)} is not on this machine: download it "
                             "(once; it is cached) with the button in the sidebar, or upload a genome.")
                return None
            st.session_state["fetch_ok"] = sample_key
        try:
            genome = open_sample(sample_key)
        except Exception as e:  # noqa: BLE001 - a missing file or failed fetch is the user's to see
            notices.error(f"**Could not open the sample {options[sample_key]}.**\n\n{plain(e)}")
            return None
        source_key, label = f"sample:{sample_key}", options[sample_key]
    elif source == "Sample genome":
        sb.info("No sample genomes here: upload a GenBank or FASTA file instead.")
        return None
    else:
        got = _uploaded_genome(notices)
        if got is None:
            return None
        genome, source_key, label = got
    report_problems(notices, label, genome)
    if not genome.records:
        return None

    _take_pending_locus(notices, genome, source_key)  # may pick the record the locus lies on
    record = _record_picker(genome)
    settings = _run_settings(record, source_key, label)
    companion, companion_key = _companion(notices, genome, sample_key)
    return state.Request(source_key=source_key, source_label=label, record=record, settings=settings,
                         companion=companion, companion_key=companion_key)


def _uploaded_genome(notices):
    """(GenomeFile, source key, label) of the uploaded genome (+ GFF3), or None with a message why not."""
    up = _file_uploader("GenBank, EMBL or FASTA (.gz too)", key="genome_file",
                        help="GenBank .gb/.gbk/.gbff, EMBL, FASTA .fa/.fasta/.fna; gzipped files are fine.")
    gff = _file_uploader("GFF3 annotation for a FASTA file (optional)", key="gff_file")
    if up is None:
        waiting = st.session_state.get("locus_pending")
        notices.info("Upload a genome in the sidebar (GenBank with its genes gives the full analysis)."
                     + (f" This link names the region **{plain(waiting)}**: it opens once its genome is uploaded "
                        "(a link cannot carry a file)." if waiting else ""))
        return None
    data = up.getvalue()
    if not data:
        notices.error(f"**{plain(up.name)} is empty** (0 bytes): nothing to read. Upload the genome file again.")
        return None
    gff_data = gff.getvalue() if gff is not None else None
    if gff is not None and not gff_data:
        notices.warning(f"{plain(gff.name)} is empty; the genome is read without it.")
        gff_data = None
    genome = read_upload(digest(data), up.name, data, digest(gff_data) if gff_data else "",
                         gff.name if gff is not None else "", gff_data)
    source_key = f"upload:{digest(data)}" + (f"+gff:{digest(gff_data)}" if gff_data else "")
    st.sidebar.caption("A copied link to this view keeps the region, strands and choices, not the file: whoever "
                       "opens it uploads the genome again.")
    return genome, source_key, up.name


def _record_picker(genome):
    records = genome.records
    if len(records) == 1:
        st.session_state.pop("record", None)  # one record: nothing to pick (nor to put in a link)
        rec = records[0]
        st.sidebar.caption(f"**{plain(rec.id)}** · {len(rec):,} bp · {rec.annotations.get('topology', 'linear')}"
                           + (f" · {plain(rec.description[:60])}" if rec.description else ""))
        return rec
    ids = [r.id for r in records]
    lengths = {r.id: len(r) for r in records}
    if st.session_state.get("record") not in ids:  # another genome's, or a link's unknown record
        st.session_state.pop("record", None)
    rid = st.sidebar.selectbox(f"Record ({len(records)} in the file)", ids, key="record",
                               format_func=lambda i: f"{i} ({lengths[i]:,} bp)")
    return genome.record(rid)


def _run_settings(record, source_key: str, label: str) -> state.RunSettings:
    sb = st.sidebar
    sb.header("Analysis")
    _model_choice(sb)
    try:
        sb.caption(f"Runs on **{state.device_label()}** · results are cached per model, genome and settings")
    except Exception:  # noqa: BLE001 - the footer says why the model is missing
        pass
    strands = sb.radio("Strands", list(state.STRAND_CHOICES), format_func=state.STRAND_CHOICES.get, key="strands",
                       help="The reverse pass reads the reverse complement; genes on the − strand are judged on it.")
    region = _region(record, source_key)
    if region == (0, len(record)):  # a gene whose context covers the record: the whole record (one cached run)
        region = None
    if region is not None:
        whole = state.Request(source_key=source_key, source_label=label, record=record,
                              settings=state.RunSettings(strands=strands, region=None))
        runner.offer_whole_record(whole, sb, on_show=_show_whole_record)
    return state.RunSettings(strands=strands, region=region)


MODEL_WIDGET = "model_select"


def _keep_model() -> None:
    st.session_state[state.MODEL_KEY] = st.session_state[MODEL_WIDGET]


def _model_choice(sb) -> None:
    """The checkpoint that reads the genome (`state.checkpoint_setting` reads the choice): each has its own card on
    the About page, and changing it runs the analysis again (or takes it from the cache)."""
    choices = state.checkpoint_choices()
    if not choices:  # nothing shipped and nothing named: the footer says why no model loads
        return
    ss = st.session_state
    if ss.get(state.MODEL_KEY) not in choices:  # first run, a link's unknown name, or a choice no longer there
        ss[state.MODEL_KEY] = state.default_model_choice()
    # the widget has its own key: Streamlit drops a widget's state on runs that do not draw it (no genome yet)
    ss[MODEL_WIDGET] = ss[state.MODEL_KEY]
    sb.selectbox("Model", choices, key=MODEL_WIDGET, format_func=lambda c: Path(c).name, on_change=_keep_model,
                 help="The checkpoint that reads the genome. The first is the default; the About page shows what "
                      "each one measurably does. Changing it runs the analysis again (cached per model).")


# ---------------------------------------------------------------------------------------------- region
REGION_HELP = (f"A gene name, locus tag or product word: that gene with {locus.CONTEXT_BP:,} nt on each side is "
               "analysed at once (clipped at the record's ends; on a circular record too, the region does not wrap "
               "the origin). Or a range record:start-end, 1-based with both ends included (NC_000913.3:1,000-2,000; "
               f"the record may be left out), analysed as typed; a range under {locus.MIN_REGION} nt or one position "
               "gets the same context as a gene. Empty: the whole record. Nothing runs before Apply.")


@st.cache_resource(max_entries=4, show_spinner="Reading the genome's genes…")
def genome_features(source_key: str, _records):
    """Every record's genes, CDS and RNAs (`locus.feature_table`), once per genome: what the region box searches."""
    return locus.feature_table(_records)


def _region(record, source_key: str) -> tuple[int, int] | None:
    """The region form (applied with its button) and the region in use: 0-based half-open, or None (whole)."""
    sb = st.sidebar
    got = st.session_state.get("locus")
    if got and (got[0] != source_key or got[1].record_id != record.id):  # another genome or record: not this one's
        st.session_state["locus"] = got = None
        st.session_state["locus_query"] = ""
    with sb.form("region_form", border=False):
        st.text_input("Gene, locus tag or region", key="locus_query", placeholder="e.g. cI, b0344 or 1,000-5,000",
                      help=REGION_HELP)
        st.form_submit_button("Apply", key="locus_apply", on_click=_apply_locus, icon=":material/check:")
    choices = st.session_state.get("locus_choices")
    if choices and choices[0] == source_key:
        _, query, found = choices
        sb.selectbox(f"{len(found)} genes match “{plain(query)}”: choose one", range(len(found)), index=None,
                     format_func=lambda i: found[i].label, key="locus_pick", placeholder="Choose a gene…",
                     on_change=_pick_locus, args=(source_key, found))
    if not got:
        return None
    loc = got[1]
    a, b = loc.region(len(record))
    context = f" and up to {loc.context:,} nt on each side" if loc.context else ""
    sb.caption(f"Region: **{plain(loc.label)}**{context} → analysing {a + 1:,}–{b:,} ({b - a:,} bp).")
    return a, b


def _apply_locus() -> None:
    """The region form's Apply: resolve what was typed, on this run (empty: the whole record)."""
    st.session_state["locus_pending"] = " ".join(str(st.session_state.get("locus_query") or "").split())


def _take_pending_locus(notices, genome, source_key: str) -> None:
    """Resolve a region asked for (Apply, a link) on this genome: one locus is used, several wait for a choice,
    none is an error that keeps the region in use."""
    pending = st.session_state.pop("locus_pending", None)
    if pending is None:
        return
    st.session_state.pop("locus_choices", None)
    st.session_state.pop("locus_pick", None)
    if not pending:
        st.session_state["locus"] = None
        return
    lengths = {r.id: len(r) for r in genome.records}
    picked = st.session_state.get("record")
    try:
        found = locus.resolve(pending, lengths, genome_features(source_key, genome.records),
                              picked if picked in lengths else genome.records[0].id)
    except locus.LocusError as e:
        notices.error(f"**Region “{plain(pending)}”:** {plain(e)}")
        return
    if len(found) == 1:
        _use_locus(found[0], source_key)
    else:
        st.session_state["locus_choices"] = (source_key, pending, found)


def _pick_locus(source_key: str, found: list) -> None:
    """A gene chosen among several matches: use it."""
    i = st.session_state.get("locus_pick")
    if i is None:
        return
    st.session_state.pop("locus_choices", None)
    st.session_state.pop("locus_pick", None)
    _use_locus(found[i], source_key)


def _use_locus(loc, source_key: str) -> None:
    """Analyse `loc` (with its context) from the next request on, on its record; the browser opens on the gene or
    range itself."""
    st.session_state["locus"] = (source_key, loc)
    st.session_state["locus_query"] = loc.text
    st.session_state["record"] = loc.record_id  # the record picker of a multi-record genome follows the locus
    span = (max(0, loc.start - loc.context), loc.end + loc.context)  # clipped to the analysis by the browser
    viewport.request(None, viewport.around(loc.start, loc.end, span) if loc.context else (loc.start, loc.end))


def _show_whole_record() -> None:
    """Leave the region for the whole record (analysed by now), keeping the window on screen."""
    st.session_state["locus"] = None
    st.session_state["locus_query"] = ""
    view = st.session_state.get("view")
    if view:
        viewport.request(None, view[1])


def _companion(notices, genome, sample_key: str | None):
    """Promoter/TSS table: an upload, else the sample's own (E. coli) → (DataFrame, key) or (None, ''). How many rows
    each record of the genome gets is shown, and seqids that match no record are a warning naming the records."""
    up = _file_uploader("Promoter / TSS table (optional)", key="companion_file",
                        help="CSV/TSV with position and strand columns, BED or GFF3; adds TSS, −10 and −35 "
                             "classes (RegulonDB tables for E. coli work as they are).")
    if up is not None:
        name, data = up.name, up.getvalue()
    elif sample_key is not None and (own := sample_companion(sample_key)) is not None:
        if not st.sidebar.checkbox(f"Use the sample's promoter/TSS table ({own[0]})", value=True, key="own_companion"):
            return None, ""
        name, data = own
    else:
        return None, ""
    if not data:
        notices.error(f"**{plain(name)} is empty**: the promoter/TSS table was not used.")
        return None, ""
    ext = split_extension(name)[0]
    if ext not in COMPANION_EXTENSIONS:
        notices.warning(f"{plain(name)}: extension {plain(ext or '(none)')} is not one of "
                        f"{', '.join(COMPANION_EXTENSIONS)}; reading it by its content.")
    table, problems = read_companion(digest(data), name, data)
    if table is None:
        notices.error(f"**Could not use the promoter/TSS table {plain(name)}.**\n\n"
                      + bullets(problems or ["no rows could be read"]))
        return None, ""
    from interpret.companion import match_records

    per_record, _, notes = match_records(table, genome.records)
    problems = problems + notes
    st.sidebar.caption(f"{plain(name)}: {len(table):,} rows; per record: "
                       + " · ".join(f"{plain(rid)} {n:,}" for rid, n in list(per_record.items())[:5])
                       + (f" · {len(per_record) - 5} more records" if len(per_record) > 5 else ""))
    if problems:
        notices.warning(f"**{plain(name)}: read {len(table):,} promoter/TSS rows; notes:**\n\n"
                        + bullets(problems[:25]))
    return table, digest(data)


@st.cache_data(max_entries=4, show_spinner=False)
def read_companion(data_digest: str, name: str, _data: bytes):
    """Parse a companion table (interpret.companion) → (DataFrame or None, problems in words)."""
    from interpret.companion import read_companion as read

    try:
        comp = read(_data, name=name)
    except Exception as e:  # noqa: BLE001 - any parse failure is reported, the genome stays usable
        return None, [f"{type(e).__name__}: {e}"]
    table, problems = comp.table, list(comp.problems)
    if table is None or table.empty:
        return None, problems
    return table, problems
