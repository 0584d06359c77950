/* `ane_trainer report RUN_DIR`: one self-contained HTML file (inline SVG and images, no script,
 * no network) from what a training run leaves in its directory: metrics.jsonl (curves),
 * programs.json (where every op ran), eval.json (confusion matrix, misclassified images) and the
 * checkpoint's metadata (model, dataset). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/report_svg.h"
#include "core/error.h"
#include "train/checkpoint.h"

#define REPORT_MAX_JSON (256L << 20) /* eval.json / programs.json larger than this are refused */

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer report RUN_DIR [--out FILE]\n"
            "\n"
            "Writes one self-contained HTML file (inline SVG, no script, no network) about a training run:\n"
            "loss, accuracy and learning-rate curves per step (with --log-steps) and per epoch, samples/s\n"
            "and host microseconds per step, the programs with where every op ran and dispatches per step,\n"
            "a confusion matrix of the last test evaluation and a grid of misclassified test images.\n"
            "Reads RUN_DIR/metrics.jsonl (required), programs.json, eval.json and checkpoint.safetensors.\n"
            "\n"
            "  --out FILE   where to write (default RUN_DIR/report.html)\n");
}

/* ---- growable arrays of doubles ---- */

typedef struct vec {
    double *v;
    size_t n, cap;
} vec;

static int push(vec *a, double x) {
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 64;
        double *p = realloc(a->v, c * sizeof *p);
        if (!p) return -1;
        a->v = p;
        a->cap = c;
    }
    a->v[a->n++] = x;
    return 0;
}

enum { S_STEP, S_LOSS, S_LR, S_N };
enum { E_EPOCH, E_STEP, E_LOSS, E_TEST, E_TRAIN, E_VAL, E_VLOSS, E_LR, E_SPS, E_HOST, E_DPS, E_N };
static const char *const epoch_keys[E_N] = {"epoch",   "step",    "train_loss", "test_acc",      "train_acc",
                                            "val_acc", "val_loss", "lr",        "samples_per_s", "host_us_per_step",
                                            "dispatches_per_step"};

typedef struct run {
    vec s[S_N], e[E_N];
    int has_host;
    char backend[32], update[8], chip[16];
    cJSON *programs, *eval;
} run;

static double num(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static void text_of(const cJSON *o, const char *k, char *out, size_t len) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(it)) snprintf(out, len, "%s", it->valuestring);
}

