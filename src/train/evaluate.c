/* Evaluation: the eval program over a batcher (accuracy, loss, logits), end-of-epoch evaluations, `eval`. */
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/registry.h"
#include "train/loss.h"
#include "train/run_files.h"

/* Correct predictions among the first `count` columns of [K, B] logits (argmax, first max). */
static uint32_t count_correct(const void *logits, anet_dtype dt, int K, uint32_t B, uint32_t count,
                              const int32_t *labels) {
    uint32_t ok = 0;
    for (uint32_t j = 0; j < count; j++) {
        int best = 0;
        float bv = read_scalar(logits, dt, j);
        for (int k = 1; k < K; k++) {
            float v = read_scalar(logits, dt, (size_t)k * B + j);
            if (v > bv || (isnan(bv) && !isnan(v))) {
                bv = v;
                best = k;
            }
        }
        if (best == labels[j]) ok++;
    }
    return ok;
}

/* Runs the eval program over every batch of b (one epoch, in order). Counts correct
 * predictions; with loss_sum (needs the LOGITS output) sums the cross-entropy; with logits_out
 * writes [sample][K] fp32 logits for the samples in order. */
anet_status anet_tr_eval_loop(anet_trainer *t, anet_batcher *b, anet_batch *batch, uint32_t *correct_out,
                             uint32_t *seen_out, double *loss_sum, float *logits_out) {
    anet_batch_pos start = {0, 0};
    anet_status st = anet_batcher_seek(b, start);
    if (st == ANET_OK) st = anet_tr_state_pull(t); /* the eval program reads the weights' host copy */
    if (st != ANET_OK) return st;
    uint32_t nb = anet_batcher_batches_per_epoch(b), correct = 0, seen = 0;
    int lo = anet_tr_find_out(&t->eval, ANET_ROLE_LOGITS), co = anet_tr_find_out(&t->eval, ANET_ROLE_CORRECT);
    int K = t->model.dims[t->model.nlayers];
    if ((loss_sum || logits_out) && lo < 0)
        return anet_fail(ANET_E_UNSUPPORTED, "the eval program has no logits output");
    if (loss_sum) *loss_sum = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if ((st = anet_batcher_next(b, batch)) != ANET_OK) return st;
        anet_tr_bind(t, &t->eval, batch, 0.0f);
        if ((st = anet_tr_prog_eval(t, &t->eval)) != ANET_OK) return st;
        if (lo >= 0) {
            const void *lg = t->eval.out[lo].data;
            anet_dtype dt = t->eval.out_type[lo].dtype;
            correct += count_correct(lg, dt, K, batch->batch_size, batch->count, batch->labels);
            if (loss_sum)
                *loss_sum += anet_loss_host_sum(t->model.loss, lg, dt, batch->y_onehot, K, (int)batch->batch_size,
                                                (int)batch->count);
            for (uint32_t j = 0; logits_out && j < batch->count; j++)
                for (int k = 0; k < K; k++)
                    logits_out[((size_t)seen + j) * (size_t)K + (size_t)k] =
                        read_scalar(lg, dt, (size_t)k * batch->batch_size + j);
        } else {
            correct += (uint32_t)lrintf(read_scalar(t->eval.out[co].data, t->eval.out_type[co].dtype, 0));
        }
        seen += batch->count;
    }
    *correct_out = correct;
    *seen_out = seen;
    return ANET_OK;
}

anet_status anet_trainer_evaluate_test(anet_trainer *t, double *accuracy) {
    if (t->mem) return anet_fail(ANET_E_INVALID, "this trainer has no dataset: evaluate on arrays");
    uint32_t correct = 0, seen = 0;
    anet_status st = anet_tr_eval_loop(t, &t->test_b, &t->test_batch, &correct, &seen, NULL, NULL);
    if (st != ANET_OK) return st;
    *accuracy = seen ? (double)correct / (double)seen : 0.0;
    return ANET_OK;
}

/* The end-of-epoch evaluations: test accuracy (its labels and predictions to eval.json for
 * `report`), accuracy on the training samples, and the validation split's accuracy and loss. */
