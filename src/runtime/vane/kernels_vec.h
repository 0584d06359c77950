/* The elementwise and reduction kernels, written once and compiled once per instruction set
 * (kernels_base.c, kernels_avx2.c, kernels_avx512.c): each includes this file with VK_FN(name)
 * defined to give its copies distinct names and VK_TABLE naming its anet_vk_ops table.
 *
 * Every path must give the same bits: the loops only use operations IEEE 754 defines exactly
 * (+ - * / sqrt, comparisons, bit selects), in the same order per element; no contraction into
 * FMA (-ffp-contract=off on these files), no reassociation (a reduction vectorises across
 * outputs, each output summing in the serial order); libm calls (exp, log, tanh, ...) are the
 * same function on every path. The files are built with -fno-math-errno so sqrtf is the
 * instruction, not a call that may set errno. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "runtime/vane/kernels.h"
#ifdef VK_F16C
#include <immintrin.h>
#endif

#ifndef VK_FN
#error "define VK_FN before including kernels_vec.h"
#endif

/* x rounded to the nearest binary16 value (ties to even), as fp32: the bits of converting to
 * fp16 and back (anet_f32_round_f16, F16C, NEON), checked for all 2^32 inputs. Branch-free
 * integer and float steps, so it vectorises inside the loops that produce the values:
 *   normal fp16 range: round the 13 dropped mantissa bits to even (a carry may reach the
 *   exponent); below 2^-14 (fp16 subnormals, quantum 2^-24): (|x| + 0.5) - 0.5 rounds there,
 *   since the ulp of [0.5, 1) is 2^-24; >= 65520: inf; NaN: quiet, low 13 payload bits dropped. */
