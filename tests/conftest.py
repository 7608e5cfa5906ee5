"""Shared pytest fixtures: where the real genomes live (tests that need them skip cleanly without them), and the
helpers several test files use (GenBank text, a scrambled tiny model, a tiny checkpoint, a free port)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch):
    """Tests use small tensors: one thread is faster than two, and steadier on a shared 2-core machine. No thread
    policy configured by one test (the app configures it once per process) reaches the next."""
    from dnahnet import threads

    monkeypatch.setattr(threads, "_CURRENT", None)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data directory (genomes/, annotations/, essentiality/), or skip the test
    (`sample_genomes.loader.data_dir_status`: $DNAHNET_DATA_DIR, else ../shared/data)."""
    from sample_genomes.loader import data_dir_status

    d, why = data_dir_status()
    if d is None:
        pytest.skip(f"no data directory ({why}): set DNAHNET_DATA_DIR")
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


# ---- helpers shared by several test files ------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for torchrun's master or a local server)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrambled_model(config=None, seed=0):
    """A tiny model whose routers, residual projections and pad vectors are random (not identity / zero), so
    routing decisions vary inside a sequence and every path carries signal."""
    from dnahnet.config import tiny
    from dnahnet.hnet import DnaHNet

    torch.manual_seed(seed)
    model = DnaHNet(config or tiny()).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "router" in name:
                p.normal_(0, 1)
            elif "residual_proj" in name or name.endswith("pad"):
                p.normal_(0, 0.3)
    return model


def window_ll(model, seq: str) -> float:
    """Total log-likelihood of one window as the model reads it (every position but the first)."""
    import numpy as np

    from dnahnet.tokenizer import encode

    x = torch.from_numpy(encode(seq).astype(np.int64))[None]
    with torch.inference_mode():
        logp = torch.log_softmax(model(x).logits.float(), dim=-1)[0]
    return float(logp[:-1].gather(-1, x[0, 1:, None]).double().sum())


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised `tiny` model (seed 0) saved as a checkpoint directory."""
    from dnahnet.checkpoint import save
    from dnahnet.config import tiny
    from dnahnet.hnet import DnaHNet

    torch.manual_seed(0)
    return save(DnaHNet(tiny()), tmp_path_factory.mktemp("ckpt") / "tiny", extra_meta={"note": "random, for tests"})
