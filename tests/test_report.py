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
    from tests.synthetic import make_genome

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
    gff = (out / "tracks" / "stage1.chunks.gff3").read_text().splitlines()  # one GFF3 per stage
    assert gff[0] == "##gff-version 3" and all(len(ln.split("\t")) == 9 for ln in gff if not ln.startswith("#"))
    assert (out / "tracks" / "surprisal.plus.bw").exists() and (out / "tracks" / "gc.bw").exists()

    trace = Trace.load(out / "trace.npz")
    assert [sp.strand for sp in trace.passes] == ["+", "-"] and trace.passes[0].length == len(rec)


def test_report_cli_says_what_is_wrong(tmp_path, capsys):
    from interpret.report import main

    assert main([str(tmp_path / "missing.gb"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def synthetic_report_zip(genome_and_checkpoint):
    """The app's report zip of a planted trace (every codon position 3 a Stage 1 boundary, 10% elsewhere) on the
    5-kb genome, built once (the boundary logo grid takes seconds to draw), with the progress it reported."""
    from interpret import exports
    from interpret.annotations import annotate
    from interpret.report import build_report_files
    from tests.synthetic import trace_for

    _, _, rec = genome_and_checkpoint
    ann = annotate(rec)
    trace = trace_for(ann, "codon3")
    told: list[tuple[float, str]] = []
    files = build_report_files(trace, ann, record=rec, formats=("html",), n_null=20,
                               progress=lambda f, m: told.append((f, m)))
    data = exports.report_zip(files)
    return rec, ann, trace, data, told


def test_report_zip_for_the_app(synthetic_report_zip):
    from interpret import exports

    rec, ann, trace, data, _ = synthetic_report_zip
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    for want in ("index.html", "tables/enrichment.csv", "tables/codon_profile.csv", "tracks/stage1.chunks.bed",
                 "tracks/stage2.p.minus.bw", "tracks/stage2.chunks.gff3", "trace.npz", "figures/metagene.html"):
        assert f"dnahnet_report/{want}" in names
    if exports.igv_js() is not None:  # igv.js vendored (make igv): the IGV page on the small genome is self-contained
        page = zipfile.ZipFile(io.BytesIO(data)).read("dnahnet_report/igv.html").decode()
        assert "data:application/gzip;base64," in page and "dnahnet_report/igv/igv.min.js" in names
        assert "http://" not in page and "https://" not in page
    codon = pd.read_csv(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("dnahnet_report/tables/codon_profile.csv")))
    pos3 = codon[(codon["stage"] == 0) & (codon["strand"] == "both") & (codon["codon_pos"] == 3)]["rate"]
    assert np.isclose(pos3.iloc[0], 1.0)  # every codon position 3 was planted


# ---------------------------------------------------------------------------------------------- learned vocabulary
# (issue 16, items 1, 2, 6: the vocabulary and boundary logo sections of the report)
def test_report_has_the_learned_vocabulary_and_boundary_logos(synthetic_report_zip):
    """The zip holds the vocabulary tables, the logo table and both figures; the numbers are the trace's own:
    Stage 1 chunks = boundaries − 1 per pass (no masked base here), logo sites = boundaries whose ±10 nt window fits
    the linear record (and at codon position 3, the planted ones); index.html has both sections, the rank-frequency
    figure and the logo grid inline; the progress passes through both steps without going back."""
    rec, ann, trace, data, told = synthetic_report_zip
    z = zipfile.ZipFile(io.BytesIO(data))
    names = set(z.namelist())
    root = "dnahnet_report/"
    for want in ("tables/vocabulary_top.csv", "tables/vocabulary_summary.csv", "tables/vocabulary_classes.csv",
                 "tables/vocabulary_rank_frequency.csv", "tables/boundary_logos.csv",
                 "figures/vocabulary_rank_frequency.html", "figures/boundary_logos.html"):
        assert root + want in names, want

    def csv(name):
        return pd.read_csv(io.BytesIO(z.read(root + f"tables/{name}.csv")))

    length = len(rec)
    n_chunks = sum(len(sp.stages[0].boundaries) - 1 for sp in trace.passes)
    summary = csv("vocabulary_summary").set_index("stage")
    assert summary.loc[0, "n_chunks"] == n_chunks and summary.loc[0, "stage_label"] == "Stage 1"
    assert {"kmer_entropy_bits", "shuffled_entropy_bits"} <= set(summary.columns)
    top = csv("vocabulary_top")
    assert top[top["stage"] == 0]["count"].is_monotonic_decreasing
    assert (top["length"] == top["string"].str.len()).all()
    assert ((top["consistency"] >= 0) & (top["consistency"] <= 1)).all()

    logo = csv("boundary_logos")
    sites = logo[(logo["stage"] == 0) & (logo["position"] == 0)].drop_duplicates("group").set_index("group")
    fits = {sp.strand: (sp.stages[0].boundaries >= 10) & (sp.stages[0].boundaries < length - 10)
            for sp in trace.passes}
    if rec.annotations.get("topology") == "circular":
        fits = {d: np.ones_like(m) for d, m in fits.items()}
    assert sites.loc["all", "n_sites"] == sum(int(m.sum()) for m in fits.values())
    at_pos3 = sum(int(((ann.codon_pos[sp.strand][sp.stages[0].boundaries] == 3) & fits[sp.strand]).sum())
                  for sp in trace.passes)
    assert sites.loc["cds_pos3", "n_sites"] == at_pos3 > 0
    assert np.allclose(logo.groupby(["stage", "group", "position"])["probability"].sum(), 1.0)

    index = z.read(root + "index.html").decode()
    assert "id='vocabulary_rank_frequency'" in index and "id='boundary_logos'" in index
    assert "Learned vocabulary" in index and "Boundary logos" in index and "Consistency of a string" in index
    section = index[index.find("id='boundary_logos'"):]
    assert "<div class='mfig'><svg" in section[:5000] and "tables/boundary_logos.csv" in section
    assert f"<td>{top.iloc[0]['string']}</td>" in index  # the most frequent Stage 1 string is in the table shown
    messages = [m for _, m in told]
    i_vocab = next(i for i, m in enumerate(messages) if m.startswith("learned vocabulary"))
    i_logos = next(i for i, m in enumerate(messages) if m.startswith("boundary logos"))
    i_draw = messages.index("drawing Boundary logos")
    assert i_vocab < i_logos < i_draw and told[-1][0] == 1.0
    fractions = [f for f, _ in told]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:])), fractions
