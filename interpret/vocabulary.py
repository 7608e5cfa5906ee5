"""The model's learned chunk vocabulary: each stage's chunks read as tokens, how often each string occurs, which
annotation classes it starts in, and whether a string is cut the same way wherever it occurs (content) or not
(context), beside a k-mer baseline of the same lengths.

A chunk is the sequence from one boundary to the next, read in its pass's reading direction (the "-" pass reads
the reverse complement). The last chunk of each pass runs into the end of the analysed sequence, not to a
boundary, so it is left out, and so are occurrences of a string that reach that end. Chunks, occurrences and
k-mers that hold a masked position (`StrandPass.masked`: non-ACGT runs and their flanks) are left out too.
Passes and records are pooled per stage: every pass reads its strand 5'->3', so a string means the same on either.

Public API (pure functions of a `dnahnet.Trace`, the record sequences {record_id: str}, optional annotations):
- `chunk_vocabulary(trace, sequences, annotations=None, top=50, ...) -> Vocabulary` with these tables
  (`Vocabulary.tables()` gives `interpret.analysis.Table`s: name, caption, DataFrame; `.to_csv_dir(dir)`):
    top             one row per (stage, frequent string): count, share, length, the classes it starts in, and
                    `consistency` = of all occurrences of the string in the analysed sequence (same reading
                    direction), the share cut as exactly one chunk (1.0: content decides; low: context does)
    top_classes     (stage, string, class): chunks of the string that start in the class, fold against all chunks
                    of the stage, Fisher exact p (the string's chunks vs the stage's other chunks), BH q
    summary         per stage: chunks, vocabulary size, Shannon entropy (bits), Zipf slope, and the same for the
                    k-mer baseline and for the sequence cut with the chunk lengths shuffled (same sample size)
    rank_frequency  (stage, source "model" | "k-mer baseline" | "shuffled lengths", rank, share): Zipf data
    kmers           the most frequent k-mers, counted over all positions of all passes, for the lengths of the
                    frequent strings
    kmer_lengths    per k: positions, distinct k-mers, entropy (bits)
- `chunk_strings(sp, sequence, stage) -> (strings, starts)`: one pass's chunks as strings, with their record
  coordinates (reading order).
- `pass_sequence(sp, sequence)`: the analysed sequence as that pass reads it (token ids).
The k-mer baseline is what a chunker with the model's chunk lengths but random cut points would read: length k
with the model's share w_k, then a k-mer drawn from all positions; its entropy is H(w) + sum_k w_k H(k-mers), exact.
The plug-in entropy of a finite sample of chunks is lower than its distribution's, so the fair comparison is the
"shuffled lengths" baseline: each pass cut again with its own chunk lengths in random order (same count, same bias).
CLI: `python -m interpret.vocabulary GENOME [--checkpoint C] [--record ID] [--region A-B] [--top N] --out DIR`
writes the tables as CSV, the boundary logos (`interpret.logos`) and their figures, and prints a summary.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dnahnet import threads  # first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see dnahnet.threads)
import numpy as np
import pandas as pd

from dnahnet.cli import add_genome_arguments, open_genome
from dnahnet.tokenizer import decode, encode
from dnahnet.trace import StrandPass, Trace
from interpret.analysis import Table, write_tables
from interpret.exports import inert_table
from interpret.passes import STRANDS, analysed_region
from interpret.style import class_label, stage_label

MAX_K = 32  # longest k-mer counted exactly (base-4 codes in a uint64); longer chunk lengths use MAX_K's counts
NONE_CLASS = "none"  # a chunk start with no class on its pass's strand (e.g. inside a gene on the other strand)
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A<->T, C<->G, N<->N on token ids


# ------------------------------------------------------------------------------------------- one pass


def pass_sequence(sp: StrandPass, sequence: str) -> np.ndarray:
    """(n,) uint8 token ids of the analysed sequence in the pass's reading order ("-": reverse complement)."""
    if len(sequence) != sp.length:
        raise ValueError(f"record {sp.record_id}: sequence of {len(sequence):,} nt, but the trace has "
                         f"{sp.length:,} (another genome?)")
    lo, hi = analysed_region(sp)
    ids = encode(sequence[lo:hi])
    return _COMPLEMENT[ids[::-1]] if sp.strand == "-" else ids


def pass_index(sp: StrandPass, coords) -> np.ndarray:
    """Record coordinates -> indices into `pass_sequence` (reading order)."""
    lo, hi = analysed_region(sp)
    c = np.asarray(coords, dtype=np.int64)
    return c - lo if sp.strand == "+" else hi - 1 - c


