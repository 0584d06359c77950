/* vane's native fp16 chains (fuse_h16.c, on CPUs with AVX512-FP16) against op-by-op fp32
 * execution: every fp16 bit pattern (NaN payloads, signalling NaNs, infinities, zeros of both
 * signs, subnormals, the overflow edge) meets a sample of partners through add, sub, mul, div,
 * max and min, and goes through relu, sqrt, abs and square, alone, with a broadcast scalar, in a
 * longer chain whose values stay in slots, and into a full mean; the bits must be the same with
 * and without the native path and op by op; and an update given its input's buffer as output
 * reads what the fp32 chains read. `test_vane_h16 --all` pairs every fp16 value with every
 * other (2^32 pairs per op, about two minutes of CPU). Where the CPU lacks the set, the fused
 * fp32 path is what runs and is checked the same way. */
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

#define N 65536

static int last_h16; /* units of the last compiled program that ran natively */

/* Runs g compiled with `flags` on ins; the outputs concatenated into out (caller's, big enough). */
static int run(anet_backend *be, const anet_graph *g, unsigned flags, void **ins, uint8_t *out) {
    anet_program *p = NULL;
    if (anet_vane_compile_graph_opts(be->state, g, flags, &p) != ANET_OK) {
        fprintf(stderr, "compile: %s\n", anet_last_error());
        return -1;
    }
    last_h16 = 0;
    for (int u = 0; u < p->nunits; u++) last_h16 += p->units[u].h16;
    anet_io in[8], o[16];
    for (int i = 0; i < p->nin; i++) in[i] = (anet_io){ins[i], p->in[i].nbytes};
    uint8_t *q = out;
    for (int i = 0; i < p->nout; i++) {
        o[i] = (anet_io){q, p->out[i].nbytes};
        q += p->out[i].nbytes;
    }
    anet_status st = be->ops->eval(be->state, p, in, p->nin, o, p->nout);
    be->ops->release(be->state, p);
    return st == ANET_OK ? (int)(q - out) : -1;
}

/* a, b: [16, N / 16] fp16; s: a scalar. Outputs: each op alone, with the scalar, a chain, a mean. */
static anet_graph *build(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t dn[2] = {16, N / 16}, d1[2] = {1, 1}; /* the chip's axes hold at most 16384 */
    int a = anet_graph_input(g, "a", anet_type_make(ANET_DT_FP16, 2, dn));
    int b = anet_graph_input(g, "b", anet_type_make(ANET_DT_FP16, 2, dn));
    int s = anet_graph_input(g, "s", anet_type_make(ANET_DT_FP16, 2, d1));
    const anet_opkind bin[6] = {ANET_OP_ADD, ANET_OP_SUB, ANET_OP_MUL, ANET_OP_REAL_DIV, ANET_OP_MAXIMUM, ANET_OP_MINIMUM};
    const anet_opkind un[4] = {ANET_OP_RELU, ANET_OP_SQRT, ANET_OP_ABS, ANET_OP_SQUARE};
    int outs[16], no = 0;
    char nm[16];
    for (int k = 0; k < 6; k++) {
        snprintf(nm, sizeof nm, "b%d", k);
        outs[no++] = anet_b_binary(g, bin[k], nm, a, b);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(nm, sizeof nm, "u%d", k);
        outs[no++] = anet_b_unary(g, un[k], nm, b);
    }
    outs[no++] = anet_b_binary(g, ANET_OP_REAL_DIV, "sd", s, a); /* scalar op row */
    /* A chain: values in slots, a and b read again after other ops, a max of two slots. */
    int t1 = anet_b_binary(g, ANET_OP_MUL, "t1", a, s);
    int t2 = anet_b_binary(g, ANET_OP_SUB, "t2", t1, b);
    int t3 = anet_b_unary(g, ANET_OP_ABS, "t3", t2);
    int t4 = anet_b_unary(g, ANET_OP_SQRT, "t4", t3);
    int t5 = anet_b_binary(g, ANET_OP_MINIMUM, "t5", t4, t1);
    int t6 = anet_b_binary(g, ANET_OP_ADD, "t6", t5, a);
    int t7 = anet_b_binary(g, ANET_OP_MAXIMUM, "t7", t6, t2);
    outs[no++] = anet_b_unary(g, ANET_OP_RELU, "t8", t7);
    int32_t ax[2] = {0, 1};
    outs[no++] = anet_b_reduce(g, ANET_OP_REDUCE_MEAN, "m", t6, 2, ax, 0);
    if (anet_graph_set_outputs(g, no, outs) != ANET_OK) { anet_graph_free(g); return NULL; }
    return g;
}

/* An update in place: output "w2" is given the buffer of input w, which the chain reads again
 * after writing w2 (w also has a buffer of its own: a reduction reads it). The native chains
 * then read w as the fp32 path does, from that buffer: the same bits as NO_H16 given the same
 * buffers. */
