/* The ML Program (MIL) rules of the ANE as data: one row per rule with its source and chip mask,
 * and one small predicate per rule. Chip masks: a rule applies to the chips where it was
 * reported (ANE_FACTS.md); when a report names no chip and the cause is the compiler (shared by
 * every chip), it applies to all; STRICT always applies every rule. */
#include "plan/constraints.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

#define M1 ANET_CHIP_BIT(ANET_CHIP_M1)
#define M2 ANET_CHIP_BIT(ANET_CHIP_M2)
#define M3 ANET_CHIP_BIT(ANET_CHIP_M3)
#define M4 ANET_CHIP_BIT(ANET_CHIP_M4)
#define ST ANET_CHIP_BIT(ANET_CHIP_STRICT)

enum {
    R_OP_UNKNOWN,
    R_CONCAT,
    R_GELU,
    R_RSQRT,
    R_RANK,
    R_AXIS_NC,
    R_AXIS_DHW,
    R_DTYPE_FP32,
    R_DTYPE_UNSUPPORTED,
    R_CAST,
    R_MATMUL_DYNAMIC,
    R_IOS16_M1,
    R_CONV_BIAS,
    R_BLOBFILE,
    R_COUNT_
};

static const anet_rule rules[R_COUNT_] = {
    [R_OP_UNKNOWN] = {"op-unknown", "Ops outside the known MIL op list are not eligible",
                      "Nothing is known about how the ANE compiler treats this op, so it is assumed to fall back to the CPU.",
                      "ANE_FACTS.md (no public list of ANE ops; coremltools#1780)", ANET_CHIPS_ALL},
    [R_CONCAT] = {"op-rejected-concat", "concat is rejected by the ANE compiler",
                  "ANECCompile fails for programs using concat on M4 Max; use several outputs or slices of one input instead.",
                  "mechramc/Orion docs/ane_constraints.md #1 (M4 Max; contested: maderix/ANE uses concat)",
                  M4 | ST},
    [R_GELU] = {"op-rejected-gelu", "gelu is not in the ANE compiler's op set",
                "The compiler rejects gelu; decompose it with tanh, mul, add and pow.",
                "mechramc/Orion docs/ane_constraints.md #10", ANET_CHIPS_ALL},
    [R_RSQRT] = {"op-rejected-rsqrt", "rsqrt is rejected by the ANE compiler",
                 "Reported rejected on the private-API path; use pow(x, -0.5) instead.",
                 "ANE_FACTS.md 'Reported quirks' (Orion / maderix findings on M4)", M4 | ST},
    [R_RANK] = {"rank-max-5", "Tensors of rank above 5 are rejected",
                "The ANE addresses at most 5-D [N, C, D, H, W] tensors.", "apple/coremltools#1723",
                ANET_CHIPS_ALL},
    [R_AXIS_NC] = {"axis-range-nc", "N and C must be in [1, 65536]",
                   "The ANE compiler rejects batch or channel axes longer than 65536.",
                   "pytorch/executorch#7907", ANET_CHIPS_ALL},
    [R_AXIS_DHW] = {"axis-range-dhw", "D, H and W must be in [1, 16384]",
                    "The ANE compiler rejects spatial axes longer than 16384 (shapes of rank < 4 are right-aligned: the last axis is W).",
                    "pytorch/executorch#7907", ANET_CHIPS_ALL},
    [R_DTYPE_FP32] = {"dtype-fp32-compute", "fp32 is allowed only at the program's inputs and outputs",
                      "The ANE computes in fp16 (or int8/uint8); fp32 data must be cast at the boundary.",
                      "tinygrad extra/accel/ane/README.md", ANET_CHIPS_ALL},
    [R_DTYPE_UNSUPPORTED] = {"dtype-unsupported", "Computed tensors must be fp16, int8, uint8 or bool",
                             "The ANE has no int32/other tensor compute; such values only work as constant parameters.",
                             "tinygrad extra/accel/ane/README.md", ANET_CHIPS_ALL},
    [R_CAST] = {"cast-fp32-fp16", "cast between fp32 and fp16 is rejected on M1/M2",
                "M1 and M2 reject fp32<->fp16 cast on the in-memory compile path; pass fp16 I/O instead.",
                "ANE_FACTS.md 'Reported quirks' (private-API trainers on M1/M2)", M1 | M2 | ST},
    [R_MATMUL_DYNAMIC] = {"matmul-dynamic", "matmul of two non-constant operands needs M4+ unless its contraction is a multiple of 32",
                          "Reports conflict: dynamic matmul is reported M4-only (maderix), while imperatormk/ane-train trains on M1 with runtime-input matmuls whose contraction length is a multiple of 32. On M1-M3 that form is accepted; the strict profile keeps the M4-only reading.",
                          "maderix/ANE commit log (dynamic matmul only on M4+); imperatormk/ane-train ANE_TRAINING.md 'Matmul'", M1 | M2 | M3 | ST},
    [R_IOS16_M1] = {"ios16-layout-op-m1", "reshape/transpose/slice/reduce of a runtime input fail on M1 with the ios16 dialect",
                    "On M1, ios16 programs applying these ops to a program input directly fail to compile; compute on the input first (program forms: runtime-input-layout-ops).",
                    "imperatormk/ane-train", M1 | ST},
    [R_CONV_BIAS] = {"conv-bias", "conv has no bias argument",
                     "The ANE compiler rejects conv with a bias argument; add the bias with a separate add.",
                     "ANE_FACTS.md 'Reported quirks' (Orion docs/ane_constraints.md)", ANET_CHIPS_ALL},
    [R_BLOBFILE] = {"blobfile-max-16", "At most 16 BLOBFILE constants per program",
                    "Programs with more BLOBFILE weights are reported to fail; pack weights or pass them as inputs.",
                    "mechramc/Orion (ANE_FACTS.md)", ANET_CHIPS_ALL},
};

