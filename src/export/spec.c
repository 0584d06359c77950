/* The Core ML specification (model.mlmodel) of a deployment program, written field by field.
 * Field numbers are those of apple/coremltools mlmodel/format/ (*.proto files):
 *   Model.proto: Model {specificationVersion 1, description 2, mlProgram 502};
 *     ModelDescription {input 1, output 10, predictedFeatureName 11,
 *     predictedProbabilitiesName 12, metadata 100}; FeatureDescription {name 1,
 *     shortDescription 2, type 3}; Metadata {shortDescription 1, versionString 2, author 3,
 *     license 4, userDefined 100 (map: key 1, value 2)}.
 *   FeatureTypes.proto: FeatureType {stringType 3, multiArrayType 5, dictionaryType 6};
 *     ArrayFeatureType {shape 1, dataType 2 (FLOAT32 65568, FLOAT16 65552)};
 *     DictionaryFeatureType {stringKeyType 2}.
 *   MIL.proto: Program {version 1, functions 2}; Function {inputs 1, opset 2,
 *     block_specializations 3}; Block {outputs 2, operations 3}; Operation {type 1, inputs 2,
 *     outputs 3, attributes 5}; Argument {arguments 1}; Binding {name 1}; NamedValueType
 *     {name 1, type 2}; ValueType {tensorType 1, listType 2, dictionaryType 4}; TensorType
 *     {dataType 1, rank 2, dimensions 3}; Dimension {constant 1 {size 1}}; ListType {type 1,
 *     length 2}; DictionaryType {keyType 1, valueType 2}; Value {type 2, immediateValue 3
 *     {tensor 1, list 3}, blobFileValue 5 {fileName 1, offset 2}}; TensorValue {floats 1,
 *     ints 2, bools 3, strings 4, bytes 7} each {values 1}; ListValue {values 1}.
 * The classifier tail is what coremltools writes for a ClassifierConfig (converters/mil/
 * backend/mil/load.py: cast to fp32, then `classify` with the labels as a list value). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "export/export.h"
#include "export/pbw.h"
#include "mil/mil.h"

/* MIL.proto DataType. */
static int mil_dtype(anet_dtype t) {
    switch (t) {
    case ANET_DT_BOOL: return 1;
    case ANET_DT_STRING: return 2;
    case ANET_DT_FP16: return 10;
    case ANET_DT_FP32: return 11;
    case ANET_DT_INT8: return 21;
    case ANET_DT_INT32: return 23;
    case ANET_DT_UINT8: return 31;
    case ANET_DT_UINT64: return 34;
    default: return 0;
    }
}
enum { MIL_STRING = 2, MIL_FP64 = 12 };

/* TensorType as the body of an open ValueType. */
static void tensor_type(anet_pbw *w, int dtype, int rank, const int64_t *dims) {
    size_t tt = anet_pbw_begin(w, 1);
    anet_pbw_varint(w, 1, (uint64_t)dtype);
    if (rank) anet_pbw_varint(w, 2, (uint64_t)rank);
    for (int i = 0; i < rank; i++) {
        size_t d = anet_pbw_begin(w, 3), c = anet_pbw_begin(w, 1);
        anet_pbw_varint(w, 1, (uint64_t)dims[i]);
        anet_pbw_end(w, c);
        anet_pbw_end(w, d);
    }
    anet_pbw_end(w, tt);
}

static void value_type(anet_pbw *w, uint32_t num, const anet_type *t) {
    size_t m = anet_pbw_begin(w, num);
    tensor_type(w, mil_dtype(t->dtype), t->rank, t->dims);
    anet_pbw_end(w, m);
}

static void scalar_type(anet_pbw *w, uint32_t num, int dtype) {
    size_t m = anet_pbw_begin(w, num);
    tensor_type(w, dtype, 0, NULL);
    anet_pbw_end(w, m);
}

static void nvt(anet_pbw *w, uint32_t num, const char *name, const anet_type *t) {
    size_t m = anet_pbw_begin(w, num);
    anet_pbw_string(w, 1, name);
    value_type(w, 2, t);
    anet_pbw_end(w, m);
}

