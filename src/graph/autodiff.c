/* Reverse-mode autodiff on the IR (see autodiff.h).
 *
 * Adjoints are kept "lazy": the adjoint of value v has v's rank and each dim either equal to
 * v's dim or 1 (it broadcasts to v). Elementwise rules then never need a broadcast op (the
 * ANE has none): e.g. the adjoint of a reduce_sum input is just the reduced adjoint, and the
 * next elementwise rule broadcasts it for free. Rules that need the full shape (matmul,
 * reshape, slice, concat) and the final gradients "materialize" it by adding a zero const.
 */
#include "graph/autodiff_internal.h"

static int unbroadcast(ad_ctx *c, int v, const anet_type *t) {
    if (v < 0) return -1;
    anet_type tv = vtype(c, v);
    int r = tv.rank, rt = t->rank, off = r - rt;
    int64_t axes[ANET_MAX_RANK];
    int n = 0;
    for (int i = 0; i < r; i++) {
        int ti = i - off;
        if (ti < 0) {
            if (tv.dims[i] != 1) axes[n++] = i;
        } else if (tv.dims[i] != t->dims[ti]) {
            if (t->dims[ti] != 1 && tv.dims[i] != 1) {
                anet_fail(ANET_E_INTERNAL, "autodiff: adjoint shape does not broadcast to its value");
                return -1;
            }
            if (t->dims[ti] == 1) axes[n++] = i;
        }
    }
    if (rt == 0) {
        if (r == 0) return v;
        int64_t all[ANET_MAX_RANK];
        for (int i = 0; i < r; i++) all[i] = i;
        return reduce_sum(c, v, r, all, 0);
    }
    if (n > 0) v = reduce_sum(c, v, n, axes, 1);
    if (v < 0 || r == rt) return v;
    tv = vtype(c, v);
    int64_t dims[ANET_MAX_RANK] = {0}; /* all rt set below; zeroed for the inlined reshape's analysis */
    for (int ti = 0; ti < rt; ti++) dims[ti] = ti + off >= 0 ? tv.dims[ti + off] : 1;
    return reshape(c, v, rt, dims);
}

/* The full-shape tensor of type t from a lazy adjoint. */
static int materialize(ad_ctx *c, int v, const anet_type *t) {
    v = unbroadcast(c, v, t);
    if (v < 0) return -1;
    anet_type tv = vtype(c, v);
    if (memcmp(tv.dims, t->dims, sizeof(int64_t) * (size_t)t->rank) == 0) return v;
    return op2(c, ANET_OP_ADD, v, fill(c, *t, 0.0));
}

static anet_status accumulate(ad_ctx *c, int target, int contrib) {
    if (contrib < 0) return ANET_E_INVALID;
    anet_type t = vtype(c, target);
    int u = unbroadcast(c, contrib, &t);
    if (u < 0) return ANET_E_INVALID;
    if (c->adj[target] < 0) c->adj[target] = u;
    else {
        int s = op2(c, ANET_OP_ADD, c->adj[target], u);
        if (s < 0) return ANET_E_INVALID;
        c->adj[target] = s;
    }
    return ANET_OK;
}

static int active(const ad_ctx *c, int v) { return v >= 0 && v < c->nv0 && c->act[v]; }

/* Reduction ops: the adjoint laid out with x's rank (1 at the reduced axes). */
static int reduced_adjoint(ad_ctx *c, const anet_op *op, int dy, int x, int keep, const char *red) {
    anet_type tx = vtype(c, x), td = vtype(c, dy);
    if (keep) return dy;
    int64_t dims[ANET_MAX_RANK];
    int j = 0;
    for (int i = 0; i < tx.rank; i++) dims[i] = red[i] ? 1 : td.dims[j++];
    (void)op;
    return reshape(c, dy, tx.rank, dims);
}

