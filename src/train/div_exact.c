/* The exact division of div_exact.h over arrays, lane by lane, per instruction set (the tests'
 * and the benchmark's view of the kernels the Adam update inlines). Built with -ffp-contract=off
 * and -fno-math-errno, like the update. */
#include "train/div_exact.h"

#include <math.h>

#ifdef ANET_DIV_X86
ANET_DIV_T256 static size_t sqrt_divc256(const float *x, float c, float *q, size_t n) {
    if (!anet_divc_ok(c)) {
        for (size_t k = 0; k < n; k++) q[k] = sqrtf(x[k]) / c;
        return 0;
    }
    const __m256 vc = _mm256_set1_ps(c), vy = _mm256_set1_ps(1.0f / c);
    size_t fast = 0;
    for (size_t k = 0; k < n; k += 8) {
        float in[8] = {1, 1, 1, 1, 1, 1, 1, 1}, out[8]; /* a tail padded with ones (inside the domain) */
        const int whole = n - k >= 8;
        for (size_t j = 0; !whole && j < n - k; j++) in[j] = x[k + j];
        const __m256 s = _mm256_sqrt_ps(_mm256_loadu_ps(whole ? x + k : in));
        const __m256 inside = anet_sqrt_divc_lanes256(s);
        const unsigned ok = (unsigned)_mm256_movemask_ps(inside);
        _mm256_storeu_ps(whole ? q + k : out, _mm256_blendv_ps(_mm256_div_ps(s, vc), anet_divc_fast256(s, vc, vy), inside));
        const size_t lanes = whole ? 8 : n - k;
        for (size_t j = 0; j < lanes; j++) {
            if (!whole) q[k + j] = out[j];
            fast += (ok >> j) & 1u;
        }
    }
    return fast;
}
#endif

int anet_sqrt_divc_paths(anet_sqrt_divc_fn *out, const char **names, int max) {
    int n = 0;
#ifdef ANET_DIV_X86
    __builtin_cpu_init();
    if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        out[n] = sqrt_divc256;
        names[n++] = "avx2fma";
    }
#else
    (void)out;
    (void)names;
    (void)max;
#endif
    return n;
}
