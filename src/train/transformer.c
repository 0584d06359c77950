/* The character transformer's spec, parameters, initialization and forward + loss ops (see
 * transformer.h). */
#include "train/transformer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"

#define PREFIX "transformer:"

anet_status anet_tfm_parse(const char *spec, anet_tfm_config *c) {
    static const char *const keys[4] = {"layers", "dim", "heads", "ctx"};
    static const long maxv[4] = {ANET_TFM_MAX_LAYERS, 4096, 64, 4096};
    int vals[4] = {2, 64, 4, 64}, seen[4] = {0};
    memset(c, 0, sizeof *c);
    if (!spec || strncmp(spec, PREFIX, strlen(PREFIX)) != 0)
        return anet_fail(ANET_E_INVALID, "model spec: a transformer spec starts with \"%s\"", PREFIX);
    const char *p = spec + strlen(PREFIX);
    while (*p) {
        int k = -1;
        for (int i = 0; i < 4; i++) {
            size_t l = strlen(keys[i]);
            if (strncmp(p, keys[i], l) == 0 && p[l] == '=') {
                k = i;
                p += l + 1;
                break;
            }
        }
        if (k < 0) return anet_fail(ANET_E_INVALID, "model spec: unknown transformer key at \"%.20s\" (layers, dim, heads, ctx)", p);
        if (seen[k]) return anet_fail(ANET_E_INVALID, "model spec: %s given twice", keys[k]);
        seen[k] = 1;
        errno = 0;
        char *end;
        long v = (*p >= '0' && *p <= '9') ? strtol(p, &end, 10) : -1;
        if (v < 1 || v > maxv[k] || errno || (*end && *end != ','))
            return anet_fail(ANET_E_INVALID, "model spec: %s must be an integer from 1 to %ld", keys[k], maxv[k]);
        vals[k] = (int)v;
        p = end;
        if (*p == ',') {
            p++;
            if (!*p) return anet_fail(ANET_E_INVALID, "model spec: trailing ','");
        }
    }
    if (vals[1] % vals[2])
        return anet_fail(ANET_E_INVALID, "model spec: dim=%d does not divide into heads=%d", vals[1], vals[2]);
    c->layers = vals[0];
    c->dim = vals[1];
    c->heads = vals[2];
    c->ctx = vals[3];
    return ANET_OK;
}

int anet_tfm_nparams(const anet_tfm_config *c) { return 2 + 12 * c->layers + 4; }

static const char *const block_names[12] = {"ln1_w", "ln1_b", "attn_qkv_w", "attn_qkv_b", "attn_proj_w", "attn_proj_b",
                                            "ln2_w", "ln2_b", "mlp_fc_w",   "mlp_fc_b",   "mlp_proj_w",  "mlp_proj_b"};

void anet_tfm_param(const anet_tfm_config *c, int i, char name[32], int *rows, int *cols) {
    int D = c->dim, n = anet_tfm_nparams(c);
    if (i == 0) { snprintf(name, 32, "tok_emb"); *rows = c->vocab; *cols = D; return; }
    if (i == 1) { snprintf(name, 32, "pos_emb"); *rows = c->ctx; *cols = D; return; }
    if (i >= n - 4) {
        static const char *const fin[4] = {"lnf_w", "lnf_b", "head_w", "head_b"};
        int k = i - (n - 4);
        snprintf(name, 32, "%s", fin[k]);
        *rows = k < 2 ? D : c->vocab;
        *cols = k == 2 ? D : 1;
        return;
    }
    int l = (i - 2) / 12, k = (i - 2) % 12;
    snprintf(name, 32, "h%d.%s", l, block_names[k]);
    static const int out_mul[12] = {1, 1, 3, 3, 1, 1, 1, 1, 4, 4, 1, 1};
    *rows = D * out_mul[k];
    *cols = (k == 2 || k == 4 || k == 8) ? D : k == 10 ? 4 * D : 1;
}

void anet_tfm_init(const anet_tfm_config *c, anet_rng *rng, float **params) {
    int n = anet_tfm_nparams(c);
    for (int i = 0; i < n; i++) {
        char name[32];
        int r, k;
        anet_tfm_param(c, i, name, &r, &k);
        size_t cnt = (size_t)r * (size_t)k;
        const char *suffix = strrchr(name, '_');
        int is_ln_w = strstr(name, "ln") && suffix && strcmp(suffix, "_w") == 0;
        int is_bias = suffix && strcmp(suffix, "_b") == 0;
        float sd = 0.02f;
        if (strstr(name, "proj_w")) sd = 0.02f / sqrtf(2.0f * (float)c->layers);
        for (size_t j = 0; j < cnt; j++)
            params[i][j] = is_ln_w ? 1.0f : is_bias ? 0.0f : sd * anet_rng_normal(rng);
    }
}

