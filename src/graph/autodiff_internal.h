/* Internal to graph/autodiff*.c: the differentiation context, the graph-building helpers the
 * rules share, and the sliding-window (conv, pool) gradient builders of autodiff_window.c. */
#ifndef ANET_GRAPH_AUTODIFF_INTERNAL_H
#define ANET_GRAPH_AUTODIFF_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/autodiff.h"
#include "graph/build.h"

typedef struct ad_ctx {
    anet_graph *g;
    int nv0;    /* values present before differentiation */
    int *adj;   /* adjoint value id per original value, -1 = none yet */
    char *act;  /* 1: the value depends on a wrt value and the loss depends on it */
    int spread_mul; /* anet_autodiff_spec.spread_mul */
} ad_ctx;

static inline int arg_int(const ad_ctx *c, const anet_op *op, const char *key, int64_t dflt, int64_t *out) {
    int v = anet_op_arg_value(op, key);
    if (v < 0) {
        *out = dflt;
        return 0;
    }
    const anet_const *k = anet_graph_const_of(c->g, v);
    return k ? anet_const_get_int(k, out) : -1;
}

static inline int arg_bool(const ad_ctx *c, const anet_op *op, const char *key, int dflt, int *out) {
    int v = anet_op_arg_value(op, key);
    if (v < 0) {
        *out = dflt;
        return 0;
    }
    const anet_const *k = anet_graph_const_of(c->g, v);
    return k ? anet_const_get_bool(k, out) : -1;
}

/* Integer list argument; returns -1 when absent (*n = -1) or not a const. */
static inline int arg_ints(const ad_ctx *c, const anet_op *op, const char *key, int64_t *out, int *n) {
    int v = anet_op_arg_value(op, key);
    *n = -1;
    if (v < 0) return 0;
    const anet_const *k = anet_graph_const_of(c->g, v);
    return k ? anet_const_get_ints(k, out, ANET_MAX_RANK, n) : -1;
}

static inline anet_status bad_arg(const anet_op *op, const char *what) {
    return anet_fail(ANET_E_UNSUPPORTED, "autodiff: op '%s' (%s): %s", op->name, op->type, what);
}

static inline anet_type vtype(const ad_ctx *c, int v) { return c->g->values[v].type; }

static inline int opk(ad_ctx *c, anet_opkind k, int n, const char *const *keys, const int *vals) {
    for (int i = 0; i < n; i++)
        if (vals[i] < 0) return -1;
    return anet_graph_op(c->g, k, NULL, n, keys, vals);
}

static inline int op1(ad_ctx *c, anet_opkind k, int x) {
    static const char *const keys[1] = {"x"};
    int vals[1] = {x};
    return opk(c, k, 1, keys, vals);
}

static inline int op2(ad_ctx *c, anet_opkind k, int x, int y) {
    static const char *const keys[2] = {"x", "y"};
    int vals[2] = {x, y};
    return opk(c, k, 2, keys, vals);
}

/* Scalar const in the dtype of the tensors it meets (MIL wants x and y of one dtype). */
static inline int scal(ad_ctx *c, anet_dtype dt, double v) {
    if (dt == ANET_DT_FP32) return anet_graph_const_fp32(c->g, NULL, (float)v);
    return anet_graph_const_fp16(c->g, NULL, (float)v);
}

static inline int ints(ad_ctx *c, int n, const int64_t *v) {
    int32_t t[ANET_MAX_RANK] = {0};
    for (int i = 0; i < n && i < ANET_MAX_RANK; i++) t[i] = (int32_t)v[i];
    return anet_graph_const_int32s(c->g, NULL, n, t);
}

/* A const tensor of type t filled with v (fp16 or fp32). */
static inline int fill(ad_ctx *c, anet_type t, double v) {
    int64_t n = anet_type_elements(&t);
    if (n < 0) {
        anet_fail(ANET_E_NOMEM, "autodiff: cannot build a %lld-element constant", (long long)n);
        return -1;
    }
    size_t es = anet_dtype_size(t.dtype);
    if (t.dtype != ANET_DT_FP16 && t.dtype != ANET_DT_FP32) {
        anet_fail(ANET_E_UNSUPPORTED, "autodiff: gradient of a %s tensor", anet_dtype_name(t.dtype));
        return -1;
    }
    void *data = calloc((size_t)n, es);
    if (!data) {
        anet_fail(ANET_E_NOMEM, "autodiff: out of memory for a constant");
        return -1;
    }
    if (v != 0.0) {
        for (int64_t i = 0; i < n; i++) {
            if (t.dtype == ANET_DT_FP16) ((anet_f16 *)data)[i] = anet_f32_to_f16((float)v);
            else ((float *)data)[i] = (float)v;
        }
    }
    int id = anet_graph_const(c->g, NULL, t, data, (size_t)n * es);
    free(data);
    return id;
}