#define ANET_BLOBFILE_MAX 16
#define ANET_NC_MAX 65536
#define ANET_DHW_MAX 16384

const anet_rule *anet_rules(int *n) {
    if (n) *n = R_COUNT_;
    return rules;
}

const anet_rule *anet_rule_find(const char *id) {
    if (!id) return NULL;
    for (int i = 0; i < R_COUNT_; i++)
        if (strcmp(rules[i].id, id) == 0) return &rules[i];
    return NULL;
}

/* ---- predicates: return 1 when op violates the rule, with the specifics in d ---- */

typedef int (*op_pred)(const anet_graph *g, const anet_op *op, char *d, size_t n);

static const char *op_label(const anet_op *op) { return op->name ? op->name : "?"; }
static const char *op_type(const anet_op *op) {
    return op->type ? op->type : anet_op_kind_name(op->kind);
}

static int is_const_value(const anet_graph *g, int v) { return anet_graph_const_of(g, v) != NULL; }

static int pred_unknown(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    (void)g;
    if (op->kind != ANET_OP_UNKNOWN && (int)op->kind >= 0 && op->kind < ANET_OP_COUNT_) return 0;
    snprintf(d, n, "op '%s' has unknown type '%s'", op_label(op), op_type(op));
    return 1;
}

static int pred_kind(const anet_op *op, anet_opkind k, char *d, size_t n) {
    if (op->kind != k) return 0;
    snprintf(d, n, "op '%s' is %s", op_label(op), anet_op_kind_name(k));
    return 1;
}
static int pred_concat(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    (void)g;
    return pred_kind(op, ANET_OP_CONCAT, d, n);
}
static int pred_gelu(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    (void)g;
    return pred_kind(op, ANET_OP_GELU, d, n);
}
static int pred_rsqrt(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    (void)g;
    return pred_kind(op, ANET_OP_RSQRT, d, n);
}

/* Values an op touches that are tensors of the program (not const parameters). */
static int pred_rank(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    for (int i = 0; i < op->noutputs; i++) {
        const anet_value *v = &g->values[op->outputs[i]];
        if (v->type.rank > ANET_MAX_RANK) {
            snprintf(d, n, "rank %d > 5 on value '%s' of op '%s'", v->type.rank, v->name,
                     op_label(op));
            return 1;
        }
    }
    return 0;
}

/* Maps axis i of a rank-r shape onto N, C, D, H, W: right-aligned, so rank 4 is [N,C,H,W],
 * rank 3 [C,H,W], rank 2 [H,W], rank 1 [W]; rank 5 is [N,C,D,H,W]. Returns 1 for N/C. */
static int axis_is_nc(int rank, int i) {
    int from_end = rank - 1 - i; /* 0 = W, 1 = H, 2 = C (or D at rank 5), 3 = N (or C) ... */
    if (rank == 5) return from_end >= 3;
    return from_end >= 2;
}

