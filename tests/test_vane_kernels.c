/* vane's raw kernels where the backend path cannot reach or see them: the broadcast plan's
 * collapsing (the fast paths exist), gelu (rejected by every chip profile, so never compiled
 * through the backend), NaN propagation, and im2col against its definition. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fp16.h"
#include "runtime/vane/kernels.h"

static void test_bcast_plan(void) {
    anet_vk_bcast p;
    int64_t o[4] = {1, 7, 1, 13}, a[4] = {1, 7, 1, 13}, b[4] = {1, 7, 1, 1}, s[4] = {1, 1, 1, 1};
    int r2[2] = {4, 4};
    const int64_t *ab[2] = {a, b}, *aa[2] = {a, a}, *sa[2] = {s, a};
    /* [1,C,1,S] op [1,C,1,1]: two axes, b constant along the inner one. */
    CHECK(anet_vk_bcast_plan(&p, 4, o, 2, r2, ab) == 0);
    CHECK_EQ_INT(p.nd, 2);
    CHECK(p.dims[0] == 7 && p.dims[1] == 13);
    CHECK(p.st[0][0] == 13 && p.st[0][1] == 1 && p.st[1][0] == 1 && p.st[1][1] == 0);
    /* Same shape: one flat loop. */
    CHECK(anet_vk_bcast_plan(&p, 4, o, 2, r2, aa) == 0);
    CHECK(p.nd == 1 && p.dims[0] == 91 && p.st[0][0] == 1 && p.st[1][0] == 1);
    /* Scalar-like operand: one loop with stride 0. */
    CHECK(anet_vk_bcast_plan(&p, 4, o, 2, r2, sa) == 0);
    CHECK(p.nd == 1 && p.dims[0] == 91 && p.st[0][0] == 0 && p.st[1][0] == 1);
    /* Right-aligned ranks: [3,1,5] with [4,1] -> [3,4,5]. */
    int64_t o3[3] = {3, 4, 5}, x3[3] = {3, 1, 5}, y2[2] = {4, 1};
    int rr[2] = {3, 2};
    const int64_t *xy[2] = {x3, y2};
    CHECK(anet_vk_bcast_plan(&p, 3, o3, 2, rr, xy) == 0);
    CHECK_EQ_INT(p.nd, 3);
    float xv[15], yv[4], out[60];
    for (int i = 0; i < 15; i++) xv[i] = (float)i;
    for (int i = 0; i < 4; i++) yv[i] = 100.0f * (float)i;
    anet_vk_binary(ANET_VK_ADD, &p, xv, yv, out);
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 5; k++)
                if (out[(i * 4 + j) * 5 + k] != xv[i * 5 + k] + yv[j]) bad++;
    CHECK_EQ_INT(bad, 0);
    /* Shapes that do not broadcast. */
    int64_t bad_b[4] = {1, 6, 1, 1};
    const int64_t *ab2[2] = {a, bad_b};
    CHECK(anet_vk_bcast_plan(&p, 4, o, 2, r2, ab2) == -1);
}

static void test_gelu_nan(void) {
    float x[7] = {-3.0f, -1.0f, -0.25f, 0.0f, 0.5f, 2.0f, 4.0f}, y[7];
    anet_vk_unary(ANET_VK_GELU_EXACT, 7, x, y, 0);
    for (int i = 0; i < 7; i++) {
        double r = 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
        CHECK_NEAR(y[i], r, 1e-6 * fabs(r) + 1e-7);
    }
    anet_vk_unary(ANET_VK_GELU_TANH, 7, x, y, 0);
    for (int i = 0; i < 7; i++) {
        double v = x[i], r = 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
        CHECK_NEAR(y[i], r, 1e-6 * fabs(r) + 1e-7);
    }
    float n[3] = {NAN, -1.0f, 2.0f}, o[3];
    anet_vk_unary(ANET_VK_RELU, 3, n, o, 0);
    CHECK(isnan(o[0]) && o[1] == 0.0f && o[2] == 2.0f);
    anet_vk_bcast p;
    int64_t d[1] = {3};
    int r[2] = {1, 1};
    const int64_t *dd[2] = {d, d};
    float m[3] = {1.0f, NAN, 5.0f};
    CHECK(anet_vk_bcast_plan(&p, 1, d, 2, r, dd) == 0);
    anet_vk_binary(ANET_VK_MAX, &p, n, m, o);
    CHECK(isnan(o[0]) && isnan(o[1]) && o[2] == 5.0f);
    anet_vk_binary(ANET_VK_MIN, &p, n, m, o);
    CHECK(isnan(o[0]) && isnan(o[1]) && o[2] == 2.0f);
    float rm;
    int64_t rd[1] = {3};
    anet_vk_reduce(ANET_VK_RMAX, 1, rd, 1u, m, &rm);
    CHECK(isnan(rm));
}

