/* MIL emitter, parser and weight.bin: exact expected text written by hand, emit/parse fixed
 * points in both dialects over a graph using every op, IR -> MIL -> IR equality, the Apple
 * fixture, weight.bin bytes checked field by field, and malformed input of many kinds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "graph/build.h"
#include "graph/ir.h"
#include "mil/mil.h"

static anet_type TT(anet_dtype dt, int rank, const int64_t *d) { return anet_type_make(dt, rank, d); }
static anet_type T2(anet_dtype dt, int64_t a, int64_t b) {
    int64_t d[2] = {a, b};
    return anet_type_make(dt, 2, d);
}
static anet_type T4(anet_dtype dt, int64_t a, int64_t b, int64_t c, int64_t e) {
    int64_t d[4] = {a, b, c, e};
    return anet_type_make(dt, 4, d);
}

/* Parse a copy of exactly n bytes (no NUL after it, so ASan sees any over-read). */
static anet_status parse_exact(const char *text, size_t n, const uint8_t *w, size_t wl, anet_graph **g) {
    char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, text, n);
    anet_status st = anet_mil_parse(copy, n, w, wl, g);
    free(copy);
    return st;
}

/* error message has the shape "model.mil:L:C: ..." with the given L and C (0 = any) */
static int has_pos(const char *msg, int line, int col) {
    int l, c, k = 0;
    if (sscanf(msg, "model.mil:%d:%d:%n", &l, &c, &k) != 2 || k == 0) return 0;
    return (line == 0 || l == line) && (col == 0 || c == col);
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Structural equality of two graphs: ops, names, args, types, const payloads, blobs. */
static int graphs_equal(const anet_graph *a, const anet_graph *b, char *why, size_t n) {
#define NEQ(...) do { snprintf(why, n, __VA_ARGS__); return 0; } while (0)
    if (a->ninputs != b->ninputs || a->noutputs != b->noutputs || a->nops != b->nops || a->nvalues != b->nvalues)
        NEQ("counts differ: ops %d/%d values %d/%d", a->nops, b->nops, a->nvalues, b->nvalues);
    if (strcmp(a->program_version, b->program_version) || strcmp(a->opset, b->opset) || strcmp(a->func_name, b->func_name))
        NEQ("program header differs");
    for (int i = 0; i < a->nvalues; i++) {
        if (strcmp(a->values[i].name, b->values[i].name)) NEQ("value %d: %s vs %s", i, a->values[i].name, b->values[i].name);
        if (!anet_type_equal(&a->values[i].type, &b->values[i].type)) NEQ("value %s: type differs", a->values[i].name);
        if (a->values[i].producer != b->values[i].producer) NEQ("value %s: producer differs", a->values[i].name);
    }
    for (int i = 0; i < a->ninputs; i++) if (a->inputs[i] != b->inputs[i]) NEQ("input %d differs", i);
    for (int i = 0; i < a->noutputs; i++) if (a->outputs[i] != b->outputs[i]) NEQ("output %d differs", i);
    for (int o = 0; o < a->nops; o++) {
        const anet_op *x = &a->ops[o], *y = &b->ops[o];
        if (x->kind != y->kind || strcmp(x->type, y->type) || strcmp(x->name, y->name)) NEQ("op %d: %s %s vs %s %s", o, x->type, x->name, y->type, y->name);
        if (x->nargs != y->nargs || x->noutputs != y->noutputs) NEQ("op %s: arity differs", x->name);
        for (int k = 0; k < x->nargs; k++) {
            if (strcmp(x->args[k].key, y->args[k].key) || x->args[k].n != y->args[k].n || x->args[k].is_tuple != y->args[k].is_tuple)
                NEQ("op %s: arg %d differs", x->name, k);
            for (int j = 0; j < x->args[k].n; j++) if (x->args[k].vals[j] != y->args[k].vals[j]) NEQ("op %s: arg %s value differs", x->name, x->args[k].key);
        }
        for (int k = 0; k < x->noutputs; k++) if (x->outputs[k] != y->outputs[k]) NEQ("op %s: output differs", x->name);
        if (x->kind == ANET_OP_CONST) {
            const anet_const *c = x->val, *d = y->val;
            if (!anet_type_equal(&c->type, &d->type) || c->nbytes != d->nbytes || memcmp(c->data, d->data, c->nbytes))
                NEQ("const %s: payload differs", x->name);
            if ((c->blob_path == NULL) != (d->blob_path == NULL)) NEQ("const %s: blob flag differs", x->name);
            if (c->blob_path && (strcmp(c->blob_path, d->blob_path) || c->blob_offset != d->blob_offset)) NEQ("const %s: blob differs", x->name);
        }
    }
    if (a->nbuild_info != b->nbuild_info) NEQ("buildInfo count differs");
    for (int i = 0; i < a->nbuild_info; i++)
        if (strcmp(a->build_info[i].key, b->build_info[i].key) || strcmp(a->build_info[i].value, b->build_info[i].value))
            NEQ("buildInfo entry %d differs", i);
    return 1;
#undef NEQ
}

/* A graph using every op of ANET_OP_LIST, consts of every dtype, fp16 specials. */
static anet_graph *every_op_graph(anet_mil_dialect d) {
    anet_graph *g = anet_graph_new(d);
    int ok = 1;
    int x = anet_graph_input(g, "x", T4(ANET_DT_FP16, 1, 4, 1, 8));
    int y = anet_graph_input(g, "y", T4(ANET_DT_FP16, 1, 4, 1, 8));
    int img = anet_graph_input(g, "img", T4(ANET_DT_FP16, 1, 2, 6, 6));
    /* fp16 tensor with specials: 0, -0, smallest subnormal, largest subnormal, 1, max, -inf, inf, 0.1 */
    uint16_t sp[8] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x3C00, 0x7BFF, 0xFC00, 0x3555};
    int64_t d8[4] = {1, 1, 1, 8};
    int cs = anet_graph_const(g, "specials", TT(ANET_DT_FP16, 4, d8), sp, sizeof sp);
    if (cs < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    float f32v[4] = {0.1f, -3.5e-39f /* fp32 subnormal */, 3.4028235e38f, 1.0f / 3.0f};
    int64_t d4[1] = {4};
    int cf = anet_graph_const(g, "f32s", TT(ANET_DT_FP32, 1, d4), f32v, sizeof f32v);
    if (cf < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int8_t i8[3] = {-128, 0, 127};
    uint8_t u8[3] = {0, 200, 255};
    int64_t d3[1] = {3};
    ok &= anet_graph_const(g, "i8s", TT(ANET_DT_INT8, 1, d3), i8, 3) >= 0;
    ok &= anet_graph_const(g, "u8s", TT(ANET_DT_UINT8, 1, d3), u8, 3) >= 0;
    uint64_t u64 = 18446744073709551615ull;
    ok &= anet_graph_const(g, "u64", TT(ANET_DT_UINT64, 0, NULL), &u64, 8) >= 0;
    ok &= anet_graph_const_string(g, "weird_str", "quote\" back\\ nl\n tab\t ctl\x01 utf8 \xc3\xa9") >= 0;
    ok &= anet_graph_const_string(g, "bad_utf8", "\xff\xc3(\xe2\x82") >= 0; /* invalid UTF-8 bytes: escaped */
    int half = anet_graph_const_fp16(g, "half", 0.5f);
    if (half < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int ci = anet_graph_const_int32(g, "cint", -2147483647 - 1);
    if (ci < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    (void)ci;
    /* elementwise */
    int a = anet_b_binary(g, ANET_OP_ADD, "a", x, y);
    if (a < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int s = anet_b_binary(g, ANET_OP_SUB, "s", a, cs);
    if (s < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int m = anet_b_binary(g, ANET_OP_MUL, "m", s, half);
    if (m < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int dv = anet_b_binary(g, ANET_OP_REAL_DIV, "dv", m, y);
    if (dv < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int mx = anet_b_binary(g, ANET_OP_MAXIMUM, "mx", dv, x);
    if (mx < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int mn = anet_b_binary(g, ANET_OP_MINIMUM, "mn", mx, y);
    if (mn < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int pw = anet_b_binary(g, ANET_OP_POW, "pw", mn, half);
    if (pw < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int gt = anet_b_binary(g, ANET_OP_GREATER, "gt", pw, x);
    if (gt < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int ge = anet_b_binary(g, ANET_OP_GREATER_EQUAL, "ge", pw, x);
    if (ge < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int lt = anet_b_binary(g, ANET_OP_LESS, "lt", pw, x);
    if (lt < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int eq = anet_b_binary(g, ANET_OP_EQUAL, "eq", pw, x);
    if (eq < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    ok &= ge >= 0 && lt >= 0 && eq >= 0;
    int se = anet_b_select(g, "se", gt, pw, x);
    if (se < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    anet_opkind un[] = {ANET_OP_RELU, ANET_OP_SIGMOID, ANET_OP_TANH, ANET_OP_EXP, ANET_OP_LOG, ANET_OP_SQRT,
                        ANET_OP_RSQRT, ANET_OP_ABS, ANET_OP_SQUARE, ANET_OP_GELU, ANET_OP_IDENTITY};
    int u = se;
    for (size_t k = 0; k < sizeof un / sizeof un[0]; k++) u = anet_b_unary(g, un[k], NULL, u);
    int c32 = anet_b_cast(g, "c32", u, ANET_DT_FP32);
    if (c32 < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int c16 = anet_b_cast(g, "c16", c32, ANET_DT_FP16);
    if (c16 < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int sm = anet_b_softmax(g, "sm", c16, 1);
    if (sm < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int32_t ax[1] = {1};
    int rs = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "rs", sm, 1, ax, 1);
    if (rs < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int rm = anet_b_reduce(g, ANET_OP_REDUCE_MEAN, "rm", sm, 1, ax, 0);
    if (rm < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int rx = anet_b_reduce(g, ANET_OP_REDUCE_MAX, "rx", sm, 0, NULL, 0);
    if (rx < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    ok &= rs >= 0 && rm >= 0 && rx >= 0;
    int32_t shp[2] = {4, 8};
    int r2 = anet_b_reshape(g, "r2", sm, 2, shp);
    if (r2 < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int mm = anet_b_matmul(g, "mm", r2, r2, 1, 0);
    if (mm < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error()); /* [8,4]x[4,8] -> [8,8] */
    int64_t wd[2] = {3, 8};
    uint16_t wv[24];
    for (int i = 0; i < 24; i++) wv[i] = (uint16_t)(0x3C00 + 17 * i);
    int lw = anet_graph_const(g, "lw", TT(ANET_DT_FP16, 2, wd), wv, sizeof wv);
    if (lw < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int lin = anet_b_linear(g, "lin", mm, lw, -1);
    if (lin < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int64_t cwd[4] = {3, 2, 3, 3};
    uint16_t cw[54];
    for (int i = 0; i < 54; i++) cw[i] = (uint16_t)(0x2000 + 97 * i);
    int cwv = anet_graph_const(g, "cw", TT(ANET_DT_FP16, 4, cwd), cw, sizeof cw);
    if (cwv < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int cv = anet_b_conv(g, "cv", img, cwv, -1, NULL, "same", NULL, NULL, 1);
    if (cv < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int64_t twd[4] = {3, 2, 2, 2};
    uint16_t tw[24];
    for (int i = 0; i < 24; i++) tw[i] = (uint16_t)(0xB000 + 33 * i);
    int twv = anet_graph_const(g, "tw", TT(ANET_DT_FP16, 4, twd), tw, sizeof tw);
    if (twv < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int32_t st2[2] = {2, 2};
    int ct = anet_b_conv_transpose(g, "ct", cv, twv, -1, st2, NULL, NULL, NULL, 1, NULL);
    if (ct < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int32_t k2[2] = {2, 2};
    int mp = anet_b_pool(g, ANET_OP_MAX_POOL, "mp", ct, k2, st2, NULL, NULL);
    if (mp < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int ap = anet_b_pool(g, ANET_OP_AVG_POOL, "ap", mp, k2, st2, "valid", NULL);
    if (ap < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int32_t perm[4] = {0, 2, 3, 1};
    int tp = anet_b_transpose(g, "tp", ap, 4, perm);
    if (tp < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int32_t b0[4] = {0, 0, 0, 0}, sz[4] = {1, 1, -1, 1};
    int sl = anet_b_slice_by_size(g, "sl", tp, 4, b0, sz);
    if (sl < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int vals[3] = {x, y, x};
    int cc = anet_b_concat(g, "cc", 3, vals, 1, 0);
    if (cc < 0) fprintf(stderr, "every_op_graph line %d: %s\n", __LINE__, anet_last_error());
    int outs[5] = {lin, sl, cc, cf, mm};
    ok &= cc >= 0 && sl >= 0 && lin >= 0;
    if (!ok || anet_graph_set_outputs(g, 5, outs) != ANET_OK) {
        fprintf(stderr, "every_op_graph: %s\n", anet_last_error());
        anet_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_exact_text(void) {
    /* hand-written expected text in both dialects */
    for (int d = 0; d < 2; d++) {
        anet_graph *g = anet_graph_new(d ? ANET_MIL_IOS16 : ANET_MIL_IOS18);
        int x = anet_graph_input(g, "x", T2(ANET_DT_FP16, 1, 3));
        int h = anet_graph_const_fp16(g, "h", 1.5f);
        uint16_t w3[3] = {0x0001, 0x7BFF, 0x8000};
        int64_t d3[2] = {1, 3};
        int w = anet_graph_const(g, "w", TT(ANET_DT_FP16, 2, d3), w3, 6);
        int m = anet_b_binary(g, ANET_OP_MUL, "m", x, h);
        int r = anet_b_binary(g, ANET_OP_ADD, "r", m, w);
        int s = anet_b_softmax(g, "s", r, -1);
        int tx = anet_graph_const_bool(g, "tx", 0);
        (void)tx;
        anet_graph_set_outputs(g, 1, &s);
        char *text = NULL;
        size_t len = 0;
        CHECK(anet_mil_emit(g, &text, &len) == ANET_OK);
        const char *want18 =
            "program(1.3)\n"
            "[buildInfo = dict<string, string>({{\"coremlc-component-MIL\", \"3510.2.1\"}, {\"coremlc-version\", \"3505.4.1\"}, "
            "{\"coremltools-component-milinternal\", \"\"}, {\"coremltools-version\", \"9.0\"}})]\n"
            "{\n"
            "    func main<ios18>(tensor<fp16, [1, 3]> x) {\n"
            "        fp16 h = const()[name = string(\"h\"), val = fp16(0x1.8p+0)];\n"
            "        tensor<fp16, [1, 3]> w = const()[name = string(\"w\"), val = tensor<fp16, [1, 3]>([0x1p-24, 0x1.ffcp+15, -0x0p+0])];\n"
            "        tensor<fp16, [1, 3]> m = mul(x = x, y = h)[name = string(\"m\")];\n"
            "        tensor<fp16, [1, 3]> r = add(x = m, y = w)[name = string(\"r\")];\n"
            "        int32 s_axis = const()[name = string(\"s_axis\"), val = int32(-1)];\n"
            "        tensor<fp16, [1, 3]> s = softmax(x = r, axis = s_axis)[name = string(\"s\")];\n"
            "        bool tx = const()[name = string(\"tx\"), val = bool(false)];\n"
            "    } -> (s);\n"
            "}\n";
        const char *want16 =
            "program(1.0)\n"
            "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"coremlc-component-MIL\", \"3510.2.1\"}, {\"coremlc-version\", \"3505.4.1\"}, "
            "{\"coremltools-component-milinternal\", \"\"}, {\"coremltools-version\", \"9.0\"}})]\n"
            "{\n"
            "    func main<ios16>(tensor<fp16, [1, 3]> x) {\n"
            "            tensor<fp16, []> h = const()[name = tensor<string, []>(\"h\"), val = tensor<fp16, []>(0x1.8p+0)];\n"
            "            tensor<fp16, [1, 3]> w = const()[name = tensor<string, []>(\"w\"), val = tensor<fp16, [1, 3]>([0x1p-24, 0x1.ffcp+15, -0x0p+0])];\n"
            "            tensor<fp16, [1, 3]> m = mul(x = x, y = h)[name = tensor<string, []>(\"m\")];\n"
            "            tensor<fp16, [1, 3]> r = add(x = m, y = w)[name = tensor<string, []>(\"r\")];\n"
            "            tensor<int32, []> s_axis = const()[name = tensor<string, []>(\"s_axis\"), val = tensor<int32, []>(-1)];\n"
            "            tensor<fp16, [1, 3]> s = softmax(x = r, axis = s_axis)[name = tensor<string, []>(\"s\")];\n"
            "            tensor<bool, []> tx = const()[name = tensor<string, []>(\"tx\"), val = tensor<bool, []>(false)];\n"
            "        } -> (s);\n"
            "}\n";
        const char *want = d ? want16 : want18;
        CHECK_MSG(text && strcmp(text, want) == 0, "dialect %d emitted:\n%s", d, text ? text : "(null)");
        CHECK(text && len == strlen(text));
        free(text);
        anet_graph_free(g);
    }
}

static void test_fixed_point_every_op(void) {
    for (int d = 0; d < 2; d++) {
        anet_graph *g = every_op_graph(d ? ANET_MIL_IOS16 : ANET_MIL_IOS18);
        CHECK(g != NULL);
        if (!g) continue;
        /* every op kind is present */
        int seen[ANET_OP_COUNT_] = {0};
        for (int o = 0; o < g->nops; o++) seen[g->ops[o].kind] = 1;
        for (int k = 0; k < ANET_OP_COUNT_; k++) CHECK_MSG(seen[k], "op %s missing from the test graph", anet_op_kind_name((anet_opkind)k));
        char *t1 = NULL, *t2 = NULL;
        size_t l1 = 0, l2 = 0;
        CHECK_MSG(anet_mil_emit(g, &t1, &l1) == ANET_OK, "%s", anet_last_error());
        anet_graph *g2 = NULL;
        CHECK_MSG(t1 && parse_exact(t1, l1, NULL, 0, &g2) == ANET_OK, "%s", anet_last_error());
        if (g2) {
            char why[256] = "";
            CHECK_MSG(graphs_equal(g, g2, why, sizeof why), "dialect %d: %s", d, why);
            CHECK(g2->dialect == g->dialect);
            CHECK(anet_graph_verify(g2) == ANET_OK);
            CHECK(anet_mil_emit(g2, &t2, &l2) == ANET_OK);
            CHECK_MSG(t2 && l1 == l2 && memcmp(t1, t2, l1) == 0, "dialect %d: emit/parse/emit is not a fixed point", d);
            anet_graph_free(g2);
        }
        /* spot checks of literal spelling */
        CHECK_STR_CONTAINS(t1, "0x1.99999ap-4");  /* 0.1f in fp32 */
        CHECK_STR_CONTAINS(t1, "0x1.ffcp+15");    /* fp16 max */
        CHECK_STR_CONTAINS(t1, "-inf");
        CHECK_STR_CONTAINS(t1, "values = (x, y, x)");
        CHECK_STR_CONTAINS(t1, "18446744073709551615");
        CHECK_STR_CONTAINS(t1, "\"quote\\\" back\\\\ nl\\n tab\\t ctl\\x01 utf8 \xc3\xa9\"");
        CHECK_STR_CONTAINS(t1, "(\"\\xff\\xc3(\\xe2\\x82\")");
        CHECK_STR_CONTAINS(t1, d ? "tensor<int8, [3]>([-128, 0, 127])" : "tensor<int8, [3]>([-128, 0, 127])");
        CHECK_STR_CONTAINS(t1, d ? "tensor<bool, []>(true)" : "bool(true)");
        free(t1);
        free(t2);
        anet_graph_free(g);
    }
}

static void test_weights_and_blobs(void) {
    anet_graph *g = every_op_graph(ANET_MIL_IOS18);
    if (!g) {
        CHECK(0);
        return;
    }
    /* consts with >= 16 elements and a blob dtype: lw (24 fp16), cw (54 fp16), tw (24 fp16) */
    const char *big[3] = {"lw", "cw", "tw"};
    size_t bytes[3] = {48, 108, 48};
    uint8_t *w = NULL;
    size_t wl = 0;
    CHECK(anet_weights_build(g, 16, &w, &wl) == ANET_OK);
    /* expected layout by hand: 64 header; lw record 64, data 128..176 pad->192; cw record 192,
     * data 256..364 pad->384; tw record 384, data 448..496 pad->512 */
    uint64_t rec[3] = {64, 192, 384};
    CHECK_EQ_INT(wl, 512);
    CHECK_EQ_INT(rd32(w), 3);
    CHECK_EQ_INT(rd32(w + 4), 2);
    for (int i = 8; i < 64; i++) CHECK(w[i] == 0);
    for (int k = 0; k < 3; k++) {
        const uint8_t *r = w + rec[k];
        CHECK(r[0] == 0xEF && r[1] == 0xBE && r[2] == 0xAD && r[3] == 0xDE); /* 0xDEADBEEF little-endian */
        CHECK_EQ_INT(rd32(r + 4), 1);                                       /* fp16 */
        CHECK_EQ_INT(rd64(r + 8), bytes[k]);
        CHECK_EQ_INT(rd64(r + 16), rec[k] + 64);
        for (int i = 24; i < 64; i++) CHECK(r[i] == 0);
        int v = anet_graph_find(g, big[k]);
        const anet_const *c = anet_graph_const_of(g, v);
        CHECK(c && c->blob_path && strcmp(c->blob_path, ANET_MIL_WEIGHT_PATH) == 0 && c->blob_offset == rec[k]);
        CHECK(c && memcmp(w + rec[k] + 64, c->data, bytes[k]) == 0);
        const void *p = NULL;
        CHECK(anet_weights_lookup(w, wl, rec[k], ANET_DT_FP16, bytes[k], &p) == ANET_OK && p == w + rec[k] + 64);
    }
    /* small consts stayed inline */
    CHECK(anet_graph_const_of(g, anet_graph_find(g, "specials"))->blob_path == NULL);
    uint32_t count = 0;
    CHECK(anet_weights_validate(w, wl, &count) == ANET_OK && count == 3);

    /* IR -> MIL (BLOBFILE) -> IR with the image */
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(anet_mil_emit(g, &t1, &l1) == ANET_OK);
    CHECK_STR_CONTAINS(t1, "tensor<fp16, [3, 8]> lw = const()[name = string(\"lw\"), val = tensor<fp16, [3, 8]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))];");
    anet_graph *g2 = NULL;
    CHECK_MSG(parse_exact(t1, l1, w, wl, &g2) == ANET_OK, "%s", anet_last_error());
    if (g2) {
        char why[256] = "";
        CHECK_MSG(graphs_equal(g, g2, why, sizeof why), "%s", why);
        CHECK(anet_mil_emit(g2, &t2, &l2) == ANET_OK && l1 == l2 && memcmp(t1, t2, l1) == 0);
        anet_graph_free(g2);
    }
    /* ios16 spelling of BLOBFILE */
    g->dialect = ANET_MIL_IOS16;
    char *t3 = NULL;
    size_t l3 = 0;
    CHECK(anet_mil_emit(g, &t3, &l3) == ANET_OK);
    CHECK_STR_CONTAINS(t3, "BLOBFILE(path = tensor<string, []>(\"@model_path/weights/weight.bin\"), offset = tensor<uint64, []>(192))");
    g2 = NULL;
    CHECK_MSG(parse_exact(t3, l3, w, wl, &g2) == ANET_OK, "%s", anet_last_error());
    CHECK(g2 && g2->dialect == ANET_MIL_IOS16);
    anet_graph_free(g2);
    free(t3);

    /* missing weights, out-of-range offsets, bad sentinel, wrong dtype/size */
    anet_clear_error();
    g2 = NULL;
    CHECK(parse_exact(t1, l1, NULL, 0, &g2) == ANET_E_FORMAT && g2 == NULL);
    CHECK_STR_CONTAINS(anet_last_error(), "no weights were given");
    CHECK(has_pos(anet_last_error(), 0, 0));
    CHECK(parse_exact(t1, l1, w, 192, &g2) != ANET_OK); /* cw's record at 192 is beyond 192 bytes */
    CHECK_STR_CONTAINS(anet_last_error(), "beyond");
    uint8_t *bad = malloc(wl);
    memcpy(bad, w, wl);
    bad[192] ^= 0xFF;
    CHECK(parse_exact(t1, l1, bad, wl, &g2) != ANET_OK);
    CHECK_STR_CONTAINS(anet_last_error(), "sentinel");
    CHECK(anet_weights_validate(bad, wl, &count) != ANET_OK);
    memcpy(bad, w, wl);
    bad[4] = 1; /* version 1 */
    CHECK(anet_weights_validate(bad, wl, &count) != ANET_OK);
    CHECK_STR_CONTAINS(anet_last_error(), "version 1");
    memcpy(bad, w, wl);
    bad[64 + 16] = 0x90; /* data offset no longer aligned */
    CHECK(anet_weights_validate(bad, wl, &count) != ANET_OK);
    memcpy(bad, w, wl);
    bad[384 + 8] = 0xFF; /* size 48 -> 255: runs past the end */
    CHECK(anet_weights_validate(bad, wl, &count) != ANET_OK);
    CHECK_STR_CONTAINS(anet_last_error(), "runs past");
    memcpy(bad, w, wl);
    bad[0] = 200; /* count far beyond what 512 bytes can hold */
    CHECK(anet_weights_validate(bad, wl, &count) != ANET_OK);
    free(bad);
    const void *p = NULL;
    CHECK(anet_weights_lookup(w, wl, 64, ANET_DT_FP32, 48, &p) == ANET_E_MISMATCH && p == NULL);
    CHECK(anet_weights_lookup(w, wl, 64, ANET_DT_FP16, 50, &p) == ANET_E_MISMATCH);
    CHECK(anet_weights_lookup(w, wl, 65, ANET_DT_FP16, 48, &p) != ANET_OK);
    CHECK(anet_weights_lookup(w, wl, 0, ANET_DT_FP16, 48, &p) != ANET_OK);
    CHECK(anet_weights_lookup(w, wl, UINT64_MAX - 63, ANET_DT_FP16, 48, &p) != ANET_OK);
    CHECK(anet_weights_lookup(w, 10, 64, ANET_DT_FP16, 48, &p) != ANET_OK);
    CHECK(anet_weights_lookup(w, wl, 64, ANET_DT_INT32, 48, &p) != ANET_OK);
    /* an offset past the image in the text itself */
    {
        char *t4 = malloc(l1 + 16);
        const char *at = strstr(t1, "offset = uint64(64)");
        CHECK(at != NULL);
        if (at) {
            size_t pre = (size_t)(at - t1);
            int n = snprintf(t4, l1 + 16, "%.*soffset = uint64(4096)%s", (int)pre, t1, at + strlen("offset = uint64(64)"));
            CHECK(parse_exact(t4, (size_t)n, w, wl, &g2) != ANET_OK);
            CHECK_STR_CONTAINS(anet_last_error(), "beyond");
            CHECK(has_pos(anet_last_error(), 0, 0));
        }
        free(t4);
    }
    /* an image with no blobs is the header alone */
    anet_graph *e = anet_graph_new(ANET_MIL_IOS18);
    uint8_t *ew = NULL;
    size_t el = 0;
    CHECK(anet_weights_build(e, 1, &ew, &el) == ANET_OK && el == 64 && rd32(ew) == 0 && rd32(ew + 4) == 2);
    CHECK(anet_weights_validate(ew, el, &count) == ANET_OK && count == 0);
    free(ew);
    anet_graph_free(e);
    free(t1);
    free(t2);
    free(w);
    anet_graph_free(g);
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void test_apple_fixture(void) {
    size_t n = 0;
    char *text = read_file(ANET_SHARED_DIR "/fixtures/coreml/add_model.mlmodelc/model.mil", &n);
    CHECK_MSG(text != NULL, "fixture missing");
    if (!text) return;
    anet_graph *g = NULL;
    CHECK_MSG(parse_exact(text, n, NULL, 0, &g) == ANET_OK, "%s", anet_last_error());
    if (g) {
        CHECK(g->dialect == ANET_MIL_IOS16);
        CHECK(strcmp(g->program_version, "1.0") == 0 && strcmp(g->opset, "ios16") == 0);
        CHECK_EQ_INT(g->ninputs, 2);
        CHECK_EQ_INT(g->nops, 1);
        anet_type want = T2(ANET_DT_FP16, 1, 10);
        CHECK(strcmp(g->values[g->inputs[0]].name, "x") == 0 && anet_type_equal(&g->values[g->inputs[0]].type, &want));
        CHECK(strcmp(g->values[g->inputs[1]].name, "y") == 0 && anet_type_equal(&g->values[g->inputs[1]].type, &want));
        CHECK(g->ops[0].kind == ANET_OP_MUL && strcmp(g->ops[0].name, "op_3_cast_fp16") == 0);
        CHECK(g->noutputs == 1 && strcmp(g->values[g->outputs[0]].name, "var_3") == 0);
        CHECK(anet_type_equal(&g->values[g->outputs[0]].type, &want));
        CHECK_EQ_INT(g->nbuild_info, 5);
        CHECK(g->nbuild_info == 5 && strcmp(g->build_info[4].key, "coremltools-version") == 0 && strcmp(g->build_info[4].value, "8.1") == 0);
        /* written back byte for byte */
        char *out = NULL;
        size_t ol = 0;
        CHECK(anet_mil_emit(g, &out, &ol) == ANET_OK);
        CHECK(out && ol == n && memcmp(out, text, n) == 0);
        free(out);
        anet_graph_free(g);
    }
    free(text);
}

static void expect_error(const char *text, const char *needle, int line, int col) {
    anet_graph *g = NULL;
    anet_clear_error();
    anet_status st = parse_exact(text, strlen(text), NULL, 0, &g);
    CHECK_MSG(st != ANET_OK && g == NULL, "accepted: %s", text);
    CHECK_STR_CONTAINS(anet_last_error(), needle);
    CHECK_MSG(has_pos(anet_last_error(), line, col), "want %d:%d in \"%s\"", line, col, anet_last_error());
    anet_graph_free(g);
}

#define HEAD "program(1.3)\n[buildInfo = dict<string, string>({})]\n{\n"

static void test_malformed(void) {
    /* the brief's example: line 4, column 17 */
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1, 10]> x) {\n"
                      "        tensor<fp16, [1, 10]> r = relu(x = x x)[name = string(\"r\")];\n"
                      "    } -> (r);\n}\n",
                 "expected ')' after argument list, got 'x'", 5, 46);
    expect_error("program(1.3)\n{\n  func main<ios18>(tensor<fp16, [1]> x) {\n  } -> (x;\n}\n", "expected", 4, 10);
    expect_error(HEAD "    func main<ios18>(tensor<fp17, [1, 10]> x) {\n    } -> (x);\n}\n", "unknown type 'fp17'", 4, 29);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1, 10]> x, tensor<fp16, [1, 10]> y) {\n"
                      "        tensor<fp16, [1, 11]> r = mul(x = x, y = y)[name = string(\"r\")];\n    } -> (r);\n}\n",
                 "output declared tensor<fp16, [1, 11]>, inferred tensor<fp16, [1, 10]>", 5, 35);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1, 10]> x) {\n"
                      "        tensor<fp16, [2]> c = const()[name = string(\"c\"), val = tensor<fp16, [3]>([1, 2, 3])];\n    } -> (c);\n}\n",
                 "type mismatch: 'c' is declared tensor<fp16, [2]> but its value is tensor<fp16, [3]>", 5, 9);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1, 10]> x) {\n"
                      "        tensor<fp16, [3]> c = const()[name = string(\"c\"), val = tensor<fp16, [3]>([1, 2])];\n    } -> (c);\n}\n",
                 "2 elements given, the type declares 3", 0, 0);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1, 10]> x) {\n"
                      "        tensor<fp16, [2]> c = const()[name = string(\"c\"), val = tensor<fp16, [2]>([1, 2, 3])];\n    } -> (c);\n}\n",
                 "more than the 2 elements", 0, 0);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [65536, 65536, 65536]> x) {\n    } -> (x);\n}\n",
                 "shape [65536,65536,65536] has more than 2^31 elements", 4, 22);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1, 1, 1, 1, 1, 1]> x) {\n    } -> (x);\n}\n", "rank above 5", 0, 0);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [0]> x) {\n    } -> (x);\n}\n", "dim 0 out of range", 0, 0);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [99999999999999999999999]> x) {\n    } -> (x);\n}\n", "out of range", 0, 0);
    {
        /* deeply nested brackets: bounded, clean error */
        char *deep = malloc(200000);
        int n = snprintf(deep, 200000, HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> c = const()[name = string(\"c\"), val = tensor<fp16, [1]>(");
        for (int i = 0; i < 50000; i++) deep[n++] = '[';
        deep[n] = '\0';
        expect_error(deep, "list nested deeper than 6", 5, 0);
        free(deep);
    }
    {
        /* BLOBFILE nested in its own offset: refused at the first level, no deep recursion */
        char *deep = malloc(4000000);
        int n = snprintf(deep, 4000000, HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> c = const()[name = string(\"c\"), val = tensor<fp16, [1]>(");
        for (int i = 0; i < 40000; i++)
            n += snprintf(deep + n, 4000000 - (size_t)n, "BLOBFILE(path = string(\"p\"), offset = uint64(");
        expect_error(deep, "BLOBFILE data of type uint64 is not supported", 5, 0);
        free(deep);
    }
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = \xff)[name = string(\"r\")];\n    } -> (r);\n}\n",
                 "invalid UTF-8 byte 0xff", 5, 40);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = \xc3", "truncated UTF-8", 5, 40);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = \xc3)", "invalid UTF-8 sequence", 5, 40);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> \xc0\xaf) {}\n", "invalid UTF-8 sequence", 4, 40);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = zz)[name = string(\"r\")];\n    } -> (r);\n}\n",
                 "unknown value 'zz'", 5, 40);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> x = relu(x = x)[name = string(\"r\")];\n    } -> (x);\n}\n",
                 "value 'x' defined twice", 5, 27);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = x)[name = string(\"r\")];\n"
                      "        tensor<fp16, [1]> q = relu(x = r)[name = string(\"r\")];\n    } -> (q);\n}\n",
                 "op name 'r' used twice", 6, 31);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = 1.0)[name = string(\"r\")];\n    } -> (r);\n}\n",
                 "inline literal", 5, 40);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = x)[name = string(\"r), val = 1];\n    } -> (r);\n}\n",
                 "unterminated string (newline inside)", 5, 57);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        tensor<fp16, [1]> r = relu(x = x)[name = string(\"r\"), color = string(\"red\")];\n    } -> (r);\n}\n",
                 "unexpected attribute 'color'", 5, 63);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        int32 c = const()[name = string(\"c\"), val = int32(2147483648)];\n    } -> (c);\n}\n",
                 "int32 value 2147483648 out of range", 5, 59);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n        fp16 c = const()[name = string(\"c\"), val = fp16(0x1.zp+0)];\n    } -> (c);\n}\n",
                 "bad hex float", 5, 57);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n    } -> (x);\n}\n    func second<ios18>() {} -> ();\n", "expected end of input", 7, 5);
    expect_error(HEAD "    func main<ios18>(tensor<fp16, [1]> x) {\n    } -> ();\n}\n", "no outputs", 0, 0);
    expect_error("", "expected 'program', got end of input", 1, 1);
    {
        const char nul[] = "program(1.3)\0{";
        anet_graph *g = NULL;
        CHECK(parse_exact(nul, sizeof nul - 1, NULL, 0, &g) != ANET_OK);
        CHECK_STR_CONTAINS(anet_last_error(), "NUL byte");
        CHECK(has_pos(anet_last_error(), 1, 13));
    }
    {
        /* a long token */
        char *longname = malloc(10000);
        int n = snprintf(longname, 10000, HEAD "    func main<ios18>(tensor<fp16, [1]> ");
        for (int i = 0; i < 5000; i++) longname[n++] = 'a';
        longname[n] = '\0';
        expect_error(longname, "token longer than 4096", 4, 40);
        free(longname);
    }
}

static void test_unknown_and_apple_syntax(void) {
    /* unknown op kept with its declared types; ops without [name]; comments; decimal literals;
     * nested literal lists; Apple's split-style multi-output declaration */
    const char *text =
        HEAD
        "    func main<ios18>(tensor<fp16, [1, 4]> x) {\n"
        "        // a comment\n"
        "        fp16 eps = const()[name = string(\"eps\"), val = fp16(1e-3)];\n"
        "        tensor<fp16, [2, 2]> w = const()[name = string(\"w_op\"), val = tensor<fp16, [2, 2]>([[1, -2.5], [0.5, inf]])];\n"
        "        tensor<fp16, [1, 4]> n, tensor<int32, [3]> idx = layer_norm_ex(x = x, epsilon = eps)[name = string(\"ln\")];\n"
        "        tensor<fp16, [1, 4]> r = relu(x = n);\n"
        "    } -> (r, idx, w);\n"
        "}\n";
    anet_graph *g = NULL;
    CHECK_MSG(parse_exact(text, strlen(text), NULL, 0, &g) == ANET_OK, "%s", anet_last_error());
    if (!g) return;
    int v = anet_graph_find(g, "idx");
    CHECK(v >= 0 && g->ops[g->values[v].producer].kind == ANET_OP_UNKNOWN);
    CHECK(v >= 0 && strcmp(g->ops[g->values[v].producer].type, "layer_norm_ex") == 0 && g->ops[g->values[v].producer].noutputs == 2);
    int64_t d3[1] = {3};
    anet_type it = TT(ANET_DT_INT32, 1, d3);
    CHECK(v >= 0 && anet_type_equal(&g->values[v].type, &it));
    int r = anet_graph_find(g, "r");
    CHECK(r >= 0 && strcmp(g->ops[g->values[r].producer].name, "r") == 0);
    const anet_const *w = anet_graph_const_of(g, anet_graph_find(g, "w"));
    const uint16_t want[4] = {0x3C00, 0xC100, 0x3800, 0x7C00};
    CHECK(w && w->nbytes == 8 && memcmp(w->data, want, 8) == 0);
    CHECK(strcmp(g->ops[g->values[anet_graph_find(g, "w")].producer].name, "w_op") == 0);
    const anet_const *e = anet_graph_const_of(g, anet_graph_find(g, "eps"));
    CHECK(e && *(const uint16_t *)e->data == 0x1419); /* 1e-3 rounded to binary16 */
    /* emit -> parse -> emit fixed point even with the unknown op */
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(anet_mil_emit(g, &t1, &l1) == ANET_OK);
    anet_graph *g2 = NULL;
    CHECK(t1 && parse_exact(t1, l1, NULL, 0, &g2) == ANET_OK);
    CHECK(g2 && anet_mil_emit(g2, &t2, &l2) == ANET_OK && l1 == l2 && memcmp(t1, t2, l1) == 0);
    CHECK_STR_CONTAINS(t1, "tensor<fp16, [1, 4]> n, tensor<int32, [3]> idx = layer_norm_ex(x = x, epsilon = eps)[name = string(\"ln\")];");
    free(t1);
    free(t2);
    anet_graph_free(g2);
    anet_graph_free(g);
}

/* Apple-style ios16 snippet: tensor<T, []> scalars, fp32 epsilon on fp16 data, fp32 subnormal. */
static void test_apple_style_scalars(void) {
    const char *text =
        "program(1.0)\n"
        "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"coremlc-version\", \"3402.4.1\"}})]\n"
        "{\n"
        "    func main<ios16>(tensor<fp16, [1, 7, 29]> logits) {\n"
        "            tensor<int32, []> var_8 = const()[name = tensor<string, []>(\"op_8\"), val = tensor<int32, []>(-1)];\n"
        "            tensor<fp16, [1, 7, 29]> p_cast_fp16 = softmax(axis = var_8, x = logits)[name = tensor<string, []>(\"p_cast_fp16\")];\n"
        "            tensor<fp32, []> eps_0 = const()[name = tensor<string, []>(\"eps_0\"), val = tensor<fp32, []>(0x1p-149)];\n"
        "            tensor<fp16, [1, 7, 29]> lp_cast_fp16 = log(epsilon = eps_0, x = p_cast_fp16)[name = tensor<string, []>(\"lp_cast_fp16\")];\n"
        "        } -> (lp_cast_fp16);\n"
        "}\n";
    anet_graph *g = NULL;
    CHECK_MSG(parse_exact(text, strlen(text), NULL, 0, &g) == ANET_OK, "%s", anet_last_error());
    if (!g) return;
    CHECK(g->dialect == ANET_MIL_IOS16 && g->nops == 4);
    const anet_const *e = anet_graph_const_of(g, anet_graph_find(g, "eps_0"));
    uint32_t bits = 0;
    if (e) memcpy(&bits, e->data, 4);
    CHECK(e && e->type.dtype == ANET_DT_FP32 && bits == 1); /* smallest fp32 subnormal */
    CHECK(strcmp(g->ops[g->values[anet_graph_find(g, "var_8")].producer].name, "op_8") == 0);
    char *out = NULL;
    size_t n = 0;
    CHECK(anet_mil_emit(g, &out, &n) == ANET_OK && out && n == strlen(text) && memcmp(out, text, n) == 0);
    free(out);
    anet_graph_free(g);
}

/* Names generated after parsing skip the parsed ones in both namespaces. */
static void test_generated_names_after_parse(void) {
    const char *text = HEAD
        "    func main<ios18>(tensor<fp16, [1, 4]> op_0) {\n"
        "        tensor<fp16, [1, 4]> c_0 = relu(x = op_0)[name = string(\"op_1\")];\n"
        "        tensor<fp16, [1, 4]> op_2 = relu(x = c_0)[name = string(\"c_1\")];\n"
        "    } -> (op_2);\n}\n";
    anet_graph *g = NULL;
    CHECK_MSG(parse_exact(text, strlen(text), NULL, 0, &g) == ANET_OK, "%s", anet_last_error());
    if (!g) return;
    int c = anet_graph_const_fp16(g, NULL, 2.0f);
    int r = anet_b_binary(g, ANET_OP_MUL, NULL, anet_graph_find(g, "op_2"), c);
    int r2 = anet_b_unary(g, ANET_OP_EXP, NULL, r);
    CHECK(c >= 0 && r >= 0 && r2 >= 0);
    const char *taken[] = {"op_0", "c_0", "op_1", "op_2", "c_1"};
    for (int i = 0; i < 5 && c >= 0 && r >= 0 && r2 >= 0; i++) {
        CHECK(strcmp(g->values[c].name, taken[i]) != 0 && strcmp(g->ops[g->values[c].producer].name, taken[i]) != 0);
        CHECK(strcmp(g->values[r].name, taken[i]) != 0 && strcmp(g->ops[g->values[r].producer].name, taken[i]) != 0);
        CHECK(strcmp(g->values[r2].name, taken[i]) != 0);
    }
    CHECK(anet_graph_set_outputs(g, 1, &r2) == ANET_OK && anet_graph_verify(g) == ANET_OK);
    char *t = NULL;
    size_t n = 0;
    anet_graph *g2 = NULL;
    CHECK(anet_mil_emit(g, &t, &n) == ANET_OK && parse_exact(t, n, NULL, 0, &g2) == ANET_OK);
    free(t);
    anet_graph_free(g2);
    anet_graph_free(g);
}

/* Every proper prefix of a valid program fails cleanly with a position; the text is given
 * without a terminating NUL. */
static void test_prefixes(void) {
    for (int d = 0; d < 2; d++) {
        /* ios18: the every-op graph; ios16: the Apple-style tail of the same ops is covered by
         * the fixed-point test, a smaller program keeps this loop fast under ASan */
        anet_graph *g = d ? NULL : every_op_graph(ANET_MIL_IOS18);
        if (d) {
            g = anet_graph_new(ANET_MIL_IOS16);
            int64_t dm[2] = {2, 3};
            int x = anet_graph_input(g, "x", TT(ANET_DT_FP16, 2, dm));
            uint16_t w6[6] = {0x3C00, 0x0001, 0x8000, 0x7BFF, 0xFC00, 0x3555};
            int w = anet_graph_const(g, "w", TT(ANET_DT_FP16, 2, dm), w6, sizeof w6);
            int a = anet_b_binary(g, ANET_OP_ADD, "a", x, w);
            int vals[2] = {a, x};
            int c = anet_b_concat(g, "c", 2, vals, 0, 0);
            int32_t perm[2] = {1, 0};
            int t = anet_b_transpose(g, "t", c, 2, perm);
            int o[2] = {t, a};
            if (anet_graph_set_outputs(g, 2, o) != ANET_OK) {
                anet_graph_free(g);
                g = NULL;
            }
        }
        if (!g) {
            CHECK(0);
            continue;
        }
        char *t = NULL;
        size_t n = 0;
        CHECK(anet_mil_emit(g, &t, &n) == ANET_OK);
        anet_graph_free(g);
        if (!t) continue;
        size_t last = n;
        while (last > 0 && t[last - 1] != '}') last--; /* prefixes from here on are complete */
        int bad_ok = 0, bad_msg = 0;
        for (size_t k = 0; k < n; k++) {
            anet_graph *p = NULL;
            anet_status st = parse_exact(t, k, NULL, 0, &p);
            if (k < last) {
                if (st == ANET_OK || p) bad_ok++;
                if (!has_pos(anet_last_error(), 0, 0)) {
                    if (!bad_msg) fprintf(stderr, "prefix %zu: \"%s\"\n", k, anet_last_error());
                    bad_msg++;
                }
            } else if (st != ANET_OK) {
                bad_ok++;
            }
            anet_graph_free(p);
        }
        CHECK_EQ_INT(bad_ok, 0);
        CHECK_EQ_INT(bad_msg, 0);
        free(t);
    }
}

int main(void) {
    test_exact_text();
    test_fixed_point_every_op();
    test_weights_and_blobs();
    test_apple_fixture();
    test_malformed();
    test_unknown_and_apple_syntax();
    test_apple_style_scalars();
    test_generated_names_after_parse();
    test_prefixes();
    TEST_MAIN_END();
}
