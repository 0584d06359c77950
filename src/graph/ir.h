/* The graph IR: typed SSA over tensors of rank 0..5, shaped like a MIL program so that
 * IR -> MIL text -> IR is lossless. Operation parameters (strides, flags, axes) are named
 * const values, exactly as MIL writes them; weights are const values that may name a
 * BLOBFILE location. This header is the contract between the graph, MIL, plan, runtime and
 * train modules: change it only together with all of them.
 *
 * Ownership: the graph owns every string, array and const payload it holds (copied in).
 * Value and op ids are indices into g->values / g->ops and stay valid while the graph lives.
 * Functions that can fail return a negative id or an anet_status and set anet_last_error().
 */
#ifndef ANET_GRAPH_IR_H
#define ANET_GRAPH_IR_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"

#define ANET_MAX_RANK 5
/* Bound on the elements of one tensor: keeps hostile shapes from asking for huge buffers
 * (2^31 fp16 elements = 4 GiB, beyond any ANE surface). */
#define ANET_MAX_ELEMENTS ((int64_t)1 << 31)

typedef enum anet_dtype {
    ANET_DT_INVALID = 0,
    ANET_DT_FP16,
    ANET_DT_FP32,
    ANET_DT_INT32,
    ANET_DT_BOOL,
    ANET_DT_STRING, /* scalar only: const parameters such as pad_type or cast's dtype */
    ANET_DT_UINT64, /* scalar only: BLOBFILE offsets */
    ANET_DT_INT8,
    ANET_DT_UINT8
} anet_dtype;

typedef struct anet_type {
    anet_dtype dtype;
    int rank; /* 0 = scalar */
    int64_t dims[ANET_MAX_RANK];
} anet_type;

/* Op kinds with their MIL names, in one list so the enum and the names never drift. */
#define ANET_OP_LIST(X)                                                                         \
    X(CONST, "const") X(CAST, "cast") X(ADD, "add") X(SUB, "sub") X(MUL, "mul")                 \
    X(REAL_DIV, "real_div") X(MAXIMUM, "maximum") X(MINIMUM, "minimum") X(RELU, "relu")         \
    X(SIGMOID, "sigmoid") X(TANH, "tanh") X(EXP, "exp") X(LOG, "log") X(POW, "pow")             \
    X(SQRT, "sqrt") X(RSQRT, "rsqrt") X(ABS, "abs") X(SQUARE, "square") X(GREATER, "greater")   \
    X(GREATER_EQUAL, "greater_equal") X(LESS, "less") X(EQUAL, "equal") X(SELECT, "select")     \
    X(SOFTMAX, "softmax") X(REDUCE_SUM, "reduce_sum") X(REDUCE_MEAN, "reduce_mean")             \
    X(REDUCE_MAX, "reduce_max") X(MATMUL, "matmul") X(LINEAR, "linear") X(CONV, "conv")         \
    X(CONV_TRANSPOSE, "conv_transpose") X(MAX_POOL, "max_pool") X(AVG_POOL, "avg_pool")         \
    X(RESHAPE, "reshape") X(TRANSPOSE, "transpose") X(SLICE_BY_SIZE, "slice_by_size")           \
    X(CONCAT, "concat") X(GELU, "gelu") X(IDENTITY, "identity")

typedef enum anet_opkind {
#define ANET_OP_ENUM_(id, s) ANET_OP_##id,
    ANET_OP_LIST(ANET_OP_ENUM_)
#undef ANET_OP_ENUM_
    ANET_OP_COUNT_,
    ANET_OP_UNKNOWN = 1000 /* parsed but not known here: op->type keeps its MIL name */
} anet_opkind;

const char *anet_op_kind_name(anet_opkind k);  /* "add"; "?" for UNKNOWN */
anet_opkind anet_op_kind_lookup(const char *s); /* ANET_OP_UNKNOWN if not in the list */
const char *anet_dtype_name(anet_dtype t);      /* MIL spelling: "fp16", "int32", ... */
anet_dtype anet_dtype_lookup(const char *s);    /* ANET_DT_INVALID if unknown */
size_t anet_dtype_size(anet_dtype t);           /* bytes per element; 0 for STRING */

/* Element count of a type (1 for a scalar); -1 if a dim is < 1 or the count exceeds
 * ANET_MAX_ELEMENTS. */
int64_t anet_type_elements(const anet_type *t);
anet_type anet_type_make(anet_dtype dt, int rank, const int64_t *dims);
int anet_type_equal(const anet_type *a, const anet_type *b);
/* "tensor<fp16, [1, 64, 1, 32]>" into buf (always NUL-terminated); returns buf. */
char *anet_type_str(const anet_type *t, char *buf, size_t len);

typedef struct anet_value {
    char *name;
    anet_type type;
    int producer; /* op id that defines it, -1 for a function input */
} anet_value;

/* One named argument of an op: a single value, or a tuple such as concat's values = (a, b). */
typedef struct anet_arg {
    char *key;
    int n;
    int *vals;    /* value ids */
    int is_tuple; /* written as (a, b), even when n == 1 */
} anet_arg;

