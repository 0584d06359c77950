/* Reading an exported package back: the program through the Core ML reader (src/coreml, with
 * the weights), the class labels from the classify op's const list, and a runner that feeds
 * samples one by one to vane. Field numbers: see spec.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coreml/coreml.h"
#include "coreml/pb.h"
#include "core/error.h"
#include "core/fp16.h"
#include "export/export.h"
#include "mil/mil.h"
#include "runtime/vane/vane.h"

void anet_exported_free(anet_exported *e) {
    if (!e) return;
    anet_graph_free(e->g);
    for (int i = 0; e->labels && i < e->classes; i++) free(e->labels[i]);
    free(e->labels);
    memset(e, 0, sizeof *e);
}

static uint8_t *slurp(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) return NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        fclose(f);
        return NULL;
    }
    uint8_t *b = malloc((size_t)st.st_size + 1);
    *len = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (b && *len != (size_t)st.st_size) {
        free(b);
        return NULL;
    }
    if (b) b[*len] = 0;
    return b;
}

/* First LEN field `num` of a message (0) or -1. */
static int field(const uint8_t *buf, size_t len, unsigned num, const uint8_t **d, size_t *n) {
    anet_pb_reader r;
    anet_pb_field f;
    anet_pb_init(&r, buf, len);
    while (anet_pb_next(&r, &f, "model") == 1)
        if (f.num == num && f.wire == ANET_PB_LEN) {
            *d = f.data, *n = f.len;
            return 0;
        }
    return -1;
}

/* The value of map entry `key` among the repeated LEN fields `num` of a message. */
static int map_get(const uint8_t *buf, size_t len, unsigned num, const char *key, const uint8_t **d, size_t *n) {
    anet_pb_reader r;
    anet_pb_field f;
    const uint8_t *k;
    size_t kl;
    anet_pb_init(&r, buf, len);
    while (anet_pb_next(&r, &f, "model") == 1)
        if (f.num == num && f.wire == ANET_PB_LEN && field(f.data, f.len, 1, &k, &kl) == 0 && kl == strlen(key) &&
            memcmp(k, key, kl) == 0)
            return field(f.data, f.len, 2, d, n);
    return -1;
}

static int is(const uint8_t *s, size_t n, const char *z) { return n == strlen(z) && memcmp(s, z, n) == 0; }

/* Labels of the classify op: its `classes` argument binds a list value
 * (Binding.value.immediateValue.list.values[i].immediateValue.tensor.strings.values[0]). */
static anet_status read_labels(const uint8_t *spec, size_t len, anet_exported *e) {
    const uint8_t *prog, *fn, *blk, *opset;
    size_t pl, fl, bl, ol;
    if (field(spec, len, 502, &prog, &pl) != 0 || map_get(prog, pl, 2, "main", &fn, &fl) != 0 ||
        field(fn, fl, 2, &opset, &ol) != 0)
        return anet_fail(ANET_E_FORMAT, "not an ML Program with a main function");
    char os[16];
    snprintf(os, sizeof os, "%.*s", (int)(ol < 15 ? ol : 15), (const char *)opset);
    if (map_get(fn, fl, 3, os, &blk, &bl) != 0) return anet_fail(ANET_E_FORMAT, "no block for opset %s", os);
    snprintf(e->opset, sizeof e->opset, "%s", os);
    anet_pb_reader r, r2;
    anet_pb_field f, g;
    anet_pb_init(&r, blk, bl);
    while (anet_pb_next(&r, &f, "Block") == 1) {
        const uint8_t *t, *arg, *bind, *val, *iv, *lv;
        size_t tl, al, bil, vl, ivl, lvl;
        if (f.num != 3 || f.wire != ANET_PB_LEN || field(f.data, f.len, 1, &t, &tl) != 0 || !is(t, tl, "classify")) continue;
        if (map_get(f.data, f.len, 2, "classes", &arg, &al) != 0 || field(arg, al, 1, &bind, &bil) != 0 ||
            field(bind, bil, 2, &val, &vl) != 0 || field(val, vl, 3, &iv, &ivl) != 0 || field(iv, ivl, 3, &lv, &lvl) != 0)
            return anet_fail(ANET_E_FORMAT, "the classifier's classes are not a list value");
        int n = 0;
        anet_pb_init(&r2, lv, lvl);
        while (anet_pb_next(&r2, &g, "ListValue") == 1) n += g.num == 1;
        if (n != e->classes) return anet_fail(ANET_E_MISMATCH, "%d class labels for %d probabilities", n, e->classes);
        e->labels = calloc((size_t)n, sizeof *e->labels);
        if (!e->labels) return anet_fail(ANET_E_NOMEM, "out of memory");
        int k = 0;
        anet_pb_init(&r2, lv, lvl);
        while (anet_pb_next(&r2, &g, "ListValue") == 1 && k < n) {
            if (g.num != 1 || g.wire != ANET_PB_LEN) continue;
            const uint8_t *a, *b, *c, *s;
            size_t al2, bl2, cl, sl;
            if (field(g.data, g.len, 3, &a, &al2) != 0 || field(a, al2, 1, &b, &bl2) != 0 || field(b, bl2, 4, &c, &cl) != 0 ||
                field(c, cl, 1, &s, &sl) != 0 || !(e->labels[k] = anet_cm_strndup(s, sl)))
                return anet_fail(ANET_E_FORMAT, "class label %d is not a string", k);
            k++;
        }
        return ANET_OK;
    }
    return ANET_OK; /* no classify op: a regression model */
}

