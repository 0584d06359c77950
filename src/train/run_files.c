/* programs.json and eval.json of a run directory (run_files.h). */
#include "train/run_files.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "plan/constraints.h"

/* dir/name through a new temporary and a rename: a reader sees the old file or the new one. */
static anet_status write_json(const char *dir, const char *name, cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return anet_fail(ANET_E_NOMEM, "%s: out of memory", name);
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    anet_status st = ANET_OK;
    if (fd < 0) {
        st = anet_fail(ANET_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    } else {
        size_t n = strlen(text), off = 0;
        while (off < n) {
            ssize_t w = write(fd, text + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += (size_t)w;
        }
        if (off != n || close(fd) != 0) st = anet_fail(ANET_E_IO, "writing %s: %s", tmp, strerror(errno));
        else if (rename(tmp, path) != 0) st = anet_fail(ANET_E_IO, "cannot rename %s: %s", tmp, strerror(errno));
        if (st != ANET_OK) unlink(tmp);
    }
    free(text);
    return st;
}

anet_status anet_run_write_programs(const char *dir, const char *backend, const char *chip_name, int chip,
                                    const char *update, const char *optimizer, const anet_run_program *progs,
                                    int nprogs) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return anet_fail(ANET_E_NOMEM, "programs.json: out of memory");
    cJSON_AddStringToObject(root, "backend", backend);
    cJSON_AddStringToObject(root, "chip", chip_name);
    cJSON_AddStringToObject(root, "update", update);
    cJSON *arr = cJSON_AddArrayToObject(root, "programs");
    for (int k = 0; k < nprogs; k++) {
        const anet_graph *g = progs[k].graph;
        if (!g) continue;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, p);
        cJSON_AddStringToObject(p, "name", progs[k].name);
        cJSON_AddStringToObject(p, "runs_on", backend);
        cJSON *ops = cJSON_AddArrayToObject(p, "ops");
        for (int i = 0; i < g->nops; i++) {
            const anet_op *op = &g->ops[i];
            if (op->kind == ANET_OP_CONST) continue; /* parameters and weights, not work */
            anet_verdict v;
            memset(&v, 0, sizeof v);
            if (anet_plan_check_op(g, i, (anet_chip)chip, &v) != ANET_OK) v.ok = 0;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(ops, o);
            cJSON_AddStringToObject(o, "name", op->name ? op->name : "");
            cJSON_AddStringToObject(o, "type", op->type ? op->type : anet_op_kind_name(op->kind));
            /* A program runs whole on its backend (no partitioning): every op where it runs. */
            cJSON_AddStringToObject(o, "runs_on", backend);
            cJSON_AddBoolToObject(o, "ane_eligible", v.ok);
            if (!v.ok && v.rule) cJSON_AddStringToObject(o, "rule", v.rule->id);
        }
    }
    /* The work outside the programs, on the CPU. */
    cJSON *host = cJSON_AddArrayToObject(root, "host");
    char what[160];
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "name", "batch packing (uint8 images to fp16, ANE layout)");
    cJSON_AddStringToObject(h, "runs_on", "CPU");
    cJSON_AddItemToArray(host, h);
    if (strcmp(update, "cpu") == 0) {
        snprintf(what, sizeof what, "optimizer (%s) on fp32 master weights, loss-scale checks", optimizer);
        h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "name", what);
        cJSON_AddStringToObject(h, "runs_on", "CPU");
        cJSON_AddItemToArray(host, h);
    }
    h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "name", "dynamic loss scale, learning-rate schedule");
    cJSON_AddStringToObject(h, "runs_on", "CPU");
    cJSON_AddItemToArray(host, h);
    return write_json(dir, "programs.json", root);
}

int anet_run_argmax(const float *v, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (v[k] > v[best] || (isnan(v[best]) && !isnan(v[k]))) best = k;
    return best;
}

anet_status anet_run_write_eval(const char *dir, int epoch, int64_t step, int K, uint32_t n, const uint8_t *labels,
                                const float *logits, const uint8_t *images, uint32_t rows, uint32_t cols) {
    cJSON *root = cJSON_CreateObject();
    int *lab = malloc((size_t)n * sizeof *lab), *pred = malloc((size_t)n * sizeof *pred);
    size_t F = (size_t)rows * cols;
    char *hex = malloc(2 * F + 1);
    if (!root || !lab || !pred || !hex) {
        cJSON_Delete(root);
        free(lab);
        free(pred);
        free(hex);
        return anet_fail(ANET_E_NOMEM, "eval.json: out of memory");
    }
    cJSON_AddNumberToObject(root, "epoch", epoch);
    cJSON_AddNumberToObject(root, "step", (double)step);
    cJSON_AddNumberToObject(root, "classes", K);
    cJSON_AddNumberToObject(root, "rows", rows);
    cJSON_AddNumberToObject(root, "cols", cols);
    cJSON *mis = cJSON_CreateArray();
    int nmis = 0;
    for (uint32_t i = 0; i < n; i++) {
        lab[i] = labels[i];
        pred[i] = anet_run_argmax(logits + (size_t)i * (size_t)K, K);
        if (pred[i] == lab[i] || nmis >= ANET_RUN_MISCLASSIFIED_MAX || !mis) continue;
        static const char digits[] = "0123456789abcdef";
        for (size_t j = 0; j < F; j++) {
            hex[2 * j] = digits[images[(size_t)i * F + j] >> 4];
            hex[2 * j + 1] = digits[images[(size_t)i * F + j] & 15];
        }
        hex[2 * F] = 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddNumberToObject(o, "label", lab[i]);
        cJSON_AddNumberToObject(o, "pred", pred[i]);
        cJSON_AddStringToObject(o, "pixels", hex);
        cJSON_AddItemToArray(mis, o);
        nmis++;
    }
    cJSON_AddItemToObject(root, "labels", cJSON_CreateIntArray(lab, (int)n));
    cJSON_AddItemToObject(root, "pred", cJSON_CreateIntArray(pred, (int)n));
    if (mis) cJSON_AddItemToObject(root, "misclassified", mis);
    free(lab);
    free(pred);
    free(hex);
    return write_json(dir, "eval.json", root);
}

void anet_run_dir_default(char *out, size_t len) {
    char stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
    snprintf(out, len, "runs/%s", stamp);
}
