/* model.mil as Apple's Core ML compiler writes it, read for `check`: the structure only (op
 * types, names, tensor arguments, output types, small constant parameters), never weights.
 * The strict MIL parser (src/mil/mil_parse.c) builds an executable graph IR and so refuses
 * what the IR cannot hold; this reader accepts everything the compiler writes: flexible `?`
 * and symbolic dims, function and op attributes ([FlexibleShapeInformation = ...],
 * constexpr_*()[axis = ...]), inline literal arguments (string("fp32"), int32(1), tuples),
 * several functions, state/list/tuple/dict types, nested blocks of cond and while_loop, any
 * BLOBFILE path. Bounded: tokens, nesting and counts are limited, allocations grow with the
 * text read, and error messages never quote the file's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "coreml/coreml.h"
#include "graph/nameset.h"

#define MT_MAX_DEPTH 32 /* nested blocks, types and balanced groups */

enum { K_EOF, K_ID, K_NUM, K_STR, K_P, K_ARROW };

typedef struct mt {
    const char *s;
    size_t len, pos;
    int kind;
    size_t off, n;
    char c;
    anet_cm_model *m;
    const char *name, *path;
    char fpath[300]; /* model_path of the current function's ops */
    anet__nameset consts; /* const value name -> index into nums (or -1: not numeric) */
    char **cnames;
    double (*nums)[3];
    int *nnum;
    int ncon, capcon;
    int failed;
    int main_body; /* parsing the body of function main: record its outputs */
    anet_status st; /* why it failed */
} mt;

static int perr(mt *P, const char *what) {
    if (P->failed) return -1;
    int line = 1, col = 1;
    for (size_t i = 0; i < P->off && i < P->len; i++) {
        if (P->s[i] == '\n') line++, col = 1;
        else col++;
    }
    P->st = anet_fail(ANET_E_FORMAT, "%s: model.mil:%d:%d: %s", P->name, line, col, what);
    P->failed = 1;
    return -1;
}

static int nomem(mt *P) {
    if (!P->failed) P->st = anet_fail(ANET_E_NOMEM, "%s: out of memory", P->name);
    P->failed = 1;
    return -1;
}

