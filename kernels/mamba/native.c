/* The inside of a Mamba-2 layer (everything between in_proj and out_proj) for CPU inference, in one C pass.
 *
 * Same maths and contract as kernels/mamba/cpu.py (numba), which it replaces when a C compiler is present
 * (kernels/native_build.py compiles it once per host; kernels/mamba/native.py calls it). Each batch item is walked
 * in blocks of BLOCK_ROWS tokens; for a block, everything stays in L1/L2: the causal conv + SiLU of the xBC columns,
 * silu(z), softplus(dt + dt_bias) and exp(dt A), the SSD scan (four steps per pass over each head's state), then
 * y + D x gated by silu(z) and RMS-normalised over d_inner. One read of in_proj's output, one write of the result.
 *
 * The scan keeps each head's state transposed, s[j][i] (d_state rows of headdim values), so a pass over the state
 * is headdim-wide vector arithmetic with B_j and C_j broadcast, and y accumulates in registers without horizontal
 * sums: 3x numba's loop on the model's shapes (docs/BENCHMARKS.md). Vectors are GCC/Clang vector extensions, 16
 * floats wide: one AVX-512 register, two AVX2 ones, four NEON ones. Built with -O3 -march=native -ffast-math (the
 * numba kernels' fastmath); exp in loops vectorises through libmvec where the C library has it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float vf __attribute__((vector_size(64)));
#define VL 16           /* floats per vf */
#define BLOCK_ROWS 64   /* tokens per block (a multiple of 4) */

static inline vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* Four scan steps of one head. rows: four xBC rows (stride conv_dim, after SiLU); a, d: each step's decay and dt;
 * s: the state transposed (n, NV*VL); y: four output rows (stride y_stride) receive state · C. */
#define DEFINE_FOUR_STEPS(NV)                                                                                   \
static void four_steps_##NV(const float *rows, int64_t conv_dim, int64_t n, int64_t xo, int64_t bo, int64_t co,\
                            const float *a, const float *d, float *s, float *y, int64_t y_stride)              \
{                                                                                                               \
    vf xd[4][NV], acc[4][NV];                                                                                   \
    const float *B[4], *C[4];                                                                                   \
    for (int k = 0; k < 4; k++) {                                                                               \
        const float *row = rows + k * conv_dim;                                                                 \
        for (int q = 0; q < NV; q++) { xd[k][q] = d[k] * vload(row + xo + q * VL); acc[k][q] = (vf){0}; }       \
        B[k] = row + bo;                                                                                        \
        C[k] = row + co;                                                                                        \
    }                                                                                                           \
    const float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];                                                     \
    for (int64_t j = 0; j < n; j++) {                                                                           \
        float *sj = s + j * (NV * VL);                                                                          \
        for (int q = 0; q < NV; q++) {                                                                          \
            vf v = vload(sj + q * VL);                                                                          \
            v = v * a0 + xd[0][q] * B[0][j]; acc[0][q] += v * C[0][j];                                          \
            v = v * a1 + xd[1][q] * B[1][j]; acc[1][q] += v * C[1][j];                                          \
            v = v * a2 + xd[2][q] * B[2][j]; acc[2][q] += v * C[2][j];                                          \
            v = v * a3 + xd[3][q] * B[3][j]; acc[3][q] += v * C[3][j];                                          \
            vstore(sj + q * VL, v);                                                                             \
        }                                                                                                       \
    }                                                                                                           \
    for (int k = 0; k < 4; k++)                                                                                 \
        for (int q = 0; q < NV; q++) vstore(y + k * y_stride + xo + q * VL, acc[k][q]);                          \
}
DEFINE_FOUR_STEPS(1)
DEFINE_FOUR_STEPS(2)
DEFINE_FOUR_STEPS(4)

static inline float silu(float x) { return x / (1.0f + expf(-x)); }
static inline float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }  /* torch's threshold */

/* 0 when headdim is one the scan is built for (16, 32 or 64), else -1 (the caller uses the numba kernels). */
int mamba_inner_supports(int64_t headdim) { return headdim == 16 || headdim == 32 || headdim == 64 ? 0 : -1; }

/* src (b, l, f) in_proj's output = [z (d_inner) | xBC (conv_dim) | dt (h)]; conv_w (k, conv_dim) with tap k-1 the
 * current position; conv_b (conv_dim); prev (b, k-1, conv_dim) the conv inputs before position 0, or NULL for
 * zeros; dt_bias, A (= -exp(A_log)), D (h); norm_w (d_inner); s0 (b, h, p, n) the SSM state before position 0, or
 * NULL for zeros; out (b, l, d_inner); final (b, h, p, n) receives the state after the last position, or NULL.
 * Returns 0, -1 for an unsupported headdim, -2 when memory runs out. All arrays C-contiguous fp32. */
