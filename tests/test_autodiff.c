/* Autodiff: for every op with a gradient rule, the gradient graph (evaluated by a float64
 * reference interpreter written in tests/ref_interp.h) must match central finite differences
 * of the forward graph. When the vane backend is built in, the same gradient graphs are also
 * run through vane in fp32 mode (MIL text -> vane) and compared with the float64 values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "graph/autodiff.h"
#include "graph/build.h"
#include "graph/ir.h"
#include "ref_interp.h"
#include "vane_run.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* xorshift64*: deterministic inputs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static anet_type T(int rank, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return anet_type_make(ANET_DT_FP16, rank, dims);
}

static int in(anet_graph *g, const char *name, anet_type t) { return anet_graph_input(g, name, t); }

/* A random fp16 const of type t (values in [lo, hi]). */
static int rconst(anet_graph *g, anet_type t, double lo, double hi) {
    int64_t n = anet_type_elements(&t);
    anet_f16 *d = malloc(sizeof(anet_f16) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = anet_f32_to_f16((float)(lo + (hi - lo) * urand()));
    int v = anet_graph_const(g, NULL, t, d, sizeof(anet_f16) * (size_t)n);
    free(d);
    return v;
}

typedef int (*build_fn)(anet_graph *g);

/* ---- the cases: each declares its inputs and returns the op's output ---- */
static int b_add(anet_graph *g) { return anet_b_binary(g, ANET_OP_ADD, NULL, in(g, "x", T(3, 2, 3, 4, 0)), in(g, "y", T(2, 3, 1, 0, 0))); }
static int b_sub(anet_graph *g) { return anet_b_binary(g, ANET_OP_SUB, NULL, in(g, "x", T(2, 1, 3, 0, 0)), in(g, "y", T(3, 2, 4, 3, 0))); }
static int b_mul(anet_graph *g) { return anet_b_binary(g, ANET_OP_MUL, NULL, in(g, "x", T(3, 2, 1, 4, 0)), in(g, "y", T(2, 3, 1, 0, 0))); }
static int b_div(anet_graph *g) { return anet_b_binary(g, ANET_OP_REAL_DIV, NULL, in(g, "x", T(2, 2, 3, 0, 0)), in(g, "y", T(1, 3, 0, 0, 0))); }
static int b_max(anet_graph *g) { return anet_b_binary(g, ANET_OP_MAXIMUM, NULL, in(g, "x", T(2, 3, 4, 0, 0)), in(g, "y", T(2, 3, 4, 0, 0))); }
static int b_min(anet_graph *g) { return anet_b_binary(g, ANET_OP_MINIMUM, NULL, in(g, "x", T(2, 3, 4, 0, 0)), in(g, "y", T(1, 4, 0, 0, 0))); }
static int b_pow_c(anet_graph *g) { return anet_b_binary(g, ANET_OP_POW, NULL, in(g, "x", T(2, 3, 4, 0, 0)), anet_graph_const_fp16(g, NULL, 2.5f)); }
static int b_pow_xy(anet_graph *g) { return anet_b_binary(g, ANET_OP_POW, NULL, in(g, "x", T(2, 3, 4, 0, 0)), in(g, "y", T(2, 3, 4, 0, 0))); }
#define UNARY(fn, k) static int fn(anet_graph *g) { return anet_b_unary(g, k, NULL, in(g, "x", T(3, 2, 3, 4, 0))); }
UNARY(b_relu, ANET_OP_RELU)
UNARY(b_sigmoid, ANET_OP_SIGMOID)
UNARY(b_tanh, ANET_OP_TANH)
UNARY(b_exp, ANET_OP_EXP)
UNARY(b_log, ANET_OP_LOG)
UNARY(b_sqrt, ANET_OP_SQRT)
UNARY(b_rsqrt, ANET_OP_RSQRT)
UNARY(b_abs, ANET_OP_ABS)
UNARY(b_square, ANET_OP_SQUARE)
UNARY(b_identity, ANET_OP_IDENTITY)
static int b_select(anet_graph *g) {
    int x = in(g, "x", T(2, 3, 4, 0, 0)), y = in(g, "y", T(1, 4, 0, 0, 0));
    int cond = anet_b_binary(g, ANET_OP_GREATER, NULL, rconst(g, T(2, 3, 4, 0, 0), -1, 1), anet_graph_const_fp16(g, NULL, 0));
    return anet_b_select(g, NULL, cond, x, y);
}
static int b_softmax(anet_graph *g) { return anet_b_softmax(g, NULL, in(g, "x", T(3, 2, 4, 3, 0)), 1); }
static int b_rsum(anet_graph *g) {
    static const int32_t ax[1] = {1};
    return anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, in(g, "x", T(3, 2, 3, 4, 0)), 1, ax, 0);
}
static int b_rsum_all(anet_graph *g) { return anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, in(g, "x", T(3, 2, 3, 4, 0)), 0, NULL, 1); }
static int b_rmean(anet_graph *g) {
    static const int32_t ax[2] = {0, -1};
    return anet_b_reduce(g, ANET_OP_REDUCE_MEAN, NULL, in(g, "x", T(3, 2, 3, 4, 0)), 2, ax, 1);
}
static int b_rmax(anet_graph *g) {
    static const int32_t ax[1] = {2};
    return anet_b_reduce(g, ANET_OP_REDUCE_MAX, NULL, in(g, "x", T(3, 2, 3, 4, 0)), 1, ax, 0);
}
static int b_mm00(anet_graph *g) { return anet_b_matmul(g, NULL, in(g, "x", T(3, 2, 3, 4, 0)), in(g, "y", T(2, 4, 5, 0, 0)), 0, 0); }
static int b_mm10(anet_graph *g) { return anet_b_matmul(g, NULL, in(g, "x", T(3, 2, 4, 3, 0)), in(g, "y", T(3, 1, 4, 5, 0)), 1, 0); }
static int b_mm01(anet_graph *g) { return anet_b_matmul(g, NULL, in(g, "x", T(4, 1, 2, 3, 4)), in(g, "y", T(4, 1, 1, 5, 4)), 0, 1); }
static int b_mm11(anet_graph *g) { return anet_b_matmul(g, NULL, in(g, "x", T(2, 4, 3, 0, 0)), in(g, "y", T(3, 2, 5, 4, 0)), 1, 1); }
static int b_linear(anet_graph *g) { return anet_b_linear(g, NULL, in(g, "x", T(3, 2, 3, 4, 0)), in(g, "w", T(2, 5, 4, 0, 0)), in(g, "b", T(1, 5, 0, 0, 0))); }
static int b_linear1(anet_graph *g) { return anet_b_linear(g, NULL, in(g, "x", T(1, 4, 0, 0, 0)), in(g, "w", T(2, 3, 4, 0, 0)), -1); }
static int b_reshape(anet_graph *g) {
    static const int32_t s[2] = {6, 4};
    return anet_b_reshape(g, NULL, in(g, "x", T(3, 2, 3, 4, 0)), 2, s);
}
static int b_transpose(anet_graph *g) {
    static const int32_t p[3] = {2, 0, 1};
    return anet_b_transpose(g, NULL, in(g, "x", T(3, 2, 3, 4, 0)), 3, p);
}
static int b_slice(anet_graph *g) {
    static const int32_t b[3] = {0, 1, 1}, s[3] = {2, 2, -1};
    return anet_b_slice_by_size(g, NULL, in(g, "x", T(3, 2, 4, 5, 0)), 3, b, s);
}
static int b_concat(anet_graph *g) {
    int v[3] = {in(g, "x", T(3, 2, 3, 1, 0)), in(g, "y", T(3, 2, 3, 2, 0)), in(g, "z", T(3, 2, 3, 3, 0))};
    return anet_b_concat(g, NULL, 3, v, -1, 0);
}
static int b_conv(anet_graph *g) {
    static const int32_t st[2] = {2, 1}, pad[4] = {1, 0, 1, 1}, dil[2] = {1, 2};
    return anet_b_conv(g, NULL, in(g, "x", T(4, 2, 3, 6, 5)), in(g, "w", T(4, 4, 3, 3, 2)), -1, st, "custom", pad, dil, 1);
}
static int b_conv_bias(anet_graph *g) {
    return anet_b_conv(g, NULL, in(g, "x", T(4, 2, 3, 4, 4)), in(g, "w", T(4, 2, 3, 1, 1)), in(g, "b", T(1, 2, 0, 0, 0)),
                       NULL, NULL, NULL, NULL, 1);
}
static int b_conv_same(anet_graph *g) {
    static const int32_t st[2] = {2, 2};
    return anet_b_conv(g, NULL, in(g, "x", T(4, 1, 2, 7, 6)), in(g, "w", T(4, 3, 2, 3, 3)), -1, st, "same", NULL, NULL, 1);
}
/* grouped 1-D conv: only the input gradient has a rule (the weight is a const here) */
static int b_conv_grouped(anet_graph *g) {
    static const int32_t st[1] = {2};
    return anet_b_conv(g, NULL, in(g, "x", T(3, 2, 4, 9, 0)), rconst(g, T(3, 6, 2, 3, 0), -1, 1), -1, st, NULL, NULL, NULL, 2);
}
/* 2-D convs with const (baked) weights: the input gradient's kernel is computed as a const */
static int baked(anet_graph *g, anet_type tx, anet_type tw, const int32_t *st, const int32_t *pad, int groups) {
    return anet_b_conv(g, NULL, in(g, "x", tx), rconst(g, tw, -1, 1), -1, st, pad ? "custom" : NULL, pad, NULL, groups);
}
static int b_conv_baked(anet_graph *g) {
    static const int32_t pad[4] = {2, 1, 0, 1};
    return baked(g, T(4, 2, 3, 5, 6), T(4, 4, 3, 3, 2), NULL, pad, 1);
}
static int b_conv_baked_grouped(anet_graph *g) {
    static const int32_t pad[4] = {1, 1, 1, 1};
    return baked(g, T(4, 1, 3, 4, 5), T(4, 6, 1, 3, 3), NULL, pad, 3);
}
/* strided, baked (the device form's patch conv): the stride's spread is multiplies and a slice,
 * no placement matmul (its contraction, the output width, would break matmul-contraction-32).
 * Odd sizes, no padding, rows left over at the end (7 -> 3 rows, 6 -> 2 columns, 1 left). */
