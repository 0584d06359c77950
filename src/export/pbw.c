/* Protobuf wire-format writer (see pbw.h). */
#include "export/pbw.h"

#include <stdlib.h>
#include <string.h>

void anet_pbw_free(anet_pbw *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static int reserve(anet_pbw *w, size_t extra) {
    if (w->oom) return -1;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->oom = 1;
        return -1;
    }
    if (w->len + extra <= w->cap) return 0;
    size_t nc = w->cap ? w->cap : 256;
    while (nc < w->len + extra) nc *= 2;
    uint8_t *p = realloc(w->buf, nc);
    if (!p) {
        w->oom = 1;
        return -1;
    }
    w->buf = p;
    w->cap = nc;
    return 0;
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

void anet_pbw_raw_varint(anet_pbw *w, uint64_t v) {
    if (reserve(w, 10) != 0) return;
    put_varint(w->buf + w->len, v);
    w->len += varint_len(v);
}

void anet_pbw_raw_f32(anet_pbw *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    if (reserve(w, 4) != 0) return;
    for (int i = 0; i < 4; i++) w->buf[w->len++] = (uint8_t)(u >> (8 * i));
}

static void tag(anet_pbw *w, uint32_t num, int wire) { anet_pbw_raw_varint(w, ((uint64_t)num << 3) | (uint64_t)wire); }

void anet_pbw_varint(anet_pbw *w, uint32_t num, uint64_t v) {
    tag(w, num, 0);
    anet_pbw_raw_varint(w, v);
}

void anet_pbw_bytes(anet_pbw *w, uint32_t num, const void *data, size_t n) {
    tag(w, num, 2);
    anet_pbw_raw_varint(w, n);
    if (reserve(w, n) != 0) return;
    if (n) memcpy(w->buf + w->len, data, n);
    w->len += n;
}

void anet_pbw_string(anet_pbw *w, uint32_t num, const char *s) { anet_pbw_bytes(w, num, s, strlen(s)); }

size_t anet_pbw_begin(anet_pbw *w, uint32_t num) {
    tag(w, num, 2);
    return w->len;
}

void anet_pbw_end(anet_pbw *w, size_t mark) {
    if (w->oom || mark > w->len) return;
    size_t n = w->len - mark, k = varint_len(n);
    if (reserve(w, k) != 0) return;
    memmove(w->buf + mark + k, w->buf + mark, n);
    put_varint(w->buf + mark, n);
    w->len += k;
}
