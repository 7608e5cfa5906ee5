"""The chunks' latent vectors: a table to colour them by, a 2-D embedding (UMAP or PCA, cached on disk), and what a
selection of chunks holds: its class make-up, lengths, strings and start logo against all chunks of the stage
(`selection_summary`), and a chunk's nearest neighbours in latent space (`nearest_chunks`).

UMAP (umap-learn, cosine metric) pays ~35 s of numba compilation on its first call in a process: call
`warm_umap()` once in the background, or use PCA when speed matters. Embeddings are cached under
`cache_dir` keyed by a hash of the vectors, the method and its parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dnahnet.trace import StrandPass
from interpret.style import stage_label

SEQ_SHOWN = 60  # nucleotides of a chunk's sequence kept in the table
# a chunk start in several classes is shown as the most specific one
CLASS_PRIORITY = ("start_codon", "stop_codon", "tss", "promoter_10", "promoter_35", "rbs", "rRNA", "tRNA",
                  "other_RNA", "cds_pos1", "cds_pos2", "cds_pos3", "intergenic")
_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def primary_class(bits: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """(n,) object array: the highest-priority class of each bitfield value ("none" if no bit is set)."""
    out = np.full(bits.shape, "none", dtype=object)
    for cls in reversed([c for c in CLASS_PRIORITY if c in classes] + [c for c in classes if c not in CLASS_PRIORITY]):
        out[((bits >> classes.index(cls)) & 1).astype(bool)] = cls
    return out


def chunk_table(trace_pass: StrandPass, annotation, stage: int, sequence) -> tuple[pd.DataFrame, np.ndarray]:
    """(one row per kept latent of `stage` on this pass, the vectors as float32 (n, d)).

    Columns: record, strand, stage, stage_label, chunk (index in the stage's boundaries), start, end (forward
    strand, half-open), length, class (of the first nucleotide read, most specific), codon_pos (0 = not in a CDS
    on this strand), cds_fraction (where that base sits in its CDS, 0 = first base of the CDS … 1 = past its last;
    NaN outside a CDS on this strand), gc, first_base (the chunk's first base as read), sequence (as read in this
    pass, truncated to 60 nt with "…").
    `annotation` may be None (class "none", codon_pos 0). `sequence`: the record's forward sequence (str/Seq).
    """
    st = trace_pass.stages[stage]
    idx = np.asarray(st.latent_index, dtype=np.int64)
    vectors = np.asarray(st.latents, dtype=np.float32).reshape(idx.size, -1)
    spans = trace_pass.chunk_spans(stage)[idx]  # (n, 2)
    starts = np.asarray(st.boundaries, dtype=np.int64)[idx]
    seq = str(sequence).upper()
    if len(seq) != trace_pass.length:
        raise ValueError(f"sequence has {len(seq):,} nt but record {trace_pass.record_id} has {trace_pass.length:,}")
    arr = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    gc_cum = np.r_[0, np.cumsum((arr == ord("G")) | (arr == ord("C")))]
    lengths = spans[:, 1] - spans[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        gc = (gc_cum[spans[:, 1]] - gc_cum[spans[:, 0]]) / lengths
    if annotation is not None and annotation.length == trace_pass.length:
        cls = primary_class(annotation.bits[trace_pass.strand][starts], tuple(annotation.classes))
        codon = annotation.codon_pos[trace_pass.strand][starts].astype(np.int8)
        cds_fraction = np.where(codon > 0, cds_position(annotation.features, starts, trace_pass.strand), np.nan)
    else:
        cls = np.full(idx.size, "none", dtype=object)
        codon = np.zeros(idx.size, np.int8)
        cds_fraction = np.full(idx.size, np.nan)
    shown = []
    for a, b in spans:
        s = seq[a:b] if trace_pass.strand == "+" else seq[a:b].translate(_COMP)[::-1]
        shown.append(s if len(s) <= SEQ_SHOWN else s[:SEQ_SHOWN] + "…")
    df = pd.DataFrame({"record": trace_pass.record_id, "strand": trace_pass.strand, "stage": stage,
                       "stage_label": stage_label(stage), "chunk": idx, "start": spans[:, 0], "end": spans[:, 1],
                       "length": lengths, "class": cls, "codon_pos": codon, "cds_fraction": cds_fraction, "gc": gc,
                       "first_base": [q[:1] for q in shown], "sequence": shown})
    return df, vectors


def cds_position(features: pd.DataFrame, positions, strand: str) -> np.ndarray:
    """(n,) float: where each base (0-based record coordinate) sits in a CDS on `strand`, as the share of the CDS
    read before it in the gene's direction (0 = its first base; joined parts counted end to end); NaN outside.

    features: `RecordAnnotation.features` (its `parts` column, in reading order). Where CDSs overlap, the first in
    the feature table wins. Work is linear in the CDS lengths, whatever the number of positions."""
    x = np.asarray(positions, dtype=np.int64).reshape(-1)
    if features is None or len(features) == 0 or x.size == 0:
        return np.full(x.size, np.nan)
    want = -1 if strand == "-" else 1
    cds = [parts for t, parts in zip(features["type"], features["parts"])
           if t == "CDS" and parts and int(parts[0][2]) == want]
    size = max([int(x.max()) + 1] + [int(b) for parts in cds for _, b, _ in parts])
    frac = np.full(size, np.nan)  # (size,) share of its CDS read before each base
    for parts in cds:
        total = sum(int(b) - int(a) for a, b, _ in parts)
        done = 0
        for a, b, _ in parts:
            a, b = int(a), int(b)
            offset = np.arange(b - a) if want == 1 else np.arange(b - a)[::-1]
            part = frac[a:b]
            free = np.isnan(part)
            part[free] = ((done + offset) / total)[free]
            done += b - a
    return frac[x]


def chunk_tables(trace, annotations: dict, stage: int, sequences: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """`chunk_table` over every pass of a trace, concatenated (records without a sequence are skipped)."""
    frames, vecs = [], []
    for sp in trace.passes:
        if sp.record_id not in sequences or stage >= len(sp.stages):
            continue
        df, v = chunk_table(sp, annotations.get(sp.record_id), stage, sequences[sp.record_id])
        frames.append(df)
        vecs.append(v)
    if not frames:
        return pd.DataFrame(), np.zeros((0, 0), np.float32)
    return pd.concat(frames, ignore_index=True), np.concatenate(vecs)


# ------------------------------------------------------------------------------------------- embedding


def default_cache_dir() -> Path:
    """$DNAHNET_CACHE_DIR/embeddings, else ~/.cache/dnahnet/embeddings."""
    base = os.environ.get("DNAHNET_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "dnahnet") / "embeddings"


def _key(vectors: np.ndarray, method: str, params: dict) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    h.update(str(vectors.shape).encode())
    h.update(json.dumps({"method": method, **params}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(n, 2) float32 projection on the first two principal components (signs fixed: deterministic)."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(0, keepdims=True)
    if x.shape[0] < 2 or x.shape[1] == 0:
        return np.zeros((x.shape[0], 2), np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    comps *= np.sign(comps[np.arange(comps.shape[0]), np.abs(comps).argmax(1)])[:, None]
    out = x @ comps.T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((out.shape[0], 2 - out.shape[1]))])
    return out.astype(np.float32)


def embed(vectors: np.ndarray, method: str = "umap", seed: int = 0, cache_dir=None, n_neighbors: int = 15,
          min_dist: float = 0.1) -> np.ndarray:
    """(n, 2) float32 embedding of latent vectors: "umap" (cosine metric) or "pca". Cached on disk.

    cache_dir: None → `default_cache_dir()`, False → no cache. With fewer than 4 vectors UMAP cannot run and
    PCA is used instead.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be (n, d), got shape {vectors.shape}")
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap' or 'pca', not {method!r}")
    n = vectors.shape[0]
    if method == "umap" and n < 4:
        method = "pca"
    params = {"seed": seed} if method == "pca" else {"seed": seed, "n_neighbors": min(n_neighbors, n - 1),
                                                     "min_dist": min_dist, "metric": "cosine"}
    path = None
    if cache_dir is not False:
        cdir = Path(cache_dir) if cache_dir else default_cache_dir()
        path = cdir / f"{method}-{_key(vectors, method, params)}.npy"
        if path.exists():
            try:
                out = np.load(path, allow_pickle=False)
                if out.shape == (n, 2):
                    return out
            except (OSError, ValueError):
                pass  # a broken cache entry is recomputed
    if method == "pca":
        out = pca_2d(vectors)
    else:
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=params["n_neighbors"], min_dist=min_dist,
                            metric="cosine", random_state=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)  # seeded = 1 thread
            out = reducer.fit_transform(vectors).astype(np.float32)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, out)
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs speed
    return out


