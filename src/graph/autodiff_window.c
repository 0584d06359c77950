/* Gradients of sliding-window ops (conv, pools): window geometry, placement and upsampling
 * products, transposed/flipped kernels. Part of graph/autodiff (see autodiff_internal.h). */
#include "graph/autodiff_internal.h"

static int place_st(ad_ctx *c, int d, int a, int64_t b0, int64_t N, int64_t st) {
    if (d < 0) return -1;
    anet_type t = vtype(c, d);
    int r = t.rank;
    int64_t n = t.dims[a];
    if (r == 1) {
        int64_t s2[2] = {1, n}, s1[1] = {N};
        return reshape(c, place_st(c, reshape(c, d, 2, s2), 1, b0, N, st), 1, s1);
    }
    if (a < r - 2) {
        int64_t perm[ANET_MAX_RANK];
        for (int i = 0; i < r; i++) perm[i] = i;
        perm[a] = r - 1;
        perm[r - 1] = a; /* a swap: its own inverse */
        static const char *const keys[2] = {"x", "perm"};
        int v1[2] = {d, ints(c, r, perm)};
        int t1 = place_st(c, opk(c, ANET_OP_TRANSPOSE, 2, keys, v1), r - 1, b0, N, st);
        int v2[2] = {t1, ints(c, r, perm)};
        return opk(c, ANET_OP_TRANSPOSE, 2, keys, v2);
    }
    int last = a == r - 1;
    int64_t pd[2] = {last ? n : N, last ? N : n};
    anet_type pt = anet_type_make(t.dtype, 2, pd);
    size_t es = anet_dtype_size(t.dtype);
    uint8_t *data = calloc((size_t)(n * N), es);
    if (!data) {
        anet_fail(ANET_E_NOMEM, "autodiff: out of memory for a placement constant");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t at = last ? i * N + b0 + i * st : (b0 + i * st) * n + i;
        if (t.dtype == ANET_DT_FP16) ((anet_f16 *)data)[at] = anet_f32_to_f16(1.0f);
        else ((float *)data)[at] = 1.0f;
    }
    int p = anet_graph_const(c->g, NULL, pt, data, (size_t)(n * N) * es);
    free(data);
    return last ? matmul(c, d, p, 0, 0) : matmul(c, p, d, 0, 0);
}

int anet_ad_place(ad_ctx *c, int d, int a, int64_t b0, int64_t N) { return place_st(c, d, a, b0, N, 1); }

/* A const 0/1 matrix that reverses the last axis (right) or the second-to-last (left). */
int anet_ad_flip_axis(ad_ctx *c, int v, int last) {
    if (v < 0) return -1;
    anet_type t = vtype(c, v);
    int64_t n = t.dims[t.rank - (last ? 1 : 2)];
    int64_t pd[2] = {n, n};
    anet_type pt = anet_type_make(t.dtype, 2, pd);
    size_t es = anet_dtype_size(t.dtype);
    uint8_t *data = calloc((size_t)(n * n), es);
    if (!data) {
        anet_fail(ANET_E_NOMEM, "autodiff: out of memory for a flip constant");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (t.dtype == ANET_DT_FP16) ((anet_f16 *)data)[i * n + (n - 1 - i)] = anet_f32_to_f16(1.0f);
        else ((float *)data)[i * n + (n - 1 - i)] = 1.0f;
    }
    int p = anet_graph_const(c->g, NULL, pt, data, (size_t)(n * n) * es);
    free(data);
    return last ? matmul(c, v, p, 0, 0) : matmul(c, p, v, 0, 0);
}

int anet_ad_transpose_v(ad_ctx *c, int x, int n, const int64_t *perm) {
    static const char *const keys[2] = {"x", "perm"};
    int vals[2] = {x, ints(c, n, perm)};
    return opk(c, ANET_OP_TRANSPOSE, 2, keys, vals);
}


