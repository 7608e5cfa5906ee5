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

/* qkv (b, l, 3, heads, dh): Wqkv's output; cos, sin (l, dh/2): the rotation of pair (i, i + dh/2) at each
 * position; out (b, l, heads * dh). dh even. */
int causal_attention(const float *qkv, int64_t b, int64_t l, int64_t heads, int64_t dh, const float *cos_,
                     const float *sin_, float *out)
{
    const int64_t d = heads * dh, half = dh / 2;
    const int64_t lq = (l + QUERY_ROWS - 1) / QUERY_ROWS * QUERY_ROWS;  /* query rows, padded with zeros */
    const int64_t lpad = (l + VL - 1) / VL * VL, dpad = (dh + VL - 1) / VL * VL;
    const float scale = 1.0f / sqrtf((float)dh);
    float *q = calloc(lq * dh, sizeof(float));           /* rotated queries times scale */
    float *kt = calloc(dh * lpad, sizeof(float));        /* rotated keys, transposed: kt[i][t] */
    float *v = calloc(lpad * dpad, sizeof(float));       /* values, columns padded with zeros */
    float *s = malloc(sizeof(float) * QUERY_ROWS * lpad);  /* a block's scores, then probabilities */
    float *o = malloc(sizeof(float) * QUERY_ROWS * dpad);  /* a block's probabilities times values */
    if (!q || !kt || !v || !s || !o) {
        free(q); free(kt); free(v); free(s); free(o);
        return -2;
    }
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t hi = 0; hi < heads; hi++) {
            for (int64_t t = 0; t < l; t++) {
                const float *qr = qkv + (bi * l + t) * 3 * d + hi * dh, *kr = qr + d, *vr = qr + 2 * d;
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
                    float *dst = out + (bi * l + r0 + r) * d + hi * dh;
                    for (int64_t i = 0; i < dh; i++) dst[i] = o[r * dpad + i] * inv_sum[r];
                }
            }
        }
    free(q); free(kt); free(v); free(s); free(o);
    return 0;
}
