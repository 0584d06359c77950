/* The MIL lexer: positions and error messages, tokens, and numbers (ints, floats, hex floats). */
#include "mil/mil_parse_internal.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir_util.h"

void anet_mil_line_col(const parser *P, size_t off, int *line, int *col) {
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


int anet_mil_perr_at(parser *P, size_t off, const char *fmt, ...) {
    if (P->failed) return -1;
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int l, c;
    anet_mil_line_col(P, off, &l, &c);
    anet_fail(ANET_E_FORMAT, "model.mil:%d:%d: %s", l, c, msg);
    P->failed = 1;
    return -1;
}

/* The current token quoted for messages ("'x'", "end of input"). */
const char *anet_mil_tok_desc(const parser *P, char *buf, size_t n) {
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

static int is_id0(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_id(int c) { return is_id0(c) || (c >= '0' && c <= '9'); }
int anet_mil_is_digit(int c) { return c >= '0' && c <= '9'; }

/* Whole text must be UTF-8 without NUL bytes; returns -1 with line:col on the first bad byte. */
int anet_mil_check_utf8(parser *P) {
    const unsigned char *s = (const unsigned char *)P->s;
    size_t i = 0, n = P->len;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned minv;
        if (c == 0) return anet_mil_perr_at(P, i, "NUL byte in the text");
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { k = 1; minv = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; minv = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; minv = 0x10000; c &= 0x07; }
        else return anet_mil_perr_at(P, i, "invalid UTF-8 byte 0x%02x", s[i]);
        if (k > n - i - 1) return anet_mil_perr_at(P, i, "truncated UTF-8 sequence");
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return anet_mil_perr_at(P, i, "invalid UTF-8 sequence");
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if (c < minv || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return anet_mil_perr_at(P, i, "invalid UTF-8 sequence");
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
int anet_mil_next(parser *P) {
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
    } else if (anet_mil_is_digit(c) || ((c == '-' || c == '+' || c == '.') && i + 1 < n && (anet_mil_is_digit(s[i + 1]) || s[i + 1] == '.'))) {
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
            if (j >= n) return anet_mil_perr_at(P, i, "unterminated string");
            if (s[j] == '"') break;
            if (s[j] == '\n') return anet_mil_perr_at(P, i, "unterminated string (newline inside)");
            if (s[j] == '\\') {
                if (j + 1 >= n) return anet_mil_perr_at(P, i, "unterminated string");
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
        return anet_mil_perr_at(P, i, "unexpected character '%c'", (c >= 0x20 && c < 0x7f) ? c : '?');
    }
    if (t.n > MAX_TOKEN) return anet_mil_perr_at(P, i, "token longer than %d characters", MAX_TOKEN);
    P->pos = i + t.n;
    P->t = t;
    return 0;
}

int anet_mil_is_punct(const parser *P, char c) { return P->t.kind == T_PUNCT && P->t.c == c; }
int anet_mil_is_word(const parser *P, const char *w) {
    size_t k = strlen(w);
    return P->t.kind == T_IDENT && P->t.n == k && memcmp(P->s + P->t.off, w, k) == 0;
}

int anet_mil_expect_punct(parser *P, char c, const char *ctx) {
    if (!anet_mil_is_punct(P, c)) {
        char what[96];
        snprintf(what, sizeof what, "'%c' %s", c, ctx);
        EXPECTED(P, what);
    }
    return anet_mil_next(P);
}

int anet_mil_expect_word(parser *P, const char *w) {
    if (!anet_mil_is_word(P, w)) {
        char what[64];
        snprintf(what, sizeof what, "'%s'", w);
        EXPECTED(P, what);
    }
    return anet_mil_next(P);
}

/* Copies the current identifier into buf (NUL-terminated) and advances. */
int anet_mil_take_ident(parser *P, char *buf, size_t n, const char *what) {
    if (P->t.kind != T_IDENT) EXPECTED(P, what);
    if (P->t.n >= n || P->t.n > ANET__MAX_NAME)
        return anet_mil_perr_at(P, P->t.off, "%s longer than %d characters", what, ANET__MAX_NAME);
    memcpy(buf, P->s + P->t.off, P->t.n);
    buf[P->t.n] = '\0';
    return anet_mil_next(P);
}

/* Decodes the current string token into buf (escapes: \" \\ \n \t \r \xHH; no NUL). */
int anet_mil_take_string(parser *P, char *buf, size_t n) {
    if (P->t.kind != T_STR) EXPECTED(P, "a string literal");
    const char *s = P->s + P->t.off + 1;
    size_t m = P->t.n - 2, o = 0;
    for (size_t i = 0; i < m; i++) {
        char c = s[i];
        if (c == '\\') {
            if (++i >= m) return anet_mil_perr_at(P, P->t.off, "bad escape at the end of a string");
            switch (s[i]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'x': {
                if (i + 2 >= m) return anet_mil_perr_at(P, P->t.off + 1 + i, "bad \\x escape");
                int v = 0;
                for (int k = 1; k <= 2; k++) {
                    char h = s[i + (size_t)k];
                    v = v * 16 + (anet_mil_is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1000);
                }
                if (v <= 0) return anet_mil_perr_at(P, P->t.off + 1 + i, "bad \\x escape");
                c = (char)v;
                i += 2;
                break;
            }
            default: return anet_mil_perr_at(P, P->t.off + 1 + i, "unknown escape '\\%c' in a string", (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?');
            }
        }
        if (o + 1 >= n) return anet_mil_perr_at(P, P->t.off, "string longer than %zu bytes", n - 1);
        buf[o++] = c;
    }
    buf[o] = '\0';
    return anet_mil_next(P);
}

/* ---- numbers ---- */

/* A signed integer token (decimal); advances. */
int anet_mil_take_int(parser *P, int64_t lo, int64_t hi, int64_t *out, const char *what) {
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
    if (i >= n) return anet_mil_perr_at(P, off, "bad integer");
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!anet_mil_is_digit(s[i])) return anet_mil_perr_at(P, off, "bad integer '%.*s'", (int)(n < 40 ? n : 40), s);
        if (v > (UINT64_MAX - 9) / 10) return anet_mil_perr_at(P, off, "integer out of range");
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    int64_t sv;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return anet_mil_perr_at(P, off, "integer out of range");
        sv = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return anet_mil_perr_at(P, off, "integer out of range");
        sv = (int64_t)v;
    }
    if (sv < lo || sv > hi)
        return anet_mil_perr_at(P, off, "%s %lld out of range [%lld, %lld]", what, (long long)sv, (long long)lo, (long long)hi);
    *out = sv;
    return anet_mil_next(P);
}

static int hexval(int c) {
    if (anet_mil_is_digit(c)) return c - '0';
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
        if (!anet_mil_is_digit(s[i])) return -1;
        if (e < 100000) e = e * 10 + (s[i] - '0');
    }
    if (eneg) e = -e;
    if (sticky) man |= 1; /* 60 significant bits + sticky: double rounding cannot occur */
    *out = ldexp((double)man, (int)(e + exp_adj));
    return 0;
}

/* A float literal: hex float, decimal, inf, nan (each with an optional leading '-'). */
int anet_mil_take_float(parser *P, double *out) {
    size_t off = P->t.off;
    int neg = 0;
    if (P->t.kind == T_MINUS) {
        neg = 1;
        if (anet_mil_next(P)) return -1;
        if (P->t.kind != T_IDENT) EXPECTED(P, "inf or nan after '-'");
    }
    if (P->t.kind == T_IDENT) {
        if (anet_mil_is_word(P, "inf")) *out = neg ? -INFINITY : INFINITY;
        else if (anet_mil_is_word(P, "nan")) *out = NAN;
        else EXPECTED(P, "a number");
        return anet_mil_next(P);
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
        if (parse_hex(s + i, n - i, &v)) return anet_mil_perr_at(P, off, "bad hex float '%.*s'", (int)(n < 40 ? n : 40), s);
    } else {
        /* decimal: validate the characters, then strtod (correctly rounded) on a
         * NUL-terminated copy, in the "C" locale for this thread only: the text always uses
         * '.', whatever locale the host program set. */
        char buf[128];
        if (n - i >= sizeof buf - 8) return anet_mil_perr_at(P, off, "number too long");
        size_t o = 0;
        int ok = 1, seen_digit = 0;
        for (size_t k = i; k < n; k++) {
            char c = s[k];
            if (anet_mil_is_digit(c)) seen_digit = 1;
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
        if (!ok || !seen_digit || !end || *end) return anet_mil_perr_at(P, off, "bad number '%.*s'", (int)(n < 40 ? n : 40), s);
    }
    *out = neg ? -v : v;
    return anet_mil_next(P);
}

/* double -> binary16 bits, round to nearest even directly from the double (no double rounding). */
uint16_t anet_mil_d_to_f16(double d) {
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
