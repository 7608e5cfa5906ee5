"""Variant scoring and saturation runs for the Mutagenesis page, cached: each is computed once per checkpoint +
sequence + input + options per server (`state.derived`), with a progress bar the first time; the work itself is
`dnahnet.score_variants` / `dnahnet.saturate`.

The page asks `has_*` before drawing a result, so a rerun (another widget, another page and back) shows what was
scored without scoring it again, and a click on an input already scored costs nothing.
"""
from __future__ import annotations

import hashlib

import streamlit as st

from app import state
from app.components import plain

MAX_REGION_NT = 3_000  # a region saturation is at most this long (x 3 changes x 2 strands windows)
MAX_CDS_CODONS = 400  # a gene saturation at most this many codons (x 21 cells)


def genome(a: state.Analysis):
    """The analysis's record prepared for variants (encoded, CDS lookup, codon usage), once per analysis."""
    return _genome(a.key, a.record)


@st.cache_resource(max_entries=4, show_spinner=False)
def _genome(key: str, _record):
    from dnahnet.variants import Genome

    return Genome([_record])


def run_key(a: state.Analysis, kind: str, what, options: dict) -> str:
    """Checkpoint + sequence + record + what is scored + options: the identity of one run."""
    from dnahnet.genome_io import sequence_hash

    blob = (f"{kind}|{state.checkpoint_setting()}|{sequence_hash(a.record)}|{a.record_id}|{what!r}|"
            f"{sorted(options.items())}")
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def parse_input(typed: str, upload_name: str | None = None, upload_bytes: bytes | None = None) -> list:
    """Typed variants (one per line or comma-separated) plus an uploaded VCF or list -> specs, unreadable ones kept
    as their `VariantError` (errors='report'). A VCF that cannot be read at all raises VariantError naming it."""
    from dnahnet.variants import read_variant_list, read_vcf

    specs = []
    if typed.strip():  # bytes, never the text itself: a typed server path must not be read as a file
        specs += read_variant_list(typed.encode(), "typed list", errors="report")
    if upload_bytes is not None:
        name = upload_name or "upload"
        if name.lower().endswith((".vcf", ".vcf.gz")) or upload_bytes.lstrip()[:16].startswith(b"##fileformat=VCF"):
            specs += read_vcf(upload_bytes, name)
        else:
            specs += read_variant_list(upload_bytes, name, errors="report")
    return specs


def spec_identity(specs) -> tuple:
    """What identifies a parsed input for the cache: each spec's text and source (errors by their message)."""
    return tuple((getattr(s, "text", ""), getattr(s, "source", ""), str(s) if isinstance(s, Exception) else "")
                 for s in specs)


def has(kind: str, key: str) -> bool:
    return state.has_derived(kind, key)


def scored(a: state.Analysis, specs, key: str, window: int, boundaries: bool):
    """score_variants over `specs` (bad ones reported as rows with a `problem`), once per key."""
    import dnahnet

    def compute(progress):
        return dnahnet.score_variants(genome(a), specs, state.model(), window=window, boundaries=boundaries,
                                      errors="report", progress=progress)

    return _with_progress("variants", key, compute, f"Scoring {len(specs):,} variant(s)…")


def saturation(a: state.Analysis, target, key: str, window: int, boundaries: bool, label: str):
    """dnahnet.saturate of a gene (locus tag / name) or a (start, end) region, once per key."""
    import dnahnet

    def compute(progress):
        return dnahnet.saturate(genome(a), target, state.model(), window=window, boundaries=boundaries,
                                progress=progress)

    return _with_progress("saturation", key, compute, f"Saturation mutagenesis of {plain(label)}…")


def _with_progress(kind: str, key: str, compute, label: str):
    if state.has_derived(kind, key):
        return state.derived(kind, key, compute)
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(fraction, message):
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=plain(message))

        out = state.derived(kind, key, compute, progress, entries=12)
        status.update(label=label.replace("…", ": done"), state="complete", expanded=False)
    return out
