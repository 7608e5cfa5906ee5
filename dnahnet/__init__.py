"""dnaHNet: a hierarchical (H-Net) DNA language model over nucleotides, with its training and inference.

Public API: `load`, `save`, `analyze`, `HNetConfig`, `DnaHNet`, `Trace`, `read_genome`; variant scoring:
`score_variants`, `saturate` (-> `Saturation`), `ScoreOptions`, `parse_variant`, `VariantError`; gene essentiality:
`score_essentiality` (-> `Essentiality`).
Imports are lazy so that `import dnahnet` stays cheap (the app imports it on every rerun).
"""
from importlib import import_module

_EXPORTS = {
    "HNetConfig": "dnahnet.config",
    "MambaConfig": "dnahnet.config",
    "AttentionConfig": "dnahnet.config",
    "DnaHNet": "dnahnet.hnet",
    "load": "dnahnet.checkpoint",
    "save": "dnahnet.checkpoint",
    "analyze": "dnahnet.infer",
    "Trace": "dnahnet.trace",
    "StrandPass": "dnahnet.trace",
    "StageTrack": "dnahnet.trace",
    "read_genome": "dnahnet.genome_io",
    "score_variants": "dnahnet.scoring",
    "saturate": "dnahnet.scoring",
    "Saturation": "dnahnet.scoring",
    "ScoreOptions": "dnahnet.scoring",
    "parse_variant": "dnahnet.variants",
    "VariantError": "dnahnet.variants",
    "score_essentiality": "dnahnet.essentiality",
    "Essentiality": "dnahnet.essentiality",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dnahnet' has no attribute {name!r}")
