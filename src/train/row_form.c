/* Per-step values in the row form (see row_form.h). */
#include "train/row_form.h"

#include <stdlib.h>

#include "core/error.h"
#include "graph/build.h"

#define W32 ANET_ROW_WIDTH

static const anet_type *type_of(const anet_graph *g, int v) { return v < 0 ? NULL : &g->values[v].type; }

static int reshape4(anet_graph *g, int x, int64_t a, int64_t b, int64_t c, int64_t d) {
    int32_t s[4] = {(int32_t)a, (int32_t)b, (int32_t)c, (int32_t)d};
    return x < 0 ? -1 : anet_b_reshape(g, NULL, x, 4, s);
}

static int reduce(anet_graph *g, anet_opkind k, const char *name, int x, int n, const int32_t *axes) {
    return x < 0 ? -1 : anet_b_reduce(g, k, name, x, n, axes, 1);
}

/* x + zeros [1,1,rows,cols]: a [1,1,1,cols] row stacked `rows` times (a row broadcast over rows). */
static int stack(anet_graph *g, int x, int64_t rows, int64_t cols) {
    if (x < 0) return -1;
    int64_t dims[4] = {1, 1, rows, cols};
    size_t n = (size_t)(rows * cols);
    void *z = calloc(n, 2);
    if (!z) return anet_fail(ANET_E_NOMEM, "row form: out of memory"), -1;
    int c = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, dims), z, n * 2);
    free(z);
    return c < 0 ? -1 : anet_b_binary(g, ANET_OP_ADD, NULL, x, c);
}

static int row_shaped(const anet_graph *g, int v) {
    const anet_type *t = type_of(g, v);
    if (!t) return 0;
    if (t->rank != 4 || t->dtype != ANET_DT_FP16 || t->dims[3] % W32 != 0)
        return anet_fail(ANET_E_INTERNAL, "row form: value '%s' is not fp16 rank 4 with a width of a multiple of 32",
                         g->values[v].name ? g->values[v].name : "?"),
               0;
    return 1;
}

/* v's rows folded into one [1,1,1,W] row, then its width into a [1,1,1,32] row (partial results). */
static int fold32(anet_graph *g, anet_opkind k, int v) {
    static const int32_t rows[3] = {0, 1, 2}, ax2[1] = {2};
    if (!row_shaped(g, v)) return -1;
    int64_t w = type_of(g, v)->dims[3];
    int r = reduce(g, k, NULL, v, 3, rows);
    if (w > W32) r = reduce(g, k, NULL, reshape4(g, r, 1, 1, w / W32, W32), 1, ax2);
    return r;
}

int anet_row_all(anet_graph *g, anet_opkind k, int v) {
    static const int32_t ax2[1] = {2}, swap[4] = {0, 1, 3, 2};
    int p = fold32(g, k, v);
    /* element j of the stacked and transposed row block is row j's partial result in every
     * column; reducing over the rows gives every column the total */
    int t = stack(g, p, W32, W32);
    t = t < 0 ? -1 : anet_b_transpose(g, NULL, t, 4, swap);
    return reduce(g, k, NULL, t, 1, ax2);
}

int anet_row_widen(anet_graph *g, int row, int64_t w) {
    if (!row_shaped(g, row)) return -1;
    if (w % W32 != 0 || w < W32) return anet_fail(ANET_E_INTERNAL, "row form: width %lld is not a multiple of 32", (long long)w), -1;
    if (w == W32) return row;
    return reshape4(g, stack(g, row, w / W32, W32), 1, 1, 1, w);
}

int anet_row_finite_flag(anet_graph *g, const char *name, int n, const int *vals, int rows) {
    static const int32_t all[4] = {0, 1, 2, 3};
    int acc = -1, zero = anet_graph_const_fp16(g, NULL, 0.0f);
    for (int i = 0; i < n; i++) {
        int z = vals[i] < 0 ? -1 : anet_b_binary(g, ANET_OP_MUL, NULL, vals[i], zero);
        const anet_type *t = type_of(g, z);
        /* a value of another shape: one scalar (the checker then reports the broadcast) */
        int fold = rows && t && t->rank == 4 && t->dims[3] % W32 == 0;
        int s = fold ? fold32(g, ANET_OP_REDUCE_SUM, z) : reduce(g, ANET_OP_REDUCE_SUM, NULL, z, 4, all);
        if (s < 0) return -1;
        acc = acc < 0 ? s : anet_b_binary(g, ANET_OP_ADD, NULL, acc, s);
        if (acc < 0) return -1;
    }
    int cond = acc < 0 ? -1 : anet_b_binary(g, ANET_OP_GREATER, NULL, anet_graph_const_fp16(g, NULL, 1.0f), acc);
    return cond < 0 ? -1
                    : anet_b_select(g, name, cond, anet_graph_const_fp16(g, NULL, 1.0f), anet_graph_const_fp16(g, NULL, 0.0f));
}
