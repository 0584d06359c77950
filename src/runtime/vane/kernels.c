#include "runtime/vane/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

int anet_vk_bcast_plan(anet_vk_bcast *p, int out_rank, const int64_t *out_dims, int nin,
                       const int *in_rank, const int64_t *const *in_dims) {
    int64_t st[3][ANET_MAX_RANK];
    if (nin < 1 || nin > 3 || out_rank < 0 || out_rank > ANET_MAX_RANK) return -1;
    for (int k = 0; k < nin; k++) {
        int rk = in_rank[k];
        if (rk < 0 || rk > out_rank) return -1;
        int64_t s = 1;
        for (int i = out_rank - 1; i >= 0; i--) {
            int j = i - (out_rank - rk);
            if (j < 0) { st[k][i] = 0; continue; }
            int64_t dk = in_dims[k][j];
            if (dk == out_dims[i]) st[k][i] = (dk == 1) ? 0 : s;
            else if (dk == 1) st[k][i] = 0;
            else return -1;
            s *= dk;
        }
    }
    /* Keep the non-trivial axes, then merge neighbours that are contiguous for everyone. */
    int nd = 0;
    p->nops = nin;
    for (int i = 0; i < out_rank; i++) {
        if (out_dims[i] == 1) continue;
        p->dims[nd] = out_dims[i];
        for (int k = 0; k < nin; k++) p->st[k][nd] = st[k][i];
        nd++;
    }
    if (nd == 0) {
        p->nd = 1;
        p->dims[0] = 1;
        for (int k = 0; k < nin; k++) p->st[k][0] = 0;
        return 0;
    }
    int m = 0; /* merged axes written so far (m-1 is the last merged) */
    for (int i = 0; i < nd; i++) {
        if (m > 0) {
            int ok = 1;
            for (int k = 0; k < nin; k++)
                if (p->st[k][m - 1] != p->st[k][i] * p->dims[i]) ok = 0;
            if (ok) {
                p->dims[m - 1] *= p->dims[i];
                for (int k = 0; k < nin; k++) p->st[k][m - 1] = p->st[k][i];
                continue;
            }
        }
        p->dims[m] = p->dims[i];
        for (int k = 0; k < nin; k++) p->st[k][m] = p->st[k][i];
        m++;
    }
    p->nd = m;
    return 0;
}

/* Along a strided axis (inner > 1) the columns j go in tiles, each step i over a contiguous run
 * of them (vectorizable, cache-friendly) with per-column max and sum kept in the same i order:
 * the same operations on every element as the column-by-column walk, so the same bits. */
#define SOFTMAX_TILE 256
/* expf is +0 below ln(2^-150) = -103.97...; glibc gets there through its underflow path
 * (errno, a raised exception), which is slow, and a causal mask sends half of the attention
 * scores through it. The same bits without it. */
static inline float exp_softmax(float d) { return d < -104.0f ? 0.0f : expf(d); }

void anet_vk_softmax(int64_t outer, int64_t n, int64_t inner, const float *x, float *y) {
    for (int64_t o = 0; o < outer; o++) {
        if (inner == 1) {
            const float *xs = x + o * n;
            float *ys = y + o * n;
            float m = -INFINITY;
            for (int64_t i = 0; i < n; i++)
                if (xs[i] > m || xs[i] != xs[i]) m = xs[i];
            float s = 0.0f;
            for (int64_t i = 0; i < n; i++) s += ys[i] = exp_softmax(xs[i] - m);
            float inv = 1.0f / s;
            for (int64_t i = 0; i < n; i++) ys[i] *= inv;
            continue;
        }
        for (int64_t j0 = 0; j0 < inner; j0 += SOFTMAX_TILE) {
            const int64_t w = inner - j0 < SOFTMAX_TILE ? inner - j0 : SOFTMAX_TILE;
            const float *xs = x + o * n * inner + j0;
            float *ys = y + o * n * inner + j0;
            float m[SOFTMAX_TILE], s[SOFTMAX_TILE];
            for (int64_t j = 0; j < w; j++) m[j] = -INFINITY, s[j] = 0.0f;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < w; j++) {
                    float v = xs[i * inner + j];
                    if (v > m[j] || v != v) m[j] = v;
                }
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < w; j++) {
                    float e = exp_softmax(xs[i * inner + j] - m[j]);
                    ys[i * inner + j] = e;
                    s[j] += e;
                }
            for (int64_t j = 0; j < w; j++) s[j] = 1.0f / s[j];
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < w; j++) ys[i * inner + j] *= s[j];
        }
    }
}

