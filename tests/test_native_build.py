"""kernels/native_build.py: the C kernels are compiled once per host into a cache, never change the process's
floating-point mode, and fall back (None, with a warning) when they cannot be built or are turned off."""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernels import native_build
from kernels.mamba import native

REPO = Path(__file__).resolve().parents[1]
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def _load(source, monkeypatch, tmp_path, **env):
    monkeypatch.setenv("DNAHNET_NATIVE_CACHE", str(tmp_path / "cache"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return native_build.load.__wrapped__(source)  # past functools.cache: a fresh look at the cache


@needs_cc
def test_builds_once_then_loads_from_the_cache(monkeypatch, tmp_path):
    lib = _load(native.SOURCE, monkeypatch, tmp_path)
    assert lib is not None and lib.mamba_inner_supports(32) == 0 and lib.mamba_inner_supports(24) == -1
    built = list((tmp_path / "cache").glob("*.so"))
    assert len(built) == 1 and built[0] == native_build.library_path(native.SOURCE, shutil.which("cc"))
    stamp = built[0].stat().st_mtime_ns
    assert _load(native.SOURCE, monkeypatch, tmp_path) is not None
    assert built[0].stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [built[0].name]  # no temporary files left


@needs_cc
def test_a_changed_source_gets_its_own_library(monkeypatch, tmp_path):
    edited = tmp_path / "mamba" / "native.c"
    edited.parent.mkdir()
    edited.write_text(native.SOURCE.read_text() + "\n/* edited */\n")
    header = native.SOURCE.parent.parent / "native_common.h"
    (tmp_path / header.name).write_text(header.read_text())  # the include beside it, as in kernels/
    assert native_build.library_path(edited, "cc") != native_build.library_path(native.SOURCE, "cc")
    assert _load(edited, monkeypatch, tmp_path) is not None


def test_the_cache_key_covers_the_included_header(tmp_path):
    """A kernel built against another kernels/native_common.h is another library."""
    (tmp_path / "op").mkdir()
    kernel = tmp_path / "op" / "native.c"
    kernel.write_text('#include "../common.h"\nint f(void) { return K; }\n')
    (tmp_path / "common.h").write_text("#define K 1\n")
    first = native_build.library_path(kernel, "cc")
    (tmp_path / "common.h").write_text("#define K 2\n")
    assert native_build.library_path(kernel, "cc") != first


@needs_cc
def test_build_all_builds_every_kernel_folder(monkeypatch, tmp_path):
    """`make app` / `make test` prebuild every kernels/<op>/native.c (python -m kernels.native_build)."""
    monkeypatch.setenv("DNAHNET_NATIVE_CACHE", str(tmp_path))
    native_build.load.cache_clear()
    try:
        assert native_build.build_all() == {"attention": True, "mamba": True}
        assert len(list(tmp_path.glob("*.so"))) == 2
    finally:
        native_build.load.cache_clear()  # the next test loads from the usual cache again


def test_no_compiler_falls_back_with_a_warning(monkeypatch, tmp_path):
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        assert _load(native.SOURCE, monkeypatch, tmp_path, CC="/nonexistent/cc") is None


@needs_cc
def test_a_failed_build_falls_back_with_the_compilers_message(monkeypatch, tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text("int f(void) { return undeclared_name; }\n")
    with pytest.warns(RuntimeWarning, match="undeclared_name"):
        assert _load(broken, monkeypatch, tmp_path) is None
    assert not list((tmp_path / "cache").glob("*.so"))


def test_turned_off_by_the_environment(monkeypatch, tmp_path):
    assert _load(native.SOURCE, monkeypatch, tmp_path, DNAHNET_NATIVE="0") is None
    assert not (tmp_path / "cache").exists()


@needs_cc
def test_loading_keeps_subnormal_numbers(tmp_path):
    """Linked without -ffast-math: GCC's crtfastmath.o would turn on flush-to-zero for the whole process on load,
    changing every later float operation (numpy's and torch's too)."""
    code = ("import numpy as np; from kernels import native_build; from kernels.mamba import native; "
            "assert native_build.load(native.SOURCE) is not None; "
            "x = np.array([1e-39], np.float32); print((x * np.float32(1.0))[0])")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DNAHNET_NATIVE_CACHE": str(tmp_path)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert float(res.stdout) == pytest.approx(1e-39, rel=1e-3)


def _flags(march):
    return tuple(f"-march={march}" if f.startswith("-march") else f for f in native_build.COMPILE_FLAGS)


_cpu_flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction sets")


@needs_cc
@x86
@pytest.mark.skipif(not (" avx2 " in _cpu_flags and " fma " in _cpu_flags), reason="needs a CPU with AVX2 and FMA")
def test_an_avx2_build_matches_the_modules(monkeypatch, tmp_path):
    """The code an AVX2 host (8-float vectors, a narrower GEMM tile, AVX's reciprocal) builds, run here: the whole
    Mamba and Transformer blocks give the modules' output."""
    import torch

    from dnahnet.config import MambaConfig
    from dnahnet.mamba2 import MambaBlock
    from dnahnet.transformer import TransformerBlock
    from kernels.attention import native as attention

    monkeypatch.setenv("DNAHNET_NATIVE_CACHE", str(tmp_path))
    libs = {m: native_build.declare(native_build.load.__wrapped__(m.SOURCE, _flags("haswell")), m.SIGNATURES)
            for m in (native, attention)}
    assert all(lib.native_vector_floats() == 8 for lib in libs.values())
    for module, lib in libs.items():
        monkeypatch.setattr(module, "_library", lambda lib=lib: lib)
    torch.manual_seed(12)
    blocks = ((MambaBlock(64, MambaConfig(d_state=16, headdim=32, expand=2, d_conv=4, chunk_size=16)), 64),
              (TransformerBlock(96, 4, 200), 96))
    for block, d in blocks:
        with torch.no_grad():
            for prm in block.parameters():
                prm.add_(0.1 * torch.randn_like(prm))
        x = torch.randn(2, 150, d)
        with torch.inference_mode():
            assert block._fused(x) is not None
            fused = block(x)
            monkeypatch.setenv("DNAHNET_NATIVE", "0")
            torch.testing.assert_close(fused, block(x), atol=1e-4, rtol=1e-4)
            monkeypatch.setenv("DNAHNET_NATIVE", "1")


@needs_cc
@x86
def test_a_build_with_narrow_vectors_is_not_used(monkeypatch, tmp_path):
    """SSE-only code (4-float vectors) was slower than the numba + PyTorch path: such a build is not used."""
    monkeypatch.setenv("DNAHNET_NATIVE_CACHE", str(tmp_path))
    lib = native_build.declare(native_build.load.__wrapped__(native.SOURCE, _flags("x86-64")), native.SIGNATURES)
    assert lib.native_vector_floats() == 4 and not native_build.usable(lib)
    monkeypatch.setattr(native, "_library", lambda: lib)
    assert not native.available(32)
