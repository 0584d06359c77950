/* The ANE backend on the private-API simulator (ane-sim, running on vane): each quirk of
 * ANE_FACTS.md demonstrated (and avoided by the backend), fault injection, auto selection,
 * and ane-sim == vane on the selftest programs, with float64 oracles written here. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_selftest.h"
#include "runtime/backend_auto.h"
#include "runtime/sim/ane_sim.h"

static const anet_backend_config CFG = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};

/* The chip's simulator without the program-form rules: the programs here test other quirks and
 * are not in the chip's form (test_ane_forms.c covers the forms). */
static void legacy_config(anet_ane_sim_config *sc) {
    anet_ane_sim_config_default(CFG.chip, sc);
    CHECK_EQ_INT(anet_forms_parse("none", &sc->rules.forms), ANET_OK);
}

/* A backend on a simulator with explicit rules and options. */
static anet_backend sim_backend(const anet_ane_sim_rules *rules, const anet_ane_options *opt) {
    anet_ane_sim_config sc;
    legacy_config(&sc);
    if (rules) sc.rules = *rules;
    anet_ane_seam seam;
    anet_backend b = {anet_ane_sim_backend_ops(), NULL};
    CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &seam), ANET_OK);
    anet_status s = anet_ane_backend_create_seam(&CFG, opt, seam, &b.state);
    CHECK_MSG(s == ANET_OK, "create: %s", anet_last_error());
    return b;
}

static void close_b(anet_backend *b) {
    if (b->state) b->ops->destroy(b->state);
    b->state = NULL;
}

static anet_type t4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return anet_type_make(ANET_DT_FP16, 4, dims);
}

static int emit(anet_graph *g, char **mil, size_t *len, uint8_t **w, size_t *wlen) {
    int ok = anet_weights_build(g, 16, w, wlen) == ANET_OK && anet_mil_emit(g, mil, len) == ANET_OK;
    if (!ok) fprintf(stderr, "emit: %s\n", anet_last_error());
    anet_graph_free(g);
    return ok;
}

/* y = sub(b, a) with inputs declared b, a: C x S. */
static int sub_program(char **mil, size_t *len, int64_t C, int64_t S) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int b = anet_graph_input(g, "b", t4(1, C, 1, S));
    int a = anet_graph_input(g, "a", t4(1, C, 1, S));
    int y = anet_b_binary(g, ANET_OP_SUB, "y", b, a);
    anet_graph_set_outputs(g, 1, &y);
    uint8_t *w = NULL;
    size_t wl = 0;
    int ok = emit(g, mil, len, &w, &wl);
    free(w);
    return ok;
}

/* y = matmul(x, W^T) with W [16, 32] a const whose values depend on `variant`. */
static int const_mm_program(int variant, char **mil, size_t *len, uint8_t **w, size_t *wlen) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", t4(1, 1, 8, 32));
    uint16_t wv[16 * 32];
    for (int k = 0; k < 16 * 32; k++) wv[k] = anet_f32_to_f16((float)((k % 7) - 3) / 4.0f + (float)variant / 256.0f);
    int c = anet_graph_const(g, "wconst", t4(1, 1, 16, 32), wv, sizeof wv);
    int y = anet_b_matmul(g, "y", x, c, 0, 1);
    anet_graph_set_outputs(g, 1, &y);
    return emit(g, mil, len, w, wlen);
}

static void fill(uint16_t *d, size_t n, uint64_t seed, double lo, double hi) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(seed >> 11) / 9007199254740992.0;
        d[i] = anet_f32_to_f16((float)(lo + (hi - lo) * u));
    }
}

static double h2d(uint16_t h) { return (double)anet_f16_to_f32(h); }

