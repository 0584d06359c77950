/* vane's fused, liveness-packed plan against op-by-op execution in one buffer per value: the
 * training and eval programs of the step builder (update cpu and ane, adam and sgd, sizes with
 * several tiles and a tail, MLPs and a small CNN), the character transformer's --update ane
 * training program, and a hand-made chain with broadcasts, selects, casts, reshapes and
 * values read both inside and after a chain give the same bits, in fp16 and fp32 numerics, and
 * so do the programs in the chip's form and chains ending in full sums; reuse makes the arena
 * smaller, and in the lowered --update ane step the state's I/O is direct and each finite
 * check ends its update's chain; transcendental unary ops read per-program tables over every
 * fp16 value, checked for all of them; the TwoSum ops and products with zero whose rounding
 * the plan drops as exact give the same bits over every fp16 value with partners chosen to
 * round. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "runtime/backend.h"
#include "runtime/vane/plan.h"
#include "runtime/vane/vane.h"
#include "train/model.h"
#include "train/seq_program.h"
#include "plan/forms.h"
#include "train/step.h"
#include "train/step_forms.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double uni(double lo, double hi) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static int last_fused;  /* chains of more than one step in the last compiled program */
static int last_direct; /* its fp16 inputs and outputs read / written by chains directly */
static int last_lone;   /* full sums fused with only the op before them */
static int last_exact2; /* additions and subtractions whose rounding the plan drops (TwoSum) */

/* Runs g compiled with `flags`; returns the outputs' bytes concatenated (malloc'd), or NULL. */
static uint8_t *run(anet_backend *be, const anet_graph *g, unsigned flags, uint8_t **ins, size_t *total,
                    int64_t *arena) {
    anet_program *p = NULL;
    if (anet_vane_compile_graph_opts(be->state, g, flags, &p) != ANET_OK) {
        fprintf(stderr, "compile: %s\n", anet_last_error());
        return NULL;
    }
    *arena = p->arena_floats;
    last_fused = 0;
    for (int u = 0; u < p->nunits; u++) if (p->units[u].fused && p->units[u].count > 1) last_fused++;
    last_direct = last_lone = 0;
    for (int u = 0; u < p->nunits; u++)
        for (int i = p->units[u].first; p->units[u].fused && p->units[u].count <= 2 && i < p->units[u].first + p->units[u].count; i++)
            last_lone += p->steps[i].kind == S_REDUCE;
    last_exact2 = 0;
    for (int i = 0; i < p->nsteps; i++)
        last_exact2 += p->steps[i].exact && p->steps[i].kind == S_BINARY &&
                       (p->steps[i].op == ANET_VK_ADD || p->steps[i].op == ANET_VK_SUB);
    for (int i = 0; i < p->nin; i++) last_direct += p->in_direct[i];
    for (int i = 0; i < p->nout; i++) last_direct += p->out_direct[i];
    anet_io in[256], out[256];
    if (p->nin > 256 || p->nout > 256) {
        fprintf(stderr, "run: %d inputs, %d outputs: more than this test holds\n", p->nin, p->nout);
        be->ops->release(be->state, p);
        return NULL;
    }
    size_t sz = 0;
    for (int i = 0; i < p->nin; i++) in[i] = (anet_io){ins[i], p->in[i].nbytes};
    for (int i = 0; i < p->nout; i++) sz += p->out[i].nbytes;
    uint8_t *buf = calloc(sz ? sz : 1, 1), *q = buf;
    for (int i = 0; i < p->nout; i++) {
        out[i] = (anet_io){q, p->out[i].nbytes};
        q += p->out[i].nbytes;
    }
    /* Twice: a plan that keeps state from one eval to the next (an accumulator) would show. */
    anet_status st = be->ops->eval(be->state, p, in, p->nin, out, p->nout);
    if (st == ANET_OK) st = be->ops->eval(be->state, p, in, p->nin, out, p->nout);
    be->ops->release(be->state, p);
    if (st != ANET_OK) { free(buf); return NULL; }
    *total = sz;
    return buf;
}