/* im2col against its definition over strides, dilations and paddings on both sides (rows
 * that start, end or lie wholly in the padding; kernels wider than the input). */
static void im2col_case(int sh, int sw, int dh, int dw, int pt, int pl, int kh, int kw) {
    enum { C = 2, H = 5, W = 6 };
    anet_vk_win w = {C, H, W, kh, kw, sh, sw, dh, dw, pt, pl, 0, 0};
    w.ho = (H + 2 * pt - (dh * (kh - 1) + 1)) / sh + 1;
    w.wo = (W + 2 * pl - (dw * (kw - 1) + 1)) / sw + 1;
    if (w.ho < 1 || w.wo < 1) return;
    float x[C * H * W], col[C * 8 * 8 * 16 * 16];
    for (int i = 0; i < C * H * W; i++) x[i] = (float)(i + 1);
    CHECK(w.ho * w.wo * C * kh * kw <= (int64_t)(sizeof col / sizeof col[0]));
    for (size_t i = 0; i < sizeof col / sizeof col[0]; i++) col[i] = -1.0f;
    anet_vk_im2col(&w, x, col);
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++)
                for (int oy = 0; oy < w.ho; oy++)
                    for (int ox = 0; ox < w.wo; ox++) {
                        int iy = oy * sh - pt + i * dh, ix = ox * sw - pl + j * dw;
                        float want = (iy < 0 || iy >= H || ix < 0 || ix >= W) ? 0.0f : x[(c * H + iy) * W + ix];
                        if (col[((c * kh + i) * kw + j) * w.ho * w.wo + oy * w.wo + ox] != want) bad++;
                    }
    CHECK_EQ_INT(bad, 0);
    /* the transposed build (vane's path for wide kernels) holds the same values */
    static float colt[C * 8 * 8 * 16 * 16], back[C * 8 * 8 * 16 * 16];
    int64_t K = C * kh * kw, N = w.ho * w.wo;
    anet_vk_im2col_t(&w, x, colt);
    const int64_t dims[2] = {N, K};
    const int perm[2] = {1, 0};
    anet_vk_transpose(2, dims, perm, colt, back);
    CHECK(memcmp(back, col, (size_t)(K * N) * sizeof(float)) == 0);
}

static void test_im2col(void) {
    im2col_case(2, 1, 2, 1, 1, 2, 3, 2);
    for (int s = 1; s <= 3; s++)
        for (int d = 1; d <= 2; d++)
            for (int p = 0; p <= 4; p++)
                for (int k = 1; k <= 8; k++) im2col_case(s, s, d, d, p, p, k, k);
    im2col_case(1, 2, 1, 1, 0, 3, 2, 5);
}

/* 2x2 max pooling (its own fast path) bit for bit against the window rule written out here:
 * values in row-major window order, a NaN (any payload) replaces the running max; odd sizes. */
/* anet_vk_transpose against its definition for every permutation of rank 4, over shapes with
 * size-1 axes (skipped), axes that merge (whole rows copied) and 2-d transposes past the
 * 32-element tiles. */
