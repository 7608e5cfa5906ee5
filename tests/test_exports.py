"""Exports: track coordinates (BED/bedGraph 0-based half-open, GFF3 1-based) checked line by line on a hand-made
trace, files parsed back and validated against the format rules, BGZF + tabix files read back region by region,
track lines igv.js parses whole, figure bytes (`interpret.render`: HTML offline, PNG, SVG)."""
from __future__ import annotations

import gzip
import io
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret import exports, render
from interpret.fast_tsv import Const, Float, Int, Text, lookup, tsv_bytes

L = 10
P0_PLUS = np.array([1.0, 0.2, 0.2, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1], np.float32)
P0_MINUS = np.array([0.3, 0.3, 0.3, 0.3, 0.3, 0.8, 0.4, 0.4, 0.4, 1.0], np.float32)  # by record position


def _stage(positions, p, boundaries):
    return StageTrack(np.asarray(positions, np.int64), np.asarray(p, np.float32), np.asarray(boundaries, np.int64),
                      np.zeros(0, np.int64), np.zeros((0, 4), np.float16))


@pytest.fixture
def two_chunk_trace() -> Trace:
    """chr1, 10 nt. '+' pass: Stage 1 chunks start at 0 and 4 -> [0,4) [4,10); Stage 2 one chunk [0,10).
    '-' pass (reads 9 -> 0): chunks start at 9 and 5 -> [6,10) and [0,6); Stage 2 one chunk [0,10)."""
    lp = np.log(np.full(L, 0.25, np.float32))
    lp[0] = np.nan
    plus = StrandPass("chr1", "+", L, False, [
        _stage(np.arange(L), P0_PLUS, [0, 4]),
        _stage([0, 4], [1.0, 0.3], [0]),
    ], lp)
    rev = np.arange(L)[::-1]
    minus = StrandPass("chr1", "-", L, False, [
        _stage(rev, P0_MINUS[rev], [9, 5]),
        _stage([9, 5], [1.0, 0.45], [9]),
    ], lp.copy())
    return Trace([plus, minus], {"test": True})


def _body(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith(("track", "#"))]


# ---------------------------------------------------------------------------------------------- BED


def test_bed_lines_by_hand(two_chunk_trace):
    text = exports.boundaries_bed(two_chunk_trace, 0)
    assert text.startswith('track name="dnaHNet_Stage1_chunks"')
    assert _body(text) == [
        "chr1\t0\t4\tS1+_1\t1000\t+",   # + chunk 1 starts at 0 (p 1.0)
        "chr1\t0\t6\tS1-_2\t800\t-",    # - chunk 2 starts at 5, covers 5..0 -> [0, 6)
        "chr1\t4\t10\tS1+_2\t900\t+",   # + chunk 2 starts at 4 (p 0.9)
        "chr1\t6\t10\tS1-_1\t1000\t-",  # - chunk 1 starts at 9, covers 9..6 -> [6, 10)
    ]
    assert _body(exports.boundaries_bed(two_chunk_trace, 1)) == ["chr1\t0\t10\tS2+_1\t1000\t+",
                                                                 "chr1\t0\t10\tS2-_1\t1000\t-"]


def test_bed_parses_and_follows_the_rules(two_chunk_trace):
    df = pd.read_csv(io.StringIO(exports.boundaries_bed(two_chunk_trace, 0)), sep="\t", skiprows=1, header=None,
                     names=["chrom", "start", "end", "name", "score", "strand"])
    assert len(df) == 4 and df["start"].dtype.kind == "i" and df["end"].dtype.kind == "i"
    assert ((df["start"] >= 0) & (df["start"] < df["end"]) & (df["end"] <= L)).all()
    assert df["strand"].isin(["+", "-"]).all() and df["score"].between(0, 1000).all()
    assert df["start"].is_monotonic_increasing
    for d in "+-":  # the intervals are exactly the trace's chunk spans
        spans = two_chunk_trace.get("chr1", d).chunk_spans(0)
        got = df[df["strand"] == d][["start", "end"]].to_numpy()
        assert sorted(map(tuple, got)) == sorted(map(tuple, spans))


