/* Program forms per chip (plan/forms.h): the rule table and its switches; for every rule, a
 * program breaking it fails on ane-sim the way the reports say the device fails, and a program
 * in the planner's form passes; the planner's step programs (lowered) compute what the plain
 * programs compute. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "plan/forms.h"
#include "plan/forms_lower.h"
#include "runtime/ane_backend.h"
#include "runtime/sim/ane_sim.h"
#include "train/optim_cpu.h"
#include "train/step.h"
#include "train/step_forms.h"

static const char *const want_ids[] = {
    "dialect-ios16", "io-shape-1c1s", "io-width-mult32", "row-layout", "surface-size-strided",
    "matmul-contraction-32", "broadcast-channel", "broadcast-scalar", "elementwise-max-16384", "max-inputs",
    "runtime-input-layout-ops", "io-size-order", "identity-output", "log-epsilon", "conv1x1-runtime-weights",
    "reserved-names"};

static void test_table(void) {
    int n = 0;
    const anet_form_rule *r = anet_form_rules(&n);
    CHECK_EQ_INT(n, (int)(sizeof want_ids / sizeof want_ids[0]));
    for (int i = 0; i < n; i++) {
        CHECK_MSG(strcmp(r[i].id, want_ids[i]) == 0, "rule %d is %s", i, r[i].id);
        CHECK(r[i].title[0] && r[i].reason[0] && r[i].source[0]);
        CHECK_EQ_INT(anet_form_find(r[i].id), i);
    }
    CHECK_EQ_INT(anet_form_find("nope"), -1);
    anet_forms f;
    anet_forms_default(ANET_CHIP_M1, &f);
    CHECK(f.on[ANET_FORM_DIALECT_IOS16] && f.on[ANET_FORM_MATMUL_CONTRACTION_32] && !f.on[ANET_FORM_MAX_INPUTS]);
    anet_forms_default(ANET_CHIP_M4, &f);
    CHECK(f.on[ANET_FORM_DIALECT_IOS16] == 0 && f.on[ANET_FORM_CONV1X1_RUNTIME_WEIGHTS]);
    CHECK_EQ_INT(anet_forms_parse("strict", &f), ANET_OK);
    for (int i = 0; i < n; i++) CHECK(f.on[i] == (i != ANET_FORM_CONV1X1_RUNTIME_WEIGHTS));
    CHECK_EQ_INT(f.max_inputs, 1);
    CHECK_EQ_INT(anet_forms_parse("none, log-epsilon=on, max-inputs=3, row-layout=packed", &f), ANET_OK);
    CHECK(f.on[ANET_FORM_LOG_EPSILON] && f.on[ANET_FORM_MAX_INPUTS] && f.max_inputs == 3 && !f.on[ANET_FORM_ROW_LAYOUT]);
    CHECK_EQ_INT(anet_forms_parse("row-layout=strided64", &f), ANET_OK);
    CHECK(f.on[ANET_FORM_ROW_LAYOUT] && anet_forms_row_stride(&f, 8) == 64 && anet_forms_row_stride(&f, 32) == 64);
    CHECK_EQ_INT(anet_forms_parse("bogus=on", &f), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "unknown rule 'bogus'");
    CHECK_EQ_INT(anet_forms_parse("log-epsilon=maybe", &f), ANET_E_INVALID);
    CHECK_EQ_INT(anet_forms_parse("max-inputs=0", &f), ANET_E_INVALID);
    char buf[64];
    anet_forms_parse("none,identity-output=on", &f);
    anet_forms_describe(&f, buf, sizeof buf);
    CHECK(strcmp(buf, "identity-output") == 0);
}

/* ---- one small program per rule ---- */

static anet_type t4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return anet_type_make(ANET_DT_FP16, 4, dims);
}

static void fill(uint16_t *d, size_t n, uint64_t seed) {
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        d[i] = anet_f32_to_f16((float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0));
    }
}

typedef struct prog {
    char *mil;
    size_t len;
    uint8_t *w;
    size_t wlen;
} prog;