/* Random inputs for every graph input (fp16 or fp32), in [lo, hi]. */
static uint8_t **make_inputs(const anet_graph *g, double lo, double hi) {
    uint8_t **ins = calloc((size_t)g->ninputs, sizeof *ins);
    for (int i = 0; i < g->ninputs; i++) {
        const anet_type *t = &g->values[g->inputs[i]].type;
        int64_t n = anet_type_elements(t);
        ins[i] = malloc((size_t)n * anet_dtype_size(t->dtype));
        for (int64_t j = 0; j < n; j++) {
            float v = (float)uni(lo, hi);
            if (t->dtype == ANET_DT_FP16) ((anet_f16 *)ins[i])[j] = anet_f32_to_f16(v);
            else ((float *)ins[i])[j] = v;
        }
    }
    return ins;
}

/* Fused + reused vs op-by-op, both numerics; returns the arenas (fused, op-by-op) in fp16. */
static void compare(const anet_graph *g, uint8_t **ins, const char *what, int64_t *a_fused, int64_t *a_plain) {
    for (int num = 0; num < 2; num++) {
        anet_backend be;
        anet_backend_config cfg = {ANET_CHIP_M4, num ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16, 0};
        CHECK(anet_backend_open("vane", &cfg, &be) == ANET_OK);
        size_t n1 = 0, n2 = 0;
        int64_t ar1 = 0, ar2 = 0;
        uint8_t *r1 = run(&be, g, 0, ins, &n1, &ar1);
        CHECK_MSG(last_fused > 0, "%s: no chain was fused", what);
        uint8_t *r2 = run(&be, g, ANET_VANE_NO_FUSE | ANET_VANE_NO_REUSE, ins, &n2, &ar2);
        CHECK_MSG(r1 && r2 && n1 == n2 && memcmp(r1, r2, n1) == 0, "%s (%s numerics): fused output differs",
                  what, num ? "fp32" : "fp16");
        /* Each option alone too. */
        size_t n3 = 0;
        int64_t ar3 = 0;
        uint8_t *r3 = run(&be, g, ANET_VANE_NO_FUSE, ins, &n3, &ar3);
        CHECK_MSG(r3 && n3 == n2 && memcmp(r3, r2, n2) == 0, "%s: reuse without fusion differs", what);
        /* Chains in fp32 arithmetic where the CPU would run them in fp16 (fuse_h16.c). */
        size_t n4 = 0;
        int64_t ar4 = 0;
        uint8_t *r4 = run(&be, g, ANET_VANE_NO_H16, ins, &n4, &ar4);
        CHECK_MSG(r4 && n4 == n2 && memcmp(r4, r2, n2) == 0, "%s: fused fp32 chains differ", what);
        free(r4);
        /* The arena in order of birth alone (the largest programs' layout): the same results,
         * and the default (the smaller of two orders) never larger. */
        size_t n5 = 0;
        int64_t ar5 = 0;
        uint8_t *r5 = run(&be, g, ANET_VANE_LAYOUT_BIRTH, ins, &n5, &ar5);
        CHECK_MSG(r5 && n5 == n2 && memcmp(r5, r2, n2) == 0, "%s: the birth-order arena differs", what);
        CHECK_MSG(ar1 <= ar5, "%s: arena %lld floats largest first, %lld in order of birth", what, (long long)ar1,
                  (long long)ar5);
        free(r5);
        if (!num) { *a_fused = ar1; *a_plain = ar2; }
        free(r1);
        free(r2);
        free(r3);
        anet_backend_close(&be);
    }
}

static void free_inputs(const anet_graph *g, uint8_t **ins) {
    for (int i = 0; i < g->ninputs; i++) free(ins[i]);
    free(ins);
}

/* g compiled alone with `flags` on a fresh fp16 vane (for looking at the plan), or NULL. */
static anet_program *compile_fp16(anet_backend *be, const anet_graph *g, unsigned flags) {
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    anet_program *p = NULL;
    CHECK(anet_backend_open("vane", &cfg, be) == ANET_OK);
    CHECK(anet_vane_compile_graph_opts(be->state, g, flags, &p) == ANET_OK);
    return p;
}