def test_bed_region_keeps_overlapping_chunks(two_chunk_trace):
    body = _body(exports.boundaries_bed(two_chunk_trace, 0, strands=["+"], region=(5, 7)))
    assert body == ["chr1\t4\t10\tS1+_2\t900\t+"]


# ---------------------------------------------------------------------------------------------- bedGraph


def test_bedgraph_merges_runs_and_is_zero_based(two_chunk_trace):
    text = exports.bedgraph(two_chunk_trace, "p", strand="+", stage=0)
    assert text.splitlines()[0].startswith("track type=bedGraph")
    assert _body(text) == ["chr1\t0\t1\t1.000", "chr1\t1\t4\t0.200", "chr1\t4\t5\t0.900", "chr1\t5\t10\t0.100"]
    # Stage 2 p exists only at Stage 1 chunk starts: one-base intervals there
    assert _body(exports.bedgraph(two_chunk_trace, "p", strand="-", stage=1)) == ["chr1\t5\t6\t0.450",
                                                                                  "chr1\t9\t10\t1.000"]


def test_bedgraph_surprisal_skips_undecided(two_chunk_trace):
    # logprob NaN at 0, log(1/4) elsewhere -> 2 bits from 1 to 10, one merged line
    assert _body(exports.bedgraph(two_chunk_trace, "surprisal", strand="+")) == ["chr1\t1\t10\t2.00"]


# ---------------------------------------------------------------------------------------------- GFF3


def test_gff3_lines_by_hand(two_chunk_trace):
    lines = exports.chunks_gff3(two_chunk_trace).splitlines()
    assert lines[:2] == ["##gff-version 3", "##sequence-region chr1 1 10"]
    src = "chr1\tdnaHNet\tbiological_region"
    assert lines[2:] == [
        f"{src}\t1\t10\t1.000\t+\t.\tID=S2p.1",
        f"{src}\t1\t10\t1.000\t-\t.\tID=S2m.1",
        f"{src}\t1\t4\t1.000\t+\t.\tID=S1p.1;Parent=S2p.1",   # [0,4) -> 1..4
        f"{src}\t1\t6\t0.800\t-\t.\tID=S1m.2;Parent=S2m.1",   # [0,6) -> 1..6
        f"{src}\t5\t10\t0.900\t+\t.\tID=S1p.2;Parent=S2p.1",  # [4,10) -> 5..10
        f"{src}\t7\t10\t1.000\t-\t.\tID=S1m.1;Parent=S2m.1",  # [6,10) -> 7..10
    ]


def validate_gff3(text: str, lengths: dict[str, int]) -> pd.DataFrame:
    """The GFF3 rules a genome browser relies on (spec v3.1.26), as assertions; returns the feature rows."""
    lines = text.splitlines()
    assert lines[0] == "##gff-version 3"
    rows = [ln.split("\t") for ln in lines if ln and not ln.startswith("#")]
    assert all(len(r) == 9 for r in rows), "every feature line has 9 tab-separated columns"
    df = pd.DataFrame(rows, columns=["seqid", "source", "type", "start", "end", "score", "strand", "phase", "attrs"])
    df[["start", "end"]] = df[["start", "end"]].astype(int)
    assert (df["start"] >= 1).all() and (df["start"] <= df["end"]).all()
    assert all(e <= lengths[s] for s, e in zip(df["seqid"], df["end"])), "1-based end within the sequence"
    assert df["strand"].isin(["+", "-", ".", "?"]).all() and df["phase"].eq(".").all()
    attrs = [dict(kv.split("=", 1) for kv in a.split(";")) for a in df["attrs"]]
    ids = [a["ID"] for a in attrs]
    assert len(set(ids)) == len(ids), "IDs are unique"
    known = set(ids)
    assert all(a["Parent"] in known for a in attrs if "Parent" in a), "every Parent is an ID of the file"
    float_or_dot = df["score"].map(lambda v: v == "." or float(v) >= 0)
    assert float_or_dot.all()
    return df.assign(ID=ids, Parent=[a.get("Parent") for a in attrs])