/* Value {type: string scalar, immediateValue.tensor.strings = [s]}. */
static void string_value(anet_pbw *w, uint32_t num, const char *s) {
    size_t v = anet_pbw_begin(w, num);
    scalar_type(w, 2, MIL_STRING);
    size_t iv = anet_pbw_begin(w, 3), tv = anet_pbw_begin(w, 1), rs = anet_pbw_begin(w, 4);
    anet_pbw_string(w, 1, s);
    anet_pbw_end(w, rs);
    anet_pbw_end(w, tv);
    anet_pbw_end(w, iv);
    anet_pbw_end(w, v);
}

/* attributes entry {key, Value}: the op's "name". */
static void name_attr(anet_pbw *w, const char *name) {
    size_t e = anet_pbw_begin(w, 5);
    anet_pbw_string(w, 1, "name");
    string_value(w, 2, name);
    anet_pbw_end(w, e);
}

/* The immediate TensorValue of a const, in the field coremltools uses for its dtype. */
static void tensor_value(anet_pbw *w, const anet_const *c) {
    int64_t n = anet_type_elements(&c->type);
    size_t tv = anet_pbw_begin(w, 1);
    switch (c->type.dtype) {
    case ANET_DT_FP32: {
        size_t r = anet_pbw_begin(w, 1), p = anet_pbw_begin(w, 1);
        for (int64_t i = 0; i < n; i++) anet_pbw_raw_f32(w, ((const float *)c->data)[i]);
        anet_pbw_end(w, p);
        anet_pbw_end(w, r);
        break;
    }
    case ANET_DT_INT32:
    case ANET_DT_BOOL: {
        size_t r = anet_pbw_begin(w, c->type.dtype == ANET_DT_INT32 ? 2 : 3), p = anet_pbw_begin(w, 1);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = c->type.dtype == ANET_DT_INT32 ? ((const int32_t *)c->data)[i] : ((const uint8_t *)c->data)[i] != 0;
            anet_pbw_raw_varint(w, (uint64_t)v);
        }
        anet_pbw_end(w, p);
        anet_pbw_end(w, r);
        break;
    }
    case ANET_DT_STRING: {
        size_t r = anet_pbw_begin(w, 4);
        anet_pbw_string(w, 1, (const char *)c->data);
        anet_pbw_end(w, r);
        break;
    }
    default: { /* fp16, int8, uint8: raw little-endian bytes */
        size_t r = anet_pbw_begin(w, 7);
        anet_pbw_bytes(w, 1, c->data, c->nbytes);
        anet_pbw_end(w, r);
        break;
    }
    }
    anet_pbw_end(w, tv);
}

static void const_op(anet_pbw *w, const anet_graph *g, const anet_op *op) {
    const anet_value *v = &g->values[op->outputs[0]];
    const anet_const *c = op->val;
    size_t o = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, "const");
    nvt(w, 3, v->name, &v->type);
    name_attr(w, op->name);
    size_t e = anet_pbw_begin(w, 5);
    anet_pbw_string(w, 1, "val");
    size_t val = anet_pbw_begin(w, 2);
    value_type(w, 2, &c->type);
    if (c->blob_path) {
        size_t b = anet_pbw_begin(w, 5);
        anet_pbw_string(w, 1, c->blob_path);
        anet_pbw_varint(w, 2, c->blob_offset);
        anet_pbw_end(w, b);
    } else {
        size_t iv = anet_pbw_begin(w, 3);
        tensor_value(w, c);
        anet_pbw_end(w, iv);
    }
    anet_pbw_end(w, val);
    anet_pbw_end(w, e);
    anet_pbw_end(w, o);
}

/* inputs entry {key, Argument {Binding {name}...}}. */
static void arg_names(anet_pbw *w, const char *key, int n, const char *const *names) {
    size_t e = anet_pbw_begin(w, 2);
    anet_pbw_string(w, 1, key);
    size_t a = anet_pbw_begin(w, 2);
    for (int j = 0; j < n; j++) {
        size_t b = anet_pbw_begin(w, 1);
        anet_pbw_string(w, 1, names[j]);
        anet_pbw_end(w, b);
    }
    anet_pbw_end(w, a);
    anet_pbw_end(w, e);
}

