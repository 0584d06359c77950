/* vane's op planner: checks one MIL op's arguments against vane's kernels and fills its step
 * (broadcast plans, strides, window geometry, matmul batch offsets). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "runtime/vane/plan.h"

typedef struct ctx {
    const anet_graph *g;
    const anet_op *op;
    int op_id;
} ctx;

static const char *opname(const ctx *c) { return c->op->name ? c->op->name : "?"; }

static anet_status bad(const ctx *c, const char *what) {
    return anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' (%s): %s", opname(c),
                     anet_op_kind_name(c->op->kind), what);
}

static const anet_type *vtype(const ctx *c, int v) { return &c->g->values[v].type; }

/* Value id of a required single-value argument, or -1 (message set). */
static int need(const ctx *c, const char *key) {
    int v = anet_op_arg_value(c->op, key);
    if (v < 0 || v >= c->g->nvalues) {
        char m[96];
        snprintf(m, sizeof m, "missing argument '%s'", key);
        bad(c, m);
        return -1;
    }
    return v;
}

/* Const parameter lookups: 1 if absent, 0 if read, -1 if present but not a usable const. */
static int param_ints(const ctx *c, const char *key, int64_t *out, int max, int *n) {
    int v = anet_op_arg_value(c->op, key);
    if (v < 0) return 1;
    const anet_const *k = anet_graph_const_of(c->g, v);
    if (!k || anet_const_get_ints(k, out, max, n) != 0) return -1;
    return 0;
}
static int param_int(const ctx *c, const char *key, int64_t *out) {
    int v = anet_op_arg_value(c->op, key);
    if (v < 0) return 1;
    const anet_const *k = anet_graph_const_of(c->g, v);
    if (!k || anet_const_get_int(k, out) != 0) return -1;
    return 0;
}
static int param_bool(const ctx *c, const char *key, int *out) {
    int v = anet_op_arg_value(c->op, key);
    if (v < 0) return 1;
    const anet_const *k = anet_graph_const_of(c->g, v);
    if (!k || anet_const_get_bool(k, out) != 0) return -1;
    return 0;
}
static int param_float(const ctx *c, const char *key, double *out) {
    int v = anet_op_arg_value(c->op, key);
    if (v < 0) return 1;
    const anet_const *k = anet_graph_const_of(c->g, v);
    if (!k || anet_const_get_float(k, out) != 0) return -1;
    return 0;
}
static const char *param_string(const ctx *c, const char *key) {
    int v = anet_op_arg_value(c->op, key);
    if (v < 0) return NULL;
    const anet_const *k = anet_graph_const_of(c->g, v);
    return k ? anet_const_get_string(k) : NULL;
}

static int norm_axis(int64_t a, int rank, int *out) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return -1;
    *out = (int)a;
    return 0;
}

/* ---------------------------------------------------------------- op planning */

static anet_status plan_binary(const ctx *c, step *s, anet_vk_binop op) {
    int x = need(c, "x"), y = need(c, "y");
    if (x < 0 || y < 0) return ANET_E_UNSUPPORTED;
    const anet_type *o = vtype(c, s->out), *tx = vtype(c, x), *ty = vtype(c, y);
    int ranks[2] = {tx->rank, ty->rank};
    const int64_t *dims[2] = {tx->dims, ty->dims};
    if (anet_vk_bcast_plan(&s->bc, o->rank, o->dims, 2, ranks, dims) != 0)
        return bad(c, "operands do not broadcast to the output shape");
    s->kind = S_BINARY;
    s->op = op;
    s->in[0] = x;
    s->in[1] = y;
    return ANET_OK;
}

static anet_status plan_select(const ctx *c, step *s) {
    int k = need(c, "cond"), a = need(c, "a"), b = need(c, "b");
    if (k < 0 || a < 0 || b < 0) return ANET_E_UNSUPPORTED;
    const anet_type *o = vtype(c, s->out);
    int ranks[3] = {vtype(c, k)->rank, vtype(c, a)->rank, vtype(c, b)->rank};
    const int64_t *dims[3] = {vtype(c, k)->dims, vtype(c, a)->dims, vtype(c, b)->dims};
    if (anet_vk_bcast_plan(&s->bc, o->rank, o->dims, 3, ranks, dims) != 0)
        return bad(c, "operands do not broadcast to the output shape");
    s->kind = S_SELECT;
    s->in[0] = k;
    s->in[1] = a;
    s->in[2] = b;
    return ANET_OK;
}

