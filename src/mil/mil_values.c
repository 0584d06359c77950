/* MIL types (`tensor<fp16, [1, 4]>`, bare scalar dtypes) and literal values (scalars, nested lists, blobs). */
#include "mil/mil_parse_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir_util.h"

/* Either `tensor<dtype, [d0, ...]>` or a bare scalar dtype (ios18). *tensor_form tells which. */
int anet_mil_parse_type(parser *P, anet_type *t, int *tensor_form) {
    char name[32];
    size_t off = P->t.off;
    memset(t, 0, sizeof *t);
    if (anet_mil_is_word(P, "tensor")) {
        if (anet_mil_next(P) || anet_mil_expect_punct(P, '<', "after 'tensor'")) return -1;
        if (P->t.kind != T_IDENT || P->t.n >= sizeof name) EXPECTED(P, "a dtype");
        size_t doff = P->t.off;
        if (anet_mil_take_ident(P, name, sizeof name, "a dtype")) return -1;
        t->dtype = anet_dtype_lookup(name);
        if (t->dtype == ANET_DT_INVALID) return anet_mil_perr_at(P, doff, "unknown type '%s'", name);
        if (anet_mil_expect_punct(P, ',', "after the dtype") || anet_mil_expect_punct(P, '[', "to open the shape")) return -1;
        while (!anet_mil_is_punct(P, ']')) {
            if (t->rank > 0 && anet_mil_expect_punct(P, ',', "between dims")) return -1;
            if (t->rank >= ANET_MAX_RANK) return anet_mil_perr_at(P, P->t.off, "rank above %d", ANET_MAX_RANK);
            int64_t d;
            if (P->t.kind == T_IDENT) return anet_mil_perr_at(P, P->t.off, "symbolic dims are not supported");
            if (anet_mil_take_int(P, 1, ANET_MAX_ELEMENTS, &d, "dim")) return -1;
            t->dims[t->rank++] = d;
        }
        if (anet_mil_next(P) || anet_mil_expect_punct(P, '>', "to close the tensor type")) return -1;
        if (tensor_form) *tensor_form = 1;
    } else {
        if (P->t.kind != T_IDENT || P->t.n >= sizeof name) EXPECTED(P, "a type");
        memcpy(name, P->s + P->t.off, P->t.n);
        name[P->t.n] = '\0';
        t->dtype = anet_dtype_lookup(name);
        if (t->dtype == ANET_DT_INVALID) return anet_mil_perr_at(P, off, "unknown type '%s'", name);
        if (anet_mil_next(P)) return -1;
        if (tensor_form) *tensor_form = 0;
    }
    if ((t->dtype == ANET_DT_STRING || t->dtype == ANET_DT_UINT64) && t->rank != 0)
        return anet_mil_perr_at(P, off, "%s tensors are not supported (scalars only)", anet_dtype_name(t->dtype));
    if (anet_type_elements(t) < 0) {
        char b[96];
        return anet_mil_perr_at(P, off, "shape %s has more than 2^31 elements", anet__dims_str(t, b, sizeof b));
    }
    return 0;
}

void anet_mil_note_style(parser *P, int tensor_form) {
    if (!P->style) P->style = tensor_form ? 16 : 18;
}

void anet_mil_lit_free(lit *L) {
    free(L->data);
    free(L->blob_path);
    memset(L, 0, sizeof *L);
}

static int lit_push(parser *P, lit *L, const void *p, size_t k) {
    if (L->nbytes + k > L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 64;
        while (nc < L->nbytes + k) nc *= 2;
        uint8_t *q = realloc(L->data, nc);
        if (!q) {
            anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
            P->failed = 1;
            return -1;
        }
        L->data = q;
        L->cap = nc;
    }
    memcpy(L->data + L->nbytes, p, k);
    L->nbytes += k;
    return 0;
}

