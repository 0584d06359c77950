/* Whole-graph verification: unique valid names, producers and shapes, every op re-inferred. */
#include "graph/ir.h"

#include "core/error.h"
#include "graph/ir_util.h"
#include "graph/nameset.h"

/* Value names unique and valid, op names present and unique (two namespaces), in linear time. */
static anet_status check_unique_names(const anet_graph *g) {
    anet__nameset seen = {0};
    anet_status st = ANET_OK;
    for (int i = 0; i < g->nvalues && !st; i++) {
        const char *n = g->values[i].name;
        if (!anet__valid_name(n)) st = anet_fail(ANET_E_INVALID, "verify: value %d has an invalid name", i);
        else if (anet__ns_get(&seen, n) >= 0) st = anet_fail(ANET_E_INVALID, "verify: value name '%s' used twice", n);
        else if (anet__ns_put(&seen, n, i)) st = anet_fail(ANET_E_NOMEM, "verify: out of memory");
    }
    anet__ns_free(&seen);
    for (int o = 0; o < g->nops && !st; o++) {
        const anet_op *op = &g->ops[o];
        if (!op->name || !op->type) st = anet_fail(ANET_E_INVALID, "verify: op %d has no name or type", o);
        else if (anet__ns_get(&seen, op->name) >= 0) st = anet_fail(ANET_E_INVALID, "verify: op name '%s' used twice", op->name);
        else if (anet__ns_put(&seen, op->name, o)) st = anet_fail(ANET_E_NOMEM, "verify: out of memory");
    }
    anet__ns_free(&seen);
    return st;
}

anet_status anet_graph_verify(const anet_graph *g) {
    char tb1[128], tb2[128];
    if (!g) return anet_fail(ANET_E_INVALID, "verify: no graph");
    anet_status st = check_unique_names(g);
    if (st) return st;
    for (int i = 0; i < g->nvalues; i++) {
        const anet_value *v = &g->values[i];
        if (v->producer < -1 || v->producer >= g->nops)
            return anet_fail(ANET_E_INVALID, "verify: value '%s' has a bad producer", v->name);
        if (anet_type_elements(&v->type) < 0)
            return anet_fail(ANET_E_INVALID, "verify: value '%s' has an invalid shape", v->name);
    }
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] < 0 || g->inputs[i] >= g->nvalues || g->values[g->inputs[i]].producer != -1)
            return anet_fail(ANET_E_INVALID, "verify: input %d is not a function input", i);
    for (int i = 0; i < g->nvalues; i++)
        if (g->values[i].producer == -1) {
            int found = 0;
            for (int k = 0; k < g->ninputs; k++) found |= g->inputs[k] == i;
            if (!found)
                return anet_fail(ANET_E_INVALID, "verify: value '%s' has no producer", g->values[i].name);
        }
    /* every use comes after the op that defines the value */
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        for (int a = 0; a < op->nargs; a++)
            for (int k = 0; k < op->args[a].n; k++) {
                int v = op->args[a].vals[k];
                if (v < 0 || v >= g->nvalues)
                    return anet_fail(ANET_E_INVALID, "verify: %s '%s': argument '%s' names no value",
                                     op->type, op->name, op->args[a].key);
                if (g->values[v].producer >= o)
                    return anet_fail(ANET_E_INVALID, "verify: %s '%s' uses '%s' before it is defined",
                                     op->type, op->name, g->values[v].name);
            }
        for (int k = 0; k < op->noutputs; k++) {
            int v = op->outputs[k];
            if (v < 0 || v >= g->nvalues || g->values[v].producer != o)
                return anet_fail(ANET_E_INVALID, "verify: %s '%s': output %d is inconsistent",
                                 op->type, op->name, k);
        }
        if (op->kind == ANET_OP_CONST) {
            if (!op->val || op->noutputs != 1 ||
                !anet_type_equal(&op->val->type, &g->values[op->outputs[0]].type))
                return anet_fail(ANET_E_INVALID, "verify: const '%s' is inconsistent", op->name);
            continue;
        }
        if (op->kind == ANET_OP_UNKNOWN) continue; /* kept as written; the checker reports it */
        anet_type inf[ANET__MAX_OUTPUTS];
        int n = 0;
        anet_status ist = anet_infer(g, op, inf, ANET__MAX_OUTPUTS, &n);
        if (ist != ANET_OK) return ist;
        if (n != op->noutputs)
            return anet_fail(ANET_E_MISMATCH, "verify: %s '%s' has %d outputs, inferred %d", op->type,
                             op->name, op->noutputs, n);
        for (int k = 0; k < n; k++)
            if (!anet_type_equal(&inf[k], &g->values[op->outputs[k]].type))
                return anet_fail(ANET_E_MISMATCH, "verify: %s '%s': output declared %s, inferred %s",
                                 op->type, op->name,
                                 anet_type_str(&g->values[op->outputs[k]].type, tb1, sizeof tb1),
                                 anet_type_str(&inf[k], tb2, sizeof tb2));
    }
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->nvalues)
            return anet_fail(ANET_E_INVALID, "verify: output %d names no value", i);
    return ANET_OK;
}
