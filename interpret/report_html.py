"""The report's front page: one self-contained HTML file (plotly.js inlined once) with every figure, the main
tables, links to all files, the problems met on the way and the timings. Opens from disk with no network."""
from __future__ import annotations

import html
import time

import pandas as pd

from interpret.render import figure_to_bytes, static_backend
from interpret.style import FONT_FAMILY
from interpret.timing import Timer

TRACK_NOTES = {  # the first key found in a path gives its note
    ".tbi": "tabix index of the .gz file above: browsers fetch the region they show through it",
    ".csi": "tabix (CSI) index of the .gz file above: browsers fetch the region they show through it",
    "chunks.bed": "chunks of one stage as BED6 intervals (0-based half-open, strand = pass, score = 1000·p)",
    "annotation.bed": "the genome's annotated features as BED6 (what the IGV page shows as annotation)",
    ".p.": "router probability p per position (bigWig, one file per strand pass)",
    "surprisal": "surprisal −log2 p(base) in bits per position (bigWig, one file per strand pass)",
    "gc.bw": "GC fraction in a centred window of 101 nt per position (bigWig)",
    "gff3": "chunks of one stage as GFF3 features (1-based); a Stage 1 chunk names its Stage 2 chunk (stage2_chunk)",
}


_CSS = f"""
body {{ font-family: {FONT_FAMILY}; margin: 24px auto; max-width: 1320px; color: #222; padding: 0 16px; }}
h1 {{ font-size: 26px; margin-bottom: 4px; }} h2 {{ font-size: 20px; margin-top: 36px; border-bottom: 1px solid #ddd; }}
p.caption {{ color: #444; margin: 4px 0 8px; }} p.files a {{ margin-right: 10px; }}
table.data {{ border-collapse: collapse; font-size: 12px; margin: 6px 0 12px; display: block; overflow-x: auto;
  max-width: 100%; }}
table.data td, table.data th {{ border: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
table.data th {{ background: #f4f4f4; }} nav a {{ margin-right: 12px; }}
.meta {{ color: #555; font-size: 14px; }} .problems li {{ color: #8a4b00; }}
.mfig svg {{ max-width: 100%; height: auto; }}
"""


def _table_html(df: pd.DataFrame, max_rows: int = 40) -> str:
    shown = df.head(max_rows)
    out = shown.to_html(classes="data", index=False, border=0, float_format=lambda x: f"{x:.4g}", na_rep="")
    if len(df) > max_rows:
        out += f"<p class='caption'>First {max_rows} of {len(df):,} rows; the CSV has all.</p>"
    return out


def _model_line(meta: dict) -> str:
    if not meta.get("checkpoint_hash"):
        return "not recorded in the trace"
    return (f"{meta.get('checkpoint_name', '?')} ({str(meta['checkpoint_hash'])[:12]}), device "
            f"{meta.get('device', '?')}")


