/* MIL text emitter. Two layouts:
 *   ios16: Apple's compiled model.mil (tensor<string, []>("x"), ops indented 12 spaces), so a
 *          parsed Apple file is written back byte for byte;
 *   ios18: the layout maderix/ANE and Orion feed to the in-memory compiler (string("x"),
 *          scalar types spelled `fp16`, ops indented 8 spaces).
 * Floats are written as C99 hex floats ("0x1.8p+3", as coremltools does), which round-trip
 * exactly through the parser. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/ir_util.h"
#include "mil/mil.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra) {
    if (b->oom) return;
    if (b->n + extra + 1 <= b->cap) return;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + extra + 1) {
        if (nc > SIZE_MAX / 2) {
            b->oom = 1;
            return;
        }
        nc *= 2;
    }
    char *q = realloc(b->p, nc);
    if (!q) {
        b->oom = 1;
        return;
    }
    b->p = q;
    b->cap = nc;
}

static void sb_put(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) ANET_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    sb_reserve(b, (size_t)n);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* Hex float of a finite double, normalized, trailing zero digits dropped: "0x1.8p+3",
 * "-0x1p-24", "0x0p+0". Written by hand so the text does not depend on the C library. */
static void put_hexfloat(sbuf *b, double d) {
    uint64_t bits;
    memcpy(&bits, &d, 8);
    int neg = (int)(bits >> 63);
    int exp = (int)((bits >> 52) & 0x7ff);
    uint64_t man = bits & ((UINT64_C(1) << 52) - 1);
    if (exp == 0x7ff) {
        sb_puts(b, man ? "nan" : neg ? "-inf" : "inf");
        return;
    }
    if (neg) sb_puts(b, "-");
    if (exp == 0 && man == 0) {
        sb_puts(b, "0x0p+0");
        return;
    }
    int e;
    if (exp == 0) { /* double subnormal: normalize (never produced from fp16/fp32 values) */
        e = -1022;
        while (!(man & (UINT64_C(1) << 52))) {
            man <<= 1;
            e--;
        }
        man &= (UINT64_C(1) << 52) - 1;
    } else {
        e = exp - 1023;
    }
    char digits[14];
    int nd = 0;
    for (int i = 12; i >= 0; i--) digits[nd++] = "0123456789abcdef"[(man >> (4 * i)) & 0xf];
    while (nd > 0 && digits[nd - 1] == '0') nd--;
    sb_puts(b, "0x1");
    if (nd) {
        sb_puts(b, ".");
        sb_put(b, digits, (size_t)nd);
    }
    sb_printf(b, "p%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
}

/* Length of the valid UTF-8 sequence at p (NUL-terminated), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p) {
    unsigned c = p[0], v, minv;
    size_t k;
    if ((c & 0xE0) == 0xC0) { k = 1; minv = 0x80; v = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { k = 2; minv = 0x800; v = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { k = 3; minv = 0x10000; v = c & 0x07; }
    else return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((p[j] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        v = (v << 6) | (p[j] & 0x3F);
    }
    if (v < minv || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return k + 1;
}

/* Valid UTF-8 is written as is (Apple's files round-trip); other bytes >= 0x80 as \xHH. */
static void put_string_lit(sbuf *b, const char *s) {
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80) {
            size_t k = utf8_seq(p);
            if (k) {
                sb_put(b, (const char *)p, k);
                p += k - 1;
            } else {
                sb_printf(b, "\\x%02x", *p);
            }
            continue;
        }
        switch (*p) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\t': sb_puts(b, "\\t"); break;
        case '\r': sb_puts(b, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) sb_printf(b, "\\x%02x", *p);
            else sb_put(b, (const char *)p, 1);
        }
    }
    sb_puts(b, "\"");
}

/* The type as a declaration: ios18 spells scalars as the bare dtype. */
static void put_type(sbuf *b, const anet_type *t, anet_mil_dialect d) {
    if (t->rank == 0 && d == ANET_MIL_IOS18) {
        sb_puts(b, anet_dtype_name(t->dtype));
        return;
    }
    sb_printf(b, "tensor<%s, [", anet_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++) sb_printf(b, "%s%" PRId64, i ? ", " : "", t->dims[i]);
    sb_puts(b, "]>");
}

static void put_str_value(sbuf *b, const char *s, anet_mil_dialect d) {
    sb_puts(b, d == ANET_MIL_IOS18 ? "string(" : "tensor<string, []>(");
    put_string_lit(b, s);
    sb_puts(b, ")");
}

static void put_elem(sbuf *b, anet_dtype dt, const uint8_t *p) {
    switch (dt) {
    case ANET_DT_FP16: {
        uint16_t h;
        memcpy(&h, p, 2);
        put_hexfloat(b, (double)anet_f16_to_f32(h));
        break;
    }
    case ANET_DT_FP32: {
        float f;
        memcpy(&f, p, 4);
        put_hexfloat(b, (double)f);
        break;
    }
    case ANET_DT_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        sb_printf(b, "%" PRId32, v);
        break;
    }
    case ANET_DT_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        sb_printf(b, "%" PRIu64, v);
        break;
    }
    case ANET_DT_BOOL: sb_puts(b, p[0] ? "true" : "false"); break;
    case ANET_DT_INT8: sb_printf(b, "%d", (int)(int8_t)p[0]); break;
    case ANET_DT_UINT8: sb_printf(b, "%u", (unsigned)p[0]); break;
    default: break;
    }
}