/* Advances the odometer idx over axes 0..last (sizes d) by one, moving the offset *o by the
 * axes' strides st: the next row of a walk whose innermost axis is handled by the caller. */
static inline void odometer_next(int last, int64_t *idx, const int64_t *d, const int64_t *st, int64_t *o) {
    for (int i = last; i >= 0; i--) {
        idx[i]++;
        *o += st[i];
        if (idx[i] < d[i]) break;
        *o -= st[i] * d[i];
        idx[i] = 0;
    }
}

void anet_vk_transpose(int rank, const int64_t *dims, const int *perm, const float *x, float *y) {
    if (rank == 0) { y[0] = x[0]; return; }
    /* Output axes that are adjacent input axes in order merge into one (a [B,C,H,W] ->
     * [C,B,H,W] is a [B,C,HW] -> [C,B,HW] of whole rows); then the innermost run is a copy
     * when contiguous, and swapped innermost axes go plane by plane. */
    int64_t xst[ANET_MAX_RANK], st[ANET_MAX_RANK], od[ANET_MAX_RANK], s = 1, total = 1;
    for (int i = rank - 1; i >= 0; i--) { xst[i] = s; s *= dims[i]; }
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[perm[i]] == 1) continue; /* a size-1 axis moves nothing */
        if (r > 0 && st[r - 1] == xst[perm[i]] * dims[perm[i]]) {
            od[r - 1] *= dims[perm[i]];
            st[r - 1] = xst[perm[i]];
        } else {
            od[r] = dims[perm[i]];
            st[r] = xst[perm[i]];
            r++;
        }
        total *= dims[perm[i]];
    }
    if (r == 0) { y[0] = x[0]; return; }
    int64_t inner = od[r - 1], sin = st[r - 1], idx[ANET_MAX_RANK] = {0}, ox = 0;
    if (r >= 2 && sin != 1 && st[r - 2] == 1) {
        /* Planes y[a][b] = x[b][a] (the last two output axes swap the input's innermost ones),
         * by tiles: both cache lines stay hot. */
        const int64_t A = od[r - 2], Bn = inner, T = 32, plane = A * Bn;
        for (int64_t q = 0; q < total / plane; q++) {
            float *yp = y + q * plane;
            const float *xp = x + ox;
            for (int64_t a0 = 0; a0 < A; a0 += T)
                for (int64_t b0 = 0; b0 < Bn; b0 += T) {
                    int64_t a1 = a0 + T < A ? a0 + T : A, b1 = b0 + T < Bn ? b0 + T : Bn;
                    int64_t a4 = a0, b4 = b1 - (b1 - b0) % 4;
#if defined(__SSE2__)
                    /* 4x4 blocks in registers (a copy: the same bits on every path) */
                    for (; a4 + 4 <= a1; a4 += 4) {
                        for (int64_t b = b0; b < b4; b += 4) {
                            __m128 r0 = _mm_loadu_ps(xp + b * sin + a4), r1 = _mm_loadu_ps(xp + (b + 1) * sin + a4),
                                   r2 = _mm_loadu_ps(xp + (b + 2) * sin + a4), r3 = _mm_loadu_ps(xp + (b + 3) * sin + a4);
                            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                            _mm_storeu_ps(yp + a4 * Bn + b, r0);
                            _mm_storeu_ps(yp + (a4 + 1) * Bn + b, r1);
                            _mm_storeu_ps(yp + (a4 + 2) * Bn + b, r2);
                            _mm_storeu_ps(yp + (a4 + 3) * Bn + b, r3);
                        }
                        for (int64_t a = a4; a < a4 + 4; a++)
                            for (int64_t b = b4; b < b1; b++) yp[a * Bn + b] = xp[b * sin + a];
                    }
#endif
                    for (int64_t a = a4; a < a1; a++)
                        for (int64_t b = b0; b < b1; b++) yp[a * Bn + b] = xp[b * sin + a];
                }
            odometer_next(r - 3, idx, od, st, &ox);
        }
        return;
    }
    for (int64_t row = 0; row < total / inner; row++) {
        float *yr = y + row * inner;
        if (sin == 1) memcpy(yr, x + ox, (size_t)inner * sizeof(float));
        else
            for (int64_t i = 0; i < inner; i++) yr[i] = x[ox + i * sin];
        odometer_next(r - 2, idx, od, st, &ox);
    }
}

