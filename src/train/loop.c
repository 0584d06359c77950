/* The training loop: a step (program run, loss scaling, CPU or device update), an epoch and its metrics, a run. */
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/progress.h"

/* Batchnorm's running statistics from the step's batch statistics, as PyTorch keeps them
 * (momentum 0.1; the variance unbiased, n / (n - 1)). */
static int update_running_stats(anet_trainer *t, const prog_rt *p) {
    int any = 0;
    for (int i = 0; i < p->sp.noutputs; i++) {
        const anet_io_desc *d = &p->sp.outputs[i];
        if (d->role != ANET_ROLE_BN_STAT || d->index < 0 || d->index >= t->nparams) continue;
        int is_var = t->pinfo[d->index].name[0] == 'v';
        double unbias = is_var && d->slot > 1 ? (double)d->slot / (double)(d->slot - 1) : 1.0;
        float *r = t->opt.w[d->index];
        size_t n = t->opt.sizes[d->index];
        for (size_t k = 0; k < n; k++)
            r[k] = (float)(0.9 * r[k] + 0.1 * unbias * read_scalar(p->out[i].data, p->out_type[i].dtype, k));
        any = 1;
    }
    return any;
}

/* The batch's x is packed straight into the memory the train program's run reads when its form
 * allows: the backend's input surface where it lends it (ane, ane-sim), else the form's device
 * input (vane reads it there; the ane backends get it copied). Checked every step, as programs
 * may be rebuilt; batch_bytes counts the copies left. */
static void place_x(anet_trainer *t) {
    prog_rt *p = &t->train;
    int xi = -1;
    for (int i = 0; i < p->sp.ninputs; i++)
        if (p->sp.inputs[i].role == ANET_ROLE_X) xi = i;
    size_t ld = 0;
    int64_t F = t->batch.features, B = t->batch.batch_size;
    uint16_t *x = xi < 0 ? NULL : anet_step_resident_lend(&t->res, &t->backend, p->exe, &p->form, xi, F, B, &ld);
    if (!x) {
        x = xi < 0 ? NULL : anet_step_forms_place_in(&p->form, xi, F, B, &ld);
        int copied = !x || (p->form.lowered && t->backend.ops->resident); /* packed from the batch, or written */
        if (copied && xi >= 0) t->batch_bytes += p->form.lowered ? anet_step_forms_dev_bytes(&p->form, 0, xi) : p->in[xi].nbytes;
    }
    anet_batch_place_x(&t->batch, x, ld);
}

