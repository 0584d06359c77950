/* A bounded protobuf wire-format reader: no schema, no allocation, no recursion. Callers
 * walk one message's fields in order and descend into sub-messages themselves (so they
 * decide the depth limit before any recursion happens). */
#ifndef ANET_COREML_PB_H
#define ANET_COREML_PB_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"

/* Protobuf wire types (developers.google.com/protocol-buffers/docs/encoding). */
enum { ANET_PB_VARINT = 0, ANET_PB_I64 = 1, ANET_PB_LEN = 2, ANET_PB_I32 = 5 };

typedef struct anet_pb_reader {
    const uint8_t *p, *end;
} anet_pb_reader;

typedef struct anet_pb_field {
    uint32_t num;        /* field number, >= 1 */
    int wire;            /* ANET_PB_* */
    uint64_t v;          /* VARINT, I64, I32 values */
    const uint8_t *data; /* LEN: payload (inside the reader's buffer) */
    size_t len;          /* LEN: payload size */
} anet_pb_field;

void anet_pb_init(anet_pb_reader *r, const uint8_t *buf, size_t len);
/* Next field: 1 = *f filled, 0 = end of message, -1 = malformed (message set: what and
 * where, relative to the message start `what` names). Groups (wire types 3/4) are refused:
 * nothing we read uses them. */
int anet_pb_next(anet_pb_reader *r, anet_pb_field *f, const char *what);

/* Repeated scalar fields come packed (LEN) or one per field (VARINT). Appends up to max
 * values to out[*n...]; counts every value in *total (so callers see more than they keep).
 * Returns -1 when a packed payload is malformed or the wire type does not fit. */
int anet_pb_varints(const anet_pb_field *f, uint64_t *out, int max, int *n, int64_t *total,
                    const char *what);
/* Same for 32-bit floats (packed LEN or I32). */
int anet_pb_floats(const anet_pb_field *f, float *out, int max, int *n, int64_t *total,
                   const char *what);
/* Requires wire type w; sets the message and returns -1 otherwise. */
int anet_pb_expect(const anet_pb_field *f, int w, const char *what);

#endif
