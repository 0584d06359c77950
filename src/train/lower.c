/* Layers -> forward IR ops (see lower.h). Every op here has an autodiff rule, so the backward
 * pass follows from anet_autodiff; compositions (leakyrelu, silu, norms) are written with ops
 * the ANE runs. */
#include "train/lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "train/lower_conv.h"

static int c16(anet_graph *g, float v) { return anet_graph_const_fp16(g, NULL, v); }
/* A scalar const of x's dtype (the shared builders below also serve fp32 test graphs). */
static int cst_like(anet_graph *g, int x, float v) {
    return x >= 0 && g->values[x].type.dtype == ANET_DT_FP32 ? anet_graph_const_fp32(g, NULL, v) : c16(g, v);
}
static int bin(anet_graph *g, anet_opkind k, int x, int y) { return x < 0 || y < 0 ? -1 : anet_b_binary(g, k, NULL, x, y); }
static int un(anet_graph *g, anet_opkind k, int x) { return x < 0 ? -1 : anet_b_unary(g, k, NULL, x); }

static int reshape(anet_graph *g, int x, int n, const int32_t *shape) {
    return x < 0 ? -1 : anet_b_reshape(g, NULL, x, n, shape);
}

static int swap_last2(anet_graph *g, int x) {
    static const int32_t perm[4] = {0, 1, 3, 2};
    return x < 0 ? -1 : anet_b_transpose(g, NULL, x, 4, perm);
}

static int is_img(const anet_shape *s) { return s->rank == 3; }

int anet_lower_to_layout(anet_graph *g, int v, const anet_shape *s, int B) {
    int F = anet_shape_numel(s);
    int32_t flat[4] = {1, 1, F, B};
    v = reshape(g, v, 4, flat);
    if (!is_img(s)) return v;
    int32_t img[4] = {B, s->d[0], s->d[1], s->d[2]};
    return reshape(g, swap_last2(g, v), 4, img);
}

/* [B,C,H,W] -> [1,1,CHW,B] */
static int flatten(anet_graph *g, int v, const anet_shape *s, int B) {
    int32_t rows[4] = {1, 1, B, anet_shape_numel(s)};
    return swap_last2(g, reshape(g, v, 4, rows));
}

/* A per-channel (images) or per-feature (flat) vector [rows,1] param, shaped to broadcast. */
static int chan_vec(anet_graph *g, int p, const anet_shape *s, int per_element) {
    if (is_img(s)) {
        int32_t sh[4] = {1, s->d[0], per_element ? s->d[1] : 1, per_element ? s->d[2] : 1};
        return reshape(g, p, 4, sh);
    }
    int32_t sh[4] = {1, 1, s->d[0], 1};
    return reshape(g, p, 4, sh);
}

/* Mean over axes (kept): one reduce_mean per axis, so that no 1/count factor (here or in its
 * gradient) falls below fp16's normal range. */
static int mean(anet_graph *g, int x, int n, const int32_t *axes) {
    for (int i = 0; i < n && x >= 0; i++) x = anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, x, 1, axes + i, 1);
    return x;
}

int anet_lower_normalize(anet_graph *g, int x, int n, const int32_t *axes, int *mu_out, int *var_out) {
    int mu = mean(g, x, n, axes);
    int xc = bin(g, ANET_OP_SUB, x, mu);
    int var = mean(g, bin(g, ANET_OP_MUL, xc, xc), n, axes);
    if (mu_out) *mu_out = mu;
    if (var_out) *var_out = var;
    return bin(g, ANET_OP_REAL_DIV, xc, un(g, ANET_OP_SQRT, bin(g, ANET_OP_ADD, var, cst_like(g, x, ANET_NORM_EPS))));
}

static int conv(anet_graph *g, const anet_layer *l, int h, int B, const anet_lower_io *io) {
    const int *params = io->params;
    if (io->conv_matmul) {
        int stop = -1;
        int z = anet_lower_conv_matmul(g, l, h, B, params[l->param0], params[l->param0 + 1], io->bias_cols, &stop);
        if (stop < 0) return z;
        if (!io->nstops || *io->nstops >= io->max_stops)
            return anet_fail(ANET_E_INTERNAL, "lowering a conv: no room for its stop values"), -1;
        io->stops[(*io->nstops)++] = stop;
        return z;
    }
    int32_t wsh[4] = {l->out, l->in.d[0] / l->groups, l->kh, l->kw};
    int w = reshape(g, params[l->param0], 4, wsh);
    int32_t strides[2] = {l->stride, l->stride}, pad[4] = {l->pad, l->pad, l->pad, l->pad};
    int z = w < 0 || h < 0 ? -1 : anet_b_conv(g, NULL, h, w, -1, strides, "custom", pad, NULL, l->groups);
    /* bias as an add (a runtime input, not conv's const bias) */
    return bin(g, ANET_OP_ADD, z, chan_vec(g, params[l->param0 + 1], &l->outs, 0));
}

