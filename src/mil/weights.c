/* weight.bin: coremltools' MIL blob storage (mlmodel/src/MILBlob/Blob/StorageFormat.hpp).
 *   header (64 bytes): u32 count, u32 version = 2, reserved zeros
 *   per blob, 64-byte aligned: record (64 bytes) = u32 sentinel 0xDEADBEEF, u32 dtype,
 *   u64 sizeInBytes, u64 offset (absolute, of the data), reserved zeros; then the data,
 *   padded to 64 bytes. A MIL BLOBFILE offset names the record.
 * Fields are read and written byte by byte in little-endian order, never as structs. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph/ir_util.h"
#include "mil/mil.h"

#define ALIGN 64u
#define SENTINEL 0xDEADBEEFu

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* BlobDataType of StorageFormat.hpp; 0 for dtypes the format cannot hold. */
static uint32_t blob_dtype(anet_dtype t) {
    switch (t) {
    case ANET_DT_FP16: return 1;
    case ANET_DT_FP32: return 2;
    case ANET_DT_UINT8: return 3;
    case ANET_DT_INT8: return 4;
    default: return 0;
    }
}

static uint64_t align_up(uint64_t v) { return (v + ALIGN - 1) & ~(uint64_t)(ALIGN - 1); }

anet_status anet_weights_build(anet_graph *g, int64_t min_elements, uint8_t **out, size_t *len) {
    if (!g || !out || !len) return anet_fail(ANET_E_INVALID, "weights build: bad arguments");
    *out = NULL;
    *len = 0;
    /* Pass 1: which consts go in, and the image size. Consts already stored as blobs stay. */
    uint64_t size = ALIGN;
    uint32_t count = 0;
    for (int i = 0; i < g->nops; i++) {
        const anet_op *op = &g->ops[i];
        if (op->kind != ANET_OP_CONST || !op->val) continue;
        const anet_const *c = op->val;
        int64_t n = anet_type_elements(&c->type);
        if (!blob_dtype(c->type.dtype) || n < 0 || (n < min_elements && !c->blob_path)) continue;
        if (count == UINT32_MAX) return anet_fail(ANET_E_NOMEM, "weights build: too many blobs");
        size += ALIGN + align_up(c->nbytes);
        count++;
        if (size > (uint64_t)SIZE_MAX / 2 || size > ((uint64_t)1 << 40))
            return anet_fail(ANET_E_NOMEM, "weights build: image too large");
    }
    uint8_t *buf = calloc(1, (size_t)size);
    if (!buf) return anet_fail(ANET_E_NOMEM, "weights build: out of memory (%llu bytes)", (unsigned long long)size);
    put32(buf, count);
    put32(buf + 4, 2);
    /* Pass 2: write records and data, set blob_path/blob_offset (paths allocated first so a
     * failure leaves the graph unchanged). */
    char **paths = count ? calloc(count, sizeof *paths) : NULL;
    if (count && !paths) {
        free(buf);
        return anet_fail(ANET_E_NOMEM, "weights build: out of memory");
    }
    for (uint32_t k = 0; k < count; k++) {
        paths[k] = malloc(sizeof ANET_MIL_WEIGHT_PATH);
        if (!paths[k]) {
            for (uint32_t j = 0; j < k; j++) free(paths[j]);
            free(paths);
            free(buf);
            return anet_fail(ANET_E_NOMEM, "weights build: out of memory");
        }
        memcpy(paths[k], ANET_MIL_WEIGHT_PATH, sizeof ANET_MIL_WEIGHT_PATH);
    }
    uint64_t pos = ALIGN;
    uint32_t k = 0;
    for (int i = 0; i < g->nops; i++) {
        anet_op *op = &g->ops[i];
        if (op->kind != ANET_OP_CONST || !op->val) continue;
        anet_const *c = op->val;
        int64_t n = anet_type_elements(&c->type);
        if (!blob_dtype(c->type.dtype) || n < 0 || (n < min_elements && !c->blob_path)) continue;
        uint8_t *rec = buf + pos;
        put32(rec, SENTINEL);
        put32(rec + 4, blob_dtype(c->type.dtype));
        put64(rec + 8, (uint64_t)c->nbytes);
        put64(rec + 16, pos + ALIGN);
        memcpy(rec + ALIGN, c->data, c->nbytes);
        free(c->blob_path);
        c->blob_path = paths[k++];
        c->blob_offset = pos;
        pos += ALIGN + align_up(c->nbytes);
    }
    free(paths);
    *out = buf;
    *len = (size_t)size;
    return ANET_OK;
}

