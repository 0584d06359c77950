/* Host tensors, surface layout arithmetic and the per-step batch (un)packing. */
#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

size_t anet_tensor_elem_size(anet_dtype dtype) {
    switch (dtype) {
    case ANET_DT_FP16: return sizeof(anet_f16);
    case ANET_DT_FP32: return sizeof(float);
    default: return 0;
    }
}

anet_status anet_tensor_create(anet_tensor *t, anet_dtype dtype, int64_t n, int64_t c, int64_t h,
                               int64_t w) {
    if (!t) return anet_fail(ANET_E_INVALID, "tensor: NULL tensor");
    memset(t, 0, sizeof *t);
    size_t es = anet_tensor_elem_size(dtype);
    if (es == 0) return anet_fail(ANET_E_INVALID, "tensor: dtype %d is neither fp16 nor fp32", (int)dtype);
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return anet_fail(ANET_E_INVALID, "tensor: shape [%lld, %lld, %lld, %lld] has a dimension < 1",
                         (long long)n, (long long)c, (long long)h, (long long)w);
    /* Multiply step by step against the bound so no intermediate product can overflow. */
    int64_t dims[4] = {n, c, h, w}, count = 1;
    for (int i = 0; i < 4; i++) {
        if (dims[i] > ANET_MAX_ELEMENTS / count)
            return anet_fail(ANET_E_NOMEM, "tensor: shape [%lld, %lld, %lld, %lld] exceeds %lld elements",
                             (long long)n, (long long)c, (long long)h, (long long)w,
                             (long long)ANET_MAX_ELEMENTS);
        count *= dims[i];
    }
    void *data = calloc((size_t)count, es);
    if (!data)
        return anet_fail(ANET_E_NOMEM, "tensor: cannot allocate %lld bytes", (long long)count * (long long)es);
    t->n = n;
    t->c = c;
    t->h = h;
    t->w = w;
    t->dtype = dtype;
    t->data = data;
    return ANET_OK;
}

