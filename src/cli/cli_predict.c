/* `ane_trainer predict CKPT|Model.mlpackage IMAGE...`: top-k classes of images, computed by
 * the deployment program (the one `export` writes) on vane. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "data/image.h"
#include "export/export.h"

static void predict_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer predict CKPT|Model.mlpackage IMAGE... [options]\n"
            "\n"
            "Classifies images with a training checkpoint or a package written by `export`, running\n"
            "the exported program (the eval program with the weights as constants) on vane.\n"
            "IMAGE: PNG (any color type: converted to gray), PGM (P2/P5) or an IDX image file\n"
            "(every image in it, or the first N with --limit). Images become what the model was\n"
            "trained on: grayscale, 28x28 (box-filtered from other sizes), pixel / 255 with 0 = black;\n"
            "MNIST-style models expect a light digit on a black background (--invert for dark on light).\n"
            "\n"
            "options:\n"
            "  --top K          classes to print per image (default 3)\n"
            "  --json           one JSON object per image (file, index, top: [{label, class, probability}])\n"
            "  --invert         use 1 - value (dark-on-light images)\n"
            "  --limit N        at most the first N images of an IDX file (default all)\n"
            "  --dataset NAME   class labels for a checkpoint (default: the checkpoint's dataset)\n"
            "  --chip m1|m2|m3|m4|strict   vane's chip profile (default m4)\n");
}

typedef struct prog {
    anet_deploy d;   /* from a checkpoint */
    anet_exported e; /* from a package */
    anet_graph *g;
    int input, head, classes;
    char **labels;
} prog;

static anet_status open_model(const char *path, const char *dataset, prog *p) {
    struct stat st;
    memset(p, 0, sizeof *p);
    size_t n = strlen(path);
    int pkg = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) || (n > 8 && strcmp(path + n - 8, ".mlmodel") == 0);
    anet_status s;
    if (pkg) {
        if ((s = anet_exported_load(path, &p->e)) != ANET_OK) return s;
        p->g = p->e.g, p->input = p->e.input, p->head = p->e.head, p->classes = p->e.classes, p->labels = p->e.labels;
        return ANET_OK;
    }
    anet_export_source src;
    if ((s = anet_export_source_load(path, &src)) != ANET_OK) return s;
    anet_export_options o;
    anet_export_options_default(&o);
    o.dataset = dataset ? dataset : src.dataset;
    s = anet_deploy_build(src.spec, src.params, &o, &p->d);
    anet_export_source_free(&src);
    if (s == ANET_OK) s = anet_export_vane_form(&p->d.g, &p->d.input, &p->d.head);
    if (s != ANET_OK) return s;
    p->g = p->d.g, p->input = p->d.input, p->head = p->d.head, p->classes = p->d.classes, p->labels = p->d.labels;
    return ANET_OK;
}

