/* A protobuf wire-format writer (developers.google.com/protocol-buffers/docs/encoding): the
 * Core ML export writes its few messages field by field, as the readers in src/coreml read
 * them, instead of generating code from Apple's .proto files. Nested messages are opened with
 * begin() and closed with end(), which inserts the payload length in front of them. An
 * allocation failure sticks (oom) and turns every later call into a no-op. */
#ifndef ANET_EXPORT_PBW_H
#define ANET_EXPORT_PBW_H

#include <stddef.h>
#include <stdint.h>

typedef struct anet_pbw {
    uint8_t *buf;
    size_t len, cap;
    int oom;
} anet_pbw;

void anet_pbw_free(anet_pbw *w);
/* Field `num` as a varint (int32/int64/uint64/bool/enum). Negative int32/int64 values are
 * sign-extended to 64 bits, as protobuf encodes them. */
void anet_pbw_varint(anet_pbw *w, uint32_t num, uint64_t v);
/* Field `num` as a length-delimited byte string / UTF-8 string. */
void anet_pbw_bytes(anet_pbw *w, uint32_t num, const void *data, size_t n);
void anet_pbw_string(anet_pbw *w, uint32_t num, const char *s);
/* Opens sub-message `num`; returns the mark end() needs. */
size_t anet_pbw_begin(anet_pbw *w, uint32_t num);
void anet_pbw_end(anet_pbw *w, size_t mark);
/* A packed repeated field's payload values (between begin and end). */
void anet_pbw_raw_varint(anet_pbw *w, uint64_t v);
void anet_pbw_raw_f32(anet_pbw *w, float v);

#endif
