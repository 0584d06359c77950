/* The training and evaluation programs of a model (see step.h and docs/training-numerics.md).
 *
 * The batch arrives as x [1,F,1,B] (samples on the last axis); the layers' forward ops come
 * from lower.c, the loss from loss.c, the backward pass from autodiff, the optimizer from
 * update_param below.
 */
#include "train/step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/autodiff.h"
#include "graph/build.h"
#include "train/loss.h"
#include "train/lower.h"
#include "train/row_form.h"

#define SB_MAX_IO (4 * ANET_MODEL_MAX_PARAMS + ANET_MODEL_MAX_LAYERS + 8)

/* Builder state: the graph plus the io descriptors collected so far. */
typedef struct sb {
    anet_graph *g;
    anet_io_desc in[SB_MAX_IO];
    int nin;
    anet_io_desc out[SB_MAX_IO];
    int nout;
    int vals_out[SB_MAX_IO];
    int hyper_slot[ANET_HYPER_SLOTS]; /* slice of each hyper scalar once made, else 0 */
    int hyper_rows;                   /* row_scalars: hyper is [1,SLOTS,1,W], slot k in row k */
    int batch;
    int row_cache[32][3];             /* row_scalars: (slot, width, value) of rows made */
    int nrow_cache;
} sb;

static int input(sb *b, const char *name, int64_t d1, int64_t d2, int64_t d3, anet_io_role role, int index, int slot) {
    int64_t dims[4] = {1, d1, d2, d3};
    int v = anet_graph_input(b->g, name, anet_type_make(ANET_DT_FP16, 4, dims));
    if (v < 0) return -1;
    anet_io_desc d = {role, index, slot, v};
    b->in[b->nin++] = d;
    return v;
}

static void output(sb *b, int v, anet_io_role role, int index, int slot) {
    anet_io_desc d = {role, index, slot, v};
    b->vals_out[b->nout] = v;
    b->out[b->nout++] = d;
}

static int opn(sb *b, anet_opkind k, const char *name, int n, const char *const *keys, const int *vals) {
    for (int i = 0; i < n; i++)
        if (vals[i] < 0) return -1;
    return anet_graph_op(b->g, k, name, n, keys, vals);
}

static int op2n(sb *b, anet_opkind k, const char *name, int x, int y) {
    static const char *const keys[2] = {"x", "y"};
    int vals[2] = {x, y};
    return opn(b, k, name, 2, keys, vals);
}
static int op2(sb *b, anet_opkind k, int x, int y) { return op2n(b, k, NULL, x, y); }

static int c16(sb *b, float v) { return anet_graph_const_fp16(b->g, NULL, v); }

static int ints4(sb *b, int64_t a, int64_t c, int64_t d, int64_t e) {
    int32_t v[4] = {(int32_t)a, (int32_t)c, (int32_t)d, (int32_t)e};
    return anet_graph_const_int32s(b->g, NULL, 4, v);
}

static int reshape4(sb *b, const char *name, int x, int64_t d1, int64_t d2, int64_t d3) {
    static const char *const keys[2] = {"x", "shape"};
    int vals[2] = {x, ints4(b, 1, d1, d2, d3)};
    return opn(b, ANET_OP_RESHAPE, name, 2, keys, vals);
}

static int reduce(sb *b, anet_opkind k, const char *name, int x, int n, const int32_t *axes) {
    static const char *const keys[3] = {"x", "axes", "keep_dims"};
    int vals[3] = {x, anet_graph_const_int32s(b->g, NULL, n, axes), anet_graph_const_bool(b->g, NULL, 1)};
    return opn(b, k, name, 3, keys, vals);
}

static int select3(sb *b, const char *name, int cond, int a, int c) {
    static const char *const keys[3] = {"cond", "a", "b"};
    int vals[3] = {cond, a, c};
    return opn(b, ANET_OP_SELECT, name, 3, keys, vals);
}

/* One scalar of the hyper tensor, as [1,1,1,1] (broadcasts against everything). */
static int hyper(sb *b, int h, int slot) {
    if (b->hyper_slot[slot] > 0) return b->hyper_slot[slot];
    static const char *const keys[3] = {"x", "begin", "size"};
    int vals[3] = {h, b->hyper_rows ? ints4(b, 0, slot, 0, 0) : ints4(b, 0, 0, 0, slot), ints4(b, 1, 1, 1, 1)};
    int v = opn(b, ANET_OP_SLICE_BY_SIZE, NULL, 3, keys, vals);
    if (v > 0) b->hyper_slot[slot] = v;
    return v;
}

/* row_scalars: one hyper scalar as a [1,1,1,B] row (it broadcasts over rows, the form reported
 * to work, where a [1,1,1,1] scalar is reported wrong). */
