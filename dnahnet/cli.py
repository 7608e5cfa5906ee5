"""What the genome command lines (dnahnet.infer, dnahnet.variants, interpret.report, interpret.vocabulary) do first:
read the genome file, print what was skipped or guessed as notes, select the records asked for; and user text
(file names, messages) escaped for the terminal.
"""
from __future__ import annotations

import sys
from pathlib import Path


def add_genome_arguments(ap) -> None:
    """The arguments every genome command line shares: the file, --out, --checkpoint, --gff, --record, --region,
    --strands and --trace (one wording for all of them)."""
    ap.add_argument("genome", help="GenBank/EMBL/FASTA(+GFF3) file, gzip ok")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory or name (default: the bundled one)")
    ap.add_argument("--gff", default=None, help="GFF3 features for a FASTA genome")
    ap.add_argument("--record", action="append", default=None, help="analyse only this record id (repeatable)")
    ap.add_argument("--region", default=None, help="START-END, 0-based half-open forward coordinates")
    ap.add_argument("--strands", default="both", choices=["both", "+", "-"])
    ap.add_argument("--trace", default=None, help="reuse a trace .npz (from dnahnet.infer) instead of inference")


def shown(text) -> str:
    """User text (file names, messages) for a terminal: control characters escaped, so a name cannot move the cursor
    or recolour the screen."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def open_genome(path, record_ids: list[str] | None = None, gff=None, notes: bool = True):
    """(GenomeFile, selected records) of a genome file named on a command line, or None after printing
    'error: ...' to stderr (no such file, an unknown record id, no readable record): the caller exits with 2.

    notes: print each of the file's problems to stderr as 'note: ...' (the caller may also keep them).
    """
    from dnahnet.genome_io import read_genome

    path = Path(path)
    if not path.is_file():
        print(f"error: no such file: {shown(path)}", file=sys.stderr)
        return None
    genome = read_genome(path, gff=gff)
    if notes:
        for problem in genome.problems:
            print(f"note: {shown(problem)}", file=sys.stderr)
    try:
        records = genome.select(record_ids)
    except ValueError as e:
        print(f"error: {shown(e)}", file=sys.stderr)
        return None
    return genome, records


__all__ = ["shown", "open_genome"]
