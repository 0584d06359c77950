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
#include "train/lower.h"

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

int anet_tfm_vpad(const anet_tfm_config *c) { return c->vpad > c->vocab ? c->vpad : c->vocab; }
int anet_tfm_hpad(const anet_tfm_config *c) { return c->hpad > c->dim / c->heads ? c->hpad : c->dim / c->heads; }
int anet_tfm_spad(const anet_tfm_config *c) { return c->spad > c->ctx ? c->spad : c->ctx; }

/* Which padding a parameter gets: 1 rows of the vocabulary, 2 rows of the per-head q/k/v
 * features, 3 columns of the per-head features, 4 rows of the positions (zero rows at the end). */
static int pad_kind(const anet_tfm_config *c, int i) {
    int n = anet_tfm_nparams(c);
    if (i == 0 || i >= n - 2) return 1;
    if (i == 1) return 4;
    if (i < 2 || i >= n - 4) return 0;
    int k = (i - 2) % 12;
    return k == 2 || k == 3 ? 2 : k == 4 ? 3 : 0;
}

void anet_tfm_prog_param(const anet_tfm_config *c, int i, int *rows, int *cols) {
    char name[32];
    anet_tfm_param(c, i, name, rows, cols);
    int kind = pad_kind(c, i), H = c->heads;
    if (kind == 1) *rows = anet_tfm_vpad(c);
    if (kind == 2) *rows = 3 * H * anet_tfm_hpad(c);
    if (kind == 3) *cols = H * anet_tfm_hpad(c);
    if (kind == 4) *rows = anet_tfm_spad(c);
}

/* The program index of the user's element (r, k) of parameter i. */
static size_t prog_index(const anet_tfm_config *c, int i, int r, int k, int pcols) {
    int kind = pad_kind(c, i), hd = c->dim / c->heads, hp = anet_tfm_hpad(c);
    if (kind == 2) r = r / c->dim * (c->heads * hp) + r % c->dim / hd * hp + r % hd;
    if (kind == 3) k = k / hd * hp + k % hd;
    return (size_t)r * pcols + k;
}

void anet_tfm_to_prog(const anet_tfm_config *c, int i, const float *user, float *prog) {
    char name[32];
    int r, k, pr, pc;
    anet_tfm_param(c, i, name, &r, &k);
    anet_tfm_prog_param(c, i, &pr, &pc);
    memset(prog, 0, sizeof(float) * (size_t)pr * pc);
    for (int a = 0; a < r; a++)
        for (int b = 0; b < k; b++) prog[prog_index(c, i, a, b, pc)] = user[(size_t)a * k + b];
}

void anet_tfm_from_prog(const anet_tfm_config *c, int i, const float *prog, float *user) {
    char name[32];
    int r, k, pr, pc;
    anet_tfm_param(c, i, name, &r, &k);
    anet_tfm_prog_param(c, i, &pr, &pc);
    for (int a = 0; a < r; a++)
        for (int b = 0; b < k; b++) user[(size_t)a * k + b] = prog[prog_index(c, i, a, b, pc)];
}

/* ---- ops ----
 * Every reduction and softmax runs along axis 2 of a transposed view, so that no [..,1]
 * operand is broadcast along the last axis (the broadcast-channel rule of plan/forms.h); the
 * per-feature parameters broadcast as [1,1,1,n] rows. */