static int hyper_row(sb *b, int h, int slot) {
    static const char *const keys[3] = {"x", "begin", "size"};
    int vals[3] = {h, ints4(b, 0, slot, 0, 0), ints4(b, 1, 1, 1, b->batch)};
    return opn(b, ANET_OP_SLICE_BY_SIZE, NULL, 3, keys, vals);
}

/* A per-step scalar to combine with tensor `like`: the [1,1,1,1] slice, or with row_scalars
 * a [1,1,1,W] row as wide as like's last axis (it broadcasts over rows only, the form reported
 * to work, and multiplies every element by the same value, so results are unchanged). */
static int hyper_like(sb *b, int h, int slot, int like) {
    if (!b->hyper_rows) return hyper(b, h, slot);
    if (like < 0 || h < 0) return -1;
    const anet_type *t = &b->g->values[like].type;
    int w = (int)t->dims[t->rank - 1];
    for (int i = 0; i < b->nrow_cache; i++)
        if (b->row_cache[i][0] == slot && b->row_cache[i][1] == w) return b->row_cache[i][2];
    static const char *const keys[3] = {"x", "begin", "size"};
    int vals[3] = {h, ints4(b, 0, slot, 0, 0), ints4(b, 1, 1, 1, w)};
    int v = opn(b, ANET_OP_SLICE_BY_SIZE, NULL, 3, keys, vals);
    if (v > 0 && b->nrow_cache < 32) {
        int *c = b->row_cache[b->nrow_cache++];
        c[0] = slot;
        c[1] = w;
        c[2] = v;
    }
    return v;
}

static anet_status check_cfg(const anet_step_config *cfg) {
    if (!cfg) return anet_fail(ANET_E_INVALID, "step program: no configuration");
    const anet_model_spec *m = &cfg->model;
    if (m->nl < 1 || m->nl > ANET_MODEL_MAX_LAYERS || m->nparams < 1 || m->nparams > 100)
        return anet_fail(ANET_E_INVALID, "step program: model has %d layers and %d parameters (1..%d, 1..100)", m->nl,
                         m->nparams, ANET_MODEL_MAX_LAYERS);
    if (cfg->bias_cols > 1 && (cfg->bias_cols > 64 || anet_model_in_features(m) < cfg->bias_cols))
        return anet_fail(ANET_E_INVALID, "step program: bias columns %d need at least as many inputs (have %d)",
                         cfg->bias_cols, anet_model_in_features(m));
    if (cfg->batch < 1 || cfg->batch > ANET_MAX_BATCH)
        return anet_fail(ANET_E_INVALID, "step program: batch size %d out of range 1..%d", cfg->batch, ANET_MAX_BATCH);
    if (cfg->update != ANET_UPDATE_CPU && cfg->update != ANET_UPDATE_ANE)
        return anet_fail(ANET_E_INVALID, "step program: unknown update mode %d", (int)cfg->update);
    if (cfg->opt.kind != ANET_OPT_SGD && cfg->opt.kind != ANET_OPT_ADAM && cfg->opt.kind != ANET_OPT_ADAMW)
        return anet_fail(ANET_E_INVALID, "step program: unknown optimizer %d", (int)cfg->opt.kind);
    return ANET_OK;
}

static void param_name(char *buf, size_t len, const char *prefix, int i, const char *pname, const char *suffix) {
    snprintf(buf, len, "%s%02d_%s%s", prefix, i, pname, suffix);
}

/* The columns of a parameter in the program: a Linear layer's bias has bias_cols (the bias
 * is column 0; see lower.h). */
/* Whether parameter pi is a bias in the bias_cols form (Linear's; conv's with conv_matmul). */
static int matmul_bias(const anet_step_config *cfg, const anet_model_spec *m, const anet_param_info *pi) {
    anet_layer_kind k = m->layers[pi->layer].kind;
    return pi->name[0] == 'b' && cfg->bias_cols > 1 && (k == ANET_L_LINEAR || (k == ANET_L_CONV && cfg->conv_matmul));
}

static int param_cols(const anet_step_config *cfg, const anet_model_spec *m, const anet_param_info *pi) {
    if (matmul_bias(cfg, m, pi)) return cfg->bias_cols;
    int k = cfg->param_col_mult;
    return k > 1 ? (pi->cols + k - 1) / k * k : pi->cols;
}

/* The value the layers read: the input itself, or its first pi->cols columns when the
 * program holds it wider (param_col_mult; not the bias form, whose matmul reads all). */
