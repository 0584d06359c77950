/* ML Program reader: CoreML.Specification.MILSpec (apple/coremltools mlmodel/format/MIL.proto).
 * Program: functions 2 (map<string, Function>). Function: inputs 1, opset 2,
 * block_specializations 3 (map<string, Block>). Block: outputs 2, operations 3. Operation:
 * type 1, inputs 2 (map<string, Argument>), outputs 3, blocks 4, attributes 5 (map<string, Value>).
 * NamedValueType: name 1, type 2. ValueType: tensorType 1. TensorType: dataType 1, rank 2,
 * dimensions 3. Dimension: constant 1 (size 1), unknown 2. Argument: arguments 1; Binding:
 * name 1 | value 2. Value: immediateValue 3 (ImmediateValue: tensor 1), blobFileValue 5.
 * TensorValue: strings 4 (RepeatedStrings: values 1). Map entries: key 1, value 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coreml/deps.h"
#include "coreml/mlprogram.h"
#include "coreml/pb.h"
#include "core/error.h"
#include "graph/nameset.h"

/* Small numeric consts (kernel sizes, strides, ...) by name, for the ops' parameters. */
typedef struct cnum {
    char *name;
    double v[3];
    int n;
} cnum;

typedef struct mctx {
    anet_cm_model *m;
    cnum *nums;
    int nnums, cap_nums;
    anet__nameset numix;
    const char *name;
    const char *path;
    int base;              /* depth of the function's active block */
    anet_cm_opref *ops;    /* every op in program order, for the IR pass */
    int nops, cap_ops;
    size_t budget; /* zero-filled weight bytes the IR pass may allocate */
} mctx;

static int record_op(mctx *c, const uint8_t *buf, size_t len, int layer, int nested) {
    if (c->nops == c->cap_ops) {
        int nc = c->cap_ops ? c->cap_ops * 2 : 64;
        anet_cm_opref *p = realloc(c->ops, (size_t)nc * sizeof *p);
        if (!p) return -1;
        c->ops = p;
        c->cap_ops = nc;
    }
    c->ops[c->nops++] = (anet_cm_opref){buf, len, layer, nested};
    return 0;
}

#define PB_FOR(r, f, buf, len, what, on_error)                    \
    anet_pb_init(&(r), (buf), (len));                              \
    for (int rc_; (rc_ = anet_pb_next(&(r), &(f), (what))) != 0;) \
        if (rc_ < 0) { on_error; } else

static anet_status ferr(const mctx *c, const char *where) {
    return anet_fail_ctx(ANET_E_FORMAT, "%s: ML Program %s", c->name, where);
}
static anet_status nomem(const mctx *c) { return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name); }

/* MIL DataType enum values (MIL.proto) to MIL text spellings. */
static const char *mil_dtype(uint64_t v) {
    switch (v) {
    case 1: return "bool";
    case 2: return "string";
    case 10: return "fp16";
    case 11: return "fp32";
    case 12: return "fp64";
    case 13: return "bf16";
    case 21: return "int8";
    case 22: return "int16";
    case 23: return "int32";
    case 24: return "int64";
    case 31: return "uint8";
    case 32: return "uint16";
    case 33: return "uint32";
    case 34: return "uint64";
    }
    return "?";
}

static anet_status read_tensor_type(const mctx *c, const uint8_t *buf, size_t len, anet_cm_shape *s) {
    anet_pb_reader r, r2, r3;
    anet_pb_field f, g, h;
    int ndims = 0;
    int64_t rank = -1;
    PB_FOR(r, f, buf, len, "TensorType", return ferr(c, "tensor type")) {
        if (f.num == 1 && f.wire == ANET_PB_VARINT) snprintf(s->dtype, sizeof s->dtype, "%s", mil_dtype(f.v));
        else if (f.num == 2 && f.wire == ANET_PB_VARINT) rank = (int64_t)f.v;
        else if (f.num == 3) {
            if (anet_pb_expect(&f, ANET_PB_LEN, "TensorType.dimensions") != 0) return ferr(c, "tensor type");
            int64_t d = -1;
            PB_FOR(r2, g, f.data, f.len, "Dimension", return ferr(c, "dimension")) {
                if (g.num != 1 || g.wire != ANET_PB_LEN) continue;
                PB_FOR(r3, h, g.data, g.len, "ConstantDimension", return ferr(c, "dimension")) {
                    if (h.num == 1 && h.wire == ANET_PB_VARINT) d = h.v > (uint64_t)INT64_MAX ? -1 : (int64_t)h.v;
                }
            }
            if (ndims < ANET_CM_MAX_DIMS) s->dims[ndims] = d;
            if (ndims < 64) ndims++;
        }
    }
    /* rank -1 in the file means variable rank; the dimension list is what we can use. */
    s->rank = (rank >= 0 && rank <= 64) ? (int)rank : ndims;
    for (int i = ndims; i < ANET_CM_MAX_DIMS; i++) s->dims[i] = -1;
    return ANET_OK;
}

