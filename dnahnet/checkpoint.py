"""Save and load a model as `model.safetensors` + `config.json` (no pickle anywhere).

`load()` with no argument opens the bundled default `<repo>/checkpoints/dnahnet-small`; a bare name resolves under
`<repo>/checkpoints/` (`bundled_names` lists them). `checkpoint_hash` (the files) and `model_hash` (the loaded
weights) identify a model in traces and caches. `save` records the sha256 of both files in `meta.json`
("integrity") and `load` verifies them, so a file changed after saving (a config value edited by hand, a damaged
download) is a clear error, not a quietly different model. `read_card` reads what a checkpoint says about itself
(meta.json, its model card).
"""
import hashlib
import json
from pathlib import Path

import torch

from dnahnet.config import HNetConfig
from dnahnet.hnet import DnaHNet

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
DEFAULT_NAME = "dnahnet-small"
WEIGHTS, CONFIG, META = "model.safetensors", "config.json", "meta.json"
INTEGRITY = "integrity"  # meta.json key: {file name: sha256 hex} of CONFIG and WEIGHTS as saved


def best_device() -> torch.device:
    """cuda > mps > cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bundled_names() -> list[str]:
    """The checkpoints shipped under checkpoints/ (folders with a model and its config): the default first."""
    names = sorted(p.name for p in CHECKPOINT_DIR.glob("*") if (p / WEIGHTS).is_file() and (p / CONFIG).is_file())
    return sorted(names, key=lambda name: name != DEFAULT_NAME)  # stable: the rest stay by name


def resolve(path_or_name=None) -> Path:
    """The checkpoint directory for a path, a name under checkpoints/, or None (the bundled default)."""
    if path_or_name is None:
        path = CHECKPOINT_DIR / DEFAULT_NAME
        if not (path / WEIGHTS).exists():
            raise FileNotFoundError(f"the bundled checkpoint {path} is not there yet (no {WEIGHTS}); train one with "
                                    f"`python -m dnahnet.train` or pass a checkpoint directory")
        return path
    path = Path(path_or_name).expanduser()
    if path.name == WEIGHTS or path.name == CONFIG:
        path = path.parent
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1 and (CHECKPOINT_DIR / path).exists():
        path = CHECKPOINT_DIR / path
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path_or_name!r} not found (looked for a directory at {path} and "
                                f"under {CHECKPOINT_DIR})")
    return path


def save(model: DnaHNet, directory, extra_meta=None) -> Path:
    """Write model.safetensors + config.json into `directory`, then meta.json: `extra_meta` (a training run's
    record, if given) and the sha256 of both files under "integrity", which `load` verifies."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "dnahnet", "num_parameters": str(model.num_parameters())}
    save_file(state, str(directory / WEIGHTS), metadata=meta)
    model.config.save(directory / CONFIG)
    record = {**(extra_meta or {}), INTEGRITY: {name: _sha256(directory / name) for name in (CONFIG, WEIGHTS)}}
    (directory / META).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return directory


def _blocks(path: Path):
    """A file's bytes in 1 MiB blocks, to hash it without holding it whole."""
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def verify(path_or_name=None) -> None:
    """Check config.json and model.safetensors against the sha256 that `save` recorded in meta.json; a ValueError
    names a file that changed since. A checkpoint saved before hashes were recorded (no "integrity") passes."""
    directory = resolve(path_or_name)
    meta = directory / META
    if not meta.is_file():
        return
    try:
        recorded = json.loads(meta.read_text()).get(INTEGRITY)
    except (ValueError, AttributeError) as err:
        raise ValueError(f"{meta} is not a readable JSON object ({err}), so the checkpoint cannot be verified; "
                         "restore it from where the checkpoint came from") from err
    if recorded is None:
        return
    if not isinstance(recorded, dict) or any(not isinstance(recorded.get(n), str) for n in (CONFIG, WEIGHTS)):
        raise ValueError(f"{meta}: its {INTEGRITY!r} record is malformed (needs the sha256 of {CONFIG} and "
                         f"{WEIGHTS}); restore it from where the checkpoint came from")
    for name in (CONFIG, WEIGHTS):
        if _sha256(directory / name) != recorded[name].lower():
            raise ValueError(f"{directory / name} does not match the sha256 recorded in {META} when the checkpoint "
                             "was saved: it was changed or damaged since; restore the original file or save the "
                             "checkpoint again")


def load_config(path_or_name=None) -> HNetConfig:
    path = resolve(path_or_name) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: a checkpoint needs {CONFIG} beside {WEIGHTS}")
    try:
        return HNetConfig.load(path)
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{path} is not a valid dnaHNet config: {err}") from err