static anet_status plan_unary(const ctx *c, step *s, anet_vk_unop op, double def_eps) {
    int x = need(c, "x");
    if (x < 0) return ANET_E_UNSUPPORTED;
    if (anet_type_elements(vtype(c, x)) != s->ny) return bad(c, "output size differs from input");
    s->kind = S_UNARY;
    s->op = op;
    s->in[0] = x;
    double eps = def_eps;
    if (op == ANET_VK_LOG || op == ANET_VK_RSQRT) {
        if (param_float(c, "epsilon", &eps) < 0) return bad(c, "epsilon is not a const scalar");
    }
    s->p = (float)eps;
    return ANET_OK;
}

static anet_status plan_softmax(const ctx *c, step *s) {
    int x = need(c, "x"), ax;
    if (x < 0) return ANET_E_UNSUPPORTED;
    const anet_type *t = vtype(c, x);
    int64_t a = -1;
    if (param_int(c, "axis", &a) < 0) return bad(c, "axis is not a const int");
    if (t->rank == 0 || norm_axis(a, t->rank, &ax) != 0) return bad(c, "axis out of range");
    if (anet_type_elements(t) != s->ny) return bad(c, "output size differs from input");
    s->outer = 1;
    s->inner = 1;
    for (int i = 0; i < ax; i++) s->outer *= t->dims[i];
    for (int i = ax + 1; i < t->rank; i++) s->inner *= t->dims[i];
    s->n = t->dims[ax];
    s->kind = S_SOFTMAX;
    s->in[0] = x;
    return ANET_OK;
}

static anet_status plan_reduce(const ctx *c, step *s, anet_vk_redop op) {
    int x = need(c, "x");
    if (x < 0) return ANET_E_UNSUPPORTED;
    const anet_type *t = vtype(c, x);
    int64_t axes[ANET_MAX_RANK];
    int n = 0, r = param_ints(c, "axes", axes, ANET_MAX_RANK, &n);
    if (r < 0) return bad(c, "axes is not a const int list");
    unsigned mask = 0;
    if (r == 1) mask = (1u << t->rank) - 1u; /* no axes: all of them (MIL) */
    for (int i = 0; i < n; i++) {
        int a;
        if (norm_axis(axes[i], t->rank, &a) != 0) return bad(c, "reduction axis out of range");
        mask |= 1u << a;
    }
    int64_t keep = 1;
    for (int i = 0; i < t->rank; i++)
        if (!((mask >> i) & 1u)) keep *= t->dims[i];
    if (keep != s->ny) return bad(c, "output size does not match the reduction");
    s->kind = S_REDUCE;
    s->op = op;
    s->mask = mask;
    s->rank = t->rank;
    memcpy(s->dims, t->dims, sizeof s->dims);
    s->in[0] = x;
    return ANET_OK;
}

static anet_status plan_transpose(const ctx *c, step *s) {
    int x = need(c, "x");
    if (x < 0) return ANET_E_UNSUPPORTED;
    const anet_type *t = vtype(c, x), *o = vtype(c, s->out);
    int64_t perm[ANET_MAX_RANK];
    int n = 0;
    if (param_ints(c, "perm", perm, ANET_MAX_RANK, &n) != 0 || n != t->rank)
        return bad(c, "perm is not a const list of rank length");
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        int a;
        if (norm_axis(perm[i], t->rank, &a) != 0 || ((seen >> a) & 1u))
            return bad(c, "perm is not a permutation");
        seen |= 1u << a;
        s->perm[i] = a;
        if (o->rank != t->rank || o->dims[i] != t->dims[a]) return bad(c, "output shape does not match perm");
    }
    s->kind = S_TRANSPOSE;
    s->rank = t->rank;
    memcpy(s->dims, t->dims, sizeof s->dims);
    s->in[0] = x;
    return ANET_OK;
}

