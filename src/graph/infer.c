/* Shape and dtype inference with MIL semantics: one function per op family. Parameters
 * (axes, strides, flags) must be const values of the documented dtype. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "graph/ir.h"
#include "graph/ir_util.h"

typedef struct ictx {
    const anet_graph *g;
    const anet_op *op;
    const char *type; /* op type for messages */
    const char *name; /* op name for messages */
} ictx;

#define FAIL(c, code, ...) fail_op(c, code, __VA_ARGS__)

static anet_status fail_op(const ictx *c, anet_status code, const char *fmt, ...) ANET_PRINTF(3, 4);
static anet_status fail_op(const ictx *c, anet_status code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return anet_fail(code, "%s '%s': %s", c->type, c->name, msg);
}

static int is_float(anet_dtype d) { return d == ANET_DT_FP16 || d == ANET_DT_FP32; }
static int is_tensor_dtype(anet_dtype d) {
    return d == ANET_DT_FP16 || d == ANET_DT_FP32 || d == ANET_DT_INT32 || d == ANET_DT_BOOL ||
           d == ANET_DT_INT8 || d == ANET_DT_UINT8;
}

/* Rejects keys the op does not take. */
static anet_status check_keys(const ictx *c, const char *const *allowed) {
    for (int i = 0; i < c->op->nargs; i++) {
        const char *k = c->op->args[i].key;
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0) ok = 1;
        if (!ok) return FAIL(c, ANET_E_INVALID, "unknown argument '%s'", k);
    }
    return ANET_OK;
}

/* A single-value argument: its value id (or -1 when absent and optional). */
static anet_status arg_single(const ictx *c, const char *key, int required, int *vid) {
    const anet_arg *a = anet_op_arg(c->op, key);
    *vid = -1;
    if (!a) return required ? FAIL(c, ANET_E_INVALID, "missing argument '%s'", key) : ANET_OK;
    if (a->n != 1 || a->is_tuple) return FAIL(c, ANET_E_INVALID, "argument '%s' must be a single value", key);
    if (a->vals[0] < 0 || a->vals[0] >= c->g->nvalues)
        return FAIL(c, ANET_E_INVALID, "argument '%s' names no value", key);
    *vid = a->vals[0];
    return ANET_OK;
}

/* A tensor argument (any producer): its type. */
static anet_status arg_tensor(const ictx *c, const char *key, int required, anet_type *t, int *present) {
    int v;
    anet_status st = arg_single(c, key, required, &v);
    if (st) return st;
    if (present) *present = v >= 0;
    if (v < 0) return ANET_OK;
    *t = c->g->values[v].type;
    if (!is_tensor_dtype(t->dtype))
        return FAIL(c, ANET_E_MISMATCH, "argument '%s' is %s, not a tensor", key, anet_dtype_name(t->dtype));
    return ANET_OK;
}

static anet_status arg_const(const ictx *c, const char *key, int required, const anet_const **k) {
    int v;
    *k = NULL;
    anet_status st = arg_single(c, key, required, &v);
    if (st || v < 0) return st;
    *k = anet_graph_const_of(c->g, v);
    if (!*k) return FAIL(c, ANET_E_INVALID, "argument '%s' must be a const", key);
    return ANET_OK;
}

static anet_status param_int(const ictx *c, const char *key, int required, int64_t def, int64_t *out) {
    const anet_const *k;
    anet_status st = arg_const(c, key, required, &k);
    if (st) return st;
    *out = def;
    if (!k) return ANET_OK;
    if (k->type.dtype != ANET_DT_INT32 || k->type.rank != 0 || anet_const_get_int(k, out))
        return FAIL(c, ANET_E_MISMATCH, "'%s' must be an int32 scalar", key);
    return ANET_OK;
}

static anet_status param_bool(const ictx *c, const char *key, int *out) {
    const anet_const *k;
    anet_status st = arg_const(c, key, 0, &k);
    if (st) return st;
    *out = 0;
    if (!k) return ANET_OK;
    if (anet_const_get_bool(k, out)) return FAIL(c, ANET_E_MISMATCH, "'%s' must be a bool scalar", key);
    return ANET_OK;
}

