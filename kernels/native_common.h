/* What the C kernels share (kernels/<op>/native.c include it): the vector type, exp and SiLU, and a small
 * register-tiled GEMM for the activations of one block of tokens (which stay in L1/L2).
 *
 * Vectors are GCC/Clang vector extensions as wide as one register of the target: 16 floats with AVX-512, 8 with
 * AVX/AVX2, 4 otherwise (SSE, NEON). Wider than a register is ruinous: GCC passes such vectors through memory
 * (an AVX2 build of 16-float code ran the Mamba block 20x slower). The loops keep at most ~20 vectors live, within
 * AVX-512's 32 registers, and the GEMM tile narrows to fit AVX2's 16. kernels/native_build.py compiles each kernel
 * with -O3 -march=native -ffast-math and hashes this header with it.
 */
#ifndef DNAHNET_NATIVE_COMMON_H
#define DNAHNET_NATIVE_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define VL 16          /* floats per vf */
#define GEMM_NV 4      /* vectors of columns per GEMM tile: 16 accumulators */
#elif defined(__AVX__)
#define VL 8
#define GEMM_NV 2      /* 8 accumulators of AVX2's 16 registers */
#else
#define VL 4
#define GEMM_NV 2
#endif

typedef float vf __attribute__((vector_size(VL * 4)));

/* Floats per vector in this build: the Python side uses the C kernels only from 8 (AVX) up; narrower builds (SSE,
 * NEON) were 2x slower than the numba + PyTorch path on the host where it was measured (session 11). */
int native_vector_floats(void) { return VL; }

static inline vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vf vmax(vf a, vf b) { const vi m = a > b; return (vf)((m & (vi)a) | (~m & (vi)b)); }
static inline vf vmin(vf a, vf b) { const vi m = a < b; return (vf)((m & (vi)a) | (~m & (vi)b)); }

/* exp of a vector: 2^n · exp(r), n = round(x / ln 2), |r| <= ln 2 / 2, exp(r) by its Taylor series to r^6
 * (relative error under 5e-7 against exp over [-87, 88], measured in session 11). Inline, so loops that need exp
 * stay vectorised without a call (glibc's libmvec variants are calls, where it has them at all). */
static inline vf vexp(vf x)
{
    x = vmin(vmax(x, (vf){0} - 87.0f), (vf){0} + 88.0f);  /* exp(-87) ~ 1.6e-38: about the smallest normal */
    const vf t = x * 1.44269504f + 0.5f;
    vi n = __builtin_convertvector(t, vi);            /* truncates toward zero ... */
    n += (vi)(__builtin_convertvector(n, vf) > t);    /* ... so take 1 where that was above t: floor(t) */
    const vf r = x - __builtin_convertvector(n, vf) * 0.693147181f;
    vf p = r * (1.0f / 720) + (1.0f / 120);
    p = p * r + (1.0f / 24);
    p = p * r + (1.0f / 6);
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const vi bits = (n + 127) << 23;                  /* 2^n as a float's bits */
    vf scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float hsum(vf v) { float s = v[0]; for (int i = 1; i < VL; i++) s += v[i]; return s; }
static inline float hmax(vf v) { float m = v[0]; for (int i = 1; i < VL; i++) m = v[i] > m ? v[i] : m; return m; }
/* 1 / x: the CPU's estimate (AVX-512 14 bits, AVX 12 bits) and one Newton step (~1 ulp; a division is ~4x
 * slower), else a division. */
static inline vf vrcp(vf x)
{
#if defined(__AVX512F__)
    vf r;
    const __m512 estimate = _mm512_rcp14_ps((__m512)x);
    memcpy(&r, &estimate, sizeof r);
    return r * (2.0f - x * r);
#elif defined(__AVX__)
    vf r;
    const __m256 estimate = _mm256_rcp_ps((__m256)x);
    memcpy(&r, &estimate, sizeof r);
    return r * (2.0f - x * r);
#else
    return 1.0f / x;
#endif
}

static inline vf vsilu(vf x) { return x * vrcp(1.0f + vexp(-x)); }
static inline float silu(float x) { return x / (1.0f + expf(-x)); }

/* x[0 .. n) = silu(x), vectorised over whole vectors, the tail one by one. */
static inline void silu_inplace(float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vstore(x + i, vsilu(vload(x + i)));
    for (; i < n; i++) x[i] = silu(x[i]);
}

/* x (rows, d) -> out (rows, d): x · w / sqrt(mean(x²) + eps), row by row (the blocks' pre-norms). */
static inline void rms_norm_rows(const float *x, int64_t rows, int64_t d, const float *w, float eps, float *out)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float sumsq = 0.0f;
        for (int64_t c = 0; c < d; c++) sumsq += xr[c] * xr[c];
        const float scale = 1.0f / sqrtf(sumsq / (float)d + eps);
        for (int64_t c = 0; c < d; c++) out[r * d + c] = xr[c] * scale * w[c];
    }
}