/* ---- ane-sim == vane on every selftest program; vane itself against float64 for two ---- */
static void test_sim_equals_vane(void) {
    anet_backend sim, vane;
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &sim), ANET_OK);
    CHECK_EQ_INT(anet_backend_open("vane", &CFG, &vane), ANET_OK);
    if (!sim.ops || !vane.ops) return;
    for (int i = 0; i < anet_ane_selftest_ncases(); i++) {
        anet_ane_case_result r;
        CHECK_EQ_INT(anet_ane_selftest_run(i, &sim, &vane, 3, &r), ANET_OK);
        CHECK_MSG(r.ok && r.max_norm_err == 0.0, "case %s: ok %d err %g: %s", r.name, r.ok,
                  r.max_norm_err, r.error);
    }
    anet_backend_stats s;
    sim.ops->stats(sim.state, &s);
    CHECK_EQ_INT(s.compiles, anet_ane_selftest_ncases());
    CHECK_EQ_INT(s.dispatches, anet_ane_selftest_ncases());
    anet_backend_close(&sim);
    anet_backend_close(&vane);
}

/* The MLP step on ane-sim against a float64 forward/backward written here. */
static void test_mlp_step_oracle(void) {
    enum { B = 8, F = 16, H = 12, K = 4 };
    int idx = -1;
    for (int i = 0; i < anet_ane_selftest_ncases(); i++)
        if (strcmp(anet_ane_selftest_case_name(i), "mlp_step") == 0) idx = i;
    CHECK(idx >= 0);
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    CHECK_EQ_INT(anet_ane_selftest_program(idx, &mil, &ml, &w, &wl), ANET_OK);
    if (!mil) return;
    /* Inputs in declaration order: y [B,K], x [B,F], w1 [K,H], w0 [H,F], b0 [H]. */
    uint16_t y[B * K], x[B * F], w1[K * H], w0[H * F], b0[H];
    anet_ane_selftest_inputs(idx, 0, y, B * K, 5);
    anet_ane_selftest_inputs(idx, 1, x, B * F, 5);
    anet_ane_selftest_inputs(idx, 2, w1, K * H, 5);
    anet_ane_selftest_inputs(idx, 3, w0, H * F, 5);
    anet_ane_selftest_inputs(idx, 4, b0, H, 5);
    uint16_t loss[1], gw1[K * H], gw0[H * F], gb0[H];
    anet_backend sim;
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &sim), ANET_OK);
    anet_program *p = NULL;
    CHECK_EQ_INT(sim.ops->compile(sim.state, mil, ml, w, wl, &p), ANET_OK);
    anet_io in[5] = {{y, sizeof y}, {x, sizeof x}, {w1, sizeof w1}, {w0, sizeof w0}, {b0, sizeof b0}};
    anet_io out[4] = {{loss, sizeof loss}, {gw1, sizeof gw1}, {gw0, sizeof gw0}, {gb0, sizeof gb0}};
    CHECK_EQ_INT(sim.ops->eval(sim.state, p, in, 5, out, 4), ANET_OK);
    /* float64 reference. */
    double h[B][H], a[B][H], z[B][K], pr[B][K], L = 0, dz[B][K], rg1[K][H] = {{0}}, rg0[H][F] = {{0}}, rb0[H] = {0};
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < H; j++) {
            double s = h2d(b0[j]);
            for (int f = 0; f < F; f++) s += h2d(x[b * F + f]) * h2d(w0[j * F + f]);
            h[b][j] = s;
            a[b][j] = s > 0 ? s : 0;
        }
        double m = -INFINITY, se = 0;
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int j = 0; j < H; j++) s += a[b][j] * h2d(w1[k * H + j]);
            z[b][k] = s;
            if (s > m) m = s;
        }
        for (int k = 0; k < K; k++) se += exp(z[b][k] - m);
        for (int k = 0; k < K; k++) {
            pr[b][k] = exp(z[b][k] - m) / se;
            L -= h2d(y[b * K + k]) * log(pr[b][k]) / B;
            dz[b][k] = (pr[b][k] - h2d(y[b * K + k])) / B;
        }
    }
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < H; j++) rg1[k][j] += dz[b][k] * a[b][j];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double da = 0;
            for (int k = 0; k < K; k++) da += dz[b][k] * h2d(w1[k * H + j]);
            double dh = h[b][j] > 0 ? da : 0;
            rb0[j] += dh;
            for (int f = 0; f < F; f++) rg0[j][f] += dh * h2d(x[b * F + f]);
        }
    CHECK_NEAR(h2d(loss[0]), L, 0.01 * fabs(L) + 1e-3);
    double e1 = 0, e0 = 0, eb = 0, s1 = 1e-3, s0 = 1e-3, sb = 1e-3;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < H; j++) {
            e1 = fmax(e1, fabs(h2d(gw1[k * H + j]) - rg1[k][j]));
            s1 = fmax(s1, fabs(rg1[k][j]));
        }
    for (int j = 0; j < H; j++) {
        for (int f = 0; f < F; f++) {
            e0 = fmax(e0, fabs(h2d(gw0[j * F + f]) - rg0[j][f]));
            s0 = fmax(s0, fabs(rg0[j][f]));
        }
        eb = fmax(eb, fabs(h2d(gb0[j]) - rb0[j]));
        sb = fmax(sb, fabs(rb0[j]));
    }
    CHECK_MSG(e1 / s1 < 2e-2, "gw1 normalized error %g", e1 / s1);
    CHECK_MSG(e0 / s0 < 2e-2, "gw0 normalized error %g", e0 / s0);
    CHECK_MSG(eb / sb < 2e-2, "gb0 normalized error %g", eb / sb);
    anet_backend_close(&sim);
    free(mil);
    free(w);
}