anet_status anet_tr_evaluate_epoch(anet_trainer *t, int epoch, anet_metrics_record *r) {
    uint32_t correct = 0, seen = 0, n = t->ds.test.n;
    int K = t->model.dims[t->model.nlayers];
    int have_logits = anet_tr_find_out(&t->eval, ANET_ROLE_LOGITS) >= 0;
    float *logits = have_logits ? malloc((size_t)n * (size_t)K * sizeof *logits) : NULL;
    if (have_logits && !logits) return anet_fail(ANET_E_NOMEM, "out of memory for %u x %d test logits", n, K);
    anet_status st = anet_tr_eval_loop(t, &t->test_b, &t->test_batch, &correct, &seen, NULL, logits);
    if (st == ANET_OK) r->test_acc = seen ? (double)correct / (double)seen : 0.0;
    if (st == ANET_OK && logits)
        st = anet_run_write_eval(t->out_dir, epoch, t->step, K, n, t->ds.test.labels, logits, t->ds.test.images,
                                 t->ds.rows, t->ds.cols);
    free(logits);
    if (st == ANET_OK && t->o.train_acc) st = anet_tr_eval_loop(t, &t->acc_b, &t->test_batch, &correct, &seen, NULL, NULL);
    if (st == ANET_OK && t->o.train_acc) r->train_acc = seen ? (double)correct / (double)seen : 0.0;
    if (st == ANET_OK && t->nval) {
        double lsum = 0;
        st = anet_tr_eval_loop(t, &t->val_b, &t->test_batch, &correct, &seen, have_logits ? &lsum : NULL, NULL);
        if (st == ANET_OK) {
            r->val_acc = seen ? (double)correct / (double)seen : 0.0;
            r->val_loss = have_logits && seen ? lsum / (double)seen : NAN;
        }
    }
    return st;
}

