/* Resuming from a checkpoint: all of it checked before anything changes, then applied to the built trainer. */
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* test_acc: "nan" before the first evaluation, so anything unparsable just means unknown. */
static int meta_f(const anet_ckpt *c, const char *key, double *out) {
    const char *s = anet_ckpt_get_meta(c, key);
    if (!s || !*s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end) return -1;
    *out = v;
    return 0;
}

/* Everything about a checkpoint that needs no built programs or state: the model and its
 * weights, the metadata (ranges, this run's update mode, optimizer and batch size, the data
 * position), the optimizer state's shapes. Runs before the programs are built, so a checkpoint
 * that cannot be resumed costs nothing (no model init, no compile). Changes nothing. */
anet_status anet_tr_ckpt_check(anet_trainer *t, const anet_ckpt *c, const char *path, ckpt_vals *r) {
    anet_status st = anet_ckpt_check_model(c, path, &t->model, t->mem ? "this trainer's model" : "--model");
    const char *fmt = anet_ckpt_get_meta(c, "format");
    const char *upd = anet_ckpt_get_meta(c, "update");
    const char *optk = anet_ckpt_get_meta(c, "optimizer");
    uint64_t bs = 0;
    memset(r, 0, sizeof *r);
    if (st == ANET_OK && (!fmt || strcmp(fmt, CKPT_FORMAT) != 0))
        st = anet_fail(ANET_E_FORMAT, "checkpoint %s: not an ane_trainer training checkpoint (format %s)",
                       path, fmt ? fmt : "missing");
    /* Every counter bounded (no int64 overflow later), the loss scale finite and within the
     * scaler's range: an edited or corrupt value fails here, naming its key. */
    const anet_loss_scaler *sc = &t->scaler;
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "step", 0, ANET_CKPT_MAX_COUNTER, 1, &r->step);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "epoch", 0, 1000000, 1, &r->epoch);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "data_epoch", 0, ANET_CKPT_MAX_COUNTER, 1, &r->de);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "data_index", 0, UINT32_MAX, 1, &r->di);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "batch_size", 1, ANET_MAX_BATCH, 1, &bs);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "loss_scale_clean_steps", 0, ANET_LOSS_SCALE_MAX_GROWTH, 1,
                                                      &r->clean);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "skipped_steps", 0, ANET_CKPT_MAX_COUNTER, 1, &r->skipped);
    if (st == ANET_OK) st = anet_ckpt_meta_uint(c, path, "optimizer_steps", 0, ANET_CKPT_MAX_COUNTER, 1, &r->ot);
    if (st == ANET_OK)
        st = anet_ckpt_meta_real(c, path, "loss_scale", sc->min_scale, sc->max_scale, 1, &r->scale);
    if (st == ANET_OK && (!upd || !optk))
        st = anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata \"%s\" is missing", path, !upd ? "update" : "optimizer");
    if (st == ANET_OK && strcmp(upd, update_name(t->o.update)) != 0)
        st = anet_fail(ANET_E_MISMATCH, "checkpoint %s was trained with --update %s, this run uses --update %s",
                       path, upd, update_name(t->o.update));
    if (st == ANET_OK && strcmp(optk, anet_opt_kind_name(t->o.opt.kind)) != 0)
        st = anet_fail(ANET_E_MISMATCH, "checkpoint %s was trained with --optimizer %s, this run uses %s", path,
                       optk, anet_opt_kind_name(t->o.opt.kind));
    if (st == ANET_OK && bs != (uint64_t)t->o.batch_size)
        st = anet_fail(ANET_E_MISMATCH, "checkpoint %s was trained with --batch-size %llu, this run uses %d",
                       path, (unsigned long long)bs, t->o.batch_size);
    const char *rng = anet_ckpt_get_meta(c, "rng");
    if (st == ANET_OK &&
        (!rng || sscanf(rng, "%16llx:%16llx:%16llx:%16llx", &r->s4[0], &r->s4[1], &r->s4[2], &r->s4[3]) != 4))
        st = anet_fail(ANET_E_FORMAT, "checkpoint %s: rng state missing or malformed", path);
    /* Optimizer state (update=cpu): present, fp32, the parameter's size. */
    int nslots = t->o.opt.kind == ANET_OPT_SGD ? 1 : 2;
    for (int i = 0; st == ANET_OK && t->o.update == ANET_UPDATE_CPU && i < t->nparams; i++)
        for (int k = 0; k < nslots; k++) {
            char name[64];
            snprintf(name, sizeof name, "opt.%s.%s", k ? "v" : "m", t->pinfo[i].name);
            const anet_ckpt_tensor *s = anet_ckpt_find(c, name);
            size_t n = (size_t)t->pinfo[i].rows * (size_t)t->pinfo[i].cols;
            if (!s || s->dtype != ANET_DT_FP32 || s->nbytes != n * sizeof(float)) {
                st = anet_fail(ANET_E_FORMAT, "checkpoint %s: optimizer state %s missing or of the wrong shape",
                               path, name);
                break;
            }
        }
    /* The saved position is where the next batch comes from: inside the epoch after the
     * completed ones (data_epoch == epoch), or at the very end of the last completed one (the
     * batcher moves on at the next batch). Anything else would resume another stream. */
    uint64_t de = r->de, di = r->di, epoch = r->epoch;
    if (st == ANET_OK && !(de == epoch || (epoch > 0 && de == epoch - 1)))
        st = anet_fail(ANET_E_FORMAT, "checkpoint %s: data_epoch %llu does not match epoch %llu (expected %llu%s)",
                       path, (unsigned long long)de, (unsigned long long)epoch, (unsigned long long)epoch,
                       epoch > 0 ? " or one less" : "");
    if (st == ANET_OK && !t->mem) {
        uint64_t end = (uint64_t)anet_batcher_batches_per_epoch(&t->train_b) * bs;
        if (di > end || (de + 1 == epoch && di != end) || di % bs != 0)
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: data_index %llu does not fit data_epoch %llu of epoch %llu "
                           "(batches of %llu, %llu samples per epoch)", path, (unsigned long long)di,
                           (unsigned long long)de, (unsigned long long)epoch, (unsigned long long)bs,
                           (unsigned long long)end);
    }
    return st;
}