static prog emit(anet_graph *g) {
    prog p = {0};
    CHECK_MSG(g && anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    CHECK_EQ_INT(anet_weights_build(g, 1 << 30, &p.w, &p.wlen), ANET_OK);
    CHECK_EQ_INT(anet_mil_emit(g, &p.mil, &p.len), ANET_OK);
    anet_graph_free(g);
    return p;
}

/* out = x op y (y NULL: x * 2); names chosen to stay clear of reserved-names. */
static prog binary(anet_mil_dialect d, anet_type tx, const anet_type *ty, anet_opkind k, const char *out) {
    anet_graph *g = anet_graph_new(d);
    int x = anet_graph_input(g, "in_a", tx);
    int y = ty ? anet_graph_input(g, "in_b", *ty) : anet_graph_const_fp16(g, NULL, 2.0f);
    int o = anet_b_binary(g, k, out ? out : "res", x, y);
    anet_graph_set_outputs(g, 1, &o);
    return emit(g);
}

typedef struct run {
    anet_status st;
    char err[600];
    double max_err; /* against vane running the same program without any rule */
    int all_zero;
    char quirk[48];
} run;

/* Runs p on ane-sim with quirk set f (report_layout as given) and on vane; inputs seeded. */
static run run_on(const prog *p, const anet_forms *f, int report_layout, const anet_ane_options *opt,
                  const anet_ane_sim_rules *rules_in) {
    run r;
    memset(&r, 0, sizeof r);
    anet_ane_sig sig;
    CHECK_EQ_INT(anet_ane_sig_parse(p->mil, p->len, &sig), ANET_OK);
    anet_io in[8], out_s[8], out_v[8];
    for (int i = 0; i < sig.nin; i++) {
        in[i].nbytes = sig.in[i].nbytes;
        in[i].data = malloc(in[i].nbytes);
        fill(in[i].data, in[i].nbytes / 2, (uint64_t)i + 7);
    }
    for (int j = 0; j < sig.nout; j++) {
        out_s[j].nbytes = out_v[j].nbytes = sig.out[j].nbytes;
        out_s[j].data = calloc(1, sig.out[j].nbytes);
        out_v[j].data = calloc(1, sig.out[j].nbytes);
    }
    anet_ane_sim_config sc;
    anet_ane_sim_config_default(f->chip, &sc);
    if (rules_in) sc.rules = *rules_in;
    sc.rules.forms = *f;
    sc.rules.report_layout = report_layout;
    sc.rules.reject_ops = 0;
    anet_ane_seam seam;
    CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &seam), ANET_OK);
    anet_backend_config bc = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    anet_backend sim = {anet_ane_sim_backend_ops(), NULL}, vane;
    CHECK_EQ_INT(anet_ane_backend_create_seam(&bc, opt, seam, &sim.state), ANET_OK);
    CHECK_EQ_INT(anet_backend_open("vane", &bc, &vane), ANET_OK);
    anet_program *ps = NULL, *pv = NULL;
    r.st = sim.ops->compile(sim.state, p->mil, p->len, p->w, p->wlen, &ps);
    if (r.st == ANET_OK) r.st = sim.ops->eval(sim.state, ps, in, sig.nin, out_s, sig.nout);
    if (r.st) snprintf(r.err, sizeof r.err, "%s", anet_last_error());
    snprintf(r.quirk, sizeof r.quirk, "%s", anet_ane_sim_last_quirk(anet_ane_backend_seam(sim.state)));
    CHECK_EQ_INT(vane.ops->compile(vane.state, p->mil, p->len, p->w, p->wlen, &pv), ANET_OK);
    CHECK_EQ_INT(vane.ops->eval(vane.state, pv, in, sig.nin, out_v, sig.nout), ANET_OK);
    r.all_zero = 1;
    for (int j = 0; j < sig.nout; j++)
        for (size_t k = 0; k < out_s[j].nbytes / 2; k++) {
            double a = anet_f16_to_f32(((uint16_t *)out_s[j].data)[k]);
            double b = anet_f16_to_f32(((uint16_t *)out_v[j].data)[k]);
            r.max_err = fmax(r.max_err, fabs(a - b));
            if (a != 0) r.all_zero = 0;
        }
    if (r.st) r.all_zero = 0;
    if (pv) vane.ops->release(vane.state, pv);
    anet_backend_close(&vane);
    sim.ops->destroy(sim.state);
    for (int i = 0; i < sig.nin; i++) free(in[i].data);
    for (int j = 0; j < sig.nout; j++) {
        free(out_s[j].data);
        free(out_v[j].data);
    }
    anet_ane_sig_free(&sig);
    return r;
}

static void prog_free(prog *p) {
    free(p->mil);
    free(p->w);
}

/* Only rule `id` on (params from `extra`), on chip. */
static anet_forms only(anet_chip chip, const char *id, const char *extra) {
    anet_forms f;
    anet_forms_default(chip, &f);
    char spec[160];
    snprintf(spec, sizeof spec, "none,%s=on%s%s", id, extra ? "," : "", extra ? extra : "");
    CHECK_MSG(anet_forms_parse(spec, &f) == ANET_OK, "%s", anet_last_error());
    return f;
}

static void expect_fail(const char *what, run r, const char *needle) {
    CHECK_MSG(r.st != ANET_OK, "%s: breaking the rule did not fail", what);
    CHECK_MSG(strstr(r.err, needle), "%s: error '%s' lacks '%s'", what, r.err, needle);
}
static void expect_silent(const char *what, run r, const char *id, int zeros) {
    CHECK_MSG(r.st == ANET_OK, "%s: %s", what, r.err);
    CHECK_MSG(strcmp(r.quirk, id) == 0, "%s: quirk '%s'", what, r.quirk);
    if (zeros) CHECK_MSG(r.all_zero, "%s: outputs are not all zero", what);
    else CHECK_MSG(r.max_err > 0.5, "%s: outputs are not wrong (err %g)", what, r.max_err);
}
static void expect_pass(const char *what, run r) {
    CHECK_MSG(r.st == ANET_OK && r.max_err == 0 && r.quirk[0] == 0, "%s: st %d err %g quirk '%s' %s", what, r.st,
              r.max_err, r.quirk, r.err);
}

