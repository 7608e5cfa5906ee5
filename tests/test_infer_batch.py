"""Batch inference over many genomes: files picked from a directory by extension, genomes shared out over ranks
longest first (the hand-computed plan), one process and two gloo ranks under torchrun giving the same per-genome
summary and traces with each cache entry written once, a bad file reported without stopping the others."""
from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnahnet.infer import assign_by_size, format_summary, genome_files, genome_size, main, write_summary_csv
from dnahnet.trace import Trace
from tests.conftest import _genbank_text, free_port

REPO = Path(__file__).resolve().parents[1]
OPTIONS = ["--window", "512", "--margin", "128", "--threads", "1"]
GOOD = ["big.fa", "mid.gbk", "small.fa.gz"]


def _dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A tiny random checkpoint and a directory of three small genomes (FASTA with 2 records, GenBank, gzipped
    FASTA), a file that is no genome, and a file the directory scan must skip (.txt)."""
    from dnahnet.checkpoint import save
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet

    root = tmp_path_factory.mktemp("batch")
    torch.manual_seed(0)
    ckpt = save(DnaHNet(HNetConfig.preset("tiny")), root / "ckpt")
    d = root / "genomes"
    d.mkdir()
    (d / "big.fa").write_text(f">bigA\n{_dna(2000, 1)}\n>bigB\n{_dna(1000, 2)}\n")
    (d / "mid.gbk").write_text(_genbank_text("MID1", _dna(1200, 3)))
    (d / "small.fa.gz").write_bytes(gzip.compress(f">small\n{_dna(600, 4)}\n".encode()))
    (d / "broken.fasta").write_text("%%% not a genome %%%\n")
    (d / "notes.txt").write_text(">looks like FASTA but the extension says otherwise\nACGT\n")
    return ckpt, d


def _rows(path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {r["genome"]: r for r in csv.DictReader(f)}


def test_longest_first_assignment_by_hand():
    # sizes 9, 7, 5, 3, 2 (indices 1, 3, 0, 2, 4): 9 -> r0; 7 -> r1; 5 -> r1 (7 < 9), 12; 3 -> r0 (9 < 12), 12;
    # 2 -> r0 (a tie: the lowest rank)
    assert assign_by_size([5, 9, 3, 7, 2], 2) == [[1, 2, 4], [3, 0]]
    # three ranks: 9 -> r0, 7 -> r1, 5 -> r2, 3 -> r2 (5 is least), 2 -> r1 (7 < 8 < 9)
    assert assign_by_size([5, 9, 3, 7, 2], 3) == [[1], [3, 4], [0, 2]]
    assert assign_by_size([4, 4, 4], 2) == [[0, 2], [1]]  # equal sizes keep input order
    assert assign_by_size([1, 2], 4) == [[1], [0], [], []]
    with pytest.raises(ValueError):
        assign_by_size([1], 0)


def test_directory_scan_by_extension_and_gzip_size(batch, tmp_path):
    _, d = batch
    files, problems = genome_files([d, d / "big.fa", tmp_path / "missing.fa"])
    assert [p.name for p in files] == ["big.fa", "broken.fasta", "mid.gbk", "small.fa.gz"]  # .txt skipped, no dup
    assert len(problems) == 1 and "missing.fa: no such file" in problems[0]
    assert genome_size(d / "small.fa.gz") == len(gzip.decompress((d / "small.fa.gz").read_bytes()))  # the trailer
    assert genome_size(d / "big.fa") == (d / "big.fa").stat().st_size
    assert genome_files([tmp_path])[1] == [f"{tmp_path}: directory holds no GenBank, EMBL or FASTA file (by "
                                           f"extension)"]


def test_summary_text_and_csv_are_inert(tmp_path):
    row = {"genome": "=evil\x1b[31m.fa", "path": "x", "records": 1, "length": 10, "bits_per_nt": 1.9,
           "compression_stage1": 3.0, "compression_stage2": 2.0, "nt_per_s": 5.0, "seconds": 0.1,
           "result": "computed", "rank": 0, "error": "", "problems": ["-bad"]}
    text = format_summary([row])
    assert "\x1b" not in text and "\\x1b[31m" in text and "Stage 2 x" in text
    out = _rows(write_summary_csv([row], tmp_path / "s.csv"))
    assert list(out) == ["'=evil\x1b[31m.fa"] and out["'=evil\x1b[31m.fa"]["problems"] == "'-bad"


def test_one_process_and_two_gloo_ranks_agree(batch, tmp_path, capsys):
    ckpt, d = batch
    common = [str(d), "--checkpoint", str(ckpt), *OPTIONS]
    # one process, in-process (a subprocess costs seconds of imports); the bad file fails alone: exit status 1
    assert main(common + ["--cache-dir", str(tmp_path / "cache1"), "--out-dir", str(tmp_path / "one"),
                          "--summary-csv", str(tmp_path / "one.csv")]) == 1
    printed = capsys.readouterr().out
    assert "Stage 1 x" in printed and "broken.fasta" in printed and "not recognised as GenBank" in printed
    one = _rows(tmp_path / "one.csv")
    assert one["broken.fasta"]["result"] == "failed" and "not recognised" in one["broken.fasta"]["error"]
    assert {one[g]["result"] for g in GOOD} == {"computed"}
    assert [int(one[g]["records"]) for g in GOOD] == [2, 1, 1]
    assert [int(one[g]["length"]) for g in GOOD] == [3000, 1200, 600]

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--master_port", str(free_port()), "-m", "dnahnet.infer", *common,
           "--cache-dir", str(tmp_path / "cache2"), "--out-dir", str(tmp_path / "two"),
           "--summary-csv", str(tmp_path / "two.csv")]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "2 rank(s)" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    two = _rows(tmp_path / "two.csv")
    assert list(two) == list(one)  # the input order, whichever rank ran what
    # the hand-computed plan: big.fa (3 kB) outweighs the others together, so it runs alone on rank 0
    sizes = [genome_size(d / g) for g in ("big.fa", "broken.fasta", "mid.gbk", "small.fa.gz")]
    assert sizes[0] > sum(sizes[1:]) and sizes[2] > sizes[3] > sizes[1]
    assert {g: int(r["rank"]) for g, r in two.items()} == {"big.fa": 0, "broken.fasta": 1, "mid.gbk": 1,
                                                           "small.fa.gz": 1}
    assert two["broken.fasta"]["result"] == "failed"
    for g in GOOD:
        assert two[g]["result"] == "computed"
        for column in ("records", "length", "compression_stage1", "compression_stage2"):
            assert two[g][column] == one[g][column], (g, column)
        assert float(two[g]["bits_per_nt"]) == pytest.approx(float(one[g]["bits_per_nt"]), abs=1e-6)
        a, b = Trace.load(tmp_path / "one" / f"{g}.trace.npz"), Trace.load(tmp_path / "two" / f"{g}.trace.npz")
        for pa, pb in zip(a.passes, b.passes, strict=True):
            assert (pa.record_id, pa.strand) == (pb.record_id, pb.strand)
            for sa, sb in zip(pa.stages, pb.stages, strict=True):
                np.testing.assert_array_equal(sa.boundaries, sb.boundaries)
            np.testing.assert_allclose(pa.logprob, pb.logprob, atol=1e-5, equal_nan=True)
        # the genome's row pools its passes (random ACGT: nothing masked): every scored position, every chunk
        pooled = np.concatenate([sp.surprisal_bits() for sp in a.passes])
        assert float(one[g]["bits_per_nt"]) == pytest.approx(float(np.nanmean(pooled)), abs=1e-6)
        chunks = sum(sp.stages[0].n_chunks for sp in a.passes)
        assert float(one[g]["compression_stage1"]) == pytest.approx(2 * int(one[g]["length"]) / chunks)
    entries = sorted(p.name for p in (tmp_path / "cache2").iterdir())
    assert len(entries) == 3 and all(e.endswith(".trace.npz") and not e.startswith(".") for e in entries)

    # the entries the ranks wrote are hits (verified on load) for a later single process, with the same numbers
    assert main(common + ["--cache-dir", str(tmp_path / "cache2"), "--summary-csv", str(tmp_path / "again.csv")]) == 1
    again = _rows(tmp_path / "again.csv")
    assert {again[g]["result"] for g in GOOD} == {"cached"}
    assert [again[g]["bits_per_nt"] for g in GOOD] == [two[g]["bits_per_nt"] for g in GOOD]
    assert sorted(p.name for p in (tmp_path / "cache2").iterdir()) == entries


def test_batch_usage_errors(batch, tmp_path, capsys):
    ckpt, d = batch
    assert main([str(d), "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.npz")]) == 2
    assert "--out is for one genome file" in capsys.readouterr().err
    assert main([str(tmp_path / "nothing"), str(tmp_path / "nowhere.fa"), "--checkpoint", str(ckpt)]) == 2
    assert "no such file or directory" in capsys.readouterr().err