static anet_status plan_slice(const ctx *c, step *s) {
    int x = need(c, "x");
    if (x < 0) return ANET_E_UNSUPPORTED;
    const anet_type *t = vtype(c, x), *o = vtype(c, s->out);
    int nb = 0, ns = 0;
    if (param_ints(c, "begin", s->begin, ANET_MAX_RANK, &nb) != 0 ||
        param_ints(c, "size", s->size, ANET_MAX_RANK, &ns) != 0 || nb != t->rank || ns != t->rank)
        return bad(c, "begin/size are not const lists of rank length");
    for (int i = 0; i < t->rank; i++) {
        if (s->begin[i] < 0) s->begin[i] += t->dims[i];
        if (s->size[i] == -1) s->size[i] = t->dims[i] - s->begin[i];
        if (s->begin[i] < 0 || s->size[i] < 1 || s->begin[i] + s->size[i] > t->dims[i])
            return bad(c, "slice out of range");
        if (o->rank != t->rank || o->dims[i] != s->size[i]) return bad(c, "output shape does not match size");
    }
    s->kind = S_SLICE;
    s->rank = t->rank;
    memcpy(s->dims, t->dims, sizeof s->dims);
    s->in[0] = x;
    return ANET_OK;
}

static anet_status plan_concat(const ctx *c, step *s) {
    const anet_arg *vals = anet_op_arg(c->op, "values");
    const anet_type *o = vtype(c, s->out);
    int64_t a = 0;
    int ax, il = 0;
    if (!vals || vals->n < 1) return bad(c, "missing values");
    if (param_int(c, "axis", &a) != 0 || o->rank == 0 || norm_axis(a, o->rank, &ax) != 0)
        return bad(c, "axis is not a const int in range");
    if (param_bool(c, "interleave", &il) < 0 || il) return bad(c, "interleave = true is not supported");
    s->parts = malloc((size_t)vals->n * sizeof *s->parts);
    s->part_len = malloc((size_t)vals->n * sizeof *s->part_len);
    if (!s->parts || !s->part_len) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    s->nparts = vals->n;
    s->outer = 1;
    s->inner = 1;
    for (int i = 0; i < ax; i++) s->outer *= o->dims[i];
    for (int i = ax + 1; i < o->rank; i++) s->inner *= o->dims[i];
    int64_t total = 0;
    for (int k = 0; k < vals->n; k++) {
        int v = vals->vals[k];
        if (v < 0 || v >= c->g->nvalues) return bad(c, "bad value in values");
        const anet_type *t = vtype(c, v);
        if (t->rank != o->rank) return bad(c, "inputs differ in rank");
        for (int i = 0; i < o->rank; i++)
            if (i != ax && t->dims[i] != o->dims[i]) return bad(c, "inputs differ off the axis");
        s->parts[k] = v;
        s->part_len[k] = t->dims[ax] * s->inner;
        total += t->dims[ax];
    }
    if (total != o->dims[ax]) return bad(c, "output length on the axis is not the sum of inputs");
    s->kind = S_CONCAT;
    return ANET_OK;
}

