"""app/model_card.py: what the About page says the loaded checkpoint does comes from measured files only — a
report kept in docs/results counts only for the very weights it names, the verdict follows the numbers, and a
missing measurement reads "not measured" (issue 15, item 10)."""
from __future__ import annotations

import pandas as pd
import pytest

from app import model_card
from dnahnet.checkpoint import checkpoint_hash


def _checkpoint(folder, weights: bytes):
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "config.json").write_text("{}")
    return folder


def _report(results, genome: str, named_hash: str, start_codon_rate: float):
    tables = results / genome / "tables"
    tables.mkdir(parents=True)
    (results / genome / "README.md").write_text(f"The checkpoint was x (model hash 0123; file hash {named_hash}).")
    pd.DataFrame({"stage": [1, 1, 1, 1], "quantity": ["global", "start codon", "promoter", "intergenic"],
                  "rate": [0.5, start_codon_rate, 0.52, 0.65], "rate_lo": [0.49, start_codon_rate - 0.01, 0.505, 0.64]}
                 ).to_csv(tables / "paper_comparison.csv", index=False)


def test_a_kept_report_counts_only_for_the_weights_it_names(tmp_path, monkeypatch):
    """Two checkpoints, one report naming the first's file hash: the first gets its Stage 2 rows (start codons at
    80% of a 50% overall rate: as in the paper; promoters 52%, lower bound 50.5%: above, but by under half the
    paper's ×1.39 excess, so weakly; intergenic 65%: ×1.30, past half the paper's ×1.45 (×1.23), so yes), the second
    reads "not measured" everywhere."""
    mine = _checkpoint(tmp_path / "mine", b"weights one")
    other = _checkpoint(tmp_path / "other", b"weights two")
    results = tmp_path / "results"
    _report(results, "ecoli-k12", checkpoint_hash(mine)[:12], 0.80)
    monkeypatch.setattr(model_card, "RESULTS_DIR", results)
    assert model_card.kept_reports(mine) == [results / "ecoli-k12" / "tables"]
    assert model_card.kept_reports(other) == []
    t = model_card.findings(mine)
    assert list(t["holds here"]) == ["not measured", "not measured", "yes", "weakly", "yes"]
    assert t.iloc[2]["this checkpoint"] == "80.0% vs 50.0% (×1.60)" and t.iloc[2]["paper"].startswith("81.3%")
    assert t.iloc[2]["from"].endswith("ecoli-k12/tables/paper_comparison.csv")
    v = model_card.verdict(t)
    assert v.startswith("Reproduces: Stage 2 prefers start codons; Stage 2 prefers intergenic DNA.")
    assert "only weakly (under half the paper's excess): Stage 2 prefers promoters." in v
    assert v.endswith("Not measured: Stage 1 avoids codon position 1; Stage 1 peaks at codon position 3.")
    assert (model_card.findings(other)["holds here"] == "not measured").all()
    assert model_card.verdict(model_card.findings(other)).startswith("Not measured: Stage 1 avoids")


def test_the_checkpoints_own_file_comes_before_a_kept_report(tmp_path, monkeypatch):
    """A Stage 2 table in the checkpoint's folder wins over the report in docs/results (start codons 30%: no)."""
    mine = _checkpoint(tmp_path / "mine", b"weights one")
    results = tmp_path / "results"
    _report(results, "ecoli-k12", checkpoint_hash(mine), 0.80)
    (mine / "ecoli-k12").mkdir()
    pd.DataFrame({"stage": [1, 1], "quantity": ["global", "start codon"], "rate": [0.5, 0.3],
                  "rate_lo": [0.49, 0.29]}).to_csv(mine / "ecoli-k12" / "paper_comparison.csv", index=False)
    monkeypatch.setattr(model_card, "RESULTS_DIR", results)
    row = model_card.findings(mine).iloc[2]
    assert (row["this checkpoint"], row["holds here"], row["from"]) == (
        "30.0% vs 50.0% (×0.60)", "no", "ecoli-k12/paper_comparison.csv")


def test_zero_shot_is_read_from_the_essentiality_summary_or_not_measured(tmp_path):
    mine = _checkpoint(tmp_path / "mine", b"weights one")
    assert model_card.zero_shot(mine) == (None, "")
    pd.DataFrame({"predictor": ["dnahnet", "gene length"], "column": ["essentiality", "length_nt"],
                  "auroc": [0.61, 0.55], "ci_low": [0.58, 0.52], "ci_high": [0.64, 0.58], "n_genes": [4000, 4000],
                  "n_essential": [290, 290]}).to_csv(mine / "essentiality_auroc.csv", index=False)
    row, name = model_card.zero_shot(mine)
    assert name == "essentiality_auroc.csv" and row["auroc"] == pytest.approx(0.61) and row["n_essential"] == 290
    assert row["baselines"] == {"gene length": pytest.approx(0.55)}