/* ---- quirk: constants are baked at compile ---- */
static void test_baked_constants(void) {
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    CHECK(const_mm_program(0, &mil, &ml, &w, &wl));
    if (!mil) return;
    uint16_t x[8 * 32], y0[8 * 16], y1[8 * 16];
    fill(x, 8 * 32, 11, -1, 1);
    anet_io in[1] = {{x, sizeof x}}, o0[1] = {{y0, sizeof y0}}, o1[1] = {{y1, sizeof y1}};
    for (int baked = 1; baked >= 0; baked--) {
        anet_ane_sim_rules r;
        anet_ane_sim_config sc;
        legacy_config(&sc);
        r = sc.rules;
        r.baked_constants = baked;
        anet_backend b = sim_backend(&r, NULL);
        anet_program *p = NULL;
        CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, w, wl, &p), ANET_OK);
        if (!p) { close_b(&b); break; }
        CHECK_EQ_INT(b.ops->eval(b.state, p, in, 1, o0, 1), ANET_OK);
        /* Double every weight in the model's weight file (fp16: +1 to the exponent), reload. */
        size_t n = 0;
        uint8_t *file = anet_ane_sim_model_weights(anet_ane_program_model(p), &n);
        CHECK(file && n == wl);
        const void *data = NULL;
        CHECK_EQ_INT(anet_weights_lookup(file, n, 64, ANET_DT_FP16, 16 * 32 * 2, &data), ANET_OK);
        if (data) {
            uint16_t *wd = (uint16_t *)(file + ((const uint8_t *)data - file));
            for (int k = 0; k < 16 * 32; k++) wd[k] = anet_f32_to_f16(2.0f * anet_f16_to_f32(wd[k]));
        }
        CHECK_EQ_INT(anet_ane_reload(b.state, p), ANET_OK);
        CHECK_EQ_INT(b.ops->eval(b.state, p, in, 1, o1, 1), ANET_OK);
        int same = memcmp(y0, y1, sizeof y0) == 0, doubled = 1, nonzero = 0;
        for (int k = 0; k < 8 * 16; k++) {
            doubled &= h2d(y1[k]) == 2 * h2d(y0[k]);
            nonzero |= y0[k] != 0;
        }
        CHECK(nonzero);
        if (baked) CHECK_MSG(same, "baked constants: the rewritten weight file changed the output");
        else CHECK_MSG(!same && doubled, "rule off: reload should pick up the doubled weights");
        close_b(&b);
    }
    free(mil);
    free(w);
}