static anet_status plan_matmul(const ctx *c, step *s) {
    int x = need(c, "x"), y = need(c, "y");
    if (x < 0 || y < 0) return ANET_E_UNSUPPORTED;
    const anet_type *tx = vtype(c, x), *ty = vtype(c, y), *o = vtype(c, s->out);
    if (param_bool(c, "transpose_x", &s->ta) < 0 || param_bool(c, "transpose_y", &s->tb) < 0)
        return bad(c, "transpose_x/transpose_y are not const bools");
    if (tx->rank < 2 || ty->rank < 2 || o->rank < 2)
        return bad(c, "operands of rank < 2 are not supported by vane");
    int64_t xr = tx->dims[tx->rank - 2], xc = tx->dims[tx->rank - 1];
    int64_t yr = ty->dims[ty->rank - 2], yc = ty->dims[ty->rank - 1];
    s->M = s->ta ? xc : xr;
    s->K = s->ta ? xr : xc;
    s->N = s->tb ? yr : yc;
    int64_t ky = s->tb ? yc : yr;
    if (ky != s->K || o->dims[o->rank - 2] != s->M || o->dims[o->rank - 1] != s->N)
        return bad(c, "inner dimensions or output shape do not match");
    if (s->M > INT_MAX || s->N > INT_MAX || s->K > INT_MAX) return bad(c, "dimension too large");
    /* Batch axes: broadcast plan over the leading dims, in units of whole matrices. */
    int br = o->rank - 2;
    int64_t bx[ANET_MAX_RANK], by[ANET_MAX_RANK];
    int rx = tx->rank - 2, ry = ty->rank - 2;
    if (rx > br || ry > br) return bad(c, "batch dims do not broadcast");
    int64_t sx = 1, sy = 1;
    for (int i = br - 1; i >= 0; i--) {
        int jx = i - (br - rx), jy = i - (br - ry);
        int64_t dx = jx >= 0 ? tx->dims[jx] : 1, dy = jy >= 0 ? ty->dims[jy] : 1, d = o->dims[i];
        if ((dx != d && dx != 1) || (dy != d && dy != 1)) return bad(c, "batch dims do not broadcast");
        bx[i] = dx == 1 ? 0 : sx;
        by[i] = dy == 1 ? 0 : sy;
        sx *= dx;
        sy *= dy;
    }
    s->nb = 1;
    for (int i = 0; i < br; i++) s->nb *= o->dims[i];
    s->aoff = malloc((size_t)s->nb * sizeof *s->aoff);
    s->boff = malloc((size_t)s->nb * sizeof *s->boff);
    if (!s->aoff || !s->boff) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    int64_t idx[ANET_MAX_RANK] = {0}, ax = 0, ay = 0;
    for (int64_t b = 0; b < s->nb; b++) {
        s->aoff[b] = ax * s->M * s->K;
        s->boff[b] = ay * s->K * s->N;
        for (int i = br - 1; i >= 0; i--) {
            idx[i]++;
            ax += bx[i];
            ay += by[i];
            if (idx[i] < o->dims[i]) break;
            ax -= bx[i] * o->dims[i];
            ay -= by[i] * o->dims[i];
            idx[i] = 0;
        }
    }
    s->kind = S_MATMUL;
    s->in[0] = x;
    s->in[1] = y;
    return ANET_OK;
}

static anet_status plan_linear(const ctx *c, step *s) {
    int x = need(c, "x"), w = need(c, "weight");
    if (x < 0 || w < 0) return ANET_E_UNSUPPORTED;
    const anet_type *tx = vtype(c, x), *tw = vtype(c, w), *o = vtype(c, s->out);
    if (tx->rank < 1 || tw->rank != 2) return bad(c, "x must have rank >= 1 and weight rank 2");
    s->K = tx->dims[tx->rank - 1];
    s->N = tw->dims[0];
    if (tw->dims[1] != s->K) return bad(c, "weight does not match x's last axis");
    s->M = anet_type_elements(tx) / s->K;
    if (o->rank != tx->rank || o->dims[o->rank - 1] != s->N || s->ny != s->M * s->N)
        return bad(c, "output shape does not match");
    if (s->M > INT_MAX || s->N > INT_MAX || s->K > INT_MAX) return bad(c, "dimension too large");
    int b = anet_op_arg_value(c->op, "bias");
    if (b >= 0) {
        if (anet_type_elements(vtype(c, b)) != s->N) return bad(c, "bias length differs from weight rows");
        s->has_bias = 1;
        s->bias = b;
    }
    s->kind = S_LINEAR;
    s->in[0] = x;
    s->in[1] = w;
    return ANET_OK;
}

