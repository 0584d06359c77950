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
#include "runtime/ane_selftest.h"
#include "runtime/ane_sig.h"

typedef enum kind {
    K_SUM,        /* out = in_a + in_b + ... (one input: in_a + in_a) */
    K_BCAST_ADD,  /* out = in_a + in_b, in_b broadcast */
    K_BCAST_MUL,  /* out = in_a * in_b, in_b broadcast */
    K_CONST_MUL,  /* out = in_a * 0.5 (a scalar constant) */
    K_MATMUL,     /* in_a [1,K,1,M], in_b [1,K,1,N]: out [1,M,1,N] = in_a^T @ in_b, the inputs
                   * reshaped to [1,1,K,*] after an elementwise op (the planner's form) */
    K_CONV,       /* out = conv1x1(in_a [1,Ci,1,S], weight in_b [1,Co,1,Ci] reshaped to [Co,Ci,1,1]) */
    K_RSUM,       /* out = reduce_sum(in_a, axis) */
    K_RSUM_COMP,  /* out = reduce_sum(in_a + in_a, axis): the reduction reads a computed value */
    K_RMAX,       /* out = reduce_max(in_a, axis) */
    K_RESHAPE,    /* r = reshape(in_a [1,8,1,64] -> [1,16,1,32]); out = r + r */
    K_TRANSPOSE,  /* t = transpose(in_a, [0,3,2,1]); out = t + t */
    K_SELECT,     /* out = select(in_a > in_b, in_a, in_b) */
    K_LOG,        /* out = log(in_a) */
    K_LOG_EPS,    /* out = log(in_a + eps), eps a full-shape constant */
    K_IDENTITY,   /* out = in_a itself (the program's output is its input) */
    K_IDENTITY2,  /* outputs (in_a + in_b, in_b) */
    K_ORDER_UP,   /* inputs ascend in size, outputs descend: out_a = 2 in_b, out_b = 2 in_a */
    K_ORDER_DOWN, /* inputs descend, outputs ascend: same program with the sizes swapped */
    K_NAMES,      /* inputs x, c; mul = x * c; y = mul + x */
    K_ROWS        /* a + b on [1,8,1,16] driven through the seam itself, rows written packed
                   * (axis 0) or at a 64-byte stride (axis 1): how the device reads rows */
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
    {{"rows_packed", "row-layout", "a + b on [1,8,1,16], surfaces written and read with packed 32-byte rows", 1, D_ANY}, K_ROWS, 2, S4(1, 8, 1, 16), S4(1, 8, 1, 16), 0},
    {{"rows_strided64", "row-layout", "a + b on [1,8,1,16], surfaces written and read with rows every 64 bytes", 1, D_ANY}, K_ROWS, 2, S4(1, 8, 1, 16), S4(1, 8, 1, 16), 1},
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
    {{"bias_row_add", "broadcast-channel", "[1,8,1,32] + [1,1,1,32] (one row for every channel)", 0, D_ANY}, K_BCAST_ADD, 2, S4(1, 8, 1, 32), S4(1, 1, 1, 32), 0},
    {{"scalar_input_mul", "broadcast-scalar", "[1,8,1,32] * a [1,1,1,1] input", 1, D_ANY}, K_BCAST_MUL, 2, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"scalar_const_mul", "broadcast-scalar", "[1,8,1,32] * 0.5 (scalar constant)", 0, D_ANY}, K_CONST_MUL, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
    {{"matmul_k32", "matmul-dynamic", "matmul of two inputs, [32,32]^T x [32,32]", 1, D_ANY}, K_MATMUL, 2, S4(1, 32, 1, 32), S4(1, 32, 1, 32), 0},
    {{"matmul_k800", "matmul-contraction-32", "matmul of two inputs, contraction 800: [800,32]^T x [800,32]", 0, D_ANY}, K_MATMUL, 2, S4(1, 800, 1, 32), S4(1, 800, 1, 32), 0},
    {{"matmul_k784", "matmul-contraction-32", "matmul of two inputs, contraction 784: [784,32]^T x [784,32]", 1, D_ANY}, K_MATMUL, 2, S4(1, 784, 1, 32), S4(1, 784, 1, 32), 0},
    {{"conv1x1_runtime_w", "conv1x1-runtime-weights", "1x1 conv of [1,32,1,32] with a weight input [1,16,1,32] (as [16,32,1,1])", 1, D_ANY}, K_CONV, 2, S4(1, 32, 1, 32), S4(1, 16, 1, 32), 0},
    {{"reduce_sum_c", "runtime-input-layout-ops", "reduce_sum over C of an input [1,8,1,32]", 1, D_ANY}, K_RSUM, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 1},
    {{"reduce_sum_h", "runtime-input-layout-ops", "reduce_sum over H of an input [1,8,1,32]", 1, D_ANY}, K_RSUM, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 2},
    {{"reduce_sum_w", "runtime-input-layout-ops", "reduce_sum over W of an input [1,8,1,32]", 1, D_ANY}, K_RSUM, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 3},
    {{"reduce_max_w", "runtime-input-layout-ops", "reduce_max over W of an input [1,8,1,32]", 1, D_ANY}, K_RMAX, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 3},
    {{"reduce_sum_w_computed", "runtime-input-layout-ops", "reduce_sum over W of a + a (not an input)", 0, D_ANY}, K_RSUM_COMP, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 3},
    {{"reshape_input", "runtime-input-layout-ops", "reshape of an input [1,8,1,64] -> [1,16,1,32]", 1, D_ANY}, K_RESHAPE, 1, S4(1, 8, 1, 64), S4(1, 1, 1, 1), 0},
    {{"transpose_input", "runtime-input-layout-ops", "transpose of an input [1,32,1,32] (C and W swapped)", 1, D_ANY}, K_TRANSPOSE, 1, S4(1, 32, 1, 32), S4(1, 1, 1, 1), 0},
    {{"greater_select", "op-greater-select", "select(a > b, a, b) (the ReLU backward form)", 1, D_ANY}, K_SELECT, 2, S4(1, 8, 1, 32), S4(1, 8, 1, 32), 0},
    {{"log_eps", "log-epsilon", "log(a + 0.001), the epsilon a scalar constant", 0, D_ANY}, K_LOG_EPS, 1, S4(1, 8, 1, 32), S4(1, 1, 1, 1), 0},
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
    {{"elementwise_c16416", "elementwise-max-16384", "a + b on [1,16416,1,32] (one axis above 16384)", 1, D_ANY}, K_SUM, 2, S4(1, 16416, 1, 32), S4(1, 16416, 1, 32), 0},
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
    case K_MATMUL: {
        int one = anet_graph_const_fp16(g, "t_one", 1.0f);
        int ta = anet_b_binary(g, ANET_OP_MUL, "t_a", in[0], one), tb = anet_b_binary(g, ANET_OP_MUL, "t_b", in[1], one);
        int32_t sa[4] = {1, 1, (int32_t)s->a[1], (int32_t)s->a[3]}, sb[4] = {1, 1, (int32_t)s->b[1], (int32_t)s->b[3]};
        int32_t so[4] = {1, (int32_t)s->a[3], 1, (int32_t)s->b[3]};
        int ra = anet_b_reshape(g, "t_ra", ta, 4, sa), rb = anet_b_reshape(g, "t_rb", tb, 4, sb);
        int mm = anet_b_matmul(g, "t_mm", ra, rb, 1, 0);
        return out1(g, anet_b_reshape(g, "out_y", mm, 4, so));
    }
    case K_CONV: {
        int one = anet_graph_const_fp16(g, "t_one", 1.0f);
        int tw = anet_b_binary(g, ANET_OP_MUL, "t_w", in[1], one);
        int32_t sw[4] = {(int32_t)s->b[1], (int32_t)s->b[3], 1, 1};
        int rw = anet_b_reshape(g, "t_rw", tw, 4, sw);
        return out1(g, anet_b_conv(g, "out_y", in[0], rw, -1, NULL, "valid", NULL, NULL, 1));
    }
    case K_RSUM: return out1(g, anet_b_reduce(g, ANET_OP_REDUCE_SUM, "out_y", in[0], 1, axes, 1));
    case K_RSUM_COMP: {
        int t = anet_b_binary(g, ANET_OP_ADD, "t_sum", in[0], in[0]);
        return out1(g, anet_b_reduce(g, ANET_OP_REDUCE_SUM, "out_y", t, 1, axes, 1));
    }
    case K_RMAX: return out1(g, anet_b_reduce(g, ANET_OP_REDUCE_MAX, "out_y", in[0], 1, axes, 1));
    case K_RESHAPE: {
        int32_t shape[4] = {1, 16, 1, 32};
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
        int eps = anet_graph_const_fp16(g, "t_eps", 1e-3f);
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
    case K_ROWS: return out1(g, anet_b_binary(g, ANET_OP_ADD, "out_y", in[0], in[1]));
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
    return anet_ane_selftest_emit(g, st, mil, mil_len, w, wlen);
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
    case K_MATMUL: /* a: [K][M], b: [K][N] */
        for (int64_t m = 0; m < a[3]; m++)
            for (int64_t q = 0; q < b[3]; q++) {
                double acc = 0;
                for (int64_t k = 0; k < a[1]; k++) acc += in[0][k * a[3] + m] * in[1][k * b[3] + q];
                out[0][m * b[3] + q] = acc;
            }
        break;
    case K_CONV: /* weight b: [Co][Ci] */
        for (int64_t o = 0; o < b[1]; o++)
            for (int64_t x = 0; x < a[3]; x++) {
                double acc = 0;
                for (int64_t c = 0; c < a[1]; c++) acc += in[1][o * a[1] + c] * in[0][c * a[3] + x];
                out[0][o * a[3] + x] = acc;
            }
        break;
    case K_RSUM:
    case K_RSUM_COMP:
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
                    double v = in[0][(c * a[2] + h) * a[3] + w] * (s->k == K_RSUM_COMP ? 2 : 1);
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
    case K_ROWS:
        for (int64_t j = 0; j < n; j++) out[0][j] = in[0][j] + in[1][j];
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

/* Compares outputs hout[k] (fp16, sizes from sig) with the reference dref[k]; fills r. */
static void judge(const anet_ane_sig *sig, uint16_t *const *hout, double *const *dref, anet_probe_result *r) {
    double err = 0;
    int zero = 1, ref_zero = 1;
    for (int k = 0; k < sig->nout; k++) {
        size_t n = sig->out[k].nbytes / 2;
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
}

/* A seam failure: the stage's outcome, the framework's status and text. */
static void seam_failed(anet_probe_result *r, anet_probe_outcome o, int rc, const anet_ane_seam *sm, const char *what) {
    const char *t = sm->ops->error(sm->ctx);
    r->outcome = o;
    snprintf(r->error, sizeof r->error, "%s failed (rc %d): %s", what, rc, t ? t : "");
    r->status = rc > 0 ? rc : anet_ane_parse_status(t);
}

#define ROWS_SURFACE 65536u /* every surface: above every reported minimum, all of one size */

/* The row-layout probes drive the seam directly, so nothing of the backend's own layout
 * logic (io_layout, its row rule) stands between the rows written and the device reading
 * them: rows of in_a/in_b are written at `stride` bytes, out_y read back at the same. */
static void run_rows(const spec *s, anet_backend *b, const char *mil, size_t ml, const uint8_t *w, size_t wl,
                     const anet_ane_sig *sig, uint16_t *const *hin, uint16_t *const *hout, anet_probe_result *r) {
    if (b->ops != anet_ane_backend_ops() && b->ops != anet_ane_sim_backend_ops()) {
        fail(r, ANET_PROBE_ERROR, "this probe needs the ane or ane-sim backend (it drives the private API's seam)");
        return;
    }
    anet_ane_seam *sm = anet_ane_backend_seam(b->state);
    const anet_ane_seam_ops *o = sm->ops;
    void *c = sm->ctx;
    size_t prow = (size_t)s->a[3] * 2, rows = (size_t)(n4(s->a) / s->a[3]);
    size_t stride = s->axis ? (prow + 63) / 64 * 64 : prow;
    anet_ane_model *m = NULL;
    anet_ane_surface *sf[3] = {0};
    anet_ane_request *req = NULL;
    int rc, loaded = 0;
    if ((rc = o->open(c))) {
        seam_failed(r, ANET_PROBE_ERROR, rc, sm, "open");
        return;
    }
    if ((rc = o->model_create(c, mil, ml, w, wl, &m))) {
        seam_failed(r, ANET_PROBE_COMPILE, rc, sm, "model_create");
        return;
    }
    if ((rc = o->compile(c, m))) {
        seam_failed(r, ANET_PROBE_COMPILE, rc, sm, "compile");
        goto done;
    }
    if ((rc = o->load(c, m))) {
        seam_failed(r, ANET_PROBE_LOAD, rc, sm, "load");
        goto done;
    }
    loaded = 1;
    for (int k = 0; k < 3; k++) {
        void *base = NULL;
        if ((rc = o->surface_create(c, ROWS_SURFACE, &sf[k])) || (rc = o->surface_lock(c, sf[k], 0, &base))) {
            seam_failed(r, ANET_PROBE_ERROR, rc, sm, "surface");
            goto done;
        }
        memset(base, 0, ROWS_SURFACE);
        for (size_t j = 0; k < 2 && j < rows; j++) memcpy((char *)base + j * stride, (const char *)hin[k] + j * prow, prow);
        o->surface_unlock(c, sf[k], 0);
    }
    if ((rc = o->request_create(c, sf, 2, sf + 2, 1, &req))) {
        seam_failed(r, ANET_PROBE_ERROR, rc, sm, "request");
        goto done;
    }
    if ((rc = o->evaluate(c, m, req))) {
        seam_failed(r, ANET_PROBE_EVAL, rc, sm, "evaluate");
        goto done;
    }
    void *base = NULL;
    if ((rc = o->surface_lock(c, sf[2], 1, &base))) {
        seam_failed(r, ANET_PROBE_ERROR, rc, sm, "surface");
        goto done;
    }
    for (size_t j = 0; j < rows && sig->out[0].nbytes >= rows * prow; j++)
        memcpy((char *)hout[0] + j * prow, (const char *)base + j * stride, prow);
    o->surface_unlock(c, sf[2], 1);
    r->outcome = ANET_PROBE_PASSED; /* ran; judged by the caller */
done:
    if (req) o->request_free(c, req);
    for (int k = 0; k < 3; k++)
        if (sf[k]) o->surface_free(c, sf[k]);
    if (loaded) o->unload(c, m);
    o->model_free(c, m);
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
    if (s->k == K_ROWS) {
        run_rows(s, b, mil, ml, w, wl, &sig, hin, hout, r);
        if (r->outcome != ANET_PROBE_PASSED) goto done;
    } else if (b->ops->compile(b->state, mil, ml, w, wl, &p)) {
        fail(r, classify(anet_last_error(), 0), anet_last_error());
        goto done;
    } else if (b->ops->eval(b->state, p, io_in, sig.nin, io_out, sig.nout)) {
        fail(r, classify(anet_last_error(), 1), anet_last_error());
        goto done;
    }
    reference(s, din, dref);
    judge(&sig, hout, dref, r);
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
