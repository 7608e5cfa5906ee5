"""The model as a variant scorer: log-likelihood ratios of mutant vs reference windows, both strands, batched;
saturation mutagenesis matrices; and the response of the Stage-1/2 chunk boundaries to each mutation.

Score of a variant on one strand = log p(mutant window) - log p(reference window), natural log, summed over every
predicted position of the window as read on that strand (negative = the model finds the mutant less likely). The
window is `window` nt of the record centred on the variant (on the middle base of the codon for amino-acid changes),
shifted inward at the ends of linear records and wrapping around the origin of circular ones. The "-" strand reads
the reverse complement of the same window. The model is causal, so positions read before the first changed base
contribute exactly nothing: the fast path sums only from that base on (see `_suffix_sums`). Indels compare the same
genomic span: the mutant window is the reference window with the edit applied (so it is longer or shorter by the
indel), and the score is the difference of the two whole-window log-likelihoods, inserted bases' own terms included.

Fast path (the default): every window is a row; identical rows (the reference window shared by the three other bases
at a position, or by the 20 codons of a residue) run once. With `reuse` (the default) each reference window runs its
prefix up to the first base any of its variants changes once, alone, keeping the state of every layer there
(`dnahnet/resume.py`); the reference and every mutant then run only their continuations from that state, in batches
(mixing windows; right-padded: a causal model never reads the padding). The Mamba-2 layers continue through the
fused CPU interior with an initial state. Centred windows make the prefix about half a window, so a position's four
windows cost 2.5 instead of 4 and a residue's 21 windows 11 instead of 21. Without `reuse`, whole rows run in
batches, longest first. Naive path (`fast=False`): each variant runs its reference and mutant windows alone, one
forward each, and sums whole windows; `bench/bench_variants.py` times all three.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dnahnet.tokenizer import N_ID, encode, reverse_complement
from dnahnet.variants import (AMINO_ACIDS, BASES, Edit, Genome, ResolvedVariant, VariantError, as_specs,
                              codon_variant, nt_change, resolve, wild_type_aa)

DEFAULT_WINDOW = 1024  # the bundled checkpoint was trained on 1,025-nt windows
DEFAULT_BATCH_SIZE = 16  # windows per forward; 8-32 run at about the same speed on a CPU
STRAND_MEANING = {  # strand policy -> what fills the `score` column, in words (CLI help, app captions, STRAND_POLICY)
    "mean": "the mean of the two strands' log-likelihood ratios",
    "sense": "the log-likelihood ratio read in the gene's direction (amino-acid changes; '+' for nucleotide changes)",
    "antisense": "the log-likelihood ratio read against the gene's direction ('-' for nucleotide changes)",
    "+": "the + strand's log-likelihood ratio",
    "-": "the - strand's log-likelihood ratio",
}
STRAND_CHOICES = tuple(STRAND_MEANING)
# The default policy, the one place it is set (ScoreOptions, score_variants, the CLI and the app follow it);
# bench/bench_strand_choice.py measures which policy agrees best with known effects (docs/BENCHMARKS.md).
DEFAULT_STRAND = "mean"
STRAND_POLICY = (f"score = {STRAND_MEANING[DEFAULT_STRAND]} (default '{DEFAULT_STRAND}'; "
                 + "; ".join(f"'{k}' = {v}" for k, v in STRAND_MEANING.items() if k != DEFAULT_STRAND) + ")")


@dataclass
class ScoreOptions:
    """How variants are scored. `strand` picks what fills the `score` column; both strands are computed unless it
    is '+' or '-'. `boundaries` adds the Stage-1/2 boundary response; `errors='report'` keeps bad variants as rows."""

    window: int = DEFAULT_WINDOW
    strand: str = DEFAULT_STRAND
    batch_size: int = DEFAULT_BATCH_SIZE
    fast: bool = True
    boundaries: bool = False
    errors: str = "raise"  # raise | report
    reuse: bool = True  # fast path: run each shared prefix once and continue from its state

    def validate(self):
        if self.window < 2:
            raise ValueError(f"window must be at least 2 nt, got {self.window}")
        if self.strand not in STRAND_CHOICES:
            raise ValueError(f"strand must be one of {STRAND_CHOICES}, not {self.strand!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.errors not in ("raise", "report"):
            raise ValueError(f"errors must be 'raise' or 'report', not {self.errors!r}")

    @property
    def passes(self) -> tuple[str, ...]:
        return (self.strand,) if self.strand in ("+", "-") else ("+", "-")


# ---------------------------------------------------------------------------------------------- windows
@dataclass
class _Job:
    """One variant read on one strand: which rows hold its reference and mutant windows, and where it starts."""

    variant: int
    strand: str
    ref_row: int
    mut_row: int
    k: int  # first window position (in reading order) where the mutant can differ
    start: int  # window start on the forward strand (unwrapped)
    length: int  # reference window length


def _window(genome: Genome, v: ResolvedVariant, window: int) -> tuple[int, int]:
    """(unwrapped forward start, length) of the window centred on v.anchor."""
    L = genome.length(v.record)
    w = min(window, L)
    a = v.anchor - w // 2
    if not genome.circular[v.record]:
        a = min(max(a, 0), L - w)
    return a, w


def _apply(genome: Genome, v: ResolvedVariant, a: int, w: int):
    """Reference window, mutant window (forward strand token ids) and the changed span [j0, j1) in the reference
    window. Also returns the edits' window offsets for coordinate maps."""
    L = genome.length(v.record)
    idx = (a + np.arange(w)) % L
    ref = genome.tokens[v.record][idx]
    placed = []
    for e in v.edits:
        j = (e.pos - a) % L
        if j + len(e.ref) > w or (not e.ref and j > w):
            raise VariantError(f"{v.source + ': ' if v.source else ''}{v.text}: the change does not fit in a "
                               f"{w}-nt window; use a larger window")
        placed.append((j, e))
    placed.sort(key=lambda t: t[0])
    pieces, cur = [], 0
    for j, e in placed:
        if j < cur:
            raise VariantError(f"{v.text}: overlapping edits")
        pieces += [ref[cur:j], encode(e.alt) if e.alt else np.zeros(0, np.uint8)]
        cur = j + len(e.ref)
    pieces.append(ref[cur:])
    mut = np.concatenate(pieces).astype(np.uint8)
    j0 = placed[0][0] if placed else 0
    j1 = max((j + len(e.ref) for j, e in placed), default=0)
    return ref, mut, j0, j1, placed