static void plain_op(anet_pbw *w, const anet_graph *g, const anet_op *op) {
    size_t o = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, op->type);
    for (int a = 0; a < op->nargs; a++) {
        const char *names[64];
        int n = op->args[a].n < 64 ? op->args[a].n : 64;
        for (int j = 0; j < n; j++) names[j] = g->values[op->args[a].vals[j]].name;
        arg_names(w, op->args[a].key, n, names);
    }
    for (int k = 0; k < op->noutputs; k++) {
        const anet_value *v = &g->values[op->outputs[k]];
        nvt(w, 3, v->name, &v->type);
    }
    name_attr(w, op->name);
    anet_pbw_end(w, o);
}

/* ValueType {listType {type: string scalar, length: K}} as field num. */
static void list_type(anet_pbw *w, uint32_t num, int k) {
    size_t vt = anet_pbw_begin(w, num), lt = anet_pbw_begin(w, 2);
    scalar_type(w, 1, MIL_STRING);
    size_t len = anet_pbw_begin(w, 2), c = anet_pbw_begin(w, 1);
    anet_pbw_varint(w, 1, (uint64_t)k);
    anet_pbw_end(w, c);
    anet_pbw_end(w, len);
    anet_pbw_end(w, lt);
    anet_pbw_end(w, vt);
}

/* A const op named `name` whose value is the string s. */
static void string_const(anet_pbw *w, const char *name, const char *s) {
    anet_type st = anet_type_make(ANET_DT_STRING, 0, NULL);
    size_t o = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, "const");
    nvt(w, 3, name, &st);
    name_attr(w, name);
    size_t e = anet_pbw_begin(w, 5);
    anet_pbw_string(w, 1, "val");
    string_value(w, 2, s);
    anet_pbw_end(w, e);
    anet_pbw_end(w, o);
}

/* cast to fp32 -> classify(probabilities, classes): the outputs classLabel (string) and
 * classProbabilities (dict<string, fp64>). classify takes fp32 probabilities only. */
static void classifier_tail(anet_pbw *w, const anet_deploy *d) {
    const anet_value *pv = &d->g->values[d->head];
    const char *probs = pv->name;
    if (pv->type.dtype != ANET_DT_FP32) {
        anet_type f32 = pv->type;
        f32.dtype = ANET_DT_FP32;
        string_const(w, "classify_dtype", "fp32");
        size_t o = anet_pbw_begin(w, 3);
        anet_pbw_string(w, 1, "cast");
        const char *dt = "classify_dtype";
        arg_names(w, "x", 1, &probs);
        arg_names(w, "dtype", 1, &dt);
        nvt(w, 3, ANET_EXPORT_PROBS "_fp32", &f32);
        name_attr(w, ANET_EXPORT_PROBS "_fp32");
        anet_pbw_end(w, o);
        probs = ANET_EXPORT_PROBS "_fp32";
    }
    size_t o = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, "classify");
    arg_names(w, "probabilities", 1, &probs);
    /* classes: an immediate list value in the binding, as coremltools writes it (its MIL
     * frontend, milproto/load.py, takes list values only there, not as const ops) */
    size_t e = anet_pbw_begin(w, 2);
    anet_pbw_string(w, 1, "classes");
    size_t arg = anet_pbw_begin(w, 2), bind = anet_pbw_begin(w, 1), val = anet_pbw_begin(w, 2);
    list_type(w, 2, d->classes);
    size_t iv = anet_pbw_begin(w, 3), lv = anet_pbw_begin(w, 3);
    for (int k = 0; k < d->classes; k++) string_value(w, 1, d->labels[k]);
    anet_pbw_end(w, lv);
    anet_pbw_end(w, iv);
    anet_pbw_end(w, val);
    anet_pbw_end(w, bind);
    anet_pbw_end(w, arg);
    anet_pbw_end(w, e);
    size_t n = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, ANET_EXPORT_LABEL);
    scalar_type(w, 2, MIL_STRING);
    anet_pbw_end(w, n);
    n = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, ANET_EXPORT_PROBDICT);
    size_t vt = anet_pbw_begin(w, 2), dt = anet_pbw_begin(w, 4);
    scalar_type(w, 1, MIL_STRING);
    scalar_type(w, 2, MIL_FP64);
    anet_pbw_end(w, dt);
    anet_pbw_end(w, vt);
    anet_pbw_end(w, n);
    name_attr(w, "classify");
    anet_pbw_end(w, o);
}

/* FeatureDescription {name, shortDescription, type}; the type's body is written by the caller
 * between feature_begin and feature_end. */
