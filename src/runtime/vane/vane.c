/* vane: compile = parse MIL + check the chip profile + build a plan (one fp32 buffer per value,
 * allocated once; consts converted once); eval = convert inputs, run the steps, convert
 * outputs. Every value holds fp16-representable numbers in the default numerics: each op
 * computes in fp32 and its output is rounded to binary16 once (docs/numerics.md). */
#include "runtime/vane/vane.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "mil/mil.h"
#include "plan/constraints.h"
#include "runtime/vane/kernels.h"
#include "runtime/vane/plan.h"

typedef struct vane_state {
    anet_backend_config cfg;
    anet_backend_stats stats;
} vane_state;

/* ---------------------------------------------------------------- helpers */

static void program_free(anet_program *p) {
    if (!p) return;
    for (int i = 0; i < p->nsteps; i++) {
        free(p->steps[i].parts);
        free(p->steps[i].part_len);
        free(p->steps[i].aoff);
        free(p->steps[i].boff);
    }
    free(p->steps);
    free(p->units);
    free(p->tile);
    free(p->buf);
    free(p->arena);
    free(p->in);
    free(p->out);
    free(p->in_direct);
    free(p->out_direct);
    free(p->cur_in);
    free(p->cur_out);
    free(p);
}

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

static int data_dtype(anet_dtype t) {
    return t == ANET_DT_FP16 || t == ANET_DT_FP32 || t == ANET_DT_INT32 || t == ANET_DT_BOOL ||
           t == ANET_DT_INT8 || t == ANET_DT_UINT8;
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
    if (!s->direct) {
        s->scratch_n = s->K * s->N;
        if (s->scratch_n > ANET_MAX_ELEMENTS) return bad(c, "im2col buffer too large");
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

/* Plans one non-const op; alias[] records reshape/identity outputs sharing their input. */
static anet_status plan_op(const ctx *c, step *s, int *alias) {
    const anet_op *op = c->op;
    if (op->noutputs != 1) return bad(c, "ops with several outputs are not supported by vane");
    s->out = op->outputs[0];
    s->name = op->name;
    s->in[0] = s->in[1] = s->in[2] = -1;
    s->slot = -1;
    const anet_type *o = vtype(c, s->out);
    if (!data_dtype(o->dtype)) return bad(c, "output dtype not supported");
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

/* Converts a const payload into its fp32 buffer. */
static void load_const(const anet_const *k, float *dst, int64_t n) {
    switch (k->type.dtype) {
    case ANET_DT_FP16: anet_f16_to_f32_n((const anet_f16 *)k->data, dst, (size_t)n); break;
    case ANET_DT_FP32: memcpy(dst, k->data, (size_t)n * sizeof(float)); break;
    case ANET_DT_INT32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)k->data)[i];
        break;
    case ANET_DT_INT8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)k->data)[i];
        break;
    case ANET_DT_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)k->data)[i] ? 1.0f : 0.0f;
        break;
    case ANET_DT_UINT8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)k->data)[i];
        break;
    default: memset(dst, 0, (size_t)n * sizeof(float)); break;
    }
}

static anet_status io_desc_fill(const anet_graph *g, int v, io_desc *d, const char *what) {
    const anet_value *val = &g->values[v];
    if (val->type.dtype != ANET_DT_FP16 && val->type.dtype != ANET_DT_FP32)
        return anet_fail(ANET_E_UNSUPPORTED, "vane: %s '%s' has dtype %s; vane's I/O is fp16 or fp32",
                         what, val->name, anet_dtype_name(val->type.dtype));
    d->value = v;
    d->dtype = val->type.dtype;
    d->elems = anet_type_elements(&val->type);
    if (d->elems < 0) return anet_fail(ANET_E_INVALID, "vane: %s '%s' has an invalid shape", what, val->name);
    d->nbytes = (size_t)d->elems * anet_dtype_size(d->dtype);
    snprintf(d->name, sizeof d->name, "%s", val->name ? val->name : "?");
    anet_type_str(&val->type, d->type, sizeof d->type);
    return ANET_OK;
}

static anet_status reject(const anet_graph *g, anet_chip chip) {
    anet_verdict v[4];
    int n = anet_plan_check_graph(g, chip, v, 4);
    if (n < 0) return ANET_E_INTERNAL;
    if (n == 0) return ANET_OK;
    return anet_fail(ANET_E_BACKEND,
                     "vane: the program does not compile for chip profile %s: [%s] %s: %s (%s; source: %s)%s",
                     anet_chip_name(chip), v[0].rule->id, v[0].rule->title, v[0].detail,
                     v[0].rule->reason, v[0].rule->source,
                     n > 1 ? " (and more violations)" : "");
}

anet_status anet_vane_compile_graph(void *state, const anet_graph *g, anet_program **out) {
    return anet_vane_compile_graph_opts(state, g, 0, out);
}