static anet_status train_step(anet_trainer *t, float *loss_out, int *applied) {
    place_x(t);
    anet_status st = anet_batcher_next(&t->train_b, &t->batch);
    if (st != ANET_OK) return st;
    float lr = (float)anet_schedule_lr(&t->sched, t->step);
    t->last_lr = lr;
    prog_rt *p = &t->train;
    anet_tr_bind(t, p, &t->batch, lr);
    if ((st = anet_tr_prog_eval(t, p)) != ANET_OK) return st;
    int li = anet_tr_find_out(p, ANET_ROLE_LOSS), fi = anet_tr_find_out(p, ANET_ROLE_FINITE);
    float loss = read_scalar(p->out[li].data, p->out_type[li].dtype, 0);
    int finite = fi >= 0 ? read_scalar(p->out[fi].data, p->out_type[fi].dtype, 0) != 0.0f : 1;
    if (t->o.update == ANET_UPDATE_CPU) {
        /* The program's flag and a check here: a gradient that overflowed in the last op is
         * caught either way. fp16 gradients go through one pass each (unscale, update, fp16
         * copy); fp32 ones are unscaled into fp32 buffers first. */
        float inv = 1.0f / t->scaler.scale;
        int seen = 0, all16 = 1;
        for (int i = 0; i < p->sp.noutputs; i++) {
            const anet_io_desc *d = &p->sp.outputs[i];
            if (d->role != ANET_ROLE_GRAD) continue;
            size_t n = t->opt.sizes[d->index];
            seen++;
            if (p->out_type[i].dtype == ANET_DT_FP16) {
                if (!anet_f16_all_finite(p->out[i].data, n)) finite = 0;
                continue;
            }
            all16 = 0;
            float *g = t->grad32[d->index];
            memcpy(g, p->out[i].data, n * sizeof(float));
            for (size_t k = 0; k < n; k++)
                if (!isfinite(g[k])) finite = 0;
        }
        int ntrain = 0;
        const float *gp[ANET_MODEL_MAX_PARAMS];
        for (int i = 0; i < t->nparams; i++) {
            ntrain += t->pinfo[i].trainable;
            gp[i] = t->pinfo[i].trainable ? t->grad32[i] : NULL;
        }
        if (seen != ntrain)
            return anet_fail(ANET_E_INTERNAL, "train program (update=cpu) has %d gradient outputs for %d parameters",
                             seen, ntrain);
        if (!isfinite(loss)) finite = 0;
        *applied = anet_loss_scaler_update(&t->scaler, finite);
        if (*applied && all16) {
            anet_optim_cpu_begin(&t->opt, lr);
            for (int i = 0; i < p->sp.noutputs; i++)
                if (p->sp.outputs[i].role == ANET_ROLE_GRAD)
                    anet_optim_cpu_apply_f16(&t->opt, p->sp.outputs[i].index, p->out[i].data, inv);
        } else if (*applied) {
            for (int i = 0; i < p->sp.noutputs; i++) {
                if (p->sp.outputs[i].role != ANET_ROLE_GRAD) continue;
                int j = p->sp.outputs[i].index;
                float *g = t->grad32[j];
                if (p->out_type[i].dtype == ANET_DT_FP16) anet_f16_to_f32_n(p->out[i].data, g, t->opt.sizes[j]);
                for (size_t k = 0; k < t->opt.sizes[j]; k++) g[k] *= inv;
            }
            anet_optim_cpu_step(&t->opt, lr, gp);
            anet_optim_cpu_sync_f16(&t->opt);
        }
        if (*applied && update_running_stats(t, p)) anet_optim_cpu_sync_f16(&t->opt);
    } else {
        if (!isfinite(loss)) finite = 0;
        *applied = anet_loss_scaler_update(&t->scaler, finite);
        if (*applied && t->res.on) {
            /* The outputs become the next step's inputs in the backend; the host copy is old. */
            if ((st = anet_step_resident_commit(&t->res, &t->backend, p->exe, &p->form)) != ANET_OK) return st;
            t->state_host_ok = 0;
        } else if (*applied) {
            t->cur = 1 - t->cur;
        }
        if (*applied) {
            t->opt.t++; /* device-side update count: drives the bias-correction hyper inputs */
        }
    }
    t->step++;
    *loss_out = loss;
    return ANET_OK;
}

void anet_tr_fill_record(anet_trainer *t, anet_metrics_record *r, const char *event, int epoch) {
    anet_backend_stats bs;
    anet_tr_backend_stats(t, &bs);
    memset(r, 0, sizeof *r);
    r->event = event;
    r->epoch = epoch;
    r->step = t->step;
    r->test_acc = NAN;
    r->train_acc = r->val_acc = r->val_loss = NAN;
    r->backend = t->backend.ops->name;
    r->compiles = bs.compiles;
    r->dispatches = bs.dispatches;
    r->loss_scale = t->scaler.scale;
    r->skipped_steps = t->scaler.skipped_steps;
    r->lr = t->last_lr;
    r->update = update_name(t->o.update);
    r->chip = anet_chip_name(t->o.chip);
    r->numerics = numerics_name(t->o.numerics);
    r->fallback = t->fallback[0] ? t->fallback : NULL;
}

/* Trains the remaining batches of epoch `epoch` (1-based) from t->train_b and fills r with the
 * epoch's record (test_acc NaN). *stopped = 1 when --max-steps ended it early. */
