"""Triton kernels against their PyTorch references: time, achieved bandwidth, whole-model inference throughput.

    python bench/bench_kernels.py                       # GPU: kernel table at 8k..128k, model throughput 8k..128k
    python bench/bench_kernels.py --quick --threads 1   # small shapes (CI smoke run; works on CPU)
    python bench/bench_kernels.py --quick --interpret   # CPU: also boundary agreement under the Triton interpreter

Bandwidth is the minimum traffic of each op (inputs read once, outputs written once) over its time, shown against
the device's measured copy bandwidth (a large tensor copy, read + write). On a CPU the Triton rows are skipped
(Triton needs a GPU; the interpreter's timings mean nothing) and say so; the CPU's own fast path, the fused numba
Mamba-2 interior, its numba RMSNorm and rotary embedding get a table each, the C blocks (kernels/*/native.c) one
against the numba + PyTorch path (with --marches, one column per instruction set the C is built for), and the
whole-model table compares `torch` with `auto` (which uses them).

    python bench/bench_kernels.py --threads 1 --lengths 2048 --repeats 3 --marches native,haswell,x86-64-v2
"""
import argparse
import importlib
import os
import sys
import time
from pathlib import Path

if "--interpret" in sys.argv:  # must precede the first import of triton
    os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dnahnet.config import HNetConfig  # noqa: E402
from kernels.ema.chunked import ema_chunked  # noqa: E402
from kernels.routing import naive as routing_naive  # noqa: E402
from kernels.ssd import naive as ssd_naive  # noqa: E402
from kernels.ssd.chunked import ssd_chunked  # noqa: E402


def triton_available(device):
    if device.type != "cuda":
        return False, "no GPU: Triton rows skipped"
    try:
        for op in ("ssd", "ema", "routing"):
            importlib.import_module(f"kernels.{op}.triton")
    except ImportError as err:
        return False, f"triton does not import ({err})"
    return True, ""


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    """Seconds per call (after one warm-up call), and the last result."""
    out = fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    sync(device)
    return (time.perf_counter() - start) / repeats, out


