/* Fused chains in native fp16 arithmetic (AVX512-FP16), for CPUs that have it. Built with
 * -mavx512fp16 where the compiler takes it (CMake); run only where CPUID reports the set.
 *
 * Why the bits are the op-by-op ones: vane computes an op in fp32 and rounds the result to fp16.
 * For +, - and * of fp16 operands that double rounding is innocuous (fp32 carries
 * 24 >= 2 * 11 + 2 significand bits, and its exponent range holds every exact result of two
 * fp16 values), so it equals the correctly rounded fp16 result of the FP16 instructions;
 * checked for all 2^32 operand pairs of each op, NaN payloads and signs included (a sample is
 * in tests/test_vane_h16.c). max, min, abs and relu pick or mask bits, the same in either
 * width. One difference is left: converting an fp16 signalling NaN to fp32 sets its quiet bit,
 * so fp16 program inputs are quieted as they enter a slot (or read in place by an op that
 * quiets NaNs itself); every value in a slot is then exactly what the fp32 path holds there,
 * as fp16.
 *
 * Slots hold fp16 here (twice the elements of an fp32 slot); fp32 buffers are converted at the
 * chain's edge (exactly: they hold fp16 values). Per op and 32 elements this saves four
 * conversion instructions and half the tile traffic. */
#include <stdlib.h>
#include <string.h>

#include "runtime/vane/plan.h"

static int by_lo(const void *a, const void *b) {
    const struct anet_io_span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void anet_vane_h16_check_io(anet_program *p, const anet_io *in, const anet_io *out) {
    p->io_alias = p->nh16_io < 0;
    if (p->nh16_io <= 0) return;
    int n = 0;
    for (int k = 0; k < p->nh16_io; k++) {
        int i = p->h16_io[k];
        const anet_io *b = i >= 0 ? &out[i] : &in[-1 - i];
        if (b->nbytes == 0) continue;
        p->span[n++] = (struct anet_io_span){(uintptr_t)b->data, (uintptr_t)b->data + b->nbytes, i >= 0};
    }
    qsort(p->span, (size_t)n, sizeof *p->span, by_lo);
    /* In start order, a buffer overlaps an earlier one iff it starts before that one's end;
     * inputs may overlap each other. */
    uintptr_t end_out = 0, end_in = 0;
    for (int k = 0; k < n; k++) {
        const struct anet_io_span *s = &p->span[k];
        if (s->lo < end_out || (s->out && s->lo < end_in)) { p->io_alias = 1; return; }
        if (s->out && s->hi > end_out) end_out = s->hi;
        if (!s->out && s->hi > end_in) end_in = s->hi;
    }
}

#ifdef ANET_VANE_H16
#include <cpuid.h>
#include <immintrin.h>

#define VW 32 /* fp16 lanes per vector */

static inline __mmask32 tail_mask(int64_t n) { return n >= VW ? ~(__mmask32)0 : (((__mmask32)1 << n) - 1); }

static inline __m512h load16(const uint16_t *x, int64_t n) {
    return _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(tail_mask(n), x));
}

static inline void store16(uint16_t *y, __m512h v, int64_t n) {
    _mm512_mask_storeu_epi16(y, tail_mask(n), _mm512_castph_si512(v));
}

/* dst = src with signalling NaNs made quiet (what a trip through fp32 does). */
static void copy_quiet(const uint16_t *src, uint16_t *dst, int64_t n) {
    const __m512i q = _mm512_set1_epi16(0x0200);
    for (int64_t i = 0; i < n; i += VW) {
        __m512h v = load16(src + i, n - i);
        __m512i b = _mm512_castph_si512(v);
        b = _mm512_mask_mov_epi16(b, _mm512_cmp_ph_mask(v, v, _CMP_UNORD_Q), _mm512_or_si512(b, q));
        store16(dst + i, _mm512_castsi512_ph(b), n - i);
    }
}

static void f32_to_h(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}

