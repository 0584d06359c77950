/* The C API's in-memory mode: epochs and evaluations on the caller's arrays, weights in and out, accessors. */
#include "train/trainer_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/loss.h"

/* Checks arrays against the model; labels (when given) become the batcher's bytes in *lab. */
static anet_status check_arrays(const anet_trainer *t, const anet_arrays *a, int need_labels, uint8_t **lab) {
    *lab = NULL;
    int F = t->model.dims[0], K = t->model.dims[t->model.nlayers];
    if (!a || !a->x) return anet_fail(ANET_E_INVALID, "x is NULL");
    if (a->n == 0) return anet_fail(ANET_E_INVALID, "no samples (n = 0)");
    if (a->n > UINT32_MAX) return anet_fail(ANET_E_NOMEM, "%zu samples: at most %u", a->n, UINT32_MAX);
    if (a->x_type != ANET_DATA_U8 && a->x_type != ANET_DATA_F32)
        return anet_fail(ANET_E_INVALID, "x: unknown data type code %d (ANET_DATA_U8 or ANET_DATA_F32)", a->x_type);
    if (a->features != (size_t)F)
        return anet_fail(ANET_E_MISMATCH, "x has %zu features per sample but model %s takes %d inputs", a->features,
                         t->model.text, F);
    if (need_labels && !a->y && !a->targets) return anet_fail(ANET_E_INVALID, "y is NULL");
    if (a->targets && t->model.loss == ANET_LOSS_XENT)
        return anet_fail(ANET_E_INVALID, "model %s is trained with cross-entropy on integer labels: float targets need "
                         "loss mse or bce", t->model.text);
    if (!a->targets && a->y && t->model.loss != ANET_LOSS_XENT && K == 1)
        return anet_fail(ANET_E_INVALID, "model %s has one output and loss %s: give float targets [n] or [n, 1], not labels",
                         t->model.text, anet_loss_name(t->model.loss));
    for (size_t i = 0; a->targets && i < a->n * (size_t)K; i++)
        if (!(fabsf(a->targets[i]) <= 65504.0f))
            return anet_fail(ANET_E_INVALID, "targets[%zu] = %g is not finite or outside fp16's range", i, (double)a->targets[i]);
    if (K > 256 && !a->targets) return anet_fail(ANET_E_UNSUPPORTED, "model %s has %d classes: arrays support at most 256",
                                  t->model.text, K);
    *lab = calloc(a->n, 1);
    if (!*lab) return anet_fail(ANET_E_NOMEM, "out of memory for %zu labels", a->n);
    for (size_t i = 0; a->y && !a->targets && i < a->n; i++) {
        if (a->y[i] < 0 || a->y[i] >= K) {
            free(*lab);
            *lab = NULL;
            return anet_fail(ANET_E_INVALID, "y[%zu] = %lld is not a class of model %s (0..%d)", i,
                             (long long)a->y[i], t->model.text, K - 1);
        }
        (*lab)[i] = (uint8_t)a->y[i];
    }
    return ANET_OK;
}

static anet_status batcher_for(const anet_trainer *t, anet_batcher *b, const anet_arrays *a, const uint8_t *lab,
                               int train) {
    uint32_t F = (uint32_t)t->model.dims[0], K = (uint32_t)t->model.dims[t->model.nlayers];
    uint32_t B = (uint32_t)t->o.batch_size;
    anet_batch_tail tail = train ? ANET_BATCH_DROP_LAST : ANET_BATCH_KEEP_LAST;
    if (train && a->n < B)
        return anet_fail(ANET_E_INVALID, "%zu samples are fewer than one batch of %u (the last partial batch is dropped)",
                         a->n, B);
    anet_status st = a->x_type == ANET_DATA_F32
                         ? anet_batcher_init_f32(b, a->x, lab, (uint32_t)a->n, F, K, B, t->o.seed, train && !t->no_shuffle, tail)
                         : anet_batcher_init(b, a->x, lab, (uint32_t)a->n, F, K, B, t->o.seed, train && !t->no_shuffle, tail);
    if (st == ANET_OK) b->targets = a->targets;
    return st;
}