def test_gff3_follows_the_spec_and_nests(two_chunk_trace):
    df = validate_gff3(exports.chunks_gff3(two_chunk_trace), {"chr1": L})
    byid = df.set_index("ID")
    for _, r in df[df["Parent"].notna()].iterrows():  # a child lies inside its parent, same strand
        p = byid.loc[r["Parent"]]
        assert p["start"] <= r["start"] and r["end"] <= p["end"] and p["strand"] == r["strand"]


def test_gff3_on_a_planted_trace_is_valid_and_complete():
    from tests.synthetic import random_trace

    tr = random_trace(5000, 0.3, seed=1, record_id="rec A")  # a space in the id must be escaped
    text = exports.chunks_gff3(tr)
    df = validate_gff3(text, {"rec%20A": 5000})
    n_chunks = sum(st.n_chunks for sp in tr.passes for st in sp.stages)
    assert len(df) == n_chunks
    # every Stage 1 chunk (code stage 0) after the first Stage 2 boundary has a parent
    s1 = df[df["ID"].str.startswith("S1")]
    assert s1["Parent"].notna().mean() > 0.95


def test_gff3_one_file_per_stage(two_chunk_trace):
    """Stage 1 and Stage 2 as separate files (a browser shows each as its own track): no Parent pointing into the
    other file; the Stage 1 rows name their Stage 2 chunk by the ID it has in the Stage 2 file."""
    src = "chr1\tdnaHNet\tbiological_region"
    s1 = exports.chunks_gff3(two_chunk_trace, [0])
    s2 = exports.chunks_gff3(two_chunk_trace, [1])
    assert s1.splitlines()[2:] == [
        f"{src}\t1\t4\t1.000\t+\t.\tID=S1p.1;stage2_chunk=S2p.1",
        f"{src}\t1\t6\t0.800\t-\t.\tID=S1m.2;stage2_chunk=S2m.1",
        f"{src}\t5\t10\t0.900\t+\t.\tID=S1p.2;stage2_chunk=S2p.1",
        f"{src}\t7\t10\t1.000\t-\t.\tID=S1m.1;stage2_chunk=S2m.1",
    ]
    assert s2.splitlines()[2:] == [f"{src}\t1\t10\t1.000\t+\t.\tID=S2p.1", f"{src}\t1\t10\t1.000\t-\t.\tID=S2m.1"]
    df1, df2 = validate_gff3(s1, {"chr1": L}), validate_gff3(s2, {"chr1": L})
    assert df1["ID"].str.startswith("S1").all() and df2["ID"].str.startswith("S2").all()
    assert df1["Parent"].isna().all() and "Parent=" not in s1 + s2
    # the two files hold exactly the rows of the nested all-stages file
    both = exports.chunks_gff3(two_chunk_trace).replace(";Parent=", ";stage2_chunk=").splitlines()[2:]
    assert sorted(both) == sorted(s1.splitlines()[2:] + s2.splitlines()[2:])
    with pytest.raises(ValueError, match="0..1"):
        exports.chunks_gff3(two_chunk_trace, [2])


# ---------------------------------------------------------------------------------------------- track lines


def _track_settings(line: str) -> dict[str, str]:
    """key -> value of a track line, split the way igv.js does: tokens, then each at its first `=`."""
    import shlex

    tokens = shlex.split(line)
    assert tokens[0] == "track"
    return dict(t.split("=", 1) for t in tokens[1:])


def test_track_lines_have_no_equals_inside_values(two_chunk_trace):
    lines = [exports.boundaries_bed(two_chunk_trace, s).splitlines()[0] for s in (0, 1)]
    lines += [exports.bedgraph(two_chunk_trace, k, strand=d, stage=s).splitlines()[0]
              for k in ("p", "surprisal") for d in "+-" for s in (0, 1)]
    for line in lines:
        settings = _track_settings(line)
        assert {"name", "description"} <= set(settings), line
        assert not any("=" in v or '"' in v for v in settings.values()), line
    assert _track_settings(lines[0]) == {"name": "dnaHNet_Stage1_chunks", "useScore": "0",
                                         "description": "dnaHNet Stage 1 chunks (score: 1000 x boundary probability)"}
    # whatever text comes in: `=` becomes ': ', a double quote a single one, tabs and line breaks a space
    line = exports.track_line('n="a=b"', 'x = y "q"\n\tz', type="bedGraph", useScore=0).decode()
    assert line == "track type=bedGraph name=\"n: 'a: b'\" description=\"x: y 'q' z\" useScore=0\n"
    assert _track_settings(line) == {"type": "bedGraph", "name": "n: 'a: b'", "description": "x: y 'q' z",
                                     "useScore": "0"}
    with pytest.raises(ValueError, match="break the track line"):
        exports.track_line("n", "d", color="a b")


