"""Synthetic genomes with planted boundaries: statistics with known answers, for the tests.

`make_genome` writes random genes (proper start and stop codons, no internal stops) on both strands of a
random sequence; `plant_boundaries` puts chunk boundaries where a rule says (every codon position 3 of every
CDS on its strand's pass, every start codon, ...) plus random ones elsewhere, and returns a `Trace` exactly as
whole-genome inference would; `random_trace` has no planted signal at all.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from Bio.Seq import Seq
from Bio.SeqFeature import SeqFeature, SimpleLocation
from Bio.SeqRecord import SeqRecord

from dnahnet.trace import StageTrack, StrandPass, Trace

_BASES = np.array(list("ACGT"))
STOP_CODONS = ("TAA", "TAG", "TGA")
SENSE_CODONS = tuple(a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOP_CODONS)


def make_genome(length: int = 30_000, n_genes: int = 30, seed: int = 0, gene_len: tuple[int, int] = (300, 1200),
                minus_fraction: float = 0.5, min_gap: int = 40, circular: bool = True,
                record_id: str = "synthetic", n_trna: int = 0) -> SeqRecord:
    """A random genome with `n_genes` non-overlapping CDS (+ gene features) on both strands.

    Genes: ATG (or GTG/TTG, 10%) + random sense codons + a stop codon, length in `gene_len` nt (multiple of 3),
    separated by at least `min_gap` nt of random intergenic sequence. `n_trna` adds 76-nt tRNA features in gaps.
    """
    rng = np.random.default_rng(seed)
    lens = 3 * rng.integers(gene_len[0] // 3, gene_len[1] // 3 + 1, size=n_genes)
    free = length - int(lens.sum()) - min_gap * (n_genes + 1)
    if free < 0:
        raise ValueError(f"{n_genes} genes of {gene_len} nt do not fit in {length:,} nt; make the genome longer")
    gaps = min_gap + np.floor(rng.dirichlet(np.ones(n_genes + 1)) * free).astype(np.int64)
    seq = _BASES[rng.integers(0, 4, size=length)]
    features, pos = [], int(gaps[0])
    for i, n in enumerate(lens):
        codons = [rng.choice(["ATG", "GTG", "TTG"], p=[0.9, 0.05, 0.05])]
        codons += list(rng.choice(SENSE_CODONS, size=n // 3 - 2)) + [rng.choice(STOP_CODONS)]
        gene = "".join(codons)
        strand = -1 if rng.random() < minus_fraction else 1
        if strand == -1:
            gene = str(Seq(gene).reverse_complement())
        seq[pos:pos + n] = list(gene)
        loc = SimpleLocation(pos, pos + int(n), strand=strand)
        tag = f"SYN_{i + 1:04d}"
        features.append(SeqFeature(loc, type="gene", qualifiers={"locus_tag": [tag], "gene": [f"syn{i + 1}"]}))
        features.append(SeqFeature(loc, type="CDS", qualifiers={
            "locus_tag": [tag], "gene": [f"syn{i + 1}"], "product": ["synthetic protein"],
            "codon_start": ["1"], "transl_table": ["11"]}))
        pos += int(n) + int(gaps[i + 1])
    trna_gaps = np.flatnonzero(gaps[1:-1] >= 76 + 2 * 10)[:n_trna]
    ends = np.cumsum(gaps[:-1] + lens)  # end of gene i
    for k, g in enumerate(trna_gaps):
        s = int(ends[g]) + 10
        features.append(SeqFeature(SimpleLocation(s, s + 76, strand=1), type="tRNA",
                                   qualifiers={"locus_tag": [f"SYN_T{k + 1}"], "product": ["tRNA-Syn"]}))
    rec = SeqRecord(Seq("".join(seq)), id=record_id, name=record_id, description="synthetic genome",
                    features=features)
    rec.annotations["topology"] = "circular" if circular else "linear"
    rec.annotations["molecule_type"] = "DNA"
    return rec


def rule_mask(annotation, strand: str, rule) -> np.ndarray:
    """(length,) bool positions the rule plants on `strand`'s pass.

    rule: "codon1"/"codon2"/"codon3" (that codon position of every CDS on the strand), "start"/"stop" (first base
    of every start/stop codon, reading direction), "none", a class name of the annotation, or a callable
    (annotation, strand) -> bool mask.
    """
    n = annotation.length
    if callable(rule):
        return np.asarray(rule(annotation, strand), dtype=bool)
    if rule in ("none", "random", None):
        return np.zeros(n, dtype=bool)
    if rule in ("codon1", "codon2", "codon3"):
        return annotation.codon_pos[strand] == int(rule[-1])
    if rule in ("start", "stop"):
        a = annotation.anchors[f"{rule}_codon"]
        m = np.zeros(n, dtype=bool)
        m[a["pos"].to_numpy()[a["strand"].astype(str).to_numpy() == strand]] = True
        return m
    if rule in annotation.classes:
        return annotation.mask(strand, rule)
    raise ValueError(f"unknown rule {rule!r}: use codon1/2/3, start, stop, none, a class name or a callable")


def plant_boundaries(annotation, rule="codon3", rate_elsewhere: float = 0.1, seed: int = 0,
                     strands: tuple[str, ...] = ("+", "-"), n_stages: int = 2, stage1_keep: float = 0.5,
                     stage1_rule=None, max_latents: int = 500, latent_dim: int = 8) -> Trace:
    """A synthetic Trace: stage-0 boundaries at `rule` (on the passes in `strands`) and at random elsewhere.

    Stage 1 keeps a random `stage1_keep` of stage-0 boundaries (plus every stage-0 boundary that `stage1_rule`
    marks), so stages are nested by construction. Latents carry the codon position of the chunk start + noise.
    """
    rng = np.random.default_rng(seed)
    masks = {}
    for s in ("+", "-"):
        planted = rule_mask(annotation, s, rule) if s in strands else np.zeros(annotation.length, bool)
        masks[s] = planted | (rng.random(annotation.length) < rate_elsewhere)
    keep1 = {s: rule_mask(annotation, s, stage1_rule) if stage1_rule is not None else None for s in ("+", "-")}
    return _trace_from_masks(annotation.record_id, annotation.length, annotation.circular, masks, rng, n_stages,
                             stage1_keep, keep1, max_latents, latent_dim, annotation.codon_pos,
                             {"synthetic": True, "rule": str(rule), "rate_elsewhere": rate_elsewhere, "seed": seed})


def random_trace(length: int, rate: float, seed: int = 0, n_stages: int = 2, record_id: str = "synthetic",
                 circular: bool = True, stage1_keep: float = 0.5, max_latents: int = 500,
                 latent_dim: int = 8) -> Trace:
    """A Trace with independent random boundaries (probability `rate` per nucleotide) on both passes."""
    rng = np.random.default_rng(seed)
    masks = {s: rng.random(length) < rate for s in ("+", "-")}
    return _trace_from_masks(record_id, length, circular, masks, rng, n_stages, stage1_keep,
                             {"+": None, "-": None}, max_latents, latent_dim, None,
                             {"synthetic": True, "rule": "random", "rate": rate, "seed": seed})


def _trace_from_masks(record_id, length, circular, masks, rng, n_stages, stage1_keep, keep1, max_latents,
                      latent_dim, codon_pos, meta) -> Trace:
    passes = []
    for s in ("+", "-"):
        order = np.arange(length, dtype=np.int64)
        if s == "-":
            order = order[::-1].copy()
        b = masks[s].copy()
        b[order[0]] = True  # the first position read is always a boundary (p_0 = 1)
        stages, positions = [], order
        for stage in range(n_stages):
            bnd = positions[b[positions]]
            p = np.where(b[positions], 0.75, 0.25).astype(np.float32) + rng.normal(0, 0.05, positions.size).astype(
                np.float32)
            n_keep = min(max_latents, bnd.size)
            kept = np.sort(rng.choice(bnd.size, n_keep, replace=False)).astype(np.int64)
            lat = rng.normal(0, 1, (n_keep, latent_dim))
            if codon_pos is not None:
                lat[:, 0] += 3 * codon_pos[s][bnd[kept]]  # a signal a PCA/UMAP can find
            stages.append(StageTrack(positions.copy(), np.clip(p, 0, 1), bnd, kept, lat.astype(np.float16)))
            # next stage: a nested subset
            nxt = np.zeros(length, bool)
            nxt[bnd[rng.random(bnd.size) < stage1_keep]] = True
            if keep1[s] is not None:
                nxt[bnd[keep1[s][bnd]]] = True
            nxt[bnd[0]] = True
            positions, b = bnd, nxt
        logprob = (np.log(0.25) + rng.normal(0, 0.1, length)).astype(np.float32)
        passes.append(StrandPass(record_id, s, length, circular, stages, logprob))
    return Trace(passes, meta)


def trace_for(annotation_or_record, rule: str | Callable = "codon3", **kw) -> Trace:
    """Convenience: plant on a SeqRecord (annotated here) or a RecordAnnotation."""
    ann = annotation_or_record
    if isinstance(ann, SeqRecord):
        from interpret.annotations import annotate

        ann = annotate(ann)
    return plant_boundaries(ann, rule, **kw)


__all__ = ["make_genome", "plant_boundaries", "random_trace", "rule_mask", "trace_for"]
