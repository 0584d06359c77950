/* Parameter naming and initialization of a parsed model (see model.h; parsing: layers.c). */
#include "train/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int anet_model_nparams(const anet_model_spec *m) { return m->nparams; }

int anet_model_recommend(const anet_model_spec *m, anet_model_hints *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < m->nl; i++)
        if (m->layers[i].kind == ANET_L_CONV) {
            /* mse, bce and batchnorm keep the batch unpadded, and the device forms want it a
             * multiple of 32 */
            int unpadded = m->loss != ANET_LOSS_XENT;
            for (int k = 0; k < m->nl; k++) unpadded |= m->layers[k].kind == ANET_L_BATCHNORM;
            out->batch = unpadded ? 32 : 16;
            out->lr = 2e-3f;
            out->schedule = "cosine";
            return 1;
        }
    return 0;
}

/* The layer that owns parameter i. */
static const anet_layer *owner(const anet_model_spec *m, int i) {
    const anet_layer *best = NULL;
    for (int k = 0; k < m->nl; k++)
        if (m->layers[k].param0 >= 0 && m->layers[k].param0 <= i) best = &m->layers[k];
    return best;
}

void anet_model_param(const anet_model_spec *m, int i, anet_param_info *out) {
    memset(out, 0, sizeof *out);
    const anet_layer *l = owner(m, i);
    if (!l) return;
    int j = i - l->param0;
    static const char prefix[4] = {'w', 'b', 'm', 'v'};
    snprintf(out->name, sizeof out->name, "%c%d", prefix[j & 3], l->player);
    out->layer = (int)(l - m->layers);
    out->trainable = j < 2;
    out->cols = 1;
    switch (l->kind) {
    case ANET_L_LINEAR:
        out->rows = l->out;
        if (j == 0) out->cols = l->in.d[0];
        break;
    case ANET_L_CONV:
        out->rows = l->out;
        /* a padded copy's grouped conv keeps the user's taps per output (train/lower_conv.c) */
        if (j == 0) out->cols = (l->user_ch ? l->user_ch : l->in.d[0]) / l->groups * l->kh * l->kw;
        break;
    case ANET_L_BATCHNORM: out->rows = l->in.d[0]; break;
    default: out->rows = anet_shape_numel(&l->in); break; /* layernorm */
    }
}

int64_t anet_model_param_count(const anet_model_spec *m) {
    int64_t n = 0;
    for (int i = 0; i < m->nparams; i++) {
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        n += (int64_t)pi.rows * pi.cols;
    }
    return n;
}

void anet_model_init(const anet_model_spec *m, anet_rng *rng, float **params) {
    for (int i = 0; i < m->nparams; i++) {
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        const anet_layer *l = &m->layers[pi.layer];
        int64_t n = (int64_t)pi.rows * pi.cols;
        if (l->kind == ANET_L_LINEAR || l->kind == ANET_L_CONV) {
            /* kaiming_uniform(a=sqrt(5)) on w and PyTorch's bias rule both give 1/sqrt(fan_in). */
            int fan_in = l->kind == ANET_L_LINEAR ? l->in.d[0] : l->in.d[0] / l->groups * l->kh * l->kw;
            float bound = 1.0f / sqrtf((float)fan_in);
            for (int64_t k = 0; k < n; k++) params[i][k] = (2.0f * anet_rng_uniform(rng) - 1.0f) * bound;
        } else {
            /* norms: weight and running variance 1, bias and running mean 0 */
            int j = i - l->param0;
            float v = j == 0 || j == 3 ? 1.0f : 0.0f;
            for (int64_t k = 0; k < n; k++) params[i][k] = v;
        }
    }
}
