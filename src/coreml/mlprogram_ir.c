/* ML Program (protobuf) -> graph IR, so the MIL constraint table (anet_plan_check_op) can
 * judge each op with the types the file declares. Field numbers: see mlprogram.c (MIL.proto).
 * Weights stored in a BLOBFILE are not read: they become zero-filled consts of the declared
 * type (the rules look at types and const-ness, never at weight values), within a byte
 * budget bounded by the input's size. An op the IR cannot hold (dtype it lacks, unknown
 * dims, inference disagreeing with the file) gets verdict `unknown` with the reason, and its
 * outputs become placeholders so that later ops can still be judged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coreml/deps.h"
#include "coreml/mlprogram.h"
#include "coreml/pb.h"
#include "core/error.h"
#include "core/fp16.h"
#include "graph/ir_util.h"
#include "graph/nameset.h"

#if ANET_CM_HAVE_IR

typedef struct bctx {
    anet_cm_model *m;
    anet_graph *g;
    int gi;
    /* Name indexes over the graph's own strings (the IR's lookups are linear scans; these keep
     * a big program linear): value name -> id, op name -> id. */
    anet__nameset vals, opnames;
    int indexed_values;
    size_t budget; /* bytes of zero-filled weights still allowed */
    char err[200]; /* why the current op/const could not be modeled */
} bctx;

static int fail_(bctx *b, const char *msg) {
    size_t n = strlen(msg);
    if (n >= sizeof b->err) n = sizeof b->err - 1;
    memcpy(b->err, msg, n);
    b->err[n] = '\0';
    return -1;
}

/* Adds the values created since the last call to the index. */
static int sync_values(bctx *b) {
    for (; b->indexed_values < b->g->nvalues; b->indexed_values++)
        if (anet__ns_put(&b->vals, b->g->values[b->indexed_values].name, b->indexed_values) != 0) return -1;
    return 0;
}

static int find_value(bctx *b, const char *name) {
    sync_values(b);
    return anet__ns_get(&b->vals, name);
}

/* Finds the first field `num` of wire type LEN in a message. */
static int sub(const uint8_t *buf, size_t len, unsigned num, const uint8_t **d, size_t *n) {
    anet_pb_reader r;
    anet_pb_field f;
    int rc;
    anet_pb_init(&r, buf, len);
    while ((rc = anet_pb_next(&r, &f, "ML Program")) == 1)
        if (f.num == num && f.wire == ANET_PB_LEN) {
            *d = f.data;
            *n = f.len;
            return 0;
        }
    return -1;
}

static anet_dtype map_dtype(uint64_t v) {
    switch (v) {
    case 1: return ANET_DT_BOOL;
    case 2: return ANET_DT_STRING;
    case 10: return ANET_DT_FP16;
    case 11: return ANET_DT_FP32;
    case 21: return ANET_DT_INT8;
    case 23: return ANET_DT_INT32;
    case 24: return ANET_DT_INT32; /* int64 parameters: held as int32 when they fit */
    case 31: return ANET_DT_UINT8;
    case 34: return ANET_DT_UINT64;
    }
    return ANET_DT_INVALID;
}