/* int32 1-D const; want >= 0 demands that length. *n = -1 when absent. */
static anet_status param_ints(const ictx *c, const char *key, int required, int want, int64_t *out,
                              int max, int *n) {
    const anet_const *k;
    anet_status st = arg_const(c, key, required, &k);
    if (st) return st;
    *n = -1;
    if (!k) return ANET_OK;
    if (k->type.dtype != ANET_DT_INT32 || k->type.rank != 1)
        return FAIL(c, ANET_E_MISMATCH, "'%s' must be a 1-D int32 tensor", key);
    if (anet_const_get_ints(k, out, max, n))
        return FAIL(c, ANET_E_INVALID, "'%s' has more than %d elements", key, max);
    if (want >= 0 && *n != want)
        return FAIL(c, ANET_E_INVALID, "'%s' has %d elements, expected %d", key, *n, want);
    return ANET_OK;
}

static anet_status param_string(const ictx *c, const char *key, int required, const char *def,
                                const char **out) {
    const anet_const *k;
    anet_status st = arg_const(c, key, required, &k);
    if (st) return st;
    *out = def;
    if (!k) return ANET_OK;
    *out = anet_const_get_string(k);
    if (!*out) return FAIL(c, ANET_E_MISMATCH, "'%s' must be a string", key);
    return ANET_OK;
}

static anet_status finish(const ictx *c, anet_type *t) {
    char b[96];
    if (t->rank > ANET_MAX_RANK) return FAIL(c, ANET_E_INVALID, "result rank %d > %d", t->rank, ANET_MAX_RANK);
    if (anet_type_elements(t) < 0)
        return FAIL(c, ANET_E_INVALID, "result shape %s is empty or has more than 2^31 elements",
                    anet__dims_str(t, b, sizeof b));
    return ANET_OK;
}

/* numpy broadcasting of a and b into out (dtype taken from a). */
static anet_status broadcast(const ictx *c, const char *na, const anet_type *a, const char *nb,
                             const anet_type *b, anet_type *out) {
    char b1[96], b2[96];
    int r = a->rank > b->rank ? a->rank : b->rank;
    anet_type t = *a;
    t.rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return FAIL(c, ANET_E_MISMATCH, "shapes do not broadcast: %s is %s, %s is %s", na,
                        anet__dims_str(a, b1, sizeof b1), nb, anet__dims_str(b, b2, sizeof b2));
        t.dims[i] = da == 1 ? db : da;
    }
    *out = t;
    return ANET_OK;
}

static anet_status infer_binary(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "y", NULL};
    anet_type x, y;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = arg_tensor(c, "y", 1, &y, NULL);
    if (st) return st;
    if (x.dtype != y.dtype)
        return FAIL(c, ANET_E_MISMATCH, "x is %s but y is %s", anet_dtype_name(x.dtype), anet_dtype_name(y.dtype));
    anet_opkind k = c->op->kind;
    int cmp = k == ANET_OP_GREATER || k == ANET_OP_GREATER_EQUAL || k == ANET_OP_LESS || k == ANET_OP_EQUAL;
    if (!cmp && x.dtype == ANET_DT_BOOL)
        return FAIL(c, ANET_E_MISMATCH, "arithmetic on bool tensors");
    if ((k == ANET_OP_REAL_DIV || k == ANET_OP_POW) && !is_float(x.dtype))
        return FAIL(c, ANET_E_MISMATCH, "needs fp16 or fp32, got %s", anet_dtype_name(x.dtype));
    st = broadcast(c, "x", &x, "y", &y, out);
    if (st) return st;
    if (cmp) out->dtype = ANET_DT_BOOL;
    return finish(c, out);
}

static anet_status infer_select(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"cond", "a", "b", NULL};
    anet_type cd, a, b, t;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "cond", 1, &cd, NULL);
    if (!st) st = arg_tensor(c, "a", 1, &a, NULL);
    if (!st) st = arg_tensor(c, "b", 1, &b, NULL);
    if (st) return st;
    if (cd.dtype != ANET_DT_BOOL) return FAIL(c, ANET_E_MISMATCH, "cond must be bool, got %s", anet_dtype_name(cd.dtype));
    if (a.dtype != b.dtype)
        return FAIL(c, ANET_E_MISMATCH, "a is %s but b is %s", anet_dtype_name(a.dtype), anet_dtype_name(b.dtype));
    st = broadcast(c, "a", &a, "b", &b, &t);
    if (!st) st = broadcast(c, "a/b", &t, "cond", &cd, out);
    if (st) return st;
    out->dtype = a.dtype;
    return finish(c, out);
}