void anet_vk_slice(int rank, const int64_t *dims, const int64_t *begin, const int64_t *size,
                   const float *x, float *y) {
    if (rank == 0) { y[0] = x[0]; return; }
    int64_t xst[ANET_MAX_RANK], s = 1, total = 1, base = 0;
    for (int i = rank - 1; i >= 0; i--) { xst[i] = s; s *= dims[i]; }
    for (int i = 0; i < rank; i++) { total *= size[i]; base += begin[i] * xst[i]; }
    int64_t inner = size[rank - 1], idx[ANET_MAX_RANK] = {0}, ox = base;
    for (int64_t r = 0; r < total / inner; r++) {
        memcpy(y + r * inner, x + ox, (size_t)inner * sizeof(float));
        odometer_next(rank - 2, idx, size, xst, &ox);
    }
}

void anet_vk_conv_taps(const anet_vk_win *g, const anet_vk_tap *taps, int64_t ntaps, const float *x, float *y) {
    memset(y, 0, (size_t)(g->ho * g->wo) * sizeof(float));
    for (int64_t t = 0; t < ntaps; t++) {
        const anet_vk_tap *tp = &taps[t];
        const float *xc = x + (int64_t)tp->ci * g->h * g->w;
        int64_t x0 = tp->j * g->dw - g->pl;
        /* the output columns whose input column ox*sw + x0 lies inside [0, w) */
        int64_t lo = x0 >= 0 ? 0 : (-x0 + g->sw - 1) / g->sw, hi = g->wo;
        if (g->w - 1 - x0 < 0) continue;
        if ((g->w - 1 - x0) / g->sw + 1 < hi) hi = (g->w - 1 - x0) / g->sw + 1;
        for (int64_t oy = 0; oy < g->ho; oy++) {
            int64_t iy = oy * g->sh - g->pt + tp->i * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            const float *xr = xc + iy * g->w + x0;
            float *r = y + oy * g->wo;
            for (int64_t ox = lo; ox < hi; ox++) r[ox] += tp->w * xr[ox * g->sw];
        }
    }
}

/* The k in [0, n) with 0 <= x0 + k*step < w form one run [lo, hi): a window row's in-bounds
 * part (im2col over output columns, its transpose over kernel columns). */
static inline void in_bounds_run(int64_t x0, int64_t step, int64_t w, int64_t n, int64_t *lo, int64_t *hi) {
    if (step == 1) { /* no division in the common case */
        *lo = x0 < 0 ? -x0 : 0;
        *hi = w - x0;
    } else {
        *lo = x0 < 0 ? (-x0 + step - 1) / step : 0;
        *hi = w - x0 <= 0 ? 0 : (w - x0 + step - 1) / step;
    }
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
    if (*hi < *lo) *hi = *lo;
}

/* r[k] = xr[x0 + k*step] inside [lo, hi), 0 outside, for k < n: zeros around a copy, no test
 * per element (the hot loop of convs). xr + x0 + lo*step is in bounds. */
static inline void copy_run(float *r, int64_t n, const float *xr, int64_t x0, int64_t step, int64_t lo, int64_t hi) {
    if (n < 16 || step != 1) { /* short rows: library calls would cost more */
        for (int64_t k = 0; k < lo; k++) r[k] = 0.0f;
        if (step == 1)
            for (int64_t k = lo; k < hi; k++) r[k] = xr[k + x0];
        else
            for (int64_t k = lo; k < hi; k++) r[k] = xr[k * step + x0];
        for (int64_t k = hi; k < n; k++) r[k] = 0.0f;
        return;
    }
    memset(r, 0, (size_t)lo * sizeof(float));
    if (hi > lo) memcpy(r + lo, xr + lo + x0, (size_t)(hi - lo) * sizeof(float));
    memset(r + hi, 0, (size_t)(n - hi) * sizeof(float));
}

void anet_vk_im2col(const anet_vk_win *g, const float *x, float *col) {
    const int64_t hw = g->ho * g->wo, wo = g->wo;
    for (int64_t c = 0; c < g->c; c++) {
        const float *xc = x + c * g->h * g->w;
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * hw;
                int64_t x0 = j * g->dw - g->pl, lo, hi; /* the same run in every row of (c, i, j) */
                in_bounds_run(x0, g->sw, g->w, wo, &lo, &hi);
                for (int64_t oy = 0; oy < g->ho; oy++) {
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    float *r = row + oy * wo;
                    if (iy < 0 || iy >= g->h)
                        memset(r, 0, (size_t)wo * sizeof(float));
                    else
                        copy_run(r, wo, xc + iy * g->w, x0, g->sw, lo, hi);
                }
            }
        }
    }
}

