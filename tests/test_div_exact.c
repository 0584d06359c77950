/* The exact-division kernel of div_exact.h (sqrt(x) / c without the divider) against the IEEE
 * division, bit for bit, on every path this CPU runs: random operands over every bit pattern and
 * over the kernel's domain, an exhaustive sweep of two binades, and hard cases (divisors with an
 * all-ones significand, quotients next to powers of two, the domain's edges, Adam's constants,
 * zeros, subnormals, infinities, NaN). Each batch also checks that the kernel itself answered
 * for the lanes inside its domain, so a kernel that gave up everywhere would fail. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/div_exact.h"

#ifdef ANET_DIV_X86
#include <immintrin.h>

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 16;
}

/* The reference: the square root and the division as single IEEE instructions (sqrtss, then
 * '/'), whatever libm's errno handling would do with negative x. */
static float ref_sqrt_div(float x, float c) { return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x))) / c; }

/* Lanes in the kernel's domain: sqrt(x) is +0 or a positive float below 2^28, and c is in range. */
static int in_domain(float x, float c) {
    float s = _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x)));
    return anet_divc_ok(c) && bits(s) < (uint32_t)ANET_DIVC_A_LIM_BITS;
}

typedef struct run {
    anet_sqrt_divc_fn f;
    const char *name;
    float *q;
    long bad;      /* results that differ from the reference */
    long expected; /* lanes in the domain */
    long fast;     /* lanes the kernel answered */
} run;

/* One batch: n values of x against one c. */
static void batch(run *r, const float *x, size_t n, float c) {
    r->fast += (long)r->f(x, c, r->q, n);
    for (size_t i = 0; i < n; i++) {
        float want = ref_sqrt_div(x[i], c);
        r->expected += in_domain(x[i], c);
        if (bits(r->q[i]) != bits(want)) {
            if (r->bad < 5)
                fprintf(stderr, "%s: sqrt(%a)/%a = %a (0x%08x), want %a (0x%08x)\n", r->name, (double)x[i], (double)c,
                        (double)r->q[i], bits(r->q[i]), (double)want, bits(want));
            r->bad++;
        }
    }
}

/* The divisors worth most: all-ones significands, powers of two and their neighbours, the
 * domain's edges and just outside, and Adam's bias corrections. */
static size_t hard_divisors(float *c, size_t max) {
    size_t n = 0;
    for (int e = -17; e <= 16 && n + 4 <= max; e++) {
        c[n++] = ldexpf(2.0f - 0x1p-23f, e);     /* 1.11...1 * 2^e */
        c[n++] = ldexpf(1.0f, e);                /* 2^e (2^-17: outside) */
        c[n++] = ldexpf(1.0f + 0x1p-23f, e);
        c[n++] = ldexpf(1.0f + 0x1p-22f, e) * 1.5f;
    }
    const double beta2[] = {0.999, 0.99, 0.9999, 1.0 - 0x1p-24};
    for (int b = 0; b < 4; b++)
        for (int t = 1; t <= 2000 && n < max; t = t < 20 ? t + 1 : t * 3 / 2)
            c[n++] = (float)sqrt(1.0 - pow(beta2[b], t));
    if (n + 3 <= max) {
        c[n++] = 1.0f; /* beta2 = 0 */
        c[n++] = 0x1p17f; /* outside: the division */
        c[n++] = FLT_MIN;
    }
    return n;
}