# ---------------------------------------------------------------------------------------------- BGZF + tabix


@pytest.fixture
def two_record_trace(two_chunk_trace) -> Trace:
    """chr2 (12 nt, '+' only; Stage 1 chunks [0,3) [3,7) [7,12), Stage 2 [0,7) [7,12)) first, then chr1 of
    `two_chunk_trace`: records in trace order, not name order."""
    p = np.array([1.0, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1], np.float32)
    chr2 = StrandPass("chr2", "+", 12, False, [_stage(np.arange(12), p, [0, 3, 7]), _stage([0, 3, 7], [1.0, 0.2, 0.9],
                                                                                         [0, 7])],
                      np.log(np.full(12, 0.25, np.float32)))
    return Trace([chr2] + two_chunk_trace.passes, {"test": True})


def _tabix(tmp_path, files: dict[str, bytes], name: str):
    import pysam

    for suffix, data in files.items():
        (tmp_path / f"{name}{suffix}").write_bytes(data)
    return pysam.TabixFile(str(tmp_path / f"{name}.gz"))


def test_tabix_bed_is_read_back_region_by_region(two_record_trace, tmp_path):
    text = exports.boundaries_bed(two_record_trace, 0)
    files = exports.tabix_track(text, "bed")
    assert sorted(files) == [".gz", ".gz.tbi"]
    # BGZF is gzip: the whole file reads back as the BED without its track line (which tabix would index)
    assert gzip.decompress(files[".gz"]).decode() == text.split("\n", 1)[1]
    tb = _tabix(tmp_path, files, "chunks.bed")
    assert sorted(tb.contigs) == ["chr1", "chr2"] and list(tb.header) == []
    # 0-based half-open queries: a chunk is returned when it shares a base with [start, end)
    assert list(tb.fetch("chr1", 5, 7)) == ["chr1\t0\t6\tS1-_2\t800\t-", "chr1\t4\t10\tS1+_2\t900\t+",
                                            "chr1\t6\t10\tS1-_1\t1000\t-"]
    assert list(tb.fetch("chr1", 0, 1)) == ["chr1\t0\t4\tS1+_1\t1000\t+", "chr1\t0\t6\tS1-_2\t800\t-"]
    assert list(tb.fetch("chr1", 9, 10)) == ["chr1\t4\t10\tS1+_2\t900\t+", "chr1\t6\t10\tS1-_1\t1000\t-"]
    assert list(tb.fetch("chr2", 3, 7)) == ["chr2\t3\t7\tS1+_2\t700\t+"]
    assert list(tb.fetch("chr2", 2, 4)) == ["chr2\t0\t3\tS1+_1\t1000\t+", "chr2\t3\t7\tS1+_2\t700\t+"]
    assert list(tb.fetch("chr2", 11, 12)) == ["chr2\t7\t12\tS1+_3\t600\t+"]