/* ---- ops ---- */

typedef struct tb {
    anet_graph *g;
    anet_dtype dt;
    int B, S, D, H;
} tb;

static int cst(tb *t, float v) {
    return t->dt == ANET_DT_FP32 ? anet_graph_const_fp32(t->g, NULL, v) : anet_graph_const_fp16(t->g, NULL, v);
}
static int bin(tb *t, anet_opkind k, int x, int y) { return x < 0 || y < 0 ? -1 : anet_b_binary(t->g, k, NULL, x, y); }
static int un(tb *t, anet_opkind k, int x) { return x < 0 ? -1 : anet_b_unary(t->g, k, NULL, x); }
static int reshape4(tb *t, int x, int a, int b, int c, int d) {
    int32_t s[4] = {a, b, c, d};
    return x < 0 ? -1 : anet_b_reshape(t->g, NULL, x, 4, s);
}
static int reduce(tb *t, anet_opkind k, int x, int axis) {
    int32_t ax = axis;
    return x < 0 ? -1 : anet_b_reduce(t->g, k, NULL, x, 1, &ax, 1);
}

/* x [B,1,S,in] times W[out,in]^T plus b[out,1] -> [B,1,S,out] */
static int linear(tb *t, int x, int w, int b, int out) {
    int z = x < 0 ? -1 : anet_b_matmul(t->g, NULL, x, w, 0, 1);
    return bin(t, ANET_OP_ADD, z, reshape4(t, b, 1, 1, 1, out));
}

/* LayerNorm over the last axis, PyTorch's biased variance and eps 1e-5. */
static int layernorm(tb *t, int x, int w, int b) {
    int mu = reduce(t, ANET_OP_REDUCE_MEAN, x, 3);
    int xc = bin(t, ANET_OP_SUB, x, mu);
    int var = reduce(t, ANET_OP_REDUCE_MEAN, bin(t, ANET_OP_MUL, xc, xc), 3);
    int z = bin(t, ANET_OP_REAL_DIV, xc, un(t, ANET_OP_SQRT, bin(t, ANET_OP_ADD, var, cst(t, 1e-5f))));
    return bin(t, ANET_OP_ADD, bin(t, ANET_OP_MUL, z, reshape4(t, w, 1, 1, 1, t->D)), reshape4(t, b, 1, 1, 1, t->D));
}

/* GELU, tanh form, decomposed (the ANE compiler rejects the gelu op; see lower.c). */
static int gelu(tb *t, int h) {
    int x3 = bin(t, ANET_OP_MUL, bin(t, ANET_OP_MUL, h, h), h);
    int u = bin(t, ANET_OP_MUL, bin(t, ANET_OP_ADD, h, bin(t, ANET_OP_MUL, x3, cst(t, 0.044715f))), cst(t, 0.7978845608f));
    int th = bin(t, ANET_OP_ADD, un(t, ANET_OP_TANH, u), cst(t, 1.0f));
    return bin(t, ANET_OP_MUL, bin(t, ANET_OP_MUL, h, cst(t, 0.5f)), th);
}

/* [B,1,S,D] -> [B,H,S,D/H] and back. */
static int split_heads(tb *t, int x) {
    static const int32_t perm[4] = {0, 2, 1, 3};
    x = reshape4(t, x, t->B, t->S, t->H, t->D / t->H);
    return x < 0 ? -1 : anet_b_transpose(t->g, NULL, x, 4, perm);
}
static int merge_heads(tb *t, int x) {
    static const int32_t perm[4] = {0, 2, 1, 3};
    x = x < 0 ? -1 : anet_b_transpose(t->g, NULL, x, 4, perm);
    return reshape4(t, x, t->B, 1, t->S, t->D);
}

/* The additive causal mask [1,1,S,S]: 0 where key j <= query i, -1e4 above the diagonal (far
 * below any score, and exp of it is 0 in fp16 and fp32). */
