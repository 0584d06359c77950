/* The public model handle: a model spec with fp32 weights, moved in and out as PyTorch lays
 * them out. Initialisation and checkpoint checks are the trainer's own (train/model.c,
 * train/checkpoint.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "core/rng.h"
#include "train/checkpoint.h"

anet_status anet_api_model_alloc(const anet_model_spec *spec, anet_model **out) {
    anet_model *m = calloc(1, sizeof *m);
    if (!m) return anet_fail(ANET_E_NOMEM, "out of memory");
    m->spec = *spec;
    m->nparams = anet_model_nparams(spec);
    m->info = calloc((size_t)m->nparams, sizeof *m->info);
    m->w = calloc((size_t)m->nparams, sizeof *m->w);
    if (!m->info || !m->w) goto nomem;
    for (int i = 0; i < m->nparams; i++) {
        anet_model_param(spec, i, &m->info[i]);
        m->w[i] = calloc((size_t)m->info[i].rows * (size_t)m->info[i].cols, sizeof(float));
        if (!m->w[i]) goto nomem;
    }
    *out = m;
    return ANET_OK;
nomem:
    anet_model_free(m);
    return anet_fail(ANET_E_NOMEM, "model %s: out of memory for its parameters", spec->text);
}

anet_status anet_model_new(const char *spec, uint64_t seed, anet_model **out) {
    if (!out) return anet_fail(ANET_E_INVALID, "model: NULL output pointer");
    *out = NULL;
    if (!spec) return anet_fail(ANET_E_INVALID, "model: NULL spec");
    anet_model_spec s;
    anet_status st = anet_model_parse(spec, &s);
    if (st != ANET_OK) return st;
    anet_model *m;
    if ((st = anet_api_model_alloc(&s, &m)) != ANET_OK) return st;
    /* The trainer seeds its generator with the seed and draws the init from it first. */
    anet_rng rng;
    anet_rng_seed(&rng, seed);
    anet_model_init(&m->spec, &rng, m->w);
    *out = m;
    return ANET_OK;
}

anet_status anet_model_load(const char *checkpoint, anet_model **out) {
    if (!out) return anet_fail(ANET_E_INVALID, "model: NULL output pointer");
    *out = NULL;
    if (!checkpoint) return anet_fail(ANET_E_INVALID, "model: NULL checkpoint path");
    anet_ckpt c;
    anet_status st = anet_ckpt_read(checkpoint, &c);
    if (st != ANET_OK) return st;
    const char *spec = anet_ckpt_get_meta(&c, "model");
    anet_model_spec s;
    if (!spec) st = anet_fail(ANET_E_FORMAT, "checkpoint %s has no \"model\" metadata", checkpoint);
    if (st == ANET_OK) st = anet_model_parse(spec, &s);
    if (st == ANET_OK) st = anet_ckpt_check_model(&c, checkpoint, &s, "its model");
    anet_model *m = NULL;
    if (st == ANET_OK) st = anet_api_model_alloc(&s, &m);
    for (int i = 0; st == ANET_OK && i < m->nparams; i++) {
        const anet_ckpt_tensor *w = anet_ckpt_find(&c, m->info[i].name);
        memcpy(m->w[i], w->data, w->nbytes);
        for (size_t k = 0; k < w->nbytes / sizeof(float); k++)
            if (!isfinite(m->w[i][k])) {
                st = anet_fail(ANET_E_FORMAT, "checkpoint %s: %s[%zu] is not finite", checkpoint, m->info[i].name, k);
                break;
            }
    }
    anet_ckpt_free(&c);
    if (st != ANET_OK) {
        anet_model_free(m);
        return st;
    }
    *out = m;
    return ANET_OK;
}

void anet_model_free(anet_model *m) {
    if (!m) return;
    for (int i = 0; m->w && i < m->nparams; i++) free(m->w[i]);
    free(m->w);
    free(m->info);
    free(m);
}

const char *anet_model_spec_text(const anet_model *m) { return m ? m->spec.text : ""; }

int anet_model_num_params(const anet_model *m) { return m ? m->nparams : 0; }

anet_status anet_model_dims(const anet_model *m, int64_t *dims, size_t cap, size_t *ndims) {
    if (!m || !ndims) return anet_fail(ANET_E_INVALID, "model dims: NULL argument");
    size_t n = (size_t)m->spec.nlayers + 1;
    *ndims = n;
    if (!dims || cap < n) return anet_fail(ANET_E_INVALID, "model dims: room for %zu sizes, %zu needed", cap, n);
    for (size_t i = 0; i < n; i++) dims[i] = m->spec.dims[i];
    return ANET_OK;
}

