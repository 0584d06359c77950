/* Private to the MIL parser's files (mil_lex.c, mil_values.c, mil_parse.c): the parser state,
 * the token, literals, and the functions one of them calls in another. Not an API. */
#ifndef ANET_MIL_PARSE_INTERNAL_H
#define ANET_MIL_PARSE_INTERNAL_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
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

#define EXPECTED(P, what)                                                             \
    do {                                                                              \
        char tb_[64];                                                                 \
        return anet_mil_perr_at(P, (P)->t.off, "expected %s, got %s", what,           \
                                anet_mil_tok_desc(P, tb_, sizeof tb_));               \
    } while (0)

/* A literal value as read: its bytes in the declared type, or a BLOBFILE reference. */
typedef struct lit {
    anet_type type;
    uint8_t *data;
    size_t nbytes, cap;
    char *blob_path;
    uint64_t blob_offset;
    int is_blob;
} lit;

/* mil_lex.c: positions, errors, tokens, numbers */
void anet_mil_line_col(const parser *P, size_t off, int *line, int *col);
int anet_mil_perr_at(parser *P, size_t off, const char *fmt, ...) ANET_PRINTF(3, 4);
const char *anet_mil_tok_desc(const parser *P, char *buf, size_t n);
int anet_mil_is_digit(int c);
int anet_mil_check_utf8(parser *P);
int anet_mil_next(parser *P);
int anet_mil_is_punct(const parser *P, char c);
int anet_mil_is_word(const parser *P, const char *w);
int anet_mil_expect_punct(parser *P, char c, const char *ctx);
int anet_mil_expect_word(parser *P, const char *w);
int anet_mil_take_ident(parser *P, char *buf, size_t n, const char *what);
int anet_mil_take_string(parser *P, char *buf, size_t n);
int anet_mil_take_int(parser *P, int64_t lo, int64_t hi, int64_t *out, const char *what);
int anet_mil_take_float(parser *P, double *out);
uint16_t anet_mil_d_to_f16(double d);

/* mil_values.c: types and literal values */
int anet_mil_parse_type(parser *P, anet_type *t, int *tensor_form);
void anet_mil_note_style(parser *P, int tensor_form);
void anet_mil_lit_free(lit *L);
int anet_mil_parse_typed_value(parser *P, lit *L);
int anet_mil_parse_string_value(parser *P, char *buf, size_t n);

#endif
