"""`python -m dnahnet.variants`: score variants (a list, a VCF, one on the command line), saturate a gene or region,
or score every CDS's essentiality, with a checkpoint, into CSV.

Kept apart from `dnahnet.variants` (the variant grammar and the genome they apply to), which `scoring` and
`essentiality` import: the command line uses all three.
"""
from __future__ import annotations

from dnahnet import threads  # first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see dnahnet.threads)


def main(argv=None) -> int:
    import argparse
    import sys

    from tqdm import tqdm

    from dnahnet import scoring
    from dnahnet.variants import Genome, parse_region_or_gene

    ap = argparse.ArgumentParser(
        prog="python -m dnahnet.variants",
        description="Score variants with dnaHNet: log-likelihood ratio mutant vs reference over a window around each "
                    "variant, read on both strands (negative = less likely).")
    ap.add_argument("genome", help="GenBank/EMBL/FASTA file (gzip ok)")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--variants", help="file with one variant per line ('1234A>G', 'bla:H26Y', ...)")
    what.add_argument("--variant", action="append", help="one variant (repeatable)")
    what.add_argument("--vcf", help="VCF file (gzip ok): every ALT allele is scored")
    what.add_argument("--saturate", help="GENE (every codon x 20 amino acids + stop) or START-END (0-based, end "
                                         "exclusive; every position x the 3 other bases; RECORD:START-END for one of "
                                         "several records)")
    what.add_argument("--essentiality", action="store_true",
                      help="a premature-stop cassette over codons 5-9 of every CDS: one row per CDS (score = "
                           "log-likelihood ratio; essentiality = its negative)")
    ap.add_argument("--out", required=True, help="output CSV: one row per variant (per CDS with --essentiality)")
    ap.add_argument("--matrix", default=None, help="with --saturate: also write the matrix (CSV)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory or name (default: the bundled one)")
    ap.add_argument("--window", type=int, default=scoring.DEFAULT_WINDOW, help="nt per window (centred on the variant)")
    ap.add_argument("--strand", default=None, choices=scoring.STRAND_CHOICES,
                    help="which strand's score fills the `score` column (both are always reported unless + or -); "
                         f"default {scoring.DEFAULT_STRAND} ({scoring.STRAND_MEANING[scoring.DEFAULT_STRAND]}), "
                         "with --essentiality sense (the gene's direction only)")
    ap.add_argument("--boundaries", action="store_true", help="also report Stage-1/2 boundaries gained and lost")
    ap.add_argument("--batch-size", type=int, default=scoring.DEFAULT_BATCH_SIZE)
    ap.add_argument("--naive", action="store_true", help="score every variant from scratch (for timing/checks)")
    ap.add_argument("--errors", default="raise", choices=["raise", "report"],
                    help="report: keep going past bad variants (their row says why, score NaN)")
    ap.add_argument("--circular", default=None, choices=["yes", "no"], help="override the records' topology")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: dnahnet.threads decides)")
    ess = ap.add_argument_group("with --essentiality")
    ess.add_argument("--labels", default=None, help="table of essential genes (CSV/TSV with a locus_tag or gene "
                                                    "column and an `essential` column): AUROC vs gene length and GC")
    ess.add_argument("--summary", default=None, help="write the AUROC table here (CSV)")
    ess.add_argument("--genes", default=None, help="only these CDSs (comma-separated gene names or locus tags)")
    ess.add_argument("--subsample", type=int, default=None, help="score a random subsample of this many CDSs")
    ess.add_argument("--seed", type=int, default=0, help="subsample and bootstrap seed")
    ess.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the AUROC intervals")
    args = ap.parse_args(argv)
    args.strand = args.strand or ("sense" if args.essentiality else scoring.DEFAULT_STRAND)
    if not args.essentiality and (args.labels or args.summary or args.genes or args.subsample):
        ap.error("--labels, --summary, --genes and --subsample go with --essentiality")
    if args.summary and not args.labels:
        ap.error("--summary needs --labels (the AUROC is computed against them)")

    threads.configure_threads(args.threads)  # default: the available cores, less those other processes keep busy
    from dnahnet.checkpoint import load, resolve as resolve_checkpoint
    from dnahnet.cli import open_genome

    opened = open_genome(args.genome)
    if opened is None:
        return 2
    try:
        genome = Genome.from_source(opened[1], None if args.circular is None else args.circular == "yes")
        model = load(resolve_checkpoint(args.checkpoint))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar = tqdm(total=1000, dynamic_ncols=True, file=sys.stderr,
               bar_format="{percentage:3.0f}%|{bar}| {desc} [{elapsed}]")

    def progress(fraction, message):
        bar.n = int(round(1000 * fraction))
        bar.set_description_str(message)
        bar.refresh()

    if args.essentiality:
        return _essentiality_main(args, genome, model, progress, bar)
    opts = dict(window=args.window, strand=args.strand, boundaries=args.boundaries, batch_size=args.batch_size,
                fast=not args.naive, progress=progress)
    try:
        if args.saturate:
            target, rec = parse_region_or_gene(args.saturate)
            sat = scoring.saturate(genome, target, model=model, record=rec, **opts)
            table = sat.table
            if args.matrix:
                sat.frame().to_csv(args.matrix)
        else:
            source = args.vcf or args.variants or args.variant
            table = scoring.score_variants(genome, source, model=model, errors=args.errors, **opts)
    except ValueError as e:  # VariantError included
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    scoring.table_for_csv(table).to_csv(args.out, index=False)
    stats = table.attrs.get("timing", {})
    n_scored = int(table["score"].notna().sum())
    if n_scored < len(table):
        print(f"note: {len(table) - n_scored} variant(s) not scored; the problem column says why", file=sys.stderr)
    print(f"scored {n_scored:,} variants in {stats.get('seconds', float('nan')):.1f} s "
          f"({stats.get('variants_per_s', float('nan')):,.1f} variants/s, {stats.get('forward_rows', 0):,} windows); "
          f"score = {args.strand} strand; wrote {args.out}" + (f" and {args.matrix}" if args.matrix else ""))
    return 0


def _essentiality_main(args, genome, model, progress, bar) -> int:
    """`--essentiality`: the per-CDS table to --out, the AUROC table to --summary, a summary on stdout."""
    import sys

    from dnahnet import essentiality as ess

    genes = [g.strip() for g in args.genes.split(",") if g.strip()] if args.genes else None
    try:
        result = ess.score_essentiality(genome, model, labels=args.labels, window=args.window, strand=args.strand,
                                        genes=genes, subsample=args.subsample, seed=args.seed, n_boot=args.n_boot,
                                        batch_size=args.batch_size, progress=progress)
    except (ValueError, FileNotFoundError) as e:  # VariantError (an unknown --genes name) included
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    result.table.to_csv(args.out, index=False)
    if args.summary and result.summary is not None:
        summary = result.summary.copy()
        for key in ("window", "strand", "cds_scored", "subsample", "subsample_scheme", "seed"):
            summary[key] = result.options[key]
        summary.to_csv(args.summary, index=False)
    print("\n".join(ess.summary_lines(result)))
    print(f"wrote {args.out}" + (f" and {args.summary}" if args.summary and result.summary is not None else ""))
    return 0
