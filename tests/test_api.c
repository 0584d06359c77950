/* The public C API through include/ane_trainer.h alone: models, a trainer on in-memory
 * arrays (checked against float64 math written here), checkpoints, datasets, info, check,
 * and the error paths (every bad argument gives a status and a message, never a crash). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ane_trainer.h"
#include "check.h"

#define F 8
#define H 16
#define K 3
#define N 600

/* A synthetic 3-class problem: class = which of three fixed directions x is closest to. */
static void make_data(float *x, int64_t *y, int n, unsigned seed) {
    unsigned s = seed;
    for (int i = 0; i < n; i++) {
        for (int f = 0; f < F; f++) {
            s = s * 1103515245u + 12345u;
            x[i * F + f] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        float a = x[i * F] + x[i * F + 1], b = x[i * F + 2] - x[i * F + 3], c = -a - b;
        y[i] = a > b ? (a > c ? 0 : 2) : (b > c ? 1 : 2);
    }
}

/* Logits of the MLP in float64 from the model's exported weights (the oracle). */
static void forward64(anet_model *m, const float *x, int n, double *logits) {
    float w0[H * F], b0[H], w1[K * H], b1[K];
    CHECK(anet_model_get_param(m, 0, w0, H * F) == ANET_OK);
    CHECK(anet_model_get_param(m, 1, b0, H) == ANET_OK);
    CHECK(anet_model_get_param(m, 2, w1, K * H) == ANET_OK);
    CHECK(anet_model_get_param(m, 3, b1, K) == ANET_OK);
    for (int i = 0; i < n; i++) {
        double h[H];
        for (int j = 0; j < H; j++) {
            double z = b0[j];
            for (int f = 0; f < F; f++) z += (double)w0[j * F + f] * x[i * F + f];
            h[j] = z > 0 ? z : 0;
        }
        for (int k = 0; k < K; k++) {
            double z = b1[k];
            for (int j = 0; j < H; j++) z += (double)w1[k * H + j] * h[j];
            logits[i * K + k] = z;
        }
    }
}

static int argmax(const double *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static void test_model(void) {
    anet_model *m = NULL;
    CHECK(anet_model_new("mlp:8-16-3", 7, &m) == ANET_OK);
    CHECK(strcmp(anet_model_spec_text(m), "mlp:8-16-3") == 0);
    CHECK_EQ_INT(anet_model_num_params(m), 4);
    int64_t dims[4];
    size_t nd = 0;
    CHECK(anet_model_dims(m, dims, 4, &nd) == ANET_OK);
    CHECK(nd == 3 && dims[0] == 8 && dims[1] == 16 && dims[2] == 3);
    CHECK(anet_model_dims(m, dims, 2, &nd) == ANET_E_INVALID);
    char name[16];
    int64_t r = 0, c = 0;
    CHECK(anet_model_param_info(m, 2, name, sizeof name, &r, &c) == ANET_OK);
    CHECK(strcmp(name, "w1") == 0 && r == 3 && c == 16);
    CHECK(anet_model_param_info(m, 3, name, sizeof name, &r, &c) == ANET_OK);
    CHECK(strcmp(name, "b1") == 0 && r == 3 && c == 1);
    CHECK(anet_model_param_info(m, 4, name, sizeof name, &r, &c) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "parameter index 4");
    CHECK(anet_model_param_info(m, 0, name, 2, &r, &c) == ANET_E_INVALID);
    /* PyTorch's default init: U(-1/sqrt(in), 1/sqrt(in)) */
    float w[H * F];
    CHECK(anet_model_get_param(m, 0, w, H * F) == ANET_OK);
    double mx = 0;
    for (int i = 0; i < H * F; i++) mx = fabs(w[i]) > mx ? fabs(w[i]) : mx;
    CHECK_MSG(mx <= 1 / sqrt(8.0) && mx > 0.5 / sqrt(8.0), "init max %g", mx);
    CHECK(anet_model_get_param(m, 0, w, H * F - 1) == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "w0");
    w[5] = NAN;
    CHECK(anet_model_set_param(m, 0, w, H * F) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "w0[5] is NaN");
    float w2[H * F];
    CHECK(anet_model_get_param(m, 0, w2, H * F) == ANET_OK);
    CHECK(!isnan(w2[5])); /* unchanged */
    CHECK(anet_model_set_param(m, 0, NULL, H * F) == ANET_E_INVALID);
    anet_model_free(m);
    CHECK(anet_model_new("mlp:8", 0, &m) != ANET_OK && m == NULL);
    CHECK(anet_model_new(NULL, 0, &m) == ANET_E_INVALID);
    CHECK(anet_model_new("mlp:8-3", 0, NULL) == ANET_E_INVALID);
    anet_model_free(NULL);
    CHECK(anet_model_num_params(NULL) == 0 && strcmp(anet_model_spec_text(NULL), "") == 0);
}

static void test_trainer(const char *dir) {
    static float x[N * F], xt[N * F];
    static int64_t y[N], yt[N];
    make_data(x, y, N, 1);
    make_data(xt, yt, N, 2);
    anet_model *m = NULL;
    CHECK(anet_model_new("mlp:8-16-3", 3, &m) == ANET_OK);
    if (!m) return;
    anet_trainer *t = NULL;
    CHECK(anet_trainer_new(m, "optimizer=adam lr=0.01 colour=red", &t) == ANET_E_INVALID && !t);
    CHECK_STR_CONTAINS(anet_last_error(), "unknown option 'colour'");
    CHECK(anet_trainer_new(m, "lr=fast", &t) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "lr=fast");
    CHECK(anet_trainer_new(m, "update", &t) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "key=value");
    CHECK(anet_trainer_new(m, "backend=vane batch_size=16385", &t) == ANET_E_INVALID && !t);
    CHECK_STR_CONTAINS(anet_last_error(), "batch_size=16385: expected an integer in 1..16384");
    CHECK(anet_trainer_new(m, "backend=vane batch_size=50 lr=0.01 seed=4", &t) == ANET_OK);
    if (!t) {
        anet_model_free(m);
        return;
    }
    CHECK(strcmp(anet_trainer_backend_name(t), "vane") == 0);
    CHECK(strcmp(anet_trainer_model_spec(t), "mlp:8-16-3") == 0);
    double acc0 = -1, loss0 = -1, acc = -1, loss = -1, l = 0;
    CHECK(anet_trainer_evaluate(t, xt, ANET_DATA_F32, yt, N, F, &acc0, &loss0) == ANET_OK);
    CHECK(anet_trainer_set_total_epochs(t, 15) == ANET_OK);
    for (int e = 0; e < 15; e++) CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, N, F, &l) == ANET_OK);
    CHECK_EQ_INT(anet_trainer_epochs_done(t), 15);
    CHECK(anet_trainer_evaluate(t, xt, ANET_DATA_F32, yt, N, F, &acc, &loss) == ANET_OK);
    CHECK_MSG(acc > 0.9 && acc > acc0 && loss < loss0, "accuracy %g -> %g, loss %g -> %g", acc0, acc, loss0, loss);

    /* The float64 oracle on the trainer's weights: logits within fp16 tolerance, accuracy and
     * cross-entropy as computed here. */
    CHECK(anet_trainer_get_model(t, m) == ANET_OK);
    static float lg[N * K];
    static double ref[N * K];
    CHECK(anet_trainer_predict(t, xt, ANET_DATA_F32, N, F, lg) == ANET_OK);
    forward64(m, xt, N, ref);
    double maxerr = 0, xent = 0;
    int agree = 0, correct = 0;
    for (int i = 0; i < N; i++) {
        double lgd[K];
        for (int k = 0; k < K; k++) {
            lgd[k] = lg[i * K + k];
            double e = fabs(lgd[k] - ref[i * K + k]) / (1 + fabs(ref[i * K + k]));
            maxerr = e > maxerr ? e : maxerr;
        }
        agree += argmax(lgd, K) == argmax(&ref[i * K], K);
        correct += argmax(lgd, K) == yt[i];
        double mxl = lgd[argmax(lgd, K)], z = 0;
        for (int k = 0; k < K; k++) z += exp(lgd[k] - mxl);
        xent += mxl + log(z) - lgd[yt[i]];
    }
    CHECK_MSG(maxerr < 0.02, "fp16 logits vs float64: relative error %g", maxerr);
    CHECK_MSG(agree >= N - 6, "argmax agrees on %d of %d", agree, N);
    CHECK_NEAR(acc, (double)correct / N, 1e-12);
    CHECK_NEAR(loss, xent / N, 1e-9);

    /* Stats JSON names the backend and the last epoch. */
    char *js = NULL;
    CHECK(anet_trainer_stats_json(t, &js) == ANET_OK && js);
    if (js) {
        CHECK_STR_CONTAINS(js, "\"backend\":");
        CHECK_STR_CONTAINS(js, "\"last_epoch\":");
        CHECK_STR_CONTAINS(js, "\"epochs_done\":");
    }
    anet_free(js);

    /* Save, load elsewhere: the same predictions bit for bit; one more epoch: the same too. */
    char ck[512], ck2[512];
    snprintf(ck, sizeof ck, "%s/api.safetensors", dir);
    CHECK(anet_trainer_save(t, ck) == ANET_OK);
    anet_trainer *u = NULL;
    CHECK(anet_trainer_load(ck, "backend=vane", &u) == ANET_OK);
    if (u) {
        static float lg2[N * K];
        CHECK(anet_trainer_predict(u, xt, ANET_DATA_F32, N, F, lg2) == ANET_OK);
        CHECK(memcmp(lg, lg2, sizeof lg) == 0);
        CHECK_EQ_INT(anet_trainer_epochs_done(u), 15);
        double la = 0, lb = 0;
        CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, N, F, &la) == ANET_OK);
        CHECK(anet_trainer_fit_epoch(u, x, ANET_DATA_F32, y, N, F, &lb) == ANET_OK);
        CHECK_MSG(la == lb, "continued epoch: %.17g vs %.17g", la, lb);
        anet_trainer_free(u);
    }
    anet_model *ml = NULL;
    CHECK(anet_model_load(ck, &ml) == ANET_OK);
    anet_model_free(ml);

    /* A checkpoint of another model: refused, trainer unchanged. */
    anet_model *other = NULL;
    anet_trainer *ot = NULL;
    CHECK(anet_model_new("mlp:8-4-3", 0, &other) == ANET_OK);
    CHECK(anet_trainer_new(other, "backend=vane batch_size=50", &ot) == ANET_OK);
    snprintf(ck2, sizeof ck2, "%s/other.safetensors", dir);
    CHECK(ot && anet_trainer_save(ot, ck2) == ANET_OK);
    CHECK(anet_trainer_predict(t, xt, ANET_DATA_F32, N, F, lg) == ANET_OK);
    CHECK(anet_trainer_restore(t, ck2) == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "mlp:8-4-3");
    static float lg3[N * K];
    CHECK(anet_trainer_predict(t, xt, ANET_DATA_F32, N, F, lg3) == ANET_OK);
    CHECK(memcmp(lg, lg3, sizeof lg) == 0);
    CHECK(anet_trainer_set_model(t, other) == ANET_E_MISMATCH);
    CHECK(anet_trainer_get_model(ot, m) == ANET_E_MISMATCH);
    anet_trainer_free(ot);
    anet_model_free(other);
    CHECK(anet_trainer_load("/nonexistent/dir/x.safetensors", "", &u) != ANET_OK && u == NULL);

    /* Bad arrays. */
    CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, N, F + 1, &l) == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "9 features per sample but model mlp:8-16-3 takes 8");
    CHECK(anet_trainer_fit_epoch(t, x, 7, y, N, F, &l) == ANET_E_INVALID);
    CHECK(anet_trainer_fit_epoch(t, NULL, ANET_DATA_F32, y, N, F, &l) == ANET_E_INVALID);
    CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, NULL, N, F, &l) == ANET_E_INVALID);
    CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, 0, F, &l) == ANET_E_INVALID);
    CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, 49, F, &l) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "fewer than one batch");
    float keep = x[3 * F + 2];
    x[3 * F + 2] = NAN;
    CHECK(anet_trainer_fit_epoch(t, x, ANET_DATA_F32, y, N, F, &l) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "x[3, 2] is NaN");
    x[3 * F + 2] = INFINITY;
    CHECK(anet_trainer_predict(t, x, ANET_DATA_F32, N, F, lg) == ANET_E_INVALID);
    x[3 * F + 2] = keep;
    int64_t keepy = y[9];
    y[9] = 3;
    CHECK(anet_trainer_evaluate(t, x, ANET_DATA_F32, y, N, F, &acc, &loss) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "y[9] = 3");
    y[9] = keepy;
    CHECK(anet_trainer_predict(t, x, ANET_DATA_F32, N, F, NULL) == ANET_E_INVALID);
    CHECK(anet_trainer_save(t, "") == ANET_E_INVALID);
    CHECK(anet_trainer_save(NULL, ck) == ANET_E_INVALID);
    CHECK(anet_trainer_set_total_epochs(t, 0) == ANET_E_INVALID);
    CHECK_EQ_INT(anet_trainer_epochs_done(t), 16); /* the failed calls trained nothing */
    CHECK(anet_trainer_fit_epoch(NULL, x, ANET_DATA_F32, y, N, F, &l) == ANET_E_INVALID);
    anet_trainer *none = t;
    CHECK(anet_trainer_new(NULL, "", &none) == ANET_E_INVALID && none == NULL); /* *out cleared */
    anet_trainer_free(t);
    anet_trainer_free(NULL);
    anet_model_free(m);
}

