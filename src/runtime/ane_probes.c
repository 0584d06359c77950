/* The probe ladder's programs and their float64 references (see ane_probes.h). Every probe
 * is one small program built with the graph builder; its reference is written here from
 * the op's definition, independently of vane's fp16 kernels. */
#include "runtime/ane_probes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_sig.h"

typedef enum kind {
    K_SUM,        /* out = in_a + in_b + ... (one input: in_a + in_a) */
    K_BCAST_ADD,  /* out = in_a + in_b, in_b broadcast */
    K_BCAST_MUL,  /* out = in_a * in_b, in_b broadcast */
    K_CONST_MUL,  /* out = in_a * 0.5 (a scalar constant) */
    K_MATMUL,     /* out = in_a[M,K] @ in_b[K,N] */
    K_CONV,       /* out = conv1x1(in_a [1,Ci,1,S], weight in_b [Co,Ci,1,1]) */
    K_RSUM,       /* out = reduce_sum(in_a, axis) */
    K_RMAX,       /* out = reduce_max(in_a, axis) */
    K_RESHAPE,    /* r = reshape(in_a [1,8,4,32] -> [1,32,1,32]); out = r + r */
    K_TRANSPOSE,  /* t = transpose(in_a, [0,3,2,1]); out = t + t */
    K_SELECT,     /* out = select(in_a > in_b, in_a, in_b) */
    K_LOG,        /* out = log(in_a) */
    K_LOG_EPS,    /* out = log(in_a + eps), eps a full-shape constant */
    K_IDENTITY,   /* out = in_a itself (the program's output is its input) */
    K_IDENTITY2,  /* outputs (in_a + in_b, in_b) */
    K_ORDER_UP,   /* inputs ascend in size, outputs descend: out_a = 2 in_b, out_b = 2 in_a */
    K_ORDER_DOWN, /* inputs descend, outputs ascend: same program with the sizes swapped */
    K_NAMES       /* inputs x, c; mul = x * c; y = mul + x */
} kind;

typedef struct spec {
    anet_probe_info info;
    kind k;
    int nin;
    int64_t a[4], b[4]; /* shapes of in_a and of the others */
    int axis;
} spec;

#define D_ANY -1
#define S4(p, q, r, s) {p, q, r, s}

/* The ladder, least risky first: what every program needs, then forms peers use, then
 * forms reported to fail, then what is reported to hang. */
