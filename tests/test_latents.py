"""Chunk table (coordinates, class, codon position, GC, sequence as read) and cached PCA/UMAP embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from interpret.annotations import annotate
from interpret.latents import chunk_table, chunk_tables, embed, pca_2d, primary_class
from tests.synthetic import make_genome, plant_boundaries

_COMP = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def planted():
    rec = make_genome(20_000, 20, seed=2)
    ann = annotate(rec)
    return rec, ann, plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=0, max_latents=300)


def test_chunk_table_rows_and_columns(planted):
    rec, ann, tr = planted
    seq = str(rec.seq)
    for sp in tr.passes:
        df, vec = chunk_table(sp, ann, 0, rec.seq)
        st = sp.stages[0]
        assert len(df) == st.latent_index.size == vec.shape[0] and vec.dtype == np.float32
        assert (df["length"] == df["end"] - df["start"]).all() and (df["length"] > 0).all()
        starts = st.boundaries[st.latent_index]
        assert (df["codon_pos"].to_numpy() == ann.codon_pos[sp.strand][starts]).all()
        r = df.iloc[5]
        chunk = seq[r["start"]:r["end"]]
        expected = chunk if sp.strand == "+" else chunk.translate(_COMP)[::-1]
        assert r["sequence"].rstrip("…") == expected[:60]
        assert r["gc"] == pytest.approx((chunk.count("G") + chunk.count("C")) / len(chunk))
        # the chunk's first nucleotide read is its start coordinate on "+", its last on "-"
        first = r["start"] if sp.strand == "+" else r["end"] - 1
        assert first == starts[5]


def test_chunk_tables_over_passes_and_wrong_sequence(planted):
    rec, ann, tr = planted
    df, vec = chunk_tables(tr, {ann.record_id: ann}, 1, {rec.id: rec.seq})
    assert set(df["strand"]) == {"+", "-"} and len(df) == vec.shape[0] and (df["stage_label"] == "Stage 2").all()
    with pytest.raises(ValueError, match="nt"):
        chunk_table(tr.passes[0], ann, 0, str(rec.seq)[:-1])


def test_primary_class_prefers_specific_classes():
    classes = ("cds_pos1", "start_codon", "intergenic")
    bits = np.array([0b011, 0b001, 0b100, 0], np.uint16)
    assert primary_class(bits, classes).tolist() == ["start_codon", "cds_pos1", "intergenic", "none"]


def test_pca_finds_the_planted_codon_signal(planted):
    rec, ann, tr = planted
    df, vec = chunk_table(tr.passes[0], ann, 0, rec.seq)
    xy = embed(vec, method="pca", cache_dir=False)
    assert xy.shape == (len(df), 2) and xy.dtype == np.float32
    r = np.corrcoef(xy[:, 0], df["codon_pos"])[0, 1]
    assert abs(r) > 0.9
    assert np.array_equal(pca_2d(vec), xy)  # deterministic (signs fixed)


def test_embedding_cache_roundtrip(tmp_path, planted):
    _, _, tr = planted
    vec = tr.passes[0].stages[0].latents.astype(np.float32)
    a = embed(vec, method="pca", cache_dir=tmp_path)
    files = list(tmp_path.glob("pca-*.npy"))
    assert len(files) == 1
    np.save(files[0], np.ones_like(a))  # a cached result is what comes back
    assert (embed(vec, method="pca", cache_dir=tmp_path) == 1).all()
    assert not (embed(vec + 1, method="pca", cache_dir=tmp_path) == 1).all()  # other vectors, other key
    with pytest.raises(ValueError):
        embed(vec, method="tsne", cache_dir=False)


@pytest.mark.slow
def test_umap_small(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 8)) * 5
    vec = np.concatenate([centres[0] + rng.normal(size=(40, 8)), centres[1] + rng.normal(size=(40, 8))])
    xy = embed(vec.astype(np.float32), method="umap", seed=0, cache_dir=tmp_path)
    assert xy.shape == (80, 2) and np.isfinite(xy).all()
    # the two clusters land apart
    d_between = np.linalg.norm(xy[:40].mean(0) - xy[40:].mean(0))
    assert d_between > 2 * max(xy[:40].std(0).max(), xy[40:].std(0).max())
    assert embed(vec[:3].astype(np.float32), method="umap", cache_dir=False).shape == (3, 2)  # too few: PCA


# ---------------------------------------------------------------------------------------------- selections
# (issue 16, item 3: the Latents page's selection summary, nearest neighbours and colourings)
from interpret.latents import cds_position, nearest_chunks, selection_summary  # noqa: E402


def _planted_table(n: int = 600, cluster: int = 60, seed: int = 0):
    """A one-stage chunk table on a random sequence: rows 0..cluster-1 are 3-nt "ATG" chunks (half on each pass),
    half of them start codons and half intergenic; the other rows are 4–12 nt, 30 of them start codons, the rest
    in CDS codon positions. Start codons: 30/60 selected vs 60/600 overall (fold 5); intergenic fold 10."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    seq = list(rng.choice(list("ACGT"), size=20_000))
    rows = []
    for j in range(n):
        start, strand = 100 + 30 * j, "+" if j % 2 == 0 else "-"
        if j < cluster:
            length = 3
            seq[start:start + 3] = list("ATG" if strand == "+" else "CAT")  # "-" reads CAT backwards: ATG
            cls = "start_codon" if j % 2 == 0 else "intergenic"
        else:
            m = j - cluster
            length = 4 + m % 9
            cls = "start_codon" if m < 30 else f"cds_pos{1 + m % 3}"
        rows.append((start, start + length, strand, length, cls))
    text = "".join(seq)
    df = pd.DataFrame(rows, columns=["start", "end", "strand", "length", "class"])
    df.insert(0, "record", "R1")
    df["stage"] = 0
    df["sequence"] = [text[a:b] if s == "+" else text[a:b].translate(_COMP)[::-1]
                      for a, b, s in zip(df["start"], df["end"], df["strand"])]
    return df, text


