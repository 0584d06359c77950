#include "runtime/vane/kernels.h"

#include <math.h>
#include <string.h>

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

/* One flat row of a binary op; the stride patterns the broadcast plan produces most are split
 * out so each loop is a plain vectorizable one. */
#define VK_ROW(NAME, EXPR)                                                                     \
    static void NAME(int64_t n, const float *restrict a, int64_t sa, const float *restrict b, \
                     int64_t sb, float *restrict y) {                                         \
        if (sa == 1 && sb == 1) {                                                              \
            for (int64_t i = 0; i < n; i++) { float x = a[i], z = b[i]; y[i] = (EXPR); }       \
        } else if (sa == 1 && sb == 0) {                                                       \
            const float z = b[0];                                                              \
            for (int64_t i = 0; i < n; i++) { float x = a[i]; y[i] = (EXPR); }                 \
        } else if (sa == 0 && sb == 1) {                                                       \
            const float x = a[0];                                                              \
            for (int64_t i = 0; i < n; i++) { float z = b[i]; y[i] = (EXPR); }                 \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) { float x = a[i * sa], z = b[i * sb]; y[i] = (EXPR); } \
        }                                                                                      \
    }

/* max/min propagate NaN (the ANE's behaviour is unknown; NaN-propagation is the safe choice
 * for a training emulator: a NaN never silently disappears). */
static inline float vk_max(float x, float z) { return (x != x || x > z) ? x : z; }
static inline float vk_min(float x, float z) { return (x != x || x < z) ? x : z; }

VK_ROW(row_add, x + z)
VK_ROW(row_sub, x - z)
VK_ROW(row_mul, x * z)
VK_ROW(row_div, x / z)
VK_ROW(row_max, vk_max(x, z))
VK_ROW(row_min, vk_min(x, z))
VK_ROW(row_pow, powf(x, z))
VK_ROW(row_gt, x > z ? 1.0f : 0.0f)
VK_ROW(row_ge, x >= z ? 1.0f : 0.0f)
VK_ROW(row_lt, x < z ? 1.0f : 0.0f)
VK_ROW(row_eq, x == z ? 1.0f : 0.0f)

typedef void (*row_fn)(int64_t, const float *, int64_t, const float *, int64_t, float *);

void anet_vk_binary(anet_vk_binop op, const anet_vk_bcast *p, const float *a, const float *b,
                    float *y) {
    row_fn f;
    switch (op) {
    case ANET_VK_ADD: f = row_add; break;
    case ANET_VK_SUB: f = row_sub; break;
    case ANET_VK_MUL: f = row_mul; break;
    case ANET_VK_DIV: f = row_div; break;
    case ANET_VK_MAX: f = row_max; break;
    case ANET_VK_MIN: f = row_min; break;
    case ANET_VK_POW: f = row_pow; break;
    case ANET_VK_GT: f = row_gt; break;
    case ANET_VK_GE: f = row_ge; break;
    case ANET_VK_LT: f = row_lt; break;
    default: f = row_eq; break;
    }
    int nd = p->nd;
    int64_t inner = p->dims[nd - 1], outer = 1;
    for (int i = 0; i < nd - 1; i++) outer *= p->dims[i];
    int64_t idx[ANET_MAX_RANK] = {0}, oa = 0, ob = 0;
    for (int64_t r = 0; r < outer; r++) {
        f(inner, a + oa, p->st[0][nd - 1], b + ob, p->st[1][nd - 1], y + r * inner);
        /* Advance the outer counter (odometer), keeping the operand offsets in step. */
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            oa += p->st[0][i];
            ob += p->st[1][i];
            if (idx[i] < p->dims[i]) break;
            oa -= p->st[0][i] * p->dims[i];
            ob -= p->st[1][i] * p->dims[i];
            idx[i] = 0;
        }
    }
}