static void test_in_place(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t d[2] = {16, 1000};
    int w = anet_graph_input(g, "w", anet_type_make(ANET_DT_FP16, 2, d));
    int gr = anet_graph_input(g, "g", anet_type_make(ANET_DT_FP16, 2, d));
    int32_t ax[1] = {1};
    int r = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "r", w, 1, ax, 1);
    int w2 = anet_b_binary(g, ANET_OP_ADD, "w2", w, gr);
    int dw = anet_b_binary(g, ANET_OP_SUB, "dw", w2, w);
    int outs[3] = {w2, dw, r};
    CHECK(dw >= 0 && anet_graph_set_outputs(g, 3, outs) == ANET_OK);
    anet_backend be;
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    CHECK(anet_backend_open("vane", &cfg, &be) == ANET_OK);
    const size_t n = 16 * 1000;
    anet_f16 *res[2];
    int h16 = 0;
    for (int k = 0; k < 2; k++) {
        anet_f16 *wb = malloc(n * 2), *gb = malloc(n * 2), *db = malloc(n * 2), *rb = malloc(16 * 2);
        for (size_t i = 0; i < n; i++) {
            wb[i] = anet_f32_to_f16((float)(i % 97) / 64.0f);
            gb[i] = anet_f32_to_f16((float)(i % 13) / 8.0f - 0.5f);
        }
        anet_program *p = NULL;
        CHECK(anet_vane_compile_graph_opts(be.state, g, k ? ANET_VANE_NO_H16 : 0, &p) == ANET_OK);
        if (!p) break;
        if (!k) for (int u = 0; u < p->nunits; u++) h16 += p->units[u].h16;
        anet_io in[2] = {{wb, n * 2}, {gb, n * 2}}, out[3] = {{wb, n * 2}, {db, n * 2}, {rb, 16 * 2}};
        CHECK(be.ops->eval(be.state, p, in, 2, out, 3) == ANET_OK);
        be.ops->release(be.state, p);
        res[k] = db;
        free(gb);
        free(rb);
        free(wb);
    }
    CHECK_MSG(memcmp(res[0], res[1], n * 2) == 0, "in-place update: native fp16 chains differ from the fp32 ones");
    if (anet_vane_h16_cpu()) CHECK(h16 > 0);
    free(res[0]);
    free(res[1]);
    anet_backend_close(&be);
    anet_graph_free(g);
}

int main(int argc, char **argv) {
    test_in_place();
    int all = argc > 1 && !strcmp(argv[1], "--all");
    anet_graph *g = build();
    CHECK(g != NULL);
    if (!g) TEST_MAIN_END();
    anet_backend be;
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    CHECK(anet_backend_open("vane", &cfg, &be) == ANET_OK);
    anet_f16 *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), s = 0;
    size_t cap = (size_t)16 * N * sizeof(anet_f16);
    uint8_t *r1 = malloc(cap), *r2 = malloc(cap), *r3 = malloc(cap);
    for (int i = 0; i < N; i++) a[i] = (anet_f16)i; /* every bit pattern */
    /* Partners: in the sample, a scrambled permutation per round (so each value meets
     * rounds-many partners of every kind); with --all, b = a + r, which over N rounds pairs
     * everything with everything. */
    const anet_f16 scal[4] = {0x3c00, 0x7c01 /* sNaN */, 0x0001 /* least subnormal */, 0xfbff /* -65504 */};
    int rounds = all ? N : 24, h16_runs = 0, bad = 0;
    for (int r = 0; r < rounds && !bad; r++) {
        for (int i = 0; i < N; i++)
            b[i] = all ? (anet_f16)(i + r) : (anet_f16)((uint32_t)i * 40503u + (uint32_t)r * 7919u);
        s = scal[r % 4];
        void *ins[3] = {a, b, &s};
        int n1 = run(&be, g, 0, ins, r1);
        h16_runs += last_h16 > 0;
        int n2 = run(&be, g, ANET_VANE_NO_H16, ins, r2);
        int n3 = run(&be, g, ANET_VANE_NO_FUSE | ANET_VANE_NO_REUSE, ins, r3);
        CHECK(n1 > 0 && n1 == n2 && n2 == n3);
        if (n1 <= 0 || n1 != n2 || n2 != n3) break;
        if (memcmp(r1, r3, (size_t)n1) || memcmp(r2, r3, (size_t)n1)) {
            for (int k = 0; k < n1 / 2; k++) {
                anet_f16 x = ((anet_f16 *)r1)[k], y = ((anet_f16 *)r2)[k], z = ((anet_f16 *)r3)[k];
                if (x != z || y != z) {
                    int o = k / N, i = k % N;
                    CHECK_MSG(0, "round %d output %d element %d (a %04x b %04x s %04x): native %04x fused fp32 %04x op-by-op %04x",
                              r, o, i, a[i], b[i], s, x, y, z);
                    if (++bad >= 5) break;
                }
            }
        }
    }
    if (anet_vane_h16_cpu()) CHECK_MSG(h16_runs == rounds, "native fp16 chains ran in %d of %d rounds", h16_runs, rounds);
    else printf("test_vane_h16: this CPU has no AVX512-FP16; the fused fp32 path was checked\n");
    free(a); free(b); free(r1); free(r2); free(r3);
    anet_backend_close(&be);
    anet_graph_free(g);
    TEST_MAIN_END();
}
