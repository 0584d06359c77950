/* The selftest programs and their runner (see ane_selftest.h). Inputs are declared in
 * reverse alphabetical order ("b" before "a") on purpose: a backend that hands surfaces to
 * the ANE in declaration order instead of name order gets a visibly wrong answer. */
#include "runtime/ane_selftest.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "runtime/ane_sig.h"

enum {
    C_ADD, C_SUB, C_MUL, C_RELU, C_EXP, C_LOG, C_RMAX, C_RSUM, C_SELECT, C_MATMUL, C_CONSTMM,
    C_MLP, C_COUNT
};
static const char *const case_names[C_COUNT] = {
    "add", "sub", "mul", "relu", "exp", "log", "reduce_max", "reduce_sum", "greater_select",
    "matmul", "matmul_const_weight", "mlp_step",
};

int anet_ane_selftest_ncases(void) { return C_COUNT; }
const char *anet_ane_selftest_case_name(int i) { return i >= 0 && i < C_COUNT ? case_names[i] : NULL; }

static anet_type t4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return anet_type_make(ANET_DT_FP16, 4, dims);
}

/* MLP sizes: batch, features, hidden, classes. */
enum { MB = 8, MF = 16, MH = 12, MK = 4 };

static int build_mlp(anet_graph *g) {
    /* Declared out of name order: y, x, w1, w0, b0. */
    int y = anet_graph_input(g, "y", t4(1, 1, MB, MK));
    int x = anet_graph_input(g, "x", t4(1, 1, MB, MF));
    int w1 = anet_graph_input(g, "w1", t4(1, 1, MK, MH));
    int w0 = anet_graph_input(g, "w0", t4(1, 1, MH, MF));
    int b0 = anet_graph_input(g, "b0", t4(1, 1, 1, MH));
    if (y < 0 || x < 0 || w1 < 0 || w0 < 0 || b0 < 0) return -1;
    int32_t ax3[1] = {3}, ax23[2] = {2, 3};
    int h0 = anet_b_matmul(g, "h0", x, w0, 0, 1);            /* [B,H] */
    int h = anet_b_binary(g, ANET_OP_ADD, "h", h0, b0);
    int a = anet_b_unary(g, ANET_OP_RELU, "a", h);
    int z = anet_b_matmul(g, "z", a, w1, 0, 1);              /* [B,K] */
    int m = anet_b_reduce(g, ANET_OP_REDUCE_MAX, "m", z, 1, ax3, 1);
    int zs = anet_b_binary(g, ANET_OP_SUB, "zs", z, m);
    int e = anet_b_unary(g, ANET_OP_EXP, "e", zs);
    int s = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "s", e, 1, ax3, 1);
    int p = anet_b_binary(g, ANET_OP_REAL_DIV, "p", e, s);
    int lp = anet_b_unary(g, ANET_OP_LOG, "lp", p);
    int yl = anet_b_binary(g, ANET_OP_MUL, "yl", y, lp);
    int ls = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "ls", yl, 2, ax23, 1);
    int nb = anet_graph_const_fp16(g, "neg_inv_b", -1.0f / MB);
    int loss = anet_b_binary(g, ANET_OP_MUL, "loss", ls, nb);
    int dz0 = anet_b_binary(g, ANET_OP_SUB, "dz0", p, y);
    int ib = anet_graph_const_fp16(g, "inv_b", 1.0f / MB);
    int dz = anet_b_binary(g, ANET_OP_MUL, "dz", dz0, ib);
    int gw1 = anet_b_matmul(g, "gw1", dz, a, 1, 0);          /* [K,H] */
    int da = anet_b_matmul(g, "da", dz, w1, 0, 0);           /* [B,H] */
    int zero = anet_graph_const_fp16(g, "zero", 0.0f);
    int pos = anet_b_binary(g, ANET_OP_GREATER, "pos", h, zero);
    int dh = anet_b_select(g, "dh", pos, da, zero);
    int gw0 = anet_b_matmul(g, "gw0", dh, x, 1, 0);          /* [H,F] */
    int gb0 = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "gb0", dh, 1, (const int32_t[]){2}, 1);
    if (loss < 0 || gw1 < 0 || gw0 < 0 || gb0 < 0) return -1;
    int outs[4] = {loss, gw1, gw0, gb0};
    return anet_graph_set_outputs(g, 4, outs) == ANET_OK ? 0 : -1;
}

