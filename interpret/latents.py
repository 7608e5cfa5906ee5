"""The chunks' latent vectors: a table to colour them by, and a 2-D embedding (UMAP or PCA), cached on disk.

UMAP (umap-learn, cosine metric) pays ~35 s of numba compilation on its first call in a process: call
`warm_umap()` once in the background, or use PCA when speed matters. Embeddings are cached under
`cache_dir` keyed by a hash of the vectors, the method and its parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from dnahnet.trace import StrandPass
from interpret.stats import stage_label

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
    on this strand), gc, sequence (as read in this pass, truncated to 60 nt with "…").
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
    else:
        cls = np.full(idx.size, "none", dtype=object)
        codon = np.zeros(idx.size, np.int8)
    shown = []
    for a, b in spans:
        s = seq[a:b] if trace_pass.strand == "+" else seq[a:b].translate(_COMP)[::-1]
        shown.append(s if len(s) <= SEQ_SHOWN else s[:SEQ_SHOWN] + "…")
    df = pd.DataFrame({"record": trace_pass.record_id, "strand": trace_pass.strand, "stage": stage,
                       "stage_label": stage_label(stage), "chunk": idx, "start": spans[:, 0], "end": spans[:, 1],
                       "length": lengths, "class": cls, "codon_pos": codon, "gc": gc, "sequence": shown})
    return df, vectors


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