static void test_dataset_info_check(void) {
    anet_dataset *ds = NULL;
    CHECK(anet_dataset_load(ANET_SHARED_DIR "/datasets/mnist-10k", NULL, &ds) == ANET_OK);
    if (ds) {
        uint32_t ntr = 0, nte = 0, rows = 0, cols = 0, k = 0;
        CHECK(anet_dataset_shape(ds, &ntr, &nte, &rows, &cols, &k) == ANET_OK);
        CHECK(ntr == 10000 && nte == 10000 && rows == 28 && cols == 28 && k == 10);
        uint8_t *img = malloc((size_t)nte * 784), *lab = malloc(nte);
        CHECK(anet_dataset_copy_split(ds, 1, img, (size_t)nte * 784, lab, nte) == ANET_OK);
        CHECK(anet_dataset_copy_split(ds, 1, img, (size_t)nte * 784 - 1, lab, nte) == ANET_E_MISMATCH);
        CHECK(anet_dataset_copy_split(ds, 2, img, (size_t)nte * 784, lab, nte) == ANET_E_INVALID);
        int maxl = 0;
        for (uint32_t i = 0; i < nte; i++) maxl = lab[i] > maxl ? lab[i] : maxl;
        CHECK_EQ_INT(maxl, 9);
        CHECK_STR_CONTAINS(anet_dataset_dir(ds), "mnist-10k");
        free(img);
        free(lab);
        anet_dataset_release(ds);
    }
    CHECK(anet_dataset_load("/nonexistent/dataset/dir", NULL, &ds) != ANET_OK && ds == NULL);
    CHECK(anet_last_error()[0] != '\0');

    char *js = NULL;
    CHECK(anet_info_json(&js) == ANET_OK && js);
    if (js) CHECK_STR_CONTAINS(js, "\"backends\"");
    anet_free(js);
    js = NULL;
    CHECK(anet_check_json(ANET_SHARED_DIR "/fixtures/coreml/lstsq-custom.mlmodel", NULL, &js) == ANET_OK && js);
    if (js) {
        CHECK_STR_CONTAINS(js, "\"compatibility\":\t\"none\"");
        CHECK_STR_CONTAINS(js, "nn-custom-layer");
    }
    anet_free(js);
    js = NULL;
    CHECK(anet_check_json(ANET_SHARED_DIR "/fixtures/coreml/mnistCNN.mlmodel", "m9", &js) == ANET_E_INVALID && !js);
    CHECK(anet_check_json("/nonexistent.mlmodel", "m4", &js) != ANET_OK && !js);
    CHECK(anet_check_json("x", "m4", NULL) == ANET_E_INVALID);
}