static int read_metrics(const char *path, run *r) {
    FILE *f = fopen(path, "r");
    if (!f) {
        anet_fail(ANET_E_IO, "%s: %s (is this a run directory of `ane_trainer train`?)", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long no = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0) {
        no++;
        if (line[0] == '\n') continue;
        cJSON *o = cJSON_Parse(line);
        const cJSON *ev = o ? cJSON_GetObjectItemCaseSensitive(o, "event") : NULL;
        if (!o || !cJSON_IsObject(o) || !cJSON_IsString(ev)) {
            cJSON_Delete(o);
            anet_fail(ANET_E_FORMAT, "%s line %ld: not a metrics record (a JSON object with \"event\")", path, no);
            rc = -1;
            break;
        }
        int bad = 0;
        if (!strcmp(ev->valuestring, "step")) {
            bad |= push(&r->s[S_STEP], num(o, "step")) | push(&r->s[S_LOSS], num(o, "train_loss")) |
                   push(&r->s[S_LR], num(o, "lr"));
        } else if (!strcmp(ev->valuestring, "epoch")) {
            for (int k = 0; k < E_N; k++) bad |= push(&r->e[k], num(o, epoch_keys[k]));
            if (isfinite(num(o, "host_us_per_step"))) r->has_host = 1;
            text_of(o, "backend", r->backend, sizeof r->backend);
            text_of(o, "update", r->update, sizeof r->update);
            text_of(o, "chip", r->chip, sizeof r->chip);
        }
        cJSON_Delete(o);
        if (bad) {
            anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* An optional JSON file of the run directory: NULL (and no error) when absent. */
static int read_json(const char *dir, const char *name, cJSON **out) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : (anet_fail(ANET_E_IO, "%s: %s", path, strerror(errno)), -1);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > REPORT_MAX_JSON) {
        fclose(f);
        anet_fail(ANET_E_FORMAT, "%s: not a regular file of at most %ld bytes", path, REPORT_MAX_JSON);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf) return anet_fail(ANET_E_NOMEM, "%s: out of memory", path), -1;
    buf[n] = 0;
    *out = cJSON_Parse(buf);
    free(buf);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        anet_fail(ANET_E_FORMAT, "%s: not a JSON object (written by `ane_trainer train`)", path);
        return -1;
    }
    return 0;
}

/* ---- sections ---- */

static void curves(FILE *f, const run *r) {
    const vec *E = r->e, *S = r->s;
    fputs("<h2>Curves</h2><div class=\"charts\">\n", f);
    report_series loss[3] = {
        {"train loss (step)", "#9ab", S[S_STEP].v, S[S_LOSS].v, S[S_STEP].n},
        {"train loss (epoch mean)", "#1f5fbf", E[E_STEP].v, E[E_LOSS].v, E[E_STEP].n},
        {"val loss (epoch)", "#d0542c", E[E_STEP].v, E[E_VLOSS].v, E[E_STEP].n},
    };
    report_chart(f, "loss", "Loss", "step", loss, 3, 0);
    report_series acc[3] = {
        {"test accuracy", "#1f5fbf", E[E_EPOCH].v, E[E_TEST].v, E[E_EPOCH].n},
        {"train accuracy", "#3a9a3a", E[E_EPOCH].v, E[E_TRAIN].v, E[E_EPOCH].n},
        {"val accuracy", "#d0542c", E[E_EPOCH].v, E[E_VAL].v, E[E_EPOCH].n},
    };
    report_chart(f, "accuracy", "Accuracy", "epoch", acc, 3, 0);
    report_series lr[2] = {
        {"lr (step)", "#9ab", S[S_STEP].v, S[S_LR].v, S[S_STEP].n},
        {"lr (epoch end)", "#7a3fb0", E[E_STEP].v, E[E_LR].v, E[E_STEP].n},
    };
    report_chart(f, "lr", "Learning rate", "step", lr, 2, 0);
    report_series sps[1] = {{"samples/s", "#1f5fbf", E[E_EPOCH].v, E[E_SPS].v, E[E_EPOCH].n}};
    report_chart(f, "samples_per_s", "Training throughput (samples/s)", "epoch", sps, 1, 0);
    if (r->has_host) {
        report_series hu[1] = {{"host \xc2\xb5s per step", "#b07a1f", E[E_EPOCH].v, E[E_HOST].v, E[E_EPOCH].n}};
        report_chart(f, "host_us_per_step", "Host time per step (\xc2\xb5s)", "epoch", hu, 1, 0);
    }
    fputs("</div>\n", f);
}

static void epochs_table(FILE *f, const run *r) {
    const vec *E = r->e;
    fputs("<h2>Epochs</h2><table class=\"epochs\"><tr><th>epoch</th><th>step</th><th>train loss</th>"
          "<th>train acc</th><th>val acc</th><th>val loss</th><th>test acc</th><th>lr</th><th>samples/s</th>"
          "<th>host \xc2\xb5s/step</th><th>dispatches/step</th></tr>\n", f);
    for (size_t i = 0; i < E[E_EPOCH].n; i++) {
        fputs("<tr>", f);
        static const int cols[] = {E_EPOCH, E_STEP, E_LOSS, E_TRAIN, E_VAL, E_VLOSS, E_TEST, E_LR, E_SPS, E_HOST, E_DPS};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            double v = E[cols[c]].v[i];
            if (!isfinite(v)) fputs("<td>-</td>", f);
            else if (cols[c] == E_TEST || cols[c] == E_TRAIN || cols[c] == E_VAL) fprintf(f, "<td>%.2f%%</td>", 100 * v);
            else fprintf(f, "<td>%.6g</td>", v);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* A row of the programs table: name, where it runs, ops and eligible ops (-1: not a program). */
static void program_row(FILE *f, const cJSON *p, const char *cls, int ops, int ok) {
    char name[200] = "?", on[32] = "?";
    text_of(p, "name", name, sizeof name);
    text_of(p, "runs_on", on, sizeof on);
    fprintf(f, "<tr%s><td>", cls);
    report_text(f, name);
    fputs("</td><td>", f);
    report_text(f, on);
    if (ops < 0) fputs("</td><td>-</td><td>-</td></tr>\n", f);
    else fprintf(f, "</td><td>%d</td><td>%d</td></tr>\n", ops, ok);
}

static void programs(FILE *f, const run *r) {
    fputs("<h2>Programs</h2>\n", f);
    if (!r->programs) {
        fputs("<p>No programs.json in the run directory (written by `ane_trainer train` since issue 15).</p>\n", f);
        return;
    }
    double dps = r->e[E_DPS].n ? r->e[E_DPS].v[r->e[E_DPS].n - 1] : NAN;
    fputs("<p>Every op of a program runs where its program runs (programs are not split); the ANE column says "
          "whether the op is eligible for the Neural Engine under the chip profile.", f);
    if (isfinite(dps)) fprintf(f, " Dispatches per training step (last epoch): <b class=\"dps\">%.6g</b>.", dps);
    fputs("</p>\n<table class=\"programs\"><tr><th>program</th><th>runs on</th><th>ops</th>"
          "<th>ANE-eligible ops</th></tr>\n", f);
    const cJSON *progs = cJSON_GetObjectItemCaseSensitive(r->programs, "programs"), *p;
    cJSON_ArrayForEach(p, progs) {
        const cJSON *ops = cJSON_GetObjectItemCaseSensitive(p, "ops"), *op;
        int n = 0, ok = 0;
        cJSON_ArrayForEach(op, ops) {
            n++;
            ok += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "ane_eligible"));
        }
        program_row(f, p, "", n, ok);
    }
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r->programs, "host")) program_row(f, p, " class=\"host\"", -1, -1);
    fputs("</table>\n", f);
    cJSON_ArrayForEach(p, progs) {
        char name[64] = "?";
        text_of(p, "name", name, sizeof name);
        fputs("<details><summary>ops of ", f);
        report_text(f, name);
        fputs("</summary><table class=\"ops\"><tr><th>#</th><th>op</th><th>type</th><th>ran on</th>"
              "<th>ANE-eligible</th></tr>\n", f);
        const cJSON *op;
        int i = 0;
        cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(p, "ops")) {
            char on[64] = "?", ty[64] = "?", rule[64] = "";
            text_of(op, "name", name, sizeof name);
            text_of(op, "type", ty, sizeof ty);
            text_of(op, "runs_on", on, sizeof on);
            text_of(op, "rule", rule, sizeof rule);
            fprintf(f, "<tr><td>%d</td><td>", ++i);
            report_text(f, name);
            fputs("</td><td>", f);
            report_text(f, ty);
            fputs("</td><td>", f);
            report_text(f, on);
            fputs("</td><td>", f);
            report_text(f, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "ane_eligible")) ? "yes" : "no");
            if (rule[0]) {
                fputs(" (", f);
                report_text(f, rule);
                fputs(")", f);
            }
            fputs("</td></tr>\n", f);
        }
        fputs("</table></details>\n", f);
    }
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int confusion(FILE *f, const run *r) {
    fputs("<h2>Last test evaluation</h2>\n", f);
    if (!r->eval) {
        fputs("<p>No eval.json in the run directory.</p>\n", f);
        return 0;
    }
    int K = (int)num(r->eval, "classes");
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(r->eval, "labels");
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(r->eval, "pred");
    int n = cJSON_GetArraySize(lab);
    if (K < 2 || K > 4096 || !cJSON_IsArray(lab) || !cJSON_IsArray(pred) || cJSON_GetArraySize(pred) != n) {
        anet_fail(ANET_E_FORMAT, "eval.json: classes, labels and pred do not fit together");
        return -1;
    }
    long *cm = calloc((size_t)K * (size_t)K, sizeof *cm);
    if (!cm) return anet_fail(ANET_E_NOMEM, "eval.json: out of memory"), -1;
    const cJSON *a = lab->child, *b = pred->child;
    long correct = 0, maxc = 1;
    for (; a && b; a = a->next, b = b->next) {
        int y = cJSON_IsNumber(a) ? a->valueint : -1, p = cJSON_IsNumber(b) ? b->valueint : -1;
        if (y < 0 || y >= K || p < 0 || p >= K) {
            free(cm);
            anet_fail(ANET_E_FORMAT, "eval.json: a label or prediction outside 0..%d", K - 1);
            return -1;
        }
        cm[(size_t)y * K + p]++;
        correct += y == p;
    }
    for (int i = 0; i < K * K; i++)
        if (cm[i] > maxc) maxc = cm[i];
    fprintf(f, "<p>Epoch %.0f (step %.0f): <b class=\"eval-acc\">%.2f%%</b> of %d test samples correct.</p>\n",
            num(r->eval, "epoch"), num(r->eval, "step"), n ? 100.0 * correct / n : 0.0, n);
    fputs("<h3>Confusion matrix</h3><table class=\"confusion\"><tr><th>true \\ predicted</th>", f);
    for (int j = 0; j < K; j++) fprintf(f, "<th>%d</th>", j);
    fputs("</tr>\n", f);
    for (int i = 0; i < K; i++) {
        fprintf(f, "<tr><th>%d</th>", i);
        for (int j = 0; j < K; j++) {
            long c = cm[(size_t)i * K + j];
            double t = c ? 0.12 + 0.88 * (double)c / (double)maxc : 0;
            fprintf(f, "<td data-count=\"%ld\" style=\"background:rgba(%s,%.3f)\">%ld</td>", c,
                    i == j ? "31,95,191" : "208,84,44", t, c);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    free(cm);
    const cJSON *mis = cJSON_GetObjectItemCaseSensitive(r->eval, "misclassified"), *m;
    uint32_t rows = (uint32_t)num(r->eval, "rows"), cols = (uint32_t)num(r->eval, "cols");
    fputs("<h3>Misclassified test images</h3><div class=\"grid\">\n", f);
    size_t F = (size_t)rows * cols;
    uint8_t *pix = F && F <= (1u << 20) ? malloc(F) : NULL;
    cJSON_ArrayForEach(m, mis) {
        const cJSON *hx = cJSON_GetObjectItemCaseSensitive(m, "pixels");
        if (!pix || !cJSON_IsString(hx) || strlen(hx->valuestring) != 2 * F) continue;
        int okh = 1;
        for (size_t j = 0; j < F && okh; j++) {
            int hi = hexval(hx->valuestring[2 * j]), lo = hexval(hx->valuestring[2 * j + 1]);
            if (hi < 0 || lo < 0) okh = 0;
            else pix[j] = (uint8_t)(hi << 4 | lo);
        }
        if (!okh) continue;
        char cap[96];
        snprintf(cap, sizeof cap, "#%.0f: true %.0f, predicted %.0f", num(m, "index"), num(m, "label"), num(m, "pred"));
        fputs("<figure class=\"mis\">", f);
        report_image(f, pix, rows, cols, cap);
        fprintf(f, "<figcaption>%.0f &#8594; %.0f</figcaption></figure>\n", num(m, "label"), num(m, "pred"));
    }
    free(pix);
    fputs("</div>\n", f);
    return 0;
}

static const char *const style =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}"
    "h1{font-size:20px}h2{font-size:17px;margin-top:28px}.charts{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0}svg.chart{background:#fff;border:1px solid #ddd}svg text{font-size:11px;fill:#333}"
    "svg .t{font-size:13px;font-weight:600}svg .axes line{stroke:#444}svg line.grid{stroke:#eee}"
    "table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}"
    "table.programs td:first-child,table.ops td:nth-child(2),table.ops td:nth-child(3){text-align:left}"
    "table.confusion td{min-width:34px}.grid{display:flex;flex-wrap:wrap;gap:8px}"
    "figure.mis{text-align:center;font-size:12px}img.digit{width:56px;height:56px;image-rendering:pixelated;"
    "border:1px solid #ccc;display:block}details{margin:8px 0}";

int cli_report(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int rc;
        if (cli_is_help(argv[i])) {
            report_usage(stdout);
            return CLI_OK;
        }
        if ((rc = cli_opt(argc, argv, &i, "--out", &v)) != 0) {
            if (rc < 0) return cli_usage_error("report ", "--out needs a value");
            out = v;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("report ", "unknown option '%s'", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return cli_usage_error("report ", "one run directory, got '%s' too", argv[i]);
        }
    }
    if (!dir) return cli_usage_error("report ", "give the run directory (the --out of `ane_trainer train`)");
    char mpath[4200], opath[4200], tmp[4300];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", dir);
    snprintf(opath, sizeof opath, "%s", out ? out : "");
    if (!out) snprintf(opath, sizeof opath, "%s/report.html", dir);
    run r;
    memset(&r, 0, sizeof r);
    int rc = CLI_OK;
    if (read_metrics(mpath, &r) || read_json(dir, "programs.json", &r.programs) || read_json(dir, "eval.json", &r.eval)) {
        rc = cli_error("report");
        goto done;
    }
    char model[256] = "", dataset[4096] = "";
    {
        char cpath[4200];
        snprintf(cpath, sizeof cpath, "%s/checkpoint.safetensors", dir);
        anet_ckpt c;
        if (access(cpath, F_OK) == 0 && anet_ckpt_read(cpath, &c) == ANET_OK) {
            const char *m = anet_ckpt_get_meta(&c, "model"), *d = anet_ckpt_get_meta(&c, "dataset");
            snprintf(model, sizeof model, "%s", m ? m : "");
            snprintf(dataset, sizeof dataset, "%s", d ? d : "");
            anet_ckpt_free(&c);
        }
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", opath, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "ane_trainer: report: cannot write %s: %s\n", tmp, strerror(errno));
        rc = CLI_FAIL;
        goto done;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ane_trainer run ", f);
    report_text(f, dir);
    fprintf(f, "</title><style>%s</style></head><body>\n<h1>ane_trainer run ", style);
    report_text(f, dir);
    fputs("</h1>\n<p class=\"summary\">", f);
    if (model[0]) {
        fputs("model <b>", f);
        report_text(f, model);
        fputs("</b>; ", f);
    }
    if (dataset[0]) {
        fputs("dataset <b>", f);
        report_text(f, dataset);
        fputs("</b>; ", f);
    }
    fprintf(f, "%zu epoch lines, %zu step lines; backend ", r.e[E_EPOCH].n, r.s[S_STEP].n);
    report_text(f, r.backend[0] ? r.backend : "?");
    fputs(", update ", f);
    report_text(f, r.update[0] ? r.update : "?");
    fputs(", chip ", f);
    report_text(f, r.chip[0] ? r.chip : "?");
    fputs(".</p>\n", f);
    curves(f, &r);
    epochs_table(f, &r);
    programs(f, &r);
    int crc = confusion(f, &r);
    fputs("</body></html>\n", f);
    int werr = ferror(f);
    if (fclose(f) != 0 || werr || crc != 0) {
        if (crc != 0) rc = cli_error("report");
        else {
            fprintf(stderr, "ane_trainer: report: writing %s failed\n", tmp);
            rc = CLI_FAIL;
        }
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, opath) != 0) {
        fprintf(stderr, "ane_trainer: report: cannot write %s: %s\n", opath, strerror(errno));
        unlink(tmp);
        rc = CLI_FAIL;
        goto done;
    }
    printf("%s\n", opath);
done:
    for (int k = 0; k < S_N; k++) free(r.s[k].v);
    for (int k = 0; k < E_N; k++) free(r.e[k].v);
    cJSON_Delete(r.programs);
    cJSON_Delete(r.eval);
    return rc;
}
