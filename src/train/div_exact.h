/* fp32 division by a per-call constant without the divider: an FMA sequence whose quotient is
 * the IEEE quotient bit for bit (round to nearest even). The CPU Adam update (optim_cpu.c)
 * divides sqrt(v) by the bias correction sqrt(1 - beta2^t) for every weight; on the divider that
 * division, the square root and Adam's per-weight division queue behind each other.
 *
 * The kernel has a proven domain: c in [2^-16, 2^16] (checked once per call: anet_divc_ok) and
 * a = +0 or 2^-76 <= a < 2^28, so a/c lies in [2^-92, 2^44) and every value and residual below
 * is a normal float or zero. The lanes predicate, for a = sqrtf(x), admits only that domain; a
 * caller divides the whole vector when any lane is outside (-0, inf, NaN, a >= 2^28), so every
 * input gives the division's bits. All operations are single IEEE roundings: intrinsics only, in files built
 * with -ffp-contract=off.
 *
 * Why it is exact (u = 2^-24, RN = round to nearest even, y = RN(1/c) computed by one IEEE
 * division per call, so |c*y - 1| <= u/(1+u) < 2^-24):
 *  - q0 = RN(a*y) is within 2 ulps of a/c;
 *  - q1 = RN(q0 + RN(a - c*q0)*y): before its rounding, q0 + (a - c*q0)*y = a/c - (a/c)
 *    (d*e + d^2(1+e)) with d = c*y - 1 and e the rounding of q0, plus r0's own rounding, so the
 *    error is below 2^-41 |a/c| (2^-47 from d and e, 2^-47 from r0's rounding if r0 is normal,
 *    2^-42 if it is subnormal: 2^-150 * y against |a/c| >= 2^-92), far below half an ulp
 *    (>= 2^-25 |a/c|): q1 is faithful (one of the two floats around a/c);
 *  - Markstein's theorem (P. Markstein, IBM J. Res. Dev. 34(1), 1990; Muller et al., Handbook
 *    of Floating-Point Arithmetic, "Markstein's theorem"): if q is a faithful approximation of
 *    a/c, y approximates 1/c with relative error below 2^-p (p = 24), and nothing under- or
 *    overflows, then r = a - c*q is exactly a float (one fma) and RN(q + r*y) = RN(a/c). The
 *    domain gives the last condition: r is a multiple of min(ulp(a), ulp(c)*ulp(q)) >=
 *    a*2^-48 >= 2^-124, so it is zero or normal. */
#ifndef ANET_TRAIN_DIV_EXACT_H
#define ANET_TRAIN_DIV_EXACT_H

#include <stddef.h>

#define ANET_DIVC_C_MIN 0x1p-16f
#define ANET_DIVC_C_MAX 0x1p16f
/* The domain of a: +0 or [2^-76, 2^28); the bits of 2^28, the first float above it. */
#define ANET_DIVC_A_MIN 0x1p-76f
#define ANET_DIVC_A_LIM_BITS 0x4d800000

/* 1 if the kernels may divide by c (with y = 1.0f / c). */
static inline int anet_divc_ok(float c) { return c >= ANET_DIVC_C_MIN && c <= ANET_DIVC_C_MAX; }

#if defined(__x86_64__) && defined(__GNUC__)
#define ANET_DIV_X86 1
#include <immintrin.h>

#define ANET_DIV_T256 __attribute__((target("avx2,fma")))

/* Lanes of a = sqrtf(x) inside the domain, as a vector mask (all ones there): a square root is
 * +-0, NaN, +inf or >= 2^-74.5 (the root of the least subnormal), so the domain is "bits below
 * those of 2^28" read unsigned: that admits +0 and the positive floats below 2^28, and refuses
 * -0, NaN and inf. */
ANET_DIV_T256 static inline __m256 anet_sqrt_divc_lanes256(__m256 a) {
    const __m256i b = _mm256_castps_si256(a);
    /* unsigned b <= lim - 1 <=> min(b, lim - 1) == b */
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_min_epu32(b, _mm256_set1_epi32(ANET_DIVC_A_LIM_BITS - 1)), b));
}

/* RN(a / c) on the domain, y = RN(1/c): q0, the faithful q1, Markstein's step. */
ANET_DIV_T256 static inline __m256 anet_divc_fast256(__m256 a, __m256 c, __m256 y) {
    __m256 q = _mm256_mul_ps(a, y);
    q = _mm256_fmadd_ps(_mm256_fnmadd_ps(c, q, a), y, q);
    return _mm256_fmadd_ps(_mm256_fnmadd_ps(c, q, a), y, q);
}
#endif

/* sqrtf(x[i]) / c for i < n through one instruction set's kernel (the tests' and benchmark's
 * view of it; the Adam update inlines the kernel): each lane takes the kernel where the lanes
 * predicate admits it and the division elsewhere (every lane the division when c is outside
 * anet_divc_ok); returns how many lanes took the kernel. */
typedef size_t (*anet_sqrt_divc_fn)(const float *x, float c, float *q, size_t n);
/* The kernels this CPU runs, with their names (none off x86); returns how many (<= max). */
int anet_sqrt_divc_paths(anet_sqrt_divc_fn *out, const char **names, int max);

#endif
