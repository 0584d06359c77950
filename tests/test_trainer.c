/* The trainer as a library: two trainers alive in one process share nothing (same options ->
 * identical checkpoints, each backend counts its own compiles), evaluation before and after
 * training, and the checkpoint a run writes passes the model check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static int same_tensors(const char *a, const char *b) {
    anet_ckpt x, y;
    if (anet_ckpt_read(a, &x) != ANET_OK) return 0;
    if (anet_ckpt_read(b, &y) != ANET_OK) {
        anet_ckpt_free(&x);
        return 0;
    }
    int ok = x.ntensors == y.ntensors && x.ntensors > 0;
    for (int i = 0; ok && i < x.ntensors; i++) {
        const anet_ckpt_tensor *t = anet_ckpt_find(&y, x.tensors[i].name);
        ok = t && t->nbytes == x.tensors[i].nbytes && memcmp(t->data, x.tensors[i].data, t->nbytes) == 0;
    }
    anet_ckpt_free(&x);
    anet_ckpt_free(&y);
    return ok;
}

static int count_lines(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

int main(void) {
    char dir[256], da[300], db[300], ca[400], cb[400], ma[400];
    snprintf(dir, sizeof dir, "/tmp/anet_test_trainer_%ld", (long)getpid());
    snprintf(da, sizeof da, "%s/a", dir);
    snprintf(db, sizeof db, "%s/b", dir);
    anet_train_options o;
    anet_train_options_default(&o);
    o.dataset = ANET_SHARED_DIR "/datasets/mnist-10k";
    o.model = "mlp:784-12-10";
    o.epochs = 1;
    o.batch_size = 200;
    o.seed = 11;
    o.backend = "vane";
    o.quiet = 1;
    anet_trainer *a = NULL, *b = NULL;
    o.out_dir = da;
    CHECK(anet_trainer_create(&o, &a) == ANET_OK);
    o.out_dir = db;
    CHECK(anet_trainer_create(&o, &b) == ANET_OK);
    if (a && b) {
        CHECK(strcmp(anet_trainer_backend_name(a), "vane") == 0);
        double acc0 = -1, acc1 = -1;
        CHECK(anet_trainer_evaluate_test(a, &acc0) == ANET_OK);
        CHECK_MSG(acc0 < 0.3, "untrained accuracy %g", acc0); /* about chance */
        CHECK(anet_trainer_run(a) == ANET_OK);
        CHECK(anet_trainer_run(b) == ANET_OK);
        CHECK(anet_trainer_evaluate_test(b, &acc1) == ANET_OK);
        CHECK_MSG(acc1 > 0.4, "trained accuracy %g", acc1);
        snprintf(ca, sizeof ca, "%s/checkpoint.safetensors", da);
        snprintf(cb, sizeof cb, "%s/checkpoint.safetensors", db);
        CHECK(strcmp(anet_trainer_checkpoint_path(a), ca) == 0);
        CHECK_MSG(same_tensors(ca, cb), "two trainers with the same options differ");
        snprintf(ma, sizeof ma, "%s/metrics.jsonl", da);
        CHECK_EQ_INT(count_lines(ma, "\"compiles\":2,"), 1); /* each backend counts its own */
        anet_ckpt c;
        anet_model_spec m;
        CHECK(anet_model_parse("mlp:784-12-10", &m) == ANET_OK);
        CHECK(anet_ckpt_read(ca, &c) == ANET_OK);
        CHECK(anet_ckpt_check_model(&c, ca, &m, "--model") == ANET_OK);
        CHECK(anet_ckpt_get_meta(&c, "rng") && anet_ckpt_get_meta(&c, "data_epoch"));
        anet_ckpt_free(&c);
        /* eval of the checkpoint equals the trainer's own evaluation */
        anet_eval_options eo;
        memset(&eo, 0, sizeof eo);
        eo.checkpoint = cb;
        eo.backend = "vane";
        eo.chip = ANET_CHIP_M4;
        anet_eval_result er;
        CHECK(anet_eval_checkpoint(&eo, &er) == ANET_OK);
        CHECK_NEAR(er.accuracy, acc1, 0);
    }
    anet_trainer_free(a);
    anet_trainer_free(b);

    /* bad options are refused before anything is written */
    anet_trainer *t = NULL;
    o.out_dir = da;
    o.model = "mlp:784-12-9";
    CHECK(anet_trainer_create(&o, &t) == ANET_E_MISMATCH && t == NULL);
    CHECK_STR_CONTAINS(anet_last_error(), "classes");
    o.model = "mlp:784-12-10";
    o.resume = "/nonexistent.safetensors";
    CHECK(anet_trainer_create(&o, &t) == ANET_E_NOTFOUND && t == NULL);

    /* auto on vane is a fallback only where a candidate should have run: Apple silicon, or the
     * simulator requested by the environment; an Intel Mac (apple_arm64 = 0) is like Linux. */
    CHECK(anet_auto_candidate_expected_on(1, NULL) == 1);
    CHECK(anet_auto_candidate_expected_on(0, NULL) == 0);
    CHECK(anet_auto_candidate_expected_on(0, "ane") == 0);
    CHECK(anet_auto_candidate_expected_on(0, "ane-sim") == 1);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}