/* ValueType -> anet_type. *rank_over: declared rank above the IR's 5. */
static int value_type(bctx *b, const uint8_t *buf, size_t len, anet_type *t, int *rank_over, int *is64) {
    const uint8_t *tt;
    size_t tl;
    anet_pb_reader r, r2, r3;
    anet_pb_field f, g, h;
    memset(t, 0, sizeof *t);
    if (sub(buf, len, 1, &tt, &tl) != 0) return fail_(b, "not a tensor type (list, tuple or dict)");
    int64_t rank = -1;
    int nd = 0, bad_dim = 0;
    uint64_t dt = 0;
    anet_pb_init(&r, tt, tl);
    int rc;
    while ((rc = anet_pb_next(&r, &f, "TensorType")) == 1) {
        if (f.num == 1 && f.wire == ANET_PB_VARINT) dt = f.v;
        else if (f.num == 2 && f.wire == ANET_PB_VARINT) rank = (int64_t)f.v;
        else if (f.num == 3 && f.wire == ANET_PB_LEN) {
            int64_t d = -1;
            anet_pb_init(&r2, f.data, f.len);
            while (anet_pb_next(&r2, &g, "Dimension") == 1)
                if (g.num == 1 && g.wire == ANET_PB_LEN) {
                    anet_pb_init(&r3, g.data, g.len);
                    while (anet_pb_next(&r3, &h, "ConstantDimension") == 1)
                        if (h.num == 1 && h.wire == ANET_PB_VARINT) d = h.v > ANET_MAX_ELEMENTS ? -1 : (int64_t)h.v;
                }
            if (d < 1) bad_dim = 1;
            if (nd < ANET_MAX_RANK) t->dims[nd] = d;
            nd++;
        }
    }
    if (rc < 0) return fail_(b, "malformed tensor type");
    if (rank < 0) rank = nd;
    if (rank > ANET_MAX_RANK || nd > ANET_MAX_RANK) {
        *rank_over = 1;
        return fail_(b, "rank above 5");
    }
    if (rank != nd) return fail_(b, "rank and dimension count disagree");
    if (bad_dim) return fail_(b, "a dimension that is unknown or flexible");
    t->rank = (int)rank;
    t->dtype = map_dtype(dt);
    if (is64) *is64 = dt == 24;
    if (t->dtype == ANET_DT_INVALID) return fail_(b, "a dtype the graph IR does not hold");
    if (anet_type_elements(t) < 0) return fail_(b, "too many elements");
    return 0;
}

/* Reads a packed/unpacked repeated field of a TensorValue.RepeatedX into out (n elements
 * of the anet dtype). Returns 0 when exactly n were present. */
static int fill_values(const uint8_t *rep, size_t rl, unsigned kind, anet_dtype dt, int is64, void *out, int64_t n) {
    anet_pb_reader r;
    anet_pb_field f;
    int64_t k = 0;
    anet_pb_init(&r, rep, rl);
    int rc;
    while ((rc = anet_pb_next(&r, &f, "TensorValue")) == 1) {
        if (f.num != 1) continue;
        if (kind == 7) { /* RepeatedBytes: raw little-endian elements */
            if (f.wire != ANET_PB_LEN || (int64_t)f.len != n * (int64_t)anet_dtype_size(dt)) return -1;
            memcpy(out, f.data, f.len);
            return 0;
        }
        if (kind == 1) { /* floats */
            float tmp[64];
            int got = 0;
            int64_t total = 0;
            /* Chunked: anet_pb_floats keeps at most max values per call, so walk the payload. */
            anet_pb_field part = f;
            size_t step = 64 * 4;
            if (f.wire == ANET_PB_LEN) {
                for (size_t off = 0; off < f.len; off += step) {
                    part.data = f.data + off;
                    part.len = f.len - off < step ? f.len - off : step;
                    got = 0;
                    if (anet_pb_floats(&part, tmp, 64, &got, &total, "floats") != 0) return -1;
                    for (int i = 0; i < got; i++, k++) {
                        if (k >= n) return -1;
                        if (dt == ANET_DT_FP16) ((anet_f16 *)out)[k] = anet_f32_to_f16(tmp[i]);
                        else if (dt == ANET_DT_FP32) ((float *)out)[k] = tmp[i];
                        else return -1;
                    }
                }
            } else {
                if (anet_pb_floats(&f, tmp, 1, &got, &total, "floats") != 0 || k >= n) return -1;
                if (dt == ANET_DT_FP16) ((anet_f16 *)out)[k++] = anet_f32_to_f16(tmp[0]);
                else if (dt == ANET_DT_FP32) ((float *)out)[k++] = tmp[0];
                else return -1;
            }
            continue;
        }
        /* ints 2, bools 3, longInts 5: varints */
        uint64_t tmp[64];
        int64_t total = 0;
        anet_pb_field part = f;
        /* a VARINT field has no data pointer: never offset NULL (UB) */
        const uint8_t *p = f.data, *end = f.len ? f.data + f.len : f.data;
        int one = f.wire == ANET_PB_VARINT;
        while (one || p < end) {
            int got = 0;
            if (one) {
                tmp[0] = f.v;
                got = 1;
            } else {
                /* one varint at a time keeps the chunking exact */
                const uint8_t *q = p;
                while (q < end && (*q & 0x80)) q++;
                if (q >= end) return -1;
                part.data = p;
                part.len = (size_t)(q - p + 1);
                p = q + 1;
                if (anet_pb_varints(&part, tmp, 1, &got, &total, "ints") != 0) return -1;
            }
            for (int i = 0; i < got; i++, k++) {
                if (k >= n) return -1;
                int64_t v = (int64_t)tmp[i];
                if (kind == 2 || (kind == 5 && !is64)) v = (int32_t)(uint32_t)tmp[i];
                switch (dt) {
                case ANET_DT_INT32:
                    if (v < INT32_MIN || v > INT32_MAX) return -1;
                    ((int32_t *)out)[k] = (int32_t)v;
                    break;
                case ANET_DT_BOOL: ((uint8_t *)out)[k] = v != 0; break;
                case ANET_DT_INT8: ((int8_t *)out)[k] = (int8_t)v; break;
                case ANET_DT_UINT8: ((uint8_t *)out)[k] = (uint8_t)v; break;
                case ANET_DT_UINT64: ((uint64_t *)out)[k] = tmp[i]; break;
                default: return -1;
                }
            }
            if (one) break;
        }
    }
    return rc < 0 || k != n ? -1 : 0;
}

