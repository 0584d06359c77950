/* The flattened model: allocation helpers and free. Arrays grow by doubling; every element
 * comes from at least one byte of input, so sizes stay bounded by the file size. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coreml/coreml.h"
#include "core/error.h"
#include "coreml/deps.h"

const char *anet_cm_placement_name(anet_cm_placement p) {
    switch (p) {
    case ANET_CM_ANE: return "ane";
    case ANET_CM_CPU: return "cpu";
    case ANET_CM_UNKNOWN: return "unknown";
    }
    return "?";
}

char *anet_cm_strndup(const void *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

anet_cm_model *anet_cm_model_new(const char *path, const char *format) {
    anet_cm_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->path = anet_cm_strndup(path, strlen(path));
    if (!m->path) {
        free(m);
        return NULL;
    }
    m->format = format;
    m->kind = "unknown";
    return m;
}

static int grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > (1 << 26)) return -1;
        nc *= 2;
    }
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

anet_status anet_cm_no_layer(const anet_cm_model *m, const char *name) {
    if (m->nlayers >= ANET_CM_MAX_LAYERS)
        return anet_fail(ANET_E_FORMAT, "%s: more than %d layers: refused (the limit of `check`)", name, ANET_CM_MAX_LAYERS);
    return anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
}

anet_cm_layer *anet_cm_add_layer(anet_cm_model *m) {
    if (m->nlayers >= ANET_CM_MAX_LAYERS) return NULL;
    if (grow((void **)&m->layers, &m->cap_layers, m->nlayers + 1, sizeof *m->layers) != 0) return NULL;
    anet_cm_layer *l = &m->layers[m->nlayers++];
    memset(l, 0, sizeof *l);
    l->graph = -1;
    l->op = -1;
    l->verdict = ANET_CM_UNKNOWN;
    return l;
}

int anet_cm_add_known(anet_cm_model *m, const char *name, size_t nlen, const anet_cm_shape *s) {
    if (s->rank < 0) return 0;
    if (grow((void **)&m->known, &m->cap_known, m->nknown + 1, sizeof *m->known) != 0) return -1;
    anet_cm_tensor *t = &m->known[m->nknown];
    t->name = anet_cm_strndup(name, nlen);
    if (!t->name) return -1;
    t->shape = *s;
    m->nknown++;
    return 0;
}

int anet_cm_alloc_shapes(anet_cm_layer *l, int nin, int nout) {
    l->in_shapes = nin > 0 ? calloc((size_t)nin, sizeof *l->in_shapes) : NULL;
    l->out_shapes = nout > 0 ? calloc((size_t)nout, sizeof *l->out_shapes) : NULL;
    return (nin > 0 && !l->in_shapes) || (nout > 0 && !l->out_shapes) ? -1 : 0;
}

const anet_cm_shape *anet_cm_find_shape(const anet_cm_model *m, const char *name) {
    /* Latest first: a layer's own tensor record is more specific than a feature's. */
    for (int i = m->nknown - 1; i >= 0; i--)
        if (strcmp(m->known[i].name, name) == 0) return &m->known[i].shape;
    return NULL;
}

int anet_cm_add_note(anet_cm_model *m, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (int i = 0; i < m->nnotes; i++)
        if (strcmp(m->notes[i], buf) == 0) return 0; /* once per report */
    if (m->nnotes >= 64) return 0;
    char **p = realloc(m->notes, (size_t)(m->nnotes + 1) * sizeof *p);
    if (!p) return -1;
    m->notes = p;
    p[m->nnotes] = anet_cm_strndup(buf, strlen(buf));
    if (!p[m->nnotes]) return -1;
    m->nnotes++;
    return 0;
}

void anet_cm_set_detail(anet_cm_layer *l, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(l->detail);
    l->detail = anet_cm_strndup(buf, strlen(buf)); /* NULL when out of memory: shown as "" */
}

void anet_cm_append_detail(anet_cm_layer *l, const char *s) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", anet_cm_detail(l), s);
    free(l->detail);
    l->detail = anet_cm_strndup(buf, strlen(buf));
}

const char *anet_cm_detail(const anet_cm_layer *l) { return l->detail ? l->detail : ""; }

static int key_is(const char *key, size_t klen, const char *w) { return strlen(w) == klen && memcmp(key, w, klen) == 0; }

static void to_u64s(uint64_t *dst, int *nd, const double *v, int n) {
    *nd = n > 3 ? 3 : n;
    for (int i = 0; i < *nd; i++) dst[i] = v[i] >= 0 && v[i] < 1e18 ? (uint64_t)v[i] : 0;
}

void anet_cm_set_param(anet_cm_layer *l, const char *key, size_t klen, const double *v, int n) {
    if (n <= 0) return;
    if (key_is(key, klen, "kernel_sizes")) to_u64s(l->kernel, &l->nkernel, v, n);
    else if (key_is(key, klen, "strides")) to_u64s(l->stride, &l->nstride, v, n);
    else if (key_is(key, klen, "dilations")) to_u64s(l->dilation, &l->ndilation, v, n);
    else if (key_is(key, klen, "scale_factor_height") || key_is(key, klen, "scale_factor_width")) {
        int i = key[13] == 'h' ? 0 : 1;
        l->fscale[i] = (float)v[0];
        if (l->nfscale <= i) {
            if (l->nfscale == 0 && i == 1) l->fscale[0] = 1.0f;
            l->nfscale = i + 1;
        }
    }
}

int anet_cm_is_lfs_pointer(const uint8_t *buf, size_t len) {
    static const char sig[] = "version https://git-lfs.github.com/spec/";
    return len >= sizeof sig - 1 && len < 1024 && memcmp(buf, sig, sizeof sig - 1) == 0;
}

static void free_strs(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

static void free_tensors(anet_cm_tensor *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].name);
    free(t);
}

void anet_coreml_free(anet_cm_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nlayers; i++) {
        anet_cm_layer *l = &m->layers[i];
        free(l->name);
        free(l->type);
        free(l->subtype);
        free(l->model_path);
        free(l->ir_detail);
        free(l->detail);
        free_strs(l->inputs, l->ninputs);
        free_strs(l->outputs, l->noutputs);
        free(l->in_shapes);
        free(l->out_shapes);
    }
    free(m->layers);
    free_tensors(m->inputs, m->ninputs);
    free_tensors(m->outputs, m->noutputs);
    free_tensors(m->known, m->nknown);
    free_strs(m->notes, m->nnotes);
#if ANET_CM_HAVE_IR
    for (int i = 0; i < m->ngraphs; i++) anet_graph_free(m->graphs[i]);
#endif
    free(m->graphs);
    for (int i = 0; i < m->nsegments; i++) {
        free_tensors(m->segments[i].inputs, m->segments[i].ninputs);
        free_tensors(m->segments[i].outputs, m->segments[i].noutputs);
    }
    free(m->segments);
    free(m->issues);
    free(m->path);
    free(m);
}