static int b_conv_baked_strided(anet_graph *g) {
    static const int32_t st[2] = {2, 2};
    return baked(g, T(4, 2, 3, 7, 6), T(4, 4, 3, 3, 3), st, NULL, 1);
}
static int b_conv_baked_strided_grouped(anet_graph *g) {
    static const int32_t st[2] = {2, 1}, pad[4] = {1, 1, 0, 1};
    return baked(g, T(4, 1, 2, 5, 4), T(4, 6, 1, 3, 2), st, pad, 2);
}
/* 16386 output channels: the spread's multiplies split batch x channels (above the compiler's
 * longest axis, 16384) as [8193, 2*rows] */
static int b_conv_baked_strided_wide(anet_graph *g) {
    static const int32_t st[2] = {2, 2};
    return baked(g, T(4, 1, 1, 4, 3), T(4, 16386, 1, 1, 1), st, NULL, 1);
}
/* grouped 2-D conv with the weight as an input: both gradients (weight through a block mask) */
static int b_conv_grouped_w(anet_graph *g) {
    static const int32_t pad[4] = {1, 0, 0, 1};
    return anet_b_conv(g, NULL, in(g, "x", T(4, 2, 4, 4, 3)), in(g, "w", T(4, 6, 2, 2, 2)), -1, NULL, "custom", pad, NULL,
                       2);
}
/* windows that tile their input exactly take the upsampling path */
static int b_maxpool_tiled(anet_graph *g) {
    static const int32_t k[2] = {2, 3}, st[2] = {2, 3};
    return anet_b_pool(g, ANET_OP_MAX_POOL, NULL, in(g, "x", T(4, 2, 3, 4, 6)), k, st, NULL, NULL);
}
static int b_avgpool_tiled(anet_graph *g) {
    static const int32_t k[2] = {2, 2}, st[2] = {2, 2};
    return anet_b_pool(g, ANET_OP_AVG_POOL, NULL, in(g, "x", T(4, 2, 2, 4, 6)), k, st, NULL, NULL);
}
static int b_avgpool(anet_graph *g) {
    static const int32_t k[2] = {2, 3}, st[2] = {2, 2};
    return anet_b_pool(g, ANET_OP_AVG_POOL, NULL, in(g, "x", T(4, 1, 2, 5, 6)), k, st, NULL, NULL);
}
static int b_avgpool_pad(anet_graph *g) {
    static const int32_t k[2] = {3, 3}, st[2] = {1, 2}, pad[4] = {1, 1, 0, 1};
    return anet_b_pool(g, ANET_OP_AVG_POOL, NULL, in(g, "x", T(4, 2, 1, 4, 5)), k, st, "custom", pad);
}
static int b_maxpool(anet_graph *g) {
    static const int32_t k[2] = {2, 2}, st[2] = {2, 2};
    return anet_b_pool(g, ANET_OP_MAX_POOL, NULL, in(g, "x", T(4, 2, 3, 5, 6)), k, st, NULL, NULL);
}
/* x used twice plus a chain, to exercise accumulation. */
static int b_reuse(anet_graph *g) {
    int x = in(g, "x", T(2, 3, 4, 0, 0)), y = in(g, "y", T(2, 4, 2, 0, 0));
    int t = anet_b_binary(g, ANET_OP_MUL, NULL, x, x);
    int u = anet_b_binary(g, ANET_OP_ADD, NULL, t, anet_b_unary(g, ANET_OP_TANH, NULL, x));
    return anet_b_matmul(g, NULL, u, anet_b_unary(g, ANET_OP_SIGMOID, NULL, y), 0, 0);
}