static int pool(anet_graph *g, const anet_layer *l, int h) {
    int32_t k[2] = {l->kh, l->kw}, s[2] = {l->stride, l->stride}, pad[4] = {l->pad, l->pad, l->pad, l->pad};
    return h < 0 ? -1 : anet_b_pool(g, l->kind == ANET_L_MAXPOOL ? ANET_OP_MAX_POOL : ANET_OP_AVG_POOL, NULL, h, k, s,
                                    "custom", pad);
}

int anet_lower_gelu(anet_graph *g, int h) {
    int x3 = bin(g, ANET_OP_MUL, bin(g, ANET_OP_MUL, h, h), h);
    int u = bin(g, ANET_OP_MUL, bin(g, ANET_OP_ADD, h, bin(g, ANET_OP_MUL, x3, cst_like(g, h, 0.044715f))),
                cst_like(g, h, 0.7978845608f));
    int t = bin(g, ANET_OP_ADD, un(g, ANET_OP_TANH, u), cst_like(g, h, 1.0f));
    return bin(g, ANET_OP_MUL, bin(g, ANET_OP_MUL, h, cst_like(g, h, 0.5f)), t);
}

/* An fp16 const of shape d whose first `real` elements (row-major) are 1, the rest 0. */
static int ones_prefix(anet_graph *g, const int64_t d[4], int64_t real) {
    int64_t n = d[0] * d[1] * d[2] * d[3];
    anet_f16 *v = calloc((size_t)n, sizeof *v);
    if (!v) return anet_fail(ANET_E_NOMEM, "lowering: out of memory for a mask"), -1;
    for (int64_t e = 0; e < real && e < n; e++) v[e] = anet_f32_to_f16(1.0f);
    int c = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, d), v, (size_t)n * sizeof *v);
    free(v);
    return c;
}

/* A per-channel parameter [1,1,C,cols] (column 0 the value; cols > 1 in the device forms, whose
 * I/O is 32 wide) as a row [1,1,1,C]: column 0 picked by a one-hot mask and a sum over the
 * columns, so that its gradient is a broadcast, not a placement matmul of contraction 1. */
static int chan_row(anet_graph *g, int p, int C) {
    if (p < 0) return -1;
    int cols = (int)g->values[p].type.dims[3];
    int32_t row[4] = {1, 1, 1, C};
    if (cols == 1) return reshape(g, p, 4, row);
    int t = swap_last2(g, p); /* [1,1,cols,C] */
    const int64_t d[4] = {1, 1, cols, C};
    static const int32_t ax2[1] = {2};
    int picked = bin(g, ANET_OP_MUL, t, ones_prefix(g, d, C)); /* row 0: the values */
    return picked < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, picked, 1, ax2, 1);
}

/* Batchnorm in the device forms: the channels moved to the last axis ([B,H,W,C], or [1,1,B,F]
 * flat), so that the per-channel statistics and parameters [1,1,1,C] broadcast along the other
 * axes, never along the last (the chips' broadcast-channel rule); transposed back after. */
static int norm_channels_last(anet_graph *g, const anet_layer *l, int h, const anet_lower_io *io, int li) {
    const anet_shape *s = &l->in;
    const int *p = io->params + l->param0;
    static const int32_t to_last[4] = {0, 2, 3, 1}, from_last[4] = {0, 3, 1, 2};
    static const int32_t img_axes[3] = {0, 1, 2}, flat_axes[1] = {2};
    int img = is_img(s), C = s->d[0];
    int x = h < 0 ? -1 : img ? anet_b_transpose(g, NULL, h, 4, to_last) : swap_last2(g, h);
    int z;
    if (io->train) {
        int mu = -1, var = -1;
        z = anet_lower_normalize(g, x, img ? 3 : 1, img ? img_axes : flat_axes, &mu, &var);
        if (io->bn_stats) {
            io->bn_stats[2 * li] = mu;
            io->bn_stats[2 * li + 1] = var;
        }
    } else {
        int rm = chan_row(g, p[2], C), rv = chan_row(g, p[3], C);
        z = bin(g, ANET_OP_REAL_DIV, bin(g, ANET_OP_SUB, x, rm), un(g, ANET_OP_SQRT, bin(g, ANET_OP_ADD, rv, c16(g, ANET_NORM_EPS))));
    }
    z = bin(g, ANET_OP_ADD, bin(g, ANET_OP_MUL, z, chan_row(g, p[0], C)), chan_row(g, p[1], C));
    return z < 0 ? -1 : img ? anet_b_transpose(g, NULL, z, 4, from_last) : swap_last2(g, z);
}