anet_status anet_tr_run_epoch(anet_trainer *t, int epoch, anet_metrics_record *r, int *stopped) {
    anet_status st = ANET_OK;
    uint32_t nb = anet_batcher_batches_per_epoch(&t->train_b);
    *stopped = 0;
    anet_backend_stats s0, s1;
    anet_tr_backend_stats(t, &s0);
    double t0 = now_s(), loss_sum = 0, backend0 = t->train.backend_s;
    uint64_t state0 = t->state_bytes, batch0 = t->batch_bytes;
    double cpu0 = cpu_s();
    uint32_t nloss = 0, done = 0, napplied = 0;
    int64_t steps0 = t->step;
    /* A resumed position may sit inside an epoch: finish that epoch's batches only. */
    anet_batch_pos pos = anet_batcher_tell(&t->train_b);
    uint32_t start = pos.epoch == (uint64_t)t->epochs_done ? pos.index / (uint32_t)t->o.batch_size : 0;
    anet_progress pr;
    anet_progress_begin(&pr, stderr, t0);
    for (uint32_t b = start; b < nb; b++) {
        if (atomic_exchange(&t->stop, 0)) {
            if (!t->o.quiet && pr.tty) fputc('\n', stderr);
            t->interrupted = 1;
            *stopped = 1;
            return ANET_OK;
        }
        if (t->o.max_steps > 0 && t->step >= t->o.max_steps) {
            if (!t->o.quiet) fprintf(stderr, "\nstopping after %lld steps (--max-steps)\n", (long long)t->step);
            *stopped = 1;
            return ANET_OK;
        }
        float loss = NAN;
        int applied = 0;
        if ((st = train_step(t, &loss, &applied)) != ANET_OK) return st;
        napplied += applied != 0;
        if (isfinite(loss)) {
            loss_sum += loss;
            nloss++;
        }
        done = b + 1;
        if (!t->o.quiet) anet_progress_step(&pr, epoch, t->o.epochs, done, nb, nloss ? loss_sum / nloss : NAN, now_s(), 0);
        if (t->o.log_steps > 0 && t->step % t->o.log_steps == 0) {
            anet_metrics_record sr;
            anet_tr_fill_record(t, &sr, "step", epoch);
            sr.train_loss = loss;
            /* Figures a single step does not measure are null, not 0. */
            sr.epoch_seconds = sr.samples_per_s = sr.dispatches_per_step = sr.bytes_per_step = sr.host_us_per_step =
                sr.state_bytes_per_step = sr.batch_bytes_per_step = NAN;
            if ((st = anet_metrics_write(&t->metrics, &sr)) != ANET_OK) return st;
            if ((st = anet_tb_record(&t->tb, &sr)) != ANET_OK) return st;
        }
    }
    /* Not one update in a whole epoch: the weights cannot move any more (non-finite values
     * everywhere, or a scale at its floor); going on would only burn time and report nan. */
    if (done > start && napplied == 0)
        return anet_fail(ANET_E_VERIFY, "epoch %d: every one of its %u steps was skipped for non-finite gradients "
                         "(loss scale now %g): training diverged; lower the learning rate or start from another "
                         "checkpoint", epoch, done - start, (double)t->scaler.scale);
    double secs = now_s() - t0;
    if (!t->o.quiet) anet_progress_step(&pr, epoch, t->o.epochs, done, nb, nloss ? loss_sum / nloss : NAN, now_s(), 1);
    anet_tr_backend_stats(t, &s1);
    int64_t steps = t->step - steps0;
    anet_tr_fill_record(t, r, "epoch", epoch);
    r->train_loss = nloss ? loss_sum / nloss : NAN;
    r->epoch_seconds = secs;
    r->samples_per_s = secs > 0 ? (double)steps * t->o.batch_size / secs : 0;
    r->dispatches_per_step = steps ? (double)(s1.dispatches - s0.dispatches) / (double)steps : 0;
    r->bytes_per_step =
        steps ? (double)((s1.bytes_in - s0.bytes_in) + (s1.bytes_out - s0.bytes_out)) / (double)steps : 0;
    /* Host work per step: the training thread's CPU time in the epoch outside the backend's
     * evaluation (batching, packing into the program's form and copies into and out of the
     * backend, the CPU optimizer, progress); CPU time, so other processes do not inflate it. */
    double host = (cpu_s() - cpu0) - (t->train.backend_s - backend0);
    r->host_us_per_step = steps ? (host > 0 ? host : 0) * 1e6 / (double)steps : 0;
    r->state_bytes_per_step = steps ? (double)(t->state_bytes - state0) / (double)steps : 0;
    r->batch_bytes_per_step = steps ? (double)(t->batch_bytes - batch0) / (double)steps : 0;
    return ANET_OK;
}

