"""Browser-native tracks: bigWig values read back with pyBigWig at hand-computed 0-based coordinates (planted
traces), chromosome sizes in the header, circular records that stop at their end; the annotation BED; the report's
BGZF + tabix tracks of long analyses (read back by region with pysam); the IGV page (only local files or data: URIs,
no http(s) URL anywhere in it, indexURL beside indexed files, one GFF3 track per stage), its link from index.html,
and `interpret.serve`'s range requests."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pyBigWig = pytest.importorskip("pyBigWig")

from dnahnet.trace import StrandPass, Trace  # noqa: E402
from interpret import exports, report  # noqa: E402
from tests.synthetic import random_trace  # noqa: E402
from tests.test_exports import L, P0_MINUS, P0_PLUS, _stage  # noqa: E402 - the planted per-base p, shared


def _pass(rid, strand, length, p0, circular=False):
    lp = np.log(np.full(length, 0.25, np.float32))
    lp[0 if strand == "+" else length - 1] = np.nan  # the first base read is undecided
    pos = np.arange(length) if strand == "+" else np.arange(length)[::-1]
    b = [0, 4] if strand == "+" else [length - 1, 5]
    return StrandPass(rid, strand, length, circular, [_stage(pos, p0[pos], b), _stage(b, [1.0, 0.45], b[:1])], lp)


@pytest.fixture
def hand_trace() -> Trace:
    """chr1 (10 nt, both passes, p planted per record position) and chr2 (12 nt, '+' only)."""
    p2 = np.linspace(0.0, 1.1, 12).astype(np.float32)
    return Trace([_pass("chr1", "+", L, P0_PLUS), _pass("chr1", "-", L, P0_MINUS), _pass("chr2", "+", 12, p2)], {})


def _open(tmp_path, data: bytes, name="t.bw"):
    path = tmp_path / name
    path.write_bytes(data)
    return pyBigWig.open(str(path))


def test_bigwig_p_per_base_at_zero_based_positions(hand_trace, tmp_path):
    bw = _open(tmp_path, exports.bigwig(hand_trace, "p", strand="+", stage=0))
    assert bw.isBigWig() and bw.chroms() == {"chr1": 10, "chr2": 12}  # every record's length, in trace order
    assert np.allclose(bw.values("chr1", 0, L), P0_PLUS, atol=5e-4)
    assert bw.values("chr1", 4, 5) == pytest.approx([0.9], abs=5e-4)  # base 5 in 1-based terms
    assert np.allclose(bw.values("chr2", 0, 12), np.round(np.linspace(0.0, 1.1, 12), 3), atol=5e-4)
    # one value per base: intervals are 1 nt wide, 0-based half-open
    assert bw.intervals("chr1")[:2] == ((0, 1, pytest.approx(1.0)), (1, 2, pytest.approx(0.2)))
    minus = _open(tmp_path, exports.bigwig(hand_trace, "p", strand="-", stage=0), "m.bw")
    assert np.allclose(minus.values("chr1", 0, L), P0_MINUS, atol=5e-4)  # by record position, not reading order
    assert np.isnan(minus.values("chr2", 0, 12)).all()  # chr2 has no '-' pass: sized, empty


def test_bigwig_stage2_and_surprisal_leave_undecided_positions_empty(hand_trace, tmp_path):
    s2 = _open(tmp_path, exports.bigwig(hand_trace, "p", strand="-", stage=1, records=["chr1"]))
    assert s2.chroms() == {"chr1": 10}
    v = np.array(s2.values("chr1", 0, L))
    assert np.isclose(v[9], 1.0) and np.isclose(v[5], 0.45) and np.isnan(np.delete(v, [5, 9])).all()
    sur = _open(tmp_path, exports.bigwig(hand_trace, "surprisal", strand="+"), "s.bw")
    v = np.array(sur.values("chr1", 0, L))
    assert np.isnan(v[0]) and np.allclose(v[1:], 2.0)  # -log2(1/4) = 2 bits; base 0 undecided
    assert sur.intervals("chr1")[0][0] == 1


@pytest.mark.parametrize("stage", [0, 1])  # Stage 1 p on every base (fixed steps), Stage 2 sparse (variable steps)
def test_bigwig_of_a_synthetic_100kb_circular_trace(tmp_path, stage):
    n = 100_000
    trace = random_trace(n, 0.3, seed=3, circular=True)
    sp = trace.get("synthetic", "+")
    bw = _open(tmp_path, exports.bigwig(trace, "p", strand="+", stage=stage))
    assert bw.chroms() == {"synthetic": n}
    st = sp.stages[stage]
    want = np.full(n, np.nan)
    want[np.asarray(st.positions)] = np.round(np.asarray(st.p, np.float64), 3)
    got = np.array(bw.values("synthetic", 0, n))
    assert np.allclose(got, want, atol=5e-4, equal_nan=True)
    for x in (0, 1, 12_345, n - 1):  # hand-picked coordinates, the record's last base included
        assert bw.values("synthetic", x, x + 1)[0] == pytest.approx(want[x], abs=5e-4, nan_ok=True)
    ivs = bw.intervals("synthetic")
    assert ivs[0][0] >= 0 and ivs[-1][1] <= n  # circular: nothing past the end
    with pytest.raises(RuntimeError):
        bw.values("synthetic", n - 1, n + 1)
    mean = bw.stats("synthetic", 0, n, type="mean", exact=True)[0]
    assert mean == pytest.approx(np.nanmean(want), abs=1e-3)
    assert bw.stats("synthetic", 0, n, type="mean")[0] == pytest.approx(mean, abs=5e-3)  # from the zoom levels


def test_bigwig_gc_uses_the_sequence(hand_trace, tmp_path):
    seqs = {"chr1": "GGGGGAAAAA", "chr2": "ACGTNNACGTAC"}
    bw = _open(tmp_path, exports.bigwig(hand_trace, "gc", sequences=seqs, gc_window=1))
    assert bw.values("chr1", 0, L) == pytest.approx([1.0] * 5 + [0.0] * 5)
    v = np.array(bw.values("chr2", 0, 12))
    assert np.allclose(v[:4], [0, 1, 1, 0]) and np.isnan(v[4:6]).all()  # N has no GC fraction
    wide = _open(tmp_path, exports.bigwig(hand_trace, "gc", sequences=seqs, gc_window=3), "w.bw")
    assert wide.values("chr1", 0, 1)[0] == pytest.approx(1.0) and wide.values("chr1", 4, 6) == pytest.approx(
        [2 / 3, 1 / 3], abs=5e-4)
    with pytest.raises(ValueError):
        exports.bigwig(hand_trace, "gc")


@pytest.mark.parametrize("kind,stage", [("p", 0), ("p", 1), ("surprisal", 0)])
def test_bigwig_is_smaller_than_the_bedgraph(kind, stage):
    trace = random_trace(100_000, 0.3, seed=1)
    bw = exports.bigwig(trace, kind, strand="-", stage=stage)
    bg = exports.bedgraph(trace, kind, strand="-", stage=stage, as_bytes=True)
    if stage == 0:  # a value on every base: smaller than even the gzipped bedGraph, zoom levels included
        assert len(bw) < len(exports.gzip_bytes(bg)) < len(bg)
    else:  # sparse Stage 2 p: about the gzipped bedGraph's size, a third of the plain one
        assert len(bw) < 1.2 * len(exports.gzip_bytes(bg)) and 3 * len(bw) < len(bg)


def test_features_bed_splits_origin_crossers():
    feats = pd.DataFrame({"type": ["CDS", "gene", "tRNA", "CDS"], "start": [2, 2, 5, 95], "end": [8, 8, 7, 104],
                          "strand": [1, 1, -1, 1], "name": ["abc", "abc", "", "ori gene"],
                          "locus_tag": ["b1", "b1", "t1", "b9"]})
    ann = SimpleNamespace(features=feats, length=100)
    lines = exports.features_bed({"chr 1": ann}).decode().splitlines()
    assert lines == ["chr_1\t0\t4\tori_gene\t0\t+", "chr_1\t2\t8\tabc\t0\t+", "chr_1\t5\t7\tt1(tRNA)\t0\t-",
                     "chr_1\t95\t100\tori_gene\t0\t+"]


def _config(page: str) -> dict:
    m = re.search(r"igv\.createBrowser\(el, (\{.*\})\)\.then", page)
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.mark.parametrize("embed", [True, False])
def test_igv_page_reads_only_local_files(hand_trace, monkeypatch, embed):
    monkeypatch.setattr(exports, "igv_js", lambda: b"/* igv.js */")
    if not embed:
        monkeypatch.setattr(report, "IGV_EMBED_MAX_BYTES", 0)
    seqs = {"chr1": "ACGTACGTAC", "chr2": "GGGGCCCCAAAA"}
    feats = pd.DataFrame({"type": ["CDS"], "start": [1], "end": [7], "strand": [1], "name": ["g"], "locus_tag": ["b"]})
    files = report.track_files(hand_trace, sequences=seqs, annotations={"chr1": SimpleNamespace(features=feats,
                                                                                                 length=10)})
    assert {"tracks/stage1.p.plus.bw", "tracks/stage2.p.minus.bw", "tracks/surprisal.minus.bw", "tracks/gc.bw",
            "tracks/stage1.chunks.bed", "tracks/stage1.chunks.gff3", "tracks/stage2.chunks.gff3",
            "tracks/annotation.bed", "igv.html", "igv/igv.min.js"} <= set(files)
    assert not any(p.endswith((".bedgraph", ".gz", ".tbi")) for p in files)  # short: plain text, no index
    page = files["igv.html"].decode()
    assert not re.search(r"https?://", page, re.I)  # nothing fetched from the network, not even a link
    assert re.findall(r"<script src='([^']+)'", page) == ["igv/igv.min.js"]
    cfg = _config(page)
    assert cfg["loadDefaultGenomes"] is False and cfg["genomeList"] == []
    urls = [cfg["reference"]["fastaURL"]] + [t["url"] for t in cfg["tracks"]]
    names = [t["name"] for t in cfg["tracks"]]
    assert names[0] == "annotation" and "surprisal (+ pass)" in names and "GC" in names
    assert names.index("Stage 1 p (+ pass)") + 1 == names.index("Stage 1 p (− pass)")
    chunks = [t for t in cfg["tracks"] if t["name"].endswith("chunks")]  # one GFF3 track per stage
    assert [t["name"] for t in chunks] == ["Stage 1 chunks", "Stage 2 chunks"]
    assert all(t["format"] == "gff3" and t["visibilityWindow"] == report.IGV_CHUNKS_WINDOW for t in chunks)
    if embed:
        assert all(u.startswith("data:") for u in urls) and "igv/genome.fa" not in files
    else:
        assert all(u in files for u in urls)  # relative paths to files the report writes beside the page
        assert files["igv/genome.fa"].decode().startswith(">chr1\nACGTACGTAC\n>chr2\n")
        assert cfg["reference"]["indexURL"] == "igv/genome.fa.fai"
        fai = files["igv/genome.fa.fai"].decode().splitlines()  # name, length, offset, bases and bytes per line
        assert fai == ["chr1\t10\t6\t10\t11", "chr2\t12\t23\t12\t13"]
        assert [t["url"] for t in chunks] == ["tracks/stage1.chunks.gff3", "tracks/stage2.chunks.gff3"]
        assert all(t["indexed"] is False and "indexURL" not in t for t in cfg["tracks"] if t["format"] != "bigwig")
    assert all(not u.startswith("/") and ".." not in u for u in urls)


@pytest.mark.parametrize("embed", [True, False])
def test_long_analysis_tracks_are_bgzf_with_a_tabix_index(hand_trace, monkeypatch, tmp_path, embed):
    """gz (by default above report.GZIP_ABOVE_NT): BED and GFF3 are BGZF + .tbi, without a track line; the IGV page
    points at them with their indexURL (served), or embeds each as one gzip member (from disk)."""
    import gzip

    import pysam

    monkeypatch.setattr(exports, "igv_js", lambda: b"/* igv.js */")
    if not embed:
        monkeypatch.setattr(report, "IGV_EMBED_MAX_BYTES", 0)
    feats = pd.DataFrame({"type": ["CDS"], "start": [1], "end": [7], "strand": [1], "name": ["g"], "locus_tag": ["b"]})
    files = report.track_files(hand_trace, gz=True, sequences={"chr1": "ACGTACGTAC", "chr2": "GGGGCCCCAAAA"},
                               annotations={"chr1": SimpleNamespace(features=feats, length=10)})
    text = [f"tracks/stage{s}.chunks.{k}" for s in (1, 2) for k in ("bed", "gff3")] + ["tracks/annotation.bed"]
    assert {t + ".gz" for t in text} | {t + ".gz.tbi" for t in text} <= set(files)
    assert not set(text) & set(files)
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    bed = gzip.decompress(files["tracks/stage1.chunks.bed.gz"]).decode()
    assert bed == exports.boundaries_bed(hand_trace, 0).split("\n", 1)[1]  # the same lines, no track line
    tb = pysam.TabixFile(str(tmp_path / "tracks/stage1.chunks.bed.gz"))
    assert list(tb.fetch("chr2", 3, 5)) == ["chr2\t0\t4\tS1+_1\t0\t+", "chr2\t4\t12\tS1+_2\t400\t+"]  # p 0, 0.4
    gff = pysam.TabixFile(str(tmp_path / "tracks/stage2.chunks.gff3.gz"))
    assert [ln.split("\t")[8] for ln in gff.fetch("chr1", 0, 1)] == ["ID=chr1.S2p.1", "ID=chr1.S2m.1"]
    ann = pysam.TabixFile(str(tmp_path / "tracks/annotation.bed.gz"))
    assert list(ann.fetch("chr1", 6, 9)) == ["chr1\t1\t7\tg\t0\t+"] and list(ann.fetch("chr1", 7, 9)) == []
    cfg = _config(files["igv.html"].decode())
    chunks = {t["name"]: t for t in cfg["tracks"] if t["name"].endswith("chunks")}
    assert list(chunks) == ["Stage 1 chunks", "Stage 2 chunks"]
    if embed:  # one gzip member per file (igv.js inflates a data: URI in one go), the same text as the BGZF
        import base64

        data = base64.b64decode(chunks["Stage 1 chunks"]["url"].split(",", 1)[1])
        assert data[:2] == b"\x1f\x8b" and data[3] & 4 == 0  # no FEXTRA field: plain gzip, not BGZF
        assert gzip.decompress(data) == gzip.decompress(files["tracks/stage1.chunks.gff3.gz"])
        assert not any("indexURL" in t for t in cfg["tracks"])
    else:
        for t in [t for t in cfg["tracks"] if t["format"] != "bigwig"]:
            assert t["url"].endswith(".gz") and t["indexURL"] == t["url"] + ".tbi" and t["indexURL"] in files
    # by default by the nt analysed (both passes of chr1 and chr2's one: 32 nt)
    monkeypatch.setattr(report, "GZIP_ABOVE_NT", 32)
    assert "tracks/stage1.chunks.gff3" in report.track_files(hand_trace)
    monkeypatch.setattr(report, "GZIP_ABOVE_NT", 31)
    assert {"tracks/stage1.chunks.gff3.gz", "tracks/stage1.chunks.gff3.gz.tbi"} <= set(report.track_files(hand_trace))


def test_report_tracks_are_the_apps_list(hand_trace):
    """One list of track files (`report.track_catalogue`, also the app's downloads): every plain track the report
    writes is in it under the same name, with the bytes of that kind; bedGraph and the nested GFF3 are the app's
    only; names and kinds are unique."""
    seqs = {"chr1": "ACGTACGTAC", "chr2": "GGGGCCCCAAAA"}
    files = report.track_files(hand_trace, gz=False, sequences=seqs)
    catalogue = report.track_catalogue(hand_trace.n_stages, ["+", "-"])
    by_name = {t.name: t for t in catalogue}
    assert len({t.kind for t in catalogue}) == len(by_name) == len(catalogue) == 18
    written = {p.removeprefix("tracks/") for p in files if p.startswith("tracks/")}
    assert written == {n for n, t in by_name.items() if not t.kind.startswith("bedgraph") and t.kind != "gff3"}
    for name in written:
        assert files[f"tracks/{name}"] == report.track_file_bytes(hand_trace, by_name[name].kind, sequences=seqs)
    assert by_name["stage1.chunks.bed"].label == "Stage 1 boundaries (BED)"
    assert report.track_file_bytes(hand_trace, "bedgraph:p:1:-") == exports.bedgraph(hand_trace, "p", "-", 1,
                                                                                     as_bytes=True)


def test_serve_answers_range_requests(tmp_path):
    """interpret.serve: what igv.js asks for an indexed file (a byte range) comes back as 206 with those bytes."""
    import threading
    import urllib.error
    import urllib.request

    from interpret.serve import server

    data = bytes(range(256)) * 4
    (tmp_path / "t.bed.gz").write_bytes(data)
    httpd = server(str(tmp_path), port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/t.bed.gz"

    def get(rng=None):
        req = urllib.request.Request(url, headers={"Range": rng} if rng else {})
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers.get("Content-Range"), r.read()
    try:
        assert get() == (200, None, data)
        assert get("bytes=10-19") == (206, "bytes 10-19/1024", data[10:20])
        assert get("bytes=1000-") == (206, "bytes 1000-1023/1024", data[1000:])
        assert get("bytes=-4") == (206, "bytes 1020-1023/1024", data[-4:])
        assert get("bytes=1020-5000") == (206, "bytes 1020-1023/1024", data[1020:])
        with pytest.raises(urllib.error.HTTPError) as e:
            get("bytes=2000-2010")
        assert e.value.code == 416 and e.value.headers["Content-Range"] == "bytes */1024"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_igv_page_is_linked_from_the_index(hand_trace, monkeypatch):
    from interpret.report_html import index_html

    monkeypatch.setattr(exports, "igv_js", lambda: b"/* igv.js */")
    files = report.track_files(hand_trace, sequences={"chr1": "A" * 10, "chr2": "C" * 12})
    page = index_html(hand_trace, [], [], files, [], None, "t")
    assert "href='igv.html'" in page and "tracks/gc.bw" in page and "bigWig" in page
    assert "igv.html" not in report.track_files(hand_trace)  # no sequences, no page


def test_vendored_igv_js_is_the_npm_build():
    js = exports.igv_js()
    if js is None:
        pytest.skip("igv.js not vendored (make igv)")
    assert b"createBrowser" in js and len(js) > 500_000


def _browser_or_skip():
    pytest.importorskip("playwright")
    from tools.screenshots import chromium_path

    if chromium_path() is None:
        pytest.skip("no Chromium (make browser)")
    if exports.igv_js() is None:
        pytest.skip("igv.js not vendored (make igv)")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("embed,indexed", [(True, False), (False, False), (False, True)])
def test_igv_page_opens_its_tracks_in_headless_chromium(tmp_path, monkeypatch, embed, indexed):
    """The real igv.js loads the genome and every track with no console error and no request off this machine:
    from disk (file://) when embedded, from `interpret.serve` when the page points at the files beside it; with
    BGZF + tabix tracks and the .fai it asks for byte ranges of them (the region shown), not whole files."""
    import contextlib
    import threading

    from tools.screenshots import chromium_page
    from interpret.serve import server

    _browser_or_skip()
    if not embed:
        monkeypatch.setattr(report, "IGV_EMBED_MAX_BYTES", 0)
    n = 30_000
    trace = random_trace(n, 0.3, seed=2)
    seq = "".join(np.random.default_rng(2).choice(list("ACGT"), n))
    feats = pd.DataFrame({"type": ["CDS"], "start": [100], "end": [900], "strand": [1], "name": ["geneA"],
                          "locus_tag": ["b1"]})
    files = report.track_files(trace, gz=indexed, sequences={"synthetic": seq},
                               annotations={"synthetic": SimpleNamespace(features=feats, length=n)})
    assert any(p.endswith(".gz.tbi") for p in files) == indexed
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    n_tracks = len(_config(files["igv.html"].decode())["tracks"])

    with contextlib.ExitStack() as stack:
        if embed:
            url = (tmp_path / "igv.html").as_uri()
        else:
            httpd = server(str(tmp_path), port=0)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            stack.callback(httpd.server_close)
            stack.callback(httpd.shutdown)
            url = f"http://127.0.0.1:{httpd.server_address[1]}/igv.html"
        page = stack.enter_context(chromium_page(width=1200, height=900))
        errors, remote, ranged = [], [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))  # igv.js alerts on trouble
        page.on("request", lambda r: ranged.append(r.url.rsplit("/", 1)[-1]) if r.headers.get("range") else None)

        def route(r):
            u = r.request.url
            if u.startswith(("file:", "data:", "blob:", "http://127.0.0.1")):
                return r.continue_()
            remote.append(u)
            return r.abort()

        page.route("**/*", route)
        page.goto(url)
        page.wait_for_function("() => window.igvBrowser !== undefined", timeout=60_000)
        page.wait_for_function(f"() => window.igvBrowser.trackViews.length >= {n_tracks}", timeout=60_000)
        page.wait_for_timeout(1500)
        names = page.evaluate("() => window.igvBrowser.trackViews.map(v => v.track.name)")
        assert "IGV could not open" not in page.inner_text("body")
    assert remote == [] and errors == []
    assert {"annotation", "Stage 1 chunks", "Stage 2 chunks", "Stage 2 p (+ pass)", "surprisal (− pass)",
            "GC"} <= set(names)
    if indexed:  # igv.js read regions of the indexed files (through their .tbi), not the whole files
        assert {"stage1.chunks.gff3.gz", "stage2.chunks.gff3.gz", "genome.fa"} <= set(ranged)