static anet_status infer_unary(const ictx *c, anet_type *out) {
    static const char *const k_plain[] = {"x", NULL};
    static const char *const k_eps[] = {"x", "epsilon", NULL};
    static const char *const k_gelu[] = {"x", "mode", NULL};
    anet_opkind k = c->op->kind;
    const char *const *keys = k == ANET_OP_GELU ? k_gelu : (k == ANET_OP_RSQRT || k == ANET_OP_LOG) ? k_eps : k_plain;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, out, NULL);
    if (st) return st;
    int any = k == ANET_OP_IDENTITY;
    int ints = k == ANET_OP_RELU || k == ANET_OP_ABS || k == ANET_OP_SQUARE;
    if (!any && !is_float(out->dtype) && !(ints && out->dtype == ANET_DT_INT32))
        return FAIL(c, ANET_E_MISMATCH, "needs fp16 or fp32, got %s", anet_dtype_name(out->dtype));
    if (k == ANET_OP_GELU) {
        const char *mode;
        st = param_string(c, "mode", 0, "EXACT", &mode);
        if (st) return st;
        if (strcmp(mode, "EXACT") && strcmp(mode, "TANH_APPROXIMATION") && strcmp(mode, "SIGMOID_APPROXIMATION"))
            return FAIL(c, ANET_E_INVALID, "unknown gelu mode '%s'", mode);
    }
    if (k == ANET_OP_RSQRT || k == ANET_OP_LOG) {
        const anet_const *e;
        st = arg_const(c, "epsilon", 0, &e);
        if (st) return st;
        /* Apple's compiled files pair an fp32 epsilon with fp16 x, so any float scalar goes */
        if (e && (e->type.rank != 0 || !is_float(e->type.dtype)))
            return FAIL(c, ANET_E_MISMATCH, "epsilon must be an fp16 or fp32 scalar");
    }
    return finish(c, out);
}

static anet_status infer_cast(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "dtype", NULL};
    const char *dt;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, out, NULL);
    if (!st) st = param_string(c, "dtype", 1, NULL, &dt);
    if (st) return st;
    anet_dtype d = anet_dtype_lookup(dt);
    if (d != ANET_DT_FP16 && d != ANET_DT_FP32 && d != ANET_DT_INT32 && d != ANET_DT_BOOL)
        return FAIL(c, ANET_E_INVALID, "cannot cast to '%s' (fp16, fp32, int32, bool)", dt);
    out->dtype = d;
    return finish(c, out);
}

static int norm_axis(int64_t a, int rank, int *out) {
    if (a < -rank || a >= rank) return -1;
    *out = (int)(a < 0 ? a + rank : a);
    return 0;
}

static anet_status infer_softmax(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "axis", NULL};
    int64_t axis;
    int ax;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, out, NULL);
    if (!st) st = param_int(c, "axis", 0, -1, &axis);
    if (st) return st;
    if (!is_float(out->dtype)) return FAIL(c, ANET_E_MISMATCH, "needs fp16 or fp32, got %s", anet_dtype_name(out->dtype));
    if (out->rank == 0) return FAIL(c, ANET_E_INVALID, "x must have rank >= 1");
    if (norm_axis(axis, out->rank, &ax))
        return FAIL(c, ANET_E_INVALID, "axis %lld out of range for rank %d", (long long)axis, out->rank);
    return finish(c, out);
}

static anet_status infer_reduce(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "axes", "keep_dims", NULL};
    anet_type x;
    int64_t axes[ANET_MAX_RANK + 1];
    int n, keep;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = param_ints(c, "axes", 0, -1, axes, ANET_MAX_RANK, &n);
    if (!st) st = param_bool(c, "keep_dims", &keep);
    if (st) return st;
    if (x.dtype == ANET_DT_BOOL) return FAIL(c, ANET_E_MISMATCH, "cannot reduce bool tensors");
    if (c->op->kind == ANET_OP_REDUCE_MEAN && !is_float(x.dtype))
        return FAIL(c, ANET_E_MISMATCH, "needs fp16 or fp32, got %s", anet_dtype_name(x.dtype));
    int red[ANET_MAX_RANK] = {0};
    if (n < 0) /* absent: reduce everything */
        for (int i = 0; i < x.rank; i++) red[i] = 1;
    for (int i = 0; i < n; i++) {
        int a;
        if (norm_axis(axes[i], x.rank, &a))
            return FAIL(c, ANET_E_INVALID, "axis %lld out of range for rank %d", (long long)axes[i], x.rank);
        if (red[a]) return FAIL(c, ANET_E_INVALID, "axis %lld repeated", (long long)axes[i]);
        red[a] = 1;
    }
    *out = x;
    out->rank = 0;
    for (int i = 0; i < x.rank; i++) {
        if (red[i] && !keep) continue;
        out->dims[out->rank++] = red[i] ? 1 : x.dims[i];
    }
    return finish(c, out);
}

