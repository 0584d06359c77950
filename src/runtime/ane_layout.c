/* The compiled model's I/O layout applied to a program (see ane_layout.h). */
#include "runtime/ane_layout.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

void anet_ane_tensor_rows(const anet_ane_tensor_sig *t, size_t *rows, size_t *row_bytes) {
    const anet_type *ty = &t->type;
    int64_t w = ty->rank > 0 ? ty->dims[ty->rank - 1] : 1;
    size_t es = anet_dtype_size(ty->dtype);
    *row_bytes = (size_t)(w > 0 ? w : 1) * (es ? es : 1);
    *rows = t->nbytes / *row_bytes;
}

size_t anet_ane_tensor_need(const anet_ane_tensor_sig *t, size_t stride) {
    size_t rows, rb;
    anet_ane_tensor_rows(t, &rows, &rb);
    if (stride < rb) stride = rb;
    size_t need = rows ? (rows - 1) * stride + rb : t->nbytes;
    size_t strided = rows * ((rb + 63) / 64 * 64);
    return need > strided ? need : strided;
}

/* The model's view of a declared shape: W = last axis, H = the one before, C = the rest. */
static void chw(const anet_type *ty, int64_t *c, int64_t *h, int64_t *w) {
    int r = ty->rank;
    *w = r > 0 ? ty->dims[r - 1] : 1;
    *h = r > 1 ? ty->dims[r - 2] : 1;
    *c = 1;
    for (int a = 0; a < r - 2; a++) *c *= ty->dims[a];
}

static anet_status apply_side(const anet_ane_io_entry *e, int n, const anet_ane_tensor_sig *t, int nt,
                              const char *side, int *order, size_t *stride) {
    if (n != nt)
        return anet_fail(ANET_E_MISMATCH, "ane backend: the compiled model lists %d %ss, the program "
                         "declares %d", n, side, nt);
    for (int i = 0; i < nt; i++) stride[i] = 0;
    for (int k = 0; k < n; k++) {
        int j = -1;
        for (int i = 0; i < nt && j < 0; i++)
            if (strncmp(t[i].name, e[k].symbol, sizeof e[k].symbol) == 0) j = i;
        if (j < 0)
            return anet_fail(ANET_E_MISMATCH, "ane backend: the compiled model lists %s '%.63s', which "
                             "the program does not declare", side, e[k].symbol);
        if (stride[j])
            return anet_fail(ANET_E_MISMATCH, "ane backend: the compiled model lists %s '%s' twice", side,
                             t[j].name);
        int64_t c, h, w;
        chw(&t[j].type, &c, &h, &w);
        size_t rows, rb;
        anet_ane_tensor_rows(&t[j], &rows, &rb);
        if (e[k].channels != c || e[k].height != h || e[k].width != w ||
            (e[k].row_stride && (size_t)e[k].row_stride < rb))
            return anet_fail(ANET_E_MISMATCH, "ane backend: %s '%s': the compiled model lays it out as "
                             "C=%lld H=%lld W=%lld (row stride %lld), the planner expected C=%lld H=%lld "
                             "W=%lld", side, t[j].name, (long long)e[k].channels, (long long)e[k].height,
                             (long long)e[k].width, (long long)e[k].row_stride, (long long)c, (long long)h,
                             (long long)w);
        order[k] = j;
        stride[j] = e[k].row_stride ? (size_t)e[k].row_stride : rb;
    }
    return ANET_OK;
}

anet_status anet_ane_layout_apply(const anet_ane_io_layout *l, const anet_ane_sig *s, int *in_order,
                                  int *out_order, size_t *in_stride, size_t *out_stride) {
    if (l->ninputs < 0 || l->ninputs > ANET_ANE_IO_MAX || l->noutputs < 0 || l->noutputs > ANET_ANE_IO_MAX)
        return anet_fail(ANET_E_MISMATCH, "ane backend: the compiled model states %d inputs and %d outputs",
                         l->ninputs, l->noutputs);
    anet_status st = apply_side(l->inputs, l->ninputs, s->in, s->nin, "input", in_order, in_stride);
    if (st == ANET_OK) st = apply_side(l->outputs, l->noutputs, s->out, s->nout, "output", out_order, out_stride);
    return st;
}

void anet_ane_rows_copy(void *dst, size_t dst_stride, const void *src, size_t src_stride, size_t rows,
                        size_t row_bytes) {
    if (dst_stride == row_bytes && src_stride == row_bytes) {
        memcpy(dst, src, rows * row_bytes);
        return;
    }
    for (size_t i = 0; i < rows; i++)
        memcpy((unsigned char *)dst + i * dst_stride, (const unsigned char *)src + i * src_stride, row_bytes);
}
