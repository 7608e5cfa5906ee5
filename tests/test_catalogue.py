"""The sample-genome catalogue (facts match the files) and the loader (data dir → cache → NCBI, clear failure)."""
from __future__ import annotations

import gzip

import pytest
from Bio import Entrez

from dnahnet.genome_io import read_genome
from sample_genomes import CATALOGUE, BY_KEY, SampleNotAvailable, find, list_available, load_sample, resolve_path
from sample_genomes import loader

TINY_GENBANK = """LOCUS       NC_001604               12 bp    DNA     linear   PHG 01-JAN-2000
DEFINITION  fake T7 for the cache test.
ACCESSION   NC_001604
VERSION     NC_001604.1
FEATURES             Location/Qualifiers
     source          1..12
ORIGIN
        1 atgaaacccg gg
//
"""


def test_catalogue_is_complete_and_consistent():
    assert len(CATALOGUE) == 36
    assert len({e.key for e in CATALOGUE}) == len({e.file_name for e in CATALOGUE}) == 36
    for e in CATALOGUE:
        assert e.kind in ("bacterium", "archaeon", "phage")
        assert len(e.accessions) == e.n_records >= 1 and e.size_bp > 0 and e.description
        mycoplasma = e.organism.startswith(("Mycoplasma ", "Mycoplasmoides "))
        assert e.genetic_code == (4 if mycoplasma else 11), e.key
    assert sum(e.genetic_code == 4 for e in CATALOGUE) == 4
    assert [e.key for e in CATALOGUE if e.kind == "archaeon"] == ["methanosarcina_mazei_wwm610"]


def test_find_by_key_accession_or_file():
    assert find("ecoli_k12") is find("NC_000913.3") is find("NC_000913") is BY_KEY["ecoli_k12"]
    assert find("MEES01000087.1").key == "paracoccus_scn_68_21"
    assert find("phiX174_NC_001422.1.fna.gz").key == "phage_phix174"
    assert find("no such genome") is None


@pytest.mark.data
def test_catalogue_files_exist_in_the_data_dir(genomes_dir):
    missing = [e.file_name for e in CATALOGUE if not (genomes_dir / e.file_name).is_file()]
    assert missing == []
    assert {e.file_name for e in CATALOGUE} == {p.name for p in genomes_dir.glob("*.gz")}


@pytest.mark.data
def test_small_entries_match_their_files(genomes_dir):
    """Sizes, record counts and accessions of every entry under 400 kb, read from the files themselves."""
    for e in (e for e in CATALOGUE if e.size_bp < 400_000):
        g = read_genome(genomes_dir / e.file_name)
        assert (g.total_length, len(g.records)) == (e.size_bp, e.n_records), e.key
        assert [r.id.split(".")[0] for r in g.records] == [a.split(".")[0] for a in e.accessions], e.key


@pytest.mark.data
def test_loader_reads_from_the_data_dir(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DNAHNET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(tmp_path))
    calls = []
    g = load_sample("NC_001422", progress=lambda f, m: calls.append(f))
    assert g.ids == ["NC_001422.1"] and calls[0] == 0.0 and calls[-1] == 1.0
    assert resolve_path("phage_phix174") == data_dir / "genomes" / "phiX174_NC_001422.1.fna.gz"
    assert len(list_available()) == 36
    assert loader.companion_path("ecoli_k12").name == "Ecoli_MG1655_regulondb_tss.csv"


def test_data_dir_is_the_env_var_else_shared_data_and_needs_genomes(monkeypatch, tmp_path):
    monkeypatch.setenv("DNAHNET_DATA_DIR", str(tmp_path))
    assert loader.data_dir_status() == (None, f"DNAHNET_DATA_DIR={tmp_path} has no genomes/ folder")
    (tmp_path / "genomes").mkdir()
    assert loader.data_dir() == tmp_path
    monkeypatch.setenv("DNAHNET_DATA_DIR", str(tmp_path / "gone"))  # a wrong setting is not replaced
    assert loader.data_dir() is None and loader.data_dir_status()[1].endswith("gone does not exist")
    monkeypatch.delenv("DNAHNET_DATA_DIR")
    shared = loader.REPO_ROOT.parent / "shared" / "data"
    assert loader.data_dir() == (shared if (shared / "genomes").is_dir() else None)


def test_loader_error_lists_every_source_tried(monkeypatch, tmp_path):
    monkeypatch.setenv("DNAHNET_DATA_DIR", str(tmp_path / "no_such_dir"))
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DNAHNET_OFFLINE", raising=False)

    def no_internet(**kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(Entrez, "efetch", no_internet)
    with pytest.raises(SampleNotAvailable) as err:
        load_sample("phage_t7")
    msg = str(err.value)
    assert "phage_t7" in msg and "no_such_dir does not exist" in msg
    assert "cache: no Enterobacteria_phage_T7_NC_001604.gb.gz" in msg
    assert "NCBI efetch NC_001604.1: OSError: Temporary failure in name resolution" in msg
    assert not (tmp_path / "cache" / "genomes" / "phage_t7.gbk.gz").exists()  # no half-written file left
    with pytest.raises(SampleNotAvailable, match="not an NCBI accession"):
        load_sample("vibrio_vulnificus_cmcp6")
    with pytest.raises(KeyError, match="neither a sample genome"):
        load_sample("not a genome")


def test_loader_fetches_into_the_cache_once(monkeypatch, tmp_path):
    monkeypatch.setenv("DNAHNET_DATA_DIR", str(tmp_path / "no_such_dir"))
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    class Handle:
        def read(self):
            return TINY_GENBANK

        def close(self):
            pass

    def fake_efetch(**kwargs):
        calls.append(kwargs)
        return Handle()

    monkeypatch.setattr(Entrez, "efetch", fake_efetch)
    g = load_sample("phage_t7")
    assert g.ids == ["NC_001604.1"] and str(g.records[0].seq) == "ATGAAACCCGGG"
    assert calls == [{"db": "nucleotide", "id": "NC_001604.1", "rettype": "gbwithparts", "retmode": "text"}]
    cached = tmp_path / "cache" / "genomes" / "phage_t7.gbk.gz"
    assert gzip.open(cached, "rt").read() == TINY_GENBANK
    assert load_sample("phage_t7").ids == ["NC_001604.1"] and len(calls) == 1  # second time from the cache
    assert resolve_path("phage_t7") == cached
