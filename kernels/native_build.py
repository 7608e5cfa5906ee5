"""What the C kernels share: compile a kernel's C file once per host and load it with ctypes.

The C kernels (`kernels/<op>/native.c`, with `kernels/native_common.h`) are plain C with GCC/Clang vector
extensions, no Python or torch headers, so a build takes about a second with the system's C compiler (`$CC`, else
`cc`). The shared library is cached under `$DNAHNET_NATIVE_CACHE` (default `~/.cache/dnahnet/native`), named by a
hash of the source and the local headers it includes, the flags, the compiler's version and this CPU's model and
flags (`-march=native` code must not move to another CPU), and is
written to a temporary name and renamed, so processes building at once (torchrun) never load half a file.

Without a compiler, or when the build fails, `load` returns None once with a warning and the numba kernels run
instead; `DNAHNET_NATIVE=0` turns the C kernels off. Compiled with -ffast-math like the numba kernels' fastmath, but
linked without it: GCC would otherwise link crtfastmath.o, which sets flush-to-zero for the whole process on load.
ctypes releases the GIL during a call, so Python threads (one strand pass each, `dnahnet.infer`) run a kernel at
once."""
import concurrent.futures
import ctypes
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

COMPILE_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC", "-std=c11", "-Werror=implicit-function-declaration")
_LIBS = ("-lmvec", "-lm")  # libmvec: exp vectorised in loops (glibc); left out where it does not link


def enabled() -> bool:
    """False when DNAHNET_NATIVE=0 (the numba kernels run instead)."""
    return os.environ.get("DNAHNET_NATIVE", "1") != "0"


def cache_dir() -> Path:
    return Path(os.environ.get("DNAHNET_NATIVE_CACHE", Path.home() / ".cache" / "dnahnet" / "native"))


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc"))


def _cpu_identity() -> str:
    """This CPU's model and feature flags (Linux), else the platform's name: what -march=native compiles for."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        return platform.processor() + platform.machine()


@functools.cache
def _compiler_version(cc: str) -> str:
    return subprocess.run([cc, "--version"], capture_output=True, text=True).stdout


def _texts(source: Path) -> list[str]:
    """The source's text and, recursively, that of the local headers it includes (`#include "..."`)."""
    text = source.read_text()
    included = re.findall(r'^\s*#include\s+"([^"]+)"', text, flags=re.MULTILINE)
    return [text] + [t for name in included for t in _texts((source.parent / name).resolve())]


def library_path(source: Path, cc: str, flags: tuple[str, ...] = COMPILE_FLAGS) -> Path:
    """Where the shared library built from `source` (and its local headers) by `cc` with `flags` for this CPU is
    cached."""
    key = hashlib.sha256("\0".join([*_texts(source), " ".join(flags), _compiler_version(cc),
                                    _cpu_identity()]).encode()).hexdigest()[:16]
    return cache_dir() / f"{source.stem}-{source.parent.name}-{key}.so"


def _build(source: Path, cc: str, target: Path, flags: tuple[str, ...]) -> None:
    """Compile `source` to `target` (an object with `flags`, then a link without them); raises on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        obj, lib = Path(tmp) / "kernel.o", Path(tmp) / "kernel.so"
        subprocess.run([cc, *flags, "-c", str(source), "-o", str(obj)], check=True, capture_output=True,
                       text=True)
        for libs in (_LIBS, ("-lm",)):  # libmvec where the C library has it
            done = subprocess.run([cc, "-shared", str(obj), "-o", str(lib), *libs], capture_output=True, text=True)
            if done.returncode == 0:
                break
        else:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
        os.replace(lib, target)  # atomic: another process sees the old file, the new one or none


@functools.cache
def load(source: Path, flags: tuple[str, ...] = COMPILE_FLAGS) -> ctypes.CDLL | None:
    """The compiled `source` (built on first use, cached), or None when C kernels are off or cannot be built.
    `flags`: the compiler's (the tests also build for narrower instruction sets than this CPU's, e.g. AVX2)."""
    if not enabled():
        return None
    cc = _compiler()
    if cc is None:
        warnings.warn(f"no C compiler ({os.environ.get('CC', 'cc')}): {source.name} falls back to the numba "
                      "kernels (slower; docs/BENCHMARKS.md)", RuntimeWarning, stacklevel=2)
        return None
    target = library_path(source, cc, flags)
    try:
        if not target.exists():
            _build(source, cc, target, flags)
        return ctypes.CDLL(str(target))
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        warnings.warn(f"building or loading {source} failed, the numba kernels run instead: {detail.strip()[:500]}",
                      RuntimeWarning, stacklevel=2)
        return None


def declare(lib: ctypes.CDLL | None, signatures: dict) -> ctypes.CDLL | None:
    """`lib` with each function's ctypes signature set from {name: (argtypes, restype)} (None stays None)."""
    if lib is not None:
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, restype
    return lib


@functools.cache
def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="dnahnet-native")


def over_batch(run, b: int) -> None:
    """run(lo, hi) over work items [0, b) (batch items, or (item, head) pairs), split over torch's thread count:
    Python threads, since a ctypes call releases the GIL (one torch thread: in the calling thread, so strand passes
    on several threads run side by side)."""
    workers = min(torch.get_num_threads(), b)
    if workers <= 1:
        run(0, b)
        return
    bounds = [b * i // workers for i in range(workers + 1)]
    list(_pool(workers).map(run, bounds[:-1], bounds[1:]))


def f32(t: torch.Tensor) -> np.ndarray:
    """t as a C-contiguous fp32 numpy array (no copy when it already is one): what the compiled kernels read."""
    return t.detach().float().contiguous().numpy()


def transposed_padded(weight: torch.Tensor) -> np.ndarray:
    """A Linear's weight (out, in) as (in, out rounded up to 16) fp32, zeros past `out`: what the C kernels' GEMM
    (kernels/native_common.h) reads."""
    out_features, in_features = weight.shape
    t = np.zeros((in_features, -(-out_features // 16) * 16), np.float32)
    t[:, :out_features] = f32(weight).T
    return t


MIN_VECTOR_FLOATS = 8  # the C kernels run where a vector register holds 8 floats or more (AVX, AVX-512)


def usable(lib) -> bool:
    """True for a loaded kernel library built with vectors of at least MIN_VECTOR_FLOATS floats."""
    return lib is not None and lib.native_vector_floats() >= MIN_VECTOR_FLOATS


def build_all() -> dict[str, bool]:
    """Build (or find in the cache) every C kernel, `kernels/<op>/native.c`: {op: loaded}. `make app` and
    `make test` call this once so the first inference does not wait for the compiler (~3 s per kernel)."""
    return {source.parent.name: usable(load(source)) for source in sorted(Path(__file__).parent.glob("*/native.c"))}


if __name__ == "__main__":  # python -m kernels.native_build
    for op, ok in build_all().items():
        print(f"C kernel {op}: {'ready' if ok else 'not used here (the numba / PyTorch path runs instead)'}")
    print(f"cache: {cache_dir()}")