anet_status anet_trainer_train_epoch(anet_trainer *t, const anet_arrays *a, double *loss) {
    if (!t) return anet_fail(ANET_E_INVALID, "trainer is NULL");
    if (!t->mem) return anet_fail(ANET_E_INVALID, "this trainer reads a dataset: use anet_trainer_run");
    uint8_t *lab = NULL;
    anet_status st = check_arrays(t, a, 1, &lab);
    anet_batcher b;
    memset(&b, 0, sizeof b);
    if (st == ANET_OK) st = batcher_for(t, &b, a, lab, 1);
    /* Same stream as a dataset run: epoch e (1-based) takes the order drawn for (seed, e - 1);
     * an epoch a stop request ended early goes on where it stopped. */
    anet_batch_pos pos = {(uint64_t)t->epochs_done, 0};
    if (t->mem_pos.epoch == (uint64_t)t->epochs_done && t->mem_pos.index > 0) pos = t->mem_pos;
    if (st == ANET_OK) st = anet_batcher_seek(&b, pos);
    if (st == ANET_OK) st = anet_batch_alloc(&b, &t->batch);
    if (st == ANET_OK) {
        t->train_b = b;
        if (t->o.epochs <= t->epochs_done) t->o.epochs = t->epochs_done + 1;
        t->sched.total_steps = t->o.schedule_steps > 0 ? t->o.schedule_steps
                                                        : (int64_t)t->o.epochs * anet_batcher_batches_per_epoch(&b);
        anet_metrics_record r;
        int stopped = 0;
        t->interrupted = 0;
        st = anet_tr_run_epoch(t, t->epochs_done + 1, &r, &stopped);
        if (st == ANET_OK && stopped) {
            t->mem_pos = anet_batcher_tell(&t->train_b);
            if (loss) *loss = NAN;
        } else if (st == ANET_OK) {
            t->mem_pos = anet_batcher_tell(&t->train_b);
            t->epochs_done++;
            t->last_epoch = r;
            if (loss) *loss = r.train_loss;
        }
        memset(&t->train_b, 0, sizeof t->train_b); /* it borrowed the caller's arrays */
    }
    anet_batch_free(&t->batch);
    anet_batcher_free(&b);
    free(lab);
    return st;
}

anet_status anet_trainer_eval_arrays(anet_trainer *t, const anet_arrays *a, double *accuracy, double *loss,
                                     float *logits) {
    if (!t) return anet_fail(ANET_E_INVALID, "trainer is NULL");
    uint8_t *lab = NULL;
    anet_status st = check_arrays(t, a, accuracy || loss, &lab);
    anet_batcher b;
    anet_batch batch;
    memset(&b, 0, sizeof b);
    memset(&batch, 0, sizeof batch);
    if (st == ANET_OK) st = batcher_for(t, &b, a, lab, 0);
    if (st == ANET_OK) st = anet_batch_alloc(&b, &batch);
    uint32_t correct = 0, seen = 0;
    double lsum = 0;
    if (st == ANET_OK) st = anet_tr_eval_loop(t, &b, &batch, &correct, &seen, loss ? &lsum : NULL, logits);
    if (st == ANET_OK) {
        if (accuracy) *accuracy = a->targets ? NAN : seen ? (double)correct / (double)seen : 0.0;
        if (loss) *loss = seen ? lsum / (double)seen : 0.0;
    }
    anet_batch_free(&batch);
    anet_batcher_free(&b);
    free(lab);
    return st;
}

void anet_trainer_set_epochs(anet_trainer *t, int epochs) {
    if (t && epochs > 0) t->o.epochs = epochs;
}

void anet_trainer_set_peak_lr(anet_trainer *t, float lr) {
    t->o.opt.lr = lr;
    t->sched.lr = lr;
}

