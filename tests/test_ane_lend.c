/* An input written in place in the backend's surface (backend.h lend / give_back) and the
 * simulator's IOSurface lock rules: the seam refuses an evaluation of a CPU-locked surface and an
 * unlock of another mode, its audit catches CPU writes without a write lock; the backend refuses
 * lending a paired or packed input and running or writing while an input is lent; the trainer's
 * lend (train/step_resident.h) writes at the surface's own row stride (a strided surface) with
 * no copy, and falls back to the copy when the rows are not at whole fp16 elements - both
 * checked against a float oracle written here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "runtime/ane_backend.h"
#include "runtime/sim/ane_sim.h"
#include "train/step_resident.h"

enum { C = 8, S = 40 }; /* rows of 80 bytes: 128 apart in a 64-byte-strided surface */

static anet_type t4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return anet_type_make(ANET_DT_FP16, 4, dims);
}

/* y = x + s, s2 = s + x: s is the resident state (s2 updates it), x the per-step input. */
static anet_graph *add_state(anet_mil_dialect d) {
    anet_graph *g = anet_graph_new(d);
    int x = anet_graph_input(g, "x_in", t4(1, C, 1, S));
    int s = anet_graph_input(g, "s_in", t4(1, C, 1, S));
    int outs[2] = {anet_b_binary(g, ANET_OP_ADD, "y_out", x, s), anet_b_binary(g, ANET_OP_ADD, "s_out", s, x)};
    anet_graph_set_outputs(g, 2, outs);
    return g;
}

static int emit(anet_graph *g, char **mil, size_t *len) {
    int ok = anet_mil_emit(g, mil, len) == ANET_OK;
    if (!ok) fprintf(stderr, "emit: %s\n", anet_last_error());
    return ok;
}

/* add_state's MIL text (malloc'd), as built. */
static char *add_state_mil(size_t *len) {
    anet_graph *g = add_state(ANET_MIL_IOS18);
    char *mil = NULL;
    CHECK(emit(g, &mil, len));
    anet_graph_free(g);
    return mil;
}

static void fill(uint16_t *d, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        d[i] = anet_f32_to_f16((float)((int)(seed >> 24) - 128) / 64.0f);
    }
}

static uint16_t add16(uint16_t a, uint16_t b) { return anet_f32_to_f16(anet_f16_to_f32(a) + anet_f16_to_f32(b)); }

static anet_backend sim_backend(const anet_forms *f, const anet_ane_options *opt) {
    anet_ane_sim_config sc;
    anet_ane_sim_config_default(ANET_CHIP_M1, &sc);
    sc.rules.forms = *f;
    sc.rules.audit_writes = 1;
    anet_ane_seam seam;
    anet_backend b = {anet_ane_sim_backend_ops(), NULL};
    CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &seam), ANET_OK);
    anet_backend_config bc = {ANET_CHIP_M1, ANET_NUMERICS_FP16, 0};
    CHECK_MSG(anet_ane_backend_create_seam(&bc, opt, seam, &b.state) == ANET_OK, "%s", anet_last_error());
    return b;
}