int mamba_inner(const float *src, int64_t b, int64_t l, int64_t f, int64_t d_inner, int64_t conv_dim, int64_t k,
                int64_t h, int64_t p, int64_t n, int64_t ngroups, const float *conv_w, const float *conv_b,
                const float *prev, const float *dt_bias, const float *A, const float *D, const float *norm_w,
                float eps, const float *s0, float *out, float *final)
{
    if (mamba_inner_supports(p) != 0) return -1;
    const int64_t heads_per_group = h / ngroups, dt_col = d_inner + conv_dim;
    float *state = malloc(sizeof(float) * h * n * p);                /* (h, n, p): each head's state transposed */
    float *xbc = malloc(sizeof(float) * BLOCK_ROWS * conv_dim);     /* conv + SiLU of the block */
    float *gate = malloc(sizeof(float) * BLOCK_ROWS * d_inner);     /* silu(z) */
    float *y = malloc(sizeof(float) * BLOCK_ROWS * d_inner);        /* state · C */
    float *dt = malloc(sizeof(float) * BLOCK_ROWS * h), *decay = malloc(sizeof(float) * BLOCK_ROWS * h);
    if (!state || !xbc || !gate || !y || !dt || !decay) {
        free(state); free(xbc); free(gate); free(y); free(dt); free(decay);
        return -2;
    }
    for (int64_t bi = 0; bi < b; bi++) {
        const float *seq = src + bi * l * f;
        for (int64_t hi = 0; hi < h; hi++)
            for (int64_t i = 0; i < p; i++)
                for (int64_t j = 0; j < n; j++)
                    state[(hi * n + j) * p + i] = s0 ? s0[((bi * h + hi) * p + i) * n + j] : 0.0f;
        for (int64_t t0 = 0; t0 < l; t0 += BLOCK_ROWS) {
            const int64_t rows = l - t0 < BLOCK_ROWS ? l - t0 : BLOCK_ROWS, rows4 = (rows + 3) / 4 * 4;
            /* causal depthwise conv over the xBC columns, then SiLU; rows past the end are zeros (x = B = C = 0
             * and dt = 0 below: decay 1, no input, so padded scan steps leave the state as it is) */
            for (int64_t r = 0; r < rows; r++) {
                const int64_t t = t0 + r;
                float *row = xbc + r * conv_dim;
                for (int64_t ch = 0; ch < conv_dim; ch++) row[ch] = conv_b[ch];
                for (int64_t tap = 0; tap < k; tap++) {
                    const int64_t at = t - (k - 1) + tap;
                    const float *in = at >= 0 ? seq + at * f + d_inner
                                              : prev ? prev + (bi * (k - 1) + (k - 1) + at) * conv_dim : NULL;
                    if (!in) continue;
                    const float *w = conv_w + tap * conv_dim;
                    for (int64_t ch = 0; ch < conv_dim; ch++) row[ch] += w[ch] * in[ch];
                }
                for (int64_t ch = 0; ch < conv_dim; ch++) row[ch] = silu(row[ch]);
                const float *z = seq + t * f;
                for (int64_t i = 0; i < d_inner; i++) gate[r * d_inner + i] = silu(z[i]);
                for (int64_t hi = 0; hi < h; hi++) dt[r * h + hi] = softplus(seq[t * f + dt_col + hi] + dt_bias[hi]);
            }
            memset(xbc + rows * conv_dim, 0, sizeof(float) * (rows4 - rows) * conv_dim);
            memset(dt + rows * h, 0, sizeof(float) * (rows4 - rows) * h);
            for (int64_t r = 0; r < rows4; r++)
                for (int64_t hi = 0; hi < h; hi++) decay[r * h + hi] = expf(dt[r * h + hi] * A[hi]);
            /* the scan, four steps at a time, head by head */
            for (int64_t hi = 0; hi < h; hi++) {
                const int64_t gi = hi / heads_per_group;
                const int64_t xo = hi * p, bo = d_inner + gi * n, co = d_inner + (ngroups + gi) * n;
                float *s = state + hi * n * p;
                for (int64_t r = 0; r < rows4; r += 4) {
                    const float a4[4] = {decay[r * h + hi], decay[(r + 1) * h + hi], decay[(r + 2) * h + hi],
                                         decay[(r + 3) * h + hi]};
                    const float d4[4] = {dt[r * h + hi], dt[(r + 1) * h + hi], dt[(r + 2) * h + hi],
                                         dt[(r + 3) * h + hi]};
                    const float *in = xbc + r * conv_dim;
                    float *yr = y + r * d_inner;
                    /* rows4 may exceed rows by up to 3: y has room for BLOCK_ROWS rows, a multiple of 4 */
                    switch (p / VL) {
                    case 1: four_steps_1(in, conv_dim, n, xo, bo, co, a4, d4, s, yr, d_inner); break;
                    case 2: four_steps_2(in, conv_dim, n, xo, bo, co, a4, d4, s, yr, d_inner); break;
                    default: four_steps_4(in, conv_dim, n, xo, bo, co, a4, d4, s, yr, d_inner); break;
                    }
                }
            }
            /* (y + D x) * silu(z), then RMSNorm over d_inner times the norm's weight */
            for (int64_t r = 0; r < rows; r++) {
                float *o = out + (bi * l + t0 + r) * d_inner;
                const float *x = xbc + r * conv_dim, *yr = y + r * d_inner, *gr = gate + r * d_inner;
                float sumsq = 0.0f;
                for (int64_t hi = 0; hi < h; hi++)
                    for (int64_t i = hi * p; i < (hi + 1) * p; i++) {
                        const float g = (yr[i] + D[hi] * x[i]) * gr[i];
                        o[i] = g;
                        sumsq += g * g;
                    }
                const float scale = 1.0f / sqrtf(sumsq / (float)d_inner + eps);
                for (int64_t i = 0; i < d_inner; i++) o[i] = o[i] * scale * norm_w[i];
            }
        }
        if (final)
            for (int64_t hi = 0; hi < h; hi++)
                for (int64_t i = 0; i < p; i++)
                    for (int64_t j = 0; j < n; j++)
                        final[((bi * h + hi) * p + i) * n + j] = state[(hi * n + j) * p + i];
    }
    free(state); free(xbc); free(gate); free(y); free(dt); free(decay);
    return 0;
}
