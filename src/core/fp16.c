/* IEEE binary16 <-> binary32 conversion: a portable bit-exact path plus F16C (x86-64) and NEON
 * (arm64) bulk paths, dispatched once at run time.
 *
 * NaN rule, shared by every path (it is what F16C and NEON do in hardware with default FP
 * control settings, so the portable code copies it): the sign and the top payload bits are
 * kept and the NaN is made quiet.
 *   half -> float: payload shifted left by 13, quiet bit (0x00400000) set.
 *   float -> half: payload shifted right by 13 (low 13 bits dropped), quiet bit (0x0200) set.
 * Hence a signalling half NaN round-trips to the quiet NaN with the same payload; every other
 * half value round-trips exactly.
 * The hardware paths assume the default MXCSR/FPCR (no DAZ/FTZ, no default-NaN mode), which is
 * how processes start on Linux and macOS. */
#include "core/fp16.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define ANET_HAVE_F16C 1
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#define ANET_HAVE_NEON 1
#endif

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- portable scalar path ---- */

float anet_f16_to_f32(anet_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        /* Subnormal: mant * 2^-24 is exact in fp32 (a normal number there). */
        float v = (float)mant * 0x1p-24f;
        return bits_f32(sign | f32_bits(v));
    }
    if (exp == 31) {
        if (mant == 0) return bits_f32(sign | 0x7f800000u);
        return bits_f32(sign | 0x7fc00000u | (mant << 13));
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

anet_f16 anet_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) {
        if (x == 0x7f800000u) return (anet_f16)(sign | 0x7c00u);
        return (anet_f16)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
    }
    if (x >= 0x477ff000u) return (anet_f16)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (x < 0x38800000u) {
        /* Below 2^-14: result is round(value / 2^-24) as a subnormal count (0x400 = min normal). */
        uint32_t e = x >> 23;
        uint32_t shift = 126u - e; /* value / 2^-24 = mant * 2^-shift */
        if (shift > 24u) return sign; /* below 2^-25: rounds to zero */
        uint32_t mant = (x & 0x7fffffu) | 0x800000u;
        uint32_t r = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (anet_f16)(sign | r);
    }
    uint32_t base = x - (112u << 23); /* rebias exponent 127 -> 15 */
    uint32_t r = base >> 13;
    uint32_t rem = base & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++; /* carry may reach the exponent */
    return (anet_f16)(sign | r);
}

float anet_f32_round_f16(float f) { return anet_f16_to_f32(anet_f32_to_f16(f)); }

void anet_f16_to_f32_n_portable(const anet_f16 *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = anet_f16_to_f32(src[i]);
}

void anet_f32_to_f16_n_portable(const float *src, anet_f16 *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = anet_f32_to_f16(src[i]);
}

static void round_n_portable(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = anet_f32_round_f16(x[i]);
}

/* ---- F16C path (x86-64): compiled for f16c only in these functions, chosen at run time ---- */
#if ANET_HAVE_F16C
__attribute__((target("avx,f16c"))) static void f16_to_f32_n_f16c(const anet_f16 *src, float *dst,
                                                                   size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    if (i < n) { /* tail through a padded buffer so it uses the same instruction */
        anet_f16 hb[8] = {0};
        float fb[8];
        memcpy(hb, src + i, (n - i) * sizeof *hb);
        _mm256_storeu_ps(fb, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)hb)));
        memcpy(dst + i, fb, (n - i) * sizeof *fb);
    }
}

__attribute__((target("avx,f16c"))) static void f32_to_f16_n_f16c(const float *src, anet_f16 *dst,
                                                                   size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
    if (i < n) {
        float fb[8] = {0};
        anet_f16 hb[8];
        memcpy(fb, src + i, (n - i) * sizeof *fb);
        _mm_storeu_si128((__m128i *)(void *)hb,
                         _mm256_cvtps_ph(_mm256_loadu_ps(fb), _MM_FROUND_TO_NEAREST_INT));
        memcpy(dst + i, hb, (n - i) * sizeof *hb);
    }
}

__attribute__((target("avx,f16c"))) static void round_n_f16c(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    if (i < n) {
        float fb[8] = {0};
        memcpy(fb, x + i, (n - i) * sizeof *fb);
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(fb), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(fb, _mm256_cvtph_ps(h));
        memcpy(x + i, fb, (n - i) * sizeof *fb);
    }
}
#endif

/* ---- NEON path (arm64: fp16 conversion is part of the base ISA) ---- */
#if ANET_HAVE_NEON
static void f16_to_f32_n_neon(const anet_f16 *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
    if (i < n) {
        anet_f16 hb[4] = {0};
        float fb[4];
        memcpy(hb, src + i, (n - i) * sizeof *hb);
        vst1q_f32(fb, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(hb))));
        memcpy(dst + i, fb, (n - i) * sizeof *fb);
    }
}

static void f32_to_f16_n_neon(const float *src, anet_f16 *dst, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    if (i < n) {
        float fb[4] = {0};
        anet_f16 hb[4];
        memcpy(fb, src + i, (n - i) * sizeof *fb);
        vst1_u16(hb, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(fb))));
        memcpy(dst + i, hb, (n - i) * sizeof *hb);
    }
}