def _coords(genome: Genome, v: ResolvedVariant, a: int, w: int, placed, mutant: bool) -> np.ndarray:
    """Forward 0-based record coordinate of each base of the (reference or mutant) forward window. Inserted bases
    take the coordinate of the base they replace or precede."""
    L = genome.length(v.record)
    idx = (a + np.arange(w)) % L
    if not mutant:
        return idx
    pieces, cur = [], 0
    for j, e in placed:
        pieces.append(idx[cur:j])
        n_ref = len(e.ref)
        pieces.append(np.array([(e.pos + min(i, max(n_ref - 1, 0))) % L for i in range(len(e.alt))], np.int64))
        cur = j + n_ref
    pieces.append(idx[cur:])
    return np.concatenate(pieces).astype(np.int64)


class _Rows:
    """Windows to run, deduplicated by content (unless `dedupe` is off), with the suffix sums each one owes."""

    def __init__(self, dedupe: bool):
        self.dedupe = dedupe
        self.tokens: list[np.ndarray] = []
        self._ids: dict[bytes, int] = {}
        self.wanted: dict[int, set] = defaultdict(set)  # row -> the k whose suffix sum is needed

    def add(self, tokens: np.ndarray, k: int) -> int:
        key = tokens.tobytes()
        row = self._ids.get(key) if self.dedupe else None
        if row is None:
            row = len(self.tokens)
            self.tokens.append(tokens)
            if self.dedupe:
                self._ids[key] = row
        self.wanted[row].add(k)
        return row


