/* Convenience builders: parameter consts + anet_graph_op. */
#include "graph/build.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "graph/ir_util.h"

/* Name for a parameter const: "<op>_<key>" when free, else generated. */
static const char *pname(const anet_graph *g, const char *op, const char *key, char *buf, size_t len) {
    if (!op) return NULL;
    int n = snprintf(buf, len, "%s_%s", op, key);
    if (n < 0 || (size_t)n >= len || !anet__valid_name(buf) || anet_graph_find(g, buf) >= 0) return NULL;
    for (int i = 0; i < g->nops; i++)
        if (g->ops[i].name && strcmp(g->ops[i].name, buf) == 0) return NULL;
    return buf;
}

static int c_bool(anet_graph *g, const char *op, const char *key, int v) {
    char b[300];
    return anet_graph_const_bool(g, pname(g, op, key, b, sizeof b), v);
}
static int c_int(anet_graph *g, const char *op, const char *key, int32_t v) {
    char b[300];
    return anet_graph_const_int32(g, pname(g, op, key, b, sizeof b), v);
}
static int c_ints(anet_graph *g, const char *op, const char *key, int n, const int32_t *v) {
    char b[300];
    return anet_graph_const_int32s(g, pname(g, op, key, b, sizeof b), n, v);
}
static int c_str(anet_graph *g, const char *op, const char *key, const char *s) {
    char b[300];
    return anet_graph_const_string(g, pname(g, op, key, b, sizeof b), s);
}

static int valid(const anet_graph *g, int v) { return g && v >= 0 && v < g->nvalues; }

int anet_b_unary(anet_graph *g, anet_opkind k, const char *name, int x) {
    const char *keys[] = {"x"};
    return anet_graph_op(g, k, name, 1, keys, &x);
}

int anet_b_binary(anet_graph *g, anet_opkind k, const char *name, int x, int y) {
    const char *keys[] = {"x", "y"};
    int v[] = {x, y};
    return anet_graph_op(g, k, name, 2, keys, v);
}

int anet_b_select(anet_graph *g, const char *name, int cond, int a, int b) {
    const char *keys[] = {"cond", "a", "b"};
    int v[] = {cond, a, b};
    return anet_graph_op(g, ANET_OP_SELECT, name, 3, keys, v);
}

int anet_b_cast(anet_graph *g, const char *name, int x, anet_dtype to) {
    const char *keys[] = {"x", "dtype"};
    int v[] = {x, c_str(g, name, "dtype", anet_dtype_name(to))};
    if (v[1] < 0) return -1;
    return anet_graph_op(g, ANET_OP_CAST, name, 2, keys, v);
}

int anet_b_softmax(anet_graph *g, const char *name, int x, int axis) {
    const char *keys[] = {"x", "axis"};
    int v[] = {x, c_int(g, name, "axis", axis)};
    if (v[1] < 0) return -1;
    return anet_graph_op(g, ANET_OP_SOFTMAX, name, 2, keys, v);
}

int anet_b_reduce(anet_graph *g, anet_opkind k, const char *name, int x, int naxes,
                  const int32_t *axes, int keep_dims) {
    const char *keys[3] = {"x", "keep_dims", "axes"};
    int v[3] = {x, c_bool(g, name, "keep_dims", keep_dims), -1};
    if (v[1] < 0) return -1;
    int n = 2;
    if (naxes > 0) {
        v[2] = c_ints(g, name, "axes", naxes, axes);
        if (v[2] < 0) return -1;
        n = 3;
    }
    return anet_graph_op(g, k, name, n, keys, v);
}

int anet_b_matmul(anet_graph *g, const char *name, int x, int y, int transpose_x, int transpose_y) {
    const char *keys[] = {"x", "y", "transpose_x", "transpose_y"};
    int v[] = {x, y, c_bool(g, name, "transpose_x", transpose_x), c_bool(g, name, "transpose_y", transpose_y)};
    if (v[2] < 0 || v[3] < 0) return -1;
    return anet_graph_op(g, ANET_OP_MATMUL, name, 4, keys, v);
}

int anet_b_linear(anet_graph *g, const char *name, int x, int weight, int bias) {
    const char *keys[] = {"x", "weight", "bias"};
    int v[] = {x, weight, bias};
    return anet_graph_op(g, ANET_OP_LINEAR, name, bias >= 0 ? 3 : 2, keys, v);
}

