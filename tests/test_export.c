/* Core ML export (src/export): a briefly trained MLP exported as an .mlpackage must
 *  - be judged fully ANE-compatible by the Core ML reader + analysis behind `check`;
 *  - read back (src/coreml) with the same ops and shapes as the program that was written;
 *  - run on vane from the package itself and give the same prediction as the eval program
 *    on every sample of the test split (the eval program's logits via the C API);
 * and hostile packages must fail with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ane_trainer.h"
#include "api/api.h"
#include "check.h"
#include "coreml/coreml.h"
#include "export/export.h"

static int argmax(const float *v, int k) {
    int b = 0;
    for (int i = 1; i < k; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static int compat_of(const char *path, anet_chip chip) {
    anet_cm_model *m = NULL;
    if (anet_coreml_load(path, &m) != ANET_OK) {
        fprintf(stderr, "load %s: %s\n", path, anet_last_error());
        return -1;
    }
    int c = anet_coreml_analyze(m, chip) == ANET_OK ? anet_coreml_compat(m) : -1;
    anet_coreml_free(m);
    return c;
}

/* The package's ops (through the `check` reader) against the program that was written. */
static void check_readback(const char *path, const anet_model *m, const anet_export_options *o) {
    anet_deploy d;
    CHECK(anet_deploy_build(&m->spec, (const float *const *)m->w, o, &d) == ANET_OK);
    anet_cm_model *cm = NULL;
    CHECK(anet_coreml_load(path, &cm) == ANET_OK);
    if (!cm || !d.g) goto out;
    CHECK(cm->spec_version == o->target - 9);
    int li = 0, nops = 0;
    for (int i = 0; i < d.g->nops; i++) {
        const anet_op *op = &d.g->ops[i];
        if (op->kind == ANET_OP_CONST) continue;
        nops++;
        if (li >= cm->nlayers) break;
        const anet_cm_layer *l = &cm->layers[li++];
        const anet_type *t = &d.g->values[op->outputs[0]].type;
        int same = strcmp(l->type, op->type) == 0 && l->noutputs == 1 && l->out_shapes[0].rank == t->rank &&
                   strcmp(l->out_shapes[0].dtype, anet_dtype_name(t->dtype)) == 0;
        for (int k = 0; same && k < t->rank; k++) same = l->out_shapes[0].dims[k] == t->dims[k];
        CHECK_MSG(same, "op %d: written %s, read back %s", i, op->type, l->type);
    }
    CHECK_EQ_INT(cm->nlayers, nops); /* classify and its cast are notes, not layers */
    CHECK_EQ_INT(cm->ninputs, 1);
    CHECK(cm->ninputs == 1 && strcmp(cm->inputs[0].name, "image") == 0 &&
          cm->inputs[0].shape.rank == (o->image_input ? 4 : 3) &&
          strcmp(cm->inputs[0].shape.dtype, o->image_input ? "image" : "fp16") == 0);
    CHECK_EQ_INT(cm->noutputs, o->regression ? 1 : 2);
out:
    anet_coreml_free(cm);
    anet_deploy_free(&d);
}

static void write_bytes(const char *path, const char *s, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(s, 1, n, f);
        fclose(f);
    }
}

/* One model: trained briefly on at most ntrain_max samples, exported four ways, checked on
 * the first nte_max test samples; its accuracy must exceed min_acc (a sanity bound). */