static void test_step_programs(void) {
    const char *models[] = {"mlp:20-16-5", "mlp:150-60-5", /* 9000 weights: 3 tiles with a tail */
                            "in:2x8x8,conv:4x3x3:pad1,relu,maxpool:2,flatten,linear:10"}; /* a layer graph */
    const int batches[] = {7, 33, 5};
    for (int m = 0; m < 3; m++)
        for (int upd = 0; upd < 2; upd++)
            for (int opt = 0; opt < 2; opt++) {
                anet_step_config cfg;
                memset(&cfg, 0, sizeof cfg);
                CHECK(anet_model_parse(models[m], &cfg.model) == ANET_OK);
                cfg.batch = batches[m];
                cfg.opt = (anet_opt_config){opt ? ANET_OPT_SGD : ANET_OPT_ADAM, 1e-3f, 0.9f, 0.9f, 0.999f, 1e-8f, 0.0f};
                cfg.update = upd ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
                anet_step_program sp;
                if (anet_step_build_train(&cfg, &sp) != ANET_OK) {
                    CHECK_MSG(0, "build: %s", anet_last_error());
                    continue;
                }
                uint8_t **ins = make_inputs(sp.graph, -1.0, 1.0);
                char what[96];
                snprintf(what, sizeof what, "%s batch %d update %s %s", models[m], batches[m], upd ? "ane" : "cpu",
                         opt ? "sgd" : "adam");
                int64_t af = 0, ap = 0;
                compare(sp.graph, ins, what, &af, &ap);
                CHECK_MSG(af < ap, "%s: arena %lld floats fused+reused, %lld op-by-op", what, (long long)af,
                          (long long)ap);
                free_inputs(sp.graph, ins);
                anet_step_program_free(&sp);
                if (upd == 0 && opt == 0) {
                    CHECK(anet_step_build_eval(&cfg, &sp) == ANET_OK);
                    ins = make_inputs(sp.graph, -2.0, 2.0);
                    compare(sp.graph, ins, "eval", &af, &ap);
                    free_inputs(sp.graph, ins);
                    anet_step_program_free(&sp);
                }
            }
}

/* The training programs in the chip's form (every input and output reshaped, sizes padded):
 * the optimizer state still goes between the caller's fp16 buffers and the chains directly,
 * through the reshapes. */
static void test_lowered_programs(void) {
    for (int upd = 0; upd < 2; upd++) {
        anet_step_config cfg;
        memset(&cfg, 0, sizeof cfg);
        CHECK(anet_model_parse("mlp:100-64-10", &cfg.model) == ANET_OK);
        anet_model_spec user = cfg.model;
        cfg.batch = 33;
        cfg.opt = (anet_opt_config){ANET_OPT_ADAM, 1e-3f, 0.9f, 0.9f, 0.999f, 1e-8f, 0.0f};
        cfg.update = upd ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
        anet_forms f;
        anet_forms_default(ANET_CHIP_M4, &f);
        anet_step_forms_config(&f, &cfg);
        anet_step_program sp;
        anet_step_forms sf;
        memset(&sf, 0, sizeof sf);
        if (anet_step_build_train(&cfg, &sp) != ANET_OK || anet_step_forms_lower(&sf, &sp, &f, &user, 33) != ANET_OK) {
            CHECK_MSG(0, "lowered build: %s", anet_last_error());
            anet_step_forms_free(&sf);
            continue;
        }
        uint8_t **ins = make_inputs(sp.graph, -1.0, 1.0);
        int64_t af = 0, ap = 0;
        compare(sp.graph, ins, upd ? "lowered train update ane" : "lowered train update cpu", &af, &ap);
        if (upd) { /* hi is a matmul operand (a buffer); lo and the moments and all 4 updates are direct */
            anet_backend be;
            anet_backend_config bc = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
            size_t n = 0;
            int64_t ar = 0;
            CHECK(anet_backend_open("vane", &bc, &be) == ANET_OK);
            free(run(&be, sp.graph, 0, ins, &n, &ar));
            CHECK_MSG(last_direct >= 7 * 4, "lowered update ane: %d direct fp16 I/O", last_direct);
            /* Each parameter's finite check (gradient x 0, summed) ends its update's chain
             * instead of a chain of its own (which needs the scaled gradient in a buffer). */
            CHECK_MSG(last_lone == 0, "lowered update ane: %d sums fused with only one op", last_lone);
            /* hi + lo is a TwoSum per parameter: its last 4 ops need no rounding, in the
             * chip's form (through reshapes) too. */
            free(run(&be, sp.graph, ANET_VANE_NO_H16, ins, &n, &ar)); /* the fp32 chains (native fp16 units keep rounding) */
            CHECK_MSG(last_exact2 == 4 * 4, "lowered update ane: %d exact adds / subs (want 16)", last_exact2);
            anet_backend_close(&be);
        }
        free_inputs(sp.graph, ins);
        anet_step_forms_free(&sf);
        anet_step_program_free(&sp);
    }
}