/* Window geometry of conv / pool from the MIL parameters; kdims are the kernel's spatial dims. */
static anet_status plan_window(const ctx *c, step *s, const anet_type *tx, const int64_t *kdims,
                               int is_conv) {
    const anet_type *o = vtype(c, s->out);
    int sp = tx->rank - 2; /* spatial axes */
    if (sp < 1 || sp > 2) return bad(c, "only 1-D and 2-D windows are supported by vane");
    int64_t st[2] = {1, 1}, dl[2] = {1, 1}, pad[4] = {0, 0, 0, 0}, in[2], k[2], out[2];
    int n = 0, r;
    r = param_ints(c, "strides", st, 2, &n);
    if (r < 0 || (r == 0 && n != sp)) return bad(c, "strides must be a const list per spatial axis");
    if (is_conv) {
        r = param_ints(c, "dilations", dl, 2, &n);
        if (r < 0 || (r == 0 && n != sp)) return bad(c, "dilations must be a const list per spatial axis");
    }
    const char *pt = param_string(c, "pad_type");
    if (!pt) pt = is_conv ? "valid" : NULL;
    if (!pt) return bad(c, "missing pad_type");
    int ceil_mode = 0;
    if (!is_conv && param_bool(c, "ceil_mode", &ceil_mode) < 0) return bad(c, "ceil_mode is not a const bool");
    for (int i = 0; i < sp; i++) {
        in[i] = tx->dims[2 + i];
        k[i] = kdims[i];
        if (st[i] < 1 || dl[i] < 1 || k[i] < 1) return bad(c, "strides, dilations and kernel must be >= 1");
    }
    if (strcmp(pt, "custom") == 0) {
        r = param_ints(c, "pad", pad, 4, &n);
        if (r != 0 || n != 2 * sp) return bad(c, "custom padding needs pad with 2 entries per spatial axis");
        for (int i = 0; i < 2 * sp; i++)
            if (pad[i] < 0) return bad(c, "negative padding");
    } else if (strcmp(pt, "same") == 0 || strcmp(pt, "same_lower") == 0) {
        for (int i = 0; i < sp; i++) {
            int64_t oo = (in[i] + st[i] - 1) / st[i];
            int64_t tot = (oo - 1) * st[i] + dl[i] * (k[i] - 1) + 1 - in[i];
            if (tot < 0) tot = 0;
            int64_t lo = pt[4] == '_' ? tot - tot / 2 : tot / 2;
            pad[2 * i] = lo;
            pad[2 * i + 1] = tot - lo;
        }
    } else if (strcmp(pt, "valid") != 0) {
        return bad(c, "pad_type must be valid, same, same_lower or custom");
    }
    for (int i = 0; i < sp; i++) {
        int64_t span = in[i] + pad[2 * i] + pad[2 * i + 1] - dl[i] * (k[i] - 1) - 1;
        if (span < 0) return bad(c, "window larger than the padded input");
        out[i] = (ceil_mode ? (span + st[i] - 1) / st[i] : span / st[i]) + 1;
        if (o->rank != tx->rank || o->dims[2 + i] != out[i]) {
            char m[128];
            snprintf(m, sizeof m, "declared output size %lld on spatial axis %d, vane computes %lld",
                     (long long)o->dims[2 + i], i, (long long)out[i]);
            return bad(c, m);
        }
    }
    anet_vk_win *w = &s->win;
    if (sp == 1) {
        w->h = 1; w->kh = 1; w->sh = 1; w->dh = 1; w->pt = 0; w->ho = 1;
        w->w = in[0]; w->kw = k[0]; w->sw = st[0]; w->dw = dl[0]; w->pl = pad[0]; w->wo = out[0];
    } else {
        w->h = in[0]; w->kh = k[0]; w->sh = st[0]; w->dh = dl[0]; w->pt = pad[0]; w->ho = out[0];
        w->w = in[1]; w->kw = k[1]; w->sw = st[1]; w->dw = dl[1]; w->pl = pad[2]; w->wo = out[1];
    }
    return ANET_OK;
}

/* A const kernel with at most one nonzero in 8 runs tap by tap (anet_vk_conv_taps): the
 * one-hot patch extraction of the program forms and its transpose are such kernels, and
 * im2col + sgemm would spend kh*kw times the work on their zeros. */