static void test_rules(void) {
    anet_type a32 = t4(1, 4, 1, 32), a8 = t4(1, 4, 1, 8), col = t4(1, 4, 1, 1), row = t4(1, 1, 1, 32),
              sc1 = t4(1, 1, 1, 1);
    anet_forms f;
    prog bad, good;

    f = only(ANET_CHIP_M1, "dialect-ios16", NULL);
    bad = binary(ANET_MIL_IOS18, a32, NULL, ANET_OP_MUL, NULL);
    good = binary(ANET_MIL_IOS16, a32, NULL, ANET_OP_MUL, NULL);
    expect_fail("dialect-ios16", run_on(&bad, &f, 1, NULL, NULL), "dialect-ios16");
    expect_pass("dialect-ios16 (ios16)", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);

    f = only(ANET_CHIP_M1, "io-shape-1c1s", NULL);
    bad = binary(ANET_MIL_IOS18, t4(1, 1, 4, 32), NULL, ANET_OP_MUL, NULL);
    good = binary(ANET_MIL_IOS18, a32, NULL, ANET_OP_MUL, NULL);
    expect_fail("io-shape-1c1s", run_on(&bad, &f, 1, NULL, NULL), "io-shape-1c1s");
    expect_pass("io-shape-1c1s ([1,C,1,S])", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);

    /* io-width-mult32 / row-layout: with 64-byte-strided rows and no layout stated by the model,
     * a width of 8 (16-byte rows) is misread; 32 agrees with both readings; a model that states
     * its layout lets the backend copy rows at its stride. */
    f = only(ANET_CHIP_M1, "row-layout", "io-width-mult32=on");
    bad = binary(ANET_MIL_IOS18, a8, NULL, ANET_OP_MUL, NULL);
    run r = run_on(&bad, &f, 0, NULL, NULL);
    CHECK_MSG(r.st == ANET_OK && r.max_err > 0.1, "io-width-mult32: width 8 under strided rows: st %d err %g", r.st,
              r.max_err);
    expect_pass("io-width-mult32 (width 32, no layout)", run_on(&good, &f, 0, NULL, NULL));
    expect_pass("row-layout (width 8, layout from the model)", run_on(&bad, &f, 1, NULL, NULL));
    anet_forms_parse("row-layout=packed", &f);
    expect_pass("row-layout=packed (width 8)", run_on(&bad, &f, 0, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);

    /* surface-size-strided: a surface of exactly the packed bytes is too small. */
    {
        f = only(ANET_CHIP_M1, "surface-size-strided", NULL);
        prog p = binary(ANET_MIL_IOS18, a8, NULL, ANET_OP_MUL, NULL);
        for (int on = 1; on >= 0; on--) {
            anet_ane_sim_config sc;
            anet_ane_sim_config_default(ANET_CHIP_M1, &sc);
            sc.rules.forms = f;
            sc.rules.forms.on[ANET_FORM_SURFACE_SIZE_STRIDED] = (unsigned char)on;
            sc.rules.min_surface_bytes = 0;
            anet_ane_seam s;
            CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &s), ANET_OK);
            const anet_ane_seam_ops *o = s.ops;
            anet_ane_model *m = NULL;
            anet_ane_surface *si = NULL, *so = NULL;
            anet_ane_request *rq = NULL;
            CHECK_EQ_INT(o->open(s.ctx), 0);
            CHECK_EQ_INT(o->model_create(s.ctx, p.mil, p.len, p.w, p.wlen, &m), 0);
            CHECK_EQ_INT(o->compile(s.ctx, m), 0);
            CHECK_EQ_INT(o->load(s.ctx, m), 0);
            CHECK_EQ_INT(o->surface_create(s.ctx, 64, &si), 0); /* 4 rows x 8 fp16, packed */
            CHECK_EQ_INT(o->surface_create(s.ctx, 64, &so), 0);
            CHECK_EQ_INT(o->request_create(s.ctx, &si, 1, &so, 1, &rq), 0);
            int rc = o->evaluate(s.ctx, m, rq);
            if (on) {
                CHECK_EQ_INT(rc, ANET_ANE_STATUS_PROGRAM_INFERENCE);
                CHECK_STR_CONTAINS(o->error(s.ctx), "surface-size-strided");
            } else {
                CHECK_EQ_INT(rc, 0);
            }
            o->request_free(s.ctx, rq);
            o->surface_free(s.ctx, si);
            o->surface_free(s.ctx, so);
            o->model_free(s.ctx, m);
            o->destroy(s.ctx);
        }
        /* The backend sizes every surface for the strided reading: passes. */
        expect_pass("surface-size-strided (backend sizes)", run_on(&p, &f, 0, NULL, NULL));
        prog_free(&p);
    }

    /* matmul-contraction-32 */
    for (int k = 16; k <= 32; k += 16) {
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "in_a", t4(1, 1, 4, k)), w = anet_graph_input(g, "in_b", t4(1, 1, k, 32));
        int o = anet_b_matmul(g, "res", x, w, 0, 0);
        anet_graph_set_outputs(g, 1, &o);
        prog p = emit(g);
        f = only(ANET_CHIP_M1, "matmul-contraction-32", NULL);
        if (k == 16) expect_silent("matmul-contraction-32", run_on(&p, &f, 1, NULL, NULL), "matmul-contraction-32", 1);
        else expect_pass("matmul-contraction-32 (32)", run_on(&p, &f, 1, NULL, NULL));
        prog_free(&p);
    }

    f = only(ANET_CHIP_M1, "broadcast-channel", NULL);
    bad = binary(ANET_MIL_IOS18, a32, &col, ANET_OP_ADD, NULL);
    good = binary(ANET_MIL_IOS18, a32, &row, ANET_OP_ADD, NULL);
    expect_silent("broadcast-channel", run_on(&bad, &f, 1, NULL, NULL), "broadcast-channel", 1);
    expect_pass("broadcast-channel ([1,1,1,S] row)", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);

    f = only(ANET_CHIP_M1, "broadcast-scalar", NULL);
    bad = binary(ANET_MIL_IOS18, a32, &sc1, ANET_OP_MUL, NULL);
    good = binary(ANET_MIL_IOS18, a32, NULL, ANET_OP_MUL, NULL); /* a constant scalar */
    expect_silent("broadcast-scalar", run_on(&bad, &f, 1, NULL, NULL), "broadcast-scalar", 0);
    expect_pass("broadcast-scalar (constant)", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);

    f = only(ANET_CHIP_M1, "elementwise-max-16384", "elementwise-max-total=1");
    bad = binary(ANET_MIL_IOS18, t4(1, 2, 1, 16384), NULL, ANET_OP_MUL, NULL);
    good = binary(ANET_MIL_IOS18, t4(1, 2, 1, 8192), NULL, ANET_OP_MUL, NULL);
    expect_fail("elementwise-max-16384", run_on(&bad, &f, 1, NULL, NULL), "hang");
    expect_pass("elementwise-max-16384 (16384 elements)", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);

    f = only(ANET_CHIP_M4, "max-inputs", "max-inputs=1");
    bad = binary(ANET_MIL_IOS18, a32, &a32, ANET_OP_ADD, NULL);
    good = binary(ANET_MIL_IOS18, a32, NULL, ANET_OP_ADD, NULL);
    expect_fail("max-inputs", run_on(&bad, &f, 1, NULL, NULL), "0x1d");
    expect_pass("max-inputs (1 input)", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);

    for (int pro = 0; pro < 2; pro++) {
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "in_a", a32);
        if (pro) x = anet_b_binary(g, ANET_OP_MUL, "pro", x, anet_graph_const_fp16(g, NULL, 1.0f));
        int32_t shp[4] = {1, 1, 4, 32};
        int o = anet_b_reshape(g, "res", x, 4, shp);
        anet_graph_set_outputs(g, 1, &o);
        prog p = emit(g);
        f = only(ANET_CHIP_M1, "runtime-input-layout-ops", NULL);
        if (!pro) expect_fail("runtime-input-layout-ops", run_on(&p, &f, 1, NULL, NULL), "runtime-input-layout-ops");
        else expect_pass("runtime-input-layout-ops (after an elementwise op)", run_on(&p, &f, 1, NULL, NULL));
        prog_free(&p);
    }

    /* io-size-order: per-tensor surface sizes, the larger input first in name order. */
    {
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "a_big", t4(1, 8, 1, 32)), y = anet_graph_input(g, "b_small", row);
        int o = anet_b_binary(g, ANET_OP_ADD, "res", x, y);
        anet_graph_set_outputs(g, 1, &o);
        prog p = emit(g);
        f = only(ANET_CHIP_M1, "io-size-order", NULL);
        anet_ane_options opt;
        anet_ane_options_default(&opt);
        opt.uniform_sizes = 0;
        opt.min_surface_bytes = 0;
        anet_ane_sim_config sc;
        anet_ane_sim_config_default(ANET_CHIP_M1, &sc);
        sc.rules.uniform_alloc = 0;
        sc.rules.min_surface_bytes = 0;
        expect_silent("io-size-order", run_on(&p, &f, 1, &opt, &sc.rules), "io-size-order", 1);
        expect_pass("io-size-order (one size for all)", run_on(&p, &f, 1, NULL, NULL));
        prog_free(&p);
    }

    for (int id = 0; id < 2; id++) {
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "in_a", a32);
        int o = id ? anet_b_unary(g, ANET_OP_IDENTITY, "res", x)
                   : anet_b_binary(g, ANET_OP_MUL, "res", x, anet_graph_const_fp16(g, NULL, 2.0f));
        anet_graph_set_outputs(g, 1, &o);
        prog p = emit(g);
        f = only(ANET_CHIP_M4, "identity-output", NULL);
        if (id) expect_fail("identity-output", run_on(&p, &f, 1, NULL, NULL), "identity-output");
        else expect_pass("identity-output (computed)", run_on(&p, &f, 1, NULL, NULL));
        prog_free(&p);
    }

    for (int eps = 0; eps < 2; eps++) {
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "in_a", a32);
        x = anet_b_binary(g, ANET_OP_ADD, "pos", anet_b_unary(g, ANET_OP_ABS, "mag", x),
                          anet_graph_const_fp16(g, NULL, eps ? 0.5f : 0.0f));
        if (!eps) x = anet_b_unary(g, ANET_OP_EXP, "ex", x);
        int o = anet_b_unary(g, ANET_OP_LOG, "res", x);
        anet_graph_set_outputs(g, 1, &o);
        prog p = emit(g);
        f = only(ANET_CHIP_M4, "log-epsilon", NULL);
        if (!eps) expect_fail("log-epsilon", run_on(&p, &f, 1, NULL, NULL), "log-epsilon");
        else expect_pass("log-epsilon (log(x + eps))", run_on(&p, &f, 1, NULL, NULL));
        prog_free(&p);
    }

    {
        anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
        int x = anet_graph_input(g, "in_a", a32);
        int64_t wd[4] = {8, 4, 1, 1};
        int w = anet_graph_input(g, "in_w", anet_type_make(ANET_DT_FP16, 4, wd));
        int32_t st[2] = {1, 1}, dl[2] = {1, 1};
        int o = anet_b_conv(g, "res", x, w, -1, st, "valid", NULL, dl, 1);
        anet_graph_set_outputs(g, 1, &o);
        prog p = emit(g);
        anet_forms_default(ANET_CHIP_M1, &f);
        anet_forms_parse("none", &f); /* the capability off: runtime-weight conv fails */
        expect_fail("conv1x1-runtime-weights", run_on(&p, &f, 1, NULL, NULL), "conv1x1-runtime-weights");
        f = only(ANET_CHIP_M4, "conv1x1-runtime-weights", NULL);
        expect_pass("conv1x1-runtime-weights (on)", run_on(&p, &f, 1, NULL, NULL));
        prog_free(&p);
    }

    f = only(ANET_CHIP_M1, "reserved-names", NULL);
    bad = binary(ANET_MIL_IOS18, a32, NULL, ANET_OP_MUL, "mean");
    good = binary(ANET_MIL_IOS18, a32, NULL, ANET_OP_MUL, "mn");
    expect_silent("reserved-names", run_on(&bad, &f, 1, NULL, NULL), "reserved-names", 1);
    expect_pass("reserved-names (mn)", run_on(&good, &f, 1, NULL, NULL));
    prog_free(&bad);
    prog_free(&good);
}