static const spec probes[] = {
    {{"baseline_add", "io-shape-1c1s", "a + b on [1,8,1,32] fp16", 0, D_ANY}, K_SUM, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"dialect_ios18", "dialect-ios16", "a + b in program(1.3)/ios18", 1, ANET_MIL_IOS18}, K_SUM, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"dialect_ios16", "dialect-ios16", "a + b in program(1.0)/ios16", 0, ANET_MIL_IOS16}, K_SUM, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"width_s800", "io-width-mult32", "a + b on [1,4,1,800] (S a multiple of 32)", 0, D_ANY}, K_SUM, 2, S4(1, 4, 1, 800), S4(1, 4, 1, 800), 0},
    {{"width_s16", "io-width-mult32", "a + b on [1,8,1,16] (32-byte rows)", 1, D_ANY}, K_SUM, 2, S4(1, 8, 1, 16), S4(1, 8, 1, 16), 0},
    {{"width_s1", "io-width-mult32", "a + b on [1,8,1,1] (2-byte rows)", 1, D_ANY}, K_SUM, 2, S4(1, 8, 1, 1), S4(1, 8, 1, 1), 0},
    {{"width_s784", "io-width-mult32", "a + b on [1,4,1,784] (rows not a multiple of 64 bytes)", 1, D_ANY}, K_SUM, 2, S4(1, 4, 1, 784), S4(1, 4, 1, 784), 0},
    {{"shape_1hw", "io-shape-1c1s", "a + b on [1,1,16,32] (rows in H)", 1, D_ANY}, K_SUM, 2, S4(1, 1, 16, 32), S4(1, 1, 16, 32), 0},
    {{"shape_1hw_w784", "io-shape-1c1s", "a + b on [1,1,16,784] (a weight matrix as [1,1,H,W])", 1, D_ANY}, K_SUM, 2, S4(1, 1, 16, 784), S4(1, 1, 16, 784), 0},
    {{"shape_scalar", "io-shape-1c1s", "a + b on [1,1,1,1] (scalar I/O)", 1, D_ANY}, K_SUM, 2, S4(1, 1, 1, 1), S4(1, 1, 1, 1), 0},
    {{"inputs_1", "max-inputs", "1 input: a + a", 0, D_ANY}, K_SUM, 1, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_2", "max-inputs", "sum of 2 inputs", 1, D_ANY}, K_SUM, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_3", "max-inputs", "sum of 3 inputs", 1, D_ANY}, K_SUM, 3, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_4", "max-inputs", "sum of 4 inputs", 1, D_ANY}, K_SUM, 4, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_5", "max-inputs", "sum of 5 inputs", 1, D_ANY}, K_SUM, 5, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_6", "max-inputs", "sum of 6 inputs", 1, D_ANY}, K_SUM, 6, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_7", "max-inputs", "sum of 7 inputs", 1, D_ANY}, K_SUM, 7, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"inputs_8", "max-inputs", "sum of 8 inputs", 1, D_ANY}, K_SUM, 8, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"bias_channel_add", "broadcast-channel", "[1,8,1,32] + [1,8,1,1]", 1, D_ANY}, K_BCAST_ADD, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 1), 0},
    {{"bias_channel_mul", "broadcast-channel", "[1,8,1,32] * [1,8,1,1]", 1, D_ANY}, K_BCAST_MUL, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 1), 0},
    {{"bias_row_add", "broadcast-channel", "[1,8,1,32] + [1,1,1,32] (one row for every channel)", 1, D_ANY}, K_BCAST_ADD, 2, S4(1, 8, 1, 32), S4(1, 1, 1, 32), 0},
    {{"scalar_input_mul", "broadcast-scalar", "[1,8,1,32] * a [1,1,1,1] input", 1, D_ANY}, K_BCAST_MUL, 2, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"scalar_const_mul", "broadcast-scalar", "[1,8,1,32] * 0.5 (scalar constant)", 1, D_ANY}, K_CONST_MUL, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"matmul_k32", "matmul-dynamic", "matmul of two inputs [8,32] x [32,32]", 1, D_ANY}, K_MATMUL, 2, S4(1, 1, 8, 32), S4(1, 1, 32, 32), 0},
    {{"matmul_k800", "matmul-contraction-32", "matmul of two inputs, contraction 800", 0, D_ANY}, K_MATMUL, 2, S4(1, 1, 8, 800), S4(1, 1, 800, 32), 0},
    {{"matmul_k784", "matmul-contraction-32", "matmul of two inputs, contraction 784", 1, D_ANY}, K_MATMUL, 2, S4(1, 1, 8, 784), S4(1, 1, 784, 32), 0},
    {{"conv1x1_runtime_w", "conv1x1-runtime-weights", "1x1 conv [1,32,1,32] with a [16,32,1,1] weight input", 1, D_ANY}, K_CONV, 2, S4(1, 32, 1, 32), S4(16, 32, 1, 1), 0},
    {{"reduce_sum_c", "runtime-input-layout-ops", "reduce_sum over C of an input [1,8,4,32]", 1, D_ANY}, K_RSUM, 1, S4(1, 8, 4, 32), S4(1, 1, 1, 1), 1},
    {{"reduce_sum_h", "runtime-input-layout-ops", "reduce_sum over H of an input [1,8,4,32]", 1, D_ANY}, K_RSUM, 1, S4(1, 8, 4, 32), S4(1, 1, 1, 1), 2},
    {{"reduce_sum_w", "runtime-input-layout-ops", "reduce_sum over W of an input [1,8,4,32]", 1, D_ANY}, K_RSUM, 1, S4(1, 8, 4, 32), S4(1, 1, 1, 1), 3},
    {{"reduce_max_w", "runtime-input-layout-ops", "reduce_max over W of an input [1,8,4,32]", 1, D_ANY}, K_RMAX, 1, S4(1, 8, 4, 32), S4(1, 1, 1, 1), 3},
    {{"reshape_input", "runtime-input-layout-ops", "reshape of an input [1,8,4,32] -> [1,32,1,32]", 1, D_ANY}, K_RESHAPE, 1, S4(1, 8, 4, 32), S4(1, 1, 1, 1), 0},
    {{"transpose_input", "runtime-input-layout-ops", "transpose of an input [1,8,1,32] -> [1,32,1,8]", 1, D_ANY}, K_TRANSPOSE, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"greater_select", "op-greater-select", "select(a > b, a, b) (the ReLU backward form)", 1, D_ANY}, K_SELECT, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"log_eps", "log-epsilon", "log(a + 0.001)", 0, D_ANY}, K_LOG_EPS, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"log_plain", "log-epsilon", "log(a)", 1, D_ANY}, K_LOG, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"identity_output", "identity-output", "the output is the input itself", 1, D_ANY}, K_IDENTITY, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"identity_mixed", "identity-output", "outputs (a + b, b): one passes an input through", 1, D_ANY}, K_IDENTITY2, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"io_order_ascending", "io-size-order", "inputs ascend in size, outputs descend", 0, D_ANY}, K_ORDER_UP, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 64), 0},
    {{"io_order_descending", "io-size-order", "inputs descend in size, outputs ascend", 1, D_ANY}, K_ORDER_DOWN, 2, S4(1, 8, 1, 64), S4(1, 8, 1, 32), 0},
    {{"reserved_names", "reserved-names", "values named x, c, mul, y", 1, D_ANY}, K_NAMES, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"elementwise_15872", "elementwise-max-16384", "a + b over 15872 elements [1,31,1,512]", 0, D_ANY}, K_SUM, 2, S4(1, 31, 1, 512), S4(1, 31, 1, 512), 0},
    {{"elementwise_16384", "elementwise-max-16384", "a + b over 16384 elements [1,32,1,512]", 0, D_ANY}, K_SUM, 2, S4(1, 32, 1, 512), S4(1, 32, 1, 512), 0},
    {{"elementwise_16416", "elementwise-max-16384", "a + b over 16416 elements [1,57,1,288]", 1, D_ANY}, K_SUM, 2, S4(1, 57, 1, 288), S4(1, 57, 1, 288), 0},
    {{"elementwise_32768", "elementwise-max-16384", "a + b over 32768 elements [1,64,1,512]", 1, D_ANY}, K_SUM, 2, S4(1, 64, 1, 512), S4(1, 64, 1, 512), 0},
};
#define NPROBES ((int)(sizeof probes / sizeof probes[0]))

