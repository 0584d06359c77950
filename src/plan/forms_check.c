/* The program-form rules of plan/forms.h checked on a program (for the simulator and the planner):
 * which rule a program breaks first, and how the device is reported to fail for it. */
#include "plan/forms_check.h"

#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int is_input(const anet_graph *g, int v) {
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] == v) return 1;
    return 0;
}

static int is_const(const anet_graph *g, int v) { return anet_graph_const_of(g, v) != NULL; }

static int is_binary_elementwise(anet_opkind k) {
    switch (k) {
    case ANET_OP_ADD: case ANET_OP_SUB: case ANET_OP_MUL: case ANET_OP_REAL_DIV:
    case ANET_OP_MAXIMUM: case ANET_OP_MINIMUM: case ANET_OP_GREATER: case ANET_OP_GREATER_EQUAL:
    case ANET_OP_LESS: case ANET_OP_EQUAL: case ANET_OP_POW: return 1;
    default: return 0;
    }
}

static int is_elementwise(anet_opkind k) {
    if (is_binary_elementwise(k)) return 1;
    switch (k) {
    case ANET_OP_RELU: case ANET_OP_SIGMOID: case ANET_OP_TANH: case ANET_OP_EXP: case ANET_OP_LOG:
    case ANET_OP_SQRT: case ANET_OP_RSQRT: case ANET_OP_ABS: case ANET_OP_SQUARE: case ANET_OP_SELECT:
    case ANET_OP_GELU: case ANET_OP_CAST: return 1;
    default: return 0;
    }
}

static int is_layout_op(anet_opkind k) {
    switch (k) {
    case ANET_OP_RESHAPE: case ANET_OP_TRANSPOSE: case ANET_OP_SLICE_BY_SIZE: case ANET_OP_REDUCE_SUM:
    case ANET_OP_REDUCE_MEAN: case ANET_OP_REDUCE_MAX: return 1;
    default: return 0;
    }
}

static const char *const reserved[] = {"x", "y", "c", "C", "var", "mean", "std", "eps", "diff",
                                       "mul", "add", "rsqrt"};

static int set(anet_form_hit *h, int rule, const char *fmt, ...) ANET_PRINTF(3, 4);
static int set(anet_form_hit *h, int rule, const char *fmt, ...) {
    va_list ap;
    h->rule = rule;
    h->failure = anet_form_rules(NULL)[rule].failure;
    va_start(ap, fmt);
    vsnprintf(h->detail, sizeof h->detail, fmt, ap);
    va_end(ap);
    return 1;
}

static int check_io(const anet_graph *g, const anet_forms *f, anet_form_hit *h) {
    for (int k = 0; k < 2; k++) {
        int n = k ? g->noutputs : g->ninputs;
        const int *ids = k ? g->outputs : g->inputs;
        for (int i = 0; i < n; i++) {
            const anet_value *v = &g->values[ids[i]];
            const anet_type *t = &v->type;
            int ok = t->rank == 4 && t->dims[0] == 1 && t->dims[2] == 1 && t->dtype == ANET_DT_FP16;
            if (!ok && f->on[ANET_FORM_IO_SHAPE_1C1S]) {
                char ty[96];
                anet_type_str(t, ty, sizeof ty);
                return set(h, ANET_FORM_IO_SHAPE_1C1S, "%s '%s' is %s, not fp16 [1,C,1,S]",
                           k ? "output" : "input", v->name, ty);
            }
        }
    }
    if (f->on[ANET_FORM_MAX_INPUTS] && g->ninputs > f->max_inputs) {
        return set(h, ANET_FORM_MAX_INPUTS, "%d inputs, at most %d", g->ninputs, f->max_inputs);
    }
    if (f->on[ANET_FORM_IDENTITY_OUTPUT])
        for (int i = 0; i < g->noutputs; i++) {
            int v = g->outputs[i];
            const anet_value *val = &g->values[v];
            int src = v;
            if (val->producer >= 0 && g->ops[val->producer].kind == ANET_OP_IDENTITY)
                src = anet_op_arg_value(&g->ops[val->producer], "x");
            if (src >= 0 && is_input(g, src))
                return set(h, ANET_FORM_IDENTITY_OUTPUT, "output '%s' passes input '%s' through",
                           val->name, g->values[src].name);
        }
    return 0;
}

/* Contraction length of a matmul (after its transpose flags). */
static int64_t contraction(const anet_graph *g, const anet_op *op) {
    int x = anet_op_arg_value(op, "x");
    if (x < 0) return 0;
    const anet_type *t = &g->values[x].type;
    if (t->rank < 1) return 0;
    int tx = 0;
    int fl = anet_op_arg_value(op, "transpose_x");
    const anet_const *c = fl >= 0 ? anet_graph_const_of(g, fl) : NULL;
    if (c && c->data && c->nbytes >= 1) tx = *(const unsigned char *)c->data != 0;
    if (tx && t->rank >= 2) return t->dims[t->rank - 2];
    return t->dims[t->rank - 1];
}

