/* Names of op kinds and dtypes, and tensor types: sizes, element counts, equality, text. */
#include "graph/ir.h"

#include <stdio.h>
#include <string.h>

#include "graph/ir_util.h"

static const char *const op_names[] = {
#define ANET_OP_NAME_(id, s) s,
    ANET_OP_LIST(ANET_OP_NAME_)
#undef ANET_OP_NAME_
};

const char *anet_op_kind_name(anet_opkind k) {
    if ((int)k >= 0 && k < ANET_OP_COUNT_) return op_names[k];
    return "?";
}

anet_opkind anet_op_kind_lookup(const char *s) {
    if (!s) return ANET_OP_UNKNOWN;
    for (int i = 0; i < ANET_OP_COUNT_; i++)
        if (strcmp(op_names[i], s) == 0) return (anet_opkind)i;
    return ANET_OP_UNKNOWN;
}

static const char *const dtype_names[] = {"invalid", "fp16", "fp32",   "int32", "bool",
                                          "string",  "uint64", "int8", "uint8"};

const char *anet_dtype_name(anet_dtype t) {
    if ((int)t > 0 && (size_t)t < sizeof dtype_names / sizeof dtype_names[0]) return dtype_names[t];
    return "invalid";
}

anet_dtype anet_dtype_lookup(const char *s) {
    if (!s) return ANET_DT_INVALID;
    for (size_t i = 1; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (strcmp(dtype_names[i], s) == 0) return (anet_dtype)i;
    return ANET_DT_INVALID;
}

size_t anet_dtype_size(anet_dtype t) {
    switch (t) {
    case ANET_DT_FP16: return 2;
    case ANET_DT_FP32: return 4;
    case ANET_DT_INT32: return 4;
    case ANET_DT_BOOL: return 1;
    case ANET_DT_UINT64: return 8;
    case ANET_DT_INT8: return 1;
    case ANET_DT_UINT8: return 1;
    case ANET_DT_STRING:
    case ANET_DT_INVALID: return 0;
    }
    return 0;
}

int64_t anet_type_elements(const anet_type *t) {
    if (!t || t->rank < 0 || t->rank > ANET_MAX_RANK) return -1;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 1 || t->dims[i] > ANET_MAX_ELEMENTS) return -1;
        n *= t->dims[i]; /* both factors <= 2^31: no overflow before the check */
        if (n > ANET_MAX_ELEMENTS) return -1;
    }
    return n;
}

anet_type anet_type_make(anet_dtype dt, int rank, const int64_t *dims) {
    anet_type t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    if (rank < 0 || rank > ANET_MAX_RANK) {
        t.dtype = ANET_DT_INVALID;
        return t;
    }
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.dims[i] = dims ? dims[i] : 1;
    return t;
}

int anet_type_equal(const anet_type *a, const anet_type *b) {
    if (a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* "[d0<sep>d1...]" appended at buf+o, bounded by len; returns the new offset. */
static size_t dims_into(const anet_type *t, char *buf, size_t len, size_t o, const char *sep) {
    int n;
    if (o < len) {
        n = snprintf(buf + o, len - o, "[");
        o += n > 0 ? (size_t)n : 0;
    }
    int rank = t->rank < 0 ? 0 : t->rank > ANET_MAX_RANK ? ANET_MAX_RANK : t->rank;
    for (int i = 0; i < rank && o < len; i++) {
        n = snprintf(buf + o, len - o, "%s%lld", i ? sep : "", (long long)t->dims[i]);
        o += n > 0 ? (size_t)n : 0;
    }
    if (o < len) {
        n = snprintf(buf + o, len - o, "]");
        o += n > 0 ? (size_t)n : 0;
    }
    return o;
}

char *anet_type_str(const anet_type *t, char *buf, size_t len) {
    if (!buf || len == 0) return buf;
    int n = snprintf(buf, len, "tensor<%s, ", anet_dtype_name(t->dtype));
    size_t o = dims_into(t, buf, len, n > 0 ? (size_t)n : 0, ", ");
    if (o < len) snprintf(buf + o, len - o, ">");
    buf[len - 1] = '\0';
    return buf;
}

char *anet__dims_str(const anet_type *t, char *buf, size_t len) {
    if (len == 0) return buf;
    buf[0] = '\0';
    dims_into(t, buf, len, 0, ",");
    buf[len - 1] = '\0';
    return buf;
}
