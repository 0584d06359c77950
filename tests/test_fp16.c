/* fp16 conversion: exhaustive half -> float against ldexp, float -> half against a double/rint
 * reference (tests/fp16_ref.h) cross-checked with the compiler's _Float16 conversion, the fast
 * bulk path against the portable one bit for bit, and stochastic rounding statistics. */
#include "core/fp16.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp16_ref.h"

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* The oracle for finite values and infinities: the double/rint reference, which must agree
 * with the compiler's _Float16 conversion where that exists. */
static anet_f16 oracle_f32_to_f16(float f) { return ref_f32_to_f16(f); }

/* The value of a half from its fields, in double (exact); 0x7c00 reads as 65536, the next
 * step after 65504, which is what stochastic rounding's upper neighbour means there. */
static double half_value(anet_f16 h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static uint64_t test_rng = 0x1234567887654321ull;
static uint32_t rand32(void) { /* xorshift64, independent of the library's generators */
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (uint32_t)(test_rng >> 32);
}

static void test_all_halves(void) {
    static anet_f16 all[65536];
    static float fast[65536], port[65536];
    for (uint32_t i = 0; i < 65536; i++) all[i] = (anet_f16)i;
    anet_f16_to_f32_n_portable(all, port, 65536);
    anet_f16_to_f32_n(all, fast, 65536);
    int bad_val = 0, bad_rt = 0, bad_nan = 0, bad_bulk = 0, bad_port = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        anet_f16 h = (anet_f16)i;
        float f = anet_f16_to_f32(h);
        int is_nan = ((h & 0x7c00) == 0x7c00) && (h & 0x3ff);
        if (is_nan) {
            uint32_t want = ((uint32_t)(h & 0x8000) << 16) | 0x7fc00000u | ((uint32_t)(h & 0x3ff) << 13);
            if (!isnan(f) || fbits(f) != want) bad_nan++;
            if (anet_f32_to_f16(f) != (h | 0x200)) bad_rt++;
        } else {
            double want = ((h & 0x7fff) == 0x7c00) ? ((h & 0x8000) ? -INFINITY : INFINITY) : half_value(h);
            if ((double)f != want || (signbit(f) != 0) != ((h & 0x8000) != 0)) bad_val++;
            if (anet_f32_to_f16(f) != h) bad_rt++;
        }
        if (fbits(fast[i]) != fbits(f)) bad_bulk++;
        if (fbits(port[i]) != fbits(f)) bad_port++;
    }
    CHECK_EQ_INT(bad_val, 0);
    CHECK_EQ_INT(bad_rt, 0);
    CHECK_EQ_INT(bad_nan, 0);
    CHECK_EQ_INT(bad_bulk, 0);
    CHECK_EQ_INT(bad_port, 0);
}

/* A few million floats aimed at the hard cases. */
static float *build_float_set(size_t *count) {
    size_t cap = 4000000, n = 0;
    float *v = malloc(cap * sizeof *v);
    if (!v) return NULL;
#define PUSH(x) do { if (n < cap) v[n++] = (x); } while (0)
    /* Every half, its float neighbours, every tie between neighbouring halves and the floats
     * next to each tie (covers every subnormal and the 65504 edge). */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        for (int s = 0; s < 2; s++) {
            double sign = s ? -1.0 : 1.0;
            float a = (float)(sign * half_value((anet_f16)h));
            double next = h + 1 < 0x7c00 ? half_value((anet_f16)(h + 1)) : 65536.0;
            float mid = (float)(sign * (half_value((anet_f16)h) + next) / 2); /* exact */
            PUSH(a); PUSH(nextafterf(a, INFINITY)); PUSH(nextafterf(a, -INFINITY));
            PUSH(mid); PUSH(nextafterf(mid, INFINITY)); PUSH(nextafterf(mid, -INFINITY));
        }
    }
    /* Around 65504 and 65520 (the overflow threshold), and the subnormal/zero boundary. */
    const float edges[] = {65504.0f, 65520.0f, 65536.0f, 0x1p-24f, 0x1p-25f, 0x1p-14f, 0x1p-26f,
                           0x1.8p-25f, 0x1p-126f, 0x1p-149f};
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++) {
        float up = edges[e], dn = edges[e];
        for (int k = 0; k < 200; k++) {
            PUSH(up); PUSH(-up); PUSH(dn); PUSH(-dn);
            up = nextafterf(up, INFINITY);
            dn = nextafterf(dn, 0.0f);
        }
    }
    PUSH(INFINITY); PUSH(-INFINITY); PUSH(0.0f); PUSH(-0.0f); PUSH(FLT_MAX);
    /* NaNs: quiet, signalling, both signs, payloads in the kept and the dropped bits. */
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0x7fa00000u, 0x7f802000u,
                             0x7f801fffu, 0xffc00000u, 0xff800001u, 0x7fc01234u, 0xffbfe000u};
    for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) PUSH(bitsf(nans[i]));
    /* Random bit patterns: all exponents, and a dense batch in the half range. */
    while (n < 3000000) PUSH(bitsf(rand32()));
    while (n < cap) {
        uint32_t r = rand32();
        PUSH(bitsf((r & 0x80000000u) | (0x33000000u + (r & 0x7fffffffu) % (0x47800000u - 0x33000000u))));
    }