/* Applies a checkpoint anet_tr_ckpt_check accepted, once the state exists. The device state
 * (update=ane) is checked first, so a failure still leaves the trainer as it was. */
anet_status anet_tr_ckpt_apply(anet_trainer *t, const anet_ckpt *c, const char *path, const ckpt_vals *r) {
    anet_status st = ANET_OK;
    for (int i = 0; st == ANET_OK && i < t->nstate; i++) {
        state_buf *s = &t->state[i];
        char name[64];
        snprintf(name, sizeof name, "%s.%s", anet_tr_state_prefix(s), t->pinfo[s->index].name);
        const anet_ckpt_tensor *ct = anet_ckpt_find(c, name);
        if (!ct || ct->dtype != s->dtype || ct->nbytes != s->nbytes)
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: device state %s missing or of the wrong shape", path,
                           name);
    }
    anet_batch_pos pos = {r->de, (uint32_t)r->di};
    if (st == ANET_OK && !t->mem) {
        st = anet_batcher_seek(&t->train_b, pos); /* checked above; changes nothing when it fails */
        if (st != ANET_OK) st = anet_fail_ctx(st, "checkpoint %s: data position", path);
    }
    if (st != ANET_OK) return st;
    int nslots = t->o.opt.kind == ANET_OPT_SGD ? 1 : 2;
    for (int i = 0; i < 4; i++) t->rng.s[i] = r->s4[i];
    for (int i = 0; i < t->nparams; i++) {
        const anet_ckpt_tensor *w = anet_ckpt_find(c, t->pinfo[i].name);
        memcpy(t->opt.w[i], w->data, w->nbytes);
        if (t->o.update != ANET_UPDATE_CPU) continue;
        for (int k = 0; k < nslots; k++) {
            char name[64];
            snprintf(name, sizeof name, "opt.%s.%s", k ? "v" : "m", t->pinfo[i].name);
            const anet_ckpt_tensor *s = anet_ckpt_find(c, name);
            memcpy(k ? t->opt.v[i] : t->opt.m[i], s->data, s->nbytes);
        }
    }
    for (int i = 0; i < t->nstate; i++) {
        state_buf *s = &t->state[i];
        char name[64];
        snprintf(name, sizeof name, "%s.%s", anet_tr_state_prefix(s), t->pinfo[s->index].name);
        memcpy(s->buf[0], anet_ckpt_find(c, name)->data, s->nbytes);
    }
    if (t->mem) t->mem_pos = pos;
    t->cur = 0;
    t->step = (int64_t)r->step;
    t->epochs_done = (int)r->epoch;
    t->opt.t = (int64_t)r->ot;
    t->scaler.scale = (float)r->scale;
    t->scaler.clean_steps = (int64_t)r->clean;
    t->scaler.skipped_steps = (int64_t)r->skipped;
    double acc;
    if (meta_f(c, "test_acc", &acc) == 0 && acc >= 0 && acc <= 1) t->last_acc = acc;
    if (meta_f(c, "best_metric", &acc) == 0 && acc >= 0 && acc <= 1) t->best_metric = acc;
    anet_optim_cpu_sync_f16(&t->opt);
    t->state_host_ok = 0;
    return anet_tr_state_push(t);
}

/* Validates the whole checkpoint first and only then changes the trainer, so a failed restore
 * (another model, a missing tensor) leaves the trainer as it was. */
static anet_status restore(anet_trainer *t, const char *path) {
    anet_ckpt c;
    anet_status st = anet_ckpt_read(path, &c);
    if (st != ANET_OK) return st;
    ckpt_vals r;
    st = anet_tr_ckpt_check(t, &c, path, &r);
    if (st == ANET_OK) st = anet_tr_ckpt_apply(t, &c, path, &r);
    anet_ckpt_free(&c);
    return st;
}

anet_status anet_trainer_restore(anet_trainer *t, const char *path) {
    if (!t || !path) return anet_fail(ANET_E_INVALID, "restore: NULL trainer or path");
    return restore(t, path);
}
