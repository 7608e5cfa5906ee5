"""Every boundary statistic of a trace against its annotations, in one call: what the app and the report show.

`analyze_boundaries(trace, annotations)` returns a `BoundaryReport` of named tables, each with a one-line
description used as a caption; `to_csv_dir` writes them all. Stage numbering: code 0/1, labels "Stage 1/2".
Runs of non-ACGT bases and `MASK_FLANK` nt each side are left out of every table (`StrandPass.masked`); how many
positions that took is in `settings["masked_nt"]` and, per record, in `problems` (the app's notes, the report).

CLI: `python -m interpret.analysis TRACE.npz GENOME [--companion TABLE] --out DIR` writes every table as CSV and
prints the main ones (`python -m interpret.stats`, the older name, runs this command too).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import dnahnet.trace as dnahnet_trace
from dnahnet.trace import Trace
from interpret import baselines as chunkers
from interpret import nulls, profiles
from interpret.exports import inert_table
from interpret.passes import masking_notes, pass_tracks
from interpret.stats import enrichment_table, paper_comparison


def write_tables(directory, tables, settings: dict, problems: list[str], readme: str) -> tuple[list[Path], Path]:
    """Write each table as <name>.csv (cells through `inert_table`) and a `readme` text file of captions, settings
    and problems into `directory` (created); returns (csv paths, readme path)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tables:
        p = d / f"{t.name}.csv"
        inert_table(t.df).to_csv(p, index=False)
        paths.append(p)
    lines = [f"{t.name}.csv: {t.description}" for t in tables]
    lines += ["", "settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    lines += ["", "problems:"] + [f"- {x}" for x in problems]
    (d / readme).write_text("\n".join(lines) + "\n")
    return paths, d / readme


@dataclass
class Table:
    """A DataFrame with the name it is saved under and a one-line caption."""

    name: str
    description: str
    df: pd.DataFrame


@dataclass
class BoundaryReport:
    """All boundary statistics of one trace. Each field is a `Table`; `settings` records how they were made."""

    enrichment: Table
    codon_profile: Table
    codon_tests: Table
    metagene: Table
    periodicity: Table
    periodicity_spectrum: Table
    chunk_length_summary: Table
    chunk_lengths: Table
    nesting: Table
    nesting_counts: Table
    baselines: Table
    baseline_summary: Table
    paper_comparison: Table
    settings: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def tables(self) -> list[Table]:
        return [v for v in self.__dict__.values() if isinstance(v, Table)]

    def __getitem__(self, name: str) -> Table:
        for t in self.tables():
            if t.name == name:
                return t
        raise KeyError(name)

    def to_csv_dir(self, directory) -> list[Path]:
        """Write every table as <name>.csv plus README.txt (captions, settings, problems); returns the csv paths."""
        paths, _ = write_tables(directory, self.tables(), self.settings, self.problems, "README.txt")
        return paths

    def summary_text(self) -> dict[str, str]:
        """The main tables as plain text (what the CLI prints)."""
        out = {}
        e = self.enrichment.df
        if not e.empty:
            cols = ["stage_label", "class", "n_positions", "rate", "fold", "fold_lo", "fold_hi", "shift_z",
                    "q_shift_text", "perm_z", "q_perm_text"]
            both = e[(e["strand"] == "both") & (e["n_positions"] > 0)]
            cols = [c for c in cols if c in both.columns]
            out["enrichment (both passes)"] = both[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}")
        for t in (self.codon_tests, self.periodicity, self.nesting, self.baseline_summary, self.paper_comparison):
            if not t.df.empty:
                out[t.name] = t.df.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        ls = self.chunk_length_summary.df
        if not ls.empty:
            out["chunk lengths (all chunks)"] = ls[ls["class"] == "all"].to_string(
                index=False, float_format=lambda x: f"{x:.4g}")
        return out


def analyze_boundaries(trace: Trace, annotations: dict, n_null: int = 1000, seed: int = 0, progress=None,
                       n_perm: int | None = None, n_boot: int = 1000, baselines: bool = True,
                       n_null_baselines: int = 200, metagene_flank: int = 150) -> BoundaryReport:
    """Compute every table for `trace` against {record_id: RecordAnnotation}.

    n_null: circular-shift draws (and permuted-length draws unless `n_perm` says otherwise); n_boot: bootstrap
    draws for fold intervals and metagene bands; baseline chunkers get `n_null_baselines` shift draws.
    progress(fraction, message) is called as work advances.
    """
    n_perm = n_null if n_perm is None else n_perm
    problems, masked_nt = masking_notes(trace)
    ann0 = next(iter(annotations.values()), None)
    if ann0 is None:
        raise ValueError("no annotation given: statistics need the genome's features")
    classes = tuple(ann0.classes)
    n_stages = trace.n_stages
    # rough shares of the work for the progress bar
    weights = {"nulls": 0.6, "baselines": 0.25 if baselines else 0.0, "profiles": 0.15}
    total = sum(weights.values())
    done = [0.0]

    def step(share):
        start = done[0]

        def cb(frac, msg):
            if progress:
                progress(min(1.0, (start + share * frac) / total), msg)
        done[0] += share
        return cb

    enr, nul, tracks_by_stage = [], [], {}
    for s in range(n_stages):
        tracks = tracks_by_stage[s] = pass_tracks(trace, annotations, s, problems)
        enr.append(enrichment_table(tracks, classes, n_boot=n_boot, seed=seed))
        nul.append(nulls.null_table(tracks, classes, n_shift=n_null, n_perm=n_perm, seed=seed,
                                    progress=step(weights["nulls"] / max(n_stages, 1))))
    enrichment = pd.concat(enr, ignore_index=True).merge(pd.concat(nul, ignore_index=True),
                                                         on=["stage", "strand", "class"], how="left")
    enrichment = nulls.add_p_text(nulls.add_bh(enrichment))
    paper = paper_comparison(tracks_by_stage, classes)
    tracks_by_stage = tracks = None  # free the per-position arrays before the baselines
    if enrichment["n_positions"].eq(0).any():
        absent = sorted(set(enrichment.loc[enrichment["n_positions"] == 0, "class"]))
        problems.append(f"classes with no positions in this genome (no test): {', '.join(absent)}")

    if baselines:
        base_long, base_sum = chunkers.baseline_tables(trace, annotations, classes, n_null=n_null_baselines,
                                                        seed=seed, n_boot=min(n_boot, 200),
                                                        progress=step(weights["baselines"]))
    else:
        base_long, base_sum = pd.DataFrame(), pd.DataFrame()

    cb = step(weights["profiles"])
    cb(0.0, "codon profile")
    codon, codon_tests = profiles.codon_profile(enrichment)
    meta, spec, period = [], [], []
    for s in range(n_stages):
        cb(s / max(n_stages, 1), f"metagene profiles, periodicity ({s + 1}/{n_stages})")
        for anchor in ("start_codon", "stop_codon", "tss"):
            m = profiles.metagene(trace, annotations, s, anchor, flank=metagene_flank, n_boot=n_boot, seed=seed)
            if not m.empty:
                meta.append(m)
        sp, su = profiles.periodicity(trace, annotations, s)
        spec.append(sp)
        period.append(su)
    cb(0.9, "chunk lengths, nesting")
    len_hist, len_sum = profiles.chunk_lengths(trace, annotations)
    nest, nest_counts = profiles.nesting(trace)
    cb(1.0, "done")

    def cat(frames):
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    settings = {"n_null": n_null, "n_perm": n_perm, "n_boot": n_boot, "seed": seed,
                "n_null_baselines": n_null_baselines if baselines else 0,
                "min_shift_nt": nulls.MIN_SHIFT_NT, "records": ",".join(trace.record_ids),
                "masked_nt": masked_nt, "mask_flank_nt": dnahnet_trace.MASK_FLANK}
    return BoundaryReport(
        enrichment=Table("enrichment", "Boundary rate per class, stage and strand pass (rate among the stage's "
                         "router input: Stage 2 rates are per Stage-1 chunk start), fold over the pass's overall "
                         "rate (95% block-bootstrap interval), circular-shift and permuted-length nulls: "
                         "z = (observed − null mean) / null sd, two-sided empirical p with +1 and BH q over all "
                         "rows; with n draws p and q cannot go below 2/(n+1), so the *_text columns write them "
                         "as '≤ 2/(n+1)' there and z tells how far beyond the null the class lies.", enrichment),
        codon_profile=Table("codon_profile", "Boundary rate at codon positions 1/2/3 inside CDS, each pass with its "
                            "own strand's genes (Wilson 95% interval).", codon),
        codon_tests=Table("codon_tests", "Codon-position profile tests: χ² against uniform (2×3), mutual "
                          "information between boundary and codon position (bits), spread = max − min rate; "
                          "paper Stage 1: 6.5% / 42.6% / 58.4%.", codon_tests),
        metagene=Table("metagene", "Boundary rate per nucleotide at −150..+150 nt from start codons, stop codons "
                       "and TSS, in the anchor's reading direction; n_anchors and the bootstrap 95% band count the "
                       "anchors inside the analysed region only.", cat(meta)),
        periodicity=Table("periodicity", "3-periodicity of boundaries inside CDS (frame-aligned, per nucleotide): "
                          "power at period 3 over the median power of the spectrum.", cat(period)),
        periodicity_spectrum=Table("periodicity_spectrum", "Spectrum (mean periodogram over 360-nt windows) of the "
                                   "boundary indicator inside CDS.", cat(spec)),
        chunk_length_summary=Table("chunk_length_summary", "Chunk length (nt) per stage, strand pass and class of "
                                   "the chunk's first nucleotide.", len_sum),
        chunk_lengths=Table("chunk_lengths", "Chunk length histogram (nt) per stage, strand pass and class of the "
                            "chunk's first nucleotide.", len_hist),
        nesting=Table("nesting", "Nesting check: fraction of Stage 2 boundaries that are Stage 1 boundaries (1 by "
                      "construction) and Stage 1 chunks per Stage 2 chunk.", nest),
        nesting_counts=Table("nesting_counts", "Distribution of the number of Stage 1 chunks inside each Stage 2 "
                             "chunk.", nest_counts),
        baselines=Table("baselines", "Model stages and baseline chunkers (fixed 3 and 6 nt with a random phase; "
                        "random with the model's lengths) scored per nucleotide: rate, fold, circular-shift "
                        f"null ({n_null_baselines} draws, BH within each chunker).", base_long),
        baseline_summary=Table("baseline_summary", "Does the model beat trivial chunkers? Per chunker, both "
                               "passes: overall rate, codon-position spread and MI, fold per class, number of "
                               "classes with q < 0.05.", base_sum),
        paper_comparison=Table("paper_comparison", "Our rates (both passes) beside the dnaHNet paper's: Stage 1 "
                               "codon positions, Stage 2 classes (B. subtilis; rates per Stage 1 chunk start). "
                               "Different genome and model: a sanity check, not a test.", paper),
        settings=settings,
        problems=problems,
    )


# ------------------------------------------------------------------------------------------------ CLI


def load_annotations(genome_path, companion_path=None, problems: list[str] | None = None) -> tuple[dict, dict]:
    """Annotate every record of a genome file (plus an optional promoter/TSS table).

    Returns ({record_id: RecordAnnotation}, {record_id: SeqRecord}); what was skipped goes to `problems`.
    """
    from dnahnet.genome_io import read_genome
    from interpret.annotations import annotate_all

    problems = problems if problems is not None else []
    gf = read_genome(genome_path)
    problems.extend(gf.problems)
    out = annotate_all(gf, companion_path or None, problems=problems)
    for rid, ann in out.items():
        problems.extend(f"{rid}: {p}" for p in ann.problems)
    return out, {r.id: r for r in gf.records}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m interpret.analysis",
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
