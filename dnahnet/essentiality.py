"""Gene essentiality, zero-shot: how much less likely the model finds each CDS with a premature stop cassette.

The protocol of Evo and dnaHNet: codons 5-9 of a CDS are replaced by `CASSETTE` (TAA TAA TAA TAG TGA: five
stop codons in the gene's frame; TGA reads Trp under genetic code 4, which leaves four) and the cassette is scored
like any variant (`dnahnet.scoring`): the log-likelihood ratio mutant vs wild type over a window centred on the
cassette, by default read in the gene's direction only ("sense"). A gene whose disruption the model finds more
unlikely (more negative ΔLL) is predicted more essential, so the essentiality score is -ΔLL. With a table of known
essential genes (matched to CDSs by locus tag, then gene name and synonyms) the score is evaluated by AUROC with a
bootstrap 95% interval, beside two baselines computed on the same genes the same way: gene length and GC content.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dnahnet.variants import Cds, Edit, Genome, ResolvedVariant, nt_change

CASSETTE = "TAATAATAATAGTGA"
FIRST_CODON = 5  # the cassette covers codons 5-9 (1 = the first codon)
ID_KEYS = ("locus_tag", "old_locus_tag", "gene", "gene_synonym", "protein_id")  # label matching, in this order
ID_COLUMNS = ("locus_tag", "b_number", "bnumber", "gene", "gene_name", "name", "id")
LABEL_COLUMNS = ("essential", "essentiality", "is_essential", "label")
TRUE_WORDS = {"true", "yes", "y", "1", "1.0", "essential", "e"}
PREDICTORS = {"dnahnet": "essentiality", "gene length": "length_nt", "GC": "gc"}  # name -> table column


# ---------------------------------------------------------------------------------------------- cassette
def stop_cassette(genome: Genome, cds: Cds, first_codon: int = FIRST_CODON,
                  cassette: str = CASSETTE) -> ResolvedVariant:
    """The cassette written over codons first_codon.. of `cds` (in its reading direction) as forward-strand edits
    (one per changed base; minus-strand genes get the complement, origin-crossing genes wrap); window centred on
    the cassette's middle base. ValueError when the CDS is too short or the span holds an unknown base."""
    i0, n = 3 * (first_codon - 1), len(cassette)
    if len(cds.coords) < i0 + n:
        raise ValueError(f"{cds.label}: {cds.n_codons} codons, too short for a cassette over codons "
                         f"{first_codon}-{first_codon + n // 3 - 1}")
    wt = cds.seq[i0:i0 + n]
    if "N" in wt or not set(wt) <= set("ACGT"):
        raise ValueError(f"{cds.label}: codons {first_codon}-{first_codon + n // 3 - 1} hold an unknown base")
    comp = str.maketrans("ACGT", "TGCA")
    edits = []
    for j, (w, c) in enumerate(zip(wt, cassette)):
        if w != c:
            ref, alt = (w, c) if cds.strand > 0 else (w.translate(comp), c.translate(comp))
            edits.append(Edit(int(cds.coords[i0 + j]), ref, alt))
    edits = tuple(sorted(edits, key=lambda e: e.pos))
    L = genome.length(cds.record)
    info = {"gene": cds.label, "residue": first_codon, "nt_change": nt_change(edits, L)}
    return ResolvedVariant(f"{cds.name}:stop{first_codon}-{first_codon + n // 3 - 1}", "cassette", cds.record,
                           edits, int(cds.coords[i0 + n // 2]), "+" if cds.strand > 0 else "-", "", info)


# ---------------------------------------------------------------------------------------------- labels
def read_labels(path, id_column: str | None = None, label_column: str | None = None) -> pd.Series:
    """A table of essential genes (CSV/TSV, gzip ok) -> bool Series indexed by gene id (first of its rows kept).
    Columns are found by name (ID_COLUMNS, LABEL_COLUMNS) unless given; a label counts as essential when it reads
    true/yes/1/essential, anything else (blank included: the shared E. coli table marks essential genes only)
    as not essential."""
    df = pd.read_csv(path, sep=None, engine="python", dtype=str)
    cols = {c.lower().strip(): c for c in df.columns}

    def pick(given, names, what):
        if given is not None:
            if given not in df.columns:
                raise ValueError(f"{path}: no column {given!r} (columns: {', '.join(df.columns)})")
            return given
        for n in names:
            if n in cols:
                return cols[n]
        raise ValueError(f"{path}: no {what} column (looked for {', '.join(names)}; columns: "
                         f"{', '.join(df.columns)})")

    id_col, label_col = pick(id_column, ID_COLUMNS, "gene id"), pick(label_column, LABEL_COLUMNS, "label")
    ids = df[id_col].fillna("").str.strip()
    labels = df[label_col].fillna("").str.strip().str.lower().isin(TRUE_WORDS)
    keep = (ids != "") & ~ids.duplicated()
    return pd.Series(labels[keep].to_numpy(), index=ids[keep].to_numpy(), name="essential")


@dataclass
class LabelMatch:
    """Label ids matched to CDSs (index into `Genome.cds_list`): each id by the first of ID_KEYS under which it
    names a CDS (ignoring case). Several CDSs of one locus tag (alternative starts, e.g. E. coli infB, dnaX) take
    the longest; ids naming none are unmatched, ids naming CDSs of several locus tags ambiguous."""

    label_of: dict  # cds index -> bool
    id_of: dict  # cds index -> the label id
    unmatched: list = field(default_factory=list)
    ambiguous: list = field(default_factory=list)
    n_ids: int = 0

    def counts(self, scored: set | None = None) -> dict:
        out = {"label_ids": self.n_ids, "matched": len(self.label_of), "unmatched": len(self.unmatched),
               "ambiguous": len(self.ambiguous)}
        if scored is not None:
            out["matched_and_scored"] = len(set(self.label_of) & scored)
        return out


def match_labels(genome: Genome, labels: pd.Series) -> LabelMatch:
    """Match label ids (a bool Series as `read_labels` returns) to the genome's CDSs; see LabelMatch."""
    index = {k: {} for k in ID_KEYS}
    for n, (_, f) in enumerate(genome.cds_list):
        for k in ID_KEYS:
            for item in f.qualifiers.get(k, []):
                for v in str(item).split(";"):
                    if v.strip():
                        index[k].setdefault(v.strip().lower(), set()).add(n)
    out = LabelMatch({}, {}, n_ids=len(labels))
    for label_id, essential in labels.items():
        key = str(label_id).lower()
        hits = next((index[k][key] for k in ID_KEYS if key in index[k]), set())
        tags = {str(genome.cds_list[n][1].qualifiers.get("locus_tag", [n])[0]) for n in hits}
        if len(tags) == 1:
            n = max(sorted(hits), key=lambda h: len(genome.cds_list[h][1].location))
            if n not in out.label_of:
                out.label_of[n], out.id_of[n] = bool(essential), str(label_id)
        elif hits:
            out.ambiguous.append(str(label_id))
        else:
            out.unmatched.append(str(label_id))
    return out


# ---------------------------------------------------------------------------------------------- AUROC
def auroc(scores, labels) -> float:
    """Area under the ROC curve of `scores` (higher = essential) for bool `labels`: the probability that a random
    positive outscores a random negative, ties counting one half (Mann-Whitney U from average ranks). NaN when
    either class is empty."""
    from scipy.stats import rankdata

    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_points(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1); tied scores
    move in one diagonal step, so the trapezoid area under the points equals `auroc`."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the last row of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def evaluate(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, predictors: dict | None = None) -> pd.DataFrame:
    """AUROC of each predictor (name -> column of `table`, higher = essential) on the rows with a label and every
    predictor finite, with a percentile 95% interval from `n_boot` bootstrap resamples of those genes (the same
    resamples for every predictor, so intervals compare)."""
    from scipy.stats import rankdata

    predictors = predictors or PREDICTORS
    cols = list(predictors.values())
    ok = table["label"].notna() & np.isfinite(table[cols].to_numpy(float)).all(axis=1)
    sub = table[ok]
    y = sub["label"].to_numpy(bool)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sub), size=(n_boot, len(sub))) if len(sub) else np.zeros((0, 0), int)
    yb = y[idx]
    n_pos = yb.sum(axis=1)
    n_neg = yb.shape[1] - n_pos
    valid = (n_pos > 0) & (n_neg > 0)
    rows = []
    for name, col in predictors.items():
        s = sub[col].to_numpy(float)
        lo = hi = float("nan")
        if valid.any():
            ranks = rankdata(s[idx[valid]], axis=1)
            p, q = n_pos[valid], n_neg[valid]
            boots = ((ranks * yb[valid]).sum(axis=1) - p * (p + 1) / 2) / (p * q)
            lo, hi = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
        rows.append({"predictor": name, "column": col, "auroc": auroc(s, y), "ci_low": lo, "ci_high": hi,
                     "n_genes": len(sub), "n_essential": int(y.sum()), "n_boot": int(valid.sum())})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- genome-wide
@dataclass
class Essentiality:
    """The per-CDS table (one row per CDS scored or skipped), the AUROC summary and label matching (with labels),
    and the options that produced them."""

    table: pd.DataFrame
    summary: pd.DataFrame | None
    matching: LabelMatch | None
    options: dict


def score_essentiality(record_or_sequence, model=None, *, labels=None, window: int | None = None,
                       strand: str = "sense", genes=None, subsample: int | None = None, seed: int = 0,
                       n_boot: int = 1000, batch_size: int | None = None, circular: bool | None = None,
                       progress=None) -> Essentiality:
    """Score the stop cassette of every CDS (or of `genes`: names / locus tags; or a random `subsample` of that many
    CDSs, drawn with `seed`; with labels drawn from the labelled CDSs, up to half of them essential: AUROC does not
    depend on the classes' proportions, and a balanced sample narrows its interval most) -> Essentiality.
    labels: a path (see `read_labels`) or a bool Series indexed by gene id. strand: 'sense' (the gene's reading
    direction only, half the cost) or any `ScoreOptions.strand`.

    Table columns: cds_index, record, locus_tag, gene, strand, start, end (1-based, GenBank location), length_nt,
    gc, variant, nt_change (the cassette's forward-strand edits), window_start/window_end/window_len, score_plus,
    score_minus, delta_ll (the chosen strand's log-likelihood ratio, nats), essentiality (= -delta_ll), problem
    (why a CDS was not scored), and with labels: label_id, label."""
    from dnahnet.scoring import DEFAULT_BATCH_SIZE, DEFAULT_WINDOW, ScoreOptions, _load_model, score_resolved

    genome = Genome.from_source(record_or_sequence, circular)
    window = window or DEFAULT_WINDOW
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    matching = None
    if labels is not None:  # read and matched first: a bad table fails before the long part
        matching = match_labels(genome, labels if isinstance(labels, pd.Series) else read_labels(labels))
    picked = _pick_cds(genome, genes, subsample, seed, matching)
    report = progress or (lambda fraction, message: None)
    rows, variants = [], {}
    for n in picked:
        f = genome.cds_list[n][1]
        try:
            cds = genome._cds_at(n)
        except (ValueError, IndexError) as e:  # a location Biopython read but that cannot be laid out
            rows.append({"cds_index": n, "record": genome.ids[genome.cds_list[n][0]], "problem": f"bad CDS: {e}"})
            continue
        seq = cds.seq
        gc = sum(seq.count(b) for b in "GC") / max(sum(seq.count(b) for b in "ACGT"), 1)
        row = {"cds_index": n, "record": genome.ids[cds.record], "locus_tag": cds.locus_tag, "gene": cds.name,
               "strand": "+" if cds.strand > 0 else "-", "start": int(f.location.start) + 1,
               "end": int(f.location.end), "length_nt": len(cds.coords), "gc": gc, "problem": ""}
        try:
            variants[n] = stop_cassette(genome, cds)
        except ValueError as e:
            row["problem"] = str(e)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["cds_index", "record", "locus_tag", "gene", "strand", "start", "end",
                                        "length_nt", "gc", "problem"])

    groups = {"+": [n for n in variants if variants[n].sense == "+"],
              "-": [n for n in variants if variants[n].sense == "-"]} if strand == "sense" else {strand: list(variants)}
    model = _load_model(model)
    scored, done, total = [], 0, max(len(variants), 1)
    for pass_strand, ns in groups.items():
        if not ns:
            continue
        opts = ScoreOptions(window=window, strand=pass_strand, batch_size=batch_size)
        opts.validate()
        base, share = done / total, len(ns) / total
        part = score_resolved(genome, [variants[n] for n in ns], model, opts,
                              lambda fr, msg, b=base, s=share: report(b + fr * s, msg))
        part.insert(0, "cds_index", ns)
        scored.append(part)
        done += len(ns)
    keep = ["variant", "nt_change", "window_start", "window_end", "window_len", "score_plus", "score_minus", "score"]
    scores = pd.concat(scored)[["cds_index"] + keep] if scored else pd.DataFrame(columns=["cds_index"] + keep)
    table = table.merge(scores, on="cds_index", how="left").rename(columns={"score": "delta_ll"})
    table["essentiality"] = -table["delta_ll"].astype(float)
    table = table[[c for c in table.columns if c != "problem"] + ["problem"]]

    summary = None
    if matching is not None:
        table["label_id"] = [matching.id_of.get(n, "") for n in table["cds_index"]]
        table["label"] = pd.array([matching.label_of.get(n) for n in table["cds_index"]], dtype="boolean")
        summary = evaluate(table, n_boot, seed)
    options = {"cassette": CASSETTE, "codons": f"{FIRST_CODON}-{FIRST_CODON + len(CASSETTE) // 3 - 1}",
               "window": window, "strand": strand, "cds_total": len(genome.cds_list), "cds_picked": len(picked),
               "cds_scored": len(variants), "subsample": subsample,
               "subsample_scheme": None if not subsample else "labelled CDSs, up to half essential" if matching
               else "all CDSs", "genes": list(genes) if genes else None,
               "seed": seed, "n_boot": n_boot}
    if matching is not None:
        options["labels"] = matching.counts(set(variants))
    table.attrs["options"] = options
    report(1.0, f"{len(variants):,} CDSs scored")
    return Essentiality(table, summary, matching, options)


