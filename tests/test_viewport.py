"""The browser's window helpers (app/viewport.py): the locus box (parse, resolve), the gene search (genes and CDS
only, a gene and its CDS one hit, one hit → a window), the margin the tracks load around the view."""
from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from app import viewport as view  # noqa: E402


def _features() -> pd.DataFrame:
    rows = [  # type, start, end, strand, name, locus_tag, product
        ("gene", 100, 400, 1, "lacZ", "b0344", ""),
        ("CDS", 100, 400, 1, "lacZ", "b0344", "beta-galactosidase"),
        ("gene", 500, 900, -1, "lacY", "b0343", ""),
        ("CDS", 500, 900, -1, "lacY", "b0343", "lactose permease"),
        ("misc_feature", 120, 180, 1, "lacZ", "", "a domain of lacZ"),
        ("variation", 250, 251, 1, "lacZ", "", ""),
        ("gene", 1000, 1001, 1, "lacQ", "", ""),  # a 1-nt "gene": a site, not a gene
        ("tRNA", 2000, 2076, 1, "thrW", "b0244", "tRNA-Thr"),
        ("gene", 2000, 2076, 1, "thrW", "b0244", ""),
        ("CDS", 3000, 3300, 1, "lacZa", "b9999", "alpha fragment"),
    ]
    return pd.DataFrame(rows, columns=["type", "start", "end", "strand", "name", "locus_tag", "product"])


# ---------------------------------------------------------------------------------------------- locus box
@pytest.mark.parametrize("text, lo, hi, record", [
    ("NC_000913.3:1,000-2,000", 999, 2000, "NC_000913.3"),
    ("1000-2000", 999, 2000, None),
    ("  1,000 .. 2,000 ", 999, 2000, None),
    ("chr:1500", 1499, 1500, "chr"),  # one base
    ("5–5", 4, 5, None),  # an en dash, as copied from the page
])
def test_parse_locus_reads_stretches_one_based_inclusive(text, lo, hi, record):
    assert view.parse_locus(text) == view.Locus(lo, hi, record)


def test_parse_locus_names_and_bad_stretches():
    assert view.parse_locus(" lacZ ") == view.Locus(name="lacZ")
    assert view.parse_locus("b0344").name == "b0344"
    assert view.parse_locus("NC_1:lacZ").name == "NC_1:lacZ"  # not a stretch: looked up as typed
    with pytest.raises(ValueError, match="comes before the start"):
        view.parse_locus("2000-1000")
    with pytest.raises(ValueError, match="count from 1"):
        view.parse_locus("0-10")
    with pytest.raises(ValueError, match="type a stretch"):
        view.parse_locus("   ")


def test_locus_window_for_stretches():
    span = (0, 5000)
    assert view.locus_window("1,001-2,000", "NC_9.1", span, None) == ((1000, 2000), None)
    assert view.locus_window("nc_9:1,001-2,000", "NC_9.1", span, None)[0] == (1000, 2000)  # version left off
    assert view.locus_window("4,001-9,000", "NC_9.1", span, None)[0] == (4000, 5000)  # clipped to what is analysed
    (lo, hi), _ = view.locus_window("2500", "NC_9.1", span, None)
    assert lo < 2499 < 2500 < hi and hi - lo >= view.MIN_SPAN  # one base: centred in a readable window
    with pytest.raises(ValueError, match="not the record open here"):
        view.locus_window("NC_8.1:1-100", "NC_9.1", span, None)
    with pytest.raises(ValueError, match="outside the analysed region 1,001–5,000"):
        view.locus_window("1-100", "NC_9.1", (1000, 5000), None)


def test_locus_window_for_names_jumps_on_one_match():
    f, span = _features(), (0, 5000)
    window, hits = view.locus_window("lacY", "r", span, f)
    assert len(hits) == 1 and window == view.around(500, 900, span)
    window, hits = view.locus_window("lac", "r", span, f)  # lacZ, lacY, lacZa: no single place
    assert window is None and len(hits) == 3
    window, hits = view.locus_window("LACZ", "r", span, f)  # lacZ and lacZa hit; one is exactly lacZ
    assert len(hits) == 2 and window == view.around(100, 400, span)
    window, hits = view.locus_window("lacZ", "r", (2000, 5000), f)  # lacZ lies outside: only lacZa is here
    assert list(hits["name"]) == ["lacZa"] and window == view.around(3000, 3300, (2000, 5000))
    window, hits = view.locus_window("nothing", "r", span, f)
    assert window is None and hits.empty


# ---------------------------------------------------------------------------------------------- gene search
def test_gene_search_finds_genes_and_cds_only():
    f = _features()
    hits = view.find_features(f, "lacZ")
    assert list(hits["type"]) == ["CDS", "CDS"] and list(hits["name"]) == ["lacZ", "lacZa"]  # exact first
    assert hits.iloc[0]["product"] == "beta-galactosidase"  # the gene and its CDS: one hit, the CDS
    assert view.find_features(f, "domain").empty  # a misc_feature's product does not make it a gene
    assert view.find_features(f, "lacQ").empty  # 1-nt "gene"
    trna = view.find_features(f, "thrW")
    assert len(trna) == 1 and trna.iloc[0]["type"] == "tRNA"
    assert view.find_features(f, "permease").iloc[0]["locus_tag"] == "b0343"


def test_single_match():
    f = _features()
    assert view.single_match(view.find_features(f, "b0343"), "b0343")["name"] == "lacY"
    assert view.single_match(view.find_features(f, "lac"), "lac") is None
    assert view.single_match(view.find_features(f, "lacz"), "lacz")["start"] == 100
    assert view.single_match(f.iloc[0:0], "x") is None


def test_example_gene_names_a_gene_of_the_open_genome():
    f = _features()
    assert view.example_gene(f, (0, 5000)) == "lacZ"
    assert view.example_gene(f, (1500, 5000)) == "thrW"
    assert view.example_gene(f, (4000, 5000)) is None and view.example_gene(None, (0, 1)) is None


def test_margin_around_the_view():
    assert view.with_margin((1000, 2000), (0, 10_000)) == (0, 3000)
    assert view.with_margin((500, 1500), (0, 10_000)) == (0, 2500)  # clipped at the start
    assert view.with_margin((9000, 9900), (0, 10_000), margin=0.5) == (8550, 10_000)
