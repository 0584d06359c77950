/* Graph IR: builder, names, consts, and shape/dtype inference of every op, with the expected
 * shapes worked out by hand from the MIL op definitions (not from the code under test). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "graph/build.h"
#include "graph/ir.h"

static anet_type T(anet_dtype dt, int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4) {
    int64_t d[5] = {d0, d1, d2, d3, d4};
    return anet_type_make(dt, rank, d);
}
#define F16(...) T16_(__VA_ARGS__, 0, 0, 0, 0, 0)
#define T16_(r, a, b, c, d, e, ...) T(ANET_DT_FP16, r, a, b, c, d, e)

/* value v has dtype dt and the given dims */
static int has_shape(const anet_graph *g, int v, anet_dtype dt, int rank, const int64_t *dims) {
    if (v < 0 || v >= g->nvalues) return 0;
    anet_type want = anet_type_make(dt, rank, dims);
    return anet_type_equal(&g->values[v].type, &want);
}
#define SHAPE(g, v, dt, ...)                                                               \
    do {                                                                                   \
        int64_t d_[] = {__VA_ARGS__};                                                      \
        int v_ = (v); /* evaluated once: v is often a builder call */                      \
        int ok_ = has_shape(g, v_, dt, (int)(sizeof d_ / sizeof d_[0]), d_);               \
        char b_[128] = "(no value)";                                                       \
        if (v_ >= 0) anet_type_str(&(g)->values[v_].type, b_, sizeof b_);                  \
        CHECK_MSG(ok_, "%s is %s (%s)", #v, b_, v_ < 0 ? anet_last_error() : "");          \
    } while (0)
#define SCALAR(g, v, dt)                                                                   \
    do {                                                                                   \
        int v_ = (v);                                                                      \
        CHECK(v_ >= 0 && (g)->values[v_].type.rank == 0 && (g)->values[v_].type.dtype == (dt)); \
    } while (0)
#define FAILS(expr, needle)                                                                \
    do {                                                                                   \
        anet_clear_error();                                                                \
        int r_ = (expr);                                                                   \
        CHECK_MSG(r_ < 0, "%s should fail", #expr);                                        \
        CHECK_STR_CONTAINS(anet_last_error(), needle);                                     \
    } while (0)

static void test_basics(void) {
    char b[128];
    CHECK(strcmp(anet_op_kind_name(ANET_OP_REAL_DIV), "real_div") == 0);
    CHECK(anet_op_kind_lookup("slice_by_size") == ANET_OP_SLICE_BY_SIZE);
    CHECK(anet_op_kind_lookup("layer_norm") == ANET_OP_UNKNOWN);
    CHECK(strcmp(anet_op_kind_name(ANET_OP_UNKNOWN), "?") == 0);
    for (int k = 0; k < ANET_OP_COUNT_; k++) CHECK((int)anet_op_kind_lookup(anet_op_kind_name((anet_opkind)k)) == k);
    CHECK(anet_dtype_lookup("fp16") == ANET_DT_FP16 && anet_dtype_lookup("uint64") == ANET_DT_UINT64);
    CHECK(anet_dtype_lookup("float16") == ANET_DT_INVALID);
    CHECK(anet_dtype_size(ANET_DT_FP16) == 2 && anet_dtype_size(ANET_DT_FP32) == 4 &&
          anet_dtype_size(ANET_DT_BOOL) == 1 && anet_dtype_size(ANET_DT_UINT64) == 8 &&
          anet_dtype_size(ANET_DT_STRING) == 0);
    anet_type t = F16(4, 1, 64, 1, 32);
    CHECK_EQ_INT(anet_type_elements(&t), 2048);
    CHECK(strcmp(anet_type_str(&t, b, sizeof b), "tensor<fp16, [1, 64, 1, 32]>") == 0);
    anet_type s = T(ANET_DT_INT32, 0, 0, 0, 0, 0, 0);
    CHECK_EQ_INT(anet_type_elements(&s), 1);
    CHECK(strcmp(anet_type_str(&s, b, sizeof b), "tensor<int32, []>") == 0);
    anet_type huge = F16(3, 65536, 65536, 65536);
    CHECK_EQ_INT(anet_type_elements(&huge), -1);
    anet_type edge = F16(2, 65536, 32768); /* exactly 2^31 */
    CHECK_EQ_INT(anet_type_elements(&edge), (int64_t)1 << 31);
    anet_type zero = F16(2, 3, 0);
    CHECK_EQ_INT(anet_type_elements(&zero), -1);
    CHECK(anet_type_str(&t, b, 8) == b && strlen(b) == 7); /* truncated, terminated */
}

static void test_graph_names_consts(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    CHECK(g && strcmp(g->program_version, "1.3") == 0 && strcmp(g->opset, "ios18") == 0);
    int x = anet_graph_input(g, "x", F16(2, 1, 10));
    CHECK(x == 0 && g->values[x].producer == -1 && g->ninputs == 1);
    FAILS(anet_graph_input(g, "x", F16(2, 1, 10)), "already used");
    FAILS(anet_graph_input(g, "1bad", F16(2, 1, 10)), "invalid name");
    FAILS(anet_graph_input(g, "big", F16(3, 65536, 65536, 65536)), "2^31");
    anet_type r6 = F16(5, 1, 1, 1, 1, 1);
    r6.rank = 6;
    FAILS(anet_graph_input(g, "r6", r6), "rank 6 is outside 0..5");

    /* generated names skip names already taken, in both namespaces */
    int taken = anet_graph_input(g, "op_0", F16(2, 1, 10));
    CHECK(taken >= 0);
    int c0 = anet_graph_const_fp16(g, "c_0", 1.5f);
    int c1 = anet_graph_const_fp16(g, NULL, 2.0f);
    CHECK(c1 >= 0 && strcmp(g->values[c1].name, "c_0") != 0 && strncmp(g->values[c1].name, "c_", 2) == 0);
    int r = anet_b_binary(g, ANET_OP_ADD, NULL, x, c0);
    CHECK(r >= 0 && strcmp(g->values[r].name, "op_0") != 0 && strncmp(g->values[r].name, "op_", 3) == 0);
    CHECK(r >= 0 && strcmp(g->ops[g->values[r].producer].name, g->values[r].name) == 0);
    FAILS(anet_graph_const_fp16(g, "c_0", 1.0f), "already used");

    /* const payloads */
    const anet_const *k = anet_graph_const_of(g, c0);
    double f;
    CHECK(k && anet_const_get_float(k, &f) == 0 && f == 1.5);
    CHECK(k && *(const uint16_t *)k->data == 0x3E00); /* 1.5 in binary16 */
    int ci = anet_graph_const_int32(g, "ci", -7), cb = anet_graph_const_bool(g, "cb", 1);
    int cs = anet_graph_const_string(g, "cs", "same");
    int32_t iv[3] = {3, -1, 9};
    int cv = anet_graph_const_int32s(g, "cv", 3, iv);
    int64_t i64, arr[8];
    int n, bv;
    CHECK(anet_const_get_int(anet_graph_const_of(g, ci), &i64) == 0 && i64 == -7);
    CHECK(anet_const_get_bool(anet_graph_const_of(g, cb), &bv) == 0 && bv == 1);
    CHECK(anet_const_get_string(anet_graph_const_of(g, cs)) && strcmp(anet_const_get_string(anet_graph_const_of(g, cs)), "same") == 0);
    CHECK(anet_const_get_ints(anet_graph_const_of(g, cv), arr, 8, &n) == 0 && n == 3 && arr[0] == 3 && arr[1] == -1 && arr[2] == 9);
    CHECK(anet_const_get_ints(anet_graph_const_of(g, cv), arr, 2, &n) != 0); /* more than max */
    CHECK(anet_const_get_string(anet_graph_const_of(g, ci)) == NULL);
    CHECK(anet_const_get_bool(anet_graph_const_of(g, ci), &bv) != 0);
    CHECK(anet_graph_const_of(g, x) == NULL && anet_graph_const_of(g, r) == NULL);
    int cf = anet_graph_const_fp32(g, "cf", 0.1f);
    CHECK(anet_const_get_float(anet_graph_const_of(g, cf), &f) == 0 && f == (double)0.1f);
    /* fp16 rounding of the scalar builder: 0.1 -> 0x2E66; 65520 overflows to inf; tiny -> subnormal */
    int h1 = anet_graph_const_fp16(g, NULL, 0.1f), h2 = anet_graph_const_fp16(g, NULL, 65520.0f);
    int h3 = anet_graph_const_fp16(g, NULL, 5.9604645e-8f), h4 = anet_graph_const_fp16(g, NULL, -2.98e-8f);
    CHECK(*(const uint16_t *)anet_graph_const_of(g, h1)->data == 0x2E66);
    CHECK(*(const uint16_t *)anet_graph_const_of(g, h2)->data == 0x7C00);
    CHECK(*(const uint16_t *)anet_graph_const_of(g, h3)->data == 0x0001);
    CHECK(*(const uint16_t *)anet_graph_const_of(g, h4)->data == 0x8000);

    /* wrong byte counts, bad strings */
    uint16_t two[2] = {0, 0};
    FAILS(anet_graph_const(g, "bad1", F16(1, 3), two, 4), "bytes given");
    FAILS(anet_graph_const(g, "bad2", T(ANET_DT_STRING, 0, 0, 0, 0, 0, 0), "ab", 2), "NUL");
    FAILS(anet_graph_const(g, "bad3", T(ANET_DT_STRING, 1, 2, 0, 0, 0, 0), "a", 2), "scalar");
    FAILS(anet_graph_const_int32s(g, "bad4", 0, iv), "at least one");

    /* accessors */
    CHECK(anet_graph_find(g, "x") == x && anet_graph_find(g, "nope") == -1);
    const anet_op *op = &g->ops[g->values[r].producer];
    CHECK(anet_op_arg_value(op, "x") == x && anet_op_arg_value(op, "y") == c0 && anet_op_arg(op, "z") == NULL);

    /* outputs and verify */
    CHECK(anet_graph_set_outputs(g, 1, &r) == ANET_OK && g->noutputs == 1 && g->outputs[0] == r);
    int two_o[2] = {r, r};
    CHECK(anet_graph_set_outputs(g, 2, two_o) != ANET_OK);
    int bad_o = 9999;
    CHECK(anet_graph_set_outputs(g, 1, &bad_o) != ANET_OK);
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    /* corrupting a declared type is caught by verify */
    g->values[r].type.dims[1] = 11;
    CHECK(anet_graph_verify(g) == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "inferred");
    g->values[r].type.dims[1] = 10;
    /* use before definition is caught by verify */
    anet_op *aop = &g->ops[g->values[r].producer];
    int saved = aop->args[0].vals[0];
    aop->args[0].vals[0] = cf; /* cf is defined after this op */
    CHECK(anet_graph_verify(g) != ANET_OK);
    aop->args[0].vals[0] = saved;
    CHECK(anet_graph_verify(g) == ANET_OK);
    anet_graph_free(g);
}

static void test_elementwise(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS16);
    CHECK(strcmp(g->program_version, "1.0") == 0 && strcmp(g->opset, "ios16") == 0);
    anet_graph_free(g);
    anet_opkind bin[] = {ANET_OP_ADD, ANET_OP_SUB, ANET_OP_MUL, ANET_OP_REAL_DIV, ANET_OP_MAXIMUM,
                         ANET_OP_MINIMUM, ANET_OP_POW};
    int a, b, c, i, f32;
    g = anet_graph_new(ANET_MIL_IOS18);
    a = anet_graph_input(g, "a", F16(4, 2, 1, 3, 1));
    b = anet_graph_input(g, "b", F16(2, 3, 5));
    c = anet_graph_input(g, "c", F16(2, 4, 5));
    i = anet_graph_input(g, "i", T(ANET_DT_INT32, 2, 3, 5, 0, 0, 0));
    f32 = anet_graph_input(g, "f32", T(ANET_DT_FP32, 2, 3, 5, 0, 0, 0));
    for (size_t k = 0; k < sizeof bin / sizeof bin[0]; k++) {
        int r = anet_b_binary(g, bin[k], NULL, a, b);
        SHAPE(g, r, ANET_DT_FP16, 2, 1, 3, 5);
        r = anet_b_binary(g, bin[k], NULL, b, a); /* symmetric */
        SHAPE(g, r, ANET_DT_FP16, 2, 1, 3, 5);
    }
    anet_opkind cmp[] = {ANET_OP_GREATER, ANET_OP_GREATER_EQUAL, ANET_OP_LESS, ANET_OP_EQUAL};
    int lastcmp = -1;
    for (size_t k = 0; k < 4; k++) {
        lastcmp = anet_b_binary(g, cmp[k], NULL, b, a);
        SHAPE(g, lastcmp, ANET_DT_BOOL, 2, 1, 3, 5);
    }
    int ii = anet_b_binary(g, ANET_OP_ADD, NULL, i, i);
    SHAPE(g, ii, ANET_DT_INT32, 3, 5);
    int sc = anet_graph_const_fp16(g, "two", 2.0f);
    int rs = anet_b_binary(g, ANET_OP_MUL, "scaled", b, sc);
    SHAPE(g, rs, ANET_DT_FP16, 3, 5);
    CHECK(rs >= 0 && strcmp(g->values[rs].name, "scaled") == 0);
    FAILS(anet_b_binary(g, ANET_OP_ADD, "bad_bc", b, c), "add 'bad_bc': shapes do not broadcast: x is [3,5], y is [4,5]");
    FAILS(anet_b_binary(g, ANET_OP_ADD, "bad_dt", b, f32), "x is fp16 but y is fp32");
    FAILS(anet_b_binary(g, ANET_OP_REAL_DIV, "idiv", i, i), "needs fp16 or fp32");
    FAILS(anet_b_binary(g, ANET_OP_ADD, "booladd", lastcmp, lastcmp), "bool");
    FAILS(anet_b_binary(g, ANET_OP_ADD, "scaled", b, b), "already used");
    FAILS(anet_b_binary(g, ANET_OP_ADD, NULL, b, 12345), "names no value");
    {
        const char *keys[] = {"x", "z"};
        int v[] = {b, b};
        FAILS(anet_graph_op(g, ANET_OP_ADD, "badkey", 2, keys, v), "unknown argument 'z'");
        FAILS(anet_graph_op(g, ANET_OP_ADD, "onlyx", 1, keys, v), "missing argument 'y'");
    }

    /* select: cond broadcasts with a and b */
    int cond = anet_b_binary(g, ANET_OP_GREATER, "cond", b, sc); /* [3,5] bool */
    int s = anet_b_select(g, "sel", cond, a, b);
    SHAPE(g, s, ANET_DT_FP16, 2, 1, 3, 5);
    FAILS(anet_b_select(g, "sel2", b, a, b), "cond must be bool");
    FAILS(anet_b_select(g, "sel3", cond, b, f32), "a is fp16 but b is fp32");
    FAILS(anet_b_select(g, "sel4", cond, c, c), "do not broadcast");

    /* unary */
    anet_opkind un[] = {ANET_OP_RELU, ANET_OP_SIGMOID, ANET_OP_TANH, ANET_OP_EXP, ANET_OP_LOG, ANET_OP_SQRT,
                        ANET_OP_RSQRT, ANET_OP_ABS, ANET_OP_SQUARE, ANET_OP_GELU, ANET_OP_IDENTITY};
    for (size_t k = 0; k < sizeof un / sizeof un[0]; k++) {
        int r = anet_b_unary(g, un[k], NULL, a);
        SHAPE(g, r, ANET_DT_FP16, 2, 1, 3, 1);
    }
    FAILS(anet_b_unary(g, ANET_OP_EXP, "iexp", i), "exp 'iexp': needs fp16 or fp32, got int32");
    SHAPE(g, anet_b_unary(g, ANET_OP_ABS, NULL, i), ANET_DT_INT32, 3, 5);
    SHAPE(g, anet_b_unary(g, ANET_OP_IDENTITY, NULL, lastcmp), ANET_DT_BOOL, 2, 1, 3, 5);
    {
        int mode = anet_graph_const_string(g, "gmode", "TANH_APPROXIMATION");
        int badmode = anet_graph_const_string(g, "gbad", "CUBIC");
        const char *keys[] = {"x", "mode"};
        int v[] = {b, mode};
        SHAPE(g, anet_graph_op(g, ANET_OP_GELU, "gelu_t", 2, keys, v), ANET_DT_FP16, 3, 5);
        v[1] = badmode;
        FAILS(anet_graph_op(g, ANET_OP_GELU, "gelu_b", 2, keys, v), "unknown gelu mode 'CUBIC'");
        v[1] = b; /* mode must be a const */
        FAILS(anet_graph_op(g, ANET_OP_GELU, "gelu_c", 2, keys, v), "'mode' must be a const");
        int eps = anet_graph_const_fp16(g, "eps", 1e-3f);
        const char *k2[] = {"x", "epsilon"};
        int v2[] = {b, eps};
        SHAPE(g, anet_graph_op(g, ANET_OP_RSQRT, "rs_eps", 2, k2, v2), ANET_DT_FP16, 3, 5);
        v2[0] = f32; /* fp16 epsilon with fp32 x is fine (Apple pairs fp32 eps with fp16 x) */
        SHAPE(g, anet_graph_op(g, ANET_OP_LOG, "log_eps", 2, k2, v2), ANET_DT_FP32, 3, 5);
        v2[1] = anet_graph_const_int32(g, NULL, 1);
        FAILS(anet_graph_op(g, ANET_OP_RSQRT, "rs_eps2", 2, k2, v2), "epsilon must be an fp16 or fp32 scalar");
    }

    /* cast */
    int c32 = anet_b_cast(g, "to32", b, ANET_DT_FP32);
    SHAPE(g, c32, ANET_DT_FP32, 3, 5);
    SHAPE(g, anet_b_cast(g, "toi", b, ANET_DT_INT32), ANET_DT_INT32, 3, 5);
    SHAPE(g, anet_b_cast(g, "tob", b, ANET_DT_BOOL), ANET_DT_BOOL, 3, 5);
    SHAPE(g, anet_b_cast(g, "to16", f32, ANET_DT_FP16), ANET_DT_FP16, 3, 5);
    FAILS(anet_b_cast(g, "tou64", b, ANET_DT_UINT64), "cannot cast to 'uint64'");
    {
        const char *keys[] = {"x", "dtype"};
        int v[] = {b, anet_graph_const_int32(g, NULL, 3)};
        FAILS(anet_graph_op(g, ANET_OP_CAST, "castint", 2, keys, v), "'dtype' must be a string");
    }
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    anet_graph_free(g);
}

static void test_reductions_softmax(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", F16(4, 1, 64, 1, 32));
    int32_t ax1[] = {1}, ax13[] = {1, -1}, axbad[] = {4}, axrep[] = {1, -3};
    anet_opkind red[] = {ANET_OP_REDUCE_SUM, ANET_OP_REDUCE_MEAN, ANET_OP_REDUCE_MAX};
    for (int k = 0; k < 3; k++) {
        SHAPE(g, anet_b_reduce(g, red[k], NULL, x, 1, ax1, 1), ANET_DT_FP16, 1, 1, 1, 32);
        SHAPE(g, anet_b_reduce(g, red[k], NULL, x, 1, ax1, 0), ANET_DT_FP16, 1, 1, 32);
        SHAPE(g, anet_b_reduce(g, red[k], NULL, x, 2, ax13, 0), ANET_DT_FP16, 1, 1);
        SHAPE(g, anet_b_reduce(g, red[k], NULL, x, 2, ax13, 1), ANET_DT_FP16, 1, 1, 1, 1);
    }
    int all = anet_b_reduce(g, ANET_OP_REDUCE_SUM, "all", x, 0, NULL, 0); /* no axes: everything */
    SCALAR(g, all, ANET_DT_FP16);
    FAILS(anet_b_reduce(g, ANET_OP_REDUCE_SUM, "rb", x, 1, axbad, 0), "axis 4 out of range for rank 4");
    FAILS(anet_b_reduce(g, ANET_OP_REDUCE_SUM, "rr", x, 2, axrep, 0), "repeated");
    {
        int fa = anet_graph_const_fp16(g, NULL, 1.0f);
        const char *keys[] = {"x", "axes"};
        int v[] = {x, fa};
        FAILS(anet_graph_op(g, ANET_OP_REDUCE_MAX, "rf", 2, keys, v), "'axes' must be a 1-D int32 tensor");
    }
    SHAPE(g, anet_b_softmax(g, "sm", x, 1), ANET_DT_FP16, 1, 64, 1, 32);
    SHAPE(g, anet_b_softmax(g, "sm2", x, -1), ANET_DT_FP16, 1, 64, 1, 32);
    FAILS(anet_b_softmax(g, "sm3", x, 4), "axis 4 out of range");
    FAILS(anet_b_softmax(g, "sm4", x, -5), "axis -5 out of range");
    {
        const char *keys[] = {"x"};
        SHAPE(g, anet_graph_op(g, ANET_OP_SOFTMAX, "sm_default", 1, keys, &x), ANET_DT_FP16, 1, 64, 1, 32);
        int xa = anet_graph_input(g, "xa", T(ANET_DT_INT32, 0, 0, 0, 0, 0, 0)); /* axis not const */
        const char *k2[] = {"x", "axis"};
        int v2[] = {x, xa};
        FAILS(anet_graph_op(g, ANET_OP_SOFTMAX, "sm5", 2, k2, v2), "'axis' must be a const");
    }
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    anet_graph_free(g);
}

static void test_matmul_linear(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", F16(3, 1, 128, 784));
    int w = anet_graph_input(g, "w", F16(2, 784, 64));
    int wt = anet_graph_input(g, "wt", F16(2, 64, 784));
    int y = anet_graph_input(g, "y", F16(3, 1, 10, 64));
    int bx = anet_graph_input(g, "bx", F16(4, 2, 1, 5, 6));
    int by = anet_graph_input(g, "by", F16(3, 3, 6, 7));
    int v1 = anet_graph_input(g, "v1", F16(1, 6));
    int v2 = anet_graph_input(g, "v2", F16(1, 7));
    SHAPE(g, anet_b_matmul(g, NULL, x, w, 0, 0), ANET_DT_FP16, 1, 128, 64);
    SHAPE(g, anet_b_matmul(g, NULL, x, wt, 0, 1), ANET_DT_FP16, 1, 128, 64);
    SHAPE(g, anet_b_matmul(g, NULL, wt, x, 0, 1), ANET_DT_FP16, 1, 64, 128);
    SHAPE(g, anet_b_matmul(g, NULL, w, x, 1, 1), ANET_DT_FP16, 1, 64, 128);
    SHAPE(g, anet_b_matmul(g, NULL, bx, by, 0, 0), ANET_DT_FP16, 2, 3, 5, 7); /* batch broadcast */
    SHAPE(g, anet_b_matmul(g, NULL, v1, by, 0, 0), ANET_DT_FP16, 3, 7);       /* rank-1 x */
    SHAPE(g, anet_b_matmul(g, NULL, by, v2, 0, 0), ANET_DT_FP16, 3, 6);       /* rank-1 y */
    SCALAR(g, anet_b_matmul(g, NULL, v1, v1, 0, 0), ANET_DT_FP16);
    FAILS(anet_b_matmul(g, "op_3", x, y, 0, 0), "matmul 'op_3': inner dims differ: x is [1,128,784], y is [1,10,64]");
    int bz = anet_graph_input(g, "bz", F16(4, 4, 1, 6, 7));
    FAILS(anet_b_matmul(g, "mm_bb", bx, bz, 0, 0), "shapes do not broadcast: x batch is [2,1], y batch is [4,1]");
    {
        const char *keys[] = {"x", "y"}; /* transpose flags default to false */
        int v[] = {x, w};
        SHAPE(g, anet_graph_op(g, ANET_OP_MATMUL, "mm_def", 2, keys, v), ANET_DT_FP16, 1, 128, 64);
        const char *keys3[] = {"x", "y", "transpose_x"};
        int v3[] = {x, w, anet_graph_const_int32(g, NULL, 1)};
        FAILS(anet_graph_op(g, ANET_OP_MATMUL, "mm_int", 3, keys3, v3), "'transpose_x' must be a bool scalar");
    }
    /* linear: weight [out, in] */
    int lw = anet_graph_input(g, "lw", F16(2, 10, 784));
    int lb = anet_graph_input(g, "lb", F16(1, 10));
    int lbad = anet_graph_input(g, "lbad", F16(1, 11));
    SHAPE(g, anet_b_linear(g, "lin", x, lw, lb), ANET_DT_FP16, 1, 128, 10);
    SHAPE(g, anet_b_linear(g, "lin_nb", x, lw, -1), ANET_DT_FP16, 1, 128, 10);
    FAILS(anet_b_linear(g, "lin_bad", x, w, -1), "inner dims differ: x is [1,128,784], weight is [784,64]");
    FAILS(anet_b_linear(g, "lin_bb", x, lw, lbad), "bias is [11], expected [10]");
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    anet_graph_free(g);
}

static void test_conv_pool(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", F16(4, 1, 3, 28, 28));
    int w = anet_graph_input(g, "w", F16(4, 8, 3, 5, 5));
    int wg = anet_graph_input(g, "wg", F16(4, 8, 1, 3, 3)); /* depthwise-ish: groups 3 needs C_out % 3 */
    int w1 = anet_graph_input(g, "w1", F16(4, 6, 1, 3, 3));
    int b = anet_graph_input(g, "b", F16(1, 8));
    int32_t s2[] = {2, 2}, p1[] = {1, 1, 2, 2}, d2[] = {2, 2};
    /* valid: (28-5)/1+1 = 24 */
    SHAPE(g, anet_b_conv(g, "cv", x, w, -1, NULL, NULL, NULL, NULL, 1), ANET_DT_FP16, 1, 8, 24, 24);
    SHAPE(g, anet_b_conv(g, "cvb", x, w, b, NULL, NULL, NULL, NULL, 1), ANET_DT_FP16, 1, 8, 24, 24);
    /* stride 2 valid: floor(23/2)+1 = 12 */
    SHAPE(g, anet_b_conv(g, "cv_s2", x, w, -1, s2, "valid", NULL, NULL, 1), ANET_DT_FP16, 1, 8, 12, 12);
    /* same, stride 2: ceil(28/2) = 14 */
    SHAPE(g, anet_b_conv(g, "cv_same", x, w, -1, s2, "same", NULL, NULL, 1), ANET_DT_FP16, 1, 8, 14, 14);
    /* custom pad H 1+1, W 2+2: H (28+2-5)+1 = 26, W (28+4-5)+1 = 28 */
    SHAPE(g, anet_b_conv(g, "cvpad", x, w, -1, NULL, "custom", p1, NULL, 1), ANET_DT_FP16, 1, 8, 26, 28);
    /* dilation 2: effective kernel 9 -> 20 */
    SHAPE(g, anet_b_conv(g, "cv_dil", x, w, -1, NULL, NULL, NULL, d2, 1), ANET_DT_FP16, 1, 8, 20, 20);
    /* groups 3: weight C_in/groups = 1, C_out 6 */
    SHAPE(g, anet_b_conv(g, "cv_g", x, w1, -1, NULL, NULL, NULL, NULL, 3), ANET_DT_FP16, 1, 6, 26, 26);
    FAILS(anet_b_conv(g, "cv_gbad", x, wg, -1, NULL, NULL, NULL, NULL, 2), "groups 2 does not divide 3");
    FAILS(anet_b_conv(g, "cv_ch", x, w1, -1, NULL, NULL, NULL, NULL, 1), "channels differ");
    FAILS(anet_b_conv(g, "cv_pt", x, w, -1, NULL, "reflect", NULL, NULL, 1), "pad_type 'reflect'");
    {
        int big = anet_graph_input(g, "bigk", F16(4, 8, 3, 29, 29));
        FAILS(anet_b_conv(g, "cv_big", x, big, -1, NULL, NULL, NULL, NULL, 1), "window does not fit");
        int x2 = anet_graph_input(g, "x2", F16(2, 3, 28));
        FAILS(anet_b_conv(g, "cv_r2", x2, w, -1, NULL, NULL, NULL, NULL, 1), "rank 3..5");
        /* custom pad_type without pad */
        const char *keys[] = {"x", "weight", "pad_type"};
        int v[] = {x, w, anet_graph_const_string(g, NULL, "custom")};
        FAILS(anet_graph_op(g, ANET_OP_CONV, "cv_nopad", 3, keys, v), "missing argument 'pad'");
        int32_t p3[] = {1, 1, 1};
        int v2[] = {x, w, anet_graph_const_int32s(g, NULL, 3, p3)};
        const char *keys2[] = {"x", "weight", "strides"};
        FAILS(anet_graph_op(g, ANET_OP_CONV, "cv_s3", 3, keys2, v2), "'strides' has 3 elements, expected 2");
    }
    /* 1-D conv: x [1, 4, 10], weight [2, 4, 3] -> [1, 2, 8] */
    int x1 = anet_graph_input(g, "x1d", F16(3, 1, 4, 10));
    int w1d = anet_graph_input(g, "w1d", F16(3, 2, 4, 3));
    SHAPE(g, anet_b_conv(g, "cv1d", x1, w1d, -1, NULL, NULL, NULL, NULL, 1), ANET_DT_FP16, 1, 2, 8);

    /* conv_transpose: weight [C_in, C_out/groups, k...]; valid: (in-1)*s + k */
    int xt = anet_graph_input(g, "xt", F16(4, 1, 8, 7, 7));
    int wt = anet_graph_input(g, "wt", F16(4, 8, 4, 3, 3));
    SHAPE(g, anet_b_conv_transpose(g, "ct", xt, wt, -1, s2, NULL, NULL, NULL, 1, NULL), ANET_DT_FP16, 1, 4, 15, 15);
    int32_t pt[] = {1, 1, 1, 1};
    SHAPE(g, anet_b_conv_transpose(g, "ct_p", xt, wt, -1, s2, "custom", pt, NULL, 1, NULL), ANET_DT_FP16, 1, 4, 13, 13);
    SHAPE(g, anet_b_conv_transpose(g, "ct_same", xt, wt, -1, s2, "same", NULL, NULL, 1, NULL), ANET_DT_FP16, 1, 4, 14, 14);
    int32_t os[] = {1, 4, 16, 16}, osbad[] = {1, 4, 17, 17};
    SHAPE(g, anet_b_conv_transpose(g, "ct_os", xt, wt, -1, s2, NULL, NULL, NULL, 1, os), ANET_DT_FP16, 1, 4, 16, 16);
    FAILS(anet_b_conv_transpose(g, "ct_osb", xt, wt, -1, s2, NULL, NULL, NULL, 1, osbad), "not reachable");
    FAILS(anet_b_conv_transpose(g, "ct_ch", x, wt, -1, NULL, NULL, NULL, NULL, 1, NULL), "channels differ");

    /* pooling: kernel 2 stride 2 on 28 -> 14; kernel 3 stride 2 valid -> 13; same -> 14 */
    int32_t k2[] = {2, 2}, k3[] = {3, 3}, k0[] = {0, 2};
    anet_opkind pk[] = {ANET_OP_MAX_POOL, ANET_OP_AVG_POOL};
    for (int i = 0; i < 2; i++) {
        SHAPE(g, anet_b_pool(g, pk[i], NULL, x, k2, s2, NULL, NULL), ANET_DT_FP16, 1, 3, 14, 14);
        SHAPE(g, anet_b_pool(g, pk[i], NULL, x, k3, s2, "valid", NULL), ANET_DT_FP16, 1, 3, 13, 13);
        SHAPE(g, anet_b_pool(g, pk[i], NULL, x, k3, s2, "same", NULL), ANET_DT_FP16, 1, 3, 14, 14);
        SHAPE(g, anet_b_pool(g, pk[i], NULL, x, k3, NULL, "custom", p1), ANET_DT_FP16, 1, 3, 28, 30);
        FAILS(anet_b_pool(g, pk[i], NULL, x, k0, s2, NULL, NULL), "kernel size 0");
    }
    {
        const char *keys[] = {"x", "strides"};
        int v[] = {x, anet_graph_const_int32s(g, NULL, 2, s2)};
        FAILS(anet_graph_op(g, ANET_OP_MAX_POOL, "mp_nok", 2, keys, v), "missing argument 'kernel_sizes'");
        /* ceil_mode: (28-3)/2 = 12.5 -> 13+1 = 14 */
        int ck = anet_graph_const_int32s(g, NULL, 2, k3), cm = anet_graph_const_bool(g, NULL, 1);
        const char *k4[] = {"x", "kernel_sizes", "strides", "ceil_mode"};
        int v4[] = {x, ck, v[1], cm};
        SHAPE(g, anet_graph_op(g, ANET_OP_MAX_POOL, "mp_ceil", 4, k4, v4), ANET_DT_FP16, 1, 3, 14, 14);
        FAILS(anet_graph_op(g, ANET_OP_AVG_POOL, "ap_conv_key", 4, (const char *[]){"x", "kernel_sizes", "strides", "groups"}, v4), "unknown argument 'groups'");
    }
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    anet_graph_free(g);
}

static void test_shape_ops(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int x = anet_graph_input(g, "x", F16(4, 1, 64, 1, 32));
    int32_t s1[] = {1, -1}, s2[] = {2, 32, 32}, s3[] = {-1, -1}, s4[] = {3, -1}, s5[] = {1, 0},
            s6[] = {2, 2, 2, 2, 2, 2}, s7[] = {4096, 4096, 4096, 1, -1};
    SHAPE(g, anet_b_reshape(g, NULL, x, 2, s1), ANET_DT_FP16, 1, 2048);
    SHAPE(g, anet_b_reshape(g, NULL, x, 3, s2), ANET_DT_FP16, 2, 32, 32);
    FAILS(anet_b_reshape(g, NULL, x, 2, s3), "-1 more than once");
    FAILS(anet_b_reshape(g, NULL, x, 2, s4), "not a multiple of 3");
    FAILS(anet_b_reshape(g, NULL, x, 2, s5), "dim 0");
    FAILS(anet_b_reshape(g, NULL, x, 6, s6), "more than 5 elements");
    FAILS(anet_b_reshape(g, NULL, x, 5, s7), "2^31");
    int32_t p[] = {0, 3, 2, 1}, pn[] = {0, -1, 2, 1}, pbad[] = {0, 1, 1, 2}, pshort[] = {0, 1, 2};
    SHAPE(g, anet_b_transpose(g, NULL, x, 4, p), ANET_DT_FP16, 1, 32, 1, 64);
    SHAPE(g, anet_b_transpose(g, NULL, x, 4, pn), ANET_DT_FP16, 1, 32, 1, 64);
    FAILS(anet_b_transpose(g, "tp_bad", x, 4, pbad), "transpose 'tp_bad': perm is not a permutation of 0..3");
    FAILS(anet_b_transpose(g, "tp_short", x, 3, pshort), "perm has 3 entries for rank 4");
    int32_t b0[] = {0, 16, 0, 8}, z0[] = {1, 16, 1, -1}, bb[] = {0, 64, 0, 0}, zb[] = {1, 49, 1, 1},
            bneg[] = {0, -16, 0, 0}, z1[] = {1, -1, 1, 32};
    SHAPE(g, anet_b_slice_by_size(g, NULL, x, 4, b0, z0), ANET_DT_FP16, 1, 16, 1, 24);
    SHAPE(g, anet_b_slice_by_size(g, NULL, x, 4, bneg, z1), ANET_DT_FP16, 1, 16, 1, 32);
    FAILS(anet_b_slice_by_size(g, NULL, x, 4, bb, z0), "begin 64 out of range on axis 1 of [1,64,1,32]");
    FAILS(anet_b_slice_by_size(g, NULL, x, 4, b0, zb), "size 49 at begin 16 exceeds axis 1");
    FAILS(anet_b_slice_by_size(g, NULL, x, 3, b0, z0), "'begin' has 3 elements, expected 4");

    int y = anet_graph_input(g, "y", F16(4, 1, 16, 1, 32));
    int z = anet_graph_input(g, "z", F16(4, 1, 16, 1, 31));
    int zi = anet_graph_input(g, "zi", T(ANET_DT_INT32, 4, 1, 16, 1, 32, 0));
    int vals[] = {x, y, y};
    SHAPE(g, anet_b_concat(g, "cat", 3, vals, 1, 0), ANET_DT_FP16, 1, 96, 1, 32);
    SHAPE(g, anet_b_concat(g, "cat_neg", 2, vals, -3, 0), ANET_DT_FP16, 1, 80, 1, 32);
    int vy[] = {y, y};
    SHAPE(g, anet_b_concat(g, "cat_il", 2, vy, 1, 1), ANET_DT_FP16, 1, 32, 1, 32);
    FAILS(anet_b_concat(g, "cat_il2", 2, vals, 1, 1), "values[1] is fp16 [1,16,1,32], values[0] is fp16 [1,64,1,32]");
    int vz[] = {y, z};
    FAILS(anet_b_concat(g, "cat_z", 2, vz, 1, 0), "values[1] is fp16 [1,16,1,31]");
    int vzi[] = {y, zi};
    FAILS(anet_b_concat(g, "cat_zi", 2, vzi, 1, 0), "values[1] is int32");
    FAILS(anet_b_concat(g, "cat_ax", 2, vy, 4, 0), "axis 4 out of range");
    {
        /* concat via anet_graph_op: repeated "values" keys merge into one tuple */
        const char *keys[] = {"values", "values", "axis"};
        int v[] = {y, y, anet_graph_const_int32(g, NULL, 3)};
        int r = anet_graph_op(g, ANET_OP_CONCAT, "cat_op", 3, keys, v);
        SHAPE(g, r, ANET_DT_FP16, 1, 16, 1, 64);
        const anet_arg *a = r >= 0 ? anet_op_arg(&g->ops[g->values[r].producer], "values") : NULL;
        CHECK(a && a->n == 2 && a->is_tuple);
        const char *k1[] = {"axis"};
        FAILS(anet_graph_op(g, ANET_OP_CONCAT, "cat_nov", 1, k1, &v[2]), "missing argument 'values'");
    }
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    anet_graph_free(g);
}

static void test_raw_and_unknown(void) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS16);
    int x = anet_graph_input(g, "x", F16(2, 1, 10));
    int y = anet_graph_input(g, "y", F16(2, 1, 10));
    int xv[] = {x}, yv[] = {y};
    anet_arg args[2] = {{"x", 1, xv, 0}, {"y", 1, yv, 0}};
    anet_type decl = F16(2, 1, 10), wrong = F16(2, 1, 11);
    const char *on[] = {"var_3"};
    int op = anet_graph_op_raw(g, "mul", "op_3_cast_fp16", 2, args, 1, on, &decl);
    CHECK(op >= 0 && g->ops[op].kind == ANET_OP_MUL && strcmp(g->ops[op].name, "op_3_cast_fp16") == 0);
    CHECK(op >= 0 && strcmp(g->values[g->ops[op].outputs[0]].name, "var_3") == 0);
    const char *on2[] = {"var_4"};
    anet_clear_error();
    CHECK(anet_graph_op_raw(g, "mul", "op_4", 2, args, 1, on2, &wrong) < 0);
    CHECK_STR_CONTAINS(anet_last_error(), "output declared tensor<fp16, [1, 11]>, inferred tensor<fp16, [1, 10]>");
    /* duplicated op name, duplicated output name */
    CHECK(anet_graph_op_raw(g, "mul", "op_3_cast_fp16", 2, args, 1, on2, &decl) < 0);
    CHECK(anet_graph_op_raw(g, "mul", "op_5", 2, args, 1, on, &decl) < 0);
    /* unknown op: kept as written with its declared types */
    anet_type two[2] = {F16(2, 1, 5), T(ANET_DT_INT32, 1, 3, 0, 0, 0, 0)};
    const char *on3[] = {"u0", "u1"};
    int u = anet_graph_op_raw(g, "layer_norm", "ln", 1, args, 2, on3, two);
    CHECK(u >= 0 && g->ops[u].kind == ANET_OP_UNKNOWN && strcmp(g->ops[u].type, "layer_norm") == 0 && g->ops[u].noutputs == 2);
    CHECK(u >= 0 && anet_type_equal(&g->values[g->ops[u].outputs[1]].type, &two[1]));
    CHECK(anet_graph_op_raw(g, "layer_norm", "ln2", 1, args, 0, NULL, NULL) < 0);
    anet_type bad = F16(3, 65536, 65536, 65536);
    const char *on4[] = {"u9"};
    CHECK(anet_graph_op_raw(g, "mystery", "m9", 1, args, 1, on4, &bad) < 0);
    anet_type o;
    int n;
    CHECK(anet_infer(g, &g->ops[u], &o, 1, &n) == ANET_E_UNSUPPORTED);
    /* tuple where a single value is wanted */
    int xy[] = {x, y};
    anet_arg targs[2] = {{"x", 2, xy, 1}, {"y", 1, yv, 0}};
    anet_clear_error();
    CHECK(anet_graph_op_raw(g, "add", "tup", 2, targs, 0, NULL, NULL) < 0);
    CHECK_STR_CONTAINS(anet_last_error(), "argument 'x' must be a single value");
    /* repeated key */
    anet_arg rargs[2] = {{"x", 1, xv, 0}, {"x", 1, yv, 0}};
    CHECK(anet_graph_op_raw(g, "add", "rep", 2, rargs, 0, NULL, NULL) < 0);
    CHECK(anet_graph_op_raw(g, "const", "k", 0, NULL, 0, NULL, NULL) < 0);
    CHECK_MSG(anet_graph_verify(g) == ANET_OK, "%s", anet_last_error());
    anet_graph_free(g);
}

int main(void) {
    test_basics();
    test_graph_names_consts();
    test_elementwise();
    test_reductions_softmax();
    test_matmul_linear();
    test_conv_pool();
    test_shape_ops();
    test_raw_and_unknown();
    TEST_MAIN_END();
}