/* A checkpoint that names a large model (237M parameters) and holds no tensor: load refuses it
 * before building or initialising the model, so at once and with little memory. */
static void test_load_checked_first(const char *dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/big.safetensors", dir);
    const char *hdr = "{\"__metadata__\":{\"format\":\"ane_trainer-checkpoint-1\",\"model\":\"mlp:784-15000-15000-10\","
                      "\"batch_size\":\"128\"}}";
    size_t n = strlen(hdr), padded = (n + 7) & ~(size_t)7;
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (!f) return;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, n, f);
    for (size_t i = n; i < padded; i++) fputc(' ', f);
    fclose(f);
    /* Peak memory, not time, tells "checked first" from "built the model first": the model's
     * weights alone are 237M floats (~950 MB). */
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    anet_trainer *t = NULL;
    CHECK(anet_trainer_load(p, "backend=vane", &t) == ANET_E_FORMAT && t == NULL);
    CHECK_STR_CONTAINS(anet_last_error(), "parameter w0 is missing");
    getrusage(RUSAGE_SELF, &after); /* ru_maxrss: peak, KiB on Linux */
    CHECK_MSG(after.ru_maxrss < before.ru_maxrss + 400000,
              "refusing a tensorless checkpoint raised the peak RSS from %ld to %ld KiB (model built first?)",
              before.ru_maxrss, after.ru_maxrss);
}