/* ---- quirk: alphabetical I/O matching ---- */
static void test_alphabetical(void) {
    char *mil = NULL;
    size_t ml = 0;
    CHECK(sub_program(&mil, &ml, 4, 16));
    if (!mil) return;
    uint16_t bv[64], av[64], out[64];
    fill(bv, 64, 1, -2, 2);
    fill(av, 64, 2, -2, 2);
    anet_io in[2] = {{bv, sizeof bv}, {av, sizeof av}}, o[1] = {{out, sizeof out}};
    /* alpha 1: alphabetical; 0: declaration order, the model stating no layout; -1: declaration
     * order, but the compiled model states its own order (io_layout), which the backend follows. */
    for (int alpha = 1; alpha >= -1; alpha--) {
        anet_ane_options opt;
        anet_ane_options_default(&opt);
        opt.alphabetical = alpha > 0;
        anet_ane_sim_config sc;
        legacy_config(&sc);
        sc.rules.report_layout = alpha < 0;
        anet_backend b = sim_backend(&sc.rules, &opt);
        anet_program *p = NULL;
        CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, NULL, 0, &p), ANET_OK);
        CHECK_EQ_INT(b.ops->eval(b.state, p, in, 2, o, 1), ANET_OK);
        double err = 0;
        for (int k = 0; k < 64; k++) {
            double want = (double)anet_f32_round_f16((float)(h2d(bv[k]) - h2d(av[k])));
            err = fmax(err, fabs(h2d(out[k]) - want));
        }
        if (alpha) CHECK_MSG(err == 0, "alphabetical mapping (%d): err %g", alpha, err);
        else CHECK_MSG(err > 0.1, "declaration order should give b-a swapped (err %g)", err);
        close_b(&b);
    }
    free(mil);
}

/* ---- quirks: uniform allocation sizes and the minimum surface size (status 0x1d) ---- */
static void test_surface_rules(void) {
    int idx = -1;
    for (int i = 0; i < anet_ane_selftest_ncases(); i++)
        if (strcmp(anet_ane_selftest_case_name(i), "mlp_step") == 0) idx = i;
    anet_backend vane;
    CHECK_EQ_INT(anet_backend_open("vane", &CFG, &vane), ANET_OK);
    anet_ane_sim_config sc;
    legacy_config(&sc);
    CHECK_EQ_INT(sc.rules.min_surface_bytes, 49152);
    /* Per-tensor sizes (no minimum on either side): the sim refuses unequal sizes. */
    anet_ane_sim_rules r = sc.rules;
    r.min_surface_bytes = 0;
    anet_ane_options opt;
    anet_ane_options_default(&opt);
    opt.uniform_sizes = 0;
    opt.min_surface_bytes = 0;
    anet_backend b = sim_backend(&r, &opt);
    anet_ane_case_result res;
    CHECK_EQ_INT(anet_ane_selftest_run(idx, &b, &vane, 1, &res), ANET_OK);
    CHECK(!res.ok);
    CHECK_STR_CONTAINS(res.error, "status 0x1d");
    CHECK_STR_CONTAINS(res.error, "unequal allocation sizes");
    close_b(&b);
    /* Uniform but below the chip's minimum: refused too, and the message says what to set. */
    anet_ane_options_default(&opt);
    opt.min_surface_bytes = 0;
    b = sim_backend(NULL, &opt);
    CHECK_EQ_INT(anet_ane_selftest_run(idx, &b, &vane, 1, &res), ANET_OK);
    CHECK(!res.ok);
    CHECK_STR_CONTAINS(res.error, "below the minimum 49152");
    CHECK_STR_CONTAINS(res.error, "ANE_TRAINER_MIN_SURFACE");
    close_b(&b);
    /* The defaults pass both rules. */
    b = sim_backend(NULL, NULL);
    CHECK_EQ_INT(anet_ane_selftest_run(idx, &b, &vane, 1, &res), ANET_OK);
    CHECK_MSG(res.ok, "%s", res.error);
    close_b(&b);
    anet_backend_close(&vane);
}

