/* A Mamba-2 layer for CPU inference in C: its interior (everything between in_proj and out_proj), or the whole
 * pre-norm block x + out_proj(interior(in_proj(RMSNorm(x)))).
 *
 * Same maths as the layer's PyTorch code (dnahnet/mamba2.py) and contract as the numba interior
 * (kernels/mamba/cpu.py), which runs instead without a C compiler (kernels/native_build.py compiles this file once
 * per host; kernels/mamba/native.py calls it). Each batch item is walked in blocks of BLOCK_ROWS tokens; a block's
 * activations stay in L1/L2: in_proj (the block entry only), the causal conv + SiLU of the xBC columns, silu(z),
 * softplus(dt + dt_bias) and exp(dt A), the SSD scan (four steps per pass over each head's state), y + D x gated by
 * silu(z) and RMS-normalised over d_inner, then out_proj and the residual. One read of the input, one write of the
 * output: in_proj's output, the largest activation, never goes to memory.
 *
 * The scan keeps each head's state transposed, s[j][i] (d_state rows of headdim values), so a pass over the state
 * is headdim-wide vector arithmetic with B_j and C_j broadcast, and y accumulates in registers without horizontal
 * sums (3x numba's loop, docs/BENCHMARKS.md). The projections are kernels/native_common.h's register-tiled GEMM;
 * vectors are one register of the target wide (AVX-512, AVX2, SSE/NEON). Built with -O3 -march=native
 * -ffast-math (the numba kernels' fastmath); softplus's exp and log1p vectorise through libmvec where the C library
 * has it.
 */
#include "../native_common.h"

#define BLOCK_ROWS 64   /* tokens per block (a multiple of 4) */

static inline float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }  /* torch's threshold */

/* Four scan steps of NV vectors of one head's dimension, columns [q, q + NV*VL), over all d_state rows of the
 * transposed state s (n, p). NV = 2 where registers allow (AVX-512: 16 of 32 live) for two independent chains per
 * row; NV = 1 keeps 8 live (AVX2 has 16). */
#define DEFINE_FOUR_STEPS(NV)                                                                                   \
static void four_steps_##NV(const float *rows, int64_t conv_dim, int64_t n, int64_t p, int64_t q, int64_t xo,   \
                            int64_t bo, int64_t co, const float *a, const float *d, float *s, float *y,        \
                            int64_t y_stride)                                                                   \
{                                                                                                               \
    vf xd[4][NV], acc[4][NV];                                                                                   \
    const float *B[4], *C[4];                                                                                   \
    for (int k = 0; k < 4; k++) {                                                                               \
        B[k] = rows + k * conv_dim + bo;                                                                        \
        C[k] = rows + k * conv_dim + co;                                                                        \
    }                                                                                                           \
    for (int k = 0; k < 4; k++)                                                                                 \
        for (int c = 0; c < NV; c++) {                                                                          \
            xd[k][c] = d[k] * vload(rows + k * conv_dim + xo + q + c * VL);                                     \
            acc[k][c] = (vf){0};                                                                                \
        }                                                                                                       \
    const float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];                                                     \
    for (int64_t j = 0; j < n; j++) {                                                                           \
        float *sj = s + j * p + q;                                                                              \
        for (int c = 0; c < NV; c++) {                                                                          \
            vf v = vload(sj + c * VL);                                                                          \
            v = v * a0 + xd[0][c] * B[0][j]; acc[0][c] += v * C[0][j];                                          \
            v = v * a1 + xd[1][c] * B[1][j]; acc[1][c] += v * C[1][j];                                          \
            v = v * a2 + xd[2][c] * B[2][j]; acc[2][c] += v * C[2][j];                                          \
            v = v * a3 + xd[3][c] * B[3][j]; acc[3][c] += v * C[3][j];                                          \
            vstore(sj + c * VL, v);                                                                             \
        }                                                                                                       \
    }                                                                                                           \
    for (int k = 0; k < 4; k++)                                                                                 \
        for (int c = 0; c < NV; c++) vstore(y + k * y_stride + xo + q + c * VL, acc[k][c]);                      \
}
DEFINE_FOUR_STEPS(1)
DEFINE_FOUR_STEPS(2)

#if VL >= 16
#define SCAN_NV 2
#else
#define SCAN_NV 1
#endif

/* Four scan steps of one head. rows: four xBC rows (stride conv_dim, after SiLU); a, d: each step's decay and dt;
 * s: the state transposed (n, p); y: four output rows (stride y_stride) receive state · C. */