static void h_to_f32(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x + i))));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

/* One operand of a step for the current tile: a row of fp16 (x), or one value broadcast (v). */
typedef struct opnd {
    const uint16_t *x;
    __m512h v;
} opnd;

#define MAXH(x, z) _mm512_mask_blend_ph(_mm512_cmp_ph_mask(x, x, _CMP_UNORD_Q) | _mm512_cmp_ph_mask(x, z, _CMP_GT_OQ), z, x)
#define MINH(x, z) _mm512_mask_blend_ph(_mm512_cmp_ph_mask(x, x, _CMP_UNORD_Q) | _mm512_cmp_ph_mask(x, z, _CMP_LT_OQ), z, x)

/* Two NaN operands: which one an add or a multiply returns is the operand order the compiler
 * chose (they commute), in the fp32 kernels as here. Such a vector (only where NaNs meet) is
 * recomputed by the fp32 path's own kernel on the same elements, so it gets that path's NaN. */
static __m512h both_nan(const anet_vk_ops *k, anet_vk_binop op, __m512h x, int sx, __m512h z, int sz, int64_t n) {
    float xf[VW], zf[VW], yf[VW];
    uint16_t xh[VW], zh[VW], yh[VW];
    _mm512_storeu_ph(xh, x);
    _mm512_storeu_ph(zh, z);
    h_to_f32(xh, xf, VW);
    h_to_f32(zh, zf, VW);
    k->binary_row(op, n < VW ? n : VW, xf, sx ? 0 : 1, zf, sz ? 0 : 1, yf, 1);
    f32_to_h(yf, yh, VW);
    return _mm512_loadu_ph(yh);
}

/* One function per op, one loop per operand pattern (row op row, row op scalar, scalar op
 * row): whole vectors, then a masked tail. */
#define H_LOOP(N, LX, LZ, EXPR, FIX)                                                       \
    do {                                                                                   \
        int64_t i = 0;                                                                     \
        for (; i + VW <= (N); i += VW) {                                                   \
            const __mmask32 m_ = ~(__mmask32)0;                                            \
            __m512h x = LX, z = LZ, r = EXPR;                                              \
            (void)m_;                                                                      \
            FIX;                                                                           \
            _mm512_storeu_ph(y + i, r);                                                    \
        }                                                                                  \
        if (i < (N)) {                                                                     \
            __mmask32 m_ = tail_mask((N) - i);                                             \
            __m512h x = LX, z = LZ, r = EXPR;                                              \
            (void)m_;                                                                      \
            FIX;                                                                           \
            store16(y + i, r, (N) - i);                                                    \
        }                                                                                  \
    } while (0)
#define ROW(p) _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(m_, (p) + i))
#define NO_FIX (void)z
#define NAN_FIX(OP)                                                                        \
    if (_mm512_cmp_ph_mask(x, x, _CMP_UNORD_Q) & _mm512_cmp_ph_mask(z, z, _CMP_UNORD_Q))   \
        r = both_nan(k, OP, x, !xa, z, !xb, n - i)
#define H_BIN(NAME, EXPR, FIX)                                                             \
    static void NAME(const anet_vk_ops *k, int64_t n, const opnd *a, const opnd *b,      \
                     uint16_t *restrict y) {                                               \
        const uint16_t *xa = a->x, *xb = b->x;                                             \
        const __m512h va = a->v, vb = b->v;                                                \
        (void)k;                                                                           \
        if (xa && xb) H_LOOP(n, ROW(xa), ROW(xb), EXPR, FIX);                              \
        else if (xa) H_LOOP(n, ROW(xa), vb, EXPR, FIX);                                    \
        else H_LOOP(n, va, ROW(xb), EXPR, FIX);                                            \
    }