static void test_transpose_all(void) {
    static const int64_t shapes[][4] = {{2, 3, 4, 5}, {1, 37, 1, 70}, {3, 1, 33, 2}, {2, 40, 3, 35}, {1, 1, 1, 1}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t *d = shapes[si];
        int64_t n = d[0] * d[1] * d[2] * d[3];
        float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        for (int64_t e = 0; e < n; e++) x[e] = (float)e;
        int bad = 0;
        for (int p = 0; p < 256; p++) {
            int perm[4] = {p & 3, p >> 2 & 3, p >> 4 & 3, p >> 6 & 3}, seen = 0;
            for (int k = 0; k < 4; k++) seen |= 1 << perm[k];
            if (seen != 15) continue;
            anet_vk_transpose(4, d, perm, x, y);
            int64_t od[4] = {d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]}, i[4];
            for (i[0] = 0; i[0] < od[0]; i[0]++)
                for (i[1] = 0; i[1] < od[1]; i[1]++)
                    for (i[2] = 0; i[2] < od[2]; i[2]++)
                        for (i[3] = 0; i[3] < od[3]; i[3]++) {
                            int64_t xi[4];
                            for (int k = 0; k < 4; k++) xi[perm[k]] = i[k];
                            int64_t src = ((xi[0] * d[1] + xi[1]) * d[2] + xi[2]) * d[3] + xi[3];
                            int64_t dst = ((i[0] * od[1] + i[1]) * od[2] + i[2]) * od[3] + i[3];
                            if (y[dst] != x[src] && bad++ < 3)
                                fprintf(stderr, "transpose shape %zu perm %d%d%d%d: y[%lld] = %g want %g\n", si, perm[0],
                                        perm[1], perm[2], perm[3], (long long)dst, y[dst], x[src]);
                        }
        }
        CHECK_MSG(bad == 0, "transpose shape %zu: %d wrong elements", si, bad);
        free(x);
        free(y);
    }
}

static void test_pool_2x2(void) {
    enum { P = 3, H = 7, W = 9, HO = 3, WO = 4 };
    float x[P * H * W], y[P * HO * WO];
    uint32_t nan_a = 0x7fc00001u, nan_b = 0xffc00002u;
    for (int i = 0; i < P * H * W; i++) x[i] = (float)((i * 37) % 23) - 11.0f;
    memcpy(&x[3], &nan_a, 4);  /* a window with one NaN */
    memcpy(&x[W + 3], &nan_b, 4); /* ... and a second one later in the same window */
    x[20] = -INFINITY;
    anet_vk_win w = {1, H, W, 2, 2, 2, 2, 1, 1, 0, 0, HO, WO};
    anet_vk_pool(1, 0, P, &w, x, y);
    int bad = 0;
    for (int p = 0; p < P; p++)
        for (int oy = 0; oy < HO; oy++)
            for (int ox = 0; ox < WO; ox++) {
                float acc = -INFINITY;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) {
                        float v = x[(p * H + 2 * oy + i) * W + 2 * ox + j];
                        if (v > acc || v != v) acc = v;
                    }
                if (memcmp(&acc, &y[(p * HO + oy) * WO + ox], 4) != 0) bad++;
            }
    CHECK_EQ_INT(bad, 0);
    uint32_t got;
    memcpy(&got, &y[1], 4);
    CHECK(got == nan_b); /* the later NaN's payload */
}

/* Values that stress every path: NaN, infinities, signed zeros, subnormals, huge, tiny. */
static uint64_t krng = 0x9E3779B97F4A7C15ull;
static float kval(void) {
    krng ^= krng << 13;
    krng ^= krng >> 7;
    krng ^= krng << 17;
    static const float special[8] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, 3e38f, 1.0f};
    unsigned r = (unsigned)(krng >> 40);
    if (r % 16 == 0) return special[(r / 16) % 8];
    return (float)((double)(int)(r % 20001u - 10000u) / 997.0);
}

/* Same bits, except that any NaN matches any NaN: when both operands of + or * are NaN, IEEE 754
 * leaves open whose payload the result carries, and compilers swap commutative operands. */