static anet_status infer_matmul(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "y", "transpose_x", "transpose_y", NULL};
    anet_type x, y;
    int tx, ty;
    char b1[96], b2[96];
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = arg_tensor(c, "y", 1, &y, NULL);
    if (!st) st = param_bool(c, "transpose_x", &tx);
    if (!st) st = param_bool(c, "transpose_y", &ty);
    if (st) return st;
    if (x.dtype != y.dtype)
        return FAIL(c, ANET_E_MISMATCH, "x is %s but y is %s", anet_dtype_name(x.dtype), anet_dtype_name(y.dtype));
    if (!is_float(x.dtype)) return FAIL(c, ANET_E_MISMATCH, "needs fp16 or fp32, got %s", anet_dtype_name(x.dtype));
    if (x.rank < 1 || y.rank < 1) return FAIL(c, ANET_E_INVALID, "x and y need rank >= 1");
    /* Rank-1 operands act as [1, K] / [K, 1] and that axis is dropped from the result. */
    anet_type xe = x, ye = y;
    int drop_m = 0, drop_n = 0;
    if (x.rank == 1) { xe.rank = 2; xe.dims[0] = 1; xe.dims[1] = x.dims[0]; tx = 0; drop_m = 1; }
    if (y.rank == 1) { ye.rank = 2; ye.dims[0] = y.dims[0]; ye.dims[1] = 1; ty = 0; drop_n = 1; }
    int64_t m = tx ? xe.dims[xe.rank - 1] : xe.dims[xe.rank - 2];
    int64_t kx = tx ? xe.dims[xe.rank - 2] : xe.dims[xe.rank - 1];
    int64_t ky = ty ? ye.dims[ye.rank - 1] : ye.dims[ye.rank - 2];
    int64_t nn = ty ? ye.dims[ye.rank - 2] : ye.dims[ye.rank - 1];
    if (kx != ky)
        return FAIL(c, ANET_E_MISMATCH, "inner dims differ: x is %s, y is %s%s%s", anet__dims_str(&x, b1, sizeof b1),
                    anet__dims_str(&y, b2, sizeof b2), tx ? " (transpose_x)" : "", ty ? " (transpose_y)" : "");
    anet_type bx = xe, by = ye;
    bx.rank -= 2;
    by.rank -= 2;
    anet_type t;
    st = broadcast(c, "x batch", &bx, "y batch", &by, &t);
    if (st) return st;
    if (t.rank + 2 > ANET_MAX_RANK) return FAIL(c, ANET_E_INVALID, "result rank > %d", ANET_MAX_RANK);
    if (!drop_m) t.dims[t.rank++] = m;
    if (!drop_n) t.dims[t.rank++] = nn;
    t.dtype = x.dtype;
    *out = t;
    return finish(c, out);
}

static anet_status infer_linear(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "weight", "bias", NULL};
    anet_type x, w, b;
    int hasb;
    char b1[96], b2[96];
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = arg_tensor(c, "weight", 1, &w, NULL);
    if (!st) st = arg_tensor(c, "bias", 0, &b, &hasb);
    if (st) return st;
    if (!is_float(x.dtype) || w.dtype != x.dtype || (hasb && b.dtype != x.dtype))
        return FAIL(c, ANET_E_MISMATCH, "x, weight and bias must share one float dtype");
    if (x.rank < 1) return FAIL(c, ANET_E_INVALID, "x needs rank >= 1");
    if (w.rank != 2) return FAIL(c, ANET_E_INVALID, "weight must be [out, in], got %s", anet__dims_str(&w, b1, sizeof b1));
    if (w.dims[1] != x.dims[x.rank - 1])
        return FAIL(c, ANET_E_MISMATCH, "inner dims differ: x is %s, weight is %s", anet__dims_str(&x, b1, sizeof b1),
                    anet__dims_str(&w, b2, sizeof b2));
    if (hasb && (b.rank != 1 || b.dims[0] != w.dims[0]))
        return FAIL(c, ANET_E_MISMATCH, "bias is %s, expected [%lld]", anet__dims_str(&b, b1, sizeof b1),
                    (long long)w.dims[0]);
    *out = x;
    out->dims[x.rank - 1] = w.dims[0];
    return finish(c, out);
}

/* The common spatial parameters of conv, conv_transpose and pooling. */
typedef struct spatial {
    int nsp;
    int64_t k[3], s[3], d[3], pad[6];
    const char *pad_type;
} spatial;

