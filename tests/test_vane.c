/* vane through the public backend interface (IR -> MIL text -> compile -> eval), each op
 * against a float64 reference written here. Exactness where the contract implies it: for
 * add/sub/mul/div/sqrt/max/min the fp32 result rounded once to fp16 equals the double result
 * rounded once (double rounding is innocuous when 24 >= 2*11 + 2), so those compare bit for bit
 * with r16(reference). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vane_rig.h"

#include "runtime/vane/vane.h"

#define TINY 5.9604644775390625e-08 /* 2^-24, the smallest fp16 subnormal */

/* Linear index into an input broadcast (numpy, right-aligned) to the output shape. */
static int64_t bidx(int orank, const int64_t *od, int64_t lin, int irank, const int64_t *id) {
    int64_t idx[5], r = 0, s = 1;
    for (int i = orank - 1; i >= 0; i--) { idx[i] = lin % od[i]; lin /= od[i]; }
    for (int i = irank - 1; i >= 0; i--) {
        int o = i + (orank - irank);
        r += (id[i] == 1 ? 0 : idx[o]) * s;
        s *= id[i];
    }
    return r;
}

static double ref_bin(anet_opkind k, double x, double y) {
    switch (k) {
    case ANET_OP_ADD: return x + y;
    case ANET_OP_SUB: return x - y;
    case ANET_OP_MUL: return x * y;
    case ANET_OP_REAL_DIV: return x / y;
    case ANET_OP_MAXIMUM: return x > y ? x : y;
    case ANET_OP_MINIMUM: return x < y ? x : y;
    case ANET_OP_POW: return pow(x, y);
    case ANET_OP_GREATER: return x > y;
    case ANET_OP_GREATER_EQUAL: return x >= y;
    case ANET_OP_LESS: return x < y;
    case ANET_OP_EQUAL: return x == y;
    default: return NAN;
    }
}

static int is_cmp(anet_opkind k) {
    return k == ANET_OP_GREATER || k == ANET_OP_GREATER_EQUAL || k == ANET_OP_LESS || k == ANET_OP_EQUAL;
}

static void test_binary(void) {
    const anet_opkind kinds[] = {ANET_OP_ADD, ANET_OP_SUB, ANET_OP_MUL, ANET_OP_REAL_DIV, ANET_OP_MAXIMUM,
                                 ANET_OP_MINIMUM, ANET_OP_POW, ANET_OP_GREATER, ANET_OP_GREATER_EQUAL,
                                 ANET_OP_LESS, ANET_OP_EQUAL};
    struct { int xr; int64_t xd[5]; int yr; int64_t yd[5]; int orank; int64_t od[5]; } cases[] = {
        {4, {1, 7, 1, 13}, 4, {1, 7, 1, 13}, 4, {1, 7, 1, 13}},
        {4, {1, 7, 1, 13}, 4, {1, 7, 1, 1}, 4, {1, 7, 1, 13}},
        {4, {1, 1, 1, 1}, 4, {1, 7, 1, 13}, 4, {1, 7, 1, 13}},
        {3, {3, 1, 5}, 2, {4, 1}, 3, {3, 4, 5}},
        {2, {2, 3}, 4, {1, 1, 2, 3}, 4, {1, 1, 2, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            anet_opkind kind = kinds[k];
            anet_type tx = anet_type_make(ANET_DT_FP16, cases[c].xr, cases[c].xd);
            anet_type ty = anet_type_make(ANET_DT_FP16, cases[c].yr, cases[c].yd);
            int64_t nx = anet_type_elements(&tx), ny = anet_type_elements(&ty), no = 1;
            for (int i = 0; i < cases[c].orank; i++) no *= cases[c].od[i];
            float *x = rig_data(nx, kind == ANET_OP_POW ? 0.5 : -3, 3);
            float *y = rig_data(ny, kind == ANET_OP_POW ? -2 : -3, 3);
            if (kind == ANET_OP_REAL_DIV)
                for (int64_t i = 0; i < ny; i++) if (fabsf(y[i]) < 0.25f) y[i] = 0.25f;
            if (nx == ny) /* some ties for the comparisons and max/min */
                for (int64_t i = 0; i < nx; i += 3) y[i] = x[i];
            anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
            int vx = anet_graph_input(g, "x", tx), vy = anet_graph_input(g, "y", ty);
            int z;
            if (is_cmp(kind)) {
                /* bool results leave through select, as a program would return them. */
                int cmp = op(g, kind, "cmp", "x", vx, "y", vy, NULL);
                int one = anet_graph_const_fp16(g, "one", 1.0f), zero = anet_graph_const_fp16(g, "zero", 0.0f);
                z = op(g, ANET_OP_SELECT, "z", "cond", cmp, "a", one, "b", zero, NULL);
            } else {
                z = op(g, kind, "z", "x", vx, "y", vy, NULL);
            }
            out1(g, z);
            float *out = calloc((size_t)no, sizeof *out);
            float *ins[2] = {x, y};
            anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &out);
            CHECK_MSG(st == ANET_OK, "case %zu op %s: %s", c, anet_op_kind_name(kind), rig_err);
            int bad = 0;
            for (int64_t i = 0; st == ANET_OK && i < no; i++) {
                double a = x[bidx(cases[c].orank, cases[c].od, i, cases[c].xr, cases[c].xd)];
                double b = y[bidx(cases[c].orank, cases[c].od, i, cases[c].yr, cases[c].yd)];
                double ref = ref_bin(kind, a, b), got = out[i];
                int ok = kind == ANET_OP_POW ? fabs(got - ref) <= ldexp(fabs(ref), -10) + TINY
                                             : got == r16(ref);
                if (!ok && bad++ < 3)
                    fprintf(stderr, "case %zu %s [%lld]: %.9g op %.9g = %.9g, want %.9g\n", c,
                            anet_op_kind_name(kind), (long long)i, a, b, got, r16(ref));
            }
            CHECK_MSG(bad == 0, "case %zu op %s: %d mismatches", c, anet_op_kind_name(kind), bad);
            free(x); free(y); free(out);
            anet_graph_free(g);
        }
    }
}