/* ---- quirk: ops rejected by the chip's compiler ---- */
static void test_rejected_ops(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", t4(1, 4, 1, 8));
    int y = anet_b_unary(g, ANET_OP_GELU, "y", x);
    anet_graph_set_outputs(g, 1, &y);
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    CHECK(emit(g, &mil, &ml, &w, &wl));
    anet_backend b;
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_OK);
    anet_program *p = NULL;
    CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, w, wl, &p), ANET_E_BACKEND);
    CHECK_STR_CONTAINS(anet_last_error(), "ANE compiler rejected");
    CHECK_STR_CONTAINS(anet_last_error(), "gelu");
    anet_backend_close(&b);
    free(mil);
    free(w);
}

/* ---- the compile limit: baked weights recompile every step; weights as inputs do not ---- */
static void test_compile_limit(void) {
    const int steps = 130;
    uint16_t x[8 * 32], y[8 * 16];
    fill(x, 8 * 32, 4, -1, 1);
    anet_io in[1] = {{x, sizeof x}}, out[1] = {{y, sizeof y}};
    /* Budget lifted: the simulator's ~119 limit hits, with a message saying what to do. */
    anet_ane_options opt;
    anet_ane_options_default(&opt);
    opt.compile_budget = 100000;
    anet_backend b = sim_backend(NULL, &opt);
    int failed_at = 0;
    char msg[1024] = "";
    for (int t = 1; t <= steps && !failed_at; t++) {
        char *mil = NULL;
        uint8_t *w = NULL;
        size_t ml = 0, wl = 0;
        CHECK(const_mm_program(t, &mil, &ml, &w, &wl)); /* "updated weights", baked */
        anet_program *p = NULL;
        if (b.ops->compile(b.state, mil, ml, w, wl, &p) != ANET_OK) {
            failed_at = t;
            snprintf(msg, sizeof msg, "%s", anet_last_error());
        } else {
            CHECK_EQ_INT(b.ops->eval(b.state, p, in, 1, out, 1), ANET_OK);
            b.ops->release(b.state, p);
        }
        free(mil);
        free(w);
    }
    CHECK_EQ_INT(failed_at, 120);
    CHECK_STR_CONTAINS(msg, "after 120 compiles");
    CHECK_STR_CONTAINS(msg, "restart the process");
    close_b(&b);
    /* Default budget: refused at 101, before the framework would fail. */
    b = sim_backend(NULL, NULL);
    failed_at = 0;
    for (int t = 1; t <= steps && !failed_at; t++) {
        char *mil = NULL;
        uint8_t *w = NULL;
        size_t ml = 0, wl = 0;
        CHECK(const_mm_program(t, &mil, &ml, &w, &wl));
        anet_program *p = NULL;
        if (b.ops->compile(b.state, mil, ml, w, wl, &p) != ANET_OK) {
            failed_at = t;
            snprintf(msg, sizeof msg, "%s", anet_last_error());
        } else {
            b.ops->release(b.state, p);
        }
        free(mil);
        free(w);
    }
    CHECK_EQ_INT(failed_at, 101);
    CHECK_STR_CONTAINS(msg, "compile budget exhausted");
    anet_ane_sim_counts sc;
    anet_ane_sim_counts_get(anet_ane_backend_seam(b.state), &sc);
    CHECK_EQ_INT(sc.compiles, 100);
    close_b(&b);
    /* Weights as inputs: the same number of steps compiles once (the program is asked for
     * every step, as a trainer that rebuilds its text would; the cache answers). */
    int idx = -1;
    for (int i = 0; i < anet_ane_selftest_ncases(); i++)
        if (strcmp(anet_ane_selftest_case_name(i), "matmul") == 0) idx = i;
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    CHECK_EQ_INT(anet_ane_selftest_program(idx, &mil, &ml, &w, &wl), ANET_OK);
    b = sim_backend(NULL, NULL);
    uint16_t wt[16 * 32];
    anet_io in2[2] = {{x, sizeof x}, {wt, sizeof wt}};
    int ok = 1;
    for (int t = 1; t <= steps && mil; t++) {
        anet_program *p = NULL;
        fill(wt, 16 * 32, (uint64_t)t, -1, 1);
        ok &= b.ops->compile(b.state, mil, ml, w, wl, &p) == ANET_OK;
        if (p) ok &= b.ops->eval(b.state, p, in2, 2, out, 1) == ANET_OK;
        if (p) b.ops->release(b.state, p);
    }
    CHECK_MSG(ok, "%s", anet_last_error());
    anet_backend_stats bs;
    b.ops->stats(b.state, &bs);
    CHECK_EQ_INT(bs.compiles, 1);
    CHECK_EQ_INT(bs.dispatches, steps);
    close_b(&b);
    free(mil);
    free(w);
}