/* A fused step's operand or output may live in a tile slot instead of a buffer. */
static int in_slot(const step *s, int k) { return s->src[k] == SRC_SLOT || s->src[k] == SRC_IN16; }

anet_status anet_vane_compile_graph_opts(void *state, const anet_graph *g, unsigned flags, anet_program **out) {
    vane_state *vs = state;
    if (!vs || !g || !out) return anet_fail(ANET_E_INVALID, "vane compile: missing argument");
    *out = NULL;
    anet_status st = reject(g, vs->cfg.chip);
    if (st != ANET_OK) return st;

    anet_program *p = calloc(1, sizeof *p);
    int *alias = malloc((size_t)(g->nvalues > 0 ? g->nvalues : 1) * sizeof *alias);
    char *need = NULL;
    if (!p || !alias) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto fail; }
    p->fp16 = vs->cfg.numerics == ANET_NUMERICS_FP16;
    p->k = anet_vk_best();
    p->nvalues = g->nvalues;
    p->steps = calloc((size_t)(g->nops > 0 ? g->nops : 1), sizeof *p->steps);
    p->buf = calloc((size_t)(g->nvalues > 0 ? g->nvalues : 1), sizeof *p->buf);
    p->in = calloc((size_t)(g->ninputs > 0 ? g->ninputs : 1), sizeof *p->in);
    p->out = calloc((size_t)(g->noutputs > 0 ? g->noutputs : 1), sizeof *p->out);
    p->in_direct = calloc((size_t)(g->ninputs > 0 ? g->ninputs : 1), 1);
    p->out_direct = calloc((size_t)(g->noutputs > 0 ? g->noutputs : 1), 1);
    p->cur_in = calloc((size_t)(g->ninputs > 0 ? g->ninputs : 1), sizeof *p->cur_in);
    p->cur_out = calloc((size_t)(g->noutputs > 0 ? g->noutputs : 1), sizeof *p->cur_out);
    if (!p->steps || !p->buf || !p->in || !p->out || !p->in_direct || !p->out_direct || !p->cur_in || !p->cur_out) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto fail; }
    for (int i = 0; i < g->nvalues; i++) alias[i] = -1;

    p->nin = g->ninputs;
    for (int i = 0; i < g->ninputs; i++)
        if ((st = io_desc_fill(g, g->inputs[i], &p->in[i], "input")) != ANET_OK) goto fail;
    p->nout = g->noutputs;
    for (int i = 0; i < g->noutputs; i++)
        if ((st = io_desc_fill(g, g->outputs[i], &p->out[i], "output")) != ANET_OK) goto fail;

    /* Plan the steps. */
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        if (op->kind == ANET_OP_CONST) continue;
        ctx c = {g, op, o};
        step *s = &p->steps[p->nsteps];
        memset(s, 0, sizeof *s);
        st = plan_op(&c, s, alias);
        if (st != ANET_OK) {
            free(s->parts); free(s->part_len); free(s->aoff); free(s->boff);
            goto fail;
        }
        if (s->kind == S_COPY && s->in[0] < 0) continue; /* alias: no step */
        s->round = p->fp16 && vtype(&c, s->out)->dtype == ANET_DT_FP16;
        p->nsteps++;
    }

    /* Execution order, fused chains, then one arena laid out by liveness. */
    need = malloc((size_t)(g->nvalues > 0 ? g->nvalues : 1));
    if (!need) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto fail; }
    if ((st = anet_vane_schedule(p, g, alias, flags, need)) != ANET_OK) goto fail;
    if ((st = anet_vane_layout(p, g, alias, need, flags)) != ANET_OK) goto fail;
    /* Consts: converted once, now. */
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        if (op->kind != ANET_OP_CONST || !op->val || op->noutputs < 1) continue;
        int v = op->outputs[0];
        if (!p->buf[v]) continue;
        int64_t n = anet_type_elements(&op->val->type);
        if (n != anet_type_elements(&g->values[v].type) || op->val->nbytes < (size_t)n * anet_dtype_size(op->val->type.dtype)) {
            st = anet_fail(ANET_E_FORMAT, "vane: const '%s' payload does not match its type", g->values[v].name);
            goto fail;
        }
        load_const(op->val, p->buf[v], n);
    }
    /* Every step input must have a buffer (a value of a dtype vane cannot hold would not). */
    for (int i = 0; i < p->nsteps; i++) {
        step *s = &p->steps[i];
        for (int k = 0; k < 3; k++)
            if (s->in[k] >= 0 && !p->buf[s->in[k]] && !in_slot(s, k)) {
                st = anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' reads a value of unsupported dtype", s->name ? s->name : "?");
                goto fail;
            }
        if ((!p->buf[s->out] && s->slot < 0) || (s->has_bias && !p->buf[s->bias])) {
            st = anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' uses a value of unsupported dtype", s->name ? s->name : "?");
            goto fail;
        }
        for (int k = 0; k < s->nparts; k++)
            if (!p->buf[s->parts[k]]) {
                st = anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' reads a value of unsupported dtype", s->name ? s->name : "?");
                goto fail;
            }
    }
    for (int i = 0; i < p->nout; i++)
        if (!p->buf[p->out[i].value] && !p->out_direct[i]) {
            st = anet_fail(ANET_E_UNSUPPORTED, "vane: output '%s' has no buffer", p->out[i].name);
            goto fail;
        }
    /* Step names point into the graph, which the caller may free: drop them. */
    for (int i = 0; i < p->nsteps; i++) p->steps[i].name = NULL;
    free(alias);
    free(need);
    vs->stats.compiles++;
    *out = p;
    return ANET_OK;
