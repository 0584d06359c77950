/* The graph IR: construction (lifetime, names, inputs, consts, ops, outputs). Types are in
 * types.c, reading args and const payloads in ir_access.c, verification in ir_verify.c, shape
 * inference in infer.c. */
#include "graph/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/ir_util.h"

/* ---- graph lifetime ---- */

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

anet_graph *anet_graph_new(anet_mil_dialect dialect) {
    anet_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->dialect = dialect;
    g->program_version = dupstr(dialect == ANET_MIL_IOS16 ? "1.0" : "1.3");
    g->opset = dupstr(dialect == ANET_MIL_IOS16 ? "ios16" : "ios18");
    g->func_name = dupstr("main");
    if (!g->program_version || !g->opset || !g->func_name) {
        anet_graph_free(g);
        return NULL;
    }
    /* The buildInfo that maderix/ANE and Orion send with working programs. */
    static const char *const bi[][2] = {{"coremlc-component-MIL", "3510.2.1"},
                                        {"coremlc-version", "3505.4.1"},
                                        {"coremltools-component-milinternal", ""},
                                        {"coremltools-version", "9.0"}};
    int nbi = (int)(sizeof bi / sizeof bi[0]);
    g->build_info = calloc((size_t)nbi, sizeof *g->build_info);
    if (!g->build_info) {
        anet_graph_free(g);
        return NULL;
    }
    for (int i = 0; i < nbi; i++) {
        g->build_info[i].key = dupstr(bi[i][0]);
        g->build_info[i].value = dupstr(bi[i][1]);
        g->nbuild_info++;
        if (!g->build_info[i].key || !g->build_info[i].value) {
            anet_graph_free(g);
            return NULL;
        }
    }
    return g;
}

static void free_op(anet_op *op) {
    free(op->type);
    free(op->name);
    for (int i = 0; i < op->nargs; i++) {
        free(op->args[i].key);
        free(op->args[i].vals);
    }
    free(op->args);
    free(op->outputs);
    if (op->val) {
        free(op->val->data);
        free(op->val->blob_path);
        free(op->val);
    }
}

void anet_graph_free(anet_graph *g) {
    if (!g) return;
    free(g->program_version);
    free(g->opset);
    free(g->func_name);
    for (int i = 0; i < g->nbuild_info; i++) {
        free(g->build_info[i].key);
        free(g->build_info[i].value);
    }
    free(g->build_info);
    free(g->inputs);
    free(g->outputs);
    for (int i = 0; i < g->nvalues; i++) free(g->values[i].name);
    free(g->values);
    for (int i = 0; i < g->nops; i++) free_op(&g->ops[i]);
    free(g->ops);
    free(g);
}

/* ---- names ---- */

int anet_graph_find(const anet_graph *g, const char *value_name) {
    if (!g || !value_name) return -1;
    for (int i = 0; i < g->nvalues; i++)
        if (g->values[i].name[0] == value_name[0] && strcmp(g->values[i].name, value_name) == 0)
            return i;
    return -1;
}

static int op_name_taken(const anet_graph *g, const char *name) {
    for (int i = 0; i < g->nops; i++)
        if (g->ops[i].name && g->ops[i].name[0] == name[0] && strcmp(g->ops[i].name, name) == 0)
            return 1;
    return 0;
}

/* A fresh "<prefix>_N" free in both the value and the op namespace. */
static void gen_name(anet_graph *g, const char *prefix, char *buf, size_t len) {
    for (;;) {
        snprintf(buf, len, "%s_%d", prefix, g->name_counter++);
        if (anet_graph_find(g, buf) < 0 && !op_name_taken(g, buf)) return;
    }
}

int anet__valid_name(const char *s) {
    if (!s || !*s) return 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return strlen(s) <= ANET__MAX_NAME;
}

/* ---- growth ---- */

static int grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    if (need > ANET__MAX_GRAPH_ITEMS) return -1;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static int add_value(anet_graph *g, const char *name, anet_type t, int producer) {
    if (grow((void **)&g->values, &g->cap_values, g->nvalues + 1, sizeof *g->values)) {
        anet_fail(ANET_E_NOMEM, "graph: too many values (limit %d)", ANET__MAX_GRAPH_ITEMS);
        return -1;
    }
    char *n = dupstr(name);
    if (!n) {
        anet_fail(ANET_E_NOMEM, "graph: out of memory");
        return -1;
    }
    anet_value *v = &g->values[g->nvalues];
    v->name = n;
    v->type = t;
    v->producer = producer;
    return g->nvalues++;
}