/* ---- the planner's step programs ---- */

static anet_step_config step_cfg(anet_update_mode u) {
    anet_step_config c;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(anet_model_parse("mlp:40-20-10", &c.model), ANET_OK);
    c.batch = 24;
    anet_opt_config_default(ANET_OPT_ADAM, &c.opt);
    c.update = u;
    c.dialect = ANET_MIL_IOS18;
    return c;
}

/* Runs the plain train program and the lowered one (user buffers packed/unpacked) on vane and
 * on ane-sim with quirk set f; returns the largest output difference plain vs lowered (vane),
 * and checks the sim equals vane on the lowered program. sim_ok: whether the sim must pass. */
static double lowered_vs_plain_u(const anet_forms *f, int sim_ok, const char *what, anet_update_mode upd) {
    anet_step_config pc = step_cfg(upd), lc = pc;
    anet_step_forms_config(f, &lc);
    anet_step_program plain, low;
    CHECK_EQ_INT(anet_step_build_train(&pc, &plain), ANET_OK);
    CHECK_EQ_INT(anet_step_build_train(&lc, &low), ANET_OK);
    anet_step_forms sf;
    CHECK_MSG(anet_step_forms_lower(&sf, &low, f, &pc.model, pc.batch) == ANET_OK, "%s", anet_last_error());
    int ni = plain.ninputs, no = plain.noutputs;
    CHECK_EQ_INT(low.ninputs, ni);
    CHECK_EQ_INT(low.noutputs, no);
    /* Every input and output of the lowered program: fp16 [1,C,1,S], S % 32 == 0 (a program that
     * must break a rule may keep scalar outputs: with broadcast-scalar on they are not widened). */
    for (int k = 0; k < 2 && sim_ok; k++)
        for (int i = 0; i < (k ? no : low.graph->ninputs); i++) {
            const anet_type *t = &low.graph->values[k ? low.graph->outputs[i] : low.graph->inputs[i]].type;
            CHECK_MSG(t->rank == 4 && t->dims[0] == 1 && t->dims[2] == 1 && t->dims[3] % 32 == 0, "%s: io %d", what, i);
        }
    anet_io in[32], op[32], ol[32], os[32];
    float hyper[ANET_HYPER_SLOTS];
    anet_step_hyper(&pc, 1, 1e-3f, 1024.0f, pc.batch, hyper);
    for (int i = 0; i < ni; i++) {
        const anet_type *t = &plain.graph->values[plain.graph->inputs[i]].type;
        in[i].nbytes = (size_t)anet_type_elements(t) * 2;
        in[i].data = malloc(in[i].nbytes);
        uint16_t *d = in[i].data;
        size_t n = in[i].nbytes / 2;
        if (plain.inputs[i].role == ANET_ROLE_HYPER)
            for (size_t k = 0; k < n; k++) d[k] = anet_f32_to_f16(hyper[k]);
        else if (plain.inputs[i].role == ANET_ROLE_Y_ONEHOT)
            for (size_t k = 0; k < n; k++) d[k] = anet_f32_to_f16((k / (size_t)pc.batch) == (k % (size_t)pc.batch) % 10 ? 1.0f : 0.0f);
        else fill(d, n, (uint64_t)i + 3);
    }
    for (int j = 0; j < no; j++) {
        const anet_type *t = &plain.graph->values[plain.graph->outputs[j]].type;
        op[j].nbytes = ol[j].nbytes = os[j].nbytes = (size_t)anet_type_elements(t) * 2;
        op[j].data = calloc(1, op[j].nbytes);
        ol[j].data = calloc(1, op[j].nbytes);
        os[j].data = calloc(1, op[j].nbytes);
    }
    anet_backend_config bc = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    anet_backend vane;
    CHECK_EQ_INT(anet_backend_open("vane", &bc, &vane), ANET_OK);
    prog pp = {0}, pl = {0};
    CHECK_EQ_INT(anet_mil_emit(plain.graph, &pp.mil, &pp.len), ANET_OK);
    CHECK_EQ_INT(anet_mil_emit(low.graph, &pl.mil, &pl.len), ANET_OK);
    anet_program *xp = NULL, *xl = NULL, *xs = NULL;
    CHECK_EQ_INT(vane.ops->compile(vane.state, pp.mil, pp.len, NULL, 0, &xp), ANET_OK);
    CHECK_EQ_INT(vane.ops->compile(vane.state, pl.mil, pl.len, NULL, 0, &xl), ANET_OK);
    CHECK_EQ_INT(vane.ops->eval(vane.state, xp, in, ni, op, no), ANET_OK);
    CHECK_EQ_INT(anet_step_forms_eval(&sf, &vane, xl, in, ni, ol, no, NULL), ANET_OK);
    /* ane-sim with the quirk set: the same numbers as vane on the lowered program. */
    anet_ane_sim_config sc;
    anet_ane_sim_config_default(f->chip, &sc);
    sc.rules.forms = *f;
    anet_ane_seam seam;
    CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &seam), ANET_OK);
    anet_backend sim = {anet_ane_sim_backend_ops(), NULL};
    anet_backend_config sbc = {f->chip, ANET_NUMERICS_FP16, 0};
    CHECK_EQ_INT(anet_ane_backend_create_seam(&sbc, NULL, seam, &sim.state), ANET_OK);
    anet_status st = sim.ops->compile(sim.state, pl.mil, pl.len, NULL, 0, &xs);
    if (st == ANET_OK) st = anet_step_forms_eval(&sf, &sim, xs, in, ni, os, no, NULL);
    const char *q = anet_ane_sim_last_quirk(anet_ane_backend_seam(sim.state));
    if (sim_ok) {
        CHECK_MSG(st == ANET_OK && !q[0], "%s: the planner's program failed on ane-sim: %s %s", what, q,
                  st ? anet_last_error() : "");
        for (int j = 0; st == ANET_OK && j < no; j++)
            CHECK_MSG(memcmp(os[j].data, ol[j].data, ol[j].nbytes) == 0, "%s: sim != vane on output %d", what, j);
    } else {
        CHECK_MSG(st != ANET_OK || q[0], "%s: expected to break the rule", what);
    }
    double worst = 0;
    for (int j = 0; j < no; j++) {
        double scale = 1e-3, err = 0;
        for (size_t k = 0; k < op[j].nbytes / 2; k++) {
            double a = anet_f16_to_f32(((uint16_t *)op[j].data)[k]), b = anet_f16_to_f32(((uint16_t *)ol[j].data)[k]);
            scale = fmax(scale, fabs(a));
            err = fmax(err, fabs(a - b));
        }
        worst = fmax(worst, err / scale);
    }
    sim.ops->destroy(sim.state);
    if (xp) vane.ops->release(vane.state, xp);
    if (xl) vane.ops->release(vane.state, xl);
    anet_backend_close(&vane);
    for (int i = 0; i < ni; i++) free(in[i].data);
    for (int j = 0; j < no; j++) {
        free(op[j].data);
        free(ol[j].data);
        free(os[j].data);
    }
    prog_free(&pp);
    prog_free(&pl);
    anet_step_forms_free(&sf);
    anet_step_program_free(&plain);
    anet_step_program_free(&low);
    return worst;
}