def warm_umap() -> None:
    """Run UMAP once on a tiny array so numba compiles now (~35 s on a 2-core CPU), not on the user's click."""
    rng = np.random.default_rng(0)
    embed(rng.normal(size=(64, 8)).astype(np.float32), method="umap", cache_dir=False)


# ------------------------------------------------------------------------------------------- selections
SUMMARY_MAX_LENGTH = 30  # chunk lengths above this share one bin ("30+") in the length distribution


@dataclass
class SelectionSummary:
    """What a selection of chunks (rows of one stage's chunk table) holds, against all the table's chunks.

    classes: one row per class of the chunks' first base (`class` column): n_selected, n_all, share_selected,
    share_all, fold (= share_selected / share_all), p_fisher (two-sided, the selection drawn from all chunks), q_bh
    (Benjamini–Hochberg across the classes). lengths: count, mean, median, 10th/90th percentile, longest and share of
    3-nt chunks for "selected" and "all"; p_lengths: Mann–Whitney U of the selection against the other chunks.
    length_distribution: share of chunks per length (the last bin holds `max_length` and longer). top_strings: the
    commonest chunk strings of the selection (as read in their pass) with their counts in the selection and in all.
    logo / logo_all: sequence logos around the chunk starts of the selection and of all chunks (None without
    sequences)."""

    stage: int
    n_selected: int
    n_all: int
    classes: pd.DataFrame
    lengths: pd.DataFrame
    p_lengths: float
    length_distribution: pd.DataFrame
    top_strings: pd.DataFrame
    logo: object = None
    logo_all: object = None
    problems: list[str] = field(default_factory=list)


