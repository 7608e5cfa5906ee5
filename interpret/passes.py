"""The vocabulary every boundary statistic shares: strands, pass tracks, reading order, the mask, class codes.

The unit of every statistic is a *pass track*: one record read in one direction at one stage, laid out as a
0/1 boundary indicator over the positions where that stage's router ran (its input), in reading order.
For stage 0 the input is every nucleotide; for stage 1 it is the stage-0 chunk starts, so a stage-1 rate is
"the fraction of Stage-1 chunks that also start a Stage-2 chunk" (the paper's convention: Stage 2 global ≈ 50%).
`as_nucleotide_trace` gives the per-nucleotide view of a stage instead (used for baselines and profiles).
Statistics of pass "+" use the "+" annotation; of pass "-" the "-" annotation.
Masked positions (runs of non-ACGT bases and `dnahnet.trace.MASK_FLANK` nt each side, `StrandPass.masked`) are
left out of every pass track, so of every rate, denominator and null; `analysed_positions` and `chunks_clear_of_mask`
are the helpers the other modules use for the same rule, and `masking_notes` says how many positions it took.
Here, not in a statistics module, so that stats, nulls, profiles, baselines, vocabulary and logos share it
without importing one another.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret.style import stage_label

STRANDS = ("+", "-")
POOLED = "both"  # strand label of rows pooled over both passes


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


def analysed_region(sp: StrandPass) -> tuple[int, int]:
    """(start, end) forward coordinates the pass analysed (the whole record when it has no region)."""
    return tuple(sp.region) if sp.region is not None else (0, sp.length)


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


def strand_groups(tracks: list[PassTrack]) -> list[str]:
    """The strand groups to report: each pass present, and "both" only when both passes are there."""
    present = [s for s in STRANDS if any(t.strand == s for t in tracks)]
    return present + ([POOLED] if len(present) == 2 else [])


def class_codes(bits: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Compress a bitfield to codes: (codes (n,) int32 into K distinct values, member (K, n_classes) int64 0/1)."""
    bits = np.asarray(bits, dtype=np.uint16)
    present = np.flatnonzero(np.bincount(bits, minlength=1 << 16))
    lut = np.zeros(1 << 16, dtype=np.int32)
    lut[present] = np.arange(present.size, dtype=np.int32)
    member = (present[:, None] >> np.arange(n_classes)[None, :]) & 1  # (K, C)
    return lut[bits], member.astype(np.int64)


def _note(problems: list[str], msg: str) -> None:
    if msg not in problems:
        problems.append(msg)