void anet_trainer_set_shuffle_mode(anet_trainer *t, int shuffle) { t->no_shuffle = !shuffle; }

const anet_metrics_record *anet_trainer_last_epoch(const anet_trainer *t) {
    return t->last_epoch.event ? &t->last_epoch : NULL;
}

const anet_model_spec *anet_trainer_model(const anet_trainer *t) { return &t->model; }
const anet_train_options *anet_trainer_options(const anet_trainer *t) { return &t->o; }
int64_t anet_trainer_steps(const anet_trainer *t) { return t->step; }

anet_status anet_trainer_stats(const anet_trainer *t, anet_metrics_record *r) {
    anet_tr_fill_record((anet_trainer *)t, r, "state", t->epochs_done);
    r->train_loss = NAN;
    r->test_acc = t->last_acc;
    return ANET_OK;
}

/* The current weights, fp32, in PyTorch's layout: the master weights (update=cpu) or hi + lo
 * read from the device state (update=ane), as checkpoints store them. */
anet_status anet_trainer_get_weights(const anet_trainer *t, int i, float *out) {
    if (i < 0 || i >= t->nparams) return anet_fail(ANET_E_INVALID, "parameter index %d of %d", i, t->nparams);
    size_t n = t->opt.sizes[i];
    if (t->o.update != ANET_UPDATE_ANE) {
        memcpy(out, t->opt.w[i], n * sizeof(float));
        return ANET_OK;
    }
    anet_status st = anet_tr_state_pull((anet_trainer *)t);
    if (st != ANET_OK) return st;
    state_buf *hi = anet_tr_find_state((anet_trainer *)t, ANET_ROLE_PARAM, i, 0);
    state_buf *lo = anet_tr_find_state((anet_trainer *)t, ANET_ROLE_PARAM_LO, i, 0);
    for (size_t k = 0; k < n; k++)
        out[k] = (hi ? read_scalar(hi->buf[t->cur], hi->dtype, k) : t->opt.w[i][k]) +
                 (lo ? read_scalar(lo->buf[t->cur], lo->dtype, k) : 0.0f);
    return ANET_OK;
}

/* Replaces parameter i (fp32, PyTorch layout; finite values only); optimizer state is kept.
 * update=ane: the device pair becomes hi = fp16(w), lo = fp16(w - hi), as at initialisation. */
anet_status anet_trainer_set_weights(anet_trainer *t, int i, const float *in) {
    if (i < 0 || i >= t->nparams) return anet_fail(ANET_E_INVALID, "parameter index %d of %d", i, t->nparams);
    size_t n = t->opt.sizes[i];
    for (size_t k = 0; k < n; k++)
        if (!isfinite(in[k]))
            return anet_fail(ANET_E_INVALID, "parameter %s[%zu] is not finite", t->pinfo[i].name, k);
    anet_status st = anet_tr_state_pull(t); /* the other tensors' host copy must be current too */
    if (st != ANET_OK) return st;
    memcpy(t->opt.w[i], in, n * sizeof(float));
    anet_optim_cpu_sync_f16(&t->opt);
    for (int j = 0; j < t->nstate; j++) {
        state_buf *s = &t->state[j];
        if (s->index != i || (s->role != ANET_ROLE_PARAM && s->role != ANET_ROLE_PARAM_LO)) continue;
        for (size_t k = 0; k < s->count; k++) {
            float v = in[k];
            if (s->role == ANET_ROLE_PARAM) v = s->dtype == ANET_DT_FP16 ? anet_f32_round_f16(in[k]) : in[k];
            else v = s->dtype == ANET_DT_FP16 ? in[k] - anet_f32_round_f16(in[k]) : 0.0f;
            write_scalar(s->buf[t->cur], s->dtype, k, v);
        }
    }
    t->state_host_ok = 0;
    return anet_tr_state_push(t);
}
