/* A trained convolution in the program forms (see lower_conv.h): patches by a conv with baked
 * one-hot weights, then one matmul with the runtime weight matrix. */
#include "train/lower_conv.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"

static int reshape4(anet_graph *g, int x, int32_t a, int32_t b, int32_t c, int32_t d) {
    int32_t s[4] = {a, b, c, d};
    return x < 0 ? -1 : anet_b_reshape(g, NULL, x, 4, s);
}

static int swap12(anet_graph *g, int x) {
    static const int32_t perm[4] = {0, 2, 1, 3};
    return x < 0 ? -1 : anet_b_transpose(g, NULL, x, 4, perm);
}

/* The one-hot kernel that copies input channel c at window position k to output channel
 * c*K + k (PyTorch's column order of a flattened [O, Cin, kh, kw] weight); channels from
 * Cin*K to np are zero. groups == Cin: [np, 1, kh, kw]; groups == 1: [np, Cin, kh, kw]. */
static int onehot_kernel(anet_graph *g, int cin, int kh, int kw, int np, int groups) {
    int per = groups == 1 ? cin : 1, K = kh * kw;
    size_t n = (size_t)np * (size_t)per * (size_t)K;
    uint16_t *w = calloc(n, sizeof *w);
    if (!w) return anet_fail(ANET_E_NOMEM, "lowering a conv: out of memory"), -1;
    for (int c = 0; c < cin; c++)
        for (int k = 0; k < K; k++) {
            size_t o = (size_t)c * (size_t)K + (size_t)k;
            w[(o * (size_t)per + (groups == 1 ? (size_t)c : 0)) * (size_t)K + (size_t)k] = anet_f32_to_f16(1.0f);
        }
    int64_t d[4] = {np, per, kh, kw};
    int v = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, d), w, n * sizeof *w);
    free(w);
    return v;
}

int anet_lower_conv_patches_channels(const anet_layer *l) {
    int ck = l->in.d[0] * l->kh * l->kw;
    return (ck + 31) / 32 * 32;
}

/* Samples per matmul group: c divides B, c*S is a multiple of 32 (the weight gradient's
 * contraction) and at most 16384 (the compiler's longest axis); 0 when none. */
int anet_lower_conv_group(int B, int S) {
    for (int c = B; c >= 1; c--)
        if (B % c == 0 && (int64_t)c * S % 32 == 0 && (int64_t)c * S <= ANET_LOWER_CONV_MAX_AXIS) return c;
    return 0;
}

/* A grouped conv's weight [1,1,O,Kgp] (Kg = Cin/groups*kh*kw taps per output, padded to 32)
 * as the dense [1,1,O,np] the patches multiply: tiled across the groups by a const matmul
 * (T[k][g*Kg + k] = 1; contraction Kgp) and masked to each output's own group's block (a
 * const), so the gradient of the zeros outside the blocks never reaches the weight. */
static int grouped_dense(anet_graph *g, const anet_layer *l, int w, int np) {
    const int groups = l->groups, K = l->kh * l->kw, Kg = l->user_ch / groups * K, Og = l->user_out / groups;
    const int O = l->out, Kgp = (int)g->values[w].type.dims[3];
    uint16_t *t = calloc((size_t)Kgp * (size_t)np, sizeof *t), *m = calloc((size_t)O * (size_t)np, sizeof *m);
    if (!t || !m) {
        free(t);
        free(m);
        return anet_fail(ANET_E_NOMEM, "lowering a grouped conv: out of memory"), -1;
    }
    for (int gi = 0; gi < groups; gi++)
        for (int k = 0; k < Kg && gi * Kg + k < np; k++) t[(size_t)k * np + (size_t)(gi * Kg + k)] = anet_f32_to_f16(1.0f);
    for (int o = 0; o < l->user_out; o++)
        for (int k = 0; k < Kg; k++) m[(size_t)o * np + (size_t)(o / Og * Kg + k)] = anet_f32_to_f16(1.0f);
    int64_t td[4] = {1, 1, Kgp, np}, md[4] = {1, 1, O, np};
    int tv = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, td), t, (size_t)Kgp * (size_t)np * 2);
    int mv = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, md), m, (size_t)O * (size_t)np * 2);
    free(t);
    free(m);
    int tiled = tv < 0 ? -1 : anet_b_matmul(g, NULL, w, tv, 0, 0);
    return tiled < 0 || mv < 0 ? -1 : anet_b_binary(g, ANET_OP_MUL, NULL, tiled, mv);
}