static anet_status get_spatial(const ictx *c, int nsp, int pool, spatial *sp) {
    int n;
    anet_status st;
    sp->nsp = nsp;
    for (int i = 0; i < nsp; i++) sp->s[i] = sp->d[i] = 1;
    for (int i = 0; i < 2 * nsp; i++) sp->pad[i] = 0;
    st = param_ints(c, "strides", 0, nsp, sp->s, 3, &n);
    if (!st && !pool) st = param_ints(c, "dilations", 0, nsp, sp->d, 3, &n);
    if (!st) st = param_string(c, "pad_type", 0, "valid", &sp->pad_type);
    if (st) return st;
    int custom = strcmp(sp->pad_type, "custom") == 0;
    if (!custom && strcmp(sp->pad_type, "valid") && strcmp(sp->pad_type, "same") && strcmp(sp->pad_type, "same_lower"))
        return FAIL(c, ANET_E_INVALID, "pad_type '%s' is not valid, same, same_lower or custom", sp->pad_type);
    st = param_ints(c, "pad", custom, 2 * nsp, sp->pad, 6, &n);
    if (st) return st;
    if (!custom) /* MIL ignores pad unless custom; keep it out of the arithmetic */
        for (int i = 0; i < 2 * nsp; i++) sp->pad[i] = 0;
    for (int i = 0; i < nsp; i++) {
        if (sp->s[i] < 1 || sp->s[i] > 65536) return FAIL(c, ANET_E_INVALID, "stride %lld out of range", (long long)sp->s[i]);
        if (sp->d[i] < 1 || sp->d[i] > 65536) return FAIL(c, ANET_E_INVALID, "dilation %lld out of range", (long long)sp->d[i]);
    }
    for (int i = 0; i < 2 * nsp; i++)
        if (sp->pad[i] < 0 || sp->pad[i] > 65536) return FAIL(c, ANET_E_INVALID, "pad %lld out of range", (long long)sp->pad[i]);
    return ANET_OK;
}

/* Output length of one spatial axis for a sliding window (conv, pooling). */
static int64_t window_out(const spatial *sp, int i, int64_t in, int ceil_mode) {
    int64_t ek = sp->d[i] * (sp->k[i] - 1) + 1;
    if (strcmp(sp->pad_type, "same") == 0 || strcmp(sp->pad_type, "same_lower") == 0)
        return (in + sp->s[i] - 1) / sp->s[i];
    int64_t span = in + sp->pad[2 * i] + sp->pad[2 * i + 1] - ek;
    if (span < 0) return 0;
    return (ceil_mode ? (span + sp->s[i] - 1) / sp->s[i] : span / sp->s[i]) + 1;
}