typedef struct tcase {
    const char *name;
    build_fn f;
    double lo, hi; /* input range (away from kinks and domain edges where needed) */
} tcase;

static const tcase cases[] = {
    {"add", b_add, -1, 1},         {"sub", b_sub, -1, 1},         {"mul", b_mul, -1, 1},
    {"real_div", b_div, 0.5, 2},   {"maximum", b_max, -1, 1},     {"minimum", b_min, -1, 1},
    {"pow_const", b_pow_c, 0.5, 2}, {"pow_xy", b_pow_xy, 0.5, 2}, {"relu", b_relu, -1, 1},
    {"sigmoid", b_sigmoid, -2, 2}, {"tanh", b_tanh, -2, 2},       {"exp", b_exp, -1, 1},
    {"log", b_log, 0.5, 2},        {"sqrt", b_sqrt, 0.5, 2},      {"rsqrt", b_rsqrt, 0.5, 2},
    {"abs", b_abs, -1, 1},         {"square", b_square, -1, 1},   {"identity", b_identity, -1, 1},
    {"select", b_select, -1, 1},   {"softmax", b_softmax, -2, 2}, {"reduce_sum", b_rsum, -1, 1},
    {"reduce_sum_all", b_rsum_all, -1, 1}, {"reduce_mean", b_rmean, -1, 1}, {"reduce_max", b_rmax, -1, 1},
    {"matmul", b_mm00, -1, 1},     {"matmul_tx", b_mm10, -1, 1},  {"matmul_ty", b_mm01, -1, 1},
    {"matmul_txty", b_mm11, -1, 1}, {"linear", b_linear, -1, 1},  {"linear_rank1", b_linear1, -1, 1},
    {"reshape", b_reshape, -1, 1}, {"transpose", b_transpose, -1, 1}, {"slice_by_size", b_slice, -1, 1},
    {"concat", b_concat, -1, 1},   {"reuse", b_reuse, -1, 1},     {"conv", b_conv, -1, 1},       {"conv_bias", b_conv_bias, -1, 1},
    {"conv_same", b_conv_same, -1, 1}, {"conv_grouped", b_conv_grouped, -1, 1}, {"avg_pool", b_avgpool, -1, 1},
    {"avg_pool_pad", b_avgpool_pad, -1, 1}, {"max_pool", b_maxpool, -1, 1},
    {"conv_grouped_w", b_conv_grouped_w, -1, 1}, {"conv_baked", b_conv_baked, -1, 1},
    {"conv_baked_grouped", b_conv_baked_grouped, -1, 1}, {"max_pool_tiled", b_maxpool_tiled, -1, 1},
    {"avg_pool_tiled", b_avgpool_tiled, -1, 1}, {"conv_baked_strided", b_conv_baked_strided, -1, 1},
    {"conv_baked_strided_grouped", b_conv_baked_strided_grouped, -1, 1},
    {"conv_baked_strided_wide", b_conv_baked_strided_wide, -1, 1},
};