static inline float VK_FN(r16)(float x) {
    uint32_t u, us;
    memcpy(&u, &x, sizeof u);
    const uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu;
    const uint32_t rn = (a + 0x0fffu + ((a >> 13) & 1u)) & ~(uint32_t)0x1fffu;
    float fa;
    memcpy(&fa, &a, sizeof fa);
    const float sub = (fa + 0.5f) - 0.5f;
    memcpy(&us, &sub, sizeof us);
    uint32_t r = a < 0x38800000u ? us : rn;
    r = a >= 0x477ff000u ? 0x7f800000u : r;
    r = a > 0x7f800000u ? ((a | 0x00400000u) & ~(uint32_t)0x1fffu) : r;
    u = sign | r;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* One flat row of a binary op, optionally rounding each result to fp16 in the same loop;
 * strides are 0 or 1 in every caller that matters, so each pattern is its own plain loop the
 * compiler vectorises. */
#ifdef VK_F16C
/* Rounding with the conversion instructions (two per vector) beats the integer steps; it runs
 * right after the loop, on a row that is still in L1. */
#define VK_LOOPS(N, LOAD, EXPR)                                                                \
    for (int64_t i = 0; i < (N); i++) { LOAD; y[i] = (EXPR); }                                  \
    if (rnd) VK_FN(round)((size_t)(N), y);
#else
#define VK_LOOPS(N, LOAD, EXPR)                                                                \
    if (rnd) { for (int64_t i = 0; i < (N); i++) { LOAD; y[i] = VK_FN(r16)(EXPR); } }           \
    else { for (int64_t i = 0; i < (N); i++) { LOAD; y[i] = (EXPR); } }
#endif

/* x[i] = nearest fp16 value, as fp32. */
static void VK_FN(round)(size_t n, float *x) {
    size_t i = 0;
#if defined(VK_F16C) && defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
#elif defined(VK_F16C)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
#endif
    for (; i < n; i++) x[i] = VK_FN(r16)(x[i]);
}
#define VK_ROW(NAME, EXPR)                                                                     \
    static void VK_FN(NAME)(int64_t n, const float *restrict a, int64_t sa,                   \
                            const float *restrict b, int64_t sb, float *restrict y, int rnd) { \
        if (sa == 1 && sb == 1) {                                                              \
            VK_LOOPS(n, float x = a[i]; float z = b[i], EXPR)                                  \
        } else if (sa == 1 && sb == 0) {                                                       \
            const float z = b[0];                                                              \
            VK_LOOPS(n, float x = a[i], EXPR)                                                  \
        } else if (sa == 0 && sb == 1) {                                                       \
            const float x = a[0];                                                              \
            VK_LOOPS(n, float z = b[i], EXPR)                                                  \
        } else {                                                                               \
            VK_LOOPS(n, float x = a[i * sa]; float z = b[i * sb], EXPR)                        \
        }                                                                                      \
    }

/* max/min propagate NaN (the ANE's behaviour is unknown; NaN-propagation is the safe choice
 * for a training emulator: a NaN never silently disappears). Written as selects the compiler
 * turns into blends. */
#define VK_MAX(x, z) (((x) != (x) || (x) > (z)) ? (x) : (z))
#define VK_MIN(x, z) (((x) != (x) || (x) < (z)) ? (x) : (z))

VK_ROW(row_add, x + z)
VK_ROW(row_sub, x - z)
VK_ROW(row_mul, x * z)
VK_ROW(row_div, x / z)
VK_ROW(row_max, VK_MAX(x, z))
VK_ROW(row_min, VK_MIN(x, z))
VK_ROW(row_pow, powf(x, z))
VK_ROW(row_gt, x > z ? 1.0f : 0.0f)
VK_ROW(row_ge, x >= z ? 1.0f : 0.0f)
VK_ROW(row_lt, x < z ? 1.0f : 0.0f)
VK_ROW(row_eq, x == z ? 1.0f : 0.0f)

#ifdef VK_F16C
/* The arithmetic ops with rounding, in registers: op, convert to fp16 and back, store once
 * (the same instructions as the loop above followed by round(), without the second pass over
 * the row). Other strides and the tail: the scalar expression and r16 (the same bits). */
#ifdef __AVX512F__
typedef __m512 vk_vec;
#define VK_VW 16
#define VK_VLOAD _mm512_loadu_ps
#define VK_VSTORE _mm512_storeu_ps
#define VK_VSET1 _mm512_set1_ps
#define VK_VR16(v) _mm512_cvtph_ps(_mm512_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT))
#define VK_VADD _mm512_add_ps
#define VK_VSUB _mm512_sub_ps
#define VK_VMUL _mm512_mul_ps
#define VK_VDIV _mm512_div_ps
#define VK_VMAX(x, z) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x, z, _CMP_GT_OQ), z, x)
#define VK_VMIN(x, z) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x, z, _CMP_LT_OQ), z, x)
#else
typedef __m256 vk_vec;
#define VK_VW 8
#define VK_VLOAD _mm256_loadu_ps
#define VK_VSTORE _mm256_storeu_ps
#define VK_VSET1 _mm256_set1_ps
#define VK_VR16(v) _mm256_cvtph_ps(_mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT))
#define VK_VADD _mm256_add_ps
#define VK_VSUB _mm256_sub_ps
#define VK_VMUL _mm256_mul_ps
#define VK_VDIV _mm256_div_ps
#define VK_VMAX(x, z) _mm256_blendv_ps(z, x, _mm256_or_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), _mm256_cmp_ps(x, z, _CMP_GT_OQ)))
#define VK_VMIN(x, z) _mm256_blendv_ps(z, x, _mm256_or_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), _mm256_cmp_ps(x, z, _CMP_LT_OQ)))
#endif
/* A result that is also a program output in fp16 (h not NULL): the conversion that rounds gives
 * the output's bits too, stored there instead of in a second pass over the row (on a Zen 1
 * core the conversions bound these loops). */
#ifdef __AVX512F__
typedef __m256i vk_hvec;
#define VK_VTOH(v) _mm512_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT)
#define VK_HTOV _mm512_cvtph_ps
#define VK_HSTORE(p, h) _mm256_storeu_si256((__m256i *)(void *)(p), (h))
#else
typedef __m128i vk_hvec;
#define VK_VTOH(v) _mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT)
#define VK_HTOV _mm256_cvtph_ps
#define VK_HSTORE(p, h) _mm_storeu_si128((__m128i *)(void *)(p), (h))
#endif
/* The vector loop of a row, x and z loaded by XL and ZL. */
#define VK_RLOOP(XL, ZL, VEXPR)                                                                \
    if (h) {                                                                                   \
        for (; i + VK_VW <= n; i += VK_VW) {                                                   \
            vk_vec x = (XL), z = (ZL);                                                         \
            vk_hvec r = VK_VTOH(VEXPR);                                                        \
            VK_HSTORE(h + i, r);                                                               \
            VK_VSTORE(y + i, VK_HTOV(r));                                                      \
        }                                                                                      \
    } else {                                                                                   \
        for (; i + VK_VW <= n; i += VK_VW) {                                                   \
            vk_vec x = (XL), z = (ZL);                                                         \
            VK_VSTORE(y + i, VK_VR16(VEXPR));                                                  \
        }                                                                                      \
    }
#define VK_VROW(NAME, VEXPR, EXPR)                                                             \
    static void VK_FN(NAME)(int64_t n, const float *restrict a, int64_t sa,                   \
                            const float *restrict b, int64_t sb, float *restrict y,            \
                            uint16_t *restrict h) {                                            \
        int64_t i = 0;                                                                         \
        if (sa == 1 && sb == 1) {                                                              \
            VK_RLOOP(VK_VLOAD(a + i), VK_VLOAD(b + i), VEXPR)                                  \
        } else if (sa == 1 && sb == 0) {                                                       \
            const vk_vec zs = VK_VSET1(b[0]);                                                  \
            VK_RLOOP(VK_VLOAD(a + i), zs, VEXPR)                                               \
        } else if (sa == 0 && sb == 1) {                                                       \
            const vk_vec xs = VK_VSET1(a[0]);                                                  \
            VK_RLOOP(xs, VK_VLOAD(b + i), VEXPR)                                               \
        }                                                                                      \
        for (; i < n; i++) {                                                                   \
            float x = a[i * sa], z = b[i * sb];                                                \
            y[i] = VK_FN(r16)(EXPR);                                                           \
            if (h) h[i] = _cvtss_sh(y[i], _MM_FROUND_TO_NEAREST_INT); /* exact: y is fp16 */  \
        }                                                                                      \
    }
VK_VROW(vrow_add, VK_VADD(x, z), x + z)
VK_VROW(vrow_sub, VK_VSUB(x, z), x - z)
VK_VROW(vrow_mul, VK_VMUL(x, z), x * z)
VK_VROW(vrow_div, VK_VDIV(x, z), x / z)
VK_VROW(vrow_max, VK_VMAX(x, z), VK_MAX(x, z))
VK_VROW(vrow_min, VK_VMIN(x, z), VK_MIN(x, z))

/* The ops with a row above, rounded, the results also to h as fp16 when h is not NULL; 0 for
 * the ops without one (binary_row then rounds after its loop; a caller with h converts). */
static int VK_FN(binary_row16)(anet_vk_binop op, int64_t n, const float *a, int64_t sa, const float *b,
                               int64_t sb, float *y, uint16_t *h) {
    switch (op) {
    case ANET_VK_ADD: VK_FN(vrow_add)(n, a, sa, b, sb, y, h); return 1;
    case ANET_VK_SUB: VK_FN(vrow_sub)(n, a, sa, b, sb, y, h); return 1;
    case ANET_VK_MUL: VK_FN(vrow_mul)(n, a, sa, b, sb, y, h); return 1;
    case ANET_VK_DIV: VK_FN(vrow_div)(n, a, sa, b, sb, y, h); return 1;
    case ANET_VK_MAX: VK_FN(vrow_max)(n, a, sa, b, sb, y, h); return 1;
    case ANET_VK_MIN: VK_FN(vrow_min)(n, a, sa, b, sb, y, h); return 1;
    default: return 0;
    }
}
#endif

static void VK_FN(binary_row)(anet_vk_binop op, int64_t n, const float *a, int64_t sa,
                              const float *b, int64_t sb, float *y, int rnd) {
#ifdef VK_F16C
    if (rnd && VK_FN(binary_row16)(op, n, a, sa, b, sb, y, NULL)) return;
#endif
    switch (op) {
    case ANET_VK_ADD: VK_FN(row_add)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_SUB: VK_FN(row_sub)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_MUL: VK_FN(row_mul)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_DIV: VK_FN(row_div)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_MAX: VK_FN(row_max)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_MIN: VK_FN(row_min)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_POW: VK_FN(row_pow)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_GT: VK_FN(row_gt)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_GE: VK_FN(row_ge)(n, a, sa, b, sb, y, rnd); break;
    case ANET_VK_LT: VK_FN(row_lt)(n, a, sa, b, sb, y, rnd); break;
    default: VK_FN(row_eq)(n, a, sa, b, sb, y, rnd); break;
    }
}

static void VK_FN(binary)(anet_vk_binop op, const anet_vk_bcast *p, const float *a, const float *b,
                          float *y) {
    int nd = p->nd;
    int64_t inner = p->dims[nd - 1], outer = 1;
    for (int i = 0; i < nd - 1; i++) outer *= p->dims[i];
    int64_t idx[ANET_MAX_RANK] = {0}, oa = 0, ob = 0;
    for (int64_t r = 0; r < outer; r++) {
        VK_FN(binary_row)(op, inner, a + oa, p->st[0][nd - 1], b + ob, p->st[1][nd - 1], y + r * inner, 0);
        /* Advance the outer counter (odometer), keeping the operand offsets in step. */
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            oa += p->st[0][i];
            ob += p->st[1][i];
            if (idx[i] < p->dims[i]) break;
            oa -= p->st[0][i] * p->dims[i];
            ob -= p->st[1][i] * p->dims[i];
            idx[i] = 0;
        }
    }
}

