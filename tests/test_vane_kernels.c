/* vane's raw kernels where the backend path cannot reach or see them: the broadcast plan's
 * collapsing (the fast paths exist), gelu (rejected by every chip profile, so never compiled
 * through the backend), NaN propagation, and im2col against its definition. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
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

static void test_im2col(void) {
    anet_vk_win w = {2, 5, 6, 3, 2, 2, 1, 2, 1, 1, 2, 0, 0};
    /* c=2 h=5 w=6, kernel 3x2, strides 2x1, dilations 2x1, pad top 1 left 2 */
    w.pt = 1;
    w.pl = 2;
    w.ho = (5 + 1 + 1 - (2 * 2 + 1)) / 2 + 1;
    w.wo = (6 + 2 + 0 - 2) / 1 + 1;
    float x[60], col[2 * 3 * 2 * 2 * 7];
    for (int i = 0; i < 60; i++) x[i] = (float)(i + 1);
    CHECK(w.ho * w.wo * 12 <= (int64_t)(sizeof col / sizeof col[0]));
    anet_vk_im2col(&w, x, col);
    int bad = 0;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
                for (int oy = 0; oy < w.ho; oy++)
                    for (int ox = 0; ox < w.wo; ox++) {
                        int iy = oy * 2 - 1 + i * 2, ix = ox - 2 + j;
                        float want = (iy < 0 || iy >= 5 || ix < 0 || ix >= 6) ? 0.0f : x[(c * 5 + iy) * 6 + ix];
                        if (col[((c * 3 + i) * 2 + j) * w.ho * w.wo + oy * w.wo + ox] != want) bad++;
                    }
    CHECK_EQ_INT(bad, 0);
}

int main(void) {
    test_bcast_plan();
    test_gelu_nan();
    test_im2col();
    TEST_MAIN_END();
}