/* A const whose name the index has checked (the IR's own check scans every value). */
static int add_const(bctx *b, const char *name, anet_type t, const void *data, size_t n) {
    if (name && (find_value(b, name) >= 0 || anet__ns_get(&b->opnames, name) >= 0)) {
        anet_fail(ANET_E_INVALID, "const '%s': name already used", name);
        return -1;
    }
    int id = anet__graph_const2(b->g, name, NULL, t, data, n, name != NULL);
    if (id >= 0) {
        int op = b->g->values[id].producer;
        if (sync_values(b) != 0 || (op >= 0 && anet__ns_put(&b->opnames, b->g->ops[op].name, op) != 0)) return -1;
    }
    return id;
}

/* Value{type 2, immediateValue 3 {tensor 1: TensorValue}, blobFileValue 5} as a const op
 * named `name` (NULL: generated). Returns the value id or -1 (b->err says why). */
static int make_const(bctx *b, const char *name, const uint8_t *val, size_t vl, const anet_type *decl, int decl64) {
    anet_type t;
    int over = 0, is64 = decl64;
    const uint8_t *vt, *imm, *tv;
    size_t vtl, imml, tvl;
    if (decl) t = *decl;
    else {
        if (sub(val, vl, 2, &vt, &vtl) != 0) return fail_(b, "a value without a type");
        if (value_type(b, vt, vtl, &t, &over, &is64) != 0) return -1;
    }
    if (t.dtype == ANET_DT_STRING) {
        const uint8_t *rs, *s;
        size_t rsl, sl;
        if (sub(val, vl, 3, &imm, &imml) != 0 || sub(imm, imml, 1, &tv, &tvl) != 0 || sub(tv, tvl, 4, &rs, &rsl) != 0 ||
            sub(rs, rsl, 1, &s, &sl) != 0)
            return fail_(b, "a string value without its string");
        char *str = anet_cm_strndup(s, sl);
        if (!str) return fail_(b, "out of memory");
        int id = add_const(b, name, t, str, strlen(str) + 1);
        free(str);
        if (id < 0) return fail_(b, anet_last_error());
        return id;
    }
    int64_t n = anet_type_elements(&t);
    size_t bytes = (size_t)n * anet_dtype_size(t.dtype);
    if (sub(val, vl, 5, &imm, &imml) == 0) { /* BLOBFILE: zeros of the declared type */
        if (bytes > b->budget) return fail_(b, "weights larger than the file could hold (not modeled)");
        b->budget -= bytes;
        void *z = calloc(bytes ? bytes : 1, 1);
        if (!z) return fail_(b, "out of memory");
        int id = add_const(b, name, t, z, bytes);
        free(z);
        if (id < 0) return fail_(b, anet_last_error());
        return id;
    }
    if (sub(val, vl, 3, &imm, &imml) != 0 || sub(imm, imml, 1, &tv, &tvl) != 0)
        return fail_(b, "a value that is neither an immediate tensor nor a BLOBFILE");
    /* The data must be in the file: its size bounds this allocation. */
    if (bytes > tvl * 8 + 64) return fail_(b, "an immediate value shorter than its type");
    void *data = calloc(bytes ? bytes : 1, 1);
    if (!data) return fail_(b, "out of memory");
    anet_pb_reader r;
    anet_pb_field f;
    int ok = 0;
    anet_pb_init(&r, tv, tvl);
    while (anet_pb_next(&r, &f, "TensorValue") == 1)
        if (f.wire == ANET_PB_LEN && f.num >= 1 && f.num <= 7 && f.num != 4 && f.num != 6) {
            ok = fill_values(f.data, f.len, f.num, t.dtype, is64, data, n) == 0;
            break;
        }
    int id = -1;
    if (!ok) fail_(b, "an immediate value that does not match its type");
    else if ((id = add_const(b, name, t, data, bytes)) < 0) fail_(b, anet_last_error());
    free(data);
    return id;
}