static int build_case(anet_graph *g, int i) {
    const int64_t C = 8, S = 32;
    if (i == C_MLP) return build_mlp(g);
    if (i == C_MATMUL || i == C_CONSTMM) {
        int b = anet_graph_input(g, "b", t4(1, 1, 8, 32));
        int a;
        if (i == C_MATMUL) {
            a = anet_graph_input(g, "a", t4(1, 1, 16, 32));
        } else {
            uint16_t wv[16 * 32];
            for (int k = 0; k < 16 * 32; k++) wv[k] = anet_f32_to_f16((float)((k * 37) % 17 - 8) / 8.0f);
            a = anet_graph_const(g, "wconst", t4(1, 1, 16, 32), wv, sizeof wv);
        }
        if (b < 0 || a < 0) return -1;
        int y = anet_b_matmul(g, "y", b, a, 0, 1);
        return y < 0 ? -1 : (anet_graph_set_outputs(g, 1, &y) == ANET_OK ? 0 : -1);
    }
    int b = anet_graph_input(g, "b", t4(1, C, 1, S));
    if (b < 0) return -1;
    int y = -1;
    int32_t ax3[1] = {3};
    switch (i) {
    case C_ADD: case C_SUB: case C_MUL: case C_SELECT: {
        int a = anet_graph_input(g, "a", t4(1, C, 1, S));
        if (a < 0) return -1;
        if (i == C_SELECT) {
            int gt = anet_b_binary(g, ANET_OP_GREATER, "gt", b, a);
            int d = anet_b_binary(g, ANET_OP_SUB, "d", b, a);
            y = anet_b_select(g, "y", gt, d, a);
        } else {
            anet_opkind k = i == C_ADD ? ANET_OP_ADD : i == C_SUB ? ANET_OP_SUB : ANET_OP_MUL;
            y = anet_b_binary(g, k, "y", b, a);
        }
        break;
    }
    case C_RELU: y = anet_b_unary(g, ANET_OP_RELU, "y", b); break;
    case C_EXP: y = anet_b_unary(g, ANET_OP_EXP, "y", b); break;
    case C_LOG: y = anet_b_unary(g, ANET_OP_LOG, "y", b); break;
    case C_RMAX: y = anet_b_reduce(g, ANET_OP_REDUCE_MAX, "y", b, 1, ax3, 1); break;
    case C_RSUM: y = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "y", b, 1, ax3, 1); break;
    default: return -1;
    }
    return y < 0 ? -1 : (anet_graph_set_outputs(g, 1, &y) == ANET_OK ? 0 : -1);
}

anet_status anet_ane_selftest_program(int i, char **mil, size_t *mil_len, uint8_t **w, size_t *wlen) {
    *mil = NULL;
    *w = NULL;
    *mil_len = *wlen = 0;
    if (i < 0 || i >= C_COUNT) return anet_fail(ANET_E_INVALID, "selftest: no case %d", i);
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    if (!g) return anet_fail(ANET_E_NOMEM, "selftest: out of memory");
    anet_status st = ANET_OK;
    if (build_case(g, i) != 0) st = anet_fail_ctx(ANET_E_INTERNAL, "selftest: building '%s'", case_names[i]);
    return anet_ane_selftest_emit(g, st, mil, mil_len, w, wlen);
}

anet_status anet_ane_selftest_emit(anet_graph *g, anet_status st, char **mil, size_t *mil_len, uint8_t **w,
                                   size_t *wlen) {
    /* Large consts (a matmul weight) go to weight.bin as BLOBFILE references. */
    if (!st) st = anet_weights_build(g, 64, w, wlen);
    if (!st) st = anet_mil_emit(g, mil, mil_len);
    anet_graph_free(g);
    if (st) {
        free(*w);
        *w = NULL;
        *wlen = 0;
    }
    return st;
}