static void four_steps(const float *rows, int64_t conv_dim, int64_t n, int64_t p, int64_t xo, int64_t bo,
                       int64_t co, const float *a, const float *d, float *s, float *y, int64_t y_stride)
{
    int64_t q = 0;
#if SCAN_NV == 2
    for (; q + 2 * VL <= p; q += 2 * VL) four_steps_2(rows, conv_dim, n, p, q, xo, bo, co, a, d, s, y, y_stride);
#endif
    for (; q < p; q += VL) four_steps_1(rows, conv_dim, n, p, q, xo, bo, co, a, d, s, y, y_stride);
}

/* A layer's interior: sizes and weights. conv_w (k, conv_dim) with tap k-1 the current position; A = -exp(A_log). */
struct interior {
    int64_t f, d_inner, conv_dim, k, h, p, n, ngroups;
    const float *conv_w, *conv_b, *dt_bias, *A, *D, *norm_w;
    float eps;
};

/* Scratch for one batch item's walk, allocated once per call. zx holds in_proj's output for a block after k-1 rows
 * carried over from the previous block (the conv inputs before it: the conv state, or zeros at the start). */
struct scratch { float *state, *zx, *xbc, *gate, *y, *dt, *decay, *rows_in, *rows_out; };

static void free_scratch(struct scratch *s)
{
    free(s->state); free(s->zx); free(s->xbc); free(s->gate); free(s->y); free(s->dt); free(s->decay);
    free(s->rows_in); free(s->rows_out);
}

static int alloc_scratch(struct scratch *s, const struct interior *L, int64_t d_model)
{
    const int64_t rows = BLOCK_ROWS;
    s->state = malloc(sizeof(float) * L->h * L->n * L->p);          /* (h, n, p): each head's state transposed */
    s->zx = malloc(sizeof(float) * (L->k - 1 + rows) * L->f);
    s->xbc = malloc(sizeof(float) * rows * L->conv_dim);            /* conv + SiLU of the block */
    s->gate = malloc(sizeof(float) * rows * L->d_inner);            /* silu(z) */
    s->y = malloc(sizeof(float) * rows * L->d_inner);               /* state · C, then the interior's output */
    s->dt = malloc(sizeof(float) * rows * L->h);
    s->decay = malloc(sizeof(float) * rows * L->h);
    s->rows_in = malloc(sizeof(float) * rows * (d_model > 0 ? d_model : 1));   /* the block normalised */
    s->rows_out = malloc(sizeof(float) * rows * (d_model > 0 ? d_model : 1));  /* out_proj of the block */
    if (s->state && s->zx && s->xbc && s->gate && s->y && s->dt && s->decay && s->rows_in && s->rows_out) return 0;
    free_scratch(s);
    return -2;
}

/* Before a batch item: the state from s0 (b, h, p, n) or zeros; the carried conv inputs from prev (k-1, conv_dim)
 * or zeros. */
static void start_item(const struct interior *L, struct scratch *S, const float *s0, const float *prev)
{
    const int64_t h = L->h, n = L->n, p = L->p;
    for (int64_t hi = 0; hi < h; hi++)
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < n; j++) S->state[(hi * n + j) * p + i] = s0 ? s0[(hi * p + i) * n + j] : 0.0f;
    memset(S->zx, 0, sizeof(float) * (L->k - 1) * L->f);
    if (prev)
        for (int64_t r = 0; r < L->k - 1; r++)
            memcpy(S->zx + r * L->f + L->d_inner, prev + r * L->conv_dim, sizeof(float) * L->conv_dim);
}

/* After a batch item: the state into final (h, p, n). */
static void finish_item(const struct interior *L, const struct scratch *S, float *final)
{
    const int64_t h = L->h, n = L->n, p = L->p;
    for (int64_t hi = 0; hi < h; hi++)
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < n; j++) final[(hi * p + i) * n + j] = S->state[(hi * n + j) * p + i];
}

/* One block of `rows` tokens whose in_proj output is in S->zx after the k-1 carried rows -> out (rows, d_inner;
 * row stride ldo); then the block's last k-1 rows become the carried ones. */