def pass_masked(sp: StrandPass, sequence: str) -> np.ndarray:
    """(n,) bool in reading order: positions every statistic leaves out (`StrandPass.masked`: non-ACGT runs and
    their flanks), computed from the sequence when the trace does not record its runs."""
    from dnahnet.trace import mask_runs, non_acgt_runs

    masked = sp.masked() if sp.n_runs is not None else mask_runs(non_acgt_runs(encode(sequence)), sp.length,
                                                                   sp.circular)
    lo, hi = analysed_region(sp)
    return masked[lo:hi][::-1].copy() if sp.strand == "-" else masked[lo:hi]


def _chunk_starts(sp: StrandPass, stage: int) -> tuple[np.ndarray, np.ndarray]:
    """(pass indices ascending, record coordinates) of the stage's boundaries inside the analysed region."""
    lo, hi = analysed_region(sp)
    b = np.asarray(sp.stages[stage].boundaries, dtype=np.int64)
    b = b[(b >= lo) & (b < hi)]
    idx = pass_index(sp, b)
    order = np.argsort(idx, kind="stable")
    return idx[order], b[order]


def chunk_strings(sp: StrandPass, sequence: str, stage: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass's chunks of `stage` as strings read in the pass's direction, and their starts (record coordinates),
    both in reading order; the last chunk (cut by the end of the analysed sequence) is left out, masked ones
    are kept (the vocabulary leaves those out)."""
    text = decode(pass_sequence(sp, sequence))
    idx, coords = _chunk_starts(sp, stage)
    strings = np.array([text[a:b] for a, b in zip(idx[:-1].tolist(), idx[1:].tolist())], dtype=object)
    return strings, coords[:-1]


# ------------------------------------------------------------------------------------------ the tables


@dataclass
class Vocabulary:
    """Every vocabulary table of a trace (see the module docstring); `settings` says how they were made."""

    top: Table
    top_classes: Table
    summary: Table
    rank_frequency: Table
    kmers: Table
    kmer_lengths: Table
    settings: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def tables(self) -> list[Table]:
        return [v for v in self.__dict__.values() if isinstance(v, Table)]

    def to_csv_dir(self, directory) -> list[Path]:
        """Write every table as <name>.csv (cells through `inert_table`) and vocabulary_README.txt (captions,
        settings, problems); returns the paths."""
        paths, readme = write_tables(directory, self.tables(), self.settings, self.problems, "vocabulary_README.txt")
        return paths + [readme]

    def summary_text(self, n: int = 10) -> str:
        """A few lines per stage: size, entropy against the baseline, and the most frequent strings."""
        lines = []
        for _, r in self.summary.df.iterrows():
            lines.append(f"{r['stage_label']}: {int(r['n_chunks']):,} chunks, {int(r['vocabulary_size']):,} distinct "
                         f"strings, entropy {r['entropy_bits']:.2f} bits (k-mers of the same lengths: "
                         f"{r['kmer_entropy_bits']:.2f} bits; lengths shuffled: {r['shuffled_entropy_bits']:.2f} "
                         f"bits), Zipf slope {r['zipf_slope']:.2f} "
                         f"(k-mers: {r['kmer_zipf_slope']:.2f}), top {self.settings.get('top')} strings cover "
                         f"{100 * r['top_share']:.1f}% of chunks")
            t = self.top.df[self.top.df["stage"] == r["stage"]].head(n)
            for _, s in t.iterrows():
                cons = f", one chunk in {100 * s['consistency']:.0f}% of its occurrences" \
                    if np.isfinite(s["consistency"]) else ""
                where = f"; starts in {s['start_classes']}" if s.get("start_classes") else ""
                lines.append(f"  {int(s['rank']):>3}. {s['string'][:40]:<12} {int(s['count']):>9,} "
                             f"({100 * s['share']:.2f}%){cons}{where}")
        return "\n".join(lines)


TOP_COLUMNS = ["stage", "stage_label", "rank", "string", "length", "count", "share", "n_occurrences", "n_exact",
               "n_split", "consistency", "start_classes"]
CLASS_COLUMNS = ["stage", "stage_label", "rank", "string", "class", "class_label", "n_string", "n_in_class",
                 "share_in_class", "stage_share_in_class", "fold", "p_fisher", "q_bh"]


def chunk_vocabulary(trace: Trace, sequences: dict, annotations: dict | None = None, stages=None,
                     strands=STRANDS, top: int = 50, n_kmers: int = 10, max_k: int = MAX_K,
                     class_share_shown: float = 0.2, n_shuffles: int = 3, seed: int = 0,
                     progress=None) -> Vocabulary:
    """The vocabulary tables of `trace` (see the module docstring).

    sequences {record_id: str} (the records the trace was computed on); annotations {record_id: RecordAnnotation}
    for the class columns (None: no class tables); stages (0-based) default all; strands: the passes pooled;
    top: frequent strings listed per stage; n_kmers: k-mers listed per length; max_k: longest k counted exactly;
    n_shuffles: draws of the shuffled-lengths baseline (seeded by `seed`).
    """
    if top < 1:
        raise ValueError("top must be at least 1")
    if not 1 <= max_k <= 32:
        raise ValueError("max_k must be in 1..32 (k-mers are counted as base-4 codes in 64 bits)")
    report = progress or (lambda fraction, message: None)
    problems: list[str] = []
    stages = list(range(trace.n_stages)) if stages is None else [int(s) for s in stages]
    views = _pass_views(trace, sequences, annotations, stages, strands, problems)
    if not views:
        raise ValueError("no pass of the trace has a sequence to read: " + "; ".join(problems or ["empty trace"]))
    report(0.05, "chunk strings")
    per_stage = {s: _stage_chunks(views, s) for s in stages}
    top_rows, class_rows, tops = [], [], {}
    for s in stages:
        tops[s] = _top_strings(per_stage[s], top)
        class_rows += _class_rows(s, per_stage[s], tops[s])
    report(0.25, "occurrences and k-mers")
    kmer_state = _scan_kmers(views, stages, per_stage, tops, max_k, n_kmers, report)
    classes = pd.DataFrame(class_rows, columns=CLASS_COLUMNS)
    if len(classes):
        from interpret.nulls import bh_adjust

        classes["q_bh"] = bh_adjust(classes["p_fisher"].to_numpy())
    summary_rows, rank_rows = [], []
    rng = np.random.default_rng(seed)
    for s in stages:
        c = per_stage[s]
        occ = kmer_state["occurrences"][s]
        shown: dict[str, list] = {}  # string -> [(share, label, fold)] of its main classes
        for row in class_rows:
            row = dict(zip(CLASS_COLUMNS, row))
            if row["stage"] == s and row["share_in_class"] >= class_share_shown:
                shown.setdefault(row["string"], []).append((row["share_in_class"], row["class_label"], row["fold"]))
        for r, (string, count) in enumerate(tops[s], start=1):
            n_occ, n_exact, n_split = occ.get(string, (0, 0, 0))
            text = "; ".join(f"{label} {100 * share:.0f}% (×{fold:.2f})"
                             for share, label, fold in sorted(shown.get(string, []), key=lambda t: -t[0]))
            top_rows.append((s, stage_label(s), r, string, len(string), count, count / c.n_chunks, n_occ, n_exact,
                             n_split, n_exact / n_occ if n_occ else np.nan, text))
        model, baseline = _rank_frequency(c, kmer_state, max_k)
        shuffled = [_shuffled_counts(views, s, rng) for _ in range(n_shuffles)]
        curves = [("model", model), ("k-mer baseline", baseline)]
        if shuffled:
            counts = np.sort(shuffled[0])[::-1]
            ranks = _sample_ranks(counts.size)
            curves.append(("shuffled lengths", (ranks, counts[ranks - 1] / max(counts.sum(), 1))))
        for source, (ranks, shares) in curves:
            rank_rows += [(s, stage_label(s), source, int(k), float(v)) for k, v in zip(ranks, shares)]
        summary_rows.append(_summary_row(s, c, tops[s], kmer_state, max_k, shuffled))
    report(1.0, "vocabulary done")
    lengths = kmer_state["lengths_table"]
    cap = f"chunks longer than {max_k} nt take the {max_k}-mer counts, a lower bound on their entropy"
    return Vocabulary(
        top=Table("vocabulary_top", "The most frequent chunk strings per stage (read in each pass's direction, "
                  "passes pooled): count, share of the stage's chunks, the classes they start in (share, fold) and "
                  "consistency = share of the string's occurrences that are exactly one chunk.",
                  pd.DataFrame(top_rows, columns=TOP_COLUMNS)),
        top_classes=Table("vocabulary_classes", "Where each frequent string's chunks start: share in each class "
                          "against the share of all chunks of the stage (fold); Fisher exact test of the string's "
                          "chunks against the stage's other chunks (two-sided: twice the smaller tail), BH across "
                          "the table.", classes),
        summary=Table("vocabulary_summary", "Per stage: chunks, distinct strings, Shannon entropy of the chunk "
                      "strings (bits), Zipf slope (log-log, ranks 1-1000), beside a k-mer baseline with the "
                      f"model's chunk lengths (exact distribution over all positions; {cap}) and the same "
                      "sequence cut with each pass's chunk lengths shuffled (same number of chunks, so its "
                      "entropy has the same small-sample bias as the model's: the fair comparison).",
                      pd.DataFrame(summary_rows)),
        rank_frequency=Table("vocabulary_rank_frequency", "Rank-frequency (Zipf) data: share of chunks of the "
                             "string at each rank, model against the k-mer baseline of the same lengths "
                             "(every rank to 1,000, then log-spaced). The model's shares are observed (the rarest is "
                             "one chunk); the k-mer baseline's are its exact distribution, so its tail runs below "
                             "that; 'shuffled lengths' cuts the same sequence with the chunk lengths shuffled.",
                             pd.DataFrame(rank_rows, columns=["stage", "stage_label", "source", "rank", "share"])),
        kmers=Table("vocabulary_kmers", "The most frequent k-mers (all positions of all passes) for the lengths "
                    "of the frequent chunk strings.", kmer_state["kmers_table"]),
        kmer_lengths=Table("vocabulary_kmer_lengths", "k-mers per length over all positions: positions, distinct "
                           "k-mers and the entropy of their distribution (bits).", lengths),
        settings={"stages": stages, "strands": list(strands), "top": top, "n_kmers": n_kmers, "max_k": max_k},
        problems=problems,
    )


# ----------------------------------------------------------------------------------------------- pieces


@dataclass
class _PassView:
    """One pass ready to read: its sequence in reading order, and per stage its boundary indicator."""

    sp: StrandPass
    ids: np.ndarray  # (n,) uint8 token ids, reading order
    text: str  # the same as a string
    ok: np.ndarray  # (n,) bool, an ACGT base outside the mask (chunks, occurrences, k-mers hold only these)
    bits: np.ndarray | None  # (length,) uint16 class bits of the pass's strand, None without annotation
    is_boundary: dict  # stage -> (n + 1,) bool over pass indices (index n: the end, never a boundary)
    before: dict  # stage -> (n + 2,) int32, before[j] = boundaries at pass indices < j
    starts: dict  # stage -> (pass indices ascending, record coordinates)


def _pass_views(trace, sequences, annotations, stages, strands, problems) -> list[_PassView]:
    views = []
    for sp in trace.passes:
        if sp.strand not in strands:
            continue
        seq = sequences.get(sp.record_id)
        if seq is None:
            _note(problems, f"record {sp.record_id}: no sequence given, left out of the vocabulary")
            continue
        ids = pass_sequence(sp, str(seq))
        ann = (annotations or {}).get(sp.record_id)
        bits = None
        if annotations is not None:
            if ann is None:
                _note(problems, f"record {sp.record_id}: no annotation, its chunks have no class")
            elif ann.length != sp.length:
                _note(problems, f"record {sp.record_id}: annotation length {ann.length:,} ≠ trace length "
                                f"{sp.length:,}, its chunks have no class")
            else:
                bits = ann.bits[sp.strand]
        is_b, before, starts = {}, {}, {}
        for s in stages:
            if s >= len(sp.stages):
                raise ValueError(f"stage {s} (Stage {s + 1}) is not in the trace ({len(sp.stages)} stages)")
            idx, coords = _chunk_starts(sp, s)
            m = np.zeros(ids.size + 1, dtype=bool)
            m[idx] = True
            is_b[s], starts[s] = m, (idx, coords)
            before[s] = np.concatenate([[0], np.cumsum(m, dtype=np.int32)])
        ok = (ids < 4) & ~pass_masked(sp, str(seq))
        views.append(_PassView(sp, ids, decode(ids), ok, bits, is_b, before, starts))
    return views


@dataclass
class _StageChunks:
    """All chunks of one stage, passes pooled: string ids, class bits and lengths."""

    codes: np.ndarray  # (m,) int64 index into `strings`
    strings: np.ndarray  # (v,) object, distinct chunk strings
    counts: np.ndarray  # (v,) int64 chunks per string
    bits: np.ndarray  # (m,) uint16 class bits at each chunk's first base
    annotated: np.ndarray  # (m,) bool, the chunk's record has an annotation
    lengths: np.ndarray  # (m,) int64

    @property
    def n_chunks(self) -> int:
        return int(self.codes.size)


def _stage_chunks(views: list[_PassView], stage: int) -> _StageChunks:
    strings, bits, annotated, lengths = [], [], [], []
    for v in views:
        idx, coords = v.starts[stage]
        a, b = idx[:-1], idx[1:]
        bad = np.concatenate([[0], np.cumsum(~v.ok)])
        clear = bad[b] == bad[a]  # chunks holding a non-ACGT base or a masked flank measure the run, not the genome
        a, b, coords = a[clear], b[clear], coords[:-1][clear]
        strings.append(np.array([v.text[i:j] for i, j in zip(a.tolist(), b.tolist())], dtype=object))
        lengths.append(b - a)
        if v.bits is not None:
            bits.append(v.bits[coords])
            annotated.append(np.ones(a.size, bool))
        else:
            bits.append(np.zeros(a.size, np.uint16))
            annotated.append(np.zeros(a.size, bool))
    all_strings = np.concatenate(strings) if strings else np.zeros(0, object)
    codes, uniques = pd.factorize(all_strings)
    return _StageChunks(codes.astype(np.int64), np.asarray(uniques, dtype=object),
                        np.bincount(codes, minlength=len(uniques)).astype(np.int64),
                        np.concatenate(bits).astype(np.uint16), np.concatenate(annotated),
                        np.concatenate(lengths).astype(np.int64))


def _top_strings(c: _StageChunks, top: int) -> list[tuple[str, int]]:
    """The `top` most frequent strings, ties broken alphabetically: [(string, count)]."""
    if c.counts.size == 0:
        return []
    threshold = np.sort(c.counts)[::-1][min(top, c.counts.size) - 1]
    cand = np.flatnonzero(c.counts >= threshold)
    ranked = sorted(((c.strings[i], int(c.counts[i])) for i in cand), key=lambda t: (-t[1], t[0]))
    return ranked[:top]


def _class_masks(bits: np.ndarray) -> list[tuple[str, np.ndarray]]:
    from interpret.annotations import BIT, CLASSES

    out = [(cls, (bits & np.uint16(1 << BIT[cls])) != 0) for cls in CLASSES]
    return out + [(NONE_CLASS, bits == 0)]


def _class_rows(stage: int, c: _StageChunks, tops: list[tuple[str, int]]) -> list[tuple]:
    """Rows of the class table: each frequent string against all annotated chunks of the stage, per class.

    Test: Fisher's exact test of the string's chunks against the stage's other chunks (hypergeometric: k of the
    string's n chunks in the class when the class holds K of all N), two-sided by doubling the smaller tail."""
    from scipy.stats import hypergeom

    if not tops or not c.annotated.any():
        return []
    top_id = np.full(c.strings.size, -1, np.int64)
    top_id[pd.Index(c.strings).get_indexer([w for w, _ in tops])] = np.arange(len(tops))
    t_of = top_id[c.codes]  # (m,) rank - 1 of each chunk's string, -1 if not frequent
    sel = (t_of >= 0) & c.annotated
    n_t = np.bincount(t_of[sel], minlength=len(tops))
    n_all = int(c.annotated.sum())
    rows = []
    for cls, member in _class_masks(c.bits):
        member = member & c.annotated
        k_cls = int(member.sum())
        if k_cls == 0:
            continue
        k_t = np.bincount(t_of[sel & member], minlength=len(tops))
        base = k_cls / n_all
        lower = hypergeom.cdf(k_t, n_all, k_cls, n_t)
        upper = hypergeom.sf(k_t - 1, n_all, k_cls, n_t)
        p = np.minimum(1.0, 2 * np.minimum(lower, upper))
        for r, (string, _) in enumerate(tops):
            n, k = int(n_t[r]), int(k_t[r])
            if n == 0:
                continue
            label = "No class on this strand" if cls == NONE_CLASS else class_label(cls)
            rows.append((stage, stage_label(stage), r + 1, string, cls, label, n, k, k / n, base,
                         (k / n) / base, float(p[r]), np.nan))
    return rows


def _scan_kmers(views, stages, per_stage, tops, max_k, n_kmers, report) -> dict:
    """One pass over k = 1..K: k-mer counts for the baseline and occurrences of the frequent strings.

    Codes are base-4 numbers of ACGT k-mers (A=0 ... T=3, first base most significant), built k by k.
    """
    occurrences = {s: {} for s in stages}  # stage -> string -> (n_occurrences, n_exact, n_split)
    targets: dict[int, list[str]] = {}  # length -> frequent strings of it that codes can represent
    fallback: list[str] = []  # longer than max_k or not ACGT: found by text search
    for s in stages:
        for string, _ in tops[s]:
            if len(string) <= max_k and set(string) <= set("ACGT"):
                targets.setdefault(len(string), [])
                if string not in targets[len(string)]:
                    targets[len(string)].append(string)
            elif string not in fallback:
                fallback.append(string)
    chunk_lengths = np.unique(np.concatenate([per_stage[s].lengths for s in stages])) if stages else np.zeros(0)
    base_ks = set(int(k) for k in chunk_lengths if k <= max_k)
    if chunk_lengths.size and chunk_lengths.max() > max_k:
        base_ks.add(max_k)
    listed = {len(w) for s in stages for w, _ in tops[s] if len(w) <= max_k}
    k_last = max(base_ks | set(targets) | {0})
    spectra: dict[int, tuple[np.ndarray, np.ndarray, int, float]] = {}  # k -> (count values, multiplicity, n, H)
    kmer_rows, length_rows = [], []
    codes = [v.ids.astype(np.uint64) for v in views]  # k = 1: the base itself
    valid = [v.ok.copy() for v in views]
    for k in range(1, k_last + 1):
        if k > 1:
            for i, v in enumerate(views):
                codes[i] = codes[i][:-1] * np.uint64(4) + v.ids[k - 1:].astype(np.uint64)
                valid[i] = valid[i][:-1] & v.ok[k - 1:]
        if k in base_ks or k in listed:
            allc = np.concatenate([c[m] for c, m in zip(codes, valid)])
            uniq, cnt = np.unique(allc, return_counts=True)
            n = int(cnt.sum())
            h = float(-(cnt / n * np.log2(cnt / n)).sum()) if n else np.nan
            values, mult = np.unique(cnt, return_counts=True)
            spectra[k] = (values, mult, n, h)
            length_rows.append((k, n, int(uniq.size), h))
            if k in listed and n:
                order = np.lexsort((uniq, -cnt))[:n_kmers]
                kmer_rows += [(k, r + 1, _code_to_string(int(uniq[j]), k), int(cnt[j]), cnt[j] / n)
                              for r, j in enumerate(order)]
        for string in targets.get(k, []):
            code = np.uint64(_string_to_code(string))
            for i, v in enumerate(views):
                hits = np.flatnonzero(valid[i] & (codes[i] == code))
                _tally(occurrences, stages, v, string, hits)
        report(0.25 + 0.7 * k / max(k_last, 1), f"k-mers of {k} nt")
    for string in fallback:
        pattern = re.compile(f"(?={re.escape(string)})")
        for v in views:
            hits = np.array([m.start() for m in pattern.finditer(v.text)], dtype=np.int64)
            bad = np.concatenate([[0], np.cumsum(~v.ok)])
            hits = hits[bad[np.minimum(hits + len(string), v.ids.size)] == bad[hits]]
            _tally(occurrences, stages, v, string, hits)
    return {"occurrences": occurrences, "spectra": spectra,
            "kmers_table": pd.DataFrame(kmer_rows, columns=["k", "rank", "kmer", "count", "share"]),
            "lengths_table": pd.DataFrame(length_rows, columns=["k", "n_positions", "n_distinct", "entropy_bits"])}


def _tally(occurrences, stages, v: _PassView, string: str, hits: np.ndarray) -> None:
    """Add the occurrences `hits` (pass indices) of `string` in pass `v`, per stage: (all, exactly one chunk,
    with a boundary inside). Occurrences that reach the end of the analysed sequence are not counted."""
    k = len(string)
    n = v.ids.size
    hits = hits[hits + k < n]
    for s in stages:
        m, before = v.is_boundary[s], v.before[s]
        n_inside = before[hits + k] - before[hits + 1]  # boundaries strictly inside the occurrence
        exact = m[hits] & m[hits + k] & (n_inside == 0)
        a, b, c = occurrences[s].get(string, (0, 0, 0))
        occurrences[s][string] = (a + int(hits.size), b + int(exact.sum()), c + int((n_inside > 0).sum()))


def _string_to_code(s: str) -> int:
    code = 0
    for ch in s:
        code = code * 4 + "ACGT".index(ch)
    return code


def _code_to_string(code: int, k: int) -> str:
    out = []
    for _ in range(k):
        out.append("ACGT"[code & 3])
        code >>= 2
    return "".join(reversed(out))


def _entropy(counts: np.ndarray) -> float:
    n = counts.sum()
    if n == 0:
        return np.nan
    p = counts[counts > 0] / n
    return float(-(p * np.log2(p)).sum())


def _baseline_mixture(c: _StageChunks, spectra: dict, max_k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The k-mer baseline's token probabilities as (values descending, multiplicity) and its entropy (bits)."""
    values, mult = [], []
    # a length above max_k keeps its own weight (its tokens are distinct from shorter ones) with the max_k counts
    for k, m in zip(*np.unique(c.lengths, return_counts=True)):
        kk = int(min(k, max_k))
        if kk not in spectra or spectra[kk][2] == 0:
            continue
        cv, cm, n, _ = spectra[kk]
        values.append((m / c.n_chunks) * cv / n)
        mult.append(cm)
    if not values:
        return np.zeros(0), np.zeros(0, np.int64), np.nan
    v, m = np.concatenate(values), np.concatenate(mult).astype(np.int64)
    order = np.argsort(-v, kind="stable")
    v, m = v[order], m[order]
    h = float(-(m * v * np.log2(v)).sum())
    return v, m, h


def _sample_ranks(size: int, dense: int = 1000, n_log: int = 200) -> np.ndarray:
    """Every rank up to `dense`, then about `n_log` log-spaced ranks up to `size`."""
    if size <= 0:
        return np.zeros(0, np.int64)
    r = np.arange(1, min(size, dense) + 1)
    if size > dense:
        r = np.unique(np.concatenate([r, np.geomspace(dense, size, n_log).round().astype(np.int64)]))
    return r


def _share_at(values: np.ndarray, mult: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Share at each rank of a distribution given as descending values with multiplicities."""
    return values[np.searchsorted(np.cumsum(mult), ranks, side="left")]


def _zipf_slope(values: np.ndarray, mult: np.ndarray, upto: int = 1000) -> float:
    size = int(mult.sum())
    if size < 3:
        return np.nan
    r = np.arange(1, min(size, upto) + 1)
    y = _share_at(values, mult, r)
    return float(np.polyfit(np.log10(r), np.log10(y), 1)[0])


def _shuffled_counts(views: list[_PassView], stage: int, rng: np.random.Generator) -> np.ndarray:
    """Chunks per distinct string when each pass is cut with its own chunk lengths in a random order (same
    sequence, same lengths, same number of chunks; only where the cuts fall changes), masked chunks left out."""
    strings = []
    for v in views:
        idx = v.starts[stage][0]
        if idx.size < 2:
            continue
        a = idx[0] + np.concatenate([[0], np.cumsum(rng.permutation(np.diff(idx)))[:-1]])
        b = a + np.diff(np.append(a, idx[-1]))
        bad = np.concatenate([[0], np.cumsum(~v.ok)])
        clear = bad[b] == bad[a]
        strings.append(np.array([v.text[i:j] for i, j in zip(a[clear].tolist(), b[clear].tolist())], dtype=object))
    if not strings:
        return np.zeros(0, np.int64)
    codes, uniques = pd.factorize(np.concatenate(strings))
    return np.bincount(codes, minlength=len(uniques)).astype(np.int64)


def _rank_frequency(c: _StageChunks, state: dict, max_k: int):
    counts = np.sort(c.counts)[::-1]
    shares = counts / max(c.n_chunks, 1)
    r = _sample_ranks(counts.size)
    v, m, _ = _baseline_mixture(c, state["spectra"], max_k)
    rb = _sample_ranks(int(m.sum()))
    return (r, shares[r - 1]), (rb, _share_at(v, m, rb) if rb.size else np.zeros(0))


def _summary_row(s: int, c: _StageChunks, tops, state: dict, max_k: int, shuffled: list[np.ndarray]) -> dict:
    v, m, h_base = _baseline_mixture(c, state["spectra"], max_k)
    shares = np.sort(c.counts)[::-1] / max(c.n_chunks, 1)
    n_top = len(tops)
    base_top = float(_share_at(v, m, np.arange(1, min(n_top, int(m.sum())) + 1)).sum()) if m.size else np.nan
    return {"stage": s, "stage_label": stage_label(s), "n_chunks": c.n_chunks, "vocabulary_size": int(c.counts.size),
            "entropy_bits": _entropy(c.counts), "mean_length": float(c.lengths.mean()) if c.n_chunks else np.nan,
            "top_share": float(shares[:n_top].sum()), "zipf_slope": _zipf_slope(shares, np.ones(shares.size, int)),
            "kmer_vocabulary_size": int(m.sum()), "kmer_entropy_bits": h_base, "kmer_top_share": base_top,
            "kmer_zipf_slope": _zipf_slope(v, m) if m.size else np.nan,
            "shuffled_vocabulary_size": float(np.mean([d.size for d in shuffled])) if shuffled else np.nan,
            "shuffled_entropy_bits": float(np.mean([_entropy(d) for d in shuffled])) if shuffled else np.nan,
            "shuffled_draws": len(shuffled),
            "share_longer_than_max_k": float((c.lengths > max_k).mean()) if c.n_chunks else np.nan, "max_k": max_k}


def _note(problems: list[str], msg: str) -> None:
    if msg not in problems:
        problems.append(msg)


# ------------------------------------------------------------------------------------------------ CLI


def load_trace_for(args, records, region, problems: list[str]):
    """The trace of `records`: from --trace when given (other records' passes dropped), else from inference
    (the checkpoint of --checkpoint, the disk cache unless --no-cache), with a progress bar."""
    if args.trace:
        trace = Trace.load(args.trace)
        keep = {r.id for r in records}
        trace.passes = [sp for sp in trace.passes if sp.record_id in keep]
        if not trace.passes:
            raise ValueError(f"the trace has no pass for {', '.join(sorted(keep))}")
        return trace
    from tqdm import tqdm

    from dnahnet.checkpoint import load, resolve
    from dnahnet.infer import analyze

    threads.configure_threads()  # the available cores, less those other processes keep busy
    model = load(resolve(args.checkpoint))
    with tqdm(total=1000, desc="inference", unit="‰", file=sys.stderr) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = int(round(1000 * min(max(fraction, 0.0), 1.0)))
            bar.set_postfix_str(message[:70], refresh=False)
            bar.refresh()

        trace = analyze(records, model, strands=args.strands, region=region, progress=threads.governed(progress),
                        cache=not args.no_cache)
    problems += [f"inference: {p}" for p in trace.meta.get("problems", [])]
    return trace


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interpret.vocabulary",
                                 description="The chunk vocabulary of dnaHNet on a genome (frequent chunk strings, "
                                             "their classes and consistency, Zipf data, a k-mer baseline) and "
                                             "boundary sequence logos.")
    add_genome_arguments(ap)
    ap.add_argument("--companion", default=None, help="promoter/TSS table (RegulonDB CSV, CSV/TSV, BED, GFF3)")
    ap.add_argument("--top", type=int, default=50, help="frequent strings listed per stage")
    ap.add_argument("--kmers", type=int, default=10, help="k-mers listed per length")
    ap.add_argument("--max-k", type=int, default=MAX_K, help="longest k-mer counted exactly (1-32)")
    ap.add_argument("--formats", default="html,png", help="figure formats, comma-separated ('' for none)")
    ap.add_argument("--no-cache", action="store_true", help="neither read nor write the inference cache")
    args = ap.parse_args(argv)

    from dnahnet.infer import parse_region
    from interpret.annotations import annotate_all

    if args.top < 1 or not 1 <= args.max_k <= 32:
        print("error: --top must be at least 1 and --max-k in 1..32", file=sys.stderr)
        return 2
    opened = open_genome(args.genome, args.record, gff=args.gff, notes=False)
    if opened is None:
        return 2
    genome, records = opened
    problems = [f"genome: {p}" for p in genome.problems]
    region = parse_region(args.region) if args.region else None
    try:
        trace = load_trace_for(args, records, region, problems)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    annotations = annotate_all(records, args.companion or None, problems=problems)
    sequences = {r.id: str(r.seq) for r in records}
    strands = STRANDS if args.strands == "both" else (args.strands,)
    try:
        vocab = chunk_vocabulary(trace, sequences, annotations, strands=strands, top=args.top, n_kmers=args.kmers,
                                 max_k=args.max_k)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problems += vocab.problems
    out = Path(args.out)
    paths = vocab.to_csv_dir(out)

    from interpret import logos
    from interpret.figures_vocabulary import boundary_logo_grid, vocabulary_rank_frequency
    from interpret.render import figure_to_bytes

    logo_list = logos.boundary_logos(trace, sequences, annotations, strands=strands, problems=problems)
    p = out / "boundary_logos.csv"
    inert_table(logos.logo_table(logo_list)).to_csv(p, index=False)
    paths.append(p)
    formats = [f.strip().lower().lstrip(".") for f in args.formats.split(",") if f.strip()]
    figures = {"vocabulary_rank_frequency": lambda: vocabulary_rank_frequency(vocab.rank_frequency.df),
               "boundary_logos": lambda: boundary_logo_grid(logo_list)}
    for name, make in figures.items():
        if not formats:
            break
        try:
            fig = make()
            for fmt in formats:
                p = out / f"{name}.{fmt}"
                p.write_bytes(figure_to_bytes(fig, fmt))
                paths.append(p)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn must not cost the tables
            problems.append(f"figure {name} skipped: {e}")
    print(vocab.summary_text())
    if problems:
        print(f"{len(problems)} note(s):", *[f"  - {x}" for x in problems[:20]], sep="\n")
    print(f"wrote {len(paths)} files to {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