static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void anet_ane_selftest_inputs(int i, int k, uint16_t *dst, size_t n, uint64_t seed) {
    uint64_t s = seed * 1000003u + (uint64_t)i * 131u + (uint64_t)k;
    double lo = -2, hi = 2;
    if (i == C_LOG) lo = 0.25, hi = 4;
    if (i == C_EXP) lo = -3, hi = 1.5;
    if (i == C_MLP) lo = -1, hi = 1;
    for (size_t j = 0; j < n; j++) {
        double u = (double)(mix(&s) >> 11) / 9007199254740992.0;
        dst[j] = anet_f32_to_f16((float)(lo + (hi - lo) * u));
    }
    if (i == C_MLP && k == 0) { /* y: one-hot labels [B, K] */
        for (size_t j = 0; j < n; j++) dst[j] = 0;
        for (size_t b = 0; b < n / MK; b++) dst[b * MK + mix(&s) % MK] = anet_f32_to_f16(1.0f);
    }
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Compiles and runs on one backend; outs[j] receive the outputs. */
static anet_status run_on(anet_backend *b, const char *mil, size_t mil_len, const uint8_t *w,
                          size_t wlen, const anet_ane_sig *sig, uint16_t **ins, uint16_t **outs,
                          double *compile_ms, double *eval_ms) {
    anet_program *p = NULL;
    double t0 = now_ms();
    anet_status st = b->ops->compile(b->state, mil, mil_len, w, wlen, &p);
    double t1 = now_ms();
    *compile_ms = t1 - t0;
    if (st) return st;
    anet_io in[ANET_ANE_SIG_MAX_IO], out[ANET_ANE_SIG_MAX_IO];
    for (int k = 0; k < sig->nin; k++) in[k] = (anet_io){ins[k], sig->in[k].nbytes};
    for (int k = 0; k < sig->nout; k++) out[k] = (anet_io){outs[k], sig->out[k].nbytes};
    st = b->ops->eval(b->state, p, in, sig->nin, out, sig->nout);
    *eval_ms = now_ms() - t1;
    b->ops->release(b->state, p);
    return st;
}

anet_status anet_ane_selftest_run_mil(const char *name, anet_backend *test, anet_backend *ref,
                                      const char *mil, size_t mil_len, const uint8_t *w, size_t wlen,
                                      const void *const *inputs, anet_ane_case_result *r) {
    memset(r, 0, sizeof *r);
    if (!test || !ref || !mil || !inputs) return anet_fail(ANET_E_INVALID, "selftest: bad arguments");
    snprintf(r->name, sizeof r->name, "%s", name);
    r->tolerance = 2e-2; /* fp16 results of two implementations: a few ulps, relative */
    anet_ane_sig sig;
    anet_status st = anet_ane_sig_parse(mil, mil_len, &sig);
    if (st) {
        snprintf(r->error, sizeof r->error, "reading the program's signature: %s", anet_last_error());
        return ANET_OK;
    }
    uint16_t *bufs[2 * ANET_ANE_SIG_MAX_IO] = {0};
    uint16_t *ins[ANET_ANE_SIG_MAX_IO] = {0};
    uint16_t **o_test = bufs, **o_ref = bufs + ANET_ANE_SIG_MAX_IO;
    int oom = 0;
    for (int k = 0; k < sig.nin; k++) ins[k] = (uint16_t *)(uintptr_t)inputs[k];
    for (int k = 0; k < sig.nout && !oom; k++) {
        o_test[k] = calloc(1, sig.out[k].nbytes + 2);
        o_ref[k] = calloc(1, sig.out[k].nbytes + 2);
        if (!o_test[k] || !o_ref[k]) oom = 1;
    }
    if (oom) {
        st = anet_fail(ANET_E_NOMEM, "selftest: out of memory");
        goto done;
    }
    if (run_on(test, mil, mil_len, w, wlen, &sig, ins, o_test, &r->test_compile_ms, &r->test_eval_ms)) {
        snprintf(r->error, sizeof r->error, "%s: %s", test->ops->name, anet_last_error());
        goto done;
    }
    r->ran_test = 1;
    if (run_on(ref, mil, mil_len, w, wlen, &sig, ins, o_ref, &r->ref_compile_ms, &r->ref_eval_ms)) {
        snprintf(r->error, sizeof r->error, "%s (reference): %s", ref->ops->name, anet_last_error());
        goto done;
    }
    r->ran_ref = 1;
    double err = 0;
    int nonfinite = 0;
    for (int k = 0; k < sig.nout; k++) {
        /* Only fp16 outputs are compared value by value; others must match bit for bit. */
        if (sig.out[k].type.dtype != ANET_DT_FP16) {
            if (memcmp(o_test[k], o_ref[k], sig.out[k].nbytes) != 0) nonfinite = 1;
            continue;
        }
        size_t n = sig.out[k].nbytes / 2;
        double scale = 1;
        for (size_t j = 0; j < n; j++) {
            double v = fabs((double)anet_f16_to_f32(o_ref[k][j]));
            if (isfinite(v) && v > scale) scale = v;
        }
        for (size_t j = 0; j < n; j++) {
            double a = anet_f16_to_f32(o_test[k][j]), b = anet_f16_to_f32(o_ref[k][j]);
            if (!isfinite(b)) r->ref_nonfinite++;
            if (isfinite(a) != isfinite(b)) nonfinite = 1;
            else if (isfinite(a)) {
                double e = fabs(a - b) / scale;
                if (e > err) err = e;
            }
        }
    }
    r->max_norm_err = nonfinite ? INFINITY : err;
    r->ok = !nonfinite && err <= r->tolerance;
    if (!r->ok)
        snprintf(r->error, sizeof r->error, "outputs differ from %s: max normalized error %.3g > %.3g%s",
                 ref->ops->name, err, r->tolerance, nonfinite ? " (non-finite values or non-fp16 outputs differ)" : "");
done:
    for (int k = 0; k < 2 * ANET_ANE_SIG_MAX_IO; k++) free(bufs[k]);
    anet_ane_sig_free(&sig);
    return st;
}

anet_status anet_ane_selftest_run(int i, anet_backend *test, anet_backend *ref, uint64_t seed,
                                  anet_ane_case_result *r) {
    memset(r, 0, sizeof *r);
    if (i < 0 || i >= C_COUNT || !test || !ref) return anet_fail(ANET_E_INVALID, "selftest: bad arguments");
    snprintf(r->name, sizeof r->name, "%s", case_names[i]);
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t mil_len = 0, wlen = 0;
    anet_status st = anet_ane_selftest_program(i, &mil, &mil_len, &w, &wlen);
    if (st) {
        snprintf(r->error, sizeof r->error, "building the program: %s", anet_last_error());
        return ANET_OK;
    }
    anet_ane_sig sig;
    if ((st = anet_ane_sig_parse(mil, mil_len, &sig))) {
        snprintf(r->error, sizeof r->error, "reading the program's signature: %s", anet_last_error());
        free(mil);
        free(w);
        return ANET_OK;
    }
    void *ins[ANET_ANE_SIG_MAX_IO] = {0};
    for (int k = 0; k < sig.nin && !st; k++) {
        ins[k] = malloc(sig.in[k].nbytes + 2);
        if (!ins[k]) st = anet_fail(ANET_E_NOMEM, "selftest: out of memory");
        else anet_ane_selftest_inputs(i, k, ins[k], sig.in[k].nbytes / 2, seed);
    }
    if (!st) st = anet_ane_selftest_run_mil(case_names[i], test, ref, mil, mil_len, w, wlen,
                                            (const void *const *)ins, r);
    for (int k = 0; k < sig.nin; k++) free(ins[k]);
    anet_ane_sig_free(&sig);
    free(mil);
    free(w);
    return st;
}