static anet_status plan_conv_taps(const ctx *c, step *s, int wv) {
    const anet_const *k = anet_graph_const_of(c->g, wv);
    if (!k || !k->data || (k->type.dtype != ANET_DT_FP16 && k->type.dtype != ANET_DT_FP32)) return ANET_OK;
    const anet_vk_win *w = &s->win;
    int64_t per = w->c * w->kh * w->kw, n = s->cout * per, nnz = 0;
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    for (int64_t e = 0; e < n; e++) {
        v[e] = k->type.dtype == ANET_DT_FP16 ? anet_f16_to_f32(((const anet_f16 *)k->data)[e]) : ((const float *)k->data)[e];
        nnz += v[e] != 0.0f;
    }
    if (nnz * 8 > n) {
        free(v);
        return ANET_OK;
    }
    s->taps = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof *s->taps);
    s->tap_start = malloc((size_t)(s->cout + 1) * sizeof *s->tap_start);
    if (!s->taps || !s->tap_start) {
        free(v);
        return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    }
    int64_t t = 0;
    for (int64_t o = 0; o < s->cout; o++) {
        s->tap_start[o] = t;
        for (int64_t e = 0; e < per; e++) {
            float x = v[o * per + e];
            if (x == 0.0f) continue;
            anet_vk_tap tp = {(int32_t)(e / (w->kh * w->kw)), (int32_t)(e / w->kw % w->kh), (int32_t)(e % w->kw), x};
            s->taps[t++] = tp;
        }
    }
    s->tap_start[s->cout] = t;
    free(v);
    return ANET_OK;
}

static anet_status plan_conv(const ctx *c, step *s) {
    int x = need(c, "x"), wv = need(c, "weight");
    if (x < 0 || wv < 0) return ANET_E_UNSUPPORTED;
    const anet_type *tx = vtype(c, x), *tw = vtype(c, wv), *o = vtype(c, s->out);
    if (tx->rank != 3 && tx->rank != 4) return bad(c, "x must be [N, C, W] or [N, C, H, W]");
    if (tw->rank != tx->rank) return bad(c, "weight rank differs from x");
    int64_t groups = 1;
    if (param_int(c, "groups", &groups) < 0 || groups < 1) return bad(c, "groups must be a const int >= 1");
    s->batch = tx->dims[0];
    s->cin = tx->dims[1];
    s->cout = tw->dims[0];
    s->groups = groups;
    if (s->cin % groups || s->cout % groups || tw->dims[1] != s->cin / groups)
        return bad(c, "channels do not match weight and groups");
    if (o->dims[0] != s->batch || o->dims[1] != s->cout) return bad(c, "output batch/channels do not match");
    anet_status st = plan_window(c, s, tx, tw->dims + 2, 1);
    if (st != ANET_OK) return st;
    anet_vk_win *w = &s->win;
    w->c = s->cin / groups;
    s->K = w->c * w->kh * w->kw;
    s->N = w->ho * w->wo;
    s->M = s->cout / groups;
    if (s->M > INT_MAX || s->N > INT_MAX || s->K > INT_MAX) return bad(c, "dimension too large");
    s->direct = w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && w->pt == 0 && w->pl == 0 &&
                w->ho == w->h && w->wo == w->w;
    if ((st = plan_conv_taps(c, s, wv)) != ANET_OK) return st;
    int unit = w->sh == 1 && w->sw == 1 && w->dh == 1 && w->dw == 1;
    if (!s->direct && !s->taps && unit && w->wo < 16 && w->kw >= 2 * w->wo) {
        /* A wide kernel over a narrow output (weight gradients: the kernel is the output
         * gradient, the output the weight's taps): direct sums, no patch matrix. */
        s->wide = 1;
        s->scratch_n = s->cout * w->c * w->kh * anet_vk_wide_kwp(w) + anet_vk_conv_wide_scratch(w);
        if (s->scratch_n > ANET_MAX_ELEMENTS) return bad(c, "conv buffer too large");
    } else if (!s->direct && !s->taps && w->sh == 1 && w->sw == 1 && s->M * w->h * w->w < w->c * w->ho * w->wo &&
               w->h * w->w <= w->ho * w->wo) {
        /* Few output channels from many input channels across a wide padding (input-gradient
         * convs): one GEMM of the regrouped weight with the input as it is, then each tap's
         * plane added at its shift, moves M*kh*kw*h*w values where im2col moves c*kh*kw*ho*wo,
         * and multiplies no more (the output is at least as large as the input; a weight
         * gradient at batch 128 moved less but multiplied 8x more). */
        s->col2im = 1;
        if (s->M * w->kh * w->kw > INT_MAX || w->h * w->w > INT_MAX) return bad(c, "dimension too large");
        s->scratch_n = s->groups * s->M * s->K + s->M * w->kh * w->kw * w->h * w->w;
        if (s->scratch_n > ANET_MAX_ELEMENTS) return bad(c, "conv buffer too large");
    } else if (!s->direct && !s->taps) {
        s->scratch_n = s->K * s->N;
        if (s->scratch_n > ANET_MAX_ELEMENTS) return bad(c, "im2col buffer too large");
        /* Rows of fewer than 16 outputs make im2col's runs short; kernel rows are the long runs
         * then (weight gradients), and the GEMM reads that layout transposed. */
        s->im2col_t = w->wo < 16 && w->kw >= 2 * w->wo;
    }
    int b = anet_op_arg_value(c->op, "bias");
    if (b >= 0) {
        if (anet_type_elements(vtype(c, b)) != s->cout) return bad(c, "bias length differs from output channels");
        s->has_bias = 1;
        s->bias = b;
    }
    s->kind = S_CONV;
    s->in[0] = x;
    s->in[1] = wv;
    return ANET_OK;
}

