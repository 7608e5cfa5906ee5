/* Causal self-attention with rotary embeddings for CPU inference, in C: softmax(q kᵀ / sqrt(dh)) v per head.
 *
 * Reference: CausalSelfAttention.forward in dnahnet/transformer.py (apply_rope on q and k, then
 * F.scaled_dot_product_attention(is_causal=True)). Reads the qkv projection's output in place; per (batch item,
 * head) it rotates the queries (scaled by 1/sqrt(dh)) and keys once, keys transposed so a block of queries' scores
 * is a GEMM with the key positions along the vectors; then for each block of QUERY_ROWS queries: scores against
 * the keys up to the block's last query (kernels/native_common.h's GEMM), a causal softmax per row (exp vectorised
 * through libmvec), and probabilities times values (the same GEMM). The scores of a block stay in L1/L2; nothing of
 * size l x l is ever in memory. Returns 0, or -2 when memory runs out.
 */
#include "../native_common.h"

#define QUERY_ROWS 16  /* queries per block (a multiple of 4) */

/* Scratch for one (batch item, head) at a time, allocated once per call for sequences of up to l tokens. */
struct attention_scratch { float *q, *kt, *v, *s, *o; int64_t lpad, dpad; };

static void free_attention_scratch(struct attention_scratch *a)
{
    free(a->q); free(a->kt); free(a->v); free(a->s); free(a->o);
}

static int alloc_attention_scratch(struct attention_scratch *a, int64_t l, int64_t dh)
{
    const int64_t lq = (l + QUERY_ROWS - 1) / QUERY_ROWS * QUERY_ROWS;  /* query rows, padded with zeros */
    a->lpad = (l + VL - 1) / VL * VL;
    a->dpad = (dh + VL - 1) / VL * VL;
    a->q = calloc(lq * dh, sizeof(float));                      /* rotated queries times 1/sqrt(dh) */
    a->kt = calloc(dh * a->lpad, sizeof(float));                /* rotated keys, transposed: kt[i][t] */
    a->v = calloc(a->lpad * a->dpad, sizeof(float));            /* values, columns padded with zeros */
    a->s = malloc(sizeof(float) * QUERY_ROWS * a->lpad);        /* a block's scores, then probabilities */
    a->o = malloc(sizeof(float) * QUERY_ROWS * a->dpad);        /* a block's probabilities times values */
    if (a->q && a->kt && a->v && a->s && a->o) return 0;
    free_attention_scratch(a);
    return -2;
}