int anet_lower_conv_matmul(anet_graph *g, const anet_layer *l, int h, int B, int w, int bias, int bias_cols,
                           int *stop) {
    *stop = -1;
    if (h < 0 || w < 0 || bias < 0) return -1;
    int cin = l->in.d[0], O = l->out, OH = l->outs.d[1], OW = l->outs.d[2], S = OH * OW;
    int np = anet_lower_conv_patches_channels(l), c = anet_lower_conv_group(B, S), G = c ? B / c : 0;
    if (!c)
        return anet_fail(ANET_E_UNSUPPORTED, "conv %dx%d with %dx%d outputs: no group of samples whose positions are a "
                         "multiple of 32 and at most %d (batch %d)", l->kh, l->kw, OH, OW, ANET_LOWER_CONV_MAX_AXIS, B), -1;
    /* groups = Cin keeps the patch conv's cost at one multiply per output element; it needs
     * np divisible by Cin, which holds when no channel is padded. */
    int groups = np == cin * l->kh * l->kw ? cin : 1;
    int hot = onehot_kernel(g, cin, l->kh, l->kw, np, groups);
    int32_t strides[2] = {l->stride, l->stride}, pad[4] = {l->pad, l->pad, l->pad, l->pad};
    int p = hot < 0 ? -1 : anet_b_conv(g, NULL, h, hot, -1, strides, "custom", pad, NULL, groups);
    /* [B, np, OH, OW] -> [1, G, np, c*S]: G groups of c samples, each one matmul with W
     * broadcast, whose weight gradient contracts over c samples' positions together. */
    int p2 = reshape4(g, swap12(g, reshape4(g, p, G, c, np, S)), 1, G, np, c * S);
    if (l->groups > 1) w = grouped_dense(g, l, w, np);
    int z = p2 < 0 || w < 0 ? -1 : anet_b_matmul(g, NULL, w, p2, 0, 0);
    if (bias_cols > 1) {
        /* bias [O, bias_cols] (column 0) times a [bias_cols, c*S] block whose row 0 is ones:
         * a matmul instead of a [1,C,1,1] broadcast along the last axis. The block is
         * patches * 0 + E (E broadcast over the sample axis only); no gradient flows through
         * it (*stop). */
        int32_t begin[4] = {0, 0, 0, 0}, size[4] = {1, G, bias_cols, c * S};
        int blk = p2 < 0 ? -1 : anet_b_slice_by_size(g, NULL, p2, 4, begin, size);
        blk = reshape4(g, blk, G, bias_cols, c, S);
        blk = blk < 0 ? -1 : anet_b_binary(g, ANET_OP_MUL, NULL, blk, anet_graph_const_fp16(g, NULL, 0.0f));
        *stop = blk;
        uint16_t *e = calloc((size_t)bias_cols * (size_t)S, sizeof *e);
        if (!e) return anet_fail(ANET_E_NOMEM, "lowering a conv: out of memory"), -1;
        for (int k = 0; k < S; k++) e[k] = anet_f32_to_f16(1.0f);
        int64_t ed[4] = {1, bias_cols, 1, S};
        int ev = anet_graph_const(g, NULL, anet_type_make(ANET_DT_FP16, 4, ed), e, (size_t)bias_cols * (size_t)S * 2);
        free(e);
        int ones = blk < 0 || ev < 0 ? -1 : anet_b_binary(g, ANET_OP_ADD, NULL, blk, ev);
        ones = reshape4(g, ones, 1, G, bias_cols, c * S);
        int bz = ones < 0 ? -1 : anet_b_matmul(g, NULL, bias, ones, 0, 0);
        z = z < 0 || bz < 0 ? -1 : anet_b_binary(g, ANET_OP_ADD, NULL, z, bz);
        z = reshape4(g, swap12(g, reshape4(g, z, G, O, c, S)), B, O, OH, OW);
    } else {
        z = reshape4(g, swap12(g, reshape4(g, z, G, O, c, S)), B, O, OH, OW);
        int b4 = reshape4(g, bias, 1, O, 1, 1);
        z = z < 0 || b4 < 0 ? -1 : anet_b_binary(g, ANET_OP_ADD, NULL, z, b4);
    }
    return z;
}