/* One element of dtype dt, appended to L. */
static int parse_elem(parser *P, lit *L, anet_dtype dt) {
    size_t off = P->t.off;
    switch (dt) {
    case ANET_DT_FP16:
    case ANET_DT_FP32: {
        double d = 0;
        if (anet_mil_take_float(P, &d)) return -1;
        if (dt == ANET_DT_FP16) {
            uint16_t h = anet_mil_d_to_f16(d);
            return lit_push(P, L, &h, 2);
        }
        float f = (float)d;
        if (isnan(d)) f = NAN;
        return lit_push(P, L, &f, 4);
    }
    case ANET_DT_BOOL: {
        uint8_t b;
        if (anet_mil_is_word(P, "true")) b = 1;
        else if (anet_mil_is_word(P, "false")) b = 0;
        else EXPECTED(P, "true or false");
        if (anet_mil_next(P)) return -1;
        return lit_push(P, L, &b, 1);
    }
    case ANET_DT_INT32: {
        int64_t v;
        if (anet_mil_take_int(P, INT32_MIN, INT32_MAX, &v, "int32 value")) return -1;
        int32_t x = (int32_t)v;
        return lit_push(P, L, &x, 4);
    }
    case ANET_DT_INT8:
    case ANET_DT_UINT8: {
        int64_t v;
        if (anet_mil_take_int(P, dt == ANET_DT_INT8 ? -128 : 0, dt == ANET_DT_INT8 ? 127 : 255, &v, "8-bit value")) return -1;
        uint8_t x = (uint8_t)(v & 0xff);
        return lit_push(P, L, &x, 1);
    }
    case ANET_DT_UINT64: {
        if (P->t.kind != T_NUM) EXPECTED(P, "a uint64 value");
        const char *s = P->s + P->t.off;
        uint64_t v = 0;
        for (size_t i = 0; i < P->t.n; i++) {
            if (!anet_mil_is_digit(s[i])) return anet_mil_perr_at(P, off, "bad uint64 value");
            uint64_t dg = (uint64_t)(s[i] - '0');
            if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && dg > UINT64_MAX % 10))
                return anet_mil_perr_at(P, off, "uint64 value out of range");
            v = v * 10 + dg;
        }
        if (anet_mil_next(P)) return -1;
        return lit_push(P, L, &v, 8);
    }
    default: return anet_mil_perr_at(P, off, "no literal syntax for %s", anet_dtype_name(dt));
    }
}

/* string("x") or tensor<string, []>("x") into buf. */
int anet_mil_parse_string_value(parser *P, char *buf, size_t n) {
    anet_type t;
    int tf;
    size_t off = P->t.off;
    if (anet_mil_parse_type(P, &t, &tf)) return -1;
    if (t.dtype != ANET_DT_STRING) return anet_mil_perr_at(P, off, "expected a string value");
    anet_mil_note_style(P, tf);
    if (anet_mil_expect_punct(P, '(', "after the string type")) return -1;
    if (anet_mil_take_string(P, buf, n)) return -1;
    return anet_mil_expect_punct(P, ')', "after the string literal");
}

/* `[a, b, [c, d]]`: flattened, nesting bounded, element count checked against the type. */
static int parse_list(parser *P, lit *L, int64_t want) {
    int depth = 0;
    int64_t count = 0;
    size_t off = P->t.off;
    int need_elem = 1; /* after '[' or ',' */
    do {
        if (anet_mil_is_punct(P, '[')) {
            if (!need_elem) EXPECTED(P, "',' or ']'");
            if (++depth > MAX_LIST_DEPTH) return anet_mil_perr_at(P, P->t.off, "list nested deeper than %d", MAX_LIST_DEPTH);
            if (anet_mil_next(P)) return -1;
            need_elem = 1;
            continue;
        }
        if (anet_mil_is_punct(P, ']')) {
            if (need_elem) EXPECTED(P, "a value");
            depth--;
            if (anet_mil_next(P)) return -1;
            need_elem = 0;
            continue;
        }
        if (anet_mil_is_punct(P, ',')) {
            if (need_elem) EXPECTED(P, "a value");
            if (anet_mil_next(P)) return -1;
            need_elem = 1;
            continue;
        }
        if (!need_elem) EXPECTED(P, "',' or ']'");
        if (P->t.kind == T_EOF) EXPECTED(P, "a value");
        if (count >= want) return anet_mil_perr_at(P, P->t.off, "more than the %lld elements the type declares", (long long)want);
        if (parse_elem(P, L, L->type.dtype)) return -1;
        count++;
        need_elem = 0;
    } while (depth > 0);
    if (count != want)
        return anet_mil_perr_at(P, off, "%lld elements given, the type declares %lld", (long long)count, (long long)want);
    return 0;
}

