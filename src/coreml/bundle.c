/* Entry point of the readers: decides from PATH what it is (.mlmodel file, .mlpackage or
 * .mlmodelc directory, MIL text) and hands the bytes to the right reader. */
#define _DEFAULT_SOURCE /* realpath, st_blocks */
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

/* dir/rel into p (size PATH_BUF); -1 when it does not fit. */
#define PATH_BUF 4096
static int join(char *p, const char *dir, const char *rel) {
    int n = snprintf(p, PATH_BUF, "%s/%s", dir, rel);
    return n < 0 || n >= PATH_BUF ? -1 : 0;
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

/* A ".." path component (not "..": inside a name such as "a..b.mlmodel"). */
static int has_dotdot_component(const char *p) {
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') return 1;
        if (!e) break;
        c = e + 1;
    }
    return 0;
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
    if (p->valuestring[0] == '/' || has_dotdot_component(p->valuestring)) {
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

/* A bundle member that is a symbolic link must stay inside the bundle. */
static anet_status member_ok(const char *dir, const char *file) {
    struct stat st;
    if (lstat(file, &st) != 0 || !S_ISLNK(st.st_mode)) return ANET_OK;
    char *rd = realpath(dir, NULL), *rf = realpath(file, NULL);
    size_t n = rd ? strlen(rd) : 0;
    int inside = rd && rf && strncmp(rf, rd, n) == 0 && rf[n] == '/';
    free(rd);
    free(rf);
    if (inside) return ANET_OK;
    return anet_fail(ANET_E_FORMAT, "%s: a symbolic link leaving the bundle: refused", file);
}

static anet_status read_member(const char *dir, const char *rel, size_t max, uint8_t **buf, size_t *len) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, rel) >= (int)sizeof p) return anet_fail(ANET_E_IO, "%s: path too long", dir);
    anet_status st = member_ok(dir, p);
    return st != ANET_OK ? st : read_all(p, max, buf, len);
}

/* The bytes a weight file really holds: a sparse file's holes do not count (they would let a
 * tiny file claim a huge budget for the stand-in weights). */
static size_t held_bytes(const struct stat *st) {
    uint64_t alloc = (uint64_t)st->st_blocks * 512u, size = (uint64_t)st->st_size;
    uint64_t n = alloc < size ? alloc : size;
    return n > ANET_CM_MAX_FILE ? ANET_CM_MAX_FILE : (size_t)n;
}

/* Notes on a bundle's weight file: absent, or a Git LFS pointer in place of the data. The
 * verdicts never depend on it (they come from the program's types and shapes). */