static int idc(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
static int digit(int c) { return c >= '0' && c <= '9'; }

static int next(mt *P) {
    if (P->failed) return -1;
    const char *s = P->s;
    size_t i = P->pos, n = P->len;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') i++;
            continue;
        }
        break;
    }
    P->off = i;
    if (i >= n) {
        P->kind = K_EOF, P->n = 0, P->pos = i;
        return 0;
    }
    int c = (unsigned char)s[i];
    size_t j = i + 1;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        while (j < n && idc((unsigned char)s[j])) j++;
        P->kind = K_ID;
    } else if (digit(c) || ((c == '-' || c == '+' || c == '.') && j < n && (digit((unsigned char)s[j]) || s[j] == '.'))) {
        while (j < n && (idc((unsigned char)s[j]) || s[j] == '.' ||
                         ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E' || s[j - 1] == 'p' || s[j - 1] == 'P'))))
            j++;
        P->kind = K_NUM;
    } else if (c == '"') {
        while (j < n && s[j] != '"' && s[j] != '\n') j += s[j] == '\\' ? 2 : 1;
        if (j >= n || s[j] != '"') {
            P->pos = i;
            return perr(P, "unterminated string");
        }
        j++;
        P->kind = K_STR;
    } else if (c == '-' && j < n && s[j] == '>') {
        j++;
        P->kind = K_ARROW;
    } else if (strchr("()[]{}<>,=;?-:", c)) {
        P->kind = K_P;
        P->c = (char)c;
    } else {
        P->pos = i;
        return perr(P, "unexpected character");
    }
    if (j - i > 65536) return perr(P, "token longer than 65536 characters");
    P->n = j - i;
    P->pos = j;
    return 0;
}

static int is_p(const mt *P, char c) { return P->kind == K_P && P->c == c; }
static int is_w(const mt *P, const char *w) {
    return P->kind == K_ID && P->n == strlen(w) && memcmp(P->s + P->off, w, P->n) == 0;
}
static int expect(mt *P, char c, const char *what) {
    if (!is_p(P, c)) return perr(P, what);
    return next(P);
}

/* Skips a balanced group opened by the current token ( [ { or <, to just after its close. */
static int skip_group(mt *P, int depth) {
    char open = P->c, close = open == '(' ? ')' : open == '[' ? ']' : open == '{' ? '}' : '>';
    if (depth > MT_MAX_DEPTH) return perr(P, "nesting deeper than 32 levels");
    if (next(P)) return -1;
    while (!is_p(P, close)) {
        if (P->kind == K_EOF) return perr(P, "unbalanced brackets");
        if (P->kind == K_P && strchr("([{<", P->c)) {
            if (skip_group(P, depth + 1)) return -1;
            continue;
        }
        if (P->kind == K_P && strchr(")]}", P->c) && P->c != close) return perr(P, "unbalanced brackets");
        if (next(P)) return -1;
    }
    return next(P);
}

/* A type: tensor<dtype, [dims]>, state<T>, list<...>, tuple<...>, dict<...>, or a scalar dtype.
 * The shape goes to s (rank -1 when it is not a tensor). */
static int parse_type(mt *P, anet_cm_shape *s, int depth) {
    memset(s, 0, sizeof *s);
    s->rank = -1;
    if (P->kind != K_ID) return perr(P, "expected a type");
    if (depth > MT_MAX_DEPTH) return perr(P, "types nested deeper than 32 levels");
    if (is_w(P, "tensor")) {
        if (next(P) || expect(P, '<', "expected '<' after 'tensor'")) return -1;
        if (P->kind != K_ID || P->n >= sizeof s->dtype) return perr(P, "expected a dtype");
        memcpy(s->dtype, P->s + P->off, P->n);
        s->dtype[P->n] = '\0';
        if (next(P) || expect(P, ',', "expected ',' after the dtype") || expect(P, '[', "expected '[' to open the shape"))
            return -1;
        int r = 0;
        while (!is_p(P, ']')) {
            if (r > 0 && expect(P, ',', "expected ',' between dims")) return -1;
            int64_t d = -1;
            if (P->kind == K_NUM) {
                d = 0;
                for (size_t i = 0; i < P->n; i++) {
                    char c = P->s[P->off + i];
                    if (!digit(c)) return perr(P, "bad dimension");
                    if (d < ((int64_t)1 << 50)) d = d * 10 + (c - '0');
                }
            } else if (!is_p(P, '?') && P->kind != K_ID) {
                return perr(P, "expected a dimension");
            }
            if (r < ANET_CM_MAX_DIMS) s->dims[r] = d;
            if (r < 64) r++;
            if (next(P)) return -1;
        }
        s->rank = r;
        for (int i = r; i < ANET_CM_MAX_DIMS; i++) s->dims[i] = -1;
        return next(P) || expect(P, '>', "expected '>' to close the tensor type");
    }
    if (is_w(P, "state")) {
        if (next(P) || expect(P, '<', "expected '<' after 'state'") || parse_type(P, s, depth + 1)) return -1;
        return expect(P, '>', "expected '>' to close the state type");
    }
    int generic = is_w(P, "list") || is_w(P, "tuple") || is_w(P, "dict");
    if (P->n < sizeof s->dtype && !generic) {
        memcpy(s->dtype, P->s + P->off, P->n);
        s->dtype[P->n] = '\0';
        s->rank = 0;
    }
    if (next(P)) return -1;
    if (generic) {
        if (!is_p(P, '<')) return perr(P, "expected '<' after a list, tuple or dict type");
        return skip_group(P, depth + 1);
    }
    return 0;
}

/* A literal: TYPE(value ...). Up to 3 numbers go to v (*n; -1 when not numeric). */
static int parse_literal(mt *P, double *v, int *n, int depth) {
    anet_cm_shape s;
    *n = -1;
    if (parse_type(P, &s, depth) || !is_p(P, '(')) return P->failed ? -1 : perr(P, "expected '(' after a literal's type");
    int numeric = strcmp(s.dtype, "string") != 0 && strcmp(s.dtype, "bool") != 0;
    if (next(P)) return -1;
    int k = 0, neg = 0, blob = 0, lvl = 0;
    while (!(lvl == 0 && is_p(P, ')'))) {
        if (P->kind == K_EOF) return perr(P, "unterminated literal");
        if (P->kind == K_P && strchr("([{", P->c)) {
            if (++lvl > MT_MAX_DEPTH) return perr(P, "literal nested deeper than 32 levels");
        } else if (P->kind == K_P && strchr(")]}", P->c)) {
            lvl--;
        } else if (is_w(P, "BLOBFILE")) {
            blob = 1;
        } else if (is_p(P, '-')) {
            neg = 1;
            if (next(P)) return -1;
            continue;
        } else if (P->kind == K_NUM && numeric && !blob && k < 3) {
            char b[64];
            size_t m = P->n < sizeof b - 1 ? P->n : sizeof b - 1;
            memcpy(b, P->s + P->off, m);
            b[m] = '\0';
            v[k++] = (neg ? -1 : 1) * strtod(b, NULL);
        }
        neg = 0;
        if (next(P)) return -1;
    }
    if (numeric && !blob && k > 0) *n = k;
    return next(P);
}

/* Attributes [key = value, ...]; the name attribute's string goes to name. */
static int parse_attrs(mt *P, char *name, size_t nsize, int depth) {
    if (!is_p(P, '[')) return 0;
    if (next(P)) return -1;
    while (!is_p(P, ']')) {
        if (P->kind == K_P && is_p(P, ',')) {
            if (next(P)) return -1;
            continue;
        }
        if (P->kind != K_ID) return perr(P, "expected an attribute name");
        int is_name = is_w(P, "name");
        if (next(P) || expect(P, '=', "expected '=' after an attribute name")) return -1;
        if (is_name && name && P->kind == K_ID) {
            /* string("x") or tensor<string, []>("x") */
            anet_cm_shape s;
            if (parse_type(P, &s, depth) || expect(P, '(', "expected '(' after the name's type")) return -1;
            if (P->kind != K_STR) return perr(P, "expected the op name string");
            size_t m = P->n - 2 < nsize - 1 ? P->n - 2 : nsize - 1;
            memcpy(name, P->s + P->off + 1, m);
            name[m] = '\0';
            if (next(P) || expect(P, ')', "expected ')' after the op name")) return -1;
        } else if (P->kind == K_ID) {
            double v[3];
            int n;
            if (parse_literal(P, v, &n, depth)) return -1;
        } else if (P->kind == K_P && strchr("([{", P->c)) {
            if (skip_group(P, depth + 1)) return -1;
        } else if (P->kind == K_NUM || P->kind == K_STR) {
            if (next(P)) return -1;
        } else {
            return perr(P, "expected an attribute value");
        }
    }
    return next(P);
}

static int add_const(mt *P, const char *name, size_t nlen, const double *v, int n) {
    if (P->ncon == P->capcon) {
        int nc = P->capcon ? P->capcon * 2 : 64;
        char **a = realloc(P->cnames, (size_t)nc * sizeof *a);
        if (!a) return nomem(P);
        P->cnames = a;
        double(*b)[3] = realloc(P->nums, (size_t)nc * sizeof *b);
        if (!b) return nomem(P);
        P->nums = b;
        int *c = realloc(P->nnum, (size_t)nc * sizeof *c);
        if (!c) return nomem(P);
        P->nnum = c;
        P->capcon = nc;
    }
    char *k = anet_cm_strndup(name, nlen);
    if (!k) return nomem(P);
    P->cnames[P->ncon] = k;
    P->nnum[P->ncon] = n;
    for (int i = 0; i < 3; i++) P->nums[P->ncon][i] = i < n ? v[i] : 0;
    if (anet__ns_put(&P->consts, k, P->ncon) != 0) {
        free(k);
        return nomem(P);
    }
    P->ncon++;
    return 0;
}

static int push_name(char ***arr, int *n, const char *s, size_t len) {
    char **p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return -1;
    *arr = p;
    if (!(p[*n] = anet_cm_strndup(s, len))) return -1;
    (*n)++;
    return 0;
}

static int parse_block(mt *P, int depth);

/* One argument value: a name, a literal or a tuple of them. Names of non-const values become
 * the layer's inputs; numbers of a parameter the rules read go to its fields. */
static int parse_argval(mt *P, anet_cm_layer *l, const char *key, size_t klen, int depth) {
    if (depth > MT_MAX_DEPTH) return perr(P, "arguments nested deeper than 32 levels");
    if (is_p(P, '(')) {
        if (next(P)) return -1;
        while (!is_p(P, ')')) {
            if (is_p(P, ',')) {
                if (next(P)) return -1;
                continue;
            }
            if (parse_argval(P, l, NULL, 0, depth + 1)) return -1;
        }
        return next(P);
    }
    if (P->kind != K_ID) return perr(P, "expected a value name or a literal");
    /* A literal starts with a type followed by '(' or '<'; a name is followed by ',' or ')'. */
    size_t save = P->pos, off = P->off, n = P->n;
    if (next(P)) return -1;
    if (is_p(P, '(') || is_p(P, '<')) {
        P->pos = save, P->off = off, P->n = n, P->kind = K_ID;
        double v[3];
        int k;
        if (parse_literal(P, v, &k, depth)) return -1;
        if (key && k > 0) anet_cm_set_param(l, key, klen, v, k);
        return 0;
    }
    char nm[256];
    if (n >= sizeof nm) return perr(P, "value name longer than 255 characters");
    memcpy(nm, P->s + off, n);
    nm[n] = '\0';
    int ci = anet__ns_get(&P->consts, nm);
    if (ci >= 0) {
        if (key && P->nnum[ci] > 0) anet_cm_set_param(l, key, klen, P->nums[ci], P->nnum[ci]);
        return 0;
    }
    if (push_name(&l->inputs, &l->ninputs, nm, n) != 0) return nomem(P);
    return 0;
}

/* TYPE NAME {, TYPE NAME} = OP(args)[attrs] {blocks} ; */
static int parse_stmt(mt *P, int depth) {
    anet_cm_shape outs[16];
    size_t noff[16], nlen[16];
    int nout = 0;
    for (;;) {
        anet_cm_shape s;
        if (parse_type(P, &s, depth)) return -1;
        if (P->kind != K_ID) return perr(P, "expected an output name");
        if (nout < 16) {
            outs[nout] = s;
            noff[nout] = P->off;
            nlen[nout] = P->n;
            nout++;
        }
        if (next(P)) return -1;
        if (!is_p(P, ',')) break;
        if (next(P)) return -1;
    }
    if (expect(P, '=', "expected '=' after the outputs")) return -1;
    if (P->kind != K_ID || P->n > 127) return perr(P, "expected an op type");
    char type[128];
    memcpy(type, P->s + P->off, P->n);
    type[P->n] = '\0';
    if (next(P)) return -1;
    int is_const = strcmp(type, "const") == 0, is_cx = strncmp(type, "constexpr_", 10) == 0;
    anet_cm_layer tmp, *l = &tmp;
    memset(&tmp, 0, sizeof tmp);
    char opname[256] = "";
    if (expect(P, '(', "expected '(' after the op type")) return -1;
    int bad = 0;
    while (!is_p(P, ')') && !bad) {
        if (is_p(P, ',')) {
            if (next(P)) bad = 1;
            continue;
        }
        if (P->kind != K_ID) {
            bad = perr(P, "expected an argument name");
            break;
        }
        size_t ko = P->off, kl = P->n;
        if (next(P) || expect(P, '=', "expected '=' after an argument name") ||
            parse_argval(P, l, P->s + ko, kl, depth + 1))
            bad = 1;
    }
    double cv[3];
    int cn = -1;
    if (!bad && next(P)) bad = 1;
    if (!bad && is_p(P, '[')) {
        /* const's val attribute carries its numbers: read the attributes by hand for it. */
        if (is_const) {
            if (next(P)) bad = 1;
            while (!bad && !is_p(P, ']')) {
                if (is_p(P, ',')) {
                    if (next(P)) bad = 1;
                    continue;
                }
                int val = is_w(P, "val");
                if (P->kind != K_ID || next(P) || expect(P, '=', "expected '=' after an attribute name")) {
                    bad = perr(P, "expected an attribute");
                    break;
                }
                double v[3];
                int k;
                if (parse_literal(P, v, &k, depth)) bad = 1;
                else if (val) memcpy(cv, v, sizeof v), cn = k;
            }
            if (!bad && next(P)) bad = 1;
        } else if (parse_attrs(P, opname, sizeof opname, depth)) {
            bad = 1;
        }
    }
    if (!bad && (is_const || is_cx) && nout >= 1 && add_const(P, P->s + noff[0], nlen[0], cv, is_const ? cn : -1)) bad = 1;
    anet_cm_layer *L = NULL;
    if (!bad && !is_const) {
        L = anet_cm_add_layer(P->m);
        if (!L) {
            P->st = anet_cm_no_layer(P->m, P->name);
            P->failed = bad = 1;
        }
    }
    if (L) {
        *L = tmp;
        memset(&tmp, 0, sizeof tmp);
        L->graph = L->op = -1;
        L->verdict = ANET_CM_UNKNOWN;
        L->is_mil = 1;
        L->type = anet_cm_strndup(type, strlen(type));
        L->model_path = anet_cm_strndup(P->fpath, strlen(P->fpath));
        L->name = opname[0] ? anet_cm_strndup(opname, strlen(opname)) : anet_cm_strndup(P->s + noff[0], nlen[0]);
        L->outputs = calloc((size_t)nout + 1, sizeof *L->outputs);
        if (!L->type || !L->model_path || !L->name || anet_cm_alloc_shapes(L, L->ninputs, nout) != 0 || !L->outputs)
            bad = nomem(P);
        for (int i = 0; !bad && i < L->ninputs; i++) L->in_shapes[i].rank = -1;
        for (int i = 0; !bad && i < nout; i++) {
            if (!(L->outputs[i] = anet_cm_strndup(P->s + noff[i], nlen[i]))) bad = nomem(P);
            else L->out_shapes[L->noutputs++] = outs[i];
        }
    }
    for (int i = 0; i < tmp.ninputs; i++) free(tmp.inputs[i]);
    free(tmp.inputs);
    for (int i = 0; !bad && i < nout; i++)
        if (anet_cm_add_known(P->m, P->s + noff[i], nlen[i], &outs[i]) != 0) bad = nomem(P);
    if (bad) return -1;
    /* Nested blocks (cond, while_loop): {ops} -> (outs), optionally named with parameters. */
    while (!is_p(P, ';')) {
        if (depth + 1 > MT_MAX_DEPTH) return perr(P, "blocks nested deeper than 32 levels");
        if (P->kind == K_ID) {
            if (next(P)) return -1;
            if (is_p(P, '(') && skip_group(P, depth + 1)) return -1;
        }
        if (!is_p(P, '{')) return perr(P, "expected ';' after the op");
        if (parse_block(P, depth + 1)) return -1;
    }
    return next(P);
}

/* { stmts } -> (names) */
static int parse_block(mt *P, int depth) {
    if (expect(P, '{', "expected '{' to open a block")) return -1;
    while (!is_p(P, '}')) {
        if (P->kind == K_EOF) return perr(P, "unterminated block");
        if (parse_stmt(P, depth)) return -1;
    }
    if (next(P)) return -1;
    if (P->kind != K_ARROW) return perr(P, "expected '->' after a block");
    if (next(P) || !is_p(P, '(')) return perr(P, "expected the block's outputs");
    if (!P->main_body || depth != 1) return skip_group(P, depth + 1);
    /* The main function's outputs are the model's (segments list what leaves through them). */
    P->main_body = 0;
    if (next(P)) return -1;
    while (!is_p(P, ')')) {
        if (is_p(P, ',')) {
            if (next(P)) return -1;
            continue;
        }
        if (P->kind != K_ID) return perr(P, "expected an output name");
        if (P->m->noutputs < 256) {
            anet_cm_tensor *t = realloc(P->m->outputs, (size_t)(P->m->noutputs + 1) * sizeof *t);
            if (!t) return nomem(P);
            P->m->outputs = t;
            if (!(t[P->m->noutputs].name = anet_cm_strndup(P->s + P->off, P->n))) return nomem(P);
            const anet_cm_shape *sh = anet_cm_find_shape(P->m, t[P->m->noutputs].name);
            if (sh) t[P->m->noutputs].shape = *sh;
            else memset(&t[P->m->noutputs].shape, 0, sizeof t->shape), t[P->m->noutputs].shape.rank = -1;
            P->m->noutputs++;
        }
        if (next(P)) return -1;
    }
    return next(P);
}

static int parse_func(mt *P) {
    if (next(P) || P->kind != K_ID) return perr(P, "expected a function name");
    char fname[128];
    size_t fl = P->n < sizeof fname ? P->n : sizeof fname - 1;
    memcpy(fname, P->s + P->off, fl);
    fname[fl] = '\0';
    P->main_body = strcmp(fname, "main") == 0 && P->path[0] == '\0';
    if (strcmp(fname, "main") == 0) snprintf(P->fpath, sizeof P->fpath, "%s", P->path);
    else snprintf(P->fpath, sizeof P->fpath, "%s%s%s", P->path, P->path[0] ? "/" : "", fname);
    if (next(P)) return -1;
    if (is_p(P, '<') && skip_group(P, 1)) return -1;
    if (expect(P, '(', "expected '(' to open the function's inputs")) return -1;
    while (!is_p(P, ')')) {
        if (is_p(P, ',')) {
            if (next(P)) return -1;
            continue;
        }
        anet_cm_shape s;
        if (parse_type(P, &s, 0)) return -1;
        if (P->kind != K_ID) return perr(P, "expected an input name");
        if (anet_cm_add_known(P->m, P->s + P->off, P->n, &s) != 0) return nomem(P);
        if (next(P)) return -1;
    }
    if (next(P) || parse_attrs(P, NULL, 0, 0) || parse_block(P, 1)) return -1;
    if (is_p(P, ';')) return next(P);
    return 0;
}

anet_status anet_cm_read_miltext(anet_cm_model *m, const char *name, const char *text, size_t len, const char *path) {
    mt P;
    memset(&P, 0, sizeof P);
    P.s = text, P.len = len, P.m = m, P.name = name, P.path = path;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0') return anet_fail(ANET_E_FORMAT, "%s: not MIL text (a NUL byte)", name);
    int bad = next(&P);
    if (!bad && !is_w(&P, "program"))
        return anet_fail(ANET_E_FORMAT, "%s: not MIL text (it does not start with 'program(')", name);
    if (!bad && (next(&P) || !is_p(&P, '(') || skip_group(&P, 0) || parse_attrs(&P, NULL, 0, 0) ||
                 expect(&P, '{', "expected '{' to open the program")))
        bad = 1;
    int nfunc = 0;
    while (!bad && !is_p(&P, '}')) {
        if (!is_w(&P, "func")) {
            bad = perr(&P, "expected 'func' or '}'");
            break;
        }
        if (parse_func(&P)) bad = 1;
        nfunc++;
    }
    if (!bad && (next(&P) || P.kind != K_EOF)) bad = P.failed ? 1 : perr(&P, "text after the end of the program");
    if (!bad && nfunc == 0) bad = perr(&P, "the program has no function");
    for (int i = 0; i < P.ncon; i++) free(P.cnames[i]);
    free(P.cnames);
    free(P.nums);
    free(P.nnum);
    anet__ns_free(&P.consts);
    return bad ? (P.st != ANET_OK ? P.st : ANET_E_FORMAT) : ANET_OK;
}
