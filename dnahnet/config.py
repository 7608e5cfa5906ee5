"""Model configuration: dataclasses for the whole dnaHNet, JSON round trip, and the named presets.

The arch layout uses H-Net's nested form: a stage is `[encoder, inner_stage, decoder]` or `[main]`, where each
string lists layer groups, e.g. "T1m4" = one Transformer block then four Mamba-2 layers. The nesting depth
decides how many stages (routers) the model has: `["m4", ["T2"], "m4"]` has one router, the paper's
`["m4", ["T1m4", ["T4"], "m4T1"], "m4"]` has two.
"""
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

_GROUP = re.compile(r"([mT])(\d+)")


@dataclass
class MambaConfig:
    """Mamba-2 layer settings (shared by all stages)."""
    d_state: int = 32
    headdim: int = 16
    expand: int = 2
    d_conv: int = 4
    chunk_size: int = 64  # SSD chunk length; 64-128 is efficient on a CPU
    ngroups: int = 1


@dataclass
class AttentionConfig:
    """Transformer settings per stage (lists indexed by stage)."""
    num_heads: list = field(default_factory=lambda: [4, 4, 8])
    window: list = field(default_factory=lambda: [0, 0, 0])  # sliding window per stage, 0 = full causal
    rope_base: float = 10000.0


@dataclass
class HNetConfig:
    """The whole model. Lists over stages: `d_model`, `d_intermediate`; over routers: `target_compression`."""
    arch_layout: list = field(default_factory=lambda: ["m4", ["T1m4", ["T4"], "m4T1"], "m4"])
    d_model: list = field(default_factory=lambda: [64, 128, 256])
    d_intermediate: list = field(default_factory=lambda: [0, 256, 512])  # SwiGLU hidden width per stage
    vocab_size: int = 5
    mamba: MambaConfig = field(default_factory=MambaConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    target_compression: list = field(default_factory=lambda: [3.0, 2.0])  # N per router
    ratio_loss_weight: float = 0.015
    norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self):
        if isinstance(self.mamba, dict):
            self.mamba = _from_dict(MambaConfig, self.mamba)
        if isinstance(self.attention, dict):
            self.attention = _from_dict(AttentionConfig, self.attention)
        self.validate()

    # ---- structure -------------------------------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        """Number of widths/levels (routers + 1)."""
        depth, layout = 1, self.arch_layout
        while len(layout) == 3:
            depth, layout = depth + 1, layout[1]
        return depth

    @property
    def num_routers(self) -> int:
        return self.num_stages - 1

    def stage_layout(self, stage: int) -> list:
        """The layout list of one stage: [encoder, inner, decoder] or [main]."""
        layout = self.arch_layout
        for _ in range(stage):
            layout = layout[1]
        return layout

    def validate(self):
        """Raise ValueError with a readable message when the config cannot build a model."""
        layout = self.arch_layout
        for s in range(64):
            if not isinstance(layout, list) or len(layout) not in (1, 3):
                raise ValueError(f"arch_layout stage {s} must be [encoder, [...], decoder] or [main], got {layout!r}")
            strings = [layout[0], layout[2]] if len(layout) == 3 else [layout[0]]
            for text in strings:
                parse_layer_groups(text)
            if len(layout) == 1:
                break
            layout = layout[1]
        n = self.num_stages
        for name in ("d_model", "d_intermediate"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs one entry per stage ({n}), got {getattr(self, name)}")
        for name in ("num_heads", "window"):
            if len(getattr(self.attention, name)) < n:
                raise ValueError(f"attention.{name} needs one entry per stage ({n})")
        if len(self.target_compression) != self.num_routers:
            raise ValueError(f"target_compression needs one entry per router ({self.num_routers})")
        if any(t <= 1 for t in self.target_compression):
            raise ValueError("target_compression entries must be > 1")
        if any(b < a for a, b in zip(self.d_model, self.d_model[1:])):
            raise ValueError(f"d_model must not shrink towards inner stages, got {self.d_model}")
        for s, d in enumerate(self.d_model):
            if (self.mamba.expand * d) % self.mamba.headdim:
                raise ValueError(f"expand*d_model[{s}] = {self.mamba.expand * d} is not a multiple of headdim")
            if d % self.attention.num_heads[s]:
                raise ValueError(f"d_model[{s}] = {d} is not divisible by num_heads[{s}]")

    # ---- JSON ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "HNetConfig":
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "HNetConfig":
        return cls.from_dict(json.loads(text))

    def save(self, path):
        """Write config.json (path is the file or its directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        path.write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path) -> "HNetConfig":
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        return cls.from_json(path.read_text())

    @classmethod
    def preset(cls, name: str) -> "HNetConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return PRESETS[name]()


def _from_dict(cls, data: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
    return cls(**data)


def parse_layer_groups(text: str) -> list:
    """"T1m4" -> [("T", 1), ("m", 4)]; raises ValueError on anything else."""
    groups = _GROUP.findall(text)
    if not isinstance(text, str) or "".join(f"{k}{n}" for k, n in groups) != text:
        raise ValueError(f"layer string {text!r} must look like 'm4', 'T1m4' (m = Mamba-2, T = Transformer)")
    return [(kind, int(n)) for kind, n in groups]


# ---- presets ---------------------------------------------------------------------------------------------------
def tiny() -> HNetConfig:
    """For tests: two routers, ~150k parameters, a forward on 2k nt in well under a second."""
    return HNetConfig(
        arch_layout=["m2", ["T1m1", ["T1"], "m1T1"], "m2"],
        d_model=[32, 48, 64],
        d_intermediate=[0, 64, 96],
        mamba=MambaConfig(d_state=16, headdim=16, expand=2, chunk_size=32),
        attention=AttentionConfig(num_heads=[2, 2, 4], window=[0, 0, 0]),
    )


def small() -> HNetConfig:
    """~1.6M parameters, two routers; the bundled-checkpoint candidate. The full-rate stage (d 64, m4 + m4) is
    kept cheap for CPU inference; the inner stages run at 1/3 and 1/6 of the rate."""
    return HNetConfig(
        arch_layout=["m4", ["T1m2", ["T3"], "m2T1"], "m4"],
        d_model=[64, 96, 160],
        d_intermediate=[0, 192, 384],
        mamba=MambaConfig(d_state=32, headdim=32, expand=2, chunk_size=32),
        attention=AttentionConfig(num_heads=[4, 4, 5], window=[0, 0, 0]),
    )


def medium() -> HNetConfig:
    """~5M parameters, two routers, the paper's layout."""
    return HNetConfig(
        arch_layout=["m4", ["T1m4", ["T5"], "m4T1"], "m4"],
        d_model=[96, 128, 224],
        d_intermediate=[0, 256, 576],
        mamba=MambaConfig(d_state=64, headdim=32, expand=2, chunk_size=32),
        attention=AttentionConfig(num_heads=[4, 4, 7], window=[0, 0, 0]),
    )


PRESETS = {"tiny": tiny, "small": small, "medium": medium}
