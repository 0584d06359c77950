/* Host tensors [N, C, H, W] in fp16 or fp32, and the ANE surface layout helpers.
 *
 * Layout facts (ANE_FACTS.md): a program input is read packed from byte 0 as its declared
 * shape; the hardware's own tiled layout rounds each row to 64 bytes
 * (eiln/ane libane: row stride = round_up(W * elem, 64)). A batch of B samples with F features
 * travels as [1, F, 1, B]: feature-major, so packing is a transpose of the row-major [B][F]. */
#ifndef ANET_CORE_TENSOR_H
#define ANET_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "core/fp16.h"
#include "graph/ir.h" /* anet_dtype: one dtype enum for the graph and the tensors */

typedef struct anet_tensor {
    int64_t n, c, h, w;  /* each >= 1 */
    anet_dtype dtype;    /* ANET_DT_FP16 (anet_f16 elements) or ANET_DT_FP32 (float) */
    void *data;          /* owned, zero-initialised, contiguous NCHW (w fastest) */
} anet_tensor;

/* Allocates a zeroed tensor. Fails with ANET_E_INVALID for a dtype other than fp16/fp32 or a
 * dimension < 1, ANET_E_NOMEM when the element count exceeds ANET_MAX_ELEMENTS (graph/ir.h) or the
 * allocation fails. On failure *t is left empty (data NULL), so anet_tensor_free is safe. */
anet_status anet_tensor_create(anet_tensor *t, anet_dtype dtype, int64_t n, int64_t c, int64_t h,
                               int64_t w);
/* Frees the buffer and empties *t; safe on an empty or already freed tensor, and on NULL. */
void anet_tensor_free(anet_tensor *t);

size_t anet_tensor_numel(const anet_tensor *t);
size_t anet_tensor_nbytes(const anet_tensor *t);
/* Bytes per element of a tensor dtype: 2 for fp16, 4 for fp32, 0 otherwise. */
size_t anet_tensor_elem_size(anet_dtype dtype);
/* Linear NCHW index; indices must be in range (not checked in release builds). */
size_t anet_tensor_index(const anet_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w);
/* Element access as float; fp16 stores round to nearest even. */
float anet_tensor_get(const anet_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w);
void anet_tensor_set(anet_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w, float v);
/* Copies src into dst converting the dtype (bulk fp16 paths); shapes must be equal
 * (ANET_E_MISMATCH otherwise). */
anet_status anet_tensor_copy(anet_tensor *dst, const anet_tensor *src);

/* ---- surface layout ---- */

/* round_up(x, align) for a power-of-two align; 0 on overflow. */
size_t anet_layout_round_up(size_t x, size_t align);
/* Bytes of one row of width_elems elements, rounded up to 64 bytes; 0 on overflow. */
size_t anet_layout_row_stride(size_t width_elems, size_t elem_size);
/* Bytes of a packed [1, C, 1, S] tensor (C * S * elem_size); 0 on overflow. */
size_t anet_layout_packed_bytes(size_t c, size_t s, size_t elem_size);
/* Bytes of an [N, C, H, W] surface whose rows are 64-byte strided:
 * N * C * H * anet_layout_row_stride(W, elem_size); 0 on overflow. */
size_t anet_layout_strided_bytes(size_t n, size_t c, size_t h, size_t w, size_t elem_size);

/* ---- batch packing, run every training step: blocked transposes with bulk conversion ---- */

/* x holds B rows of F floats (row-major [B][F]); out receives F rows of B fp16 values, ld (>= B)
 * elements apart: out[f * ld + b] = fp16(x[b * F + f]) (round to nearest even); out[f * ld + b]
 * for b >= B is not touched (ld > B: rows of a padded device tensor). No-op if B or F <= 0. */
void anet_pack_batch_f32(const float *x, int B, int F, anet_f16 *out, size_t ld);
/* Same for bytes (e.g. pixels), sample b read from x[b] (F bytes each, so samples are packed
 * from where they lie, without a gather): out[f * ld + b] = fp16((float)x[b][f] * scale), the
 * product taken in fp32 then rounded once to fp16. */
void anet_pack_batch_u8(const uint8_t *const *x, int B, int F, float scale, anet_f16 *out, size_t ld);
/* The inverse of packing: in is [1, F, 1, B] fp16, x receives B rows of F floats (exact). */
void anet_unpack_batch(const anet_f16 *in, int B, int F, float *x);

#endif