static int param_view(sb *b, const anet_step_config *cfg, const anet_model_spec *m, const anet_param_info *pi, int v) {
    int conv_w = m->layers[pi->layer].kind == ANET_L_CONV && pi->name[0] == 'w' && cfg->conv_matmul;
    anet_layer_kind k = m->layers[pi->layer].kind; /* norms in the device forms: lower.c reads them whole */
    int bn = (k == ANET_L_BATCHNORM || (k == ANET_L_LAYERNORM && m->layers[pi->layer].in.rank == 1)) && cfg->conv_matmul;
    if (v < 0 || param_cols(cfg, m, pi) == pi->cols || matmul_bias(cfg, m, pi) || conv_w || bn) return v;
    static const char *const keys[3] = {"x", "begin", "size"};
    int vals[3] = {v, ints4(b, 0, 0, 0, 0), ints4(b, 1, 1, pi->rows, pi->cols)};
    return opn(b, ANET_OP_SLICE_BY_SIZE, NULL, 3, keys, vals);
}

/* Dropout masks (training): one input per dropout layer, "dLL_mask" [1,numel,1,B], fp16
 * holding 0 or 1/(1-p) per element; the trainer draws them from its seeded generator. */
static int mask_inputs(sb *b, const anet_step_config *cfg, int *masks) {
    const anet_model_spec *m = &cfg->model;
    for (int i = 0; i < m->nl; i++) {
        masks[i] = -1;
        if (m->layers[i].kind != ANET_L_DROPOUT) continue;
        char nm[32];
        snprintf(nm, sizeof nm, "d%02d_mask", i);
        masks[i] = input(b, nm, anet_shape_numel(&m->layers[i].in), 1, cfg->batch, ANET_ROLE_MASK, i, 0);
        if (masks[i] < 0) return -1;
    }
    return 0;
}

static anet_status finish(sb *b, anet_status st, anet_step_program *out) {
    if (st == ANET_OK) st = anet_graph_set_outputs(b->g, b->nout, b->vals_out);
    if (st == ANET_OK) {
        out->inputs = malloc(sizeof(anet_io_desc) * (size_t)b->nin);
        out->outputs = malloc(sizeof(anet_io_desc) * (size_t)b->nout);
        if (!out->inputs || !out->outputs) st = anet_fail(ANET_E_NOMEM, "step program: out of memory");
    }
    if (st != ANET_OK) {
        free(out->inputs);
        free(out->outputs);
        anet_graph_free(b->g);
        memset(out, 0, sizeof *out);
        return st;
    }
    memcpy(out->inputs, b->in, sizeof(anet_io_desc) * (size_t)b->nin);
    memcpy(out->outputs, b->out, sizeof(anet_io_desc) * (size_t)b->nout);
    out->ninputs = b->nin;
    out->noutputs = b->nout;
    out->graph = b->g;
    return ANET_OK;
}

static anet_status fail_build(const char *what) {
    const char *msg = anet_last_error();
    return anet_fail(ANET_E_INTERNAL, "step program: building %s failed: %s", what, msg[0] ? msg : "?");
}

void anet_step_betas(const anet_opt_config *opt, float *beta1, float *beta2) {
    if (opt->kind == ANET_OPT_SGD) {
        *beta1 = anet_f32_round_f16(opt->momentum);
        *beta2 = 0.0f;
    } else {
        *beta1 = anet_f32_round_f16(opt->beta1);
        *beta2 = anet_f32_round_f16(opt->beta2);
    }
}

void anet_step_hyper(const anet_step_config *cfg, int64_t t, float lr, float loss_scale, int nvalid,
                     float hyper[ANET_HYPER_SLOTS]) {
    const double K = ANET_OPT_STATE_SCALE;
    memset(hyper, 0, sizeof(float) * ANET_HYPER_SLOTS);
    if (nvalid < 1) nvalid = 1;
    if (t < 1) t = 1;
    hyper[ANET_HYPER_LOSS_SCALE] = loss_scale;
    hyper[ANET_HYPER_INV_BATCH] = (float)(1.0 / nvalid);
    hyper[ANET_HYPER_INV_SCALE] = (float)(1.0 / loss_scale);
    hyper[ANET_HYPER_GRAD_TO_STATE] = (float)(K / loss_scale);
    const anet_opt_config *o = &cfg->opt;
    if (o->kind == ANET_OPT_SGD) {
        hyper[ANET_HYPER_LR] = lr;
        hyper[ANET_HYPER_WD_STATE] = (float)(K * o->weight_decay);
    } else {
        float b1, b2;
        anet_step_betas(o, &b1, &b2);
        double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
        hyper[ANET_HYPER_LR] = (float)(lr * sqrt(bc2) / bc1);
        hyper[ANET_HYPER_EPS] = (float)(K * o->eps * sqrt(bc2));
        if (o->kind == ANET_OPT_ADAM) hyper[ANET_HYPER_WD_STATE] = (float)(K * o->weight_decay);
        else hyper[ANET_HYPER_LR_WD] = lr * o->weight_decay;
    }
}