H_BIN(h_add, _mm512_add_ph(x, z), NAN_FIX(ANET_VK_ADD))
H_BIN(h_sub, _mm512_sub_ph(x, z), NO_FIX)
H_BIN(h_mul, _mm512_mul_ph(x, z), NAN_FIX(ANET_VK_MUL))
H_BIN(h_max, MAXH(x, z), NO_FIX)
H_BIN(h_min, MINH(x, z), NO_FIX)

#define H_UN(NAME, EXPR)                                                                   \
    static void NAME(int64_t n, const opnd *a, uint16_t *restrict y) {                    \
        const uint16_t *xa = a->x;                                                         \
        H_LOOP(n, ROW(xa), _mm512_setzero_ph(), EXPR, NO_FIX);                             \
    }
/* relu keeps NaN and -0 (x < 0 ? 0 : x, as the fp32 kernel) */
H_UN(h_relu, _mm512_mask_blend_ph(_mm512_cmp_ph_mask(x, z, _CMP_LT_OQ), x, z))
H_UN(h_abs, _mm512_castsi512_ph(_mm512_and_si512(_mm512_castph_si512(x), _mm512_set1_epi16(0x7fff))))
H_UN(h_square, _mm512_mul_ph(x, x))

/* Division and square root go through fp32: the FP16 instructions for them are 1.5-3x slower
 * than converting (measured on a Sapphire Rapids Xeon). The divider is slow in fp32 too, so
 * for finite operands (and a nonzero, finite divisor) the quotient is a reciprocal estimate
 * refined once with FMAs, and the square root likewise from the reciprocal square root
 * estimate: not always the correctly rounded fp32 result, but for operands that are fp16
 * values it always rounds to the same fp16 value; checked for every fp16 value and every
 * pair (tests/test_vane_h16.c, --all). Zeros keep their sign by a blend;
 * infinities, NaNs, zero divisors and negative square roots take the exact instructions. */
static inline __m512 lo32(__m512h v) { return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_castph_si512(v))); }
static inline __m512 hi32(__m512h v) { return _mm512_cvtph_ps(_mm512_extracti64x4_epi64(_mm512_castph_si512(v), 1)); }
static inline __m512h pack16(__m512 lo, __m512 hi) {
    __m256i l = _mm512_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT), h = _mm512_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT);
    return _mm512_castsi512_ph(_mm512_inserti64x4(_mm512_castsi256_si512(l), h, 1));
}
static inline __m512 div_est(__m512 x, __m512 z) {
    __m512 r = _mm512_rcp14_ps(z), q = _mm512_mul_ps(x, r);
    __m512 q1 = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, z, x), r, q);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ), q1, q);
}
static inline __m512 sqrt_est(__m512 x) {
    __m512 r = _mm512_rsqrt14_ps(x), s = _mm512_mul_ps(x, r);
    __m512 s1 = _mm512_fmadd_ps(_mm512_fnmadd_ps(s, s, x), _mm512_mul_ps(r, _mm512_set1_ps(0.5f)), s);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ), s1, x);
}
/* fpclass bits: 0x01 QNaN, 0x02 +0, 0x04 -0, 0x08 +inf, 0x10 -inf, 0x40 negative finite, 0x80 SNaN */
static inline __m512h hdiv(__m512h x, __m512h z) {
    if (_mm512_fpclass_ph_mask(x, 0x99) | _mm512_fpclass_ph_mask(z, 0x9f))
        return pack16(_mm512_div_ps(lo32(x), lo32(z)), _mm512_div_ps(hi32(x), hi32(z)));
    return pack16(div_est(lo32(x), lo32(z)), div_est(hi32(x), hi32(z)));
}
static inline __m512h hsqrt(__m512h x) {
    if (_mm512_fpclass_ph_mask(x, 0xd9)) return pack16(_mm512_sqrt_ps(lo32(x)), _mm512_sqrt_ps(hi32(x)));
    return pack16(sqrt_est(lo32(x)), sqrt_est(hi32(x)));
}
H_BIN(h_div, hdiv(x, z), NO_FIX)
H_UN(h_sqrt, hsqrt(x))