/* NamedValueType: name 1, type 2 (ValueType: tensorType 1). */
static anet_status read_nvt(const mctx *c, const uint8_t *buf, size_t len, const uint8_t **name,
                            size_t *nlen, anet_cm_shape *s) {
    anet_pb_reader r, r2;
    anet_pb_field f, g;
    memset(s, 0, sizeof *s);
    s->rank = -1;
    *name = (const uint8_t *)"";
    *nlen = 0;
    PB_FOR(r, f, buf, len, "NamedValueType", return ferr(c, "named value")) {
        if (f.wire != ANET_PB_LEN) continue;
        if (f.num == 1) {
            *name = f.data;
            *nlen = f.len;
        } else if (f.num == 2) {
            PB_FOR(r2, g, f.data, f.len, "ValueType", return ferr(c, "value type")) {
                if (g.num == 1 && g.wire == ANET_PB_LEN) {
                    anet_status st = read_tensor_type(c, g.data, g.len, s);
                    if (st != ANET_OK) return st;
                }
            }
        }
    }
    return ANET_OK;
}

/* The first string of Value.immediateValue.tensor.strings (an op's "name" attribute). */
static int value_string(const uint8_t *buf, size_t len, const uint8_t **s, size_t *slen) {
    anet_pb_reader r;
    anet_pb_field f;
    static const unsigned path[] = {3, 1, 4, 1}; /* immediateValue, tensor, strings, values */
    for (int lvl = 0; lvl < 4; lvl++) {
        int found = 0;
        anet_pb_init(&r, buf, len);
        int rc;
        while ((rc = anet_pb_next(&r, &f, "Value")) == 1)
            if (f.num == path[lvl] && f.wire == ANET_PB_LEN) {
                buf = f.data;
                len = f.len;
                found = 1;
                break;
            }
        if (!found) return -1;
    }
    *s = buf;
    *slen = len;
    return 0;
}

/* Up to max numbers of Value.immediateValue.tensor (TensorValue: floats 1, ints 2, bools 3,
 * longInts 5, doubles 6; each {values 1}); -1 if it holds none of these. */
static int value_nums(const uint8_t *buf, size_t len, double *out, int max) {
    anet_pb_reader r;
    anet_pb_field f;
    static const unsigned path[] = {3, 1}; /* immediateValue, tensor */
    for (int lvl = 0; lvl < 2; lvl++) {
        int found = 0;
        anet_pb_init(&r, buf, len);
        while (anet_pb_next(&r, &f, "Value") == 1)
            if (f.num == path[lvl] && f.wire == ANET_PB_LEN) {
                buf = f.data, len = f.len, found = 1;
                break;
            }
        if (!found) return -1;
    }
    anet_pb_init(&r, buf, len);
    while (anet_pb_next(&r, &f, "TensorValue") == 1) {
        if (f.wire != ANET_PB_LEN || f.num == 4 || f.num > 6) continue;
        anet_pb_reader r2;
        anet_pb_field g;
        anet_pb_init(&r2, f.data, f.len);
        int n = 0;
        int64_t total = 0;
        while (anet_pb_next(&r2, &g, "values") == 1) {
            if (g.num != 1) continue;
            if (f.num == 1) {
                float fl[3];
                if (anet_pb_floats(&g, fl, max < 3 ? max : 3, &n, &total, "floats") != 0) return -1;
                for (int i = 0; i < n; i++) out[i] = fl[i];
            } else if (f.num == 6) {
                if (g.wire != ANET_PB_LEN) return -1;
                n = (int)(g.len / 8 < (size_t)max ? g.len / 8 : (size_t)max);
                for (int i = 0; i < n; i++) memcpy(&out[i], g.data + 8 * i, 8);
            } else {
                uint64_t u[3];
                if (anet_pb_varints(&g, u, max < 3 ? max : 3, &n, &total, "ints") != 0) return -1;
                for (int i = 0; i < n; i++) out[i] = f.num == 2 ? (double)(int32_t)(uint32_t)u[i] : (double)(int64_t)u[i];
            }
        }
        return n;
    }
    return -1;
}