/* anet_trainer_request_stop belongs to one trainer: a stop asked of A stops A (before its next
 * step, the epoch unfinished) and leaves B alone; withdrawn, it stops nothing; A's next epoch call
 * then trains the epoch exactly as B did. */
static void test_stop_request(void) {
    static float x[N * F];
    static int64_t y[N];
    make_data(x, y, N, 5);
    anet_model *m = NULL;
    anet_trainer *a = NULL, *b = NULL;
    CHECK(anet_model_new("mlp:8-16-3", 7, &m) == ANET_OK);
    if (!m) return;
    CHECK(anet_trainer_new(m, "backend=vane batch_size=50 seed=2", &a) == ANET_OK);
    CHECK(anet_trainer_new(m, "backend=vane batch_size=50 seed=2", &b) == ANET_OK);
    CHECK(anet_trainer_request_stop(NULL, 1) == ANET_E_INVALID);
    if (a && b) {
        double la = 0, lb = 0;
        CHECK(anet_trainer_request_stop(a, 1) == ANET_OK);
        CHECK(anet_trainer_fit_epoch(b, x, ANET_DATA_F32, y, N, F, &lb) == ANET_OK);
        CHECK(anet_trainer_epochs_done(b) == 1 && !anet_trainer_interrupted(b) && isfinite(lb));
        CHECK(anet_trainer_fit_epoch(a, x, ANET_DATA_F32, y, N, F, &la) == ANET_OK);
        CHECK(anet_trainer_epochs_done(a) == 0 && anet_trainer_interrupted(a) && isnan(la));
        CHECK(anet_trainer_request_stop(a, 1) == ANET_OK && anet_trainer_request_stop(a, 0) == ANET_OK);
        CHECK(anet_trainer_fit_epoch(a, x, ANET_DATA_F32, y, N, F, &la) == ANET_OK);
        CHECK(anet_trainer_epochs_done(a) == 1 && !anet_trainer_interrupted(a) && la == lb);
        static float pa[N * K], pb[N * K];
        CHECK(anet_trainer_predict(a, x, ANET_DATA_F32, N, F, pa) == ANET_OK);
        CHECK(anet_trainer_predict(b, x, ANET_DATA_F32, N, F, pb) == ANET_OK);
        CHECK(memcmp(pa, pb, sizeof pa) == 0);
    }
    anet_trainer_free(a);
    anet_trainer_free(b);
    anet_model_free(m);
}

int main(void) {
    CHECK_EQ_INT(anet_api_version(), ANET_API_VERSION);
    CHECK(strlen(anet_version()) >= 5);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/anet_test_api_%ld", (long)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    CHECK(system(cmd) == 0);
    test_model();
    test_trainer(dir);
    test_dataset_info_check();
    test_load_checked_first(dir);
    test_stop_request();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    TEST_MAIN_END();
}