static double loss_of(const anet_graph *g, double **inputs, int loss) {
    ri_val *v = ri_run(g, (const double *const *)inputs);
    if (!v) return NAN;
    double l = v[loss].d[0];
    ri_free(g, v);
    return l;
}

/* spread_mul: strided 2-D windows spread their gradient by multiplies (the device forms). */
static void run_case(const tcase *tc, vane_ctx *vc, int spread_mul) {
    char name[64];
    snprintf(name, sizeof name, "%s%s", tc->name, spread_mul ? " (spread_mul)" : "");
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int out = tc->f(g);
    CHECK_MSG(out >= 0, "%s: building the forward graph: %s", name, anet_last_error());
    if (out < 0) {
        anet_graph_free(g);
        return;
    }
    /* loss = sum(out * R): a random projection so every output element matters. */
    int r = rconst(g, g->values[out].type, -1, 1);
    int loss = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "loss", anet_b_binary(g, ANET_OP_MUL, NULL, out, r), 0, NULL, 0);
    int nin = g->ninputs, wrt[4], grads[4];
    for (int i = 0; i < nin; i++) wrt[i] = g->inputs[i];
    anet_autodiff_spec spec = {loss, -1, wrt, nin, NULL, 0, NULL, spread_mul};
    anet_status st = anet_autodiff(g, &spec, grads);
    CHECK_MSG(st == ANET_OK, "%s: autodiff: %s", name, anet_last_error());
    if (st != ANET_OK) {
        anet_graph_free(g);
        return;
    }
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s: verify: %s", name, anet_last_error());
    if (spread_mul && strncmp(tc->name, "conv_baked", 10) == 0) /* baked convs' gradients: a conv and layout ops, no matmul */
        for (int o = 0; o < g->nops; o++) CHECK_MSG(g->ops[o].kind != ANET_OP_MATMUL, "%s: a matmul in the gradient", name);
    if (spread_mul && strcmp(tc->name, "conv_baked_strided_wide") == 0) { /* the spread's multiplies took the split */
        int split = 0;
        for (int o = 0; o < g->nops; o++)
            split += g->ops[o].kind == ANET_OP_MUL && g->values[g->ops[o].outputs[0]].type.dims[0] == 8193;
        CHECK_EQ_INT(split, 2);
    }
    /* The gradient part uses no rsqrt and no gelu. */
    for (int o = 0; o < g->nops; o++)
        CHECK(g->ops[o].kind != ANET_OP_GELU && (g->ops[o].kind != ANET_OP_RSQRT || strcmp(tc->name, "rsqrt") == 0));
    double *inputs[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < nin; i++) {
        anet_type t = g->values[wrt[i]].type;
        int64_t n = anet_type_elements(&t);
        inputs[i] = malloc(sizeof(double) * (size_t)n);
        for (int64_t k = 0; k < n; k++) inputs[i][k] = anet_f32_round_f16((float)(tc->lo + (tc->hi - tc->lo) * urand()));
    }
    ri_val *v = ri_run(g, (const double *const *)inputs);
    CHECK_MSG(v != NULL, "%s: interpreter failed", name);
    for (int i = 0; v && i < nin; i++) {
        anet_type t = g->values[wrt[i]].type;
        CHECK_MSG(anet_type_equal(&t, &g->values[grads[i]].type), "%s: gradient %d has another type", name, i);
        int64_t n = anet_type_elements(&t);
        double maxfd = 0, maxerr = 0;
        for (int64_t k = 0; k < n; k++) {
            double x0 = inputs[i][k], h = 1e-6 * (fabs(x0) > 1 ? fabs(x0) : 1);
            inputs[i][k] = x0 + h;
            double lp = loss_of(g, inputs, loss);
            inputs[i][k] = x0 - h;
            double lm = loss_of(g, inputs, loss);
            inputs[i][k] = x0;
            double fd = (lp - lm) / (2 * h), ad = v[grads[i]].d[k];
            if (fabs(fd) > maxfd) maxfd = fabs(fd);
            if (fabs(fd - ad) > maxerr) maxerr = fabs(fd - ad);
        }
        CHECK_MSG(maxerr <= 1e-6 * maxfd + 1e-9, "%s: d/d%s max error %.3g (max |grad| %.3g)", name,
                  g->values[wrt[i]].name, maxerr, maxfd);
    }
    /* Through vane (fp32 numerics, m4 profile). Forward graphs with an op m4 rejects
     * (rsqrt, concat, conv with a bias) cannot compile there; their gradients are checked above. */
    int m4_forward = strcmp(tc->name, "rsqrt") != 0 && strcmp(tc->name, "concat") != 0 && strcmp(tc->name, "conv_bias") != 0;
    for (int o = 0; o < g->nops; o++) /* the gradient part itself avoids m4-rejected ops */
        CHECK_MSG(g->ops[o].kind != ANET_OP_CONCAT || strcmp(tc->name, "concat") == 0, "%s: concat in the gradient", name);
    if (v && vc->ok && m4_forward) {
        double *outs[4];
        int ok = vane_eval(vc, g, inputs, nin, grads, nin, outs);
        CHECK_MSG(ok, "%s: vane: %s", name, anet_last_error());
        for (int i = 0; ok && i < nin; i++) {
            anet_type t = g->values[wrt[i]].type;
            int64_t n = anet_type_elements(&t);
            double maxg = 0, maxerr = 0;
            for (int64_t k = 0; k < n; k++) {
                double ref = v[grads[i]].d[k];
                if (fabs(ref) > maxg) maxg = fabs(ref);
                if (fabs(ref - outs[i][k]) > maxerr) maxerr = fabs(ref - outs[i][k]);
            }
            CHECK_MSG(maxerr <= 1e-5 * maxg + 1e-7, "%s: vane fp32 d/d%s max error %.3g (max |grad| %.3g)", name,
                      g->values[wrt[i]].name, maxerr, maxg);
        }
        for (int i = 0; ok && i < nin; i++) free(outs[i]);
        vane_forget(vc, g);
    }
    ri_free(g, v);
    for (int i = 0; i < nin; i++) free(inputs[i]);
    anet_graph_free(g);
}

