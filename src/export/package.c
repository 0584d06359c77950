/* Writes an exported model as an .mlpackage directory:
 *   Manifest.json                                 fileFormatVersion 1.0.0, itemInfoEntries, rootModelIdentifier
 *   Data/com.apple.CoreML/model.mlmodel           the specification (spec.c)
 *   Data/com.apple.CoreML/weights/weight.bin      the weights (mil/weights.c)
 * The manifest's entries are those coremltools writes (author com.apple.CoreML, descriptions
 * "CoreML Model Specification" / "CoreML Model Weights"). The package is built in a temporary
 * directory beside the target and renamed into place. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "export/export.h"

static anet_status write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return anet_fail(ANET_E_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = (n == 0 || fwrite(data, 1, n, f) == n);
    ok = (fclose(f) == 0) && ok;
    return ok ? ANET_OK : anet_fail(ANET_E_IO, "%s: write error", path);
}

/* dir/rel into p (the caller bounds dir's length, so this never truncates). */
static const char *join(char *p, size_t n, const char *dir, const char *rel) {
    if (snprintf(p, n, "%s/%s", dir, rel) >= (int)n) p[0] = '\0';
    return p;
}

/* Removes a directory tree this module wrote (depth-limited). */
static void remove_tree(const char *path, int depth) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode) && depth < 8) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            if (join(sub, sizeof sub, path, e->d_name)[0]) remove_tree(sub, depth + 1);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A UUID (version-4 layout) derived from the package's bytes, so an export is reproducible. */
static void uuid_of(const uint8_t *p, size_t n, uint64_t salt, char out[37]) {
    uint64_t h[2] = {0xcbf29ce484222325ull ^ salt, 0x84222325cbf29ce4ull ^ (salt * 31)};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n; i++) h[k] = (h[k] ^ p[i]) * (k ? 0x100000001b3ull : 0x100000001b3ull + 2 * salt + 2);
    uint8_t b[16];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(h[0] >> (8 * i)), b[8 + i] = (uint8_t)(h[1] >> (8 * i));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static char *manifest(const uint8_t *spec, size_t len) {
    char mid[37], wid[37];
    uuid_of(spec, len, 1, mid);
    uuid_of(spec, len, 2, wid);
    cJSON *root = cJSON_CreateObject(), *items = cJSON_CreateObject();
    cJSON *m = cJSON_CreateObject(), *w = cJSON_CreateObject();
    if (!root || !items || !m || !w) {
        cJSON_Delete(root), cJSON_Delete(items), cJSON_Delete(m), cJSON_Delete(w);
        return NULL;
    }
    cJSON_AddStringToObject(root, "fileFormatVersion", "1.0.0");
    cJSON_AddStringToObject(m, "author", "com.apple.CoreML");
    cJSON_AddStringToObject(m, "description", "CoreML Model Specification");
    cJSON_AddStringToObject(m, "name", "model.mlmodel");
    cJSON_AddStringToObject(m, "path", "com.apple.CoreML/model.mlmodel");
    cJSON_AddStringToObject(w, "author", "com.apple.CoreML");
    cJSON_AddStringToObject(w, "description", "CoreML Model Weights");
    cJSON_AddStringToObject(w, "name", "weights");
    cJSON_AddStringToObject(w, "path", "com.apple.CoreML/weights");
    cJSON_AddItemToObject(items, mid, m);
    cJSON_AddItemToObject(items, wid, w);
    cJSON_AddItemToObject(root, "itemInfoEntries", items);
    cJSON_AddStringToObject(root, "rootModelIdentifier", mid);
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    return txt;
}

static anet_status write_tree(const char *dir, const uint8_t *spec, size_t slen, const uint8_t *w, size_t wlen) {
    static const char *const dirs[] = {"Data", "Data/com.apple.CoreML", "Data/com.apple.CoreML/weights"};
    char p[4096];
    for (int i = 0; i < 3; i++)
        if (mkdir(join(p, sizeof p, dir, dirs[i]), 0755) != 0)
            return anet_fail(ANET_E_IO, "%s: cannot create: %s", p, strerror(errno));
    anet_status st = write_file(join(p, sizeof p, dir, "Data/com.apple.CoreML/model.mlmodel"), spec, slen);
    if (st == ANET_OK) st = write_file(join(p, sizeof p, dir, "Data/com.apple.CoreML/weights/weight.bin"), w, wlen);
    char *man = st == ANET_OK ? manifest(spec, slen) : NULL;
    if (st == ANET_OK && !man) st = anet_fail(ANET_E_NOMEM, "out of memory");
    if (st == ANET_OK) st = write_file(join(p, sizeof p, dir, "Manifest.json"), man, strlen(man));
    free(man);
    return st;
}

anet_status anet_export_package(const anet_model_spec *spec, const float *const *params, const anet_export_options *o,
                                const char *out_path) {
    if (!out_path || !out_path[0]) return anet_fail(ANET_E_INVALID, "no output path");
    if (strlen(out_path) > 3000) return anet_fail(ANET_E_INVALID, "output path too long");
    char path[3008];
    snprintf(path, sizeof path, "%s", out_path);
    for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--) path[n - 1] = '\0'; /* "M.mlpackage/" */
    struct stat st0;
    int existed = stat(path, &st0) == 0;
    char probe[4096];
    if (existed && (!S_ISDIR(st0.st_mode) || access(join(probe, sizeof probe, path, "Manifest.json"), F_OK) != 0))
        return anet_fail(ANET_E_IO, "%s: exists and is not a model package; choose another --out or remove it", path);
    anet_deploy d;
    anet_status st = anet_deploy_build(spec, params, o, &d);
    if (st != ANET_OK) return st;
    uint8_t *sp = NULL, *w = NULL;
    size_t sl = 0, wl = 0;
    st = anet_export_spec(&d, o, spec->text, &sp, &sl, &w, &wl);
    anet_deploy_free(&d);
    if (st != ANET_OK) return st;
    char tmp[4096], old[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (!mkdtemp(tmp)) st = anet_fail(ANET_E_IO, "%s: cannot create a directory beside it: %s", path, strerror(errno));
    else if ((st = write_tree(tmp, sp, sl, w, wl)) != ANET_OK) remove_tree(tmp, 0);
    free(sp);
    free(w);
    if (st != ANET_OK) return st;
    chmod(tmp, 0755);
    if (existed) { /* move the old package aside first: rename() cannot replace a non-empty directory */
        snprintf(old, sizeof old, "%s.old-XXXXXX", path);
        if (!mkdtemp(old) || rename(path, old) != 0) {
            remove_tree(tmp, 0);
            return anet_fail(ANET_E_IO, "%s: cannot replace the existing package: %s", path, strerror(errno));
        }
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        if (existed) rename(old, path);
        remove_tree(tmp, 0);
        return anet_fail(ANET_E_IO, "%s: cannot move the package into place: %s", path, strerror(e));
    }
    if (existed) remove_tree(old, 0);
    return ANET_OK;
}