/* The character transformer's --update ane training program (layer norms, attention, the
 * global norm and clipping, AdamW with hi + lo weights), plain form: the same bits fused and op
 * by op, and every parameter's TwoSum found (4 exact adds / subs each) in the fp32 chains. */
static void test_transformer_program(void) {
    anet_tfm_config c;
    memset(&c, 0, sizeof c);
    c.layers = 1; c.dim = 32; c.heads = 2; c.ctx = 16; c.vocab = 20;
    anet_seq_build_opts bo = {NULL, ANET_UPDATE_ANE, {ANET_OPT_ADAMW, 1e-2f, 0, 0.9f, 0.999f, 1e-8f, 0.1f}, 1.0f};
    anet_seq_program sp;
    memset(&sp, 0, sizeof sp);
    if (anet_seq_build(&c, 3, ANET_SEQ_TRAIN, &bo, &sp) != ANET_OK) {
        CHECK_MSG(0, "transformer build: %s", anet_last_error());
        return;
    }
    uint8_t **ins = make_inputs(sp.g, -1.0, 1.0);
    int64_t af = 0, ap = 0;
    compare(sp.g, ins, "transformer train update ane", &af, &ap);
    anet_backend be;
    anet_backend_config bc = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 1};
    size_t n = 0;
    int64_t ar = 0;
    CHECK(anet_backend_open("vane", &bc, &be) == ANET_OK);
    free(run(&be, sp.g, ANET_VANE_NO_H16, ins, &n, &ar));
    CHECK_MSG(last_exact2 == 4 * anet_tfm_nparams(&c), "transformer: %d exact adds / subs for %d parameters", last_exact2,
              anet_tfm_nparams(&c));
    anet_backend_close(&be);
    free_inputs(sp.g, ins);
    anet_seq_program_free(NULL, &sp);
}

/* A chain over [3,5,700] (several tiles, a tail, operands broadcast from [3,1,700], [1,5,1] and
 * a scalar), with a select on a computed condition, an fp32 cast and back (vane copies; the ANE would cast at the boundary), a reshape of an
 * internal value, a value also read by a reduction after the chain, and an unused output; the
 * inputs hold NaN, infinities, -0 and subnormals too, which pass through the ops whose rounding
 * the fused plan drops as exact (max, min, abs, relu, select, the cast back). */