static void run_model(const char *spec, uint32_t ntrain_max, uint32_t nte_max, double min_acc, int hostile) {
    anet_dataset *ds = NULL;
    CHECK(anet_dataset_load(ANET_SHARED_DIR "/datasets/mnist-10k", NULL, &ds) == ANET_OK);
    uint32_t ntr, nte, rows, cols, classes;
    CHECK(anet_dataset_shape(ds, &ntr, &nte, &rows, &cols, &classes) == ANET_OK);
    size_t F = (size_t)rows * cols, ntrain = ntr < ntrain_max ? ntr : ntrain_max;
    uint8_t *xtr = malloc((size_t)ntr * F), *ytr = malloc(ntr), *xte = malloc((size_t)nte * F), *yte = malloc(nte);
    CHECK(anet_dataset_copy_split(ds, 0, xtr, (size_t)ntr * F, ytr, ntr) == ANET_OK);
    CHECK(anet_dataset_copy_split(ds, 1, xte, (size_t)nte * F, yte, nte) == ANET_OK);
    if (nte > nte_max) nte = nte_max;
    int64_t *y = malloc(sizeof(int64_t) * ntrain);
    for (size_t i = 0; i < ntrain; i++) y[i] = ytr[i];

    /* A briefly trained model: untrained weights give near-uniform probabilities. */
    anet_model *m = NULL;
    anet_trainer *t = NULL;
    CHECK(anet_model_new(spec, 7, &m) == ANET_OK);
    CHECK(anet_trainer_new(m, "backend=vane", &t) == ANET_OK);
    CHECK(anet_trainer_fit_epoch(t, xtr, ANET_DATA_U8, y, ntrain, F, NULL) == ANET_OK);
    CHECK(anet_trainer_get_model(t, m) == ANET_OK);

    char dir[] = "/tmp/anet_export_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char pkg[256], p16[256], p32[256], pim[256], bad[256];
    snprintf(pkg, sizeof pkg, "%s/Model.mlpackage", dir);
    snprintf(p16, sizeof p16, "%s/M18.mlpackage", dir);
    snprintf(p32, sizeof p32, "%s/M32.mlpackage", dir);
    snprintf(pim, sizeof pim, "%s/Image.mlpackage", dir);
    anet_export_options o;
    anet_export_options_default(&o);
    o.dataset = "mnist";
    o.author = "test";
    CHECK(anet_export_package(&m->spec, (const float *const *)m->w, &o, pkg) == ANET_OK);
    /* Exporting again replaces the package in place. */
    CHECK(anet_export_package(&m->spec, (const float *const *)m->w, &o, pkg) == ANET_OK);

    /* check: fully compatible on the default (strict) profile and every chip. */
    for (int c = 0; c < ANET_CHIP_COUNT_; c++) CHECK_EQ_INT(compat_of(pkg, (anet_chip)c), 0);
    check_readback(pkg, m, &o);
    anet_export_options o16 = o;
    o16.target = 18;
    CHECK(anet_export_package(&m->spec, (const float *const *)m->w, &o16, p16) == ANET_OK);
    for (int c = 0; c < ANET_CHIP_COUNT_; c++) CHECK_EQ_INT(compat_of(p16, (anet_chip)c), 0);
    check_readback(p16, m, &o16);
    /* fp32 compute is not what the ANE runs: check must not call it fully compatible. */
    anet_export_options o32 = o;
    o32.fp32 = 1;
    CHECK(anet_export_package(&m->spec, (const float *const *)m->w, &o32, p32) == ANET_OK);
    CHECK(compat_of(p32, ANET_CHIP_M4) != 0);
    /* An image input (for Vision): 8-bit pixels in, the program scales them by 1/255. */
    anet_export_options oim = o;
    oim.image_input = 1;
    CHECK(anet_export_package(&m->spec, (const float *const *)m->w, &oim, pim) == ANET_OK);
    for (int c = 0; c < ANET_CHIP_COUNT_; c++) CHECK_EQ_INT(compat_of(pim, (anet_chip)c), 0);
    check_readback(pim, m, &oim);

    /* Numerical identity over the whole test split: the eval program's argmax vs the package's. */
    float *logits = malloc(sizeof(float) * nte * classes), *probs = malloc(sizeof(float) * nte * classes);
    float *x = malloc(sizeof(float) * nte * F), *plog = malloc(sizeof(float) * nte * classes);
    float *px = malloc(sizeof(float) * nte * F);
    for (size_t i = 0; i < (size_t)nte * F; i++) x[i] = xte[i] / 255.0f, px[i] = xte[i];
    CHECK(anet_trainer_predict(t, xte, ANET_DATA_U8, nte, F, logits) == ANET_OK);
    const char *pkgs[3] = {pkg, p16, pim};
    for (int pi = 0; pi < 3; pi++) {
        anet_exported e;
        CHECK(anet_exported_load(pkgs[pi], &e) == ANET_OK);
        if (!e.g) continue;
        CHECK_EQ_INT(e.classes, classes);
        CHECK(e.labels && strcmp(e.labels[3], "3") == 0);
        CHECK(anet_export_run(e.g, e.input, e.head, ANET_CHIP_M4, pi == 2 ? px : x, nte, probs, plog) == ANET_OK);
        int differ = 0, correct = 0, ties = 0, logit_diff = 0, logit_far = 0;
        double worst = 0;
        for (uint32_t i = 0; i < nte; i++) {
            const float *l = logits + (size_t)i * classes, *p = probs + (size_t)i * classes;
            /* The package's prediction: the highest probability; fp16 ties go by its own
             * logits (what `predict` does). Its logits must equal the eval program's. */
            const float *pl = plog + (size_t)i * classes;
            int best = 0;
            for (int k = 1; k < (int)classes; k++)
                if (p[k] > p[best] || (p[k] == p[best] && pl[k] > pl[best])) best = k;
            differ += best != argmax(l, (int)classes);
            ties += p[argmax(p, (int)classes)] == p[best] && argmax(p, (int)classes) != best;
            /* batch 1 vs the eval batch: BLAS may sum in another order before the fp16 rounding
             * of the matmul, and the bias add rounds again: a few fp16 steps at the scale of
             * the sample's logits, not more */
            double scale = 0;
            for (uint32_t k = 0; k < classes; k++) scale = fabs((double)l[k]) > scale ? fabs((double)l[k]) : scale;
            for (uint32_t k = 0; k < classes; k++) {
                logit_diff += pl[k] != l[k];
                double tol = (scale + 1.0) / 256;
                if (fabs((double)pl[k] - l[k]) > tol) logit_far++;
            }
            correct += best == yte[i];
            /* probabilities against softmax of the eval logits in double (fp16 tolerance) */
            double mx = l[argmax(l, (int)classes)], s = 0;
            for (uint32_t k = 0; k < classes; k++) s += exp((double)l[k] - mx);
            for (uint32_t k = 0; k < classes; k++) {
                double d = fabs(p[k] - exp((double)l[k] - mx) / s);
                if (d > worst) worst = d;
            }
        }
        /* The multi-array packages compute what the eval program computes: no prediction may
         * differ. The image input scales pixels by fp16(1/255), one fp16 step off the trainer's
         * pixel / 255 for 10 of the 256 values (docs/deploy.md): at most 0.1% may differ. */
        if (pi < 2) CHECK_MSG(differ == 0, "%s: %d of %u predictions differ from the eval program", pkgs[pi], differ, nte);
        else CHECK_MSG(differ * 1000 <= (int)nte, "%s: %d of %u predictions differ", pkgs[pi], differ, nte);
        CHECK_MSG(logit_far == 0, "%s: %d logits differ from the eval program's by more than a few fp16 steps", pkgs[pi],
                  logit_far);
        printf("%s %s: %u samples, %d predictions differ, %d fp16 probability ties broken by the logits, %d of %u logits "
               "not identical\n",
               spec, pkgs[pi], nte, differ, ties, logit_diff, nte * classes);
        CHECK_MSG(worst < 2e-3, "%s: probabilities differ from softmax(eval logits) by %g", pkgs[pi], worst);
        CHECK_MSG(correct > min_acc * nte, "accuracy %d/%u", correct, nte); /* not garbage: well above chance */
        anet_exported_free(&e);
    }

    /* Hostile packages: one clear error, no crash. */
    if (!hostile) goto done;
    char path[512];
    snprintf(path, sizeof path, "%s/Data/com.apple.CoreML/weights/weight.bin", p16);
    write_bytes(path, "short", 5);
    anet_exported e;
    CHECK(anet_exported_load(p16, &e) != ANET_OK);
    CHECK(strlen(anet_last_error()) > 0);
    snprintf(path, sizeof path, "%s/Manifest.json", p32);
    write_bytes(path, "{", 1);
    CHECK(anet_exported_load(p32, &e) != ANET_OK);
    /* An existing directory that is not a package is never replaced. */
    snprintf(bad, sizeof bad, "%s/notapackage", dir);
    CHECK(mkdir(bad, 0755) == 0);
    CHECK(anet_export_package(&m->spec, (const float *const *)m->w, &o, bad) == ANET_E_IO);
done:;

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(logits), free(probs), free(plog), free(x), free(px), free(xtr), free(ytr), free(xte), free(yte), free(y);
    anet_trainer_free(t);
    anet_model_free(m);
    anet_dataset_release(ds);
}

int main(void) {
    anet_dataset *ds = NULL;
    if (anet_dataset_load(ANET_SHARED_DIR "/datasets/mnist-10k", NULL, &ds) != ANET_OK) {
        printf("SKIP: no mnist-10k under %s/datasets: %s\n", ANET_SHARED_DIR, anet_last_error());
        return 0;
    }
    anet_dataset_release(ds);
    run_model("mlp:784-32-10", 6000, 10000, 0.8, 1); /* the whole test split */
    /* A CNN once the trainer builds one (its conv biases become Core ML conv biases). */
    anet_model *probe = NULL;
    if (anet_model_new("lenet5", 7, &probe) == ANET_OK) run_model("lenet5", 2000, 2000, 0.25, 0);
    else printf("SKIP lenet5: this build's trainer has no CNNs (%s)\n", anet_last_error());
    anet_model_free(probe);
    TEST_MAIN_END();
}