static int causal_mask(tb *t) {
    int S = t->S;
    int64_t dims[4] = {1, 1, S, S};
    anet_type ty = anet_type_make(t->dt, 4, dims);
    size_t n = (size_t)S * S, es = t->dt == ANET_DT_FP32 ? 4 : 2;
    void *buf = malloc(n * es);
    if (!buf) return anet_fail(ANET_E_NOMEM, "causal mask of %d x %d", S, S), -1;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            float v = j <= i ? 0.0f : -1e4f;
            if (es == 4) ((float *)buf)[(size_t)i * S + j] = v;
            else ((anet_f16 *)buf)[(size_t)i * S + j] = anet_f32_to_f16(v);
        }
    int id = anet_graph_const(t->g, "causal_mask", ty, buf, n * es);
    free(buf);
    return id;
}

static int attention(tb *t, int a, const int *p, int mask) {
    int D = t->D;
    int qkv = linear(t, a, p[2], p[3], 3 * D);
    int hs[3];
    for (int i = 0; i < 3; i++) {
        int32_t begin[4] = {0, 0, 0, i * D}, size[4] = {t->B, 1, t->S, D};
        int s = qkv < 0 ? -1 : anet_b_slice_by_size(t->g, NULL, qkv, 4, begin, size);
        hs[i] = split_heads(t, s);
    }
    int sc = hs[0] < 0 || hs[1] < 0 ? -1 : anet_b_matmul(t->g, NULL, hs[0], hs[1], 0, 1); /* [B,H,S,S] */
    sc = bin(t, ANET_OP_ADD, bin(t, ANET_OP_MUL, sc, cst(t, 1.0f / sqrtf((float)(D / t->H)))), mask);
    int pr = sc < 0 ? -1 : anet_b_softmax(t->g, NULL, sc, 3);
    int o = pr < 0 || hs[2] < 0 ? -1 : anet_b_matmul(t->g, NULL, pr, hs[2], 0, 0); /* [B,H,S,hd] */
    return linear(t, merge_heads(t, o), p[4], p[5], D);
}

anet_status anet_tfm_build(anet_graph *g, const anet_tfm_config *c, int batch, const anet_tfm_io *io, anet_tfm_out *out) {
    tb t = {g, io->dt, batch, c->ctx, c->dim, c->heads};
    out->logits = out->loss = out->stop = -1;
    const int *p = io->params;
    int V = c->vocab, D = c->dim;
    /* embeddings: one-hot [B,1,S,V] x tok_emb [V,D], plus pos_emb [S,D] broadcast over B */
    int h = anet_b_matmul(g, NULL, io->x, p[0], 0, 0);
    h = bin(&t, ANET_OP_ADD, h, reshape4(&t, p[1], 1, 1, c->ctx, D));
    int mask = causal_mask(&t);
    for (int l = 0; l < c->layers && h >= 0; l++) {
        const int *bp = p + 2 + 12 * l;
        h = bin(&t, ANET_OP_ADD, h, attention(&t, layernorm(&t, h, bp[0], bp[1]), bp, mask));
        int m = linear(&t, layernorm(&t, h, bp[6], bp[7]), bp[8], bp[9], 4 * D);
        h = bin(&t, ANET_OP_ADD, h, linear(&t, gelu(&t, m), bp[10], bp[11], D));
    }
    const int *fp = p + 2 + 12 * c->layers;
    int z = linear(&t, layernorm(&t, h, fp[0], fp[1]), fp[2], fp[3], V);
    if (z < 0) return anet_last_error()[0] ? ANET_E_INVALID : anet_fail(ANET_E_INTERNAL, "building the transformer failed");
    out->logits = z;
    if (io->y < 0) return ANET_OK;
    /* mean over positions of -sum_v y log softmax(z) */
    int mx = reduce(&t, ANET_OP_REDUCE_MAX, z, 3);
    int zc = bin(&t, ANET_OP_SUB, z, mx);
    int lse = un(&t, ANET_OP_LOG, reduce(&t, ANET_OP_REDUCE_SUM, un(&t, ANET_OP_EXP, zc), 3));
    int nll = reduce(&t, ANET_OP_REDUCE_SUM, bin(&t, ANET_OP_MUL, io->y, bin(&t, ANET_OP_SUB, lse, zc)), 3);
    int loss = reduce(&t, ANET_OP_REDUCE_MEAN, reduce(&t, ANET_OP_REDUCE_MEAN, nll, 0), 2);
    if (loss < 0) return anet_last_error()[0] ? ANET_E_INVALID : anet_fail(ANET_E_INTERNAL, "building the loss failed");
    out->loss = loss;
    out->stop = mx;
    return ANET_OK;
}