static int check_type(const anet_type *t, const char *what) {
    char b[96];
    if (t->rank < 0 || t->rank > ANET_MAX_RANK) {
        anet_fail(ANET_E_INVALID, "%s: rank %d is outside 0..%d", what, t->rank, ANET_MAX_RANK);
        return -1;
    }
    if (t->dtype <= ANET_DT_INVALID || t->dtype > ANET_DT_UINT8) {
        anet_fail(ANET_E_INVALID, "%s: invalid dtype", what);
        return -1;
    }
    if ((t->dtype == ANET_DT_STRING || t->dtype == ANET_DT_UINT64) && t->rank != 0) {
        anet_fail(ANET_E_INVALID, "%s: %s must be a scalar", what, anet_dtype_name(t->dtype));
        return -1;
    }
    if (anet_type_elements(t) < 0) {
        anet_fail(ANET_E_INVALID, "%s: shape %s has a dim < 1 or more than 2^31 elements", what,
                  anet__dims_str(t, b, sizeof b));
        return -1;
    }
    return 0;
}

int anet_graph_input(anet_graph *g, const char *name, anet_type t) {
    if (!g || !anet__valid_name(name)) {
        anet_fail(ANET_E_INVALID, "graph input: invalid name '%s'", name ? name : "(null)");
        return -1;
    }
    char what[ANET__MAX_NAME + 32];
    snprintf(what, sizeof what, "input '%s'", name);
    if (check_type(&t, what)) return -1;
    if (t.dtype == ANET_DT_STRING || t.dtype == ANET_DT_UINT64) {
        anet_fail(ANET_E_INVALID, "input '%s': %s is not a tensor dtype", name, anet_dtype_name(t.dtype));
        return -1;
    }
    if (anet_graph_find(g, name) >= 0) {
        anet_fail(ANET_E_INVALID, "input '%s': name already used", name);
        return -1;
    }
    if (g->ninputs >= ANET__MAX_GRAPH_IO) {
        anet_fail(ANET_E_NOMEM, "input '%s': more than %d inputs", name, ANET__MAX_GRAPH_IO);
        return -1;
    }
    int *p = realloc(g->inputs, (size_t)(g->ninputs + 1) * sizeof *p);
    if (!p) {
        anet_fail(ANET_E_NOMEM, "graph: out of memory");
        return -1;
    }
    g->inputs = p;
    int v = add_value(g, name, t, -1);
    if (v < 0) return -1;
    g->inputs[g->ninputs++] = v;
    return v;
}

static anet_op *new_op(anet_graph *g, int *id) {
    if (grow((void **)&g->ops, &g->cap_ops, g->nops + 1, sizeof *g->ops)) {
        anet_fail(ANET_E_NOMEM, "graph: too many ops (limit %d)", ANET__MAX_GRAPH_ITEMS);
        return NULL;
    }
    anet_op *op = &g->ops[g->nops];
    memset(op, 0, sizeof *op);
    *id = g->nops;
    return op;
}

int anet_graph_const(anet_graph *g, const char *name, anet_type t, const void *data, size_t nbytes) {
    return anet__graph_const2(g, name, NULL, t, data, nbytes, 0);
}

int anet__graph_const2(anet_graph *g, const char *name, const char *op_name, anet_type t,
                       const void *data, size_t nbytes, int names_checked) {
    char gen[32];
    if (!g) return -1;
    if (!name) {
        gen_name(g, "c", gen, sizeof gen);
        name = gen;
    }
    if (!op_name) op_name = name;
    if (!anet__valid_name(op_name)) {
        anet_fail(ANET_E_INVALID, "const: invalid op name '%s'", op_name);
        return -1;
    }
    if (!anet__valid_name(name)) {
        anet_fail(ANET_E_INVALID, "const: invalid name '%s'", name);
        return -1;
    }
    char what[ANET__MAX_NAME + 32];
    snprintf(what, sizeof what, "const '%s'", name);
    if (check_type(&t, what)) return -1;
    if (t.dtype == ANET_DT_STRING) {
        const char *s = data;
        if (!s || nbytes == 0 || s[nbytes - 1] != '\0' || strlen(s) + 1 != nbytes) {
            anet_fail(ANET_E_INVALID, "const '%s': a string needs its NUL-terminated bytes", name);
            return -1;
        }
    } else {
        int64_t n = anet_type_elements(&t);
        size_t want = (size_t)n * anet_dtype_size(t.dtype);
        if (nbytes != want || !data) {
            anet_fail(ANET_E_INVALID, "const '%s': %zu bytes given, %s needs %zu", name, nbytes,
                      anet_type_str(&t, what, sizeof what), want);
            return -1;
        }
    }
    if (!names_checked && (anet_graph_find(g, name) >= 0 || op_name_taken(g, op_name))) {
        anet_fail(ANET_E_INVALID, "const '%s': name already used", anet_graph_find(g, name) >= 0 ? name : op_name);
        return -1;
    }
    anet_const *c = calloc(1, sizeof *c);
    void *copy = malloc(nbytes ? nbytes : 1);
    int *outs = malloc(sizeof *outs);
    char *nm = dupstr(op_name), *ty = dupstr("const");
    int id;
    anet_op *op = (c && copy && outs && nm && ty) ? new_op(g, &id) : NULL;
    if (!op) {
        free(c); free(copy); free(outs); free(nm); free(ty);
        if (!(c && copy && outs && nm && ty)) anet_fail(ANET_E_NOMEM, "graph: out of memory");
        return -1;
    }
    memcpy(copy, data, nbytes);
    c->type = t;
    c->data = copy;
    c->nbytes = nbytes;
    int v = add_value(g, name, t, id);
    if (v < 0) {
        free(c); free(copy); free(outs); free(nm); free(ty);
        return -1;
    }
    op->kind = ANET_OP_CONST;
    op->type = ty;
    op->name = nm;
    op->outputs = outs;
    op->outputs[0] = v;
    op->noutputs = 1;
    op->val = c;
    g->nops++;
    return v;
}