static anet_status infer_conv(const ictx *c, anet_type *out) {
    static const char *const k_conv[] = {"x", "weight", "bias", "strides", "pad_type", "pad", "dilations", "groups", NULL};
    static const char *const k_convt[] = {"x", "weight", "bias", "strides", "pad_type", "pad", "dilations", "groups", "output_shape", NULL};
    int tr = c->op->kind == ANET_OP_CONV_TRANSPOSE;
    anet_type x, w, b;
    int hasb;
    int64_t groups;
    char b1[96], b2[96];
    anet_status st = check_keys(c, tr ? k_convt : k_conv);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = arg_tensor(c, "weight", 1, &w, NULL);
    if (!st) st = arg_tensor(c, "bias", 0, &b, &hasb);
    if (!st) st = param_int(c, "groups", 0, 1, &groups);
    if (st) return st;
    if (!is_float(x.dtype) || w.dtype != x.dtype || (hasb && b.dtype != x.dtype))
        return FAIL(c, ANET_E_MISMATCH, "x, weight and bias must share one float dtype");
    if (x.rank < 3 || x.rank > 5)
        return FAIL(c, ANET_E_INVALID, "x must be [N, C, spatial...] of rank 3..5, got %s", anet__dims_str(&x, b1, sizeof b1));
    if (w.rank != x.rank)
        return FAIL(c, ANET_E_MISMATCH, "weight rank %d differs from x rank %d", w.rank, x.rank);
    int nsp = x.rank - 2;
    if (groups < 1 || x.dims[1] % groups != 0)
        return FAIL(c, ANET_E_INVALID, "groups %lld does not divide %lld input channels", (long long)groups, (long long)x.dims[1]);
    spatial sp;
    st = get_spatial(c, nsp, 0, &sp);
    if (st) return st;
    for (int i = 0; i < nsp; i++) sp.k[i] = w.dims[2 + i];
    int64_t cout;
    if (!tr) {
        if (w.dims[1] * groups != x.dims[1] || w.dims[0] % groups != 0)
            return FAIL(c, ANET_E_MISMATCH, "channels differ: x is %s, weight is %s, groups %lld",
                        anet__dims_str(&x, b1, sizeof b1), anet__dims_str(&w, b2, sizeof b2), (long long)groups);
        cout = w.dims[0];
    } else {
        if (w.dims[0] != x.dims[1])
            return FAIL(c, ANET_E_MISMATCH, "channels differ: x is %s, weight is %s (expected [C_in, C_out/groups, k...])",
                        anet__dims_str(&x, b1, sizeof b1), anet__dims_str(&w, b2, sizeof b2));
        cout = w.dims[1] * groups;
    }
    if (hasb && (b.rank != 1 || b.dims[0] != cout))
        return FAIL(c, ANET_E_MISMATCH, "bias is %s, expected [%lld]", anet__dims_str(&b, b1, sizeof b1), (long long)cout);
    anet_type t = x;
    t.dims[1] = cout;
    for (int i = 0; i < nsp; i++) {
        int64_t in = x.dims[2 + i], o;
        if (!tr) o = window_out(&sp, i, in, 0);
        else if (strcmp(sp.pad_type, "same") == 0 || strcmp(sp.pad_type, "same_lower") == 0) o = in * sp.s[i];
        else o = (in - 1) * sp.s[i] + sp.d[i] * (sp.k[i] - 1) + 1 - sp.pad[2 * i] - sp.pad[2 * i + 1];
        if (o < 1)
            return FAIL(c, ANET_E_INVALID, "window does not fit: spatial axis %d of x %s with kernel %lld gives %lld",
                        i, anet__dims_str(&x, b1, sizeof b1), (long long)sp.k[i], (long long)o);
        t.dims[2 + i] = o;
    }
    if (tr) {
        int64_t os[ANET_MAX_RANK];
        int n;
        st = param_ints(c, "output_shape", 0, -1, os, ANET_MAX_RANK, &n);
        if (st) return st;
        if (n >= 0) {
            /* An explicit output_shape resolves the stride ambiguity; it must be reachable. */
            if (n != x.rank || os[0] != x.dims[0] || os[1] != cout)
                return FAIL(c, ANET_E_MISMATCH, "output_shape does not match batch and %lld output channels", (long long)cout);
            for (int i = 0; i < nsp; i++) {
                if (os[2 + i] < t.dims[2 + i] || os[2 + i] >= t.dims[2 + i] + sp.s[i])
                    return FAIL(c, ANET_E_MISMATCH, "output_shape axis %d = %lld is not reachable", 2 + i, (long long)os[2 + i]);
                t.dims[2 + i] = os[2 + i];
            }
        }
    }
    *out = t;
    return finish(c, out);
}

static anet_status infer_pool(const ictx *c, anet_type *out) {
    static const char *const k_max[] = {"x", "kernel_sizes", "strides", "pad_type", "pad", "ceil_mode", NULL};
    static const char *const k_avg[] = {"x", "kernel_sizes", "strides", "pad_type", "pad", "ceil_mode", "exclude_padding_from_average", NULL};
    anet_type x;
    int n, ceil_mode, excl;
    char b1[96];
    anet_status st = check_keys(c, c->op->kind == ANET_OP_AVG_POOL ? k_avg : k_max);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (st) return st;
    if (!is_float(x.dtype)) return FAIL(c, ANET_E_MISMATCH, "needs fp16 or fp32, got %s", anet_dtype_name(x.dtype));
    if (x.rank < 3 || x.rank > 5)
        return FAIL(c, ANET_E_INVALID, "x must be [N, C, spatial...] of rank 3..5, got %s", anet__dims_str(&x, b1, sizeof b1));
    int nsp = x.rank - 2;
    spatial sp;
    st = get_spatial(c, nsp, 1, &sp);
    if (!st) st = param_ints(c, "kernel_sizes", 1, nsp, sp.k, 3, &n);
    if (!st) st = param_bool(c, "ceil_mode", &ceil_mode);
    if (!st) st = param_bool(c, "exclude_padding_from_average", &excl);
    if (st) return st;
    *out = x;
    for (int i = 0; i < nsp; i++) {
        if (sp.k[i] < 1 || sp.k[i] > 65536) return FAIL(c, ANET_E_INVALID, "kernel size %lld out of range", (long long)sp.k[i]);
        int64_t o = window_out(&sp, i, x.dims[2 + i], ceil_mode);
        if (o < 1)
            return FAIL(c, ANET_E_INVALID, "window does not fit: spatial axis %d of x %s with kernel %lld",
                        i, anet__dims_str(&x, b1, sizeof b1), (long long)sp.k[i]);
        out->dims[2 + i] = o;
    }
    return finish(c, out);
}

