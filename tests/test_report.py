"""The headless report end to end: a tiny synthetic genome, a tiny random-init model saved as a checkpoint,
`python -m interpret.report` in-process; and the app's one-click zip of the same files."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def genome_and_checkpoint(tmp_path_factory):
    import torch
    from Bio import SeqIO

    from dnahnet.checkpoint import save
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet
    from interpret.synthetic import make_genome

    d = tmp_path_factory.mktemp("report_inputs")
    torch.manual_seed(0)
    save(DnaHNet(HNetConfig.preset("tiny")), d / "ckpt")
    rec = make_genome(5000, 4, seed=4, gene_len=(300, 900))
    SeqIO.write([rec], d / "tiny.gb", "genbank")
    return d / "tiny.gb", d / "ckpt", rec


@pytest.mark.slow
def test_report_cli_writes_index_tables_tracks_and_trace(genome_and_checkpoint, tmp_path, capsys):
    from dnahnet.trace import Trace
    from interpret.report import main

    genome, ckpt, rec = genome_and_checkpoint
    out = tmp_path / "report"
    rc = main([str(genome), "--checkpoint", str(ckpt), "--out", str(out), "--n-null", "20", "--n-boot", "20",
               "--formats", "html", "--threads", "1", "--no-cache"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and "timings (seconds):" in printed and "inference" in printed

    index = (out / "index.html").read_text()
    assert "Plotly.newPlot" in index and '<script src="http' not in index  # plotly.js inlined: offline
    for section in ("tracks_overview", "enrichment_fold", "codon_positions", "tables", "tracks"):
        assert f"id='{section}'" in index
    assert (out / "figures" / "plotly.min.js").stat().st_size > 1_000_000
    assert (out / "figures" / "enrichment_fold.html").read_text().count('src="plotly.min.js"') == 1

    enrichment = pd.read_csv(out / "tables" / "enrichment.csv")
    assert {"stage_label", "class", "fold", "q_shift"} <= set(enrichment.columns)
    assert set(enrichment["stage_label"]) == {"Stage 1", "Stage 2"}
    assert (out / "tables" / "passes.csv").exists()

    bed = pd.read_csv(out / "tracks" / "stage1.chunks.bed", sep="\t", skiprows=1, header=None)
    assert bed.shape[1] == 6 and (bed[1] < bed[2]).all() and (bed[2] <= len(rec)).all()
    gff = (out / "tracks" / "chunks.gff3").read_text().splitlines()
    assert gff[0] == "##gff-version 3" and all(len(ln.split("\t")) == 9 for ln in gff if not ln.startswith("#"))
    assert (out / "tracks" / "surprisal.plus.bw").exists() and (out / "tracks" / "gc.bw").exists()

    trace = Trace.load(out / "trace.npz")
    assert [sp.strand for sp in trace.passes] == ["+", "-"] and trace.passes[0].length == len(rec)


def test_report_cli_says_what_is_wrong(tmp_path, capsys):
    from interpret.report import main

    assert main([str(tmp_path / "missing.gb"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_report_zip_for_the_app(genome_and_checkpoint):
    from interpret import exports
    from interpret.annotations import annotate
    from interpret.synthetic import trace_for

    _, _, rec = genome_and_checkpoint
    ann = annotate(rec)
    trace = trace_for(ann, "codon3")
    data = exports.report_zip(trace, ann, record=rec, formats=("html",), n_null=20)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    for want in ("index.html", "tables/enrichment.csv", "tables/codon_profile.csv", "tracks/stage1.chunks.bed",
                 "tracks/stage2.p.minus.bw", "tracks/chunks.gff3", "trace.npz", "figures/metagene.html"):
        assert f"dnahnet_report/{want}" in names
    if exports.igv_js() is not None:  # igv.js vendored (make igv): the IGV page on the small genome is self-contained
        page = zipfile.ZipFile(io.BytesIO(data)).read("dnahnet_report/igv.html").decode()
        assert "data:application/gzip;base64," in page and "dnahnet_report/igv/igv.min.js" in names
        assert "http://" not in page and "https://" not in page
    codon = pd.read_csv(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("dnahnet_report/tables/codon_profile.csv")))
    pos3 = codon[(codon["stage"] == 0) & (codon["strand"] == "both") & (codon["codon_pos"] == 3)]["rate"]
    assert np.isclose(pos3.iloc[0], 1.0)  # every codon position 3 was planted