def load(path_or_name=None, device=None) -> DnaHNet:
    """A ready eval-mode model on `device` (default: the best available)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = resolve(path_or_name)
    config = load_config(directory)
    weights = directory / WEIGHTS
    if not weights.exists():
        raise FileNotFoundError(f"{weights} is missing")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{weights} is not a readable safetensors file ({err}); re-download or re-save it") from err
    model = DnaHNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{weights} does not match {directory / CONFIG}: missing {missing[:5]}, unexpected "
                         f"{unexpected[:5]}, wrong shape {wrong[:5]}"
                         + (" ..." if len(missing + unexpected + wrong) > 15 else ""))
    verify(directory)  # after the checks above, whose messages say more about files that do not even fit
    model.load_state_dict(state)
    device = torch.device(device) if device is not None else best_device()
    model.checkpoint_dir = str(directory)  # names the checkpoint in traces, reports and caches
    return model.to(device).eval()


_FILE_HASHES: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) of both files -> their hash


def checkpoint_hash(path_or_name=None) -> str:
    """First 16 hex digits of sha256 over model.safetensors + config.json (a cache key).

    Remembered per process while neither file changes (path, size, mtime and inode), so the app's About page and
    every `analyze` call do not re-read megabytes of weights."""
    directory = resolve(path_or_name)
    files = [directory / name for name in (WEIGHTS, CONFIG)]
    key = tuple((str(f.resolve()), *_identity(f)) for f in files)
    if key not in _FILE_HASHES:
        digest = hashlib.sha256()
        for file in files:
            for block in _blocks(file):
                digest.update(block)
        _FILE_HASHES[key] = digest.hexdigest()[:16]
    return _FILE_HASHES[key]


def _identity(file: Path) -> tuple[int, int, int]:
    """(size, mtime_ns, inode) of a file that must exist; a change to any means the file changed."""
    try:
        st = file.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} is missing") from None
    return st.st_size, st.st_mtime_ns, st.st_ino


def model_hash(model) -> str:
    """sha256 over the model's config and weights (names, dtypes, bytes): any weight change changes it. Quantised
    models hash too (their packed weights are tuples of quantised tensors: integers, scales and zero points)."""
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_json"):
        h.update(cfg.to_json().encode())
    for name, value in sorted(model.state_dict().items()):
        _hash_entry(h, name, value)
    return h.hexdigest()[:32]


def _hash_entry(h, name: str, value) -> None:
    """One state-dict entry into `h`: a tensor's name, dtype, shape and bytes (a quantised tensor's integers, scales
    and zero points), each item of a tuple, or the repr of anything else (a dtype, say)."""
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _hash_entry(h, f"{name}.{i}", item)
        return
    if not isinstance(value, torch.Tensor):
        h.update(f"{name}={value!r}".encode())
        return
    t = value.detach().cpu()
    h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
    if t.is_quantized:
        if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            h.update(f"{t.q_scale()}:{t.q_zero_point()}".encode())
        else:
            _hash_entry(h, f"{name}.scales", t.q_per_channel_scales())
            _hash_entry(h, f"{name}.zero_points", t.q_per_channel_zero_points())
        t = t.int_repr()
    h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def checkpoint_info(model) -> dict:
    """Name and file hash of the checkpoint the model came from, when known (`load` sets `checkpoint_dir`)."""
    where = getattr(model, "checkpoint_dir", None) or getattr(model, "checkpoint_path", None)
    if where is None:
        return {"checkpoint_name": "in-memory model", "checkpoint_file_hash": None}
    try:
        file_hash = checkpoint_hash(where)
    except (OSError, ValueError):
        file_hash = None
    return {"checkpoint_name": Path(str(where)).name, "checkpoint_dir": str(where), "checkpoint_file_hash": file_hash}


CARD_NAMES = ("MODEL_CARD.md", "model_card.md", "README.md")  # the first present is the model card


def read_card(directory) -> dict:
    """What a checkpoint directory says about itself: "meta" (meta.json, {} when unreadable) and "card" (the text of
    its model card, CARD_NAMES), each only when the file is there."""
    d, out = Path(directory), {}
    if (d / META).is_file():
        try:
            out["meta"] = json.loads((d / META).read_text())
        except ValueError:
            out["meta"] = {}
    for name in CARD_NAMES:
        if (d / name).is_file():
            out["card"] = (d / name).read_text()
            break
    return out