static int same_bits(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

/* Every kernel set this CPU runs gives the baseline's bits, on every kernel and stride pattern. */
static void test_sets_agree(void) {
    const anet_vk_ops *sets[4];
    int ns = anet_vk_sets(sets, 4);
    CHECK(ns >= 1);
    CHECK(anet_vk_best() == sets[ns - 1]);
    fprintf(stderr, "kernel sets on this CPU:");
    for (int i = 0; i < ns; i++) fprintf(stderr, " %s", sets[i]->name);
    fputc('\n', stderr);
    enum { N = 1003 };
    static float a[N], b[N], c[N], y0[N], y1[N];
    for (int i = 0; i < N; i++) { a[i] = kval(); b[i] = kval(); c[i] = (i % 3) ? kval() : 0.0f; }
    const int64_t pat[4][2] = {{1, 1}, {1, 0}, {0, 1}, {3, 2}};
    for (int si = 1; si < ns; si++) {
        const anet_vk_ops *B = sets[0], *S = sets[si];
        int bad = 0;
        for (int rnd = 0; rnd < 2; rnd++) {
            for (int op = ANET_VK_ADD; op <= ANET_VK_EQ; op++)
                for (int q = 0; q < 4; q++) {
                    int64_t n = q == 3 ? N / 3 : N;
                    B->binary_row((anet_vk_binop)op, n, a, pat[q][0], b, pat[q][1], y0, rnd);
                    S->binary_row((anet_vk_binop)op, n, a, pat[q][0], b, pat[q][1], y1, rnd);
                    if (!same_bits(y0, y1, (size_t)n)) { bad++; fprintf(stderr, "%s binary op %d pattern %d\n", S->name, op, q); }
                }
            for (int q = 0; q < 4; q++) {
                int64_t n = q == 3 ? N / 3 : N;
                B->select_row(n, c, q == 3 ? 3 : 1, a, pat[q][0], b, pat[q][1], y0, rnd);
                S->select_row(n, c, q == 3 ? 3 : 1, a, pat[q][0], b, pat[q][1], y1, rnd);
                if (!same_bits(y0, y1, (size_t)n)) { bad++; fprintf(stderr, "%s select pattern %d\n", S->name, q); }
            }
        }
        for (int op = ANET_VK_RELU; op <= ANET_VK_GELU_TANH; op++) {
            B->unary((anet_vk_unop)op, N, a, y0, 1e-3f);
            S->unary((anet_vk_unop)op, N, a, y1, 1e-3f);
            if (!same_bits(y0, y1, N)) { bad++; fprintf(stderr, "%s unary op %d\n", S->name, op); }
        }
        /* Reductions over every axis subset of [5, 17, 11]. */
        int64_t d[3] = {5, 17, 11};
        for (unsigned m = 1; m < 8; m++)
            for (int op = ANET_VK_RSUM; op <= ANET_VK_RMAX; op++) {
                B->reduce((anet_vk_redop)op, 3, d, m, a, y0);
                S->reduce((anet_vk_redop)op, 3, d, m, a, y1);
                if (!same_bits(y0, y1, 5 * 17 * 11)) { bad++; fprintf(stderr, "%s reduce op %d mask %u\n", S->name, op, m); }
            }
        /* Broadcast: [7,1,13] op [1,9,1] -> [7,9,13], whole and gathered at odd offsets. */
        anet_vk_bcast p;
        int64_t o[3] = {7, 9, 13}, da[3] = {7, 1, 13}, db[3] = {1, 9, 1};
        int r3[3] = {3, 3, 3};
        const int64_t *dd[3] = {da, db, o};
        CHECK(anet_vk_bcast_plan(&p, 3, o, 3, r3, dd) == 0);
        B->binary(ANET_VK_DIV, &p, a, b, y0);
        S->binary(ANET_VK_DIV, &p, a, b, y1);
        if (!same_bits(y0, y1, 7 * 9 * 13)) bad++;
        B->select(&p, a, b, c, y0);
        S->select(&p, a, b, c, y1);
        if (!same_bits(y0, y1, 7 * 9 * 13)) bad++;
        for (int k = 0; k < 3; k++) {
            B->gather(&p, k, k == 0 ? a : k == 1 ? b : c, 100, 500, y0);
            S->gather(&p, k, k == 0 ? a : k == 1 ? b : c, 100, 500, y1);
            if (!same_bits(y0, y1, 500)) bad++;
        }
        /* The wide conv's sums for every output count, over rows some of which are out of range
         * (iy0 = -1): bit for bit as the baseline. */
        for (int nj = 1; nj <= ANET_VK_WIDE_J; nj++) {
            enum { WC = 3, WKH = 4, WH = 5, WKWP = 32, WRL = ANET_VK_WIDE_J + WKWP };
            static float w[WC * WKH * WKWP], xr[WC * WH * WRL];
            static float o0[ANET_VK_WIDE_J * ANET_VK_WIDE_LANES], o1[ANET_VK_WIDE_J * ANET_VK_WIDE_LANES];
            for (int e = 0; e < WC * WKH * WKWP; e++) w[e] = a[e % N];
            for (int e = 0; e < WC * WH * WRL; e++) xr[e] = b[(7 * e) % N];
            B->wide_block(WC, WKH, WH, -1, WRL, WKWP, w, xr, nj, o0);
            S->wide_block(WC, WKH, WH, -1, WRL, WKWP, w, xr, nj, o1);
            if (!same_bits(o0, o1, (size_t)nj * ANET_VK_WIDE_LANES)) { bad++; fprintf(stderr, "%s wide_block nj %d\n", S->name, nj); }
        }
        CHECK_MSG(bad == 0, "kernel set %s differs from %s in %d cases", S->name, B->name, bad);
    }
}

/* Every set's fp16 rounding (alone and inside a binary op or select) gives the bits of the
 * conversion to fp16 and back (core/fp16: portable and F16C/NEON), NaN payloads included, on
 * a spread of 2^20 bit patterns plus every boundary (the whole 2^32 range was checked once). */
static void test_round(void) {
    const anet_vk_ops *sets[4];
    int ns = anet_vk_sets(sets, 4);
    enum { M = 1 << 20 };
    static float x[M + 64], want[M + 64], got[M + 64], one[M + 64];
    int n = 0;
    for (uint32_t i = 0; i < M; i++) {
        uint32_t u = i * 4099u + (i >> 7); /* every exponent, low and high mantissas */
        memcpy(&x[n++], &u, sizeof u);
    }
    static const uint32_t edge[] = {0x38800000u, 0x387fffffu, 0x33000000u, 0x33000001u, 0x32ffffffu, 0x477ff000u,
                                    0x477fefffu, 0x477fe000u, 0x7f800000u, 0x7f800001u, 0x7fc00000u, 0x7fbfffffu,
                                    0x00000001u, 0x007fffffu, 0x3f801000u, 0x3f803000u, 0x3f800fffu, 0x80000000u};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        uint32_t u = edge[i], v = edge[i] | 0x80000000u;
        memcpy(&x[n++], &u, sizeof u);
        memcpy(&x[n++], &v, sizeof v);
    }
    memcpy(want, x, (size_t)n * sizeof *x);
    for (int i = 0; i < n; i++) want[i] = anet_f32_round_f16(x[i]);
    memcpy(got, x, (size_t)n * sizeof *x);
    anet_f32_round_f16_n(got, (size_t)n);
    CHECK_MSG(memcmp(got, want, (size_t)n * sizeof *x) == 0, "fp16 bulk rounding (%s) differs from the scalar one", anet_f16_path());
    for (int i = 0; i < n; i++) one[i] = 1.0f;
    for (int si = 0; si < ns; si++) {
        memcpy(got, x, (size_t)n * sizeof *x);
        sets[si]->round((size_t)n, got);
        CHECK_MSG(memcmp(got, want, (size_t)n * sizeof *x) == 0, "%s: round differs from fp16 conversion", sets[si]->name);
        sets[si]->binary_row(ANET_VK_MUL, n, x, 1, one, 1, got, 1); /* x * 1 = x, then rounded */
        int bad = 0;
        for (int i = 0; i < n; i++) /* x * 1 quiets a signalling NaN: compare NaNs as NaNs */
            if (memcmp(&got[i], &want[i], sizeof *got) != 0 && !(isnan(got[i]) && isnan(want[i]))) bad++;
        CHECK_MSG(bad == 0, "%s: rounding inside binary_row differs at %d values", sets[si]->name, bad);
        float c1 = 1.0f;
        sets[si]->select_row(n, &c1, 0, x, 1, one, 0, got, 1);
        CHECK_MSG(memcmp(got, want, (size_t)n * sizeof *x) == 0, "%s: rounding inside select_row differs", sets[si]->name);
        /* The rows that also write fp16 (a fused step whose result is a program output): the
         * rounded fp32 results of binary_row and the fp16 bits of each, for every op they
         * cover and every stride pattern, here on x * 1 over the whole spread. */
        if (!sets[si]->binary_row16) continue;
        static anet_f16 h[M + 64];
        static float y2[M + 64];
        const int64_t pat[4][2] = {{1, 1}, {1, 0}, {0, 1}, {3, 2}};
        int covered = 0;
        bad = 0;
        for (int op = ANET_VK_ADD; op <= ANET_VK_EQ; op++)
            for (int q = 0; q < 4; q++) {
                int64_t m = q == 3 ? n / 3 : (q == 2 ? 1001 : n);
                const float *a = q == 2 ? one : x, *b = q == 2 ? x + 7 : one;
                if (!sets[si]->binary_row16((anet_vk_binop)op, m, a, pat[q][0], b, pat[q][1], y2, h)) continue;
                covered++;
                sets[si]->binary_row((anet_vk_binop)op, m, a, pat[q][0], b, pat[q][1], got, 1);
                for (int64_t i = 0; i < m; i++) {
                    anet_f16 w = anet_f32_to_f16(got[i]);
                    if (memcmp(&y2[i], &got[i], sizeof *got) != 0 && !(isnan(y2[i]) && isnan(got[i]))) bad++;
                    else if (h[i] != w && !(isnan(got[i]) && (h[i] & 0x7c00) == 0x7c00 && (h[i] & 0x3ff))) bad++;
                }
            }
        CHECK_MSG(covered == 6 * 4, "%s: binary_row16 covers %d op and pattern pairs", sets[si]->name, covered);
        CHECK_MSG(bad == 0, "%s: binary_row16 differs from binary_row at %d values", sets[si]->name, bad);
    }
}