static void record_num(mctx *c, const uint8_t *name, size_t nlen, const uint8_t *val, size_t vlen) {
    double v[3];
    int n = value_nums(val, vlen, v, 3);
    if (n <= 0 || nlen > 255) return;
    if (c->nnums == c->cap_nums) {
        int nc = c->cap_nums ? c->cap_nums * 2 : 32;
        cnum *p = realloc(c->nums, (size_t)nc * sizeof *p);
        if (!p) return; /* parameters are an aid: without them the shape rules still apply */
        c->nums = p;
        c->cap_nums = nc;
    }
    cnum *e = &c->nums[c->nnums];
    if (!(e->name = anet_cm_strndup(name, nlen))) return;
    memcpy(e->v, v, sizeof v);
    e->n = n;
    if (anet__ns_put(&c->numix, e->name, c->nnums) != 0) {
        free(e->name);
        return;
    }
    c->nnums++;
}

/* inputs entry {key 1, value 2: Argument{arguments 1: Binding{name 1 | value 2}}} of a
 * parameter the rules read: its numbers into l. */
static void op_param(mctx *c, anet_cm_layer *l, const uint8_t *key, size_t klen, const uint8_t *arg, size_t alen) {
    anet_pb_reader r, r2;
    anet_pb_field f, g;
    anet_pb_init(&r, arg, alen);
    while (anet_pb_next(&r, &f, "Argument") == 1) {
        if (f.num != 1 || f.wire != ANET_PB_LEN) continue;
        anet_pb_init(&r2, f.data, f.len);
        while (anet_pb_next(&r2, &g, "Binding") == 1) {
            if (g.wire != ANET_PB_LEN) continue;
            double v[3];
            int n = -1;
            if (g.num == 2) n = value_nums(g.data, g.len, v, 3);
            else if (g.num == 1 && g.len < 256) {
                char nm[256];
                memcpy(nm, g.data, g.len);
                nm[g.len] = '\0';
                int i = anet__ns_get(&c->numix, nm);
                if (i >= 0) {
                    n = c->nums[i].n;
                    memcpy(v, c->nums[i].v, sizeof v);
                }
            }
            if (n > 0) anet_cm_set_param(l, (const char *)key, klen, v, n);
            return;
        }
    }
}

static int push_str(char ***arr, int *n, const uint8_t *s, size_t len) {
    char **p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return -1;
    *arr = p;
    p[*n] = anet_cm_strndup(s, len);
    if (!p[*n]) return -1;
    (*n)++;
    return 0;
}

static anet_status read_block(mctx *c, const uint8_t *buf, size_t len, int depth);
static int map_entry(const uint8_t *buf, size_t len, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl);

