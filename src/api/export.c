/* anet_model_export_coreml: the C API over src/export (options as a JSON object). */
#include <cjson/cJSON.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "export/export.h"

static anet_status str_opt(const cJSON *it, const char **out) {
    if (!cJSON_IsString(it)) return anet_fail(ANET_E_INVALID, "export options: \"%s\" must be a string", it->string);
    *out = it->valuestring;
    return ANET_OK;
}

anet_status anet_model_export_coreml(const anet_model *m, const char *path, const char *options) {
    if (!m || !path) return anet_fail(ANET_E_INVALID, "export: NULL model or path");
    anet_export_options o;
    anet_export_options_default(&o);
    cJSON *root = NULL;
    anet_status st = ANET_OK;
    if (options && options[0]) {
        root = cJSON_Parse(options);
        if (!cJSON_IsObject(root)) {
            cJSON_Delete(root);
            return anet_fail(ANET_E_INVALID, "export options: not a JSON object");
        }
    }
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, root) {
        const char *v = NULL;
        const char *k = it->string ? it->string : "";
        if (!strcmp(k, "regression")) {
            if (!cJSON_IsBool(it)) st = anet_fail(ANET_E_INVALID, "export options: \"regression\" must be true or false");
            o.regression = cJSON_IsTrue(it);
        } else if (!strcmp(k, "precision")) {
            if ((st = str_opt(it, &v)) == ANET_OK && strcmp(v, "fp16") && strcmp(v, "fp32"))
                st = anet_fail(ANET_E_INVALID, "export options: precision '%s': expected fp16 or fp32", v);
            o.fp32 = v && !strcmp(v, "fp32");
        } else if (!strcmp(k, "minimum_deployment_target")) {
            if ((st = str_opt(it, &v)) == ANET_OK) {
                o.target = !strcmp(v, "iOS16") ? 16 : !strcmp(v, "iOS17") ? 17 : !strcmp(v, "iOS18") ? 18 : 0;
                if (!o.target)
                    st = anet_fail(ANET_E_INVALID, "export options: minimum_deployment_target '%s': expected iOS16, iOS17 or iOS18", v);
            }
        } else if (!strcmp(k, "input")) {
            if ((st = str_opt(it, &v)) == ANET_OK && strcmp(v, "array") && strcmp(v, "image"))
                st = anet_fail(ANET_E_INVALID, "export options: input '%s': expected array or image", v);
            o.image_input = v && !strcmp(v, "image");
        } else if (!strcmp(k, "dataset")) st = str_opt(it, &o.dataset);
        else if (!strcmp(k, "author")) st = str_opt(it, &o.author);
        else if (!strcmp(k, "version")) st = str_opt(it, &o.version);
        else if (!strcmp(k, "license")) st = str_opt(it, &o.license);
        else if (!strcmp(k, "description")) st = str_opt(it, &o.description);
        else st = anet_fail(ANET_E_INVALID, "export options: unknown key \"%s\"", k);
        if (st != ANET_OK) break;
    }
    if (st == ANET_OK) st = anet_export_package(&m->spec, (const float *const *)m->w, &o, path);
    cJSON_Delete(root);
    return st;
}