/* out (rows4, n) = a (rows4, k; row stride lda) @ wt (k, npad), wt the weight transposed with its columns padded to
 * a multiple of 16 (so of VL); rows4 a multiple of 4. Tiles of 4 rows x up to GEMM_NV vectors of columns
 * accumulate in registers over k in order, in slices of GEMM_KC rows of wt so a tile's slice stays in L1 while the
 * rows go by; `add`: the tile starts from out (the sum of the previous slices) instead of 0. */
#define GEMM_KC 128

/* Keep a loaded vector in a register. Without it GCC's tuning for AMD Zen (what -march=native picks there) folds
 * the load into every FMA that uses the vector: the GEMM tile then loads each weight vector once per row (16 loads
 * per k instead of 4) and on a Zen 4 runs load-bound, 1.3x slower (session 12). */
#if defined(__x86_64__) && defined(__GNUC__)
#define IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define IN_REGISTER(v) ((void)0)
#endif

#define DEFINE_GEMM_TILE(NV)                                                                                    \
static void gemm_tile_##NV(const float *a, int64_t lda, const float *wt, int64_t npad, int64_t k, float *out,  \
                           int64_t ldo, int64_t ncols, int add)                                                 \
{                                                                                                               \
    vf acc[4][NV];                                                                                              \
    for (int r = 0; r < 4; r++)                                                                                 \
        for (int q = 0; q < NV; q++) {                                                                          \
            if (!add) acc[r][q] = (vf){0};                                                                      \
            else if ((q + 1) * VL <= ncols) acc[r][q] = vload(out + r * ldo + q * VL);                         \
            else {                                                                                              \
                acc[r][q] = (vf){0};                                                                            \
                for (int i = 0; i < ncols - q * VL; i++) acc[r][q][i] = out[r * ldo + q * VL + i];              \
            }                                                                                                   \
        }                                                                                                       \
    for (int64_t c = 0; c < k; c++) {                                                                           \
        vf w[NV];                                                                                               \
        for (int q = 0; q < NV; q++) {                                                                          \
            w[q] = vload(wt + c * npad + q * VL);                                                               \
            IN_REGISTER(w[q]);                                                                                  \
        }                                                                                                       \
        for (int r = 0; r < 4; r++) {                                                                           \
            const float x = a[r * lda + c];                                                                     \
            for (int q = 0; q < NV; q++) acc[r][q] += x * w[q];                                                 \
        }                                                                                                       \
    }                                                                                                           \
    for (int r = 0; r < 4; r++)                                                                                 \
        for (int q = 0; q < NV; q++) {                                                                          \
            if ((q + 1) * VL <= ncols) vstore(out + r * ldo + q * VL, acc[r][q]);                               \
            else for (int i = 0; i < ncols - q * VL; i++) out[r * ldo + q * VL + i] = acc[r][q][i];             \
        }                                                                                                       \
}
DEFINE_GEMM_TILE(1)
DEFINE_GEMM_TILE(2)
#if GEMM_NV == 4
DEFINE_GEMM_TILE(3)
DEFINE_GEMM_TILE(4)
#endif

static void gemm(const float *a, int64_t rows4, int64_t k, int64_t lda, const float *wt, int64_t n, int64_t npad,
                 float *out, int64_t ldo)
{
    for (int64_t c0 = 0; c0 < k; c0 += GEMM_KC) {
        const int64_t kc = k - c0 < GEMM_KC ? k - c0 : GEMM_KC;
        for (int64_t col = 0; col < n; col += GEMM_NV * VL) {  /* this slice of a tile of wt stays in L1 */
            const int64_t nv = (npad - col) / VL < GEMM_NV ? (npad - col) / VL : GEMM_NV;
            const int64_t ncols = n - col < nv * VL ? n - col : nv * VL;
            const float *w = wt + c0 * npad + col;
            for (int64_t r = 0; r < rows4; r += 4) {
                const float *ar = a + r * lda + c0;
                float *o = out + r * ldo + col;
                switch (nv) {
#if GEMM_NV == 4
                case 4: gemm_tile_4(ar, lda, w, npad, kc, o, ldo, ncols, c0 > 0); break;
                case 3: gemm_tile_3(ar, lda, w, npad, kc, o, ldo, ncols, c0 > 0); break;
#endif
                case 2: gemm_tile_2(ar, lda, w, npad, kc, o, ldo, ncols, c0 > 0); break;
                default: gemm_tile_1(ar, lda, w, npad, kc, o, ldo, ncols, c0 > 0); break;
                }
            }
        }
    }
}

#endif