static void round_n_neon(float *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    if (i < n) {
        float fb[4] = {0};
        memcpy(fb, x + i, (n - i) * sizeof *fb);
        vst1q_f32(fb, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(fb))));
        memcpy(x + i, fb, (n - i) * sizeof *fb);
    }
}
#endif

/* ---- dispatch: decided once; every thread computes the same answer, so a racing first call
 * is harmless and the value is constant afterwards ---- */
enum { PATH_UNKNOWN = 0, PATH_PORTABLE, PATH_F16C, PATH_NEON };
static atomic_int g_path = PATH_UNKNOWN;

static int detect_path(void) {
#if ANET_HAVE_NEON
    return PATH_NEON;
#elif ANET_HAVE_F16C
    /* "avx" also checks that the OS saves the YMM state; the F16C bit (CPUID.1:ECX[29]) is read
     * directly because clang's __builtin_cpu_supports does not know "f16c". */
    unsigned eax, ebx, ecx, edx;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)))
        return PATH_F16C;
    return PATH_PORTABLE;
#else
    return PATH_PORTABLE;
#endif
}

static int current_path(void) {
    int p = atomic_load_explicit(&g_path, memory_order_acquire);
    if (p == PATH_UNKNOWN) {
        p = detect_path();
        atomic_store_explicit(&g_path, p, memory_order_release);
    }
    return p;
}

const char *anet_f16_path(void) {
    switch (current_path()) {
    case PATH_F16C: return "f16c";
    case PATH_NEON: return "neon";
    default: return "portable";
    }
}

void anet_f16_to_f32_n(const anet_f16 *src, float *dst, size_t n) {
    switch (current_path()) {
#if ANET_HAVE_F16C
    case PATH_F16C: f16_to_f32_n_f16c(src, dst, n); return;
#endif
#if ANET_HAVE_NEON
    case PATH_NEON: f16_to_f32_n_neon(src, dst, n); return;
#endif
    default: anet_f16_to_f32_n_portable(src, dst, n); return;
    }
}

void anet_f32_to_f16_n(const float *src, anet_f16 *dst, size_t n) {
    switch (current_path()) {
#if ANET_HAVE_F16C
    case PATH_F16C: f32_to_f16_n_f16c(src, dst, n); return;
#endif
#if ANET_HAVE_NEON
    case PATH_NEON: f32_to_f16_n_neon(src, dst, n); return;
#endif
    default: anet_f32_to_f16_n_portable(src, dst, n); return;
    }
}

void anet_f32_round_f16_n(float *x, size_t n) {
    switch (current_path()) {
#if ANET_HAVE_F16C
    case PATH_F16C: round_n_f16c(x, n); return;
#endif
#if ANET_HAVE_NEON
    case PATH_NEON: round_n_neon(x, n); return;
#endif
    default: round_n_portable(x, n); return;
    }
}

/* ---- stochastic rounding ---- */

/* splitmix64 step on the caller's state: cheap, and any seed (even 0) gives a good stream. */
static uint64_t sr_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Rounds the magnitude up with probability (|f| - lo) / (hi - lo), where lo and hi are the
 * neighbouring halves (hi = inf above 65504, as if the exponent went on). NaN and inf are
 * converted as by anet_f32_to_f16; exactly representable values never change. One generator
 * step is consumed per call, whatever the value, so streams stay aligned. */
anet_f16 anet_f32_to_f16_stochastic(float f, uint64_t *rng_state) {
    uint64_t rnd = sr_next(rng_state);
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) return anet_f32_to_f16(f);
    if (x >= 0x47800000u) return (anet_f16)(sign | 0x7c00u); /* >= 65536: beyond inf's "ulp" */
    if (x < 0x38800000u) {
        uint32_t e = x >> 23;
        uint32_t shift = 126u - e; /* >= 14 */
        if (x == 0) return sign;
        if (e == 0) return sign; /* fp32 subnormals: below 2^-126, probability < 2^-102 */
        if (shift >= 64u) return sign; /* probability of rounding up below 2^-40 */
        uint64_t mant = (x & 0x7fffffu) | 0x800000u;
        uint64_t r = shift >= 24u ? 0 : mant >> shift;
        uint64_t rem = mant & ((1ull << shift) - 1u);
        if (rem > (rnd >> (64u - shift))) r++;
        return (anet_f16)(sign | (uint16_t)r);
    }
    uint32_t base = x - (112u << 23);
    uint32_t r = base >> 13;
    uint32_t rem = base & 0x1fffu;
    if (rem > (uint32_t)(rnd >> 51)) r++; /* 13 random bits against the 13 dropped bits */
    return (anet_f16)(sign | r);
}

void anet_f32_to_f16_stochastic_n(const float *src, anet_f16 *dst, size_t n, uint64_t *rng_state) {
    for (size_t i = 0; i < n; i++) dst[i] = anet_f32_to_f16_stochastic(src[i], rng_state);
}