static void interior_block(const struct interior *L, struct scratch *S, int64_t rows, float *out, int64_t ldo)
{
    const int64_t f = L->f, d_inner = L->d_inner, conv_dim = L->conv_dim, k = L->k, h = L->h, p = L->p;
    const int64_t n = L->n, heads_per_group = h / L->ngroups, rows4 = (rows + 3) / 4 * 4;
    float *xbc = S->xbc, *gate = S->gate, *y = S->y, *dt = S->dt, *decay = S->decay;
    /* causal depthwise conv over the xBC columns, then SiLU; rows past the end are zeros (x = B = C = 0 and dt = 0
     * below: decay 1, no input, so padded scan steps leave the state as it is) */
    for (int64_t r = 0; r < rows; r++) {
        float *row = xbc + r * conv_dim;
        const float *in = S->zx + r * f + d_inner;  /* zx row r + tap is token r - (k-1) + tap of the block */
        int64_t ch = 0;
        for (; ch + VL <= conv_dim; ch += VL) {  /* the taps summed in a register, in order */
            vf acc = vload(L->conv_b + ch);
            for (int64_t tap = 0; tap < k; tap++)
                acc += vload(L->conv_w + tap * conv_dim + ch) * vload(in + tap * f + ch);
            vstore(row + ch, vsilu(acc));
        }
        for (; ch < conv_dim; ch++) {
            float acc = L->conv_b[ch];
            for (int64_t tap = 0; tap < k; tap++) acc += L->conv_w[tap * conv_dim + ch] * in[tap * f + ch];
            row[ch] = silu(acc);
        }
        const float *z = S->zx + (k - 1 + r) * f;
        memcpy(gate + r * d_inner, z, sizeof(float) * d_inner);
        silu_inplace(gate + r * d_inner, d_inner);
        for (int64_t hi = 0; hi < h; hi++) dt[r * h + hi] = z[d_inner + conv_dim + hi] + L->dt_bias[hi];
    }
    for (int64_t i = 0; i < rows * h; i++) dt[i] = softplus(dt[i]);  /* vectorised through libmvec where present */
    memset(xbc + rows * conv_dim, 0, sizeof(float) * (rows4 - rows) * conv_dim);
    memset(dt + rows * h, 0, sizeof(float) * (rows4 - rows) * h);
    for (int64_t r = 0; r < rows4; r++)
        for (int64_t hi = 0; hi < h; hi++) decay[r * h + hi] = expf(dt[r * h + hi] * L->A[hi]);
    /* the scan, four steps at a time, head by head */
    for (int64_t hi = 0; hi < h; hi++) {
        const int64_t gi = hi / heads_per_group;
        const int64_t xo = hi * p, bo = d_inner + gi * n, co = d_inner + (L->ngroups + gi) * n;
        float *s = S->state + hi * n * p;
        for (int64_t r = 0; r < rows4; r += 4) {
            const float a4[4] = {decay[r * h + hi], decay[(r + 1) * h + hi], decay[(r + 2) * h + hi],
                                 decay[(r + 3) * h + hi]};
            const float d4[4] = {dt[r * h + hi], dt[(r + 1) * h + hi], dt[(r + 2) * h + hi], dt[(r + 3) * h + hi]};
            const float *in = xbc + r * conv_dim;
            float *yr = y + r * d_inner;  /* rows4 <= BLOCK_ROWS, a multiple of 4: y has room */
            four_steps(in, conv_dim, n, p, xo, bo, co, a4, d4, s, yr, d_inner);
        }
    }
    /* (y + D x) * silu(z), then RMSNorm over d_inner times the norm's weight */
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * ldo;
        const float *x = xbc + r * conv_dim, *yr = y + r * d_inner, *gr = gate + r * d_inner;
        float sumsq = 0.0f;
        for (int64_t hi = 0; hi < h; hi++)
            for (int64_t i = hi * p; i < (hi + 1) * p; i++) {
                const float g = (yr[i] + L->D[hi] * x[i]) * gr[i];
                o[i] = g;
                sumsq += g * g;
            }
        const float scale = 1.0f / sqrtf(sumsq / (float)d_inner + L->eps);
        for (int64_t i = 0; i < d_inner; i++) o[i] = o[i] * scale * L->norm_w[i];
    }
    /* carry the last k-1 rows of zx (tokens rows-(k-1) .. rows-1; fewer than k-1 tokens keep older carried ones) */
    memmove(S->zx, S->zx + rows * f, sizeof(float) * (k - 1) * f);
}

/* 0 when the scan takes this headdim (a positive multiple of 16, so of every VL), else -1 (the caller uses the
 * numba kernels). */
int mamba_inner_supports(int64_t headdim) { return headdim > 0 && headdim % 16 == 0 ? 0 : -1; }