/* One sequence, heads [h_lo, h_hi): qkv (l, 3, heads, dh) -> those heads' columns of out (l, heads * dh). */
static void attend_item(const float *qkv, int64_t l, int64_t heads, int64_t dh, const float *cos_, const float *sin_,
                        float *out, struct attention_scratch *a, int64_t h_lo, int64_t h_hi)
{
    const int64_t d = heads * dh, half = dh / 2, lpad = a->lpad, dpad = a->dpad;
    const float scale = 1.0f / sqrtf((float)dh);
    float *q = a->q, *kt = a->kt, *v = a->v, *s = a->s, *o = a->o;
    for (int64_t hi = h_lo; hi < h_hi; hi++) {
        for (int64_t t = 0; t < l; t++) {
            const float *qr = qkv + t * 3 * d + hi * dh, *kr = qr + d, *vr = qr + 2 * d;
            const float *c = cos_ + t * half, *sn = sin_ + t * half;
            for (int64_t i = 0; i < half; i++) {
                q[t * dh + i] = (qr[i] * c[i] - qr[i + half] * sn[i]) * scale;
                q[t * dh + i + half] = (qr[i] * sn[i] + qr[i + half] * c[i]) * scale;
                kt[i * lpad + t] = kr[i] * c[i] - kr[i + half] * sn[i];
                kt[(i + half) * lpad + t] = kr[i] * sn[i] + kr[i + half] * c[i];
            }
            memcpy(v + t * dpad, vr, sizeof(float) * dh);
        }
        for (int64_t r0 = 0; r0 < l; r0 += QUERY_ROWS) {
            const int64_t rows = l - r0 < QUERY_ROWS ? l - r0 : QUERY_ROWS, rows4 = (rows + 3) / 4 * 4;
            const int64_t keys = r0 + rows;  /* keys 0 .. keys-1: what the block's last query sees */
            float inv_sum[QUERY_ROWS];
            gemm(q + r0 * dh, rows4, dh, dh, kt, keys, lpad, s, lpad);  /* s (rows4, keys) */
            for (int64_t r = 0; r < rows4; r++) {  /* causal softmax of row r over keys 0 .. r0 + r */
                float *p = s + r * lpad;
                const int64_t seen = r < rows ? r0 + r + 1 : 0, seen_v = (seen + VL - 1) / VL * VL;
                inv_sum[r] = 0.0f;
                if (seen) {
                    for (int64_t t = seen; t < seen_v; t++) p[t] = -1e30f;  /* below any score (finite: no
                                                                               infinities under -ffast-math) */
                    vf vm = vload(p), vs = {0};
                    for (int64_t t = VL; t < seen_v; t += VL) vm = vmax(vm, vload(p + t));
                    const float m = hmax(vm);
                    for (int64_t t = 0; t < seen_v; t += VL) {
                        const vf e = vexp(vload(p + t) - m);  /* ~1.6e-38 past `seen`: nothing to the sum */
                        vstore(p + t, e);
                        vs += e;
                    }
                    inv_sum[r] = 1.0f / hsum(vs);
                }
                for (int64_t t = seen; t < keys; t++) p[t] = 0.0f;
            }
            gemm(s, rows4, keys, lpad, v, dh, dpad, o, dpad);  /* o (rows4, dh) */
            for (int64_t r = 0; r < rows; r++) {
                float *dst = out + (r0 + r) * d + hi * dh;
                for (int64_t i = 0; i < dh; i++) dst[i] = o[r * dpad + i] * inv_sum[r];
            }
        }
    }
}

/* qkv (b, l, 3, heads, dh): Wqkv's output; cos, sin (l, dh/2): the rotation of pair (i, i + dh/2) at each
 * position; out (b, l, heads * dh). dh even. Computes the (batch item, head) pairs [item_lo, item_hi) of the
 * b * heads, item = bi * heads + hi (callers split them over threads). */
int causal_attention(const float *qkv, int64_t b, int64_t l, int64_t heads, int64_t dh, const float *cos_,
                     const float *sin_, float *out, int64_t item_lo, int64_t item_hi)
{
    struct attention_scratch a;
    if (item_lo < 0 || item_hi > b * heads) return -1;
    if (alloc_attention_scratch(&a, l, dh) != 0) return -2;
    for (int64_t item = item_lo; item < item_hi;) {
        const int64_t bi = item / heads, h_lo = item % heads;
        const int64_t h_hi = item_hi - bi * heads < heads ? item_hi - bi * heads : heads;
        attend_item(qkv + bi * l * 3 * heads * dh, l, heads, dh, cos_, sin_, out + bi * l * heads * dh, &a, h_lo,
                    h_hi);
        item = bi * heads + h_hi;
    }
    free_attention_scratch(&a);
    return 0;
}

/* A whole pre-norm Transformer block for x (b, l, d) -> out (b, l, d), not aliasing x:
 *   x1 = x + out_proj(attention(Wqkv(RMSNorm1(x)))),  out = x1 + fc2(silu(g) * u),  (g, u) = fc1(RMSNorm2(x1)).
 * Weights transposed with columns padded to a multiple of 16 (the GEMM's layout): wqkv_t (d, 3d→pad), wo_t
 * (d, d→pad), fc1_t (d, 2·hidden→pad), fc2_t (hidden, d→pad); cos, sin (l, dh/2) as for causal_attention.
 * Per batch item: RMSNorm1 and Wqkv over the whole sequence (attention needs every key), the attention, then
 * blocks of BLOCK_ROWS tokens through out_proj, the residual, RMSNorm2, the SwiGLU and the second residual, so the
 * MLP's activations stay in L1/L2. Returns 0, or -2 when memory runs out. */