/* ---- fault injection through the environment, as CLI tests use it ---- */
static void test_faults(void) {
    char *mil = NULL;
    size_t ml = 0;
    CHECK(sub_program(&mil, &ml, 4, 16));
    if (!mil) return;
    uint16_t bv[64] = {0}, av[64] = {0}, out[64];
    anet_io in[2] = {{bv, sizeof bv}, {av, sizeof av}}, o[1] = {{out, sizeof out}};
    anet_backend b;
    anet_program *p = NULL;

    setenv("ANE_TRAINER_SIM_FAULTS", "framework", 1);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(anet_last_error(), "AppleNeuralEngine.framework");
    CHECK_STR_CONTAINS(anet_last_error(), "--backend vane");

    setenv("ANE_TRAINER_SIM_FAULTS", "classes", 1);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(anet_last_error(), "_ANEInMemoryModelDescriptor");
    anet_ane_info info;
    CHECK_EQ_INT(anet_ane_info_get("ane-sim", &info), ANET_OK);
    CHECK(info.framework_present && info.classes_found == 3 && !info.class_ok[0] && info.class_ok[1]);

    setenv("ANE_TRAINER_SIM_FAULTS", "compile", 1);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_OK);
    CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, NULL, 0, &p), ANET_E_BACKEND);
    CHECK_STR_CONTAINS(anet_last_error(), "ANE compiler rejected the program");
    CHECK_STR_CONTAINS(anet_last_error(), "simulated fault 'compile'");
    anet_backend_close(&b);

    setenv("ANE_TRAINER_SIM_FAULTS", "load@1", 1);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_OK);
    CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, NULL, 0, &p), ANET_E_BACKEND);
    CHECK_STR_CONTAINS(anet_last_error(), "could not be loaded onto the Neural Engine");
    CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, NULL, 0, &p), ANET_OK); /* 2nd load fine */
    anet_backend_close(&b);

    setenv("ANE_TRAINER_SIM_FAULTS", "eval@3", 1);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_OK);
    CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, NULL, 0, &p), ANET_OK);
    CHECK_EQ_INT(b.ops->eval(b.state, p, in, 2, o, 1), ANET_OK);
    CHECK_EQ_INT(b.ops->eval(b.state, p, in, 2, o, 1), ANET_OK);
    CHECK_EQ_INT(b.ops->eval(b.state, p, in, 2, o, 1), ANET_E_BACKEND);
    CHECK_STR_CONTAINS(anet_last_error(), "evaluation failed");
    CHECK_STR_CONTAINS(anet_last_error(), "simulated fault 'eval' at evaluation 3");
    CHECK_EQ_INT(b.ops->eval(b.state, p, in, 2, o, 1), ANET_OK);
    anet_backend_close(&b);

    setenv("ANE_TRAINER_SIM_FAULTS", "eval@x", 1);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &CFG, &b), ANET_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(anet_last_error(), "ANE_TRAINER_SIM_FAULTS");
    unsetenv("ANE_TRAINER_SIM_FAULTS");
    free(mil);
}

