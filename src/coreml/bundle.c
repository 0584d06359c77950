/* Entry point of the readers: decides from PATH what it is (.mlmodel file, .mlpackage or
 * .mlmodelc directory, MIL text) and hands the bytes to the right reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "coreml/coreml.h"
#include "coreml/deps.h"
#include "coreml/mlprogram.h"
#include "core/error.h"
#include "train/model.h"
#include "mil/mil.h"

/* Reads a whole regular file of at most max bytes. */
static anet_status read_all(const char *path, size_t max, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return anet_fail(ANET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return anet_fail(ANET_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        fclose(f);
        return anet_fail(ANET_E_UNSUPPORTED, "%s: %lld bytes is larger than the %zu-byte limit", path,
                         (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return anet_fail(ANET_E_IO, "%s: read error", path);
    }
    buf[n] = '\0'; /* lets text readers treat it as a string */
    *out = buf;
    *len = n;
    return ANET_OK;
}

static int exists(const char *dir, const char *rel, int want_dir) {
    char p[4096];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s", dir, rel) >= (int)sizeof p) return 0;
    if (stat(p, &st) != 0) return 0;
    return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* MIL text (a bundle's model.mil or a .mil file) through the MIL parser. */
static anet_status load_mil(const char *path, const char *milpath, const char *weights_path,
                            const char *format, anet_cm_model **out) {
#if ANET_CM_HAVE_MIL_PARSER && ANET_CM_HAVE_IR
    uint8_t *text = NULL, *w = NULL;
    size_t tlen = 0, wlen = 0;
    anet_status st = read_all(milpath, ANET_CM_MAX_FILE, &text, &tlen);
    if (st != ANET_OK) return st;
    if (weights_path && (st = read_all(weights_path, ANET_CM_MAX_FILE, &w, &wlen)) != ANET_OK) {
        free(text);
        return st;
    }
    anet_graph *g = NULL;
    st = anet_mil_parse((const char *)text, tlen, w, wlen, &g);
    free(text);
    free(w);
    if (st != ANET_OK) return anet_fail_ctx(st == ANET_E_NOMEM ? st : ANET_E_FORMAT, "%s", milpath);
    anet_cm_model *m = anet_cm_model_new(path, format);
    if (!m || !(m->graphs = malloc(sizeof *m->graphs))) {
        anet_graph_free(g);
        anet_coreml_free(m);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    }
    m->graphs[0] = g;
    m->ngraphs = 1;
    m->kind = "mlProgram";
    m->private_path = strcmp(format, "mil") == 0; /* our own programs, for the private API */
    st = anet_cm_layers_from_graph(m, 0, "");
    if (st != ANET_OK) {
        anet_coreml_free(m);
        return st;
    }
    *out = m;
    return ANET_OK;
#else
    (void)path;
    (void)weights_path;
    (void)format;
    (void)out;
    return anet_fail(ANET_E_UNSUPPORTED, "%s: MIL text cannot be analyzed yet: this build has no MIL parser",
                     milpath);
#endif
}

/* Manifest.json: itemInfoEntries[rootModelIdentifier].path names the spec under Data/. */
static anet_status package_spec_path(const char *dir, char *out, size_t outlen) {
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/Manifest.json", dir);
    uint8_t *text = NULL;
    size_t len = 0;
    anet_status st = read_all(mpath, (size_t)16 << 20, &text, &len);
    if (st != ANET_OK) return st;
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    free(text);
    if (!root) return anet_fail(ANET_E_FORMAT, "%s: not valid JSON", mpath);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "rootModelIdentifier");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "itemInfoEntries");
    const cJSON *entry = cJSON_IsString(id) && cJSON_IsObject(items)
                             ? cJSON_GetObjectItemCaseSensitive(items, id->valuestring) : NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(entry, "path");
    if (!cJSON_IsString(p) || !p->valuestring[0]) {
        cJSON_Delete(root);
        return anet_fail(ANET_E_FORMAT, "%s: no itemInfoEntries entry with a path for rootModelIdentifier", mpath);
    }
    /* The manifest is input too: never let it point outside the package. */
    if (p->valuestring[0] == '/' || strstr(p->valuestring, "..")) {
        anet_fail(ANET_E_FORMAT, "%s: model path '%.200s' leaves the package", mpath, p->valuestring);
        cJSON_Delete(root);
        return ANET_E_FORMAT;
    }
    int n = snprintf(out, outlen, "%s/Data/%s", dir, p->valuestring);
    cJSON_Delete(root);
    if (n < 0 || (size_t)n >= outlen) return anet_fail(ANET_E_FORMAT, "%s: model path too long", mpath);
    return ANET_OK;
}

static anet_status load_protobuf(const char *path, const char *file, const char *format, size_t wsize,
                                 anet_cm_model **out) {
    uint8_t *buf = NULL;
    size_t len = 0;
    anet_status st = read_all(file, ANET_CM_MAX_FILE, &buf, &len);
    if (st != ANET_OK) return st;
    st = anet_coreml_parse_mlmodel(buf, len, NULL, wsize, file, out);
    free(buf);
    if (st == ANET_OK) {
        (*out)->format = format;
        char *p = anet_cm_strndup(path, strlen(path));
        if (!p) {
            anet_coreml_free(*out);
            *out = NULL;
            return anet_fail(ANET_E_NOMEM, "out of memory");
        }
        free((*out)->path);
        (*out)->path = p;
    }
    return st;
}

static anet_status load_dir(const char *path, anet_cm_model **out) {
    char p[4096], w[4096];
    if (exists(path, "Manifest.json", 0)) {
        anet_status st = package_spec_path(path, p, sizeof p);
        if (st != ANET_OK) return st;
        /* The weights next to the spec are not read; their size bounds the stand-ins that
         * model BLOBFILE consts (mlprogram_ir.c). */
        struct stat ws;
        size_t wsize = 0;
        snprintf(w, sizeof w, "%s", p);
        char *slash = strrchr(w, '/');
        if (slash && (size_t)(slash - w) + sizeof "/weights/weight.bin" <= sizeof w) {
            memcpy(slash, "/weights/weight.bin", sizeof "/weights/weight.bin");
            if (stat(w, &ws) == 0 && S_ISREG(ws.st_mode) && (uint64_t)ws.st_size <= ANET_CM_MAX_FILE)
                wsize = (size_t)ws.st_size;
        }
        return load_protobuf(path, p, "mlpackage", wsize, out);
    }
    if (exists(path, "model.mil", 0)) {
        snprintf(p, sizeof p, "%s/model.mil", path);
        snprintf(w, sizeof w, "%s/weights/weight.bin", path);
        return load_mil(path, p, exists(path, "weights/weight.bin", 0) ? w : NULL, "mlmodelc", out);
    }
    if (exists(path, "coremldata.bin", 0) || exists(path, "model.espresso.net", 0) ||
        exists(path, "model", 1))
        return anet_fail(ANET_E_UNSUPPORTED,
                         "%s: compiled NeuralNetwork bundle (espresso format, no model.mil): not readable here; "
                         "check the .mlmodel or .mlpackage it was compiled from",
                         path);
    return anet_fail(ANET_E_FORMAT,
                     "%s: directory is not a Core ML bundle (no Manifest.json, model.mil or coremldata.bin)", path);
}

anet_status anet_coreml_load(const char *path, anet_cm_model **out) {
    struct stat st;
    *out = NULL;
    if (anet_model_spec_like(path)) return anet_coreml_load_training(path, out); /* a planned network */
    if (stat(path, &st) != 0) return anet_fail(ANET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    anet_status s;
    if (S_ISDIR(st.st_mode)) {
        s = load_dir(path, out);
    } else if (ends_with(path, ".mil")) {
        s = load_mil(path, path, NULL, "mil", out);
    } else if (ends_with(path, ".safetensors")) {
        s = anet_coreml_load_training(path, out);
    } else {
        s = load_protobuf(path, path, "mlmodel", 0, out);
    }
    if (s == ANET_OK && (*out)->nlayers == 0) {
        anet_coreml_free(*out);
        *out = NULL;
        return anet_fail(ANET_E_FORMAT, "%s: no layers or ops found", path);
    }
    return s;
}