int anet_graph_const_bool(anet_graph *g, const char *name, int v) {
    uint8_t b = v ? 1 : 0;
    return anet_graph_const(g, name, anet_type_make(ANET_DT_BOOL, 0, NULL), &b, 1);
}

int anet_graph_const_int32(anet_graph *g, const char *name, int32_t v) {
    return anet_graph_const(g, name, anet_type_make(ANET_DT_INT32, 0, NULL), &v, sizeof v);
}

int anet_graph_const_int32s(anet_graph *g, const char *name, int n, const int32_t *v) {
    int64_t d = n;
    if (n < 1 || !v) {
        anet_fail(ANET_E_INVALID, "const '%s': an int32 tensor needs at least one element",
                  name ? name : "(generated)");
        return -1;
    }
    return anet_graph_const(g, name, anet_type_make(ANET_DT_INT32, 1, &d), v, (size_t)n * 4);
}

int anet_graph_const_string(anet_graph *g, const char *name, const char *s) {
    if (!s) {
        anet_fail(ANET_E_INVALID, "const string: NULL");
        return -1;
    }
    return anet_graph_const(g, name, anet_type_make(ANET_DT_STRING, 0, NULL), s, strlen(s) + 1);
}

int anet_graph_const_fp16(anet_graph *g, const char *name, float v) {
    uint16_t h = anet_f32_to_f16(v);
    return anet_graph_const(g, name, anet_type_make(ANET_DT_FP16, 0, NULL), &h, 2);
}

int anet_graph_const_fp32(anet_graph *g, const char *name, float v) {
    return anet_graph_const(g, name, anet_type_make(ANET_DT_FP32, 0, NULL), &v, 4);
}

/* ---- ops ---- */

static void free_args(anet_arg *a, int n) {
    if (!a) return;
    for (int i = 0; i < n; i++) {
        free(a[i].key);
        free(a[i].vals);
    }
    free(a);
}

int anet_graph_op_raw(anet_graph *g, const char *type, const char *name, int nargs,
                      const anet_arg *args, int noutputs, const char *const *out_names,
                      const anet_type *out_types) {
    return anet__graph_op_raw2(g, type, name, nargs, args, noutputs, out_names, out_types, 0);
}

