/* A minimal protobuf ENCODER for the Core ML tests, written independently of the reader
 * (field numbers straight from apple/coremltools mlmodel/format/ .proto files), so a reader
 * bug cannot hide behind its own output. Shared by test_coreml.c and test_coreml_mil.c. */
#ifndef ANET_TESTS_COREML_GEN_H
#define ANET_TESTS_COREML_GEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- a minimal protobuf encoder ---- */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static inline void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void varint(buf *b, uint64_t v) {
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        put(b, &c, 1);
    } while (v);
}
static inline void key(buf *b, unsigned num, int wire) { varint(b, (uint64_t)num << 3 | (unsigned)wire); }
static inline void u64f(buf *b, unsigned num, uint64_t v) { key(b, num, 0), varint(b, v); }
static inline void bytesf(buf *b, unsigned num, const void *d, size_t n) { key(b, num, 2), varint(b, n), put(b, d, n); }
static inline void strf(buf *b, unsigned num, const char *s) { bytesf(b, num, s, strlen(s)); }
/* Embeds sub (and frees it). */
static inline void msgf(buf *b, unsigned num, buf *sub) {
    bytesf(b, num, sub->p ? sub->p : (const uint8_t *)"", sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}
static inline void packed(buf *b, unsigned num, const uint64_t *v, int n) {
    buf s = {0};
    for (int i = 0; i < n; i++) varint(&s, v[i]);
    msgf(b, num, &s);
}
static inline void floatf32(buf *b, unsigned num, float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    key(b, num, 5);
    put(b, le, 4);
}

/* FeatureDescription{name 1, type 3: FeatureType{multiArrayType 5: {shape 1, dataType 2}}} */
static inline void feature(buf *desc, unsigned num, const char *name, const uint64_t *shape, int rank) {
    buf arr = {0}, ft = {0}, fd = {0};
    packed(&arr, 1, shape, rank);
    u64f(&arr, 2, 65568); /* FLOAT32 */
    msgf(&ft, 5, &arr);
    strf(&fd, 1, name);
    msgf(&fd, 3, &ft);
    msgf(desc, num, &fd);
}

/* NeuralNetworkLayer{name 1, input 2, output 3, <field>: params}. */
static inline void layer(buf *nn, const char *name, const char *in, const char *in2, const char *out, unsigned field,
                  buf *params) {
    buf l = {0};
    strf(&l, 1, name);
    strf(&l, 2, in);
    if (in2) strf(&l, 2, in2);
    strf(&l, 3, out);
    if (params) msgf(&l, field, params);
    else bytesf(&l, field, "", 0);
    msgf(nn, 1, &l);
}

/* Model{specificationVersion 1, description 2 (input x [1,16,8,8] / output y), <type>: body} */
static inline void model(buf *out, unsigned type_field, buf *body, const char *in, const char *outname) {
    buf desc = {0};
    uint64_t shape[] = {1, 16, 8, 8};
    feature(&desc, 1, in, shape, 4);
    feature(&desc, 10, outname, shape, 4);
    u64f(out, 1, 4);
    msgf(out, 2, &desc);
    msgf(out, type_field, body);
}

#endif
