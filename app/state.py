"""App state: what a request and an analysis are, the model (loaded once per server), the session's current
analysis, and a server-wide memo for slow derived results.

Every page reads `current()`; only `main.py` starts work (`app.runner.ensure_analysis`).
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

STRAND_CHOICES = {"both": "Both strands", "+": "Forward (+)", "-": "Reverse (−)"}


# ---------------------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class RunSettings:
    """What the user asked for: which strands, which part of the record (0-based half-open, None = all)."""

    strands: str = "both"
    region: tuple[int, int] | None = None

    def n_nt(self, length: int) -> int:
        a, b = self.region or (0, length)
        return (b - a) * (2 if self.strands == "both" else 1)

    def describe(self, length: int) -> str:
        a, b = self.region or (0, length)
        where = "whole record" if self.region is None else f"{a + 1:,}–{b:,}"
        return f"{STRAND_CHOICES[self.strands].lower()}, {where} ({b - a:,} bp)"


@dataclass
class Request:
    """One genome record and the settings to analyse it with (built by the sidebar)."""

    source_key: str  # "sample:<key>" or "upload:<file digest>"
    source_label: str  # what the user sees: the sample's name or the file name
    record: object  # Bio.SeqRecord
    settings: RunSettings
    companion: object = None  # parsed promoter/TSS table, or None
    companion_key: str = ""
    # the model that reads it, fixed when the sidebar builds the request (a background job reads no session state)
    checkpoint: str | None = field(default_factory=lambda: checkpoint_setting())

    @property
    def key(self) -> str:
        """Source (file + GFF3 digests) + sequence hash + record id + settings + checkpoint: the same genome opened
        twice gets the same key; new annotation for the same sequence gets a new one (its trace comes from disk)."""
        from dnahnet.genome_io import sequence_hash

        blob = (f"{self.source_key}|{sequence_hash(self.record)}|{self.record.id}|{self.settings}|"
                f"{self.checkpoint}")
        return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass
class Analysis:
    """The analysis every page shows: the record, its trace, its annotation, and how it was made."""

    key: str
    source_label: str
    record: object  # Bio.SeqRecord
    trace: object  # dnahnet.Trace
    settings: RunSettings
    companion: object = None
    companion_key: str = ""
    seconds: float = 0.0
    cached: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        return self.record.id

    @property
    def length(self) -> int:
        return len(self.record)

    @property
    def strands(self) -> list[str]:
        return [sp.strand for sp in self.trace.passes if sp.record_id == self.record.id]

    @property
    def n_stages(self) -> int:
        return self.trace.n_stages

    def strand_pass(self, strand: str):
        return self.trace.get(self.record.id, strand)

    @property
    def span(self) -> tuple[int, int]:
        """The analysed part of the record, 0-based half-open."""
        return self.settings.region or (0, self.length)

    @property
    def file_stem(self) -> str:
        """A safe file-name stem for downloads: record id + region."""
        a, b = self.span
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.record.id)
        return stem if self.settings.region is None else f"{stem}_{a + 1}-{b}"


def current() -> Analysis | None:
    """The analysis of this session, or None before the first run."""
    return st.session_state.get("analysis")


# ---------------------------------------------------------------------------------------------- model
MODEL_KEY = "model_choice"  # session key of the sidebar's model choice


def checkpoint_setting() -> str | None:
    """Which checkpoint to load: the sidebar's choice, else `$DNAHNET_CHECKPOINT` (a directory or name), else the
    bundled one (None)."""
    chosen = st.session_state.get(MODEL_KEY)
    return chosen if chosen and chosen in checkpoint_choices() else default_checkpoint()


def default_checkpoint() -> str | None:
    """The model a session starts with: `$DNAHNET_CHECKPOINT` (a directory or name), else the bundled one (None)."""
    return os.environ.get("DNAHNET_CHECKPOINT") or None


def checkpoint_choices() -> list[str]:
    """What the sidebar offers: `$DNAHNET_CHECKPOINT` when set, then the checkpoints shipped in checkpoints/ (the
    bundled default first)."""
    from dnahnet.checkpoint import bundled_names

    names = bundled_names()
    chosen = default_checkpoint()
    return names if chosen is None or chosen in names else [chosen, *names]


def default_model_choice() -> str | None:
    """The sidebar's first choice: `$DNAHNET_CHECKPOINT` when set, else the bundled default."""
    choices = checkpoint_choices()
    return default_checkpoint() or (choices[0] if choices else None)


@st.cache_resource(show_spinner=False)
def cpu_threads():
    """This server's CPU threads, set once at start-up (`dnahnet.threads.configure_threads`: the available cores,
    less those other processes keep busy; `app.runner` lets each run re-check while it goes on)."""
    from dnahnet.threads import configure_threads

    return configure_threads()


@st.cache_resource(show_spinner="Loading the dnaHNet model…")
def load_model(checkpoint: str | None):
    """The model, loaded once per server and checkpoint (on the GPU when there is one)."""
    from dnahnet import checkpoint as ckpt

    cpu_threads()
    return ckpt.load(checkpoint)


def model() -> object:
    return load_model(checkpoint_setting())


def device_label() -> str:
    """'GPU · name' or 'CPU · n threads', for the sidebar: the device the model loads on, so saying it does not load
    the model (the sidebar is drawn before the browser's first tracks; the model loads while they show)."""
    import torch
    from dnahnet.checkpoint import best_device

    dev = best_device()
    if dev.type == "cuda":
        return f"GPU · {torch.cuda.get_device_name(dev)}"
    cpu_threads()
    n = torch.get_num_threads()
    return f"CPU · {n} thread{'s' if n != 1 else ''}"


@st.cache_data(show_spinner=False)
def _card_files(directory: str) -> dict:
    """meta.json and a model card from a checkpoint directory, when present (`dnahnet.checkpoint.read_card`)."""
    from dnahnet.checkpoint import read_card

    return read_card(directory)


def model_card() -> dict:
    """What the checkpoint says about itself (name, size, config, meta.json, card text), for the About page."""
    m = model()
    directory = getattr(m, "checkpoint_dir", "")
    files = _card_files(directory) if directory else {}
    return {"name": Path(directory).name or "in-memory model", "path": directory,
            "parameters": sum(p.numel() for p in m.parameters()),
            "config": m.config.to_dict() if hasattr(m.config, "to_dict") else {},
            "meta": files.get("meta", {}), "card": files.get("card", "")}


# ---------------------------------------------------------------------------------------------- derived results
@st.cache_resource
def _derived() -> tuple[OrderedDict, threading.Lock]:
    """Server-wide memo of slow results that report progress (statistics), by (kind, analysis key)."""
    return OrderedDict(), threading.Lock()


def derived(kind: str, key: str, compute, progress=None, entries: int = 12):
    """`compute(progress)` once per (kind, key) per server; later calls (any session) get the stored result.

    Used instead of st.cache_data where the work reports progress: a cached function would replay the
    progress bar's messages on every hit.
    """
    memo, lock = _derived()
    with lock:
        if (kind, key) in memo:
            memo.move_to_end((kind, key))
            return memo[(kind, key)]
    out = compute(progress or (lambda fraction, message: None))
    with lock:
        memo[(kind, key)] = out
        while len(memo) > entries:
            memo.popitem(last=False)
    return out


def has_derived(kind: str, key: str) -> bool:
    memo, lock = _derived()
    with lock:
        return (kind, key) in memo