void anet_vk_select(const anet_vk_bcast *p, const float *c, const float *a, const float *b,
                    float *y) {
    int nd = p->nd;
    int64_t inner = p->dims[nd - 1], outer = 1;
    for (int i = 0; i < nd - 1; i++) outer *= p->dims[i];
    int64_t idx[ANET_MAX_RANK] = {0}, off[3] = {0, 0, 0};
    const int64_t sc = p->st[0][nd - 1], sa = p->st[1][nd - 1], sb = p->st[2][nd - 1];
    for (int64_t r = 0; r < outer; r++) {
        const float *cc = c + off[0], *aa = a + off[1], *bb = b + off[2];
        float *yy = y + r * inner;
        for (int64_t i = 0; i < inner; i++) yy[i] = cc[i * sc] != 0.0f ? aa[i * sa] : bb[i * sb];
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            for (int k = 0; k < 3; k++) off[k] += p->st[k][i];
            if (idx[i] < p->dims[i]) break;
            for (int k = 0; k < 3; k++) off[k] -= p->st[k][i] * p->dims[i];
            idx[i] = 0;
        }
    }
}

void anet_vk_unary(anet_vk_unop op, size_t n, const float *restrict x, float *restrict y, float p) {
    switch (op) {
    case ANET_VK_RELU:
        /* x > 0 ? x : 0 would turn NaN into 0; keep NaN. */
        for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case ANET_VK_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ANET_VK_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ANET_VK_EXP:
        for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
        break;
    case ANET_VK_LOG:
        for (size_t i = 0; i < n; i++) y[i] = logf(x[i] + p);
        break;
    case ANET_VK_SQRT:
        for (size_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
        break;
    case ANET_VK_RSQRT:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i] + p);
        break;
    case ANET_VK_ABS:
        for (size_t i = 0; i < n; i++) y[i] = fabsf(x[i]);
        break;
    case ANET_VK_SQUARE:
        for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
        break;
    case ANET_VK_GELU_EXACT:
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case ANET_VK_GELU_TANH:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        }
        break;
    }
}

void anet_vk_softmax(int64_t outer, int64_t n, int64_t inner, const float *x, float *y) {
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            const float *xs = x + o * n * inner + j;
            float *ys = y + o * n * inner + j;
            float m = -INFINITY;
            for (int64_t i = 0; i < n; i++) {
                float v = xs[i * inner];
                if (v > m || v != v) m = v;
            }
            float s = 0.0f;
            for (int64_t i = 0; i < n; i++) {
                float e = expf(xs[i * inner] - m);
                ys[i * inner] = e;
                s += e;
            }
            float inv = 1.0f / s;
            for (int64_t i = 0; i < n; i++) ys[i * inner] *= inv;
        }
    }
}