void anet_step_split_param(const float *w, size_t n, uint16_t *hi, uint16_t *lo) {
    for (size_t i = 0; i < n; i++) {
        hi[i] = anet_f32_to_f16(w[i]);
        lo[i] = anet_f32_to_f16(w[i] - anet_f16_to_f32(hi[i]));
    }
}

void anet_step_join_param(const uint16_t *hi, const uint16_t *lo, size_t n, float *w) {
    for (size_t i = 0; i < n; i++) w[i] = anet_f16_to_f32(hi[i]) + anet_f16_to_f32(lo[i]);
}

/* Graph-level helpers of the shared optimizer update (anet_step_update_ops serves programs
 * built outside this file too, so it does not use the builder state). */
static int gop(anet_graph *g, anet_opkind k, const char *name, int x, int y) {
    static const char *const keys[2] = {"x", "y"};
    int vals[2] = {x, y};
    return x < 0 || y < 0 ? -1 : anet_graph_op(g, k, name, 2, keys, vals);
}
static int gun(anet_graph *g, anet_opkind k, int x) {
    static const char *const keys[1] = {"x"};
    return x < 0 ? -1 : anet_graph_op(g, k, NULL, 1, keys, &x);
}
static int gc16(anet_graph *g, float v) { return anet_graph_const_fp16(g, NULL, v); }
#define G2(k, x, y) gop(g, k, NULL, x, y)

anet_status anet_step_update_ops(anet_graph *g, const anet_opt_config *o, const char *base, int hi, int lo, int s0,
                                 int s1, int gk, anet_step_hyper_fn hyper, void *hctx, anet_step_update_out *out) {
    char nm[96];
    float b1, b2;
    anet_step_betas(o, &b1, &b2);
    memset(out, -1, sizeof *out);
    if (o->kind != ANET_OPT_ADAMW && o->weight_decay != 0.0f)
        gk = G2(ANET_OP_ADD, gk, G2(ANET_OP_MUL, hi, hyper(hctx, ANET_HYPER_WD_STATE, hi)));
    out->gk = gk;
    int delta; /* the amount to subtract from the weight */
    int s0n = -1, s1n = -1;
    if (o->kind == ANET_OPT_SGD) {
        int stepk = gk;
        if (s0 >= 0) {
            snprintf(nm, sizeof nm, "%s_s0", base);
            s0n = gop(g, ANET_OP_ADD, nm, G2(ANET_OP_MUL, s0, gc16(g, b1)), gk);
            stepk = s0n;
        }
        /* lr first, then the exact power-of-two 1/K: keeps lr's precision. */
        delta = G2(ANET_OP_MUL, G2(ANET_OP_MUL, stepk, hyper(hctx, ANET_HYPER_LR, hi)), gc16(g, 1.0f / ANET_OPT_STATE_SCALE));
    } else {
        /* 1 - b1 and 1 - b2 are exact in fp16 for the rounded betas (0.9, 0.999 and the like). */
        snprintf(nm, sizeof nm, "%s_s0", base);
        s0n = gop(g, ANET_OP_ADD, nm, G2(ANET_OP_MUL, s0, gc16(g, b1)), G2(ANET_OP_MUL, gk, gc16(g, 1.0f - b1)));
        /* r = sqrt(b2 r^2 + (1-b2) g^2) without squaring large or tiny numbers: divide by
         * u = max(r, |g|, 2^-24) first, so both squares are <= 1 and the sum >= 1-b2. */
        int u = G2(ANET_OP_MAXIMUM, G2(ANET_OP_MAXIMUM, s1, gun(g, ANET_OP_ABS, gk)), gc16(g, 5.9604644775390625e-8f));
        int a = G2(ANET_OP_REAL_DIV, s1, u), c = G2(ANET_OP_REAL_DIV, gk, u);
        int q = G2(ANET_OP_ADD, G2(ANET_OP_MUL, G2(ANET_OP_MUL, a, a), gc16(g, b2)),
                   G2(ANET_OP_MUL, G2(ANET_OP_MUL, c, c), gc16(g, 1.0f - b2)));
        snprintf(nm, sizeof nm, "%s_s1", base);
        s1n = gop(g, ANET_OP_MUL, nm, gun(g, ANET_OP_SQRT, q), u);
        int ratio = G2(ANET_OP_REAL_DIV, s0n, G2(ANET_OP_ADD, s1n, hyper(hctx, ANET_HYPER_EPS, hi)));
        delta = G2(ANET_OP_MUL, ratio, hyper(hctx, ANET_HYPER_LR, hi));
        if (o->kind == ANET_OPT_ADAMW) delta = G2(ANET_OP_ADD, delta, G2(ANET_OP_MUL, hi, hyper(hctx, ANET_HYPER_LR_WD, hi)));
    }
    /* w + (-delta) with w = hi + lo: fold lo into the step, then an error-free TwoSum
     * s = hi + d, err = (hi - (s - bb)) + (d - bb) with bb = s - hi, exact under per-op
     * round-to-nearest; s is the new hi, err the new lo. */
    int d = G2(ANET_OP_SUB, lo, delta);
    snprintf(nm, sizeof nm, "%s_hi", base);
    int s = gop(g, ANET_OP_ADD, nm, hi, d);
    int bb = G2(ANET_OP_SUB, s, hi);
    int e1 = G2(ANET_OP_SUB, hi, G2(ANET_OP_SUB, s, bb));
    int e2 = G2(ANET_OP_SUB, d, bb);
    snprintf(nm, sizeof nm, "%s_lo", base);
    int lon = gop(g, ANET_OP_ADD, nm, e1, e2);
    if (s < 0 || lon < 0 || (s0 >= 0 && s0n < 0) || (s1 >= 0 && s1n < 0)) return fail_build("the optimizer update");
    out->hi = s;
    out->lo = lon;
    out->s0 = s0 >= 0 ? s0n : -1;
    out->s1 = s1 >= 0 ? s1n : -1;
    return ANET_OK;
}
#undef G2