def test_tabix_gff3_is_read_back_region_by_region(two_record_trace, tmp_path):
    tb = _tabix(tmp_path, exports.tabix_track(exports.chunks_gff3(two_record_trace, [0]), "gff3"), "s1.gff3")
    assert list(tb.header) == ["##gff-version 3", "##sequence-region chr2 1 12", "##sequence-region chr1 1 10"]
    src = "dnaHNet\tbiological_region"
    # GFF3 is 1-based inclusive; fetch takes 0-based half-open [5, 7) = bases 6..7
    assert list(tb.fetch("chr1", 5, 7)) == [f"chr1\t{src}\t1\t6\t0.800\t-\t.\tID=chr1.S1m.2;stage2_chunk=chr1.S2m.1",
                                            f"chr1\t{src}\t5\t10\t0.900\t+\t.\tID=chr1.S1p.2;stage2_chunk=chr1.S2p.1",
                                            f"chr1\t{src}\t7\t10\t1.000\t-\t.\tID=chr1.S1m.1;stage2_chunk=chr1.S2m.1"]
    assert list(tb.fetch("chr1", 3, 4)) == [f"chr1\t{src}\t1\t4\t1.000\t+\t.\tID=chr1.S1p.1;stage2_chunk=chr1.S2p.1",
                                            f"chr1\t{src}\t1\t6\t0.800\t-\t.\tID=chr1.S1m.2;stage2_chunk=chr1.S2m.1"]
    assert list(tb.fetch("chr2", 6, 8)) == [f"chr2\t{src}\t4\t7\t0.700\t+\t.\tID=chr2.S1p.2;stage2_chunk=chr2.S2p.1",
                                            f"chr2\t{src}\t8\t12\t0.600\t+\t.\tID=chr2.S1p.3;stage2_chunk=chr2.S2p.2"]
    s2 = _tabix(tmp_path, exports.tabix_track(exports.chunks_gff3(two_record_trace, [1]), "gff3"), "s2.gff3")
    assert list(s2.fetch("chr2", 6, 7)) == [f"chr2\t{src}\t1\t7\t1.000\t+\t.\tID=chr2.S2p.1"]


def test_tabix_sorts_what_comes_unsorted_and_says_what_is_wrong(tmp_path):
    import pysam

    bed = "track name=x\nchrB\t5\t9\ta\nchrA\t7\t9\tb\nchrB\t1\t3\tc\nchrA\t2\t3\td\n"
    files = exports.tabix_track(bed, "bed")
    assert gzip.decompress(files[".gz"]).decode().splitlines() == ["chrA\t2\t3\td", "chrA\t7\t9\tb", "chrB\t1\t3\tc",
                                                                   "chrB\t5\t9\ta"]  # by seqid, then start
    tb = _tabix(tmp_path, files, "u.bed")
    assert list(tb.fetch("chrB", 0, 4)) == ["chrB\t1\t3\tc"] and list(tb.fetch("chrA", 8, 9)) == ["chrA\t7\t9\tb"]
    # a record past 512 Mb does not fit a .tbi index: a .csi one instead
    far = exports.TBI_MAX_END + 100
    files = exports.tabix_track(f"chr1\t{far}\t{far + 5}\tx\n", "bed")
    assert sorted(files) == [".gz", ".gz.csi"]
    for suffix, data in files.items():
        (tmp_path / f"far.bed{suffix}").write_bytes(data)
    tb = pysam.TabixFile(str(tmp_path / "far.bed.gz"), index=str(tmp_path / "far.bed.gz.csi"))
    assert list(tb.fetch("chr1", far + 4, far + 10)) == [f"chr1\t{far}\t{far + 5}\tx"]
    with pytest.raises(ValueError, match="integer start in column 2"):
        exports.tabix_track("chr1\tone\t5\n", "bed")
    with pytest.raises(ValueError, match="not 'vcf'"):
        exports.tabix_track("x", "vcf")


# ---------------------------------------------------------------------------------------------- text writer


def test_fast_tsv_matches_python_formatting():
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.integers(-10_000, 50_000_000, n)
    f = rng.normal(0, 40, n)
    codes = rng.integers(0, 3, n)
    present = rng.random(n) > 0.4
    got = tsv_bytes([Const(b"NC_1"), Int(a), Float(f, 2), [Text(lookup(["a", "bb", ""], codes)), Int(a, present)]],
                    n).decode()
    want = "".join(f"NC_1\t{x}\t{y:.2f}\t{['a', 'bb', ''][c]}{x if p else ''}\n"
                   for x, y, c, p in zip(a, np.round(f, 2), codes, present))
    assert got == want.replace("-0.00", "0.00")


# ---------------------------------------------------------------------------------------------- figures, tables