/* Gradient seeding, stop-gradient and a parameter the loss does not depend on. */
static void test_seed_stop_unused(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = in(g, "x", T(2, 2, 3, 0, 0)), w = in(g, "w", T(2, 2, 3, 0, 0)), s = in(g, "s", T(1, 1, 0, 0, 0));
    int m = anet_b_reduce(g, ANET_OP_REDUCE_MAX, NULL, x, 0, NULL, 1);
    int d = anet_b_binary(g, ANET_OP_SUB, NULL, x, m);
    int loss = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "loss", anet_b_unary(g, ANET_OP_SQUARE, NULL, d), 0, NULL, 1);
    int wrt[2] = {x, w}, grads[2];
    const char *names[2] = {"gx", "gw"};
    anet_autodiff_spec spec = {loss, s, wrt, 2, &m, 1, names, 0};
    CHECK_MSG(anet_autodiff(g, &spec, grads) == ANET_OK, "%s", anet_last_error());
    CHECK(anet_graph_find(g, "gx") == grads[0]);
    CHECK(anet_graph_find(g, "gw") == grads[1]);
    double xs[6] = {0.5, -1, 2, 0.25, 1.5, -0.75}, ws[6] = {1, 2, 3, 4, 5, 6}, sv[1] = {3};
    const double *ins[3] = {xs, ws, sv};
    ri_val *v = ri_run(g, ins);
    CHECK(v != NULL);
    for (int k = 0; v && k < 6; k++) {
        /* m held constant: d/dx sum((x - 2)^2) * 3 = 6 (x - 2); w unused: 0. */
        CHECK_NEAR(v[grads[0]].d[k], 6 * (xs[k] - 2), 1e-9);
        CHECK_NEAR(v[grads[1]].d[k], 0, 0);
    }
    ri_free(g, v);
    anet_graph_free(g);
}