static anet_status plan_pool(const ctx *c, step *s, int is_max) {
    int x = need(c, "x");
    if (x < 0) return ANET_E_UNSUPPORTED;
    const anet_type *tx = vtype(c, x);
    int64_t k[2];
    int n = 0;
    if (tx->rank != 3 && tx->rank != 4) return bad(c, "x must be [N, C, W] or [N, C, H, W]");
    const anet_type *o = vtype(c, s->out);
    if (o->rank != tx->rank || o->dims[0] != tx->dims[0] || o->dims[1] != tx->dims[1])
        return bad(c, "output batch/channels do not match x");
    if (param_ints(c, "kernel_sizes", k, 2, &n) != 0 || n != tx->rank - 2)
        return bad(c, "kernel_sizes must be a const list per spatial axis");
    anet_status st = plan_window(c, s, tx, k, 0);
    if (st != ANET_OK) return st;
    s->exclude = 0;
    if (!is_max && param_bool(c, "exclude_padding_from_average", &s->exclude) < 0)
        return bad(c, "exclude_padding_from_average is not a const bool");
    s->win.c = 1;
    s->is_max = is_max;
    s->batch = tx->dims[0] * tx->dims[1]; /* planes */
    s->kind = S_POOL;
    s->in[0] = x;
    return ANET_OK;
}