typedef struct hyper_ctx {
    sb *b;
    int h;
} hyper_ctx;
static int hyper_cb(void *ctx, int slot, int like) {
    hyper_ctx *c = ctx;
    return hyper_like(c->b, c->h, slot, like);
}

/* The optimizer update of one parameter (update=ane). hi/lo/s0/s1 are the inputs, g the
 * loss-scaled gradient, h the hyper tensor. Appends outputs uII_*. */
static anet_status update_param(sb *b, const anet_step_config *cfg, int i, const char *pname, int hi, int lo,
                                int s0, int s1, int g, int h, int *gk_out) {
    char base[48];
    param_name(base, sizeof base, "u", i, pname, "");
    hyper_ctx hc = {b, h};
    anet_step_update_out u;
    int gk = op2(b, ANET_OP_MUL, g, hyper_like(b, h, ANET_HYPER_GRAD_TO_STATE, g));
    anet_status st = anet_step_update_ops(b->g, &cfg->opt, base, hi, lo, s0, s1, gk, hyper_cb, &hc, &u);
    if (st != ANET_OK) return st;
    *gk_out = u.gk;
    output(b, u.hi, ANET_ROLE_PARAM, i, 0);
    output(b, u.lo, ANET_ROLE_PARAM_LO, i, 0);
    if (u.s0 >= 0) output(b, u.s0, ANET_ROLE_OPT_STATE, i, 0);
    if (u.s1 >= 0) output(b, u.s1, ANET_ROLE_OPT_STATE, i, 1);
    return ANET_OK;
}

/* Batchnorm layer l's batch statistic j (0: mean, 1: biased variance) as a row [1,1,1,C] (C a
 * multiple of 32 in the device forms: the I/O width rule), named `name` (NULL: none); *n gets
 * the samples it is over (batch, or batch x H x W). */
static int bn_stat_row(sb *b, const anet_model_spec *m, int li, int j, const int *bn_stats, int B, const char *name, int *n) {
    const anet_layer *l = &m->layers[li];
    *n = l->in.rank == 3 ? B * l->in.d[1] * l->in.d[2] : B;
    int32_t row[4] = {1, 1, 1, l->in.d[0]};
    return bn_stats[2 * li + j] < 0 ? -1 : anet_b_reshape(b->g, name, bn_stats[2 * li + j], 4, row);
}

/* update=ane: batchnorm's running statistic i (a row [1,1,1,C], as PyTorch keeps it: momentum
 * 0.1, the variance unbiased by n/(n-1)) from this step's batch statistic, output as "uII_*_hi".
 * A skipped step keeps the old one (the state is swapped after clean steps only). */
