/* Model specs ("mlp:784-128-10") and parameter naming/initialization (see model.h). */
#include "train/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

anet_status anet_model_parse(const char *spec, anet_model_spec *out) {
    if (!spec || !out) return anet_fail(ANET_E_INVALID, "model spec: missing argument");
    anet_model_spec m;
    memset(&m, 0, sizeof m);
    if (strncmp(spec, "mlp:", 4) != 0)
        return anet_fail(ANET_E_INVALID, "model spec '%.64s': unknown model (expected mlp:IN-HIDDEN-...-CLASSES)", spec);
    const char *p = spec + 4;
    int n = 0;
    for (;;) {
        if (*p < '0' || *p > '9')
            return anet_fail(ANET_E_INVALID, "model spec '%.64s': expected a layer size at position %d", spec, (int)(p - spec));
        errno = 0;
        char *end;
        long v = strtol(p, &end, 10);
        if (errno || v < 1 || v > 65536)
            return anet_fail(ANET_E_INVALID, "model spec '%.64s': layer size must be 1..65536", spec);
        if (n > ANET_MLP_MAX_LAYERS)
            return anet_fail(ANET_E_INVALID, "model spec '%.64s': more than %d layers", spec, ANET_MLP_MAX_LAYERS);
        m.dims[n++] = (int)v;
        p = end;
        if (*p == '\0') break;
        if (*p != '-') return anet_fail(ANET_E_INVALID, "model spec '%.64s': unexpected '%c'", spec, *p);
        p++;
    }
    if (n < 2) return anet_fail(ANET_E_INVALID, "model spec '%.64s': needs at least inputs and classes (mlp:IN-CLASSES)", spec);
    m.nlayers = n - 1;
    int64_t total = 0;
    for (int l = 0; l < m.nlayers; l++) total += (int64_t)m.dims[l + 1] * (m.dims[l] + 1);
    if (total > ANET_MLP_MAX_PARAMS)
        return anet_fail(ANET_E_INVALID, "model spec '%.64s': %lld parameters, more than the %lld (2^28) supported",
                         spec, (long long)total, (long long)ANET_MLP_MAX_PARAMS);
    size_t len = (size_t)snprintf(m.text, sizeof m.text, "mlp");
    for (int i = 0; i < n && len < sizeof m.text; i++)
        len += (size_t)snprintf(m.text + len, sizeof m.text - len, "%c%d", i ? '-' : ':', m.dims[i]);
    *out = m;
    return ANET_OK;
}

int anet_model_nparams(const anet_model_spec *m) { return 2 * m->nlayers; }

void anet_model_param(const anet_model_spec *m, int i, anet_param_info *out) {
    int l = i / 2;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%c%d", i % 2 ? 'b' : 'w', l);
    out->rows = m->dims[l + 1];
    out->cols = i % 2 ? 1 : m->dims[l];
}

int64_t anet_model_param_count(const anet_model_spec *m) {
    int64_t n = 0;
    for (int l = 0; l < m->nlayers; l++) n += (int64_t)m->dims[l + 1] * (m->dims[l] + 1);
    return n;
}

void anet_model_init(const anet_model_spec *m, anet_rng *rng, float **params) {
    for (int i = 0; i < anet_model_nparams(m); i++) {
        anet_param_info pi;
        anet_model_param(m, i, &pi);
        /* kaiming_uniform(a=sqrt(5)) on w and PyTorch's bias rule both give 1/sqrt(fan_in). */
        float bound = 1.0f / sqrtf((float)m->dims[i / 2]);
        int64_t n = (int64_t)pi.rows * pi.cols;
        for (int64_t k = 0; k < n; k++) params[i][k] = (2.0f * anet_rng_uniform(rng) - 1.0f) * bound;
    }
}
