/* libFuzzer target: the public C API from arrays. The input picks a small model, trainer
 * options, and arrays of any type, length, feature count, label and float values (NaN, inf,
 * out-of-range labels, NULLs); every call must return a status, never crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ane_trainer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static uint8_t byte(rd *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static const char *const option_sets[] = {
    "backend=vane quiet=1",
    "backend=vane optimizer=sgd lr=0.5 quiet=1",
    "backend=vane update=ane quiet=1",
    "backend=vane numerics=fp32 schedule=warmup-cosine warmup_steps=3 quiet=1",
    "backend=vane loss_scale=1 loss_scale_growth=1 quiet=1",
    "backend=vane lr=1000000 quiet=1",
    "backend=vane batch_size=0",
    "backend=vane epochs=99999999999",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rd r = {data, size};
    int layers = 1 + byte(&r) % 3;
    int64_t dims[4];
    char spec[64] = "mlp:";
    for (int i = 0; i <= layers; i++) {
        dims[i] = 1 + byte(&r) % 12;
        size_t l = strlen(spec);
        snprintf(spec + l, sizeof spec - l, "%s%lld", i ? "-" : "", (long long)dims[i]);
    }
    int batch = 1 + byte(&r) % 6;
    const char *opts = option_sets[byte(&r) % (sizeof option_sets / sizeof option_sets[0])];
    char options[160];
    snprintf(options, sizeof options, "%s batch_size=%d", opts, batch);
    int x_type = byte(&r) % 3;                                   /* 2: not a type */
    size_t n = byte(&r) % 24;                                    /* 0 samples too */
    size_t feat = (size_t)dims[0] + (size_t)(byte(&r) % 4 == 0); /* sometimes one too many */
    int null_x = byte(&r) % 16 == 0, null_y = byte(&r) % 16 == 0;
    size_t k = (size_t)dims[layers];

    anet_model *m = NULL;
    anet_trainer *t = NULL;
    if (anet_model_new(spec, byte(&r), &m) != ANET_OK) return 0;
    if (anet_trainer_new(m, options, &t) != ANET_OK) {
        if (t) abort();
        anet_model_free(m);
        return 0;
    }
    size_t esz = x_type == ANET_DATA_F32 ? sizeof(float) : 1;
    uint8_t *x = calloc(n * feat + 1, esz);
    int64_t *y = calloc(n + 1, sizeof *y);
    float *logits = calloc(n * k + 1, sizeof *logits);
    if (!x || !y || !logits) abort();
    for (size_t i = 0; i < n * feat * esz; i++) x[i] = byte(&r); /* floats from raw bytes: NaN, inf, huge */
    for (size_t i = 0; i < n; i++) y[i] = (int64_t)(int8_t)byte(&r) % (int64_t)(k + 2);
    double loss, acc;
    anet_trainer_fit_epoch(t, null_x ? NULL : x, x_type, null_y ? NULL : y, n, feat, &loss);
    anet_trainer_evaluate(t, null_x ? NULL : x, x_type, null_y ? NULL : y, n, feat, &acc, &loss);
    if (anet_trainer_predict(t, null_x ? NULL : x, x_type, n, feat, logits) == ANET_OK && feat != (size_t)dims[0])
        abort(); /* a feature count that does not fit the model is refused */
    anet_trainer_get_model(t, m);
    free(x);
    free(y);
    free(logits);
    anet_trainer_free(t);
    anet_model_free(m);
    return 0;
}