typedef struct tb {
    anet_graph *g;
    anet_dtype dt;
    int B, S, D, H, hp, V;
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
static int reduce2(tb *t, anet_opkind k, int x) {
    int32_t ax = 2;
    return x < 0 ? -1 : anet_b_reduce(t->g, k, NULL, x, 1, &ax, 1);
}
/* [a,b,c,d] -> [a,b,d,c] */
static int swap23(tb *t, int x) {
    static const int32_t perm[4] = {0, 1, 3, 2};
    return x < 0 ? -1 : anet_b_transpose(t->g, NULL, x, 4, perm);
}
static int row(tb *t, int p, int n) { return reshape4(t, p, 1, 1, 1, n); }

/* x [B,1,S,in] times W[out,in]^T plus b[out] -> [B,1,S,out] */
static int linear(tb *t, int x, int w, int b, int out) {
    int z = x < 0 || w < 0 ? -1 : anet_b_matmul(t->g, NULL, x, w, 0, 1);
    return bin(t, ANET_OP_ADD, z, row(t, b, out));
}

/* LayerNorm over the features (PyTorch's biased variance, eps 1e-5), normalized along axis 2
 * of the [B,1,D,S] view. */
static int layernorm(tb *t, int x, int w, int b) {
    static const int32_t ax = 2;
    int z = swap23(t, anet_lower_normalize(t->g, swap23(t, x), 1, &ax, NULL, NULL));
    return bin(t, ANET_OP_ADD, bin(t, ANET_OP_MUL, z, row(t, w, t->D)), row(t, b, t->D));
}

/* [B,1,S,H*hp] -> [B,H,S,hp] and back. */
static int split_heads(tb *t, int x) {
    static const int32_t perm[4] = {0, 2, 1, 3};
    x = reshape4(t, x, t->B, t->S, t->H, t->hp);
    return x < 0 ? -1 : anet_b_transpose(t->g, NULL, x, 4, perm);
}
static int merge_heads(tb *t, int x) {
    static const int32_t perm[4] = {0, 2, 1, 3};
    x = x < 0 ? -1 : anet_b_transpose(t->g, NULL, x, 4, perm);
    return reshape4(t, x, t->B, 1, t->S, t->H * t->hp);
}

/* A [1,1,rows,cols] const: 0, or `off` where (r, c) is masked. */
static int mask_const(tb *t, const char *name, int rows, int cols, int (*masked)(int r, int c, int arg), int arg, float off) {
    int64_t dims[4] = {1, 1, rows, cols};
    anet_type ty = anet_type_make(t->dt, 4, dims);
    size_t n = (size_t)rows * cols, es = t->dt == ANET_DT_FP32 ? 4 : 2;
    void *buf = malloc(n * es);
    if (!buf) return anet_fail(ANET_E_NOMEM, "%s of %d x %d", name, rows, cols), -1;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float v = masked(r, c, arg) ? off : 0.0f;
            if (es == 4) ((float *)buf)[(size_t)r * cols + c] = v;
            else ((anet_f16 *)buf)[(size_t)r * cols + c] = anet_f32_to_f16(v);
        }
    int id = anet_graph_const(t->g, name, ty, buf, n * es);
    free(buf);
    return id;
}
static int future_key(int key, int query, int arg) { return (void)arg, key > query; }
static int pad_class(int r, int c, int v) { return (void)r, c >= v; }

/* Scores are [B,H,Sk,Sq] (keys on axis 2): the softmax over the keys runs along axis 2. The
 * additive causal mask is -1e4 where the key comes after the query (exp of it is 0 in fp16
 * and fp32; the ANE's SDPA ignores masks, so it is explicit). */
static int attention(tb *t, int a, const int *p, int mask) {
    int W = t->H * t->hp;
    int qkv = linear(t, a, p[2], p[3], 3 * W);
    int hs[3];
    for (int i = 0; i < 3; i++) {
        int32_t begin[4] = {0, 0, 0, i * W}, size[4] = {t->B, 1, t->S, W};
        int s = qkv < 0 ? -1 : anet_b_slice_by_size(t->g, NULL, qkv, 4, begin, size);
        hs[i] = split_heads(t, s);
    }
    int sc = hs[0] < 0 || hs[1] < 0 ? -1 : anet_b_matmul(t->g, NULL, hs[1], hs[0], 0, 1); /* [B,H,Sk,Sq] */
    sc = bin(t, ANET_OP_ADD, bin(t, ANET_OP_MUL, sc, cst(t, 1.0f / sqrtf((float)(t->D / t->H)))), mask);
    int pr = sc < 0 ? -1 : anet_b_softmax(t->g, NULL, sc, 2);
    int o = pr < 0 || hs[2] < 0 ? -1 : anet_b_matmul(t->g, NULL, pr, hs[2], 1, 0); /* [B,H,Sq,hp] */
    return linear(t, merge_heads(t, o), p[4], p[5], t->D);
}