static void test_path(anet_sqrt_divc_fn f, const char *name) {
    enum { B = 4096 };
    static float x[B], q[B], cs[256];
    run r = {f, name, q, 0, 0, 0};
    uint64_t s = 0x5eed;
    const size_t nc = hard_divisors(cs, 256);
    long hard = 0;

    /* 1. Random: every bit pattern of x (all exponents, signs, NaN, inf, subnormals) and x biased
     * to the domain (positive normals), against random divisors in the domain and the hard ones. */
    for (int rep = 0; rep < 400; rep++) {
        float c = rep % 2 ? cs[rep / 2 % nc]
                          : from_bits((uint32_t)(rng_next(&s) & 0x7fffff) | (uint32_t)(127 - 16 + rng_next(&s) % 33) << 23);
        for (size_t i = 0; i < B; i++) {
            uint32_t u = (uint32_t)rng_next(&s);
            x[i] = from_bits(rep % 4 < 2 ? u : (u & 0x7fffff) | (uint32_t)(1 + u % 181) << 23);
        }
        batch(&r, x, B, c);
    }

    /* 2. Exhaustive: every x in [1, 4) (sqrt(x): every significand in [1, 2)) against an
     * all-ones divisor and a power of two's neighbour. */
    const float sweep_c[2] = {ldexpf(2.0f - 0x1p-23f, -3), 1.0f + 0x1p-23f};
    for (int k = 0; k < 2; k++)
        for (uint32_t u = bits(1.0f); u < bits(4.0f); u += B) {
            for (size_t i = 0; i < B; i++) x[i] = from_bits(u + (uint32_t)i);
            batch(&r, x, B, sweep_c[k]);
        }

    /* 3. Quotients next to powers of two: x around (c * 2^k)^2, 256 neighbours each way. */
    for (size_t j = 0; j < nc; j++)
        for (int k = -30; k <= 30; k += 3) {
            float a = (float)ldexp((double)cs[j], k);
            uint32_t u0 = bits(a * a);
            if (!(a * a < INFINITY) || u0 < 256) continue;
            for (size_t i = 0; i < 512; i++) x[i] = from_bits(u0 - 256 + (uint32_t)i);
            batch(&r, x, 512, cs[j]);
        }

    /* 4. The hardest quotients: a/c within 2^-48 of a midpoint between two floats, where a
     * quotient one rounding off would show. With c = C*2^-23 and a = A*2^-23 (C odd, A and C
     * 24-bit), A/C = M/2^25 + r/(C*2^25) for an odd M when C*M + r = A*2^25: M = -r/C mod 2^25.
     * x = a*a, whose square root is a again (checked). */
    for (int rep = 0; rep < 12000; rep++) {
        uint32_t C = rep < 64 ? 0xffffffu - 2u * (uint32_t)rep : (uint32_t)(rng_next(&s) & 0x7fffff) | 0x800001u;
        uint32_t inv = C; /* C^-1 mod 2^32 by Newton's iteration (5 steps from 3 correct bits) */
        for (int i = 0; i < 5; i++) inv *= 2u - C * inv;
        const float c = ldexpf((float)C, (int)(rng_next(&s) % 29) - 14 - 23); /* within the domain */
        const int rs[4] = {1, -1, 3, -3};
        size_t nh = 0;
        for (int j = 0; j < 4; j++) {
            uint64_t M = (uint64_t)((uint32_t)(-rs[j]) * inv) & 0x1ffffffu;
            int64_t num = (int64_t)C * (int64_t)M + rs[j], A = num >> 25;
            /* M odd in [2^24, 2^25): a midpoint of [0.5, 1); A a 24-bit significand */
            if (M < 0x1000000u || (num & 0x1ffffff) != 0 || A < 0x800000 || A > 0xffffff) continue;
            for (int k = -30; k < 10; k += 8) {
                float a = ldexpf((float)A, k - 23), xx = a * a;
                if (_mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(xx))) == a) x[nh++] = xx;
            }
        }
        batch(&r, x, nh, c);
        hard += (long)nh;
    }

    /* 5. Edges and specials: sqrt(x) around 2^28 (the domain's end), the least and greatest
     * floats, zeros, subnormals, infinities, NaN (quiet, signalling, negative), negatives. */
    size_t n = 0;
    for (int i = -300; i < 300; i++) x[n++] = from_bits(bits(0x1p56f) + (uint32_t)i);
    for (uint32_t u = 0; u < 600; u++) x[n++] = from_bits(u);                     /* +0, subnormals */
    for (uint32_t u = 0; u < 300; u++) x[n++] = from_bits(0x00800000u - 150 + u); /* around FLT_MIN */
    for (uint32_t u = 0; u < 300; u++) x[n++] = from_bits(0x7f7fffffu - u);       /* up to FLT_MAX */
    const float special[] = {-0.0f, INFINITY, -INFINITY, NAN, -NAN, from_bits(0x7f800001u), from_bits(0xff812345u),
                             -1.0f, -FLT_MIN, -0x1p-149f, 0x1p-149f, FLT_MIN, FLT_MAX, 1.0f, 0x1p-126f * 0.5f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[n++] = special[i];
    for (size_t j = 0; j < nc; j++) batch(&r, x, n, cs[j]);
    /* every length of a short tail, with a special in each position */
    for (size_t len = 1; len <= 17; len++)
        for (size_t i = 0; i < len; i++) {
            for (size_t k = 0; k < len; k++) x[k] = (float)(k + 1) * 0.37f;
            x[i] = special[i % (sizeof special / sizeof special[0])];
            batch(&r, x, len, 0.31622776f);
        }

    CHECK_MSG(r.bad == 0, "%s: %ld quotients differ from the division", name, r.bad);
    CHECK_MSG(r.fast == r.expected, "%s: the kernel answered %ld lanes, %ld were in its domain", name, r.fast, r.expected);
    CHECK_MSG(r.expected > 20000000, "%s: only %ld lanes in the domain", name, r.expected);
    CHECK_MSG(hard > 10000, "%s: only %ld hardest quotients", name, hard);
    fprintf(stderr, "%s: %ld lanes by the kernel (%ld of them quotients within 2^-48 of a midpoint), %ld differ from the division\n",
            name, r.fast, hard, r.bad);
}
#endif

int main(void) {
    anet_sqrt_divc_fn f[4];
    const char *nm[4];
    int np = anet_sqrt_divc_paths(f, nm, 4);
#ifdef ANET_DIV_X86
    __builtin_cpu_init();
    /* the kernel exists wherever AVX2 and FMA do */
    CHECK_EQ_INT(np, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0);
    for (int p = 0; p < np; p++) test_path(f[p], nm[p]);
#else
    CHECK_EQ_INT(np, 0);
    (void)f;
    (void)nm;
#endif
    TEST_MAIN_END();
}