/* ---- auto selection: the candidate when it works, else vane with the reason ---- */
static void test_auto(void) {
    anet_backend b;
    char chosen[32], reason[700];
    CHECK_EQ_INT(anet_ane_select_auto("ane-sim", &CFG, &b, chosen, sizeof chosen, reason, sizeof reason), ANET_OK);
    CHECK(strcmp(chosen, "ane-sim") == 0);
    CHECK_STR_CONTAINS(reason, "self-check");
    anet_backend_close(&b);
    setenv("ANE_TRAINER_SIM_FAULTS", "framework", 1);
    CHECK_EQ_INT(anet_ane_select_auto("ane-sim", &CFG, &b, chosen, sizeof chosen, reason, sizeof reason), ANET_OK);
    CHECK(strcmp(chosen, "vane") == 0 && b.ops && strcmp(b.ops->name, "vane") == 0);
    CHECK_STR_CONTAINS(reason, "framework");
    anet_backend_close(&b);
    setenv("ANE_TRAINER_SIM_FAULTS", "eval", 1);
    CHECK_EQ_INT(anet_ane_select_auto("ane-sim", &CFG, &b, chosen, sizeof chosen, reason, sizeof reason), ANET_OK);
    CHECK(strcmp(chosen, "vane") == 0);
    CHECK_STR_CONTAINS(reason, "self-check");
    anet_backend_close(&b);
    unsetenv("ANE_TRAINER_SIM_FAULTS");
#if !defined(__APPLE__)
    CHECK_EQ_INT(anet_backend_open_auto("auto", &CFG, &b), ANET_OK);
    CHECK(b.ops && strcmp(b.ops->name, "vane") == 0);
    anet_backend_close(&b);
    CHECK_EQ_INT(anet_ane_select_auto("ane", &CFG, &b, chosen, sizeof chosen, reason, sizeof reason), ANET_OK);
    CHECK(strcmp(chosen, "vane") == 0);
    CHECK_STR_CONTAINS(reason, "needs macOS");
    anet_backend_close(&b);
#endif
    /* "auto" opened by name (above the registry) through the simulator, as a CLI test would drive it. */
    setenv("ANE_TRAINER_AUTO_CANDIDATE", "ane-sim", 1);
    CHECK_EQ_INT(anet_backend_open_auto("auto", &CFG, &b), ANET_OK);
    CHECK(b.ops && strcmp(b.ops->name, "ane-sim") == 0);
    anet_backend_close(&b);
    setenv("ANE_TRAINER_SIM_FAULTS", "compile", 1);
    CHECK_EQ_INT(anet_ane_select_auto("ane", &CFG, &b, chosen, sizeof chosen, reason, sizeof reason), ANET_OK);
    CHECK(strcmp(chosen, "vane") == 0);
    CHECK_STR_CONTAINS(reason, "ane-sim is not usable here");
    CHECK_STR_CONTAINS(reason, "simulated fault 'compile'");
    anet_backend_close(&b);
    setenv("ANE_TRAINER_AUTO_CANDIDATE", "tpu", 1);
    CHECK_EQ_INT(anet_backend_open_auto("auto", &CFG, &b), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "ANE_TRAINER_AUTO_CANDIDATE");
    unsetenv("ANE_TRAINER_AUTO_CANDIDATE");
    unsetenv("ANE_TRAINER_SIM_FAULTS");
}

