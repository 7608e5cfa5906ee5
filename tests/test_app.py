"""The Streamlit app in AppTest: every page renders, uploads work, bad input is reported, exports are real files.

A tiny random checkpoint (saved here, passed with DNAHNET_CHECKPOINT) keeps runs to seconds; the bundled
checkpoint gets one smoke test when it exists. Download buttons are captured at Streamlit's media manager, so the
bytes checked are the bytes a user would get.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.runtime.media_file_manager import MediaFileManager  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.conftest import REPO_ROOT, _genbank_text, feature_line  # noqa: E402

APP = REPO_ROOT / "app" / "main.py"
PAGES = ("enrichment", "latents", "levels", "vocabulary", "about")
TIMEOUT = 300


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dnahnet_cache")


@pytest.fixture
def app_env(monkeypatch, tiny_checkpoint, cache_dir):
    """Environment of a fast app: tiny model, private cache, few null draws, one torch thread."""
    import torch

    monkeypatch.setenv("DNAHNET_CHECKPOINT", str(tiny_checkpoint))
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("DNAHNET_APP_N_NULL", "40")
    torch.set_num_threads(1)


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """file name -> bytes (or a zero-argument callable for deferred downloads) of every download button drawn."""
    got: dict = {}
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def spy_add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if file_name:
            got.pop(file_name, None)  # the latest run's file comes last
            got[file_name] = path_or_data
        return add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    def spy_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        if file_name:
            got.pop(file_name, None)
            got[file_name] = data_callable
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", spy_add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", spy_deferred)
    return got


def payload(downloads: dict, suffix: str) -> bytes:
    """The bytes of the latest download whose file name ends with `suffix` (deferred ones are generated now)."""
    names = [n for n in downloads if n.endswith(suffix)]
    assert names, f"no download ending in {suffix!r}; have {sorted(downloads)[:20]}"
    data = downloads[names[-1]]
    data = data() if callable(data) else data
    return data.encode() if isinstance(data, str) else bytes(data)


def synthetic_genbank(length: int = 4000, seed: int = 0, name: str = "SYNTH1") -> str:
    """A small GenBank record with three genes (one on the minus strand) and random sequence."""
    rng = random.Random(seed)
    seq = "".join(rng.choice("ACGT") for _ in range(length))
    feats = (feature_line("gene", "201..1100", locus_tag="SYN_0001", gene="synA")
             + feature_line("CDS", "201..1100", locus_tag="SYN_0001", gene="synA", product="alpha protein")
             + feature_line("CDS", "complement(1401..2300)", locus_tag="SYN_0002", gene="synB", product="beta protein")
             + feature_line("CDS", "2601..3600", locus_tag="SYN_0003", product="gamma protein"))
    seq = seq[:200] + "ATG" + seq[203:1097] + "TAA" + seq[1100:]
    return _genbank_text(name, seq, feats)


def new_app(source: str = "Upload a file") -> AppTest:
    """A fresh app session, run once; opening on the upload form skips analysing the default sample."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["source"] = source
    return at.run()


def upload(at: AppTest, name: str, data: bytes, key: str = "genome_file") -> AppTest:
    """Upload `data` as `name` into the sidebar uploader `key` (the app must show the upload form)."""
    uploader = next(u for u in at.get("file_uploader") if u.key == key)
    uploader.set_value((name, data, "application/octet-stream"))
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, "\n".join(e.message + "\n" + "\n".join(e.stack_trace[-8:]) for e in at.exception)


def messages(at: AppTest) -> str:
    return "\n".join([e.value for e in at.error] + [w.value for w in at.warning])