fail:
    free(alias);
    free(need);
    program_free(p);
    return st;
}

/* ---------------------------------------------------------------- execution */

static void run_step(const anet_program *p, const step *s) {
    float *y = p->buf[s->out];
    float *const *b = p->buf;
    switch (s->kind) {
    case S_BINARY: p->k->binary((anet_vk_binop)s->op, &s->bc, b[s->in[0]], b[s->in[1]], y); break;
    case S_SELECT: p->k->select(&s->bc, b[s->in[0]], b[s->in[1]], b[s->in[2]], y); break;
    case S_UNARY: p->k->unary((anet_vk_unop)s->op, (size_t)s->ny, b[s->in[0]], y, s->p); break;
    case S_COPY: memcpy(y, b[s->in[0]], (size_t)s->ny * sizeof(float)); break;
    case S_SOFTMAX: anet_vk_softmax(s->outer, s->n, s->inner, b[s->in[0]], y); break;
    case S_REDUCE: p->k->reduce((anet_vk_redop)s->op, s->rank, s->dims, s->mask, b[s->in[0]], y); break;
    case S_TRANSPOSE: anet_vk_transpose(s->rank, s->dims, s->perm, b[s->in[0]], y); break;
    case S_SLICE: anet_vk_slice(s->rank, s->dims, s->begin, s->size, b[s->in[0]], y); break;
    case S_CONCAT: {
        float *dst = y;
        for (int64_t o = 0; o < s->outer; o++)
            for (int k = 0; k < s->nparts; k++) {
                memcpy(dst, b[s->parts[k]] + o * s->part_len[k], (size_t)s->part_len[k] * sizeof(float));
                dst += s->part_len[k];
            }
        break;
    }
    case S_MATMUL: {
        const float *x = b[s->in[0]], *w = b[s->in[1]];
        int lda = (int)(s->ta ? s->M : s->K), ldb = (int)(s->tb ? s->K : s->N);
        for (int64_t i = 0; i < s->nb; i++)
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                        (int)s->M, (int)s->N, (int)s->K, 1.0f, x + s->aoff[i], lda, w + s->boff[i], ldb,
                        0.0f, y + i * s->M * s->N, (int)s->N);
        break;
    }
    case S_LINEAR: {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f,
                    b[s->in[0]], (int)s->K, b[s->in[1]], (int)s->K, 0.0f, y, (int)s->N);
        if (s->has_bias) {
            const float *bias = b[s->bias];
            for (int64_t r = 0; r < s->M; r++) {
                float *yr = y + r * s->N;
                for (int64_t j = 0; j < s->N; j++) yr[j] += bias[j];
            }
        }
        break;
    }
    case S_CONV: {
        const anet_vk_win *w = &s->win;
        const float *x = b[s->in[0]], *wt = b[s->in[1]];
        int64_t in_plane = w->h * w->w, out_plane = w->ho * w->wo;
        for (int64_t n = 0; n < s->batch; n++)
            for (int64_t g = 0; g < s->groups; g++) {
                const float *xg = x + (n * s->cin + g * w->c) * in_plane;
                float *yg = y + (n * s->cout + g * s->M) * out_plane;
                const float *col = xg;
                if (!s->direct) {
                    anet_vk_im2col(w, xg, s->scratch);
                    col = s->scratch;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->M, (int)s->N, (int)s->K,
                            1.0f, wt + g * s->M * s->K, (int)s->K, col, (int)s->N, 0.0f, yg, (int)s->N);
            }
        if (s->has_bias) {
            const float *bias = b[s->bias];
            for (int64_t n = 0; n < s->batch; n++)
                for (int64_t co = 0; co < s->cout; co++) {
                    float *yc = y + (n * s->cout + co) * out_plane;
                    for (int64_t i = 0; i < out_plane; i++) yc[i] += bias[co];
                }
        }
        break;
    }
    case S_POOL: anet_vk_pool(s->is_max, s->exclude, s->batch, &s->win, b[s->in[0]], y); break;
    }
    if (s->round) p->k->round((size_t)s->ny, y);
}