# ---------------------------------------------------------------------------------------------- forward
def _suffix_sums(lp: np.ndarray, ks) -> dict[int, float]:
    """lp (n-1,) log-probabilities (lp[t-1] = log p(x_t | x_<t)) -> {k: sum over t >= max(k, 1)} in float64."""
    tail = np.cumsum(lp[::-1].astype(np.float64))[::-1]  # tail[i] = sum lp[i:]
    out = {}
    for k in ks:
        i = max(k, 1) - 1
        out[k] = float(tail[i]) if i < len(tail) else 0.0
    return out


def _run_rows(model, rows: _Rows, batch_size: int, routing: bool, on_batch=None):
    """Run every row; returns ({row: {k: suffix sum}}, {row: [boundary positions per stage]} or None)."""
    device = next(model.parameters()).device
    order = sorted(range(len(rows.tokens)), key=lambda r: -len(rows.tokens[r]))
    sums, bounds = {}, {} if routing else None
    done = 0
    for b0 in range(0, len(order), batch_size):
        batch = order[b0:b0 + batch_size]
        n_max = len(rows.tokens[batch[0]])
        x = np.full((len(batch), n_max), N_ID, np.int64)
        for i, r in enumerate(batch):
            x[i, :len(rows.tokens[r])] = rows.tokens[r]  # right padding: a causal model never reads it
        xt = torch.from_numpy(x).to(device)
        out = model(xt, return_routing=routing)
        logp = torch.log_softmax(out.logits.float(), dim=-1)  # (B, n, V)
        lp = logp[:, :-1].gather(-1, xt[:, 1:, None])[..., 0].cpu().numpy()  # (B, n-1)
        stages = [(s.positions.cpu().numpy(), s.b.cpu().numpy()) for s in out.routing] if routing else []
        for i, r in enumerate(batch):
            n = len(rows.tokens[r])
            sums[r] = _suffix_sums(lp[i, :n - 1], rows.wanted[r])
            if routing:
                bounds[r] = [pos[i][(b[i]) & (pos[i] < n)] for pos, b in stages]
        done += len(batch)
        if on_batch is not None:
            on_batch(done, len(order))
    return sums, bounds