static void test_unary(void) {
    struct { anet_opkind k; double lo, hi; int exact; anet_chip chip; } u[] = {
        {ANET_OP_RELU, -3, 3, 1, ANET_CHIP_M4},     {ANET_OP_ABS, -3, 3, 1, ANET_CHIP_M4},
        {ANET_OP_SQUARE, -40, 40, 1, ANET_CHIP_M4}, {ANET_OP_SQRT, 0, 50, 1, ANET_CHIP_M4},
        {ANET_OP_SIGMOID, -8, 8, 0, ANET_CHIP_M4},  {ANET_OP_TANH, -4, 4, 0, ANET_CHIP_M4},
        {ANET_OP_EXP, -6, 6, 0, ANET_CHIP_M4},      {ANET_OP_LOG, 0.01, 60, 0, ANET_CHIP_M4},
        {ANET_OP_RSQRT, 0.05, 60, 0, ANET_CHIP_M1}, /* rsqrt is rejected on the m4 profile */
        {ANET_OP_IDENTITY, -3, 3, 1, ANET_CHIP_M4},
    };
    const int64_t shapes[2][5] = {{1, 7, 1, 13, 0}, {3, 5, 11, 0, 0}};
    const int ranks[2] = {4, 3};
    for (size_t k = 0; k < sizeof u / sizeof u[0]; k++)
        for (int s = 0; s < 2; s++) {
            anet_type t = anet_type_make(ANET_DT_FP16, ranks[s], shapes[s]);
            int64_t n = anet_type_elements(&t);
            float *x = rig_data(n, u[k].lo, u[k].hi), *out = calloc((size_t)n, sizeof(float));
            anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
            int vx = anet_graph_input(g, "x", t);
            out1(g, op(g, u[k].k, "y", "x", vx, NULL));
            anet_status st = rig_run(g, 0, u[k].chip, ANET_NUMERICS_FP16, &x, &out);
            CHECK_MSG(st == ANET_OK, "%s: %s", anet_op_kind_name(u[k].k), rig_err);
            int bad = 0;
            for (int64_t i = 0; st == ANET_OK && i < n; i++) {
                double a = x[i], ref;
                switch (u[k].k) {
                case ANET_OP_RELU: ref = a > 0 ? a : 0; break;
                case ANET_OP_ABS: ref = fabs(a); break;
                case ANET_OP_SQUARE: ref = a * a; break;
                case ANET_OP_SQRT: ref = sqrt(a); break;
                case ANET_OP_SIGMOID: ref = 1 / (1 + exp(-a)); break;
                case ANET_OP_TANH: ref = tanh(a); break;
                case ANET_OP_EXP: ref = exp(a); break;
                case ANET_OP_LOG: ref = log(a); break;
                case ANET_OP_RSQRT: ref = 1 / sqrt(a); break;
                default: ref = a; break;
                }
                double got = out[i];
                int ok = u[k].exact ? got == r16(ref) : fabs(got - ref) <= ldexp(fabs(ref), -10) + TINY;
                if (!ok && bad++ < 3)
                    fprintf(stderr, "%s(%.9g) = %.9g, want %.9g\n", anet_op_kind_name(u[k].k), a, got, ref);
            }
            CHECK_MSG(bad == 0, "%s shape %d: %d mismatches", anet_op_kind_name(u[k].k), s, bad);
            free(x); free(out);
            anet_graph_free(g);
        }
}

static void test_select_broadcast(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int c = anet_graph_input(g, "c", T16(4, 1, 7, 1, 13, 0));
    int a = anet_graph_input(g, "a", T16(4, 1, 7, 1, 1, 0));
    int b = anet_graph_input(g, "b", T16(4, 1, 1, 1, 13, 0));
    int zero = anet_graph_const_fp16(g, "zero", 0.0f);
    int cond = op(g, ANET_OP_GREATER, "cond", "x", c, "y", zero, NULL);
    out1(g, op(g, ANET_OP_SELECT, "s", "cond", cond, "a", a, "b", b, NULL));
    float *vc = rig_data(91, -1, 1), *va = rig_data(7, -5, 5), *vb = rig_data(13, -5, 5), *out = calloc(91, 4);
    float *ins[3] = {vc, va, vb};
    anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &out);
    CHECK_MSG(st == ANET_OK, "select: %s", rig_err);
    int bad = 0;
    for (int ch = 0; st == ANET_OK && ch < 7; ch++)
        for (int s = 0; s < 13; s++)
            if (out[ch * 13 + s] != (vc[ch * 13 + s] > 0 ? va[ch] : vb[s])) bad++;
    CHECK_EQ_INT(bad, 0);
    free(vc); free(va); free(vb); free(out);
    anet_graph_free(g);
}

static void test_softmax(void) {
    struct { int rank; int64_t d[5]; int axis; } c[] = {{4, {1, 7, 1, 13}, 1}, {3, {2, 3, 17}, -1}};
    for (int k = 0; k < 2; k++) {
        anet_type t = anet_type_make(ANET_DT_FP16, c[k].rank, c[k].d);
        int64_t n = anet_type_elements(&t);
        int ax = c[k].axis < 0 ? c[k].axis + c[k].rank : c[k].axis;
        int64_t outer = 1, len = c[k].d[ax], inner = 1;
        for (int i = 0; i < ax; i++) outer *= c[k].d[i];
        for (int i = ax + 1; i < c[k].rank; i++) inner *= c[k].d[i];
        float *x = rig_data(n, -6, 6), *out = calloc((size_t)n, 4);
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int vx = anet_graph_input(g, "x", t);
        out1(g, op(g, ANET_OP_SOFTMAX, "y", "x", vx, "axis", anet_graph_const_int32(g, "ax", c[k].axis), NULL));
        anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, &x, &out);
        CHECK_MSG(st == ANET_OK, "softmax: %s", rig_err);
        int bad = 0;
        for (int64_t o = 0; st == ANET_OK && o < outer; o++)
            for (int64_t j = 0; j < inner; j++) {
                double m = -INFINITY, s = 0;
                for (int64_t i = 0; i < len; i++) m = fmax(m, x[(o * len + i) * inner + j]);
                for (int64_t i = 0; i < len; i++) s += exp(x[(o * len + i) * inner + j] - m);
                for (int64_t i = 0; i < len; i++) {
                    int64_t at = (o * len + i) * inner + j;
                    double ref = exp(x[at] - m) / s;
                    if (fabs(out[at] - ref) > ldexp(ref, -10) + TINY) bad++;
                }
            }
        CHECK_MSG(bad == 0, "softmax case %d: %d mismatches", k, bad);
        free(x); free(out);
        anet_graph_free(g);
    }
}

static void test_reduce(void) {
    const int64_t d[4] = {2, 7, 3, 13};
    struct { int n; int32_t axes[3]; int keep; } c[] = {
        {1, {1}, 1}, {1, {3}, 0}, {2, {1, 3}, 1}, {1, {-1}, 1}, {2, {0, 2}, 0}, {4, {0, 1, 2}, 0} /* 4: no axes = all */
    };
    const anet_opkind kinds[3] = {ANET_OP_REDUCE_SUM, ANET_OP_REDUCE_MEAN, ANET_OP_REDUCE_MAX};
    float *x = rig_data(2 * 7 * 3 * 13, -4, 4);
    for (int k = 0; k < 3; k++)
        for (size_t ci = 0; ci < sizeof c / sizeof c[0]; ci++) {
            unsigned mask = 0;
            int all = c[ci].n == 4;
            for (int i = 0; i < (all ? 0 : c[ci].n); i++) mask |= 1u << ((c[ci].axes[i] + 4) % 4);
            if (all) mask = 15;
            anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
            int vx = anet_graph_input(g, "x", T16(4, d[0], d[1], d[2], d[3], 0));
            int keep = anet_graph_const_bool(g, "keep", c[ci].keep);
            int y;
            if (all) y = op(g, kinds[k], "y", "x", vx, "keep_dims", keep, NULL);
            else y = op(g, kinds[k], "y", "x", vx, "axes", anet_graph_const_int32s(g, "axes", c[ci].n, c[ci].axes),
                        "keep_dims", keep, NULL);
            out1(g, y);
            int64_t no = 1, cnt = 1;
            for (int i = 0; i < 4; i++) {
                if ((mask >> i) & 1u) cnt *= d[i];
                else no *= d[i];
            }
            float *out = calloc((size_t)no, 4);
            anet_status st = y >= 0 ? rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, &x, &out) : ANET_E_INVALID;
            CHECK_MSG(st == ANET_OK, "%s case %zu: %s", anet_op_kind_name(kinds[k]), ci, rig_err);
            /* Reference: walk every input element into its output slot. */
            double *ref = calloc((size_t)no, sizeof *ref), *mag = calloc((size_t)no, sizeof *mag);
            for (int64_t o = 0; o < no; o++) ref[o] = kinds[k] == ANET_OP_REDUCE_MAX ? -INFINITY : 0;
            for (int64_t i = 0; i < 2 * 7 * 3 * 13; i++) {
                int64_t idx[4], r = i, o = 0;
                for (int a = 3; a >= 0; a--) { idx[a] = r % d[a]; r /= d[a]; }
                for (int a = 0; a < 4; a++) if (!((mask >> a) & 1u)) o = o * d[a] + idx[a];
                if (kinds[k] == ANET_OP_REDUCE_MAX) ref[o] = fmax(ref[o], x[i]);
                else { ref[o] += x[i]; mag[o] += fabs(x[i]); }
            }
            int bad = 0;
            for (int64_t o = 0; st == ANET_OK && o < no; o++) {
                double want = kinds[k] == ANET_OP_REDUCE_MEAN ? ref[o] / cnt : ref[o];
                double m = kinds[k] == ANET_OP_REDUCE_MEAN ? mag[o] / cnt : mag[o];
                /* fp32 accumulation of cnt terms, then one rounding to fp16. */
                double tol = kinds[k] == ANET_OP_REDUCE_MAX ? 0 : ldexp(fabs(want), -11) + cnt * ldexp(m, -23) + TINY;
                if (fabs(out[o] - want) > tol) bad++;
            }
            CHECK_MSG(bad == 0, "%s case %zu: %d mismatches", anet_op_kind_name(kinds[k]), ci, bad);
            free(out); free(ref); free(mag);
            anet_graph_free(g);
        }
    free(x);
}

