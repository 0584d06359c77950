/* What `export` and `predict` start from: a checkpoint's model and weights (read and checked
 * as anet_model_load does) and the dataset it names, which gives the class labels. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "export/export.h"
#include "train/checkpoint.h"

anet_status anet_export_source_load(const char *ckpt, anet_export_source *s) {
    memset(s, 0, sizeof *s);
    anet_status st = anet_model_load(ckpt, &s->model);
    if (st != ANET_OK) return st;
    anet_ckpt c;
    if (anet_ckpt_read(ckpt, &c) == ANET_OK) {
        const char *ds = anet_ckpt_get_meta(&c, "dataset");
        if (ds && strlen(ds) < sizeof s->dataset) snprintf(s->dataset, sizeof s->dataset, "%s", ds);
        anet_ckpt_free(&c);
    }
    s->spec = &s->model->spec;
    s->params = (const float *const *)s->model->w;
    return ANET_OK;
}

void anet_export_source_free(anet_export_source *s) {
    if (!s) return;
    anet_model_free(s->model);
    memset(s, 0, sizeof *s);
}