static anet_status read_operation(mctx *c, const uint8_t *buf, size_t len, int depth) {
    anet_pb_reader r, r2, r3, r4;
    anet_pb_field f, g, h, k;
    const uint8_t *type = NULL, *oname = NULL, *cval = NULL;
    size_t tlen = 0, olen = 0, cvlen = 0;
    /* First pass: the type; const ops are parameters, not layers. */
    PB_FOR(r, f, buf, len, "Operation", return ferr(c, "operation")) {
        if (f.num == 1) {
            if (anet_pb_expect(&f, ANET_PB_LEN, "Operation.type") != 0) return ferr(c, "operation");
            type = f.data;
            tlen = f.len;
        } else if (f.num == 5 && f.wire == ANET_PB_LEN) {
            const uint8_t *key = NULL, *val = NULL;
            size_t klen = 0, vlen = 0;
            PB_FOR(r2, g, f.data, f.len, "attributes entry", return ferr(c, "operation attribute")) {
                if (g.wire != ANET_PB_LEN) continue;
                if (g.num == 1) key = g.data, klen = g.len;
                else if (g.num == 2) val = g.data, vlen = g.len;
            }
            if (key && klen == 4 && memcmp(key, "name", 4) == 0 && val) value_string(val, vlen, &oname, &olen);
            if (key && klen == 3 && memcmp(key, "val", 3) == 0 && val) cval = val, cvlen = vlen;
        }
    }
    int is_const = type && tlen == 5 && memcmp(type, "const", 5) == 0;
    if (is_const && cval) {
        /* The const's output name (outputs 3: NamedValueType{name 1}) keys its numbers. */
        PB_FOR(r, f, buf, len, "Operation", return ferr(c, "operation")) {
            if (f.num != 3 || f.wire != ANET_PB_LEN) continue;
            PB_FOR(r2, g, f.data, f.len, "NamedValueType", return ferr(c, "named value")) {
                if (g.num == 1 && g.wire == ANET_PB_LEN) record_num(c, g.data, g.len, cval, cvlen);
            }
            break;
        }
    }
    anet_cm_layer *l = NULL;
    int lidx = -1;
    if (!is_const) {
        l = anet_cm_add_layer(c->m);
        if (!l) return anet_cm_no_layer(c->m, c->name);
        lidx = c->m->nlayers - 1;
        l->is_mil = 1;
        l->type = type ? anet_cm_strndup(type, tlen) : anet_cm_strndup("(none)", 6);
        l->model_path = anet_cm_strndup(c->path, strlen(c->path));
        if (oname) l->name = anet_cm_strndup(oname, olen);
        if (!l->type || !l->model_path || (oname && !l->name)) return nomem(c);
    }
    if (record_op(c, buf, len, lidx, depth > c->base) != 0) return nomem(c);
    anet_cm_shape *outs = NULL;
    int nouts = 0;
    anet_status st = ANET_OK;
    PB_FOR(r, f, buf, len, "Operation", { st = ferr(c, "operation"); goto done; }) {
        if (f.wire != ANET_PB_LEN) continue;
        if (lidx >= 0) l = &c->m->layers[lidx];
        if (f.num == 2 && l) {
            /* inputs entry: value 2 = Argument; its name bindings are tensor inputs. */
            const uint8_t *ek = NULL, *ev = NULL;
            size_t ekl = 0, evl = 0;
            if (map_entry(f.data, f.len, &ek, &ekl, &ev, &evl) == 0 && ek && ev) op_param(c, l, ek, ekl, ev, evl);
            PB_FOR(r2, g, f.data, f.len, "inputs entry", { st = ferr(c, "operation input"); goto done; }) {
                if (g.num != 2 || g.wire != ANET_PB_LEN) continue;
                PB_FOR(r3, h, g.data, g.len, "Argument", { st = ferr(c, "argument"); goto done; }) {
                    if (h.num != 1 || h.wire != ANET_PB_LEN) continue;
                    PB_FOR(r4, k, h.data, h.len, "Binding", { st = ferr(c, "binding"); goto done; }) {
                        if (k.num == 1 && k.wire == ANET_PB_LEN &&
                            push_str(&l->inputs, &l->ninputs, k.data, k.len) != 0) {
                            st = nomem(c);
                            goto done;
                        }
                    }
                }
            }
        } else if (f.num == 3) {
            const uint8_t *n;
            size_t nl;
            anet_cm_shape s;
            if ((st = read_nvt(c, f.data, f.len, &n, &nl, &s)) != ANET_OK) goto done;
            if (anet_cm_add_known(c->m, (const char *)n, nl, &s) != 0) {
                st = nomem(c);
                goto done;
            }
            if (l) {
                anet_cm_shape *p = realloc(outs, (size_t)(nouts + 1) * sizeof *p);
                if (!p || push_str(&l->outputs, &l->noutputs, n, nl) != 0) {
                    if (p) outs = p;
                    st = nomem(c);
                    goto done;
                }
                outs = p;
                outs[nouts++] = s;
            }
        } else if (f.num == 4) {
            /* Nested blocks (cond, while_loop): their ops follow as layers, depth-limited. */
            if (depth + 1 > ANET_CM_MAX_DEPTH) {
                st = anet_fail(ANET_E_FORMAT, "%s: ML Program blocks nested deeper than %d levels", c->name,
                               ANET_CM_MAX_DEPTH);
                goto done;
            }
            if ((st = read_block(c, f.data, f.len, depth + 1)) != ANET_OK) goto done;
        }
    }
    if (lidx >= 0) {
        l = &c->m->layers[lidx];
        if (!l->name) {
            const char *nm = l->noutputs ? l->outputs[0] : "";
            if (!(l->name = anet_cm_strndup(nm, strlen(nm)))) goto oom;
        }
        if (anet_cm_alloc_shapes(l, l->ninputs, l->noutputs) != 0) goto oom;
        for (int i = 0; i < l->ninputs; i++) l->in_shapes[i].rank = -1; /* filled by the analysis */
        for (int i = 0; i < l->noutputs; i++) l->out_shapes[i] = outs[i];
    }
done:
    free(outs);
    return st;
oom:
    st = nomem(c);
    goto done;
}