/* Reference matmul of row-major fp16-valued matrices with a K- and magnitude-scaled bound:
 * fp32 accumulation of K exact products (|err| <= K * 2^-24 * sum|a*b|) then one rounding. */
static int check_mm(const float *out, const float *a, int ta, const float *b, int tb, int64_t M,
                    int64_t N, int64_t K, const float *bias) {
    int bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0, m = bias ? fabs(bias[j]) : 0;
            for (int64_t k = 0; k < K; k++) {
                double av = ta ? a[k * M + i] : a[i * K + k], bv = tb ? b[j * K + k] : b[k * N + j];
                s += av * bv;
                m += fabs(av * bv);
            }
            double got = out[i * N + j];
            if (fabs(got - s) > ldexp(fabs(s), -11) + (double)(K + 1) * ldexp(m, -23) + TINY) {
                if (bad++ < 3) fprintf(stderr, "mm [%lld,%lld] = %.9g, want %.9g\n", (long long)i, (long long)j, got, s);
            }
        }
    return bad;
}

static void test_matmul(void) {
    const int64_t M = 37, K = 61, N = 29;
    for (int v = 0; v < 4; v++) {
        int ta = v == 1, tb = v == 2, yconst = v == 3;
        float *a = rig_data(M * K, -2, 2), *b = rig_data(K * N, -2, 2), *out = calloc((size_t)(M * N), 4);
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "x", ta ? T16(2, K, M, 0, 0, 0) : T16(2, M, K, 0, 0, 0));
        anet_type ty = tb ? T16(2, N, K, 0, 0, 0) : T16(2, K, N, 0, 0, 0);
        int y = yconst ? cst16(g, "w", ty, b) : anet_graph_input(g, "y", ty);
        out1(g, op(g, ANET_OP_MATMUL, "z", "x", x, "y", y, "transpose_x", anet_graph_const_bool(g, "tx", ta),
                   "transpose_y", anet_graph_const_bool(g, "ty", tb), NULL));
        float *ins[2] = {a, b};
        /* A const operand is a static matmul, which every chip accepts. */
        anet_status st = rig_run(g, 0, yconst ? ANET_CHIP_M1 : ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &out);
        CHECK_MSG(st == ANET_OK, "matmul variant %d: %s", v, rig_err);
        if (st == ANET_OK) CHECK_EQ_INT(check_mm(out, a, ta, b, tb, M, N, K, NULL), 0);
        free(a); free(b); free(out);
        anet_graph_free(g);
    }
    /* Batched with broadcast: [2,3,5,8] x [8,6] -> [2,3,5,6] (one y for every batch), also with
     * y as [6,8] transposed, and [1,3,5,8] x [2,3,8,6] (x broadcast). */
    for (int v = 0; v < 3; v++) {
        int tb = v == 1, xb = v == 2;
        float *a = rig_data(2 * 3 * 5 * 8, -2, 2), *b = rig_data(2 * 3 * 8 * 6, -2, 2), *out = calloc(180, 4);
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "x", T16(4, xb ? 1 : 2, 3, 5, 8, 0));
        int y = anet_graph_input(g, "y", xb ? T16(4, 2, 3, 8, 6, 0) : tb ? T16(2, 6, 8, 0, 0, 0) : T16(2, 8, 6, 0, 0, 0));
        out1(g, op(g, ANET_OP_MATMUL, "z", "x", x, "y", y, "transpose_x", anet_graph_const_bool(g, "tx", 0),
                   "transpose_y", anet_graph_const_bool(g, "ty", tb), NULL));
        float *ins[2] = {a, b};
        anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &out);
        CHECK_MSG(st == ANET_OK, "batched matmul %d: %s", v, rig_err);
        for (int bi = 0; st == ANET_OK && bi < 6; bi++)
            CHECK_EQ_INT(check_mm(out + bi * 30, a + (xb ? bi % 3 : bi) * 40, 0, b + (xb ? bi * 48 : 0), tb, 5, 6, 8, NULL), 0);
        free(a); free(b); free(out);
        anet_graph_free(g);
    }
}

static void test_linear_blobfile(void) {
    const int64_t M = 37, K = 61, N = 29;
    float *a = rig_data(M * K, -2, 2), *w = rig_data(N * K, -1, 1), *bias = rig_data(N, -1, 1);
    float *out = calloc((size_t)(M * N), 4);
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", T16(2, M, K, 0, 0, 0));
    int vw = cst16(g, "w", T16(2, N, K, 0, 0, 0), w), vb = cst16(g, "b", T16(1, N, 0, 0, 0, 0), bias);
    out1(g, op(g, ANET_OP_LINEAR, "z", "x", x, "weight", vw, "bias", vb, NULL));
    /* Weights of >= 16 elements travel in weight.bin as BLOBFILE consts. */
    anet_status st = rig_run(g, 16, ANET_CHIP_M1, ANET_NUMERICS_FP16, &a, &out);
    CHECK_MSG(st == ANET_OK, "linear: %s", rig_err);
    if (st == ANET_OK) CHECK_EQ_INT(check_mm(out, a, 0, w, 1, M, N, K, bias), 0);
    free(a); free(w); free(bias); free(out);
    anet_graph_free(g);
}

typedef struct convcase {
    int64_t n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, groups;
    const char *pad_type;
    int64_t pad[4]; /* custom: top, bottom, left, right */
    int weight_input;
    int sparse; /* const kernel with 1 nonzero in 9: vane's tap-by-tap path (anet_vk_conv_taps) */
} convcase;