static int pred_axis(const anet_graph *g, const anet_op *op, char *d, size_t n, int want_nc) {
    for (int k = 0; k < op->noutputs; k++) {
        const anet_value *v = &g->values[op->outputs[k]];
        if (v->type.rank > ANET_MAX_RANK) continue; /* rank rule reports it */
        for (int i = 0; i < v->type.rank; i++) {
            int nc = axis_is_nc(v->type.rank, i);
            int64_t lim = nc ? ANET_NC_MAX : ANET_DHW_MAX, dim = v->type.dims[i];
            if (nc != want_nc || (dim >= 1 && dim <= lim)) continue;
            snprintf(d, n, "axis %d of value '%s' (op '%s') is %lld, outside [1, %lld]", i,
                     v->name, op_label(op), (long long)dim, (long long)lim);
            return 1;
        }
    }
    return 0;
}
static int pred_axis_nc(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    return pred_axis(g, op, d, n, 1);
}
static int pred_axis_dhw(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    return pred_axis(g, op, d, n, 0);
}

static int compute_dtype_ok(anet_dtype t) {
    return t == ANET_DT_FP16 || t == ANET_DT_INT8 || t == ANET_DT_UINT8 || t == ANET_DT_BOOL;
}

/* fp32 tensors anywhere but the input of a cast (fp32 program input) or the output of a cast
 * (fp32 program output). */
static int pred_dtype_fp32(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    if (op->kind == ANET_OP_CAST) return 0;
    for (int a = 0; a < op->nargs; a++)
        for (int j = 0; j < op->args[a].n; j++) {
            const anet_value *v = &g->values[op->args[a].vals[j]];
            if (v->type.dtype == ANET_DT_FP32) {
                snprintf(d, n, "op '%s' (%s) reads fp32 value '%s'", op_label(op), op_type(op),
                         v->name);
                return 1;
            }
        }
    for (int k = 0; k < op->noutputs; k++) {
        const anet_value *v = &g->values[op->outputs[k]];
        if (v->type.dtype == ANET_DT_FP32) {
            snprintf(d, n, "op '%s' (%s) writes fp32 value '%s'", op_label(op), op_type(op), v->name);
            return 1;
        }
    }
    return 0;
}

static int pred_dtype_unsupported(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    for (int k = 0; k < op->noutputs; k++) {
        const anet_value *v = &g->values[op->outputs[k]];
        anet_dtype t = v->type.dtype;
        if (compute_dtype_ok(t) || t == ANET_DT_FP32) continue;
        snprintf(d, n, "op '%s' (%s) computes %s value '%s'", op_label(op), op_type(op),
                 anet_dtype_name(t), v->name);
        return 1;
    }
    /* Non-const inputs of other dtypes (e.g. an int32 program input fed to an op). */
    for (int a = 0; a < op->nargs; a++)
        for (int j = 0; j < op->args[a].n; j++) {
            int id = op->args[a].vals[j];
            anet_dtype t = g->values[id].type.dtype;
            if (compute_dtype_ok(t) || t == ANET_DT_FP32 || is_const_value(g, id)) continue;
            snprintf(d, n, "op '%s' (%s) reads non-constant %s value '%s'", op_label(op),
                     op_type(op), anet_dtype_name(t), g->values[id].name);
            return 1;
        }
    return 0;
}

static int pred_cast(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    if (op->kind != ANET_OP_CAST || op->noutputs < 1) return 0;
    int x = anet_op_arg_value(op, "x");
    if (x < 0) return 0;
    anet_dtype from = g->values[x].type.dtype, to = g->values[op->outputs[0]].type.dtype;
    int hit = (from == ANET_DT_FP32 && to == ANET_DT_FP16) || (from == ANET_DT_FP16 && to == ANET_DT_FP32);
    if (!hit) return 0;
    snprintf(d, n, "op '%s' casts '%s' from %s to %s", op_label(op), g->values[x].name,
             anet_dtype_name(from), anet_dtype_name(to));
    return 1;
}

/* The contraction length of matmul op (after transpose_x), 0 if unknown. */
static int64_t matmul_contraction(const anet_graph *g, const anet_op *op) {
    int x = anet_op_arg_value(op, "x"), f = anet_op_arg_value(op, "transpose_x");
    if (x < 0 || g->values[x].type.rank < 2) return 0;
    const anet_const *c = f >= 0 ? anet_graph_const_of(g, f) : NULL;
    int tx = c && c->data && c->nbytes >= 1 && *(const unsigned char *)c->data;
    const anet_type *t = &g->values[x].type;
    return t->dims[t->rank - (tx ? 2 : 1)];
}

