/* MIL text parser, program level: statements, the program, anet_mil_parse (the lexer is mil_lex.c,
 * types and literals mil_values.c). A recursive-descent parser for the two dialects we emit and
 * for Apple-compiled model.mil files. Hostile input is bounded: the text is never
 * read past `len`, tokens, nesting, tuples and counts have limits, and allocations grow with
 * the text actually read (a declared shape alone never allocates). Errors name line:column. */
#include "mil/mil_parse_internal.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir_util.h"

/* ---- statements ---- */

static int find_value(parser *P, char *name, size_t off, int *id) {
    *id = anet__ns_get(&P->vnames, name);
    if (*id < 0) return anet_mil_perr_at(P, off, "unknown value '%s'", name);
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
    anet_mil_lit_free(&S->val);
}

/* Is the current identifier the type of a literal (followed by '(' or '<') rather than a
 * value name? Looks one token ahead and comes back; -1 on a lexer error. */
static int is_literal_start(parser *P) {
    tok save = P->t;
    size_t pos = P->pos;
    if (anet_mil_next(P)) return -1;
    int lit = anet_mil_is_punct(P, '(') || anet_mil_is_punct(P, '<');
    P->t = save;
    P->pos = pos;
    return lit;
}

/* A typed inline literal as a const named after its argument; *id = its value. */
static int inline_const(parser *P, const char *key, int *id) {
    size_t off = P->t.off;
    lit L;
    memset(&L, 0, sizeof L);
    if (anet_mil_parse_typed_value(P, &L)) {
        anet_mil_lit_free(&L);
        return -1;
    }
    if (L.is_blob) {
        anet_mil_lit_free(&L);
        return anet_mil_perr_at(P, off, "inline BLOBFILE arguments are not supported");
    }
    char name[ANET__MAX_NAME + 1];
    for (int k = 0;; k++) { /* a name no value has yet */
        snprintf(name, sizeof name, "inline_%.40s_%d", key, P->ninline + k);
        if (anet__ns_get(&P->vnames, name) < 0 && !op_name_used(P, name)) break;
    }
    P->ninline++;
    int v = anet__graph_const2(P->g, name, name, L.type, L.data, L.nbytes, 1);
    anet_mil_lit_free(&L);
    if (v < 0) {
        int l, c;
        anet_mil_line_col(P, off, &l, &c);
        anet_fail_ctx(ANET_E_FORMAT, "model.mil:%d:%d", l, c);
        P->failed = 1;
        return -1;
    }
    if (register_op(P, P->g->values[v].producer)) return -1;
    *id = v;
    return 0;
}