static anet_status vane_eval(void *state, anet_program *p, const anet_io *in, int nin, anet_io *out,
                             int nout) {
    vane_state *vs = state;
    if (!vs || !p) return anet_fail(ANET_E_INVALID, "vane eval: missing program");
    if (nin != p->nin || (nin > 0 && !in))
        return anet_fail(ANET_E_INVALID, "vane eval: the program takes %d inputs, got %d", p->nin, nin);
    if (nout != p->nout || (nout > 0 && !out))
        return anet_fail(ANET_E_INVALID, "vane eval: the program has %d outputs, got %d", p->nout, nout);
    for (int i = 0; i < nin; i++) {
        const io_desc *d = &p->in[i];
        if (!in[i].data || in[i].nbytes != d->nbytes)
            return anet_fail(ANET_E_MISMATCH, "vane eval: input %d '%s' (%s) needs %zu bytes, got %zu%s", i,
                             d->name, d->type, d->nbytes, in[i].nbytes, in[i].data ? "" : " (NULL data)");
    }
    for (int i = 0; i < nout; i++) {
        const io_desc *d = &p->out[i];
        if (!out[i].data || out[i].nbytes != d->nbytes)
            return anet_fail(ANET_E_MISMATCH, "vane eval: output %d '%s' (%s) needs %zu bytes, got %zu%s", i,
                             d->name, d->type, d->nbytes, out[i].nbytes, out[i].data ? "" : " (NULL data)");
    }
    uint64_t bin = 0, bout = 0;
    for (int i = 0; i < nin; i++) {
        const io_desc *d = &p->in[i];
        float *dst = p->buf[d->value];
        p->cur_in[i] = in[i].data;
        bin += d->nbytes;
        if (p->in_direct[i] || !dst) continue; /* read by fused chains from in[i] (or by no one) */
        if (d->dtype == ANET_DT_FP16) anet_f16_to_f32_n((const anet_f16 *)in[i].data, dst, (size_t)d->elems);
        else memcpy(dst, in[i].data, d->nbytes);
    }
    for (int i = 0; i < nout; i++) p->cur_out[i] = out[i].data;
    for (int u = 0; u < p->nunits; u++) {
        const unit *un = &p->units[u];
        if (un->fused) anet_vane_run_fused(p, un);
        else run_step(p, &p->steps[un->first]);
    }
    for (int i = 0; i < nout; i++) {
        const io_desc *d = &p->out[i];
        const float *src = p->buf[d->value];
        bout += d->nbytes;
        if (p->out_direct[i]) continue; /* written by its fused chain */
        if (d->dtype == ANET_DT_FP16) anet_f32_to_f16_n(src, (anet_f16 *)out[i].data, (size_t)d->elems);
        else memcpy(out[i].data, src, d->nbytes);
    }
    vs->stats.dispatches++;
    vs->stats.bytes_in += bin;
    vs->stats.bytes_out += bout;
    return ANET_OK;
}

/* ---------------------------------------------------------------- backend ops */

static anet_status vane_probe(char *why, size_t why_len) {
    if (why && why_len) snprintf(why, why_len, "vane runs on every CPU");
    return ANET_OK;
}

static anet_status vane_create(const anet_backend_config *cfg, void **state) {
    if (!cfg || !state) return anet_fail(ANET_E_INVALID, "vane: missing config");
    vane_state *vs = calloc(1, sizeof *vs);
    if (!vs) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    vs->cfg = *cfg;
    *state = vs;
    return ANET_OK;
}

static void vane_destroy(void *state) { free(state); }

static anet_status vane_compile(void *state, const char *mil, size_t mil_len, const uint8_t *weights,
                                size_t weights_len, anet_program **out) {
    if (!state || !mil || !out) return anet_fail(ANET_E_INVALID, "vane compile: missing argument");
    anet_graph *g = NULL;
    anet_status st = anet_mil_parse(mil, mil_len, weights, weights_len, &g);
    if (st != ANET_OK) return anet_fail_ctx(st, "vane compile");
    st = anet_vane_compile_graph(state, g, out);
    anet_graph_free(g);
    return st;
}

static void vane_release(void *state, anet_program *p) {
    (void)state;
    program_free(p);
}

static void vane_stats(void *state, anet_backend_stats *out) {
    const vane_state *vs = state;
    if (!out) return;
    if (vs) *out = vs->stats;
    else memset(out, 0, sizeof *out);
}

const anet_backend_ops anet_vane_ops = {
    "vane", vane_probe, vane_create, vane_destroy, vane_compile, vane_eval, vane_release, vane_stats,
};