def _run_resumed(model, rows: _Rows, jobs: list, batch_size: int, routing: bool, on_batch=None):
    """`_run_rows` reusing prefixes: each reference row runs its first k tokens once (k = the earliest first changed
    base of its jobs) and keeps the state there; the reference and its mutants run from position k on, in batches.
    Returns ({(ref_row, row): {k: suffix sum}}, {(ref_row, row): [boundary positions per stage]} or None)."""
    from dnahnet.resume import fresh_state, resume, stack_states

    device = next(model.parameters()).device
    start, wanted = {}, defaultdict(lambda: defaultdict(set))  # ref_row -> k; ref_row -> row -> the k wanted
    for job in jobs:
        start[job.ref_row] = min(job.k, start.get(job.ref_row, job.k))
        wanted[job.ref_row][job.ref_row].add(job.k)
        wanted[job.ref_row][job.mut_row].add(job.k)
    items = [(f, r) for f in wanted for r in sorted(wanted[f])]  # (family = its reference row, row)
    left = {f: len(wanted[f]) for f in wanted}
    states, first_lp = {}, {}  # family -> state after its prefix, log-probabilities of the token at k
    sums, bounds = {}, {} if routing else None
    for b0 in range(0, len(items), batch_size):
        batch = items[b0:b0 + batch_size]
        for f, _ in batch:
            if f in states:
                continue
            k = start[f]
            if k == 0:
                states[f], first_lp[f] = fresh_state(model, 1), None
                continue
            prefix = torch.from_numpy(rows.tokens[f][:k].astype(np.int64))[None].to(device)  # (1, k)
            logits, _, states[f] = resume(model, prefix, keep_state=True)
            first_lp[f] = torch.log_softmax(logits[0, -1].float(), dim=-1).cpu().numpy()  # predicts token k
        run = [(f, r) for f, r in batch if len(rows.tokens[r]) > start[f]]
        if run:
            n_max = max(len(rows.tokens[r]) - start[f] for f, r in run)
            x = np.full((len(run), n_max), N_ID, np.int64)
            for i, (f, r) in enumerate(run):
                x[i, :len(rows.tokens[r]) - start[f]] = rows.tokens[r][start[f]:]  # right padding
            xt = torch.from_numpy(x).to(device)
            offsets = torch.tensor([start[f] for f, _ in run], device=device)
            logits, stages, _ = resume(model, xt, stack_states([states[f] for f, _ in run]), offset=offsets)
            logp = torch.log_softmax(logits.float(), dim=-1)  # (B, n, V)
            lp = logp[:, :-1].gather(-1, xt[:, 1:, None])[..., 0].cpu().numpy()  # (B, n-1)
            stages = [(pos.cpu().numpy(), b.cpu().numpy()) for pos, b in stages] if routing else []
        for f, r in batch:
            k, n = start[f], len(rows.tokens[r])
            i = next((j for j, fr in enumerate(run) if fr == (f, r)), None)
            # terms log p(x_t | x_<t) for t >= max(k, 1): the prefix's last logits predict t = k
            terms = [np.asarray([first_lp[f][rows.tokens[r][k]]] if k >= 1 and n > k else [], np.float32)]
            if i is not None:
                terms.append(lp[i, :n - k - 1])
            base = max(k, 1) - 1  # _suffix_sums counts its terms from t = 1; these start at t = max(k, 1)
            shifted = _suffix_sums(np.concatenate(terms), [kk - base for kk in wanted[f][r]])
            sums[(f, r)] = {kk: shifted[kk - base] for kk in wanted[f][r]}
            if routing:
                bounds[(f, r)] = ([pos[i][b[i] & (pos[i] >= 0) & (pos[i] < n)] for pos, b in stages]
                                  if i is not None else [np.zeros(0, np.int64) for _ in model.routed_stages()])
            left[f] -= 1
            if left[f] == 0:
                states.pop(f)
        if on_batch is not None:
            on_batch(min(b0 + batch_size, len(items)), len(items))
    return sums, bounds


def _load_model(model):
    if model is None or isinstance(model, (str, Path)):
        from dnahnet.checkpoint import load, resolve as resolve_checkpoint

        return load(resolve_checkpoint(model))
    return model


# ---------------------------------------------------------------------------------------------- scoring
def score_variants(record_or_sequence, variants, model=None, *, window: int = DEFAULT_WINDOW,
                   strand: str = DEFAULT_STRAND, batch_size: int = DEFAULT_BATCH_SIZE, fast: bool = True,
                   boundaries: bool = False, errors: str = "raise", circular: bool | None = None, progress=None,
                   options: ScoreOptions | None = None, reuse: bool = True) -> pd.DataFrame:
    """Score variants -> DataFrame, one row per variant (in input order).

    record_or_sequence: path, DNA string, SeqRecord(s), GenomeFile or `variants.Genome`. variants: strings in the
    notation of `dnahnet.variants` ('1234A>G', '1234_1235insTT', 'bla:H26Y', ...), a path to a VCF or a list file,
    or `VariantSpec`/`ResolvedVariant`s. Columns: variant, kind, record, nt_change (the forward-strand change actually
    scored, 1-based), pos, gene/residue/aa_ref/aa_alt/codon_ref/codon_alt/codon_changes (amino-acid changes), sense,
    window_start/window_end (1-based inclusive forward coordinates; start > end wraps the origin), window_len,
    score_plus, score_minus, score_mean, score (nats; see STRAND_POLICY), with `boundaries` the Stage-s boundaries
    gained/lost (counts and 1-based positions, per strand), with errors='report' a `problem` column. reuse (fast
    path): run each window's shared prefix once and continue from its state (module docstring).
    """
    opts = options or ScoreOptions(window, strand, batch_size, fast, boundaries, errors, reuse)
    opts.validate()
    genome = Genome.from_source(record_or_sequence, circular)
    specs = as_specs(variants, opts.errors)
    resolved, problems = [], []
    for spec in specs:
        try:
            if isinstance(spec, VariantError):
                raise spec
            resolved.append(spec if isinstance(spec, ResolvedVariant) else resolve(spec, genome))
            problems.append("")
        except VariantError as e:
            if opts.errors == "raise":
                raise
            resolved.append(None)
            problems.append(str(e))
    return score_resolved(genome, resolved, _load_model(model), opts, progress, problems=problems,
                          texts=[getattr(s, "text", "") or str(s) for s in specs])


