"""Boundary sequence logos: what sequence surrounds the places where the model starts a chunk.

A logo pools windows of ±`flank` nt around sites, read in each site's pass direction (a "-" site reads the
reverse complement leftwards), with position 0 = the first base of the chunk, so -1 is the last base of the chunk
before. Heights are the usual relative-entropy (KL) logo against a background base composition q: at each
position the stack is KL(p || q) = sum_b p_b log2(p_b / q_b) bits tall and letter b takes p_b of it. On a uniform
background a fully conserved base is 2 bits, a random one ~0.

Public API:
- `boundary_logos(trace, sequences, annotations=None, stages=None, groups=LOGO_GROUPS, ...) -> list[Logo]`:
  one logo per stage and site group (all boundaries; inside CDS by codon position; at start codons; intergenic;
  the class is that of the chunk's first base on its pass's strand), background = the analysed sequence as read;
  sites at masked positions (`StrandPass.masked`: non-ACGT runs and their flanks) are left out.
- `selection_logo(sequence, positions, strands="+", ...) -> Logo`: the same for any list of sites (a user's
  selection: chunk starts, variants, motif hits) on one record.
- `Logo.counts` / `.probability` / `.bits`: pandas (positions -flank..+flank) x (A, C, G, T); `logo_table(logos)`
  all of them in one long table (CSV); `count_matrix`, `probability_matrix`, `information_matrix` are the steps.
- `logo_figure(logos, ncols=None, title=None) -> matplotlib Figure` (logomaker), the number of sites in each title.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dnahnet.tokenizer import encode
from interpret.style import BASE_COLORS, class_label, mpl_rc, stage_label

FLANK = 10
BASES = ("A", "C", "G", "T")
# site groups of the boundary logos: (key, label); key "all" or a class of interpret.annotations
LOGO_GROUPS: tuple[tuple[str, str], ...] = (
    ("all", "All boundaries"), ("cds_pos1", "CDS codon position 1"), ("cds_pos2", "CDS codon position 2"),
    ("cds_pos3", "CDS codon position 3"), ("start_codon", "Start codon"), ("intergenic", "Intergenic"),
)
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
MIN_DRAWN_BITS = 0.01  # stacks lower than this (under a pixel) are not drawn: each glyph costs ~10 ms


@dataclass
class Logo:
    """One logo: base counts per position around `n_sites` sites and the background they are measured against."""

    title: str
    counts: pd.DataFrame  # (2 flank + 1, 4) int64, index position -flank..+flank, columns A C G T
    background: pd.Series  # (4,) probabilities of A C G T
    n_sites: int
    n_dropped: int = 0  # sites whose window left a linear record
    stage: int | None = None
    group: str | None = None

    @property
    def probability(self) -> pd.DataFrame:
        return probability_matrix(self.counts)

    @property
    def bits(self) -> pd.DataFrame:
        return information_matrix(self.counts, self.background)

    @property
    def label(self) -> str:
        """The title with the number of sites: what every figure of this logo shows."""
        return f"{self.title} (n = {self.n_sites:,})"


# ------------------------------------------------------------------------------------------ matrices


def site_windows(ids: np.ndarray, positions, strands, flank: int = FLANK,
                 circular: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Bases around sites, read in each site's direction: ((n_kept, 2 flank + 1) uint8 ids, kept (n,) bool).

    ids: (length,) token ids of the record's forward strand; positions: record coordinates (the first base of
    each chunk); strands: "+"/"-" per site or one for all. A "-" window at offset j holds the complement of
    record base x - j. Windows past the end of a linear record are dropped (kept False); circular ones wrap.
    """
    ids = np.asarray(ids)
    x = np.asarray(positions, dtype=np.int64).reshape(-1)
    length = ids.size
    minus = np.broadcast_to(np.asarray(strands) == "-", x.shape)
    if x.size and (x.min() < 0 or x.max() >= length):
        raise ValueError(f"site positions must be in 0..{length - 1} (0-based record coordinates)")
    offsets = np.arange(-flank, flank + 1, dtype=np.int64)
    coords = x[:, None] + np.where(minus[:, None], -offsets[None, :], offsets[None, :])  # (n, 2 flank + 1)
    if circular:
        kept = np.ones(x.size, dtype=bool)
        coords %= length
    else:
        kept = ((coords >= 0) & (coords < length)).all(axis=1)
        coords = coords[kept]
    win = ids[coords]
    win = np.where(minus[kept][:, None], _COMPLEMENT[win], win)
    return win.astype(np.uint8), kept