/* chip: the M4-only reading on the strict profile; imperatormk's M1 form elsewhere. */
static int pred_matmul_dynamic_chip(const anet_graph *g, const anet_op *op, char *d, size_t n, int strict) {
    if (op->kind != ANET_OP_MATMUL) return 0;
    int x = anet_op_arg_value(op, "x"), y = anet_op_arg_value(op, "y");
    if (x < 0 || y < 0 || is_const_value(g, x) || is_const_value(g, y)) return 0;
    int64_t k = matmul_contraction(g, op);
    if (!strict && k > 0 && k % 32 == 0) return 0;
    snprintf(d, n, "op '%s' multiplies two non-constant values '%s' and '%s'", op_label(op),
             g->values[x].name, g->values[y].name);
    return 1;
}

static int pred_matmul_dynamic(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    return pred_matmul_dynamic_chip(g, op, d, n, 0);
}
static int pred_matmul_dynamic_strict(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    return pred_matmul_dynamic_chip(g, op, d, n, 1);
}

static int pred_ios16_m1(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    if (g->dialect != ANET_MIL_IOS16) return 0;
    switch (op->kind) {
    case ANET_OP_RESHAPE: case ANET_OP_TRANSPOSE: case ANET_OP_SLICE_BY_SIZE:
    case ANET_OP_REDUCE_SUM: case ANET_OP_REDUCE_MEAN: case ANET_OP_REDUCE_MAX: break;
    default: return 0;
    }
    int x = anet_op_arg_value(op, "x");
    if (x < 0 || g->values[x].producer >= 0) return 0; /* only a program input read directly */
    snprintf(d, n, "op '%s' (%s) reads input '%s' in an ios16 program", op_label(op), op_type(op),
             g->values[x].name);
    return 1;
}

static int pred_conv_bias(const anet_graph *g, const anet_op *op, char *d, size_t n) {
    (void)g;
    if (op->kind != ANET_OP_CONV || !anet_op_arg(op, "bias")) return 0;
    snprintf(d, n, "op '%s' (conv) has a bias argument", op_label(op));
    return 1;
}

/* Order matters for anet_plan_check_op: the most basic reason is reported first. */
static const struct {
    int rule;
    op_pred pred;
} op_checks[] = {
    {R_OP_UNKNOWN, pred_unknown},
    {R_CONCAT, pred_concat},
    {R_GELU, pred_gelu},
    {R_RSQRT, pred_rsqrt},
    {R_RANK, pred_rank},
    {R_AXIS_NC, pred_axis_nc},
    {R_AXIS_DHW, pred_axis_dhw},
    {R_DTYPE_UNSUPPORTED, pred_dtype_unsupported},
    {R_DTYPE_FP32, pred_dtype_fp32},
    {R_CAST, pred_cast},
    {R_MATMUL_DYNAMIC, pred_matmul_dynamic},
    {R_IOS16_M1, pred_ios16_m1},
    {R_CONV_BIAS, pred_conv_bias},
};

/* The predicate of check i on chip: the strict profile reads matmul-dynamic as M4-only. */
static op_pred pred_of(size_t i, anet_chip chip) {
    if (op_checks[i].rule == R_MATMUL_DYNAMIC && chip == ANET_CHIP_STRICT) return pred_matmul_dynamic_strict;
    return op_checks[i].pred;
}

static int applies(int rule, anet_chip chip) {
    return (rules[rule].chips & ANET_CHIP_BIT(chip)) != 0;
}

static void verdict_ok(anet_verdict *v) {
    v->ok = 1;
    v->rule = NULL;
    v->detail[0] = '\0';
}

anet_status anet_plan_check_op(const anet_graph *g, int op_id, anet_chip chip, anet_verdict *v) {
    if (!g || !v || op_id < 0 || op_id >= g->nops || (int)chip < 0 || chip >= ANET_CHIP_COUNT_)
        return anet_fail(ANET_E_INVALID, "check op: bad graph, op id %d or chip", op_id);
    verdict_ok(v);
    const anet_op *op = &g->ops[op_id];
    if (op->kind == ANET_OP_CONST) return ANET_OK; /* consts are checked at program level */
    for (size_t i = 0; i < sizeof op_checks / sizeof op_checks[0]; i++) {
        if (!applies(op_checks[i].rule, chip)) continue;
        if (pred_of(i, chip)(g, op, v->detail, sizeof v->detail)) {
            v->ok = 0;
            v->rule = &rules[op_checks[i].rule];
            return ANET_OK;
        }
    }
    return ANET_OK;
}

