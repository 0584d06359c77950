/* The check report as JSON (`ane_trainer check --json`, anet_check_json). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "core/error.h"
#include "coreml/compute_plan.h"
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

/* The verdict fields a layer row and a program-rule row share. */
static void add_verdict(cJSON *o, anet_cm_placement verdict, const anet_rule *rule, const char *detail) {
    cJSON_AddStringToObject(o, "verdict", anet_cm_placement_name(verdict));
    cJSON_AddStringToObject(o, "rule", rule ? rule->id : "");
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddStringToObject(o, "reason", rule ? rule->reason : "");
    cJSON_AddStringToObject(o, "source", rule ? rule->source : "");
}

static cJSON *layer_json(const anet_cm_model *m, int i) {
    const anet_cm_layer *l = &m->layers[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", i);
    cJSON_AddStringToObject(o, "name", l->name);
    cJSON_AddStringToObject(o, "type", l->type);
    if (l->subtype) cJSON_AddStringToObject(o, "subtype", l->subtype);
    cJSON_AddStringToObject(o, "model_path", l->model_path);
    add_verdict(o, l->verdict, l->rule, anet_cm_detail(l));
    cJSON_AddItemToObject(o, "inputs", tensors_json(l->inputs, l->in_shapes, NULL, l->ninputs));
    cJSON_AddItemToObject(o, "outputs", tensors_json(l->outputs, l->out_shapes, NULL, l->noutputs));
    if (m->on_device) {
        cJSON *os = cJSON_AddObjectToObject(o, "on_device");
        cJSON_AddStringToObject(os, "preferred", l->os_device ? anet_cp_device_name(l->os_device) : "not reported");
        cJSON *sup = cJSON_AddArrayToObject(os, "supported");
        for (int d = ANET_CP_ANE; d <= ANET_CP_OTHER; d++)
            if (l->os_supported & (1u << d)) cJSON_AddItemToArray(sup, cJSON_CreateString(anet_cp_device_name(d)));
        cJSON_AddBoolToObject(os, "mismatch", l->os_mismatch);
    }
    return o;
}

static cJSON *segment_json(const anet_cm_segment *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "first", s->first);
    cJSON_AddNumberToObject(o, "last", s->last);
    cJSON_AddItemToObject(o, "inputs", tensors_json(NULL, NULL, s->inputs, s->ninputs));
    cJSON_AddItemToObject(o, "outputs", tensors_json(NULL, NULL, s->outputs, s->noutputs));
    cJSON_AddNumberToObject(o, "inputs_more", s->inputs_more);
    cJSON_AddNumberToObject(o, "outputs_more", s->outputs_more);
    return o;
}

static cJSON *issue_json(const anet_cm_issue *is) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "program", is->program);
    add_verdict(o, is->verdict, is->rule, is->detail);
    return o;
}

/* Everything but the per-layer, per-segment and per-issue arrays. */
static cJSON *head_json(const anet_cm_model *m) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "path", m->path);
    cJSON_AddStringToObject(root, "format", m->format);
    cJSON_AddStringToObject(root, "kind", m->kind);
    cJSON_AddNumberToObject(root, "specification_version", (double)m->spec_version);
    cJSON_AddStringToObject(root, "chip", anet_chip_name(m->chip));
    cJSON_AddStringToObject(root, "rules", anet_cm_rules_name(m->rules));
    return root;
}

static cJSON *tail_json(const anet_cm_model *m) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON *notes = cJSON_AddArrayToObject(root, "notes");
    for (int i = 0; i < m->nnotes; i++) cJSON_AddItemToArray(notes, cJSON_CreateString(m->notes[i]));
    int c = anet_coreml_compat(m);
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "layers", m->nlayers);
    cJSON_AddNumberToObject(sum, "ane", m->n_ane);
    cJSON_AddNumberToObject(sum, "cpu", m->n_cpu);
    cJSON_AddNumberToObject(sum, "unknown", m->n_unknown);
    cJSON_AddNumberToObject(sum, "switches", m->switches);
    cJSON_AddNumberToObject(sum, "program_rules", m->nissues);
    if (m->on_device) {
        cJSON *os = cJSON_AddObjectToObject(sum, "on_device");
        cJSON_AddStringToObject(os, "source", strcmp(m->os_source, "darwin") == 0 ? "MLComputePlan" : m->os_source);
        cJSON_AddNumberToObject(os, "ane", m->os_ane);
        cJSON_AddNumberToObject(os, "cpu", m->os_cpu);
        cJSON_AddNumberToObject(os, "gpu", m->os_gpu);
        cJSON_AddNumberToObject(os, "not_reported", m->os_unreported);
        cJSON_AddNumberToObject(os, "mismatches", m->os_mismatches);
        cJSON_AddNumberToObject(os, "unmatched_os_entries", m->os_extra);
    } else {
        cJSON_AddNullToObject(sum, "on_device");
    }
    cJSON_AddStringToObject(sum, "compatibility", c == 0 ? "full" : c == 2 ? "none" : "partial");
    cJSON_AddStringToObject(sum, "statement", anet_coreml_compat_statement(c));
    cJSON_AddNumberToObject(sum, "exit_status", c);
    return root;
}