static anet_status update_running_stat(sb *b, const anet_model_spec *m, int i, int r, const int *bn_stats, int B) {
    anet_param_info pi;
    anet_model_param(m, i, &pi);
    int j = i - m->layers[pi.layer].param0 - 2, n; /* 0: mean, 1: variance */
    int stat = bn_stat_row(b, m, pi.layer, j, bn_stats, B, NULL, &n);
    double unbias = j && n > 1 ? (double)n / (double)(n - 1) : 1.0;
    int old = op2(b, ANET_OP_MUL, r, c16(b, 0.9f)), add = op2(b, ANET_OP_MUL, stat, c16(b, (float)(0.1 * unbias)));
    char nm[48];
    param_name(nm, sizeof nm, "u", i, pi.name, "_hi");
    int v = old < 0 || add < 0 ? -1 : anet_b_binary(b->g, ANET_OP_ADD, nm, old, add);
    if (v < 0) return fail_build("a running statistic");
    output(b, v, ANET_ROLE_PARAM, i, 0);
    return ANET_OK;
}

/* Shared start of both program builders: checks the config, clears *out, makes the graph. */
static anet_status builder_new(const anet_step_config *cfg, anet_step_program *out, sb **bp) {
    if (!out) return anet_fail(ANET_E_INVALID, "step program: no output");
    memset(out, 0, sizeof *out);
    anet_status st = check_cfg(cfg);
    if (st != ANET_OK) return st;
    sb *b = calloc(1, sizeof *b);
    if (!b) return anet_fail(ANET_E_NOMEM, "step program: out of memory");
    b->g = anet_graph_new(cfg->dialect);
    if (!b->g) {
        free(b);
        return anet_fail(ANET_E_NOMEM, "step program: out of memory");
    }
    *bp = b;
    return ANET_OK;
}