static int check_op(const anet_graph *g, const anet_forms *f, const anet_op *op, anet_form_hit *h) {
    const char *nm = op->name ? op->name : "?";
    if (f->on[ANET_FORM_RUNTIME_INPUT_LAYOUT] && is_layout_op(op->kind)) {
        int x = anet_op_arg_value(op, "x");
        if (x >= 0 && is_input(g, x))
            return set(h, ANET_FORM_RUNTIME_INPUT_LAYOUT, "op '%s' reads runtime input '%s' directly",
                       nm, g->values[x].name);
    }
    if (op->kind == ANET_OP_MATMUL && f->on[ANET_FORM_MATMUL_CONTRACTION_32]) {
        int64_t k = contraction(g, op);
        if (k % 32 != 0) return set(h, ANET_FORM_MATMUL_CONTRACTION_32, "matmul '%s' has contraction length %lld", nm, (long long)k);
    }
    if (op->kind == ANET_OP_CONV) {
        /* Runtime weights are reported only for 1x1 kernels, and only where the rule is on. */
        int w = anet_op_arg_value(op, "weight");
        const anet_type *tw = w >= 0 ? &g->values[w].type : NULL;
        int64_t kk = 1;
        for (int i = 2; tw && i < tw->rank; i++) kk *= tw->dims[i];
        if (tw && !is_const(g, w) && (!f->on[ANET_FORM_CONV1X1_RUNTIME_WEIGHTS] || kk != 1))
            return set(h, ANET_FORM_CONV1X1_RUNTIME_WEIGHTS, "conv '%s' takes runtime weights '%s'%s", nm,
                       g->values[w].name, kk != 1 ? " with a kernel larger than 1x1" : "");
    }
    if (op->kind == ANET_OP_LOG && f->on[ANET_FORM_LOG_EPSILON]) {
        int x = anet_op_arg_value(op, "x");
        const anet_value *xv = x >= 0 ? &g->values[x] : NULL;
        int ok = 0;
        if (xv && xv->producer >= 0 && g->ops[xv->producer].kind == ANET_OP_ADD) {
            const anet_op *a = &g->ops[xv->producer];
            for (int k = 0; k < 2 && !ok; k++) {
                int v = anet_op_arg_value(a, k ? "y" : "x");
                const anet_const *c = v >= 0 ? anet_graph_const_of(g, v) : NULL;
                if (c && c->data && anet_type_elements(&c->type) == 1) {
                    double e = c->type.dtype == ANET_DT_FP32 ? *(const float *)c->data
                                                             : anet_f16_to_f32(*(const uint16_t *)c->data);
                    ok = e > 0;
                }
            }
        }
        if (!ok) return set(h, ANET_FORM_LOG_EPSILON, "log '%s' of '%s' has no + eps", nm, xv ? xv->name : "?");
    }
    if (is_elementwise(op->kind) && f->on[ANET_FORM_ELEMENTWISE_MAX_16384] && op->noutputs > 0) {
        const anet_type *t = &g->values[op->outputs[0]].type;
        int64_t big = 0;
        if (f->elementwise_total) big = anet_type_elements(t);
        else
            for (int i = 0; i < t->rank; i++)
                if (t->dims[i] > big) big = t->dims[i];
        if (big > f->elementwise_max)
            return set(h, ANET_FORM_ELEMENTWISE_MAX_16384, "%s '%s' spans %lld elements", anet_op_kind_name(op->kind), nm,
                       (long long)big);
    }
    if (is_binary_elementwise(op->kind)) {
        int a = anet_op_arg_value(op, "x"), b = anet_op_arg_value(op, "y");
        if (a < 0 || b < 0) return 0;
        for (int s = 0; s < 2; s++) {
            int small = s ? a : b, large = s ? b : a;
            const anet_type *ts = &g->values[small].type, *tl = &g->values[large].type;
            int64_t ns = anet_type_elements(ts), nl = anet_type_elements(tl);
            if (ns >= nl || ts->rank < 1 || tl->rank < 1) continue;
            if (f->on[ANET_FORM_BROADCAST_SCALAR] && ns == 1 && !is_const(g, small))
                return set(h, ANET_FORM_BROADCAST_SCALAR, "%s '%s' broadcasts scalar '%s'",
                           anet_op_kind_name(op->kind), nm, g->values[small].name);
            if (f->on[ANET_FORM_BROADCAST_CHANNEL] && ns > 1 && ts->dims[ts->rank - 1] == 1 &&
                tl->dims[tl->rank - 1] > 1)
                return set(h, ANET_FORM_BROADCAST_CHANNEL, "op '%s' broadcasts '%s' along its last axis",
                           nm, g->values[small].name);
        }
    }
    if (f->on[ANET_FORM_RESERVED_NAMES])
        for (int i = 0; i < op->noutputs; i++) {
            const char *vn = g->values[op->outputs[i]].name;
            for (size_t r = 0; vn && r < sizeof reserved / sizeof reserved[0]; r++)
                if (strcmp(vn, reserved[r]) == 0)
                    return set(h, ANET_FORM_RESERVED_NAMES, "value '%s' of op '%s'", vn, nm);
        }
    return 0;
}

int anet_forms_check(const anet_graph *g, const anet_forms *f, anet_form_hit *h) {
    memset(h, 0, sizeof *h);
    h->rule = -1;
    if (f->on[ANET_FORM_DIALECT_IOS16] && g->dialect != ANET_MIL_IOS16 && f->chip != ANET_CHIP_M4) {
        h->rule = ANET_FORM_DIALECT_IOS16;
        h->failure = ANET_FORM_FAIL_COMPILE;
        snprintf(h->detail, sizeof h->detail, "program(%s)/%s on %s (M1-M3 peers use program(1.0)/ios16)",
                 g->program_version ? g->program_version : "?", g->opset ? g->opset : "?",
                 anet_chip_name(f->chip));
        return 1;
    }
    if (f->on[ANET_FORM_RESERVED_NAMES])
        for (int i = 0; i < g->ninputs; i++)
            for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
                if (strcmp(g->values[g->inputs[i]].name, reserved[r]) == 0)
                    return set(h, ANET_FORM_RESERVED_NAMES, "input '%s'", g->values[g->inputs[i]].name);
    if (check_io(g, f, h)) return 1;
    for (int o = 0; o < g->nops; o++)
        if (g->ops[o].kind != ANET_OP_CONST && check_op(g, f, &g->ops[o], h)) return 1;
    return 0;
}