/* ---- the simulator's lock rules, on the seam itself ---- */
static void test_sim_locks(void) {
    anet_forms f;
    CHECK_EQ_INT(anet_forms_parse("none", &f), ANET_OK);
    anet_ane_sim_config sc;
    anet_ane_sim_config_default(ANET_CHIP_M1, &sc);
    sc.rules.forms = f;
    sc.rules.min_surface_bytes = 0;
    sc.rules.audit_writes = 1;
    anet_ane_seam seam;
    CHECK_EQ_INT(anet_ane_sim_seam_create(&sc, &seam), ANET_OK);
    const anet_ane_seam_ops *o = seam.ops;
    void *c = seam.ctx;
    CHECK_EQ_INT(o->open(c), 0);
    size_t len = 0;
    char *mil = add_state_mil(&len);
    anet_ane_model *m = NULL;
    CHECK_EQ_INT(o->model_create(c, mil, len, NULL, 0, &m), 0);
    CHECK_EQ_INT(o->compile(c, m), 0);
    CHECK_EQ_INT(o->load(c, m), 0);
    const size_t nb = (size_t)C * S * 2;
    anet_ane_surface *in[2] = {NULL, NULL}, *out[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(o->surface_create(c, nb, &in[k]), 0);
        CHECK_EQ_INT(o->surface_create(c, nb, &out[k]), 0);
    }
    anet_ane_request *r = NULL;
    CHECK_EQ_INT(o->request_create(c, in, 2, out, 2, &r), 0);
    CHECK_EQ_INT(o->evaluate(c, m, r), 0);
    void *base = NULL;
    /* A surface the CPU holds is not evaluated; the unlock must be of the lock's mode. */
    CHECK_EQ_INT(o->surface_lock(c, in[1], 0, &base), 0);
    CHECK(base != NULL);
    CHECK(o->evaluate(c, m, r) != 0);
    CHECK_STR_CONTAINS(o->error(c), "locked by the CPU");
    CHECK_EQ_INT(o->surface_unlock(c, in[1], 1), ANET_ANE_RC_INVALID);
    CHECK_STR_CONTAINS(o->error(c), "differ from the lock's");
    memset(base, 0x11, 16); /* under the write lock: fine */
    CHECK_EQ_INT(o->surface_unlock(c, in[1], 0), 0);
    CHECK_EQ_INT(o->evaluate(c, m, r), 0);
    CHECK_EQ_INT(o->surface_unlock(c, in[1], 0), ANET_ANE_RC_INVALID); /* not locked any more */
    /* A write after the unlock: the audit fails the next evaluation. */
    ((unsigned char *)base)[3] ^= 0xff;
    CHECK(o->evaluate(c, m, r) != 0);
    CHECK_STR_CONTAINS(o->error(c), "without holding a write lock");
    /* A write under a read-only lock: its unlock fails. */
    CHECK_EQ_INT(o->surface_lock(c, in[0], 1, &base), 0);
    ((unsigned char *)base)[0] ^= 0xff;
    CHECK_EQ_INT(o->surface_unlock(c, in[0], 1), ANET_ANE_RC_INVALID);
    CHECK_STR_CONTAINS(o->error(c), "read-only lock");
    /* The audit switched on with surfaces alive: no false alarm for bytes it never saw. */
    anet_ane_surface *late = NULL;
    anet_ane_sim_rules rules = sc.rules;
    rules.audit_writes = 0;
    anet_ane_sim_set_rules(&seam, &rules);
    CHECK_EQ_INT(o->surface_create(c, nb, &late), 0);
    CHECK_EQ_INT(o->surface_lock(c, late, 0, &base), 0);
    memset(base, 0x22, nb);
    CHECK_EQ_INT(o->surface_unlock(c, late, 0), 0);
    ((unsigned char *)base)[1] ^= 0xff; /* unseen: the audit was off */
    rules.audit_writes = 1;
    anet_ane_sim_set_rules(&seam, &rules);
    CHECK_EQ_INT(o->surface_lock(c, late, 1, &base), 0);
    CHECK_EQ_INT(o->surface_unlock(c, late, 1), 0);
    ((unsigned char *)base)[2] ^= 0xff; /* seen from now on */
    CHECK_EQ_INT(o->surface_lock(c, late, 0, &base), ANET_ANE_RC_INVALID);
    o->surface_free(c, late);
    o->request_free(c, r);
    for (int k = 0; k < 2; k++) {
        o->surface_free(c, in[k]);
        o->surface_free(c, out[k]);
    }
    o->model_free(c, m);
    o->destroy(c);
    free(mil);
}