static void test_conv(void) {
    convcase cs[] = {
        {1, 5, 9, 11, 4, 3, 3, 2, 2, 1, 1, 1, "custom", {1, 1, 1, 1}, 0, 0},
        {2, 5, 9, 11, 5, 3, 3, 1, 1, 2, 2, 5, "same", {0, 0, 0, 0}, 0, 0},
        {1, 6, 4, 7, 3, 1, 1, 1, 1, 1, 1, 1, "valid", {0, 0, 0, 0}, 1, 0},
        {1, 4, 6, 9, 6, 3, 3, 1, 2, 1, 1, 2, "valid", {0, 0, 0, 0}, 1, 0},
        {1, 3, 5, 8, 2, 2, 3, 1, 1, 1, 1, 1, "custom", {0, 1, 2, 0}, 0, 0},
        {2, 4, 9, 11, 6, 3, 3, 2, 1, 1, 2, 2, "custom", {1, 2, 0, 3}, 0, 1},
        {1, 6, 8, 8, 12, 5, 5, 1, 1, 1, 1, 6, "custom", {2, 2, 2, 2}, 0, 1},
        /* weight-gradient shapes (wide kernel, narrow output): vane's direct sums in lanes
         * (anet_vk_conv_wide; kernel rows of 12 and 28 taps, groups), and with a dilation the
         * transposed im2col */
        {1, 7, 12, 13, 4, 10, 12, 1, 1, 1, 1, 1, "custom", {1, 2, 2, 1}, 1, 0},
        {2, 6, 9, 30, 4, 3, 28, 1, 1, 1, 1, 2, "custom", {1, 1, 2, 2}, 1, 0},
        {1, 3, 6, 28, 2, 3, 13, 1, 1, 1, 2, 1, "custom", {1, 0, 0, 0}, 1, 0},
        /* input-gradient shapes (few outputs from many inputs across a wide padding): vane's
         * GEMM on the unexpanded input, then the taps' planes added at their shifts */
        {2, 16, 10, 10, 6, 5, 5, 1, 1, 1, 1, 1, "custom", {4, 4, 4, 4}, 1, 0},
        {1, 8, 7, 9, 4, 3, 3, 1, 1, 2, 1, 2, "custom", {4, 3, 2, 5}, 0, 0},
        {1, 12, 6, 6, 2, 3, 3, 1, 1, 1, 1, 1, "custom", {1, 0, 0, 2}, 1, 0},
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        const convcase *c = &cs[ci];
        int64_t pt = c->pad[0], pb = c->pad[1], pl = c->pad[2], pr = c->pad[3];
        int64_t ekh = c->dh * (c->kh - 1) + 1, ekw = c->dw * (c->kw - 1) + 1, ho, wo;
        if (strcmp(c->pad_type, "same") == 0) {
            ho = (c->h + c->sh - 1) / c->sh;
            wo = (c->w + c->sw - 1) / c->sw;
            int64_t th = (ho - 1) * c->sh + ekh - c->h, tw = (wo - 1) * c->sw + ekw - c->w;
            if (th < 0) th = 0;
            if (tw < 0) tw = 0;
            pt = th / 2; pb = th - pt; pl = tw / 2; pr = tw - pl;
        }
        ho = (c->h + pt + pb - ekh) / c->sh + 1;
        wo = (c->w + pl + pr - ekw) / c->sw + 1;
        int64_t cg = c->cin / c->groups, og = c->cout / c->groups;
        float *x = rig_data(c->n * c->cin * c->h * c->w, -2, 2);
        float *wt = rig_data(c->cout * cg * c->kh * c->kw, -1, 1);
        for (int64_t e = 0; c->sparse && e < c->cout * cg * c->kh * c->kw; e++)
            if (e % 9 != 4) wt[e] = 0.0f;
        float *out = calloc((size_t)(c->n * c->cout * ho * wo), 4);
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int vx = anet_graph_input(g, "x", T16(4, c->n, c->cin, c->h, c->w, 0));
        anet_type twt = T16(4, c->cout, cg, c->kh, c->kw, 0);
        int vw = c->weight_input ? anet_graph_input(g, "w", twt) : cst16(g, "w", twt, wt);
        int y = op(g, ANET_OP_CONV, "y", "x", vx, "weight", vw,
                   "strides", ints(g, 2, (int32_t)c->sh, (int32_t)c->sw, 0, 0),
                   "pad_type", anet_graph_const_string(g, "pt", c->pad_type),
                   "pad", ints(g, 4, (int32_t)c->pad[0], (int32_t)c->pad[1], (int32_t)c->pad[2], (int32_t)c->pad[3]),
                   "dilations", ints(g, 2, (int32_t)c->dh, (int32_t)c->dw, 0, 0),
                   "groups", anet_graph_const_int32(g, "groups", (int32_t)c->groups), NULL);
        out1(g, y);
        CHECK_MSG(y >= 0 && g->values[y].type.dims[2] == ho && g->values[y].type.dims[3] == wo,
                  "conv case %zu: inferred output shape differs from the test's", ci);
        float *ins[2] = {x, wt};
        anet_status st = y >= 0 ? rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &out) : ANET_E_INVALID;
        CHECK_MSG(st == ANET_OK, "conv case %zu: %s", ci, rig_err);
        int bad = 0;
        for (int64_t n = 0; st == ANET_OK && n < c->n; n++)
            for (int64_t co = 0; co < c->cout; co++)
                for (int64_t oy = 0; oy < ho; oy++)
                    for (int64_t ox = 0; ox < wo; ox++) {
                        double s = 0, m = 0;
                        int64_t grp = co / og;
                        for (int64_t ci2 = 0; ci2 < cg; ci2++)
                            for (int64_t i = 0; i < c->kh; i++)
                                for (int64_t j = 0; j < c->kw; j++) {
                                    int64_t iy = oy * c->sh - pt + i * c->dh, ix = ox * c->sw - pl + j * c->dw;
                                    if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                    double xv = x[((n * c->cin + grp * cg + ci2) * c->h + iy) * c->w + ix];
                                    double wv = wt[((co * cg + ci2) * c->kh + i) * c->kw + j];
                                    s += xv * wv;
                                    m += fabs(xv * wv);
                                }
                        int64_t K = cg * c->kh * c->kw;
                        double got = out[((n * c->cout + co) * ho + oy) * wo + ox];
                        if (fabs(got - s) > ldexp(fabs(s), -11) + (double)K * ldexp(m, -23) + TINY && bad++ < 3)
                            fprintf(stderr, "conv %zu [%lld,%lld,%lld,%lld] = %.9g want %.9g\n", ci, (long long)n,
                                    (long long)co, (long long)oy, (long long)ox, got, s);
                    }
        CHECK_MSG(bad == 0, "conv case %zu: %d mismatches", ci, bad);
        free(x); free(wt); free(out);
        anet_graph_free(g);
    }
}

