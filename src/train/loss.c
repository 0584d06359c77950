/* Losses (see loss.h). */
#include "train/loss.h"

#include <math.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"

static int bin(anet_graph *g, anet_opkind k, int x, int y) { return x < 0 || y < 0 ? -1 : anet_b_binary(g, k, NULL, x, y); }
static int un(anet_graph *g, anet_opkind k, int x) { return x < 0 ? -1 : anet_b_unary(g, k, NULL, x); }
static int c16(anet_graph *g, float v) { return anet_graph_const_fp16(g, NULL, v); }

static int sum_axes(anet_graph *g, int x, int n, const int32_t *axes) {
    return x < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_SUM, NULL, x, n, axes, 1);
}

anet_status anet_loss_build(anet_graph *g, anet_loss_kind kind, int logits, int y, int inv_batch, int K, int B,
                            const char *name, anet_loss_ops *out) {
    return anet_loss_build_form(g, kind, logits, y, inv_batch, K, B, K, 0.0f, 0, name, out);
}

anet_status anet_loss_build_form(anet_graph *g, anet_loss_kind kind, int logits, int y, int inv_batch, int K, int B,
                                 int k_mean, float log_eps, int rows, const char *name, anet_loss_ops *out) {
    if (k_mean < 1 || k_mean > K) k_mean = K;
    static const int32_t ax2[1] = {2}, ax23[2] = {2, 3};
    int32_t sh[4] = {1, 1, K, B};
    int yr = y < 0 ? -1 : anet_b_reshape(g, NULL, y, 4, sh);
    int per = -1; /* per-element loss, summed below */
    out->stop = -1;
    switch (kind) {
    case ANET_LOSS_XENT: {
        /* Stable: s = z - max(z); nll = log(sum(exp(s))) - s; loss = sum(y * nll) / n. */
        int mx = logits < 0 ? -1 : anet_b_reduce(g, ANET_OP_REDUCE_MAX, NULL, logits, 1, ax2, 1);
        int s = bin(g, ANET_OP_SUB, logits, mx);
        int se = sum_axes(g, un(g, ANET_OP_EXP, s), 1, ax2);
        if (log_eps > 0.0f) se = bin(g, ANET_OP_ADD, se, c16(g, log_eps));
        int lse = un(g, ANET_OP_LOG, se);
        per = bin(g, ANET_OP_MUL, yr, bin(g, ANET_OP_SUB, lse, s));
        out->stop = mx;
        break;
    }
    case ANET_LOSS_MSE: {
        /* (z - t)^2 / K. Training batches are always full (the last partial one is dropped) and
         * never padded for this loss (step_forms.c). */
        int d = bin(g, ANET_OP_SUB, logits, yr);
        per = bin(g, ANET_OP_MUL, bin(g, ANET_OP_MUL, d, d), c16(g, 1.0f / (float)k_mean));
        break;
    }
    case ANET_LOSS_BCE: {
        /* max(z,0) - z t + log(1 + exp(-|z|)), / K */
        int z = logits;
        int sp = un(g, ANET_OP_LOG, bin(g, ANET_OP_ADD, c16(g, 1.0f), un(g, ANET_OP_EXP, bin(g, ANET_OP_MUL, un(g, ANET_OP_ABS, z), c16(g, -1.0f)))));
        per = bin(g, ANET_OP_ADD, bin(g, ANET_OP_SUB, un(g, ANET_OP_RELU, z), bin(g, ANET_OP_MUL, z, yr)), sp);
        per = bin(g, ANET_OP_MUL, per, c16(g, 1.0f / (float)k_mean));
        break;
    }
    }
    (void)B;
    int tot = sum_axes(g, per, rows ? 1 : 2, rows ? ax2 : ax23);
    out->loss = tot < 0 || inv_batch < 0 ? -1 : anet_b_binary(g, ANET_OP_MUL, name, tot, inv_batch);
    if (out->loss < 0) {
        const char *msg = anet_last_error();
        return anet_fail(ANET_E_INTERNAL, "building the %s loss failed: %s", anet_loss_name(kind), msg[0] ? msg : "?");
    }
    return ANET_OK;
}

static double rd(const void *p, anet_dtype dt, size_t i) {
    return dt == ANET_DT_FP32 ? (double)((const float *)p)[i] : (double)anet_f16_to_f32(((const uint16_t *)p)[i]);
}

double anet_loss_host_sum(anet_loss_kind kind, const void *logits, anet_dtype dt, const uint16_t *y, int K, int B,
                          int count) {
    double sum = 0;
    for (int j = 0; j < count; j++) {
        double mx = -INFINITY, z = 0, s = 0;
        if (kind == ANET_LOSS_XENT) {
            for (int k = 0; k < K; k++) mx = fmax(mx, rd(logits, dt, (size_t)k * B + j));
            for (int k = 0; k < K; k++) z += exp(rd(logits, dt, (size_t)k * B + j) - mx);
        }
        for (int k = 0; k < K; k++) {
            double v = rd(logits, dt, (size_t)k * B + j), t = anet_f16_to_f32(y[(size_t)k * B + j]);
            if (kind == ANET_LOSS_XENT) s += t * (mx + log(z) - v);
            else if (kind == ANET_LOSS_MSE) s += (v - t) * (v - t) / K;
            else s += (fmax(v, 0.0) - v * t + log1p(exp(-fabs(v)))) / K;
        }
        sum += s;
    }
    return sum;
}