anet_status anet_ad_read_window(ad_ctx *c, const anet_op *op, const anet_type *tx, const int64_t *k, int is_conv, win *w) {
    memset(w, 0, sizeof *w);
    w->nsp = tx->rank - 2;
    if (w->nsp < 1 || w->nsp > 2) return bad_arg(op, "only 1-D and 2-D windows have a gradient rule");
    int64_t v[4];
    int n;
    for (int i = 0; i < w->nsp; i++) {
        w->in[i] = tx->dims[2 + i];
        w->k[i] = k[i];
        w->s[i] = w->d[i] = 1;
    }
    if (arg_ints(c, op, "strides", v, &n) != 0) return bad_arg(op, "strides is not a constant");
    for (int i = 0; n == w->nsp && i < n; i++) w->s[i] = v[i];
    if (is_conv) {
        if (arg_ints(c, op, "dilations", v, &n) != 0) return bad_arg(op, "dilations is not a constant");
        for (int i = 0; n == w->nsp && i < n; i++) w->d[i] = v[i];
    } else {
        int ceil_mode = 0;
        if (arg_bool(c, op, "ceil_mode", 0, &ceil_mode) != 0 || ceil_mode) return bad_arg(op, "ceil_mode has no gradient rule");
    }
    int pv = anet_op_arg_value(op, "pad_type");
    const char *pt = pv >= 0 ? anet_const_get_string(anet_graph_const_of(c->g, pv)) : "valid";
    if (!pt) return bad_arg(op, "pad_type is not a constant");
    if (strcmp(pt, "custom") == 0) {
        if (arg_ints(c, op, "pad", v, &n) != 0 || n != 2 * w->nsp) return bad_arg(op, "pad is not a constant");
        for (int i = 0; i < w->nsp; i++) {
            w->pb[i] = v[2 * i];
            w->pa[i] = v[2 * i + 1];
        }
    } else if (strcmp(pt, "same") == 0 || strcmp(pt, "same_lower") == 0) {
        for (int i = 0; i < w->nsp; i++) {
            int64_t oo = (w->in[i] + w->s[i] - 1) / w->s[i];
            int64_t tot = (oo - 1) * w->s[i] + w->d[i] * (w->k[i] - 1) + 1 - w->in[i];
            if (tot < 0) tot = 0;
            w->pb[i] = pt[4] == '_' ? tot - tot / 2 : tot / 2;
            w->pa[i] = tot - w->pb[i];
        }
    } else if (strcmp(pt, "valid") != 0) {
        return bad_arg(op, "unknown pad_type");
    }
    for (int i = 0; i < w->nsp; i++) {
        int64_t span = w->in[i] + w->pb[i] + w->pa[i] - w->d[i] * (w->k[i] - 1) - 1;
        if (span < 0) return bad_arg(op, "window larger than its input");
        w->out[i] = span / w->s[i] + 1;
        w->r[i] = span % w->s[i];
    }
    return ANET_OK;
}

/* The "full" correlation that sends a window op's output gradient back to its input grid:
 * dy is spread by the stride (zeros between its rows and columns), then convolved with weight
 * (already flipped and channel-swapped by the caller) with padding d(k-1) - pb before and
 * d(k-1) - pa + r after, which gives exactly the input's spatial size. The spread is a
 * placement matmul per axis, or under spread_mul (the device forms) multiplies and a slice:
 * the placement's contraction is the output's height or width (14 for a stride-2 conv on
 * 28x28), which breaks matmul-contraction-32. */
int anet_ad_window_back(ad_ctx *c, const anet_op *op, int dy, int weight, const win *w, int64_t groups) {
    int d = dy;
    if (c->spread_mul && w->nsp == 2 && (w->s[0] > 1 || w->s[1] > 1)) {
        anet_type t = vtype(c, d);
        int64_t begin[4] = {0, 0, 0, 0}, size[4] = {t.dims[0], t.dims[1], (w->out[0] - 1) * w->s[0] + 1,
                                                    (w->out[1] - 1) * w->s[1] + 1};
        d = anet_ad_repeat_up(c, d, w->s[0], w->s[1], 1);
        if (d >= 0) d = slice(c, d, 4, begin, size);
    } else {
        for (int i = 0; i < w->nsp && d >= 0; i++)
            if (w->s[i] > 1) d = place_st(c, d, 2 + i, 0, (w->out[i] - 1) * w->s[i] + 1, w->s[i]);
    }
    int32_t pad[4], dil[2];
    for (int i = 0; i < w->nsp; i++) {
        int64_t before = w->d[i] * (w->k[i] - 1) - w->pb[i], after = w->d[i] * (w->k[i] - 1) - w->pa[i] + w->r[i];
        if (before < 0 || after < 0) {
            bad_arg(op, "padding larger than the dilated kernel has no gradient rule");
            return -1;
        }
        pad[2 * i] = (int32_t)before;
        pad[2 * i + 1] = (int32_t)after;
        dil[i] = (int32_t)w->d[i];
    }
    if (d < 0) return -1;
    return anet_b_conv(c->g, NULL, d, weight, -1, NULL, "custom", pad, dil, (int)groups);
}

/* Repeats (or spreads with zeros) a middle axis: v as [n, a, 1, last] times a const [1, 1, r,
 * last] of ones (or ones in row 0 only) gives [n, a*r, last]. The const spans the last axis:
 * a tensor whose last axis is 1 broadcast along it is reported to give zeros
 * (broadcast-channel). n is split as [n1, n2*a] when it exceeds the compiler's longest axis
 * (elementwise-max-16384 read per axis): [n1, n2*a, r, last] is the same row-major tensor. */
static int up_middle(ad_ctx *c, int v, int64_t n, int64_t a, int64_t r, int64_t last, int zeros) {
    if (v < 0) return -1;
    anet_dtype dt = vtype(c, v).dtype;
    int64_t n2 = 1;
    for (int64_t k = 1; n > ANET_AD_MAX_AXIS && k <= n && k * a <= ANET_AD_MAX_AXIS; k++)
        if (n % k == 0 && n / k <= ANET_AD_MAX_AXIS) {
            n2 = k;
            break;
        }
    int64_t s4[4] = {n / n2, n2 * a, 1, last}, o4[4] = {1, 1, r, last}, b3[3] = {n, a * r, last};
    size_t es = anet_dtype_size(dt), ne = (size_t)((zeros ? 1 : r) * last); /* ones: all rows, or row 0 */
    uint8_t *data = calloc((size_t)(r * last), es);
    if (!data) return anet_fail(ANET_E_NOMEM, "autodiff: out of memory for an upsampling constant"), -1;
    for (size_t i = 0; i < ne; i++) {
        if (dt == ANET_DT_FP16) ((anet_f16 *)data)[i] = anet_f32_to_f16(1.0f);
        else ((float *)data)[i] = 1.0f;
    }
    int m = anet_graph_const(c->g, NULL, anet_type_make(dt, 4, o4), data, (size_t)(r * last) * es);
    free(data);
    return reshape(c, op2(c, ANET_OP_MUL, reshape(c, v, 4, s4), m), 3, b3);
}