/* y = c != 0 ? a : b as a bit select on a mask (no branch; a NaN a or b passes through). */
static inline float VK_FN(sel1)(float c, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)(c != 0.0f);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    uint32_t u = (ua & m) | (ub & ~m);
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

static void VK_FN(select_row)(int64_t n, const float *restrict c, int64_t sc, const float *restrict a,
                              int64_t sa, const float *restrict b, int64_t sb, float *restrict y, int rnd) {
#define VK_SEL(C, A, B) VK_FN(sel1)(C, A, B)
    if (sc == 1 && sa == 1 && sb == 1) {
        VK_LOOPS(n, (void)0, VK_SEL(c[i], a[i], b[i]))
    } else if (sc == 1 && sa == 1 && sb == 0) {
        const float bv = b[0];
        VK_LOOPS(n, (void)0, VK_SEL(c[i], a[i], bv))
    } else if (sc == 1 && sa == 0 && sb == 1) {
        const float av = a[0];
        VK_LOOPS(n, (void)0, VK_SEL(c[i], av, b[i]))
    } else {
        VK_LOOPS(n, (void)0, VK_SEL(c[i * sc], a[i * sa], b[i * sb]))
    }
#undef VK_SEL
}

static void VK_FN(select)(const anet_vk_bcast *p, const float *c, const float *a, const float *b,
                          float *y) {
    int nd = p->nd;
    int64_t inner = p->dims[nd - 1], outer = 1;
    for (int i = 0; i < nd - 1; i++) outer *= p->dims[i];
    int64_t idx[ANET_MAX_RANK] = {0}, off[3] = {0, 0, 0};
    for (int64_t r = 0; r < outer; r++) {
        VK_FN(select_row)(inner, c + off[0], p->st[0][nd - 1], a + off[1], p->st[1][nd - 1], b + off[2],
                          p->st[2][nd - 1], y + r * inner, 0);
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            for (int k = 0; k < 3; k++) off[k] += p->st[k][i];
            if (idx[i] < p->dims[i]) break;
            for (int k = 0; k < 3; k++) off[k] -= p->st[k][i] * p->dims[i];
            idx[i] = 0;
        }
    }
}