#undef PUSH
    *count = n;
    return v;
}

static void test_f32_to_f16(void) {
    size_t n = 0;
    float *v = build_float_set(&n);
    CHECK(v != NULL);
    if (!v) return;
    anet_f16 *port = malloc(n * sizeof *port), *fast = malloc(n * sizeof *fast);
    float *r_fast = malloc(n * sizeof *r_fast);
    CHECK(port && fast && r_fast);
    if (!port || !fast || !r_fast) { free(v); free(port); free(fast); free(r_fast); return; }
    anet_f32_to_f16_n_portable(v, port, n);
    anet_f32_to_f16_n(v, fast, n);
    memcpy(r_fast, v, n * sizeof *v);
    anet_f32_round_f16_n(r_fast, n);
    size_t bad_compiler = 0, bad_oracle = 0, bad_nan = 0, bad_scalar = 0, bad_fast = 0, bad_round = 0, shown = 0;
    for (size_t i = 0; i < n; i++) {
        anet_f16 h = anet_f32_to_f16(v[i]);
        if (isnan(v[i])) {
            uint32_t b = fbits(v[i]);
            anet_f16 want = (anet_f16)(((b >> 16) & 0x8000u) | 0x7e00u | ((b >> 13) & 0x3ffu));
            if (h != want) bad_nan++;
        } else if (h != oracle_f32_to_f16(v[i])) {
            if (shown++ < 5)
                fprintf(stderr, "f=%a (0x%08x): got 0x%04x want 0x%04x\n", (double)v[i], fbits(v[i]), h,
                        oracle_f32_to_f16(v[i]));
            bad_oracle++;
        }
#ifdef REF_HAVE_FLOAT16
        if (!isnan(v[i]) && ref_compiler_f32_to_f16(v[i]) != oracle_f32_to_f16(v[i])) bad_compiler++;
#endif
        if (port[i] != h) bad_scalar++;
        if (fast[i] != h) bad_fast++;
        if (fbits(r_fast[i]) != fbits(anet_f32_round_f16(v[i]))) bad_round++;
    }
    printf("f32->f16: %zu values, bulk path %s\n", n, anet_f16_path());
    CHECK(n > 1000000);
    CHECK_EQ_INT(bad_compiler, 0);
    CHECK_EQ_INT(bad_oracle, 0);
    CHECK_EQ_INT(bad_nan, 0);
    CHECK_EQ_INT(bad_scalar, 0);
    CHECK_EQ_INT(bad_fast, 0);
    CHECK_EQ_INT(bad_round, 0);
    free(v); free(port); free(fast); free(r_fast);
}