static int parse_args(parser *P, stmt *S) {
    if (anet_mil_expect_punct(P, '(', "after the op type")) return -1;
    while (!anet_mil_is_punct(P, ')')) {
        if (S->nargs > 0 && anet_mil_expect_punct(P, ',', "between arguments")) return -1;
        if (S->nargs >= ANET__MAX_ARGS) return anet_mil_perr_at(P, P->t.off, "more than %d arguments", ANET__MAX_ARGS);
        anet_arg *a = &S->args[S->nargs];
        memset(a, 0, sizeof *a);
        size_t koff = P->t.off;
        if (anet_mil_take_ident(P, S->keys[S->nargs], sizeof S->keys[0], "an argument name")) return -1;
        for (int j = 0; j < S->nargs; j++)
            if (strcmp(S->keys[j], S->keys[S->nargs]) == 0)
                return anet_mil_perr_at(P, koff, "argument '%s' given twice", S->keys[j]);
        a->key = S->keys[S->nargs];
        S->nargs++; /* counted now so stmt_free releases vals on error */
        if (anet_mil_expect_punct(P, '=', "after the argument name")) return -1;
        int tuple = anet_mil_is_punct(P, '(');
        if (tuple && anet_mil_next(P)) return -1;
        int cap = 0;
        do {
            if (a->n > 0 && anet_mil_next(P)) return -1; /* the ',' */
            if (a->n >= ANET__MAX_TUPLE) return anet_mil_perr_at(P, P->t.off, "tuple longer than %d", ANET__MAX_TUPLE);
            if (P->t.kind != T_IDENT) {
                if (P->t.kind == T_NUM || P->t.kind == T_STR || P->t.kind == T_MINUS)
                    return anet_mil_perr_at(P, P->t.off, "inline literal arguments need their type, as in fp16(1.0)");
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
            } else if (anet_mil_take_ident(P, nm, sizeof nm, "a value name") || find_value(P, nm, voff, &id)) {
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
        } while (tuple && anet_mil_is_punct(P, ','));
        if (tuple) {
            if (anet_mil_expect_punct(P, ')', "to close the tuple")) return -1;
            a->is_tuple = 1;
        } else if (!anet_mil_is_punct(P, ',') && !anet_mil_is_punct(P, ')')) {
            EXPECTED(P, "')' after argument list");
        }
    }
    return anet_mil_next(P);
}

static int parse_attrs(parser *P, stmt *S, int is_const) {
    if (!anet_mil_is_punct(P, '[')) return 0;
    if (anet_mil_next(P)) return -1;
    int n = 0;
    while (!anet_mil_is_punct(P, ']')) {
        if (n++ > 0 && anet_mil_expect_punct(P, ',', "between attributes")) return -1;
        if (n > 16) return anet_mil_perr_at(P, P->t.off, "too many attributes");
        char key[64];
        size_t koff = P->t.off;
        if (anet_mil_take_ident(P, key, sizeof key, "an attribute name") || anet_mil_expect_punct(P, '=', "after the attribute name"))
            return -1;
        if (strcmp(key, "name") == 0 && !S->has_name) {
            size_t noff = P->t.off;
            if (anet_mil_parse_string_value(P, S->opname, sizeof S->opname)) return -1;
            if (!anet__valid_name(S->opname)) return anet_mil_perr_at(P, noff, "invalid op name \"%s\"", S->opname);
            S->has_name = 1;
        } else if (strcmp(key, "val") == 0 && is_const && !S->has_val) {
            if (anet_mil_parse_typed_value(P, &S->val)) return -1;
            S->has_val = 1;
        } else {
            return anet_mil_perr_at(P, koff, "unexpected attribute '%s'", key);
        }
    }
    return anet_mil_next(P);
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
            anet_mil_perr_at(P, P->t.off, "more than %d outputs", ANET__MAX_OUTPUTS);
            goto done;
        }
        int tf;
        if (anet_mil_parse_type(P, &S->types[S->nout], &tf)) goto done;
        size_t noff = P->t.off;
        if (anet_mil_take_ident(P, S->names[S->nout], sizeof S->names[0], "a value name")) goto done;
        if (anet__ns_get(&P->vnames, S->names[S->nout]) >= 0) {
            anet_mil_perr_at(P, noff, "value '%s' defined twice", S->names[S->nout]);
            goto done;
        }
        S->nout++;
        if (!anet_mil_is_punct(P, ',')) break;
        if (anet_mil_next(P)) goto done;
    }
    if (anet_mil_expect_punct(P, '=', "after the output declaration")) goto done;
    opoff = P->t.off;
    if (anet_mil_take_ident(P, S->op, sizeof S->op, "an op type")) goto done;
    int is_const = strcmp(S->op, "const") == 0;
    if (parse_args(P, S) || parse_attrs(P, S, is_const)) goto done;
    if (anet_mil_expect_punct(P, ';', "after the op")) goto done;

    if (is_const) {
        char b1[128], b2[128];
        if (S->nout != 1 || S->nargs != 0) {
            anet_mil_perr_at(P, opoff, "const takes no arguments and has one output");
            goto done;
        }
        if (!S->has_val) {
            anet_mil_perr_at(P, opoff, "const '%s' has no val", S->names[0]);
            goto done;
        }
        if (!anet_type_equal(&S->types[0], &S->val.type)) {
            anet_mil_perr_at(P, start, "type mismatch: '%s' is declared %s but its value is %s", S->names[0],
                    anet_type_str(&S->types[0], b1, sizeof b1), anet_type_str(&S->val.type, b2, sizeof b2));
            goto done;
        }
        const void *data = S->val.data;
        size_t nbytes = S->val.nbytes;
        if (S->val.is_blob) {
            if (!P->w) {
                anet_mil_perr_at(P, opoff, "const '%s' refers to BLOBFILE \"%s\" but no weights were given", S->names[0], S->val.blob_path);
                goto done;
            }
            if (strcmp(S->val.blob_path, ANET_MIL_WEIGHT_PATH) != 0) {
                anet_mil_perr_at(P, opoff, "const '%s': unknown weight file \"%s\" (expected \"%s\")", S->names[0],
                        S->val.blob_path, ANET_MIL_WEIGHT_PATH);
                goto done;
            }
            nbytes = (size_t)anet_type_elements(&S->val.type) * anet_dtype_size(S->val.type.dtype);
            if (anet_weights_lookup(P->w, P->wlen, S->val.blob_offset, S->val.type.dtype, nbytes, &data) != ANET_OK) {
                int l, c;
                anet_mil_line_col(P, opoff, &l, &c);
                anet_fail_ctx(ANET_E_FORMAT, "model.mil:%d:%d: const '%s'", l, c, S->names[0]);
                P->failed = 1;
                goto done;
            }
        }
        const char *opname = S->has_name ? S->opname : S->names[0];
        if (op_name_used(P, opname)) {
            anet_mil_perr_at(P, opoff, "op name '%s' used twice", opname);
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
            anet_mil_perr_at(P, opoff, "op name '%s' used twice", opname);
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
    anet_mil_line_col(P, opoff, &l, &c);
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
    if (anet_mil_expect_word(P, "buildInfo") || anet_mil_expect_punct(P, '=', "after buildInfo") || anet_mil_expect_word(P, "dict") ||
        anet_mil_expect_punct(P, '<', "after dict"))
        return -1;
    size_t off = P->t.off;
    if (anet_mil_parse_type(P, &kt, &tf1) || anet_mil_expect_punct(P, ',', "between the dict types") || anet_mil_parse_type(P, &vt, &tf2) ||
        anet_mil_expect_punct(P, '>', "to close the dict type"))
        return -1;
    if (kt.dtype != ANET_DT_STRING || vt.dtype != ANET_DT_STRING) return anet_mil_perr_at(P, off, "buildInfo must map strings to strings");
    anet_mil_note_style(P, tf1);
    if (anet_mil_expect_punct(P, '(', "to open the buildInfo value") || anet_mil_expect_punct(P, '{', "to open the buildInfo dict")) return -1;
    while (!anet_mil_is_punct(P, '}')) {
        if (g->nbuild_info > 0 && anet_mil_expect_punct(P, ',', "between buildInfo entries")) return -1;
        if (g->nbuild_info >= MAX_BUILD_INFO) return anet_mil_perr_at(P, P->t.off, "more than %d buildInfo entries", MAX_BUILD_INFO);
        char k[MAX_TOKEN + 1], v[MAX_TOKEN + 1];
        if (anet_mil_expect_punct(P, '{', "to open a buildInfo entry") || anet_mil_take_string(P, k, sizeof k) ||
            anet_mil_expect_punct(P, ',', "between key and value") || anet_mil_take_string(P, v, sizeof v) ||
            anet_mil_expect_punct(P, '}', "to close a buildInfo entry"))
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
    if (anet_mil_next(P) || anet_mil_expect_punct(P, ')', "to close the buildInfo value") || anet_mil_expect_punct(P, ']', "to close the program attributes"))
        return -1;
    return 0;
}

static int parse_program(parser *P) {
    anet_graph *g = P->g;
    if (anet_mil_next(P)) return -1;
    /* The magic check: a file that is not MIL text is not quoted back (it may be anything). */
    if (P->t.kind != T_EOF && !anet_mil_is_word(P, "program"))
        return anet_mil_perr_at(P, P->t.off, "not MIL text: it does not start with 'program('");
    if (anet_mil_expect_word(P, "program") || anet_mil_expect_punct(P, '(', "after 'program'")) return -1;
    if (P->t.kind != T_NUM) EXPECTED(P, "a program version");
    for (size_t i = 0; i < P->t.n; i++)
        if (!anet_mil_is_digit(P->s[P->t.off + i]) && P->s[P->t.off + i] != '.')
            return anet_mil_perr_at(P, P->t.off, "bad program version");
    if (set_str(P, &g->program_version, P->s + P->t.off, P->t.n) || anet_mil_next(P) ||
        anet_mil_expect_punct(P, ')', "after the program version"))
        return -1;
    if (anet_mil_is_punct(P, '[')) {
        if (anet_mil_next(P) || parse_build_info(P)) return -1;
    }
    if (anet_mil_expect_punct(P, '{', "to open the program")) return -1;
    if (anet_mil_expect_word(P, "func")) return -1;
    if (P->t.kind != T_IDENT) EXPECTED(P, "a function name");
    if (set_str(P, &g->func_name, P->s + P->t.off, P->t.n) || anet_mil_next(P) || anet_mil_expect_punct(P, '<', "after the function name"))
        return -1;
    if (P->t.kind != T_IDENT) EXPECTED(P, "an opset name");
    if (set_str(P, &g->opset, P->s + P->t.off, P->t.n) || anet_mil_next(P) || anet_mil_expect_punct(P, '>', "after the opset") ||
        anet_mil_expect_punct(P, '(', "to open the inputs"))
        return -1;
    while (!anet_mil_is_punct(P, ')')) {
        if (g->ninputs > 0 && anet_mil_expect_punct(P, ',', "between inputs")) return -1;
        anet_type t;
        int tf;
        char name[ANET__MAX_NAME + 1];
        if (anet_mil_parse_type(P, &t, &tf)) return -1;
        size_t noff = P->t.off;
        if (anet_mil_take_ident(P, name, sizeof name, "an input name")) return -1;
        int v = anet_graph_input(g, name, t);
        if (v < 0) {
            int l, c;
            anet_mil_line_col(P, noff, &l, &c);
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
    if (anet_mil_next(P) || anet_mil_expect_punct(P, '{', "to open the function body")) return -1;
    while (!anet_mil_is_punct(P, '}')) {
        if (P->t.kind == T_EOF) EXPECTED(P, "an op or '}'");
        if (parse_stmt(P)) return -1;
    }
    if (anet_mil_next(P)) return -1;
    if (P->t.kind != T_ARROW) EXPECTED(P, "'->' after the function body");
    if (anet_mil_next(P) || anet_mil_expect_punct(P, '(', "to open the outputs")) return -1;
    int outs[ANET__MAX_GRAPH_IO], nout = 0;
    while (!anet_mil_is_punct(P, ')')) {
        if (nout > 0 && anet_mil_expect_punct(P, ',', "between outputs")) return -1;
        if (nout >= ANET__MAX_GRAPH_IO) return anet_mil_perr_at(P, P->t.off, "too many outputs");
        char name[ANET__MAX_NAME + 1];
        size_t off = P->t.off;
        if (anet_mil_take_ident(P, name, sizeof name, "an output name") || find_value(P, name, off, &outs[nout])) return -1;
        for (int i = 0; i < nout; i++)
            if (outs[i] == outs[nout]) return anet_mil_perr_at(P, off, "output '%s' listed twice", name);
        nout++;
    }
    if (anet_mil_next(P) || anet_mil_expect_punct(P, ';', "after the outputs")) return -1;
    if (nout == 0) return anet_mil_perr_at(P, P->t.off, "the function has no outputs");
    if (anet_graph_set_outputs(g, nout, outs) != ANET_OK) {
        anet_fail_ctx(ANET_E_FORMAT, "model.mil");
        P->failed = 1;
        return -1;
    }
    if (anet_mil_is_word(P, "func")) return anet_mil_perr_at(P, P->t.off, "more than one function is not supported");
    if (anet_mil_expect_punct(P, '}', "to close the program")) return -1;
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
    if (anet_mil_check_utf8(&P)) return ANET_E_FORMAT;
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
