"""Headless report: every table, figure and track of the app, written to a folder with an offline index.html.

`python -m interpret.report GENOME --out DIR` reads the genome, runs dnaHNet over it (both strands), annotates
it, computes every boundary statistic, the learned chunk vocabulary and the boundary sequence logos
(`learned_vocabulary`: interpret.vocabulary, interpret.logos) and writes: tables/*.csv, figures/*.{html,png,svg},
tracks/*.{bed,gff3}(.gz + .gz.tbi index for long genomes) and *.bw (bigWig), igv.html (IGV on the genome and the
tracks, offline), trace.npz and index.html (self-contained: plotly.js is inlined, open it from disk with no network).
`build_report_files` returns the same files as bytes (the app's zip).
"""
from __future__ import annotations

import argparse
import gzip
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dnahnet import threads  # first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see dnahnet.threads)
import numpy as np
import pandas as pd

from dnahnet.cli import add_genome_arguments, open_genome
from interpret import exports
from interpret.render import figure_to_bytes, static_backend
from interpret.report_html import index_html
from interpret.style import stage_label
from interpret.timing import Timer

GZIP_ABOVE_NT = 200_000  # BED/GFF3 of longer analyses: BGZF + tabix index (browsers read regions). Below, plain
# text tracks fit the IGV page (~100 bytes/nt of GFF3 + bigWig: 20 MB); above, BGZF ones fit it up to ~0.8 Mb
BASES_VIEW_NT = 120  # the base-level track view


# ---------------------------------------------------------------------------------------------- pieces


def _as_dict(annotations, trace) -> dict:
    if annotations is None:
        return {}
    if isinstance(annotations, dict):
        return annotations
    return {getattr(annotations, "record_id", trace.record_ids[0]): annotations}


def _sequences(record=None, sequences=None) -> dict:
    out = dict(sequences or {})
    for r in ([record] if record is not None and not isinstance(record, (list, tuple)) else (record or [])):
        out.setdefault(r.id, str(r.seq))
    return out