/* ---- the backend's lend / give_back contract ---- */
static void test_backend_lend(void) {
    anet_forms f;
    CHECK_EQ_INT(anet_forms_parse("none", &f), ANET_OK);
    anet_backend b = sim_backend(&f, NULL);
    size_t len = 0;
    char *mil = add_state_mil(&len);
    anet_program *p = NULL;
    CHECK_MSG(b.ops->compile(b.state, mil, len, NULL, 0, &p) == ANET_OK, "%s", anet_last_error());
    CHECK_EQ_INT(anet_ane_pair(b.state, p, 1, 1), ANET_OK);
    void *base = NULL, *again = NULL;
    size_t stride = 0, st2 = 0;
    CHECK_EQ_INT(anet_ane_lend(b.state, p, 1, &base, &stride), ANET_E_UNSUPPORTED); /* paired */
    CHECK_EQ_INT(anet_ane_lend(b.state, p, 0, &base, &stride), ANET_OK);
    CHECK_EQ_INT(stride, S * 2);
    CHECK_EQ_INT(anet_ane_lend(b.state, p, 0, &again, &st2), ANET_OK); /* the same loan */
    CHECK(again == base && st2 == stride);
    uint16_t x[C * S], s[C * S], y[C * S];
    fill(x, C * S, 1);
    fill(s, C * S, 2);
    CHECK_EQ_INT(anet_ane_write(b.state, p, 0, x, sizeof x), ANET_E_INVALID);
    CHECK_EQ_INT(anet_ane_run(b.state, p), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "lent");
    for (int r = 0; r < C; r++) memcpy((unsigned char *)base + (size_t)r * stride, x + r * S, S * 2);
    CHECK_EQ_INT(anet_ane_give_back(b.state, p, 0), ANET_OK);
    CHECK_EQ_INT(anet_ane_give_back(b.state, p, 0), ANET_E_INVALID);
    CHECK_EQ_INT(anet_ane_write(b.state, p, 1, s, sizeof s), ANET_OK);
    CHECK_MSG(anet_ane_run(b.state, p) == ANET_OK, "%s", anet_last_error());
    CHECK_EQ_INT(anet_ane_read(b.state, p, 0, y, sizeof y), ANET_OK);
    int bad = 0;
    for (int i = 0; i < C * S; i++) bad += y[i] != add16(x[i], s[i]);
    CHECK_MSG(bad == 0, "lent input: %d of %d wrong", bad, C * S);
    b.ops->destroy(b.state);
    free(mil);
    /* Inputs packed into one surface are not lent (ANE_TRAINER_PACK_INPUTS=1). */
    anet_ane_options opt;
    anet_ane_options_default(&opt);
    opt.pack_inputs = 1;
    b = sim_backend(&f, &opt);
    mil = add_state_mil(&len);
    CHECK_MSG(b.ops->compile(b.state, mil, len, NULL, 0, &p) == ANET_OK, "%s", anet_last_error());
    CHECK_EQ_INT(anet_ane_lend(b.state, p, 0, &base, &stride), ANET_E_UNSUPPORTED);
    b.ops->destroy(b.state);
    free(mil);
}

/* ---- the trainer's lend: the surface's stride, or the copy ---- */

/* A backend that reports every lent surface's rows one byte further apart than they are: not
 * whole fp16 elements, so the trainer must give it back and copy. Counts writes per input. */
static anet_backend_resident_ops odd_ops;
static anet_backend_ops odd_backend;
static int writes[4];
static anet_status odd_lend(void *st, anet_program *p, int in, void **base, size_t *stride) {
    anet_status s = anet_ane_lend(st, p, in, base, stride);
    if (s == ANET_OK) *stride += 1;
    return s;
}
static anet_status count_write(void *st, anet_program *p, int in, const void *d, size_t n) {
    if (in >= 0 && in < 4) writes[in]++;
    return anet_ane_write(st, p, in, d, n);
}

/* Two steps of add_state through the trainer's resident path: x lent (or copied), s resident.
 * Returns how many times x's surface was written by copy. */