int anet__graph_op_raw2(anet_graph *g, const char *type, const char *name, int nargs,
                        const anet_arg *args, int noutputs, const char *const *out_names,
                        const anet_type *out_types, int names_checked) {
    char gen[32], tb1[128], tb2[128];
    if (!g || !type || !*type || nargs < 0 || nargs > ANET__MAX_ARGS || (nargs && !args)) {
        anet_fail(ANET_E_INVALID, "op: bad arguments");
        return -1;
    }
    if (!anet__valid_name(type)) {
        anet_fail(ANET_E_INVALID, "op: invalid op type '%.64s'", type);
        return -1;
    }
    anet_opkind kind = anet_op_kind_lookup(type);
    if (kind == ANET_OP_CONST) {
        anet_fail(ANET_E_INVALID, "op '%s': consts are made with anet_graph_const", name ? name : type);
        return -1;
    }
    if (!name) {
        gen_name(g, "op", gen, sizeof gen);
        name = gen;
    }
    if (!anet__valid_name(name)) {
        anet_fail(ANET_E_INVALID, "%s: invalid op name '%s'", type, name);
        return -1;
    }
    if (!names_checked && op_name_taken(g, name)) {
        anet_fail(ANET_E_INVALID, "%s '%s': op name already used", type, name);
        return -1;
    }
    /* Arguments: keys distinct, every value defined already (so program order is topological). */
    for (int i = 0; i < nargs; i++) {
        if (!args[i].key || !*args[i].key || args[i].n < 1 || args[i].n > ANET__MAX_TUPLE ||
            !args[i].vals) {
            anet_fail(ANET_E_INVALID, "%s '%s': argument %d is malformed", type, name, i);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(args[j].key, args[i].key) == 0) {
                anet_fail(ANET_E_INVALID, "%s '%s': argument '%s' given twice", type, name, args[i].key);
                return -1;
            }
        for (int k = 0; k < args[i].n; k++)
            if (args[i].vals[k] < 0 || args[i].vals[k] >= g->nvalues) {
                anet_fail(ANET_E_INVALID, "%s '%s': argument '%s' names no value", type, name, args[i].key);
                return -1;
            }
    }
    if (kind == ANET_OP_UNKNOWN && (noutputs < 1 || !out_types)) {
        anet_fail(ANET_E_INVALID, "%s '%s': an op unknown here needs declared output types", type, name);
        return -1;
    }
    if (noutputs < 0 || noutputs > ANET__MAX_OUTPUTS || (noutputs > 0 && !out_names)) {
        anet_fail(ANET_E_INVALID, "%s '%s': bad output list", type, name);
        return -1;
    }

    anet_op tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.kind = kind;
    tmp.type = (char *)type;
    tmp.name = (char *)name;
    tmp.args = (anet_arg *)args;
    tmp.nargs = nargs;

    anet_type inferred[ANET__MAX_OUTPUTS];
    int ninf = 0;
    if (kind != ANET_OP_UNKNOWN) {
        anet_status st = anet_infer(g, &tmp, inferred, ANET__MAX_OUTPUTS, &ninf);
        if (st != ANET_OK) return -1;
        if (noutputs == 0) noutputs = ninf;
        if (noutputs != ninf) {
            anet_fail(ANET_E_MISMATCH, "%s '%s': %d outputs declared, the op has %d", type, name,
                      noutputs, ninf);
            return -1;
        }
        if (out_types)
            for (int i = 0; i < ninf; i++)
                if (!anet_type_equal(&inferred[i], &out_types[i])) {
                    anet_fail(ANET_E_MISMATCH, "%s '%s': output declared %s, inferred %s", type, name,
                              anet_type_str(&out_types[i], tb1, sizeof tb1),
                              anet_type_str(&inferred[i], tb2, sizeof tb2));
                    return -1;
                }
    } else {
        for (int i = 0; i < noutputs; i++) {
            char what[ANET__MAX_NAME + 48];
            snprintf(what, sizeof what, "%s '%s' output %d", type, name, i);
            if (check_type(&out_types[i], what)) return -1;
            inferred[i] = out_types[i];
        }
    }
    /* Output names: given, or the op's name (several outputs: name, name_1, ...). */
    const char *onames[ANET__MAX_OUTPUTS];
    char obuf[ANET__MAX_OUTPUTS][ANET__MAX_NAME + 16];
    for (int i = 0; i < noutputs; i++) {
        if (out_names && out_names[i]) onames[i] = out_names[i];
        else {
            if (i == 0) snprintf(obuf[i], sizeof obuf[i], "%s", name);
            else snprintf(obuf[i], sizeof obuf[i], "%s_%d", name, i);
            onames[i] = obuf[i];
        }
        if (!anet__valid_name(onames[i])) {
            anet_fail(ANET_E_INVALID, "%s '%s': invalid output name '%s'", type, name, onames[i]);
            return -1;
        }
        if (!names_checked && anet_graph_find(g, onames[i]) >= 0) {
            anet_fail(ANET_E_INVALID, "%s '%s': output name '%s' already used", type, name, onames[i]);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(onames[i], onames[j]) == 0) {
                anet_fail(ANET_E_INVALID, "%s '%s': output name '%s' repeated", type, name, onames[i]);
                return -1;
            }
    }

    /* Copy everything, then commit. */
    anet_arg *ac = nargs ? calloc((size_t)nargs, sizeof *ac) : NULL;
    int *outs = malloc((size_t)(noutputs ? noutputs : 1) * sizeof *outs);
    char *ty = dupstr(type), *nm = dupstr(name);
    int ok = (ac || !nargs) && outs && ty && nm;
    for (int i = 0; ok && i < nargs; i++) {
        ac[i].key = dupstr(args[i].key);
        ac[i].vals = malloc((size_t)args[i].n * sizeof(int));
        if (!ac[i].key || !ac[i].vals) {
            ok = 0;
            break;
        }
        memcpy(ac[i].vals, args[i].vals, (size_t)args[i].n * sizeof(int));
        ac[i].n = args[i].n;
        ac[i].is_tuple = args[i].is_tuple;
    }
    if (ok && grow((void **)&g->values, &g->cap_values, g->nvalues + noutputs, sizeof *g->values))
        ok = 0;
    int id = -1;
    anet_op *op = ok ? new_op(g, &id) : NULL;
    if (!op) {
        free_args(ac, nargs);
        free(outs); free(ty); free(nm);
        anet_fail(ANET_E_NOMEM, "%s '%s': out of memory or beyond the graph limits", type, name);
        return -1;
    }
    for (int i = 0; i < noutputs; i++) {
        int v = add_value(g, onames[i], inferred[i], id);
        if (v < 0) { /* cannot happen after the grow above, but stay consistent */
            while (i-- > 0) free(g->values[--g->nvalues].name);
            free_args(ac, nargs);
            free(outs); free(ty); free(nm);
            return -1;
        }
        outs[i] = v;
    }
    op->kind = kind;
    op->type = ty;
    op->name = nm;
    op->args = ac;
    op->nargs = nargs;
    op->outputs = outs;
    op->noutputs = noutputs;
    g->nops++;
    return id;
}