/* The reductions keep each output's serial fp32 order (the rows reduced side by side too), and
 * a gather is the broadcast operand at those output indices. Oracles: plain loops here. */
static void test_reduce_order_gather(void) {
    const anet_vk_ops *sets[4];
    int ns = anet_vk_sets(sets, 4);
    enum { R = 40, K = 37 };
    static float x[R * K], y[K], want[K];
    for (int i = 0; i < R * K; i++) x[i] = kval() * (i % 7 == 0 ? 1e4f : 1.0f);
    for (int i = 0; i < R * K; i++) if (isnan(x[i]) || isinf(x[i])) x[i] = 1.0f;
    int64_t d[2] = {K, R}; /* reduce the inner axis: 37 rows of 40 */
    for (int j = 0; j < K; j++) {
        float s = 0.0f;
        for (int i = 0; i < R; i++) s += x[j * R + i];
        want[j] = s;
    }
    for (int si = 0; si < ns; si++) {
        sets[si]->reduce(ANET_VK_RSUM, 2, d, 2u, x, y);
        CHECK_MSG(same_bits(y, want, K), "%s: inner-axis sum not in serial order", sets[si]->name);
    }
    anet_vk_bcast p;
    int64_t o[3] = {4, 6, 5}, da[3] = {4, 1, 5};
    int r1[1] = {3};
    const int64_t *dd[1] = {da};
    CHECK(anet_vk_bcast_plan(&p, 3, o, 1, r1, dd) == 0);
    float src[20], got[120];
    for (int i = 0; i < 20; i++) src[i] = (float)i;
    for (int si = 0; si < ns; si++) {
        sets[si]->gather(&p, 0, src, 7, 113, got);
        int bad = 0;
        for (int f = 7; f < 120; f++) {
            int i0 = f / 30, i2 = f % 5;
            if (got[f - 7] != src[i0 * 5 + i2]) bad++;
        }
        CHECK_MSG(bad == 0, "%s: gather wrong at %d places", sets[si]->name, bad);
    }
}