/* TYPE '(' (scalar | list | "string" | BLOBFILE(...)) ')' */
int anet_mil_parse_typed_value(parser *P, lit *L) {
    int tf;
    size_t off = P->t.off;
    if (anet_mil_parse_type(P, &L->type, &tf)) return -1;
    if (anet_mil_expect_punct(P, '(', "after the value type")) return -1;
    const anet_type *t = &L->type;
    if (t->dtype == ANET_DT_STRING) {
        anet_mil_note_style(P, tf);
        char buf[MAX_TOKEN + 1];
        if (anet_mil_take_string(P, buf, sizeof buf)) return -1;
        if (lit_push(P, L, buf, strlen(buf) + 1)) return -1;
    } else if (anet_mil_is_word(P, "BLOBFILE")) {
        /* checked first: the offset's own value can then never be a BLOBFILE, which bounds
         * the recursion below to one level */
        if (t->dtype != ANET_DT_FP16 && t->dtype != ANET_DT_FP32 && t->dtype != ANET_DT_INT8 && t->dtype != ANET_DT_UINT8)
            return anet_mil_perr_at(P, off, "BLOBFILE data of type %s is not supported", anet_dtype_name(t->dtype));
        char path[MAX_TOKEN + 1];
        lit off_lit;
        memset(&off_lit, 0, sizeof off_lit);
        if (anet_mil_next(P) || anet_mil_expect_punct(P, '(', "after BLOBFILE") || anet_mil_expect_word(P, "path") ||
            anet_mil_expect_punct(P, '=', "after 'path'") || anet_mil_parse_string_value(P, path, sizeof path) ||
            anet_mil_expect_punct(P, ',', "after the path") || anet_mil_expect_word(P, "offset") || anet_mil_expect_punct(P, '=', "after 'offset'"))
            return -1;
        size_t ooff = P->t.off;
        if (anet_mil_parse_typed_value(P, &off_lit)) {
            anet_mil_lit_free(&off_lit);
            return -1;
        }
        if (off_lit.type.dtype != ANET_DT_UINT64 || off_lit.type.rank != 0 || off_lit.is_blob) {
            anet_mil_lit_free(&off_lit);
            return anet_mil_perr_at(P, ooff, "BLOBFILE offset must be a uint64 scalar");
        }
        memcpy(&L->blob_offset, off_lit.data, 8);
        anet_mil_lit_free(&off_lit);
        if (anet_mil_expect_punct(P, ')', "to close BLOBFILE")) return -1;
        L->is_blob = 1;
        L->blob_path = malloc(strlen(path) + 1);
        if (!L->blob_path) {
            anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
            P->failed = 1;
            return -1;
        }
        strcpy(L->blob_path, path);
    } else if (t->rank == 0) {
        if (parse_elem(P, L, t->dtype)) return -1;
    } else {
        if (!anet_mil_is_punct(P, '[')) EXPECTED(P, "'[' to open the tensor values");
        if (parse_list(P, L, anet_type_elements(t))) return -1;
    }
    return anet_mil_expect_punct(P, ')', "after the value");
}