/* Paths without a rule fail with ANET_E_UNSUPPORTED naming the op; bad specs with INVALID. */
static void expect_unsupported(const char *what, int (*make)(anet_graph *g, int x), const char *needle) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = in(g, "x", T(4, 1, 4, 6, 6));
    int y = make(g, x);
    int loss = anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, y, 0, NULL, 0);
    int grads[2];
    int wrt[2] = {x, g->ninputs > 1 ? g->inputs[1] : x};
    anet_autodiff_spec spec = {loss, -1, wrt, g->ninputs, NULL, 0, NULL, 0};
    CHECK_MSG(y >= 0 && anet_autodiff(g, &spec, grads) == ANET_E_UNSUPPORTED, "%s: not reported as unsupported", what);
    CHECK_STR_CONTAINS(anet_last_error(), needle);
    anet_graph_free(g);
}
static int mk_gelu(anet_graph *g, int x) { return anet_b_unary(g, ANET_OP_GELU, NULL, x); }
static int mk_grouped_w(anet_graph *g, int x) {
    static const int32_t s3[3] = {1, 4, 36};
    return anet_b_conv(g, NULL, anet_b_reshape(g, NULL, x, 3, s3), in(g, "w", T(3, 4, 2, 1, 0)), -1, NULL, NULL, NULL,
                       NULL, 2);
}
static int mk_overlap_max(anet_graph *g, int x) {
    static const int32_t k[2] = {3, 3}, st[2] = {1, 1};
    return anet_b_pool(g, ANET_OP_MAX_POOL, NULL, x, k, st, NULL, NULL);
}