anet_status anet_tfm_build(anet_graph *g, const anet_tfm_config *c, int batch, const anet_tfm_io *io, anet_tfm_out *out) {
    tb t = {g, io->dt, batch, anet_tfm_spad(c), c->dim, c->heads, anet_tfm_hpad(c), anet_tfm_vpad(c)};
    out->logits = out->loss = out->stop = -1;
    const int *p = io->params;
    int D = c->dim;
    /* embeddings: one-hot [B,1,S,V] x tok_emb [V,D], plus pos_emb [S,D] broadcast over B */
    int h = anet_b_matmul(g, NULL, io->x, p[0], 0, 0);
    h = bin(&t, ANET_OP_ADD, h, reshape4(&t, p[1], 1, 1, t.S, D));
    int mask = mask_const(&t, "causal_mask", t.S, t.S, future_key, 0, -1e4f);
    for (int l = 0; l < c->layers && h >= 0; l++) {
        const int *bp = p + 2 + 12 * l;
        h = bin(&t, ANET_OP_ADD, h, attention(&t, layernorm(&t, h, bp[0], bp[1]), bp, mask));
        int m = linear(&t, layernorm(&t, h, bp[6], bp[7]), bp[8], bp[9], 4 * D);
        h = bin(&t, ANET_OP_ADD, h, linear(&t, anet_lower_gelu(g, m), bp[10], bp[11], D));
    }
    const int *fp = p + 2 + 12 * c->layers;
    int z = linear(&t, layernorm(&t, h, fp[0], fp[1]), fp[2], fp[3], t.V);
    /* padded classes (the vocabulary rounded up): -30000, no probability, no gradient */
    if (t.V > c->vocab) z = bin(&t, ANET_OP_ADD, z, mask_const(&t, "class_mask", 1, t.V, pad_class, c->vocab, -30000.0f));
    if (z < 0) return anet_last_error()[0] ? ANET_E_INVALID : anet_fail(ANET_E_INTERNAL, "building the transformer failed");
    out->logits = z;
    if (io->y < 0) return ANET_OK;
    /* mean over positions of -sum_v y log softmax(z), the classes on axis 2 of [B,1,V,S]; log's
     * argument (>= 1) gets io->log_eps when the form asks for it */
    int zt = swap23(&t, z);
    int mx = reduce2(&t, ANET_OP_REDUCE_MAX, zt);
    int zc = bin(&t, ANET_OP_SUB, zt, mx);
    int se = reduce2(&t, ANET_OP_REDUCE_SUM, un(&t, ANET_OP_EXP, zc));
    int lse = un(&t, ANET_OP_LOG, io->log_eps > 0 ? bin(&t, ANET_OP_ADD, se, cst(&t, io->log_eps)) : se);
    int nll = reduce2(&t, ANET_OP_REDUCE_SUM, bin(&t, ANET_OP_MUL, swap23(&t, io->y), bin(&t, ANET_OP_SUB, lse, zc)));
    int32_t a0 = 0, a3 = 3;
    int loss;
    if (io->rows) {
        loss = bin(&t, ANET_OP_MUL, reshape4(&t, nll, 1, 1, t.B, t.S), cst(&t, (float)(1.0 / ((double)t.B * c->ctx))));
    } else if (t.S > c->ctx) { /* padded positions: the mean over the real ones */
        loss = nll < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, nll, 1, &a0, 1);
        loss = loss < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, loss, 1, &a3, 1);
        loss = bin(&t, ANET_OP_MUL, loss, cst(&t, 1.0f / (float)c->ctx));
    } else {
        loss = nll < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, nll, 1, &a0, 1);
        loss = loss < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, loss, 1, &a3, 1);
    }
    if (loss < 0) return anet_last_error()[0] ? ANET_E_INVALID : anet_fail(ANET_E_INTERNAL, "building the loss failed");
    out->loss = loss;
    out->stop = mx;
    return ANET_OK;
}