def _pick_cds(genome: Genome, genes, subsample: int | None, seed: int, matching: LabelMatch | None) -> list[int]:
    """Indices into genome.cds_list to score, in genome order (see `score_essentiality` for the subsample)."""
    if genes:
        picked = sorted({_cds_index(genome, g) for g in genes})
    else:
        picked = list(range(len(genome.cds_list)))
    if subsample is None:
        return picked
    rng = np.random.default_rng(seed)
    if matching is None:
        return sorted(rng.choice(picked, size=min(subsample, len(picked)), replace=False).tolist())
    pos = [n for n in picked if matching.label_of.get(n) is True]
    neg = [n for n in picked if matching.label_of.get(n) is False]
    n_pos = min(len(pos), subsample // 2)
    n_neg = min(len(neg), subsample - n_pos)
    return sorted(rng.choice(pos, size=n_pos, replace=False).tolist() + rng.choice(neg, size=n_neg,
                                                                                     replace=False).tolist())


def _cds_index(genome: Genome, name: str) -> int:
    """Index into genome.cds_list of the CDS `find_cds` gives for `name` (VariantError when none or several)."""
    cds = genome.find_cds(name)
    return next(n for n, c in genome._cds_cache.items() if c is cds)


def summary_lines(result: Essentiality) -> list[str]:
    """A few lines for a terminal or a note: what was scored how, label matching, AUROCs with intervals."""
    o = result.options
    lines = [f"stop cassette {o['cassette']} over codons {o['codons']}; window {o['window']} nt; strand "
             f"{o['strand']}; {o['cds_scored']:,} of {o['cds_total']:,} CDSs scored"
             + (f" (random subsample of {o['subsample']:,} from {o['subsample_scheme']}, seed {o['seed']})"
                if o.get("subsample") else "")]
    if result.matching is not None:
        c = o["labels"]
        lines.append(f"labels: {c['label_ids']:,} ids; {c['matched']:,} matched to a CDS "
                     f"({c['matched_and_scored']:,} scored); {c['unmatched']:,} unmatched"
                     + (f" (e.g. {', '.join(result.matching.unmatched[:5])})" if c["unmatched"] else "")
                     + f"; {c['ambiguous']:,} ambiguous")
        for _, r in result.summary.iterrows():
            lines.append(f"AUROC {r['predictor']:<12} {r['auroc']:.3f} (95% CI {r['ci_low']:.3f}-{r['ci_high']:.3f};"
                         f" {r['n_genes']:,} genes, {r['n_essential']:,} essential)")
    return lines


__all__ = ["score_essentiality", "Essentiality", "stop_cassette", "read_labels", "match_labels", "LabelMatch", "auroc",
           "roc_points", "evaluate", "PREDICTORS", "summary_lines", "CASSETTE", "FIRST_CODON"]
