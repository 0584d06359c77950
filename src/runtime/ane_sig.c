#include "runtime/ane_sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const char *s;
    size_t n, i;
} scan;

static int at_end(const scan *c) { return c->i >= c->n; }

/* Skips blanks and comments ("//" to end of line). */
static void skip_ws(scan *c) {
    while (!at_end(c)) {
        char ch = c->s[c->i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            c->i++;
        } else if (ch == '/' && c->i + 1 < c->n && c->s[c->i + 1] == '/') {
            while (!at_end(c) && c->s[c->i] != '\n') c->i++;
        } else {
            break;
        }
    }
}

static int is_ident_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static int is_ident(char ch) { return is_ident_start(ch) || (ch >= '0' && ch <= '9'); }

/* Reads an identifier into buf; 0 on success, -1 if none or too long. */
static int ident(scan *c, char *buf, size_t len) {
    skip_ws(c);
    if (at_end(c) || !is_ident_start(c->s[c->i])) return -1;
    size_t k = 0;
    while (!at_end(c) && is_ident(c->s[c->i])) {
        if (k + 1 >= len) return -1;
        buf[k++] = c->s[c->i++];
    }
    buf[k] = '\0';
    return 0;
}

static int expect(scan *c, char ch) {
    skip_ws(c);
    if (at_end(c) || c->s[c->i] != ch) return -1;
    c->i++;
    return 0;
}

static int peek(scan *c, const char *lit) {
    skip_ws(c);
    size_t k = strlen(lit);
    return c->n - c->i >= k && memcmp(c->s + c->i, lit, k) == 0;
}

static anet_dtype dtype_of(const char *s) {
    static const struct { const char *name; anet_dtype dt; } tab[] = {
        {"fp16", ANET_DT_FP16}, {"fp32", ANET_DT_FP32}, {"int32", ANET_DT_INT32},
        {"bool", ANET_DT_BOOL}, {"int8", ANET_DT_INT8}, {"uint8", ANET_DT_UINT8},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].name) == 0) return tab[i].dt;
    return ANET_DT_INVALID;
}

static size_t dtype_bytes(anet_dtype dt) {
    switch (dt) {
    case ANET_DT_FP16: return 2;
    case ANET_DT_FP32: case ANET_DT_INT32: return 4;
    case ANET_DT_BOOL: case ANET_DT_INT8: case ANET_DT_UINT8: return 1;
    default: return 0;
    }
}

/* "tensor<fp16, [1, 2, 1, 3]>" or a bare scalar dtype ("fp16"). */
static int parse_type(scan *c, anet_type *t) {
    char word[32];
    memset(t, 0, sizeof *t);
    if (ident(c, word, sizeof word) != 0) return -1;
    if (strcmp(word, "tensor") != 0) {
        t->dtype = dtype_of(word);
        return t->dtype == ANET_DT_INVALID ? -1 : 0;
    }
    if (expect(c, '<') || ident(c, word, sizeof word)) return -1;
    t->dtype = dtype_of(word);
    if (t->dtype == ANET_DT_INVALID || expect(c, ',') || expect(c, '[')) return -1;
    skip_ws(c);
    if (!at_end(c) && c->s[c->i] == ']') {
        c->i++;
    } else {
        for (;;) {
            skip_ws(c);
            int64_t v = 0;
            int digits = 0;
            while (!at_end(c) && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
                if (v > ANET_MAX_ELEMENTS) return -1;
                v = v * 10 + (c->s[c->i++] - '0');
                digits++;
            }
            if (!digits || v < 1 || t->rank >= ANET_MAX_RANK) return -1;
            t->dims[t->rank++] = v;
            skip_ws(c);
            if (at_end(c)) return -1;
            if (c->s[c->i] == ',') { c->i++; continue; }
            if (c->s[c->i] == ']') { c->i++; break; }
            return -1;
        }
    }
    return expect(c, '>');
}

static int type_bytes(const anet_type *t, size_t *out) {
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++) {
        n *= t->dims[k];
        if (n > ANET_MAX_ELEMENTS) return -1;
    }
    *out = (size_t)n * dtype_bytes(t->dtype);
    return 0;
}

static anet_status fail_at(const scan *c, const char *what) {
    size_t line = 1;
    for (size_t k = 0; k < c->i && k < c->n; k++) line += c->s[k] == '\n';
    return anet_fail(ANET_E_FORMAT, "MIL signature: %s at line %zu", what, line);
}