def selection_rows(table: pd.DataFrame, selected_index) -> np.ndarray:
    """Sorted unique row positions (0-based, as `table.iloc`) of a selection; bad positions raise ValueError."""
    rows = np.unique(np.asarray(list(selected_index), dtype=np.int64))
    if rows.size == 0:
        raise ValueError("no chunks selected")
    if rows[0] < 0 or rows[-1] >= len(table):
        raise ValueError(f"selected rows must be in 0..{len(table) - 1} (positions in the chunk table)")
    return rows


def selection_summary(table: pd.DataFrame, selected_index, sequences: dict | None = None, top: int = 10,
                      max_length: int = SUMMARY_MAX_LENGTH, flank: int | None = None) -> SelectionSummary:
    """Summary of the chunks at row positions `selected_index` of a one-stage chunk table (`chunk_tables`) against
    every chunk of the table. sequences: record id -> forward sequence, for the logos of the chunk starts."""
    from scipy.stats import hypergeom, mannwhitneyu

    from interpret.logos import FLANK
    from interpret.nulls import bh_adjust

    if table is None or len(table) == 0:
        raise ValueError("the chunk table is empty")
    stages = pd.unique(table["stage"])
    if len(stages) != 1:
        raise ValueError(f"the chunk table holds {len(stages)} stages; summarise one stage at a time")
    rows = selection_rows(table, selected_index)
    picked = np.zeros(len(table), dtype=bool)
    picked[rows] = True
    n_sel, n_all = int(rows.size), len(table)

    # class make-up: k of the selection's n in a class holding K of all N (hypergeometric = Fisher's exact test of
    # the selection against the other chunks), two-sided by doubling the smaller tail, as in interpret.vocabulary
    cls = table["class"].astype(str).to_numpy()
    order = [c for c in CLASS_PRIORITY if c in set(cls)] + sorted(set(cls) - set(CLASS_PRIORITY))
    k_all = np.array([np.count_nonzero(cls == c) for c in order])
    k_sel = np.array([np.count_nonzero(cls[picked] == c) for c in order])
    p = np.minimum(1.0, 2 * np.minimum(hypergeom.cdf(k_sel, n_all, k_all, n_sel),
                                       hypergeom.sf(k_sel - 1, n_all, k_all, n_sel)))
    share_sel, share_all = k_sel / n_sel, k_all / n_all
    classes = pd.DataFrame({"class": order, "n_selected": k_sel, "n_all": k_all, "share_selected": share_sel,
                            "share_all": share_all, "fold": share_sel / share_all, "p_fisher": p,
                            "q_bh": bh_adjust(p)})

    # chunk lengths
    length = table["length"].to_numpy(np.int64)
    lengths = pd.DataFrame([_length_row("selected", length[picked]), _length_row("all", length)])
    rest = length[~picked]
    p_len = float(mannwhitneyu(length[picked], rest).pvalue) if rest.size else np.nan
    capped = np.minimum(length, max_length)
    bins = np.arange(1, max_length + 1)
    dist = pd.DataFrame({"length": bins, "label": [str(b) if b < max_length else f"{b}+" for b in bins],
                         "share_selected": np.bincount(capped[picked], minlength=max_length + 1)[1:] / n_sel,
                         "share_all": np.bincount(capped, minlength=max_length + 1)[1:] / n_all})

    # commonest strings of the selection (the table keeps 60 nt of each: longer chunks compare by that prefix)
    seqs = table["sequence"].astype(str)
    sel_counts = seqs[picked].value_counts()
    all_counts = seqs.value_counts()
    tops = sorted(sel_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    top_strings = pd.DataFrame({
        "rank": np.arange(1, len(tops) + 1, dtype=np.int64), "string": [w for w, _ in tops],
        "length": [len(w.rstrip("…")) for w, _ in tops], "n_selected": [int(n) for _, n in tops],
        "share_selected": [n / n_sel for _, n in tops], "n_all": [int(all_counts[w]) for w, _ in tops],
        "share_all": [all_counts[w] / n_all for w, _ in tops]})

    summary = SelectionSummary(int(stages[0]), n_sel, n_all, classes, lengths, p_len, dist, top_strings)
    if sequences:
        flank = FLANK if flank is None else int(flank)
        label = stage_label(int(stages[0]))
        summary.logo = _start_logo(table[picked], sequences, flank, f"{label} · selected chunks", summary.problems)
        summary.logo_all = _start_logo(table, sequences, flank, f"{label} · all chunks", summary.problems)
    return summary


def _length_row(group: str, x: np.ndarray) -> dict:
    return {"group": group, "n": int(x.size), "mean": float(x.mean()), "median": float(np.median(x)),
            "q10": float(np.quantile(x, 0.1)), "q90": float(np.quantile(x, 0.9)), "max": int(x.max()),
            "share_len3": float(np.mean(x == 3))}


def chunk_first_bases(table: pd.DataFrame) -> np.ndarray:
    """(n,) int64: the record coordinate of each chunk's first base as read (start on "+", end - 1 on "-")."""
    start, end = table["start"].to_numpy(np.int64), table["end"].to_numpy(np.int64)
    return np.where(table["strand"].to_numpy() == "-", end - 1, start)


def _start_logo(rows: pd.DataFrame, sequences: dict, flank: int, title: str, problems: list[str]):
    """One logo of the chunk starts of `rows`, pooled over records (counts added; background weighted by sites)."""
    from interpret.logos import Logo, selection_logo

    parts = []
    for record, d in rows.groupby("record", sort=True):
        seq = sequences.get(record)
        if seq is None:
            problems.append(f"record {record}: no sequence, its chunks are left out of the logo")
            continue
        parts.append(selection_logo(str(seq), chunk_first_bases(d), d["strand"].to_numpy(), flank=flank,
                                    title=title))
    if not parts:
        return None
    sites = sum(lg.n_sites for lg in parts)
    weights = np.array([max(lg.n_sites, 1) for lg in parts], dtype=float)
    background = sum(w * lg.background for w, lg in zip(weights, parts)) / weights.sum()
    counts = parts[0].counts.copy()
    for lg in parts[1:]:
        counts += lg.counts
    dropped = sum(lg.n_dropped for lg in parts)
    if dropped:
        problems.append(f"{title}: {dropped:,} chunk start(s) within {flank} nt of a linear record's end left out")
    return Logo(title, counts, background, sites, dropped, stage=int(rows["stage"].iloc[0]))


METRICS = ("cosine", "euclidean")


def nearest_chunks(vectors: np.ndarray, i: int, k: int = 10, metric: str = "cosine") -> pd.DataFrame:
    """The k chunks nearest to chunk `i` in latent space (the vectors themselves, not a 2-D embedding).

    vectors: (n, d); metric "cosine" (1 − cosine similarity, as UMAP uses) or "euclidean". Returns columns rank
    (1 = nearest), row (position in `vectors`), distance; chunk i itself is left out, ties go to the lower row, and
    vectors of norm 0 (no direction) come last under cosine with distance NaN."""
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"vectors must be (n, d), got shape {v.shape}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    n = v.shape[0]
    if not 0 <= int(i) < n:
        raise ValueError(f"chunk {i} is not in 0..{n - 1}")
    if int(k) < 1:
        raise ValueError("k must be at least 1")
    i = int(i)
    if metric == "euclidean":
        dist = np.sqrt(((v - v[i]) ** 2).sum(axis=1))  # (n,)
    else:
        norm = np.linalg.norm(v, axis=1)  # (n,)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = 1.0 - (v @ v[i]) / (norm * norm[i])
        dist[(norm == 0) | (norm[i] == 0)] = np.nan
    rows = np.delete(np.arange(n), i)
    d = dist[rows]
    order = np.lexsort((rows, np.where(np.isnan(d), np.inf, d)))[:int(k)]
    return pd.DataFrame({"rank": np.arange(1, order.size + 1, dtype=np.int64), "row": rows[order],
                         "distance": d[order]})
