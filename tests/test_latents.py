"""Chunk table (coordinates, class, codon position, GC, sequence as read) and cached PCA/UMAP embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from interpret.annotations import annotate
from interpret.latents import chunk_table, chunk_tables, embed, pca_2d, primary_class
from interpret.synthetic import make_genome, plant_boundaries

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