anet_status anet_step_build_train(const anet_step_config *cfg, anet_step_program *out) {
    sb *b = NULL;
    anet_status st = builder_new(cfg, out, &b);
    if (st != ANET_OK) return st;
    const anet_model_spec *m = &cfg->model;
    int B = cfg->batch, K = anet_model_outputs(m), np = anet_model_nparams(m);
    int ane = cfg->update == ANET_UPDATE_ANE;
    int stops[ANET_MODEL_MAX_LAYERS + 1], nstops = 0;
    /* Trainable parameters: all but batchnorm's running statistics, which the train program
     * does not normalize with (it uses batch statistics): with update=cpu it outputs those and
     * the trainer keeps the running ones; with update=ane it updates them as state (rows). */
    int tp[ANET_MODEL_MAX_PARAMS], ntp = 0;
    for (int i = 0; i < np; i++) {
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        if (pi.trainable) tp[ntp++] = i;
    }
    int nslots = 0;
    if (ane) nslots = cfg->opt.kind == ANET_OPT_SGD ? (cfg->opt.momentum != 0.0f ? 1 : 0) : 2;
    b->hyper_rows = cfg->row_scalars;
    b->batch = B;
    /* row_scalars: the optimizer's rows are as wide as its widest parameter (update=ane). */
    int hw = B;
    for (int k = 0; k < ntp && ane && b->hyper_rows; k++) {
        anet_param_info pi;
        anet_model_param(m, tp[k], &pi);
        int pc = param_cols(cfg, m, &pi);
        if (pc > hw) hw = pc;
    }
    int hv = b->hyper_rows ? input(b, "a_hyper", ANET_HYPER_SLOTS, 1, hw, ANET_ROLE_HYPER, 0, 0)
                           : input(b, "a_hyper", 1, 1, ANET_HYPER_SLOTS, ANET_ROLE_HYPER, 0, 0);
    int x = input(b, "b_x", anet_model_in_features(m), 1, B, ANET_ROLE_X, 0, 0);
    int y = input(b, "c_y", K, 1, B, ANET_ROLE_Y_ONEHOT, 0, 0);
    int masks[ANET_MODEL_MAX_LAYERS];
    if (mask_inputs(b, cfg, masks) != 0) x = -1;
    int params[ANET_MODEL_MAX_PARAMS], pin[ANET_MODEL_MAX_PARAMS], los[ANET_MODEL_MAX_PARAMS];
    int s0[ANET_MODEL_MAX_PARAMS], s1[ANET_MODEL_MAX_PARAMS];
    char names[ANET_MODEL_MAX_PARAMS][48];
    const char *gnames[ANET_MODEL_MAX_PARAMS];
    for (int k = 0; k < np; k++) params[k] = pin[k] = -1;
    for (int i = 0, k = 0; i < np; i++) { /* in index order: the inputs' names sort so */
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        char nm[48];
        if (!pi.trainable) {
            /* update=ane: a running statistic as a row [1,1,1,C], updated below */
            param_name(nm, sizeof nm, "p", i, pi.name, "_hi");
            if (ane) pin[i] = input(b, nm, 1, 1, pi.rows * pi.cols, ANET_ROLE_PARAM, i, 0);
            continue;
        }
        k++;
        param_name(nm, sizeof nm, "p", i, pi.name, ane ? "_hi" : "");
        int pc = param_cols(cfg, m, &pi);
        pin[i] = input(b, nm, 1, pi.rows, pc, ANET_ROLE_PARAM, i, 0);
        params[i] = param_view(b, cfg, m, &pi, pin[i]);
        los[i] = s0[i] = s1[i] = -1;
        if (ane) {
            param_name(nm, sizeof nm, "p", i, pi.name, "_lo");
            los[i] = input(b, nm, 1, pi.rows, pc, ANET_ROLE_PARAM_LO, i, 0);
            if (nslots > 0) {
                param_name(nm, sizeof nm, "p", i, pi.name, "_s0");
                s0[i] = input(b, nm, 1, pi.rows, pc, ANET_ROLE_OPT_STATE, i, 0);
            }
            if (nslots > 1) {
                param_name(nm, sizeof nm, "p", i, pi.name, "_s1");
                s1[i] = input(b, nm, 1, pi.rows, pc, ANET_ROLE_OPT_STATE, i, 1);
            }
        }
        param_name(names[k - 1], sizeof names[k - 1], "g", i, pi.name, "");
        gnames[k - 1] = names[k - 1];
    }
    if (hv < 0 || x < 0 || y < 0) {
        st = fail_build("the inputs");
        goto out;
    }
    for (int k = 0; k < ntp; k++)
        if (params[tp[k]] < 0 || (ane && los[tp[k]] < 0)) {
            st = fail_build("the inputs");
            goto out;
        }
    int bn_stats[2 * ANET_MODEL_MAX_LAYERS];
    for (int i = 0; i < 2 * m->nl; i++) bn_stats[i] = -1;
    anet_lower_io lio = {x, params, masks, 1, bn_stats, cfg->bias_cols, cfg->conv_matmul, stops, &nstops,
                         ANET_MODEL_MAX_LAYERS};
    int logits = anet_lower_forward(b->g, m, B, &lio);
    anet_loss_ops lo = {-1, -1};
    /* row_scalars: per-sample losses / n as a [1,1,1,B] row (the LOSS output is its sum),
     * seeded by a row of the loss scale: no [1,1,1,1] scalar is broadcast on the way back. */
    int inv_n = b->hyper_rows ? hyper_row(b, hv, ANET_HYPER_INV_BATCH) : hyper(b, hv, ANET_HYPER_INV_BATCH);
    st = logits < 0 ? fail_build("the forward pass")
                    : anet_loss_build_form(b->g, m->loss, logits, y, inv_n, K, B, cfg->loss_outputs, cfg->log_eps, b->hyper_rows, "b_loss", &lo);
    if (st != ANET_OK) goto out;
    int loss = lo.loss;
    int seed = b->hyper_rows ? hyper_row(b, hv, ANET_HYPER_LOSS_SCALE) : hyper(b, hv, ANET_HYPER_LOSS_SCALE);
    if (seed < 0) {
        st = fail_build("the loss scale");
        goto out;
    }
    int grads[ANET_MODEL_MAX_PARAMS], wrt[ANET_MODEL_MAX_PARAMS];
    for (int k = 0; k < ntp; k++) wrt[k] = pin[tp[k]];
    if (lo.stop >= 0) stops[nstops++] = lo.stop;
    anet_autodiff_spec ad = {loss, seed, wrt, ntp, stops, nstops, ane ? NULL : gnames, cfg->conv_matmul};
    st = anet_autodiff(b->g, &ad, grads);
    if (st != ANET_OK) goto out;
    /* update=ane: the optimizer first, so FINITE can also cover the gradients in state units
     * (K/S > 1 after the scale fell below K could overflow them while g itself is finite). */
    int fin_in[ANET_MODEL_MAX_PARAMS + 1], upd_out_from = b->nout;
    for (int i = 0, k = 0; i < np; i++) { /* outputs in index order too */
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        if (!pi.trainable) {
            if (ane && (st = update_running_stat(b, m, i, pin[i], bn_stats, B)) != ANET_OK) goto out;
            continue;
        }
        fin_in[k] = grads[k];
        if (ane) st = update_param(b, cfg, i, pi.name, pin[i], los[i], s0[i], s1[i], grads[k], hv, &fin_in[k]);
        k++;
        if (st != ANET_OK) goto out;
    }
    fin_in[ntp] = loss;
    /* update=cpu: the host reads every gradient anyway and checks it there (one pass with the
     * update), so the program carries no flag. */
    int fin = ane ? anet_row_finite_flag(b->g, "a_finite", ntp + 1, fin_in, b->hyper_rows) : 0;
    if (fin < 0) {
        st = fail_build("the FINITE flag");
        goto out;
    }
    /* Outputs in alphabetical order: a_finite, b_loss, then gII_* or uII_*. */
    {
        int nupd = b->nout - upd_out_from;
        anet_io_desc upd[SB_MAX_IO];
        memcpy(upd, b->out + upd_out_from, sizeof(anet_io_desc) * (size_t)nupd);
        b->nout = upd_out_from;
        if (ane) output(b, fin, ANET_ROLE_FINITE, 0, 0);
        output(b, loss, ANET_ROLE_LOSS, 0, 0);
        for (int k = 0; k < ntp && !ane; k++) output(b, grads[k], ANET_ROLE_GRAD, tp[k], 0);
        /* batchnorm (update=cpu): "sLL_mean", "sLL_var" (layer LL), after the gradients gII_* */
        for (int i = 0; i < m->nl && !ane; i++) {
            const anet_layer *l = &m->layers[i];
            if (l->kind != ANET_L_BATCHNORM) continue;
            for (int j = 0; j < 2; j++) {
                char nm[32];
                int count;
                snprintf(nm, sizeof nm, "s%02d_%s", i, j ? "var" : "mean");
                int v = bn_stat_row(b, m, i, j, bn_stats, B, nm, &count);
                if (v < 0) {
                    st = fail_build("the batchnorm statistics");
                    goto out;
                }
                output(b, v, ANET_ROLE_BN_STAT, l->param0 + 2 + j, count);
            }
        }
        for (int k = 0; k < nupd; k++) output(b, upd[k].value, upd[k].role, upd[k].index, upd[k].slot);
    }
out:
    st = finish(b, st, out);
    free(b);
    return st;
}

