/* The deployment program: the eval program at batch 1 with the trained weights as consts
 * (see export.h). Works on the IR alone: inputs by role, ops copied as they are, so any model
 * the step builder makes (MLP today, conv layers next) goes through the same rewrite. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "data/class_labels.h"
#include "export/export.h"
#include "train/step.h"

void anet_export_options_default(anet_export_options *o) {
    memset(o, 0, sizeof *o);
    o->target = 16; /* the oldest target with fp16 multi-array I/O: the most devices */
}

void anet_deploy_free(anet_deploy *d) {
    if (!d) return;
    anet_graph_free(d->g);
    for (int i = 0; d->labels && i < d->classes; i++) free(d->labels[i]);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

static int shape_const(anet_graph *g, int rank, const int64_t *dims) {
    int32_t v[ANET_MAX_RANK];
    for (int i = 0; i < rank; i++) v[i] = (int32_t)dims[i];
    return anet_graph_const_int32s(g, NULL, rank, v);
}

static int reshape(anet_graph *g, const char *name, int x, int rank, const int64_t *dims) {
    static const char *const keys[2] = {"x", "shape"};
    int vals[2] = {x, shape_const(g, rank, dims)};
    if (vals[1] < 0) return -1;
    return anet_graph_op(g, ANET_OP_RESHAPE, name, 2, keys, vals);
}

/* A const of the eval graph, in the export precision (fp16 payloads widen exactly to fp32). */
static int copy_const(anet_graph *g, const anet_const *c, int fp32) {
    if (!(fp32 && c->type.dtype == ANET_DT_FP16)) return anet_graph_const(g, NULL, c->type, c->data, c->nbytes);
    int64_t n = anet_type_elements(&c->type);
    float *w = malloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    if (!w) return anet_fail(ANET_E_NOMEM, "out of memory"), -1;
    anet_f16_to_f32_n(c->data, w, (size_t)n);
    anet_type t = c->type;
    t.dtype = ANET_DT_FP32;
    int id = anet_graph_const(g, NULL, t, w, (size_t)n * sizeof *w);
    free(w);
    return id;
}

/* Parameter i as a const of the shape the eval program gives its input. */
static int param_const(anet_graph *g, const anet_model_spec *spec, int i, const float *w, anet_type t, int fp32) {
    anet_param_info pi;
    anet_model_param(spec, i, &pi);
    int64_t n = anet_type_elements(&t);
    if (n != (int64_t)pi.rows * pi.cols) {
        anet_fail(ANET_E_INTERNAL, "parameter %s has %lld values, its program input %lld", pi.name,
                  (long long)pi.rows * pi.cols, (long long)n);
        return -1;
    }
    t.dtype = fp32 ? ANET_DT_FP32 : ANET_DT_FP16;
    size_t bytes = (size_t)n * anet_dtype_size(t.dtype);
    void *data = malloc(bytes ? bytes : 1);
    if (!data) return anet_fail(ANET_E_NOMEM, "out of memory"), -1;
    if (fp32) memcpy(data, w, bytes);
    else
        for (int64_t k = 0; k < n; k++) {
            ((anet_f16 *)data)[k] = anet_f32_to_f16(w[k]);
            if (!isfinite(anet_f16_to_f32(((anet_f16 *)data)[k])) || !isfinite(w[k])) {
                free(data);
                anet_fail(ANET_E_UNSUPPORTED, "%s[%lld] = %g does not fit fp16; export with --precision fp32",
                          pi.name, (long long)k, (double)w[k]);
                return -1;
            }
        }
    /* named after the parameter ("w0"), unless a second form of it already took the name */
    int id = anet_graph_const(g, anet_graph_find(g, pi.name) < 0 ? pi.name : NULL, t, data, bytes);
    free(data);
    return id;
}

/* Marks the ops the value v depends on. */
static void mark_live(const anet_graph *g, int v, char *live) {
    int *stack = malloc(sizeof(int) * (size_t)(g->nops + 1));
    if (!stack) return;
    int n = 0;
    int p = g->values[v].producer;
    if (p >= 0) stack[n++] = p, live[p] = 1;
    while (n > 0) {
        const anet_op *op = &g->ops[stack[--n]];
        for (int a = 0; a < op->nargs; a++)
            for (int j = 0; j < op->args[a].n; j++) {
                int q = g->values[op->args[a].vals[j]].producer;
                if (q >= 0 && !live[q]) live[q] = 1, stack[n++] = q;
            }
    }
    free(stack);
}

/* The rewrite's state: eval value -> deployed value (map), eval value -> parameter index. */
typedef struct rw {
    anet_graph *g;
    const anet_graph *eg;
    int *map, *pidx;
    const anet_model_spec *spec;
    const float *const *params;
    const anet_export_options *o;
} rw;

/* The deployed value of eval value v; a parameter becomes a const of its program shape on
 * first use. -1: the deployed model has no such value (the labels). */
static int mapped(rw *r, int v) {
    if (r->map[v] < 0 && r->pidx[v] >= 0) {
        int i = r->pidx[v];
        r->map[v] = param_const(r->g, r->spec, i, r->params[i], r->eg->values[v].type, r->o->fp32);
    }
    return r->map[v];
}

/* op's arguments in the deployed graph (args[] points into vals); one slot is left free for
 * an extra argument. */
#define MAX_ARGS 16
#define MAX_TUPLE 8
static anet_status map_args(rw *r, const anet_op *op, anet_arg *args, int (*vals)[MAX_TUPLE]) {
    if (op->nargs > MAX_ARGS - 1) return anet_fail(ANET_E_UNSUPPORTED, "op '%s' has %d arguments", op->name, op->nargs);
    for (int a = 0; a < op->nargs; a++) {
        args[a] = op->args[a];
        if (args[a].n > MAX_TUPLE) return anet_fail(ANET_E_UNSUPPORTED, "op '%s' has a %d-value tuple", op->name, args[a].n);
        for (int j = 0; j < args[a].n; j++) {
            int v = op->args[a].vals[j], m = mapped(r, v);
            if (m < 0 && r->pidx[v] >= 0) return ANET_E_UNSUPPORTED; /* param_const said why */
            if (m < 0)
                return anet_fail(ANET_E_UNSUPPORTED, "op '%s' (%s) reads '%s', which a deployed model does not have",
                                 op->name, op->type, r->eg->values[v].name);
            vals[a][j] = m;
        }
        args[a].vals = vals[a];
    }
    return ANET_OK;
}

/* An op copied as it is (the IR's ops are MIL ops). */
static anet_status copy_op(rw *r, const anet_op *op) {
    anet_arg args[MAX_ARGS];
    int vals[MAX_ARGS][MAX_TUPLE];
    anet_status st = map_args(r, op, args, vals);
    if (st != ANET_OK) return st;
    int id = anet_graph_op_raw(r->g, op->type, NULL, op->nargs, args, 0, NULL, NULL);
    if (id < 0) return anet_fail_ctx(ANET_E_INTERNAL, "copying op '%s' (%s)", op->name, op->type);
    for (int k = 0; k < op->noutputs && k < r->g->ops[id].noutputs; k++) r->map[op->outputs[k]] = r->g->ops[id].outputs[k];
    return ANET_OK;
}

static int false_or_absent(const anet_graph *g, const anet_op *op, const char *key) {
    int v = anet_op_arg_value(op, key), b = 0;
    const anet_const *c = v >= 0 ? anet_graph_const_of(g, v) : NULL;
    return v < 0 || (c && anet_const_get_bool(c, &b) == 0 && !b);
}

/* Core ML's form of a layer's matmul: matmul(W [1,1,out,in] parameter, h [1,1,in,1]) is
 * linear(x = h as [1, in], weight = W as [out, in]) -- what coremltools makes of a matmul
 * with a constant weight (its fuse_matmul_weight_bias pass), and what Core ML places as an
 * inner product. The bias add stays a separate op, so the rounding is the eval program's.
 * Returns the value replacing the matmul's output, -2 when the op is not such a matmul, -1
 * on error. */
static int as_linear(rw *r, const anet_op *op) {
    if (op->kind != ANET_OP_MATMUL) return -2;
    int w = anet_op_arg_value(op, "x"), h = anet_op_arg_value(op, "y");
    if (w < 0 || h < 0 || r->pidx[w] < 0 || !false_or_absent(r->eg, op, "transpose_x") ||
        !false_or_absent(r->eg, op, "transpose_y"))
        return -2;
    const anet_type *wt = &r->eg->values[w].type, *ht = &r->eg->values[h].type;
    if (wt->rank != 4 || wt->dims[0] != 1 || wt->dims[1] != 1 || ht->rank != 4 || ht->dims[0] != 1 || ht->dims[1] != 1 ||
        ht->dims[2] != wt->dims[3] || ht->dims[3] != 1)
        return -2;
    int hm = mapped(r, h);
    if (hm < 0) return -1;
    int64_t wd[2] = {wt->dims[2], wt->dims[3]}, row[2] = {1, wt->dims[3]}, out[4] = {1, 1, wt->dims[2], 1};
    int i = r->pidx[w];
    int w2 = param_const(r->g, r->spec, i, r->params[i], anet_type_make(wt->dtype, 2, wd), r->o->fp32);
    int x = w2 < 0 ? -1 : reshape(r->g, NULL, hm, 2, row);
    static const char *const keys[2] = {"x", "weight"};
    int vals[2] = {x, w2};
    int l = x < 0 ? -1 : anet_graph_op(r->g, ANET_OP_LINEAR, NULL, 2, keys, vals);
    return l < 0 ? -1 : reshape(r->g, NULL, l, 4, out);
}

/* Core ML's form of a conv's bias: conv(x, W) whose only use is add(·, reshape(b)), b a
 * parameter of C values, is conv(x, W, bias = b) -- Core ML's rules place a C x 1 x 1
 * broadcast add on the CPU. (The private API takes no conv bias, hence the add in the eval
 * program.) The sum then rounds once instead of twice. Fills fold[conv] = add op, skip[] for
 * the add and the reshape, bias[conv] = the parameter's eval value. */
static void find_conv_bias(const rw *r, const char *live, int *fold, int *bias, char *skip) {
    const anet_graph *eg = r->eg;
    int *uses = calloc((size_t)eg->nvalues, sizeof *uses);
    if (!uses) return; /* then nothing is folded: the copy is still correct */
    for (int i = 0; i < eg->nops; i++)
        for (int a = 0; live[i] && a < eg->ops[i].nargs; a++)
            for (int j = 0; j < eg->ops[i].args[a].n; j++) uses[eg->ops[i].args[a].vals[j]]++;
    for (int i = 0; i < eg->nops; i++) {
        const anet_op *add = &eg->ops[i];
        if (!live[i] || add->kind != ANET_OP_ADD) continue;
        for (int side = 0; side < 2; side++) {
            int cv = anet_op_arg_value(add, side ? "y" : "x"), bv = anet_op_arg_value(add, side ? "x" : "y");
            if (cv < 0 || bv < 0 || uses[cv] != 1 || uses[bv] != 1) continue;
            int ci = eg->values[cv].producer, ri = eg->values[bv].producer;
            if (ci < 0 || ri < 0 || eg->ops[ci].kind != ANET_OP_CONV || anet_op_arg(&eg->ops[ci], "bias") ||
                eg->ops[ri].kind != ANET_OP_RESHAPE)
                continue;
            int pv = anet_op_arg_value(&eg->ops[ri], "x");
            const anet_type *ct = &eg->values[cv].type, *bt = &eg->values[bv].type;
            if (pv < 0 || r->pidx[pv] < 0 || ct->rank < 2 || bt->rank != ct->rank || bt->dims[1] != ct->dims[1] ||
                anet_type_elements(bt) != ct->dims[1] || !anet_type_equal(&eg->values[add->outputs[0]].type, ct))
                continue;
            fold[ci] = i;
            bias[ci] = pv;
            skip[i] = skip[ri] = 1;
            break;
        }
    }
    free(uses);
}

/* The conv of a fold, with the parameter as its bias; its add's output maps to it. */
static anet_status copy_conv_bias(rw *r, const anet_op *conv, const anet_op *add, int bias_value) {
    int i = r->pidx[bias_value];
    int64_t c = anet_type_elements(&r->eg->values[bias_value].type);
    int b = param_const(r->g, r->spec, i, r->params[i], anet_type_make(ANET_DT_FP16, 1, &c), r->o->fp32);
    if (b < 0) return anet_last_error()[0] ? ANET_E_UNSUPPORTED : anet_fail(ANET_E_INTERNAL, "conv bias");
    anet_arg args[MAX_ARGS];
    int vals[MAX_ARGS][MAX_TUPLE], bv = b;
    anet_status st = map_args(r, conv, args, vals);
    if (st != ANET_OK) return st;
    args[conv->nargs] = (anet_arg){"bias", 1, &bv, 0};
    int id = anet_graph_op_raw(r->g, conv->type, NULL, conv->nargs + 1, args, 0, NULL, NULL);
    if (id < 0) return anet_fail_ctx(ANET_E_INTERNAL, "conv '%s' with its bias", conv->name);
    r->map[conv->outputs[0]] = r->map[add->outputs[0]] = r->g->ops[id].outputs[0];
    return ANET_OK;
}

static anet_status rewrite(const anet_step_program *p, const anet_model_spec *spec, const float *const *params,
                           const anet_export_options *o, anet_deploy *d) {
    const anet_graph *eg = p->graph;
    anet_graph *g = d->g;
    int x = -1, logits = -1;
    for (int i = 0; i < p->ninputs; i++)
        if (p->inputs[i].role == ANET_ROLE_X) x = p->inputs[i].value;
    for (int i = 0; i < p->noutputs; i++)
        if (p->outputs[i].role == ANET_ROLE_LOGITS) logits = p->outputs[i].value;
    if (x < 0 || logits < 0) return anet_fail(ANET_E_INTERNAL, "the eval program has no input or logits");
    int *map = malloc(sizeof(int) * (size_t)eg->nvalues), *pidx = malloc(sizeof(int) * (size_t)eg->nvalues);
    char *live = calloc((size_t)eg->nops + 1, 1);
    if (!map || !pidx || !live) {
        free(map);
        free(pidx);
        free(live);
        return anet_fail(ANET_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < eg->nvalues; i++) map[i] = pidx[i] = -1;
    anet_status st = ANET_OK;
    anet_dtype dt = o->fp32 ? ANET_DT_FP32 : ANET_DT_FP16;
    /* The input as users hold it: a 28x28 image, or a feature row. */
    const anet_type *xt = &eg->values[x].type;
    int64_t F = anet_type_elements(xt);
    int64_t img[3] = {1, 28, 28}, feat[2] = {1, F}, pix[4] = {1, 1, 28, 28};
    int is_image = F == 28 * 28;
    if (o->image_input && !is_image) {
        free(map);
        free(pidx);
        free(live);
        return anet_fail(ANET_E_UNSUPPORTED, "an image input needs a 784-input (28x28) model, not %lld features",
                         (long long)F);
    }
    if (o->image_input) {
        /* Core ML hands image pixels as fp32 0..255 in [1, C, H, W] (MIL.proto, Function.inputs):
         * cast to fp16 (exact for 0..255), then * fp16(1/255) -- coremltools' form of
         * ImageType(scale=1/255). A divide would round exactly as the trainer's pixel * (1/255)
         * does, but Core ML's rules place a broadcast divide on the CPU; the product differs
         * from it by one fp16 step for 10 of the 256 pixel values (docs/deploy.md). */
        d->input = anet_graph_input(g, "image", anet_type_make(ANET_DT_FP32, 4, pix));
        int v = d->input;
        if (v >= 0 && !o->fp32) {
            static const char *const ck[2] = {"x", "dtype"};
            int cv[2] = {v, anet_graph_const_string(g, NULL, "fp16")};
            v = cv[1] < 0 ? -1 : anet_graph_op(g, ANET_OP_CAST, NULL, 2, ck, cv);
        }
        int k = v < 0 ? -1 : o->fp32 ? anet_graph_const_fp32(g, NULL, 1.0f / 255) : anet_graph_const_fp16(g, NULL, 1.0f / 255);
        static const char *const mk[2] = {"x", "y"};
        int mv[2] = {v, k};
        v = k < 0 ? -1 : anet_graph_op(g, ANET_OP_MUL, NULL, 2, mk, mv);
        if (v >= 0) map[x] = reshape(g, NULL, v, xt->rank, xt->dims);
    } else {
        d->input = anet_graph_input(g, is_image ? "image" : "features",
                                    anet_type_make(dt, is_image ? 3 : 2, is_image ? img : feat));
        if (d->input >= 0) map[x] = reshape(g, NULL, d->input, xt->rank, xt->dims);
    }
    if (d->input < 0 || map[x] < 0) st = anet_fail_ctx(ANET_E_INTERNAL, "the input");
    for (int i = 0; i < p->ninputs; i++)
        if (p->inputs[i].role == ANET_ROLE_PARAM) pidx[p->inputs[i].value] = p->inputs[i].index;
    rw r = {g, eg, map, pidx, spec, params, o};
    int *fold = malloc(sizeof(int) * (size_t)(eg->nops + 1)), *bias = malloc(sizeof(int) * (size_t)(eg->nops + 1));
    char *skip = calloc((size_t)eg->nops + 1, 1);
    if (!fold || !bias || !skip) st = anet_fail(ANET_E_NOMEM, "out of memory");
    for (int i = 0; st == ANET_OK && i < eg->nops; i++) fold[i] = bias[i] = -1;
    if (st == ANET_OK) mark_live(eg, logits, live);
    if (st == ANET_OK) find_conv_bias(&r, live, fold, bias, skip);
    for (int oi = 0; st == ANET_OK && oi < eg->nops; oi++) {
        const anet_op *op = &eg->ops[oi];
        if (!live[oi] || skip[oi]) continue;
        if (fold[oi] >= 0) {
            st = copy_conv_bias(&r, op, &eg->ops[fold[oi]], bias[oi]);
            continue;
        }
        if (op->kind == ANET_OP_CONST) {
            map[op->outputs[0]] = copy_const(g, op->val, o->fp32);
            if (map[op->outputs[0]] < 0) st = anet_fail_ctx(ANET_E_INTERNAL, "const '%s'", op->name);
            continue;
        }
        int v = as_linear(&r, op);
        if (v == -1) st = anet_fail_ctx(ANET_E_INTERNAL, "mapping op '%s' (%s) to linear", op->name, op->type);
        else if (v >= 0) map[op->outputs[0]] = v;
        else st = copy_op(&r, op);
    }
    int head = st == ANET_OK ? map[logits] : -1;
    if (st == ANET_OK && head < 0) st = anet_fail(ANET_E_INTERNAL, "the logits were not copied");
    if (st == ANET_OK) {
        const anet_type *lt = &g->values[head].type;
        int64_t K = anet_type_elements(lt), row[2] = {1, K};
        int axis = -1;
        for (int k = 0; k < lt->rank; k++)
            if (lt->dims[k] == K) axis = k;
        d->classes = (int)K;
        if (!o->regression) {
            /* softmax over the class axis of the logits, then the [1, K] row Core ML shows. */
            static const char *const keys[2] = {"x", "axis"};
            int vals[2] = {head, anet_graph_const_int32(g, NULL, axis)};
            head = vals[1] < 0 || axis < 0 ? -1 : anet_graph_op(g, ANET_OP_SOFTMAX, NULL, 2, keys, vals);
        }
        if (head >= 0) head = reshape(g, o->regression ? ANET_EXPORT_OUTPUT : ANET_EXPORT_PROBS, head, 2, row);
        if (head < 0 || anet_graph_set_outputs(g, 1, &head) != ANET_OK)
            st = anet_fail_ctx(ANET_E_INTERNAL, "the output");
        d->head = head;
    }
    free(map);
    free(pidx);
    free(live);
    free(fold);
    free(bias);
    free(skip);
    return st;
}

anet_status anet_deploy_build(const anet_model_spec *spec, const float *const *params, const anet_export_options *o,
                              anet_deploy *out) {
    if (!spec || !params || !o || !out) return anet_fail(ANET_E_INVALID, "missing argument");
    memset(out, 0, sizeof *out);
    if (o->target != 16 && o->target != 17 && o->target != 18)
        return anet_fail(ANET_E_INVALID, "deployment target iOS%d: expected iOS16, iOS17 or iOS18", o->target);
    anet_step_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.model = *spec;
    cfg.batch = 1;
    cfg.update = ANET_UPDATE_CPU;
    cfg.dialect = o->target >= 18 ? ANET_MIL_IOS18 : ANET_MIL_IOS16;
    anet_step_program p;
    anet_status st = anet_step_build_eval(&cfg, &p);
    if (st != ANET_OK) return st;
    out->g = anet_graph_new(cfg.dialect);
    if (!out->g) st = anet_fail(ANET_E_NOMEM, "out of memory");
    if (st == ANET_OK) st = rewrite(&p, spec, params, o, out);
    anet_step_program_free(&p);
    if (st == ANET_OK && !o->regression) {
        out->labels = calloc((size_t)out->classes, sizeof *out->labels);
        for (int k = 0; out->labels && k < out->classes; k++) {
            char buf[16];
            const char *l = anet_class_label(o->dataset, k, buf, sizeof buf);
            if (!(out->labels[k] = malloc(strlen(l) + 1))) break;
            memcpy(out->labels[k], l, strlen(l) + 1);
        }
        for (int k = 0; k < out->classes && st == ANET_OK; k++)
            if (!out->labels || !out->labels[k]) st = anet_fail(ANET_E_NOMEM, "out of memory");
    }
    if (st != ANET_OK) anet_deploy_free(out);
    return st;
}