static int conv_common(anet_graph *g, anet_opkind k, const char *name, int x, int weight, int bias,
                       const int32_t *strides, const char *pad_type, const int32_t *pad,
                       const int32_t *dilations, int groups, const int32_t *output_shape) {
    if (!valid(g, x)) {
        anet_fail(ANET_E_INVALID, "%s: x names no value", anet_op_kind_name(k));
        return -1;
    }
    int rank = g->values[x].type.rank, nsp = rank - 2;
    if (nsp < 1 || nsp > 3) {
        anet_fail(ANET_E_INVALID, "%s '%s': x must have rank 3..5, got %d", anet_op_kind_name(k),
                  name ? name : "?", rank);
        return -1;
    }
    int32_t ones[3] = {1, 1, 1}, zeros[6] = {0};
    const char *keys[10];
    int v[10], n = 0;
    keys[n] = "x"; v[n++] = x;
    keys[n] = "weight"; v[n++] = weight;
    if (bias >= 0) { keys[n] = "bias"; v[n++] = bias; }
    keys[n] = "strides"; v[n++] = c_ints(g, name, "strides", nsp, strides ? strides : ones);
    keys[n] = "pad_type"; v[n++] = c_str(g, name, "pad_type", pad_type ? pad_type : pad ? "custom" : "valid");
    keys[n] = "pad"; v[n++] = c_ints(g, name, "pad", 2 * nsp, pad ? pad : zeros);
    keys[n] = "dilations"; v[n++] = c_ints(g, name, "dilations", nsp, dilations ? dilations : ones);
    keys[n] = "groups"; v[n++] = c_int(g, name, "groups", groups);
    if (output_shape) { keys[n] = "output_shape"; v[n++] = c_ints(g, name, "output_shape", rank, output_shape); }
    for (int i = bias >= 0 ? 3 : 2; i < n; i++) /* the parameter consts */
        if (v[i] < 0) return -1;
    return anet_graph_op(g, k, name, n, keys, v);
}

int anet_b_conv(anet_graph *g, const char *name, int x, int weight, int bias,
                const int32_t *strides, const char *pad_type, const int32_t *pad,
                const int32_t *dilations, int groups) {
    return conv_common(g, ANET_OP_CONV, name, x, weight, bias, strides, pad_type, pad, dilations, groups, NULL);
}

int anet_b_conv_transpose(anet_graph *g, const char *name, int x, int weight, int bias,
                          const int32_t *strides, const char *pad_type, const int32_t *pad,
                          const int32_t *dilations, int groups, const int32_t *output_shape) {
    return conv_common(g, ANET_OP_CONV_TRANSPOSE, name, x, weight, bias, strides, pad_type, pad,
                       dilations, groups, output_shape);
}

int anet_b_pool(anet_graph *g, anet_opkind k, const char *name, int x, const int32_t *kernel_sizes,
                const int32_t *strides, const char *pad_type, const int32_t *pad) {
    if (!valid(g, x) || !kernel_sizes) {
        anet_fail(ANET_E_INVALID, "%s: x or kernel_sizes missing", anet_op_kind_name(k));
        return -1;
    }
    int rank = g->values[x].type.rank, nsp = rank - 2;
    if (nsp < 1 || nsp > 3) {
        anet_fail(ANET_E_INVALID, "%s '%s': x must have rank 3..5, got %d", anet_op_kind_name(k),
                  name ? name : "?", rank);
        return -1;
    }
    int32_t ones[3] = {1, 1, 1}, zeros[6] = {0};
    const char *keys[] = {"x", "kernel_sizes", "strides", "pad_type", "pad"};
    int v[] = {x, c_ints(g, name, "kernel_sizes", nsp, kernel_sizes),
               c_ints(g, name, "strides", nsp, strides ? strides : ones),
               c_str(g, name, "pad_type", pad_type ? pad_type : pad ? "custom" : "valid"),
               c_ints(g, name, "pad", 2 * nsp, pad ? pad : zeros)};
    for (int i = 1; i < 5; i++)
        if (v[i] < 0) return -1;
    return anet_graph_op(g, k, name, 5, keys, v);
}

int anet_b_reshape(anet_graph *g, const char *name, int x, int n, const int32_t *shape) {
    const char *keys[] = {"x", "shape"};
    int v[] = {x, c_ints(g, name, "shape", n, shape)};
    if (v[1] < 0) return -1;
    return anet_graph_op(g, ANET_OP_RESHAPE, name, 2, keys, v);
}

int anet_b_transpose(anet_graph *g, const char *name, int x, int n, const int32_t *perm) {
    const char *keys[] = {"x", "perm"};
    int v[] = {x, c_ints(g, name, "perm", n, perm)};
    if (v[1] < 0) return -1;
    return anet_graph_op(g, ANET_OP_TRANSPOSE, name, 2, keys, v);
}

int anet_b_slice_by_size(anet_graph *g, const char *name, int x, int n, const int32_t *begin,
                         const int32_t *size) {
    const char *keys[] = {"x", "begin", "size"};
    int v[] = {x, c_ints(g, name, "begin", n, begin), c_ints(g, name, "size", n, size)};
    if (v[1] < 0 || v[2] < 0) return -1;
    return anet_graph_op(g, ANET_OP_SLICE_BY_SIZE, name, 3, keys, v);
}

int anet_b_concat(anet_graph *g, const char *name, int n, const int *values, int axis, int interleave) {
    if (!g || n < 1 || n > ANET__MAX_TUPLE || !values) {
        anet_fail(ANET_E_INVALID, "concat: need 1..%d values", ANET__MAX_TUPLE);
        return -1;
    }
    int vax = c_int(g, name, "axis", axis), vil = c_bool(g, name, "interleave", interleave);
    if (vax < 0 || vil < 0) return -1;
    anet_arg args[3] = {{"values", n, (int *)values, 1}, {"axis", 1, &vax, 0}, {"interleave", 1, &vil, 0}};
    int id = anet_graph_op_raw(g, "concat", name, 3, args, 0, NULL, NULL);
    return id < 0 ? -1 : g->ops[id].outputs[0];
}