def count_matrix(windows: np.ndarray, flank: int = FLANK) -> pd.DataFrame:
    """(2 flank + 1, 4) counts of A C G T per position (N not counted), index -flank..+flank."""
    w = np.asarray(windows).reshape(-1, 2 * flank + 1)
    col = np.broadcast_to(np.arange(w.shape[1]), w.shape)
    ok = w < 4
    flat = np.bincount(col[ok] * 4 + w[ok].astype(np.int64), minlength=w.shape[1] * 4)
    return pd.DataFrame(flat.reshape(w.shape[1], 4), index=pd.RangeIndex(-flank, flank + 1, name="position"),
                        columns=list(BASES))


def probability_matrix(counts: pd.DataFrame, pseudocount: float = 0.0) -> pd.DataFrame:
    """Base probabilities per position (rows sum to 1; a position with no bases is all NaN)."""
    c = counts.astype(float) + pseudocount
    total = c.sum(axis=1)
    return c.div(total.where(total > 0), axis=0)


def information_matrix(counts: pd.DataFrame, background=None) -> pd.DataFrame:
    """KL logo heights (bits): p_b * sum_b' p_b' log2(p_b' / q_b'), q = background (default uniform)."""
    q = _as_background(background)
    p = probability_matrix(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p.to_numpy() > 0, p.to_numpy() * np.log2(p.to_numpy() / q.to_numpy()[None, :]), 0.0)
    kl = terms.sum(axis=1)
    kl[p.isna().all(axis=1).to_numpy()] = np.nan
    return p.mul(kl, axis=0)


def background_composition(ids_by_strand) -> pd.Series:
    """Base composition (A C G T probabilities) of token-id arrays [(ids, strand)], each read on its strand."""
    n = np.zeros(4, dtype=np.int64)
    for ids, strand in ids_by_strand:
        c = np.bincount(np.asarray(ids)[np.asarray(ids) < 4].astype(np.int64), minlength=4)[:4]
        n += c[::-1] if strand == "-" else c  # the complement of A C G T is T G C A
    if n.sum() == 0:
        raise ValueError("no A/C/G/T bases to measure a background composition on")
    return pd.Series(n / n.sum(), index=list(BASES), name="background")


def _as_background(background) -> pd.Series:
    if background is None:
        return pd.Series(0.25, index=list(BASES))
    q = pd.Series(background, index=list(BASES), dtype=float) if not isinstance(background, pd.Series) \
        else background.reindex(list(BASES)).astype(float)
    if q.isna().any() or (q <= 0).any():
        raise ValueError("the background needs a positive probability for each of A, C, G, T")
    return q / q.sum()


# ------------------------------------------------------------------------------------------ logos


def selection_logo(sequence: str, positions, strands="+", flank: int = FLANK, background=None,
                   circular: bool = False, title: str = "Selected sites") -> Logo:
    """The logo of any sites on one record: positions (record coordinates, 0-based) with strand(s) "+"/"-".

    background: A C G T probabilities, or None for the record's composition read on the strands used."""
    ids = encode(sequence)
    win, kept = site_windows(ids, positions, strands, flank, circular)
    if background is None:
        used = set(np.atleast_1d(np.asarray(strands)).tolist())
        background = background_composition([(ids, s) for s in ("+", "-") if s in used])
    return Logo(title, count_matrix(win, flank), _as_background(background), int(kept.sum()),
                int((~kept).sum()))


def boundary_logos(trace, sequences: dict, annotations: dict | None = None, stages=None, groups=LOGO_GROUPS,
                   strands=("+", "-"), flank: int = FLANK, background=None,
                   problems: list[str] | None = None) -> list[Logo]:
    """One logo per stage and site group: the chunk starts of every pass in `strands` (pooled), in the pass's
    reading direction; a group other than "all" keeps the sites whose first base has that class on the pass's
    strand (needs `annotations`). background: None = the analysed sequences as the passes read them."""
    from dnahnet.trace import mask_runs, non_acgt_runs
    from interpret.passes import analysed_region

    problems = problems if problems is not None else []
    stages = list(range(trace.n_stages)) if stages is None else [int(s) for s in stages]
    windows = {(s, g): [] for s in stages for g, _ in groups}
    dropped = {s: 0 for s in stages}
    composition = []
    for sp in trace.passes:
        seq = sequences.get(sp.record_id)
        if sp.strand not in strands or seq is None:
            continue
        ids = encode(str(seq))
        if ids.size != sp.length:
            problems.append(f"record {sp.record_id}: sequence length {ids.size:,} ≠ trace length {sp.length:,}, "
                            "left out of the logos")
            continue
        lo, hi = analysed_region(sp)
        masked = sp.masked() if sp.n_runs is not None else mask_runs(non_acgt_runs(ids), sp.length, sp.circular)
        composition.append((ids[lo:hi][~masked[lo:hi]], sp.strand))
        ann = (annotations or {}).get(sp.record_id)
        bits = ann.bits[sp.strand] if ann is not None and ann.length == sp.length else None
        for s in stages:
            b = np.asarray(sp.stages[s].boundaries, dtype=np.int64)
            b = b[~masked[b]]  # a site near a non-ACGT run (mask flank 16 > FLANK) would read the run
            win, kept = site_windows(ids, b, sp.strand, flank, sp.circular)
            dropped[s] += int((~kept).sum())
            site_bits = bits[b[kept]] if bits is not None else None
            for g, _ in groups:
                if g == "all":
                    windows[(s, g)].append(win)
                elif site_bits is not None:
                    windows[(s, g)].append(win[_in_class(site_bits, g)])
    if annotations is None and any(g != "all" for g, _ in groups):
        problems.append("no annotations: only the logos of all boundaries")
    if background is None:
        background = background_composition(composition) if composition else None
    out = []
    for s in stages:
        for g, label in groups:
            if not windows[(s, g)]:
                continue
            w = np.concatenate(windows[(s, g)])
            out.append(Logo(f"{stage_label(s)} · {label}", count_matrix(w, flank), _as_background(background),
                            int(w.shape[0]), dropped[s] if g == "all" else 0, stage=s, group=g))
    return out


