"""Variant scoring with a tiny random dnaHNet (routers scrambled so chunk boundaries move): the fast path equals
scoring each variant from scratch, windows are read on the right strand and wrap at the origin (checked against a
hand-built window), identity scores exactly 0, saturation matrices have their shapes, the boundary response is
causal, the command line writes its CSVs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dnahnet.scoring import saturate, score_variants
from dnahnet.tokenizer import reverse_complement
from dnahnet.variants import Genome, VariantError
from tests.conftest import scrambled_model, window_ll
from tests.synthetic_variants import synthetic_genome, synthetic_sequences

W = 96  # window for the tests: a few forwards of 96 nt each take milliseconds


@pytest.fixture(scope="module")
def model():
    return scrambled_model(seed=0)


@pytest.fixture(scope="module")
def genome():
    return Genome.from_source(synthetic_genome())


def snv(rec: str, seq: str, pos: int, alt: str | None = None) -> str:
    """'REC:POS X>Y' with the record's own reference base X (the background is random); Y defaults to T (or G)."""
    base = seq[pos - 1]
    return f"{rec}:{pos}{base}>{alt or ('T' if base != 'T' else 'G')}"


def test_fast_path_equals_scoring_each_variant_from_scratch(model, genome):
    a, _ = synthetic_sequences()
    variants = [snv("synA.1", a, 250, a[249]), "blaP:H2Y", "blaP:L6F", "blaM:H3Y", "blaM:W4*", "oriM:C9P",
                "oriM:M1M", "synC.1:300_301insGA", "synA.1:200_202del", "synA.1:205_206delinsT", snv("synA.1", a, 3),
                snv("synA.1", a, 599), snv("synA.1", a, 250), snv("synA.1", a, 250, "C" if a[249] != "C" else "A")]
    fast = score_variants(genome, variants, model, window=W)
    naive = score_variants(genome, variants, model, window=W, fast=False)
    assert fast.attrs["timing"]["forward_rows"] < naive.attrs["timing"]["forward_rows"]
    for col in ("score_plus", "score_minus", "score_mean", "score"):
        np.testing.assert_allclose(fast[col].to_numpy(), naive[col].to_numpy(), atol=1e-4, rtol=0)
    assert np.isfinite(fast["score"]).all() and (fast["score"] != 0).sum() == len(variants) - 2


def test_identity_scores_exactly_zero(model, genome):
    a, _ = synthetic_sequences()
    ident = [f"synA.1:{p}{a[p - 1]}>{a[p - 1]}" for p in (1, 250, 600)] + ["blaP:H2H", "blaM:*10*", "oriM:C9C"]
    for fast in (True, False):
        df = score_variants(genome, ident, model, window=W, fast=fast, boundaries=True)
        assert (df[["score_plus", "score_minus", "score_mean", "score"]].to_numpy() == 0.0).all()
        assert (df.filter(regex=r"^s\d_(gained|lost)_(plus|minus)$").to_numpy() == 0).all()
        assert (df["nt_change"] == "").all() and (df.loc[3:, "codon_changes"] == 0).all()


def test_window_wraps_the_origin_and_minus_strand_reads_the_reverse_complement(model, genome):
    """oriM:C9P changes forward positions 1 and 600 of the circular synC; its window (centred on the codon's middle
    base, 600) is the record's last 33 + first 31 nt. Both strands are checked against that window built by hand."""
    _, c = synthetic_sequences()
    df = score_variants(genome, ["oriM:C9P"], model, window=64)
    row = df.iloc[0]
    assert row["sense"] == "-" and row["nt_change"] == "1A>G;600C>G" and row["codon_alt"] == "CCC"
    assert (row["window_start"], row["window_end"], row["window_len"]) == (568, 31, 64)
    ref = c[567:] + c[:31]
    mut = ref[:32] + "G" + "G" + ref[34:]  # window offsets 32 (position 600) and 33 (position 1)
    assert ref[32:34] == "CA"
    plus = window_ll(model, mut) - window_ll(model, ref)
    minus = window_ll(model, reverse_complement(mut)) - window_ll(model, reverse_complement(ref))
    assert row["score_plus"] == pytest.approx(plus, abs=1e-4)
    assert row["score_minus"] == pytest.approx(minus, abs=1e-4)
    assert row["score"] == pytest.approx((plus + minus) / 2, abs=1e-4)
    sense = score_variants(genome, ["oriM:C9P"], model, window=64, strand="sense").iloc[0]
    assert sense["score"] == pytest.approx(minus, abs=1e-4)  # oriM is read on the minus strand
    only_plus = score_variants(genome, ["oriM:C9P"], model, window=64, strand="+").iloc[0]
    assert np.isnan(only_plus["score_minus"]) and only_plus["score"] == pytest.approx(plus, abs=1e-4)


