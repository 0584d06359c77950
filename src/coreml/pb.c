#include "coreml/pb.h"

#include <string.h>

#include "core/error.h"

void anet_pb_init(anet_pb_reader *r, const uint8_t *buf, size_t len) {
    r->p = buf;
    r->end = buf ? buf + len : buf;
}

/* At most 10 bytes: a longer varint is malformed, not just large. */
static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        if (i == 9 && b > 1) return -1; /* bits beyond 64 */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

static const char *wire_name(int w) {
    switch (w) {
    case ANET_PB_VARINT: return "varint";
    case ANET_PB_I64: return "64-bit";
    case ANET_PB_LEN: return "length-delimited";
    case ANET_PB_I32: return "32-bit";
    }
    return "group";
}

int anet_pb_next(anet_pb_reader *r, anet_pb_field *f, const char *what) {
    if (r->p >= r->end) return 0;
    uint64_t key;
    if (read_varint(&r->p, r->end, &key) != 0) {
        anet_fail(ANET_E_FORMAT, "%s: truncated or overlong field key", what);
        return -1;
    }
    memset(f, 0, sizeof *f);
    f->wire = (int)(key & 7);
    uint64_t num = key >> 3;
    if (num == 0 || num > 536870911u) {
        anet_fail(ANET_E_FORMAT, "%s: invalid field number %llu", what, (unsigned long long)num);
        return -1;
    }
    f->num = (uint32_t)num;
    size_t left;
    switch (f->wire) {
    case ANET_PB_VARINT:
        if (read_varint(&r->p, r->end, &f->v) != 0) {
            anet_fail(ANET_E_FORMAT, "%s: field %u: truncated varint", what, f->num);
            return -1;
        }
        return 1;
    case ANET_PB_I64:
    case ANET_PB_I32: {
        size_t n = f->wire == ANET_PB_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) {
            anet_fail(ANET_E_FORMAT, "%s: field %u: truncated %s value", what, f->num, wire_name(f->wire));
            return -1;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i); /* little-endian */
        r->p += n;
        f->v = v;
        return 1;
    }
    case ANET_PB_LEN: {
        uint64_t len;
        if (read_varint(&r->p, r->end, &len) != 0) {
            anet_fail(ANET_E_FORMAT, "%s: field %u: truncated length", what, f->num);
            return -1;
        }
        left = (size_t)(r->end - r->p);
        if (len > left) {
            anet_fail(ANET_E_FORMAT, "%s: field %u: length %llu runs past the end (%zu bytes left)",
                      what, f->num, (unsigned long long)len, left);
            return -1;
        }
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        anet_fail(ANET_E_FORMAT, "%s: field %u: unsupported wire type %d", what, f->num, f->wire);
        return -1;
    }
}

int anet_pb_expect(const anet_pb_field *f, int w, const char *what) {
    if (f->wire == w) return 0;
    anet_fail(ANET_E_FORMAT, "%s: field %u has wire type %s, expected %s", what, f->num,
              wire_name(f->wire), wire_name(w));
    return -1;
}

int anet_pb_varints(const anet_pb_field *f, uint64_t *out, int max, int *n, int64_t *total,
                    const char *what) {
    if (f->wire == ANET_PB_VARINT) {
        if (*n < max) out[(*n)++] = f->v;
        (*total)++;
        return 0;
    }
    if (f->wire != ANET_PB_LEN) return anet_pb_expect(f, ANET_PB_LEN, what);
    const uint8_t *p = f->data, *end = f->data + f->len;
    while (p < end) {
        uint64_t v;
        if (read_varint(&p, end, &v) != 0) {
            anet_fail(ANET_E_FORMAT, "%s: field %u: malformed packed varints", what, f->num);
            return -1;
        }
        if (*n < max) out[(*n)++] = v;
        (*total)++;
    }
    return 0;
}

static float bits_to_float(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

int anet_pb_floats(const anet_pb_field *f, float *out, int max, int *n, int64_t *total,
                   const char *what) {
    if (f->wire == ANET_PB_I32) {
        if (*n < max) out[(*n)++] = bits_to_float((uint32_t)f->v);
        (*total)++;
        return 0;
    }
    if (f->wire != ANET_PB_LEN) return anet_pb_expect(f, ANET_PB_LEN, what);
    if (f->len % 4) {
        anet_fail(ANET_E_FORMAT, "%s: field %u: packed floats of %zu bytes (not a multiple of 4)",
                  what, f->num, f->len);
        return -1;
    }
    for (size_t i = 0; i < f->len; i += 4) {
        uint32_t u = (uint32_t)f->data[i] | (uint32_t)f->data[i + 1] << 8 |
                     (uint32_t)f->data[i + 2] << 16 | (uint32_t)f->data[i + 3] << 24;
        if (*n < max) out[(*n)++] = bits_to_float(u);
        (*total)++;
    }
    return 0;
}
