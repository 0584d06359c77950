/* Text datasets: the registry entry of tinyshakespeare, loading and verifying its file, the
 * character vocabulary, the 90/10 split and the windows a sequence model trains on. */
#include "data/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/safe_file.h"
#include "data/registry.h"

/* Source: karpathy/char-rnn, data/tinyshakespeare/input.txt (commit 6f9487a6, see
 * ../shared/datasets/README.md). Size and SHA-256 computed here from the byte-identical copy in
 * ../shared/datasets/tinyshakespeare. */
static const anet_text_spec text_registry[] = {
    {"tinyshakespeare", "works of Shakespeare, 1.1 MB of ASCII text, 65 characters",
     "input.txt", "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",
     1115394, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"},
};

/* A text file larger than this is refused: a character model's text is read whole. */
#define TEXT_MAX_BYTES ((uint64_t)1 << 30)

const anet_text_spec *anet_text_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof text_registry / sizeof text_registry[0]; i++)
        if (strcmp(text_registry[i].name, name) == 0) return &text_registry[i];
    return NULL;
}

size_t anet_text_count(void) { return sizeof text_registry / sizeof text_registry[0]; }
const anet_text_spec *anet_text_get(size_t k) { return k < anet_text_count() ? &text_registry[k] : NULL; }

void anet_text_fetch_spec(const anet_text_spec *t, anet_dataset_spec *out) {
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->description = t->description;
    out->base_url = t->base_url;
    out->files[0] = (anet_dataset_file){t->file, t->size, ANET_HASH_SHA256, t->sha256, NULL, t->size};
}

anet_status anet_vocab_from_chars(const uint8_t *chars, uint32_t n, anet_vocab *v) {
    memset(v, 0, sizeof *v);
    if (n == 0 || n > 256) return anet_fail(ANET_E_FORMAT, "vocabulary of %u characters (1 to 256 allowed)", n);
    for (int c = 0; c < 256; c++) v->id[c] = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (v->id[chars[i]] >= 0) return anet_fail(ANET_E_FORMAT, "vocabulary repeats character %u", chars[i]);
        v->id[chars[i]] = (int16_t)i;
        v->chars[i] = chars[i];
    }
    v->size = n;
    return ANET_OK;
}

anet_status anet_vocab_encode(const anet_vocab *v, const char *text, size_t len, uint32_t *ids) {
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)text[i];
        if (v->id[c] < 0) {
            if (c >= 32 && c < 127)
                return anet_fail(ANET_E_INVALID, "character '%c' (at %zu) is not in the model's vocabulary", c, i);
            return anet_fail(ANET_E_INVALID, "byte 0x%02x (at %zu) is not in the model's vocabulary", c, i);
        }
        ids[i] = (uint32_t)v->id[c];
    }
    return ANET_OK;
}