/* Payload of a const op. Elements are packed row-major: fp16 as anet_f16 (uint16_t bits),
 * fp32 as float, int32 as int32_t, bool/int8/uint8 as one byte, uint64 as uint64_t; a string
 * is its NUL-terminated characters (nbytes includes the NUL). */
typedef struct anet_const {
    anet_type type;
    void *data;
    size_t nbytes;
    char *blob_path;      /* non-NULL: stored in a weight file as BLOBFILE(path, offset) */
    uint64_t blob_offset; /* the record's offset (ANE_FACTS.md: names the record, not the data) */
} anet_const;

typedef struct anet_op {
    anet_opkind kind;
    char *type; /* the MIL op name as written */
    char *name; /* the [name = ...] attribute */
    anet_arg *args;
    int nargs;
    int *outputs; /* value ids */
    int noutputs;
    anet_const *val; /* const ops only */
} anet_op;

typedef enum anet_mil_dialect {
    ANET_MIL_IOS18 = 0, /* program(1.3), func main<ios18>, string("x") */
    ANET_MIL_IOS16 = 1  /* program(1.0), func main<ios16>, tensor<string, []>("x") */
} anet_mil_dialect;

typedef struct anet_kv { char *key, *value; } anet_kv;

typedef struct anet_graph {
    anet_mil_dialect dialect;
    char *program_version; /* "1.3", "1.0", ... as parsed or chosen */
    char *opset;           /* "ios18", "ios16", ... */
    char *func_name;       /* "main" */
    anet_kv *build_info;   /* the [buildInfo = dict<...>] pairs, kept for round trips */
    int nbuild_info;
    int *inputs; /* value ids, declaration order */
    int ninputs;
    int *outputs; /* value ids, in the order of "-> (...)" */
    int noutputs;
    anet_value *values;
    int nvalues, cap_values;
    anet_op *ops; /* in program order; an op only uses values defined before it */
    int nops, cap_ops;
    int name_counter; /* for unique generated names */
} anet_graph;

anet_graph *anet_graph_new(anet_mil_dialect dialect); /* NULL only when out of memory */
void anet_graph_free(anet_graph *g);

/* Function input; -1 if the name is taken or the type invalid. */
int anet_graph_input(anet_graph *g, const char *name, anet_type t);
/* Const op + its value (data copied; nbytes must match the type). name NULL: generated. */
int anet_graph_const(anet_graph *g, const char *name, anet_type t, const void *data, size_t nbytes);
/* Convenience consts for parameters. */
int anet_graph_const_bool(anet_graph *g, const char *name, int v);
int anet_graph_const_int32(anet_graph *g, const char *name, int32_t v);
int anet_graph_const_int32s(anet_graph *g, const char *name, int n, const int32_t *v); /* tensor<int32,[n]> */
int anet_graph_const_string(anet_graph *g, const char *name, const char *s);
int anet_graph_const_fp16(anet_graph *g, const char *name, float v);              /* scalar fp16 */
int anet_graph_const_fp32(anet_graph *g, const char *name, float v);              /* scalar fp32 */

/* Adds an op with named single-value arguments; output types come from shape inference.
 * name NULL: generated ("op_12"); the output value takes the op's name. Returns the first
 * output's value id, -1 on error (unknown key, wrong type, bad shape: message says which). */
int anet_graph_op(anet_graph *g, anet_opkind kind, const char *name, int nargs,
                  const char *const *keys, const int *vals);
/* The general form used by the parser: any args (tuples too), explicit output names and
 * declared types. Known ops are checked against shape inference; unknown ops are kept as
 * written (the checker reports them). Returns the op id or -1. */
int anet_graph_op_raw(anet_graph *g, const char *type, const char *name, int nargs,
                      const anet_arg *args, int noutputs, const char *const *out_names,
                      const anet_type *out_types);
anet_status anet_graph_set_outputs(anet_graph *g, int n, const int *vals);

/* Shape and dtype inference for one op given its args; fills out[0..*nout). */
anet_status anet_infer(const anet_graph *g, const anet_op *op, anet_type *out, int max_out, int *nout);
/* Re-checks the whole graph: names unique, uses after definitions, inferred == declared types. */
anet_status anet_graph_verify(const anet_graph *g);

int anet_graph_find(const anet_graph *g, const char *value_name);        /* value id or -1 */
const anet_arg *anet_op_arg(const anet_op *op, const char *key);          /* NULL if absent */
int anet_op_arg_value(const anet_op *op, const char *key);                /* first value id or -1 */
const anet_const *anet_graph_const_of(const anet_graph *g, int value_id); /* NULL unless const */
/* Read a scalar / small int32 tensor const argument; return 0 on success. */
int anet_const_get_int(const anet_const *c, int64_t *out);
int anet_const_get_ints(const anet_const *c, int64_t *out, int max, int *n);
int anet_const_get_bool(const anet_const *c, int *out);
int anet_const_get_float(const anet_const *c, double *out);
const char *anet_const_get_string(const anet_const *c); /* NULL unless a string const */

#endif