/* A const that is 1 on the user's user_ch channels (features) of layer l's input and 0 on the
 * padded ones, in its layout ([B,C,H,W] images: one sample's [1,C,H,W], broadcast over the
 * batch axis; [1,1,F,B] flat: the whole [1,1,F,B], as no tensor is broadcast along the last
 * axis). Channel-major: the user's come first. */
static int pad_mask(anet_graph *g, const anet_layer *l, int B) {
    const anet_shape *s = &l->in;
    int img = is_img(s);
    const int64_t d[4] = {1, img ? s->d[0] : 1, img ? s->d[1] : s->d[0], img ? s->d[2] : B};
    return ones_prefix(g, d, (int64_t)l->user_ch * (img ? d[2] * d[3] : d[3])); /* channels x elements each */
}

/* Layernorm over the features of [1,1,F,B] in the device forms: the statistics over the user's
 * user_ch features (the padded ones, zero, masked out of the variance by a const), then the
 * parameters applied as rows [1,1,1,F] with the features moved last (no broadcast along the
 * last axis). */
static int layernorm_padded(anet_graph *g, const anet_layer *l, int h, const anet_lower_io *io, int B) {
    const int *p = io->params + l->param0;
    int F = l->in.d[0], n = l->user_ch;
    static const int32_t ax2[1] = {2};
    /* masked first: no gradient may reach the padded features (the previous layer's padding
     * rows would train, and with state kept in the device they would stay trained) */
    int mask = pad_mask(g, l, B), hm = bin(g, ANET_OP_MUL, h, mask);
    int scale = cst_like(g, h, (float)F / (float)n); /* a mean over F as one over the n real ones */
    int mu = bin(g, ANET_OP_MUL, hm < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, hm, 1, ax2, 1), scale);
    int xc = bin(g, ANET_OP_MUL, bin(g, ANET_OP_SUB, hm, mu), mask);
    int sq = bin(g, ANET_OP_MUL, xc, xc);
    int var = bin(g, ANET_OP_MUL, sq < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, sq, 1, ax2, 1), scale);
    int z = swap_last2(g, bin(g, ANET_OP_REAL_DIV, xc, un(g, ANET_OP_SQRT, bin(g, ANET_OP_ADD, var, cst_like(g, h, ANET_NORM_EPS)))));
    z = bin(g, ANET_OP_ADD, bin(g, ANET_OP_MUL, z, chan_row(g, p[0], F)), chan_row(g, p[1], F));
    return swap_last2(g, z);
}

static int norm_layer(anet_graph *g, const anet_layer *l, int h, const anet_lower_io *io, int li, int B) {
    const anet_shape *s = &l->in;
    const int *p = io->params + l->param0;
    int z;
    if (l->kind == ANET_L_LAYERNORM && io->conv_matmul && !is_img(s)) return layernorm_padded(g, l, h, io, B);
    if (l->kind == ANET_L_LAYERNORM) {
        static const int32_t img_axes[3] = {1, 2, 3}, flat_axes[1] = {2};
        z = anet_lower_normalize(g, h, is_img(s) ? 3 : 1, is_img(s) ? img_axes : flat_axes, NULL, NULL);
        return bin(g, ANET_OP_ADD, bin(g, ANET_OP_MUL, z, chan_vec(g, p[0], s, 1)), chan_vec(g, p[1], s, 1));
    }
    if (io->conv_matmul) return norm_channels_last(g, l, h, io, li); /* the device forms */
    static const int32_t img_axes[3] = {0, 2, 3}, flat_axes[1] = {3};
    int n = is_img(s) ? 3 : 1;
    const int32_t *axes = is_img(s) ? img_axes : flat_axes;
    if (io->train) {
        int mu = -1, var = -1;
        z = anet_lower_normalize(g, h, n, axes, &mu, &var);
        if (io->bn_stats) {
            io->bn_stats[2 * li] = mu;
            io->bn_stats[2 * li + 1] = var;
        }
    } else {
        int rm = chan_vec(g, p[2], s, 0), rv = chan_vec(g, p[3], s, 0);
        z = bin(g, ANET_OP_REAL_DIV, bin(g, ANET_OP_SUB, h, rm),
                un(g, ANET_OP_SQRT, bin(g, ANET_OP_ADD, rv, c16(g, ANET_NORM_EPS))));
    }
    return bin(g, ANET_OP_ADD, bin(g, ANET_OP_MUL, z, chan_vec(g, p[0], s, 0)), chan_vec(g, p[1], s, 0));
}

