/* Test-only float64 reference interpreter of the graph IR: straightforward loops written from
 * the MIL op definitions, independent of vane, used as the oracle for autodiff's gradient
 * graphs (finite differences) and for the step programs before/alongside vane.
 * Static functions only: include from one test file each. */
#ifndef ANET_TESTS_REF_INTERP_H
#define ANET_TESTS_REF_INTERP_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "graph/ir.h"

typedef struct ri_val {
    anet_type t;
    int64_t n;
    double *d;
} ri_val;

static int64_t ri_count(const anet_type *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

/* Flat index in `in` of the element broadcast to out-coordinates co (right-aligned). */
static int64_t ri_bidx(const anet_type *in, const anet_type *out, const int64_t *co) {
    int64_t idx = 0;
    int off = out->rank - in->rank;
    for (int i = 0; i < in->rank; i++) {
        int64_t c = in->dims[i] == 1 ? 0 : co[i + off];
        idx = idx * in->dims[i] + c;
    }
    return idx;
}

static void ri_coords(const anet_type *t, int64_t flat, int64_t *co) {
    for (int i = t->rank - 1; i >= 0; i--) {
        co[i] = flat % t->dims[i];
        flat /= t->dims[i];
    }
}

static int64_t ri_flat(const anet_type *t, const int64_t *co) {
    int64_t idx = 0;
    for (int i = 0; i < t->rank; i++) idx = idx * t->dims[i] + co[i];
    return idx;
}

static int ri_const_ints(const anet_graph *g, const anet_op *op, const char *key, int64_t *out, int *n) {
    int v = anet_op_arg_value(op, key);
    *n = -1;
    if (v < 0) return 0;
    return anet_const_get_ints(anet_graph_const_of(g, v), out, ANET_MAX_RANK, n);
}
static int64_t ri_const_int(const anet_graph *g, const anet_op *op, const char *key, int64_t dflt) {
    int v = anet_op_arg_value(op, key);
    int64_t r = dflt;
    if (v >= 0) anet_const_get_int(anet_graph_const_of(g, v), &r);
    return r;
}
static int ri_const_bool(const anet_graph *g, const anet_op *op, const char *key, int dflt) {
    int v = anet_op_arg_value(op, key);
    int r = dflt;
    if (v >= 0) anet_const_get_bool(anet_graph_const_of(g, v), &r);
    return r;
}

static double ri_bin(anet_opkind k, double a, double b) {
    switch (k) {
    case ANET_OP_ADD: return a + b;
    case ANET_OP_SUB: return a - b;
    case ANET_OP_MUL: return a * b;
    case ANET_OP_REAL_DIV: return a / b;
    case ANET_OP_MAXIMUM: return a > b ? a : b;
    case ANET_OP_MINIMUM: return a < b ? a : b;
    case ANET_OP_POW: return pow(a, b);
    case ANET_OP_GREATER: return a > b;
    case ANET_OP_GREATER_EQUAL: return a >= b;
    case ANET_OP_LESS: return a < b;
    case ANET_OP_EQUAL: return a == b;
    default: return NAN;
    }
}

static double ri_un(anet_opkind k, double x, double eps) {
    switch (k) {
    case ANET_OP_RELU: return x > 0 ? x : 0;
    case ANET_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ANET_OP_TANH: return tanh(x);
    case ANET_OP_EXP: return exp(x);
    case ANET_OP_LOG: return log(x + eps);
    case ANET_OP_SQRT: return sqrt(x);
    case ANET_OP_RSQRT: return 1.0 / sqrt(x + eps);
    case ANET_OP_ABS: return fabs(x);
    case ANET_OP_SQUARE: return x * x;
    case ANET_OP_IDENTITY:
    case ANET_OP_CAST: return x;
    default: return NAN;
    }
}

/* Window geometry of conv/pool (MIL semantics: pad per spatial axis as (before, after);
 * "same" pads total = (ceil(in/s)-1)*s + d(k-1) + 1 - in, the extra on the after side, or
 * on the before side for same_lower). Spatial rank 1 is treated as H = 1. */
typedef struct ri_win {
    int64_t N, C, H, W, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW;
} ri_win;

static void ri_window(const anet_graph *g, const anet_op *op, const anet_type *tx, const int64_t *k, ri_win *w) {
    int nsp = tx->rank - 2;
    int64_t st[2] = {1, 1}, dl[2] = {1, 1}, pad[4] = {0, 0, 0, 0}, in[2] = {1, 1}, kk[2] = {1, 1}, n2[2] = {1, 1};
    int n;
    for (int i = 0; i < nsp; i++) {
        in[i] = tx->dims[2 + i];
        kk[i] = k[i];
    }
    int64_t tmp[4];
    if (ri_const_ints(g, op, "strides", tmp, &n) == 0 && n == nsp)
        for (int i = 0; i < nsp; i++) st[i] = tmp[i];
    if (ri_const_ints(g, op, "dilations", tmp, &n) == 0 && n == nsp)
        for (int i = 0; i < nsp; i++) dl[i] = tmp[i];
    int pv = anet_op_arg_value(op, "pad_type");
    const char *pt = pv >= 0 ? anet_const_get_string(anet_graph_const_of(g, pv)) : "valid";
    if (strcmp(pt, "custom") == 0) {
        ri_const_ints(g, op, "pad", pad, &n);
    } else if (strncmp(pt, "same", 4) == 0) {
        for (int i = 0; i < nsp; i++) {
            int64_t o = (in[i] + st[i] - 1) / st[i], tot = (o - 1) * st[i] + dl[i] * (kk[i] - 1) + 1 - in[i];
            if (tot < 0) tot = 0;
            pad[2 * i] = strcmp(pt, "same_lower") == 0 ? tot - tot / 2 : tot / 2;
            pad[2 * i + 1] = tot - pad[2 * i];
        }
    }
    for (int i = 0; i < nsp; i++) n2[i] = (in[i] + pad[2 * i] + pad[2 * i + 1] - dl[i] * (kk[i] - 1) - 1) / st[i] + 1;
    w->N = tx->dims[0];
    w->C = tx->dims[1];
    if (nsp == 1) {
        w->H = 1; w->kh = 1; w->sh = 1; w->dh = 1; w->pt = 0; w->OH = 1;
        w->W = in[0]; w->kw = kk[0]; w->sw = st[0]; w->dw = dl[0]; w->pl = pad[0]; w->OW = n2[0];
    } else {
        w->H = in[0]; w->kh = kk[0]; w->sh = st[0]; w->dh = dl[0]; w->pt = pad[0]; w->OH = n2[0];
        w->W = in[1]; w->kw = kk[1]; w->sw = st[1]; w->dw = dl[1]; w->pl = pad[2]; w->OW = n2[1];
    }
}

/* Runs g; inputs[i] holds the data of g->inputs[i]. Returns per-value results (caller frees
 * with ri_free) or NULL on an op it does not know. round16: round inputs and every op's result
 * to fp16 (vane's storage rule, emulated: computed in double, rounded once). */
static ri_val *ri_run_ex(const anet_graph *g, const double *const *inputs, int round16) {
    ri_val *v = calloc((size_t)g->nvalues + 1, sizeof *v);
    if (!v) return NULL;
    v[g->nvalues].n = -1; /* sentinel: the graph may grow after the run */
    for (int i = 0; i < g->ninputs; i++) {
        int id = g->inputs[i];
        v[id].t = g->values[id].type;
        v[id].n = ri_count(&v[id].t);
        v[id].d = malloc(sizeof(double) * (size_t)v[id].n);
        memcpy(v[id].d, inputs[i], sizeof(double) * (size_t)v[id].n);
        if (round16)
            for (int64_t k = 0; k < v[id].n; k++) v[id].d[k] = anet_f32_round_f16((float)v[id].d[k]);
    }
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        int zi = op->outputs[0];
        ri_val *z = &v[zi];
        z->t = g->values[zi].type;
        if (z->t.dtype == ANET_DT_STRING) continue;
        z->n = ri_count(&z->t);
        z->d = calloc((size_t)z->n, sizeof(double));
        int64_t co[ANET_MAX_RANK];
        const ri_val *x = anet_op_arg_value(op, "x") >= 0 ? &v[anet_op_arg_value(op, "x")] : NULL;
        const ri_val *y = anet_op_arg_value(op, "y") >= 0 ? &v[anet_op_arg_value(op, "y")] : NULL;
        switch (op->kind) {
        case ANET_OP_CONST: {
            const anet_const *c = op->val;
            for (int64_t i = 0; i < z->n; i++) {
                switch (c->type.dtype) {
                case ANET_DT_FP16: z->d[i] = anet_f16_to_f32(((const anet_f16 *)c->data)[i]); break;
                case ANET_DT_FP32: z->d[i] = ((const float *)c->data)[i]; break;
                case ANET_DT_INT32: z->d[i] = ((const int32_t *)c->data)[i]; break;
                case ANET_DT_BOOL: z->d[i] = ((const uint8_t *)c->data)[i] != 0; break;
                default: z->d[i] = 0;
                }
            }
            break;
        }
        case ANET_OP_ADD: case ANET_OP_SUB: case ANET_OP_MUL: case ANET_OP_REAL_DIV:
        case ANET_OP_MAXIMUM: case ANET_OP_MINIMUM: case ANET_OP_POW: case ANET_OP_GREATER:
        case ANET_OP_GREATER_EQUAL: case ANET_OP_LESS: case ANET_OP_EQUAL:
            for (int64_t i = 0; i < z->n; i++) {
                ri_coords(&z->t, i, co);
                z->d[i] = ri_bin(op->kind, x->d[ri_bidx(&x->t, &z->t, co)], y->d[ri_bidx(&y->t, &z->t, co)]);
            }
            break;
        case ANET_OP_RELU: case ANET_OP_SIGMOID: case ANET_OP_TANH: case ANET_OP_EXP: case ANET_OP_LOG:
        case ANET_OP_SQRT: case ANET_OP_RSQRT: case ANET_OP_ABS: case ANET_OP_SQUARE:
        case ANET_OP_IDENTITY: case ANET_OP_CAST: {
            double eps = 0;
            int e = anet_op_arg_value(op, "epsilon");
            if (e >= 0) eps = v[e].d[0];
            else if (op->kind == ANET_OP_RSQRT) eps = 1e-12;
            for (int64_t i = 0; i < z->n; i++) z->d[i] = ri_un(op->kind, x->d[i], eps);
            break;
        }
        case ANET_OP_SELECT: {
            const ri_val *c = &v[anet_op_arg_value(op, "cond")], *a = &v[anet_op_arg_value(op, "a")],
                         *b = &v[anet_op_arg_value(op, "b")];
            for (int64_t i = 0; i < z->n; i++) {
                ri_coords(&z->t, i, co);
                z->d[i] = c->d[ri_bidx(&c->t, &z->t, co)] != 0 ? a->d[ri_bidx(&a->t, &z->t, co)]
                                                               : b->d[ri_bidx(&b->t, &z->t, co)];
            }
            break;
        }
        case ANET_OP_SOFTMAX: {
            int64_t ax = ri_const_int(g, op, "axis", -1);
            if (ax < 0) ax += z->t.rank;
            int64_t len = z->t.dims[ax], stride = 1;
            for (int i = (int)ax + 1; i < z->t.rank; i++) stride *= z->t.dims[i];
            for (int64_t i = 0; i < z->n; i++) {
                if ((i / stride) % len != 0) continue; /* first element of a row */
                double mx = -INFINITY, s = 0;
                for (int64_t k = 0; k < len; k++) mx = fmax(mx, x->d[i + k * stride]);
                for (int64_t k = 0; k < len; k++) s += exp(x->d[i + k * stride] - mx);
                for (int64_t k = 0; k < len; k++) z->d[i + k * stride] = exp(x->d[i + k * stride] - mx) / s;
            }
            break;
        }
        case ANET_OP_REDUCE_SUM: case ANET_OP_REDUCE_MEAN: case ANET_OP_REDUCE_MAX: {
            int64_t axes[ANET_MAX_RANK];
            int n;
            char red[ANET_MAX_RANK] = {0};
            ri_const_ints(g, op, "axes", axes, &n);
            if (n < 0) {
                n = x->t.rank;
                for (int i = 0; i < n; i++) axes[i] = i;
            }
            int64_t cnt = 1;
            for (int i = 0; i < n; i++) {
                int64_t a = axes[i] < 0 ? axes[i] + x->t.rank : axes[i];
                red[a] = 1;
                cnt *= x->t.dims[a];
            }
            anet_type kt = x->t; /* kept-dims layout of the result */
            for (int i = 0; i < kt.rank; i++)
                if (red[i]) kt.dims[i] = 1;
            for (int64_t i = 0; i < z->n; i++) z->d[i] = op->kind == ANET_OP_REDUCE_MAX ? -INFINITY : 0;
            for (int64_t i = 0; i < x->n; i++) {
                ri_coords(&x->t, i, co);
                for (int a = 0; a < kt.rank; a++)
                    if (red[a]) co[a] = 0;
                int64_t j = ri_flat(&kt, co);
                if (op->kind == ANET_OP_REDUCE_MAX) z->d[j] = fmax(z->d[j], x->d[i]);
                else z->d[j] += x->d[i];
            }
            if (op->kind == ANET_OP_REDUCE_MEAN)
                for (int64_t i = 0; i < z->n; i++) z->d[i] /= (double)cnt;
            break;
        }
        case ANET_OP_MATMUL: {
            int tx = ri_const_bool(g, op, "transpose_x", 0), ty = ri_const_bool(g, op, "transpose_y", 0);
            int r = z->t.rank;
            int64_t M = z->t.dims[r - 2], N = z->t.dims[r - 1];
            int64_t Kd = tx ? x->t.dims[x->t.rank - 2] : x->t.dims[x->t.rank - 1];
            anet_type bz = z->t, bx = x->t, by = y->t; /* batch parts */
            bz.rank -= 2;
            bx.rank -= 2;
            by.rank -= 2;
            int64_t nb = ri_count(&bz), xr = x->t.dims[x->t.rank - 2], xc = x->t.dims[x->t.rank - 1],
                    yr = y->t.dims[y->t.rank - 2], yc = y->t.dims[y->t.rank - 1];
            for (int64_t bi = 0; bi < nb; bi++) {
                ri_coords(&bz, bi, co);
                const double *X = x->d + ri_bidx(&bx, &bz, co) * xr * xc;
                const double *Y = y->d + ri_bidx(&by, &bz, co) * yr * yc;
                double *Z = z->d + bi * M * N;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0;
                        for (int64_t k = 0; k < Kd; k++)
                            s += (tx ? X[k * xc + i] : X[i * xc + k]) * (ty ? Y[j * yc + k] : Y[k * yc + j]);
                        Z[i * N + j] = s;
                    }
            }
            break;
        }
        case ANET_OP_LINEAR: {
            const ri_val *w = &v[anet_op_arg_value(op, "weight")];
            int bi = anet_op_arg_value(op, "bias");
            int64_t out = w->t.dims[0], in = w->t.dims[1], m = x->n / in;
            for (int64_t r = 0; r < m; r++)
                for (int64_t j = 0; j < out; j++) {
                    double s = bi >= 0 ? v[bi].d[j] : 0;
                    for (int64_t k = 0; k < in; k++) s += x->d[r * in + k] * w->d[j * in + k];
                    z->d[r * out + j] = s;
                }
            break;
        }
        case ANET_OP_RESHAPE: memcpy(z->d, x->d, sizeof(double) * (size_t)z->n); break;
        case ANET_OP_TRANSPOSE: {
            int64_t perm[ANET_MAX_RANK], xc[ANET_MAX_RANK];
            int n;
            ri_const_ints(g, op, "perm", perm, &n);
            for (int64_t i = 0; i < z->n; i++) {
                ri_coords(&z->t, i, co);
                for (int a = 0; a < n; a++) xc[perm[a] < 0 ? perm[a] + n : perm[a]] = co[a];
                z->d[i] = x->d[ri_flat(&x->t, xc)];
            }
            break;
        }
        case ANET_OP_SLICE_BY_SIZE: {
            int64_t b[ANET_MAX_RANK];
            int n;
            ri_const_ints(g, op, "begin", b, &n);
            for (int64_t i = 0; i < z->n; i++) {
                ri_coords(&z->t, i, co);
                for (int a = 0; a < z->t.rank; a++) co[a] += b[a] < 0 ? b[a] + x->t.dims[a] : b[a];
                z->d[i] = x->d[ri_flat(&x->t, co)];
            }
            break;
        }
        case ANET_OP_CONCAT: {
            const anet_arg *a = anet_op_arg(op, "values");
            int64_t ax = ri_const_int(g, op, "axis", 0);
            if (ax < 0) ax += z->t.rank;
            int64_t off = 0;
            for (int k = 0; k < a->n; k++) {
                const ri_val *p = &v[a->vals[k]];
                for (int64_t i = 0; i < p->n; i++) {
                    ri_coords(&p->t, i, co);
                    co[ax] += off;
                    z->d[ri_flat(&z->t, co)] = p->d[i];
                }
                off += p->t.dims[ax];
            }
            break;
        }
        case ANET_OP_CONV: {
            const ri_val *w = &v[anet_op_arg_value(op, "weight")];
            int bi = anet_op_arg_value(op, "bias");
            int64_t groups = ri_const_int(g, op, "groups", 1);
            ri_win wn;
            ri_window(g, op, &x->t, w->t.dims + 2, &wn);
            int64_t cout = w->t.dims[0], cpg = wn.C / groups, opg = cout / groups;
            for (int64_t nb = 0; nb < wn.N; nb++)
                for (int64_t co = 0; co < cout; co++)
                    for (int64_t oh = 0; oh < wn.OH; oh++)
                        for (int64_t ow = 0; ow < wn.OW; ow++) {
                            double acc = bi >= 0 ? v[bi].d[co] : 0;
                            int64_t gr = co / opg;
                            for (int64_t ci = 0; ci < cpg; ci++)
                                for (int64_t i = 0; i < wn.kh; i++)
                                    for (int64_t j = 0; j < wn.kw; j++) {
                                        int64_t h = oh * wn.sh + i * wn.dh - wn.pt, ww = ow * wn.sw + j * wn.dw - wn.pl;
                                        if (h < 0 || h >= wn.H || ww < 0 || ww >= wn.W) continue;
                                        acc += x->d[((nb * wn.C + gr * cpg + ci) * wn.H + h) * wn.W + ww] *
                                               w->d[((co * cpg + ci) * wn.kh + i) * wn.kw + j];
                                    }
                            z->d[((nb * cout + co) * wn.OH + oh) * wn.OW + ow] = acc;
                        }
            break;
        }
        case ANET_OP_MAX_POOL: case ANET_OP_AVG_POOL: {
            int64_t k[2];
            int n;
            ri_const_ints(g, op, "kernel_sizes", k, &n);
            ri_win wn;
            ri_window(g, op, &x->t, k, &wn);
            int excl = ri_const_bool(g, op, "exclude_padding_from_average", 0);
            for (int64_t pl = 0; pl < wn.N * wn.C; pl++)
                for (int64_t oh = 0; oh < wn.OH; oh++)
                    for (int64_t ow = 0; ow < wn.OW; ow++) {
                        double acc = op->kind == ANET_OP_MAX_POOL ? -INFINITY : 0;
                        int64_t cnt = 0;
                        for (int64_t i = 0; i < wn.kh; i++)
                            for (int64_t j = 0; j < wn.kw; j++) {
                                int64_t h = oh * wn.sh + i - wn.pt, ww = ow * wn.sw + j - wn.pl;
                                if (h < 0 || h >= wn.H || ww < 0 || ww >= wn.W) continue;
                                double xv = x->d[(pl * wn.H + h) * wn.W + ww];
                                if (op->kind == ANET_OP_MAX_POOL) acc = fmax(acc, xv);
                                else acc += xv;
                                cnt++;
                            }
                        if (op->kind == ANET_OP_AVG_POOL) acc /= (double)(excl ? cnt : wn.kh * wn.kw);
                        z->d[(pl * wn.OH + oh) * wn.OW + ow] = acc;
                    }
            break;
        }
        default:
            fprintf(stderr, "ref_interp: op %s not supported\n", op->type);
            for (int i = 0; i < g->nvalues; i++) free(v[i].d);
            free(v);
            return NULL;
        }
        if (round16 && z->t.dtype == ANET_DT_FP16)
            for (int64_t i = 0; i < z->n; i++) z->d[i] = anet_f32_round_f16((float)z->d[i]);
    }
    return v;
}

static inline ri_val *ri_run(const anet_graph *g, const double *const *inputs) { return ri_run_ex(g, inputs, 0); }

static void ri_free(const anet_graph *g, ri_val *v) {
    (void)g;
    if (!v) return;
    for (int i = 0; v[i].n >= 0; i++) free(v[i].d);
    free(v);
}

#endif