def score_resolved(genome: Genome, resolved: list, model, opts: ScoreOptions, progress=None, problems=None,
                   texts=None) -> pd.DataFrame:
    """Score already resolved variants -> the table of `score_variants`. None entries (variants that could not be
    resolved: `problems` says why, `texts` what they were) give rows of NaN."""
    resolved = list(resolved)
    problems = list(problems) if problems is not None else [""] * len(resolved)
    report = progress or (lambda fraction, message: None)
    t0 = time.perf_counter()
    rows = _Rows(dedupe=opts.fast)
    jobs: list[_Job] = []
    placed_of, windows = {}, {}
    for vi, v in enumerate(resolved):
        if v is None:
            continue
        a, w = _window(genome, v, opts.window)
        try:
            ref, mut, j0, j1, placed = _apply(genome, v, a, w)
        except VariantError as e:
            if opts.errors == "raise":
                raise
            resolved[vi], problems[vi] = None, str(e)
            continue
        placed_of[vi], windows[vi] = placed, (a, w)
        for strand in opts.passes:
            if strand == "+":
                r_tok, m_tok, k = ref, mut, j0
            else:
                r_tok, m_tok, k = reverse_complement(ref), reverse_complement(mut), w - j1
            if not opts.fast:
                k = 0  # whole windows, as scoring from scratch would
            jobs.append(_Job(vi, strand, rows.add(r_tok, k), rows.add(m_tok, k), k, a, w))

    was_training = model.training
    model.eval()
    n_rows = len(rows.tokens)
    try:
        def on_batch(done, total):
            report(done / max(total, 1), f"{done:,}/{total:,} windows")

        with torch.inference_mode():
            if opts.fast and opts.reuse:
                sums, bounds = _run_resumed(model, rows, jobs, opts.batch_size, opts.boundaries, on_batch)
            else:
                by_row, row_bounds = _run_rows(model, rows, opts.batch_size if opts.fast else 1, opts.boundaries,
                                               on_batch)
                pairs = {(job.ref_row, r) for job in jobs for r in (job.ref_row, job.mut_row)}
                sums = {(f, r): by_row[r] for f, r in pairs}
                bounds = {(f, r): row_bounds[r] for f, r in pairs} if opts.boundaries else None
    finally:
        model.train(was_training)

    out = [_base_columns(genome, v, windows.get(i), texts[i] if texts else "") for i, v in enumerate(resolved)]
    n_stages = None
    for job in jobs:
        row = out[job.variant]
        col = "plus" if job.strand == "+" else "minus"
        row[f"score_{col}"] = sums[(job.ref_row, job.mut_row)][job.k] - sums[(job.ref_row, job.ref_row)][job.k]
        if opts.boundaries:
            v = resolved[job.variant]
            changes = _boundary_changes(genome, v, job, placed_of[job.variant], bounds)
            n_stages = len(changes)
            for s, (gained, lost) in enumerate(changes, start=1):
                row[f"s{s}_gained_{col}"], row[f"s{s}_lost_{col}"] = len(gained), len(lost)
                row[f"s{s}_gained_pos_{col}"], row[f"s{s}_lost_pos_{col}"] = gained, lost
    for row in out:
        plus, minus = row.get("score_plus", np.nan), row.get("score_minus", np.nan)
        row["score_plus"], row["score_minus"] = plus, minus
        row["score_mean"] = (plus + minus) / 2
        row["score"] = _pick(opts.strand, row.get("sense", "+"), plus, minus, row["score_mean"])
    columns = list(_BASE_COLUMNS) + ["score_plus", "score_minus", "score_mean", "score"]
    if opts.boundaries and n_stages:
        columns += [f"s{s}_{what}{pos}_{col}" for s in range(1, n_stages + 1) for col in ("plus", "minus")
                    for pos in ("", "_pos") for what in ("gained", "lost")]
    df = pd.DataFrame(out).reindex(columns=columns)
    for col in ("pos", "residue", "codon_changes", "window_start", "window_end", "window_len"):
        df[col] = df[col].astype("Int64")  # integers, with <NA> where a variant was not scored
    if opts.errors == "report":
        df["problem"] = problems
    seconds = time.perf_counter() - t0
    n_ok = sum(v is not None for v in resolved)
    df.attrs["timing"] = {"seconds": round(seconds, 3), "variants_per_s": round(n_ok / max(seconds, 1e-9), 2),
                          "forward_rows": n_rows, "fast": opts.fast, "reuse": opts.fast and opts.reuse}
    df.attrs["options"] = asdict(opts)
    df.attrs["strand_policy"] = STRAND_POLICY
    report(1.0, f"{n_ok:,} variants in {seconds:.1f} s")
    return df


