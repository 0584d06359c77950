/* The facts behind the roundings vane's fused plan drops as exact (vane.c: mark_two_sum,
 * const_zero), checked on the arithmetic itself: each op computes in fp32 from fp16 values and
 * rounds to fp16 (RNE), as vane's op-by-op plan does. For TwoSum,
 *     s = RN(a + b), bb = RN(s - a), a' = s - bb, da = a - a', db = b - bb, t = da + db,
 * the last four results must be fp16 values (round to themselves, bit for bit, NaN included),
 * and bb must not always be (the test would then not tell the two apart); x * (+-0) is an fp16
 * value for every fp16 x. Every a with 1024 partners b each (a different 1/64 of all b per a,
 * so together every residue); `test_two_sum --all` takes every pair (2^32, about a minute
 * with F16C). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fp16.h"

#define NB 1024

/* Rounds x[0..n) to fp16 and back; counts the elements whose bits that changes. */
static long inexact(float *x, size_t n, anet_f16 *h, float *r) {
    anet_f32_to_f16_n(x, h, n);
    anet_f16_to_f32_n(h, r, n);
    long c = 0;
    for (size_t i = 0; i < n; i++) c += memcmp(&x[i], &r[i], sizeof(float)) != 0;
    memcpy(x, r, n * sizeof *x); /* the rounded values go on, as in the program */
    return c;
}

int main(int argc, char **argv) {
    int all = argc > 1 && strcmp(argv[1], "--all") == 0;
    size_t nb = all ? 65536 : NB;
    anet_f16 *bh = malloc(nb * sizeof *bh), *h = malloc(nb * sizeof *h);
    float *a = malloc(nb * sizeof *a), *b = malloc(nb * sizeof *b), *s = malloc(nb * sizeof *s),
          *bb = malloc(nb * sizeof *bb), *ap = malloc(nb * sizeof *ap), *da = malloc(nb * sizeof *da),
          *db = malloc(nb * sizeof *db), *t = malloc(nb * sizeof *t), *r = malloc(nb * sizeof *r);
    if (!bh || !h || !a || !b || !s || !bb || !ap || !da || !db || !t || !r) return 2;
    long bad_bb = 0, bad[4] = {0, 0, 0, 0}, bad_zero = 0;
    for (uint32_t x = 0; x < 65536; x++) {
        float av = anet_f16_to_f32((anet_f16)x);
        for (size_t j = 0; j < nb; j++) {
            bh[j] = all ? (anet_f16)j : (anet_f16)((j << 6) | ((x * 40503u) >> 10 & 63)); /* 1/64 of all b, by a */
            a[j] = av;
        }
        anet_f16_to_f32_n(bh, b, nb);
        for (size_t j = 0; j < nb; j++) s[j] = a[j] + b[j];
        inexact(s, nb, h, r); /* s is rounded (whether it was exact does not matter) */
        for (size_t j = 0; j < nb; j++) bb[j] = s[j] - a[j];
        bad_bb += inexact(bb, nb, h, r);
        for (size_t j = 0; j < nb; j++) ap[j] = s[j] - bb[j];
        bad[0] += inexact(ap, nb, h, r);
        for (size_t j = 0; j < nb; j++) da[j] = a[j] - ap[j];
        bad[1] += inexact(da, nb, h, r);
        for (size_t j = 0; j < nb; j++) db[j] = b[j] - bb[j];
        bad[2] += inexact(db, nb, h, r);
        for (size_t j = 0; j < nb; j++) t[j] = da[j] + db[j];
        bad[3] += inexact(t, nb, h, r);
        for (size_t j = 0; j < 2; j++) t[j] = av * (j ? -0.0f : 0.0f);
        bad_zero += inexact(t, 2, h, r);
    }
    const char *names[4] = {"a' = s - bb", "da = a - a'", "db = b - bb", "t = da + db"};
    for (int k = 0; k < 4; k++) CHECK_MSG(bad[k] == 0, "%s is inexact for %ld pairs", names[k], bad[k]);
    CHECK_MSG(bad_zero == 0, "x * 0 is inexact for %ld values", bad_zero);
    CHECK_MSG(bad_bb > 0, "bb = s - a was exact for every pair tried: the check cannot tell it from the others");
    printf("%s: bb = s - a inexact for %ld of %lld pairs; the four after it and x * 0 exact\n",
           all ? "every pair" : "every a, 1/64 of b", bad_bb, 65536LL * (long long)nb);
    free(bh); free(h); free(a); free(b); free(s); free(bb); free(ap); free(da); free(db); free(t); free(r);
    TEST_MAIN_END();
}