static double lowered_vs_plain(const anet_forms *f, int sim_ok, const char *what) {
    return lowered_vs_plain_u(f, sim_ok, what, ANET_UPDATE_CPU);
}

static void test_planner(void) {
    /* The chip defaults: the planner's program passes every rule that is on. */
    for (int c = ANET_CHIP_M1; c <= ANET_CHIP_M4; c++) {
        anet_forms f;
        anet_forms_default((anet_chip)c, &f);
        double e = lowered_vs_plain(&f, 1, anet_chip_name((anet_chip)c));
        /* Padding is invisible: the lowered program computes the plain one's loss, flag and
         * gradients (the bias gradient comes from a matmul instead of a reduction: fp16
         * rounding differs by a few ulps). */
        CHECK_MSG(e < 1e-2, "%s: lowered vs plain: normalized error %g", anet_chip_name((anet_chip)c), e);
    }
    /* Each rule on top of m1's defaults: the planner's program passes (max-inputs=1: every input
     * packed into one; broadcast-scalar: the loss seeded by rows). */
    int n = 0;
    const anet_form_rule *r = anet_form_rules(&n);
    for (int i = 0; i < n; i++) {
        anet_forms f;
        anet_forms_default(ANET_CHIP_M1, &f);
        char spec[96];
        snprintf(spec, sizeof spec, "%s=on%s", r[i].id, i == ANET_FORM_MAX_INPUTS ? ",max-inputs=1" : "");
        CHECK_EQ_INT(anet_forms_parse(spec, &f), ANET_OK);
        if (i == ANET_FORM_CONV1X1_RUNTIME_WEIGHTS) continue; /* a capability the planner does not use */
        lowered_vs_plain(&f, 1, r[i].id);
    }
}