def test_indels_compare_the_same_genomic_span(model, genome):
    a, _ = synthetic_sequences()
    row = score_variants(genome, ["synA.1:200_202del"], model, window=64).iloc[0]
    lo = 200 - 32  # centred on the middle deleted base (0-based 200)
    ref = a[lo:lo + 64]
    mut = a[lo:199] + a[202:lo + 64]
    assert (row["window_start"], row["window_end"]) == (lo + 1, lo + 64)
    assert row["score_plus"] == pytest.approx(window_ll(model, mut) - window_ll(model, ref), abs=1e-4)


def test_linear_ends_and_short_records(model, genome):
    a, _ = synthetic_sequences()
    df = score_variants(genome, [snv("synA.1", a, 1), snv("synA.1", a, 600)], model, window=W)
    assert list(df["window_start"]) == [1, 600 - W + 1] and list(df["window_end"]) == [W, 600]
    assert np.isfinite(df["score"]).all()
    short = score_variants("ACGTACGTAC", ["5A>G"], model, window=W).iloc[0]
    assert (short["window_start"], short["window_end"], short["window_len"]) == (1, 10, 10)


def test_errors_raise_or_report(model, genome):
    with pytest.raises(VariantError, match="variant 2: blaP:K2Y: reference mismatch"):
        score_variants(genome, ["blaP:H2Y", "blaP:K2Y"], model, window=W)
    df = score_variants(genome, ["blaP:H2Y", "blaP:K2Y", "what"], model, window=W, errors="report")
    assert list(df["problem"] == "") == [True, False, False] and "cannot read" in df.loc[2, "problem"]
    assert np.isfinite(df.loc[0, "score"]) and df.loc[1:, "score"].isna().all()
    assert df.loc[1, "variant"] == "blaP:K2Y"


def test_saturation_region_and_cds(model, genome):
    a, _ = synthetic_sequences()
    sat = saturate(genome, (110, 118), model, record="synA.1", window=W)
    m = sat.matrix()
    assert m.shape == (8, 4) and sat.rows == list(range(111, 119)) and sat.row_labels == list(a[110:118])
    ref_cells = np.array([[b == r for b in "ACGT"] for r in a[110:118]])
    assert (m[ref_cells] == 0.0).all() and (m[~ref_cells] != 0).all()
    one = score_variants(genome, [snv("synA.1", a, 113)], model, window=W)
    col = "ACGT".index(one["nt_change"].iloc[0][-1])
    assert m[2, col] == pytest.approx(one["score"].iloc[0], abs=1e-6)

    sat = saturate(genome, "blaM", model, window=W, boundaries=True)
    m = sat.matrix()
    assert m.shape == (10, 21) and sat.columns[-1] == "*" and sat.row_labels == list("MAHWKDPLF*")
    wt = np.array([[aa == w for aa in sat.columns] for w in sat.row_labels])
    assert (m[wt] == 0.0).all() and np.isfinite(m).all()
    assert sat.frame().loc[(3, "H"), "Y"] == pytest.approx(m[2, sat.columns.index("Y")])
    assert {"s1_gained_plus", "s2_lost_minus", "s1_gained_pos_minus"} <= set(sat.table.columns)


def test_boundary_response_is_causal(model, genome):
    """A boundary can only move at or after the change in the reading direction: later positions on '+', earlier
    ones on '-'. Some mutations in the window move some boundaries (the routers are random, not dead)."""
    sat = saturate(genome, (140, 160), model, record="synA.1", window=W, boundaries=True)
    t = sat.table
    moved = 0
    for _, row in t.iterrows():
        for s in (1, 2):
            for what in ("gained", "lost"):
                plus, minus = row[f"s{s}_{what}_pos_plus"], row[f"s{s}_{what}_pos_minus"]
                assert len(plus) == row[f"s{s}_{what}_plus"] and len(minus) == row[f"s{s}_{what}_minus"]
                assert all(p >= row["pos"] for p in plus) and all(p <= row["pos"] for p in minus)
                assert all(row["window_start"] <= p <= row["window_end"] for p in plus + minus)
                moved += len(plus) + len(minus)
    assert moved > 0