int anet_probes_count(void) { return NPROBES; }
const anet_probe_info *anet_probe_get(int i) { return i >= 0 && i < NPROBES ? &probes[i].info : NULL; }
int anet_probe_find(const char *id) {
    for (int i = 0; id && i < NPROBES; i++)
        if (!strcmp(probes[i].info.id, id)) return i;
    return -1;
}

static const char *const outcome_names[ANET_PROBE_OUTCOMES_] = {
    "passed", "wrong_values", "compile_failed", "load_failed", "eval_failed", "timeout", "crashed", "error"};
const char *anet_probe_outcome_name(anet_probe_outcome o) {
    return o >= 0 && o < ANET_PROBE_OUTCOMES_ ? outcome_names[o] : "error";
}
int anet_probe_outcome_lookup(const char *s) {
    for (int i = 0; s && i < ANET_PROBE_OUTCOMES_; i++)
        if (!strcmp(outcome_names[i], s)) return i;
    return -1;
}

static anet_type t4(const int64_t *d) { return anet_type_make(ANET_DT_FP16, 4, d); }
static int64_t n4(const int64_t *d) { return d[0] * d[1] * d[2] * d[3]; }
static const char *const in_names[8] = {"in_a", "in_b", "in_c", "in_d", "in_e", "in_f", "in_g", "in_h"};

