/* The .mlmodel reader: CoreML.Specification.Model (apple/coremltools mlmodel/format/
 * Model.proto, NeuralNetwork.proto, FeatureTypes.proto, MIL.proto), decoded field by
 * field with the bounded wire reader of pb.h. Only the fields the rules need are read;
 * field numbers are cited next to each use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coreml/coreml.h"
#include "coreml/deps.h"
#include "coreml/mlprogram.h"
#include "coreml/pb.h"
#include "core/error.h"

typedef struct ctx {
    anet_cm_model *m;
    int nn_depth; /* loop/branch bodies being walked */
    const char *name; /* file name for messages */
    const uint8_t *weights;
    size_t wlen;
} ctx;

/* Loops over a message's fields; `what` names it in messages. */
#define PB_FOR(r, f, buf, len, what, on_error)          \
    anet_pb_init(&(r), (buf), (len));                    \
    for (int rc_; (rc_ = anet_pb_next(&(r), &(f), (what))) != 0;) \
        if (rc_ < 0) { on_error; } else

static anet_status fmt_err(const ctx *c, const char *where) {
    return anet_fail_ctx(ANET_E_FORMAT, "%s: %s", c->name, where);
}

static void shape_unknown(anet_cm_shape *s) {
    memset(s, 0, sizeof *s);
    s->rank = -1;
}

/* ---- FeatureTypes.proto ---- */

/* ArrayFeatureType: shape 1 (repeated int64), dataType 2 (FLOAT32 65568, DOUBLE 65600,
 * INT32 131104, FLOAT16 65552). */
static anet_status read_array_type(const ctx *c, const anet_pb_field *pf, anet_cm_shape *s) {
    anet_pb_reader r;
    anet_pb_field f;
    uint64_t dims[ANET_CM_MAX_DIMS];
    int n = 0;
    int64_t total = 0;
    s->rank = 0;
    PB_FOR(r, f, pf->data, pf->len, "ArrayFeatureType", return fmt_err(c, "feature type")) {
        if (f.num == 1) {
            if (anet_pb_varints(&f, dims, ANET_CM_MAX_DIMS, &n, &total, "ArrayFeatureType.shape") != 0)
                return fmt_err(c, "feature shape");
        } else if (f.num == 2 && f.wire == ANET_PB_VARINT) {
            const char *dt = f.v == 65568 ? "fp32" : f.v == 65600 ? "fp64" : f.v == 131104 ? "int32"
                           : f.v == 65552 ? "fp16" : "?";
            snprintf(s->dtype, sizeof s->dtype, "%s", dt);
        }
    }
    s->rank = total > 64 ? 64 : (int)total;
    for (int i = 0; i < n; i++) s->dims[i] = (int64_t)dims[i];
    return ANET_OK;
}

/* ImageFeatureType: width 1, height 2, colorSpace 3 (GRAYSCALE 10, RGB 20, BGR 30). */
static anet_status read_image_type(const ctx *c, const anet_pb_field *pf, anet_cm_shape *s) {
    anet_pb_reader r;
    anet_pb_field f;
    int64_t w = -1, h = -1, ch = 3;
    PB_FOR(r, f, pf->data, pf->len, "ImageFeatureType", return fmt_err(c, "image feature type")) {
        if (f.wire != ANET_PB_VARINT) continue;
        if (f.num == 1) w = (int64_t)f.v;
        else if (f.num == 2) h = (int64_t)f.v;
        else if (f.num == 3 && f.v == 10) ch = 1;
    }
    s->rank = 4;
    s->dims[0] = 1;
    s->dims[1] = ch;
    s->dims[2] = h;
    s->dims[3] = w;
    snprintf(s->dtype, sizeof s->dtype, "image");
    return ANET_OK;
}

/* FeatureDescription: name 1, type 3; FeatureType oneof: int64Type 1, doubleType 2,
 * stringType 3, imageType 4, multiArrayType 5, dictionaryType 6, sequenceType 7. */