# ---------------------------------------------------------------------------------------------- pages
@pytest.mark.slow
@pytest.mark.data
def test_default_sample_and_every_page(app_env, data_dir, downloads):
    """The first page opens on phage lambda, analysed; every page renders with figures and no exception."""
    at = new_app("Sample genome")
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.record_id.startswith("NC_001416") and a.strands == ["+", "-"] and a.n_stages == 2
    assert at.title[0].value == "Genome browser" and len(at.get("plotly_chart")) >= 1
    assert not at.error
    at.session_state["lat_method"] = "pca"  # UMAP's first call compiles for a minute; PCA checks the same page
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        no_exception(at)
        assert not at.error, messages(at)
        if page != "about":
            assert len(at.get("plotly_chart")) >= 1, page
    assert "dnaHNet" in at.title[0].value  # About
    png = payload(downloads, "_levels.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_upload_synthetic_genbank_browser_and_exports(app_env, downloads):
    """Upload → analysis → tracks; figure and track downloads are real PNG / SVG / HTML / BED / bedGraph / GFF3."""
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    no_exception(at)
    assert not at.error, messages(at)
    a = at.session_state["analysis"]
    assert a.record_id == "SYNTH1.1" and a.length == 4000
    assert len(at.get("plotly_chart")) == 1

    png = payload(downloads, "_tracks.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    svg = payload(downloads, "_tracks.svg").decode()
    assert "<svg" in svg[:2000]
    html = payload(downloads, "_tracks.html").decode()
    assert "<html" in html.lower() and "plotly" in html.lower()
    bed = payload(downloads, ".stage1.chunks.bed").decode().splitlines()  # named as in the report's tracks/
    assert bed[0].startswith("track") and len(bed) > 100
    fields = bed[1].split("\t")
    assert len(fields) == 6 and fields[0] == "SYNTH1.1" and int(fields[1]) < int(fields[2]) and fields[5] in "+-"
    graph = payload(downloads, ".stage1.p.plus.bedgraph").decode().splitlines()
    assert graph[0].startswith("track type=bedGraph") and len(graph[1].split("\t")) == 4
    gff = payload(downloads, ".chunks.gff3").decode().splitlines()
    assert gff[0] == "##gff-version 3" and any("\tbiological_region\t" in line for line in gff)
    csv = payload(downloads, "_features.csv").decode()
    assert "SYN_0002" in csv


def test_track_downloads_offer_bigwig(app_env, downloads, tmp_path):
    """The track popover offers bigWig of p (per stage and strand), surprisal (per strand) and GC, named as in the
    report; each reads back with pyBigWig: the record's length in the header, the bedGraph's values at its bases."""
    pyBigWig = pytest.importorskip("pyBigWig")
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    no_exception(at)
    a = at.session_state["analysis"]
    suffixes = [f".stage{s + 1}.p.{w}.bw" for s in range(a.n_stages) for w in ("plus", "minus")]
    suffixes += [".surprisal.plus.bw", ".surprisal.minus.bw", ".gc.bw"]
    for suffix in suffixes:
        path = tmp_path / f"t{suffix}"
        path.write_bytes(payload(downloads, suffix))
        bw = pyBigWig.open(str(path))
        try:
            assert bw.isBigWig() and bw.chroms() == {"SYNTH1.1": 4000}, suffix
            if suffix.endswith(".gc.bw"):
                values = bw.values("SYNTH1.1", 0, 4000, numpy=True)
                assert ((values >= 0) & (values <= 1)).all()
                continue
            graph = payload(downloads, suffix.replace(".bw", ".bedgraph")).decode().splitlines()[1:]
            for line in graph[:: max(len(graph) // 20, 1)]:
                chrom, lo, hi, value = line.split("\t")
                got = bw.values(chrom, int(lo), int(hi), numpy=True)
                assert got == pytest.approx(float(value), abs=0.006), (suffix, line)
        finally:
            bw.close()


def test_enrichment_page_says_what_nulls_keep_and_where_p_stops(app_env, downloads):
    """The Enrichment page names what each null keeps, says where p and q stop (40 draws: 2/41 → 0.049), shows z,
    and writes a p at that floor as "≤ 0.049", never as a number that looks marginal or as "0"."""
    from interpret.nulls import NULL_KEEPS

    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at.switch_page("views/enrichment.py").run()
    no_exception(at)
    captions = "\n".join(c.value for c in at.caption)
    assert NULL_KEEPS["shift"] in captions and NULL_KEEPS["perm"] in captions
    assert "With 40 null draws p cannot go below 0.049" in captions
    table = at.dataframe[0].value
    assert {"fold (rate ÷ the stage's overall rate)", "z (circular shifts)", "p (circular shifts)",
            "q (circular shifts)", "z (permuted lengths)", "p (permuted lengths)"} <= set(table.columns)
    assert len(table) > 5
    for p in table["p (circular shifts)"]:
        assert p.startswith("≤ 0.049") or float(p) > 2 / 41, p
    csv = payload(downloads, "_Stage1_enrichment.csv").decode()
    assert "p (circular shifts)" in csv.splitlines()[0] and "per nucleotide" in csv.splitlines()[0]


def test_metagene_n_counts_the_anchors_of_the_region(app_env):
    """Region 1..2,000 of the synthetic record holds the start codon of synA only (synB's, on the minus strand, is at
    2,300 and SYN_0003's at 2,601) and the stop codons of synA (1,098) and synB (1,401): n = 1 and n = 2."""
    at = apply_region(upload(new_app(), "synthetic.gbk", synthetic_genbank().encode()), "1-2,000")
    assert at.session_state["analysis"].settings.region == (0, 2_000)
    at.switch_page("views/enrichment.py").run()
    no_exception(at)
    specs = "\n".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Start codon (n = 1)" in specs and "Stop codon (n = 2)" in specs


def test_track_choices_survive_a_change_of_genome(app_env):
    """Choices made for one analysis (strand passes, feature types) do not break the next one."""
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at.multiselect(key="browser_strands").set_value(["-"]).run()
    at.multiselect(key="browser_feature_types").set_value(["gene"]).run()
    no_exception(at)
    at.sidebar.radio(key="strands").set_value("+").run()  # a forward-only analysis has no "-" pass
    no_exception(at)
    assert at.session_state["analysis"].strands == ["+"] and len(at.get("plotly_chart")) == 1


def test_gene_search_zooms_to_bases(app_env):
    """Finding a gene by locus tag opens a window around it; a ≤ 300 nt window shows bases and codon positions."""
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at.text_input(key="gene_query").set_value("beta protein").run()
    assert at.selectbox(key="gene_pick").value is not None
    at.button(key="gene_go").click().run()
    no_exception(at)
    key, (lo, hi) = at.session_state["view"]
    assert lo <= 1400 and hi >= 2300 and hi - lo < 1500  # SYN_0002 is 1401..2300 (1-based)
    at.number_input(key="view_start").set_value(1401).run()
    at.number_input(key="view_end").set_value(1500).run()
    no_exception(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = {v["title"]["text"] for k, v in fig["layout"].items() if k.startswith("yaxis") and "title" in v}
    assert "Sequence" in titles  # the bases row
    names = {t.get("name") for t in fig["data"]}
    assert "sequence" in names and "codon positions -" in names  # the letters, and SYN_0002's codon positions
    assert "codon positions +" not in names  # no gene on the + strand in 1,401..1,500


def test_report_zip(app_env, downloads):
    """The sidebar's report zip holds tables, figures, tracks, the trace and an index (HTML figures only here:
    the PNG/SVG export itself is checked per figure above)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["source"] = "Upload a file"
    at.session_state["report_static"] = False
    at = upload(at.run(), "synthetic.gbk", synthetic_genbank(length=3000, seed=1, name="ZIPPED").encode())
    no_exception(at)
    at = at.button(key="build_report_zip").click().run()  # built with a progress bar, then offered for download
    no_exception(at)
    data = payload(downloads, "_report.zip")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert any(n.endswith("index.html") for n in names)
    assert any(n.endswith("tables/enrichment.csv") for n in names)
    assert any(n.endswith("figures/enrichment_fold.html") for n in names)
    assert any(n.endswith(".bed") for n in names) and any(n.endswith("trace.npz") for n in names)


@pytest.mark.data
def test_real_genbank_upload_on_a_region(app_env, genomes_dir):
    """M. genitalium (580 kb, gzipped GenBank) uploaded and analysed on a 15 kb region."""
    path = genomes_dir / "Mycoplasma_genitalium_G37_NC_000908.gbk.gz"
    at = upload(new_app(), path.name, path.read_bytes())
    no_exception(at)
    assert any(b.label == "Run analysis" for b in at.button)  # the whole genome waits for a click
    at = apply_region(at, "10,001-25,000")
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.record_id.startswith("NC_000908") and a.settings.region == (10_000, 25_000)
    sp = a.strand_pass("+")
    assert sp.stages[0].positions.min() == 10_000 and sp.stages[0].positions.max() == 24_999
    assert len(at.get("plotly_chart")) == 1 and not at.error


# ---------------------------------------------------------------------------------------------- bad input
BAD_UPLOADS = {
    "empty": ("empty.gbk", b"", "error", "empty"),
    "fasta_named_genbank": ("genome.gbk", b">seq1 a FASTA record\n" + b"ACGT" * 500 + b"\n", "warning",
                            "expected GenBank but the file is FASTA"),
    "malformed_record": ("two.gbk", (synthetic_genbank(name="GOODA") + "LOCUS       BROKEN\nFEATURES  x\nORIGIN\n"
                                      "   1 acgtacgt\n//\n").encode(), "warning", "BROKEN"),
    "bad_characters": ("seqs.fasta", b">bad\nACGTXX##!!12ACGT\n>good\n" + b"ACGT" * 400 + b"\n", "warning",
                       "not DNA"),
    "unknown_extension": ("genome.xyz", synthetic_genbank().encode(), "warning", "unknown file extension"),
    "not_a_genome": ("notes.gb", b"hello world\nthis is not a genome\n", "error", "not recognised"),
    "binary": ("image.gbk.gz", bytes(range(256)) * 8, "error", "Could not read"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_reported(app_env, case):
    """Each bad file gives a clear error or warning naming the problem; no exception; what is usable is used."""
    name, data, level, text = BAD_UPLOADS[case]
    at = upload(new_app(), name, data)
    no_exception(at)
    shown = at.error if level == "error" else at.warning
    assert shown, f"expected an st.{level} for {case}; got: {messages(at)!r}"
    assert any(text.lower() in m.value.lower() for m in shown), messages(at)
    if level == "warning":  # the readable part of the file was analysed
        assert at.session_state["analysis"] is not None and len(at.get("plotly_chart")) == 1


def test_bad_companion_table_keeps_the_genome(app_env):
    """A promoter/TSS table that cannot be read is reported; the genome is still analysed."""
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at = upload(at, "tss.csv", b"\x00\x01garbage;;;\n\x02", key="companion_file")
    no_exception(at)
    assert any("tss.csv" in m for m in messages(at).splitlines() if m), messages(at)
    assert at.session_state["analysis"].record_id == "SYNTH1.1"


def test_companion_table_adds_promoter_classes(app_env):
    """A TSS / −10 table uploaded beside a genome marks those classes in the analysis' annotation."""
    table = b"type,position,strand\nTSS,150,+\nTSS,2350,-\n-10,140,+\n"
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at = upload(at, "promoters.csv", table, key="companion_file")
    no_exception(at)
    assert not at.error, messages(at)
    from app import results

    ann = results.annotation(at.session_state["analysis"])
    assert ann.mask("+", "tss")[149] and ann.mask("-", "tss")[2349] and ann.mask("+", "promoter_10").sum() >= 1


def test_companion_rows_of_unknown_seqids_are_reported(app_env):
    """A promoter/TSS table naming sequences the genome does not have: the warning counts and names them and lists
    the record ids there are; the sidebar shows how many rows each record got; the matching rows are used."""
    table = b"seqid,type,position,strand\nSYNTH1,TSS,150,+\nchrX,TSS,20,+\nchrX,TSS,30,-\nNC_999,TSS,40,+\n"
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at = upload(at, "promoters.csv", table, key="companion_file")
    no_exception(at)
    warning = next(w.value for w in at.warning if "promoters.csv" in w.value)
    assert ("3 of 4 rows name a seqid that matches no record and were ignored\\: 'chrX' (2 rows), 'NC\\_999' (1 row)"
            in warning and "Records\\: SYNTH1.1" in warning), warning
    assert any("promoters.csv: 4 rows; per record: SYNTH1.1 1" in c.value for c in at.sidebar.caption)
    from app import results

    ann = results.annotation(at.session_state["analysis"])
    assert ann.mask("+", "tss")[149] and int(ann.mask("+", "tss").sum() + ann.mask("-", "tss").sum()) == 1


INJECTION = "![x](http://127.0.0.1:9/x.png) <img src=x onerror=alert(1)> `tick`"
_ACTIVE = re.compile(r"(?<!\\)(?:\\\\)*[\[\]<>`!]")  # an unescaped character that makes a link, image, HTML or code


def _shown(markdown: str) -> str:
    """The text a CommonMark renderer shows for markdown without active syntax: backslash escapes resolved."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def _markdown_texts(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit's markdown: text elements, alerts, headings, expander/status labels."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader")
    return [e.value for k in kinds for e in at.get(k)] + [e.label for e in at.get("expandable")]


def test_user_text_is_shown_as_plain_text(app_env, downloads):
    """A DEFINITION line, gene names and a file name holding markdown image, HTML and backtick syntax reach the page
    as plain text (every such character escaped, the literal text what a reader sees); a product "=HYPERLINK(...)"
    comes out of the features CSV inert; a search for markdown finds nothing and says so in plain text."""
    rng = random.Random(11)
    seq = "".join(rng.choice("ACGT") for _ in range(4000))
    seq = seq[:200] + "ATG" + seq[203:1097] + "TAA" + seq[1100:]
    feats = (feature_line("CDS", "201..1100", locus_tag="INJ_1", gene=INJECTION, product="=HYPERLINK(A1)")
             + feature_line("CDS", "complement(1401..2300)", gene=INJECTION + " 2")
             + "                     /product\n                     broken qualifier\n"
             + feature_line("CDS", "2601..3600", gene=INJECTION + " 3") + "                     /pseudo\n")
    text = _genbank_text("INJ", seq, feats).replace("synthetic record INJ.", INJECTION + " record.")
    name = "![x](x.png) <img src=x onerror=alert(1)> `t`.gbk"
    at = upload(new_app(), name, text.encode())
    no_exception(at)
    assert at.session_state["analysis"].record.description == INJECTION + " record"
    at.text_input(key="gene_query").set_value("![y](y.png)").run()
    no_exception(at)
    texts = [t for t in _markdown_texts(at) if "png" in t or "onerror" in t or "tick" in t]
    shown = [_shown(t) for t in texts]
    assert any(INJECTION + " record" in t for t in shown)  # the page header's DEFINITION
    assert any(name in t and f"feature CDS '{INJECTION} 2'" in t for t in shown)  # file name + genome_io's note
    assert any(f"(e.g. {INJECTION} 3)" in t for t in shown)  # the annotation's pseudogene note
    assert any("No feature matches “![y](y.png)”" in t for t in shown)
    for t in texts:
        assert not _ACTIVE.search(t), t
    cells = [row[list(rows[0]).index("product")] for rows in [list(csv.reader(io.StringIO(
        payload(downloads, "_features.csv").decode())))] for row in rows[1:]]
    assert "'=HYPERLINK(A1)" in cells and not any(c.startswith("=") for c in cells)


def test_gzip_bomb_upload_is_refused(app_env, monkeypatch):
    """A small .gz that inflates past the cap is refused with the reason; the app stays usable."""
    import gzip

    monkeypatch.setenv("DNAHNET_MAX_INFLATED_BYTES", "200000")
    bomb = gzip.compress(b">big\n" + b"A" * 3_000_000, compresslevel=9)
    at = upload(new_app(), "bomb.fa.gz", bomb)
    no_exception(at)
    assert any("inflates to more than 200,000 bytes" in e.value and "DNAHNET\\_MAX\\_INFLATED\\_BYTES" in e.value
               for e in at.error), messages(at)
    assert at.session_state["analysis"] is None


def test_fasta_with_gff3_gets_its_genes(app_env):
    """FASTA + GFF3: the genes of the GFF3 file appear in the analysis' annotation."""
    rng = random.Random(5)
    fasta = (">chr1\n" + "".join(rng.choice("ACGT") for _ in range(3000)) + "\n").encode()
    gff = (b"##gff-version 3\nchr1\ttest\tgene\t101\t400\t.\t+\t.\tID=g1;Name=tstA;locus_tag=T_1\n"
           b"chr1\ttest\tCDS\t101\t400\t.\t+\t0\tID=c1;Parent=g1;product=test protein;locus_tag=T_1\n")
    at = upload(new_app(), "genome.fna", fasta, key="genome_file")
    at = upload(at, "genome.gff3", gff, key="gff_file")
    no_exception(at)
    from app import results

    ann = results.annotation(at.session_state["analysis"])
    assert "T_1" in set(ann.features["locus_tag"]) and ann.codon_pos["+"][100:400].min() >= 1


def test_record_picker_for_multi_record_files(app_env):
    """A file with two records offers a record picker; the analysis follows the pick."""
    two = synthetic_genbank(name="FIRST") + synthetic_genbank(length=3000, seed=9, name="SECOND")
    at = upload(new_app(), "two.gbk", two.encode())
    no_exception(at)
    assert at.session_state["analysis"].record_id == "FIRST.1"
    at.sidebar.selectbox(key="record").set_value("SECOND.1").run()
    no_exception(at)
    assert at.session_state["analysis"].record_id == "SECOND.1" and at.session_state["analysis"].length == 3000
    # a region belongs to its record: picking a shorter record leaves it (no exception), the whole record shows
    at.sidebar.selectbox(key="record").set_value("FIRST.1").run()
    at = apply_region(at, "1-3,800")
    assert at.session_state["analysis"].settings.region == (0, 3_800)
    at.sidebar.selectbox(key="record").set_value("SECOND.1").run()
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.record_id == "SECOND.1" and a.settings.region is None
    assert at.sidebar.text_input(key="locus_query").value == ""
    at.switch_page("views/about.py").run()
    at.switch_page("views/browser.py").run()  # the window's From/To come back with the page
    no_exception(at)
    assert at.number_input(key="view_end").value == at.session_state["view"][1][1]


def test_fasta_without_annotation_still_renders(app_env):
    """A bare FASTA (no features) analyses; statistics pages explain instead of failing."""
    rng = random.Random(3)
    fasta = (">plain a sequence without genes\n" + "".join(rng.choice("ACGT") for _ in range(3000)) + "\n").encode()
    at = upload(new_app(), "plain.fa", fasta)
    no_exception(at)
    assert at.session_state["analysis"].record_id == "plain"
    for page in ("enrichment", "levels"):
        at.switch_page(f"views/{page}.py").run()
        no_exception(at)


def test_long_analysis_runs_in_the_background(app_env, monkeypatch):
    """Above the auto-run size a click starts a background job; the page shows its progress, then the result."""
    import time

    from app import runner

    monkeypatch.setattr(runner, "AUTO_RUN_NT", 1_000)
    at = upload(new_app(), "long.gbk", synthetic_genbank(length=4000, seed=7, name="LONGRUN").encode())
    no_exception(at)
    assert at.session_state["analysis"] is None and not at.get("plotly_chart")
    at.button(key="run_button").click().run()
    no_exception(at)
    for _ in range(240):  # the job thread finishes in seconds; each run polls it
        if at.session_state["analysis"] is not None:
            break
        time.sleep(0.5)
        at.run()
    no_exception(at)
    assert at.session_state["analysis"].record_id == "LONGRUN.1" and len(at.get("plotly_chart")) == 1


def test_samples_not_on_this_machine_wait_for_a_download_click(app_env, monkeypatch, tmp_path):
    """Without the data directory the default sample is offered for download, not fetched behind the user's back."""
    from app import inputs

    monkeypatch.setenv("DNAHNET_DATA_DIR", str(tmp_path / "no_data_here"))
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(tmp_path / "cache"))
    inputs.sample_options.clear()
    try:
        at = new_app("Sample genome")
    finally:
        inputs.sample_options.clear()
    no_exception(at)
    assert any("not on this machine" in i.value for i in at.info)
    assert at.sidebar.button(key="fetch_sample") is not None and at.session_state["analysis"] is None


def test_region_end_before_start_is_an_error(app_env):
    at = apply_region(upload(new_app(), "synthetic.gbk", synthetic_genbank().encode()), "3,000-1,000")
    no_exception(at)
    assert any("the end (1,000) comes before the start (3,000)" in e.value for e in at.error), messages(at)
    assert at.session_state["analysis"].settings.region is None  # the whole record stays


# ---------------------------------------------------------------------------------------------- units
def test_view_window_arithmetic():
    from app import viewport as view

    span = (0, 10_000)
    assert view.clip(-50, 100, span) == (0, 150)
    assert view.clip(9_990, 10_050, span) == (9_940, 10_000)
    assert view.zoom((0, 10_000), 0.25, span) == (3_750, 6_250)
    assert view.zoom((5_000, 5_040), 0.25, span)[1] - view.zoom((5_000, 5_040), 0.25, span)[0] == view.MIN_SPAN
    assert view.pan((0, 1_000), 0.5, span) == (500, 1_500) and view.pan((0, 1_000), -0.5, span) == (0, 1_000)
    assert view.default_window((0, 4_000_000)) == (0, view.DEFAULT_MAX_SPAN)


def test_box_selection_and_latent_selection():
    import pandas as pd

    from app import results
    from app import viewport as view

    # the tracks' x-axis counts bases from 1: a box over x 101.2..200.4 is bases 101..200 = [100, 200)
    assert view.window_from_box([{"x": [200.4, 101.2], "y": [0, 1]}]) == (100, 200)
    assert view.window_from_box([]) is None
    table = pd.DataFrame({"start": [5, 50, 500], "end": [8, 53, 506]})
    event = {"selection": {"points": [{"customdata": [2, 500, 506, "+", "r"]}, {"customdata": [0, 5, 8, "-", "r"]},
                                      {"customdata": [2, 500, 506, "+", "r"]}]}}
    assert list(results.selected_rows(event, table)["start"]) == [5, 500]
    assert results.selected_rows({"selection": {"points": []}}, table).empty


def test_find_features_by_name_tag_product():
    import pandas as pd

    from app import viewport as view

    f = pd.DataFrame({"type": ["gene", "CDS", "CDS", "source"], "start": [10, 10, 500, 0], "end": [100, 100, 900, 1000],
                      "strand": [1, 1, -1, 1], "name": ["dnaA", "dnaA", "recA", ""],
                      "locus_tag": ["b0001", "b0001", "b0002", ""], "product": ["", "initiator", "recombinase", ""]})
    hits = view.find_features(f, "DNAA")
    assert len(hits) == 1 and hits.iloc[0]["type"] == "CDS"  # gene and CDS of one locus: one row, the CDS
    assert view.find_features(f, "b0002").iloc[0]["name"] == "recA"
    assert view.find_features(f, "recomb").iloc[0]["locus_tag"] == "b0002"
    assert view.find_features(f, "zzz").empty


# ---------------------------------------------------------------------------------------------- bundled model
@pytest.mark.slow
@pytest.mark.data
def test_bundled_checkpoint_opens_the_default_sample(monkeypatch, data_dir, cache_dir):
    """With no DNAHNET_CHECKPOINT the app loads checkpoints/dnahnet-small and analyses a lambda region."""
    if not (REPO_ROOT / "checkpoints" / "dnahnet-small" / "model.safetensors").is_file():
        pytest.skip("the bundled checkpoint checkpoints/dnahnet-small is not there yet")
    import torch

    monkeypatch.delenv("DNAHNET_CHECKPOINT", raising=False)
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(cache_dir))
    torch.set_num_threads(1)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["locus"] = "1-6,000"  # a 6 kb region keeps the CPU run short
    at.run()
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.settings.region == (0, 6_000) and "dnahnet-small" in a.trace.meta.get("checkpoint_name", "")
    assert not at.error, messages(at)


def test_model_choice_reruns_with_the_chosen_checkpoint(app_env, tiny_checkpoint):
    """The sidebar's Model offers $DNAHNET_CHECKPOINT first, then the shipped checkpoints; choosing one analyses the
    genome again with it and puts its name in the URL; going back takes the first analysis from the memo. A link's
    unknown model (or a server path) is refused by name and the session keeps its model."""
    from dnahnet.checkpoint import bundled_names

    shipped = bundled_names()
    if not shipped:
        pytest.skip("no checkpoint is shipped in checkpoints/")
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank(length=3000).encode())
    no_exception(at)
    choice = at.sidebar.selectbox(key="model_select")
    assert choice.options == [tiny_checkpoint.name, *shipped] and choice.value == str(tiny_checkpoint)
    first = at.session_state["analysis"]
    assert first.trace.meta["checkpoint_name"] == tiny_checkpoint.name and "model" not in at.query_params
    choice.set_value(shipped[0]).run()
    no_exception(at)
    second = at.session_state["analysis"]
    assert second.key != first.key and second.trace.meta["checkpoint_name"] == shipped[0]
    assert at.query_params["model"] == shipped[0]
    at.sidebar.selectbox(key="model_select").set_value(str(tiny_checkpoint)).run()
    assert at.session_state["analysis"].key == first.key and "model" not in at.query_params
    for bad in ("no-such-model", "/etc"):
        linked = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        linked.session_state["source"] = "Upload a file"
        linked.query_params["model"] = bad
        linked.run()
        no_exception(linked)
        assert f"model={bad}" in messages(linked)
        assert any(f"Model: **{tiny_checkpoint.name}**" in c.value for c in linked.sidebar.caption)


# ---------------------------------------------------------------------------------------------- mutagenesis
def tiny_gene_genbank(seed: int = 5, name: str = "MUTA1") -> str:
    """1,500 bp with a 10-codon CDS `tinY` (ATG … TAA at 101..130) and a 300 bp minus-strand CDS."""
    rng = random.Random(seed)
    seq = "".join(rng.choice("ACGT") for _ in range(1500))
    seq = seq[:100] + "ATG" + "GCTGAAAAACTGGGTCGTTCTCCG" + "TAA" + seq[130:]
    feats = (feature_line("CDS", "101..130", locus_tag="MUT_0001", gene="tinY", product="tiny protein")
             + feature_line("CDS", "complement(601..900)", locus_tag="MUT_0002", gene="bigB"))
    return _genbank_text(name, seq, feats)


def mutagenesis_page(seed: int = 5, name: str = "MUTA1") -> AppTest:
    """The Mutagenesis page on the tiny-gene record, with 128-nt windows (seconds on the tiny model)."""
    at = upload(new_app(), "tiny_gene.gbk", tiny_gene_genbank(seed, name).encode())
    at.switch_page("views/mutagenesis.py").run()
    no_exception(at)
    at.number_input(key="mut_window").set_value(128).run()
    return at


def test_mutagenesis_scores_good_variants_and_lists_bad_ones(app_env, downloads, monkeypatch):
    """Two typed variants, one with a wrong reference base: one scored row (both strands and their mean), one clear
    error naming the variant and the real base; the CSV holds the scored row; a rerun scores nothing again."""
    import dnahnet.scoring

    at = mutagenesis_page()
    seq = str(at.session_state["analysis"].record.seq)
    good = f"50{seq[49]}>{'A' if seq[49] != 'A' else 'C'}"
    wrong = next(b for b in "ACGT" if b != seq[59])
    bad = f"60{wrong}>{'G' if wrong != 'G' else 'T'}"
    calls = []
    real = dnahnet.scoring.score_variants
    monkeypatch.setattr(dnahnet.scoring, "score_variants", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.text_area(key="mut_typed").set_value(f"{good}\n{bad}").run()
    at.button(key="mut_score").click().run()
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table["variant"]) == [good]
    assert {"score_plus", "score_minus", "score_mean", "score", "nt_change"} <= set(table.columns)
    assert table["score"].notna().all() and abs(table["score"].iloc[0] - table["score_mean"].iloc[0]) < 1e-9
    errors = "\n".join(e.value for e in at.error)
    assert "1 variant(s) could not be scored" in errors and "reference mismatch" in errors
    assert f"has {seq[59]} at 60" in errors
    rows = list(csv.DictReader(io.StringIO(payload(downloads, "_variant_scores.csv").decode())))
    assert len(rows) == 1 and rows[0]["variant"] == good and float(rows[0]["score"]) == pytest.approx(
        table["score"].iloc[0], abs=1e-6)
    at.run()  # a rerun (any widget) shows the cached result
    no_exception(at)
    assert calls == [1] and list(at.dataframe[0].value["variant"]) == [good]


def test_mutagenesis_amino_acid_change_reports_the_codon(app_env):
    """`tinY:A2G` in the typed list: the codon chosen (GCT → GGT, one change) is in the table."""
    at = mutagenesis_page()
    at.text_area(key="mut_typed").set_value("tinY:A2G").run()
    at.button(key="mut_score").click().run()
    no_exception(at)
    row = at.dataframe[0].value.iloc[0]
    assert row["codon_ref"] == "GCT" and row["codon_alt"] == "GGT" and row["nt_change"] == "105C>G"


def test_mutagenesis_saturates_a_tiny_gene(app_env, downloads):
    """Finding tinY by name and running saturation draws the codons × 21 heat map; the matrix CSV has 10 residues."""
    at = mutagenesis_page()
    at.text_input(key="mut_gene_query").set_value("tinY").run()
    assert at.selectbox(key="mut_gene_pick").value is not None
    at.button(key="mut_sat_run").click().run()
    no_exception(at)
    assert not at.error, messages(at)
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"heatmap"' in spec and "Saturation mutagenesis of tinY" in spec
    matrix = at.dataframe[0].value
    assert len(matrix) == 10 and {"A", "W", "*"} <= set(matrix.columns)
    assert list(matrix["aa_ref"])[:2] == ["M", "A"]
    rows = list(csv.DictReader(io.StringIO(payload(downloads, "_saturation_matrix.csv").decode())))
    assert len(rows) == 10
    cells = list(csv.DictReader(io.StringIO(payload(downloads, "_saturation_cells.csv").decode())))
    assert len(cells) == 210 and cells[0]["codon_alt"]


def test_mutagenesis_region_with_boundary_response(app_env, downloads):
    """A 12-nt region saturated with the boundary response: a positions × 4 map with the reference's boundary
    ticks; picking a cell shows its change, both strands and the boundaries it moves; the cells CSV holds the
    boundary columns."""
    at = mutagenesis_page()
    at.toggle(key="mut_boundaries").set_value(True).run()
    at.segmented_control(key="mut_mode").set_value("region").run()
    at.number_input(key="mut_from").set_value(201).run()
    at.number_input(key="mut_to").set_value(212).run()
    at.button(key="mut_sat_run").click().run()
    no_exception(at)
    assert not at.error, messages(at)
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"heatmap"' in spec and "Stage 1, + pass" in spec
    assert len(at.dataframe[0].value) == 12
    seq = str(at.session_state["analysis"].record.seq)
    other = "A" if seq[204] != "A" else "C"
    at.selectbox(key="mut_cell_row").set_value(205).run()
    at.selectbox(key="mut_cell_col").set_value(other).run()
    no_exception(at)
    shown = "\n".join(m.value for m in at.markdown)
    assert f"205{seq[204]}\\>{other}" in shown and "Stage 1, + pass: gained" in shown
    header = payload(downloads, "_saturation_cells.csv").decode().splitlines()[0]
    assert "s1_gained_plus" in header and "s1_lost_pos_minus" in header


def test_mutagenesis_scores_an_uploaded_vcf_and_names_a_bad_one(app_env):
    """A VCF upload is scored (one row per ALT allele); a VCF line that is not a sequence change is an error naming
    the file and line, and nothing is scored."""
    at = mutagenesis_page()
    seq = str(at.session_state["analysis"].record.seq)
    alt = "A" if seq[49] != "A" else "C"
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    good = head + f"MUTA1.1\t50\t.\t{seq[49]}\t{alt}\t.\t.\t.\nMUTA1.1\t70\t.\t{seq[69]}\t{seq[69]}T\t.\t.\t.\n"
    at = upload(at, "calls.vcf", good.encode(), key="mut_file")
    at.button(key="mut_score").click().run()
    no_exception(at)
    assert not at.error, messages(at)
    table = at.dataframe[0].value
    assert table["nt_change"].iloc[0] == f"50{seq[49]}>{alt}" and table["score"].notna().all()
    assert table["nt_change"].iloc[1].endswith("insT") and len(table) == 2  # (shifted left next to a T: the same)
    bad = head + f"MUTA1.1\t50\t.\t{seq[49]}\t<DEL>\t.\t.\t.\n"
    at = upload(at, "bad.vcf", bad.encode(), key="mut_file")
    no_exception(at)
    assert "bad.vcf line 3" in messages(at) and not at.dataframe


def test_mutagenesis_shows_user_text_plainly(app_env):
    """Typed variants and gene searches that hold markdown / HTML reach the page's messages as plain text."""
    at = mutagenesis_page()
    at.text_area(key="mut_typed").set_value("![x](x.png):A2G\n<img src=x>\n`tick`:M1K").run()
    at.button(key="mut_score").click().run()
    at.text_input(key="mut_gene_query").set_value(INJECTION).run()
    no_exception(at)
    texts = [t for t in _markdown_texts(at) if "png" in t or "img" in t or "tick" in t]
    shown = "\n".join(_shown(t) for t in texts)
    assert "3 variant(s) could not be scored" in shown and "no CDS with gene name or locus tag '![x](x.png)'" in shown
    assert f"No CDS matches “{INJECTION}”" in shown
    for t in texts:
        assert not _ACTIVE.search(t), t


def test_latents_link_keeps_the_uploaded_genome(app_env, monkeypatch):
    """Latents → "Show this chunk in the browser" opens the chunk on the uploaded genome, with the same region and
    strands, and the sidebar still on the upload (issue 15, item 1): a page switch keeps every sidebar input."""
    from app import results

    monkeypatch.setattr(results, "selected_rows", lambda event, table: table.head(3))  # as if a box was drawn
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at = upload(at, "promoters.csv", b"type,position,strand\nTSS,150,+\n", key="companion_file")
    at.sidebar.radio(key="strands").set_value("+")
    at = apply_region(at, "1-3,000")
    no_exception(at)
    before = at.session_state["analysis"]
    assert before.record_id == "SYNTH1.1" and before.settings.region == (0, 3_000) and before.strands == ["+"]
    assert before.companion_key
    at.session_state["lat_method"] = "pca"
    at.switch_page("views/latents.py").run()
    no_exception(at)
    at.button(key="lat_open").click().run()
    no_exception(at)
    assert at.title[0].value == "Genome browser"
    a = at.session_state["analysis"]
    assert a.key == before.key and a.record_id == "SYNTH1.1" and a.settings == before.settings
    assert a.companion_key == before.companion_key
    assert at.sidebar.radio(key="source").value == "Upload a file"
    assert at.sidebar.radio(key="strands").value == "+"
    assert at.sidebar.text_input(key="locus_query").value == "SYNTH1.1:1-3000"
    assert "SYNTH1.1" in at.caption[0].value and "3,000" in at.caption[0].value
    key, (lo, hi) = at.session_state["view"]
    chunk = results.latent_points(a, 0, "pca")[0].iloc[0]
    assert key == a.key and lo <= int(chunk["start"]) and int(chunk["end"]) <= hi
    at.run()  # the next run (any click) still has the genome (AppTest reruns the page it last switched to itself)
    no_exception(at)
    assert at.session_state["analysis"].key == before.key
    at.sidebar.radio(key="source").set_value("Sample genome").run()  # a sample, then the form: empty again
    at.sidebar.radio(key="source").set_value("Upload a file").run()
    assert at.session_state["analysis"] is None


# ---------------------------------------------------------------------------------------------- browser navigation
# (issue 15, item 3: the locus box; the wheel zoom itself is in tests/test_app_browser.py)
def test_locus_box_moves_the_window(app_env):
    """The locus box: a typed stretch opens that window (with the translation row at ≤ 300 nt), a gene name with one
    match opens around the gene on Enter, a stretch of another record says why; the placeholder names a gene of the
    open genome."""
    from app import viewport

    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    no_exception(at)
    assert at.text_input(key="gene_query").placeholder == "SYNTH1.1:1-1,000 or synA"
    at.text_input(key="gene_query").set_value("SYNTH1.1:1,401-1,500").run()
    no_exception(at)
    assert at.session_state["view"][1] == (1400, 1500) and at.number_input(key="view_start").value == 1401
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    frames = {t["name"] for t in spec["data"] if t.get("name", "").startswith("frame ")}
    assert frames == {"frame \u22121", "frame \u22122", "frame \u22123"}  # only SYN_0002 (− strand) is here
    at.text_input(key="gene_query").set_value("synA").run()  # one match: Enter goes there
    no_exception(at)
    assert at.session_state["view"][1] == viewport.around(200, 1100, (0, 4000))
    at.text_input(key="gene_query").set_value("protein").run()  # three genes: the window stays, a list to pick
    assert at.session_state["view"][1] == viewport.around(200, 1100, (0, 4000))
    assert "3 matches" in at.selectbox(key="gene_pick").label
    at.text_input(key="gene_query").set_value("OTHER:1-100").run()
    no_exception(at)
    assert any("is not the record open here" in c.value for c in at.caption)
    assert at.session_state["view"][1] == viewport.around(200, 1100, (0, 4000))


# ---------------------------------------------------------------------------------------------- region first, URL
# (issue 15, items 2 and 4: a gene or range analysed before the whole record; the view in st.query_params)
def apply_region(at: AppTest, text: str) -> AppTest:
    """Type `text` into the sidebar's region form and press its Apply button."""
    at.sidebar.text_input(key="locus_query").set_value(text)
    at.sidebar.button(key="locus_apply").click()
    return at.run()


def test_region_form_waits_for_apply_then_analyses_the_gene_first(app_env, monkeypatch):
    """A genome too long to analyse unasked: typing a locus tag runs nothing; Apply analyses SYN_0003 (2,601..3,600)
    with 2,000 nt each side, [600, 5,600), at once; the browser opens around the gene; the URL says the locus."""
    from app import runner, viewport

    monkeypatch.setattr(runner, "AUTO_RUN_NT", 12_000)  # the whole 8 kb record (16,000 nt) waits for a click
    at = upload(new_app(), "eight.gbk", synthetic_genbank(length=8000, seed=11, name="EIGHT").encode())
    no_exception(at)
    assert at.session_state["analysis"] is None and at.button(key="run_button") is not None
    at.sidebar.text_input(key="locus_query").set_value("SYN_0003").run()  # typed (a rerun meanwhile), not applied
    no_exception(at)
    assert at.session_state["analysis"] is None and "locus" not in at.query_params
    at = apply_region(at, "SYN_0003")  # AppTest drops a form's unsubmitted value at a rerun: typed again, Apply
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.record_id == "EIGHT.1" and a.settings.region == (600, 5_600) and a.strands == ["+", "-"]
    assert at.session_state["view"] == (a.key, viewport.around(2_600, 3_600, (600, 5_600)))
    assert at.query_params["locus"] == "SYN_0003" and at.query_params["source"] == "upload"
    assert "sample" not in at.query_params  # an upload cannot travel in a link; the rest does
    assert any("SYN_0003" in c.value.replace("\\", "") and "601–5,600" in c.value for c in at.sidebar.caption)


def test_ambiguous_gene_name_offers_a_choice(app_env):
    """"syn" names synA, synB and SYN_0003 (and no 1-nt site): nothing changes until one is chosen."""
    at = apply_region(upload(new_app(), "synthetic.gbk", synthetic_genbank().encode()), "syn")
    no_exception(at)
    assert at.session_state["analysis"].settings.region is None  # still the whole record
    pick = at.sidebar.selectbox(key="locus_pick")
    assert "3 genes match" in pick.label and pick.value is None
    at.sidebar.selectbox(key="locus_pick").set_value(2).run()  # SYN_0003: 2,601..3,600 → [600, 4,000) clipped
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.settings.region == (600, 4_000) and at.query_params["locus"] == "SYN_0003"
    assert at.sidebar.text_input(key="locus_query").value == "SYN_0003"
    at = apply_region(at, "synB")  # 1,401..2,300 ± 2,000 covers the 4,000 bp record: the whole record's analysis
    assert at.session_state["analysis"].settings.region is None and at.query_params["locus"] == "SYN_0002"


def test_url_with_a_locus_opens_that_window_once_the_genome_is_uploaded(app_env):
    """?source=upload&locus=…&strands=plus: the form opens, says the link waits for its genome, then the upload
    opens the range on the forward strand."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"source": "upload", "locus": "SYNTH1.1:1,001-3,000", "strands": "plus"})
    at.run()
    no_exception(at)
    assert any("SYNTH1.1:1,001-3,000" in i.value.replace("\\", "") for i in at.info)
    at = upload(at, "synthetic.gbk", synthetic_genbank().encode())
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.settings.region == (1_000, 3_000) and a.strands == ["+"]
    assert at.query_params["locus"] == "SYNTH1.1:1001-3000" and at.query_params["strands"] == "plus"


def test_back_and_forward_follow_the_url(app_env):
    """A URL changed from outside (the browser's back button) seeds the view again; one without a locus is the
    whole record."""
    at = apply_region(upload(new_app(), "synthetic.gbk", synthetic_genbank().encode()), "synA")
    assert at.session_state["analysis"].settings.region == (0, 3_100)  # 201..1,100 and 2,000 nt after
    at = apply_region(at, "SYN_0003")
    assert at.session_state["analysis"].settings.region == (600, 4_000) and at.query_params["locus"] == "SYN_0003"
    at.query_params["locus"] = "SYN_0001"  # back
    at.run()
    no_exception(at)
    assert at.session_state["analysis"].settings.region == (0, 3_100)
    assert at.sidebar.text_input(key="locus_query").value == "SYN_0001"
    del at.query_params["locus"]  # back once more, to the whole record
    at.run()
    assert at.session_state["analysis"].settings.region is None and "locus" not in at.query_params


@pytest.mark.data
def test_url_opens_a_sample_region_with_stage_choice(app_env, data_dir):
    """?sample=phage_t7&locus=1,001-3,000&stages=2: T7 (the smallest annotated sample) on that range, the browser
    drawing Stage 2 only; a bad parameter is named, the rest applies."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"sample": "phage_t7", "locus": "1,001-3,000", "stages": "2", "strands": "sideways"})
    at.run()
    no_exception(at)
    a = at.session_state["analysis"]
    assert a.record_id == "NC_001604.1" and a.settings.region == (1_000, 3_000) and a.strands == ["+", "-"]
    assert "strands=sideways" in messages(at).replace("\\", "")
    assert at.session_state["browser_stages"] == [1]
    assert at.query_params["sample"] == "phage_t7" and at.query_params["stages"] == "2"
    assert at.query_params["locus"] == "NC_001604.1:1001-3000" and "strands" not in at.query_params


def test_whole_record_is_offered_after_a_region(app_env, monkeypatch):
    """With a region on screen, "Analyse the whole record" runs it in the background (the region stays); then
    "Show the whole record" switches to it, keeping the window."""
    import time

    from app import runner

    monkeypatch.setattr(runner, "AUTO_RUN_NT", 12_000)  # the whole 8 kb record waits for a click
    at = upload(new_app(), "eight.gbk", synthetic_genbank(length=8000, seed=12, name="EIGHTB").encode())
    at = apply_region(at, "SYN_0002")
    a = at.session_state["analysis"]
    assert a.settings.region == (0, 4_300)
    at.sidebar.button(key="whole_run").click().run()
    no_exception(at)
    for _ in range(240):  # the job thread finishes in seconds; each run polls it
        if any(b.key == "whole_show" for b in at.sidebar.button):
            break
        time.sleep(0.5)
        at.run()
    assert at.session_state["analysis"].key == a.key  # the region stayed on screen meanwhile
    window = at.session_state["view"][1]
    at.sidebar.button(key="whole_show").click().run()
    no_exception(at)
    whole = at.session_state["analysis"]
    assert whole.settings.region is None and whole.length == 8_000 and at.session_state["view"][1] == window
    assert "locus" not in at.query_params


# ---------------------------------------------------------------------------------------------- tables for people,
# the report's progress and the About page from measurement (issue 15, items 7-10; app/tables.py, app/model_card.py)
def _tiny_chunk_trace():
    """A 12-nt record, both passes, by hand. + pass Stage 1 starts at 0, 4, 9; Stage 2 at 0, 9. − pass (read right
    to left) Stage 1 starts at 11, 6, 2. p at a position is position / 100."""
    import numpy as np

    from dnahnet.trace import StageTrack, StrandPass, Trace

    pos, p = np.arange(12), (np.arange(12) / 100).astype(np.float32)
    none = (np.zeros(0, np.int64), np.zeros((0, 4), np.float16))
    s1p = StageTrack(pos, p, np.array([0, 4, 9]), *none)
    s2p = StageTrack(np.array([0, 4, 9]), np.array([0.9, 0.2, 0.8], np.float32), np.array([0, 9]), *none)
    s1m = StageTrack(pos, p, np.array([11, 6, 2]), *none)
    s2m = StageTrack(np.array([2, 6, 11]), np.array([0.7, 0.1, 0.9], np.float32), np.array([11]), *none)
    lp = np.zeros(12, np.float32)
    return Trace([StrandPass("R", "+", 12, False, [s1p, s2p], lp), StrandPass("R", "-", 12, False, [s1m, s2m], lp)])


def test_chunks_table_is_one_based_and_inclusive():
    """Hand-computed: + chunks [0,4) [4,9) [9,12) are 1–4, 5–9, 10–12 starting at bases 1, 5, 10; − chunks
    (6,11] (2,6] (−1,2] are 8–12, 4–7, 1–3 starting (reading right to left) at bases 12, 7, 3."""
    from types import SimpleNamespace

    from app import results, tables

    trace = _tiny_chunk_trace()
    t = results.chunks_in(SimpleNamespace(trace=trace, record_id="R", n_stages=2), (0, 12))
    assert list(t.columns) == ["record", "pass", "stage", "chunk # (reading order)", "start (1-based)",
                               "end (1-based, inclusive)", "length (nt)", "starts at base (1-based, reading order)",
                               "router p there"]
    rows = [tuple(r) for r in t[["pass", "stage", "start (1-based)", "end (1-based, inclusive)", "length (nt)",
                                 "starts at base (1-based, reading order)"]].itertuples(index=False)]
    assert rows == [("+ pass", "Stage 1", 1, 4, 4, 1), ("+ pass", "Stage 1", 5, 9, 5, 5),
                    ("+ pass", "Stage 1", 10, 12, 3, 10), ("− pass", "Stage 1", 8, 12, 5, 12),
                    ("− pass", "Stage 1", 4, 7, 4, 7), ("− pass", "Stage 1", 1, 3, 3, 3),
                    ("+ pass", "Stage 2", 1, 9, 9, 1), ("+ pass", "Stage 2", 10, 12, 3, 10),
                    ("− pass", "Stage 2", 1, 12, 12, 12)]
    assert t["router p there"].iloc[4] == pytest.approx(0.06)  # p at 0-based 6 = base 7
    assert list(t["chunk # (reading order)"][:3]) == [1, 2, 3]
    feats = tables.features(pd_frame(type=["CDS"], start=[200], end=[1100], strand=[-1], name=["synA"],
                                     locus_tag=["S1"], product=["alpha"]))
    assert feats.iloc[0][["start (1-based)", "end (1-based, inclusive)", "strand"]].tolist() == [201, 1100, "−"]


def pd_frame(**cols):
    import pandas as pd

    return pd.DataFrame(cols)


def test_tables_never_write_a_p_value_as_zero():
    """χ² p that underflows is "< 1e-300"; null p / q come from the *_text columns ("≤ 0.048" at the floor)."""
    from app import tables
    from interpret.analysis import analyze_boundaries
    from interpret.annotations import annotate
    from tests.synthetic import make_genome, trace_for

    assert tables.analytic_p_text(0.0) == "< 1e-300" and tables.analytic_p_text(3.1e-5) == "3.1e-05"
    rec = make_genome(6_000, 5, seed=3)
    ann = annotate(rec)
    report = analyze_boundaries(trace_for(ann, "codon3", rate_elsewhere=0.2), {rec.id: ann}, n_null=40, n_boot=20,
                                n_null_baselines=10)
    codon = report.codon_tests.df.assign(p_chi2=0.0)  # what a whole genome gives: it underflows
    shown = [tables.codon_tests(codon), tables.baseline_summary(report.baseline_summary.df),
             tables.periodicity(report.periodicity.df), tables.nesting(report.nesting.df),
             tables.chunk_length_summary(report.chunk_length_summary.df)]
    e = report.enrichment.df
    shown += [tables.enrichment(e[(e["stage"] == s) & (e["strand"] == "both")], s) for s in (0, 1)]
    for df in shown:
        p_cols = [c for c in df.columns if c.startswith(("p ", "q ")) or c.startswith("p (")]
        for c in p_cols:
            assert not any(str(v).strip() in ("0", "0.0") for v in df[c]), (c, list(df[c]))
        assert not any(c in df.columns for c in ("cds_pos2", "stage_label", "rate_lo")), list(df.columns)
    assert tables.codon_tests(codon)["p (χ²)"].eq("< 1e-300").all()
    enr1 = shown[-1]
    assert "rate (Stage-2 boundaries per Stage-1 chunk start)" in enr1.columns
    assert "CDS codon position 3" in set(enr1["class"]) and "Stage-1 chunk starts in the class" in enr1.columns
    enr0 = shown[-2]  # Stage 1: codon position 3 planted, past every one of the 40 draws
    assert enr0["q (circular shifts)"].str.startswith("≤").any() and "p (permuted lengths)" in enr0.columns


def test_levels_rates_are_per_nucleotide_with_the_other_rate_named():
    """Hand-made rows: Stage 1 puts 40 boundaries in 100 nt of a class, Stage 2 10 of them: 40% and 10% per
    nucleotide, and 25% per Stage-1 chunk start — Stage 2 can no longer look larger than Stage 1."""
    from app import tables

    per_nt = pd_frame(stage=[0, 1], strand=["both", "both"], **{"class": ["start_codon"] * 2},
                      n_positions=[100, 100], n_boundaries=[40, 10], rate=[0.4, 0.1], fold=[2.0, 1.5])
    t = tables.rates_by_stage(per_nt, "both").iloc[0]
    assert t["class"] == "Start codon"
    assert t["Stage-1 boundaries per nucleotide (%)"] == pytest.approx(40)
    assert t["Stage-2 boundaries per nucleotide (%)"] == pytest.approx(10)
    assert t["Stage-2 boundaries per Stage-1 chunk start (%)"] == pytest.approx(25)
    assert t["Stage 2 fold ÷ Stage 1 fold"] == pytest.approx(0.75)


def test_about_page_reports_the_numbers_of_the_card(app_env, monkeypatch, tmp_path):
    """A copy of the bundled checkpoint with two measured numbers changed: the About page shows the new ones, the
    paper's numbers beside them as the paper's, the essentiality AUROC beside its baselines, and "not measured" once
    the card has no such file."""
    import shutil

    src = REPO_ROOT / "checkpoints" / "dnahnet-small"
    if not (src / "model.safetensors").is_file():
        pytest.skip("the bundled checkpoint is not in this checkout")
    ckpt = tmp_path / "card-copy"
    shutil.copytree(src, ckpt, ignore=shutil.ignore_patterns("*.png", "train_log.jsonl"))
    held = (ckpt / "heldout_bits.csv").read_text()
    assert "1.9974" in held
    (ckpt / "heldout_bits.csv").write_text(held.replace("1.9974", "1.7531"))
    codon = (ckpt / "ecoli_codon_positions.csv").read_text().splitlines()
    codon = [line.replace(",0.26541991780871516,", ",0.0432,") if line.startswith("0,both,") else line
             for line in codon]
    (ckpt / "ecoli_codon_positions.csv").write_text("\n".join(codon) + "\n")
    monkeypatch.setenv("DNAHNET_CHECKPOINT", str(ckpt))
    at = new_app()
    at.switch_page("views/about.py").run()
    no_exception(at)
    frames = [d.value for d in at.dataframe]
    held_df = next(f for f in frames if "dnaHNet (bits/nt)" in f.columns)
    assert 1.7531 in list(held_df["dnaHNet (bits/nt)"])
    found = next(f for f in frames if "holds here" in f.columns)
    first = found.iloc[0]
    assert first["this checkpoint"].startswith("4.3% / 49.8% / 31.0%") and first["holds here"] == "yes"
    assert first["paper"] == "6.5% / 42.6% / 58.4%"
    assert found.iloc[1]["this checkpoint"] == "position 2 (49.8%)" and found.iloc[1]["holds here"] == "no"
    # no Stage 2 table in the card, but the same weights: the E. coli report kept in docs/results counts
    stage2 = found.iloc[2:]
    assert stage2.iloc[0]["this checkpoint"] == "36.9% vs 49.4% (×0.75)" and (stage2["holds here"] == "no").all()
    assert stage2["from"].str.startswith("docs/results/ecoli-k12/tables/").all()
    text = "\n".join(m.value for m in at.markdown)
    assert "**3 of 3**" in text
    assert "Reproduces: Stage 1 avoids codon position 1. Does not reproduce: Stage 1 peaks at codon position 3" in text
    assert "AUROC **0.537** (95% CI 0.501–0.567; 298 essential of 4,223 genes)" in text  # the card's essentiality
    assert "gene length 0.525, GC 0.557 rank them without a model" in text
    (ckpt / "essentiality_auroc.csv").unlink()
    at.run()
    text = "\n".join(m.value for m in at.markdown)
    assert "**Zero-shot tasks** (variant effects, gene essentiality): *not measured*" in text


def test_url_words_of_stage_and_strand_choices():
    """Stages count from 1 in a URL (Stage 1 = code's 0); strands are words ('+' would be a space in a query)."""
    from app import url_view

    assert url_view._parse("stages", "1,2") == [0, 1] and url_view._parse("stage", "2") == 1
    assert url_view._parse("passes", "plus,minus") == ["+", "-"] and url_view._parse("pass", "minus") == "-"
    for kind, text in (("stages", "0"), ("stage", "1,2"), ("stages", "two"), ("passes", "sideways"), ("pass", "")):
        assert url_view._parse(kind, text) is None, (kind, text)


def test_levels_page_says_which_rate_and_stage2_never_exceeds_stage1(app_env):
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank(seed=4).encode())
    at.switch_page("views/levels.py").run()
    no_exception(at)
    assert "Every rate on this page is per nucleotide" in "\n".join(m.value for m in at.markdown)
    rates = next(d.value for d in at.dataframe if "Stage-1 boundaries per nucleotide (%)" in d.value.columns)
    s1, s2 = rates["Stage-1 boundaries per nucleotide (%)"], rates["Stage-2 boundaries per nucleotide (%)"]
    assert len(rates) > 3 and (s2 <= s1 + 1e-9).all()
    assert "Stage-2 boundaries per Stage-1 chunk start (%)" in rates.columns
    assert not any(c in rates.columns for c in ("Stage 2 rate", "Stage 1 rate"))


# ---------------------------------------------------------------------------------------------- vocabulary
# (issue 16, items 1, 2, 6: the Vocabulary page — frequent chunk strings, baselines, boundary logos)
def _vocabulary_checks(at: AppTest, downloads: dict) -> None:
    """What the Vocabulary page must show for the analysis on screen: entropy tiles, per stage the top-strings table
    (readable headers, the counts of `interpret.vocabulary`, consistency in %), class rows with labels and p as
    text never "0", the rank-frequency chart, the chosen stage's logo grid as an image, CSV downloads."""
    from interpret.annotations import CLASS_LABELS, annotate
    from interpret.vocabulary import chunk_vocabulary

    no_exception(at)
    assert not at.error, messages(at)
    assert at.title[0].value == "Learned vocabulary"
    a = at.session_state["analysis"]
    labels = [m.label for m in at.metric]
    assert "Stage 1: chunk entropy" in labels and "k-mers of the same lengths" in labels
    assert "same sequence, lengths shuffled" in labels
    frames = [d.value for d in at.dataframe]
    string_col = "string (as read in its pass, 5′→3′)"
    tops = [f for f in frames if string_col in f.columns]
    assert len(tops) == a.n_stages and all(len(t) > 0 for t in tops)
    want = chunk_vocabulary(a.trace, {a.record_id: str(a.record.seq)}, {a.record_id: annotate(a.record)}).top.df
    first = tops[0]
    assert list(first["chunks"]) == list(want[want["stage"] == 0]["count"])
    assert list(first[string_col]) == list(want[want["stage"] == 0]["string"])
    cons = first["consistency (% of occurrences cut as one chunk)"].dropna()
    assert ((cons >= 0) & (cons <= 100)).all()
    classes = next(f for f in frames if "p (Fisher exact, two-sided)" in f.columns)
    assert set(classes["class of the chunk's first base"]) <= set(CLASS_LABELS.values()) | {"No class on this strand"}
    assert not (classes["p (Fisher exact, two-sided)"] == "0").any() and not (classes["q (BH, across the table)"]
                                                                            == "0").any()
    sites = next(f for f in frames if "number of sites" in f.columns and "base" not in f.columns)
    assert set(sites["stage"]) == {"Stage 1"}  # the chosen stage's logos
    assert sites.set_index("sites").loc["All boundaries", "number of sites"] > 0
    assert len(at.get("plotly_chart")) >= 1 and len(at.get("image")) >= 1
    top_csv = list(csv.DictReader(io.StringIO(payload(downloads, "_Stage1_vocabulary_top.csv").decode())))
    assert [r[string_col] for r in top_csv] == list(first[string_col])  # the CSV is the table shown


def test_vocabulary_page_on_an_upload(app_env, downloads, monkeypatch):
    """A synthetic upload: the Vocabulary page renders its tables, chart and Stage 1 logos; picking Stage 2 draws
    that stage's logos and puts `stage=2` in the URL; a URL saying `stage=1` brings Stage 1 back; a rerun computes
    nothing again."""
    import interpret.vocabulary

    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at.switch_page("views/vocabulary.py").run()
    _vocabulary_checks(at, downloads)
    at.segmented_control(key="voc_stage").set_value(1).run()
    no_exception(at)
    assert any(c.value.startswith("Sequence ±10 nt") for c in at.caption)
    sites = next(d.value for d in at.dataframe
                 if "number of sites" in d.value.columns and "base" not in d.value.columns)
    assert set(sites["stage"]) == {"Stage 2"} and "All boundaries" in set(sites["sites"])
    assert at.query_params["stage"] == "2"  # the stage choice travels in the URL
    at.query_params["stage"] = "1"  # back: the URL's stage seeds the page's choice
    at.run()
    no_exception(at)
    sites = next(d.value for d in at.dataframe
                 if "number of sites" in d.value.columns and "base" not in d.value.columns)
    assert set(sites["stage"]) == {"Stage 1"} and "stage" not in at.query_params  # the default stays out of it
    real, calls = interpret.vocabulary.chunk_vocabulary, []
    monkeypatch.setattr(interpret.vocabulary, "chunk_vocabulary", lambda *x, **k: calls.append(1) or real(*x, **k))
    at.run()
    no_exception(at)
    assert calls == []


@pytest.mark.data
def test_vocabulary_page_on_the_smallest_sample_region(app_env, data_dir, downloads):
    """Phage T7 (the smallest annotated sample) on 1,001–3,000: the Vocabulary page renders without exceptions and
    shows the top-strings table."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"sample": "phage_t7", "locus": "1,001-3,000"})
    at.run()
    no_exception(at)
    assert at.session_state["analysis"].settings.region == (1_000, 3_000)
    at.switch_page("views/vocabulary.py").run()
    _vocabulary_checks(at, downloads)


# ---------------------------------------------------------------------------------------------- latents selection
# (issue 16, item 3: the Latents page's colourings, selection summary and nearest neighbours. AppTest cannot draw a
# plotly selection, so `results.selected_rows` (tested above with event dicts) is replaced by a fixed pick.)
def test_latents_selection_summary_and_neighbours(app_env, downloads, monkeypatch):
    import numpy as np

    from app import results
    from interpret.annotations import CLASS_LABELS
    from interpret.latents import nearest_chunks

    monkeypatch.setattr(results, "selected_rows", lambda event, table: table.head(40))  # as if a lasso was drawn
    at = upload(new_app(), "synthetic.gbk", synthetic_genbank().encode())
    at.session_state["lat_method"] = "pca"
    at.switch_page("views/latents.py").run()
    no_exception(at)
    options = at.selectbox(key="lat_color").options
    for label in ("First base (as read)", "Position in the CDS (0 = start, 1 = end)", "GC content of the chunk",
                  "Chunk length", "Codon position", "Class of the first base", "Strand pass"):
        assert label in options
    for colour in ("first_base", "cds_fraction", "gc"):
        at.selectbox(key="lat_color").set_value(colour).run()
        no_exception(at)
    a = at.session_state["analysis"]
    table = results.latent_points(a, 0, "pca")[0]
    frames = [d.value for d in at.dataframe]
    classes = next(f for f in frames if "p (Fisher exact, two-sided)" in f.columns)
    assert classes["selected chunks"].sum() == 40 and classes["all chunks"].sum() == len(table)
    assert set(classes["class of the first base"]) <= set(CLASS_LABELS.values()) | {"No class on this strand"}
    assert not (classes["p (Fisher exact, two-sided)"] == "0").any()
    assert not (classes["q (BH, across the classes)"] == "0").any()
    lengths = next(f for f in frames if "share of 3-nt chunks (%)" in f.columns and "chunks" in f.columns)
    assert list(lengths["number"]) == [40, len(table)]
    strings = next(f for f in frames if "share of the selection (%)" in f.columns and "rank" in f.columns)
    assert strings["selected chunks"].sum() <= 40 and len(strings) > 0
    assert len(at.get("image")) >= 1 and len(at.get("vega_lite_chart")) >= 1  # start logo, lengths
    csv_text = payload(downloads, "_Stage1_selected_chunks.csv").decode()
    lines = csv_text.splitlines()
    assert lines[0].startswith("record,pass,stage,chunk # (reading order),start (1-based)") and len(lines) == 41
    assert lines[1].split(",")[4] == str(int(table["start"].iloc[0]) + 1)  # 1-based
    # nearest neighbours of the picked chunk (the first selected): latent vectors, cosine by default
    near = next(f for f in frames if "cosine distance (latent vectors)" in f.columns)
    want = nearest_chunks(results.latent_vectors(a, 0, "pca"), 0, 10, "cosine")
    assert list(near["start (1-based)"]) == list(table["start"].iloc[want["row"]] + 1)
    assert np.all(np.diff(near["cosine distance (latent vectors)"].to_numpy()) >= 0)
    at.segmented_control(key="lat_nn_metric").set_value("euclidean").run()
    no_exception(at)
    assert any("euclidean distance (latent vectors)" in d.value.columns for d in at.dataframe)

    # one clicked point: no summary, its neighbours, each one click from the browser
    monkeypatch.setattr(results, "selected_rows", lambda event, table: table.iloc[[5]])
    at.run()
    no_exception(at)
    assert not any("p (Fisher exact, two-sided)" in d.value.columns for d in at.dataframe)
    near = next(d.value for d in at.dataframe if "euclidean distance (latent vectors)" in d.value.columns)
    second = int(nearest_chunks(results.latent_vectors(a, 0, "pca"), 5, 10, "euclidean")["row"].iloc[1])
    at.selectbox(key="lat_nn_pick").set_value(second).run()
    at.button(key="lat_nn_open").click().run()
    no_exception(at)
    assert at.title[0].value == "Genome browser"
    key, (lo, hi) = at.session_state["view"]
    assert key == a.key and lo <= int(table["start"].iloc[second]) and int(table["end"].iloc[second]) <= hi


# ---------------------------------------------------------------------------------------------- the first plot
# (issue 18, item 4: the annotation at once, the model's tracks as windows finish; app/live_tracks.py)
def _row_titles(fig) -> set[str]:
    """The y-axis titles of a plotly figure (or of a chart's JSON spec): which track rows it has."""
    layout = json.loads(fig)["layout"] if isinstance(fig, str) else fig.to_plotly_json()["layout"]
    return {v["title"]["text"] for k, v in layout.items() if k.startswith("yaxis") and v.get("title", {}).get("text")}


MODEL_ROWS = ("Boundaries", "p (boundary)", "Surprisal")  # the model's rows (their titles start so)


def _model_rows(titles: set[str]) -> set[str]:
    return {m for m in MODEL_ROWS for t in titles if t.startswith(m)}


def test_browser_draws_the_annotation_first_then_fills_in_the_model_tracks(app_env, monkeypatch):
    """A run in the page draws the genome's features and GC before the model has any output, then the model's rows
    from partial snapshots; a run stopped half-way shows its error, leaves no live figure and caches nothing (the
    next run starts afresh), and a finished run leaves only the page's figure, from the finished trace."""
    from app import live_tracks
    from dnahnet import infer
    from dnahnet.partial_trace import is_partial

    drawn = []  # (fraction, trace or None, figure) of every live figure drawn
    show, forward = live_tracks.LiveTracks.show, infer._forward_windows
    fail = {"after": 1, "calls": 0}  # the model stops after its first batch of windows (the + pass)

    def spy(self, trace, fraction):
        fig = show(self, trace, fraction)
        drawn.append((fraction, trace, fig))
        return fig

    def stopping(*args):
        fail["calls"] += 1
        if fail["after"] is not None and fail["calls"] > fail["after"]:
            raise RuntimeError("stopped for the test")
        return forward(*args)

    monkeypatch.setattr(live_tracks.LiveTracks, "show", spy)
    monkeypatch.setattr(live_tracks, "MIN_REDRAW_S", 0.0)
    monkeypatch.setattr(live_tracks, "REDRAW_COST", 0.0)  # every snapshot is drawn
    monkeypatch.setattr(infer, "_forward_windows", stopping)
    monkeypatch.setattr(infer, "pass_workers", lambda *a, **k: 1)  # "after the first batch" means the + pass's
    at = upload(new_app(), "live.gbk", synthetic_genbank(length=6000, seed=18, name="LIVE18").encode())
    no_exception(at)
    assert "stopped for the test" in messages(at) and at.session_state["analysis"] is None
    assert not at.get("plotly_chart")  # the live figure went with the failed run
    (f0, t0, fig0), (f1, t1, fig1) = drawn[:2]
    assert t0 is None and f0 == 0.0  # before any model output: the annotation alone
    rows0 = _row_titles(fig0)
    assert "Features" in rows0 and any(r.startswith("GC") for r in rows0) and not _model_rows(rows0)
    assert {t.name for t in fig0.data} >= {"CDS"} and "computing… 0 %" in fig0.layout.title.text
    assert is_partial(t1) and f1 == pytest.approx(0.5) and [sp.strand for sp in t1.passes] == ["+"]
    assert _model_rows(_row_titles(fig1)) == set(MODEL_ROWS) and "computing… 50 %" in fig1.layout.title.text

    fail["after"] = None
    drawn.clear()
    at.run()
    no_exception(at)
    a = at.session_state["analysis"]
    assert a is not None and not a.cached and not is_partial(a.trace)  # nothing of the stopped run was kept
    assert a.strands == ["+", "-"] and drawn[0][1] is None
    done = a.trace.get(a.record_id, "+")  # the snapshot of the stopped run held the finished + pass, exactly
    for s in range(a.n_stages):
        assert (t1.passes[0].stages[s].boundaries.tolist() == done.stages[s].boundaries.tolist()
                and t1.passes[0].stages[s].p.tolist() == done.stages[s].p.tolist())
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and _model_rows(_row_titles(charts[0].proto.spec)) == set(MODEL_ROWS)
    n = len(drawn)
    at.run()  # a rerun reuses the analysis: no live figure at all
    no_exception(at)
    assert len(drawn) == n and at.session_state["analysis"].key == a.key and len(at.get("plotly_chart")) == 1