static int out1(anet_graph *g, int v) { return v < 0 ? -1 : (anet_graph_set_outputs(g, 1, &v) == ANET_OK ? 0 : -1); }

static int build(anet_graph *g, const spec *s) {
    int in[8];
    if (s->k == K_NAMES) {
        int x = anet_graph_input(g, "x", t4(s->a)), c = anet_graph_input(g, "c", t4(s->b));
        if (x < 0 || c < 0) return -1;
        int m = anet_b_binary(g, ANET_OP_MUL, "mul", x, c);
        return out1(g, anet_b_binary(g, ANET_OP_ADD, "y", m, x));
    }
    for (int k = 0; k < s->nin; k++)
        if ((in[k] = anet_graph_input(g, in_names[k], t4(k == 0 ? s->a : s->b))) < 0) return -1;
    int32_t axes[1] = {s->axis};
    switch (s->k) {
    case K_SUM: {
        if (s->nin == 1) return out1(g, anet_b_binary(g, ANET_OP_ADD, "out_y", in[0], in[0]));
        int acc = in[0];
        char nm[16];
        for (int k = 1; k < s->nin; k++) {
            snprintf(nm, sizeof nm, k == s->nin - 1 ? "out_y" : "t%d", k);
            acc = anet_b_binary(g, ANET_OP_ADD, nm, acc, in[k]);
        }
        return out1(g, acc);
    }
    case K_BCAST_ADD: return out1(g, anet_b_binary(g, ANET_OP_ADD, "out_y", in[0], in[1]));
    case K_BCAST_MUL: return out1(g, anet_b_binary(g, ANET_OP_MUL, "out_y", in[0], in[1]));
    case K_CONST_MUL: return out1(g, anet_b_binary(g, ANET_OP_MUL, "out_y", in[0], anet_graph_const_fp16(g, "half", 0.5f)));
    case K_MATMUL: return out1(g, anet_b_matmul(g, "out_y", in[0], in[1], 0, 0));
    case K_CONV: return out1(g, anet_b_conv(g, "out_y", in[0], in[1], -1, NULL, "valid", NULL, NULL, 1));
    case K_RSUM: return out1(g, anet_b_reduce(g, ANET_OP_REDUCE_SUM, "out_y", in[0], 1, axes, 1));
    case K_RMAX: return out1(g, anet_b_reduce(g, ANET_OP_REDUCE_MAX, "out_y", in[0], 1, axes, 1));
    case K_RESHAPE: {
        int32_t shape[4] = {1, 32, 1, 32};
        int r = anet_b_reshape(g, "t_r", in[0], 4, shape);
        return out1(g, anet_b_binary(g, ANET_OP_ADD, "out_y", r, r));
    }
    case K_TRANSPOSE: {
        int32_t perm[4] = {0, 3, 2, 1};
        int t = anet_b_transpose(g, "t_t", in[0], 4, perm);
        return out1(g, anet_b_binary(g, ANET_OP_ADD, "out_y", t, t));
    }
    case K_SELECT: {
        int gt = anet_b_binary(g, ANET_OP_GREATER, "t_gt", in[0], in[1]);
        return out1(g, anet_b_select(g, "out_y", gt, in[0], in[1]));
    }
    case K_LOG: return out1(g, anet_b_unary(g, ANET_OP_LOG, "out_y", in[0]));
    case K_LOG_EPS: {
        int64_t n = n4(s->a);
        uint16_t *e = malloc((size_t)n * 2);
        if (!e) return -1;
        for (int64_t j = 0; j < n; j++) e[j] = anet_f32_to_f16(1e-3f);
        int eps = anet_graph_const(g, "t_eps", t4(s->a), e, (size_t)n * 2);
        free(e);
        int sum = anet_b_binary(g, ANET_OP_ADD, "t_sum", in[0], eps);
        return out1(g, anet_b_unary(g, ANET_OP_LOG, "out_y", sum));
    }
    case K_IDENTITY: return out1(g, in[0]);
    case K_IDENTITY2: {
        int o[2] = {anet_b_binary(g, ANET_OP_ADD, "out_y", in[0], in[1]), in[1]};
        return o[0] < 0 ? -1 : (anet_graph_set_outputs(g, 2, o) == ANET_OK ? 0 : -1);
    }
    case K_ORDER_UP:
    case K_ORDER_DOWN: {
        /* out_a doubles in_b and out_b doubles in_a: with in_a the smaller input (UP), the
         * outputs descend in size; with in_a the larger (DOWN), they ascend. */
        int o[2] = {anet_b_binary(g, ANET_OP_ADD, "out_a", in[1], in[1]),
                    anet_b_binary(g, ANET_OP_ADD, "out_b", in[0], in[0])};
        return o[0] < 0 || o[1] < 0 ? -1 : (anet_graph_set_outputs(g, 2, o) == ANET_OK ? 0 : -1);
    }
    case K_NAMES: break;
    }
    return -1;
}