/* NamedValueType{name 1, type 2}. */
static int nvt(bctx *b, const uint8_t *buf, size_t len, char *name, size_t nsize, anet_type *t, int *over, int *is64) {
    const uint8_t *n, *vt;
    size_t nl, vtl;
    name[0] = '\0';
    if (sub(buf, len, 1, &n, &nl) == 0) {
        if (nl >= nsize) return fail_(b, "a name that is too long");
        memcpy(name, n, nl);
        name[nl] = '\0';
    }
    if (sub(buf, len, 2, &vt, &vtl) != 0) return fail_(b, "a value without a type");
    return value_type(b, vt, vtl, t, over, is64);
}

static void mark(anet_cm_layer *l, const anet_rule *rule, anet_cm_placement p, const char *what, const char *err) {
    char d[256];
    l->op = -2; /* judged here, for the private rules (the Core ML rules judge it again) */
    l->ir_verdict = p;
    l->ir_rule = rule;
    snprintf(d, sizeof d, "%s: %s", what, err);
    free(l->ir_detail);
    l->ir_detail = anet_cm_strndup(d, strlen(d));
}

/* Placeholders for the outputs of an op that could not be modeled. */
static void placeholders(bctx *b, const uint8_t *op, size_t len) {
    anet_pb_reader r;
    anet_pb_field f;
    anet_pb_init(&r, op, len);
    while (anet_pb_next(&r, &f, "Operation") == 1) {
        if (f.num != 3 || f.wire != ANET_PB_LEN) continue;
        char name[256];
        anet_type t;
        int over = 0, is64 = 0;
        if (nvt(b, f.data, f.len, name, sizeof name, &t, &over, &is64) == 0 && find_value(b, name) < 0)
            anet_graph_input(b->g, name, t);
    }
}

#define MAXO 16

/* Parameters bound by name to const ops are not tensors flowing between layers. */
static void drop_const_inputs(const anet_graph *g, const anet_op *op, anet_cm_layer *l) {
    int w = 0;
    for (int i = 0; i < l->ninputs; i++) {
        int is_const = 0;
        for (int a = 0; a < op->nargs && !is_const; a++)
            for (int j = 0; j < op->args[a].n && !is_const; j++) {
                const anet_value *v = &g->values[op->args[a].vals[j]];
                is_const = strcmp(v->name, l->inputs[i]) == 0 && anet_graph_const_of(g, op->args[a].vals[j]);
            }
        if (is_const) free(l->inputs[i]);
        else {
            l->inputs[w] = l->inputs[i];
            l->in_shapes[w] = l->in_shapes[i];
            w++;
        }
    }
    l->ninputs = w;
}