static int two_steps(anet_backend *b, const anet_forms *f, int expect_lend, size_t expect_ld) {
    anet_graph *g = add_state(f->on[ANET_FORM_DIALECT_IOS16] ? ANET_MIL_IOS16 : ANET_MIL_IOS18);
    anet_step_forms sf;
    CHECK_MSG(anet_step_forms_lower_graph(&sf, g, f) == ANET_OK, "%s", anet_last_error());
    char *mil = NULL;
    size_t len = 0;
    CHECK(emit(g, &mil, &len));
    anet_graph_free(g);
    anet_program *p = NULL;
    CHECK_MSG(b->ops->compile(b->state, mil, len, NULL, 0, &p) == ANET_OK, "%s", anet_last_error());
    free(mil);
    anet_step_resident r;
    int pair[2] = {-1, 1};
    CHECK_EQ_INT(anet_step_resident_init(&r, b, p, &sf, 2, 2, pair), ANET_OK);
    CHECK_MSG(r.on, "resident state off: %s", r.why);
    uint16_t x[C * S], s[C * S], y[C * S], want[C * S];
    fill(s, C * S, 7);
    CHECK_EQ_INT(anet_step_resident_write(&r, b, p, &sf, 1, s), ANET_OK);
    memset(writes, 0, sizeof writes);
    double run_s = 0;
    for (int step = 0; step < 2; step++) {
        fill(x, C * S, 100u + (uint32_t)step);
        size_t ld = 0;
        uint16_t *dst = anet_step_resident_lend(&r, b, p, &sf, 0, C, S, &ld);
        CHECK_EQ_INT(dst != NULL, expect_lend);
        if (!dst) dst = anet_step_forms_place_in(&sf, 0, C, S, &ld);
        CHECK(dst != NULL);
        if (!dst) break;
        if (expect_lend) CHECK_EQ_INT(ld, expect_ld);
        for (int i = 0; i < C; i++) memcpy(dst + (size_t)i * ld, x + i * S, S * 2);
        anet_io in[2] = {{dst, sizeof x}, {s, sizeof s}}, out[2] = {{y, sizeof y}, {NULL, sizeof y}};
        anet_status st = anet_step_resident_run(&r, b, p, &sf, in, out, &run_s);
        CHECK_MSG(st == ANET_OK, "step %d: %s", step, anet_last_error());
        for (int i = 0; i < C * S; i++) want[i] = add16(x[i], s[i]);
        CHECK_MSG(memcmp(y, want, sizeof y) == 0, "step %d: y differs from the oracle", step);
        CHECK_EQ_INT(anet_step_resident_commit(&r, b, p, &sf), ANET_OK);
        for (int i = 0; i < C * S; i++) s[i] = add16(s[i], x[i]); /* what s_out carried over */
    }
    anet_step_resident_free(&r);
    anet_step_forms_free(&sf);
    b->ops->release(b->state, p);
    return writes[0];
}

static void test_trainer_lend(void) {
    anet_forms f;
    anet_forms_default(ANET_CHIP_M1, &f);
    /* Rows of S = 40 fp16 (80 bytes) start every 128 bytes in the surface. */
    CHECK_EQ_INT(anet_forms_parse("row-layout=strided64,io-width-mult32=off", &f), ANET_OK);
    for (int odd = 0; odd < 2; odd++) {
        anet_backend b = sim_backend(&f, NULL);
        odd_ops = *b.ops->resident;
        odd_ops.write = count_write;
        if (odd) odd_ops.lend = odd_lend;
        odd_backend = *b.ops;
        odd_backend.resident = &odd_ops;
        b.ops = &odd_backend;
        if (!odd) CHECK_EQ_INT(two_steps(&b, &f, 1, 64), 0); /* in place at the surface's stride: no copy */
        else CHECK_EQ_INT(two_steps(&b, &f, 0, 0), 2);       /* an odd stride: given back, copied each step */
        b.ops->destroy(b.state);
    }
}

int main(void) {
    test_sim_locks();
    test_backend_lend();
    test_trainer_lend();
    TEST_MAIN_END();
}