int anet_ad_repeat_up(ad_ctx *c, int v, int64_t sh, int64_t sw, int zeros) {
    if (v < 0) return -1;
    anet_type t = vtype(c, v);
    if (t.rank != 4) return -1;
    int64_t B = t.dims[0], C = t.dims[1], h = t.dims[2], wd = t.dims[3];
    int64_t perm[3] = {0, 2, 1}, f4[4] = {B, C, h * sh, wd * sw}, f3[3] = {B * C, h, wd};
    int u = sh > 1 ? up_middle(c, v, B * C, h, sh, wd, zeros) : reshape(c, v, 3, f3); /* [BC, h*sh, wd] */
    if (sw > 1) { /* the W axis while transposed to the middle: [BC, wd*sw, h*sh] */
        u = up_middle(c, anet_ad_transpose_v(c, u, 3, perm), B * C, wd, sw, h * sh, zeros);
        u = u < 0 ? -1 : anet_ad_transpose_v(c, u, 3, perm);
    }
    return reshape(c, u, 4, f4);
}

/* Non-overlapping 2-D windows that tile the input exactly (k = s, no padding, nothing left
 * over): the window op's "spread back" is a nearest-neighbour upsampling (anet_ad_repeat_up
 * with ones; no placement matmul, no depthwise conv). -1 when the window is not of that form
 * (the caller then uses window_back). */
int anet_ad_tile_up(ad_ctx *c, int v, const win *w) {
    if (v < 0 || w->nsp != 2) return -1;
    for (int i = 0; i < 2; i++)
        if (w->k[i] != w->s[i] || w->pb[i] || w->pa[i] || w->r[i] || w->d[i] != 1) return -1;
    return anet_ad_repeat_up(c, v, w->s[0], w->s[1], 0);
}

/* Depthwise const weight [C, 1, k...] filled with v. */
int anet_ad_depthwise_fill(ad_ctx *c, anet_dtype dt, int64_t C, const win *w, double v) {
    int64_t dims[4] = {C, 1, w->k[0], w->nsp > 1 ? w->k[1] : 1};
    return fill(c, anet_type_make(dt, 2 + w->nsp, dims), v);
}

/* The input-gradient kernel of a conv whose weight is a const (a baked kernel, e.g. the
 * one-hot patch extraction of train/lower_conv.h): [Cout, Cin/g, kh, kw] -> [Cin, Cout/g, kh,
 * kw] per group, flipped in space, computed here as a const, so the backward conv keeps baked
 * weights (conv1x1-runtime-weights: runtime conv weights are a risk on the device) and needs no
 * flip matmuls. -1 when w is not a const of a 2-D conv (the caller builds the ops instead). */
int anet_ad_const_back_kernel(ad_ctx *c, int w, int64_t groups) {
    const anet_const *k = anet_graph_const_of(c->g, w);
    anet_type tw = vtype(c, w);
    if (!k || !k->data || tw.rank != 4 || groups < 1) return -1;
    if (tw.dtype != ANET_DT_FP16 && tw.dtype != ANET_DT_FP32) return -1;
    int64_t co = tw.dims[0], cg = tw.dims[1], kh = tw.dims[2], kw = tw.dims[3], og = co / groups, cin = cg * groups;
    size_t es = anet_dtype_size(tw.dtype), n = (size_t)(co * cg * kh * kw);
    if (k->nbytes < n * es) return -1;
    uint8_t *o = malloc(n * es);
    if (!o) return anet_fail(ANET_E_NOMEM, "autodiff: out of memory for a conv kernel"), -1;
    for (int64_t a = 0; a < co; a++)
        for (int64_t b = 0; b < cg; b++)
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    int64_t gi = a / og, ci = gi * cg + b, oj = a % og; /* out [ci, oj, flipped] */
                    size_t src = (size_t)(((a * cg + b) * kh + i) * kw + j);
                    size_t dst = (size_t)(((ci * og + oj) * kh + (kh - 1 - i)) * kw + (kw - 1 - j));
                    memcpy(o + dst * es, (const uint8_t *)k->data + src * es, es);
                }
    int64_t d[4] = {cin, og, kh, kw};
    int v = anet_graph_const(c->g, NULL, anet_type_make(tw.dtype, 4, d), o, n * es);
    free(o);
    return v;
}

/* Sums v over the axes where it is broadcast against t (and drops/adds leading axes), so
 * that the result has t's rank and dims equal to t's or 1. */