/* Specific values worked out by hand. */
static void test_known(void) {
    CHECK_EQ_INT(anet_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(anet_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(anet_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(anet_f32_to_f16(65519.996f), 0x7bff);
    CHECK_EQ_INT(anet_f32_to_f16(65520.0f), 0x7c00); /* tie, 0x7bff is odd: up to inf */
    CHECK_EQ_INT(anet_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_EQ_INT(anet_f32_to_f16(0x1p-25f), 0x0000); /* tie to even zero */
    CHECK_EQ_INT(anet_f32_to_f16(0x1.8p-24f), 0x0002); /* 1.5 ulp: tie to even 2 */
    CHECK_EQ_INT(anet_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie to even */
    CHECK_EQ_INT(anet_f32_to_f16(1.0f + 0x3p-11f), 0x3c02);
    CHECK_EQ_INT(anet_f32_to_f16(-0.0f), 0x8000);
    CHECK(anet_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(anet_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(anet_f32_round_f16(0.1f) == (float)half_value(0x2e66));
}

static void test_odd_lengths(void) {
    const size_t lens[] = {0, 1, 7, 8, 9, 1000003};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        size_t n = lens[li];
        float *src = malloc((n + 1) * sizeof *src);
        float *fa = malloc((n + 16) * sizeof *fa), *fb = malloc((n + 16) * sizeof *fb);
        anet_f16 *ha = malloc((n + 16) * sizeof *ha), *hb = malloc((n + 16) * sizeof *hb);
        CHECK(src && fa && fb && ha && hb);
        if (!src || !fa || !fb || !ha || !hb) { free(src); free(fa); free(fb); free(ha); free(hb); return; }
        for (size_t i = 0; i < n; i++) src[i] = (float)((double)(int32_t)rand32() * 0x1p-20);
        for (size_t i = 0; i < n + 16; i++) { ha[i] = hb[i] = 0xABCD; fa[i] = fb[i] = -7.0f; }
        anet_f32_to_f16_n(src, ha, n);
        anet_f32_to_f16_n_portable(src, hb, n);
        CHECK_MSG(memcmp(ha, hb, (n + 16) * sizeof *ha) == 0, "f32->f16 n=%zu", n);
        for (size_t i = n; i < n + 16; i++) CHECK_MSG(ha[i] == 0xABCD, "write past end n=%zu", n);
        anet_f16_to_f32_n(ha, fa, n);
        anet_f16_to_f32_n_portable(hb, fb, n);
        CHECK_MSG(memcmp(fa, fb, (n + 16) * sizeof *fa) == 0, "f16->f32 n=%zu", n);
        for (size_t i = n; i < n + 16; i++) CHECK_MSG(fa[i] == -7.0f, "write past end n=%zu", n);
        memcpy(fb, src, n * sizeof *src);
        anet_f32_round_f16_n(fb, n);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) if (fbits(fb[i]) != fbits(ref_round(src[i]))) bad++;
        CHECK_MSG(bad == 0, "round_n n=%zu: %zu wrong", n, bad);
        for (size_t i = n; i < n + 16; i++) CHECK_MSG(fb[i] == -7.0f, "write past end n=%zu", n);
        free(src); free(fa); free(fb); free(ha); free(hb);
    }
}

static void test_stochastic(void) {
    /* Determinism for a seed, and the bulk call equals the scalar sequence. */
    enum { N = 4096 };
    static float src[N];
    static anet_f16 a[N], b[N], c[N];
    for (int i = 0; i < N; i++) src[i] = (float)((double)(int32_t)rand32() * 0x1p-24);
    uint64_t s1 = 42, s2 = 42, s3 = 43;
    anet_f32_to_f16_stochastic_n(src, a, N, &s1);
    for (int i = 0; i < N; i++) b[i] = anet_f32_to_f16_stochastic(src[i], &s2);
    anet_f32_to_f16_stochastic_n(src, c, N, &s3);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(s1 == s2);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* Every result is one of the two neighbours of the input (same sign). */
    int bad_nb = 0;
    for (int i = 0; i < N; i++) {
        double ax = fabs((double)src[i]);
        anet_f16 t = oracle_f32_to_f16((float)ax);
        anet_f16 lo = t, hi = t;
        if (half_value(t) < ax) hi = (anet_f16)(t + 1);
        else if (half_value(t) > ax) lo = (anet_f16)(t - 1);
        anet_f16 mag = a[i] & 0x7fff;
        int sign_ok = ((a[i] >> 15) != 0) == (src[i] < 0) || mag == 0;
        if (!sign_ok || (mag != lo && mag != hi)) bad_nb++;
    }
    CHECK_EQ_INT(bad_nb, 0);
    /* Exactly representable values never move. */
    uint64_t s = 7;
    int moved = 0;
    for (uint32_t h = 0; h < 0x7c00; h += 3) {
        float f = (float)half_value((anet_f16)h);
        if (anet_f32_to_f16_stochastic(f, &s) != h) moved++;
        if (anet_f32_to_f16_stochastic(-f, &s) != (h | 0x8000)) moved++;
    }
    CHECK_EQ_INT(moved, 0);
    /* Unbiased: the mean of K roundings is the value, within 6 standard errors. */
    const double vals[] = {1.0 + 0.3 * 0x1p-10, -3.0 - 0.77 * 2 * 0x1p-10, 0.1, 1000.123,
                           2.3 * 0x1p-24, -0.01 * 0x1p-24, 700.4 * 0x1p-24, 65510.0};
    const int K = 100000;
    uint64_t st = 123456789;
    for (size_t vi = 0; vi < sizeof vals / sizeof *vals; vi++) {
        float f = (float)vals[vi];
        double x = f;
        anet_f16 t = oracle_f32_to_f16(f);
        double n1 = half_value(t);
        /* The other neighbour: one step away from zero if the nearest is below |x|, else toward. */
        anet_f16 other = (fabs(n1) < fabs(x)) ? (anet_f16)(t + 1) : (anet_f16)(t - 1);
        double n2 = half_value(other);
        double lo = fmin(fabs(n1), fabs(n2)), hi = fmax(fabs(n1), fabs(n2));
        double p = (fabs(x) - lo) / (hi - lo);
        double sum = 0;
        int outside = 0;
        for (int k = 0; k < K; k++) {
            anet_f16 r = anet_f32_to_f16_stochastic(f, &st);
            if (r != t && r != other) outside++;
            sum += half_value(r);
        }
        double mean = sum / K;
        double se = (hi - lo) * sqrt(p * (1 - p) / K);
        CHECK_EQ_INT(outside, 0);
        CHECK_MSG(fabs(mean - x) <= 6 * se + 1e-12 * fabs(x), "value %.17g mean %.17g se %.3g", x, mean, se);
    }
    /* NaN and inf pass through, huge values become inf. */
    uint64_t sn = 1;
    CHECK(anet_f32_to_f16_stochastic(INFINITY, &sn) == 0x7c00);
    CHECK(anet_f32_to_f16_stochastic(-1e6f, &sn) == 0xfc00);
    anet_f16 hn = anet_f32_to_f16_stochastic(NAN, &sn);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
}

int main(void) {
    test_known();
    test_all_halves();
    test_f32_to_f16();
    test_odd_lengths();
    test_stochastic();
    TEST_MAIN_END();
}
