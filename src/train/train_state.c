/* The weights and optimizer state (host, or update=ane's device ping-pong): creation, and the saved checkpoint. */
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

anet_status anet_tr_init_state(anet_trainer *t) {
    size_t *sizes = calloc((size_t)t->nparams, sizeof *sizes);
    if (!sizes) return anet_fail(ANET_E_NOMEM, "out of memory");
    for (int i = 0; i < t->nparams; i++) sizes[i] = (size_t)t->pinfo[i].rows * (size_t)t->pinfo[i].cols;
    anet_status st = anet_optim_cpu_init(&t->opt, &t->o.opt, t->nparams, sizes);
    free(sizes);
    if (st != ANET_OK) return st;
    t->grad32 = calloc((size_t)t->nparams, sizeof *t->grad32);
    if (!t->grad32) return anet_fail(ANET_E_NOMEM, "out of memory");
    for (int i = 0; i < t->nparams; i++)
        if (!(t->grad32[i] = calloc(t->opt.sizes[i], sizeof(float)))) return anet_fail(ANET_E_NOMEM, "out of memory");
    anet_model_init(&t->model, &t->rng, t->opt.w);
    anet_optim_cpu_sync_f16(&t->opt);
    if (t->o.update != ANET_UPDATE_ANE) return ANET_OK;
    /* Device state: one entry per distinct (role, index, slot) the train program reads. */
    prog_rt *p = &t->train;
    t->state = calloc((size_t)p->sp.ninputs + 1, sizeof *t->state);
    if (!t->state) return anet_fail(ANET_E_NOMEM, "out of memory");
    for (int i = 0; i < p->sp.ninputs; i++) {
        const anet_io_desc *d = &p->sp.inputs[i];
        if (!is_state_role(d->role) || anet_tr_find_state(t, d->role, d->index, d->slot)) continue;
        state_buf *s = &t->state[t->nstate++];
        s->role = d->role;
        s->index = d->index;
        s->slot = d->slot;
        s->dtype = p->in_type[i].dtype;
        s->count = (size_t)anet_type_elements(&p->in_type[i]);
        s->nbytes = p->in[i].nbytes;
        for (int k = 0; k < 2; k++)
            if (!(s->buf[k] = calloc(1, s->nbytes))) return anet_fail(ANET_E_NOMEM, "out of memory");
    }
    /* Every state input must come back as an output, or the ping-pong would lose it. */
    for (int i = 0; i < t->nstate; i++) {
        int found = 0;
        for (int j = 0; j < p->sp.noutputs; j++) {
            const anet_io_desc *d = &p->sp.outputs[j];
            if (d->role == t->state[i].role && d->index == t->state[i].index &&
                (d->role != ANET_ROLE_OPT_STATE || d->slot == t->state[i].slot))
                found = 1;
        }
        if (!found)
            return anet_fail(ANET_E_INTERNAL, "train program (update=ane): state input role %d of "
                             "parameter %d is not an output", (int)t->state[i].role, t->state[i].index);
    }
    /* hi = fp16(w), lo = fp16(w - hi): the compensated pair starts as close to w as fp16 allows. */
    for (int i = 0; i < t->nstate; i++) {
        state_buf *s = &t->state[i];
        const float *w = t->opt.w[s->index];
        for (size_t k = 0; k < s->count; k++) {
            float v = 0.0f;
            if (s->role == ANET_ROLE_PARAM) v = s->dtype == ANET_DT_FP16 ? anet_f32_round_f16(w[k]) : w[k];
            else if (s->role == ANET_ROLE_PARAM_LO && s->dtype == ANET_DT_FP16)
                v = w[k] - anet_f32_round_f16(w[k]);
            write_scalar(s->buf[0], s->dtype, k, v);
        }
    }
    t->cur = 0;
    return ANET_OK;
}