static void VK_FN(unary)(anet_vk_unop op, size_t n, const float *restrict x, float *restrict y, float p) {
    switch (op) {
    case ANET_VK_RELU:
        /* x > 0 ? x : 0 would turn NaN into 0; keep NaN. */
        for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case ANET_VK_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ANET_VK_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ANET_VK_EXP:
        for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
        break;
    case ANET_VK_LOG:
        for (size_t i = 0; i < n; i++) y[i] = logf(x[i] + p);
        break;
    case ANET_VK_SQRT:
        for (size_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
        break;
    case ANET_VK_RSQRT:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i] + p);
        break;
    case ANET_VK_ABS:
        for (size_t i = 0; i < n; i++) y[i] = fabsf(x[i]);
        break;
    case ANET_VK_SQUARE:
        for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
        break;
    case ANET_VK_GELU_EXACT:
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case ANET_VK_GELU_TANH:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        }
        break;
    }
}

/* Operand k of plan p at flat output indices [start, start + count), packed into dst. */
static void VK_FN(gather)(const anet_vk_bcast *p, int k, const float *x, int64_t start, int64_t count,
                          float *restrict dst) {
    int nd = p->nd;
    int64_t idx[ANET_MAX_RANK], rem = start, off = 0;
    for (int i = nd - 1; i >= 0; i--) {
        idx[i] = rem % p->dims[i];
        rem /= p->dims[i];
        off += idx[i] * p->st[k][i];
    }
    const int64_t in = p->dims[nd - 1], s = p->st[k][nd - 1];
    while (count > 0) {
        int64_t run = in - idx[nd - 1];
        if (run > count) run = count;
        const float *xr = x + off;
        if (s == 0) {
            const float v = xr[0];
            for (int64_t j = 0; j < run; j++) dst[j] = v;
        } else if (s == 1) {
            memcpy(dst, xr, (size_t)run * sizeof *dst);
        } else {
            for (int64_t j = 0; j < run; j++) dst[j] = xr[j * s];
        }
        dst += run;
        count -= run;
        off += run * s;
        idx[nd - 1] += run;
        if (idx[nd - 1] < in) break; /* count exhausted inside the row */
        off -= in * s;
        idx[nd - 1] = 0;
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            off += p->st[k][i];
            if (idx[i] < p->dims[i]) break;
            off -= p->st[k][i] * p->dims[i];
            idx[i] = 0;
        }
    }
}