static inline int neg(ad_ctx *c, int x) {
    if (x < 0) return -1;
    return op2(c, ANET_OP_MUL, x, scal(c, vtype(c, x).dtype, -1.0));
}

static inline int reshape(ad_ctx *c, int x, int rank, const int64_t *dims) {
    if (x < 0) return -1;
    anet_type t = vtype(c, x);
    if (t.rank == rank && memcmp(t.dims, dims, sizeof(int64_t) * (size_t)rank) == 0) return x;
    static const char *const keys[2] = {"x", "shape"};
    int vals[2] = {x, ints(c, rank, dims)};
    return opk(c, ANET_OP_RESHAPE, 2, keys, vals);
}

static inline int reduce_sum(ad_ctx *c, int x, int n, const int64_t *axes, int keep) {
    if (x < 0) return -1;
    static const char *const keys[3] = {"x", "axes", "keep_dims"};
    int vals[3] = {x, ints(c, n, axes), anet_graph_const_bool(c->g, NULL, keep)};
    return opk(c, ANET_OP_REDUCE_SUM, 3, keys, vals);
}

static inline int matmul(ad_ctx *c, int x, int y, int tx, int ty) {
    static const char *const keys[4] = {"x", "y", "transpose_x", "transpose_y"};
    int vals[4] = {x, y, anet_graph_const_bool(c->g, NULL, tx), anet_graph_const_bool(c->g, NULL, ty)};
    return opk(c, ANET_OP_MATMUL, 4, keys, vals);
}

static inline int select3(ad_ctx *c, int cond, int a, int b) {
    static const char *const keys[3] = {"cond", "a", "b"};
    int vals[3] = {cond, a, b};
    return opk(c, ANET_OP_SELECT, 3, keys, vals);
}

static inline int slice(ad_ctx *c, int x, int rank, const int64_t *begin, const int64_t *size) {
    static const char *const keys[3] = {"x", "begin", "size"};
    int vals[3] = {x, ints(c, rank, begin), ints(c, rank, size)};
    return opk(c, ANET_OP_SLICE_BY_SIZE, 3, keys, vals);
}

/* The compiler's longest axis for an elementwise op (elementwise-max-16384, read per axis). */
#define ANET_AD_MAX_AXIS 16384

/* A sliding window (conv, pools) with its padding resolved as vane and infer do. */
typedef struct win {
    int nsp;
    int64_t in[2], k[2], s[2], d[2], pb[2], pa[2], out[2], r[2]; /* r: rows left over at the end */
} win;

/* d placed into a zero tensor that is N long on axis a, element i at b0 + i * st: a matmul
 * with a 0/1 placement const (exact: one product per output). Used instead of concat/pad
 * (rejected or missing on the ANE) and to spread a strided window's gradient (2-D windows
 * under spread_mul by anet_ad_repeat_up: the placement's contraction is a short axis). */
int anet_ad_place(ad_ctx *c, int d, int a, int64_t b0, int64_t N);
int anet_ad_flip_axis(ad_ctx *c, int v, int last);
int anet_ad_transpose_v(ad_ctx *c, int x, int n, const int64_t *perm);
anet_status anet_ad_read_window(ad_ctx *c, const anet_op *op, const anet_type *tx, const int64_t *k, int is_conv, win *w);
int anet_ad_window_back(ad_ctx *c, const anet_op *op, int dy, int weight, const win *w, int64_t groups);
int anet_ad_tile_up(ad_ctx *c, int v, const win *w);
/* [B, C, h, w] -> [B, C, h*sh, w*sw]: each element repeated (zeros = 0) or followed by zeros
 * (zeros = 1: a stride's spread), by broadcasting multiplies (see autodiff_window.c). */
int anet_ad_repeat_up(ad_ctx *c, int v, int64_t sh, int64_t sw, int zeros);
int anet_ad_depthwise_fill(ad_ctx *c, anet_dtype dt, int64_t C, const win *w, double v);
int anet_ad_const_back_kernel(ad_ctx *c, int w, int64_t groups);

#endif