static void test_pool(void) {
    struct { int is_max; int64_t k, s; const char *pt; int64_t pad; int excl; } cs[] = {
        {1, 2, 2, "valid", 0, 0}, {0, 2, 2, "valid", 0, 0}, {0, 3, 2, "custom", 1, 1},
        {0, 3, 2, "custom", 1, 0}, {1, 3, 2, "custom", 1, 0},
    };
    const int64_t C = 3, H = 9, W = 11;
    float *x = rig_data(2 * C * H * W, -4, 4);
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t p = cs[ci].pad, k = cs[ci].k, s = cs[ci].s;
        int64_t ho = (H + 2 * p - k) / s + 1, wo = (W + 2 * p - k) / s + 1;
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int vx = anet_graph_input(g, "x", T16(4, 2, C, H, W, 0));
        int ks = ints(g, 2, (int32_t)k, (int32_t)k, 0, 0), st2 = ints(g, 2, (int32_t)s, (int32_t)s, 0, 0);
        int pt = anet_graph_const_string(g, "pt", cs[ci].pt), pd = ints(g, 4, (int32_t)p, (int32_t)p, (int32_t)p, (int32_t)p);
        int cm = anet_graph_const_bool(g, "cm", 0);
        int y = cs[ci].is_max
                    ? op(g, ANET_OP_MAX_POOL, "y", "x", vx, "kernel_sizes", ks, "strides", st2, "pad_type", pt, "pad", pd,
                         "ceil_mode", cm, NULL)
                    : op(g, ANET_OP_AVG_POOL, "y", "x", vx, "kernel_sizes", ks, "strides", st2, "pad_type", pt, "pad", pd,
                         "ceil_mode", cm, "exclude_padding_from_average", anet_graph_const_bool(g, "ex", cs[ci].excl), NULL);
        out1(g, y);
        float *out = calloc((size_t)(2 * C * ho * wo), 4);
        anet_status st = y >= 0 ? rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, &x, &out) : ANET_E_INVALID;
        CHECK_MSG(st == ANET_OK, "pool case %zu: %s", ci, rig_err);
        int bad = 0;
        for (int64_t pl = 0; st == ANET_OK && pl < 2 * C; pl++)
            for (int64_t oy = 0; oy < ho; oy++)
                for (int64_t ox = 0; ox < wo; ox++) {
                    double acc = cs[ci].is_max ? -INFINITY : 0;
                    int n = 0;
                    for (int64_t i = 0; i < k; i++)
                        for (int64_t j = 0; j < k; j++) {
                            int64_t iy = oy * s - p + i, ix = ox * s - p + j;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            double v = x[(pl * H + iy) * W + ix];
                            acc = cs[ci].is_max ? fmax(acc, v) : acc + v;
                            n++;
                        }
                    double ref = cs[ci].is_max ? acc : acc / (cs[ci].excl ? n : k * k);
                    double got = out[(pl * ho + oy) * wo + ox];
                    int ok = cs[ci].is_max ? got == ref : fabs(got - ref) <= ldexp(fabs(ref), -10) + 1e-6;
                    if (!ok) bad++;
                }
        CHECK_MSG(bad == 0, "pool case %zu: %d mismatches", ci, bad);
        free(out);
        anet_graph_free(g);
    }
    free(x);
}

static void test_layout_ops(void) {
    /* reshape -> transpose -> slice on one input; values must move exactly. */
    float *x = rig_data(91, -5, 5);
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int vx = anet_graph_input(g, "x", T16(4, 1, 7, 1, 13, 0));
    int r = op(g, ANET_OP_RESHAPE, "r", "x", vx, "shape", ints(g, 2, 7, 13, 0, 0), NULL);
    int t = op(g, ANET_OP_TRANSPOSE, "t", "x", r, "perm", ints(g, 2, 1, 0, 0, 0), NULL);
    int s = op(g, ANET_OP_SLICE_BY_SIZE, "s", "x", t, "begin", ints(g, 2, 2, 3, 0, 0), "size", ints(g, 2, 9, 4, 0, 0), NULL);
    out1(g, s);
    float *out = calloc(36, 4);
    anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, &x, &out);
    CHECK_MSG(st == ANET_OK, "layout: %s", rig_err);
    int bad = 0;
    for (int i = 0; st == ANET_OK && i < 9; i++)
        for (int j = 0; j < 4; j++) /* t[a][b] = x[b][a]; s[i][j] = t[2+i][3+j] = x[3+j][2+i] */
            if (out[i * 4 + j] != x[(3 + j) * 13 + 2 + i]) bad++;
    CHECK_EQ_INT(bad, 0);
    free(out);
    anet_graph_free(g);
    free(x);

    /* transpose of rank 4 with a general permutation. */
    {
        float *v = rig_data(2 * 3 * 4 * 5, -5, 5), *o = calloc(120, 4);
        anet_graph *g2 = anet_graph_new(ANET_MIL_IOS18);
        int a = anet_graph_input(g2, "x", T16(4, 2, 3, 4, 5, 0));
        out1(g2, op(g2, ANET_OP_TRANSPOSE, "t", "x", a, "perm", ints(g2, 4, 2, 0, 3, 1), NULL));
        st = rig_run(g2, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, &v, &o);
        CHECK_MSG(st == ANET_OK, "transpose4: %s", rig_err);
        bad = 0; /* out [4,2,5,3]: o[i][j][k][l] = v[j][l][i][k] */
        for (int i = 0; st == ANET_OK && i < 4; i++)
            for (int j = 0; j < 2; j++)
                for (int k = 0; k < 5; k++)
                    for (int l = 0; l < 3; l++)
                        if (o[((i * 2 + j) * 5 + k) * 3 + l] != v[((j * 3 + l) * 4 + i) * 5 + k]) bad++;
        CHECK_EQ_INT(bad, 0);
        free(v); free(o);
        anet_graph_free(g2);
    }

    /* concat along axis 1 (rejected on the m4 profile, so run as m3). */
    {
        float *a = rig_data(24, -5, 5), *b = rig_data(40, -5, 5), *o = calloc(64, 4);
        anet_graph *g3 = anet_graph_new(ANET_MIL_IOS18);
        int va = anet_graph_input(g3, "a", T16(3, 2, 3, 4, 0, 0)), vb = anet_graph_input(g3, "b", T16(3, 2, 5, 4, 0, 0));
        int vals[2] = {va, vb}, axis = anet_graph_const_int32(g3, "axis", 1), il = anet_graph_const_bool(g3, "il", 0);
        anet_arg args[3] = {{(char *)"values", 2, vals, 1}, {(char *)"axis", 1, &axis, 0}, {(char *)"interleave", 1, &il, 0}};
        const char *names[1] = {"c"};
        anet_type ot = T16(3, 2, 8, 4, 0, 0);
        int opid = anet_graph_op_raw(g3, "concat", "c", 3, args, 1, names, &ot);
        CHECK_MSG(opid >= 0, "concat build: %s", anet_last_error());
        if (opid >= 0) {
            out1(g3, g3->ops[opid].outputs[0]);
            float *ins[2] = {a, b};
            st = rig_run(g3, 0, ANET_CHIP_M3, ANET_NUMERICS_FP16, ins, &o);
            CHECK_MSG(st == ANET_OK, "concat: %s", rig_err);
            bad = 0;
            for (int n = 0; st == ANET_OK && n < 2; n++)
                for (int c = 0; c < 8; c++)
                    for (int w = 0; w < 4; w++) {
                        float want = c < 3 ? a[(n * 3 + c) * 4 + w] : b[(n * 5 + c - 3) * 4 + w];
                        if (o[(n * 8 + c) * 4 + w] != want) bad++;
                    }
            CHECK_EQ_INT(bad, 0);
            st = rig_run(g3, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &o);
            CHECK(st == ANET_E_BACKEND);
            CHECK_STR_CONTAINS(rig_err, "op-rejected-concat");
        }
        free(a); free(b); free(o);
        anet_graph_free(g3);
    }
}

/* fp32 I/O around an fp16 body: y = cast32(cast16(x) * cast16(w) + cast16(x)). */
static anet_graph *fp32_program(int64_t n) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    anet_type t = T(ANET_DT_FP32, 4, 1, n, 1, 1, 0);
    int x = anet_graph_input(g, "x", t), w = anet_graph_input(g, "w", t);
    int to16 = anet_graph_const_string(g, "to16", "fp16"), to32 = anet_graph_const_string(g, "to32", "fp32");
    int xh = op(g, ANET_OP_CAST, "xh", "x", x, "dtype", to16, NULL);
    int wh = op(g, ANET_OP_CAST, "wh", "x", w, "dtype", to16, NULL);
    int m = op(g, ANET_OP_MUL, "m", "x", xh, "y", wh, NULL);
    int a = op(g, ANET_OP_ADD, "a", "x", m, "y", xh, NULL);
    out1(g, op(g, ANET_OP_CAST, "y", "x", a, "dtype", to32, NULL));
    return g;
}