static void test_hand_chain(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t da[3] = {3, 1, 700}, db[3] = {1, 5, 1}, dc[3] = {3, 5, 700}, ds[1] = {1};
    int a = anet_graph_input(g, "a", anet_type_make(ANET_DT_FP16, 3, da));
    int b = anet_graph_input(g, "b", anet_type_make(ANET_DT_FP16, 3, db));
    int c = anet_graph_input(g, "c", anet_type_make(ANET_DT_FP16, 3, dc));
    int s = anet_graph_input(g, "s", anet_type_make(ANET_DT_FP16, 1, ds));
    int t1 = anet_b_binary(g, ANET_OP_MUL, "t1", a, b);    /* both gathered */
    int t2 = anet_b_binary(g, ANET_OP_ADD, "t2", t1, c);   /* slot + full */
    int t3 = anet_b_unary(g, ANET_OP_EXP, "t3", t2);
    int t4 = anet_b_binary(g, ANET_OP_GREATER, "t4", t3, s);
    int t5 = anet_b_select(g, "t5", t4, t2, b);            /* slot, slot, gathered */
    int t6 = anet_b_cast(g, "t6", t5, ANET_DT_FP32);
    int t7 = anet_b_cast(g, "t7", t6, ANET_DT_FP16);
    int t8 = anet_b_binary(g, ANET_OP_REAL_DIV, "t8", t7, t7);
    int32_t shp[2] = {15, 700};
    int t9 = anet_b_reshape(g, "t9", t8, 2, shp);
    int t10 = anet_b_unary(g, ANET_OP_SQRT, "t10", t9);
    int32_t shp3[3] = {3, 5, 700};
    int t11 = anet_b_reshape(g, "t11", t10, 3, shp3);
    int t12 = anet_b_binary(g, ANET_OP_SUB, "t12", t11, t3);
    int32_t ax[1] = {2};
    int r = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "r", t3, 1, ax, 1); /* t3 read after the chain */
    int t13 = anet_b_binary(g, ANET_OP_MAXIMUM, "t13", t12, r);    /* a new chain, gathered r */
    int t14 = anet_b_unary(g, ANET_OP_ABS, "t14", c);
    int t15 = anet_b_binary(g, ANET_OP_MINIMUM, "t15", t14, t2);
    int t16 = anet_b_unary(g, ANET_OP_RELU, "t16", t15);
    int t17 = anet_b_binary(g, ANET_OP_MAXIMUM, "t17", t16, t13);
    int outs[3] = {t13, t5, t17};
    CHECK(t17 >= 0 && anet_graph_set_outputs(g, 3, outs) == ANET_OK);
    uint8_t **ins = make_inputs(g, -3.0, 3.0);
    static const uint16_t special[] = {0x7e00, 0xfe01, 0x7c00, 0xfc00, 0x8000, 0x0001, 0x83ff, 0x7bff};
    for (int k = 0; k < 3; k += 2) /* a and c */
        for (int64_t j = 0; j < anet_type_elements(&g->values[g->inputs[k]].type); j += 37)
            ((anet_f16 *)ins[k])[j] = special[(j / 37) % 8];
    int64_t af = 0, ap = 0;
    compare(g, ins, "hand chain", &af, &ap);
    CHECK(af < ap);
    free_inputs(g, ins);
    anet_graph_free(g);
}

/* TwoSum, s = a + b, bb = s - a, then a' = s - bb, da = a - a', db = b - bb, t = da + db, and a
 * product with a zero const: the fused plan drops the rounding of those last five ops as exact
 * (vane.c). Over every fp16 value a, each with 32 partners b: random bits, near -a (cancellation)
 * and a scaled by 2^-k for k = 0..14 (every exponent gap where s rounds), so a dropped rounding
 * that was not exact would change bits; and exactly those five steps are marked. */
static void test_two_sum(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t d[2] = {128, 16384}, n = d[0] * d[1]; /* 65536 * 32 (the chip's axes stay <= 16384) */
    int a = anet_graph_input(g, "a", anet_type_make(ANET_DT_FP16, 2, d));
    int b = anet_graph_input(g, "b", anet_type_make(ANET_DT_FP16, 2, d));
    int s = anet_b_binary(g, ANET_OP_ADD, "s", a, b);
    int bb = anet_b_binary(g, ANET_OP_SUB, "bb", s, a);
    int ap = anet_b_binary(g, ANET_OP_SUB, "ap", s, bb);
    int da = anet_b_binary(g, ANET_OP_SUB, "da", a, ap);
    int db = anet_b_binary(g, ANET_OP_SUB, "db", b, bb);
    int t = anet_b_binary(g, ANET_OP_ADD, "t", db, da);
    int z = anet_b_binary(g, ANET_OP_MUL, "z", anet_graph_const_fp16(g, "zero", -0.0f), b);
    /* Not bb: an output written as fp16 is rounded on the way out whatever the plan drops. */
    int outs[6] = {s, ap, da, db, t, z};
    CHECK(z >= 0 && anet_graph_set_outputs(g, 6, outs) == ANET_OK);
    uint8_t **ins = calloc(2, sizeof *ins);
    anet_f16 *ha = malloc((size_t)n * sizeof *ha), *hb = malloc((size_t)n * sizeof *hb);
    for (int64_t j = 0; j < n; j++) {
        uint16_t x = (uint16_t)(j >> 5), k = (uint16_t)(j & 31), r = (uint16_t)(uni(0.0, 65536.0));
        ha[j] = x;
        if (k < 8) hb[j] = r;
        else if (k < 16) hb[j] = (uint16_t)((x ^ 0x8000) + (r % 9) - 4);
        else hb[j] = (uint16_t)((x & 0x8000) | ((x & 0x7fff) - ((uint16_t)(k - 16) << 10) + (r % 5) - 2));
    }
    ins[0] = (uint8_t *)ha;
    ins[1] = (uint8_t *)hb;
    int64_t af = 0, ap_ = 0;
    compare(g, ins, "TwoSum and a product with zero", &af, &ap_);
    anet_backend be;
    anet_program *p = compile_fp16(&be, g, ANET_VANE_NO_H16);
    char marked[64] = "";
    for (int i = 0; p && i < p->nsteps; i++)
        if (p->steps[i].exact && strlen(marked) + strlen(g->values[p->steps[i].out].name) + 2 < sizeof marked) {
            strcat(marked, " ");
            strcat(marked, g->values[p->steps[i].out].name);
        }
    CHECK_MSG(strcmp(marked, " ap da db t z") == 0, "steps marked exact:%s (want ap da db t z)", marked);
    if (p) be.ops->release(be.state, p);
    anet_backend_close(&be);
    free_inputs(g, ins);
    anet_graph_free(g);
}