def index_html(trace, figs: list[dict], tables: list[tuple[str, str, pd.DataFrame]], files: dict, problems: list[str],
               timer: Timer | None = None, title: str | None = None) -> str:
    """The report's front page: figures inline (plotly.js embedded once), tables, tracks, problems, timings."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    meta = trace.meta or {}
    recs = ", ".join(f"{sp.record_id} ({sp.strand}, {sp.length:,} nt)" for sp in trace.passes)
    title = title or f"dnaHNet report: {', '.join(trace.record_ids[:3])}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<script type='text/javascript'>{get_plotlyjs()}</script><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='meta'>Passes: {html.escape(recs)}<br>Model: {html.escape(_model_line(meta))}"
             f", created {html.escape(str(meta.get('created', time.strftime('%Y-%m-%d %H:%M'))))}. Stage 1 = the "
             "router over nucleotides (chunks of ~3 nt), Stage 2 = the router over Stage 1 chunks. Coordinates in "
             "figures are 1-based.</p>",
             "<nav>" + "".join(f"<a href='#{f['name']}'>{html.escape(f['title'])}</a>" for f in figs)
             + "<a href='#tables'>Tables</a><a href='#tracks'>Tracks</a><a href='#notes'>Notes</a></nav>"]
    for f in figs:
        parts.append(f"<section id='{f['name']}'><h2>{html.escape(f['title'])}</h2>"
                     f"<p class='caption'>{html.escape(f['caption'])}</p>")
        if "fig" in f:
            parts.append(pio.to_html(f["fig"], full_html=False, include_plotlyjs=False, div_id=f"fig_{f['name']}",
                                     config={"displaylogo": False, "responsive": True}))
        else:
            svg = files.get(f"figures/{f['name']}.svg") or f.get("svg") or figure_to_bytes(f["mfig"], "svg")
            text = svg.decode()
            parts.append(f"<div class='mfig'>{text[text.find('<svg'):]}</div>")
        links = [f"<a href='figures/{f['name']}.{ext}'>{ext.upper()}</a>" for ext in ("html", "png", "svg")
                 if f"figures/{f['name']}.{ext}" in files]
        parts.append(f"<p class='files'>{' '.join(links)}</p>")
        for name, desc, df in f.get("tables", ()):  # a section's own tables (learned vocabulary, boundary logos)
            path = f"tables/{name}.csv"
            link = f" <a href='{path}'>CSV</a>" if path in files else ""
            parts.append(f"<h3>{html.escape(name)}</h3><p class='caption'>{html.escape(desc)}{link}</p>")
            if df is not None and not df.empty:
                parts.append(_table_html(df, max_rows=60))
        parts.append("</section>")
    parts.append("<section id='tables'><h2>Tables</h2>")
    for name, desc, df in tables:
        path = f"tables/{name}.csv"
        parts.append(f"<h3>{html.escape(name)}</h3><p class='caption'>{html.escape(desc)} "
                     f"<a href='{path}'>CSV</a></p>")
        if df is None or df.empty:
            parts.append("<p class='caption'>(empty for this genome)</p>")
        elif name in ("passes", "codon_tests", "periodicity", "nesting", "baseline_summary"):
            parts.append(_table_html(df))
        elif name == "enrichment":
            cols = [c for c in ("stage_label", "class", "n_positions", "rate", "fold", "fold_lo", "fold_hi",
                                "shift_z", "q_shift_text", "perm_z", "q_perm_text") if c in df.columns]
            parts.append(_table_html(df[df["strand"] == "both"][cols] if "strand" in df else df[cols]))
    parts.append("</section><section id='tracks'><h2>Tracks (IGV, JBrowse)</h2><p class='caption'>BED and "
                 "bigWig are 0-based half-open, GFF3 1-based inclusive; chromosome names are the record ids and the "
                 "bigWigs carry each record's length. Load them beside the same genome sequence.</p>")
    if "igv.html" in files:
        embedded = "igv/genome.fa" not in files
        parts.append("<p><b><a href='igv.html'>Open the tracks in IGV</a></b> (igv.js, offline): the genome, its "
                     "annotation, the chunks of each stage and the p / surprisal / GC tracks. "
                     + ("Everything is inside the page; it opens from disk." if embedded else
                        "The page reads the files beside it, which browsers allow only from a served folder: run "
                        "<code>python -m interpret.serve THIS_FOLDER</code> and open "
                        "<code>localhost:8000/igv.html</code>.") + "</p>")
    parts.append("<ul>")
    for path in sorted(p for p in files if p.startswith("tracks/")):
        note = next((v for k, v in TRACK_NOTES.items() if k in path), "")
        parts.append(f"<li><a href='{path}'>{html.escape(path[7:])}</a> ({len(files[path]) / 1e6:.2f} MB): "
                     f"{html.escape(note)}</li>")
    parts.append("</ul>" + ("<p><a href='trace.npz'>trace.npz</a>: the raw trace (load with "
                            "<code>dnahnet.Trace.load</code>).</p>" if "trace.npz" in files else ""))
    parts.append("</section><section id='notes'><h2>Notes</h2>")
    if meta.get("margin_policy"):
        parts.append(f"<p class='caption'>Windows: {html.escape(str(meta['margin_policy']))}</p>")
    parts.append("<p class='caption'>Static images: " + html.escape(static_backend()) + ".</p>")
    if problems:
        parts.append("<ul class='problems'>" + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>")
    if timer is not None and timer.steps:
        parts.append("<h3>Timings</h3>" + _table_html(timer.table()))
    parts.append("</section></body></html>")
    return "\n".join(parts)