/* update=ane under the strict set: the optimizer's per-step scalars are rows as wide as each
 * parameter and the FINITE flag a row of 32, so the program meets every rule (no scalar
 * broadcast, one packed input whose rows stay within the elementwise limit), runs on ane-sim
 * exactly as on vane, and computes what the plain program computes. */
static void test_strict_update_ane(void) {
    anet_forms f;
    anet_forms_default(ANET_CHIP_M1, &f);
    CHECK_EQ_INT(anet_forms_parse("strict", &f), ANET_OK);
    anet_step_config c = step_cfg(ANET_UPDATE_ANE), user = c;
    anet_step_forms_config(&f, &c);
    anet_step_program sp;
    CHECK_EQ_INT(anet_step_build_train(&c, &sp), ANET_OK);
    anet_step_forms sf;
    CHECK_EQ_INT(anet_step_forms_lower(&sf, &sp, &f, &user.model, user.batch), ANET_OK);
    for (int r = 0; r < ANET_FORM_COUNT_; r++) CHECK_MSG(!sf.map.unmet[r], "unmet %d: %s", r, sf.map.unmet_detail[r]);
    CHECK_EQ_INT(anet_step_forms_require(&sf, &f, "train"), ANET_OK);
    anet_step_forms_free(&sf);
    anet_step_program_free(&sp);
    double e = lowered_vs_plain_u(&f, 1, "strict update=ane", ANET_UPDATE_ANE);
    CHECK_MSG(e < 1e-2, "strict update=ane: lowered vs plain: normalized error %g", e);
}