static void print_one(const prog *p, const char *file, size_t idx, size_t count, const float *v, const float *lg, int top,
                      int json) {
    int order[4096];
    int K = p->classes < 4096 ? p->classes : 4096;
    for (int k = 0; k < K; k++) order[k] = k;
    /* top-k by probability; fp16 ties go by the logits, then to the lower class (the eval
     * program's argmax) */
    for (int a = 0; a < top && a < K; a++)
        for (int b = a + 1; b < K; b++) {
            int i = order[a], j = order[b];
            int better = v[j] > v[i] || (v[j] == v[i] && lg && lg[j] > lg[i]) ||
                         (v[j] == v[i] && (!lg || lg[j] == lg[i]) && j < i);
            if (better) {
                order[a] = j;
                order[b] = i;
            }
        }
    if (top > K) top = K;
    if (json) {
        cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        cJSON_AddStringToObject(j, "file", file);
        cJSON_AddNumberToObject(j, "index", (double)idx);
        for (int a = 0; a < top; a++) {
            cJSON *e = cJSON_CreateObject();
            if (p->labels) cJSON_AddStringToObject(e, "label", p->labels[order[a]]);
            cJSON_AddNumberToObject(e, "class", order[a]);
            cJSON_AddNumberToObject(e, p->labels ? "probability" : "value", v[order[a]]);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddItemToObject(j, "top", arr);
        char *t = cJSON_PrintUnformatted(j);
        if (t) printf("%s\n", t);
        free(t);
        cJSON_Delete(j);
        return;
    }
    if (count > 1) printf("%s[%zu]:", file, idx);
    else printf("%s:", file);
    for (int a = 0; a < top; a++) {
        if (p->labels) printf("%s %s %.4f", a ? "," : "", p->labels[order[a]], v[order[a]]);
        else printf("%s %d %.4f", a ? "," : "", order[a], v[order[a]]);
    }
    printf("\n");
}

int cli_predict(int argc, char **argv) {
    const char *model = NULL, *dataset = NULL;
    const char **images = calloc((size_t)argc, sizeof *images);
    int nimg = 0, json = 0, invert = 0;
    long long top = 3, limit = 0;
    anet_chip chip = ANET_CHIP_M4;
    if (!images) return cli_error("predict");
    int rc = CLI_OK;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        const char *v = NULL;
        int r;
        if (cli_is_help(argv[i])) {
            predict_usage(stdout);
            free(images);
            return CLI_OK;
        }
        if ((r = cli_opt(argc, argv, &i, "--top", &v))) {
            if (r > 0 && cli_parse_int(v, 1, 4096, &top)) rc = cli_usage_error("predict ", "--top '%s': expected 1..4096", v);
        } else if ((r = cli_opt(argc, argv, &i, "--limit", &v))) {
            if (r > 0 && cli_parse_int(v, 1, 1LL << 31, &limit))
                rc = cli_usage_error("predict ", "--limit '%s': expected a positive integer", v);
        } else if ((r = cli_opt(argc, argv, &i, "--dataset", &v))) dataset = v;
        else if ((r = cli_opt(argc, argv, &i, "--chip", &v))) {
            if (r > 0 && anet_chip_lookup(v, &chip)) rc = cli_usage_error("predict ", "--chip '%s': expected m1, m2, m3, m4 or strict", v);
        } else if (strcmp(argv[i], "--json") == 0) json = r = 1;
        else if (strcmp(argv[i], "--invert") == 0) invert = r = 1;
        else if (argv[i][0] == '-' && argv[i][1]) rc = cli_usage_error("predict ", "unknown option '%s'", argv[i]);
        else {
            if (!model) model = argv[i];
            else images[nimg++] = argv[i];
            r = 1;
        }
        if (rc == CLI_OK && r < 0) rc = cli_usage_error("predict ", "%s needs a value", argv[i]);
    }
    if (rc == CLI_OK && !model) rc = cli_usage_error("predict ", "no model (checkpoint or .mlpackage) given");
    if (rc == CLI_OK && !nimg) rc = cli_usage_error("predict ", "no images given");
    if (rc != CLI_OK) {
        free(images);
        return rc;
    }
    prog p;
    if (open_model(model, dataset, &p) != ANET_OK) {
        free(images);
        return cli_error("predict");
    }
    const anet_type *it = &p.g->values[p.input].type;
    /* [1,28,28] multi-array of pixel / 255, or [1,1,28,28] image of 8-bit pixels (--input image) */
    int pixels = it->rank == 4 && it->dims[1] == 1 && it->dims[2] == 28 && it->dims[3] == 28;
    if (!pixels && !(it->rank == 3 && it->dims[1] == 28 && it->dims[2] == 28)) {
        anet_fail(ANET_E_UNSUPPORTED, "%s: the model's input is not a 28x28 image (it takes %lld features)", model,
                  (long long)anet_type_elements(it));
        rc = cli_error("predict");
    }
    for (int f = 0; rc == CLI_OK && f < nimg; f++) {
        float *x = NULL, *out = NULL, *lg = NULL;
        size_t n = 0;
        anet_status st = anet_image_load(images[f], 28, 28, invert, (size_t)limit, &x, &n);
        int classifier = p.labels != NULL;
        if (st == ANET_OK && (!(out = malloc(sizeof(float) * n * (size_t)p.classes)) ||
                              (classifier && !(lg = malloc(sizeof(float) * n * (size_t)p.classes)))))
            st = anet_fail(ANET_E_NOMEM, "out of memory");
        for (size_t k = 0; st == ANET_OK && pixels && k < n * 28 * 28; k++) /* what Core ML hands an image input */
            x[k] = (float)(int)(x[k] * 255.0f + 0.5f);
        if (st == ANET_OK) st = anet_export_run(p.g, p.input, p.head, chip, x, n, out, lg);
        for (size_t k = 0; st == ANET_OK && k < n; k++)
            print_one(&p, images[f], k, n, out + k * (size_t)p.classes, lg ? lg + k * (size_t)p.classes : NULL,
                      (int)top, json);
        free(x);
        free(out);
        free(lg);
        if (st != ANET_OK) rc = cli_error("predict");
    }
    anet_deploy_free(&p.d);
    anet_exported_free(&p.e);
    free(images);
    return rc;
}