anet_status anet_eval_checkpoint(const anet_eval_options *o, anet_eval_result *res) {
    memset(res, 0, sizeof *res);
    anet_ckpt c;
    anet_status st = anet_ckpt_read(o->checkpoint, &c);
    if (st != ANET_OK) return st;
    const char *spec = anet_ckpt_get_meta(&c, "model");
    anet_model_spec m;
    if (!spec) {
        anet_ckpt_free(&c);
        return anet_fail(ANET_E_FORMAT, "checkpoint %s has no \"model\" metadata", o->checkpoint);
    }
    st = anet_model_parse(spec, &m);
    if (st == ANET_OK) st = anet_ckpt_check_model(&c, o->checkpoint, &m, "its model");
    if (st != ANET_OK) {
        anet_ckpt_free(&c);
        return anet_fail_ctx(st, "checkpoint %s", o->checkpoint);
    }
    uint64_t bs = 128;
    if (o->batch_size <= 0 &&
        (st = anet_ckpt_meta_uint(&c, o->checkpoint, "batch_size", 1, ANET_MAX_BATCH, 0, &bs)) != ANET_OK) {
        anet_ckpt_free(&c);
        return st;
    }
    int batch = o->batch_size > 0 ? o->batch_size : (int)bs;
    const char *ds_name = o->dataset ? o->dataset : anet_ckpt_get_meta(&c, "dataset");
    /* A checkpoint of a trainer on in-memory arrays (the C API, Python) records no dataset: the
     * default one would be a guess, so the caller must say. */
    if (!ds_name || !ds_name[0]) {
        anet_ckpt_free(&c);
        return anet_fail(ANET_E_INVALID, "checkpoint %s records no dataset (saved from in-memory arrays?): "
                         "give the dataset to evaluate on (--dataset)", o->checkpoint);
    }
    /* A trainer in evaluation-only form: same programs, same binding; no training state. */
    anet_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        anet_ckpt_free(&c);
        return anet_fail(ANET_E_NOMEM, "out of memory");
    }
    anet_train_options_default(&t->o);
    t->rundir_fd = -1;
    t->o.batch_size = batch;
    t->o.update = ANET_UPDATE_CPU;
    t->o.chip = o->chip;
    t->o.numerics = o->numerics;
    t->o.device_form = o->device_form;
    t->model = m;
    snprintf(res->model, sizeof res->model, "%s", m.text);
    /* The test split only: an evaluation never touches the training data. */
    snprintf(t->dataset_name, sizeof t->dataset_name, "%s", ds_name);
    st = anet_dataset_open_splits(ds_name, o->data_dir, ANET_SPLIT_TEST, &t->ds);
    if (st == ANET_OK && (uint32_t)m.dims[0] != t->ds.features)
        st = anet_fail(ANET_E_MISMATCH, "dataset %s has %u features per sample but checkpoint model %s takes %d inputs",
                       t->dataset_name, t->ds.features, m.text, m.dims[0]);
    /* Labels must be outputs of the model. (A directory's class count is read from the labels
     * present, here the test split's alone, so it may be below the model's.) */
    if (st == ANET_OK && (uint32_t)m.dims[m.nlayers] < t->ds.num_classes)
        st = anet_fail(ANET_E_MISMATCH, "dataset %s has %u classes but checkpoint model %s has %d outputs",
                       t->dataset_name, t->ds.num_classes, m.text, m.dims[m.nlayers]);
    if (st == ANET_OK)
        st = anet_batcher_init(&t->test_b, t->ds.test.images, t->ds.test.labels, t->ds.test.n, t->ds.features,
                               t->ds.num_classes, (uint32_t)batch, 0, 0, ANET_BATCH_KEEP_LAST);
    if (st == ANET_OK) st = anet_batch_alloc(&t->test_b, &t->test_batch);
    if (st == ANET_OK) st = anet_tr_open_backend(t, o->backend);
    if (st == ANET_OK) {
        t->nparams = anet_model_nparams(&m);
        t->pinfo = calloc((size_t)t->nparams, sizeof *t->pinfo);
        size_t *sizes = calloc((size_t)t->nparams, sizeof *sizes);
        if (!t->pinfo || !sizes) st = anet_fail(ANET_E_NOMEM, "out of memory");
        for (int i = 0; st == ANET_OK && i < t->nparams; i++) {
            anet_model_param(&m, i, &t->pinfo[i]);
            sizes[i] = (size_t)t->pinfo[i].rows * (size_t)t->pinfo[i].cols;
        }
        if (st == ANET_OK) st = anet_optim_cpu_init(&t->opt, &t->o.opt, t->nparams, sizes);
        free(sizes);
    }
    for (int i = 0; st == ANET_OK && i < t->nparams; i++) {
        const anet_ckpt_tensor *w = anet_ckpt_find(&c, t->pinfo[i].name);
        memcpy(t->opt.w[i], w->data, w->nbytes);
    }
    if (st == ANET_OK) {
        anet_optim_cpu_sync_f16(&t->opt);
        anet_tr_step_config(t, &m, batch, ANET_UPDATE_CPU);
        t->eval.name = "eval";
        st = anet_step_build_eval(&t->scfg, &t->eval.sp);
        if (st == ANET_OK) st = anet_tr_prog_lower(t, &t->eval, &m, batch);
        if (st == ANET_OK) st = anet_tr_io_types(&t->eval);
        if (st == ANET_OK) st = anet_tr_check_prog_shapes(t, &t->eval);
        if (st == ANET_OK) st = anet_tr_prog_alloc(t, &t->eval);
        if (st == ANET_OK) st = anet_tr_prog_compile(t, &t->eval);
        if (st == ANET_OK && anet_tr_find_out(&t->eval, ANET_ROLE_LOGITS) < 0 && anet_tr_find_out(&t->eval, ANET_ROLE_CORRECT) < 0)
            st = anet_fail(ANET_E_INTERNAL, "eval program has neither LOGITS nor CORRECT");
    }
    if (st == ANET_OK) st = anet_trainer_evaluate_test(t, &res->accuracy);
    if (st == ANET_OK) {
        res->samples = t->ds.test.n;
        snprintf(res->dataset, sizeof res->dataset, "%s", t->dataset_name);
        snprintf(res->dataset_dir, sizeof res->dataset_dir, "%s", t->ds.dir);
        snprintf(res->backend, sizeof res->backend, "%s", t->backend.ops->name);
    }
    anet_ckpt_free(&c);
    anet_trainer_free(t);
    return st;
}