/* A full-tensor sum (one output) skips blocks of zeros: still the serial loop's bits, with
 * blocks of +0/-0 between values, infinities and NaN, and a cancellation to 0 before zeros. */
static void test_sum_zero_blocks(void) {
    const anet_vk_ops *sets[4];
    int ns = anet_vk_sets(sets, 4);
    enum { N = 3000 }; /* several 256-blocks and a tail */
    static float x[N];
    uint32_t r = 12345;
    for (int pat = 0; pat < 40; pat++) {
        for (int i = 0; i < N; i++) {
            r = r * 1664525u + 1013904223u;
            int blk = i / 256, kind = (int)((blk * 7 + pat) % 5);
            float z = (r >> 7) & 1 ? -0.0f : 0.0f;
            if (pat == 0 || kind < 3) x[i] = z;                        /* zero blocks */
            else x[i] = (r >> 9) % 3 ? z : ((float)(r >> 12) - 524288.0f) * 0x1p-10f; /* values */
        }
        if (pat % 4 == 1) x[(pat * 97) % N] = (pat & 8) ? NAN : INFINITY;
        if (pat % 4 == 2) { x[5] = 1.5f; x[700] = -1.5f; } /* 0 again, then zero blocks */
        float want = 0.0f;
        for (int i = 0; i < N; i++) want += x[i];
        int64_t d[1] = {N};
        for (int si = 0; si < ns; si++) {
            float y = 42.0f;
            sets[si]->reduce(ANET_VK_RSUM, 1, d, 1u, x, &y);
            CHECK_MSG(same_bits(&y, &want, 1) || (isnan(y) && isnan(want)), "%s: zero-block sum pattern %d: %a, serial %a",
                      sets[si]->name, pat, (double)y, (double)want);
        }
    }
}