def _pick(strand: str, sense: str, plus: float, minus: float, mean: float) -> float:
    if strand == "mean":
        return mean
    if strand in ("+", "-"):
        return plus if strand == "+" else minus
    on_plus = (sense == "+") == (strand == "sense")
    return plus if on_plus else minus


_BASE_COLUMNS = ("variant", "kind", "record", "nt_change", "pos", "gene", "residue", "aa_ref", "aa_alt", "codon_ref",
                 "codon_alt", "codon_changes", "sense", "window_start", "window_end", "window_len")


def _base_columns(genome: Genome, v: ResolvedVariant | None, win, text: str = "") -> dict:
    if v is None:
        return {"variant": text, "kind": "", "record": "", "nt_change": "", "pos": np.nan}
    L = genome.length(v.record)
    info = v.info
    row = {"variant": v.text, "kind": v.kind, "record": genome.ids[v.record],
           "nt_change": info.get("nt_change", nt_change(v.edits, L)),
           "pos": v.edits[0].pos + 1 if v.edits else np.nan}
    for key in ("gene", "residue", "aa_ref", "aa_alt", "codon_ref", "codon_alt", "codon_changes"):
        row[key] = info.get(key, None)
    row["sense"] = v.sense
    if win is not None:
        a, w = win
        row["window_start"], row["window_end"], row["window_len"] = a % L + 1, (a + w - 1) % L + 1, w
    return row


def _boundary_changes(genome: Genome, v: ResolvedVariant, job: _Job, placed, bounds) -> list[tuple[tuple, tuple]]:
    """Per stage: (gained, lost) boundary positions (1-based forward coordinates) at or after the change as read on
    this job's strand. Positions before the change cannot move (the model is causal) and are not compared."""
    a, w = job.start, job.length
    ref_c = _coords(genome, v, a, w, placed, mutant=False)
    mut_c = _coords(genome, v, a, w, placed, mutant=True)
    if job.strand == "-":
        ref_c, mut_c = ref_c[::-1], mut_c[::-1]
    out = []
    for b_ref, b_mut in zip(bounds[(job.ref_row, job.ref_row)], bounds[(job.ref_row, job.mut_row)]):
        ref_set = {int(ref_c[j]) for j in b_ref if j >= job.k}
        mut_set = {int(mut_c[j]) for j in b_mut if j >= job.k}
        out.append((tuple(p + 1 for p in sorted(mut_set - ref_set)), tuple(p + 1 for p in sorted(ref_set - mut_set))))
    return out


def table_for_csv(df: pd.DataFrame) -> pd.DataFrame:
    """The table with tuple columns (boundary positions) as ';'-joined text, for CSV."""
    df = df.copy()
    for col in df.columns:
        if col.endswith(("_pos_plus", "_pos_minus")):
            df[col] = [";".join(map(str, v)) if isinstance(v, tuple) else "" for v in df[col]]
    return df