anet_status anet_step_build_eval(const anet_step_config *cfg, anet_step_program *out) {
    sb *b = NULL;
    anet_status st = builder_new(cfg, out, &b);
    if (st != ANET_OK) return st;
    const anet_model_spec *m = &cfg->model;
    int B = cfg->batch, K = anet_model_outputs(m), np = anet_model_nparams(m);
    int x = input(b, "b_x", anet_model_in_features(m), 1, B, ANET_ROLE_X, 0, 0);
    int y = input(b, "c_y", K, 1, B, ANET_ROLE_Y_ONEHOT, 0, 0);
    int params[ANET_MODEL_MAX_PARAMS];
    for (int i = 0; i < np; i++) {
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        char nm[48];
        param_name(nm, sizeof nm, "p", i, pi.name, "");
        params[i] = param_view(b, cfg, m, &pi, input(b, nm, 1, pi.rows, param_cols(cfg, m, &pi), ANET_ROLE_PARAM, i, 0));
        if (params[i] < 0) x = -1;
    }
    if (x < 0 || y < 0) {
        st = fail_build("the inputs");
        goto out;
    }
    int stops[ANET_MODEL_MAX_LAYERS], nstops = 0; /* no autodiff here */
    anet_lower_io lio = {x, params, NULL, 0, NULL, cfg->bias_cols, cfg->conv_matmul, stops, &nstops, ANET_MODEL_MAX_LAYERS};
    int logits = x < 0 ? -1 : anet_lower_forward(b->g, m, B, &lio);
    /* CORRECT: the true class is among the maxima (y = 0 for padding counts nothing). */
    static const int32_t ax2[1] = {2}, ax23[2] = {2, 3};
    int yr = reshape4(b, NULL, y, 1, K, B);
    int mx = reduce(b, ANET_OP_REDUCE_MAX, NULL, logits, 1, ax2);
    int ismax = select3(b, NULL, op2(b, ANET_OP_GREATER, mx, logits), c16(b, 0.0f), c16(b, 1.0f));
    /* row_scalars: per-sample [1,1,1,B] (the CORRECT output is its sum). */
    static const int32_t ax2r[1] = {2};
    int correct = cfg->row_scalars ? reduce(b, ANET_OP_REDUCE_SUM, "a_correct", op2(b, ANET_OP_MUL, yr, ismax), 1, ax2r)
                                   : reduce(b, ANET_OP_REDUCE_SUM, "a_correct", op2(b, ANET_OP_MUL, yr, ismax), 2, ax23);
    int lo = reshape4(b, "b_logits", logits, K, 1, B);
    if (correct < 0 || lo < 0) {
        st = fail_build("the evaluation program");
        goto out;
    }
    output(b, correct, ANET_ROLE_CORRECT, 0, 0);
    output(b, lo, ANET_ROLE_LOGITS, 0, 0);
out:
    st = finish(b, st, out);
    free(b);
    return st;
}

void anet_step_program_free(anet_step_program *p) {
    if (!p) return;
    anet_graph_free(p->graph);
    free(p->inputs);
    free(p->outputs);
    memset(p, 0, sizeof *p);
}
