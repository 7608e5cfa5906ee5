"""Boundary rate per annotation class: how often a chunk starts in each class, and by how much more than usual.

The unit of every statistic is a *pass track*: one record read in one direction at one stage, laid out as a
0/1 boundary indicator over the positions where that stage's router ran (its input), in reading order.
For stage 0 the input is every nucleotide; for stage 1 it is the stage-0 chunk starts, so a stage-1 rate is
"the fraction of Stage-1 chunks that also start a Stage-2 chunk" (the paper's convention: Stage 2 global ≈ 50%).
`as_nucleotide_trace` gives the per-nucleotide view of a stage instead (used for baselines and profiles).
Statistics of pass "+" use the "+" annotation; of pass "-" the "-" annotation.
Masked positions (runs of non-ACGT bases and `dnahnet.trace.MASK_FLANK` nt each side, `StrandPass.masked`) are
left out of every pass track, so of every rate, denominator and null; `analysed_positions` and `chunks_clear_of_mask`
are the helpers the other modules use for the same rule, and `masking_notes` says how many positions it took.

CLI: `python -m interpret.stats TRACE.npz GENOME [--companion TABLE] --out DIR` prints the main tables.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dnahnet.trace import StageTrack, StrandPass, Trace

STRANDS = ("+", "-")
POOLED = "both"  # strand label of rows pooled over both passes
Z95 = 1.959963984540054


def stage_label(stage: int) -> str:
    """User-facing name of a 0-based stage (stage 0 = the paper's Stage 1)."""
    return f"Stage {stage + 1}"


@dataclass
class PassTrack:
    """One record, one strand pass, one stage: boundary indicator over the router's input, in reading order."""

    record_id: str
    strand: str
    stage: int
    length: int  # record length (coordinates are in [0, length))
    coord: np.ndarray  # (n,) int64 record coordinates of the router's input positions, reading order
    is_boundary: np.ndarray  # (n,) bool, a chunk of this stage starts here
    bits: np.ndarray  # (n,) uint16 class bitfield of this strand's annotation at `coord`
    # position along the record with its masked positions cut out (= coord when none are): genome blocks and
    # shift distances are laid on it, so a masked run weighs nothing; kept_length = length − masked positions
    kept_coord: np.ndarray | None = None  # (n,) int64; None = coord
    kept_length: int | None = None  # None = length

    def __post_init__(self):
        if self.kept_coord is None:
            self.kept_coord = self.coord
        if self.kept_length is None:
            self.kept_length = self.length

    @property
    def n(self) -> int:
        return int(self.coord.shape[0])


def reading_order(positions: np.ndarray, strand: str) -> np.ndarray:
    """Record coordinates sorted in the pass's reading direction (ascending on "+", descending on "-")."""
    pos = np.asarray(positions, dtype=np.int64)
    if pos.size > 1:
        d = np.diff(pos)
        if np.all(d < 0):
            pos = pos[::-1]
        elif not np.all(d > 0):
            pos = np.unique(pos)
    return pos[::-1].copy() if strand == "-" else pos


def analysed_positions(sp: StrandPass, stage: int = 0) -> np.ndarray:
    """Record coordinates where `stage`'s router ran, in reading order, without the masked positions
    (`StrandPass.masked`): the positions every statistic counts."""
    coord = reading_order(sp.stages[stage].positions, sp.strand)
    masked = sp.masked()
    return coord[~masked[coord]] if masked.any() else coord


def chunks_clear_of_mask(sp: StrandPass, spans: np.ndarray) -> np.ndarray:
    """(n_chunks,) bool, True for chunks ([start, end) rows of `chunk_spans`) that hold no masked position: a chunk
    that reaches into a non-ACGT run or its flank measures the run, not the genome."""
    masked = sp.masked()
    if not masked.any() or len(spans) == 0:
        return np.ones(len(spans), bool)
    before = np.concatenate([[0], np.cumsum(masked)])  # masked positions before each coordinate
    return before[spans[:, 1]] == before[spans[:, 0]]


def masking_notes(trace: Trace) -> tuple[list[str], int]:
    """(one line per record saying how many positions of the analysed region the mask leaves out, and why; the
    total over records). A trace that does not record its non-ACGT runs gets a line saying nothing was masked."""
    from dnahnet.trace import MASK_FLANK

    notes, total, seen = [], 0, set()
    for sp in trace.passes:
        if sp.record_id in seen:
            continue
        seen.add(sp.record_id)
        if sp.n_runs is None:
            if not trace.meta.get("synthetic"):
                notes.append(f"record {sp.record_id}: the trace does not record where its non-ACGT bases are "
                             "(written before trace format 2), so nothing was masked; re-run the inference (or give "
                             "the genome to `python -m interpret.stats`) to leave them out")
            continue
        analysed = sp.analysed()
        masked = int((sp.masked() & analysed).sum())
        if masked == 0:
            continue
        lo, hi = sp.region if sp.region is not None else (0, sp.length)
        runs = np.asarray(sp.n_runs, np.int64).reshape(-1, 2)
        runs = np.clip(runs[(runs[:, 0] < hi) & (runs[:, 1] > lo)], lo, hi)  # the runs' parts in the region
        n_bad = int((runs[:, 1] - runs[:, 0]).sum())
        total += masked
        notes.append(f"record {sp.record_id}: {n_bad:,} non-ACGT bases (N or other IUPAC codes) in {len(runs):,} "
                     f"run(s); with {MASK_FLANK} nt on each side, {masked:,} positions "
                     f"({masked / max(int(analysed.sum()), 1):.2%} of those analysed) are left out of bits/nt, "
                     "boundary rates, enrichment, nulls, baselines and profiles")
    return notes, total


def pass_tracks(trace: Trace, annotations: dict, stage: int, problems: list[str] | None = None) -> list[PassTrack]:
    """The pass tracks of `stage` for every pass that has an annotation of the right length (others reported),
    without the masked positions."""
    problems = problems if problems is not None else []
    out = []
    for sp in trace.passes:
        ann = annotations.get(sp.record_id)
        if ann is None:
            _note(problems, f"record {sp.record_id}: no annotation, left out of the statistics")
            continue
        if ann.length != sp.length:
            _note(problems, f"record {sp.record_id}: trace length {sp.length:,} ≠ annotation length "
                            f"{ann.length:,} (another genome?), left out of the statistics")
            continue
        if stage >= len(sp.stages):
            continue
        st = sp.stages[stage]
        coord = reading_order(st.positions, sp.strand)
        is_b = np.zeros(sp.length, dtype=bool)
        is_b[np.asarray(st.boundaries, dtype=np.int64)] = True
        inside = np.zeros(sp.length, dtype=bool)
        inside[coord] = True
        stray = int((is_b & ~inside).sum())
        if stray:
            _note(problems, f"record {sp.record_id} pass {sp.strand} {stage_label(stage)}: {stray} boundaries "
                            "outside the router's input positions were ignored")
        masked = sp.masked()
        kept_coord, kept_length = None, None
        if masked.any():
            coord = coord[~masked[coord]]
            kept_coord = coord - np.cumsum(masked)[coord]  # minus the masked positions before each
            kept_length = sp.length - int(masked.sum())
        out.append(PassTrack(sp.record_id, sp.strand, stage, sp.length, coord, is_b[coord],
                             ann.bits[sp.strand][coord], kept_coord, kept_length))
    return out


def as_nucleotide_trace(trace: Trace, stage: int) -> Trace:
    """A one-stage trace whose router input is every analysed nucleotide and whose boundaries are `stage`'s.

    Rates on it are per nucleotide (Stage 2 ≈ 1/6) rather than per stage input (Stage 2 ≈ 1/2).
    """
    passes = []
    for sp in trace.passes:
        pos = sp.stages[0].positions
        st = sp.stages[stage]
        p = np.full(pos.shape, np.nan, dtype=np.float32)
        passes.append(StrandPass(sp.record_id, sp.strand, sp.length, sp.circular,
                                 [StageTrack(pos, p, st.boundaries, np.zeros(0, np.int64),
                                             np.zeros((0, 0), np.float16))],
                                 sp.logprob, sp.region, sp.n_runs))
    return Trace(passes, dict(trace.meta, nucleotide_view_of_stage=stage))


# ------------------------------------------------------------------------------------------ class bits


def class_codes(bits: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Compress a bitfield to codes: (codes (n,) int32 into K distinct values, member (K, n_classes) int64 0/1)."""
    bits = np.asarray(bits, dtype=np.uint16)
    present = np.flatnonzero(np.bincount(bits, minlength=1 << 16))
    lut = np.zeros(1 << 16, dtype=np.int32)
    lut[present] = np.arange(present.size, dtype=np.int32)
    member = (present[:, None] >> np.arange(n_classes)[None, :]) & 1  # (K, C)
    return lut[bits], member.astype(np.int64)


def wilson_interval(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n (NaN where n = 0)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


# ------------------------------------------------------------------------------- counts per genome block


def default_block_len(total_length: int) -> int:
    """Bootstrap block length: ~200 blocks per genome, between 1 kb and 10 kb (genes stay mostly whole)."""
    return int(np.clip(total_length // 200, 1000, 10_000))


def block_counts(tracks: list[PassTrack], n_classes: int, block_len: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per strand group ("+", "-", "both"): (positions, boundaries), each (n_blocks, n_classes + 1) int64.

    Blocks are genome intervals of `block_len` nt (the same ids on both passes, so a bootstrap resamples a
    region with both its strands), laid on the record with its masked positions cut out (`kept_coord`); the last
    column counts all positions regardless of class.
    """
    records = {}
    for t in tracks:
        records.setdefault(t.record_id, t.kept_length)
    offset, n_blocks = {}, 0
    for rid, length in records.items():
        offset[rid] = n_blocks
        n_blocks += -(-length // block_len)
    out = {s: (np.zeros((n_blocks, n_classes + 1), np.int64), np.zeros((n_blocks, n_classes + 1), np.int64))
           for s in STRANDS}
    for t in tracks:
        codes, member = class_codes(t.bits, n_classes)
        member = np.hstack([member, np.ones((member.shape[0], 1), np.int64)])  # (K, C + 1)
        k = member.shape[0]
        key = (t.kept_coord // block_len + offset[t.record_id]) * k + codes
        pos = np.bincount(key, minlength=n_blocks * k).reshape(n_blocks, k) @ member
        bnd = np.bincount(key[t.is_boundary], minlength=n_blocks * k).reshape(n_blocks, k) @ member
        out[t.strand][0][:] += pos
        out[t.strand][1][:] += bnd
    out[POOLED] = (out["+"][0] + out["-"][0], out["+"][1] + out["-"][1])
    return out


def fold_bootstrap(pos_blk: np.ndarray, bnd_blk: np.ndarray, n_boot: int, rng: np.random.Generator,
                   level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of fold = class rate / overall rate, resampling genome blocks with replacement."""
    n_blocks, c1 = pos_blk.shape
    keep = pos_blk[:, -1] > 0
    pos_blk, bnd_blk = pos_blk[keep].astype(np.float64), bnd_blk[keep].astype(np.float64)
    if pos_blk.shape[0] < 2 or n_boot < 1:
        return np.full(c1 - 1, np.nan), np.full(c1 - 1, np.nan)
    w = rng.multinomial(pos_blk.shape[0], np.full(pos_blk.shape[0], 1 / pos_blk.shape[0]), size=n_boot)
    w = w.astype(np.float64)  # (B, n_blocks) how often each block is drawn
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (w @ bnd_blk) / (w @ pos_blk)  # (B, C + 1)
        fold = rate[:, :-1] / rate[:, -1:]
    fold = np.where(np.isfinite(fold), fold, np.nan)
    ok = ~np.all(np.isnan(fold), axis=0)  # classes absent from this genome stay NaN
    lo, hi = np.full(c1 - 1, np.nan), np.full(c1 - 1, np.nan)
    a = (1 - level) / 2
    lo[ok], hi[ok] = np.nanquantile(fold[:, ok], [a, 1 - a], axis=0)
    return lo, hi


# ----------------------------------------------------------------------------------------- the table


def enrichment_table(tracks: list[PassTrack], classes: tuple[str, ...], n_boot: int = 1000, seed: int = 0,
                     block_len: int | None = None) -> pd.DataFrame:
    """Boundary rate per class for one stage, per pass ("+", "-") and pooled ("both").

    Columns: stage, stage_label, strand, class, n_positions, n_boundaries, rate, rate_lo, rate_hi (Wilson 95%),
    global_rate (all positions of the group), fold = rate / global_rate, fold_lo, fold_hi (95% percentile
    interval from a block bootstrap: ~10 kb genome blocks resampled with both strands together, n_boot draws —
    it keeps the clustering of classes along the genome that a binomial interval would ignore).
    """
    if not tracks:
        return pd.DataFrame(columns=ENRICHMENT_COLUMNS)
    stage = tracks[0].stage
    c = len(classes)
    if block_len is None:
        block_len = default_block_len(sum({t.record_id: t.kept_length for t in tracks}.values()))
    counts = block_counts(tracks, c, block_len)
    rng = np.random.default_rng(seed)
    rows = []
    for strand in strand_groups(tracks):
        pos_blk, bnd_blk = counts[strand]
        n_pos, n_b = pos_blk.sum(0), bnd_blk.sum(0)
        if n_pos[-1] == 0:
            continue
        lo, hi = wilson_interval(n_b[:-1], n_pos[:-1])
        f_lo, f_hi = fold_bootstrap(pos_blk, bnd_blk, n_boot, rng)
        g = n_b[-1] / n_pos[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = n_b[:-1] / n_pos[:-1]
        for i, cls in enumerate(classes):
            rows.append((stage, stage_label(stage), strand, cls, int(n_pos[i]), int(n_b[i]), rate[i], lo[i], hi[i],
                         g, rate[i] / g if g > 0 else np.nan, f_lo[i], f_hi[i]))
    return pd.DataFrame(rows, columns=ENRICHMENT_COLUMNS)


ENRICHMENT_COLUMNS = ["stage", "stage_label", "strand", "class", "n_positions", "n_boundaries", "rate", "rate_lo",
                      "rate_hi", "global_rate", "fold", "fold_lo", "fold_hi"]


# dnaHNet paper: Stage 1 boundary rate at codon positions; Stage 2 rates per class (B. subtilis, 5 × 49 kb windows)
PAPER_REFERENCE = (
    (0, "codon position 1", ("cds_pos1",), 0.065), (0, "codon position 2", ("cds_pos2",), 0.426),
    (0, "codon position 3", ("cds_pos3",), 0.584),
    (1, "global", (), 0.513), (1, "start codon", ("start_codon",), 0.813),
    (1, "promoter", ("promoter_35", "promoter_10", "tss"), 0.715), (1, "intergenic", ("intergenic",), 0.746),
    (1, "coding", ("cds_pos1", "cds_pos2", "cds_pos3"), 0.484), (1, "stop codon", ("stop_codon",), 0.517),
)


def paper_comparison(tracks_by_stage: dict[int, list[PassTrack]], classes: tuple[str, ...]) -> pd.DataFrame:
    """Our rates (both passes, stage input basis) beside the paper's, for the quantities the paper reports.

    A quantity made of several classes counts a position once if it is in any of them. The paper's Stage 2
    numbers come from another genome and model: read the comparison as a sanity check, not a test.
    """
    rows = []
    for stage, name, members, paper in PAPER_REFERENCE:
        tracks = tracks_by_stage.get(stage, [])
        if not tracks:
            continue
        mask_bits = np.uint16(sum(1 << classes.index(c) for c in members if c in classes))
        n = b = 0
        for t in tracks:
            m = (t.bits & mask_bits) != 0 if members else np.ones(t.n, bool)
            n += int(m.sum())
            b += int((m & t.is_boundary).sum())
        rate = b / n if n else np.nan
        lo, hi = wilson_interval(b, n)
        rows.append({"stage": stage, "stage_label": stage_label(stage), "quantity": name,
                     "classes": "+".join(members) or "all", "n_positions": n, "rate": rate, "rate_lo": float(lo),
                     "rate_hi": float(hi), "paper_rate": paper})
    return pd.DataFrame(rows)


def strand_groups(tracks: list[PassTrack]) -> list[str]:
    """The strand groups to report: each pass present, and "both" only when both passes are there."""
    present = [s for s in STRANDS if any(t.strand == s for t in tracks)]
    return present + ([POOLED] if len(present) == 2 else [])


def _note(problems: list[str], msg: str) -> None:
    if msg not in problems:
        problems.append(msg)


# ------------------------------------------------------------------------------------------------ CLI


def load_annotations(genome_path, companion_path=None, problems: list[str] | None = None) -> tuple[dict, dict]:
    """Annotate every record of a genome file (plus an optional promoter/TSS table).

    Returns ({record_id: RecordAnnotation}, {record_id: SeqRecord}); what was skipped goes to `problems`.
    """
    from dnahnet.genome_io import read_genome
    from interpret.annotations import annotate

    problems = problems if problems is not None else []
    gf = read_genome(genome_path)
    problems.extend(gf.problems)
    companion = None
    if companion_path:
        from interpret.companion import as_table, match_records, read_companion

        comp = read_companion(companion_path)
        problems.extend(f"companion: {p}" for p in comp.problems + match_records(comp, gf.records)[2])
        companion = as_table(comp)
    out = {}
    for rec in gf.records:
        ann = annotate(rec, companion=companion)
        problems.extend(f"{rec.id}: {p}" for p in ann.problems)
        out[rec.id] = ann
    return out, {r.id: r for r in gf.records}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m interpret.stats",
                                description="Boundary statistics of a dnaHNet trace against a genome's annotation.")
    p.add_argument("trace", help="trace .npz written by dnahnet.infer")
    p.add_argument("genome", help="the genome the trace was computed on (GenBank, or FASTA with --gff)")
    p.add_argument("--companion", help="promoter/TSS table (CSV/TSV/BED/GFF3, RegulonDB)")
    p.add_argument("--out", required=True, help="directory for the CSV tables")
    p.add_argument("--n-null", type=int, default=1000, help="null draws (circular shifts and length permutations)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baselines", action="store_true", help="skip the baseline chunkers")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from interpret.analysis import analyze_boundaries

    trace = Trace.load(args.trace)
    problems: list[str] = []
    annotations, records = load_annotations(args.genome, args.companion, problems)
    trace.record_non_acgt({rid: rec.seq for rid, rec in records.items()})  # traces of format 1 do not carry them
    bar = tqdm(total=100, unit="%", desc="statistics")

    def progress(frac, msg):
        bar.set_postfix_str(msg[:40])
        bar.update(int(frac * 100) - bar.n)

    report = analyze_boundaries(trace, annotations, n_null=args.n_null, seed=args.seed, progress=progress,
                                baselines=not args.no_baselines)
    bar.close()
    report.problems[:0] = problems
    paths = report.to_csv_dir(args.out)
    print(f"masked: {report.settings.get('masked_nt', 0):,} positions (non-ACGT runs and "
          f"{report.settings.get('mask_flank_nt')} nt each side) left out of every statistic")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.max_rows", 200)
    for name, text in report.summary_text().items():
        print(f"\n== {name} ==\n{text}")
    if report.problems:
        print("\nproblems:\n" + "\n".join(f"- {x}" for x in report.problems))
    print(f"\n{len(paths)} tables written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