# ---------------------------------------------------------------------------------------------- saturation
@dataclass
class Saturation:
    """Saturation mutagenesis: one scored variant per cell of a (rows x columns) grid.

    kind "region": rows = positions (1-based), columns = A C G T (the reference base's cell scores 0);
    kind "cds": rows = residues (1 = first codon), columns = 20 amino acids + '*' (the wild type's cell scores 0).
    """

    kind: str
    record: str
    rows: list  # 1-based positions or residue numbers
    row_labels: list  # reference base or wild-type amino acid per row
    columns: list
    table: pd.DataFrame  # one row per cell (columns `row`, `col` index the grid) with every score_variants column
    gene: str | None = None

    def matrix(self, column: str = "score") -> np.ndarray:
        """(n_rows, n_columns) of one table column (default the score)."""
        m = np.full((len(self.rows), len(self.columns)), np.nan)
        m[self.table["row"].to_numpy(), self.table["col"].to_numpy()] = self.table[column].to_numpy(float)
        return m

    def frame(self, column: str = "score") -> pd.DataFrame:
        """The matrix as a DataFrame indexed by position / residue (with its reference label)."""
        index = pd.MultiIndex.from_arrays([self.rows, self.row_labels],
                                          names=["pos" if self.kind == "region" else "residue",
                                                 "ref" if self.kind == "region" else "aa_ref"])
        return pd.DataFrame(self.matrix(column), index=index, columns=self.columns)


def saturate(record_or_sequence, target, model=None, *, record: str | None = None, progress=None,
             circular: bool | None = None, **options) -> Saturation:
    """Every single change of a region or a CDS. target: (start, end) 0-based half-open forward coordinates (as
    `dnahnet.analyze`'s region; `record` names the record when there are several) -> every position x the 3 other
    bases; or a gene name / locus tag -> every codon x 20 amino acids + stop (nearest codon, see
    `variants.choose_codon`). options: those of `score_variants` (window, strand, batch_size, fast, boundaries,
    reuse)."""
    opts = ScoreOptions(**options)
    opts.validate()
    genome = Genome.from_source(record_or_sequence, circular)
    cells, rows, labels = [], [], []
    if isinstance(target, str):
        cds = genome.find_cds(target)
        kind, columns, rec_i, gene = "cds", list(AMINO_ACIDS), cds.record, cds.label
        for res in range(1, cds.n_codons + 1):
            rows.append(res)
            labels.append(wild_type_aa(cds.codon(res)[0], cds.table, res == 1))
            for c, aa in enumerate(columns):
                cells.append((len(rows) - 1, c, codon_variant(genome, cds, res, aa)))
    else:
        start, end = (int(x) for x in target)
        rec_i = genome.record_index(record)
        L = genome.length(rec_i)
        if not 0 <= start < end <= L:
            raise ValueError(f"region {start}-{end} is outside {genome.ids[rec_i]} (length {L:,}); need "
                             "0 <= start < end <= length (0-based, end exclusive)")
        kind, columns, gene = "region", list(BASES), None
        seq = genome.seqs[rec_i]
        for pos in range(start, end):
            rows.append(pos + 1)
            labels.append(seq[pos])
            for c, base in enumerate(columns):
                e = Edit(pos, seq[pos], base)
                cells.append((len(rows) - 1, c, ResolvedVariant(f"{pos + 1}{seq[pos]}>{base}", "snv", rec_i, (e,),
                                                                pos, "+", "", {"nt_change": nt_change((e,), L)})))
    table = score_resolved(genome, [v for _, _, v in cells], _load_model(model), opts, progress)
    table.insert(0, "row", [r for r, _, _ in cells])
    table.insert(1, "col", [c for _, c, _ in cells])
    return Saturation(kind, genome.ids[rec_i], rows, labels, columns, table, gene)


__all__ = ["score_variants", "score_resolved", "saturate", "Saturation", "ScoreOptions", "table_for_csv",
           "DEFAULT_WINDOW", "DEFAULT_STRAND", "STRAND_CHOICES", "STRAND_MEANING", "STRAND_POLICY"]