#define BLOCK_ROWS 64

int transformer_block(const float *x, int64_t b, int64_t l, int64_t d, int64_t heads, const float *norm1_w,
                      float eps1, const float *wqkv_t, int64_t wqkv_pad, const float *cos_, const float *sin_,
                      const float *wo_t, int64_t wo_pad, const float *norm2_w, float eps2, const float *fc1_t,
                      int64_t hidden, int64_t fc1_pad, const float *fc2_t, int64_t fc2_pad, float *out)
{
    const int64_t dh = d / heads, l4 = (l + 3) / 4 * 4;
    struct attention_scratch a;
    if (alloc_attention_scratch(&a, l, dh) != 0) return -2;
    float *xn = calloc(l4 * d, sizeof(float));                       /* RMSNorm1(x); then a block's RMSNorm2 */
    float *qkv = calloc(l4 * 3 * d, sizeof(float));
    float *att = calloc(l4 * d, sizeof(float));                      /* the attention's output (rows >= l: 0) */
    float *x1 = malloc(sizeof(float) * BLOCK_ROWS * d);              /* a block after the first residual */
    float *hid = malloc(sizeof(float) * BLOCK_ROWS * 2 * hidden);    /* fc1's output; silu(g) * u in its first half */
    float *y = malloc(sizeof(float) * BLOCK_ROWS * d);               /* fc2's output */
    if (!xn || !qkv || !att || !x1 || !hid || !y) {
        free(xn); free(qkv); free(att); free(x1); free(hid); free(y);
        free_attention_scratch(&a);
        return -2;
    }
    for (int64_t bi = 0; bi < b; bi++) {
        const float *xb = x + bi * l * d;
        float *ob = out + bi * l * d;
        rms_norm_rows(xb, l, d, norm1_w, eps1, xn);
        memset(xn + l * d, 0, sizeof(float) * (l4 - l) * d);
        gemm(xn, l4, d, d, wqkv_t, 3 * d, wqkv_pad, qkv, 3 * d);  /* Wqkv */
        attend_item(qkv, l, heads, dh, cos_, sin_, att, &a, 0, heads);
        for (int64_t r0 = 0; r0 < l; r0 += BLOCK_ROWS) {
            const int64_t rows = l - r0 < BLOCK_ROWS ? l - r0 : BLOCK_ROWS, rows4 = (rows + 3) / 4 * 4;
            gemm(att + r0 * d, rows4, d, d, wo_t, d, wo_pad, x1, d);  /* out_proj (att's rows past l are 0) */
            for (int64_t i = 0; i < rows * d; i++) x1[i] = xb[r0 * d + i] + x1[i];
            rms_norm_rows(x1, rows, d, norm2_w, eps2, xn);
            memset(xn + rows * d, 0, sizeof(float) * (rows4 - rows) * d);
            gemm(xn, rows4, d, d, fc1_t, 2 * hidden, fc1_pad, hid, 2 * hidden);  /* fc1 -> (g, u) */
            for (int64_t r = 0; r < rows4; r++) {
                float *g = hid + r * 2 * hidden, *u = g + hidden;
                int64_t i = 0;
                for (; i + VL <= hidden; i += VL) vstore(g + i, vsilu(vload(g + i)) * vload(u + i));
                for (; i < hidden; i++) g[i] = silu(g[i]) * u[i];
            }
            gemm(hid, rows4, hidden, 2 * hidden, fc2_t, d, fc2_pad, y, d);  /* fc2 */
            for (int64_t i = 0; i < rows * d; i++) ob[r0 * d + i] = x1[i] + y[i];
        }
    }
    free(xn); free(qkv); free(att); free(x1); free(hid); free(y);
    free_attention_scratch(&a);
    return 0;
}