static anet_status read_feature(ctx *c, const anet_pb_field *pf, anet_cm_tensor *out) {
    anet_pb_reader r, r2;
    anet_pb_field f, g;
    const uint8_t *name = NULL;
    size_t nlen = 0;
    anet_cm_shape s;
    shape_unknown(&s);
    PB_FOR(r, f, pf->data, pf->len, "FeatureDescription", return fmt_err(c, "feature description")) {
        if (f.num == 1) {
            if (anet_pb_expect(&f, ANET_PB_LEN, "FeatureDescription.name") != 0) return fmt_err(c, "feature");
            name = f.data;
            nlen = f.len;
        } else if (f.num == 3) {
            if (anet_pb_expect(&f, ANET_PB_LEN, "FeatureDescription.type") != 0) return fmt_err(c, "feature");
            PB_FOR(r2, g, f.data, f.len, "FeatureType", return fmt_err(c, "feature type")) {
                anet_status st = ANET_OK;
                if (g.num == 4 && g.wire == ANET_PB_LEN) st = read_image_type(c, &g, &s);
                else if (g.num == 5 && g.wire == ANET_PB_LEN) st = read_array_type(c, &g, &s);
                else if (g.num == 1 || g.num == 2) {
                    s.rank = 0;
                    snprintf(s.dtype, sizeof s.dtype, "%s", g.num == 1 ? "int64" : "fp64");
                } else if (g.num == 3) {
                    s.rank = 0;
                    snprintf(s.dtype, sizeof s.dtype, "string");
                }
                if (st != ANET_OK) return st;
            }
        }
    }
    if (!name) name = (const uint8_t *)"", nlen = 0;
    if (anet_cm_add_known(c->m, (const char *)name, nlen, &s) != 0)
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    if (out) {
        out->name = anet_cm_strndup(name, nlen);
        if (!out->name) return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
        out->shape = s;
    }
    return ANET_OK;
}

static anet_status push_tensor(ctx *c, anet_cm_tensor **arr, int *n, const anet_pb_field *f) {
    anet_cm_tensor *p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    *arr = p;
    memset(&p[*n], 0, sizeof p[*n]);
    anet_status st = read_feature(c, f, &p[*n]);
    if (st == ANET_OK) (*n)++;
    return st;
}

/* ModelDescription: input 1, output 10 (FeatureDescription). Only the top model's
 * features are the model's I/O; nested ones only add known shapes. */