def copy_bandwidth(device, megabytes, repeats):
    """Bytes per second of `dst.copy_(src)` counting read + write."""
    src = torch.empty(megabytes * 2**20 // 4, device=device, dtype=torch.float32).uniform_()
    dst = torch.empty_like(src)
    seconds, _ = timed(lambda: dst.copy_(src), device, repeats)
    return 2 * src.numel() * 4 / seconds


def nbytes(*tensors):
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def kernel_cases(cfg, length, batch, device, dtype):
    """(name, shape text, reference fn, triton fn name or None, bytes moved) for the outer stage's shapes."""
    mc = cfg.mamba
    d0 = cfg.d_model[0]
    d_inner = mc.expand * d0
    h, p, n, g = d_inner // mc.headdim, mc.headdim, mc.d_state, mc.ngroups
    gen = torch.Generator(device=device).manual_seed(0)

    def randn(*shape, dt=dtype):
        return torch.randn(*shape, generator=gen, device=device).to(dt)

    x, B, C = randn(batch, length, h, p), randn(batch, length, g, n), randn(batch, length, g, n)
    dt = F.softplus(randn(batch, length, h, dt=torch.float32) - 2)
    A, D = -torch.rand(h, device=device) - 0.5, randn(h, dt=torch.float32)
    ssd_bytes = nbytes(x, dt, B, C) + nbytes(x)
    state = randn(batch * 8, h, p, n, dt=torch.float32)
    xs, dts, Bs, Cs = x[:1].expand(batch * 8, -1, -1, -1)[:, 0], dt[:1, 0].expand(batch * 8, -1), B[:1, 0], C[:1, 0]
    Bs, Cs = Bs.expand(batch * 8, -1, -1), Cs.expand(batch * 8, -1, -1)
    step_bytes = 2 * nbytes(state) + nbytes(xs, dts, Bs, Cs) + nbytes(xs)

    m = length // 3  # chunks after a compression of ~3
    z, P = randn(batch, m, d0), torch.rand(batch, m, device=device).clamp(1e-4, 1 - 1e-4)
    ema_bytes = nbytes(z, P) + nbytes(z)
    q, k = randn(batch, length, d0, dt=torch.float32), randn(batch, length, d0, dt=torch.float32)
    route_bytes = nbytes(q, k) + batch * length * 5
    hid = randn(batch, length, d0)
    bnd = torch.rand(batch, length, generator=gen, device=device) < 1 / 3
    gather_bytes = 2 * int(bnd.sum()) * d0 * hid.element_size() + batch * length

    def ema_train(impl):
        zz, PP = z.clone().requires_grad_(), P.clone().requires_grad_()
        return lambda: torch.autograd.grad(impl(zz, PP), (zz, PP), torch.ones_like(z))

    return [
        ("ssd_scan", f"b{batch} l{length} h{h} p{p} n{n}",
         lambda: ssd_chunked(x, dt, A, B, C, mc.chunk_size, D=D), "ssd.triton.ssd_scan",
         lambda f: (lambda: f(x, dt, A, B, C, mc.chunk_size, D=D)), ssd_bytes),
        ("ssd_step", f"b{batch * 8} h{h} p{p} n{n}",
         lambda: ssd_naive.ssd_step(state, xs, dts, A, Bs, Cs, D=D), "ssd.triton.ssd_step",
         lambda f: (lambda: f(state, xs, dts, A, Bs, Cs, D=D)), step_bytes),
        ("ema_scan fwd", f"b{batch} m{m} d{d0}", lambda: ema_chunked(z, P), "ema.triton.ema_scan",
         lambda f: (lambda: f(z, P)), ema_bytes),
        ("ema_scan fwd+bwd", f"b{batch} m{m} d{d0}", ema_train(ema_chunked), "ema.triton.ema_scan",
         ema_train, 3 * ema_bytes),
        ("boundary_prob", f"b{batch} l{length} d{d0}", lambda: routing_naive.boundary_prob(q, k),
         "routing.triton.boundary_prob", lambda f: (lambda: f(q, k)), route_bytes),
        ("gather_chunks", f"b{batch} l{length} d{d0}", lambda: routing_naive.gather_chunks(hid, bnd),
         "routing.triton.gather_chunks", lambda f: (lambda: f(hid, bnd)), gather_bytes),
    ]


def resolve(path):
    """'ssd.triton.ssd_scan' -> the function `ssd_scan` of `kernels.ssd.triton`."""
    module, fn = path.rsplit(".", 1)
    return getattr(__import__(f"kernels.{module}", fromlist=[fn]), fn)


def kernel_table(cfg, lengths, batch, device, dtype, repeats, copy_bw, use_triton, note):
    print(f"\n## Kernels (outer-stage shapes of this config, {dtype})\n")
    print("| kernel | shape | impl | ms | GB/s | % of copy | max abs diff vs ref |")
    print("|---|---|---|---:|---:|---:|---:|")
    for length in lengths:
        for name, shape, ref_fn, tri_name, make_tri, moved in kernel_cases(cfg, length, batch, device, dtype):
            t_ref, out_ref = timed(ref_fn, device, repeats)
            print(f"| {name} | {shape} | torch | {t_ref * 1e3:.3f} | {moved / t_ref / 1e9:.3g} | "
                  f"{100 * moved / t_ref / copy_bw:.0f}% | |", flush=True)
            if not use_triton:
                print(f"| {name} | {shape} | triton | – | – | – | {note} |")
                continue
            t_tri, out_tri = timed(make_tri(resolve(tri_name)), device, repeats)
            first = (lambda o: o[0] if isinstance(o, tuple) else o)
            diff = (first(out_tri).float() - first(out_ref).float()).abs().max().item()
            print(f"| {name} | {shape} | triton | {t_tri * 1e3:.3f} | {moved / t_tri / 1e9:.3g} | "
                  f"{100 * moved / t_tri / copy_bw:.0f}% | {diff:.2e} |", flush=True)


def load_model(preset, device):
    """A bundled checkpoint when one loads, else a randomly initialised preset (boundary rates then differ)."""
    from dnahnet.hnet import DnaHNet

    try:
        from dnahnet.checkpoint import load
        return load(device=device).eval(), "bundled checkpoint"
    except Exception as err:  # no checkpoint yet, or it does not load: say so and go on
        torch.manual_seed(0)
        return DnaHNet(HNetConfig.preset(preset)).to(device).eval(), f"random {preset} ({type(err).__name__})"


def model_table(preset, lengths, device, repeats, use_triton, note):
    model, what = load_model(preset, device)
    print(f"\n## Whole-model inference ({what}, batch 1, no_grad)\n")
    print("| length | torch nt/s | auto nt/s | speedup | max |Δ logit| | boundary decisions differ |")
    print("|---:|---:|---:|---:|---:|---:|")
    previous = os.environ.get("DNAHNET_KERNELS")
    compare = use_triton or device.type == "cpu"  # auto on a CPU: the numba Mamba-2 interior (kernels/mamba/cpu.py)
    for length in lengths:
        ids = torch.randint(0, 4, (1, length), device=device)
        rates, outs = {}, {}
        for mode in ("torch", "auto") if compare else ("torch",):
            os.environ["DNAHNET_KERNELS"] = mode
            with torch.no_grad():
                seconds, outs[mode] = timed(lambda: model(ids, return_routing=True), device, repeats)
            rates[mode] = length / seconds
        os.environ.pop("DNAHNET_KERNELS", None) if previous is None else os.environ.update(DNAHNET_KERNELS=previous)
        if not compare:
            print(f"| {length} | {rates['torch']:,.0f} | – | – | – | {note} |", flush=True)
            continue
        a, b = outs["torch"], outs["auto"]
        flips = sum(int((ra.b != rb.b).sum()) for ra, rb in zip(a.routing, b.routing))
        print(f"| {length} | {rates['torch']:,.0f} | {rates['auto']:,.0f} | {rates['auto'] / rates['torch']:.2f}x | "
              f"{(a.logits - b.logits).abs().max().item():.2e} | {flips} |", flush=True)


def agreement_table(device, quick):
    """Boundary decisions of the Triton router vs the reference on random and on p ≈ 0.5 inputs."""
    from bench.boundary_agreement import compare_boundaries

    print("\n## Boundary agreement (Triton vs reference router)\n")
    print("| input | result |")
    print("|---|---|")
    gen = torch.Generator(device=device).manual_seed(1)
    b, l, d = (2, 256, 64) if quick else (4, 32768, 128)
    q, k = (torch.randn(b, l, d, generator=gen, device=device) for _ in range(2))
    print(f"| random q, k ({b}x{l}x{d}) | {compare_boundaries(q, k).summary()} |")
    prev = q[:, :-1]  # k_t ⟂ q_{t-1} plus a 1e-7 tilt: p = 0.5 up to rounding everywhere
    ortho = k[:, 1:] - (k[:, 1:] * prev).sum(-1, keepdim=True) / (prev * prev).sum(-1, keepdim=True) * prev
    tilt = 1e-7 * torch.randn(ortho.shape, generator=gen, device=device)
    k_half = torch.cat([k[:, :1], ortho + tilt], dim=1)
    print(f"| k_t ⟂ q_(t-1), p ≈ 0.5 ({b}x{l}x{d}) | {compare_boundaries(q, k_half).summary()} |")


def cpu_mamba_table(cfg, batch, lengths, repeats):
    """CPU inference: the fused numba interior of a Mamba-2 layer (kernels/mamba/cpu.py) against the PyTorch
    reference (`Mamba2._inner`: conv + SiLU, chunked SSD, gated RMSNorm), side by side, per stage's shapes."""
    from dnahnet.mamba2 import Mamba2
    from kernels.mamba import cpu as mamba_cpu

    m = cfg.mamba
    print(f"\n## CPU Mamba-2 layer interior: fused numba vs PyTorch reference (batch {batch}, "
          f"{torch.get_num_threads()} threads)")
    print("| stage | shape (b, l, d_model, heads × headdim, d_state) | reference ms | fused ms | speed-up | "
          "max abs diff |")
    print("|---|---|---|---|---|---|")
    cpu = torch.device("cpu")
    for stage, length in enumerate(lengths):
        torch.manual_seed(stage)
        layer = Mamba2(cfg.d_model[stage], m).eval()
        u = torch.randn(batch, length, cfg.d_model[stage])
        args = (layer.conv1d.weight[:, 0, :], layer.conv1d.bias, layer.dt_bias, -torch.exp(layer.A_log), layer.D,
                layer.norm.weight, layer.norm.eps)
        with torch.inference_mode():
            zxbcdt = layer.in_proj(u)
            t_ref, y_ref = timed(lambda: layer._inner(zxbcdt), cpu, repeats)
            t_fused, y_fused = timed(lambda: mamba_cpu.mamba_inner(zxbcdt, *args, headdim=m.headdim,
                                                                   d_state=m.d_state, ngroups=m.ngroups), cpu, repeats)
        print(f"| {stage} | ({batch}, {length}, {cfg.d_model[stage]}, {layer.nheads} × {m.headdim}, {m.d_state}) | "
              f"{t_ref * 1e3:.1f} | {t_fused * 1e3:.1f} | {t_ref / t_fused:.2f}x | "
              f"{(y_ref - y_fused).abs().max().item():.1e} |")


def cpu_rms_norm_table(cfg, batch, lengths, repeats):
    """CPU inference: RMSNorm in one numba pass per token (kernels/norm/cpu.py) against F.rms_norm, side by side,
    at each stage's width and a default window's lengths."""
    from kernels.norm import cpu as norm_cpu

    print(f"\n## CPU RMSNorm: numba (one pass per token) vs F.rms_norm (batch {batch}, {torch.get_num_threads()} "
          f"threads)")
    print("| stage | shape (b, l, d) | F.rms_norm ms | numba ms | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    cpu = torch.device("cpu")
    for stage, length in enumerate(lengths):
        d = cfg.d_model[stage]
        torch.manual_seed(stage)
        x, w = torch.randn(batch, length, d), torch.rand(d) + 0.5
        t_ref, y_ref = timed(lambda: F.rms_norm(x, (d,), w, 1e-5), cpu, repeats)
        t_numba, y_numba = timed(lambda: norm_cpu.rms_norm(x, w, 1e-5), cpu, repeats)
        print(f"| {stage} | ({batch}, {length}, {d}) | {t_ref * 1e3:.2f} | {t_numba * 1e3:.2f} | "
              f"{t_ref / t_numba:.2f}x | {(y_ref - y_numba).abs().max().item():.1e} |")

def cpu_rope_table(cfg, batch, lengths, repeats):
    """CPU inference: rotary embedding in one numba pass (kernels/rope/cpu.py) against the reference
    (`dnahnet.transformer.apply_rope`), on q as attention holds it, at each attention stage's width."""
    from dnahnet.transformer import apply_rope, rope_angles
    from kernels.rope import cpu as rope_cpu

    print(f"\n## CPU rotary embedding: numba (one pass) vs apply_rope (batch {batch}, {torch.get_num_threads()} "
          f"threads)")
    print("| stage | q shape (b, heads, l, head_dim) | apply_rope ms | numba ms | speed-up | identical |")
    print("|---|---|---|---|---|---|")
    cpu = torch.device("cpu")
    for stage, length in zip(range(1, len(cfg.d_model)), lengths):  # the inner stages, where attention runs
        heads = cfg.attention.num_heads[stage]
        dh = cfg.d_model[stage] // heads
        torch.manual_seed(stage)
        q = torch.randn(batch, length, 3, heads, dh)[:, :, 0].transpose(1, 2)  # a view of a qkv projection
        cos, sin = rope_angles(torch.arange(length), dh, cfg.attention.rope_base)
        t_ref, y_ref = timed(lambda: apply_rope(q, cos, sin), cpu, repeats)
        t_numba, y_numba = timed(lambda: rope_cpu.rope(q, cos, sin), cpu, repeats)
        print(f"| {stage} | ({batch}, {heads}, {length}, {dh}) | {t_ref * 1e3:.2f} | {t_numba * 1e3:.2f} | "
              f"{t_ref / t_numba:.2f}x | {torch.equal(y_ref, y_numba)} |")

def cpu_native_table(cfg, batch, lengths, repeats, marches):
    """CPU inference: the C blocks (kernels/mamba/native.c, kernels/attention/native.c) against the numba + PyTorch
    path (DNAHNET_NATIVE=0), a Stage-0 Mamba block and each inner stage's Transformer block, side by side; each C
    build in `marches` (-march=...) compiled and run on this host (an AVX2 build is what an AVX2-only CPU gets)."""
    import contextlib

    from dnahnet.mamba2 import MambaBlock
    from dnahnet.transformer import TransformerBlock
    from kernels import native_build
    from kernels.attention import native as attention_native
    from kernels.mamba import native as mamba_native

    if not (mamba_native.available(cfg.mamba.headdim) and attention_native.available()):
        print("\n(C block table skipped: the C kernels are not built here — no C compiler, or DNAHNET_NATIVE=0)")
        return
    torch.manual_seed(0)
    a = cfg.attention
    cases = [("Mamba block, stage 0", MambaBlock(cfg.d_model[0], cfg.mamba).eval(),
              torch.randn(batch, lengths[0], cfg.d_model[0]))]
    for stage, length in zip(range(1, len(cfg.d_model)), lengths[1:]):
        d = cfg.d_model[stage]
        block = TransformerBlock(d, a.num_heads[stage], cfg.d_intermediate[stage] or 4 * d).eval()
        cases.append((f"Transformer block, stage {stage}", block, torch.randn(batch, length, d)))

    @contextlib.contextmanager
    def built_for(march):  # the C modules load this build instead of -march=native's
        march, *extra = march.split("@")  # native@-mtune=generic@NAME=1: -march=native -mtune=generic -DNAME=1
        flags = tuple(f"-march={march}" if f.startswith("-march") else f for f in native_build.COMPILE_FLAGS)
        flags += tuple(f if f.startswith("-") else f"-D{f}" for f in extra)
        saved = {m: m._library for m in (mamba_native, attention_native)}
        minimum = native_build.MIN_VECTOR_FLOATS
        try:
            native_build.MIN_VECTOR_FLOATS = 1  # time narrow builds too (inference does not use them)
            for m in saved:
                lib = native_build.declare(native_build.load(m.SOURCE, flags), m.SIGNATURES)
                m._library = lambda lib=lib: lib
            yield lib.native_vector_floats() >= minimum
        finally:
            native_build.MIN_VECTOR_FLOATS = minimum
            for m, library in saved.items():
                m._library = library

    print(f"\n## CPU C blocks vs numba + PyTorch (batch {batch}, {torch.get_num_threads()} threads; C built per "
          "instruction set, run here)")
    print("| block | shape (b, l, d) | numba + PyTorch ms | " + " | ".join(f"C -march={m} ms" for m in marches)
          + " | speed-up (native) | max abs diff (native) |")
    print("|---|---|---|" + "---|" * len(marches) + "---|---|")
    cpu = torch.device("cpu")
    with torch.inference_mode():
        for name, block, x in cases:
            os.environ["DNAHNET_NATIVE"] = "0"
            try:
                t_ref, y_ref = timed(lambda: block(x), cpu, repeats)
            finally:
                os.environ.pop("DNAHNET_NATIVE")
            cells, times, diff = [], [], None
            for march in marches:
                with built_for(march) as used:
                    t, y = timed(lambda: block(x), cpu, repeats)
                times.append(t)
                cells.append(f"{t * 1e3:.1f}" + ("" if used else " (not used: < 8 floats per vector)"))
                if march == "native":
                    diff = (y - y_ref).abs().max().item()
            cells = " | ".join(cells)
            print(f"| {name} | {tuple(x.shape)} | {t_ref * 1e3:.1f} | {cells} | {t_ref / times[0]:.2f}x | {diff:.1e} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small shapes and lengths (CI smoke run)")
    ap.add_argument("--interpret", action="store_true",
                    help="CPU: run the boundary-agreement check under the Triton interpreter")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--lengths", default=None, help="comma-separated model lengths (default 8k..128k)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: leave torch's setting)")
    ap.add_argument("--marches", default=None,
                    help="CPU: C builds to time, comma-separated -march values (default: native), e.g. "
                         "native,haswell,x86-64-v2 (each must run on this CPU); MARCH@FLAG@... adds compiler flags "
                         "(native@-mtune=generic) or, without a leading '-', macros (native@NAME=1 is -DNAME=1)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    lengths = ([int(x) for x in args.lengths.split(",")] if args.lengths else
               [512, 2048] if quick else [8192, 16384, 32768, 65536, 131072])
    repeats = args.repeats or (2 if quick else 10)
    dtype = getattr(torch, args.dtype)
    use_triton, note = triton_available(device)
    copy_bw = copy_bandwidth(device, 16 if quick else 1024, repeats)
    print(f"# Kernel benchmark on {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}")
    print(f"copy bandwidth (read + write): {copy_bw / 1e9:.1f} GB/s" + ("" if use_triton else f"; {note}"))
    kernel_table(HNetConfig.preset(args.preset), lengths[:1] if quick else [8192, 131072], 1, device, dtype,
                 repeats, copy_bw, use_triton, note)
    model_table("tiny" if quick else args.preset, lengths, device, repeats, use_triton, note)
    if device.type == "cpu":  # the lengths each stage sees in a default inference window (2,048 nt, ~3 and ~6 nt/chunk)
        cpu_mamba_table(HNetConfig.preset(args.preset), 2 if quick else 8, [512, 170] if quick else [2048, 690],
                      repeats)
        cpu_rms_norm_table(HNetConfig.preset(args.preset), 2 if quick else 8,
                           [512, 170, 85] if quick else [2048, 690, 350], repeats)
        cpu_rope_table(HNetConfig.preset(args.preset), 2 if quick else 8, [170, 85] if quick else [690, 350], repeats)
        cpu_native_table(HNetConfig.preset(args.preset), 2 if quick else 8,
                         [512, 170, 85] if quick else [2048, 690, 350], repeats,
                         args.marches.split(",") if args.marches else ["native"])
    if use_triton or os.environ.get("TRITON_INTERPRET") == "1":
        agreement_table(device, quick or device.type == "cpu")
    else:
        print("\n(boundary agreement needs Triton: run on a GPU, or with --interpret on a CPU)")


if __name__ == "__main__":
    main()
