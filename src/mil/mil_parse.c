/* MIL text parser: a hand-written lexer and a recursive-descent parser for the two dialects
 * we emit and for Apple-compiled model.mil files. Hostile input is bounded: the text is never
 * read past `len`, tokens, nesting, tuples and counts have limits, and allocations grow with
 * the text actually read (a declared shape alone never allocates). Errors name line:column. */
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph/ir_util.h"
#include "graph/nameset.h"
#include "mil/mil.h"

#define MAX_TOKEN 4096      /* characters in one token (names, numbers, strings) */
#define MAX_BUILD_INFO 256  /* buildInfo pairs */
#define MAX_LIST_DEPTH (ANET_MAX_RANK + 1)

enum { T_EOF, T_IDENT, T_NUM, T_STR, T_PUNCT, T_ARROW, T_MINUS, T_BAD };

typedef struct tok {
    int kind;
    size_t off, n; /* text span */
    char c;        /* T_PUNCT: the character */
} tok;

typedef struct parser {
    const char *s;
    size_t len, pos;
    tok t; /* current token */
    anet_graph *g;
    const uint8_t *w;
    size_t wlen;
    int style; /* 0 unknown, 16: tensor<string, []>, 18: string */
    int failed;
    anet__nameset vnames, onames; /* value and op names -> ids, keys borrowed from the graph */
    locale_t cloc;                /* "C" numeric locale for decimal literals, made on first use */
    int ninline;                  /* inline literal arguments made into consts so far */
} parser;

/* ---- positions and errors ---- */