static anet_status read_description(ctx *c, const anet_pb_field *pf, int top) {
    anet_pb_reader r;
    anet_pb_field f;
    PB_FOR(r, f, pf->data, pf->len, "ModelDescription", return fmt_err(c, "model description")) {
        if (f.num != 1 && f.num != 10) continue;
        if (anet_pb_expect(&f, ANET_PB_LEN, "ModelDescription feature") != 0) return fmt_err(c, "model description");
        anet_status st;
        if (!top) st = read_feature(c, &f, NULL);
        else if (f.num == 1) st = push_tensor(c, &c->m->inputs, &c->m->ninputs, &f);
        else st = push_tensor(c, &c->m->outputs, &c->m->noutputs, &f);
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

/* ---- NeuralNetwork.proto ---- */

static int push_str(char ***arr, int *n, const uint8_t *s, size_t len) {
    char **p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return -1;
    *arr = p;
    p[*n] = anet_cm_strndup(s, len);
    if (!p[*n]) return -1;
    (*n)++;
    return 0;
}

/* Tensor: rank 1, dimValue 2 (repeated int64; -1 unknown). */
static anet_status read_tensor(const ctx *c, const anet_pb_field *pf, anet_cm_shape *s) {
    anet_pb_reader r;
    anet_pb_field f;
    uint64_t dims[ANET_CM_MAX_DIMS];
    int n = 0;
    int64_t total = 0, rank = -1;
    shape_unknown(s);
    PB_FOR(r, f, pf->data, pf->len, "Tensor", return fmt_err(c, "layer tensor")) {
        if (f.num == 1 && f.wire == ANET_PB_VARINT) rank = (int64_t)(f.v > 64 ? 64 : f.v);
        else if (f.num == 2 && anet_pb_varints(&f, dims, ANET_CM_MAX_DIMS, &n, &total, "Tensor.dimValue") != 0)
            return fmt_err(c, "layer tensor");
    }
    if (rank < 0 && total == 0) return ANET_OK;
    s->rank = rank >= 0 ? (int)rank : (int)(total > 64 ? 64 : total);
    for (int i = 0; i < ANET_CM_MAX_DIMS; i++) s->dims[i] = i < n ? (int64_t)dims[i] : -1;
    return ANET_OK;
}

/* Parameters of the layer kinds the rules look at. */
static anet_status read_layer_params(const ctx *c, anet_cm_layer *l, const anet_pb_field *pf) {
    anet_pb_reader r;
    anet_pb_field f;
    int64_t total;
    const char *what = anet_nn_layer_name((int)pf->num);
    if (!what) what = "layer parameters";
    PB_FOR(r, f, pf->data, pf->len, what, return fmt_err(c, "layer parameters")) {
        int rc = 0;
        switch (pf->num) {
        case 100: /* ConvolutionLayerParams: kernelSize 20, stride 30, dilationFactor 40, isDeconvolution 60 */
            if (f.num == 20) rc = anet_pb_varints(&f, l->kernel, 3, &l->nkernel, &total, what);
            else if (f.num == 30) rc = anet_pb_varints(&f, l->stride, 3, &l->nstride, &total, what);
            else if (f.num == 40) rc = anet_pb_varints(&f, l->dilation, 3, &l->ndilation, &total, what);
            else if (f.num == 60 && f.wire == ANET_PB_VARINT) l->deconv = f.v != 0;
            break;
        case 120: /* PoolingLayerParams: type 1 (MAX 0, AVERAGE 1, L2 2), kernelSize 10, stride 20, globalPooling 60 */
            if (f.num == 10) rc = anet_pb_varints(&f, l->kernel, 3, &l->nkernel, &total, what);
            else if (f.num == 20) rc = anet_pb_varints(&f, l->stride, 3, &l->nstride, &total, what);
            else if (f.num == 60 && f.wire == ANET_PB_VARINT) l->global_pooling = f.v != 0;
            else if (f.num == 1 && f.wire == ANET_PB_VARINT) {
                const char *pn = f.v == 0 ? "max" : f.v == 1 ? "average" : f.v == 2 ? "l2" : "?";
                free(l->subtype);
                l->subtype = anet_cm_strndup(pn, strlen(pn));
            }
            break;
        case 210: /* UpsampleLayerParams: scalingFactor 1, fractionalScalingFactor 7 */
            if (f.num == 1) rc = anet_pb_varints(&f, l->scale, 3, &l->nscale, &total, what);
            else if (f.num == 7) rc = anet_pb_floats(&f, l->fscale, 3, &l->nfscale, &total, what);
            break;
        case 130: { /* ActivationParams oneof: the sub-message's field names the function */
            static const struct { unsigned num; const char *name; } acts[] = {
                {5, "linear"}, {10, "ReLU"}, {15, "leakyReLU"}, {20, "thresholdedReLU"},
                {25, "PReLU"}, {30, "tanh"}, {31, "scaledTanh"}, {40, "sigmoid"},
                {41, "sigmoidHard"}, {50, "ELU"}, {60, "softsign"}, {70, "softplus"},
                {71, "parametricSoftplus"}};
            for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
                if (acts[i].num == f.num) {
                    free(l->subtype);
                    l->subtype = anet_cm_strndup(acts[i].name, strlen(acts[i].name));
                }
            break;
        }
        case 220: /* UnaryFunctionLayerParams: type 1 (SQRT 0, RSQRT 1, INVERSE 2, POWER 3, EXP 4, LOG 5, ABS 6, THRESHOLD 7) */
            if (f.num == 1 && f.wire == ANET_PB_VARINT) {
                static const char *const un[] = {"sqrt", "rsqrt", "inverse", "power", "exp", "log", "abs", "threshold"};
                const char *u = f.v < 8 ? un[f.v] : "?";
                free(l->subtype);
                l->subtype = anet_cm_strndup(u, strlen(u));
            }
            break;
        case 500: /* CustomLayerParams: className 10 */
            if (f.num == 10 && f.wire == ANET_PB_LEN) {
                free(l->subtype);
                l->subtype = anet_cm_strndup(f.data, f.len > 200 ? 200 : f.len);
            }
            break;
        default: break;
        }
        if (rc != 0) return fmt_err(c, "layer parameters");
    }
    /* proto3 omits defaults: no type field means MAX (0) for pooling, SQRT (0) for unary. */
    if (pf->num == 120 && !l->subtype && !(l->subtype = anet_cm_strndup("max", 3)))
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    if (pf->num == 220 && !l->subtype && !(l->subtype = anet_cm_strndup("sqrt", 4)))
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    return ANET_OK;
}

static anet_status read_layer(ctx *c, const anet_pb_field *pf, const char *path);

/* The networks inside a loop (LoopLayerParams: conditionNetwork 3, bodyNetwork 4) or branch
 * (BranchLayerParams: ifBranch 1, elseBranch 2) layer: their layers follow it, under
 * path/<layer>/<network>. NeuralNetwork: layers 1. */
static anet_status read_bodies(ctx *c, const anet_pb_field *pf, const char *path, const char *lname) {
    anet_pb_reader r, r2;
    anet_pb_field f, g;
    if (c->nn_depth + 1 > ANET_CM_MAX_DEPTH)
        return anet_fail(ANET_E_FORMAT, "%s: loop and branch layers nested deeper than %d levels", c->name, ANET_CM_MAX_DEPTH);
    PB_FOR(r, f, pf->data, pf->len, "control-flow layer", return fmt_err(c, "control-flow layer")) {
        const char *what = NULL;
        if (pf->num == 615) what = f.num == 3 ? "condition" : f.num == 4 ? "body" : NULL;
        else what = f.num == 1 ? "if" : f.num == 2 ? "else" : NULL;
        if (!what || f.wire != ANET_PB_LEN) continue;
        char sub[300];
        snprintf(sub, sizeof sub, "%.120s%s%.120s/%s", path, path[0] ? "/" : "", lname, what);
        c->nn_depth++;
        PB_FOR(r2, g, f.data, f.len, "NeuralNetwork", { c->nn_depth--; return fmt_err(c, "control-flow network"); }) {
            if (g.num != 1) continue;
            if (anet_pb_expect(&g, ANET_PB_LEN, "NeuralNetwork.layers") != 0) {
                c->nn_depth--;
                return fmt_err(c, "control-flow network");
            }
            anet_status st = read_layer(c, &g, sub);
            if (st != ANET_OK) {
                c->nn_depth--;
                return st;
            }
        }
        c->nn_depth--;
    }
    return ANET_OK;
}

/* NeuralNetworkLayer: name 1, input 2, output 3, inputTensor 4, outputTensor 5; the layer
 * kind is the oneof field (>= 100). */
static anet_status read_layer(ctx *c, const anet_pb_field *pf, const char *path) {
    anet_pb_reader r;
    anet_pb_field f;
    anet_cm_layer *l = anet_cm_add_layer(c->m);
    if (!l) return anet_cm_no_layer(c->m, c->name);
    int lidx = c->m->nlayers - 1;
    anet_cm_shape *ins = NULL, *outs = NULL;
    int nins = 0, nouts = 0;
    anet_status st = ANET_OK;
    anet_pb_field body;
    memset(&body, 0, sizeof body);
    l->model_path = anet_cm_strndup(path, strlen(path));
    if (!l->model_path) return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    PB_FOR(r, f, pf->data, pf->len, "NeuralNetworkLayer", { st = fmt_err(c, "layer"); goto done; }) {
        l = &c->m->layers[lidx];
        if (f.num <= 5 && f.wire != ANET_PB_LEN) {
            anet_pb_expect(&f, ANET_PB_LEN, "NeuralNetworkLayer");
            st = fmt_err(c, "layer");
            goto done;
        }
        if (f.num == 1) {
            free(l->name);
            l->name = anet_cm_strndup(f.data, f.len);
            if (!l->name) goto nomem;
        } else if (f.num == 2 || f.num == 3) {
            if (push_str(f.num == 2 ? &l->inputs : &l->outputs, f.num == 2 ? &l->ninputs : &l->noutputs,
                         f.data, f.len) != 0)
                goto nomem;
        } else if (f.num == 4 || f.num == 5) {
            anet_cm_shape **arr = f.num == 4 ? &ins : &outs;
            int *n = f.num == 4 ? &nins : &nouts;
            anet_cm_shape *p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
            if (!p) goto nomem;
            *arr = p;
            if ((st = read_tensor(c, &f, &p[*n])) != ANET_OK) goto done;
            (*n)++;
        } else if (f.num >= 100) {
            if (f.wire != ANET_PB_LEN) {
                anet_pb_expect(&f, ANET_PB_LEN, "NeuralNetworkLayer.layer");
                st = fmt_err(c, "layer");
                goto done;
            }
            l->field = (int)f.num;
            free(l->type);
            const char *tn = anet_nn_layer_name((int)f.num);
            char buf[32];
            if (!tn) {
                snprintf(buf, sizeof buf, "layer#%u", f.num);
                tn = buf;
            }
            l->type = anet_cm_strndup(tn, strlen(tn));
            if (!l->type) goto nomem;
            if ((st = read_layer_params(c, l, &f)) != ANET_OK) goto done;
            if (f.num == 605 || f.num == 615) body = f;
        }
    }
    l = &c->m->layers[lidx];
    if (!l->name && !(l->name = anet_cm_strndup("", 0))) goto nomem;
    if (!l->type && !(l->type = anet_cm_strndup("(none)", 6))) goto nomem;
    /* Shapes parallel to the names: the layer's own tensors, else what the file says elsewhere. */
    if (anet_cm_alloc_shapes(l, l->ninputs, l->noutputs) != 0) goto nomem;
    for (int i = 0; i < l->ninputs; i++) {
        if (i < nins) l->in_shapes[i] = ins[i];
        else shape_unknown(&l->in_shapes[i]);
        if (anet_cm_add_known(c->m, l->inputs[i], strlen(l->inputs[i]), &l->in_shapes[i]) != 0) goto nomem;
    }
    for (int i = 0; i < l->noutputs; i++) {
        if (i < nouts) l->out_shapes[i] = outs[i];
        else shape_unknown(&l->out_shapes[i]);
        if (anet_cm_add_known(c->m, l->outputs[i], strlen(l->outputs[i]), &l->out_shapes[i]) != 0) goto nomem;
    }
    if (body.num) {
        char lname[128];
        snprintf(lname, sizeof lname, "%s", l->name);
        st = read_bodies(c, &body, path, lname); /* l is not used after this: the array may move */
    }
done:
    free(ins);
    free(outs);
    return st;
nomem:
    st = anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    goto done;
}

/* NeuralNetwork (500), NeuralNetworkClassifier (403), NeuralNetworkRegressor (303): layers 1.
 * Classifier: stringClassLabels 100, int64ClassLabels 101. */
static anet_status read_nn(ctx *c, const anet_pb_field *pf, const char *path, int classifier) {
    anet_pb_reader r;
    anet_pb_field f;
    int labels = 0;
    PB_FOR(r, f, pf->data, pf->len, "NeuralNetwork", return fmt_err(c, "neural network")) {
        if (f.num == 1) {
            if (anet_pb_expect(&f, ANET_PB_LEN, "NeuralNetwork.layers") != 0) return fmt_err(c, "neural network");
            anet_status st = read_layer(c, &f, path);
            if (st != ANET_OK) return st;
        } else if (classifier && (f.num == 100 || f.num == 101)) {
            labels = 1;
        }
    }
    if (classifier || labels)
        anet_cm_add_note(c->m, "the classifier's label post-processing (class labels, probabilities dictionary) likely runs on the CPU");
    return ANET_OK;
}

/* ---- Model.proto ---- */

static anet_status read_model(ctx *c, const uint8_t *buf, size_t len, int depth, const char *path);

/* Pipeline: models 1, names 2. PipelineClassifier / PipelineRegressor: pipeline 1. */
static anet_status read_pipeline(ctx *c, const anet_pb_field *pf, int depth, const char *path, int wrapped) {
    anet_pb_reader r;
    anet_pb_field f;
    int idx = 0;
    if (depth + 1 > ANET_CM_MAX_DEPTH)
        return anet_fail(ANET_E_FORMAT, "%s: pipelines nested deeper than %d levels", c->name, ANET_CM_MAX_DEPTH);
    PB_FOR(r, f, pf->data, pf->len, "Pipeline", return fmt_err(c, "pipeline")) {
        if (f.num != 1) continue;
        if (anet_pb_expect(&f, ANET_PB_LEN, "Pipeline") != 0) return fmt_err(c, "pipeline");
        if (wrapped) {
            anet_status st = read_pipeline(c, &f, depth + 1, path, 0);
            if (st != ANET_OK) return st;
            continue;
        }
        char sub[256];
        snprintf(sub, sizeof sub, "%s%smodels[%d]", path, path[0] ? "/" : "", idx++);
        anet_status st = read_model(c, f.data, f.len, depth + 1, sub);
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

/* A model kind with no neural network or ML Program inside: one pseudo-layer. */
static anet_status add_model_layer(ctx *c, unsigned field, const char *path) {
    char buf[48];
    const char *name = anet_cm_model_kind_name((int)field);
    if (!name) {
        snprintf(buf, sizeof buf, "model#%u", field);
        name = buf;
    }
    anet_cm_layer *l = anet_cm_add_layer(c->m);
    if (!l) return anet_cm_no_layer(c->m, c->name);
    l->field = -(int)field; /* negative: a whole model, not a layer */
    l->name = anet_cm_strndup("model", 5); /* the path shows where it is */
    l->type = anet_cm_strndup(name, strlen(name));
    l->model_path = anet_cm_strndup(path, strlen(path));
    if (!l->name || !l->type || !l->model_path)
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", c->name);
    return ANET_OK;
}

/* Model: specificationVersion 1, description 2; oneof Type: pipelineClassifier 200,
 * pipelineRegressor 201, pipeline 202, neuralNetworkRegressor 303, neuralNetworkClassifier
 * 403, neuralNetwork 500, mlProgram 502, customModel 555, other model kinds >= 300. */
static anet_status read_model(ctx *c, const uint8_t *buf, size_t len, int depth, const char *path) {
    anet_pb_reader r;
    anet_pb_field f;
    int top = depth == 0, typed = 0;
    if (depth > ANET_CM_MAX_DEPTH)
        return anet_fail(ANET_E_FORMAT, "%s: models nested deeper than %d levels", c->name, ANET_CM_MAX_DEPTH);
    PB_FOR(r, f, buf, len, "Model", return fmt_err(c, path[0] ? path : "not a Core ML model specification")) {
        anet_status st = ANET_OK;
        if (f.num == 1) {
            if (anet_pb_expect(&f, ANET_PB_VARINT, "Model.specificationVersion") != 0) return fmt_err(c, "model");
            if (top) c->m->spec_version = (int64_t)f.v;
            continue;
        }
        if (f.num == 2) {
            if (anet_pb_expect(&f, ANET_PB_LEN, "Model.description") != 0) return fmt_err(c, "model");
            st = read_description(c, &f, top);
            if (st != ANET_OK) return st;
            continue;
        }
        if (f.num == 10 && f.wire == ANET_PB_VARINT && f.v && top)
            anet_cm_add_note(c->m, "updatable model: this check covers prediction only; on-device training (MLUpdateTask) is not checked");
        if (f.num < 200) continue; /* other scalars */
        if (anet_pb_expect(&f, ANET_PB_LEN, "Model.Type") != 0) return fmt_err(c, "model");
        const char *kind = NULL;
        switch (f.num) {
        case 200: kind = "pipelineClassifier"; st = read_pipeline(c, &f, depth, path, 1); break;
        case 201: kind = "pipelineRegressor"; st = read_pipeline(c, &f, depth, path, 1); break;
        case 202: kind = "pipeline"; st = read_pipeline(c, &f, depth, path, 0); break;
        case 303: kind = "neuralNetworkRegressor"; st = read_nn(c, &f, path, 0); break;
        case 403: kind = "neuralNetworkClassifier"; st = read_nn(c, &f, path, 1); break;
        case 500: kind = "neuralNetwork"; st = read_nn(c, &f, path, 0); break;
        case 502:
            kind = "mlProgram";
            st = anet_cm_read_mlprogram(c->m, c->name, f.data, f.len, c->weights, c->wlen, depth, path);
            break;
        default: kind = "other"; st = add_model_layer(c, f.num, path); break;
        }
        if (st != ANET_OK) return st;
        if (top) c->m->kind = kind;
        typed = 1;
    }
    if (top && !typed)
        return anet_fail(ANET_E_FORMAT, "%s: no model type field: not a Core ML model specification", c->name);
    return ANET_OK;
}

anet_status anet_coreml_parse_mlmodel(const uint8_t *buf, size_t len, const uint8_t *weights,
                                      size_t wlen, const char *name, anet_cm_model **out) {
    *out = NULL;
    if (len == 0) return anet_fail(ANET_E_FORMAT, "%s: empty file (0 bytes): not a Core ML model", name);
    anet_cm_model *m = anet_cm_model_new(name, "mlmodel");
    if (!m) return anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
    ctx c = {m, 0, name, weights, wlen};
    anet_status st = read_model(&c, buf, len, 0, "");
    if (st != ANET_OK) {
        anet_coreml_free(m);
        return st;
    }
    *out = m;
    return ANET_OK;
}