/* vane applies the private API's compile rules, which refuse a conv bias -- Core ML's form,
 * which the export writes (deploy.c). The runner gives vane the eval program's form instead,
 * conv then add of the bias as [1, C, 1, 1], which also rounds as the eval program does.
 * Every other op, value name and type is copied as it is. */
anet_status anet_export_vane_form(anet_graph **gp, int *input, int *head) {
    anet_graph *g = *gp;
    int any = 0;
    for (int i = 0; i < g->nops; i++) any |= g->ops[i].kind == ANET_OP_CONV && anet_op_arg(&g->ops[i], "bias");
    if (!any) return ANET_OK;
    anet_graph *ng = anet_graph_new(g->dialect);
    int *map = malloc(sizeof(int) * (size_t)(g->nvalues + 1));
    anet_status st = ng && map ? ANET_OK : anet_fail(ANET_E_NOMEM, "out of memory");
    for (int i = 0; st == ANET_OK && i < g->ninputs; i++) {
        const anet_value *v = &g->values[g->inputs[i]];
        if ((map[g->inputs[i]] = anet_graph_input(ng, v->name, v->type)) < 0) st = ANET_E_INTERNAL;
    }
    for (int oi = 0; st == ANET_OK && oi < g->nops; oi++) {
        const anet_op *op = &g->ops[oi];
        const anet_value *out = &g->values[op->outputs[0]];
        if (op->kind == ANET_OP_CONST) {
            map[op->outputs[0]] = anet_graph_const(ng, out->name, op->val->type, op->val->data, op->val->nbytes);
            if (map[op->outputs[0]] < 0) st = ANET_E_INTERNAL;
            continue;
        }
        anet_arg args[32];
        int vals[32][16], na = 0, bias = -1;
        if (op->nargs > 32) st = anet_fail(ANET_E_UNSUPPORTED, "op '%s' has %d arguments", op->name, op->nargs);
        for (int a = 0; st == ANET_OK && a < op->nargs; a++) {
            if (op->kind == ANET_OP_CONV && strcmp(op->args[a].key, "bias") == 0) {
                bias = map[op->args[a].vals[0]];
                continue;
            }
            args[na] = op->args[a];
            for (int j = 0; j < args[na].n && j < 16; j++) vals[na][j] = map[op->args[a].vals[j]];
            args[na].vals = vals[na];
            na++;
        }
        if (st != ANET_OK) break;
        const char *names[16];
        anet_type types[16];
        for (int k = 0; k < op->noutputs && k < 16; k++)
            names[k] = g->values[op->outputs[k]].name, types[k] = g->values[op->outputs[k]].type;
        if (bias < 0) {
            int id = anet_graph_op_raw(ng, op->type, op->name, na, args, op->noutputs, names, types);
            if (id < 0) st = ANET_E_INTERNAL;
            for (int k = 0; id >= 0 && k < op->noutputs; k++) map[op->outputs[k]] = ng->ops[id].outputs[k];
            continue;
        }
        char cn[300], bn[300], sn[300], an[300];
        snprintf(cn, sizeof cn, "%s_nobias", out->name);
        snprintf(sn, sizeof sn, "%s_bias_shape", out->name);
        snprintf(bn, sizeof bn, "%s_bias", out->name);
        snprintf(an, sizeof an, "%s_add", op->name);
        const char *cnp = cn;
        int c = anet_graph_op_raw(ng, "conv", cn, na, args, 1, &cnp, &out->type);
        int32_t shape[4] = {1, (int32_t)out->type.dims[1], 1, 1};
        int sh = c < 0 ? -1 : anet_graph_const_int32s(ng, sn, 4, shape);
        anet_arg ra[2] = {{"x", 1, &bias, 0}, {"shape", 1, &sh, 0}};
        int64_t bd[4] = {1, out->type.dims[1], 1, 1};
        anet_type bt = anet_type_make(out->type.dtype, 4, bd);
        const char *bnp = bn;
        int r = sh < 0 ? -1 : anet_graph_op_raw(ng, "reshape", bn, 2, ra, 1, &bnp, &bt);
        int xs[2] = {c < 0 ? -1 : ng->ops[c].outputs[0], r < 0 ? -1 : ng->ops[r].outputs[0]};
        anet_arg aa[2] = {{"x", 1, &xs[0], 0}, {"y", 1, &xs[1], 0}};
        int ad = r < 0 ? -1 : anet_graph_op_raw(ng, "add", an, 2, aa, 1, names, types);
        if (ad < 0) st = anet_fail_ctx(ANET_E_INTERNAL, "conv '%s' as conv + add", op->name);
        else map[op->outputs[0]] = ng->ops[ad].outputs[0];
    }
    if (st == ANET_OK) {
        *input = map[*input];
        *head = map[*head];
        anet_graph_free(g);
        *gp = ng;
    } else {
        anet_graph_free(ng);
        if (st == ANET_E_INTERNAL && !anet_last_error()[0]) anet_fail(ANET_E_INTERNAL, "rewriting the program for vane");
    }
    free(map);
    return st;
}