static size_t feature_begin(anet_pbw *w, uint32_t num, const char *name, const char *doc, size_t *type) {
    size_t f = anet_pbw_begin(w, num);
    anet_pbw_string(w, 1, name);
    if (doc && doc[0]) anet_pbw_string(w, 2, doc);
    *type = anet_pbw_begin(w, 3);
    return f;
}
static void feature_end(anet_pbw *w, size_t f, size_t type) {
    anet_pbw_end(w, type);
    anet_pbw_end(w, f);
}

static void array_feature(anet_pbw *w, uint32_t num, const char *name, const char *doc, const anet_type *t) {
    size_t type, f = feature_begin(w, num, name, doc, &type);
    size_t a = anet_pbw_begin(w, 5), sh = anet_pbw_begin(w, 1);
    for (int i = 0; i < t->rank; i++) anet_pbw_raw_varint(w, (uint64_t)t->dims[i]);
    anet_pbw_end(w, sh);
    anet_pbw_varint(w, 2, t->dtype == ANET_DT_FP32 ? 65568 : 65552);
    anet_pbw_end(w, a);
    feature_end(w, f, type);
}

static void meta_entry(anet_pbw *w, const char *k, const char *v) {
    size_t e = anet_pbw_begin(w, 100);
    anet_pbw_string(w, 1, k);
    anet_pbw_string(w, 2, v);
    anet_pbw_end(w, e);
}

static void description(anet_pbw *w, const anet_deploy *d, const anet_export_options *o, const char *model_text) {
    const anet_value *in = &d->g->values[d->input], *head = &d->g->values[d->head];
    int image = strcmp(in->name, "image") == 0;
    size_t desc = anet_pbw_begin(w, 2);
    if (o->image_input) { /* ImageFeatureType {width 1, height 2, colorSpace 3 (GRAYSCALE 10)} */
        size_t type, f = feature_begin(w, 1, in->name, "28x28 grayscale image (light object on black)", &type);
        size_t it = anet_pbw_begin(w, 4);
        anet_pbw_varint(w, 1, (uint64_t)in->type.dims[3]);
        anet_pbw_varint(w, 2, (uint64_t)in->type.dims[2]);
        anet_pbw_varint(w, 3, 10);
        anet_pbw_end(w, it);
        feature_end(w, f, type);
    } else {
        array_feature(w, 1, in->name,
                      image ? "28x28 grayscale image, pixel values / 255 (0 = black, 1 = white), row-major"
                            : "feature vector, scaled as in training",
                      &in->type);
    }
    if (o->regression) {
        array_feature(w, 10, ANET_EXPORT_OUTPUT, "the model's outputs (logits)", &head->type);
    } else {
        size_t type, f = feature_begin(w, 10, ANET_EXPORT_LABEL, "the most likely class", &type);
        size_t e = anet_pbw_begin(w, 3);
        anet_pbw_end(w, e);
        feature_end(w, f, type);
        f = feature_begin(w, 10, ANET_EXPORT_PROBDICT, "probability of each class (softmax)", &type);
        size_t dt = anet_pbw_begin(w, 6), sk = anet_pbw_begin(w, 2);
        anet_pbw_end(w, sk);
        anet_pbw_end(w, dt);
        feature_end(w, f, type);
        anet_pbw_string(w, 11, ANET_EXPORT_LABEL);
        anet_pbw_string(w, 12, ANET_EXPORT_PROBDICT);
    }
    char buf[512];
    size_t md = anet_pbw_begin(w, 100);
    if (o->description && o->description[0]) anet_pbw_string(w, 1, o->description);
    else {
        snprintf(buf, sizeof buf, "%s %s trained with ane_trainer%s%s", model_text, o->regression ? "regressor" : "classifier",
                 o->dataset && o->dataset[0] ? " on " : "", o->dataset ? o->dataset : "");
        anet_pbw_string(w, 1, buf);
    }
    if (o->version && o->version[0]) anet_pbw_string(w, 2, o->version);
    if (o->author && o->author[0]) anet_pbw_string(w, 3, o->author);
    if (o->license && o->license[0]) anet_pbw_string(w, 4, o->license);
    meta_entry(w, "ane_trainer.model", model_text);
    if (o->dataset && o->dataset[0]) meta_entry(w, "ane_trainer.dataset", o->dataset);
    meta_entry(w, "ane_trainer.input_scale", o->image_input ? "1 (8-bit pixels; the program divides by 255)" : "1/255");
    meta_entry(w, "ane_trainer.version", ANET_VERSION);
    anet_pbw_end(w, md);
    anet_pbw_end(w, desc);
}

