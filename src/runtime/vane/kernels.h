/* vane's kernels: plain loops over fp32 buffers (values already fp16-representable in the
 * default numerics; rounding is the caller's, once per op, or the row kernels' when asked). Shapes are int64 arrays of at
 * most ANET_MAX_RANK dims. Kernels never allocate: scratch comes from the caller. */
#ifndef ANET_RUNTIME_VANE_KERNELS_H
#define ANET_RUNTIME_VANE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"

typedef enum anet_vk_binop {
    ANET_VK_ADD,
    ANET_VK_SUB,
    ANET_VK_MUL,
    ANET_VK_DIV,
    ANET_VK_MAX,
    ANET_VK_MIN,
    ANET_VK_POW,
    ANET_VK_GT,
    ANET_VK_GE,
    ANET_VK_LT,
    ANET_VK_EQ
} anet_vk_binop;

typedef enum anet_vk_unop {
    ANET_VK_RELU,
    ANET_VK_SIGMOID,
    ANET_VK_TANH,
    ANET_VK_EXP,
    ANET_VK_LOG,   /* log(x + p) */
    ANET_VK_SQRT,
    ANET_VK_RSQRT, /* 1 / sqrt(x + p) */
    ANET_VK_ABS,
    ANET_VK_SQUARE,
    ANET_VK_GELU_EXACT,
    ANET_VK_GELU_TANH
} anet_vk_unop;

/* A numpy broadcast of up to 3 operands onto an output shape, with size-1 dims dropped and
 * adjacent dims merged where every operand is contiguous across them, so that the common
 * cases (same shape, scalar, [1,C,1,S] op [1,C,1,1]) become one or two flat loops. */
typedef struct anet_vk_bcast {
    int nd; /* >= 1 */
    int nops;
    int64_t dims[ANET_MAX_RANK];
    int64_t st[3][ANET_MAX_RANK]; /* element strides per operand; 0 where broadcast */
} anet_vk_bcast;

/* Returns 0, or -1 if an input does not broadcast to out (rank <= ANET_MAX_RANK each). */
int anet_vk_bcast_plan(anet_vk_bcast *p, int out_rank, const int64_t *out_dims, int nin,
                       const int *in_rank, const int64_t *const *in_dims);

typedef enum anet_vk_redop { ANET_VK_RSUM, ANET_VK_RMEAN, ANET_VK_RMAX } anet_vk_redop;

/* The kernels compiled once per instruction set (kernels_vec.h); every set gives the same bits.
 * Rows take element strides (0 = broadcast one value). */
typedef struct anet_vk_ops {
    const char *name; /* "sse2", "avx2", "avx512", "neon" or "portable" */
    /* x[i] = nearest fp16 value (the bits of anet_f32_round_f16_n) */
    void (*round)(size_t n, float *x);
    /* rnd: round each result to fp16 in the same loop */
    void (*binary_row)(anet_vk_binop op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *y, int rnd);
    void (*binary)(anet_vk_binop op, const anet_vk_bcast *p, const float *a, const float *b, float *y);
    void (*select_row)(int64_t n, const float *c, int64_t sc, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *y, int rnd);
    void (*select)(const anet_vk_bcast *p, const float *c, const float *a, const float *b, float *y);
    void (*unary)(anet_vk_unop op, size_t n, const float *x, float *y, float p);
    /* Operand k of plan p at flat output indices [start, start + count), packed into dst. */
    void (*gather)(const anet_vk_bcast *p, int k, const float *x, int64_t start, int64_t count, float *dst);
    void (*reduce)(anet_vk_redop op, int rank, const int64_t *dims, unsigned mask, const float *x, float *y);
    /* a + x[0] + ... + x[n-1], added in that order (a full sum taken tile by tile) */
    float (*sum_row)(const float *x, int64_t n, float a);
    /* anet_vk_conv_wide's sums for nj (1..ANET_VK_WIDE_J) consecutive outputs of one row, xrows
     * advanced to the first: out[jj][l] = sum over c < C, p < KH with 0 <= iy0 + p < H, and
     * over the lane blocks q in order, of w[(c*KH + p)*kwp + q*LANES + l] *
     * xrows[(c*H + iy0 + p)*rl + jj + q*LANES + l] (the same order in every set). */
    void (*wide_block)(int64_t C, int64_t KH, int64_t H, int64_t iy0, int64_t rl, int64_t kwp, const float *w,
                       const float *xrows, int64_t nj, float *out);
    /* binary_row with rounding that also writes the results to h as fp16 bits (h not NULL);
     * returns 0 for an op it does not cover. NULL in sets without fp16 conversion instructions. */
    int (*binary_row16)(anet_vk_binop op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                        float *y, uint16_t *h);
} anet_vk_ops;

/* The fastest set this CPU runs (decided once). */
const anet_vk_ops *anet_vk_best(void);
/* Every set this CPU runs, the baseline first; returns how many (<= max) were written. */
int anet_vk_sets(const anet_vk_ops **out, int max);