/* a + x[0] + x[1] + ... in input order. A block of zeros (+0 or -0) leaves an accumulator
 * that is not -0 unchanged (a + 0 = a, also for inf and NaN), so such blocks are skipped after
 * a vectorised check: the serial loop's bits, at the speed of a compare on the mostly-zero
 * tensors a finite flag sums (gradient x 0: zero unless a value overflowed). */
#define VK_ZB 256
static float VK_FN(sum_row)(const float *restrict x, int64_t n, float a) {
    int64_t i = 0;
    for (; i + VK_ZB <= n; i += VK_ZB) {
        unsigned nz = 0;
        for (int j = 0; j < VK_ZB; j++) nz |= x[i + j] != 0.0f; /* NaN too */
        if (!nz && !(a == 0.0f && signbit(a))) continue;
        for (int j = 0; j < VK_ZB; j++) a += x[i + j];
    }
    for (; i < n; i++) a += x[i];
    return a;
}

/* Outputs reduced together across one inner-reduced row each: VK_RB independent accumulators
 * keep every output's serial order while the rows advance side by side. */
#define VK_RB 16

static void VK_FN(reduce)(anet_vk_redop op, int rank, const int64_t *dims, unsigned mask, const float *x,
                          float *y) {
    /* Collapse into alternating runs of kept / reduced axes. */
    int64_t d[ANET_MAX_RANK];
    int red[ANET_MAX_RANK], nd = 0;
    int64_t total = 1, outn = 1, cnt = 1;
    for (int i = 0; i < rank; i++) {
        int r = (mask >> i) & 1u;
        total *= dims[i];
        if (r) cnt *= dims[i];
        else outn *= dims[i];
        if (dims[i] == 1) continue;
        if (nd > 0 && red[nd - 1] == r) d[nd - 1] *= dims[i];
        else { d[nd] = dims[i]; red[nd] = r; nd++; }
    }
    if (nd == 0) { d[0] = 1; red[0] = 1; nd = 1; }
    /* Output strides over the collapsed axes (0 on reduced ones). */
    int64_t ost[ANET_MAX_RANK], s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        ost[i] = red[i] ? 0 : s;
        if (!red[i]) s *= d[i];
    }
    const int is_max = op == ANET_VK_RMAX;
    float init = is_max ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < outn; i++) y[i] = init;
    int64_t inner = d[nd - 1], outer = total / inner;
    int64_t idx[ANET_MAX_RANK] = {0}, oy = 0;
    int inner_red = red[nd - 1];
    /* [.., kept K, reduced R]: rows r..r+VK_RB-1 of one kept run go to consecutive outputs. */
    int64_t krun = (inner_red && nd >= 2) ? d[nd - 2] : 1;
    for (int64_t r = 0; r < outer;) {
        const float *xr = x + r * inner;
        int64_t nrows = 1;
        if (inner_red && krun > 1 && idx[nd - 2] + VK_RB <= krun && inner > 1) {
            float acc[VK_RB];
            const float *xb = xr;
            float *yb = y + oy;
            for (int j = 0; j < VK_RB; j++) acc[j] = yb[j];
            if (is_max) {
                for (int64_t i = 0; i < inner; i++)
                    for (int j = 0; j < VK_RB; j++) {
                        float v = xb[j * inner + i];
                        acc[j] = (v > acc[j] || v != v) ? v : acc[j];
                    }
            } else {
                for (int64_t i = 0; i < inner; i++)
                    for (int j = 0; j < VK_RB; j++) acc[j] += xb[j * inner + i];
            }
            for (int j = 0; j < VK_RB; j++) yb[j] = acc[j];
            nrows = VK_RB;
        } else if (inner_red) {
            float a = y[oy];
            if (is_max) {
                for (int64_t i = 0; i < inner; i++) if (xr[i] > a || xr[i] != xr[i]) a = xr[i];
            } else {
                a = VK_FN(sum_row)(xr, inner, a);
            }
            y[oy] = a;
        } else {
            float *restrict yr = y + oy;
            if (is_max) {
                for (int64_t i = 0; i < inner; i++) yr[i] = (xr[i] > yr[i] || xr[i] != xr[i]) ? xr[i] : yr[i];
            } else {
                for (int64_t i = 0; i < inner; i++) yr[i] += xr[i];
            }
        }
        r += nrows;
        for (int64_t t = 0; t < nrows; t++) /* odometer, once per row consumed */
            for (int i = nd - 2; i >= 0; i--) {
                idx[i]++;
                oy += ost[i];
                if (idx[i] < d[i]) break;
                oy -= ost[i] * d[i];
                idx[i] = 0;
            }
    }
    if (op == ANET_VK_RMEAN) {
        float inv = 1.0f / (float)cnt;
        for (int64_t i = 0; i < outn; i++) y[i] *= inv;
    }
}