anet_status anet_vane_plan_op(const anet_graph *g, int op_id, step *s, int *alias) {
    const ctx cc = {g, &g->ops[op_id], op_id}, *c = &cc;
    const anet_op *op = c->op;
    if (op->noutputs != 1) return bad(c, "ops with several outputs are not supported by vane");
    s->out = op->outputs[0];
    s->name = op->name;
    s->in[0] = s->in[1] = s->in[2] = -1;
    s->slot = -1;
    const anet_type *o = vtype(c, s->out);
    if (!anet_vane_data_dtype(o->dtype)) return bad(c, "output dtype not supported");
    s->ny = anet_type_elements(o);
    if (s->ny < 0) return bad(c, "output shape invalid");
    switch (op->kind) {
    case ANET_OP_ADD: return plan_binary(c, s, ANET_VK_ADD);
    case ANET_OP_SUB: return plan_binary(c, s, ANET_VK_SUB);
    case ANET_OP_MUL: return plan_binary(c, s, ANET_VK_MUL);
    case ANET_OP_REAL_DIV: return plan_binary(c, s, ANET_VK_DIV);
    case ANET_OP_MAXIMUM: return plan_binary(c, s, ANET_VK_MAX);
    case ANET_OP_MINIMUM: return plan_binary(c, s, ANET_VK_MIN);
    case ANET_OP_POW: return plan_binary(c, s, ANET_VK_POW);
    case ANET_OP_GREATER: return plan_binary(c, s, ANET_VK_GT);
    case ANET_OP_GREATER_EQUAL: return plan_binary(c, s, ANET_VK_GE);
    case ANET_OP_LESS: return plan_binary(c, s, ANET_VK_LT);
    case ANET_OP_EQUAL: return plan_binary(c, s, ANET_VK_EQ);
    case ANET_OP_SELECT: return plan_select(c, s);
    case ANET_OP_RELU: return plan_unary(c, s, ANET_VK_RELU, 0);
    case ANET_OP_SIGMOID: return plan_unary(c, s, ANET_VK_SIGMOID, 0);
    case ANET_OP_TANH: return plan_unary(c, s, ANET_VK_TANH, 0);
    case ANET_OP_EXP: return plan_unary(c, s, ANET_VK_EXP, 0);
    case ANET_OP_LOG: return plan_unary(c, s, ANET_VK_LOG, 1e-45); /* MIL's default epsilon */
    case ANET_OP_SQRT: return plan_unary(c, s, ANET_VK_SQRT, 0);
    case ANET_OP_RSQRT: return plan_unary(c, s, ANET_VK_RSQRT, 1e-12); /* MIL's default */
    case ANET_OP_ABS: return plan_unary(c, s, ANET_VK_ABS, 0);
    case ANET_OP_SQUARE: return plan_unary(c, s, ANET_VK_SQUARE, 0);
    case ANET_OP_GELU: {
        const char *mode = param_string(c, "mode");
        if (!mode || strcmp(mode, "EXACT") == 0) return plan_unary(c, s, ANET_VK_GELU_EXACT, 0);
        if (strcmp(mode, "TANH_APPROXIMATION") == 0) return plan_unary(c, s, ANET_VK_GELU_TANH, 0);
        return bad(c, "gelu mode not supported");
    }
    case ANET_OP_CAST: {
        int x = need(c, "x");
        if (x < 0) return ANET_E_UNSUPPORTED;
        anet_dtype f = vtype(c, x)->dtype;
        if ((f != ANET_DT_FP16 && f != ANET_DT_FP32) || (o->dtype != ANET_DT_FP16 && o->dtype != ANET_DT_FP32))
            return bad(c, "vane casts only between fp16 and fp32");
        if (anet_type_elements(vtype(c, x)) != s->ny) return bad(c, "output size differs from input");
        s->kind = S_COPY;
        s->in[0] = x;
        return ANET_OK;
    }
    case ANET_OP_SOFTMAX: return plan_softmax(c, s);
    case ANET_OP_REDUCE_SUM: return plan_reduce(c, s, ANET_VK_RSUM);
    case ANET_OP_REDUCE_MEAN: return plan_reduce(c, s, ANET_VK_RMEAN);
    case ANET_OP_REDUCE_MAX: return plan_reduce(c, s, ANET_VK_RMAX);
    case ANET_OP_MATMUL: return plan_matmul(c, s);
    case ANET_OP_LINEAR: return plan_linear(c, s);
    case ANET_OP_CONV: return plan_conv(c, s);
    case ANET_OP_MAX_POOL: return plan_pool(c, s, 1);
    case ANET_OP_AVG_POOL: return plan_pool(c, s, 0);
    case ANET_OP_TRANSPOSE: return plan_transpose(c, s);
    case ANET_OP_SLICE_BY_SIZE: return plan_slice(c, s);
    case ANET_OP_CONCAT: return plan_concat(c, s);
    case ANET_OP_RESHAPE:
    case ANET_OP_IDENTITY: {
        int x = need(c, "x");
        if (x < 0) return ANET_E_UNSUPPORTED;
        if (anet_type_elements(vtype(c, x)) != s->ny) return bad(c, "element count changes");
        if (vtype(c, x)->dtype != o->dtype) return bad(c, "dtype changes");
        /* Same packed data under another shape: share the buffer, no step. */
        alias[s->out] = alias[x] >= 0 ? alias[x] : x;
        s->kind = S_COPY;
        s->in[0] = -1; /* marks "no step" */
        return ANET_OK;
    }
    default: return bad(c, "op not implemented by vane");
    }
}