/* ---- packing several inputs into one surface + slice_by_size in the program ---- */
static void test_packing(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int c = anet_graph_input(g, "c", t4(1, 8, 1, 4));
    int bq = anet_graph_input(g, "b", t4(1, 8, 1, 6));
    int a = anet_graph_input(g, "a", t4(1, 8, 1, 2));
    int32_t ax[1] = {3};
    int rc = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "rc", c, 1, ax, 1);
    int rb = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "rb", bq, 1, ax, 1);
    int ra = anet_b_reduce(g, ANET_OP_REDUCE_MAX, "ra", a, 1, ax, 1);
    int s1 = anet_b_binary(g, ANET_OP_SUB, "s1", rc, rb);
    int y = anet_b_binary(g, ANET_OP_ADD, "y", s1, ra);
    anet_graph_set_outputs(g, 1, &y);
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    CHECK(emit(g, &mil, &ml, &w, &wl));
    if (!mil) return;
    uint16_t cv[32], bv[48], av[16], yp[8], yv[8];
    fill(cv, 32, 7, -1, 1);
    fill(bv, 48, 8, -1, 1);
    fill(av, 16, 9, -1, 1);
    anet_io in[3] = {{cv, sizeof cv}, {bv, sizeof bv}, {av, sizeof av}};
    anet_io op[1] = {{yp, sizeof yp}}, ov[1] = {{yv, sizeof yv}};
    anet_ane_options opt;
    anet_ane_options_default(&opt);
    opt.pack_inputs = 1;
    anet_backend b = sim_backend(NULL, &opt);
    anet_program *p = NULL;
    CHECK_MSG(b.ops->compile(b.state, mil, ml, w, wl, &p) == ANET_OK, "%s", anet_last_error());
    if (p) {
        int nsurf = 0;
        anet_ane_program_surface_sizes(p, NULL, NULL, &nsurf);
        CHECK_EQ_INT(nsurf, 1);
        CHECK_EQ_INT(b.ops->eval(b.state, p, in, 3, op, 1), ANET_OK);
        CHECK_EQ_INT(anet_ane_pair(b.state, p, 0, 0), ANET_E_MISMATCH); /* shapes differ */
    }
    anet_backend vane;
    CHECK_EQ_INT(anet_backend_open("vane", &CFG, &vane), ANET_OK);
    anet_program *q = NULL;
    CHECK_EQ_INT(vane.ops->compile(vane.state, mil, ml, w, wl, &q), ANET_OK);
    CHECK_EQ_INT(vane.ops->eval(vane.state, q, in, 3, ov, 1), ANET_OK);
    CHECK(memcmp(yp, yv, sizeof yp) == 0);
    /* And against float64 (fp16 sums of a few terms: loose tolerance). */
    double err = 0;
    for (int ch = 0; ch < 8; ch++) {
        double sc = 0, sb = 0, ma = -INFINITY;
        for (int j = 0; j < 4; j++) sc += h2d(cv[ch * 4 + j]);
        for (int j = 0; j < 6; j++) sb += h2d(bv[ch * 6 + j]);
        for (int j = 0; j < 2; j++) ma = fmax(ma, h2d(av[ch * 2 + j]));
        err = fmax(err, fabs(h2d(yp[ch]) - (sc - sb + ma)));
    }
    CHECK_MSG(err < 2e-2, "packed program vs float64: %g", err);
    vane.ops->release(vane.state, q);
    anet_backend_close(&vane);
    close_b(&b);
    free(mil);
    free(w);
}

int main(void) {
    setenv("ANE_TRAINER_FORMS", "none", 1); /* backends opened by name: see legacy_config */
    test_sim_equals_vane();
    test_mlp_step_oracle();
    test_baked_constants();
    test_alphabetical();
    test_surface_rules();
    test_rejected_ops();
    test_compile_limit();
    test_faults();
    test_auto();
    test_packing();
    TEST_MAIN_END();
}