def _small_figure() -> go.Figure:
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[2, 1, 3], name="line"))
    fig.add_trace(go.Bar(x=["a", "b"], y=[1, 2], error_y=dict(array=[0.1, 0.2])))
    return fig.update_layout(title="test", height=300)


def test_html_embeds_plotly_for_offline_use():
    html = render.figure_to_bytes(_small_figure(), "html").decode()
    assert len(html) > 1_000_000 and "Plotly.newPlot" in html
    assert 'src="https://cdn.plot.ly' not in html


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_matplotlib_fallback_always_works(fmt):
    data = render.figure_to_bytes(_small_figure(), fmt, backend="matplotlib")
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert ET.fromstring(data).tag.endswith("svg")


@pytest.mark.browser
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_kaleido_export(fmt):
    if render.find_browser() is None:
        pytest.skip("no Chromium: PNG/SVG use the matplotlib fallback (run `make browser`)")
    data = render.figure_to_bytes(_small_figure(), fmt, backend="kaleido")
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert ET.fromstring(data).tag.endswith("svg")


def test_bad_format_is_refused():
    with pytest.raises(ValueError, match="unknown figure format"):
        render.figure_to_bytes(_small_figure(), "gif")


FORMULAS = ['=HYPERLINK("http://127.0.0.1:9/x","click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "a\r=1+1"]


def test_csv_cells_never_run_as_formulas(tmp_path):
    """Every CSV the project writes (app downloads and report tables via table_to_csv, the stats CLI via to_csv_dir)
    turns text cells starting with = + - @ tab CR into text ("'" first); numbers, numbers written as text and lone
    strand signs stay as they are; a CR inside a cell cannot start a row."""
    import csv
    import dataclasses

    from dnahnet.csv_cells import inert
    from interpret.analysis import BoundaryReport, Table

    assert [inert(v) for v in ("-0.5", "+1e-3", "-", "+", "12", "plain", 3, -0.5, None)] == [
        "-0.5", "+1e-3", "-", "+", "12", "plain", 3, -0.5, None]
    df = pd.DataFrame({"product": FORMULAS + ["-0.5", "-", "tRNA-Gly"], "fold": [-0.5] * 7 + [1.5, -2.0, 0.0],
                       "n": range(10)})
    rows = list(csv.reader(io.StringIO(exports.table_to_csv(df).decode(), newline="")))
    assert rows[0] == ["product", "fold", "n"] and len(rows) == 11  # the CR inside a cell started no row
    assert [r[0] for r in rows[1:]] == ["'" + v.replace("\r", "\n") for v in FORMULAS[:6]] + [
        "a\n=1+1", "-0.5", "-", "tRNA-Gly"]
    assert [r[1] for r in rows[1:]] == ["-0.5"] * 7 + ["1.5", "-2.0", "0.0"]
    back = pd.read_csv(io.BytesIO(exports.table_to_csv(df)))
    assert back["fold"].dtype == np.float64 and back["fold"].iloc[0] == -0.5
    # a text index and column names are cells too
    text = exports.table_to_csv(df.set_index("product").rename(columns={"n": "=n"})).decode()
    assert text.startswith("product,fold,'=n\n\"'=HYPERLINK(")
    # the stats CLI's directory of tables
    names = [f.name for f in dataclasses.fields(BoundaryReport) if f.type in (Table, "Table")]
    BoundaryReport(**{n: Table(n, "a table", df) for n in names}).to_csv_dir(tmp_path)
    assert (tmp_path / "enrichment.csv").read_bytes() == exports.table_to_csv(df)


def test_csv_and_zip():
    df = pd.DataFrame({"class": ["cds_pos1", "tss"], "rate": [0.1, 0.5]})
    assert exports.table_to_csv(df).decode().splitlines() == ["class,rate", "cds_pos1,0.1", "tss,0.5"]
    z = zipfile.ZipFile(io.BytesIO(exports.report_zip({"a.csv": b"x,y\n", "tracks/b.bed.gz": b"\x1f\x8b"})))
    assert sorted(z.namelist()) == ["dnahnet_report/a.csv", "dnahnet_report/tracks/b.bed.gz"]
    assert z.read("dnahnet_report/a.csv") == b"x,y\n"
