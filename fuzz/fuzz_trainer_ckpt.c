/* libFuzzer target: a checkpoint's bytes all the way into a trainer (anet_trainer_load, the
 * path of `train --resume` and Python's Trainer.load): whatever loads must hold finite weights,
 * train an epoch, save, and restore its own save. The bytes go to one file per process,
 * rewritten for each input (the trainer reads paths). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ane_trainer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[64], out_path[64];

static int batch_of(const anet_trainer *t) {
    char *js = NULL;
    if (anet_trainer_stats_json(t, &js) != ANET_OK) return -1;
    const char *p = strstr(js, "\"batch_size\":");
    int b = p ? atoi(p + 13) : -1;
    anet_free(js);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!in_path[0]) {
        snprintf(in_path, sizeof in_path, "/tmp/anet_fuzz_tc_%ld.safetensors", (long)getpid());
        snprintf(out_path, sizeof out_path, "/tmp/anet_fuzz_tc_%ld.out.safetensors", (long)getpid());
    }
    FILE *f = fopen(in_path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, size, f);
    fclose(f);
    if (w != size) return 0;
    anet_trainer *t = NULL;
    if (anet_trainer_load(in_path, "backend=vane quiet=1", &t) != ANET_OK) {
        if (t) abort(); /* a refusal hands out no trainer */
        return 0;
    }
    anet_model *m = NULL;
    if (anet_model_new(anet_trainer_model_spec(t), 0, &m) != ANET_OK || anet_trainer_get_model(t, m) != ANET_OK)
        abort(); /* the trainer's own spec and weights */
    for (int i = 0; i < anet_model_num_params(m); i++) {
        int64_t rows = 0, cols = 0;
        char name[16];
        anet_model_param_info(m, i, name, sizeof name, &rows, &cols);
        float *v = malloc((size_t)(rows * cols) * sizeof *v);
        if (!v || anet_model_get_param(m, i, v, (size_t)(rows * cols)) != ANET_OK) abort();
        for (int64_t k = 0; k < rows * cols; k++)
            if (!isfinite(v[k])) abort(); /* non-finite weights are refused on load */
        free(v);
    }
    int64_t dims[16];
    size_t nd = 0;
    anet_model_dims(m, dims, 16, &nd);
    int batch = batch_of(t);
    if (batch < 1) abort();
    /* One epoch of one batch when it is small, then save and restore the save. */
    size_t n = (size_t)batch, feat = (size_t)dims[0];
    if (nd >= 2 && n * feat <= ((size_t)1 << 16)) {
        float *x = calloc(n * feat, sizeof *x);
        int64_t *y = calloc(n, sizeof *y);
        for (size_t i = 0; x && i < n * feat; i++) x[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; y && i < n; i++) y[i] = (int64_t)(i % (size_t)dims[nd - 1]);
        double loss;
        if (x && y) anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, n, feat, &loss); /* may stop: diverged */
        free(x);
        free(y);
    }
    if (anet_trainer_save(t, out_path) == ANET_OK && anet_trainer_restore(t, out_path) != ANET_OK) abort();
    unlink(out_path);
    anet_model_free(m);
    anet_trainer_free(t);
    return 0;
}