void anet_vk_im2col_t(const anet_vk_win *g, const float *x, float *colt) {
    const int64_t K = g->c * g->kh * g->kw;
    for (int64_t oy = 0; oy < g->ho; oy++)
        for (int64_t ox = 0; ox < g->wo; ox++) {
            float *out = colt + (oy * g->wo + ox) * K;
            int64_t x0 = ox * g->sw - g->pl, lo, hi; /* over kernel columns j */
            in_bounds_run(x0, g->dw, g->w, g->kw, &lo, &hi);
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t i = 0; i < g->kh; i++, out += g->kw) {
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    if (iy < 0 || iy >= g->h)
                        memset(out, 0, (size_t)g->kw * sizeof(float));
                    else
                        copy_run(out, g->kw, x + (c * g->h + iy) * g->w, x0, g->dw, lo, hi);
                }
        }
}

/* Each input row once, widened: xr[t] = x[c][iy][t - pl] for t < rl (zeros outside), rl covering
 * every column the outputs read, rounded up to whole blocks of outputs. */
static int64_t wide_rl(const anet_vk_win *g) {
    const int64_t J = ANET_VK_WIDE_J;
    return (g->wo + J - 1) / J * J + anet_vk_wide_kwp(g);
}

int64_t anet_vk_conv_wide_scratch(const anet_vk_win *g) {
    return g->c * g->h * wide_rl(g) + ANET_VK_WIDE_J * ANET_VK_WIDE_LANES;
}

void anet_vk_conv_wide_pad(const anet_vk_win *g, int64_t rows, const float *wt, float *wp) {
    const int64_t kwp = anet_vk_wide_kwp(g);
    for (int64_t r = 0; r < rows; r++) {
        memcpy(wp + r * kwp, wt + r * g->kw, (size_t)g->kw * sizeof(float));
        memset(wp + r * kwp + g->kw, 0, (size_t)(kwp - g->kw) * sizeof(float));
    }
}

void anet_vk_conv_wide(const anet_vk_win *g, int64_t M, const float *wt, const float *x, float *y, float *scratch) {
    enum { L = ANET_VK_WIDE_LANES, J = ANET_VK_WIDE_J };
    const anet_vk_ops *k = anet_vk_best();
    const int64_t kwp = anet_vk_wide_kwp(g), wo = g->wo, rl = wide_rl(g);
    float *xrows = scratch, *t = scratch + g->c * g->h * rl;
    int64_t lo, hi;
    in_bounds_run(-g->pl, 1, g->w, rl, &lo, &hi);
    for (int64_t r = 0; r < g->c * g->h; r++) copy_run(xrows + r * rl, rl, x + r * g->w, -g->pl, 1, lo, hi);
    for (int64_t i = 0; i < g->ho; i++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t j0 = 0; j0 < wo; j0 += J) {
                int64_t nj = wo - j0 < J ? wo - j0 : J;
                k->wide_block(g->c, g->kh, g->h, i - g->pt, rl, kwp, wt + m * g->c * g->kh * kwp, xrows + j0, nj, t);
                for (int64_t jj = 0; jj < nj; jj++) {
                    float s = 0.0f;
                    for (int l = 0; l < L; l++) s += t[jj * L + l];
                    y[(m * g->ho + i) * wo + j0 + jj] = s;
                }
            }
}

void anet_vk_conv_scatter(const anet_vk_win *g, int64_t M, const float *p, float *y) {
    const int64_t hw = g->h * g->w;
    for (int64_t m = 0; m < M; m++) {
        float *ym = y + m * g->ho * g->wo;
        memset(ym, 0, (size_t)(g->ho * g->wo) * sizeof(float));
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *pp = p + ((m * g->kh + i) * g->kw + j) * hw;
                int64_t dy = g->pt - i * g->dh, dx = g->pl - j * g->dw; /* output = input + shift */
                int64_t y0 = dy < 0 ? -dy : 0, y1 = g->ho - dy < g->h ? g->ho - dy : g->h;
                int64_t x0 = dx < 0 ? -dx : 0, x1 = g->wo - dx < g->w ? g->wo - dx : g->w;
                for (int64_t iy = y0; iy < y1; iy++) {
                    float *yr = ym + (iy + dy) * g->wo + dx;
                    const float *pr = pp + iy * g->w;
                    for (int64_t ix = x0; ix < x1; ix++) yr[ix] += pr[ix];
                }
            }
    }
}