static void test_unsupported(void) {
    expect_unsupported("gelu", mk_gelu, "gelu");
    expect_unsupported("grouped 1-D conv weight", mk_grouped_w, "grouped 1-D");
    expect_unsupported("overlapping max_pool", mk_overlap_max, "max_pool");
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = in(g, "x", T(2, 2, 2, 0, 0)), grads[1];
    int loss = anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, x, 0, NULL, 0);
    anet_autodiff_spec spec = {12345, -1, &x, 1, NULL, 0, NULL, 0};
    CHECK(anet_autodiff(g, &spec, grads) == ANET_E_INVALID);
    spec.loss = loss;
    spec.nstop = 1; /* stop == NULL */
    CHECK(anet_autodiff(g, &spec, grads) == ANET_E_INVALID);
    anet_graph_free(g);
}

int main(void) {
    vane_ctx vc;
    vane_open(&vc, ANET_NUMERICS_FP32);
    if (!vc.ok) printf("test_autodiff: vane backend not available (%s): float64 checks only\n", vc.why);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t at = rng_state; /* both spreads see the same inputs */
        run_case(&cases[i], &vc, 0);
        if (strstr(cases[i].name, "conv") || strstr(cases[i].name, "pool")) {
            rng_state = at;
            run_case(&cases[i], &vc, 1);
        }
    }
    test_seed_stop_unused();
    test_unsupported();
    vane_close(&vc);
    TEST_MAIN_END();
}
