/* The check report as JSON (`ane_trainer check --json`, anet_check_json). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "core/error.h"
#include "coreml/coreml.h"

const char *anet_coreml_compat_statement(int c) {
    return c == 0 ? "likely fully compatible" : c == 2 ? "likely not compatible at all" : "likely partly compatible";
}

static cJSON *shape_json(const anet_cm_shape *s) {
    if (s->rank < 0) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < s->rank && i < ANET_CM_MAX_DIMS; i++)
        cJSON_AddItemToArray(a, s->dims[i] > 0 ? cJSON_CreateNumber((double)s->dims[i]) : cJSON_CreateNull());
    return a;
}

static cJSON *tensors_json(char *const *names, const anet_cm_shape *shapes, const anet_cm_tensor *t, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        const anet_cm_shape *s = t ? &t[i].shape : &shapes[i];
        cJSON_AddStringToObject(o, "name", t ? t[i].name : names[i]);
        cJSON_AddItemToObject(o, "shape", shape_json(s));
        if (s->dtype[0]) cJSON_AddStringToObject(o, "dtype", s->dtype);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

cJSON *anet_coreml_report_json(const anet_cm_model *m) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "path", m->path);
    cJSON_AddStringToObject(root, "format", m->format);
    cJSON_AddStringToObject(root, "kind", m->kind);
    cJSON_AddNumberToObject(root, "specification_version", (double)m->spec_version);
    cJSON_AddStringToObject(root, "chip", anet_chip_name(m->chip));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < m->nlayers; i++) {
        const anet_cm_layer *l = &m->layers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddStringToObject(o, "name", l->name);
        cJSON_AddStringToObject(o, "type", l->type);
        if (l->subtype) cJSON_AddStringToObject(o, "subtype", l->subtype);
        cJSON_AddStringToObject(o, "model_path", l->model_path);
        cJSON_AddStringToObject(o, "verdict", anet_cm_placement_name(l->verdict));
        cJSON_AddStringToObject(o, "rule", l->rule ? l->rule->id : "");
        cJSON_AddStringToObject(o, "detail", l->detail);
        cJSON_AddStringToObject(o, "reason", l->rule ? l->rule->reason : "");
        cJSON_AddStringToObject(o, "source", l->rule ? l->rule->source : "");
        cJSON_AddItemToObject(o, "inputs", tensors_json(l->inputs, l->in_shapes, NULL, l->ninputs));
        cJSON_AddItemToObject(o, "outputs", tensors_json(l->outputs, l->out_shapes, NULL, l->noutputs));
        cJSON_AddItemToArray(layers, o);
    }
    cJSON *segs = cJSON_AddArrayToObject(root, "segments");
    for (int i = 0; i < m->nsegments; i++) {
        const anet_cm_segment *s = &m->segments[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "first", s->first);
        cJSON_AddNumberToObject(o, "last", s->last);
        cJSON_AddItemToObject(o, "inputs", tensors_json(NULL, NULL, s->inputs, s->ninputs));
        cJSON_AddItemToObject(o, "outputs", tensors_json(NULL, NULL, s->outputs, s->noutputs));
        cJSON_AddNumberToObject(o, "inputs_more", s->inputs_more);
        cJSON_AddNumberToObject(o, "outputs_more", s->outputs_more);
        cJSON_AddItemToArray(segs, o);
    }
    cJSON *notes = cJSON_AddArrayToObject(root, "notes");
    for (int i = 0; i < m->nnotes; i++) cJSON_AddItemToArray(notes, cJSON_CreateString(m->notes[i]));
    int c = anet_coreml_compat(m);
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "layers", m->nlayers);
    cJSON_AddNumberToObject(sum, "ane", m->n_ane);
    cJSON_AddNumberToObject(sum, "cpu", m->n_cpu);
    cJSON_AddNumberToObject(sum, "unknown", m->n_unknown);
    cJSON_AddNumberToObject(sum, "switches", m->switches);
    cJSON_AddStringToObject(sum, "compatibility", c == 0 ? "full" : c == 2 ? "none" : "partial");
    cJSON_AddStringToObject(sum, "statement", anet_coreml_compat_statement(c));
    cJSON_AddNumberToObject(sum, "exit_status", c);
    return root;
}

anet_status anet_check_json(const char *path, const char *chip, char **json) {
    if (!json) return anet_fail(ANET_E_INVALID, "check: NULL output pointer");
    *json = NULL;
    if (!path || !path[0]) return anet_fail(ANET_E_INVALID, "check: empty path");
    anet_chip c = ANET_CHIP_STRICT;
    if (chip && anet_chip_lookup(chip, &c) != 0)
        return anet_fail(ANET_E_INVALID, "check: unknown chip '%s' (m1, m2, m3, m4 or strict)", chip);
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_load(path, &m);
    if (st == ANET_OK) st = anet_coreml_analyze(m, c);
    if (st != ANET_OK) {
        anet_coreml_free(m);
        return st;
    }
    cJSON *root = anet_coreml_report_json(m);
    anet_coreml_free(m);
    return anet_api_json_out(root, json);
}
