#include "graph/nameset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s) { /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int grow(anet__nameset *s) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    const char **k = calloc(nc, sizeof *k);
    int *v = calloc(nc, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->keys[i]) continue;
        size_t j = (size_t)hash(s->keys[i]) & (nc - 1);
        while (k[j]) j = (j + 1) & (nc - 1);
        k[j] = s->keys[i];
        v[j] = s->vals[i];
    }
    free(s->keys);
    free(s->vals);
    s->keys = k;
    s->vals = v;
    s->cap = nc;
    return 0;
}

int anet__ns_put(anet__nameset *s, const char *key, int val) {
    if ((s->n + 1) * 2 > s->cap && grow(s)) return -1; /* load factor <= 1/2 */
    size_t j = (size_t)hash(key) & (s->cap - 1);
    while (s->keys[j]) {
        if (strcmp(s->keys[j], key) == 0) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->keys[j] = key;
    s->vals[j] = val;
    s->n++;
    return 0;
}

int anet__ns_get(const anet__nameset *s, const char *key) {
    if (!s->cap) return -1;
    size_t j = (size_t)hash(key) & (s->cap - 1);
    while (s->keys[j]) {
        if (strcmp(s->keys[j], key) == 0) return s->vals[j];
        j = (j + 1) & (s->cap - 1);
    }
    return -1;
}

void anet__ns_free(anet__nameset *s) {
    free(s->keys);
    free(s->vals);
    memset(s, 0, sizeof *s);
}