static anet_status rule(ad_ctx *c, int opi) {
    anet_graph *g = c->g;
    /* A copy: g->ops moves as ops are appended (its heap pointers stay valid). */
    anet_op opc = g->ops[opi];
    const anet_op *op = &opc;
    int zv = op->outputs[0];
    int dy = c->adj[zv];
    anet_type tz = vtype(c, zv);
    anet_dtype dt = tz.dtype;
    int x = anet_op_arg_value(op, "x"), y = anet_op_arg_value(op, "y");
    anet_status st = ANET_OK;
#define ACC(target, expr)                                                  \
    do {                                                                   \
        if (active(c, (target))) {                                         \
            st = accumulate(c, (target), (expr));                          \
            if (st != ANET_OK) return st;                                  \
        }                                                                  \
    } while (0)

    switch (op->kind) {
    case ANET_OP_IDENTITY: ACC(x, dy); break;
    case ANET_OP_CAST: {
        if (active(c, x)) {
            static const char *const keys[2] = {"x", "dtype"};
            int vals[2] = {dy, anet_graph_const_string(g, NULL, anet_dtype_name(vtype(c, x).dtype))};
            ACC(x, opk(c, ANET_OP_CAST, 2, keys, vals));
        }
        break;
    }
    case ANET_OP_ADD:
        ACC(x, dy);
        ACC(y, dy);
        break;
    case ANET_OP_SUB:
        ACC(x, dy);
        ACC(y, neg(c, dy));
        break;
    case ANET_OP_MUL:
        ACC(x, op2(c, ANET_OP_MUL, dy, y));
        ACC(y, op2(c, ANET_OP_MUL, dy, x));
        break;
    case ANET_OP_REAL_DIV: {
        int t = op2(c, ANET_OP_REAL_DIV, dy, y); /* dz/y */
        ACC(x, t);
        ACC(y, neg(c, op2(c, ANET_OP_MUL, t, zv))); /* -dz*x/y^2 = -(dz/y)*z */
        break;
    }
    case ANET_OP_MAXIMUM:
    case ANET_OP_MINIMUM: {
        /* x wins where x > y (maximum) or y > x (minimum); ties go to y. */
        int cond = op->kind == ANET_OP_MAXIMUM ? op2(c, ANET_OP_GREATER, x, y)
                                               : op2(c, ANET_OP_GREATER, y, x);
        ACC(x, select3(c, cond, dy, scal(c, dt, 0)));
        ACC(y, select3(c, cond, scal(c, dt, 0), dy));
        break;
    }
    case ANET_OP_RELU:
        ACC(x, select3(c, op2(c, ANET_OP_GREATER, x, scal(c, dt, 0)), dy, scal(c, dt, 0)));
        break;
    case ANET_OP_SIGMOID:
        ACC(x, op2(c, ANET_OP_MUL, op2(c, ANET_OP_MUL, dy, zv), op2(c, ANET_OP_SUB, scal(c, dt, 1), zv)));
        break;
    case ANET_OP_TANH:
        ACC(x, op2(c, ANET_OP_MUL, dy,
                   op2(c, ANET_OP_SUB, scal(c, dt, 1), op2(c, ANET_OP_MUL, zv, zv))));
        break;
    case ANET_OP_EXP: ACC(x, op2(c, ANET_OP_MUL, dy, zv)); break;
    case ANET_OP_LOG: {
        /* MIL log(x, epsilon) computes log(x + epsilon). */
        int den = x, e = anet_op_arg_value(op, "epsilon");
        if (e >= 0 && active(c, x)) den = op2(c, ANET_OP_ADD, x, e);
        ACC(x, op2(c, ANET_OP_REAL_DIV, dy, den));
        break;
    }
    case ANET_OP_POW: {
        if (active(c, x)) {
            const anet_const *k = anet_graph_const_of(g, y);
            double e;
            int ym1;
            if (k && k->type.rank == 0 && anet_const_get_float(k, &e) == 0) ym1 = scal(c, vtype(c, y).dtype, e - 1.0);
            else ym1 = op2(c, ANET_OP_SUB, y, scal(c, vtype(c, y).dtype, 1));
            ACC(x, op2(c, ANET_OP_MUL, op2(c, ANET_OP_MUL, dy, y), op2(c, ANET_OP_POW, x, ym1)));
        }
        ACC(y, op2(c, ANET_OP_MUL, op2(c, ANET_OP_MUL, dy, zv), op1(c, ANET_OP_LOG, x)));
        break;
    }
    case ANET_OP_SQRT:
        ACC(x, op2(c, ANET_OP_REAL_DIV, op2(c, ANET_OP_MUL, dy, scal(c, dt, 0.5)), zv));
        break;
    case ANET_OP_RSQRT: /* z = x^-1/2: dz/dx = -z^3/2 */
        ACC(x, op2(c, ANET_OP_MUL, op2(c, ANET_OP_MUL, dy, scal(c, dt, -0.5)),
                   op2(c, ANET_OP_MUL, op2(c, ANET_OP_MUL, zv, zv), zv)));
        break;
    case ANET_OP_ABS: {
        if (active(c, x)) {
            int zero = scal(c, dt, 0);
            int inner = select3(c, op2(c, ANET_OP_GREATER, zero, x), neg(c, dy), zero);
            ACC(x, select3(c, op2(c, ANET_OP_GREATER, x, zero), dy, inner));
        }
        break;
    }
    case ANET_OP_SQUARE:
        ACC(x, op2(c, ANET_OP_MUL, op2(c, ANET_OP_MUL, dy, x), scal(c, dt, 2)));
        break;
    case ANET_OP_SELECT: {
        int cond = anet_op_arg_value(op, "cond"), a = anet_op_arg_value(op, "a"),
            b = anet_op_arg_value(op, "b");
        ACC(a, select3(c, cond, dy, scal(c, dt, 0)));
        ACC(b, select3(c, cond, scal(c, dt, 0), dy));
        break;
    }
    case ANET_OP_SOFTMAX: {
        int64_t axis;
        if (arg_int(c, op, "axis", -1, &axis) != 0) return bad_arg(op, "axis is not a constant");
        if (axis < 0) axis += tz.rank;
        int p = op2(c, ANET_OP_MUL, dy, zv);
        int s = reduce_sum(c, p, 1, &axis, 1);
        ACC(x, op2(c, ANET_OP_MUL, zv, op2(c, ANET_OP_SUB, dy, s)));
        break;
    }
    case ANET_OP_REDUCE_SUM:
    case ANET_OP_REDUCE_MEAN:
    case ANET_OP_REDUCE_MAX: {
        if (!active(c, x)) break;
        anet_type tx = vtype(c, x);
        int64_t axes[ANET_MAX_RANK];
        int n, keep;
        char red[ANET_MAX_RANK] = {0};
        if (arg_ints(c, op, "axes", axes, &n) != 0) return bad_arg(op, "axes is not a constant");
        if (arg_bool(c, op, "keep_dims", 0, &keep) != 0) return bad_arg(op, "keep_dims is not a constant");
        if (n < 0) {
            n = tx.rank;
            for (int i = 0; i < n; i++) axes[i] = i;
        }
        int64_t count = 1;
        for (int i = 0; i < n; i++) {
            int64_t a = axes[i] < 0 ? axes[i] + tx.rank : axes[i];
            if (a < 0 || a >= tx.rank) return bad_arg(op, "axis out of range");
            if (!red[a]) count *= tx.dims[a];
            red[a] = 1;
        }
        int dk = reduced_adjoint(c, op, dy, x, keep, red);
        if (op->kind == ANET_OP_REDUCE_SUM) ACC(x, dk);
        else if (op->kind == ANET_OP_REDUCE_MEAN) ACC(x, op2(c, ANET_OP_MUL, dk, scal(c, dt, 1.0 / (double)count)));
        else {
            int zk = keep ? zv : reduced_adjoint(c, op, zv, x, 0, red);
            /* the gradient goes to every element equal to the max */
            ACC(x, select3(c, op2(c, ANET_OP_GREATER, zk, x), scal(c, dt, 0), dk));
        }
        break;
    }
    case ANET_OP_MATMUL: {
        int tx_, ty_;
        if (arg_bool(c, op, "transpose_x", 0, &tx_) != 0 || arg_bool(c, op, "transpose_y", 0, &ty_) != 0)
            return bad_arg(op, "transpose flags are not constants");
        if (vtype(c, x).rank < 2 || vtype(c, y).rank < 2) return bad_arg(op, "matmul of a rank-1 operand has no gradient rule");
        int d = materialize(c, dy, &tz);
        if (!tx_ && !ty_) {
            ACC(x, matmul(c, d, y, 0, 1));
            ACC(y, matmul(c, x, d, 1, 0));
        } else if (tx_ && !ty_) {
            ACC(x, matmul(c, y, d, 0, 1));
            ACC(y, matmul(c, x, d, 0, 0));
        } else if (!tx_ && ty_) {
            ACC(x, matmul(c, d, y, 0, 0));
            ACC(y, matmul(c, d, x, 1, 0));
        } else {
            ACC(x, matmul(c, y, d, 1, 1));
            ACC(y, matmul(c, d, x, 1, 1));
        }
        break;
    }
    case ANET_OP_LINEAR: {
        int w = anet_op_arg_value(op, "weight"), b = anet_op_arg_value(op, "bias");
        anet_type tx = vtype(c, x), tw = vtype(c, w);
        if (tw.rank != 2 || tx.rank < 1) return bad_arg(op, "linear weight must be rank 2");
        int64_t out = tw.dims[0], in = tw.dims[1], m = 1;
        for (int i = 0; i + 1 < tx.rank; i++) m *= tx.dims[i];
        int d = materialize(c, dy, &tz);
        int64_t s2[2] = {m, out}, x2s[2] = {m, in};
        int d2 = reshape(c, d, 2, s2);
        if (active(c, x)) ACC(x, reshape(c, matmul(c, d2, w, 0, 0), tx.rank, tx.dims));
        ACC(w, matmul(c, d2, reshape(c, x, 2, x2s), 1, 0));
        if (b >= 0 && active(c, b)) {
            int64_t a0 = 0;
            ACC(b, reduce_sum(c, d2, 1, &a0, 0));
        }
        break;
    }
    case ANET_OP_RESHAPE: {
        anet_type tx = vtype(c, x);
        ACC(x, reshape(c, materialize(c, dy, &tz), tx.rank, tx.dims));
        break;
    }
    case ANET_OP_TRANSPOSE: {
        int64_t perm[ANET_MAX_RANK], inv[ANET_MAX_RANK];
        int n;
        if (arg_ints(c, op, "perm", perm, &n) != 0 || n != tz.rank) return bad_arg(op, "perm is not a constant of the right length");
        for (int i = 0; i < n; i++) {
            if (perm[i] < 0) perm[i] += n;
            if (perm[i] < 0 || perm[i] >= n) return bad_arg(op, "perm out of range");
            inv[perm[i]] = i;
        }
        if (active(c, x)) {
            static const char *const keys[2] = {"x", "perm"};
            int vals[2] = {dy, ints(c, n, inv)};
            ACC(x, opk(c, ANET_OP_TRANSPOSE, 2, keys, vals));
        }
        break;
    }
    case ANET_OP_SLICE_BY_SIZE: {
        if (!active(c, x)) break;
        anet_type tx = vtype(c, x);
        int64_t begin[ANET_MAX_RANK], size[ANET_MAX_RANK];
        int nb, ns;
        if (arg_ints(c, op, "begin", begin, &nb) != 0 || arg_ints(c, op, "size", size, &ns) != 0 ||
            nb != tx.rank || ns != tx.rank)
            return bad_arg(op, "begin/size are not constants of the input's rank");
        int d = materialize(c, dy, &tz);
        /* Zero-pad along every sliced axis. */
        for (int a = 0; a < tx.rank && d >= 0; a++) {
            int64_t b0 = begin[a] < 0 ? begin[a] + tx.dims[a] : begin[a];
            int64_t sz = size[a] < 0 ? tx.dims[a] - b0 : size[a];
            if (b0 == 0 && sz == tx.dims[a]) continue;
            d = anet_ad_place(c, d, a, b0, tx.dims[a]);
        }
        ACC(x, d);
        break;
    }
    case ANET_OP_CONCAT: {
        const anet_arg *vals = anet_op_arg(op, "values");
        int64_t axis;
        if (!vals) return bad_arg(op, "no values");
        if (arg_int(c, op, "axis", 0, &axis) != 0) return bad_arg(op, "axis is not a constant");
        int interleave = 0;
        if (arg_bool(c, op, "interleave", 0, &interleave) != 0 || interleave) return bad_arg(op, "interleaved concat has no gradient rule");
        if (axis < 0) axis += tz.rank;
        int d = materialize(c, dy, &tz);
        int64_t off = 0;
        for (int i = 0; i < vals->n; i++) {
            int v = vals->vals[i];
            anet_type tv = vtype(c, v);
            if (active(c, v)) {
                int64_t begin[ANET_MAX_RANK] = {0};
                begin[axis] = off;
                ACC(v, slice(c, d, tv.rank, begin, tv.dims));
            }
            off += tv.dims[axis];
        }
        break;
    }
    case ANET_OP_CONV: {
        int w = anet_op_arg_value(op, "weight"), b = anet_op_arg_value(op, "bias");
        anet_type tx = vtype(c, x), tw = vtype(c, w);
        int64_t groups;
        win wn;
        if (arg_int(c, op, "groups", 1, &groups) != 0) return bad_arg(op, "groups is not a constant");
        st = anet_ad_read_window(c, op, &tx, tw.dims + 2, 1, &wn);
        if (st != ANET_OK) return st;
        int d = materialize(c, dy, &tz);
        int r = tx.rank;
        if (active(c, x)) {
            /* weight [Cout, Cin/g, k..] -> [Cin, Cout/g, k..] (per group), flipped in space */
            int wt = r == 4 ? anet_ad_const_back_kernel(c, w, groups) : -1, baked = wt >= 0;
            int64_t cout = tw.dims[0], cin = tx.dims[1];
            if (baked) {
                /* already transposed and flipped */
            } else if (groups == 1) {
                int64_t perm[4] = {1, 0, 2, 3};
                wt = anet_ad_transpose_v(c, w, r, perm);
            } else {
                int64_t s5[5] = {groups, cout / groups, cin / groups, tw.dims[2], r > 3 ? tw.dims[3] : 1};
                int64_t perm[5] = {0, 2, 1, 3, 4};
                int64_t back[4] = {cin, cout / groups, tw.dims[2], r > 3 ? tw.dims[3] : 1};
                wt = reshape(c, anet_ad_transpose_v(c, reshape(c, w, r + 1, s5), r + 1, perm), r, back);
            }
            if (!baked) {
                wt = anet_ad_flip_axis(c, wt, 1);
                if (r == 4) wt = anet_ad_flip_axis(c, wt, 0);
            }
            ACC(x, anet_ad_window_back(c, op, d, wt, &wn, groups));
        }
        if (active(c, w)) {
            if (groups != 1 && r != 4) return bad_arg(op, "the weight gradient of a grouped 1-D conv has no rule");
            /* dW[co,ci,i,j] = sum dy[n,co,oh,ow] x[n,ci,oh*s+i*d,ow*s+j*d]: a conv of x^T (batch
             * Cin, channels N) with dy^T as the weight, strides and dilations swapped. */
            int64_t perm[4] = {1, 0, 2, 3};
            int32_t strides[2], dil[2], pad[4];
            for (int i = 0; i < wn.nsp; i++) {
                strides[i] = (int32_t)wn.d[i];
                dil[i] = (int32_t)wn.s[i];
                pad[2 * i] = (int32_t)wn.pb[i];
                pad[2 * i + 1] = (int32_t)wn.pa[i];
            }
            int xt = anet_ad_transpose_v(c, x, r, perm), dt_ = anet_ad_transpose_v(c, d, r, perm);
            int cw = xt < 0 || dt_ < 0 ? -1 : anet_b_conv(g, NULL, xt, dt_, -1, strides, "custom", pad, dil, 1);
            if (cw >= 0) {
                anet_type tc = vtype(c, cw); /* [Cin, Cout, k' ...], k' >= k */
                int64_t begin[4] = {0, 0, 0, 0}, size[4] = {tc.dims[0], tc.dims[1], tw.dims[2], r > 3 ? tw.dims[3] : 1};
                int need_slice = 0;
                for (int i = 2; i < r; i++) need_slice |= tc.dims[i] != tw.dims[i];
                if (need_slice) cw = slice(c, cw, r, begin, size);
            }
            int dw = anet_ad_transpose_v(c, cw, r, perm); /* [Cout, Cin, k...]: every input channel */
            if (groups != 1 && dw >= 0) {
                /* Grouped: keep each output channel's own group (a 0/1 mask), then fold the
                 * Cin axis to Cin/groups by summing over the group axis. */
                int64_t cout = tw.dims[0], cin = tx.dims[1], cg = cin / groups, og = cout / groups;
                int64_t md[4] = {cout, cin, 1, 1};
                anet_type mt = anet_type_make(dt, 4, md);
                size_t es = anet_dtype_size(dt);
                uint8_t *mk = calloc((size_t)(cout * cin), es);
                if (!mk) return anet_fail(ANET_E_NOMEM, "autodiff: out of memory for a group mask");
                for (int64_t co = 0; co < cout; co++)
                    for (int64_t ci = (co / og) * cg; ci < (co / og + 1) * cg; ci++) {
                        if (dt == ANET_DT_FP16) ((anet_f16 *)mk)[co * cin + ci] = anet_f32_to_f16(1.0f);
                        else ((float *)mk)[co * cin + ci] = 1.0f;
                    }
                int mask = anet_graph_const(g, NULL, mt, mk, (size_t)(cout * cin) * es);
                free(mk);
                int64_t s5[5] = {cout, groups, cg, tw.dims[2], tw.dims[3]}, ax1 = 1;
                dw = reduce_sum(c, reshape(c, op2(c, ANET_OP_MUL, dw, mask), 5, s5), 1, &ax1, 0);
            }
            ACC(w, dw);
        }
        if (b >= 0 && active(c, b)) {
            int64_t axes[3] = {0, 2, 3};
            ACC(b, reduce_sum(c, d, r - 1, axes, 0));
        }
        break;
    }
    case ANET_OP_AVG_POOL:
    case ANET_OP_MAX_POOL: {
        if (!active(c, x)) break;
        anet_type tx = vtype(c, x);
        int64_t ks[2];
        int n;
        if (arg_ints(c, op, "kernel_sizes", ks, &n) != 0 || n != tx.rank - 2) return bad_arg(op, "kernel_sizes is not a constant");
        win wn;
        st = anet_ad_read_window(c, op, &tx, ks, 0, &wn);
        if (st != ANET_OK) return st;
        int64_t C = tx.dims[1], kk = 1;
        for (int i = 0; i < wn.nsp; i++) kk *= wn.k[i];
        int d = materialize(c, dy, &tz);
        if (op->kind == ANET_OP_AVG_POOL) {
            int excl = 0;
            if (arg_bool(c, op, "exclude_padding_from_average", 0, &excl) != 0) return bad_arg(op, "exclude_padding_from_average is not a constant");
            for (int i = 0; i < wn.nsp; i++)
                if (excl && (wn.pb[i] || wn.pa[i])) return bad_arg(op, "average excluding padding has no gradient rule");
            /* ones, then an exact division (1/k is not exact in fp16) */
            int up = anet_ad_tile_up(c, d, &wn);
            if (up < 0) up = anet_ad_window_back(c, op, d, anet_ad_depthwise_fill(c, dt, C, &wn, 1.0), &wn, C);
            ACC(x, op2(c, ANET_OP_REAL_DIV, up, scal(c, dt, (double)kk)));
        } else {
            /* Non-overlapping windows only: each input sees at most one window; the gradient
             * goes to the elements equal to their window's max. */
            for (int i = 0; i < wn.nsp; i++)
                if (wn.k[i] != wn.s[i] || wn.pb[i] || wn.pa[i]) return bad_arg(op, "max_pool with overlapping or padded windows has no gradient rule");
            int up_y = anet_ad_tile_up(c, zv, &wn), up_d = anet_ad_tile_up(c, d, &wn);
            if (up_y < 0 || up_d < 0) {
                int ones = anet_ad_depthwise_fill(c, dt, C, &wn, 1.0);
                up_y = anet_ad_window_back(c, op, zv, ones, &wn, C);
                up_d = anet_ad_window_back(c, op, d, ones, &wn, C);
            }
            ACC(x, select3(c, op2(c, ANET_OP_GREATER, up_y, x), scal(c, dt, 0), up_d));
        }
        break;
    }
    default:
        return anet_fail(ANET_E_UNSUPPORTED, "autodiff: no gradient rule for op '%s' (%s)", op->name, op->type);
    }
#undef ACC
    return st;
}