int anet_vane_h16_cpu(void) {
    __builtin_cpu_init();
    /* AVX512-FP16 from CPUID (leaf 7, EDX bit 23): older compilers' __builtin_cpu_supports do
     * not know its name (clang 14); the AVX-512 checks below also cover the OS saving zmm state. */
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 23))) return 0;
    return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

/* Arithmetic returns a quiet NaN for a signalling one (the exhaustive check includes them), as
 * the conversion to fp32 would have made it; max, min, abs and relu pass bits through. */
static int quiets(const step *s) {
    if (s->kind == S_BINARY) return s->op == ANET_VK_ADD || s->op == ANET_VK_SUB || s->op == ANET_VK_MUL || s->op == ANET_VK_DIV;
    return s->kind == S_UNARY && (s->op == ANET_VK_SQRT || s->op == ANET_VK_SQUARE);
}

int anet_vane_h16_step_ok(const step *s) {
    if (s->kind == S_REDUCE) return 1; /* a chain's sink: summed in fp32 as before */
    if (!s->round) return 0;
    if (s->kind == S_BINARY)
        return s->op == ANET_VK_ADD || s->op == ANET_VK_SUB || s->op == ANET_VK_MUL || s->op == ANET_VK_DIV ||
               s->op == ANET_VK_MAX || s->op == ANET_VK_MIN;
    if (s->kind == S_UNARY)
        return s->op == ANET_VK_RELU || s->op == ANET_VK_SQRT || s->op == ANET_VK_ABS || s->op == ANET_VK_SQUARE;
    return 0;
}

/* A slot holds VANE_H16_SLOT floats, so twice as many fp16 elements: tiles here are that long
 * (half the steps' fixed costs). Tiles of both paths start at multiples of 32 (VANE_TILE is a
 * multiple of HT), so a sink adds in the same order and both_nan sees the same vector and tail
 * positions. */
#define HT (2 * VANE_H16_SLOT)
_Static_assert(VANE_TILE % HT == 0 && HT % 32 == 0, "tiles of both paths start at multiples of 32");