def test_command_line(model, tmp_path):
    from dnahnet.checkpoint import save
    from dnahnet.variants_cli import main
    from tests.synthetic_variants import synthetic_genbank

    ckpt = save(model, tmp_path / "ckpt")
    gbk = tmp_path / "syn.gbk"
    gbk.write_text(synthetic_genbank())
    (tmp_path / "v.txt").write_text("blaP:H2Y\nblaM:M1L\n")
    out = tmp_path / "scores.csv"
    assert main([str(gbk), "--variants", str(tmp_path / "v.txt"), "--out", str(out), "--checkpoint", str(ckpt),
                 "--window", str(W), "--boundaries"]) == 0
    df = pd.read_csv(out)
    assert list(df["nt_change"]) == ["104C>T", "330T>G"] and np.isfinite(df["score"]).all()
    mat = tmp_path / "matrix.csv"
    assert main([str(gbk), "--saturate", "blaP", "--out", str(out), "--matrix", str(mat), "--checkpoint", str(ckpt),
                 "--window", str(W)]) == 0
    assert len(pd.read_csv(out)) == 10 * 21 and pd.read_csv(mat).shape == (10, 2 + 21)
    assert main([str(gbk), "--saturate", "synA.1:100-104", "--out", str(out), "--checkpoint", str(ckpt),
                 "--window", str(W)]) == 0
    assert len(pd.read_csv(out)) == 4 * 4
    assert main([str(gbk), "--variant", "blaP:K2Y", "--out", str(out), "--checkpoint", str(ckpt)]) == 2
    # as a module (`python -m`), where the file runs as __main__: the same answer
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "dnahnet.variants", str(gbk), "--variant", "oriM:C9P", "--out",
                           str(out), "--checkpoint", str(ckpt), "--window", "64", "--threads", "1"],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    row = pd.read_csv(out).iloc[0]
    assert row["nt_change"] == "1A>G;600C>G" and (row["window_start"], row["window_end"]) == (568, 31)


def test_resume_from_a_prefix_state_equals_the_whole_forward(model):
    """dnahnet.resume: prefixes run alone keep their state; continuations of different prefixes (different chunk
    counts, hence key/value cache lengths) run as one batch from the stacked states and give the logits and
    boundaries of the whole-window forward."""
    from dnahnet.resume import resume, stack_states

    x = torch.randint(0, 4, (3, W), generator=torch.Generator().manual_seed(5))
    starts = [40, 40, 57]
    with torch.inference_mode():
        full = model(x, return_routing=True)
        states = []
        for i, k in enumerate(starts):
            logits, _, state = resume(model, x[i:i + 1, :k], keep_state=True)
            torch.testing.assert_close(logits, full.logits[i:i + 1, :k], atol=1e-5, rtol=1e-5)
            states.append(state)
        rows = [0, 2, 1, 2]
        n = W - min(starts)
        cont = torch.full((len(rows), n), 4)
        for j, i in enumerate(rows):
            cont[j, :W - starts[i]] = x[i, starts[i]:]
        logits, routing, _ = resume(model, cont, stack_states([states[i] for i in rows]),
                                    offset=torch.tensor([starts[i] for i in rows]))
    for j, i in enumerate(rows):
        k = starts[i]
        torch.testing.assert_close(logits[j, :W - k], full.logits[i, k:], atol=1e-5, rtol=1e-5)
        for (pos, b), stage in zip(routing, full.routing):
            got = set(pos[j][b[j]].tolist()) & set(range(W))
            want = {p for p in stage.positions[i][stage.b[i]].tolist() if p >= k}
            assert got == want
    with pytest.raises(ValueError, match="single row"):
        resume(model, x, keep_state=True)


def test_reuse_runs_the_fused_kernel_from_a_state_and_changes_no_score(model, genome, monkeypatch):
    """reuse (the default fast path) continues every window from its prefix's state through the fused CPU
    interior with an initial state, and gives the scores and boundary changes of whole-window rows."""
    from kernels.mamba import cpu as mamba_cpu
    from kernels.mamba import native as mamba_native

    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    calls = []  # per fused call: did it start from a state? (C or numba interior; the C whole block: never)
    for module, name in ((mamba_cpu, "mamba_inner"), (mamba_native, "mamba_inner"), (mamba_native, "mamba_block")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, **k: calls.append(k.get("ssm_state") is not None)
                            or real(*a, **k))
    a, _ = synthetic_sequences()
    variants = [snv("synA.1", a, p, alt) for p in (2, 48, 300) for alt in "ACGT" if alt != a[p - 1]]
    variants += ["blaP:H2Y", "blaM:W4*", "synC.1:300_301insGA", "synA.1:200_202del", "synA.1:600del"]
    reused = score_variants(genome, variants, model, window=W, boundaries=True)
    assert reused.attrs["timing"]["reuse"] and any(calls)
    calls.clear()
    whole = score_variants(genome, variants, model, window=W, boundaries=True, reuse=False)
    assert not whole.attrs["timing"]["reuse"] and calls and not any(calls)
    for col in ("score_plus", "score_minus", "score"):
        np.testing.assert_allclose(reused[col].to_numpy(), whole[col].to_numpy(), atol=1e-4, rtol=0)
    bounds = [c for c in reused.columns if c.startswith(("s1_", "s2_"))]
    assert bounds and reused[bounds].astype(str).equals(whole[bounds].astype(str))