/* update=ane's state in the train program's ping-pong surfaces (t->res): the host copy
 * buf[cur] is read back only when something needs it (evaluation, checkpoint, weights) and
 * written back after the host changed it (restore, set_weights). */
static anet_status state_move(anet_trainer *t, int pull) {
    if (!t->res.on || (pull && t->state_host_ok)) return ANET_OK;
    prog_rt *p = &t->train;
    for (int i = 0; i < p->sp.ninputs; i++) {
        const anet_io_desc *d = &p->sp.inputs[i];
        state_buf *s = t->res.pair[i] >= 0 ? anet_tr_find_state(t, d->role, d->index, d->slot) : NULL;
        if (!s) continue;
        anet_status st = pull ? anet_step_resident_read(&t->res, &t->backend, p->exe, &p->form, i, s->buf[t->cur])
                              : anet_step_resident_write(&t->res, &t->backend, p->exe, &p->form, i, s->buf[t->cur]);
        if (st) return anet_fail_ctx(st, "%s the training state %s %s", pull ? "reading" : "writing",
                                     pull ? "back from" : "into", t->backend.ops->name);
    }
    t->state_host_ok = 1;
    return ANET_OK;
}
anet_status anet_tr_state_pull(anet_trainer *t) { return state_move(t, 1); }
anet_status anet_tr_state_push(anet_trainer *t) { return state_move(t, 0); }

/* Keeps update=ane's state in the backend when it can (t->res), and the bytes of state the
 * copy path moves per step (update=cpu: the weights written each step). */
anet_status anet_tr_state_setup(anet_trainer *t) {
    prog_rt *p = &t->train;
    int *pair = calloc((size_t)p->sp.ninputs + 1, sizeof *pair);
    if (!pair) return anet_fail(ANET_E_NOMEM, "out of memory");
    t->state_bytes_step = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? p->sp.noutputs : p->sp.ninputs); i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            if (!is_state_role(d->role)) continue;
            t->state_bytes_step += p->form.lowered ? anet_step_forms_dev_bytes(&p->form, k, i)
                                                   : (k ? p->out : p->in)[i].nbytes;
        }
    for (int i = 0; i < p->sp.ninputs; i++) {
        const anet_io_desc *d = &p->sp.inputs[i];
        pair[i] = -1;
        for (int j = 0; j < p->sp.noutputs && t->o.update == ANET_UPDATE_ANE && is_state_role(d->role); j++) {
            const anet_io_desc *e = &p->sp.outputs[j];
            if (e->role == d->role && e->index == d->index && (d->role != ANET_ROLE_OPT_STATE || e->slot == d->slot))
                pair[i] = j;
        }
    }
    anet_status st = ANET_OK;
    t->state_host_ok = 1;
    /* ANE_TRAINER_RESIDENT_STATE=0: the copy path, for comparing the two (docs/training.md). */
    const char *env = getenv("ANE_TRAINER_RESIDENT_STATE");
    if (t->o.update == ANET_UPDATE_ANE && !(env && strcmp(env, "0") == 0))
        st = anet_step_resident_init(&t->res, &t->backend, p->exe, &p->form, p->sp.ninputs, p->sp.noutputs, pair);
    free(pair);
    /* ANE_TRAINER_BATCH_IN_SURFACE=0: the batch copied into its surface each step (comparisons). */
    env = getenv("ANE_TRAINER_BATCH_IN_SURFACE");
    t->res.lend_off = env && strcmp(env, "0") == 0;
    if (st == ANET_OK && t->res.on) {
        t->state_host_ok = 0; /* forces the first write */
        st = anet_tr_state_push(t);
    }
    return st;
}

const char *anet_tr_state_prefix(const state_buf *s) {
    if (s->role == ANET_ROLE_PARAM) return "ane.hi";
    if (s->role == ANET_ROLE_PARAM_LO) return "ane.lo";
    return s->slot == 0 ? "ane.m" : s->slot == 1 ? "ane.v" : "ane.s";
}