/* The bias form's [1,1,nb,B] block: ones in row 0, zeros elsewhere, made from the input
 * (x * 0 + E: a const matmul operand is rejected). A full-size constant (no broadcast), so the
 * bias's padding columns get no gradient and stay zero wherever the state lives. */
static int ones_block(anet_graph *g, int x, int F, int nb, int B) {
    int32_t flat[4] = {1, 1, F, B}, begin[4] = {0, 0, 0, 0}, size[4] = {1, 1, nb, B};
    int blk = reshape(g, x, 4, flat);
    blk = blk < 0 ? -1 : anet_b_slice_by_size(g, NULL, blk, 4, begin, size);
    uint16_t *e = calloc((size_t)nb * (size_t)B, sizeof *e);
    if (!e) return anet_fail(ANET_E_NOMEM, "lowering: out of memory"), -1;
    for (int k = 0; k < B; k++) e[k] = anet_f32_to_f16(1.0f);
    int64_t ed[4] = {1, 1, nb, B};
    int ev = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, ed), e, (size_t)nb * (size_t)B * 2);
    free(e);
    return ev < 0 ? -1 : bin(g, ANET_OP_ADD, bin(g, ANET_OP_MUL, blk, c16(g, 0.0f)), ev);
}

int anet_lower_forward(anet_graph *g, const anet_model_spec *m, int B, const anet_lower_io *io) {
    int h = anet_lower_to_layout(g, io->x, &m->input, B);
    int ones = io->bias_cols > 1 ? ones_block(g, io->x, anet_shape_numel(&m->input), io->bias_cols, B) : -1;
    if (io->bias_cols > 1 && ones < 0) h = -1;
    int hist[ANET_MODEL_MAX_LAYERS];
    for (int i = 0; i < m->nl && h >= 0; i++) {
        const anet_layer *l = &m->layers[i];
        hist[i] = h;
        switch (l->kind) {
        case ANET_L_LINEAR: {
            int z = h < 0 ? -1 : anet_b_matmul(g, NULL, io->params[l->param0], h, 0, 0);
            int bias = io->params[l->param0 + 1];
            if (ones >= 0) bias = anet_b_matmul(g, NULL, bias, ones, 0, 0);
            h = bin(g, ANET_OP_ADD, z, bias);
            break;
        }
        case ANET_L_CONV: h = conv(g, l, h, B, io); break;
        case ANET_L_MAXPOOL:
        case ANET_L_AVGPOOL: h = pool(g, l, h); break;
        case ANET_L_FLATTEN:
            if (is_img(&l->in)) h = flatten(g, h, &l->in, B);
            break;
        case ANET_L_RELU: h = un(g, ANET_OP_RELU, h); break;
        case ANET_L_LEAKYRELU:
            /* max(x, a x) for a <= 1, min(x, a x) above */
            h = bin(g, l->alpha <= 1.0f ? ANET_OP_MAXIMUM : ANET_OP_MINIMUM, h, bin(g, ANET_OP_MUL, h, c16(g, l->alpha)));
            break;
        case ANET_L_SIGMOID:
            h = un(g, ANET_OP_SIGMOID, h);
            if (io->conv_matmul && l->user_ch < l->in.d[0]) h = bin(g, ANET_OP_MUL, h, pad_mask(g, l, B));
            break;
        case ANET_L_TANH: h = un(g, ANET_OP_TANH, h); break;
        case ANET_L_GELU: h = anet_lower_gelu(g, h); break;
        case ANET_L_SILU: h = bin(g, ANET_OP_MUL, h, un(g, ANET_OP_SIGMOID, h)); break;
        case ANET_L_DROPOUT:
            if (io->train && io->masks && io->masks[i] >= 0)
                h = bin(g, ANET_OP_MUL, h, anet_lower_to_layout(g, io->masks[i], &l->in, B));
            break;
        case ANET_L_BATCHNORM:
        case ANET_L_LAYERNORM: h = norm_layer(g, l, h, io, i, B); break;
        case ANET_L_ADD: h = bin(g, ANET_OP_ADD, h, hist[i - l->back]); break;
        }
    }
    if (h < 0 && !anet_last_error()[0]) anet_fail(ANET_E_INTERNAL, "lowering model %s failed", m->text);
    return h;
}
