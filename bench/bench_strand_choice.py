"""Strand choice for variant scores (issue 13): which strand policy ('+', '-', 'sense', 'antisense', 'mean') agrees
best with effects the genetic code makes known. In N sampled CDSs (both strands, seeded) K codons each get a
synonymous, a missense and a nonsense single-base change; every variant is scored once with both strands computed
(`dnahnet.score_variants`), and each policy is read from the per-strand columns. Expected: nonsense < missense <
synonymous (a premature stop is deleterious, a synonymous change nearly neutral). Per policy: AUROC nonsense vs
synonymous and missense vs synonymous (the probability that the synonymous change scores higher), Spearman of -score
with the class (synonymous 0, missense 1, nonsense 2), each with a bootstrap 95% interval over genes; the paired
difference to the current default (`dnahnet.scoring.DEFAULT_STRAND`) on the same resamples; the time per variant.

    python bench/bench_strand_choice.py --quick        # smoke: 4 genes x 2 codons, 256-nt windows (a minute)
    python bench/bench_strand_choice.py                # E. coli K-12, 60 genes x 25 codons, 1,024-nt windows
    python bench/bench_strand_choice.py --essential    # only genes essential in the shared Keio table
    python bench/bench_strand_choice.py --genome G.gbk.gz --checkpoint checkpoints/dnahnet-v2 --out variants.csv

Cost: the three changes of a codon share one reference window per strand (centred on the codon's middle base), so
with prefix reuse a codon costs about 2 strands x (half a window of prefix + 4 half-window continuations), ~5 kb at
the default 1,024-nt window: the default 1,500 codons are ~7.7 Mb, ~6.5 min at 20k nt/s (2 quiet cores), plus a
short single-strand timing run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_variants import ECOLI  # noqa: E402
from dnahnet.essentiality import auroc  # noqa: E402
from dnahnet.scoring import DEFAULT_BATCH_SIZE, DEFAULT_STRAND, DEFAULT_WINDOW, _pick, score_variants  # noqa: E402
from dnahnet.variants import (BASES, Cds, Edit, Genome, ResolvedVariant, codon_table, nt_change,  # noqa: E402
                              translate_codon)

CLASSES = ("synonymous", "missense", "nonsense")  # ordinal effect 0 < 1 < 2
POLICIES = ("+", "-", "sense", "antisense", "mean")  # every `ScoreOptions.strand`
METRICS = {"auroc_non_syn": "AUROC nonsense vs synonymous", "auroc_mis_syn": "AUROC missense vs synonymous",
           "spearman": "Spearman(-score, class)"}
LABELS = "essentiality/Ecoli_MG1655_gene_info_supp_essential300.csv"  # under the data directory
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


# ---------------------------------------------------------------------------------------------- variants
def codon_snvs(codon: str, table: int) -> dict[str, list[tuple[int, str, str, str]]]:
    """Every single-base change of a sense codon, by class: {class: [(offset 0-2, new base, new codon, new amino
    acid)]} in reading order. ValueError for a stop codon or one with an unknown base."""
    wt = translate_codon(codon, table)
    if wt in ("*", "X"):
        raise ValueError(f"codon {codon} is not a sense codon under table {table}")
    out: dict[str, list] = {c: [] for c in CLASSES}
    for i in range(3):
        for b in BASES:
            if b != codon[i]:
                alt = codon[:i] + b + codon[i + 1:]
                aa = translate_codon(alt, table)
                out["synonymous" if aa == wt else "nonsense" if aa == "*" else "missense"].append((i, b, alt, aa))
    return out


def snv_variant(genome: Genome, cds: Cds, residue: int, offset: int, base: str) -> ResolvedVariant:
    """Base `offset` (0-2, reading order) of codon `residue` of `cds` changed to `base` (as read in the gene's
    direction), as a forward-strand edit. The window is centred on the codon's middle base, like `codon_variant`'s,
    so the three changes of one codon share their reference windows."""
    wt, coords = cds.codon(residue)
    alt = wt[:offset] + base + wt[offset + 1:]
    ref_f, alt_f = (wt[offset], base) if cds.strand > 0 else (wt[offset].translate(_COMPLEMENT),
                                                             base.translate(_COMPLEMENT))
    edit = Edit(int(coords[offset]), ref_f, alt_f)
    aa_ref, aa_alt = translate_codon(wt, cds.table), translate_codon(alt, cds.table)
    info = {"gene": cds.label, "residue": residue, "aa_ref": aa_ref, "aa_alt": aa_alt, "codon_ref": wt,
            "codon_alt": alt, "codon_changes": 1, "nt_change": nt_change((edit,), genome.length(cds.record))}
    return ResolvedVariant(f"{cds.name}:{aa_ref}{residue}{aa_alt}", "aa", cds.record, (edit,), int(coords[1]),
                           "+" if cds.strand > 0 else "-", "", info)


def position_variants(genome: Genome, cds: Cds, residue: int, rng) -> list[tuple[str, ResolvedVariant]]:
    """(class, variant) for one codon: a synonymous, a missense and a nonsense single-base change, each picked at
    random (`rng`) among the codon's changes of that class; a class the codon cannot reach is left out."""
    options = codon_snvs(cds.codon(residue)[0], cds.table)
    out = []
    for cls in CLASSES:
        if options[cls]:
            i, b, _, _ = options[cls][int(rng.integers(len(options[cls])))]
            out.append((cls, snv_variant(genome, cds, residue, i, b)))
    return out