anet_status anet_trainer_save(anet_trainer *t, const char *path) {
    if (!t || !path || !path[0]) return anet_fail(ANET_E_INVALID, "save: NULL trainer or empty path");
    anet_status pst = anet_tr_state_pull(t);
    if (pst != ANET_OK) return pst;
    int max_t = t->nparams * 3 + t->nstate + 1;
    anet_ckpt_tensor *ts = calloc((size_t)max_t, sizeof *ts);
    float **tmp = calloc((size_t)t->nparams, sizeof *tmp);
    if (!ts || !tmp) {
        free(ts);
        free(tmp);
        return anet_fail(ANET_E_NOMEM, "checkpoint: out of memory");
    }
    anet_status st = ANET_OK;
    int n = 0;
    for (int i = 0; i < t->nparams; i++) {
        const anet_param_info *pi = &t->pinfo[i];
        int is_w = pi->name[0] == 'w';
        const float *w = t->opt.w[i];
        if (t->o.update == ANET_UPDATE_ANE) {
            /* The device holds the weights: hi + lo in fp32 is their best fp32 view. */
            state_buf *hi = anet_tr_find_state(t, ANET_ROLE_PARAM, i, 0), *lo = anet_tr_find_state(t, ANET_ROLE_PARAM_LO, i, 0);
            tmp[i] = malloc(t->opt.sizes[i] * sizeof(float));
            if (!tmp[i]) {
                st = anet_fail(ANET_E_NOMEM, "checkpoint: out of memory");
                goto done;
            }
            for (size_t k = 0; k < t->opt.sizes[i]; k++)
                tmp[i][k] = (hi ? read_scalar(hi->buf[t->cur], hi->dtype, k) : w[k]) +
                            (lo ? read_scalar(lo->buf[t->cur], lo->dtype, k) : 0.0f);
            w = tmp[i];
        }
        anet_ckpt_tensor *ct = &ts[n++];
        snprintf(ct->name, sizeof ct->name, "%s", pi->name);
        ct->dtype = ANET_DT_FP32;
        ct->rank = is_w ? 2 : 1;
        ct->dims[0] = pi->rows;
        ct->dims[1] = pi->cols;
        ct->data = (void *)w;
        ct->nbytes = t->opt.sizes[i] * sizeof(float);
        if (t->o.update != ANET_UPDATE_CPU) continue;
        for (int k = 0; k < (t->o.opt.kind == ANET_OPT_SGD ? 1 : 2); k++) {
            anet_ckpt_tensor *s = &ts[n++];
            *s = *ct;
            snprintf(s->name, sizeof s->name, "opt.%s.%s", k ? "v" : "m", pi->name);
            s->data = k ? t->opt.v[i] : t->opt.m[i];
        }
    }
    for (int i = 0; i < t->nstate; i++) {
        state_buf *s = &t->state[i];
        anet_ckpt_tensor *ct = &ts[n++];
        snprintf(ct->name, sizeof ct->name, "%s.%s", anet_tr_state_prefix(s), t->pinfo[s->index].name);
        ct->dtype = s->dtype;
        ct->rank = 1;
        ct->dims[0] = (int64_t)s->count;
        ct->data = s->buf[t->cur];
        ct->nbytes = s->nbytes;
    }
    {
        char v[28][80];
        anet_batch_pos pos = t->mem ? t->mem_pos : anet_batcher_tell(&t->train_b);
        snprintf(v[0], 80, "%lld", (long long)t->step);
        snprintf(v[1], 80, "%d", t->epochs_done);
        snprintf(v[2], 80, "%.9g", (double)t->scaler.scale);
        snprintf(v[3], 80, "%lld", (long long)t->scaler.clean_steps);
        snprintf(v[4], 80, "%lld", (long long)t->scaler.skipped_steps);
        snprintf(v[5], 80, "%016llx:%016llx:%016llx:%016llx", (unsigned long long)t->rng.s[0],
                 (unsigned long long)t->rng.s[1], (unsigned long long)t->rng.s[2],
                 (unsigned long long)t->rng.s[3]);
        snprintf(v[6], 80, "%llu", (unsigned long long)pos.epoch);
        snprintf(v[7], 80, "%u", pos.index);
        snprintf(v[8], 80, "%llu", (unsigned long long)t->o.seed);
        snprintf(v[9], 80, "%d", t->o.batch_size);
        snprintf(v[10], 80, "%.9g", (double)t->o.opt.lr);
        snprintf(v[11], 80, "%.9g", (double)t->o.opt.momentum);
        snprintf(v[12], 80, "%.9g", (double)t->o.opt.beta1);
        snprintf(v[13], 80, "%.9g", (double)t->o.opt.beta2);
        snprintf(v[14], 80, "%.9g", (double)t->o.opt.eps);
        snprintf(v[15], 80, "%.9g", (double)t->o.opt.weight_decay);
        snprintf(v[16], 80, "%lld", (long long)t->opt.t);
        snprintf(v[17], 80, "%lld", (long long)t->o.warmup_steps);
        snprintf(v[18], 80, "%.17g", t->last_acc);
        snprintf(v[19], 80, "%lld", (long long)t->scaler.growth_interval);
        snprintf(v[20], 80, "%lld", (long long)t->o.schedule_steps);
        snprintf(v[21], 80, "%.17g", t->o.val_split);
        snprintf(v[22], 80, "%.17g", t->best_metric);
        anet_ckpt_meta meta[] = {
            {"format", CKPT_FORMAT},
            {"model", t->model.text},
            {"step", v[0]},
            {"epoch", v[1]},
            {"loss_scale", v[2]},
            {"loss_scale_clean_steps", v[3]},
            {"skipped_steps", v[4]},
            {"rng", v[5]},
            {"data_epoch", v[6]},
            {"data_index", v[7]},
            {"seed", v[8]},
            {"batch_size", v[9]},
            {"optimizer", (char *)anet_opt_kind_name(t->o.opt.kind)},
            {"lr", v[10]},
            {"momentum", v[11]},
            {"beta1", v[12]},
            {"beta2", v[13]},
            {"eps", v[14]},
            {"weight_decay", v[15]},
            {"optimizer_steps", v[16]},
            {"schedule", (char *)anet_sched_kind_name(t->o.schedule)},
            {"warmup_steps", v[17]},
            {"loss_scale_growth", v[19]},
            {"schedule_steps", v[20]},
            {"test_acc", v[18]},
            {"dataset", t->dataset_name},
            {"backend", (char *)t->backend.ops->name},
            {"chip", (char *)anet_chip_name(t->o.chip)},
            {"update", (char *)update_name(t->o.update)},
            {"numerics", (char *)numerics_name(t->o.numerics)},
            {"program_form", (char *)(t->o.device_form ? "device" : "auto")},
            {"library_version", (char *)anet_version()},
            /* Only in runs that use them: other checkpoints stay as they were. */
            {"val_split", v[21]},
            {"best_metric", v[22]},
            {"metrics_epoch", t->epoch_line}, /* left out when there is none */
        };
        const int nall = (int)(sizeof meta / sizeof meta[0]);
        int nmeta = nall - 3; /* the optional ones moved down over those left out */
        if (t->o.val_split > 0) meta[nmeta++] = meta[nall - 3];
        if (t->o.save_best && !isnan(t->best_metric)) meta[nmeta++] = meta[nall - 2];
        if (t->epoch_line) meta[nmeta++] = meta[nall - 1];
        st = anet_ckpt_write(path, ts, n, meta, nmeta);
    }
done:
    for (int i = 0; i < t->nparams; i++) free(tmp[i]);
    free(tmp);
    free(ts);
    return st;
}