void anet_vane_run_fused_h16(const anet_program *p, const unit *u) {
    float *const *b = p->buf;
    /* Past the unit's slots: 4 fp16 rows (3 fp32 buffers converted, 1 output) and one fp32
     * row (a sink's input): VANE_H16_SCRATCH_SLOTS fp32 slots. A buffer read by several steps
     * is converted once per tile (conv[r]: the value in row r, or -1). */
    uint16_t *scr = (uint16_t *)(void *)(p->tile + (size_t)u->nslots * VANE_H16_SLOT);
    float *fscr = p->tile + (size_t)(u->nslots + 4) * VANE_H16_SLOT;
#define SLOT(q) ((uint16_t *)(void *)(p->tile + (size_t)(q) * VANE_H16_SLOT))
    /* Where each slot's value is this tile: the slot, or the caller's output row it was
     * written to (an output is written there directly and read back from there). */
    const uint16_t *at[VANE_H16_MAX_SLOTS];
    for (int64_t t = 0; t < u->n; t += HT) {
        int64_t cnt = u->n - t < HT ? u->n - t : HT;
        int conv[3] = {-1, -1, -1}, next = 0;
        for (int i = u->first; i < u->first + u->count; i++) {
            const step *s = &p->steps[i];
            opnd x[3];
            for (int j = 0; j < 3; j++) {
                x[j].x = NULL;
                x[j].v = _mm512_setzero_ph();
                if (s->in[j] < 0) continue;
                switch (s->src[j]) {
                case SRC_SLOT: x[j].x = at[s->src_slot[j]]; break;
                case SRC_SCALAR: x[j].v = _mm512_set1_ph((_Float16)b[s->in[j]][0]); break;
                case SRC_IN16: {
                    const uint16_t *src = (const uint16_t *)p->cur_in[s->src_io[j]] + t;
                    if ((s->once16 >> j & 1u) && quiets(s)) { /* read in place: the op quiets NaNs itself */
                        x[j].x = src;
                        break;
                    }
                    copy_quiet(src, SLOT(s->src_slot[j]), cnt); /* into its slot, as the fp32 path converts it there */
                    x[j].x = at[s->src_slot[j]] = SLOT(s->src_slot[j]);
                    break;
                }
                default: { /* SRC_FULL, SRC_FULL16 (SRC_GATHER: not planned here) */
                    if (s->src[j] == SRC_FULL16 && !p->io_alias && quiets(s)) { /* in place, as SRC_IN16 */
                        x[j].x = (const uint16_t *)p->cur_in[s->src_io[j]] + t;
                        break;
                    }
                    int r = 0;
                    while (r < 3 && conv[r] != s->in[j]) r++;
                    if (r == 3) { /* a row no other operand of this step uses */
                        do r = next++ % 3;
                        while ((j > 0 && x[0].x == scr + (size_t)r * HT) ||
                               (j > 1 && x[1].x == scr + (size_t)r * HT));
                        if (s->src[j] == SRC_FULL16 && !p->io_alias)
                            copy_quiet((const uint16_t *)p->cur_in[s->src_io[j]] + t, scr + (size_t)r * HT, cnt);
                        else
                            f32_to_h(b[s->in[j]] + t, scr + (size_t)r * HT, cnt);
                        conv[r] = s->in[j];
                    }
                    x[j].x = scr + (size_t)r * HT;
                    break;
                }
                }
            }
            if (s->kind == S_REDUCE) { /* as anet_vane_run_fused, on the fp32 values */
                h_to_f32(x[0].x, fscr, cnt); /* a sink reads a row: never SRC_SCALAR */
                float *y = b[s->out];
                float a = p->k->sum_row(fscr, cnt, t == 0 ? 0.0f : y[0]);
                if (t + cnt == u->n) {
                    if (s->op == ANET_VK_RMEAN) a *= 1.0f / (float)u->n;
                    if (s->round) p->k->round(1, &a);
                }
                y[0] = a;
                continue;
            }
            uint16_t *out = s->out_io >= 0 ? (uint16_t *)p->cur_out[s->out_io] + t : NULL;
            uint16_t *y = out && !p->io_alias ? out : s->slot >= 0 ? SLOT(s->slot) : scr + 3 * HT;
            if (s->slot >= 0) at[s->slot] = y;
            if (s->kind == S_BINARY) {
                switch (s->op) {
                case ANET_VK_ADD: h_add(p->k, cnt, &x[0], &x[1], y); break;
                case ANET_VK_SUB: h_sub(p->k, cnt, &x[0], &x[1], y); break;
                case ANET_VK_MUL: h_mul(p->k, cnt, &x[0], &x[1], y); break;
                case ANET_VK_DIV: h_div(p->k, cnt, &x[0], &x[1], y); break;
                case ANET_VK_MAX: h_max(p->k, cnt, &x[0], &x[1], y); break;
                default: h_min(p->k, cnt, &x[0], &x[1], y); break;
                }
            } else {
                switch (s->op) {
                case ANET_VK_RELU: h_relu(cnt, &x[0], y); break;
                case ANET_VK_SQRT: h_sqrt(cnt, &x[0], y); break;
                case ANET_VK_ABS: h_abs(cnt, &x[0], y); break;
                default: h_square(cnt, &x[0], y); break;
                }
            }
            if (out && y != out) memcpy(out, y, (size_t)cnt * sizeof *y);
            if (s->slot < 0) h_to_f32(y, b[s->out] + t, cnt);
        }
    }
#undef SLOT
}
#else
int anet_vane_h16_cpu(void) { return 0; }
int anet_vane_h16_step_ok(const step *s) { (void)s; return 0; }
void anet_vane_run_fused_h16(const anet_program *p, const unit *u) { (void)p; (void)u; }
#endif