/* Moves every member of src to the end of dst (src is freed). */
static void move_members(cJSON *dst, cJSON *src) {
    while (src && src->child) {
        cJSON *it = cJSON_DetachItemViaPointer(src, src->child);
        cJSON_AddItemToObject(dst, it->string, it);
    }
    cJSON_Delete(src);
}

cJSON *anet_coreml_report_json(const anet_cm_model *m) {
    cJSON *root = head_json(m);
    if (!root) return NULL;
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < m->nlayers; i++) cJSON_AddItemToArray(layers, layer_json(m, i));
    cJSON *segs = cJSON_AddArrayToObject(root, "segments");
    for (int i = 0; i < m->nsegments; i++) cJSON_AddItemToArray(segs, segment_json(&m->segments[i]));
    cJSON *progs = cJSON_AddArrayToObject(root, "program_rules");
    for (int i = 0; i < m->nissues; i++) cJSON_AddItemToArray(progs, issue_json(&m->issues[i]));
    move_members(root, tail_json(m));
    return root;
}

/* Prints one item (compact) and frees it; -1 when out of memory or the write failed. */
static int put_item(FILE *f, cJSON *it, const char *sep) {
    char *s = it ? cJSON_PrintUnformatted(it) : NULL;
    cJSON_Delete(it);
    if (!s) return -1;
    int rc = fprintf(f, "%s%s", sep, s) < 0 ? -1 : 0;
    free(s);
    return rc;
}

/* Object members of o, without its braces, each on a line ("  "key": value"). */
static int put_members(FILE *f, cJSON *o, int first) {
    int rc = o ? 0 : -1;
    for (cJSON *it = o ? o->child : NULL; it && rc == 0; it = it->next) {
        char *s = cJSON_PrintUnformatted(it), *k = NULL;
        cJSON *key = cJSON_CreateString(it->string);
        k = key ? cJSON_PrintUnformatted(key) : NULL;
        cJSON_Delete(key);
        if (!s || !k || fprintf(f, "%s\n  %s: %s", first ? "" : ",", k, s) < 0) rc = -1;
        first = 0;
        free(s);
        free(k);
    }
    cJSON_Delete(o);
    return rc;
}

int anet_coreml_report_write(const anet_cm_model *m, FILE *f) {
    if (fputs("{", f) < 0 || put_members(f, head_json(m), 1) != 0) return -1;
    if (fputs(",\n  \"layers\": [", f) < 0) return -1;
    for (int i = 0; i < m->nlayers; i++)
        if (put_item(f, layer_json(m, i), i ? ",\n    " : "\n    ") != 0) return -1;
    if (fputs(m->nlayers ? "\n  ],\n  \"segments\": [" : "],\n  \"segments\": [", f) < 0) return -1;
    for (int i = 0; i < m->nsegments; i++)
        if (put_item(f, segment_json(&m->segments[i]), i ? ",\n    " : "\n    ") != 0) return -1;
    if (fputs(m->nsegments ? "\n  ],\n  \"program_rules\": [" : "],\n  \"program_rules\": [", f) < 0) return -1;
    for (int i = 0; i < m->nissues; i++)
        if (put_item(f, issue_json(&m->issues[i]), i ? ",\n    " : "\n    ") != 0) return -1;
    if (fputs(m->nissues ? "\n  ]" : "]", f) < 0 || put_members(f, tail_json(m), 0) != 0 || fputs("\n}\n", f) < 0)
        return -1;
    return 0;
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
    /* Same default as the CLI: a checkpoint's own chip (or m4 for a spec), else strict. */
    if (st == ANET_OK && !chip && m->has_chip_hint) c = m->chip_hint;
    if (st == ANET_OK) st = anet_coreml_analyze(m, c);
    if (st != ANET_OK) {
        anet_coreml_free(m);
        return st;
    }
    cJSON *root = anet_coreml_report_json(m);
    anet_coreml_free(m);
    return anet_api_json_out(root, json);
}