/* Softmax along a strided axis goes over tiles of columns (kernels.c); every element must get
 * the bits of the plain column-by-column walk written here (max with NaN taking over, expf,
 * the sum in axis order, one reciprocal): inner 1, a partial tile, and more than a tile (300:
 * a full tile and a partial one), with a NaN column, an all -inf column, masked scores and
 * values around expf's underflow, and in-place use. */
static void test_softmax_order(void) {
    const int64_t inners[3] = {1, 13, 300}, n = 7, outer = 2;
    for (int c = 0; c < 3; c++) {
        int64_t inner = inners[c], total = outer * n * inner;
        float *x = malloc(sizeof(float) * total), *y = malloc(sizeof(float) * total), *ref = malloc(sizeof(float) * total);
        uint32_t r = 12345u + (uint32_t)c;
        for (int64_t k = 0; k < total; k++) {
            r = r * 1664525u + 1013904223u;
            x[k] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 20.0f;
        }
        /* Masked scores and the edge of expf's underflow (kernels.c skips its slow path). */
        static const float low[8] = {-65504.0f, -1e4f, -104.5f, -104.0f, -103.97f, -103.9f, -87.4f, -120.0f};
        for (int64_t k = 0; k < total; k += 3) x[k] = low[(k / 3) % 8];
        if (inner > 3) {
            x[inner + 2] = NAN; /* column 2 of outer 0, row 1 */
            for (int64_t i = 0; i < n; i++) x[i * inner + 3] = -INFINITY;
        }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++) {
                const float *xs = x + o * n * inner + j;
                float *ys = ref + o * n * inner + j, m = -INFINITY, sum = 0.0f;
                for (int64_t i = 0; i < n; i++)
                    if (xs[i * inner] > m || xs[i * inner] != xs[i * inner]) m = xs[i * inner];
                for (int64_t i = 0; i < n; i++) sum += ys[i * inner] = expf(xs[i * inner] - m);
                float inv = 1.0f / sum;
                for (int64_t i = 0; i < n; i++) ys[i * inner] *= inv;
            }
        anet_vk_softmax(outer, n, inner, x, y);
        CHECK_MSG(memcmp(y, ref, sizeof(float) * total) == 0, "softmax inner %lld: not the column walk's bits", (long long)inner);
        anet_vk_softmax(outer, n, inner, x, x); /* in place */
        CHECK_MSG(memcmp(x, ref, sizeof(float) * total) == 0, "softmax inner %lld in place", (long long)inner);
        free(x);
        free(y);
        free(ref);
    }
}

int main(void) {
    test_softmax_order();
    test_sets_agree();
    test_sum_zero_blocks();
    test_round();
    test_reduce_order_gather();
    test_bcast_plan();
    test_gelu_nan();
    test_im2col();
    test_transpose_all();
    test_pool_2x2();
    TEST_MAIN_END();
}