static void test_numerics_modes(void) {
    const int64_t n = 257;
    float *x = malloc(n * 4), *w = malloc(n * 4), *o16 = calloc(n, 4), *o32 = calloc(n, 4);
    for (int64_t i = 0; i < n; i++) { /* not fp16-representable */
        x[i] = (float)rig_uniform(-3, 3);
        w[i] = (float)rig_uniform(-3, 3);
    }
    x[0] = 1.0f + 0x1p-12f; /* rounds to 1 in fp16 */
    w[0] = 1.0f;
    anet_graph *g = fp32_program(n);
    float *ins[2] = {x, w};
    anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, &o16);
    CHECK_MSG(st == ANET_OK, "fp16 mode: %s", rig_err);
    anet_status st2 = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP32, ins, &o32);
    CHECK_MSG(st2 == ANET_OK, "fp32 mode: %s", rig_err);
    int bad16 = 0, bad32 = 0;
    for (int64_t i = 0; st == ANET_OK && st2 == ANET_OK && i < n; i++) {
        double xh = r16(x[i]), wh = r16(w[i]);
        if (o16[i] != r16(r16(xh * wh) + xh)) bad16++;
        double ref = (double)x[i] * w[i] + x[i];
        /* fp32 mode: two fp32 roundings (mul, add): relative 2^-23 each, plus cancellation room. */
        if (fabs(o32[i] - ref) > 1e-6 * fabs(ref) + 2 * ldexp(fabs((double)x[i] * w[i]) + fabs(x[i]), -24)) bad32++;
    }
    CHECK_EQ_INT(bad16, 0);
    CHECK_EQ_INT(bad32, 0);
    CHECK(o16[0] == 2.0f);                       /* 1 * 1 + 1 after rounding x to 1 */
    CHECK(o32[0] == 2.0f + 0x1p-11f);            /* no rounding: (1+2^-12)*1 + (1+2^-12) */
    anet_graph_free(g);

    /* The product of two fp16 values needs 22 bits: rounded in fp16 mode, exact in fp32 mode.
     * 300*300 overflows fp16 (max 65504) to +inf; NaN propagates. */
    {
        anet_graph *g2 = anet_graph_new(ANET_MIL_IOS18);
        int a = anet_graph_input(g2, "a", T16(2, 1, 4, 0, 0, 0)), b = anet_graph_input(g2, "b", T16(2, 1, 4, 0, 0, 0));
        int m = op(g2, ANET_OP_MUL, "m", "x", a, "y", b, NULL);
        out1(g2, op(g2, ANET_OP_CAST, "y", "x", m, "dtype", anet_graph_const_string(g2, "to32", "fp32"), NULL));
        float va[4] = {1.0f + 0x1p-10f, 300.0f, NAN, -300.0f}, vb[4] = {1.0f + 0x1p-10f, 300.0f, 1.0f, 300.0f};
        float r16o[4], r32o[4], *p16 = r16o, *p32 = r32o;
        float *ins2[2] = {va, vb};
        st = rig_run(g2, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins2, &p16);
        CHECK_MSG(st == ANET_OK, "rounding fp16: %s", rig_err);
        st2 = rig_run(g2, 0, ANET_CHIP_M4, ANET_NUMERICS_FP32, ins2, &p32);
        CHECK_MSG(st2 == ANET_OK, "rounding fp32: %s", rig_err);
        if (st == ANET_OK && st2 == ANET_OK) {
            CHECK(r16o[0] == 1.0f + 0x1p-9f);
            CHECK(r32o[0] == 1.0f + 0x1p-9f + 0x1p-20f);
            CHECK(isinf(r16o[1]) && r16o[1] > 0);
            CHECK(r32o[1] == 90000.0f);
            CHECK(isnan(r16o[2]) && isnan(r32o[2]));
            CHECK(isinf(r16o[3]) && r16o[3] < 0);
        }
        anet_graph_free(g2);
    }

    /* fp32 mode matmul and a long reduction against float64. Bound: fp32 accumulation of K
     * terms errs by at most ~K * 2^-24 * sum|terms|; with K = 61 that is ~4e-6 of the
     * magnitude sum, and with K = 4096 ~2.4e-4 (the sum of 4096 terms, the "long reduction"
     * case: relative 1e-6 cannot be promised by any fp32 accumulation of that length). */
    {
        const int64_t M = 37, K = 61, N = 29;
        anet_graph *g3 = anet_graph_new(ANET_MIL_IOS18);
        int a = anet_graph_input(g3, "a", T(ANET_DT_FP32, 2, M, K, 0, 0, 0));
        int b = anet_graph_input(g3, "b", T(ANET_DT_FP32, 2, K, N, 0, 0, 0));
        int to16 = anet_graph_const_string(g3, "to16", "fp16");
        int ah = op(g3, ANET_OP_CAST, "ah", "x", a, "dtype", to16, NULL), bh = op(g3, ANET_OP_CAST, "bh", "x", b, "dtype", to16, NULL);
        int mm = op(g3, ANET_OP_MATMUL, "mm", "x", ah, "y", bh, "transpose_x", anet_graph_const_bool(g3, "tx", 0),
                    "transpose_y", anet_graph_const_bool(g3, "ty", 0), NULL);
        out1(g3, op(g3, ANET_OP_CAST, "y", "x", mm, "dtype", anet_graph_const_string(g3, "to32", "fp32"), NULL));
        float *va = malloc(M * K * 4), *vb = malloc(K * N * 4), *o = calloc(M * N, 4);
        for (int64_t i = 0; i < M * K; i++) va[i] = (float)rig_uniform(-2, 2);
        for (int64_t i = 0; i < K * N; i++) vb[i] = (float)rig_uniform(-2, 2);
        float *ins3[2] = {va, vb};
        st = rig_run(g3, 0, ANET_CHIP_M4, ANET_NUMERICS_FP32, ins3, &o);
        CHECK_MSG(st == ANET_OK, "fp32 matmul: %s", rig_err);
        int bad = 0;
        for (int64_t i = 0; st == ANET_OK && i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0, m = 0;
                for (int64_t k = 0; k < K; k++) { s += (double)va[i * K + k] * vb[k * N + j]; m += fabs((double)va[i * K + k] * vb[k * N + j]); }
                if (fabs(o[i * N + j] - s) > 1e-6 * fabs(s) + K * ldexp(m, -24)) bad++;
            }
        CHECK_EQ_INT(bad, 0);
        free(va); free(vb); free(o);
        anet_graph_free(g3);

        const int64_t L = 4096;
        anet_graph *g4 = anet_graph_new(ANET_MIL_IOS18);
        int x4 = anet_graph_input(g4, "x", T(ANET_DT_FP32, 4, 1, 1, 1, L, 0));
        int h4 = op(g4, ANET_OP_CAST, "h", "x", x4, "dtype", anet_graph_const_string(g4, "to16", "fp16"), NULL);
        int r4 = op(g4, ANET_OP_REDUCE_SUM, "r", "x", h4, "axes", ints(g4, 1, -1, 0, 0, 0),
                    "keep_dims", anet_graph_const_bool(g4, "kd", 1), NULL);
        out1(g4, op(g4, ANET_OP_CAST, "y", "x", r4, "dtype", anet_graph_const_string(g4, "to32", "fp32"), NULL));
        float *v4 = malloc(L * 4), o4 = 0, *po4 = &o4;
        double s4 = 0;
        for (int64_t i = 0; i < L; i++) { v4[i] = (float)rig_uniform(0, 1); s4 += v4[i]; }
        st = rig_run(g4, 0, ANET_CHIP_M4, ANET_NUMERICS_FP32, &v4, &po4);
        CHECK_MSG(st == ANET_OK, "fp32 reduce: %s", rig_err);
        CHECK_MSG(fabs(o4 - s4) <= 1e-5 * fabs(s4), "sum %.9g vs %.9g", o4, s4);
        free(v4);
        anet_graph_free(g4);
    }
    free(x); free(w); free(o16); free(o32);
}