/* The best set's kernels under their plain names. */
void anet_vk_binary(anet_vk_binop op, const anet_vk_bcast *p, const float *a, const float *b,
                    float *y);
/* y = cond != 0 ? a : b */
void anet_vk_select(const anet_vk_bcast *p, const float *c, const float *a, const float *b,
                    float *y);
void anet_vk_unary(anet_vk_unop op, size_t n, const float *x, float *y, float p);

/* Softmax over the middle axis of [outer, n, inner]. */
void anet_vk_softmax(int64_t outer, int64_t n, int64_t inner, const float *x, float *y);

/* Reduces the axes set in `mask` (bit i = axis i) of x[dims]; y holds the kept axes in order. */
void anet_vk_reduce(anet_vk_redop op, int rank, const int64_t *dims, unsigned mask,
                    const float *x, float *y);

/* y = x with axes permuted: y dim i = x dim perm[i]. */
void anet_vk_transpose(int rank, const int64_t *dims, const int *perm, const float *x, float *y);
/* y = x[begin : begin + size] per axis (all in range: checked by the caller). */
void anet_vk_slice(int rank, const int64_t *dims, const int64_t *begin, const int64_t *size,
                   const float *x, float *y);

/* 2-D window geometry shared by conv and pooling (1-D uses h = kh = 1). */
typedef struct anet_vk_win {
    int64_t c, h, w;       /* input channels (per group for conv), height, width */
    int64_t kh, kw;        /* kernel */
    int64_t sh, sw;        /* strides */
    int64_t dh, dw;        /* dilations */
    int64_t pt, pl;        /* padding before (top, left); after is implied by ho, wo */
    int64_t ho, wo;        /* output size */
} anet_vk_win;

/* col[(c*kh + i)*kw + j][oy*wo + ox] = x[c][oy*sh - pt + i*dh][ox*sw - pl + j*dw] or 0. */
void anet_vk_im2col(const anet_vk_win *g, const float *x, float *col);
/* The same values transposed: colt[oy*wo + ox][(c*kh + i)*kw + j]. Built row by kernel row, so
 * it is the fast form when the kernel is wide and the output narrow (weight-gradient convs,
 * whose "kernel" is the output gradient); the GEMM then reads it as a transposed operand. */
void anet_vk_im2col_t(const anet_vk_win *g, const float *x, float *colt);
/* A sparse const kernel (e.g. the one-hot patch extraction of program forms): one output
 * plane [ho, wo] as the sum over its taps of w * the input plane `ci` read at window position
 * (i, j). x is the group's input [c, h, w]. Cost: taps x outputs, not c*kh*kw x outputs. */
/* A stride-1, undilated conv of one batch item whose kernel is wider than its output (wo < 16):
 * y[m][i][j] = sum over c, p (in order) of the kernel row wt[m][c][p][0..kwp) (kw taps, zero
 * after) against the input row c, i - pt + p from column j - pl (zero outside), each product
 * summed in lanes of ANET_VK_WIDE_LANES (tap q in lane q mod lanes: the same order on every
 * CPU), the lanes added last in order. wt is the weight with rows padded to
 * anet_vk_wide_kwp(g) = kw rounded up to the lanes (anet_vk_conv_wide_pad); scratch holds
 * anet_vk_conv_wide_scratch(g) floats. */
#define ANET_VK_WIDE_LANES 16
#define ANET_VK_WIDE_J 8 /* at most this many outputs summed at once (their sums stay in registers) */
static inline int64_t anet_vk_wide_kwp(const anet_vk_win *g) {
    return (g->kw + ANET_VK_WIDE_LANES - 1) / ANET_VK_WIDE_LANES * ANET_VK_WIDE_LANES;
}
int64_t anet_vk_conv_wide_scratch(const anet_vk_win *g);
/* wp = the rows kernel rows of wt (kw taps each) padded with zeros to anet_vk_wide_kwp(g). */
void anet_vk_conv_wide_pad(const anet_vk_win *g, int64_t rows, const float *wt, float *wp);
void anet_vk_conv_wide(const anet_vk_win *g, int64_t M, const float *wt, const float *x, float *y, float *scratch);

/* The col2im half of a stride-1 conv: p[(m*kh + i)*kw + j][iy*w + ix] holds sum_c W[m][c][i][j]
 * x[c][iy][ix]; y[m] (M planes of ho x wo) becomes the sum over taps, in (i, j) order, of each
 * plane shifted to y[m][iy + pt - i*dh][ix + pl - j*dw]. */
void anet_vk_conv_scatter(const anet_vk_win *g, int64_t M, const float *p, float *y);

typedef struct anet_vk_tap {
    int32_t ci, i, j;
    float w;
} anet_vk_tap;
void anet_vk_conv_taps(const anet_vk_win *g, const anet_vk_tap *taps, int64_t ntaps, const float *x, float *y);
/* Pools each of `planes` planes; avg divides by the window's in-bounds count when
 * exclude_pad, else by kh*kw. */
void anet_vk_pool(int is_max, int exclude_pad, int64_t planes, const anet_vk_win *g,
                  const float *x, float *y);

#endif