int anet_graph_op(anet_graph *g, anet_opkind kind, const char *name, int nargs,
                  const char *const *keys, const int *vals) {
    if (!g || kind < 0 || kind >= ANET_OP_COUNT_ || nargs < 0 || nargs > ANET__MAX_ARGS ||
        (nargs && (!keys || !vals))) {
        anet_fail(ANET_E_INVALID, "op: bad arguments");
        return -1;
    }
    /* Repeated keys merge into one tuple argument (concat's values = (a, b, c)). */
    anet_arg args[ANET__MAX_ARGS];
    int store[ANET__MAX_ARGS];
    int na = 0;
    memcpy(store, vals, (size_t)nargs * sizeof(int));
    for (int i = 0; i < nargs; i++) {
        if (!keys[i]) {
            anet_fail(ANET_E_INVALID, "%s: argument %d has no key", anet_op_kind_name(kind), i);
            return -1;
        }
        int j;
        for (j = 0; j < na; j++)
            if (strcmp(args[j].key, keys[i]) == 0) break;
        if (j < na) continue;
        args[na].key = (char *)keys[i];
        args[na].vals = NULL;
        args[na].n = 0;
        args[na].is_tuple = 0;
        na++;
    }
    /* Lay the values out grouped by key, in order. */
    int grouped[ANET__MAX_ARGS], pos = 0;
    for (int j = 0; j < na; j++) {
        args[j].vals = &grouped[pos];
        for (int i = 0; i < nargs; i++)
            if (strcmp(keys[i], args[j].key) == 0) {
                grouped[pos++] = store[i];
                args[j].n++;
            }
        args[j].is_tuple = args[j].n > 1 || (kind == ANET_OP_CONCAT && strcmp(args[j].key, "values") == 0);
    }
    int id = anet_graph_op_raw(g, anet_op_kind_name(kind), name, na, args, 0, NULL, NULL);
    if (id < 0) return -1;
    return g->ops[id].outputs[0];
}

anet_status anet_graph_set_outputs(anet_graph *g, int n, const int *vals) {
    if (!g || n < 1 || n > ANET__MAX_GRAPH_IO || !vals)
        return anet_fail(ANET_E_INVALID, "graph outputs: need 1..%d values", ANET__MAX_GRAPH_IO);
    for (int i = 0; i < n; i++) {
        if (vals[i] < 0 || vals[i] >= g->nvalues)
            return anet_fail(ANET_E_INVALID, "graph outputs: value id %d does not exist", vals[i]);
        for (int j = 0; j < i; j++)
            if (vals[j] == vals[i])
                return anet_fail(ANET_E_INVALID, "graph outputs: '%s' listed twice", g->values[vals[i]].name);
    }
    int *p = malloc((size_t)n * sizeof *p);
    if (!p) return anet_fail(ANET_E_NOMEM, "graph: out of memory");
    memcpy(p, vals, (size_t)n * sizeof *p);
    free(g->outputs);
    g->outputs = p;
    g->noutputs = n;
    return ANET_OK;
}