typedef struct sink {
    anet_verdict *v;
    int max, count;
} sink;

static void sink_add(sink *s, int rule, const char *fmt, ...) ANET_PRINTF(3, 4);
static void sink_add(sink *s, int rule, const char *fmt, ...) {
    if (s->v && s->count < s->max) {
        anet_verdict *v = &s->v[s->count];
        va_list ap;
        v->ok = 0;
        v->rule = &rules[rule];
        va_start(ap, fmt);
        vsnprintf(v->detail, sizeof v->detail, fmt, ap);
        va_end(ap);
    }
    s->count++;
}

/* Program inputs go through the same rank, axis and dtype rules as op outputs. */
static void check_inputs(const anet_graph *g, anet_chip chip, sink *s) {
    for (int i = 0; i < g->ninputs; i++) {
        const anet_value *v = &g->values[g->inputs[i]];
        if (applies(R_RANK, chip) && v->type.rank > ANET_MAX_RANK) {
            sink_add(s, R_RANK, "rank %d > 5 on input '%s'", v->type.rank, v->name);
            continue;
        }
        for (int a = 0; a < v->type.rank && v->type.rank <= ANET_MAX_RANK; a++) {
            int nc = axis_is_nc(v->type.rank, a);
            int64_t lim = nc ? ANET_NC_MAX : ANET_DHW_MAX, dim = v->type.dims[a];
            int rule = nc ? R_AXIS_NC : R_AXIS_DHW;
            if ((dim < 1 || dim > lim) && applies(rule, chip)) {
                sink_add(s, rule, "axis %d of input '%s' is %lld, outside [1, %lld]", a, v->name,
                         (long long)dim, (long long)lim);
                break;
            }
        }
        anet_dtype t = v->type.dtype;
        if (!compute_dtype_ok(t) && t != ANET_DT_FP32 && applies(R_DTYPE_UNSUPPORTED, chip))
            sink_add(s, R_DTYPE_UNSUPPORTED, "input '%s' has dtype %s", v->name, anet_dtype_name(t));
    }
}

int anet_plan_check_graph(const anet_graph *g, anet_chip chip, anet_verdict *v, int max) {
    sink s = {v, max < 0 ? 0 : max, 0};
    if (!g || (int)chip < 0 || chip >= ANET_CHIP_COUNT_) {
        anet_fail(ANET_E_INVALID, "check graph: bad graph or chip");
        return -1;
    }
    check_inputs(g, chip, &s);
    int blobs = 0;
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        if (op->kind == ANET_OP_CONST) {
            if (op->val && op->val->blob_path) blobs++;
            continue;
        }
        /* Every failing rule of the op, not just the first. */
        for (size_t i = 0; i < sizeof op_checks / sizeof op_checks[0]; i++) {
            char d[sizeof v->detail];
            if (!applies(op_checks[i].rule, chip)) continue;
            if (pred_of(i, chip)(g, op, d, sizeof d)) sink_add(&s, op_checks[i].rule, "%s", d);
        }
    }
    if (blobs > ANET_BLOBFILE_MAX && applies(R_BLOBFILE, chip))
        sink_add(&s, R_BLOBFILE, "%d BLOBFILE constants > %d", blobs, ANET_BLOBFILE_MAX);
    return s.count;
}

int anet_plan_check_program(const anet_graph *g, anet_chip chip, anet_verdict *v, int max) {
    sink s = {v, max < 0 ? 0 : max, 0};
    if (!g || (int)chip < 0 || chip >= ANET_CHIP_COUNT_) {
        anet_fail(ANET_E_INVALID, "check program: bad graph or chip");
        return -1;
    }
    check_inputs(g, chip, &s);
    int blobs = 0;
    for (int o = 0; o < g->nops; o++)
        if (g->ops[o].kind == ANET_OP_CONST && g->ops[o].val && g->ops[o].val->blob_path) blobs++;
    if (blobs > ANET_BLOBFILE_MAX && applies(R_BLOBFILE, chip))
        sink_add(&s, R_BLOBFILE, "%d BLOBFILE constants > %d", blobs, ANET_BLOBFILE_MAX);
    return s.count;
}