static cJSON *shape_json(const anet_shape *s) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < s->rank; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(s->d[i]));
    return a;
}

anet_status anet_model_layers_json(const anet_model *m, char **json) {
    if (!m || !json) return anet_fail(ANET_E_INVALID, "model layers: NULL argument");
    static const char *const kinds[] = {"linear", "conv", "maxpool", "avgpool", "flatten", "relu", "leakyrelu",
                                        "sigmoid", "tanh", "gelu", "silu", "dropout", "batchnorm", "layernorm", "add"};
    const anet_model_spec *s = &m->spec;
    cJSON *root = cJSON_CreateObject(), *layers = cJSON_CreateArray();
    if (!root || !layers) {
        cJSON_Delete(root);
        cJSON_Delete(layers);
        return anet_fail(ANET_E_NOMEM, "model layers: out of memory");
    }
    cJSON_AddItemToObject(root, "input", shape_json(&s->input));
    cJSON_AddStringToObject(root, "loss", anet_loss_name(s->loss));
    cJSON_AddItemToObject(root, "layers", layers);
    for (int i = 0; i < s->nl; i++) {
        const anet_layer *l = &s->layers[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddStringToObject(o, "kind", kinds[l->kind]);
        cJSON_AddItemToObject(o, "in", shape_json(&l->in));
        cJSON_AddItemToObject(o, "out_shape", shape_json(&l->outs));
        cJSON_AddNumberToObject(o, "param0", l->param0);
        cJSON_AddNumberToObject(o, "out", l->out);
        cJSON_AddNumberToObject(o, "kh", l->kh);
        cJSON_AddNumberToObject(o, "kw", l->kw);
        cJSON_AddNumberToObject(o, "stride", l->stride);
        cJSON_AddNumberToObject(o, "pad", l->pad);
        cJSON_AddNumberToObject(o, "groups", l->groups);
        cJSON_AddNumberToObject(o, "alpha", l->alpha);
        cJSON_AddNumberToObject(o, "back", l->back);
        cJSON_AddItemToArray(layers, o);
    }
    return anet_api_json_out(root, json);
}

static anet_status check_index(const anet_model *m, int i) {
    if (!m) return anet_fail(ANET_E_INVALID, "model is NULL");
    if (i < 0 || i >= m->nparams)
        return anet_fail(ANET_E_INVALID, "model %s: parameter index %d is not in 0..%d", m->spec.text, i, m->nparams - 1);
    return ANET_OK;
}

anet_status anet_model_param_info(const anet_model *m, int i, char *name, size_t name_len, int64_t *rows,
                                  int64_t *cols) {
    anet_status st = check_index(m, i);
    if (st != ANET_OK) return st;
    if (name && name_len) {
        if (strlen(m->info[i].name) >= name_len)
            return anet_fail(ANET_E_INVALID, "parameter name buffer of %zu bytes is too small", name_len);
        strcpy(name, m->info[i].name);
    }
    if (rows) *rows = m->info[i].rows;
    if (cols) *cols = m->info[i].cols;
    return ANET_OK;
}

static anet_status check_count(const anet_model *m, int i, const void *p, size_t count) {
    anet_status st = check_index(m, i);
    if (st != ANET_OK) return st;
    size_t want = (size_t)m->info[i].rows * (size_t)m->info[i].cols;
    if (!p) return anet_fail(ANET_E_INVALID, "parameter %s: NULL buffer", m->info[i].name);
    if (count != want)
        return anet_fail(ANET_E_MISMATCH, "parameter %s of model %s has %zu values ([%d, %d]), got %zu",
                         m->info[i].name, m->spec.text, want, m->info[i].rows, m->info[i].cols, count);
    return ANET_OK;
}

anet_status anet_model_get_param(const anet_model *m, int i, float *out, size_t count) {
    anet_status st = check_count(m, i, out, count);
    if (st != ANET_OK) return st;
    memcpy(out, m->w[i], count * sizeof(float));
    return ANET_OK;
}

anet_status anet_model_set_param(anet_model *m, int i, const float *in, size_t count) {
    anet_status st = check_count(m, i, in, count);
    if (st != ANET_OK) return st;
    for (size_t k = 0; k < count; k++)
        if (!isfinite(in[k]))
            return anet_fail(ANET_E_INVALID, "parameter %s[%zu] is %s: weights must be finite", m->info[i].name, k,
                             isnan(in[k]) ? "NaN" : "infinite");
    memcpy(m->w[i], in, count * sizeof(float));
    return ANET_OK;
}
