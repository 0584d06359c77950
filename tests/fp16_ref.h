/* Test-only reference conversions written with double arithmetic and libm's rint (round to
 * nearest even in the default mode), independent of src/core/fp16.c. When the compiler has
 * _Float16 (gcc on x86-64; clang 14 does not), REF_HAVE_FLOAT16 is set and tests also check
 * against the compiler's own conversion. */
#ifndef ANET_TESTS_FP16_REF_H
#define ANET_TESTS_FP16_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__FLT16_MANT_DIG__)
#define REF_HAVE_FLOAT16 1
#endif

/* The value of a half from its fields (exact in double); NaN for NaN, +-inf for inf. */
static inline double ref_half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* fp32 -> fp16 bits, round to nearest even; NaN gives the sign with 0x7e00 (callers check NaN
 * payload rules themselves). */
static inline uint16_t ref_f32_to_f16(float f) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00);
    if (a < 0x1p-14) return (uint16_t)(sign | (uint16_t)rint(a * 0x1p24)); /* may reach 0x400 */
    int k;
    frexp(a, &k); /* a = m * 2^k, m in [0.5, 1) */
    int e = k - 1;
    double q = rint(ldexp(a, 10 - e)); /* in [1024, 2048] */
    if (q == 2048.0) { q = 1024.0; e++; }
    if (e > 15) return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | ((e + 15) << 10) | ((uint16_t)q - 1024));
}

static inline float ref_round(float f) { return (float)ref_half_value(ref_f32_to_f16(f)); }

#if REF_HAVE_FLOAT16
static inline uint16_t ref_compiler_f32_to_f16(float f) {
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}
#endif

#endif