def _in_class(bits: np.ndarray, cls: str) -> np.ndarray:
    from interpret.annotations import BIT

    if cls not in BIT:
        raise ValueError(f"unknown logo group {cls!r}: use 'all' or a class of interpret.annotations.CLASSES")
    return (bits & np.uint16(1 << BIT[cls])) != 0


def logo_table(logos: list[Logo]) -> pd.DataFrame:
    """Long table of every logo: stage, stage_label, group, group_label, title, n_sites, position, base, count,
    probability, bits, background."""
    frames = []
    for lg in logos:
        c, p, b = lg.counts, lg.probability, lg.bits
        rows = pd.DataFrame({
            "position": np.repeat(c.index.to_numpy(), 4), "base": np.tile(list(BASES), len(c)),
            "count": c.to_numpy().ravel(), "probability": p.to_numpy().ravel(), "bits": b.to_numpy().ravel(),
            "background": np.tile(lg.background.to_numpy(), len(c))})
        rows.insert(0, "n_sites", lg.n_sites)
        rows.insert(0, "title", lg.title)
        rows.insert(0, "group_label", class_label(lg.group) if lg.group not in (None, "all") else
                    ("All boundaries" if lg.group == "all" else ""))
        rows.insert(0, "group", lg.group or "")
        rows.insert(0, "stage_label", stage_label(lg.stage) if lg.stage is not None else "")
        rows.insert(0, "stage", lg.stage if lg.stage is not None else -1)
        frames.append(rows)
    cols = ["stage", "stage_label", "group", "group_label", "title", "n_sites", "position", "base", "count",
            "probability", "bits", "background"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


# ------------------------------------------------------------------------------------------ figure


def logo_figure(logos: list[Logo], ncols: int | None = None, title: str | None = None, panel_in=(3.6, 1.7)):
    """matplotlib Figure: one logomaker logo per entry (bits; y from 0 to at least 2), titled with its sites."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not logos:
        raise ValueError("no logo to draw (no sites)")
    ncols = ncols or min(len(logos), 3)
    nrows = -(-len(logos) // ncols)
    colors = {b: BASE_COLORS[b] for b in BASES}
    with plt.rc_context(mpl_rc()):
        fig = Figure(figsize=(panel_in[0] * ncols, panel_in[1] * nrows + (0.4 if title else 0.1)))
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, lg in zip(axes.ravel(), logos):
            bits = lg.bits.fillna(0.0)
            visible = bits[bits.sum(axis=1) >= MIN_DRAWN_BITS]  # logomaker draws every glyph, even empty ones
            if len(visible):
                logomaker.Logo(visible, ax=ax, color_scheme=colors, font_name="DejaVu Sans", show_spines=False,
                               vpad=0.02, width=0.9)
            ax.set_xlim(bits.index.min() - 0.5, bits.index.max() + 0.5)
            ax.set_ylim(0, max(2.0, float(bits.sum(axis=1).max()) * 1.05))
            ax.axvline(-0.5, color="#444444", linewidth=0.8, linestyle=":")  # the boundary: chunk starts at 0
            ax.set_xticks([p for p in bits.index if p % 5 == 0])
            ax.grid(False)
            ax.set_title(lg.label, fontsize=9, loc="left")
            ax.set_ylabel("bits")
        for ax in axes.ravel()[len(logos):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("position (0 = first base of the chunk)")
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontsize=11)
        fig.tight_layout()
    return fig


__all__ = ["Logo", "LOGO_GROUPS", "FLANK", "boundary_logos", "selection_logo", "site_windows", "count_matrix",
           "probability_matrix", "information_matrix", "background_composition", "logo_table", "logo_figure"]