/* 16 lanes as one value: a zmm register with AVX-512, two ymm, four xmm; lane-wise mul and add,
 * so every set computes the same bits. */
typedef float VK_FN(v16) __attribute__((vector_size(64)));


/* NJ outputs' sums at once, each in its own register (NJ chains hide the add latency). */
#define VK_WIDE_NJ(NJ)                                                                              \
    static void VK_FN(wide_##NJ)(int64_t C, int64_t KH, int64_t H, int64_t iy0, int64_t rl, int64_t kwp, \
                                 const float *w, const float *xrows, float *out) {                  \
        VK_FN(v16) t[NJ];                                                                           \
        memset(t, 0, sizeof t);                                                                     \
        for (int64_t c = 0; c < C; c++)                                                             \
            for (int64_t p = 0; p < KH; p++) {                                                      \
                int64_t iy = iy0 + p;                                                               \
                if (iy < 0 || iy >= H) continue;                                                    \
                const float *wr = w + (c * KH + p) * kwp, *xr = xrows + (c * H + iy) * rl;          \
                for (int64_t q0 = 0; q0 < kwp; q0 += 16) {                                          \
                    VK_FN(v16) wv; /* unaligned loads; no vector crosses a call (the ABI) */        \
                    memcpy(&wv, wr + q0, sizeof wv);                                                \
                    for (int jj = 0; jj < NJ; jj++) {                                               \
                        VK_FN(v16) xv;                                                              \
                        memcpy(&xv, xr + q0 + jj, sizeof xv);                                       \
                        t[jj] += wv * xv;                                                           \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        memcpy(out, t, sizeof t);                                                                   \
    }
VK_WIDE_NJ(1)
VK_WIDE_NJ(2)
VK_WIDE_NJ(3)
VK_WIDE_NJ(4)
VK_WIDE_NJ(5)
VK_WIDE_NJ(6)
VK_WIDE_NJ(7)
VK_WIDE_NJ(8)

static void VK_FN(wide_block)(int64_t C, int64_t KH, int64_t H, int64_t iy0, int64_t rl, int64_t kwp, const float *w,
                              const float *xrows, int64_t nj, float *out) {
    _Static_assert(ANET_VK_WIDE_LANES == 16 && ANET_VK_WIDE_J == 8, "wide_block sums up to 8 outputs in 16 lanes");
    switch (nj) {
    case 1: VK_FN(wide_1)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    case 2: VK_FN(wide_2)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    case 3: VK_FN(wide_3)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    case 4: VK_FN(wide_4)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    case 5: VK_FN(wide_5)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    case 6: VK_FN(wide_6)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    case 7: VK_FN(wide_7)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    default: VK_FN(wide_8)(C, KH, H, iy0, rl, kwp, w, xrows, out); break;
    }
}

const anet_vk_ops VK_TABLE = {
    VK_NAME, VK_FN(round), VK_FN(binary_row), VK_FN(binary), VK_FN(select_row), VK_FN(select), VK_FN(unary),
    VK_FN(gather), VK_FN(reduce), VK_FN(sum_row), VK_FN(wide_block),
#ifdef VK_F16C
    VK_FN(binary_row16),
#else
    NULL, /* the caller rounds with binary_row and converts */
#endif
};