static void test_io_checks_and_stats(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", T16(4, 1, 3, 1, 5, 0)), y = anet_graph_input(g, "y", T16(4, 1, 3, 1, 5, 0));
    out1(g, op(g, ANET_OP_ADD, "z", "x", x, "y", y, NULL));
    char *mil = NULL;
    size_t len = 0;
    CHECK(anet_mil_emit(g, &mil, &len) == ANET_OK);
    anet_backend be;
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    CHECK(anet_backend_open("vane", &cfg, &be) == ANET_OK);
    anet_program *p = NULL;
    anet_status st = be.ops->compile(be.state, mil, len, NULL, 0, &p);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (st == ANET_OK) {
        anet_f16 a[15], b[15], c[15], big[16];
        for (int i = 0; i < 15; i++) { a[i] = anet_f32_to_f16((float)i); b[i] = anet_f32_to_f16(0.5f); }
        anet_io in[2] = {{a, sizeof a}, {b, sizeof b}}, out[1] = {{c, sizeof c}};
        CHECK(be.ops->eval(be.state, p, in, 2, out, 1) == ANET_OK);
        CHECK(anet_f16_to_f32(c[14]) == 14.5f);
        CHECK(be.ops->eval(be.state, p, in, 2, out, 1) == ANET_OK);
        anet_io bad_in[2] = {{a, sizeof a}, {big, sizeof big}};
        CHECK(be.ops->eval(be.state, p, bad_in, 2, out, 1) == ANET_E_MISMATCH);
        CHECK_STR_CONTAINS(anet_last_error(), "'y'");
        anet_io fp32_sized[2] = {{a, 60}, {b, sizeof b}}; /* fp32 byte count for an fp16 input */
        CHECK(be.ops->eval(be.state, p, fp32_sized, 2, out, 1) == ANET_E_MISMATCH);
        anet_io bad_out[1] = {{big, sizeof big}};
        CHECK(be.ops->eval(be.state, p, in, 2, bad_out, 1) == ANET_E_MISMATCH);
        CHECK(be.ops->eval(be.state, p, in, 1, out, 1) == ANET_E_INVALID);
        CHECK(be.ops->eval(be.state, p, in, 2, out, 0) == ANET_E_INVALID);
        anet_backend_stats s;
        be.ops->stats(be.state, &s);
        CHECK_EQ_INT(s.compiles, 1);
        CHECK_EQ_INT(s.dispatches, 2);
        CHECK_EQ_INT(s.bytes_in, 2 * 60);
        CHECK_EQ_INT(s.bytes_out, 2 * 30);
        be.ops->release(be.state, p);
    }
    /* Malformed MIL fails to compile with a message, never crashes. */
    p = NULL;
    CHECK(be.ops->compile(be.state, "program(1.3) { func main<ios18>(", 31, NULL, 0, &p) != ANET_OK);
    CHECK(p == NULL);
    anet_backend_close(&be);
    free(mil);
    anet_graph_free(g);

    /* The other backend names: clear reasons. */
    anet_backend b2;
#if !defined(__APPLE__)
    CHECK(anet_backend_open("ane", &cfg, &b2) == ANET_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(anet_last_error(), "macOS");
#endif
    /* ane-sim is registered (src/runtime/ane_backend.c); its tests are test_ane_sim.c. */
    CHECK(anet_backend_open("ane-sim", &cfg, &b2) == ANET_OK);
    anet_backend_close(&b2);
    CHECK(anet_backend_open("tpu", &cfg, &b2) == ANET_E_NOTFOUND);
    anet_chip c;
    CHECK(anet_chip_lookup("m3", &c) == 0 && c == ANET_CHIP_M3);
    CHECK(anet_chip_lookup("m9", &c) != 0);
    CHECK(strcmp(anet_chip_name(ANET_CHIP_STRICT), "strict") == 0);
}

static void test_chip_rejection(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", T16(2, 4, 8, 0, 0, 0)), w = anet_graph_input(g, "w", T16(2, 8, 3, 0, 0, 0));
    out1(g, op(g, ANET_OP_MATMUL, "z", "x", x, "y", w, "transpose_x", anet_graph_const_bool(g, "tx", 0),
               "transpose_y", anet_graph_const_bool(g, "ty", 0), NULL));
    float *a = rig_data(32, -1, 1), *b = rig_data(24, -1, 1), *o = calloc(12, 4), *ins[2] = {a, b};
    for (int c = 0; c < ANET_CHIP_COUNT_; c++) {
        anet_status st = rig_run(g, 0, (anet_chip)c, ANET_NUMERICS_FP16, ins, &o);
        if (c == ANET_CHIP_M4) {
            CHECK_MSG(st == ANET_OK, "m4: %s", rig_err);
        } else {
            CHECK_MSG(st == ANET_E_BACKEND, "chip %s accepted a dynamic matmul", anet_chip_name((anet_chip)c));
            CHECK_STR_CONTAINS(rig_err, "matmul-dynamic");
            CHECK_STR_CONTAINS(rig_err, anet_chip_name((anet_chip)c));
        }
    }
    free(a); free(b); free(o);
    anet_graph_free(g);
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_apple_fixture(void) {
    size_t len = 0;
    char *mil = read_text(ANET_SHARED_DIR "/fixtures/coreml/add_model.mlmodelc/model.mil", &len);
    CHECK_MSG(mil != NULL, "fixture missing under %s", ANET_SHARED_DIR);
    if (!mil) return;
    for (int c = 0; c < ANET_CHIP_COUNT_; c++) {
        anet_backend be;
        anet_backend_config cfg = {(anet_chip)c, ANET_NUMERICS_FP16, 0};
        CHECK(anet_backend_open("vane", &cfg, &be) == ANET_OK);
        anet_program *p = NULL;
        anet_status st = be.ops->compile(be.state, mil, len, NULL, 0, &p);
        CHECK_MSG(st == ANET_OK, "fixture on %s: %s", anet_chip_name((anet_chip)c), anet_last_error());
        if (st == ANET_OK) {
            float *x = rig_data(10, -300, 300), *y = rig_data(10, -300, 300);
            anet_f16 hx[10], hy[10], hz[10];
            for (int i = 0; i < 10; i++) { hx[i] = anet_f32_to_f16(x[i]); hy[i] = anet_f32_to_f16(y[i]); }
            anet_io in[2] = {{hx, 20}, {hy, 20}}, out[1] = {{hz, 20}};
            CHECK(be.ops->eval(be.state, p, in, 2, out, 1) == ANET_OK);
            int bad = 0;
            for (int i = 0; i < 10; i++)
                if (anet_f16_to_f32(hz[i]) != (float)r16((double)x[i] * y[i])) bad++;
            CHECK_EQ_INT(bad, 0);
            free(x); free(y);
            be.ops->release(be.state, p);
        }
        anet_backend_close(&be);
    }
    free(mil);
}

/* A program written by hand as MIL text (not through the emitter): relu, a scalar const, a
 * const-weight matmul, all in the ios18 dialect. */
static void test_handwritten_mil(void) {
    const char *mil =
        "program(1.3)\n"
        "[buildInfo = dict<string, string>({{\"coremlc-version\", \"3505.4.1\"}})]\n"
        "{\n"
        "    func main<ios18>(tensor<fp16, [1, 2, 3]> x) {\n"
        "            tensor<fp16, [1, 2, 3]> r = relu(x = x)[name = string(\"r\")];\n"
        "            tensor<fp16, [3, 2]> w = const()[name = string(\"w\"), val = tensor<fp16, [3, 2]>([1, 2, -1, 0.5, 0.25, 3])];\n"
        "            bool f = const()[name = string(\"f\"), val = bool(false)];\n"
        "            tensor<fp16, [1, 2, 2]> y = matmul(x = r, y = w, transpose_x = f, transpose_y = f)[name = string(\"y\")];\n"
        "        } -> (y);\n"
        "}\n";
    anet_backend be;
    anet_backend_config cfg = {ANET_CHIP_M1, ANET_NUMERICS_FP16, 0};
    CHECK(anet_backend_open("vane", &cfg, &be) == ANET_OK);
    anet_program *p = NULL;
    anet_status st = be.ops->compile(be.state, mil, strlen(mil), NULL, 0, &p);
    CHECK_MSG(st == ANET_OK, "handwritten: %s", anet_last_error());
    if (st == ANET_OK) {
        float xv[6] = {1, -2, 3, 0.5f, 4, -1};
        anet_f16 hx[6], hy[4];
        for (int i = 0; i < 6; i++) hx[i] = anet_f32_to_f16(xv[i]);
        anet_io in[1] = {{hx, 12}}, out[1] = {{hy, 8}};
        CHECK(be.ops->eval(be.state, p, in, 1, out, 1) == ANET_OK);
        /* relu: [[1,0,3],[0.5,4,0]]; times [[1,2],[-1,0.5],[0.25,3]] */
        const double want[4] = {1 + 0.75, 2 + 9, 0.5 - 4, 1 + 2};
        for (int i = 0; i < 4; i++) CHECK_NEAR(anet_f16_to_f32(hy[i]), want[i], 0);
        be.ops->release(be.state, p);
    }
    anet_backend_close(&be);
}

/* A small CNN forward, ops chained (conv -> relu -> max_pool -> reshape -> matmul -> add ->
 * softmax), weights as inputs, two outputs (one of them a reshape that shares its buffer):
 * checks the wiring and the rounding at each op boundary against a float64 model that rounds
 * to fp16 after every op too. */
static void test_cnn_chain(void) {
    float *x = rig_data(3 * 8 * 8, -1, 1), *w = rig_data(4 * 3 * 9, -0.5, 0.5);
    float *wf = rig_data(64 * 10, -0.5, 0.5), *bf = rig_data(10, -0.5, 0.5);
    float *p = calloc(10, 4), *feat = calloc(64, 4);
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int vx = anet_graph_input(g, "x", T16(4, 1, 3, 8, 8, 0)), vw = anet_graph_input(g, "w", T16(4, 4, 3, 3, 3, 0));
    int vwf = anet_graph_input(g, "wf", T16(2, 64, 10, 0, 0, 0)), vbf = anet_graph_input(g, "bf", T16(2, 1, 10, 0, 0, 0));
    int c = op(g, ANET_OP_CONV, "c", "x", vx, "weight", vw, "strides", ints(g, 2, 1, 1, 0, 0),
               "pad_type", anet_graph_const_string(g, "same", "same"), "dilations", ints(g, 2, 1, 1, 0, 0),
               "groups", anet_graph_const_int32(g, "g1", 1), NULL);
    int r = op(g, ANET_OP_RELU, "r", "x", c, NULL);
    int mp = op(g, ANET_OP_MAX_POOL, "mp", "x", r, "kernel_sizes", ints(g, 2, 2, 2, 0, 0), "strides", ints(g, 2, 2, 2, 0, 0),
                "pad_type", anet_graph_const_string(g, "valid", "valid"), "ceil_mode", anet_graph_const_bool(g, "cm", 0), NULL);
    int fl = op(g, ANET_OP_RESHAPE, "flat", "x", mp, "shape", ints(g, 2, 1, 64, 0, 0), NULL);
    int lo = op(g, ANET_OP_MATMUL, "lo", "x", fl, "y", vwf, "transpose_x", anet_graph_const_bool(g, "f", 0),
                "transpose_y", anet_graph_const_bool(g, "f2", 0), NULL);
    int lb = op(g, ANET_OP_ADD, "lb", "x", lo, "y", vbf, NULL);
    int sm = op(g, ANET_OP_SOFTMAX, "p", "x", lb, "axis", anet_graph_const_int32(g, "ax", -1), NULL);
    int outs[2] = {sm, fl};
    anet_graph_set_outputs(g, 2, outs);
    float *ins[4] = {x, w, wf, bf}, *outv[2] = {p, feat};
    anet_status st = rig_run(g, 0, ANET_CHIP_M4, ANET_NUMERICS_FP16, ins, outv);
    CHECK_MSG(st == ANET_OK, "cnn chain: %s", rig_err);
    /* float64 model with fp16 rounding at every op boundary */
    double conv[4][8][8], ref_feat[64], logits[10];
    for (int co = 0; co < 4; co++)
        for (int oy = 0; oy < 8; oy++)
            for (int ox = 0; ox < 8; ox++) {
                double sum = 0;
                for (int ci = 0; ci < 3; ci++)
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++) {
                            int iy = oy - 1 + i, ix = ox - 1 + j;
                            if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) continue;
                            sum += (double)x[(ci * 8 + iy) * 8 + ix] * w[((co * 3 + ci) * 3 + i) * 3 + j];
                        }
                sum = r16(sum);
                conv[co][oy][ox] = sum > 0 ? sum : 0;
            }
    for (int co = 0; co < 4; co++)
        for (int oy = 0; oy < 4; oy++)
            for (int ox = 0; ox < 4; ox++)
                ref_feat[(co * 4 + oy) * 4 + ox] = fmax(fmax(conv[co][2 * oy][2 * ox], conv[co][2 * oy][2 * ox + 1]),
                                                        fmax(conv[co][2 * oy + 1][2 * ox], conv[co][2 * oy + 1][2 * ox + 1]));
    double m = -INFINITY, z = 0;
    for (int j = 0; j < 10; j++) {
        double sum = 0;
        for (int k = 0; k < 64; k++) sum += ref_feat[k] * wf[k * 10 + j];
        logits[j] = r16(r16(sum) + bf[j]);
        m = fmax(m, logits[j]);
    }
    for (int j = 0; j < 10; j++) z += exp(logits[j] - m);
    int bad = 0;
    for (int k = 0; st == ANET_OK && k < 64; k++)
        if (fabs(feat[k] - ref_feat[k]) > ldexp(fabs(ref_feat[k]), -10) + 1e-4) bad++;
    for (int j = 0; st == ANET_OK && j < 10; j++) {
        double ref = exp(logits[j] - m) / z;
        if (fabs(p[j] - ref) > ldexp(ref, -8) + 1e-4) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    double total = 0;
    for (int j = 0; j < 10; j++) total += p[j];
    CHECK_NEAR(total, 1.0, 0.01);
    free(x); free(w); free(wf); free(bf); free(p); free(feat);
    anet_graph_free(g);
}

int main(void) {
    test_binary();
    test_unary();
    test_select_broadcast();
    test_softmax();
    test_reduce();
    test_matmul();
    test_linear_blobfile();
    test_conv();
    test_pool();
    test_layout_ops();
    test_numerics_modes();
    test_io_checks_and_stats();
    test_chip_rejection();
    test_apple_fixture();
    test_handwritten_mil();
    test_cnn_chain();
    TEST_MAIN_END();
}