def _pick_views(ann, sp) -> list[tuple[str, tuple[int, int], str]]:
    """(name, region, caption) of the zoomed track views: a gene neighbourhood and the bases around a start."""
    lo, hi = sp.region or (0, sp.length)
    views = []
    cds = ann.features[(ann.features["type"] == "CDS") & (ann.features["start"] >= lo) & (ann.features["end"] <= hi)] \
        if ann is not None and len(ann.features) else pd.DataFrame()
    if len(cds):
        g = cds.iloc[min(len(cds) - 1, len(cds) // 3)]
        mid = (int(g["start"]) + int(g["end"])) // 2
        a = max(lo, mid - 3000)
        if hi - lo > 12_000:  # shorter analyses are already shown at this resolution by the overview
            views.append(("tracks_genes", (a, min(hi, a + 6000)),
                          f"A 6-kb neighbourhood around {g['name'] or g['locus_tag'] or 'a gene'}: features with "
                          "their strand, chunk boundaries per stage and strand pass, p, surprisal and GC."))
        start = int(g["start"]) if int(g["strand"]) >= 0 else int(g["end"])
        a = int(np.clip(start - BASES_VIEW_NT // 2, lo, max(lo, hi - BASES_VIEW_NT)))
        views.append(("tracks_bases", (a, min(hi, a + BASES_VIEW_NT)),
                      f"Base level around the start codon of {g['name'] or g['locus_tag'] or 'a gene'}: letters, "
                      "codon positions of CDS on each strand, and every chunk edge (ticks)."))
    else:
        a = lo + (hi - lo) // 3
        if hi - lo > 12_000:
            views.append(("tracks_zoom", (a, min(hi, a + 6000)), "A 6-kb window of the record."))
    return views


# ------------------------------------------------------------------------------------- vocabulary, logos

VOCABULARY_CAPTION = (
    "Each stage's chunks read as strings, in each pass's reading direction (passes pooled; the last chunk of a pass, "
    "cut by the end of the sequence, and chunks near non-ACGT runs are left out). Figure: share of the stage's chunks "
    "against rank, log-log, for the model's chunks (solid), for a chunker with the model's chunk lengths but random "
    "cut points (dashed: the exact k-mer distribution over all positions) and for the same sequence cut with each "
    "pass's chunk lengths shuffled (dotted: same number of chunks, so its entropy has the same small-sample bias as "
    "the model's). Consistency of a string: of its occurrences in the analysed sequence (same reading direction), "
    "the share the model cut as exactly one chunk. Computed by interpret.vocabulary.chunk_vocabulary.")
LOGOS_CAPTION = (
    "Sequence around chunk starts, ±10 nt, read in each pass's direction (position 0 = the first base of the "
    "chunk; dotted line: the boundary); one row per stage, one column per group of sites (all boundaries, or by "
    "the class of the chunk's first base on its pass's strand). Stack height: relative entropy of the bases at "
    "that position against the base composition of the analysed sequence (bits; 2 bits = one base only, on a "
    "uniform background); letters share it by their frequency. n = sites in each logo; sites near non-ACGT runs "
    "and windows past the end of a linear record are left out. Computed by interpret.logos.boundary_logos.")
LOGO_TABLE_CAPTION = (
    "Per logo: the sites, and the position with the most information (bits) with its most frequent base. The CSV "
    "holds every logo in full: counts, probability and bits of each base at each position, and the background.")
TOP_SHOWN = 15  # frequent strings per stage shown on the front page (the CSV has the whole list)


def learned_vocabulary(trace, sequences: dict, annotations: dict | None, problems: list[str], progress=None):
    """(Vocabulary, boundary logos) of the trace: interpret.vocabulary and interpret.logos on the record sequences;
    (None, None) with the reason in `problems` when they cannot be computed. progress(fraction, message)."""
    from interpret import logos as L
    from interpret.vocabulary import chunk_vocabulary

    tell = progress or (lambda f, m: None)
    try:
        vocab = chunk_vocabulary(trace, sequences, annotations or None,
                                 progress=lambda f, m: tell(0.8 * f, f"learned vocabulary: {m}"))
    except ValueError as e:
        problems.append(f"learned vocabulary skipped: {e}")
        return None, None
    problems += [f"vocabulary: {p}" for p in vocab.problems if f"vocabulary: {p}" not in problems]
    tell(0.8, "boundary logos: counting bases around chunk starts")
    notes: list[str] = []
    try:
        logo_list = L.boundary_logos(trace, sequences, annotations or None, problems=notes)
    except ValueError as e:
        notes.append(f"skipped: {e}")
        logo_list = None
    problems += [f"boundary logos: {p}" for p in dict.fromkeys(notes)]
    tell(1.0, "vocabulary and logos done")
    return vocab, logo_list


def _p_text(p) -> str:
    """An exact-test p or q as text: two significant digits, "< 1e-300" where it underflows, never "0"."""
    if p is None or not np.isfinite(p):
        return ""
    return "< 1e-300" if p <= 0 else f"{p:.2g}"


def vocabulary_tables(vocab) -> list[tuple[str, str, pd.DataFrame | None]]:
    """What the front page shows of the vocabulary: (CSV name, caption, rows shown)."""
    summary = vocab.summary.df
    cols = {"stage_label": "stage", "n_chunks": "chunks", "vocabulary_size": "distinct strings",
            "entropy_bits": "entropy (bits)", "kmer_vocabulary_size": "k-mer baseline: distinct strings",
            "kmer_entropy_bits": "k-mer baseline: entropy (bits)",
            "shuffled_vocabulary_size": "lengths shuffled: distinct strings",
            "shuffled_entropy_bits": "lengths shuffled: entropy (bits)", "mean_length": "mean length (nt)",
            "top_share": f"share of chunks in the top {vocab.settings.get('top')}", "zipf_slope": "Zipf slope",
            "kmer_zipf_slope": "k-mer baseline: Zipf slope"}
    shown_summary = summary[[c for c in cols if c in summary.columns]].rename(columns=cols)
    top = vocab.top.df
    top_cols = {"stage_label": "stage", "rank": "rank", "string": "string (as read)", "length": "length (nt)",
                "count": "chunks", "share": "share of the stage's chunks", "n_occurrences": "occurrences",
                "consistency": "consistency", "start_classes": "starts in: class share (× fold)"}
    shown_top = (top[top["rank"] <= TOP_SHOWN][[c for c in top_cols if c in top.columns]].rename(columns=top_cols)
                 if len(top) else None)
    classes = vocab.top_classes.df
    shown_classes = None
    if len(classes):
        sig = classes[classes["q_bh"] < 0.05].sort_values(["stage", "q_bh", "rank"]).head(30)
        shown_classes = pd.DataFrame({
            "stage": sig["stage_label"], "string": sig["string"], "class": sig["class_label"],
            "chunks of the string": sig["n_string"], "of them starting in the class": sig["n_in_class"],
            "share": sig["share_in_class"], "share of all the stage's chunks": sig["stage_share_in_class"],
            "fold": sig["fold"], "p (Fisher exact)": sig["p_fisher"].map(_p_text),
            "q (BH)": sig["q_bh"].map(_p_text)}) if len(sig) else None
    return [
        ("vocabulary_summary", "Per stage: entropy and size of the chunk vocabulary beside the two baselines with "
         "the model's chunk lengths (k-mers at random cut points; the same sequence cut with the lengths "
         "shuffled).", shown_summary),
        ("vocabulary_top", f"The {TOP_SHOWN} most frequent strings per stage (the CSV lists "
         f"{vocab.settings.get('top')}): chunks, share of the stage's chunks, occurrences in the sequence, "
         "consistency (share of the occurrences cut as exactly one chunk) and the classes their chunks start in "
         "(share of the string's chunks, fold against all chunks of the stage; classes holding at least 20%).",
         shown_top),
        ("vocabulary_classes", "Where the frequent strings' chunks start, class by class, with Fisher's exact test "
         "against the stage's other chunks and BH q across the table: rows with q < 0.05 (at most 30; the CSV has "
         "every row)." if shown_classes is not None else "Where the frequent strings' chunks start, class by "
         "class (Fisher exact test, BH q): no row with q < 0.05 here; the CSV has every row.", shown_classes),
    ]


def logo_summary(logos: list) -> pd.DataFrame:
    """One row per logo: stage, sites, and the most informative position (bits) with its most frequent base."""
    from interpret.logos import LOGO_GROUPS

    rows = []
    for lg in logos:
        bits = lg.bits.sum(axis=1, min_count=1)  # NaN at positions with no base (a logo without sites)
        top = bits.idxmax() if bits.notna().any() else None
        prob = lg.probability.loc[top] if top is not None else None
        rows.append({"stage": stage_label(lg.stage) if lg.stage is not None else "",
                     "sites": dict(LOGO_GROUPS).get(lg.group, lg.title),
                     "n": lg.n_sites, "most informative position": top,
                     "bits there": float(bits.loc[top]) if top is not None else np.nan,
                     "most frequent base there": prob.idxmax() if prob is not None else "",
                     "its frequency": float(prob.max()) if prob is not None else np.nan})
    return pd.DataFrame(rows)


def build_figures(trace, annotations, report, sequences: dict | None = None, record_id: str | None = None,
                  embedding: str = "pca", max_points: int = 10_000, problems: list[str] | None = None,
                  vocabulary=None, logos: list | None = None, progress=None) -> list[dict]:
    """Every report figure: dicts of name, title, caption and fig (plotly) or mfig (matplotlib: feature map,
    boundary logos), and optionally `tables` [(name, caption, DataFrame shown or None)] whose CSV is
    tables/<name>.csv, shown under the figure. vocabulary / logos: `learned_vocabulary`'s results (their sections
    are left out when None). progress(message) before each figure is drawn. A figure that cannot be drawn is skipped
    and said in `problems`."""
    from interpret import figures as F

    problems = problems if problems is not None else []
    tell = progress or (lambda message: None)
    annotations = _as_dict(annotations, trace)
    sequences = sequences or {}
    record_id = record_id or max(trace.passes, key=lambda p: p.length).record_id
    ann = annotations.get(record_id)
    seq = sequences.get(record_id)
    sp = trace.passes[[p.record_id for p in trace.passes].index(record_id)]
    out: list[dict] = []

    def add(name, title, caption, make, kind="fig", tables=None):
        tell(f"drawing {title}")
        try:
            out.append({"name": name, "title": title, "caption": caption, kind: make(),
                        **({"tables": tables} if tables else {})})
        except Exception as e:  # noqa: BLE001 - one bad figure must not cost the whole report
            problems.append(f"figure '{title}' skipped: {e}")

    add("tracks_overview", "Genome tracks: the whole analysed region",
        "Features (+ strand above, − below), boundary rate per stage and strand pass, p and surprisal (binned means), "
        "GC in a sliding window.", lambda: F.genome_tracks(trace, record_id, annotation=ann, sequence=seq))
    views = _pick_views(ann, sp)
    lo, hi = sp.region or (0, sp.length)
    map_region = next((r for n, r, _ in views if n == "tracks_genes"), (lo, hi) if hi - lo <= 12_000 else None)
    for name, region, caption in views:
        if name == "tracks_bases" and ann is not None and map_region is not None:
            from interpret.featuremap import feature_map

            add("featuremap", f"Feature map {map_region[0] + 1:,}–{map_region[1]:,}", "Publication-style map of "
                "the features (dna_features_viewer) with each stage's chunk edges below.",
                lambda: feature_map(ann, map_region, trace, record_id), kind="mfig")
        add(name, f"Genome tracks: {region[0] + 1:,}–{region[1]:,}", caption,
            lambda region=region: F.genome_tracks(trace, record_id, annotation=ann, sequence=seq, region=region))
    if report is not None:
        add("enrichment_fold", "Fold enrichment per class", report.enrichment.description,
            lambda: F.enrichment_bars(report.enrichment.df, "fold"))
        add("enrichment_rate", "Boundary rate per class", "Share of positions of each class that start a chunk "
            "(Wilson 95%); dotted: the stage's overall rate.", lambda: F.enrichment_bars(report.enrichment.df, "rate"))
        if len(report.baselines.df):
            add("baselines", "Model against baseline chunkers", report.baselines.description,
                lambda: F.baseline_bars(report.baselines.df))
        add("codon_positions", "Codon positions", report.codon_profile.description + " Diamonds: the paper's "
            "Stage 1 (6.5 / 42.6 / 58.4 %).", lambda: F.codon_position_bars(report.codon_profile.df,
                                                                            report.codon_tests.df))
        if len(report.metagene.df):
            add("metagene", "Metagene profiles", report.metagene.description,
                lambda: F.metagene_profiles(report.metagene.df))
        if len(report.periodicity_spectrum.df):
            add("periodicity", "Periodicity spectrum", report.periodicity_spectrum.description + " "
                + report.periodicity.description, lambda: F.periodicity_spectrum(report.periodicity_spectrum.df,
                                                                                 report.periodicity.df))
        add("chunk_lengths", "Chunk lengths", report.chunk_lengths.description,
            lambda: F.chunk_length_hist(report.chunk_lengths.df, classes=("all", "cds_pos3", "start_codon",
                                                                           "intergenic")))
        if len(report.nesting_counts.df):
            add("nesting", "Nesting of stages", report.nesting_counts.description,
                lambda: F.nesting_counts_bars(report.nesting_counts.df))
        if trace.n_stages > 1:
            add("levels", "Levels compared", "Stage 1 and Stage 2 side by side: enrichment, lengths, the start-codon "
                "profile and nesting.", lambda: F.levels_comparison(report))
    if vocabulary is not None:
        from interpret.figures_vocabulary import vocabulary_rank_frequency

        add("vocabulary_rank_frequency", "Learned vocabulary", VOCABULARY_CAPTION,
            lambda: vocabulary_rank_frequency(vocabulary.rank_frequency.df), tables=vocabulary_tables(vocabulary))
    if logos:
        from interpret.figures_vocabulary import boundary_logo_grid

        add("boundary_logos", "Boundary logos", LOGOS_CAPTION, lambda: boundary_logo_grid(logos), kind="mfig",
            tables=[("boundary_logos", LOGO_TABLE_CAPTION, logo_summary(logos))])
    if sequences:
        from interpret.latents import chunk_tables, embed

        for s in range(trace.n_stages):
            def make(s=s, color_by="class"):
                table, vecs = chunk_tables(trace, annotations, s, sequences)
                if len(table) == 0:
                    raise ValueError("the trace kept no latents")
                if len(table) > max_points:
                    keep = np.sort(np.random.default_rng(0).choice(len(table), max_points, replace=False))
                    table, vecs = table.iloc[keep].reset_index(drop=True), vecs[keep]
                xy = embed(vecs, embedding, cache_dir=False)
                return F.latent_scatter(table, xy, color_by, method=embedding.upper())
            add(f"latents_stage{s + 1}", f"Latent space, {stage_label(s)}",
                f"{embedding.upper()} of {stage_label(s)} chunk latents (what the next stage reads), coloured by the "
                "class of the chunk's first nucleotide; hover for coordinates and sequence.", make)
    return out


def _svg_page(svg: bytes) -> bytes:
    """An SVG as a small HTML page (what `render.figure_to_bytes(mfig, "html")` writes), without rendering again."""
    text = svg.decode()
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + text[text.find("<svg"):]
            + "</body></html>").encode()


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


@dataclass(frozen=True)
class TrackFile:
    """One track file of an analysis: its file name (the report's tracks/ folder and the app's downloads use the
    same), what a person reads for it, and `kind`, the key `track_file_bytes` builds it from."""

    name: str  # "stage1.p.plus.bw"
    label: str  # "Stage 1 p, + pass (bigWig)"
    kind: str  # "bed:<stage>", "<bw|bedgraph>:<p|surprisal>:<stage>:<strand>", "bw:gc", "gff3:<stage>", "gff3"


def track_catalogue(n_stages: int, strands) -> list[TrackFile]:
    """Every track file of an analysis of `n_stages` stages over the passes in `strands`, in the order the app
    offers them: BED of the chunks per stage; bigWig, then bedGraph, of p per stage and pass and of surprisal per
    pass; bigWig of GC; GFF3 of the chunks per stage, and of all stages nested. The report writes the BED, bigWig
    and per-stage GFF3 files of this list (`track_files`); bedGraph and the nested GFF3 are the app's downloads."""
    word = {"+": "plus", "-": "minus"}
    out = [TrackFile(f"stage{s + 1}.chunks.bed", f"{stage_label(s)} boundaries (BED)", f"bed:{s}")
           for s in range(n_stages)]
    for fmt, ext in (("bigWig", "bw"), ("bedGraph", "bedgraph")):
        for s in range(n_stages):
            for d in strands:
                out.append(TrackFile(f"stage{s + 1}.p.{word[d]}.{ext}", f"{stage_label(s)} p, {d} pass ({fmt})",
                                     f"{ext}:p:{s}:{d}"))
        for d in strands:
            out.append(TrackFile(f"surprisal.{word[d]}.{ext}", f"Surprisal, {d} pass ({fmt})",
                                 f"{ext}:surprisal:0:{d}"))
    out.append(TrackFile("gc.bw", f"GC, {exports.GC_WINDOW} nt window (bigWig)", "bw:gc"))
    for s in range(n_stages):  # one file per stage: a browser shows each as its own track
        out.append(TrackFile(f"stage{s + 1}.chunks.gff3", f"{stage_label(s)} chunks (GFF3)", f"gff3:{s}"))
    out.append(TrackFile("chunks.gff3", "Chunks, all stages nested (GFF3)", "gff3"))
    return out


def track_file_bytes(trace, kind: str, records=None, sequences: dict | None = None) -> bytes:
    """One track file (a `TrackFile.kind`) as plain bytes: BED, bedGraph or GFF3 text, or bigWig (GC needs the
    record `sequences`)."""
    what, *args = kind.split(":")
    if what == "bw":
        if args[0] == "gc":
            return exports.bigwig(trace, "gc", records=records, sequences=sequences)
        return exports.bigwig(trace, args[0], strand=args[2], stage=int(args[1]), records=records)
    if what == "bedgraph":
        what, *args = args
    if what == "bed":
        return exports.boundaries_bed(trace, int(args[0]), records=records, as_bytes=True)
    if what in ("p", "surprisal"):
        return exports.bedgraph(trace, what, strand=args[1], stage=int(args[0]), records=records, as_bytes=True)
    if what == "gff3":  # gff3 (all stages, Stage 1 nested in Stage 2 via Parent) or gff3:<stage>
        return exports.chunks_gff3(trace, [int(args[0])] if args else None, records=records, as_bytes=True)
    raise ValueError(f"unknown track kind {kind!r}")


def track_files(trace, records=None, gz: bool | None = None, sequences: dict | None = None,
                annotations: dict | None = None) -> dict[str, bytes]:
    """The report's tracks (`track_catalogue` less bedGraph and the nested GFF3): BED and GFF3 of the chunks per
    stage (one file per stage, so a browser shows each stage as its own track), bigWig of p per stage and strand,
    of surprisal per strand and of GC (with sequences), BED of the genome's features (with annotations), and the
    IGV page.

    Per-base values go to bigWig, not bedGraph: a browser reads the zoom level it shows, and the files are a
    fraction of a bedGraph's size (the app still offers bedGraph of a region). BED/GFF3 of long analyses (`gz`,
    by default above GZIP_ABOVE_NT) are BGZF-compressed with a tabix index beside (X.gz + X.gz.tbi, no track
    line): a browser fetches the region it shows. Short ones stay plain text, quick to open and to download;
    bigWig is compressed inside."""
    if gz is None:
        gz = sum((sp.region[1] - sp.region[0]) if sp.region else sp.length for sp in trace.passes) > GZIP_ABOVE_NT

    def put(name, data: bytes, fmt: str):
        if not gz:
            out[f"tracks/{name}"] = data
            return
        for suffix, blob in exports.tabix_track(data, fmt).items():  # .gz and .gz.tbi (or .gz.csi)
            out[f"tracks/{name}{suffix}"] = blob

    out: dict[str, bytes] = {}
    strands = list(dict.fromkeys(sp.strand for sp in trace.passes))
    for t in track_catalogue(trace.n_stages, strands):
        if t.kind.startswith("bedgraph") or t.kind == "gff3" or (t.kind == "bw:gc" and not sequences):
            continue
        data = track_file_bytes(trace, t.kind, records, sequences)
        if t.name.endswith(".bw"):
            out[f"tracks/{t.name}"] = data
        else:
            put(t.name, data, t.name.rsplit(".", 1)[1])
    if annotations:
        put("annotation.bed", exports.features_bed(annotations), "bed")
    out.update(igv_files(trace, out, sequences))
    return out


IGV_EMBED_MAX_BYTES = 24_000_000  # tracks + genome up to this size go inside igv.html (opens from disk)
IGV_CHUNKS_WINDOW = 100_000  # widest view (nt) in which the IGV page draws chunks (Stage 1: ~60,000 features)


def igv_files(trace, tracks: dict[str, bytes], sequences: dict | None) -> dict[str, bytes]:
    """igv.html (+ igv/igv.min.js, + igv/genome.fa and its .fai when too large to embed): IGV on the genome
    sequence, its annotation, the chunks of each stage (the per-stage GFF3s) and the p / surprisal / GC bigWigs.

    Small analyses embed every file as a data: URI, so the page opens from disk with a double click; larger ones
    point at the files beside the page (relative paths; with their tabix / faidx index where there is one, so
    igv.js reads only the region shown), which browsers only read from a served folder (`python -m
    interpret.serve REPORT_DIR`, which answers range requests, then localhost:8000/igv.html): a file:// page may
    not read other files. Nothing comes from the network either way. No page without igv.js (`make igv`) or
    sequences."""
    js = exports.igv_js()
    if js is None or not sequences:
        return {}
    names = dict(exports.chrom_sizes(trace))
    fasta = exports.fasta_bytes({r: s for r, s in sequences.items() if r in set(trace.record_ids)})
    plus_first = {"key": lambda p: p.replace(".plus.", ".0.")}
    data = [p for p in tracks if not p.endswith((".tbi", ".csi"))]  # the track files, not their indexes
    order = ([p for p in data if "annotation.bed" in p] + sorted(p for p in data if ".chunks.gff3" in p)
             + sorted((p for p in data if ".p." in p and p.endswith(".bw")), **plus_first)
             + sorted((p for p in data if "surprisal" in p and p.endswith(".bw")), **plus_first)
             + [p for p in data if "gc.bw" in p])
    embed = len(fasta) // 3 + sum(len(tracks[p]) for p in order) <= IGV_EMBED_MAX_BYTES

    def source(path: str) -> dict:  # url (+ indexURL) of a track file
        if embed:  # BGZF (many gzip members) becomes one gzip member: igv.js inflates data: URIs in one go
            blob = tracks[path]
            return {"url": exports.data_uri(exports.gzip_bytes(gzip.decompress(blob)) if path.endswith(".gz")
                                            else blob)}
        index = next((path + s for s in (".tbi", ".csi") if path + s in tracks), None)
        return {"url": path, **({"indexURL": index} if index else {} if path.endswith(".bw") else {"indexed": False})}

    configs = []
    for p in order:
        base = p.split("/")[-1].removesuffix(".gz")
        if p.endswith(".bw"):
            words = base.removesuffix(".bw").replace("stage", "Stage ").replace("gc", "GC").split(".")
            label = " ".join(w for w in words if w not in ("plus", "minus")) + (
                " (+ pass)" if "plus" in words else " (− pass)" if "minus" in words else "")
            fraction = ".p." in p or "gc.bw" in p  # p and GC on a fixed 0..1 axis, surprisal scaled to the view
            configs.append({"name": label, **source(p), "format": "bigwig", "type": "wig", "height": 50,
                            "autoscale": not fraction, **({"min": 0, "max": 1} if fraction else {})})
        elif "annotation" in p:
            configs.append({"name": "annotation", **source(p), "format": "bed", "type": "annotation",
                            "displayMode": "EXPANDED", "description": "the genome's annotated features"})
        else:  # one track per stage: each keeps its own rows and height (the display settings of a track line)
            stage = base.removesuffix(".chunks.gff3").replace("stage", "Stage ")
            configs.append({"name": f"{stage} chunks", **source(p), "format": "gff3", "type": "annotation",
                            "displayMode": "SQUISHED", "visibilityWindow": IGV_CHUNKS_WINDOW,
                            "description": f"dnaHNet {stage} chunks, one feature per chunk and strand pass; score: "
                                           "router probability at the chunk's boundary"})
    files = {"igv/igv.min.js": js}
    if embed:
        reference = {"fastaURL": exports.data_uri(exports.gzip_bytes(fasta), gzipped=True), "indexed": False}
        note = "Everything is inside this page: it opens from disk, offline."
    else:
        files["igv/genome.fa"] = fasta
        files["igv/genome.fa.fai"] = exports.fasta_index(fasta)
        reference = {"fastaURL": "igv/genome.fa", "indexURL": "igv/genome.fa.fai"}
        note = ("The tracks lie beside this page, with indexes: IGV reads only the region shown. Browsers do not "
                "let a file:// page read them: serve the report folder (python -m interpret.serve REPORT_FOLDER) "
                "and open localhost:8000/igv.html; nothing is fetched from the network.")
    first, length = next(iter(names.items()))
    lo, hi = trace.passes[0].region or (0, length)  # open on the analysed region (its first 20 kb)
    label = ", ".join(list(names)[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    reference = {"id": first, "name": label, **reference}
    files["igv.html"] = exports.igv_page(reference, configs, locus=f"{first}:{lo + 1}-{min(hi, lo + 20_000)}",
                                         note=note).encode()
    return files


def build_report_files(trace, annotations=None, report=None, sequences: dict | None = None, record=None, *,
                       formats=("html", "png", "svg"), embedding: str = "pca", title: str | None = None,
                       timer: Timer | None = None, progress=None, problems: list[str] | None = None,
                       include_trace: bool = True, trace_bytes: bytes | None = None,
                       n_null: int = 1000) -> dict[str, bytes]:
    """Every report file as {relative path: bytes}: tables, figures, tracks, trace and index.html. With sequences,
    the learned vocabulary and the boundary logos too (`learned_vocabulary`; progress 0.5-0.55, then their figures).

    annotations: {record_id: RecordAnnotation} or one RecordAnnotation; report: a BoundaryReport (computed here
    when None and annotations are given); sequences {record_id: str} or record(s) give GC, letters and latents.
    trace_bytes: the trace's .npz file when already on disk (saves re-compressing it).
    """
    timer = timer or Timer()
    problems = list(problems or [])
    report_progress = progress or (lambda f, m: None)
    annotations = _as_dict(annotations, trace)
    sequences = _sequences(record, sequences)
    if report is None and annotations:
        from interpret.analysis import analyze_boundaries

        with timer.step("boundary statistics"):
            report = analyze_boundaries(trace, annotations, n_null=n_null,
                                        progress=lambda f, m: report_progress(0.1 + 0.4 * f, m))
    files: dict[str, bytes] = {}
    tables: list[tuple[str, str, pd.DataFrame]] = []
    with timer.step("tables (CSV)"):
        if report is not None:
            for t in report.tables():
                files[f"tables/{t.name}.csv"] = exports.table_to_csv(t.df)
                tables.append((t.name, t.description, t.df))
            problems += [p for p in report.problems if p not in problems]
        passes = pd.DataFrame(trace.summary())
        files["tables/passes.csv"] = exports.table_to_csv(passes)
        tables.insert(0, ("passes", "One row per record and strand pass: nt analysed, chunks and compression per "
                          "stage, bits per nucleotide, inference time.", passes))
        for rid, ann in annotations.items():
            for p in ann.problems:
                problems.append(f"{rid}: {p}")
    vocab, logo_list = None, None
    if sequences:
        report_progress(0.5, "learned vocabulary")
        with timer.step("learned vocabulary and boundary logos (counts)"):
            vocab, logo_list = learned_vocabulary(trace, sequences, annotations, problems,
                                                  progress=lambda f, m: report_progress(0.5 + 0.05 * f, m))
        with timer.step("tables (CSV): vocabulary and logos"):
            for t in vocab.tables() if vocab is not None else []:
                files[f"tables/{t.name}.csv"] = exports.table_to_csv(t.df)
                tables.append((t.name, t.description, t.df))
            if logo_list:
                from interpret.logos import logo_table

                logo_df = logo_table(logo_list)
                files["tables/boundary_logos.csv"] = exports.table_to_csv(logo_df)
                tables.append(("boundary_logos", "Boundary logos in full: per stage and group of sites, the count, "
                               "probability and bits (relative entropy share) of each base at each position "
                               "(−10..+10, 0 = the first base of the chunk) and the background composition.",
                               logo_df))
    report_progress(0.55, "figures")
    with timer.step("figures (build)"):
        n_made = [0]

        def figure_progress(message: str) -> None:  # the logo grid is the slow one (logomaker: ~1 s per panel)
            n_made[0] += 1
            report_progress(0.55 + 0.05 * min(n_made[0] / 16, 1.0), message)

        figs = build_figures(trace, annotations, report, sequences, embedding=embedding, problems=problems,
                             vocabulary=vocab, logos=logo_list, progress=figure_progress)
    # Track files (numpy + zlib, in this process) are written while Chromium renders the figures (another
    # process): on two cores the two overlap instead of queueing.
    with ThreadPoolExecutor(max_workers=1) as pool:
        tracks = pool.submit(_timed, track_files, trace, None, None, sequences, annotations)
        with timer.step("figures (export; tracks written alongside)"):
            for i, f in enumerate(figs):
                report_progress(0.6 + 0.3 * i / max(len(figs), 1), f"exporting {f['title']}")
                obj = f.get("fig", f.get("mfig"))
                for fmt in formats:
                    if fmt == "html" and "fig" in f:
                        files[f"figures/{f['name']}.html"] = f["fig"].to_html(
                            include_plotlyjs="plotly.min.js", full_html=True,
                            config={"displaylogo": False, "responsive": True}).encode()
                    elif "mfig" in f and fmt in ("html", "svg"):  # one SVG rendering serves both and index.html
                        if "svg" not in f:
                            f["svg"] = figure_to_bytes(obj, "svg")
                        files[f"figures/{f['name']}.{fmt}"] = f["svg"] if fmt == "svg" else _svg_page(f["svg"])
                    else:
                        files[f"figures/{f['name']}.{fmt}"] = figure_to_bytes(obj, fmt)
            if "html" in formats:
                from plotly.offline import get_plotlyjs

                files["figures/plotly.min.js"] = get_plotlyjs().encode()
        report_progress(0.9, "tracks")
        with timer.step("tracks (BED, bigWig, GFF3, IGV page): wait for the rest"):
            track_data, seconds = tracks.result()
        timer.steps.append(("tracks (BED, bigWig, GFF3, IGV page): time taken, overlapped", seconds, float("nan")))
        files.update(track_data)
        if sequences and "igv.html" not in files:
            problems.append("no IGV page: igv.js is not installed (run `make igv`, which takes it from the npm "
                            "package igv)")
    if include_trace:
        with timer.step("trace (.npz)"):
            files["trace.npz"] = trace_bytes if trace_bytes is not None else trace.to_bytes()
    files["index.html"] = index_html(trace, figs, tables, files, problems, timer, title).encode()
    report_progress(1.0, "report ready")
    return files


# ---------------------------------------------------------------------------------------------- CLI


def _trace_file_bytes(trace, given: str | None, filtered: bool) -> bytes | None:
    """The trace's .npz as already written (the --trace file, or dnahnet's cache entry), else None."""
    if filtered:
        return None
    if given:
        return Path(given).read_bytes()
    key = (trace.meta.get("cache") or {}).get("key")
    if key:
        from dnahnet import cache

        path = cache.cache_dir() / f"{key}{cache.SUFFIX}"
        if path.is_file():
            return path.read_bytes()
    return None


def _tqdm_progress(bar):
    def cb(fraction: float, message: str):
        bar.n = int(round(1000 * min(max(fraction, 0.0), 1.0)))
        bar.set_postfix_str(message[:70], refresh=False)
        bar.refresh()
    return cb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interpret.report",
                                 description="Run dnaHNet over a genome and write every table, figure and track, "
                                             "with an offline index.html.")
    add_genome_arguments(ap)
    ap.add_argument("--companion", default=None, help="promoter/TSS table (RegulonDB CSV, CSV/TSV, BED, GFF3)")
    ap.add_argument("--n-null", type=int, default=1000, help="null draws per stage (circular shifts, permutations)")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws (fold intervals, metagene bands)")
    ap.add_argument("--embedding", default="pca", choices=["pca", "umap"], help="latent map (umap: ~1 min more)")
    ap.add_argument("--formats", default="html,png,svg", help="figure formats, comma-separated")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: dnahnet.threads decides)")
    ap.add_argument("--no-cache", action="store_true", help="neither read nor write the inference cache")
    args = ap.parse_args(argv)

    from tqdm import tqdm


    timer = Timer()
    path = Path(args.genome)
    with timer.step("read genome"):
        opened = open_genome(path, args.record, gff=args.gff)
    if opened is None:
        return 2
    genome, records = opened
    problems = [f"genome: {p}" for p in genome.problems]
    from dnahnet.infer import parse_region  # one parser for every CLI that takes --region

    region = parse_region(args.region) if args.region else None

    if args.trace:
        from dnahnet.trace import Trace

        with timer.step("load trace"):
            trace = Trace.load(args.trace)
        keep = {r.id for r in records}
        n_passes_read = len(trace.passes)
        trace.passes = [sp for sp in trace.passes if sp.record_id in keep]
        if not trace.passes:
            print(f"error: the trace has no pass for {', '.join(sorted(keep))}", file=sys.stderr)
            return 2
    else:
        from dnahnet.checkpoint import load
        from dnahnet.infer import analyze

        threads.configure_threads(args.threads)  # default: the available cores, less those other processes keep busy
        with timer.step("load model"):
            try:
                model = load(args.checkpoint)
            except (FileNotFoundError, ValueError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        passes = 2 if args.strands == "both" else 1
        total = sum((region[1] - region[0]) if region else len(r) for r in records) * passes
        with timer.step(f"inference ({total:,} nt)"), tqdm(total=1000, desc="inference", unit="‰",
                                                             file=sys.stderr) as bar:
            try:
                trace = analyze(records, model, strands=args.strands, region=region,
                                progress=threads.governed(_tqdm_progress(bar)), cache=not args.no_cache)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        n_passes_read = len(trace.passes)
    problems += [f"inference: {p}" for p in trace.meta.get("problems", [])]

    from interpret.analysis import analyze_boundaries
    from interpret.annotations import annotate_all

    companion = None
    if args.companion:
        from interpret.companion import read_companion

        with timer.step("read companion"):
            companion = read_companion(args.companion)
    with timer.step("annotate"):
        annotations = annotate_all(records, companion, problems=problems)
    with timer.step("boundary statistics"), tqdm(total=1000, desc="statistics", unit="‰", file=sys.stderr) as bar:
        report = analyze_boundaries(trace, annotations, n_null=args.n_null, n_boot=args.n_boot,
                                    n_null_baselines=min(200, args.n_null), progress=_tqdm_progress(bar))
    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    trace_bytes = _trace_file_bytes(trace, args.trace, filtered=len(trace.passes) != n_passes_read)
    with tqdm(total=1000, desc="report", unit="‰", file=sys.stderr) as bar:
        files = build_report_files(trace, annotations, report, {r.id: str(r.seq) for r in records},
                                   formats=formats, embedding=args.embedding, timer=timer, problems=problems,
                                   progress=_tqdm_progress(bar), title=f"dnaHNet report: {path.name}",
                                   trace_bytes=trace_bytes)
    out = Path(args.out)
    with timer.step("write files"):
        for rel, data in files.items():
            p = out / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    n_fig = sum(1 for p in files if p.startswith("figures/") and not p.endswith(".js"))
    n_tab = sum(1 for p in files if p.startswith("tables/"))
    n_trk = sum(1 for p in files if p.startswith("tracks/"))
    size = sum(len(v) for v in files.values()) / 1e6
    print(f"\nwrote {len(files)} files ({size:.1f} MB) to {out.resolve()}:\n"
          f"  index.html            open it in a browser (works offline)\n"
          f"  tables/   {n_tab:3d} CSV\n  figures/  {n_fig:3d} figure files ({', '.join(formats)})\n"
          f"  tracks/   {n_trk:3d} BED / bigWig / GFF3\n"
          + ("  igv.html              IGV on the genome and the tracks (offline)\n" if "igv.html" in files else "")
          + "  trace.npz             the raw trace\n"
          f"static images: {static_backend()}")
    if problems:
        print(f"{len(problems)} note(s) (also in index.html):", *[f"  - {p}" for p in problems[:20]], sep="\n")
    print("timings (seconds):\n" + timer.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