static void line_col(const parser *P, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    if (off > P->len) off = P->len;
    for (size_t i = 0; i < off; i++) {
        if (P->s[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)P->s[i] & 0xC0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}

static int perr_at(parser *P, size_t off, const char *fmt, ...) ANET_PRINTF(3, 4);
static int perr_at(parser *P, size_t off, const char *fmt, ...) {
    if (P->failed) return -1;
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int l, c;
    line_col(P, off, &l, &c);
    anet_fail(ANET_E_FORMAT, "model.mil:%d:%d: %s", l, c, msg);
    P->failed = 1;
    return -1;
}

/* The current token quoted for messages ("'x'", "end of input"). */
static const char *tok_desc(const parser *P, char *buf, size_t n) {
    if (P->t.kind == T_EOF) return "end of input";
    size_t k = P->t.n < 40 ? P->t.n : 40;
    char tmp[48];
    size_t j = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned char ch = (unsigned char)P->s[P->t.off + i];
        tmp[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    tmp[j] = '\0';
    snprintf(buf, n, "'%s%s'", tmp, P->t.n > 40 ? "..." : "");
    return buf;
}

#define EXPECTED(P, what)                                                             \
    do {                                                                              \
        char tb_[64];                                                                 \
        return perr_at(P, (P)->t.off, "expected %s, got %s", what, tok_desc(P, tb_, sizeof tb_)); \
    } while (0)

/* ---- lexer ---- */

static int is_id0(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_id(int c) { return is_id0(c) || (c >= '0' && c <= '9'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* Whole text must be UTF-8 without NUL bytes; returns -1 with line:col on the first bad byte. */
static int check_utf8(parser *P) {
    const unsigned char *s = (const unsigned char *)P->s;
    size_t i = 0, n = P->len;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned minv;
        if (c == 0) return perr_at(P, i, "NUL byte in the text");
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { k = 1; minv = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; minv = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; minv = 0x10000; c &= 0x07; }
        else return perr_at(P, i, "invalid UTF-8 byte 0x%02x", s[i]);
        if (k > n - i - 1) return perr_at(P, i, "truncated UTF-8 sequence");
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return perr_at(P, i, "invalid UTF-8 sequence");
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if (c < minv || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return perr_at(P, i, "invalid UTF-8 sequence");
        i += k + 1;
    }
    return 0;
}

static void skip_space(parser *P) {
    for (;;) {
        while (P->pos < P->len && (P->s[P->pos] == ' ' || P->s[P->pos] == '\t' || P->s[P->pos] == '\n' ||
                                   P->s[P->pos] == '\r'))
            P->pos++;
        if (P->pos + 1 < P->len && P->s[P->pos] == '/' && P->s[P->pos + 1] == '/') {
            while (P->pos < P->len && P->s[P->pos] != '\n') P->pos++;
            continue;
        }
        return;
    }
}

/* Reads the next token into P->t. */
static int next(parser *P) {
    if (P->failed) return -1;
    skip_space(P);
    tok t = {T_EOF, P->pos, 0, 0};
    if (P->pos >= P->len) {
        P->t = t;
        return 0;
    }
    const char *s = P->s;
    size_t i = P->pos, n = P->len;
    int c = (unsigned char)s[i];
    if (is_id0(c)) {
        size_t j = i;
        while (j < n && is_id(s[j])) j++;
        t.kind = T_IDENT;
        t.n = j - i;
    } else if (is_digit(c) || ((c == '-' || c == '+' || c == '.') && i + 1 < n && (is_digit(s[i + 1]) || s[i + 1] == '.'))) {
        size_t j = i + 1;
        while (j < n) {
            char d = s[j];
            if (is_id(d) || d == '.') { j++; continue; }
            /* a sign right after an exponent letter belongs to the number (1e-3, 0x1p+4) */
            if ((d == '-' || d == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E' || s[j - 1] == 'p' || s[j - 1] == 'P')) {
                int hex = 0;
                for (size_t q = i; q < j; q++)
                    if (s[q] == 'x' || s[q] == 'X') hex = 1;
                if (hex ? (s[j - 1] == 'p' || s[j - 1] == 'P') : 1) { j++; continue; }
            }
            break;
        }
        t.kind = T_NUM;
        t.n = j - i;
    } else if (c == '"') {
        size_t j = i + 1;
        for (;;) {
            if (j >= n) return perr_at(P, i, "unterminated string");
            if (s[j] == '"') break;
            if (s[j] == '\n') return perr_at(P, i, "unterminated string (newline inside)");
            if (s[j] == '\\') {
                if (j + 1 >= n) return perr_at(P, i, "unterminated string");
                j += 2;
                continue;
            }
            j++;
        }
        t.kind = T_STR;
        t.n = j + 1 - i;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '>') {
        t.kind = T_ARROW;
        t.n = 2;
    } else if (c == '-') {
        t.kind = T_MINUS;
        t.n = 1;
    } else if (strchr("()[]{}<>,=;", c)) {
        t.kind = T_PUNCT;
        t.c = (char)c;
        t.n = 1;
    } else {
        return perr_at(P, i, "unexpected character '%c'", (c >= 0x20 && c < 0x7f) ? c : '?');
    }
    if (t.n > MAX_TOKEN) return perr_at(P, i, "token longer than %d characters", MAX_TOKEN);
    P->pos = i + t.n;
    P->t = t;
    return 0;
}

static int is_punct(const parser *P, char c) { return P->t.kind == T_PUNCT && P->t.c == c; }
static int is_word(const parser *P, const char *w) {
    size_t k = strlen(w);
    return P->t.kind == T_IDENT && P->t.n == k && memcmp(P->s + P->t.off, w, k) == 0;
}

static int expect_punct(parser *P, char c, const char *ctx) {
    if (!is_punct(P, c)) {
        char what[96];
        snprintf(what, sizeof what, "'%c' %s", c, ctx);
        EXPECTED(P, what);
    }
    return next(P);
}

static int expect_word(parser *P, const char *w) {
    if (!is_word(P, w)) {
        char what[64];
        snprintf(what, sizeof what, "'%s'", w);
        EXPECTED(P, what);
    }
    return next(P);
}

/* Copies the current identifier into buf (NUL-terminated) and advances. */
static int take_ident(parser *P, char *buf, size_t n, const char *what) {
    if (P->t.kind != T_IDENT) EXPECTED(P, what);
    if (P->t.n >= n || P->t.n > ANET__MAX_NAME)
        return perr_at(P, P->t.off, "%s longer than %d characters", what, ANET__MAX_NAME);
    memcpy(buf, P->s + P->t.off, P->t.n);
    buf[P->t.n] = '\0';
    return next(P);
}

/* Decodes the current string token into buf (escapes: \" \\ \n \t \r \xHH; no NUL). */
static int take_string(parser *P, char *buf, size_t n) {
    if (P->t.kind != T_STR) EXPECTED(P, "a string literal");
    const char *s = P->s + P->t.off + 1;
    size_t m = P->t.n - 2, o = 0;
    for (size_t i = 0; i < m; i++) {
        char c = s[i];
        if (c == '\\') {
            if (++i >= m) return perr_at(P, P->t.off, "bad escape at the end of a string");
            switch (s[i]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'x': {
                if (i + 2 >= m) return perr_at(P, P->t.off + 1 + i, "bad \\x escape");
                int v = 0;
                for (int k = 1; k <= 2; k++) {
                    char h = s[i + (size_t)k];
                    v = v * 16 + (is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1000);
                }
                if (v <= 0) return perr_at(P, P->t.off + 1 + i, "bad \\x escape");
                c = (char)v;
                i += 2;
                break;
            }
            default: return perr_at(P, P->t.off + 1 + i, "unknown escape '\\%c' in a string", (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?');
            }
        }
        if (o + 1 >= n) return perr_at(P, P->t.off, "string longer than %zu bytes", n - 1);
        buf[o++] = c;
    }
    buf[o] = '\0';
    return next(P);
}

/* ---- numbers ---- */

/* A signed integer token (decimal); advances. */
static int take_int(parser *P, int64_t lo, int64_t hi, int64_t *out, const char *what) {
    size_t off = P->t.off;
    int neg = 0;
    if (P->t.kind == T_MINUS) { /* "- 5" is not a number; "-5" lexes as one token */
        EXPECTED(P, what);
    }
    if (P->t.kind != T_NUM) EXPECTED(P, what);
    const char *s = P->s + P->t.off;
    size_t n = P->t.n, i = 0;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= n) return perr_at(P, off, "bad integer");
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return perr_at(P, off, "bad integer '%.*s'", (int)(n < 40 ? n : 40), s);
        if (v > (UINT64_MAX - 9) / 10) return perr_at(P, off, "integer out of range");
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    int64_t sv;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return perr_at(P, off, "integer out of range");
        sv = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return perr_at(P, off, "integer out of range");
        sv = (int64_t)v;
    }
    if (sv < lo || sv > hi)
        return perr_at(P, off, "%s %lld out of range [%lld, %lld]", what, (long long)sv, (long long)lo, (long long)hi);
    *out = sv;
    return next(P);
}

static int hexval(int c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exact hex float "0x1.8p+3" (sign handled by caller); -1 if malformed. */
static int parse_hex(const char *s, size_t n, double *out) {
    size_t i = 2;
    uint64_t man = 0;
    int digits = 0, exp_adj = 0, any = 0, sticky = 0;
    int seen_dot = 0;
    for (; i < n && s[i] != 'p' && s[i] != 'P'; i++) {
        if (s[i] == '.') {
            if (seen_dot) return -1;
            seen_dot = 1;
            continue;
        }
        int h = hexval((unsigned char)s[i]);
        if (h < 0) return -1;
        any = 1;
        if (man == 0 && h == 0) { /* leading zeros carry no precision */
            if (seen_dot) exp_adj -= 4;
            continue;
        }
        if (digits < 15) {
            man = man * 16 + (uint64_t)h;
            digits++;
            if (seen_dot) exp_adj -= 4;
        } else {
            if (h) sticky = 1; /* beyond 60 bits: only matters for ties, keep it sticky */
            if (!seen_dot) exp_adj += 4;
        }
    }
    if (!any || i >= n) return -1; /* the binary exponent is mandatory */
    i++;
    int eneg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    if (i >= n) return -1;
    long e = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return -1;
        if (e < 100000) e = e * 10 + (s[i] - '0');
    }
    if (eneg) e = -e;
    if (sticky) man |= 1; /* 60 significant bits + sticky: double rounding cannot occur */
    *out = ldexp((double)man, (int)(e + exp_adj));
    return 0;
}

/* A float literal: hex float, decimal, inf, nan (each with an optional leading '-'). */
static int take_float(parser *P, double *out) {
    size_t off = P->t.off;
    int neg = 0;
    if (P->t.kind == T_MINUS) {
        neg = 1;
        if (next(P)) return -1;
        if (P->t.kind != T_IDENT) EXPECTED(P, "inf or nan after '-'");
    }
    if (P->t.kind == T_IDENT) {
        if (is_word(P, "inf")) *out = neg ? -INFINITY : INFINITY;
        else if (is_word(P, "nan")) *out = NAN;
        else EXPECTED(P, "a number");
        return next(P);
    }
    if (P->t.kind != T_NUM) EXPECTED(P, "a number");
    const char *s = P->s + P->t.off;
    size_t n = P->t.n, i = 0;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    double v = 0;
    if (n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        if (parse_hex(s + i, n - i, &v)) return perr_at(P, off, "bad hex float '%.*s'", (int)(n < 40 ? n : 40), s);
    } else {
        /* decimal: validate the characters, then strtod (correctly rounded) on a
         * NUL-terminated copy, in the "C" locale for this thread only: the text always uses
         * '.', whatever locale the host program set. */
        char buf[128];
        if (n - i >= sizeof buf - 8) return perr_at(P, off, "number too long");
        size_t o = 0;
        int ok = 1, seen_digit = 0;
        for (size_t k = i; k < n; k++) {
            char c = s[k];
            if (is_digit(c)) seen_digit = 1;
            else if (!(c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) ok = 0;
            buf[o++] = c;
        }
        buf[o] = '\0';
        char *end = NULL;
        if (ok && seen_digit) {
            if (P->cloc == (locale_t)0) P->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
            if (P->cloc == (locale_t)0) {
                anet_fail(ANET_E_NOMEM, "model.mil: cannot create the C locale");
                P->failed = 1;
                return -1;
            }
            locale_t old = uselocale(P->cloc);
            v = strtod(buf, &end);
            uselocale(old);
        }
        if (!ok || !seen_digit || !end || *end) return perr_at(P, off, "bad number '%.*s'", (int)(n < 40 ? n : 40), s);
    }
    *out = neg ? -v : v;
    return next(P);
}

/* double -> binary16 bits, round to nearest even directly from the double (no double rounding). */
static uint16_t d_to_f16(double d) {
    uint64_t x;
    memcpy(&x, &d, 8);
    uint16_t sign = (uint16_t)((x >> 48) & 0x8000u);
    int exp = (int)((x >> 52) & 0x7ff);
    uint64_t man = x & ((UINT64_C(1) << 52) - 1);
    if (exp == 0x7ff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e = exp - 1023 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    uint64_t m = man | (UINT64_C(1) << 52); /* 53-bit significand */
    int shift;
    uint64_t base;
    if (exp == 0) return sign; /* double subnormals are far below fp16 */
    if (e <= 0) {
        if (e < -11) return sign;
        shift = 42 + 1 - e; /* subnormal: value / 2^-24 */
        base = 0;
    } else {
        shift = 42;
        base = (uint64_t)e << 10;
        m &= (UINT64_C(1) << 52) - 1;
    }
    uint64_t h = m >> shift, rem = m & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | (base + h));
}

/* ---- types ---- */

/* Either `tensor<dtype, [d0, ...]>` or a bare scalar dtype (ios18). *tensor_form tells which. */
static int parse_type(parser *P, anet_type *t, int *tensor_form) {
    char name[32];
    size_t off = P->t.off;
    memset(t, 0, sizeof *t);
    if (is_word(P, "tensor")) {
        if (next(P) || expect_punct(P, '<', "after 'tensor'")) return -1;
        if (P->t.kind != T_IDENT || P->t.n >= sizeof name) EXPECTED(P, "a dtype");
        size_t doff = P->t.off;
        if (take_ident(P, name, sizeof name, "a dtype")) return -1;
        t->dtype = anet_dtype_lookup(name);
        if (t->dtype == ANET_DT_INVALID) return perr_at(P, doff, "unknown type '%s'", name);
        if (expect_punct(P, ',', "after the dtype") || expect_punct(P, '[', "to open the shape")) return -1;
        while (!is_punct(P, ']')) {
            if (t->rank > 0 && expect_punct(P, ',', "between dims")) return -1;
            if (t->rank >= ANET_MAX_RANK) return perr_at(P, P->t.off, "rank above %d", ANET_MAX_RANK);
            int64_t d;
            if (P->t.kind == T_IDENT) return perr_at(P, P->t.off, "symbolic dims are not supported");
            if (take_int(P, 1, ANET_MAX_ELEMENTS, &d, "dim")) return -1;
            t->dims[t->rank++] = d;
        }
        if (next(P) || expect_punct(P, '>', "to close the tensor type")) return -1;
        if (tensor_form) *tensor_form = 1;
    } else {
        if (P->t.kind != T_IDENT || P->t.n >= sizeof name) EXPECTED(P, "a type");
        memcpy(name, P->s + P->t.off, P->t.n);
        name[P->t.n] = '\0';
        t->dtype = anet_dtype_lookup(name);
        if (t->dtype == ANET_DT_INVALID) return perr_at(P, off, "unknown type '%s'", name);
        if (next(P)) return -1;
        if (tensor_form) *tensor_form = 0;
    }
    if ((t->dtype == ANET_DT_STRING || t->dtype == ANET_DT_UINT64) && t->rank != 0)
        return perr_at(P, off, "%s tensors are not supported (scalars only)", anet_dtype_name(t->dtype));
    if (anet_type_elements(t) < 0) {
        char b[96];
        return perr_at(P, off, "shape %s has more than 2^31 elements", anet__dims_str(t, b, sizeof b));
    }
    return 0;
}

static void note_style(parser *P, int tensor_form) {
    if (!P->style) P->style = tensor_form ? 16 : 18;
}

/* ---- literals ---- */

typedef struct lit {
    anet_type type;
    uint8_t *data;
    size_t nbytes, cap;
    char *blob_path;
    uint64_t blob_offset;
    int is_blob;
} lit;

static void lit_free(lit *L) {
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
        if (take_float(P, &d)) return -1;
        if (dt == ANET_DT_FP16) {
            uint16_t h = d_to_f16(d);
            return lit_push(P, L, &h, 2);
        }
        float f = (float)d;
        if (isnan(d)) f = NAN;
        return lit_push(P, L, &f, 4);
    }
    case ANET_DT_BOOL: {
        uint8_t b;
        if (is_word(P, "true")) b = 1;
        else if (is_word(P, "false")) b = 0;
        else EXPECTED(P, "true or false");
        if (next(P)) return -1;
        return lit_push(P, L, &b, 1);
    }
    case ANET_DT_INT32: {
        int64_t v;
        if (take_int(P, INT32_MIN, INT32_MAX, &v, "int32 value")) return -1;
        int32_t x = (int32_t)v;
        return lit_push(P, L, &x, 4);
    }
    case ANET_DT_INT8:
    case ANET_DT_UINT8: {
        int64_t v;
        if (take_int(P, dt == ANET_DT_INT8 ? -128 : 0, dt == ANET_DT_INT8 ? 127 : 255, &v, "8-bit value")) return -1;
        uint8_t x = (uint8_t)(v & 0xff);
        return lit_push(P, L, &x, 1);
    }
    case ANET_DT_UINT64: {
        if (P->t.kind != T_NUM) EXPECTED(P, "a uint64 value");
        const char *s = P->s + P->t.off;
        uint64_t v = 0;
        for (size_t i = 0; i < P->t.n; i++) {
            if (!is_digit(s[i])) return perr_at(P, off, "bad uint64 value");
            uint64_t dg = (uint64_t)(s[i] - '0');
            if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && dg > UINT64_MAX % 10))
                return perr_at(P, off, "uint64 value out of range");
            v = v * 10 + dg;
        }
        if (next(P)) return -1;
        return lit_push(P, L, &v, 8);
    }
    default: return perr_at(P, off, "no literal syntax for %s", anet_dtype_name(dt));
    }
}

static int parse_typed_value(parser *P, lit *L);

/* string("x") or tensor<string, []>("x") into buf. */
static int parse_string_value(parser *P, char *buf, size_t n) {
    anet_type t;
    int tf;
    size_t off = P->t.off;
    if (parse_type(P, &t, &tf)) return -1;
    if (t.dtype != ANET_DT_STRING) return perr_at(P, off, "expected a string value");
    note_style(P, tf);
    if (expect_punct(P, '(', "after the string type")) return -1;
    if (take_string(P, buf, n)) return -1;
    return expect_punct(P, ')', "after the string literal");
}

/* `[a, b, [c, d]]`: flattened, nesting bounded, element count checked against the type. */
static int parse_list(parser *P, lit *L, int64_t want) {
    int depth = 0;
    int64_t count = 0;
    size_t off = P->t.off;
    int need_elem = 1; /* after '[' or ',' */
    do {
        if (is_punct(P, '[')) {
            if (!need_elem) EXPECTED(P, "',' or ']'");
            if (++depth > MAX_LIST_DEPTH) return perr_at(P, P->t.off, "list nested deeper than %d", MAX_LIST_DEPTH);
            if (next(P)) return -1;
            need_elem = 1;
            continue;
        }
        if (is_punct(P, ']')) {
            if (need_elem) EXPECTED(P, "a value");
            depth--;
            if (next(P)) return -1;
            need_elem = 0;
            continue;
        }
        if (is_punct(P, ',')) {
            if (need_elem) EXPECTED(P, "a value");
            if (next(P)) return -1;
            need_elem = 1;
            continue;
        }
        if (!need_elem) EXPECTED(P, "',' or ']'");
        if (P->t.kind == T_EOF) EXPECTED(P, "a value");
        if (count >= want) return perr_at(P, P->t.off, "more than the %lld elements the type declares", (long long)want);
        if (parse_elem(P, L, L->type.dtype)) return -1;
        count++;
        need_elem = 0;
    } while (depth > 0);
    if (count != want)
        return perr_at(P, off, "%lld elements given, the type declares %lld", (long long)count, (long long)want);
    return 0;
}

/* TYPE '(' (scalar | list | "string" | BLOBFILE(...)) ')' */
static int parse_typed_value(parser *P, lit *L) {
    int tf;
    size_t off = P->t.off;
    if (parse_type(P, &L->type, &tf)) return -1;
    if (expect_punct(P, '(', "after the value type")) return -1;
    const anet_type *t = &L->type;
    if (t->dtype == ANET_DT_STRING) {
        note_style(P, tf);
        char buf[MAX_TOKEN + 1];
        if (take_string(P, buf, sizeof buf)) return -1;
        if (lit_push(P, L, buf, strlen(buf) + 1)) return -1;
    } else if (is_word(P, "BLOBFILE")) {
        /* checked first: the offset's own value can then never be a BLOBFILE, which bounds
         * the recursion below to one level */
        if (t->dtype != ANET_DT_FP16 && t->dtype != ANET_DT_FP32 && t->dtype != ANET_DT_INT8 && t->dtype != ANET_DT_UINT8)
            return perr_at(P, off, "BLOBFILE data of type %s is not supported", anet_dtype_name(t->dtype));
        char path[MAX_TOKEN + 1];
        lit off_lit;
        memset(&off_lit, 0, sizeof off_lit);
        if (next(P) || expect_punct(P, '(', "after BLOBFILE") || expect_word(P, "path") ||
            expect_punct(P, '=', "after 'path'") || parse_string_value(P, path, sizeof path) ||
            expect_punct(P, ',', "after the path") || expect_word(P, "offset") || expect_punct(P, '=', "after 'offset'"))
            return -1;
        size_t ooff = P->t.off;
        if (parse_typed_value(P, &off_lit)) {
            lit_free(&off_lit);
            return -1;
        }
        if (off_lit.type.dtype != ANET_DT_UINT64 || off_lit.type.rank != 0 || off_lit.is_blob) {
            lit_free(&off_lit);
            return perr_at(P, ooff, "BLOBFILE offset must be a uint64 scalar");
        }
        memcpy(&L->blob_offset, off_lit.data, 8);
        lit_free(&off_lit);
        if (expect_punct(P, ')', "to close BLOBFILE")) return -1;
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
        if (!is_punct(P, '[')) EXPECTED(P, "'[' to open the tensor values");
        if (parse_list(P, L, anet_type_elements(t))) return -1;
    }
    return expect_punct(P, ')', "after the value");
}

/* ---- statements ---- */

static int find_value(parser *P, char *name, size_t off, int *id) {
    *id = anet__ns_get(&P->vnames, name);
    if (*id < 0) return perr_at(P, off, "unknown value '%s'", name);
    return 0;
}

static int op_name_used(const parser *P, const char *name) { return anet__ns_get(&P->onames, name) >= 0; }

/* Indexes the names of op `id` and its outputs. */
static int register_op(parser *P, int id) {
    const anet_op *op = &P->g->ops[id];
    int bad = anet__ns_put(&P->onames, op->name, id);
    for (int k = 0; k < op->noutputs; k++) bad |= anet__ns_put(&P->vnames, P->g->values[op->outputs[k]].name, op->outputs[k]);
    if (bad) {
        anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
        P->failed = 1;
        return -1;
    }
    return 0;
}

typedef struct stmt {
    int nout;
    anet_type types[ANET__MAX_OUTPUTS];
    char names[ANET__MAX_OUTPUTS][ANET__MAX_NAME + 1];
    char op[ANET__MAX_NAME + 1];
    anet_arg args[ANET__MAX_ARGS];
    char keys[ANET__MAX_ARGS][ANET__MAX_NAME + 1];
    int nargs;
    char opname[ANET__MAX_NAME + 1];
    int has_name;
    lit val;
    int has_val;
} stmt;

static void stmt_free(stmt *S) {
    for (int i = 0; i < S->nargs; i++) free(S->args[i].vals);
    lit_free(&S->val);
}

/* Is the current identifier the type of a literal (followed by '(' or '<') rather than a
 * value name? Looks one token ahead and comes back; -1 on a lexer error. */
static int is_literal_start(parser *P) {
    tok save = P->t;
    size_t pos = P->pos;
    if (next(P)) return -1;
    int lit = is_punct(P, '(') || is_punct(P, '<');
    P->t = save;
    P->pos = pos;
    return lit;
}

/* A typed inline literal as a const named after its argument; *id = its value. */
static int inline_const(parser *P, const char *key, int *id) {
    size_t off = P->t.off;
    lit L;
    memset(&L, 0, sizeof L);
    if (parse_typed_value(P, &L)) {
        lit_free(&L);
        return -1;
    }
    if (L.is_blob) {
        lit_free(&L);
        return perr_at(P, off, "inline BLOBFILE arguments are not supported");
    }
    char name[ANET__MAX_NAME + 1];
    for (int k = 0;; k++) { /* a name no value has yet */
        snprintf(name, sizeof name, "inline_%.40s_%d", key, P->ninline + k);
        if (anet__ns_get(&P->vnames, name) < 0 && !op_name_used(P, name)) break;
    }
    P->ninline++;
    int v = anet__graph_const2(P->g, name, name, L.type, L.data, L.nbytes, 1);
    lit_free(&L);
    if (v < 0) {
        int l, c;
        line_col(P, off, &l, &c);
        anet_fail_ctx(ANET_E_FORMAT, "model.mil:%d:%d", l, c);
        P->failed = 1;
        return -1;
    }
    if (register_op(P, P->g->values[v].producer)) return -1;
    *id = v;
    return 0;
}

static int parse_args(parser *P, stmt *S) {
    if (expect_punct(P, '(', "after the op type")) return -1;
    while (!is_punct(P, ')')) {
        if (S->nargs > 0 && expect_punct(P, ',', "between arguments")) return -1;
        if (S->nargs >= ANET__MAX_ARGS) return perr_at(P, P->t.off, "more than %d arguments", ANET__MAX_ARGS);
        anet_arg *a = &S->args[S->nargs];
        memset(a, 0, sizeof *a);
        size_t koff = P->t.off;
        if (take_ident(P, S->keys[S->nargs], sizeof S->keys[0], "an argument name")) return -1;
        for (int j = 0; j < S->nargs; j++)
            if (strcmp(S->keys[j], S->keys[S->nargs]) == 0)
                return perr_at(P, koff, "argument '%s' given twice", S->keys[j]);
        a->key = S->keys[S->nargs];
        S->nargs++; /* counted now so stmt_free releases vals on error */
        if (expect_punct(P, '=', "after the argument name")) return -1;
        int tuple = is_punct(P, '(');
        if (tuple && next(P)) return -1;
        int cap = 0;
        do {
            if (a->n > 0 && next(P)) return -1; /* the ',' */
            if (a->n >= ANET__MAX_TUPLE) return perr_at(P, P->t.off, "tuple longer than %d", ANET__MAX_TUPLE);
            if (P->t.kind != T_IDENT) {
                if (P->t.kind == T_NUM || P->t.kind == T_STR || P->t.kind == T_MINUS)
                    return perr_at(P, P->t.off, "inline literal arguments need their type, as in fp16(1.0)");
                EXPECTED(P, "a value name");
            }
            char nm[ANET__MAX_NAME + 1];
            size_t voff = P->t.off;
            int id = -1;
            int lit_arg = is_literal_start(P);
            if (lit_arg < 0) return -1;
            if (lit_arg) {
                /* Apple's compiler writes typed literals inline (string("fp16"), int32(1),
                 * tensor<int32, [2]>([1, 1])): each becomes a const of its own. */
                if (inline_const(P, a->key, &id)) return -1;
            } else if (take_ident(P, nm, sizeof nm, "a value name") || find_value(P, nm, voff, &id)) {
                return -1;
            }
            if (a->n >= cap) {
                int nc = cap ? cap * 2 : 4;
                int *q = realloc(a->vals, (size_t)nc * sizeof *q);
                if (!q) {
                    anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
                    P->failed = 1;
                    return -1;
                }
                a->vals = q;
                cap = nc;
            }
            a->vals[a->n++] = id;
        } while (tuple && is_punct(P, ','));
        if (tuple) {
            if (expect_punct(P, ')', "to close the tuple")) return -1;
            a->is_tuple = 1;
        } else if (!is_punct(P, ',') && !is_punct(P, ')')) {
            EXPECTED(P, "')' after argument list");
        }
    }
    return next(P);
}

static int parse_attrs(parser *P, stmt *S, int is_const) {
    if (!is_punct(P, '[')) return 0;
    if (next(P)) return -1;
    int n = 0;
    while (!is_punct(P, ']')) {
        if (n++ > 0 && expect_punct(P, ',', "between attributes")) return -1;
        if (n > 16) return perr_at(P, P->t.off, "too many attributes");
        char key[64];
        size_t koff = P->t.off;
        if (take_ident(P, key, sizeof key, "an attribute name") || expect_punct(P, '=', "after the attribute name"))
            return -1;
        if (strcmp(key, "name") == 0 && !S->has_name) {
            size_t noff = P->t.off;
            if (parse_string_value(P, S->opname, sizeof S->opname)) return -1;
            if (!anet__valid_name(S->opname)) return perr_at(P, noff, "invalid op name \"%s\"", S->opname);
            S->has_name = 1;
        } else if (strcmp(key, "val") == 0 && is_const && !S->has_val) {
            if (parse_typed_value(P, &S->val)) return -1;
            S->has_val = 1;
        } else {
            return perr_at(P, koff, "unexpected attribute '%s'", key);
        }
    }
    return next(P);
}

static int parse_stmt(parser *P) {
    stmt *S = calloc(1, sizeof *S);
    if (!S) {
        anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
        P->failed = 1;
        return -1;
    }
    int rc = -1;
    size_t start = P->t.off, opoff = start;
    /* outputs */
    for (;;) {
        if (S->nout >= ANET__MAX_OUTPUTS) {
            perr_at(P, P->t.off, "more than %d outputs", ANET__MAX_OUTPUTS);
            goto done;
        }
        int tf;
        if (parse_type(P, &S->types[S->nout], &tf)) goto done;
        size_t noff = P->t.off;
        if (take_ident(P, S->names[S->nout], sizeof S->names[0], "a value name")) goto done;
        if (anet__ns_get(&P->vnames, S->names[S->nout]) >= 0) {
            perr_at(P, noff, "value '%s' defined twice", S->names[S->nout]);
            goto done;
        }
        S->nout++;
        if (!is_punct(P, ',')) break;
        if (next(P)) goto done;
    }
    if (expect_punct(P, '=', "after the output declaration")) goto done;
    opoff = P->t.off;
    if (take_ident(P, S->op, sizeof S->op, "an op type")) goto done;
    int is_const = strcmp(S->op, "const") == 0;
    if (parse_args(P, S) || parse_attrs(P, S, is_const)) goto done;
    if (expect_punct(P, ';', "after the op")) goto done;

    if (is_const) {
        char b1[128], b2[128];
        if (S->nout != 1 || S->nargs != 0) {
            perr_at(P, opoff, "const takes no arguments and has one output");
            goto done;
        }
        if (!S->has_val) {
            perr_at(P, opoff, "const '%s' has no val", S->names[0]);
            goto done;
        }
        if (!anet_type_equal(&S->types[0], &S->val.type)) {
            perr_at(P, start, "type mismatch: '%s' is declared %s but its value is %s", S->names[0],
                    anet_type_str(&S->types[0], b1, sizeof b1), anet_type_str(&S->val.type, b2, sizeof b2));
            goto done;
        }
        const void *data = S->val.data;
        size_t nbytes = S->val.nbytes;
        if (S->val.is_blob) {
            if (!P->w) {
                perr_at(P, opoff, "const '%s' refers to BLOBFILE \"%s\" but no weights were given", S->names[0], S->val.blob_path);
                goto done;
            }
            if (strcmp(S->val.blob_path, ANET_MIL_WEIGHT_PATH) != 0) {
                perr_at(P, opoff, "const '%s': unknown weight file \"%s\" (expected \"%s\")", S->names[0],
                        S->val.blob_path, ANET_MIL_WEIGHT_PATH);
                goto done;
            }
            nbytes = (size_t)anet_type_elements(&S->val.type) * anet_dtype_size(S->val.type.dtype);
            if (anet_weights_lookup(P->w, P->wlen, S->val.blob_offset, S->val.type.dtype, nbytes, &data) != ANET_OK) {
                int l, c;
                line_col(P, opoff, &l, &c);
                anet_fail_ctx(ANET_E_FORMAT, "model.mil:%d:%d: const '%s'", l, c, S->names[0]);
                P->failed = 1;
                goto done;
            }
        }
        const char *opname = S->has_name ? S->opname : S->names[0];
        if (op_name_used(P, opname)) {
            perr_at(P, opoff, "op name '%s' used twice", opname);
            goto done;
        }
        int v = anet__graph_const2(P->g, S->names[0], opname, S->types[0], data, nbytes, 1);
        if (v < 0) goto graph_err;
        if (register_op(P, P->g->values[v].producer)) goto done;
        if (S->val.is_blob) {
            anet_const *c = P->g->ops[P->g->values[v].producer].val;
            c->blob_path = S->val.blob_path;
            S->val.blob_path = NULL;
            c->blob_offset = S->val.blob_offset;
        }
        rc = 0;
        goto done;
    }
    {
        const char *onames[ANET__MAX_OUTPUTS];
        for (int i = 0; i < S->nout; i++) onames[i] = S->names[i];
        /* An op without [name = ...] is named after its first output. */
        const char *opname = S->has_name ? S->opname : (op_name_used(P, S->names[0]) ? NULL : S->names[0]);
        if (S->has_name && op_name_used(P, opname)) {
            perr_at(P, opoff, "op name '%s' used twice", opname);
            goto done;
        }
        /* a generated name (opname NULL) is checked against the graph by op_raw itself */
        int id = anet__graph_op_raw2(P->g, S->op, opname, S->nargs, S->args, S->nout, onames, S->types, opname != NULL);
        if (id < 0) goto graph_err;
        if (register_op(P, id)) goto done;
        rc = 0;
        goto done;
    }
graph_err : {
    int l, c;
    line_col(P, opoff, &l, &c);
    anet_fail_ctx(ANET_E_FORMAT, "model.mil:%d:%d", l, c);
    P->failed = 1;
}
done:
    stmt_free(S);
    free(S);
    return rc;
}

/* ---- program ---- */

static char *dup_span(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int set_str(parser *P, char **dst, const char *s, size_t n) {
    char *p = dup_span(s, n);
    if (!p) {
        anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
        P->failed = 1;
        return -1;
    }
    free(*dst);
    *dst = p;
    return 0;
}

static int parse_build_info(parser *P) {
    anet_graph *g = P->g;
    anet_type kt, vt;
    int tf1, tf2;
    if (expect_word(P, "buildInfo") || expect_punct(P, '=', "after buildInfo") || expect_word(P, "dict") ||
        expect_punct(P, '<', "after dict"))
        return -1;
    size_t off = P->t.off;
    if (parse_type(P, &kt, &tf1) || expect_punct(P, ',', "between the dict types") || parse_type(P, &vt, &tf2) ||
        expect_punct(P, '>', "to close the dict type"))
        return -1;
    if (kt.dtype != ANET_DT_STRING || vt.dtype != ANET_DT_STRING) return perr_at(P, off, "buildInfo must map strings to strings");
    note_style(P, tf1);
    if (expect_punct(P, '(', "to open the buildInfo value") || expect_punct(P, '{', "to open the buildInfo dict")) return -1;
    while (!is_punct(P, '}')) {
        if (g->nbuild_info > 0 && expect_punct(P, ',', "between buildInfo entries")) return -1;
        if (g->nbuild_info >= MAX_BUILD_INFO) return perr_at(P, P->t.off, "more than %d buildInfo entries", MAX_BUILD_INFO);
        char k[MAX_TOKEN + 1], v[MAX_TOKEN + 1];
        if (expect_punct(P, '{', "to open a buildInfo entry") || take_string(P, k, sizeof k) ||
            expect_punct(P, ',', "between key and value") || take_string(P, v, sizeof v) ||
            expect_punct(P, '}', "to close a buildInfo entry"))
            return -1;
        anet_kv *q = realloc(g->build_info, (size_t)(g->nbuild_info + 1) * sizeof *q);
        if (!q) {
            anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
            P->failed = 1;
            return -1;
        }
        g->build_info = q;
        q[g->nbuild_info].key = dup_span(k, strlen(k));
        q[g->nbuild_info].value = dup_span(v, strlen(v));
        g->nbuild_info++;
        if (!q[g->nbuild_info - 1].key || !q[g->nbuild_info - 1].value) {
            anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
            P->failed = 1;
            return -1;
        }
    }
    if (next(P) || expect_punct(P, ')', "to close the buildInfo value") || expect_punct(P, ']', "to close the program attributes"))
        return -1;
    return 0;
}

static int parse_program(parser *P) {
    anet_graph *g = P->g;
    if (next(P)) return -1;
    /* The magic check: a file that is not MIL text is not quoted back (it may be anything). */
    if (P->t.kind != T_EOF && !is_word(P, "program"))
        return perr_at(P, P->t.off, "not MIL text: it does not start with 'program('");
    if (expect_word(P, "program") || expect_punct(P, '(', "after 'program'")) return -1;
    if (P->t.kind != T_NUM) EXPECTED(P, "a program version");
    for (size_t i = 0; i < P->t.n; i++)
        if (!is_digit(P->s[P->t.off + i]) && P->s[P->t.off + i] != '.')
            return perr_at(P, P->t.off, "bad program version");
    if (set_str(P, &g->program_version, P->s + P->t.off, P->t.n) || next(P) ||
        expect_punct(P, ')', "after the program version"))
        return -1;
    if (is_punct(P, '[')) {
        if (next(P) || parse_build_info(P)) return -1;
    }
    if (expect_punct(P, '{', "to open the program")) return -1;
    if (expect_word(P, "func")) return -1;
    if (P->t.kind != T_IDENT) EXPECTED(P, "a function name");
    if (set_str(P, &g->func_name, P->s + P->t.off, P->t.n) || next(P) || expect_punct(P, '<', "after the function name"))
        return -1;
    if (P->t.kind != T_IDENT) EXPECTED(P, "an opset name");
    if (set_str(P, &g->opset, P->s + P->t.off, P->t.n) || next(P) || expect_punct(P, '>', "after the opset") ||
        expect_punct(P, '(', "to open the inputs"))
        return -1;
    while (!is_punct(P, ')')) {
        if (g->ninputs > 0 && expect_punct(P, ',', "between inputs")) return -1;
        anet_type t;
        int tf;
        char name[ANET__MAX_NAME + 1];
        if (parse_type(P, &t, &tf)) return -1;
        size_t noff = P->t.off;
        if (take_ident(P, name, sizeof name, "an input name")) return -1;
        int v = anet_graph_input(g, name, t);
        if (v < 0) {
            int l, c;
            line_col(P, noff, &l, &c);
            anet_fail_ctx(ANET_E_FORMAT, "model.mil:%d:%d", l, c);
            P->failed = 1;
            return -1;
        }
        if (anet__ns_put(&P->vnames, g->values[v].name, v)) {
            anet_fail(ANET_E_NOMEM, "model.mil: out of memory");
            P->failed = 1;
            return -1;
        }
    }
    if (next(P) || expect_punct(P, '{', "to open the function body")) return -1;
    while (!is_punct(P, '}')) {
        if (P->t.kind == T_EOF) EXPECTED(P, "an op or '}'");
        if (parse_stmt(P)) return -1;
    }
    if (next(P)) return -1;
    if (P->t.kind != T_ARROW) EXPECTED(P, "'->' after the function body");
    if (next(P) || expect_punct(P, '(', "to open the outputs")) return -1;
    int outs[ANET__MAX_GRAPH_IO], nout = 0;
    while (!is_punct(P, ')')) {
        if (nout > 0 && expect_punct(P, ',', "between outputs")) return -1;
        if (nout >= ANET__MAX_GRAPH_IO) return perr_at(P, P->t.off, "too many outputs");
        char name[ANET__MAX_NAME + 1];
        size_t off = P->t.off;
        if (take_ident(P, name, sizeof name, "an output name") || find_value(P, name, off, &outs[nout])) return -1;
        for (int i = 0; i < nout; i++)
            if (outs[i] == outs[nout]) return perr_at(P, off, "output '%s' listed twice", name);
        nout++;
    }
    if (next(P) || expect_punct(P, ';', "after the outputs")) return -1;
    if (nout == 0) return perr_at(P, P->t.off, "the function has no outputs");
    if (anet_graph_set_outputs(g, nout, outs) != ANET_OK) {
        anet_fail_ctx(ANET_E_FORMAT, "model.mil");
        P->failed = 1;
        return -1;
    }
    if (is_word(P, "func")) return perr_at(P, P->t.off, "more than one function is not supported");
    if (expect_punct(P, '}', "to close the program")) return -1;
    if (P->t.kind != T_EOF) EXPECTED(P, "end of input");
    return 0;
}

anet_status anet_mil_parse(const char *text, size_t len, const uint8_t *weights, size_t wlen, anet_graph **out) {
    if (!out || (!text && len)) return anet_fail(ANET_E_INVALID, "mil parse: bad arguments");
    *out = NULL;
    parser P;
    memset(&P, 0, sizeof P);
    P.s = text ? text : "";
    P.len = len;
    P.w = weights;
    P.wlen = weights ? wlen : 0;
    if (check_utf8(&P)) return ANET_E_FORMAT;
    P.g = anet_graph_new(ANET_MIL_IOS18);
    if (!P.g) return anet_fail(ANET_E_NOMEM, "mil parse: out of memory");
    /* The file's own buildInfo (or none) replaces the defaults of a new graph. */
    for (int i = 0; i < P.g->nbuild_info; i++) {
        free(P.g->build_info[i].key);
        free(P.g->build_info[i].value);
    }
    free(P.g->build_info);
    P.g->build_info = NULL;
    P.g->nbuild_info = 0;
    int bad = parse_program(&P);
    anet__ns_free(&P.vnames);
    anet__ns_free(&P.onames);
    if (P.cloc != (locale_t)0) freelocale(P.cloc);
    if (bad) {
        anet_graph_free(P.g);
        return ANET_E_FORMAT;
    }
    /* The dialect follows how strings are spelled; without any, the opset decides. */
    if (P.style) P.g->dialect = P.style == 16 ? ANET_MIL_IOS16 : ANET_MIL_IOS18;
    else P.g->dialect = (strncmp(P.g->opset, "ios1", 4) == 0 && P.g->opset[4] >= '0' && P.g->opset[4] <= '7' && P.g->opset[5] == '\0')
                            ? ANET_MIL_IOS16 : ANET_MIL_IOS18;
    *out = P.g;
    return ANET_OK;
}