static anet_status read_block(mctx *c, const uint8_t *buf, size_t len, int depth) {
    anet_pb_reader r;
    anet_pb_field f;
    if (depth > ANET_CM_MAX_DEPTH)
        return anet_fail(ANET_E_FORMAT, "%s: ML Program blocks nested deeper than %d levels", c->name, ANET_CM_MAX_DEPTH);
    PB_FOR(r, f, buf, len, "Block", return ferr(c, "block")) {
        if (f.num != 3) continue;
        if (anet_pb_expect(&f, ANET_PB_LEN, "Block.operations") != 0) return ferr(c, "block");
        anet_status st = read_operation(c, f.data, f.len, depth);
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

/* Map entry (key 1, value 2). */
static int map_entry(const uint8_t *buf, size_t len, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl) {
    anet_pb_reader r;
    anet_pb_field f;
    int rc;
    *k = NULL, *v = NULL, *kl = 0, *vl = 0;
    anet_pb_init(&r, buf, len);
    while ((rc = anet_pb_next(&r, &f, "map entry")) == 1) {
        if (f.wire != ANET_PB_LEN) continue;
        if (f.num == 1) *k = f.data, *kl = f.len;
        else if (f.num == 2) *v = f.data, *vl = f.len;
    }
    return rc;
}

static anet_status read_function(mctx *c, const uint8_t *buf, size_t len, int depth) {
    anet_pb_reader r;
    anet_pb_field f;
    const uint8_t *opset = NULL, *block = NULL, *first_block = NULL;
    size_t oplen = 0, blen = 0, first_len = 0;
    PB_FOR(r, f, buf, len, "Function", return ferr(c, "function")) {
        if (f.wire != ANET_PB_LEN) continue;
        if (f.num == 1) {
            const uint8_t *n;
            size_t nl;
            anet_cm_shape s;
            anet_status st = read_nvt(c, f.data, f.len, &n, &nl, &s);
            if (st != ANET_OK) return st;
            if (anet_cm_add_known(c->m, (const char *)n, nl, &s) != 0) return nomem(c);
        } else if (f.num == 2) {
            opset = f.data, oplen = f.len;
        }
    }
    /* The active block is the specialization named by opset (MIL.proto), else the first. */
    PB_FOR(r, f, buf, len, "Function", return ferr(c, "function")) {
        if (f.num != 3 || f.wire != ANET_PB_LEN) continue;
        const uint8_t *k, *v;
        size_t kl, vl;
        if (map_entry(f.data, f.len, &k, &kl, &v, &vl) < 0) return ferr(c, "block specialization");
        if (!v) continue;
        if (!first_block) first_block = v, first_len = vl;
        if (opset && k && kl == oplen && memcmp(k, opset, kl) == 0) block = v, blen = vl;
    }
    if (!block) block = first_block, blen = first_len;
    if (!block) return anet_fail(ANET_E_FORMAT, "%s: ML Program function has no block", c->name);
    c->base = depth + 1;
    anet_status st = read_block(c, block, blen, depth + 1);
    if (st != ANET_OK) return st;
    char os[64];
    snprintf(os, sizeof os, "%.*s", opset && oplen < 60 ? (int)oplen : 0, opset ? (const char *)opset : "");
    return anet_cm_mlprogram_ir(c->m, c->name, buf, len, os, c->ops, c->nops, c->budget);
}

anet_status anet_cm_read_mlprogram(anet_cm_model *m, const char *name, const uint8_t *buf, size_t len,
                                   const uint8_t *weights, size_t wlen, int depth, const char *path) {
    anet_pb_reader r;
    anet_pb_field f;
    /* Stand-in weights are bounded by what the input could hold: the program's own bytes
     * plus the package's weight file (wlen), never by a size the file merely declares. */
    mctx c;
    memset(&c, 0, sizeof c);
    c.m = m, c.name = name, c.path = path, c.budget = 2 * len + wlen;
    const uint8_t *fn = NULL, *first = NULL;
    size_t fnl = 0, firstl = 0;
    (void)weights;
    if (depth + 1 > ANET_CM_MAX_DEPTH)
        return anet_fail(ANET_E_FORMAT, "%s: models nested deeper than %d levels", name, ANET_CM_MAX_DEPTH);
    PB_FOR(r, f, buf, len, "Program", return ferr(&c, "program")) {
        if (f.num != 2 || f.wire != ANET_PB_LEN) continue;
        const uint8_t *k, *v;
        size_t kl, vl;
        if (map_entry(f.data, f.len, &k, &kl, &v, &vl) < 0) return ferr(&c, "function entry");
        if (!v) continue;
        if (!first) first = v, firstl = vl;
        if (k && kl == 4 && memcmp(k, "main", 4) == 0) fn = v, fnl = vl;
    }
    if (!fn) fn = first, fnl = firstl;
    if (!fn) return anet_fail(ANET_E_FORMAT, "%s: ML Program has no function", name);
    anet_status st = read_function(&c, fn, fnl, depth + 1);
    free(c.ops);
    for (int i = 0; i < c.nnums; i++) free(c.nums[i].name);
    free(c.nums);
    anet__ns_free(&c.numix);
    return st;
}

static void shape_of(const anet_type *t, anet_cm_shape *s) {
    memset(s, 0, sizeof *s);
    s->rank = t->rank;
    for (int d = 0; d < t->rank && d < ANET_MAX_RANK; d++) s->dims[d] = t->dims[d];
    snprintf(s->dtype, sizeof s->dtype, "%s", anet_dtype_name(t->dtype));
}

anet_status anet_cm_layers_from_graph(anet_cm_model *m, int gi, const char *path) {
    const anet_graph *g = m->graphs[gi];
    for (int i = 0; i < g->ninputs; i++) {
        const anet_value *v = &g->values[g->inputs[i]];
        anet_cm_shape s;
        shape_of(&v->type, &s);
        if (anet_cm_add_known(m, v->name, strlen(v->name), &s) != 0) return anet_fail(ANET_E_NOMEM, "out of memory");
    }
    for (int oi = 0; oi < g->nops; oi++) {
        const anet_op *op = &g->ops[oi];
        if (op->kind == ANET_OP_CONST) continue;
        anet_cm_layer *l = anet_cm_add_layer(m);
        if (!l) return anet_cm_no_layer(m, m->path);
        l->is_mil = 1;
        l->graph = gi;
        l->op = oi;
        l->type = anet_cm_strndup(op->type ? op->type : "?", strlen(op->type ? op->type : "?"));
        l->name = anet_cm_strndup(op->name ? op->name : "", strlen(op->name ? op->name : ""));
        l->model_path = anet_cm_strndup(path, strlen(path));
        int nin = 0;
        for (int a = 0; a < op->nargs; a++) nin += op->args[a].n;
        l->inputs = calloc((size_t)nin + 1, sizeof *l->inputs);
        l->outputs = calloc((size_t)op->noutputs + 1, sizeof *l->outputs);
        if (!l->type || !l->name || !l->model_path || !l->inputs || !l->outputs ||
            anet_cm_alloc_shapes(l, nin, op->noutputs) != 0)
            return anet_fail(ANET_E_NOMEM, "out of memory");
        for (int a = 0; a < op->nargs; a++)
            for (int j = 0; j < op->args[a].n; j++) {
                const anet_value *v = &g->values[op->args[a].vals[j]];
                /* Parameters (const producers) are not tensors flowing between layers. */
                if (v->producer >= 0 && g->ops[v->producer].kind == ANET_OP_CONST) {
                    const anet_const *k = anet_graph_const_of(g, op->args[a].vals[j]);
                    int64_t iv[3];
                    double dv[3];
                    int n = 0;
                    if (k && anet_const_get_ints(k, iv, 3, &n) == 0) {
                        for (int q = 0; q < n && q < 3; q++) dv[q] = (double)iv[q];
                    } else if (k && anet_const_get_float(k, &dv[0]) == 0) {
                        n = 1;
                    }
                    if (n > 0) anet_cm_set_param(l, op->args[a].key, strlen(op->args[a].key), dv, n > 3 ? 3 : n);
                    continue;
                }
                shape_of(&v->type, &l->in_shapes[l->ninputs]);
                if (!(l->inputs[l->ninputs] = anet_cm_strndup(v->name, strlen(v->name))))
                    return anet_fail(ANET_E_NOMEM, "out of memory");
                l->ninputs++;
            }
        for (int j = 0; j < op->noutputs; j++) {
            const anet_value *v = &g->values[op->outputs[j]];
            anet_cm_shape *s = &l->out_shapes[j];
            shape_of(&v->type, s);
            if (!(l->outputs[j] = anet_cm_strndup(v->name, strlen(v->name)))) return anet_fail(ANET_E_NOMEM, "out of memory");
            l->noutputs++;
            if (anet_cm_add_known(m, v->name, strlen(v->name), s) != 0) return anet_fail(ANET_E_NOMEM, "out of memory");
        }
    }
    return ANET_OK;
}