static void program(anet_pbw *w, const anet_deploy *d, const anet_export_options *o) {
    const anet_graph *g = d->g;
    char opset[32];
    snprintf(opset, sizeof opset, "CoreML%d", o->target - 10); /* iOS16 -> CoreML6 (coremltools _OPSET) */
    size_t prog = anet_pbw_begin(w, 502);
    anet_pbw_varint(w, 1, 1);
    size_t fe = anet_pbw_begin(w, 2);
    anet_pbw_string(w, 1, "main");
    size_t fn = anet_pbw_begin(w, 2);
    const anet_value *in = &g->values[d->input];
    nvt(w, 1, in->name, &in->type);
    anet_pbw_string(w, 2, opset);
    size_t be = anet_pbw_begin(w, 3);
    anet_pbw_string(w, 1, opset);
    size_t blk = anet_pbw_begin(w, 2);
    if (o->regression) anet_pbw_string(w, 2, g->values[d->head].name);
    else {
        anet_pbw_string(w, 2, ANET_EXPORT_LABEL);
        anet_pbw_string(w, 2, ANET_EXPORT_PROBDICT);
    }
    for (int i = 0; i < g->nops; i++) {
        if (g->ops[i].kind == ANET_OP_CONST) const_op(w, g, &g->ops[i]);
        else plain_op(w, g, &g->ops[i]);
    }
    if (!o->regression) classifier_tail(w, d);
    anet_pbw_end(w, blk);
    anet_pbw_end(w, be);
    anet_pbw_end(w, fn);
    anet_pbw_end(w, fe);
    anet_pbw_end(w, prog);
}

/* Protobuf strings must be UTF-8 (proto3 parsers refuse the message otherwise). */
static int utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80) return 0;
    }
    return 1;
}

/* Consts of at least this many elements go to weight.bin (coremltools' threshold is 10). */
#define BLOB_MIN_ELEMENTS 10

anet_status anet_export_spec(anet_deploy *d, const anet_export_options *o, const char *model_text, uint8_t **spec,
                             size_t *spec_len, uint8_t **weights, size_t *weights_len) {
    *spec = *weights = NULL;
    *spec_len = *weights_len = 0;
    const char *strs[5] = {o->author, o->version, o->license, o->description, o->dataset};
    static const char *const names[5] = {"author", "version", "license", "description", "dataset"};
    for (int i = 0; i < 5; i++)
        if (strs[i] && !utf8_ok(strs[i])) return anet_fail(ANET_E_INVALID, "the %s is not valid UTF-8", names[i]);
    for (int k = 0; d->labels && k < d->classes; k++)
        if (!utf8_ok(d->labels[k])) return anet_fail(ANET_E_INVALID, "class label %d is not valid UTF-8", k);
    for (int i = 0; i < d->g->nops; i++)
        if (d->g->ops[i].kind == ANET_OP_UNKNOWN || !mil_dtype(d->g->values[d->g->ops[i].outputs[0]].type.dtype))
            return anet_fail(ANET_E_UNSUPPORTED, "op '%s' (%s) has no Core ML form", d->g->ops[i].name,
                             d->g->ops[i].type);
    anet_status st = anet_weights_build(d->g, BLOB_MIN_ELEMENTS, weights, weights_len);
    if (st != ANET_OK) return st;
    anet_pbw w = {0};
    /* specificationVersion: 7 = iOS16, 8 = iOS17, 9 = iOS18 (coremltools _SPECIFICATION_VERSION_IOS_*) */
    anet_pbw_varint(&w, 1, (uint64_t)(o->target - 9));
    description(&w, d, o, model_text);
    program(&w, d, o);
    if (w.oom) {
        anet_pbw_free(&w);
        free(*weights);
        *weights = NULL;
        return anet_fail(ANET_E_NOMEM, "out of memory writing the model specification");
    }
    *spec = w.buf;
    *spec_len = w.len;
    return ANET_OK;
}