/* max-inputs with the elementwise limit: packed rows widen to 64 although two inputs do not fill
 * whole rows of 64 (32 and 96 elements); they take their rows' first elements, the rest zero.
 * The lowered program breaks no rule and gives the plain program's outputs on vane and ane-sim. */
static anet_graph *three_doubles(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    static const int rows[3] = {1, 3, 33}, cols[3] = {32, 32, 64};
    int outs[3];
    for (int i = 0; i < 3; i++) {
        char in[16], out[16];
        snprintf(in, sizeof in, "in_%c", 'a' + i);
        snprintf(out, sizeof out, "out_%c", 'a' + i);
        outs[i] = anet_b_binary(g, ANET_OP_MUL, out, anet_graph_input(g, in, t4(1, rows[i], 1, cols[i])),
                                anet_graph_const_fp16(g, NULL, 2.0f));
    }
    anet_graph_set_outputs(g, 3, outs);
    return g;
}

static void test_pack_partial_rows(void) {
    anet_forms f = only(ANET_CHIP_M1, "max-inputs", "max-inputs=1,elementwise-max-16384=on,elementwise-max=64");
    anet_graph *plain = three_doubles(), *low = three_doubles();
    anet_step_forms sf;
    CHECK_MSG(anet_step_forms_lower_graph(&sf, low, &f) == ANET_OK, "%s", anet_last_error());
    for (int r = 0; r < ANET_FORM_COUNT_; r++) CHECK_MSG(!sf.map.unmet[r], "unmet %d: %s", r, sf.map.unmet_detail[r]);
    /* 1 + 2 + 33 rows of 64 (at 32 wide, 70 rows would exceed the limit) */
    CHECK_EQ_INT(low->ninputs, 1);
    const anet_type *t = &low->values[low->inputs[0]].type;
    CHECK_MSG(t->dims[1] == 36 && t->dims[3] == 64, "packed input [1,%lld,1,%lld]", (long long)t->dims[1], (long long)t->dims[3]);
    anet_io in[3], ov[3], ol[3], os[3];
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)anet_type_elements(&plain->values[plain->inputs[i]].type);
        in[i] = (anet_io){malloc(n * 2), n * 2};
        fill(in[i].data, n, (uint64_t)i + 11);
        ov[i] = (anet_io){calloc(n, 2), n * 2};
        ol[i] = (anet_io){calloc(n, 2), n * 2};
        os[i] = (anet_io){calloc(n, 2), n * 2};
    }
    prog pp = emit(plain), pl = {0};
    CHECK_EQ_INT(anet_mil_emit(low, &pl.mil, &pl.len), ANET_OK);
    anet_backend_config bc = {ANET_CHIP_M1, ANET_NUMERICS_FP16, 0};
    anet_backend vane;
    CHECK_EQ_INT(anet_backend_open("vane", &bc, &vane), ANET_OK);
    anet_program *xp = NULL, *xl = NULL, *xs = NULL;
    CHECK_EQ_INT(vane.ops->compile(vane.state, pp.mil, pp.len, NULL, 0, &xp), ANET_OK);
    CHECK_EQ_INT(vane.ops->compile(vane.state, pl.mil, pl.len, NULL, 0, &xl), ANET_OK);
    CHECK_EQ_INT(vane.ops->eval(vane.state, xp, in, 3, ov, 3), ANET_OK);
    CHECK_EQ_INT(anet_step_forms_eval(&sf, &vane, xl, in, 3, ol, 3, NULL), ANET_OK);
    anet_ane_sim_config sc;
    anet_ane_sim_config_default(f.chip, &sc);
    sc.rules.forms = f;
    anet_ane_seam seam;
    CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &seam), ANET_OK);
    anet_backend sim = {anet_ane_sim_backend_ops(), NULL};
    CHECK_EQ_INT(anet_ane_backend_create_seam(&bc, NULL, seam, &sim.state), ANET_OK);
    anet_status st = sim.ops->compile(sim.state, pl.mil, pl.len, NULL, 0, &xs);
    if (st == ANET_OK) st = anet_step_forms_eval(&sf, &sim, xs, in, 3, os, 3, NULL);
    CHECK_MSG(st == ANET_OK && !anet_ane_sim_last_quirk(anet_ane_backend_seam(sim.state))[0], "ane-sim: %s",
              st ? anet_last_error() : anet_ane_sim_last_quirk(anet_ane_backend_seam(sim.state)));
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(memcmp(ov[i].data, ol[i].data, ov[i].nbytes) == 0, "output %d: lowered != plain", i);
        CHECK_MSG(st || memcmp(ov[i].data, os[i].data, ov[i].nbytes) == 0, "output %d: ane-sim != plain", i);
        free(in[i].data);
        free(ov[i].data);
        free(ol[i].data);
        free(os[i].data);
    }
    sim.ops->destroy(sim.state);
    vane.ops->release(vane.state, xp);
    vane.ops->release(vane.state, xl);
    anet_backend_close(&vane);
    prog_free(&pp);
    prog_free(&pl);
    anet_step_forms_free(&sf);
    anet_graph_free(low);
}