static void put_const_value(sbuf *b, const anet_const *c, anet_mil_dialect d) {
    const anet_type *t = &c->type;
    if (t->dtype == ANET_DT_STRING) {
        put_str_value(b, (const char *)c->data, d);
        return;
    }
    put_type(b, t, d);
    sb_puts(b, "(");
    if (c->blob_path) {
        sb_puts(b, "BLOBFILE(path = ");
        put_str_value(b, c->blob_path, d);
        sb_printf(b, d == ANET_MIL_IOS18 ? ", offset = uint64(%" PRIu64 "))" : ", offset = tensor<uint64, []>(%" PRIu64 "))",
                  c->blob_offset);
    } else if (t->rank == 0) {
        put_elem(b, t->dtype, c->data);
    } else {
        int64_t n = anet_type_elements(t);
        size_t es = anet_dtype_size(t->dtype);
        sb_puts(b, "[");
        for (int64_t i = 0; i < n && !b->oom; i++) {
            if (i) sb_puts(b, ", ");
            put_elem(b, t->dtype, (const uint8_t *)c->data + (size_t)i * es);
        }
        sb_puts(b, "]");
    }
    sb_puts(b, ")");
}

anet_status anet_mil_emit(const anet_graph *g, char **out, size_t *len) {
    if (!g || !out) return anet_fail(ANET_E_INVALID, "mil emit: bad arguments");
    *out = NULL;
    if (len) *len = 0;
    anet_status st = anet_graph_verify(g);
    if (st) return anet_fail_ctx(st, "mil emit");
    if (g->noutputs < 1) return anet_fail(ANET_E_INVALID, "mil emit: the graph has no outputs");
    const anet_mil_dialect d = g->dialect;
    const char *ind = d == ANET_MIL_IOS16 ? "            " : "        ";
    const char *ind_end = d == ANET_MIL_IOS16 ? "        " : "    ";
    sbuf b = {0};

    sb_printf(&b, "program(%s)\n", g->program_version ? g->program_version : (d == ANET_MIL_IOS16 ? "1.0" : "1.3"));
    sb_puts(&b, d == ANET_MIL_IOS16 ? "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({"
                                    : "[buildInfo = dict<string, string>({");
    for (int i = 0; i < g->nbuild_info; i++) {
        sb_puts(&b, i ? ", {" : "{");
        put_string_lit(&b, g->build_info[i].key ? g->build_info[i].key : "");
        sb_puts(&b, ", ");
        put_string_lit(&b, g->build_info[i].value ? g->build_info[i].value : "");
        sb_puts(&b, "}");
    }
    sb_puts(&b, "})]\n{\n");

    sb_printf(&b, "    func %s<%s>(", g->func_name ? g->func_name : "main",
              g->opset ? g->opset : (d == ANET_MIL_IOS16 ? "ios16" : "ios18"));
    for (int i = 0; i < g->ninputs; i++) {
        const anet_value *v = &g->values[g->inputs[i]];
        if (i) sb_puts(&b, ", ");
        put_type(&b, &v->type, d);
        sb_printf(&b, " %s", v->name);
    }
    sb_puts(&b, ") {\n");

    for (int o = 0; o < g->nops && !b.oom; o++) {
        const anet_op *op = &g->ops[o];
        sb_puts(&b, ind);
        for (int k = 0; k < op->noutputs; k++) {
            const anet_value *v = &g->values[op->outputs[k]];
            if (k) sb_puts(&b, ", ");
            put_type(&b, &v->type, d);
            sb_printf(&b, " %s", v->name);
        }
        sb_printf(&b, " = %s(", op->type);
        for (int a = 0; a < op->nargs; a++) {
            const anet_arg *arg = &op->args[a];
            sb_printf(&b, "%s%s = ", a ? ", " : "", arg->key);
            if (arg->is_tuple) sb_puts(&b, "(");
            for (int k = 0; k < arg->n; k++) sb_printf(&b, "%s%s", k ? ", " : "", g->values[arg->vals[k]].name);
            if (arg->is_tuple) sb_puts(&b, ")");
        }
        sb_puts(&b, ")[name = ");
        put_str_value(&b, op->name, d);
        if (op->kind == ANET_OP_CONST) {
            sb_puts(&b, ", val = ");
            put_const_value(&b, op->val, d);
        }
        sb_puts(&b, "];\n");
    }

    sb_printf(&b, "%s} -> (", ind_end);
    for (int i = 0; i < g->noutputs; i++) sb_printf(&b, "%s%s", i ? ", " : "", g->values[g->outputs[i]].name);
    sb_puts(&b, ");\n}\n");

    if (b.oom) {
        free(b.p);
        return anet_fail(ANET_E_NOMEM, "mil emit: out of memory");
    }
    *out = b.p;
    if (len) *len = b.n;
    return ANET_OK;
}
