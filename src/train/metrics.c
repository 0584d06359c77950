#include "train/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/safe_file.h"

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

double anet_float_as_typed(double v) {
    if (!isfinite(v)) return v;
    float f = (float)v;
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return v;
}

static void add_str(cJSON *o, const char *k, const char *v) {
    if (v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

char *anet_metrics_format(const anet_metrics_record *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_str(o, "event", r->event);
    add_num(o, "epoch", r->epoch);
    add_num(o, "step", (double)r->step);
    add_num(o, "train_loss", r->train_loss);
    add_num(o, "test_acc", r->test_acc);
    if (isfinite(r->train_acc)) add_num(o, "train_acc", r->train_acc);
    if (isfinite(r->val_acc)) add_num(o, "val_acc", r->val_acc);
    if (isfinite(r->val_loss)) add_num(o, "val_loss", r->val_loss);
    add_num(o, "epoch_seconds", r->epoch_seconds);
    add_num(o, "samples_per_s", r->samples_per_s);
    add_str(o, "backend", r->backend);
    add_num(o, "compiles", (double)r->compiles);
    add_num(o, "dispatches", (double)r->dispatches);
    add_num(o, "dispatches_per_step", r->dispatches_per_step);
    add_num(o, "bytes_per_step", r->bytes_per_step);
    add_num(o, "host_us_per_step", r->host_us_per_step);
    add_num(o, "state_bytes_copied_per_step", r->state_bytes_per_step);
    add_num(o, "batch_bytes_copied_per_step", r->batch_bytes_per_step);
    add_num(o, "loss_scale", r->loss_scale);
    add_num(o, "skipped_steps", (double)r->skipped_steps);
    add_num(o, "lr", anet_float_as_typed(r->lr));
    add_str(o, "update", r->update);
    add_str(o, "chip", r->chip);
    add_str(o, "numerics", r->numerics);
    if (r->fallback) add_str(o, "fallback", r->fallback);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

anet_status anet_metrics_open(anet_metrics *m, const char *path, int append) {
    m->f = NULL;
    if (!path || !path[0]) return ANET_OK;
    /* Never through a symlink planted under the name (O_NOFOLLOW). */
    m->f = anet_fopen_output(path, "metrics file", append ? O_APPEND : O_TRUNC);
    return m->f ? ANET_OK : ANET_E_IO;
}

anet_status anet_metrics_write_line(anet_metrics *m, const char *line) {
    if (!m->f) return ANET_OK;
    if (fputs(line, m->f) < 0 || fputc('\n', m->f) == EOF || fflush(m->f) != 0)
        return anet_fail(ANET_E_IO, "metrics: write failed: %s", strerror(errno));
    return ANET_OK;
}

anet_status anet_metrics_write(anet_metrics *m, const anet_metrics_record *r) {
    if (!m->f) return ANET_OK;
    char *s = anet_metrics_format(r);
    if (!s) return anet_fail(ANET_E_NOMEM, "metrics: out of memory");
    anet_status st = anet_metrics_write_line(m, s);
    free(s);
    return st;
}

void anet_metrics_close(anet_metrics *m) {
    if (m->f) fclose(m->f);
    m->f = NULL;
}