def eligible_cds(genome: Genome) -> list[int]:
    """Indices into `genome.cds_list` of CDSs fit for the test: not pseudo, whole codons of A/C/G/T, a start codon
    first, a stop codon last and none inside (so every codon between is a sense codon); one per locus tag (the
    longest)."""
    best: dict[str, tuple[int, int]] = {}
    for n, (_, f) in enumerate(genome.cds_list):
        if "pseudo" in f.qualifiers or "pseudogene" in f.qualifiers:
            continue
        try:
            cds = genome._cds_at(n)
        except (ValueError, IndexError):
            continue
        s = cds.seq
        if len(s) % 3 or len(s) < 9 or not set(s) <= set(BASES):  # a start, a stop and a codon between
            continue
        table = codon_table(cds.table)
        codons = [s[i:i + 3] for i in range(0, len(s), 3)]
        if codons[0] not in table.start_codons or codons[-1] not in table.stop_codons \
                or any(c in table.stop_codons for c in codons[1:-1]):
            continue
        key = cds.locus_tag or f"#{n}"
        if key not in best or len(s) > best[key][1]:
            best[key] = (n, len(s))
    return sorted(n for n, _ in best.values())


def sample_variants(genome: Genome, n_genes: int, k: int, seed: int = 0, matched: bool = True,
                    only: set | None = None) -> tuple[list[ResolvedVariant], pd.DataFrame]:
    """Sample `n_genes` eligible CDSs (half on each strand where there are enough; `only`: indices into
    `genome.cds_list` to draw from) and `k` codons in each (not the start or stop codon; `matched`: only codons that
    reach all three classes, so each codon gives a matched triple) -> (variants, one row per variant: cds_index,
    gene, strand, residue, effect, label 0/1/2). Seeded: the same arguments give the same variants."""
    pool = [n for n in eligible_cds(genome) if only is None or n in only]
    rng = np.random.default_rng(seed)
    by_strand = {s: [n for n in pool if genome._cds_at(n).strand == s] for s in (1, -1)}
    n_plus = min(len(by_strand[1]), max(n_genes // 2, n_genes - len(by_strand[-1])))
    n_minus = min(len(by_strand[-1]), n_genes - n_plus)
    genes = sorted(rng.choice(by_strand[1], n_plus, replace=False).tolist()
                   + rng.choice(by_strand[-1], n_minus, replace=False).tolist()) if pool else []
    variants, rows = [], []
    for n in genes:
        cds = genome._cds_at(n)
        g_rng = np.random.default_rng([seed, n])
        residues = [r for r in range(2, cds.n_codons)
                    if not matched or all(codon_snvs(cds.codon(r)[0], cds.table).values())]
        picked = sorted(g_rng.choice(residues, min(k, len(residues)), replace=False).tolist()) if residues else []
        for r in picked:
            for cls, v in position_variants(genome, cds, r, g_rng):
                variants.append(v)
                rows.append({"cds_index": n, "gene": cds.label, "strand": "+" if cds.strand > 0 else "-",
                             "residue": r, "effect": cls, "label": CLASSES.index(cls)})
    return variants, pd.DataFrame(rows, columns=["cds_index", "gene", "strand", "residue", "effect", "label"])


# ---------------------------------------------------------------------------------------------- agreement
def policy_scores(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each policy's score per variant from the per-strand columns, by the rule that fills `score` (`_pick`)."""
    plus, minus = table["score_plus"].to_numpy(float), table["score_minus"].to_numpy(float)
    sense = table["sense"].fillna("+").to_numpy(str)
    return {p: np.array([_pick(p, s, a, b, (a + b) / 2) for s, a, b in zip(sense, plus, minus)]) for p in POLICIES}


def metrics(score: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """The agreement of one policy's scores with the classes; every metric is higher = more agreement."""
    from scipy.stats import rankdata

    out = {}
    for key, cls in (("auroc_non_syn", 2), ("auroc_mis_syn", 1)):
        m = (label == 0) | (label == cls)
        out[key] = auroc(-score[m], label[m] == cls)
    if len(score) > 1 and np.ptp(label) > 0 and np.ptp(score) > 0:
        out["spearman"] = float(np.corrcoef(rankdata(-score), rankdata(label))[0, 1])
    else:
        out["spearman"] = float("nan")
    return out


def agreement(scores: dict[str, np.ndarray], label: np.ndarray, genes: np.ndarray, n_boot: int = 1000,
              seed: int = 0, reference: str = DEFAULT_STRAND) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per policy: each metric with a percentile 95% interval from `n_boot` resamples of the genes, with
    replacement; per policy: its difference to `reference` with an interval from the same resamples)."""
    units = np.unique(genes)
    members = [np.flatnonzero(genes == g) for g in units]
    rng = np.random.default_rng(seed)
    boots = {p: {m: [] for m in METRICS} for p in scores}
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(units), len(units))])
        for p, s in scores.items():
            for m, v in metrics(s[idx], label[idx]).items():
                boots[p][m].append(v)
    rows, diffs = [], []
    ref_point = metrics(scores[reference], label)
    for p, s in scores.items():
        point = metrics(s, label)
        row, drow = {"policy": p}, {"policy": p}
        for m in METRICS:
            b = np.asarray(boots[p][m], float)
            d = b - np.asarray(boots[reference][m], float)
            row[m], (row[f"{m}_lo"], row[f"{m}_hi"]) = point[m], _interval(b)
            drow[m], (drow[f"{m}_lo"], drow[f"{m}_hi"]) = point[m] - ref_point[m], _interval(d)
        rows.append(row)
        diffs.append(drow)
    return pd.DataFrame(rows), pd.DataFrame(diffs)


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    return tuple(float(v) for v in np.percentile(values, [2.5, 97.5])) if len(values) else (np.nan, np.nan)


# ---------------------------------------------------------------------------------------------- run
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 genes x 2 codons, 256-nt windows, 50 resamples")
    ap.add_argument("--genome", default=None, help="genome file (default: E. coli K-12 from the data directory)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory or name (default: the bundled one)")
    ap.add_argument("--genes", type=int, default=60, help="CDSs sampled (half on each strand)")
    ap.add_argument("--codons", type=int, default=25, help="codons sampled per CDS (x up to 3 changes)")
    ap.add_argument("--any-codon", action="store_true",
                    help="sample any codon (classes it cannot reach are left out) instead of only codons with a "
                         "synonymous, a missense and a nonsense single-base change")
    ap.add_argument("--essential", action="store_true", help="only genes labelled essential in --labels")
    ap.add_argument("--labels", default=None, help=f"essential-gene table (default: <data dir>/{LABELS})")
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the genes")
    ap.add_argument("--time-sample", type=int, default=30, help="codons re-scored one strand at a time, for timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="also write the per-variant table here (CSV)")
    args = ap.parse_args(argv)
    if args.quick:
        args.genes, args.codons, args.window, args.n_boot, args.time_sample = 4, 2, 256, 50, 2
    if min(args.genes, args.codons, args.window - 1, args.n_boot, args.batch_size, args.time_sample) < 1:
        ap.error("--genes, --codons, --n-boot, --batch-size and --time-sample must be >= 1 and --window >= 2")
    torch.set_num_threads(args.threads)

    from dnahnet.checkpoint import checkpoint_info, load, resolve
    from sample_genomes.loader import data_dir

    data = data_dir()
    path = Path(args.genome) if args.genome else (data / "genomes" / ECOLI if data else None)
    if path is None or not path.is_file():
        print(f"no genome at {path or 'the data directory (none found)'}: pass --genome", file=sys.stderr)
        return 2
    t_load = time.perf_counter()
    genome = Genome.from_source(path)
    only = None
    if args.essential or args.labels:
        from dnahnet.essentiality import match_labels, read_labels

        labels_path = Path(args.labels) if args.labels else (data / LABELS if data else None)
        if labels_path is None or not labels_path.is_file():
            print(f"no essential-gene table at {labels_path}: pass --labels", file=sys.stderr)
            return 2
        label_of = match_labels(genome, read_labels(labels_path)).label_of
        if args.essential:
            only = {n for n, e in label_of.items() if e}
    else:
        label_of = {}
    variants, meta = sample_variants(genome, args.genes, args.codons, args.seed, not args.any_codon, only)
    if not variants:
        print("no eligible CDS to sample (see eligible_cds)", file=sys.stderr)
        return 2
    try:
        model = load(resolve(args.checkpoint))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t_load = time.perf_counter() - t_load
    print(f"{len(variants):,} variants sampled; scoring (both strands, then {args.time_sample} codons one strand at a "
          "time)...", file=sys.stderr, flush=True)

    opts = dict(window=args.window, batch_size=args.batch_size, strand="mean")  # both strands computed
    score_variants(genome, variants[:2], model, **opts)  # warm-up: compile / load the kernels
    table = score_variants(genome, variants, model, **opts)
    both_ms = 1000 * table.attrs["timing"]["seconds"] / len(variants)
    codons = list(dict.fromkeys(zip(meta["cds_index"], meta["residue"])))
    timed = set(codons[:: max(1, len(codons) // args.time_sample)][:args.time_sample])  # spread over the genes
    sub = [v for v, key in zip(variants, zip(meta["cds_index"], meta["residue"])) if key in timed]
    one_ms = {s: 1000 * score_variants(genome, sub, model, **{**opts, "strand": s}).attrs["timing"]["seconds"]
              / len(sub) for s in ("+", "-")}
    ms = {p: one_ms.get(p, both_ms) for p in POLICIES}

    label = meta["label"].to_numpy()
    scores = policy_scores(table)
    summary, diffs = agreement(scores, label, meta["cds_index"].to_numpy(), args.n_boot, args.seed)
    summary["ms_per_variant"] = summary["policy"].map(ms)

    info = checkpoint_info(model)
    n_genes = meta["cds_index"].nunique()
    strands = meta.drop_duplicates("cds_index")["strand"].value_counts()
    per_class = meta["effect"].value_counts()
    n_ess = sum(bool(label_of.get(n)) for n in meta["cds_index"].unique())
    print(f"genome {path.name} ({', '.join(genome.ids[:3])}{', ...' if len(genome.ids) > 3 else ''}); checkpoint "
          f"{info['checkpoint_name']} ({info.get('checkpoint_file_hash')}); window {args.window} nt, batch "
          f"{args.batch_size}, {torch.get_num_threads()} threads")
    print(f"N = {n_genes} CDSs ({strands.get('+', 0)} on +, {strands.get('-', 0)} on -"
          + (f"; {n_ess} labelled essential" if label_of else "") + (", essential genes only" if only else "")
          + f"), K = {args.codons} codons each ({'any codon' if args.any_codon else 'codons reaching all 3 classes'}"
          f"; {len(codons):,} codons), seed {args.seed}; variants: "
          + ", ".join(f"{per_class.get(c, 0):,} {c}" for c in CLASSES)
          + f"; {args.n_boot} bootstrap resamples of the genes")
    print(f"scored {len(variants):,} variants (both strands) in {table.attrs['timing']['seconds']:.1f} s, "
          f"{table.attrs['timing']['forward_rows']:,} windows; setup {t_load:.1f} s; single-strand timing on "
          f"{len(sub)} variants\n")
    print("Agreement with the genetic code (higher = more agreement; 0.5 / 0 = none); 95% CI over genes\n")
    print("| policy | strands run | " + " | ".join(METRICS.values()) + " | ms / variant |")
    print("|---|---:|" + "---:|" * len(METRICS) + "---:|")
    for _, r in summary.iterrows():
        cells = [f"{r[m]:.3f} [{r[f'{m}_lo']:.3f}, {r[f'{m}_hi']:.3f}]" for m in METRICS]
        mark = " (default)" if r["policy"] == DEFAULT_STRAND else ""
        print(f"| {r['policy']}{mark} | {1 if r['policy'] in ('+', '-') else 2} | " + " | ".join(cells)
              + f" | {r['ms_per_variant']:.1f} |")
    print(f"\nDifference to the default '{DEFAULT_STRAND}' (same resamples; an interval excluding 0 is a real "
          "difference)\n")
    print("| policy | " + " | ".join(f"Δ {v}" for v in METRICS.values()) + " |")
    print("|---|" + "---:|" * len(METRICS))
    for _, r in diffs[diffs["policy"] != DEFAULT_STRAND].iterrows():
        print(f"| {r['policy']} | " + " | ".join(f"{r[m]:+.3f} [{r[f'{m}_lo']:+.3f}, {r[f'{m}_hi']:+.3f}]"
                                                 for m in METRICS) + " |")
    print("\nMean score per class (nats; expected synonymous > missense > nonsense)\n")
    print("| policy | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---:|" * len(CLASSES))
    for p in POLICIES:
        means = [np.nanmean(scores[p][label == i]) if (label == i).any() else np.nan for i in range(len(CLASSES))]
        print(f"| {p} | " + " | ".join(f"{m:.4f}" for m in means) + " |")
    best = {m: summary.loc[summary[m].idxmax(), "policy"] if summary[m].notna().any() else "n/a" for m in METRICS}
    print("\nbest by " + "; ".join(f"{METRICS[m]}: {p}" for m, p in best.items()) + f" (default: {DEFAULT_STRAND})")

    if args.out:
        from dnahnet.csv_cells import inert

        out = pd.concat([meta.reset_index(drop=True),
                         table[["variant", "nt_change", "codon_ref", "codon_alt", "aa_ref", "aa_alt", "score_plus",
                                "score_minus", "score_mean"]].reset_index(drop=True)], axis=1)
        out.map(inert).to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