def test_selection_summary_finds_the_planted_cluster():
    table, text = _planted_table()
    s = selection_summary(table, range(60), {"R1": text})
    assert (s.n_selected, s.n_all, s.stage) == (60, 600, 0)
    c = s.classes.set_index("class")
    assert (c.loc["start_codon", "n_selected"], c.loc["start_codon", "n_all"]) == (30, 60)
    assert c.loc["start_codon", "fold"] == pytest.approx(5.0) and c.loc["intergenic", "fold"] == pytest.approx(10.0)
    assert c.loc["start_codon", "p_fisher"] < 1e-10 and c.loc["intergenic", "q_bh"] < 1e-10
    assert c.loc["cds_pos1", "n_selected"] == 0 and c.loc["cds_pos1", "q_bh"] < 0.01  # depleted: fold 0
    assert c["n_all"].sum() == 600 and c["share_selected"].sum() == pytest.approx(1.0)
    lengths = s.lengths.set_index("group")
    assert lengths.loc["selected", "median"] == 3 and lengths.loc["selected", "share_len3"] == 1.0
    assert lengths.loc["all", "share_len3"] == pytest.approx(0.1) and s.p_lengths < 1e-10
    dist = s.length_distribution.set_index("length")
    assert dist.loc[3, "share_selected"] == 1.0 and dist["share_all"].sum() == pytest.approx(1.0)
    top = s.top_strings.iloc[0]
    assert (top["string"], top["n_selected"], top["n_all"], top["length"]) == ("ATG", 60, 60, 3)
    # the logo of the chunk starts reads ATG at positions 0..2 on both passes
    assert s.logo.n_sites == 60 and s.logo_all.n_sites == 600
    for pos, base in enumerate("ATG"):
        assert s.logo.counts.loc[pos, base] == 60
    assert s.logo.bits.loc[0].sum() > 1.5 and s.logo_all.bits.loc[0].sum() < s.logo.bits.loc[0].sum()