void anet_tensor_free(anet_tensor *t) {
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

size_t anet_tensor_numel(const anet_tensor *t) {
    if (!t || !t->data) return 0;
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

size_t anet_tensor_nbytes(const anet_tensor *t) {
    return t ? anet_tensor_numel(t) * anet_tensor_elem_size(t->dtype) : 0;
}

size_t anet_tensor_index(const anet_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
    return (((size_t)n * (size_t)t->c + (size_t)c) * (size_t)t->h + (size_t)h) * (size_t)t->w + (size_t)w;
}

float anet_tensor_get(const anet_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
    size_t i = anet_tensor_index(t, n, c, h, w);
    if (t->dtype == ANET_DT_FP16) return anet_f16_to_f32(((const anet_f16 *)t->data)[i]);
    return ((const float *)t->data)[i];
}

void anet_tensor_set(anet_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w, float v) {
    size_t i = anet_tensor_index(t, n, c, h, w);
    if (t->dtype == ANET_DT_FP16) ((anet_f16 *)t->data)[i] = anet_f32_to_f16(v);
    else ((float *)t->data)[i] = v;
}

anet_status anet_tensor_copy(anet_tensor *dst, const anet_tensor *src) {
    if (!dst || !src || !dst->data || !src->data)
        return anet_fail(ANET_E_INVALID, "tensor copy: empty tensor");
    if (dst->n != src->n || dst->c != src->c || dst->h != src->h || dst->w != src->w)
        return anet_fail(ANET_E_MISMATCH,
                         "tensor copy: shape [%lld, %lld, %lld, %lld] into [%lld, %lld, %lld, %lld]",
                         (long long)src->n, (long long)src->c, (long long)src->h, (long long)src->w,
                         (long long)dst->n, (long long)dst->c, (long long)dst->h, (long long)dst->w);
    size_t n = anet_tensor_numel(src);
    if (src->dtype == dst->dtype) memcpy(dst->data, src->data, anet_tensor_nbytes(src));
    else if (src->dtype == ANET_DT_FP32) anet_f32_to_f16_n(src->data, dst->data, n);
    else anet_f16_to_f32_n(src->data, dst->data, n);
    return ANET_OK;
}

/* ---- layout ---- */

size_t anet_layout_round_up(size_t x, size_t align) {
    if (align == 0 || (align & (align - 1)) != 0) return 0;
    if (x > SIZE_MAX - (align - 1)) return 0;
    return (x + align - 1) & ~(align - 1);
}

size_t anet_layout_row_stride(size_t width_elems, size_t elem_size) {
    if (elem_size != 0 && width_elems > SIZE_MAX / elem_size) return 0;
    return anet_layout_round_up(width_elems * elem_size, 64);
}

/* a * b, or 0 on overflow (0 is never a valid surface size, so it doubles as the error). */
static size_t mul_or_zero(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    return a * b;
}

size_t anet_layout_packed_bytes(size_t c, size_t s, size_t elem_size) {
    return mul_or_zero(mul_or_zero(c, s), elem_size);
}

size_t anet_layout_strided_bytes(size_t n, size_t c, size_t h, size_t w, size_t elem_size) {
    size_t row = anet_layout_row_stride(w, elem_size);
    return mul_or_zero(mul_or_zero(mul_or_zero(n, c), h), row);
}

/* ---- packing ----
 * Tiles of TF features x TB samples: the source side reads TF contiguous values per sample,
 * the destination side writes TB contiguous halves per feature, and the fp32 staging tile
 * (8 KB) stays in L1 while the fp16 conversion runs on whole rows with the bulk path. */
enum { TF = 32, TB = 64 };

void anet_pack_batch_f32(const float *x, int B, int F, anet_f16 *out, size_t ld) {
    if (B <= 0 || F <= 0) return;
    size_t nb = (size_t)B, nf = (size_t)F;
    float tile[TF][TB];
    for (size_t f0 = 0; f0 < nf; f0 += TF) {
        size_t tf = nf - f0 < TF ? nf - f0 : TF;
        for (size_t b0 = 0; b0 < nb; b0 += TB) {
            size_t tb = nb - b0 < TB ? nb - b0 : TB;
            for (size_t b = 0; b < tb; b++) {
                const float *row = x + (b0 + b) * nf + f0;
                for (size_t f = 0; f < tf; f++) tile[f][b] = row[f];
            }
            for (size_t f = 0; f < tf; f++) anet_f32_to_f16_n(tile[f], out + (f0 + f) * ld + b0, tb);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PACK_X86 1
/* Pixels of 8 samples x 16 features transposed in registers (three rounds of byte, word and
 * dword interleaves) and converted 8 at a time: u8 -> int32 -> float, times scale, to fp16 with
 * the conversion instruction, the same operations and rounding as the portable tile path.
 * Covers f < nf / 16 * 16 and b < nb / 8 * 8; the caller does the rest. */
__attribute__((target("avx2,f16c"))) static void pack_u8_avx2(const uint8_t *const *x, size_t nb, size_t nf,
                                                              float scale, anet_f16 *out, size_t ld) {
    const __m256 sc = _mm256_set1_ps(scale);
    const size_t fv = nf / 16 * 16;
    /* Blocks of 64 features (one cache line per sample) across all samples, the line after next
     * of each sample prefetched: the samples lie at random places in the split, and the output
     * block (64 rows) stays in L1 while it fills. */
    const size_t l1 = nf > 64 ? 64 : nf - 1, l2 = nf > 127 ? 127 : nf - 1; /* the first two blocks' lines */
    for (size_t b = 0; b < nb; b++) {
        _mm_prefetch((const char *)x[b], _MM_HINT_T0);
        _mm_prefetch((const char *)x[b] + l1, _MM_HINT_T0);
        _mm_prefetch((const char *)x[b] + l2, _MM_HINT_T0);
    }
    for (size_t fb = 0; fb < fv; fb += 64)
        for (size_t b0 = 0; b0 + 8 <= nb; b0 += 8) {
            size_t fe = fb + 64 < fv ? fb + 64 : fv;
            if (fe + 64 < nf)
                for (int j = 0; j < 8; j++) _mm_prefetch((const char *)(x[b0 + j] + fe + 64), _MM_HINT_T0);
            for (size_t f0 = fb; f0 < fe; f0 += 16) {
                __m128i r[8], t[8], u[8], v[8];
                for (int j = 0; j < 8; j++) r[j] = _mm_loadu_si128((const __m128i *)(const void *)(x[b0 + j] + f0));
                for (int j = 0; j < 4; j++) { /* samples 2j, 2j+1 interleaved per feature */
                    t[2 * j] = _mm_unpacklo_epi8(r[2 * j], r[2 * j + 1]);
                    t[2 * j + 1] = _mm_unpackhi_epi8(r[2 * j], r[2 * j + 1]);
                }
                for (int j = 0; j < 2; j++) /* samples 4j..4j+3 per feature; features 0-3, 4-7, 8-11, 12-15 */
                    for (int h = 0; h < 2; h++) {
                        u[4 * j + 2 * h] = _mm_unpacklo_epi16(t[4 * j + h], t[4 * j + 2 + h]);
                        u[4 * j + 2 * h + 1] = _mm_unpackhi_epi16(t[4 * j + h], t[4 * j + 2 + h]);
                    }
                for (int q = 0; q < 4; q++) { /* all 8 samples; two features per register */
                    v[2 * q] = _mm_unpacklo_epi32(u[q], u[4 + q]);
                    v[2 * q + 1] = _mm_unpackhi_epi32(u[q], u[4 + q]);
                }
                for (int q = 0; q < 8; q++)
                    for (int h = 0; h < 2; h++) {
                        __m128i bytes = h ? _mm_srli_si128(v[q], 8) : v[q];
                        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), sc);
                        _mm_storeu_si128((__m128i *)(void *)(out + (f0 + 2 * q + h) * ld + b0),
                                         _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
                    }
            }
        }
}

static int pack_avx2_ok(void) {
    __builtin_cpu_init();
    return strcmp(anet_f16_path(), "f16c") == 0 && __builtin_cpu_supports("avx2");
}
#endif

#ifdef PACK_X86
/* The register kernel and, for what it leaves (features past nf / 16 * 16, samples past
 * nb / 8 * 8), the same operations one value at a time. */
static void pack_u8_block(const uint8_t *const *x, size_t nb, size_t nf, float scale, anet_f16 *out, size_t ld) {
    pack_u8_avx2(x, nb, nf, scale, out, ld);
    size_t fv = nf / 16 * 16, bv = nb / 8 * 8;
    for (size_t f = 0; f < nf; f++)
        for (size_t b = f < fv ? bv : 0; b < nb; b++) out[f * ld + b] = anet_f32_to_f16((float)x[b][f] * scale);
}
#endif

/* Batches up to this many samples go through an L1 tile (64 features x B fp16, <= 32 KB). */
enum { PACK_TILE_B = 256 };

void anet_pack_batch_u8(const uint8_t *const *x, int B, int F, float scale, anet_f16 *out, size_t ld) {
    if (B <= 0 || F <= 0) return;
    size_t nb = (size_t)B, nf = (size_t)F;
#ifdef PACK_X86
    if (nb >= 8 && nf >= 16 && pack_avx2_ok()) {
        if (nb > PACK_TILE_B) {
            pack_u8_block(x, nb, nf, scale, out, ld);
            return;
        }
        /* 64 features at a time into a tile that stays in L1, then copied out whole: the kernel
         * stores 16 bytes at a time across 64 rows, which on a destination out of cache (the
         * device's input surface, written once per step) makes every line be read before it is
         * written; a copy of whole rows writes lines without reading them (~3 us less host time
         * per step on ane-sim at 784 x 128). Each block's lines of every sample are prefetched as
         * the block starts (the kernel does it for the rows it gets); prefetching the next
         * block's lines too made the step slower. */
        anet_f16 tile[64 * PACK_TILE_B];
        const uint8_t *rows[PACK_TILE_B];
        for (size_t fb = 0; fb < nf; fb += 64) {
            size_t n = nf - fb < 64 ? nf - fb : 64;
            for (size_t b = 0; b < nb; b++) rows[b] = x[b] + fb;
            pack_u8_block(rows, nb, n, scale, tile, nb);
            if (ld == nb) memcpy(out + fb * ld, tile, n * nb * sizeof *tile);
            else
                for (size_t f = 0; f < n; f++) memcpy(out + (fb + f) * ld, tile + f * nb, nb * sizeof *tile);
        }
        return;
    }
#endif
    float tile[TF][TB];
    for (size_t f0 = 0; f0 < nf; f0 += TF) {
        size_t tf = nf - f0 < TF ? nf - f0 : TF;
        for (size_t b0 = 0; b0 < nb; b0 += TB) {
            size_t tb = nb - b0 < TB ? nb - b0 : TB;
            for (size_t b = 0; b < tb; b++) {
                const uint8_t *row = x[b0 + b] + f0;
                for (size_t f = 0; f < tf; f++) tile[f][b] = (float)row[f] * scale;
            }
            for (size_t f = 0; f < tf; f++) anet_f32_to_f16_n(tile[f], out + (f0 + f) * ld + b0, tb);
        }
    }
}

void anet_unpack_batch(const anet_f16 *in, int B, int F, float *x) {
    if (B <= 0 || F <= 0) return;
    size_t nb = (size_t)B, nf = (size_t)F;
    float tile[TF][TB];
    for (size_t f0 = 0; f0 < nf; f0 += TF) {
        size_t tf = nf - f0 < TF ? nf - f0 : TF;
        for (size_t b0 = 0; b0 < nb; b0 += TB) {
            size_t tb = nb - b0 < TB ? nb - b0 : TB;
            for (size_t f = 0; f < tf; f++) anet_f16_to_f32_n(in + (f0 + f) * nb + b0, tile[f], tb);
            for (size_t b = 0; b < tb; b++) {
                float *row = x + (b0 + b) * nf + f0;
                for (size_t f = 0; f < tf; f++) row[f] = tile[f][b];
            }
        }
    }
}
