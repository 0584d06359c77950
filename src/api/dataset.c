/* The public dataset handle: the data module's loaded dataset, copied out split by split. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset.h"
#include "train/trainer.h"

anet_status anet_dataset_load(const char *name_or_dir, const char *data_dir, anet_dataset **out) {
    if (!out) return anet_fail(ANET_E_INVALID, "dataset: NULL output pointer");
    *out = NULL;
    anet_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return anet_fail(ANET_E_NOMEM, "out of memory");
    char chosen[ANET_PATH_MAX];
    /* The same resolution as `ane_trainer train --dataset` (NULL: mnist, else fashion-mnist). */
    anet_status st = anet_dataset_resolve(name_or_dir, data_dir, ds, chosen, sizeof chosen);
    if (st != ANET_OK) {
        anet_dataset_free(ds);
        free(ds);
        return st;
    }
    *out = ds;
    return ANET_OK;
}

void anet_dataset_release(anet_dataset *ds) {
    if (!ds) return;
    anet_dataset_free(ds);
    free(ds);
}

anet_status anet_dataset_shape(const anet_dataset *ds, uint32_t *ntrain, uint32_t *ntest, uint32_t *rows,
                               uint32_t *cols, uint32_t *classes) {
    if (!ds) return anet_fail(ANET_E_INVALID, "dataset is NULL");
    if (ntrain) *ntrain = ds->train.n;
    if (ntest) *ntest = ds->test.n;
    if (rows) *rows = ds->rows;
    if (cols) *cols = ds->cols;
    if (classes) *classes = ds->num_classes;
    return ANET_OK;
}

anet_status anet_dataset_copy_split(const anet_dataset *ds, int split, uint8_t *images, size_t images_len,
                                    uint8_t *labels, size_t labels_len) {
    if (!ds) return anet_fail(ANET_E_INVALID, "dataset is NULL");
    if (split != 0 && split != 1) return anet_fail(ANET_E_INVALID, "split %d: 0 (train) or 1 (test)", split);
    const anet_split *s = split ? &ds->test : &ds->train;
    size_t ni = (size_t)s->n * ds->features;
    if (!images || !labels) return anet_fail(ANET_E_INVALID, "dataset copy: NULL buffer");
    if (images_len != ni || labels_len != s->n)
        return anet_fail(ANET_E_MISMATCH, "dataset copy: the %s split needs %zu image bytes and %u labels, got %zu and %zu",
                         split ? "test" : "train", ni, s->n, images_len, labels_len);
    memcpy(images, s->images, ni);
    memcpy(labels, s->labels, s->n);
    return ANET_OK;
}

const char *anet_dataset_dir(const anet_dataset *ds) { return ds ? ds->dir : ""; }
