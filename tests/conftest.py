"""Shared pytest fixtures: where the real genomes live (tests that need them skip cleanly without them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use small tensors: one thread is faster than two, and steadier on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _find_data_dir() -> Path | None:
    env = os.environ.get("DNAHNET_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "genomes").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data directory (genomes/, annotations/, essentiality/), or skip the test."""
    d = _find_data_dir()
    if d is None:
        pytest.skip("../shared/data not found: set DNAHNET_DATA_DIR")
    return d


@pytest.fixture(scope="session")
def genomes_dir(data_dir: Path) -> Path:
    """`<data_dir>/genomes`."""
    return data_dir / "genomes"


def _genbank_text(name: str, seq: str, features: str = "", topology: str = "linear") -> str:
    """A minimal GenBank record; `features` are ready-made feature-table lines (21-column layout)."""
    lines = [f"LOCUS       {name:<16} {len(seq):>11} bp    DNA     {topology:<8} BCT 01-JAN-2000",
             f"DEFINITION  synthetic record {name}.", f"ACCESSION   {name}", f"VERSION     {name}.1",
             "FEATURES             Location/Qualifiers", f"     source          1..{len(seq)}"]
    lines += [l for l in features.splitlines() if l.strip()]
    lines.append("ORIGIN")
    for i in range(0, len(seq), 60):
        chunk = seq[i:i + 60]
        lines.append(f"{i + 1:>9} " + " ".join(chunk[j:j + 10] for j in range(0, len(chunk), 10)))
    lines.append("//")
    return "\n".join(lines) + "\n"


def feature_line(ftype: str, location: str, **qualifiers) -> str:
    """One GenBank feature with qualifiers, e.g. feature_line("CDS", "complement(4..15)", locus_tag="g1")."""
    out = [f"     {ftype:<16}{location}"]
    out += [f'                     /{k}="{v}"' if not isinstance(v, int) else f"                     /{k}={v}"
            for k, v in qualifiers.items()]
    return "\n".join(out) + "\n"


@pytest.fixture
def genbank_text():
    """Builder of small GenBank texts: genbank_text(name, seq, features="", topology="linear") -> str."""
    return _genbank_text


@pytest.fixture
def gb_feature():
    """Builder of GenBank feature lines: gb_feature("CDS", "join(1..3,7..9)", locus_tag="x") -> str."""
    return feature_line