def test_selection_summary_of_a_random_selection_is_not_significant():
    table, _ = _planted_table()
    rows = np.random.default_rng(1).choice(np.arange(60, 600), size=60, replace=False)
    s = selection_summary(table, rows)
    assert (s.classes["q_bh"] > 0.05).all() and s.logo is None
    assert s.classes.set_index("class").loc["intergenic", "n_selected"] == 0


def test_selection_summary_rejects_bad_input():
    table, _ = _planted_table(n=80, cluster=10)
    with pytest.raises(ValueError, match="no chunks"):
        selection_summary(table, [])
    with pytest.raises(ValueError, match="0..79"):
        selection_summary(table, [3, 80])
    two = table.assign(stage=[0, 1] * 40)
    with pytest.raises(ValueError, match="one stage"):
        selection_summary(two, [0, 1])


def test_nearest_chunks_known_order():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0], [10, 0.5], [0, 0]], dtype=np.float32)
    cos = nearest_chunks(v, 0, k=10, metric="cosine")
    assert list(cos["row"]) == [4, 1, 2, 3, 5] and list(cos["rank"]) == [1, 2, 3, 4, 5]
    assert cos["distance"].iloc[2] == pytest.approx(1.0) and cos["distance"].iloc[3] == pytest.approx(2.0)
    assert np.isnan(cos["distance"].iloc[4])  # the zero vector has no direction: last
    euc = nearest_chunks(v, 0, k=3, metric="euclidean")
    assert list(euc["row"]) == [1, 5, 2] and euc["distance"].iloc[0] == pytest.approx(np.sqrt(0.02), rel=1e-5)
    tie = nearest_chunks(np.array([[0, 0], [1, 0], [-1, 0]]), 0, k=2, metric="euclidean")
    assert list(tie["row"]) == [1, 2]  # equal distances: the lower row first
    with pytest.raises(ValueError, match="metric"):
        nearest_chunks(v, 0, metric="manhattan")
    with pytest.raises(ValueError, match="0..5"):
        nearest_chunks(v, 6)


def test_cds_position_in_reading_direction():
    import pandas as pd

    features = pd.DataFrame({"type": ["CDS", "CDS", "gene"], "parts": [
        [(10, 40, 1)], [(100, 110, -1), (80, 90, -1)], [(0, 200, 1)]]})
    plus = cds_position(features, [10, 39, 40, 5], "+")
    assert plus[:2] == pytest.approx([0.0, 29 / 30]) and np.isnan(plus[2:]).all()
    minus = cds_position(features, [109, 100, 89, 80, 95, 20], "-")
    assert minus[:4] == pytest.approx([0.0, 9 / 20, 10 / 20, 19 / 20]) and np.isnan(minus[4:]).all()


def test_chunk_table_new_columns_and_colourings(planted):
    from interpret import figures as F

    rec, ann, tr = planted
    df, vec = chunk_table(tr.passes[1], ann, 0, rec.seq)
    assert (df["first_base"] == df["sequence"].str[:1]).all()
    in_cds = df["codon_pos"] > 0
    assert in_cds.any() and df.loc[in_cds, "cds_fraction"].between(0, 1).all()
    assert df.loc[~in_cds, "cds_fraction"].isna().all()
    xy = embed(vec, method="pca", cache_dir=False)
    by_base = F.latent_scatter(df, xy, "first_base")
    assert {t.name.split(" (")[0] for t in by_base.data} <= {f"first base {b}" for b in "ACGT"}
    by_cds = F.latent_scatter(df, xy, "cds_fraction")
    names = [t.name for t in by_cds.data]
    assert names[0].startswith("not in a CDS") if (~in_cds).any() else len(names) == 1
    assert sum(len(t.x) for t in by_cds.data) == len(df)