/* Full sums and means at the end of a chain run tile by tile (3 tiles with a tail here) in
 * input order; an op that reads such a sum cannot be in the chain, and a sum whose input is
 * also read after the chain keeps that input's buffer. */
static void test_sink_chain(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t dc[3] = {3, 5, 700};
    int a = anet_graph_input(g, "a", anet_type_make(ANET_DT_FP16, 3, dc));
    int c = anet_graph_input(g, "c", anet_type_make(ANET_DT_FP16, 3, dc));
    int t1 = anet_b_binary(g, ANET_OP_MUL, "t1", a, c);
    int t2 = anet_b_unary(g, ANET_OP_EXP, "t2", t1);
    int32_t all[3] = {0, 1, 2};
    int s1 = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "s1", t1, 3, all, 0);
    int s2 = anet_b_reduce(g, ANET_OP_REDUCE_MEAN, "s2", t2, 3, all, 1);
    int t3 = anet_b_binary(g, ANET_OP_SUB, "t3", t2, s1); /* reads a sum: after the chain */
    int outs[3] = {s1, s2, t3};
    CHECK(t3 >= 0 && anet_graph_set_outputs(g, 3, outs) == ANET_OK);
    uint8_t **ins = make_inputs(g, -3.0, 3.0);
    int64_t af = 0, ap = 0;
    compare(g, ins, "chain ending in full sums", &af, &ap);
    free_inputs(g, ins);
    anet_graph_free(g);
}

/* exp, log, tanh and sigmoid of every fp16 value in one chain: fused they are table lookups
 * (lut.c), op by op libm calls; the bits must agree for all 65536 inputs. */
static void test_unary_tables(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t d[2] = {16, 4096};
    int a = anet_graph_input(g, "a", anet_type_make(ANET_DT_FP16, 2, d));
    const anet_opkind ops[4] = {ANET_OP_EXP, ANET_OP_LOG, ANET_OP_TANH, ANET_OP_SIGMOID};
    int outs[4];
    char nm[8];
    for (int k = 0; k < 4; k++) {
        snprintf(nm, sizeof nm, "u%d", k);
        outs[k] = anet_b_unary(g, ops[k], nm, a);
    }
    CHECK(anet_graph_set_outputs(g, 4, outs) == ANET_OK);
    uint8_t **ins = calloc(1, sizeof *ins);
    anet_f16 *h = malloc(65536 * sizeof *h);
    for (int i = 0; i < 65536; i++) h[i] = (anet_f16)i;
    ins[0] = (uint8_t *)h;
    int64_t af = 0, ap = 0;
    compare(g, ins, "unary ops over every fp16 value", &af, &ap);
    anet_backend be;
    anet_program *p = compile_fp16(&be, g, 0);
    int tables = 0;
    for (int i = 0; p && i < p->nsteps; i++) tables += p->steps[i].lut != NULL;
    CHECK_MSG(tables == 4, "%d of 4 unary ops read tables", tables);
    if (p) be.ops->release(be.state, p);
    anet_backend_close(&be);
    free_inputs(g, ins);
    anet_graph_free(g);
}

int main(void) {
    test_unary_tables();
    test_step_programs();
    test_hand_chain();
    test_two_sum();
    test_transformer_program();
    test_sink_chain();
    test_lowered_programs();
    TEST_MAIN_END();
}