static void weights_note(anet_cm_model *m, const char *wfile, int referenced) {
    struct stat st;
    if (stat(wfile, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (referenced)
            anet_cm_add_note(m, "weights absent (%s not found): verdicts come from the types and shapes in the program", wfile);
        return;
    }
    uint8_t head[64];
    FILE *f = st.st_size < 1024 ? fopen(wfile, "rb") : NULL;
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (anet_cm_is_lfs_pointer(head, n))
        anet_cm_add_note(m, "weights absent: %s is a Git LFS pointer (fetch it with git lfs pull); verdicts come from the types and shapes in the program",
                         wfile);
}

#define ANET_CM_MAX_PIPELINE 256

/* One compiled model directory: model.mil (ML Program), model.espresso.net (NeuralNetwork)
 * or a pipeline of model0/, model1/, ... */
static anet_status read_compiled(anet_cm_model *m, const char *dir, const char *mpath, int depth, const char **kind) {
    char p[4096];
    uint8_t *text = NULL, *shape = NULL;
    size_t len = 0, slen = 0;
    anet_status st;
    if (depth > ANET_CM_MAX_DEPTH)
        return anet_fail(ANET_E_FORMAT, "%s: pipelines nested deeper than %d levels", dir, ANET_CM_MAX_DEPTH);
    if (exists(dir, "model.mil", 0)) {
        if (join(p, dir, "model.mil")) return anet_fail(ANET_E_IO, "%s: path too long", dir);
        if ((st = read_member(dir, "model.mil", ANET_CM_MAX_FILE, &text, &len)) != ANET_OK) return st;
        st = anet_cm_read_miltext(m, p, (const char *)text, len, mpath);
        if (st == ANET_OK) {
            if (join(p, dir, "weights/weight.bin") == 0) weights_note(m, p, strstr((const char *)text, "BLOBFILE") != NULL);
        }
        free(text);
        *kind = "mlProgram";
        return st;
    }
    if (exists(dir, "model.espresso.net", 0)) {
        if (join(p, dir, "model.espresso.net")) return anet_fail(ANET_E_IO, "%s: path too long", dir);
        if ((st = read_member(dir, "model.espresso.net", (size_t)256 << 20, &text, &len)) != ANET_OK) return st;
        if (exists(dir, "model.espresso.shape", 0) &&
            read_member(dir, "model.espresso.shape", (size_t)256 << 20, &shape, &slen) != ANET_OK)
            shape = NULL, slen = 0; /* shapes are optional */
        st = anet_cm_read_espresso(m, p, (const char *)text, len, (const char *)shape, slen, mpath);
        free(text);
        free(shape);
        *kind = "neuralNetwork";
        return st;
    }
    if (exists(dir, "model0", 1)) {
        for (int i = 0; i < ANET_CM_MAX_PIPELINE; i++) {
            char sub[32], sp[300];
            snprintf(sub, sizeof sub, "model%d", i);
            if (!exists(dir, sub, 1)) break;
            if (join(p, dir, sub)) return anet_fail(ANET_E_IO, "%s: path too long", dir);
            if ((st = member_ok(dir, p)) != ANET_OK) return st;
            if (strlen(mpath) > 200) return anet_fail(ANET_E_FORMAT, "%s: pipeline paths too long", dir);
            snprintf(sp, sizeof sp, "%s%smodels[%d]", mpath, mpath[0] ? "/" : "", i);
            const char *k;
            if ((st = read_compiled(m, p, sp, depth + 1, &k)) != ANET_OK) return st;
        }
        *kind = "pipeline";
        return ANET_OK;
    }
    return anet_fail(ANET_E_FORMAT,
                     "%s: compiled bundle without model.mil, model.espresso.net or model0/: not a model this checker reads",
                     dir);
}

#if ANET_CM_HAVE_MIL_PARSER && ANET_CM_HAVE_IR
/* The private rules need the graph IR: the strict parser builds it from model.mil (with its
 * weights, if the file really holds at most 256 MB); layers link to ops by first output. */
static void compiled_ir(anet_cm_model *m, const char *dir) {
    uint8_t *text = NULL, *w = NULL;
    size_t tlen = 0, wlen = 0;
    char wp[4096];
    struct stat ws;
    if (join(wp, dir, "weights/weight.bin")) return;
    if (read_member(dir, "model.mil", ANET_CM_MAX_FILE, &text, &tlen) != ANET_OK) {
        snprintf(m->ir_error, sizeof m->ir_error, "model.mil could not be read again");
        return;
    }
    if (stat(wp, &ws) == 0 && S_ISREG(ws.st_mode) && held_bytes(&ws) <= ((size_t)256 << 20) &&
        read_member(dir, "weights/weight.bin", (size_t)256 << 20, &w, &wlen) != ANET_OK)
        w = NULL, wlen = 0;
    anet_graph *g = NULL;
    anet_status st = anet_mil_parse((const char *)text, tlen, w, wlen, &g);
    free(text);
    free(w);
    if (st != ANET_OK || !(m->graphs = malloc(sizeof *m->graphs))) {
        snprintf(m->ir_error, sizeof m->ir_error, "not modeled for the private rules: %.200s",
                 st != ANET_OK ? anet_last_error() : "out of memory");
        anet_graph_free(g);
        return;
    }
    m->graphs[0] = g;
    m->ngraphs = 1;
    for (int i = 0; i < m->nlayers; i++) {
        anet_cm_layer *l = &m->layers[i];
        int v = l->noutputs ? anet_graph_find(g, l->outputs[0]) : -1;
        if (v >= 0 && g->values[v].producer >= 0) l->graph = 0, l->op = g->values[v].producer;
    }
    anet_clear_error();
}
#endif

static anet_status load_dir(const char *path, anet_cm_rules rules, anet_cm_model **out) {
    char p[4096], w[4096];
    if (exists(path, "Manifest.json", 0)) {
        snprintf(p, sizeof p, "%s/Manifest.json", path);
        anet_status st = member_ok(path, p);
        if (st == ANET_OK) st = package_spec_path(path, p, sizeof p);
        if (st == ANET_OK) st = member_ok(path, p);
        if (st != ANET_OK) return st;
        /* The weights next to the spec are not read; what they really hold bounds the
         * stand-ins that model BLOBFILE consts for the private rules (mlprogram_ir.c). */
        struct stat ws;
        size_t wsize = 0;
        snprintf(w, sizeof w, "%s", p);
        char *slash = strrchr(w, '/');
        if (slash && (size_t)(slash - w) + sizeof "/weights/weight.bin" <= sizeof w) {
            memcpy(slash, "/weights/weight.bin", sizeof "/weights/weight.bin");
            if (stat(w, &ws) == 0 && S_ISREG(ws.st_mode)) wsize = held_bytes(&ws);
        }
        st = load_protobuf(path, p, "mlpackage", wsize, out);
        if (st == ANET_OK && slash) weights_note(*out, w, 0);
        return st;
    }
    if (exists(path, "model.mil", 0) || exists(path, "model.espresso.net", 0) || exists(path, "model0", 1)) {
        anet_cm_model *m = anet_cm_model_new(path, "mlmodelc");
        if (!m) return anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
        const char *kind = "unknown";
        anet_status st = read_compiled(m, path, "", 0, &kind);
        if (st != ANET_OK) {
            anet_coreml_free(m);
            return st;
        }
        m->kind = kind;
#if ANET_CM_HAVE_MIL_PARSER && ANET_CM_HAVE_IR
        if (rules == ANET_CM_RULES_PRIVATE && strcmp(kind, "mlProgram") == 0) compiled_ir(m, path);
#endif
        if (rules == ANET_CM_RULES_PRIVATE && !m->ngraphs && !m->ir_error[0])
            snprintf(m->ir_error, sizeof m->ir_error, "not modeled for the private rules: only a single ML Program bundle is");
        *out = m;
        return ANET_OK;
    }
    if (exists(path, "coremldata.bin", 0))
        return anet_fail(ANET_E_FORMAT,
                         "%s: compiled bundle with coremldata.bin but no model.mil, model.espresso.net or model0/: "
                         "check the .mlmodel or .mlpackage it was compiled from",
                         path);
    return anet_fail(ANET_E_FORMAT,
                     "%s: directory is not a Core ML bundle (no Manifest.json, model.mil or coremldata.bin)", path);
}

/* Formats that are not Core ML, recognised by name or magic bytes, so the message says what
 * the file is instead of a protobuf wire error. NULL: not one of them. */
static const char *foreign_format(const char *path, int regular) {
    static const struct {
        const char *ext, *what;
    } exts[] = {{".onnx", "an ONNX file"}, {".pt", "a PyTorch file"}, {".pth", "a PyTorch file"},
                {".ckpt", "a PyTorch checkpoint"}, {".tflite", "a TensorFlow Lite file"}, {".pb", "a TensorFlow graph"},
                {".h5", "a Keras/HDF5 file"}, {".keras", "a Keras file"}, {".gguf", "a GGUF file"}};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (ends_with(path, exts[i].ext)) return exts[i].what;
    uint8_t h[64];
    FILE *f = regular ? fopen(path, "rb") : NULL; /* never open a FIFO to sniff it */
    size_t n = f ? fread(h, 1, sizeof h, f) : 0;
    if (f) fclose(f);
    if (n >= 4 && memcmp(h, "PK\003\004", 4) == 0) return "a ZIP archive (a PyTorch .pt file is one)";
    if (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5) return "a Python pickle (a PyTorch file)";
    if (n >= 8 && memcmp(h + 4, "TFL3", 4) == 0) return "a TensorFlow Lite file";
    if (n >= 4 && memcmp(h, "\211HDF", 4) == 0) return "an HDF5 (Keras) file";
    if (n >= 4 && memcmp(h, "GGUF", 4) == 0) return "a GGUF file";
    if (anet_cm_is_lfs_pointer(h, n)) return "a Git LFS pointer (the model itself was not fetched: git lfs pull)";
    return NULL;
}

anet_status anet_coreml_load(const char *path, anet_cm_model **out) {
    return anet_coreml_load_with(path, ANET_CM_RULES_DEFAULT, out);
}

anet_status anet_coreml_load_with(const char *path, anet_cm_rules rules, anet_cm_model **out) {
    struct stat st;
    *out = NULL;
    if (strncmp(path, "mlp:", 4) == 0) return anet_coreml_load_training(path, out); /* a planned network */
    if (stat(path, &st) != 0) return anet_fail(ANET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    anet_status s;
    if (S_ISDIR(st.st_mode)) {
        s = load_dir(path, rules, out);
    } else if (ends_with(path, ".mil")) {
        s = load_mil(path, path, NULL, "mil", out);
    } else if (ends_with(path, ".safetensors")) {
        s = anet_coreml_load_training(path, out);
    } else {
        const char *what = foreign_format(path, S_ISREG(st.st_mode));
        if (what) return anet_fail(ANET_E_FORMAT, "%s: this is %s: not a Core ML model", path, what);
        s = load_protobuf(path, path, "mlmodel", 0, out);
    }
    if (s == ANET_OK && (*out)->nlayers == 0) {
        anet_coreml_free(*out);
        *out = NULL;
        return anet_fail(ANET_E_FORMAT, "%s: no layers or ops found", path);
    }
    return s;
}