/* src (b, l, f) in_proj's output = [z (d_inner) | xBC (conv_dim) | dt (h)]; conv_w (k, conv_dim); conv_b (conv_dim);
 * prev (b, k-1, conv_dim) the conv inputs before position 0, or NULL for zeros; dt_bias, A (= -exp(A_log)), D (h);
 * norm_w (d_inner); s0 (b, h, p, n) the SSM state before position 0, or NULL for zeros; out (b, l, d_inner);
 * final (b, h, p, n) receives the state after the last position, or NULL. Returns 0, -1 for an unsupported
 * headdim, -2 when memory runs out. All arrays C-contiguous fp32. */
int mamba_inner(const float *src, int64_t b, int64_t l, int64_t f, int64_t d_inner, int64_t conv_dim, int64_t k,
                int64_t h, int64_t p, int64_t n, int64_t ngroups, const float *conv_w, const float *conv_b,
                const float *prev, const float *dt_bias, const float *A, const float *D, const float *norm_w,
                float eps, const float *s0, float *out, float *final)
{
    if (mamba_inner_supports(p) != 0) return -1;
    const struct interior L = {f, d_inner, conv_dim, k, h, p, n, ngroups, conv_w, conv_b, dt_bias, A, D, norm_w, eps};
    struct scratch S;
    if (alloc_scratch(&S, &L, 0) != 0) return -2;
    for (int64_t bi = 0; bi < b; bi++) {
        start_item(&L, &S, s0 ? s0 + bi * h * p * n : NULL, prev ? prev + bi * (k - 1) * conv_dim : NULL);
        for (int64_t t0 = 0; t0 < l; t0 += BLOCK_ROWS) {
            const int64_t rows = l - t0 < BLOCK_ROWS ? l - t0 : BLOCK_ROWS;
            memcpy(S.zx + (k - 1) * f, src + (bi * l + t0) * f, sizeof(float) * rows * f);
            interior_block(&L, &S, rows, out + (bi * l + t0) * d_inner, d_inner);
        }
        if (final) finish_item(&L, &S, final + bi * h * p * n);
    }
    free_scratch(&S);
    return 0;
}

/* A whole pre-norm Mamba block, x + out_proj(interior(in_proj(RMSNorm(x)))), for x (b, l, d_model) -> out (same
 * shape; may not alias x). block_w (d_model) and block_eps: the block's RMSNorm; in_t (d_model, fpad) in_proj's
 * weight transposed, columns padded to a multiple of 16; out_t (d_inner, dpad) out_proj's, likewise; the interior's
 * weights as for mamba_inner. The block's activations never leave L1/L2: in_proj's output, the largest, is not
 * written to memory. Returns as mamba_inner. */
int mamba_block(const float *x, int64_t b, int64_t l, int64_t d_model, const float *block_w, float block_eps,
                const float *in_t, int64_t fpad, const float *out_t, int64_t dpad, int64_t f, int64_t d_inner,
                int64_t conv_dim, int64_t k, int64_t h, int64_t p, int64_t n, int64_t ngroups, const float *conv_w,
                const float *conv_b, const float *dt_bias, const float *A, const float *D, const float *norm_w,
                float eps, float *out)
{
    if (mamba_inner_supports(p) != 0) return -1;
    const struct interior L = {f, d_inner, conv_dim, k, h, p, n, ngroups, conv_w, conv_b, dt_bias, A, D, norm_w, eps};
    struct scratch S;
    if (alloc_scratch(&S, &L, d_model) != 0) return -2;
    for (int64_t bi = 0; bi < b; bi++) {
        start_item(&L, &S, NULL, NULL);
        for (int64_t t0 = 0; t0 < l; t0 += BLOCK_ROWS) {
            const int64_t rows = l - t0 < BLOCK_ROWS ? l - t0 : BLOCK_ROWS, rows4 = (rows + 3) / 4 * 4;
            const float *xr = x + (bi * l + t0) * d_model;
            rms_norm_rows(xr, rows, d_model, block_w, block_eps, S.rows_in);  /* the block's RMSNorm */
            memset(S.rows_in + rows * d_model, 0, sizeof(float) * (rows4 - rows) * d_model);
            gemm(S.rows_in, rows4, d_model, d_model, in_t, f, fpad, S.zx + (k - 1) * f, f);  /* in_proj */
            interior_block(&L, &S, rows, S.y, d_inner);
            memset(S.y + rows * d_inner, 0, sizeof(float) * (rows4 - rows) * d_inner);
            gemm(S.y, rows4, d_inner, d_inner, out_t, d_model, dpad, S.rows_out, d_model);  /* out_proj */
            float *o = out + (bi * l + t0) * d_model;
            for (int64_t i = 0; i < rows * d_model; i++) o[i] = S.rows_out[i] + xr[i];  /* the residual */
        }
    }
    free_scratch(&S);
    return 0;
}