anet_status anet_exported_load(const char *path, anet_exported *e) {
    if (!path || !e) return anet_fail(ANET_E_INVALID, "exported model: missing argument");
    memset(e, 0, sizeof *e);
    anet_cm_model *m = NULL;
    char sp[4096];
    struct stat sb;
    /* A package directory only: a bare model.mlmodel has no weights, and the reader would
     * stand zeros in for them. */
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return anet_fail(ANET_E_UNSUPPORTED, "%s: not an .mlpackage directory (a bare .mlmodel has no weights)", path);
    anet_status st = anet_coreml_package_spec(path, sp, sizeof sp);
    if (st != ANET_OK) return st;
    { /* a missing or damaged weight file: say so, not which op could not be built from it */
        char wp[4200];
        char *slash = strrchr(sp, '/');
        size_t wl = 0;
        snprintf(wp, sizeof wp, "%.*s/weights/weight.bin", slash ? (int)(slash - sp) : 0, sp);
        uint8_t *w = slurp(wp, ANET_CM_MAX_FILE, &wl);
        uint32_t count = 0;
        if (!w) st = anet_fail(ANET_E_IO, "%s: cannot read (a package's weights)", wp);
        else if (anet_weights_validate(w, wl, &count) != ANET_OK) st = anet_fail_ctx(ANET_E_FORMAT, "%s", wp);
        free(w);
        if (st != ANET_OK) return st;
    }
    st = anet_coreml_load_weights(path, &m);
    if (st != ANET_OK) return st;
    if (!m->kind || strcmp(m->kind, "mlProgram") != 0 || m->ngraphs != 1) {
        anet_coreml_free(m);
        return anet_fail(ANET_E_UNSUPPORTED, "%s: not an ML Program exported by ane_trainer", path);
    }
    e->g = m->graphs[0];
    m->graphs[0] = NULL;
    e->spec_version = m->spec_version;
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].is_mil && m->layers[i].op == -2 && st == ANET_OK) /* not modeled: cannot run */
            st = anet_fail(ANET_E_UNSUPPORTED, "%s: op '%s' (%s): %s", path, m->layers[i].name, m->layers[i].type,
                           m->layers[i].detail);
    anet_coreml_free(m);
    if (st != ANET_OK) {
        anet_exported_free(e);
        return st;
    }
    anet_graph *g = e->g;
    e->input = g->ninputs == 1 ? g->inputs[0] : -1;
    e->head = anet_graph_find(g, ANET_EXPORT_PROBS);
    if (e->head < 0) e->head = anet_graph_find(g, ANET_EXPORT_OUTPUT);
    if (e->input < 0 || e->head < 0) {
        anet_exported_free(e);
        return anet_fail(ANET_E_UNSUPPORTED, "%s: not exported by ane_trainer (expects one input and a '%s' or '%s' value)",
                         path, ANET_EXPORT_PROBS, ANET_EXPORT_OUTPUT);
    }
    e->classes = (int)anet_type_elements(&g->values[e->head].type);
    if ((st = anet_export_vane_form(&e->g, &e->input, &e->head)) != ANET_OK || (st = anet_graph_set_outputs(e->g, 1, &e->head)) != ANET_OK) {
        anet_exported_free(e);
        return st;
    }
    size_t len = 0;
    uint8_t *spec = NULL;
    if (st == ANET_OK && !(spec = slurp(sp, ANET_CM_MAX_FILE, &len))) st = anet_fail(ANET_E_IO, "%s: cannot read", sp);
    if (st == ANET_OK && (st = read_labels(spec, len, e)) != ANET_OK) st = anet_fail_ctx(st, "%s", path);
    free(spec);
    if (st != ANET_OK) anet_exported_free(e);
    return st;
}

