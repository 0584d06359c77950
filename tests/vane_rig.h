/* Helpers shared by the vane and constraint tests: build IR programs in a few lines, run them
 * through the public backend interface (IR -> MIL text -> backend compile -> eval), and a
 * float64 reference for IEEE binary16 rounding written independently of the library. */
#ifndef ANET_TESTS_VANE_RIG_H
#define ANET_TESTS_VANE_RIG_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "graph/ir.h"
#include "mil/mil.h"
#include "runtime/backend.h"
#include "runtime/vane/vane.h"

/* Round a double to the nearest binary16 value (ties to even), as a double. */
static inline double r16(double x) {
    if (isnan(x) || isinf(x)) return x;
    double a = fabs(x);
    if (a >= 65520.0) return copysign(INFINITY, x); /* halfway to 2^16 rounds up to inf */
    int e;
    frexp(a, &e);          /* a in [2^(e-1), 2^e) */
    int E = e - 1;
    if (E < -14) E = -14;  /* subnormals share the smallest exponent */
    double ulp = ldexp(1.0, E - 10);
    return copysign(nearbyint(a / ulp) * ulp, x); /* a / ulp is exact; default mode is RNE */
}

static uint64_t rig_rng = 0x9E3779B97F4A7C15ull;
static inline double rig_uniform(double lo, double hi) {
    rig_rng ^= rig_rng << 13;
    rig_rng ^= rig_rng >> 7;
    rig_rng ^= rig_rng << 17;
    return lo + (hi - lo) * (double)(rig_rng >> 11) / 9007199254740992.0;
}
/* n fp16-representable values uniform in [lo, hi]. */
static inline float *rig_data(int64_t n, double lo, double hi) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (float)r16(rig_uniform(lo, hi));
    return v;
}

static inline anet_type T(anet_dtype dt, int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4) {
    int64_t d[5] = {d0, d1, d2, d3, d4};
    return anet_type_make(dt, rank, d);
}
#define T16(r, ...) T(ANET_DT_FP16, r, __VA_ARGS__)

/* anet_graph_op with key/value pairs: op(g, KIND, "name", "x", x, "y", y, NULL). */
static inline int op(anet_graph *g, anet_opkind k, const char *name, ...) {
    const char *keys[12];
    int vals[12], n = 0;
    va_list ap;
    va_start(ap, name);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key || n == 12) break;
        keys[n] = key;
        vals[n] = va_arg(ap, int);
        n++;
    }
    va_end(ap);
    int r = anet_graph_op(g, k, name, n, keys, vals);
    if (r < 0) fprintf(stderr, "building op %s '%s' failed: %s\n", anet_op_kind_name(k), name ? name : "", anet_last_error());
    return r;
}

static inline int cst16(anet_graph *g, const char *name, anet_type t, const float *v) {
    int64_t n = anet_type_elements(&t);
    anet_f16 *h = malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = anet_f32_to_f16(v[i]);
    int r = anet_graph_const(g, name, t, h, (size_t)n * sizeof *h);
    free(h);
    return r;
}

static inline int ints(anet_graph *g, int n, int32_t a, int32_t b, int32_t c, int32_t d) {
    int32_t v[4] = {a, b, c, d};
    return anet_graph_const_int32s(g, NULL, n, v);
}

static inline void out1(anet_graph *g, int v) { anet_graph_set_outputs(g, 1, &v); }

/* The last compile/eval message, for the tests that check what went wrong. */
static char rig_err[1024];

/* Emits g as MIL (weights as BLOBFILE when wmin > 0), compiles with backend `vane` for chip /
 * numerics and evaluates once. ins[i] / outs[i] are floats, converted to / from each I/O's
 * declared dtype. Returns the status (ANET_OK when all steps passed). */
static inline anet_status rig_run(anet_graph *g, int64_t wmin, anet_chip chip, anet_numerics num,
                           float *const *ins, float **outs) {
    anet_backend be;
    anet_backend_config cfg = {chip, num, 0};
    anet_program *p = NULL;
    char *mil = NULL;
    size_t len = 0, wlen = 0;
    uint8_t *w = NULL;
    anet_status st = ANET_OK;
    rig_err[0] = '\0';
    if (wmin > 0 && (st = anet_weights_build(g, wmin, &w, &wlen)) != ANET_OK) goto out_msg;
#ifndef RIG_DIRECT
    if ((st = anet_mil_emit(g, &mil, &len)) != ANET_OK) goto out_msg;
#endif
    if ((st = anet_backend_open("vane", &cfg, &be)) != ANET_OK) goto out_msg;
#ifdef RIG_DIRECT /* debugging aid: skip the MIL text round trip */
    st = anet_vane_compile_graph(be.state, g, &p);
#else
    st = be.ops->compile(be.state, mil, len, w, wlen, &p);
#endif
    if (st == ANET_OK) {
        anet_io in[8], out[8];
        void *bufs[16] = {0};
        for (int i = 0; i < g->ninputs && i < 8; i++) {
            const anet_type *t = &g->values[g->inputs[i]].type;
            int64_t n = anet_type_elements(t);
            size_t es = anet_dtype_size(t->dtype);
            bufs[i] = malloc((size_t)n * es);
            if (t->dtype == ANET_DT_FP16)
                for (int64_t k = 0; k < n; k++) ((anet_f16 *)bufs[i])[k] = anet_f32_to_f16(ins[i][k]);
            else
                memcpy(bufs[i], ins[i], (size_t)n * 4);
            in[i].data = bufs[i];
            in[i].nbytes = (size_t)n * es;
        }
        for (int i = 0; i < g->noutputs && i < 8; i++) {
            const anet_type *t = &g->values[g->outputs[i]].type;
            int64_t n = anet_type_elements(t);
            bufs[8 + i] = malloc((size_t)n * anet_dtype_size(t->dtype));
            out[i].data = bufs[8 + i];
            out[i].nbytes = (size_t)n * anet_dtype_size(t->dtype);
        }
        st = be.ops->eval(be.state, p, in, g->ninputs, out, g->noutputs);
        if (st == ANET_OK)
            for (int i = 0; i < g->noutputs && i < 8; i++) {
                const anet_type *t = &g->values[g->outputs[i]].type;
                int64_t n = anet_type_elements(t);
                if (t->dtype == ANET_DT_FP16)
                    for (int64_t k = 0; k < n; k++) outs[i][k] = anet_f16_to_f32(((anet_f16 *)bufs[8 + i])[k]);
                else
                    memcpy(outs[i], bufs[8 + i], (size_t)n * 4);
            }
        else
            snprintf(rig_err, sizeof rig_err, "%s", anet_last_error());
        for (int i = 0; i < 16; i++) free(bufs[i]);
        be.ops->release(be.state, p);
    } else {
        snprintf(rig_err, sizeof rig_err, "%s", anet_last_error());
    }
    anet_backend_close(&be);
    free(mil);
    free(w);
    return st;
out_msg:
    snprintf(rig_err, sizeof rig_err, "%s", anet_last_error());
    free(mil);
    free(w);
    return st;
}

#endif