static anet_status check_header(const uint8_t *buf, size_t len, uint32_t *count) {
    if (!buf || len < ALIGN) return anet_fail(ANET_E_FORMAT, "weight.bin: %zu bytes, shorter than the 64-byte header", len);
    uint32_t version = get32(buf + 4);
    if (version != 2) return anet_fail(ANET_E_FORMAT, "weight.bin: version %u, expected 2", version);
    *count = get32(buf);
    return ANET_OK;
}

/* Checks the record at `offset`: sentinel, bounds, alignment; fills dtype code, size, data offset. */
static anet_status check_record(const uint8_t *buf, size_t len, uint64_t offset, uint32_t *dt, uint64_t *size,
                                uint64_t *data_off) {
    if (offset < ALIGN || offset % ALIGN)
        return anet_fail(ANET_E_FORMAT, "weight.bin: offset %llu is not a 64-byte aligned record offset",
                         (unsigned long long)offset);
    if (offset > len || len - offset < ALIGN)
        return anet_fail(ANET_E_FORMAT, "weight.bin: offset %llu is beyond the %zu-byte image", (unsigned long long)offset, len);
    const uint8_t *rec = buf + offset;
    uint32_t sentinel = get32(rec);
    if (sentinel != SENTINEL)
        return anet_fail(ANET_E_FORMAT, "weight.bin: record at offset %llu has sentinel 0x%08x, expected 0xdeadbeef",
                         (unsigned long long)offset, sentinel);
    *dt = get32(rec + 4);
    *size = get64(rec + 8);
    *data_off = get64(rec + 16);
    if (*data_off < offset + ALIGN || *data_off % ALIGN)
        return anet_fail(ANET_E_FORMAT, "weight.bin: record at offset %llu points its data at %llu", (unsigned long long)offset,
                         (unsigned long long)*data_off);
    if (*data_off > len || *size > len - *data_off)
        return anet_fail(ANET_E_FORMAT, "weight.bin: blob at offset %llu (%llu bytes at %llu) runs past the %zu-byte image",
                         (unsigned long long)offset, (unsigned long long)*size, (unsigned long long)*data_off, len);
    return ANET_OK;
}

anet_status anet_weights_lookup(const uint8_t *buf, size_t len, uint64_t offset, anet_dtype dtype, size_t nbytes,
                                const void **data) {
    uint32_t count = 0, dt = 0;
    uint64_t size = 0, doff = 0;
    if (!data) return anet_fail(ANET_E_INVALID, "weights lookup: bad arguments");
    *data = NULL;
    anet_status st = check_header(buf, len, &count);
    if (st) return st;
    st = check_record(buf, len, offset, &dt, &size, &doff);
    if (st) return st;
    uint32_t want = blob_dtype(dtype);
    if (!want) return anet_fail(ANET_E_UNSUPPORTED, "weight.bin: %s cannot be stored in a blob", anet_dtype_name(dtype));
    if (dt != want)
        return anet_fail(ANET_E_MISMATCH, "weight.bin: blob at offset %llu has dtype code %u, the const is %s (code %u)",
                         (unsigned long long)offset, dt, anet_dtype_name(dtype), want);
    if (size != (uint64_t)nbytes)
        return anet_fail(ANET_E_MISMATCH, "weight.bin: blob at offset %llu holds %llu bytes, the const needs %zu",
                         (unsigned long long)offset, (unsigned long long)size, nbytes);
    *data = buf + doff;
    return ANET_OK;
}

anet_status anet_weights_validate(const uint8_t *buf, size_t len, uint32_t *count) {
    uint32_t n = 0, dt = 0;
    uint64_t size = 0, doff = 0;
    anet_status st = check_header(buf, len, &n);
    if (st) return st;
    if (n > (len - ALIGN) / ALIGN) /* every blob takes at least its 64-byte record */
        return anet_fail(ANET_E_FORMAT, "weight.bin: header claims %u blobs, more than %zu bytes can hold", n, len);
    /* Records follow each other: each starts at the aligned end of the previous blob's data,
     * which rules out overlaps. */
    uint64_t pos = ALIGN;
    for (uint32_t i = 0; i < n; i++) {
        st = check_record(buf, len, pos, &dt, &size, &doff);
        if (st) return anet_fail_ctx(st, "weight.bin: blob %u of %u", i, n);
        if (dt < 1 || dt > 4)
            return anet_fail(ANET_E_FORMAT, "weight.bin: blob %u at offset %llu has unknown dtype code %u", i,
                             (unsigned long long)pos, dt);
        pos = align_up(doff + size);
    }
    if (count) *count = n;
    return ANET_OK;
}