void anet_vk_reduce(anet_vk_redop op, int rank, const int64_t *dims, unsigned mask,
                    const float *x, float *y) {
    /* Collapse into alternating runs of kept / reduced axes. */
    int64_t d[ANET_MAX_RANK];
    int red[ANET_MAX_RANK], nd = 0;
    int64_t total = 1, outn = 1, cnt = 1;
    for (int i = 0; i < rank; i++) {
        int r = (mask >> i) & 1u;
        total *= dims[i];
        if (r) cnt *= dims[i];
        else outn *= dims[i];
        if (dims[i] == 1) continue;
        if (nd > 0 && red[nd - 1] == r) d[nd - 1] *= dims[i];
        else { d[nd] = dims[i]; red[nd] = r; nd++; }
    }
    if (nd == 0) { d[0] = 1; red[0] = 1; nd = 1; }
    /* Output strides over the collapsed axes (0 on reduced ones). */
    int64_t ost[ANET_MAX_RANK], s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        ost[i] = red[i] ? 0 : s;
        if (!red[i]) s *= d[i];
    }
    float init = op == ANET_VK_RMAX ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < outn; i++) y[i] = init;
    int64_t inner = d[nd - 1], outer = total / inner;
    int64_t idx[ANET_MAX_RANK] = {0}, oy = 0;
    int inner_red = red[nd - 1];
    for (int64_t r = 0; r < outer; r++) {
        const float *xr = x + r * inner;
        if (inner_red) {
            float a = y[oy];
            if (op == ANET_VK_RMAX) {
                for (int64_t i = 0; i < inner; i++) if (xr[i] > a || xr[i] != xr[i]) a = xr[i];
            } else {
                for (int64_t i = 0; i < inner; i++) a += xr[i];
            }
            y[oy] = a;
        } else {
            float *yr = y + oy;
            if (op == ANET_VK_RMAX) {
                for (int64_t i = 0; i < inner; i++) if (xr[i] > yr[i] || xr[i] != xr[i]) yr[i] = xr[i];
            } else {
                for (int64_t i = 0; i < inner; i++) yr[i] += xr[i];
            }
        }
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            oy += ost[i];
            if (idx[i] < d[i]) break;
            oy -= ost[i] * d[i];
            idx[i] = 0;
        }
    }
    if (op == ANET_VK_RMEAN) {
        float inv = 1.0f / (float)cnt;
        for (int64_t i = 0; i < outn; i++) y[i] *= inv;
    }
}

void anet_vk_transpose(int rank, const int64_t *dims, const int *perm, const float *x, float *y) {
    if (rank == 0) { y[0] = x[0]; return; }
    int64_t xst[ANET_MAX_RANK], st[ANET_MAX_RANK], od[ANET_MAX_RANK], s = 1, total = 1;
    for (int i = rank - 1; i >= 0; i--) { xst[i] = s; s *= dims[i]; }
    for (int i = 0; i < rank; i++) { od[i] = dims[perm[i]]; st[i] = xst[perm[i]]; total *= od[i]; }
    int64_t inner = od[rank - 1], sin = st[rank - 1], idx[ANET_MAX_RANK] = {0}, ox = 0;
    for (int64_t r = 0; r < total / inner; r++) {
        float *yr = y + r * inner;
        for (int64_t i = 0; i < inner; i++) yr[i] = x[ox + i * sin];
        for (int i = rank - 2; i >= 0; i--) {
            idx[i]++;
            ox += st[i];
            if (idx[i] < od[i]) break;
            ox -= st[i] * od[i];
            idx[i] = 0;
        }
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
        for (int i = rank - 2; i >= 0; i--) {
            idx[i]++;
            ox += xst[i];
            if (idx[i] < size[i]) break;
            ox -= xst[i] * size[i];
            idx[i] = 0;
        }
    }
}

void anet_vk_im2col(const anet_vk_win *g, const float *x, float *col) {
    const int64_t hw = g->ho * g->wo;
    for (int64_t c = 0; c < g->c; c++) {
        const float *xc = x + c * g->h * g->w;
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * hw;
                for (int64_t oy = 0; oy < g->ho; oy++) {
                    int64_t iy = oy * g->sh - g->pt + i * g->dh;
                    float *r = row + oy * g->wo;
                    if (iy < 0 || iy >= g->h) {
                        memset(r, 0, (size_t)g->wo * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + iy * g->w;
                    int64_t x0 = j * g->dw - g->pl;
                    if (g->sw == 1) {
                        for (int64_t ox = 0; ox < g->wo; ox++) {
                            int64_t ix = ox + x0;
                            r[ox] = (ix >= 0 && ix < g->w) ? xr[ix] : 0.0f;
                        }
                    } else {
                        for (int64_t ox = 0; ox < g->wo; ox++) {
                            int64_t ix = ox * g->sw + x0;
                            r[ox] = (ix >= 0 && ix < g->w) ? xr[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

void anet_vk_pool(int is_max, int exclude_pad, int64_t planes, const anet_vk_win *g,
                  const float *x, float *y) {
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