/* An input written in place (anet_step_forms_place_in) leaves the device buffers exactly as
 * packing it from the user's buffer does: its padding (rows and columns of the padded batch)
 * written once, its rows at the device stride, packing skipping it. */
static void test_place_in(void) {
    anet_forms f;
    anet_forms_default(ANET_CHIP_M1, &f);
    anet_step_config c = step_cfg(ANET_UPDATE_ANE), user = c;
    anet_step_forms_config(&f, &c);
    anet_step_program sp[2];
    anet_step_forms ref, sf;
    CHECK_EQ_INT(anet_step_build_train(&c, &sp[0]), ANET_OK);
    CHECK_EQ_INT(anet_step_build_train(&c, &sp[1]), ANET_OK);
    CHECK_EQ_INT(anet_step_forms_lower(&ref, &sp[0], &f, &user.model, user.batch), ANET_OK);
    CHECK_EQ_INT(anet_step_forms_lower(&sf, &sp[1], &f, &user.model, user.batch), ANET_OK);
    int n = sf.map.nin, xi = -1, other = -1;
    anet_io *in = calloc((size_t)n, sizeof *in), *placed = calloc((size_t)n, sizeof *placed);
    CHECK(in && placed);
    for (int i = 0; in && placed && i < n; i++) {
        size_t e = (size_t)(sf.map.in[i].user_rows * sf.map.in[i].user_cols);
        in[i] = placed[i] = (anet_io){malloc(e * 2), e * 2};
        fill(in[i].data, e, (uint64_t)i + 21);
        if (sp[1].inputs[i].role == ANET_ROLE_X) xi = i;
        else if (other < 0 && sf.map.in[i].mode == ANET_FORM_IO_EMBED) other = i;
    }
    CHECK(xi >= 0 && other >= 0);
    if (xi >= 0 && other >= 0) {
        const anet_form_io *io = &sf.map.in[xi];
        CHECK_MSG(io->C > io->user_rows || io->S > io->user_cols, "X is not padded: the test shows nothing");
        anet_step_forms_pack(&ref, in);
        memset((uint16_t *)sf.din[io->dev].data + io->offset, 0xFF, (size_t)(io->C * io->S) * 2); /* overwritten */
        size_t ld = 0;
        CHECK(anet_step_forms_place_in(&sf, xi, io->user_rows + 1, io->user_cols, &ld) == NULL);
        uint16_t *slot = anet_step_forms_place_in(&sf, xi, io->user_rows, io->user_cols, &ld);
        CHECK(slot != NULL && ld == (size_t)io->S);
        CHECK(anet_step_forms_place_in(&sf, other, sf.map.in[other].user_rows, sf.map.in[other].user_cols, &ld) == NULL);
        for (int64_t r = 0; slot && r < io->user_rows; r++)
            memcpy(slot + r * io->S, (const uint16_t *)in[xi].data + r * io->user_cols, (size_t)io->user_cols * 2);
        placed[xi].data = slot;
        if (slot) anet_step_forms_pack(&sf, placed);
        for (int d = 0; slot && d < sf.map.ndev_in; d++)
            CHECK_MSG(memcmp(ref.din[d].data, sf.din[d].data, sf.din[d].nbytes) == 0,
                      "device input %d: placed differs from packed", d);
    }
    for (int i = 0; in && i < n; i++) free(in[i].data);
    free(in);
    free(placed);
    anet_step_forms_free(&ref);
    anet_step_forms_free(&sf);
    anet_step_program_free(&sp[0]);
    anet_step_program_free(&sp[1]);
}

int main(void) {
    test_table();
    test_rules();
    test_planner();
    test_strict_update_ane();
    test_pack_partial_rows();
    test_place_in();
    TEST_MAIN_END();
}