static int push(anet_ane_tensor_sig **arr, int *n, const char *name, const anet_type *t) {
    if (*n >= ANET_ANE_SIG_MAX_IO) return -1;
    anet_ane_tensor_sig *a = realloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    if (!a) return -1;
    *arr = a;
    anet_ane_tensor_sig *e = &a[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->type = *t;
    return type_bytes(t, &e->nbytes);
}

/* Skips a statement up to its ';' (strings may hold any character). */
static void skip_statement(scan *c) {
    int in_str = 0;
    while (!at_end(c)) {
        char ch = c->s[c->i++];
        if (in_str) {
            if (ch == '\\' && !at_end(c)) c->i++;
            else if (ch == '"') in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == ';') {
            return;
        }
    }
}

anet_status anet_ane_sig_parse(const char *mil, size_t len, anet_ane_sig *out) {
    memset(out, 0, sizeof *out);
    if (!mil) return anet_fail(ANET_E_INVALID, "MIL signature: no program text");
    scan c = {mil, len, 0};
    /* The function header: "func NAME<opset>(" (buildInfo and program() come before it). */
    const char *f = NULL;
    for (size_t k = 0; k + 5 <= len; k++)
        if (memcmp(mil + k, "func ", 5) == 0 && (k == 0 || !is_ident(mil[k - 1]))) {
            f = mil + k;
            break;
        }
    if (!f) return fail_at(&c, "no 'func' found");
    c.i = (size_t)(f - mil) + 5;
    char word[ANET_ANE_SIG_MAX_NAME];
    if (ident(&c, word, sizeof word)) return fail_at(&c, "expected the function name");
    if (peek(&c, "<")) {
        c.i++;
        if (ident(&c, word, sizeof word) || expect(&c, '>')) return fail_at(&c, "bad opset");
    }
    if (expect(&c, '(')) return fail_at(&c, "expected '(' after the function name");
    anet_status st = ANET_OK;
    if (!peek(&c, ")")) {
        for (;;) {
            anet_type t;
            if (parse_type(&c, &t)) { st = fail_at(&c, "bad input type"); goto fail; }
            if (ident(&c, word, sizeof word)) { st = fail_at(&c, "bad input name"); goto fail; }
            if (push(&out->in, &out->nin, word, &t)) {
                st = fail_at(&c, "too many inputs or an input too large");
                goto fail;
            }
            if (peek(&c, ",")) { c.i++; continue; }
            break;
        }
    }
    if (expect(&c, ')') || expect(&c, '{')) { st = fail_at(&c, "expected ') {'"); goto fail; }
    /* Body: remember the declared type of every value, up to the closing brace. */
    typedef struct { size_t pos; anet_type t; size_t name_len; } decl;
    decl *decls = NULL;
    size_t ndecls = 0, cap = 0;
    for (;;) {
        skip_ws(&c);
        if (at_end(&c)) { free(decls); st = fail_at(&c, "unterminated function body"); goto fail; }
        if (c.s[c.i] == '}') { c.i++; break; }
        for (;;) { /* one or more "TYPE name" before '=' */
            size_t save = c.i;
            anet_type t;
            if (parse_type(&c, &t) == 0) {
                skip_ws(&c);
                size_t npos = c.i;
                if (ident(&c, word, sizeof word) == 0) {
                    if (ndecls == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        if (ncap > (size_t)1 << 20) break;
                        decl *d = realloc(decls, ncap * sizeof *d);
                        if (!d) break;
                        decls = d;
                        cap = ncap;
                    }
                    decls[ndecls].pos = npos;
                    decls[ndecls].t = t;
                    decls[ndecls].name_len = strlen(word);
                    ndecls++;
                    if (peek(&c, ",")) { c.i++; continue; }
                    break;
                }
            }
            c.i = save;
            break;
        }
        skip_statement(&c);
    }
    if (!peek(&c, "->")) { free(decls); st = fail_at(&c, "expected '-> (outputs)'"); goto fail; }
    c.i += 2;
    if (expect(&c, '(')) { free(decls); st = fail_at(&c, "expected '(' after '->'"); goto fail; }
    for (;;) {
        if (ident(&c, word, sizeof word)) { free(decls); st = fail_at(&c, "bad output name"); goto fail; }
        const anet_type *found = NULL;
        size_t wl = strlen(word);
        for (size_t k = 0; k < ndecls && !found; k++)
            if (decls[k].name_len == wl && memcmp(mil + decls[k].pos, word, wl) == 0)
                found = &decls[k].t;
        for (int k = 0; k < out->nin && !found; k++)
            if (strcmp(out->in[k].name, word) == 0) found = &out->in[k].type;
        if (!found) {
            free(decls);
            st = anet_fail(ANET_E_FORMAT, "MIL signature: output '%s' is never defined", word);
            goto fail;
        }
        if (push(&out->out, &out->nout, word, found)) {
            free(decls);
            st = fail_at(&c, "too many outputs");
            goto fail;
        }
        if (peek(&c, ",")) { c.i++; continue; }
        break;
    }
    free(decls);
    if (expect(&c, ')')) { st = fail_at(&c, "expected ')' after the outputs"); goto fail; }
    if (out->nout == 0) { st = fail_at(&c, "the function has no outputs"); goto fail; }
    return ANET_OK;
fail:
    anet_ane_sig_free(out);
    return st;
}

void anet_ane_sig_free(anet_ane_sig *s) {
    if (!s) return;
    free(s->in);
    free(s->out);
    memset(s, 0, sizeof *s);
}

void anet_ane_sig_sorted(const anet_ane_tensor_sig *t, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    /* Insertion sort: n is small and the order must be deterministic. */
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && strcmp(t[order[j]].name, t[v].name) > 0) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
}