static anet_status infer_reshape(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "shape", NULL};
    anet_type x;
    int64_t s[ANET_MAX_RANK];
    int n;
    char b1[96];
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = param_ints(c, "shape", 1, -1, s, ANET_MAX_RANK, &n);
    if (st) return st;
    int64_t xn = anet_type_elements(&x), known = 1;
    int neg = -1;
    for (int i = 0; i < n; i++) {
        if (s[i] == -1) {
            if (neg >= 0) return FAIL(c, ANET_E_INVALID, "shape has -1 more than once");
            neg = i;
        } else if (s[i] < 1) {
            return FAIL(c, ANET_E_INVALID, "shape has dim %lld", (long long)s[i]);
        } else {
            if (s[i] > ANET_MAX_ELEMENTS || known * s[i] > ANET_MAX_ELEMENTS)
                return FAIL(c, ANET_E_INVALID, "shape has more than 2^31 elements");
            known *= s[i];
        }
    }
    if (neg >= 0) {
        if (xn % known) return FAIL(c, ANET_E_MISMATCH, "cannot reshape %s: %lld elements are not a multiple of %lld",
                                    anet__dims_str(&x, b1, sizeof b1), (long long)xn, (long long)known);
        s[neg] = xn / known;
        known = xn;
    }
    if (known != xn)
        return FAIL(c, ANET_E_MISMATCH, "cannot reshape %s (%lld elements) to %lld elements",
                    anet__dims_str(&x, b1, sizeof b1), (long long)xn, (long long)known);
    *out = anet_type_make(x.dtype, n, s);
    return finish(c, out);
}

static anet_status infer_transpose(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "perm", NULL};
    anet_type x;
    int64_t p[ANET_MAX_RANK];
    int n;
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = param_ints(c, "perm", 1, -1, p, ANET_MAX_RANK, &n);
    if (st) return st;
    if (n != x.rank) return FAIL(c, ANET_E_INVALID, "perm has %d entries for rank %d", n, x.rank);
    int seen[ANET_MAX_RANK] = {0};
    *out = x;
    for (int i = 0; i < n; i++) {
        int a;
        if (norm_axis(p[i], x.rank, &a) || seen[a])
            return FAIL(c, ANET_E_INVALID, "perm is not a permutation of 0..%d", x.rank - 1);
        seen[a] = 1;
        out->dims[i] = x.dims[a];
    }
    return finish(c, out);
}

static anet_status infer_slice(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"x", "begin", "size", NULL};
    anet_type x;
    int64_t b[ANET_MAX_RANK], s[ANET_MAX_RANK];
    int nb, ns;
    char b1[96];
    anet_status st = check_keys(c, keys);
    if (!st) st = arg_tensor(c, "x", 1, &x, NULL);
    if (!st) st = param_ints(c, "begin", 1, x.rank, b, ANET_MAX_RANK, &nb);
    if (!st) st = param_ints(c, "size", 1, x.rank, s, ANET_MAX_RANK, &ns);
    if (st) return st;
    *out = x;
    for (int i = 0; i < x.rank; i++) {
        int64_t d = x.dims[i], bg = b[i] < 0 ? b[i] + d : b[i];
        if (bg < 0 || bg >= d)
            return FAIL(c, ANET_E_INVALID, "begin %lld out of range on axis %d of %s", (long long)b[i], i,
                        anet__dims_str(&x, b1, sizeof b1));
        int64_t sz = s[i] == -1 ? d - bg : s[i];
        if (sz < 1 || bg + sz > d)
            return FAIL(c, ANET_E_INVALID, "size %lld at begin %lld exceeds axis %d of %s", (long long)s[i],
                        (long long)bg, i, anet__dims_str(&x, b1, sizeof b1));
        out->dims[i] = sz;
    }
    return finish(c, out);
}