anet_status anet_text_load_file(const char *path, anet_text_dataset *td) {
    memset(td, 0, sizeof *td);
    FILE *f = NULL;
    uint64_t size = 0;
    anet_status st = anet_fopen_input(path, "text file", &f, &size);
    if (st != ANET_OK) return st;
    if (size > TEXT_MAX_BYTES) {
        fclose(f);
        return anet_fail(ANET_E_NOMEM, "text file %s: %llu bytes (at most %llu)", path, (unsigned long long)size,
                         (unsigned long long)TEXT_MAX_BYTES);
    }
    /* Each split needs a window of at least 2 characters. */
    if (size < 20) {
        fclose(f);
        return anet_fail(ANET_E_FORMAT, "text file %s: %llu bytes, too short for a train and a validation split", path,
                         (unsigned long long)size);
    }
    uint8_t *buf = malloc((size_t)size);
    if (!buf) {
        fclose(f);
        return anet_fail(ANET_E_NOMEM, "text file %s: cannot allocate %llu bytes", path, (unsigned long long)size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != size) {
        free(buf);
        return anet_fail(ANET_E_IO, "text file %s: read %zu of %llu bytes", path, got, (unsigned long long)size);
    }
    int seen[256] = {0};
    for (size_t i = 0; i < got; i++) seen[buf[i]] = 1;
    uint8_t chars[256];
    uint32_t nc = 0;
    for (int c = 0; c < 256; c++)
        if (seen[c]) chars[nc++] = (uint8_t)c;
    anet_vocab_from_chars(chars, nc, &td->vocab); /* distinct and non-empty by construction */
    for (size_t i = 0; i < got; i++) buf[i] = (uint8_t)td->vocab.id[buf[i]];
    td->ids = buf;
    td->n = got;
    td->n_train = got - got / 10; /* the last 10% (rounded down) validate */
    snprintf(td->path, sizeof td->path, "%s", path);
    return ANET_OK;
}

void anet_text_free(anet_text_dataset *td) {
    free(td->ids);
    memset(td, 0, sizeof *td);
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

anet_status anet_text_open(const char *name_or_path, const char *data_dir, anet_text_dataset *td) {
    memset(td, 0, sizeof *td);
    const anet_text_spec *spec = anet_text_find(name_or_path);
    if (!spec) return anet_text_load_file(name_or_path, td);
    char dirs[ANET_SEARCH_MAX + 1][ANET_PATH_MAX];
    const char *src[ANET_SEARCH_MAX + 1];
    int n = anet_registry_search_dirs(spec->name, data_dir, dirs, src, ANET_SEARCH_MAX);
    /* The project's shared data directory, beside a checkout (../shared/datasets/NAME). */
    snprintf(dirs[n], ANET_PATH_MAX, "../shared/datasets/%s", spec->name);
    src[n++] = "shared";
    char tried[2048] = "";
    for (int i = 0; i < n; i++) {
        char path[ANET_PATH_MAX + 64];
        size_t dl = strlen(dirs[i]), fl = strlen(spec->file);
        if (dl + fl + 2 > sizeof path) continue;
        memcpy(path, dirs[i], dl);
        path[dl] = '/';
        memcpy(path + dl + 1, spec->file, fl + 1);
        if (!file_exists(path)) {
            size_t l = strlen(tried);
            if (l + dl + 3 < sizeof tried) {
                if (l) memcpy(tried + l, ", ", 2), l += 2;
                memcpy(tried + l, dirs[i], dl + 1);
            }
            continue;
        }
        anet_status st = anet_text_load_file(path, td);
        if (st != ANET_OK) return st;
        td->source = src[i];
        char hex[65];
        uint64_t size = 0;
        td->verified = td->n == spec->size && anet_hash_file(path, ANET_HASH_SHA256, hex, &size) == ANET_OK &&
                       strcmp(hex, spec->sha256) == 0;
        return ANET_OK;
    }
    return anet_fail(ANET_E_NOTFOUND, "dataset %s not found (looked for %s in %s); run `ane_trainer data fetch %s` (%s%s, sha256 %s)",
                     spec->name, spec->file, tried, spec->name, spec->base_url, spec->file, spec->sha256);
}

anet_status anet_text_train_windows(const anet_text_dataset *td, anet_rng *rng, uint32_t batch, uint32_t ctx,
                                    uint32_t *out) {
    if (ctx == 0 || td->n_train < (size_t)ctx + 1)
        return anet_fail(ANET_E_INVALID, "train split of %zu characters is shorter than a window of ctx+1 = %u",
                         td->n_train, ctx + 1);
    uint64_t starts = (uint64_t)td->n_train - ctx; /* start s reads ids[s, s+ctx] */
    for (uint32_t b = 0; b < batch; b++) {
        size_t s = (size_t)anet_rng_below(rng, starts);
        for (uint32_t t = 0; t <= ctx; t++) out[(size_t)b * (ctx + 1) + t] = td->ids[s + t];
    }
    return ANET_OK;
}

size_t anet_text_val_count(const anet_text_dataset *td, uint32_t ctx) {
    size_t nv = td->n - td->n_train;
    if (ctx == 0 || nv < (size_t)ctx + 1) return 0;
    return (nv - 1) / ctx;
}

void anet_text_val_window(const anet_text_dataset *td, uint32_t ctx, size_t k, uint32_t *out) {
    const uint8_t *v = td->ids + td->n_train + k * ctx;
    for (uint32_t t = 0; t <= ctx; t++) out[t] = v[t];
}