void anet_vk_pool(int is_max, int exclude_pad, int64_t planes, const anet_vk_win *g,
                  const float *x, float *y) {
    if (is_max && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 &&
        g->pt == 0 && g->pl == 0 && 2 * g->ho <= g->h && 2 * g->wo <= g->w) {
        /* 2x2 max pooling, stride 2, no padding (every CNN's pool): the general loop below
         * unrolled, same order and NaN rule, no bounds tests. */
        for (int64_t pidx = 0; pidx < planes; pidx++) {
            const float *xp = x + pidx * g->h * g->w;
            float *yp = y + pidx * g->ho * g->wo;
            for (int64_t oy = 0; oy < g->ho; oy++) {
                const float *r0 = xp + 2 * oy * g->w, *r1 = r0 + g->w;
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                    float acc = -INFINITY;
                    for (int k = 0; k < 4; k++)
                        if (v[k] > acc || v[k] != v[k]) acc = v[k];
                    yp[oy * g->wo + ox] = acc;
                }
            }
        }
        return;
    }
    for (int64_t pidx = 0; pidx < planes; pidx++) {
        const float *xp = x + pidx * g->h * g->w;
        float *yp = y + pidx * g->ho * g->wo;
        for (int64_t oy = 0; oy < g->ho; oy++) {
            int64_t y0 = oy * g->sh - g->pt;
            for (int64_t ox = 0; ox < g->wo; ox++) {
                int64_t x0 = ox * g->sw - g->pl;
                float acc = is_max ? -INFINITY : 0.0f;
                int64_t n = 0;
                for (int64_t i = 0; i < g->kh; i++) {
                    int64_t iy = y0 + i * g->dh;
                    if (iy < 0 || iy >= g->h) continue;
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t ix = x0 + j * g->dw;
                        if (ix < 0 || ix >= g->w) continue;
                        float v = xp[iy * g->w + ix];
                        if (is_max) { if (v > acc || v != v) acc = v; }
                        else acc += v;
                        n++;
                    }
                }
                if (!is_max) {
                    int64_t div = exclude_pad ? n : g->kh * g->kw;
                    acc = div > 0 ? acc / (float)div : 0.0f;
                }
                yp[oy * g->wo + ox] = acc;
            }
        }
    }
}

/* ---------------------------------------------------------------- kernel sets */

extern const anet_vk_ops anet_vk_ops_base;
#if defined(__x86_64__) && defined(__GNUC__) && defined(ANET_VK_X86_SETS)
extern const anet_vk_ops anet_vk_ops_avx2, anet_vk_ops_avx512;
#define VK_HAVE_X86 1
#include <cpuid.h>
#endif

int anet_vk_sets(const anet_vk_ops **out, int max) {
    int n = 0;
    if (n < max) out[n++] = &anet_vk_ops_base;
#ifdef VK_HAVE_X86
    /* "avx2"/"avx512f" also mean the OS saves the wider registers; both sets round with F16C
     * (CPUID.1:ECX[29], read directly: not every compiler knows the name "f16c"). */
    unsigned eax, ebx, ecx = 0, edx;
    __builtin_cpu_init();
    int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    if (n < max && f16c && __builtin_cpu_supports("avx2")) out[n++] = &anet_vk_ops_avx2;
    if (n < max && f16c && __builtin_cpu_supports("avx512f")) out[n++] = &anet_vk_ops_avx512;
#endif
    return n;
}

/* Every thread computes the same answer, so a racing first call is harmless. */
static _Atomic(const anet_vk_ops *) g_best;

const anet_vk_ops *anet_vk_best(void) {
    const anet_vk_ops *b = atomic_load_explicit(&g_best, memory_order_acquire);
    if (!b) {
        const anet_vk_ops *s[4];
        int n = anet_vk_sets(s, 4);
        b = s[n - 1];
        atomic_store_explicit(&g_best, b, memory_order_release);
    }
    return b;
}

void anet_vk_binary(anet_vk_binop op, const anet_vk_bcast *p, const float *a, const float *b, float *y) {
    anet_vk_best()->binary(op, p, a, b, y);
}

void anet_vk_select(const anet_vk_bcast *p, const float *c, const float *a, const float *b, float *y) {
    anet_vk_best()->select(p, c, a, b, y);
}

void anet_vk_unary(anet_vk_unop op, size_t n, const float *x, float *y, float p) {
    anet_vk_best()->unary(op, n, x, y, p);
}

void anet_vk_reduce(anet_vk_redop op, int rank, const int64_t *dims, unsigned mask, const float *x, float *y) {
    anet_vk_best()->reduce(op, rank, dims, mask, x, y);
}