static anet_status infer_concat(const ictx *c, anet_type *out) {
    static const char *const keys[] = {"values", "axis", "interleave", NULL};
    int64_t axis;
    int ax, inter;
    char b1[96], b2[96];
    anet_status st = check_keys(c, keys);
    if (!st) st = param_int(c, "axis", 1, 0, &axis);
    if (!st) st = param_bool(c, "interleave", &inter);
    if (st) return st;
    const anet_arg *a = anet_op_arg(c->op, "values");
    if (!a) return FAIL(c, ANET_E_INVALID, "missing argument 'values'");
    if (a->n < 1) return FAIL(c, ANET_E_INVALID, "'values' is empty");
    for (int i = 0; i < a->n; i++)
        if (a->vals[i] < 0 || a->vals[i] >= c->g->nvalues) return FAIL(c, ANET_E_INVALID, "'values' names no value");
    anet_type t = c->g->values[a->vals[0]].type;
    if (!is_tensor_dtype(t.dtype)) return FAIL(c, ANET_E_MISMATCH, "'values' must be tensors");
    if (t.rank < 1) return FAIL(c, ANET_E_INVALID, "cannot concat scalars");
    if (norm_axis(axis, t.rank, &ax))
        return FAIL(c, ANET_E_INVALID, "axis %lld out of range for rank %d", (long long)axis, t.rank);
    for (int i = 1; i < a->n; i++) {
        const anet_type *u = &c->g->values[a->vals[i]].type;
        int ok = u->dtype == t.dtype && u->rank == t.rank;
        for (int k = 0; ok && k < t.rank; k++)
            if (k != ax && u->dims[k] != t.dims[k]) ok = 0;
        if (inter && ok && u->dims[ax] != c->g->values[a->vals[0]].type.dims[ax]) ok = 0;
        if (!ok)
            return FAIL(c, ANET_E_MISMATCH, "values[%d] is %s %s, values[0] is %s %s (axis %d)", i,
                        anet_dtype_name(u->dtype), anet__dims_str(u, b1, sizeof b1), anet_dtype_name(t.dtype),
                        anet__dims_str(&c->g->values[a->vals[0]].type, b2, sizeof b2), ax);
        t.dims[ax] += u->dims[ax];
        if (t.dims[ax] > ANET_MAX_ELEMENTS) return FAIL(c, ANET_E_INVALID, "result too large");
    }
    *out = t;
    return finish(c, out);
}

anet_status anet_infer(const anet_graph *g, const anet_op *op, anet_type *out, int max_out, int *nout) {
    if (!g || !op || !out || max_out < 1 || !nout) return anet_fail(ANET_E_INVALID, "infer: bad arguments");
    ictx c = {g, op, op->type ? op->type : anet_op_kind_name(op->kind), op->name ? op->name : "?"};
    *nout = 0;
    anet_status st;
    switch (op->kind) {
    case ANET_OP_CONST:
        if (!op->val) return FAIL(&c, ANET_E_INVALID, "const without a value");
        if (op->nargs) return FAIL(&c, ANET_E_INVALID, "const takes no arguments");
        out[0] = op->val->type;
        st = ANET_OK;
        break;
    case ANET_OP_CAST: st = infer_cast(&c, out); break;
    case ANET_OP_ADD: case ANET_OP_SUB: case ANET_OP_MUL: case ANET_OP_REAL_DIV:
    case ANET_OP_MAXIMUM: case ANET_OP_MINIMUM: case ANET_OP_POW: case ANET_OP_GREATER:
    case ANET_OP_GREATER_EQUAL: case ANET_OP_LESS: case ANET_OP_EQUAL:
        st = infer_binary(&c, out);
        break;
    case ANET_OP_RELU: case ANET_OP_SIGMOID: case ANET_OP_TANH: case ANET_OP_EXP: case ANET_OP_LOG:
    case ANET_OP_SQRT: case ANET_OP_RSQRT: case ANET_OP_ABS: case ANET_OP_SQUARE: case ANET_OP_GELU:
    case ANET_OP_IDENTITY:
        st = infer_unary(&c, out);
        break;
    case ANET_OP_SELECT: st = infer_select(&c, out); break;
    case ANET_OP_SOFTMAX: st = infer_softmax(&c, out); break;
    case ANET_OP_REDUCE_SUM: case ANET_OP_REDUCE_MEAN: case ANET_OP_REDUCE_MAX: st = infer_reduce(&c, out); break;
    case ANET_OP_MATMUL: st = infer_matmul(&c, out); break;
    case ANET_OP_LINEAR: st = infer_linear(&c, out); break;
    case ANET_OP_CONV: case ANET_OP_CONV_TRANSPOSE: st = infer_conv(&c, out); break;
    case ANET_OP_MAX_POOL: case ANET_OP_AVG_POOL: st = infer_pool(&c, out); break;
    case ANET_OP_RESHAPE: st = infer_reshape(&c, out); break;
    case ANET_OP_TRANSPOSE: st = infer_transpose(&c, out); break;
    case ANET_OP_SLICE_BY_SIZE: st = infer_slice(&c, out); break;
    case ANET_OP_CONCAT: st = infer_concat(&c, out); break;
    default:
        return FAIL(&c, ANET_E_UNSUPPORTED, "no shape inference for this op");
    }
    if (st) return st;
    *nout = 1;
    return ANET_OK;
}