int anet_export_logits(const anet_graph *g, int head) {
    /* head <- reshape* <- softmax(x = logits) */
    for (int v = head, hops = 0; v >= 0 && hops < 8; hops++) {
        int p = g->values[v].producer;
        if (p < 0) return -1;
        const anet_op *op = &g->ops[p];
        if (op->kind == ANET_OP_SOFTMAX) return anet_op_arg_value(op, "x");
        if (op->kind != ANET_OP_RESHAPE) return -1;
        v = anet_op_arg_value(op, "x");
    }
    return -1;
}

static float load_elem(const uint8_t *b, anet_dtype dt, int64_t k) {
    return dt == ANET_DT_FP32 ? ((const float *)b)[k] : anet_f16_to_f32(((const anet_f16 *)b)[k]);
}

anet_status anet_export_run(anet_graph *g, int input, int head, anet_chip chip, const float *x, size_t n, float *out,
                            float *logits) {
    anet_backend_config cfg = {chip, ANET_NUMERICS_FP16, 0};
    void *state = NULL;
    anet_program *p = NULL;
    int outs[2] = {head, logits ? anet_export_logits(g, head) : -1};
    if (logits && outs[1] < 0) return anet_fail(ANET_E_UNSUPPORTED, "the program has no softmax before its output");
    anet_status st = anet_graph_set_outputs(g, logits ? 2 : 1, outs);
    if (st == ANET_OK) st = anet_vane_ops.create(&cfg, &state);
    if (st == ANET_OK) st = anet_vane_compile_graph(state, g, &p);
    const anet_type *it = &g->values[input].type, *ot = &g->values[head].type, *lt = logits ? &g->values[outs[1]].type : ot;
    int64_t ni = anet_type_elements(it), no = anet_type_elements(ot);
    size_t isz = anet_dtype_size(it->dtype), osz = anet_dtype_size(ot->dtype), lsz = anet_dtype_size(lt->dtype);
    uint8_t *ib = malloc((size_t)ni * isz), *ob = malloc((size_t)no * osz), *lb = malloc((size_t)no * lsz);
    if (st == ANET_OK && (!ib || !ob || !lb)) st = anet_fail(ANET_E_NOMEM, "out of memory");
    if (st == ANET_OK && logits && anet_type_elements(lt) != no)
        st = anet_fail(ANET_E_UNSUPPORTED, "the logits and the output differ in size");
    for (size_t s = 0; st == ANET_OK && s < n; s++) {
        const float *xs = x + s * (size_t)ni;
        for (int64_t k = 0; k < ni; k++) {
            if (it->dtype == ANET_DT_FP32) ((float *)ib)[k] = xs[k];
            else ((anet_f16 *)ib)[k] = anet_f32_to_f16(xs[k]);
        }
        anet_io in = {ib, (size_t)ni * isz}, o[2] = {{ob, (size_t)no * osz}, {lb, (size_t)no * lsz}};
        st = anet_vane_ops.eval(state, p, &in, 1, o, logits ? 2 : 1);
        for (int64_t k = 0; st == ANET_OK && k < no; k++) {
            out[s * (size_t)no + (size_t)k] = load_elem(ob, ot->dtype, k);
            if (logits) logits[s * (size_t)no + (size_t)k] = load_elem(lb, lt->dtype, k);
        }
    }
    free(ib);
    free(ob);
    free(lb);
    if (p) anet_vane_ops.release(state, p);
    if (state) anet_vane_ops.destroy(state);
    return st;
}