static void build_op(bctx *b, const anet_cm_opref *o) {
    anet_cm_layer *l = o->layer >= 0 ? &b->m->layers[o->layer] : NULL;
    const anet_rule *unmodeled = anet_rule_nn_find("mil-op-unmodeled");
    const uint8_t *type = NULL;
    size_t tl = 0;
    char outn[MAXO][256];
    const char *outp[MAXO];
    anet_type outt[MAXO];
    int nout = 0, over = 0, is64 = 0, bad = 0;
    anet_arg args[64];
    int nargs = 0;
    int vals[64][16];
    char keys[64][64];
    b->err[0] = '\0';
    anet_pb_reader r, r2, r3;
    anet_pb_field f, g, h;
    anet_pb_init(&r, o->data, o->len);
    while (anet_pb_next(&r, &f, "Operation") == 1) {
        if (f.wire != ANET_PB_LEN) continue;
        if (f.num == 1) type = f.data, tl = f.len;
        else if (f.num == 3) {
            if (nout >= MAXO) {
                bad = fail_(b, "more outputs than the IR holds");
                continue;
            }
            if (nvt(b, f.data, f.len, outn[nout], sizeof outn[nout], &outt[nout], &over, &is64) != 0) bad = 1;
            outp[nout] = outn[nout];
            nout++;
        }
    }
    if (!l) { /* const: val attribute (attributes 5 entry "val") */
        if (bad || nout != 1) return;
        anet_pb_init(&r, o->data, o->len);
        while (anet_pb_next(&r, &f, "Operation") == 1) {
            if (f.num != 5 || f.wire != ANET_PB_LEN) continue;
            const uint8_t *kk, *vv;
            size_t kl, vl;
            if (sub(f.data, f.len, 1, &kk, &kl) == 0 && kl == 3 && memcmp(kk, "val", 3) == 0 &&
                sub(f.data, f.len, 2, &vv, &vl) == 0)
                make_const(b, outn[0], vv, vl, &outt[0], is64);
        }
        return;
    }
    if (o->nested) {
        mark(l, unmodeled, ANET_CM_UNKNOWN, "op inside a control-flow block", "not modeled by this checker");
        return;
    }
    if (over) {
        mark(l, anet_rule_find("rank-max-5"), ANET_CM_CPU, "output", "declared rank above 5");
        placeholders(b, o->data, o->len);
        return;
    }
    if (bad) {
        mark(l, unmodeled, ANET_CM_UNKNOWN, "output type", b->err);
        return;
    }
    /* inputs 2: map entries {key 1, value 2: Argument{arguments 1: Binding{name 1 | value 2}}} */
    anet_pb_init(&r, o->data, o->len);
    while (!bad && anet_pb_next(&r, &f, "Operation") == 1) {
        if (f.num != 2 || f.wire != ANET_PB_LEN) continue;
        const uint8_t *kk, *arg;
        size_t kl, al;
        if (sub(f.data, f.len, 1, &kk, &kl) != 0 || kl >= sizeof keys[0] || sub(f.data, f.len, 2, &arg, &al) != 0 ||
            nargs >= 64) {
            bad = fail_(b, "a malformed or excess argument");
            break;
        }
        memcpy(keys[nargs], kk, kl);
        keys[nargs][kl] = '\0';
        int nv = 0;
        anet_pb_init(&r2, arg, al);
        while (!bad && anet_pb_next(&r2, &g, "Argument") == 1) {
            if (g.num != 1 || g.wire != ANET_PB_LEN) continue;
            anet_pb_init(&r3, g.data, g.len);
            while (!bad && anet_pb_next(&r3, &h, "Binding") == 1) {
                if (h.wire != ANET_PB_LEN || (h.num != 1 && h.num != 2)) continue;
                if (nv >= 16) {
                    bad = fail_(b, "an argument with more values than modeled");
                    break;
                }
                int id;
                if (h.num == 1) {
                    char nm[256];
                    if (h.len >= sizeof nm) {
                        bad = fail_(b, "a name that is too long");
                        break;
                    }
                    memcpy(nm, h.data, h.len);
                    nm[h.len] = '\0';
                    id = find_value(b, nm);
                    if (id < 0) {
                        char msg[300];
                        snprintf(msg, sizeof msg, "argument '%.120s' is not a value the checker could model", nm);
                        bad = fail_(b, msg);
                        break;
                    }
                } else {
                    id = make_const(b, NULL, h.data, h.len, NULL, 0);
                    if (id < 0) {
                        bad = 1;
                        break;
                    }
                }
                vals[nargs][nv++] = id;
            }
        }
        if (bad) break;
        if (nv == 0) continue;
        args[nargs].key = keys[nargs];
        args[nargs].n = nv;
        args[nargs].vals = vals[nargs];
        args[nargs].is_tuple = nv > 1;
        nargs++;
    }
    if (!bad) {
        char tname[64], oname[256];
        if (!type || tl == 0 || tl >= sizeof tname) {
            bad = fail_(b, "an op without a valid type");
        } else {
            memcpy(tname, type, tl);
            tname[tl] = '\0';
            snprintf(oname, sizeof oname, "%s", l->name);
            /* Op names must be IR identifiers and unique: fall back to a generated one. */
            const char *nm = oname;
            for (const char *c = oname; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
                    nm = NULL;
            if (!oname[0] || (oname[0] >= '0' && oname[0] <= '9')) nm = NULL;
            if (nm && anet__ns_get(&b->opnames, nm) >= 0) nm = NULL; /* used twice: generated name */
            int id = -1;
            for (int i = 0; i < nout; i++)
                if (find_value(b, outn[i]) >= 0) bad = fail_(b, "an output name used twice");
            if (!bad) {
                /* Names checked above; a generated op name may repeat one from the file, harmless here. */
                id = anet__graph_op_raw2(b->g, tname, nm, nargs, args, nout, outp, outt, 1);
                if (id < 0) bad = fail_(b, anet_last_error());
                else if (sync_values(b) != 0 || anet__ns_put(&b->opnames, b->g->ops[id].name, id) != 0)
                    bad = fail_(b, "out of memory");
            }
            if (!bad) {
                l->graph = b->gi;
                l->op = id;
                drop_const_inputs(b->g, &b->g->ops[id], l);
            }
        }
    }
    if (bad) {
        mark(l, unmodeled, ANET_CM_UNKNOWN, "not modeled", b->err);
        placeholders(b, o->data, o->len);
    }
}

anet_status anet_cm_mlprogram_ir(anet_cm_model *m, const char *name, const uint8_t *fn, size_t fnlen,
                                 const char *opset, const anet_cm_opref *ops, int nops, size_t blob_budget) {
    /* CoreML8 / ios18 programs are the newer dialect; CoreML5..7 (iOS 15..17) the older. */
    anet_mil_dialect d = opset && (strstr(opset, "18") || strcmp(opset, "CoreML8") == 0) ? ANET_MIL_IOS18 : ANET_MIL_IOS16;
    anet_graph *g = anet_graph_new(d);
    if (!g) return anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
    anet_graph **gs = realloc(m->graphs, (size_t)(m->ngraphs + 1) * sizeof *gs);
    if (!gs) {
        anet_graph_free(g);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
    }
    m->graphs = gs;
    gs[m->ngraphs] = g;
    bctx b;
    memset(&b, 0, sizeof b);
    b.m = m;
    b.g = g;
    b.gi = m->ngraphs;
    b.budget = blob_budget;
    m->ngraphs++;
    anet_pb_reader r;
    anet_pb_field f;
    anet_pb_init(&r, fn, fnlen);
    while (anet_pb_next(&r, &f, "Function") == 1) {
        if (f.num != 1 || f.wire != ANET_PB_LEN) continue;
        char nm[256];
        anet_type t;
        int over = 0, is64 = 0;
        /* An input the IR cannot hold stays undefined: the ops reading it say so. */
        if (nvt(&b, f.data, f.len, nm, sizeof nm, &t, &over, &is64) == 0) anet_graph_input(g, nm, t);
    }
    for (int i = 0; i < nops; i++) build_op(&b, &ops[i]);
    anet__ns_free(&b.vals);
    anet__ns_free(&b.opnames);
    anet_clear_error();
    return ANET_OK;
}

#else

anet_status anet_cm_mlprogram_ir(anet_cm_model *m, const char *name, const uint8_t *fn, size_t fnlen,
                                 const char *opset, const anet_cm_opref *ops, int nops, size_t blob_budget) {
    (void)m, (void)fn, (void)fnlen, (void)opset, (void)ops, (void)nops, (void)blob_budget;
    (void)name;
    return ANET_OK; /* layers keep graph = -1: the analysis refuses them with a clear message */
}

#endif