anet_status anet_probe_program(int i, anet_mil_dialect dialect, char **mil, size_t *mil_len, uint8_t **w,
                               size_t *wlen) {
    *mil = NULL;
    *w = NULL;
    *mil_len = *wlen = 0;
    if (i < 0 || i >= NPROBES) return anet_fail(ANET_E_INVALID, "selftest: no probe %d", i);
    const spec *s = &probes[i];
    anet_graph *g = anet_graph_new(s->info.fixed_dialect >= 0 ? (anet_mil_dialect)s->info.fixed_dialect : dialect);
    if (!g) return anet_fail(ANET_E_NOMEM, "selftest: out of memory");
    anet_status st = ANET_OK;
    if (build(g, s) != 0) st = anet_fail_ctx(ANET_E_INTERNAL, "selftest: building probe '%s'", s->info.id);
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

/* ---------------------------------------------------------------- running one probe */

static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Input k of probe i: fp16 values (h) and the same values exactly, in double (d). */
static void make_input(int i, int k, uint16_t *h, double *d, int64_t n, uint64_t seed) {
    const spec *s = &probes[i];
    uint64_t st = seed * 1000003u + (uint64_t)i * 131u + (uint64_t)k;
    double lo = -1, hi = 1;
    if (s->k == K_LOG || s->k == K_LOG_EPS) lo = 0.25, hi = 4;
    for (int64_t j = 0; j < n; j++) {
        double u = (double)(mix(&st) >> 11) / 9007199254740992.0;
        h[j] = anet_f32_to_f16((float)(lo + (hi - lo) * u));
        d[j] = anet_f16_to_f32(h[j]);
    }
}

/* The float64 reference of probe i: out[o] gets output o (sizes from the spec). */
static void reference(const spec *s, double *const *in, double **out) {
    const int64_t *a = s->a, *b = s->b;
    int64_t n = n4(a);
    switch (s->k) {
    case K_SUM:
        for (int64_t j = 0; j < n; j++) {
            double v = s->nin == 1 ? 2 * in[0][j] : 0;
            for (int k = 0; s->nin > 1 && k < s->nin; k++) v += in[k][j];
            out[0][j] = v;
        }
        break;
    case K_BCAST_ADD:
    case K_BCAST_MUL:
        for (int64_t c = 0; c < a[1]; c++)
            for (int64_t h = 0; h < a[2]; h++)
                for (int64_t w = 0; w < a[3]; w++) {
                    int64_t ia = (c * a[2] + h) * a[3] + w;
                    int64_t ib = ((b[1] == 1 ? 0 : c) * b[2] + (b[2] == 1 ? 0 : h)) * b[3] + (b[3] == 1 ? 0 : w);
                    out[0][ia] = s->k == K_BCAST_ADD ? in[0][ia] + in[1][ib] : in[0][ia] * in[1][ib];
                }
        break;
    case K_CONST_MUL:
        for (int64_t j = 0; j < n; j++) out[0][j] = 0.5 * in[0][j];
        break;
    case K_MATMUL:
        for (int64_t m = 0; m < a[2]; m++)
            for (int64_t q = 0; q < b[3]; q++) {
                double acc = 0;
                for (int64_t k = 0; k < a[3]; k++) acc += in[0][m * a[3] + k] * in[1][k * b[3] + q];
                out[0][m * b[3] + q] = acc;
            }
        break;
    case K_CONV:
        for (int64_t o = 0; o < b[0]; o++)
            for (int64_t x = 0; x < a[3]; x++) {
                double acc = 0;
                for (int64_t c = 0; c < a[1]; c++) acc += in[1][o * a[1] + c] * in[0][c * a[3] + x];
                out[0][o * a[3] + x] = acc;
            }
        break;
    case K_RSUM:
    case K_RMAX: {
        int64_t od[4] = {a[0], a[1], a[2], a[3]};
        od[s->axis] = 1;
        for (int64_t j = 0; j < n4(od); j++) out[0][j] = s->k == K_RMAX ? -INFINITY : 0;
        for (int64_t c = 0; c < a[1]; c++)
            for (int64_t h = 0; h < a[2]; h++)
                for (int64_t w = 0; w < a[3]; w++) {
                    int64_t co[4] = {0, c, h, w};
                    co[s->axis] = 0;
                    int64_t io = (co[1] * od[2] + co[2]) * od[3] + co[3];
                    double v = in[0][(c * a[2] + h) * a[3] + w];
                    if (s->k == K_RMAX) out[0][io] = fmax(out[0][io], v);
                    else out[0][io] += v;
                }
        break;
    }
    case K_RESHAPE:
        for (int64_t j = 0; j < n; j++) out[0][j] = 2 * in[0][j];
        break;
    case K_TRANSPOSE:
        for (int64_t c = 0; c < a[1]; c++)
            for (int64_t w = 0; w < a[3]; w++) out[0][w * a[1] + c] = 2 * in[0][c * a[3] + w];
        break;
    case K_SELECT:
        for (int64_t j = 0; j < n; j++) out[0][j] = in[0][j] > in[1][j] ? in[0][j] : in[1][j];
        break;
    case K_LOG:
        for (int64_t j = 0; j < n; j++) out[0][j] = log(in[0][j]);
        break;
    case K_LOG_EPS: {
        double eps = anet_f16_to_f32(anet_f32_to_f16(1e-3f));
        for (int64_t j = 0; j < n; j++) out[0][j] = log(in[0][j] + eps);
        break;
    }
    case K_IDENTITY:
        for (int64_t j = 0; j < n; j++) out[0][j] = in[0][j];
        break;
    case K_IDENTITY2:
        for (int64_t j = 0; j < n; j++) {
            out[0][j] = in[0][j] + in[1][j];
            out[1][j] = in[1][j];
        }
        break;
    case K_ORDER_UP:
    case K_ORDER_DOWN:
        for (int64_t j = 0; j < n4(b); j++) out[0][j] = 2 * in[1][j];
        for (int64_t j = 0; j < n; j++) out[1][j] = 2 * in[0][j];
        break;
    case K_NAMES:
        for (int64_t j = 0; j < n; j++) out[0][j] = in[0][j] * in[1][j] + in[0][j];
        break;
    }
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Which stage a backend's failure text names; its framework status if it carries one. */
static anet_probe_outcome classify(const char *text, int at_eval) {
    if (strstr(text, "timed out") || strstr(text, "timeout")) return ANET_PROBE_TIMEOUT;
    if (at_eval) return ANET_PROBE_EVAL;
    if (strstr(text, "backend: load")) return ANET_PROBE_LOAD;
    return ANET_PROBE_COMPILE;
}

static void fail(anet_probe_result *r, anet_probe_outcome o, const char *text) {
    r->outcome = o;
    snprintf(r->error, sizeof r->error, "%s", text);
    r->status = anet_ane_parse_status(text);
}

void anet_probe_run(int i, anet_backend *b, anet_mil_dialect dialect, uint64_t seed, anet_probe_result *r) {
    memset(r, 0, sizeof *r);
    r->probe = i;
    r->max_err = -1;
    double t0 = now_ms();
    if (i < 0 || i >= NPROBES || !b) {
        fail(r, ANET_PROBE_ERROR, "no such probe or no backend");
        return;
    }
    const spec *s = &probes[i];
    r->tolerance = (s->k == K_MATMUL || s->k == K_CONV) ? 3e-2 : 1e-2;
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    anet_ane_sig sig;
    memset(&sig, 0, sizeof sig);
    uint16_t *hin[8] = {0}, *hout[2] = {0};
    double *din[8] = {0}, *dref[2] = {0};
    anet_program *p = NULL;
    if (anet_probe_program(i, dialect, &mil, &ml, &w, &wl) || anet_ane_sig_parse(mil, ml, &sig)) {
        fail(r, ANET_PROBE_ERROR, anet_last_error());
        goto done;
    }
    if (sig.nin > 8 || sig.nout > 2) {
        fail(r, ANET_PROBE_ERROR, "probe program has an unexpected signature");
        goto done;
    }
    anet_io io_in[8], io_out[2];
    for (int k = 0; k < sig.nin; k++) {
        int64_t n = (int64_t)(sig.in[k].nbytes / 2);
        hin[k] = malloc(sig.in[k].nbytes + 2);
        din[k] = malloc(((size_t)n + 1) * sizeof(double));
        if (!hin[k] || !din[k]) {
            fail(r, ANET_PROBE_ERROR, "out of memory");
            goto done;
        }
        make_input(i, k, hin[k], din[k], n, seed);
        io_in[k] = (anet_io){hin[k], sig.in[k].nbytes};
    }
    for (int k = 0; k < sig.nout; k++) {
        hout[k] = calloc(1, sig.out[k].nbytes + 2);
        dref[k] = calloc(sig.out[k].nbytes / 2 + 1, sizeof(double));
        if (!hout[k] || !dref[k]) {
            fail(r, ANET_PROBE_ERROR, "out of memory");
            goto done;
        }
        io_out[k] = (anet_io){hout[k], sig.out[k].nbytes};
    }
    if (b->ops->compile(b->state, mil, ml, w, wl, &p)) {
        fail(r, classify(anet_last_error(), 0), anet_last_error());
        goto done;
    }
    if (b->ops->eval(b->state, p, io_in, sig.nin, io_out, sig.nout)) {
        fail(r, classify(anet_last_error(), 1), anet_last_error());
        goto done;
    }
    reference(s, din, dref);
    double err = 0;
    int zero = 1, ref_zero = 1;
    for (int k = 0; k < sig.nout; k++) {
        size_t n = sig.out[k].nbytes / 2;
        double scale = 1;
        for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(dref[k][j]));
        for (size_t j = 0; j < n; j++) {
            double v = anet_f16_to_f32(hout[k][j]);
            double e = isfinite(v) ? fabs(v - dref[k][j]) / scale : INFINITY;
            if (e > err) err = e;
            if (v != 0) zero = 0;
            if (dref[k][j] != 0) ref_zero = 0;
        }
    }
    r->max_err = err;
    r->all_zero = zero && !ref_zero;
    if (err <= r->tolerance) {
        r->outcome = ANET_PROBE_PASSED;
    } else {
        r->outcome = ANET_PROBE_WRONG;
        snprintf(r->error, sizeof r->error, "outputs differ from the float64 reference: max normalized error %.3g > %.3g%s",
                 err, r->tolerance, r->all_zero ? " (all outputs are zero)" : "");
    }
done:
    if (p) b->ops->release(b->state, p);
    for (int k = 0; k < 8; k++) {
        free(hin[k]);
        free(din[k]);
    }
    for (int k = 0; k < 2; k++) {
        free(hout[k]);
        free(dref[k]);
    }
    anet_ane_sig_free(&sig);
    free(mil);
    free(w);
    r->ms = now_ms() - t0;
}