anet_status anet_autodiff(anet_graph *g, const anet_autodiff_spec *spec, int *grads) {
    if (!g || !spec || !grads || spec->nwrt < 0 || (spec->nwrt > 0 && !spec->wrt))
        return anet_fail(ANET_E_INVALID, "autodiff: missing graph, spec or gradient array");
    int nv0 = g->nvalues, nops0 = g->nops;
    if (spec->loss < 0 || spec->loss >= nv0) return anet_fail(ANET_E_INVALID, "autodiff: loss value %d does not exist", spec->loss);
    if (spec->seed >= nv0) return anet_fail(ANET_E_INVALID, "autodiff: seed value %d does not exist", spec->seed);
    for (int i = 0; i < spec->nwrt; i++)
        if (spec->wrt[i] < 0 || spec->wrt[i] >= nv0) return anet_fail(ANET_E_INVALID, "autodiff: value %d does not exist", spec->wrt[i]);
    for (int i = 0; i < spec->nstop; i++)
        if (!spec->stop || spec->stop[i] < 0 || spec->stop[i] >= nv0) return anet_fail(ANET_E_INVALID, "autodiff: stop value does not exist");

    ad_ctx c = {g, nv0, NULL, NULL, spec->spread_mul};
    char *dep = calloc((size_t)nv0 + 1, 1), *need = calloc((size_t)nv0 + 1, 1), *stop = calloc((size_t)nv0 + 1, 1);
    c.act = calloc((size_t)nv0 + 1, 1);
    c.adj = malloc(sizeof(int) * ((size_t)nv0 + 1));
    anet_status st = ANET_OK;
    if (!dep || !need || !stop || !c.act || !c.adj) {
        st = anet_fail(ANET_E_NOMEM, "autodiff: out of memory");
        goto done;
    }
    for (int i = 0; i < nv0; i++) c.adj[i] = -1;
    for (int i = 0; i < spec->nstop; i++) stop[spec->stop[i]] = 1;
    for (int i = 0; i < spec->nwrt; i++) dep[spec->wrt[i]] = 1;
    /* Forward: which values depend on a wrt value. */
    for (int o = 0; o < nops0; o++) {
        const anet_op *op = &g->ops[o];
        int d = 0;
        for (int a = 0; a < op->nargs && !d; a++)
            for (int k = 0; k < op->args[a].n; k++)
                if (dep[op->args[a].vals[k]]) d = 1;
        for (int k = 0; k < op->noutputs; k++)
            if (d && !stop[op->outputs[k]]) dep[op->outputs[k]] = 1;
    }
    /* Backward: which values the loss depends on. */
    need[spec->loss] = 1;
    for (int o = nops0 - 1; o >= 0; o--) {
        const anet_op *op = &g->ops[o];
        int n = 0;
        for (int k = 0; k < op->noutputs; k++)
            if (need[op->outputs[k]] && !stop[op->outputs[k]]) n = 1;
        if (!n) continue;
        for (int a = 0; a < op->nargs; a++)
            for (int k = 0; k < op->args[a].n; k++) need[op->args[a].vals[k]] = 1;
    }
    for (int v = 0; v < nv0; v++) c.act[v] = dep[v] && need[v];

    if (c.act[spec->loss]) {
        anet_type tl = g->values[spec->loss].type;
        int seed = spec->seed;
        if (seed < 0) {
            anet_type one = tl;
            for (int i = 0; i < one.rank; i++) one.dims[i] = 1;
            seed = fill(&c, one, 1.0);
            if (seed < 0) {
                st = ANET_E_INVALID;
                goto done;
            }
        }
        st = accumulate(&c, spec->loss, seed);
        if (st != ANET_OK) goto done;
        for (int o = nops0 - 1; o >= 0; o--) {
            const anet_op *op = &g->ops[o];
            if (op->kind == ANET_OP_CONST || op->noutputs < 1 || c.adj[op->outputs[0]] < 0) continue;
            if (op->noutputs != 1) {
                st = anet_fail(ANET_E_UNSUPPORTED, "autodiff: op '%s' has several outputs", op->name);
                goto done;
            }
            int any = 0;
            for (int a = 0; a < op->nargs && !any; a++)
                for (int k = 0; k < op->args[a].n; k++)
                    if (c.act[op->args[a].vals[k]]) any = 1;
            if (!any) continue;
            st = rule(&c, o);
            if (st != ANET_OK) goto done;
        }
    }
    for (int i = 0; i < spec->nwrt; i++) {
        int w = spec->wrt[i];
        anet_type t = g->values[w].type;
        int gv = c.adj[w] >= 0 ? materialize(&c, c.adj[w], &t) : fill(&c, t, 0.0);
        const char *name = spec->names ? spec->names[i] : NULL;
        if (gv >= 0 && name) {
            static const char *const keys[1] = {"x"};
            int vals[1] = {gv};
            gv = anet_graph_op(g, ANET_OP_IDENTITY, name, 1, keys, vals);
        }
        if (gv < 0) {
            st = anet_last_error()[0] ? ANET_E_INVALID : anet_fail(ANET_E_INTERNAL, "autodiff: could not build a gradient");
            goto done;
        }
        grads[i] = gv;
    }
done:
    if (st != ANET_OK && !anet_last_error()[0]) anet_fail(st, "autodiff: failed to build the gradient graph");
    free(dep);
    free(need);
    free(stop);
    free(c.act);
    free(c.adj);
    return st;
}
