/* Reading a graph: an op's arguments by key, and a value's const payload as ints, bool, float or string. */
#include "graph/ir.h"

#include <string.h>

#include "core/fp16.h"

const anet_arg *anet_op_arg(const anet_op *op, const char *key) {
    if (!op || !key) return NULL;
    for (int i = 0; i < op->nargs; i++)
        if (strcmp(op->args[i].key, key) == 0) return &op->args[i];
    return NULL;
}

int anet_op_arg_value(const anet_op *op, const char *key) {
    const anet_arg *a = anet_op_arg(op, key);
    return a && a->n > 0 ? a->vals[0] : -1;
}

const anet_const *anet_graph_const_of(const anet_graph *g, int value_id) {
    if (!g || value_id < 0 || value_id >= g->nvalues) return NULL;
    int p = g->values[value_id].producer;
    if (p < 0 || p >= g->nops || g->ops[p].kind != ANET_OP_CONST) return NULL;
    return g->ops[p].val;
}

static int read_int_elem(const anet_const *c, int64_t i, int64_t *out) {
    const uint8_t *d = c->data;
    switch (c->type.dtype) {
    case ANET_DT_INT32: { int32_t v; memcpy(&v, d + 4 * i, 4); *out = v; return 0; }
    case ANET_DT_UINT64: {
        uint64_t v;
        memcpy(&v, d + 8 * i, 8);
        if (v > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)v;
        return 0;
    }
    case ANET_DT_INT8: *out = (int8_t)d[i]; return 0;
    case ANET_DT_UINT8: *out = d[i]; return 0;
    default: return -1;
    }
}

int anet_const_get_int(const anet_const *c, int64_t *out) {
    if (!c || !c->data || c->type.rank != 0) return -1;
    return read_int_elem(c, 0, out);
}

int anet_const_get_ints(const anet_const *c, int64_t *out, int max, int *n) {
    if (!c || !c->data || c->type.rank > 1) return -1;
    int64_t cnt = anet_type_elements(&c->type);
    if (cnt < 0 || cnt > max) return -1;
    for (int64_t i = 0; i < cnt; i++)
        if (read_int_elem(c, i, &out[i])) return -1;
    *n = (int)cnt;
    return 0;
}

int anet_const_get_bool(const anet_const *c, int *out) {
    if (!c || !c->data || c->type.rank != 0 || c->type.dtype != ANET_DT_BOOL) return -1;
    *out = ((const uint8_t *)c->data)[0] != 0;
    return 0;
}

int anet_const_get_float(const anet_const *c, double *out) {
    if (!c || !c->data || c->type.rank != 0) return -1;
    switch (c->type.dtype) {
    case ANET_DT_FP16: { uint16_t h; memcpy(&h, c->data, 2); *out = anet_f16_to_f32(h); return 0; }
    case ANET_DT_FP32: { float f; memcpy(&f, c->data, 4); *out = f; return 0; }
    case ANET_DT_INT32: { int32_t v; memcpy(&v, c->data, 4); *out = v; return 0; }
    default: return -1;
    }
}

const char *anet_const_get_string(const anet_const *c) {
    if (!c || !c->data || c->type.dtype != ANET_DT_STRING || c->nbytes == 0) return NULL;
    const char *s = c->data;
    return s[c->nbytes - 1] == '\0' ? s : NULL;
}
