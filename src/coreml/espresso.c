/* Compiled NeuralNetwork bundles: model.espresso.net is JSON ({"format_version", "layers":
 * [{"type", "name", "bottom": "a,b", "top": "c", parameters...}], "storage"}), and
 * model.espresso.shape gives each blob's {n, k, h, w}. Every layer becomes a NeuralNetwork
 * layer judged by the NeuralNetwork rules, its espresso type mapped to the layer kind it was
 * compiled from. The format is Apple's and undocumented; the keys read are those public
 * readers use (lutzroeder/netron source/espresso.js), and a key that is absent just leaves
 * its rule silent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "coreml/coreml.h"

static const struct {
    const char *type;
    int field;
} kinds[] = {
    {"activation", 130}, {"batchnorm", 160}, {"batch_norm", 160}, {"concat", 320}, {"convolution", 100},
    {"crop", 190}, {"custom", 500}, {"deconvolution", 100}, {"elementwise", 230}, {"flatten", 301},
    {"gather", 930}, {"general_concat", 980}, {"inner_product", 140}, {"instancenorm_1d", 165},
    {"l2_normalize", 170}, {"lrn", 180}, {"lstm", 420}, {"padding", 200}, {"pool", 120}, {"prelu", 130},
    {"reduce", 280}, {"relu", 130}, {"reshape", 300}, {"rnn_arch", 420}, {"slice", 350}, {"softmax", 175},
    {"split", 330}, {"squeeze", 1120}, {"tanh", 130}, {"transpose", 310}, {"upsample", 210},
};

static int num(const cJSON *o, const char *k, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15) return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

/* "a,b,c" into names. */
static int split_names(const cJSON *v, char ***arr, int *n) {
    if (!cJSON_IsString(v)) return 0;
    const char *s = v->valuestring;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char **p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
        if (!p) return -1;
        *arr = p;
        if (!(p[*n] = anet_cm_strndup(s, len))) return -1;
        (*n)++;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}

static anet_status shapes(anet_cm_model *m, const char *shape_json, size_t len) {
    cJSON *root = cJSON_ParseWithLength(shape_json, len);
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(root, "layer_shapes"), *e;
    anet_status st = ANET_OK;
    cJSON_ArrayForEach(e, ls) {
        uint64_t n = 0, k = 0, h = 0, w = 0;
        if (!e->string || !num(e, "n", &n) || !num(e, "k", &k) || !num(e, "h", &h) || !num(e, "w", &w)) continue;
        anet_cm_shape s;
        memset(&s, 0, sizeof s);
        s.rank = 4;
        int64_t d[4] = {(int64_t)n, (int64_t)k, (int64_t)h, (int64_t)w};
        for (int i = 0; i < ANET_CM_MAX_DIMS; i++) s.dims[i] = i < 4 ? d[i] : -1;
        if (anet_cm_add_known(m, e->string, strlen(e->string), &s) != 0) {
            st = anet_fail(ANET_E_NOMEM, "%s: out of memory", m->path);
            break;
        }
    }
    cJSON_Delete(root); /* a missing or broken shape file only costs shapes */
    return st;
}

anet_status anet_cm_read_espresso(anet_cm_model *m, const char *name, const char *net, size_t len,
                                  const char *shape_json, size_t slen, const char *path) {
    cJSON *root = cJSON_ParseWithLength(net, len);
    if (!root) return anet_fail(ANET_E_FORMAT, "%s: not valid JSON", name);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *L;
    if (!cJSON_IsArray(layers)) {
        cJSON_Delete(root);
        return anet_fail(ANET_E_FORMAT, "%s: no \"layers\" array: not an espresso network", name);
    }
    anet_status st = shape_json ? shapes(m, shape_json, slen) : ANET_OK;
    cJSON_ArrayForEach(L, layers) {
        if (st != ANET_OK) break;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(L, "type"), *nm = cJSON_GetObjectItemCaseSensitive(L, "name");
        const char *type = cJSON_IsString(t) ? t->valuestring : "(none)";
        anet_cm_layer *l = anet_cm_add_layer(m);
        if (!l) {
            st = anet_cm_no_layer(m, name);
            break;
        }
        l->field = 1; /* no NeuralNetwork kind: the unreported rule, unless mapped below */
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcmp(kinds[i].type, type) == 0) l->field = kinds[i].field;
        l->deconv = strcmp(type, "deconvolution") == 0;
        l->type = anet_cm_strndup(type, strlen(type) > 64 ? 64 : strlen(type));
        const char *n = cJSON_IsString(nm) ? nm->valuestring : "";
        l->name = anet_cm_strndup(n, strlen(n) > 200 ? 200 : strlen(n));
        l->model_path = anet_cm_strndup(path, strlen(path));
        if (!l->type || !l->name || !l->model_path ||
            split_names(cJSON_GetObjectItemCaseSensitive(L, "bottom"), &l->inputs, &l->ninputs) ||
            split_names(cJSON_GetObjectItemCaseSensitive(L, "top"), &l->outputs, &l->noutputs)) {
            st = anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
            break;
        }
        uint64_t v;
        if (num(L, "dilation_x", &v)) l->dilation[l->ndilation++] = v;
        if (num(L, "dilation_y", &v)) l->dilation[l->ndilation++] = v;
        if (l->field == 120) {
            if (num(L, "size_x", &v)) l->kernel[l->nkernel++] = v;
            if (num(L, "size_y", &v)) l->kernel[l->nkernel++] = v;
            if (num(L, "stride_x", &v)) l->stride[l->nstride++] = v;
            if (num(L, "stride_y", &v)) l->stride[l->nstride++] = v;
        }
        if (anet_cm_alloc_shapes(l, l->ninputs, l->noutputs) != 0) {
            st = anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
            break;
        }
        for (int i = 0; i < l->ninputs; i++) l->in_shapes[i].rank = -1;
        for (int i = 0; i < l->noutputs; i++) l->out_shapes[i].rank = -1; /* the analysis looks them up */
    }
    cJSON_Delete(root);
    return st;
}