/* --save-best: best.safetensors holds the epoch with the best val_acc (test_acc without a
 * validation split); a tie keeps the earlier epoch. */
static anet_status keep_best(anet_trainer *t, const anet_metrics_record *r) {
    if (!t->o.save_best) return ANET_OK;
    double m = t->nval ? r->val_acc : r->test_acc;
    if (!isnan(t->best_metric) && !(m > t->best_metric)) return ANET_OK;
    t->best_metric = m;
    char path[4200];
    snprintf(path, sizeof path, "%s/best.safetensors", t->out_dir);
    return anet_trainer_save(t, path);
}

anet_status anet_trainer_run(anet_trainer *t) {
    anet_status st = ANET_OK;
    if (t->mem) return anet_fail(ANET_E_INVALID, "this trainer has no dataset: train it epoch by epoch on arrays");
    if (t->epochs_done >= t->o.epochs && !t->o.quiet)
        fprintf(stderr, "already at epoch %d of %d: nothing to train\n", t->epochs_done, t->o.epochs);
    t->interrupted = 0;
    while (t->epochs_done < t->o.epochs) {
        int epoch = t->epochs_done + 1, stopped = 0;
        anet_metrics_record r;
        if ((st = anet_tr_run_epoch(t, epoch, &r, &stopped)) != ANET_OK) return st;
        /* A stop request: the state after the last whole step, mid-epoch position included,
         * goes to the checkpoint (a --resume continues the epoch from there). */
        if (stopped) return t->interrupted ? anet_trainer_save(t, t->ckpt_path) : ANET_OK;
        double acc;
        if ((st = anet_tr_evaluate_epoch(t, epoch, &r)) != ANET_OK) return st;
        acc = r.test_acc;
        t->epochs_done = epoch;
        t->last_acc = acc;
        /* A fallback during the evaluation: the line says where the run goes on. */
        r.backend = t->backend.ops->name;
        r.fallback = t->fallback[0] ? t->fallback : NULL;
        t->last_epoch = r;
        /* The checkpoint first (it carries this line), then the line: see train/rundir.h. */
        t->epoch_line = anet_metrics_format(&r);
        if (!t->epoch_line) return anet_fail(ANET_E_NOMEM, "metrics: out of memory");
        st = keep_best(t, &r);
        if (st == ANET_OK) st = anet_trainer_save(t, t->ckpt_path);
        if (st == ANET_OK) st = anet_metrics_write_line(&t->metrics, t->epoch_line);
        free(t->epoch_line);
        t->epoch_line = NULL;
        if (st != ANET_OK) return st;
        if ((st = anet_tb_record(&t->tb, &r)) != ANET_OK) return st;
        if (!t->o.quiet) {
            char val[64] = "", tra[32] = "";
            if (!isnan(r.val_acc)) snprintf(val, sizeof val, "  val_acc %.2f%%  val_loss %.4f", 100.0 * r.val_acc, r.val_loss);
            if (!isnan(r.train_acc)) snprintf(tra, sizeof tra, "  train_acc %.2f%%", 100.0 * r.train_acc);
            fprintf(stderr, "epoch %d/%d: train_loss %.4f%s%s  test_acc %.2f%%  %.2f s  %.0f samples/s  "
                    "loss_scale %g  skipped %lld\n", epoch, t->o.epochs, r.train_loss, tra, val,
                    100.0 * acc, r.epoch_seconds, r.samples_per_s, (double)t->scaler.scale,
                    (long long)t->scaler.skipped_steps);
        }
        if (t->epochs_done < t->o.epochs && atomic_exchange(&t->stop, 0)) { /* came during the evaluation */
            t->interrupted = 1;
            return ANET_OK;
        }
    }
    return ANET_OK;
}

anet_status anet_trainer_request_stop(anet_trainer *t, int stop) {
    if (!t) return ANET_E_INVALID; /* no anet_fail: it formats, which a signal handler must not */
    atomic_store(&t->stop, stop ? 1 : 0);
    return ANET_OK;
}

int anet_trainer_interrupted(const anet_trainer *t) { return t ? t->interrupted : 0; }
