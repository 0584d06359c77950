/* A trainer's life: creation (options, run directory, data, backend, programs, state, resume), accessors, free. */
#include "train/trainer_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "train/memplan.h"
#include "train/run_files.h"
#include "train/rundir.h"

/* An upper bound of a checkpoint's size: fp32 weights, two optimizer moments (or update=ane's
 * hi/lo/m/v state), and room for the header. The run directory must have this much free. */
static uint64_t ckpt_size_bound(const anet_model_spec *m) {
    uint64_t elems = 0;
    for (int i = 0; i < anet_model_nparams(m); i++) {
        anet_param_info p;
        anet_model_param(m, i, &p);
        elems += (uint64_t)p.rows * (uint64_t)p.cols;
    }
    return elems * sizeof(float) * 4 + ((uint64_t)1 << 16);
}

/* A process killed while writing a checkpoint leaves its temporary file (the checkpoint itself
 * is intact): remove such leftovers, and only those. A temporary is named
 * "checkpoint.safetensors.tmp.<pid>.<unique>" (or ".tmp.<pid>" by older versions); it is stale
 * when that pid is no process of this machine any more. A live writer (this process's other
 * trainers, another process saving into the same directory) is never touched; a leftover whose
 * pid was reused stays until that process ends. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    const char *prefix = "checkpoint.safetensors.tmp.";
    size_t pl = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, pl) != 0) continue;
        const char *p = e->d_name + pl;
        size_t nd = strspn(p, "0123456789");
        if (nd == 0 || nd > 9 || (p[nd] && p[nd] != '.')) continue;
        long pid = strtol(p, NULL, 10);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (EPERM: someone else's) */
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* The metrics file of a dataset run. A resume first cuts it to the checkpoint's state (lines
 * written after the checkpoint, by a run that crashed later, would be repeated), then restores
 * the checkpoint's own epoch line when a crash between the checkpoint and that line lost it. */
static anet_status open_metrics(anet_trainer *t) {
    int has_line = 0;
    anet_status st;
    /* A checkpoint of a stop request sits inside epoch epochs_done + 1: that epoch's step lines
     * up to its step stay (it carries no epoch line to restore). */
    anet_batch_pos pos = anet_batcher_tell(&t->train_b);
    int mid = pos.epoch == (uint64_t)t->epochs_done && pos.index > 0;
    if (t->o.resume &&
        (st = anet_rundir_truncate_metrics(t->metrics_path, t->step, t->epochs_done + mid, &has_line)) != ANET_OK)
        return st;
    if ((st = anet_metrics_open(&t->metrics, t->metrics_path, t->o.resume != NULL)) != ANET_OK) return st;
    if (t->o.resume && has_line == 0 && t->epochs_done > 0 && t->resume_epoch_line)
        return anet_metrics_write_line(&t->metrics, t->resume_epoch_line);
    return ANET_OK;
}

/* mem_resume: the checkpoint an in-memory trainer starts from (anet_trainer_load_mem); a
 * dataset trainer resumes from o->resume. */
static anet_status create(const anet_train_options *o, int mem, const char *mem_resume, anet_trainer **out) {
    if (!out) return anet_fail(ANET_E_INVALID, "trainer: NULL output pointer");
    *out = NULL;
    if (!o) return anet_fail(ANET_E_INVALID, "trainer: NULL options");
    anet_ckpt ck;
    int have_ck = 0;
    ckpt_vals cv;
    const char *resume = mem ? mem_resume : o->resume;
    anet_trainer *t = calloc(1, sizeof *t);
    if (!t) return anet_fail(ANET_E_NOMEM, "out of memory");
    t->o = *o;
    t->mem = mem;
    t->rundir_fd = -1;
    if (mem) {
        /* Nothing on disk: the caller saves when it wants to; no resume (anet_trainer_restore). */
        t->o.dataset = t->o.data_dir = t->o.out_dir = t->o.resume = t->o.metrics_path = NULL;
        t->o.max_steps = 0;
        t->o.log_steps = 0;
    }
    o = &t->o;
    anet_status st = anet_model_parse(o->model ? o->model : "", &t->model);
    if (st != ANET_OK) goto fail;
    if (o->epochs < 1 || o->epochs > 1000000) {
        st = anet_fail(ANET_E_INVALID, "--epochs %d: must be at least 1", o->epochs);
        goto fail;
    }
    /* The limit a checkpoint accepts (ANET_CKPT_MAX_COUNTER): a run never writes a checkpoint
     * its own resume would refuse. */
    if (o->warmup_steps < 0 || (uint64_t)o->warmup_steps > ANET_CKPT_MAX_COUNTER) {
        st = anet_fail(ANET_E_INVALID, "--warmup-steps %lld: must be in 0..2^53", (long long)o->warmup_steps);
        goto fail;
    }
    if (o->schedule_steps < 0 || (uint64_t)o->schedule_steps > ANET_CKPT_MAX_COUNTER) {
        st = anet_fail(ANET_E_INVALID, "--schedule-steps %lld: must be in 0..2^53", (long long)o->schedule_steps);
        goto fail;
    }
    if (o->batch_size < 1 || o->batch_size > ANET_MAX_BATCH) {
        st = anet_fail(ANET_E_INVALID, "--batch-size %d: must be in 1..%d", o->batch_size, ANET_MAX_BATCH);
        goto fail;
    }
    /* The plan's memory before any of it is allocated (the dataset has its own limits). */
    if ((st = anet_memplan_check(&t->model, o->batch_size, o->update, o->max_memory)) != ANET_OK) goto fail;
    if (mem) goto backend;
    /* Output directory first: an unwritable --out fails before anything slow happens. */
    if (o->out_dir && o->out_dir[0]) {
        snprintf(t->out_dir, sizeof t->out_dir, "%s", o->out_dir);
    } else {
        anet_run_dir_default(t->out_dir, sizeof t->out_dir);
    }
    if ((st = anet_rundir_prepare(t->out_dir, ckpt_size_bound(&t->model))) != ANET_OK) goto fail;
    if ((st = anet_rundir_lock(t->out_dir, &t->rundir_fd)) != ANET_OK) goto fail;
    snprintf(t->ckpt_path, sizeof t->ckpt_path, "%s/checkpoint.safetensors", t->out_dir);
    remove_stale_temps(t->out_dir);
    if (o->metrics_path && o->metrics_path[0])
        snprintf(t->metrics_path, sizeof t->metrics_path, "%s", o->metrics_path);
    else
        snprintf(t->metrics_path, sizeof t->metrics_path, "%s/metrics.jsonl", t->out_dir);

    st = anet_dataset_resolve(o->dataset, o->data_dir, &t->ds, t->dataset_name, sizeof t->dataset_name);
    if (st != ANET_OK) goto fail;
    if ((uint32_t)t->model.dims[0] != t->ds.features) {
        st = anet_fail(ANET_E_MISMATCH, "dataset %s has %u features per sample (%ux%u images) but model %s "
                       "takes %d inputs", t->dataset_name, t->ds.features, t->ds.rows, t->ds.cols,
                       t->model.text, t->model.dims[0]);
        goto fail;
    }
    if ((uint32_t)t->model.dims[t->model.nlayers] != t->ds.num_classes) {
        st = anet_fail(ANET_E_MISMATCH, "dataset %s has %u classes but model %s has %d outputs",
                       t->dataset_name, t->ds.num_classes, t->model.text, t->model.dims[t->model.nlayers]);
        goto fail;
    }
    uint32_t ntrain = t->ds.train.n;
    if (o->val_split > 0) {
        /* As Keras's validation_split: the last samples, before any shuffling. */
        t->nval = (uint32_t)((double)ntrain * o->val_split);
        if (o->val_split >= 1 || t->nval == 0 || ntrain - t->nval < (uint32_t)o->batch_size) {
            st = anet_fail(ANET_E_INVALID, "--val-split %g of %u training samples leaves %u for validation and %u "
                           "for training (needs at least 1 and one batch of %d)", o->val_split, ntrain, t->nval,
                           ntrain - t->nval, o->batch_size);
            goto fail;
        }
        ntrain -= t->nval;
        st = anet_batcher_init(&t->val_b, t->ds.train.images + (size_t)ntrain * t->ds.features,
                               t->ds.train.labels + ntrain, t->nval, t->ds.features, t->ds.num_classes,
                               (uint32_t)o->batch_size, o->seed, 0, ANET_BATCH_KEEP_LAST);
        if (st != ANET_OK) goto fail;
    }
    st = anet_batcher_init(&t->acc_b, t->ds.train.images, t->ds.train.labels, ntrain, t->ds.features,
                           t->ds.num_classes, (uint32_t)o->batch_size, o->seed, 0, ANET_BATCH_KEEP_LAST);
    if (st != ANET_OK) goto fail;
    st = anet_batcher_init(&t->train_b, t->ds.train.images, t->ds.train.labels, ntrain, t->ds.features,
                           t->ds.num_classes, (uint32_t)o->batch_size, o->seed, 1, ANET_BATCH_DROP_LAST);
    if (st == ANET_OK)
        st = anet_batcher_init(&t->test_b, t->ds.test.images, t->ds.test.labels, t->ds.test.n, t->ds.features,
                               t->ds.num_classes, (uint32_t)o->batch_size, o->seed, 0, ANET_BATCH_KEEP_LAST);
    if (st == ANET_OK) st = anet_batch_alloc(&t->train_b, &t->batch);
    if (st == ANET_OK) st = anet_batch_alloc(&t->test_b, &t->test_batch);
    if (st != ANET_OK) goto fail;

backend:;
    t->nparams = anet_model_nparams(&t->model);
    t->pinfo = calloc((size_t)t->nparams, sizeof *t->pinfo);
    if (!t->pinfo) {
        st = anet_fail(ANET_E_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < t->nparams; i++) anet_model_param(&t->model, i, &t->pinfo[i]);
    anet_loss_scaler_init(&t->scaler, o->loss_scale, o->loss_scale_growth);
    /* The checkpoint to resume is checked before anything costly (backend, programs, the
     * model's initial weights): one that does not fit fails at once. */
    if (resume) {
        if ((st = anet_ckpt_read(resume, &ck)) != ANET_OK) goto fail;
        have_ck = 1;
        if ((st = anet_tr_ckpt_check(t, &ck, resume, &cv)) != ANET_OK) goto fail;
    }
    if ((st = anet_tr_open_backend(t, o->backend)) != ANET_OK) goto fail;
    /* A library caller's strings need not outlive this call: keep none of them. */
    if (mem) {
        t->o.model = t->model.text;
        t->o.backend = NULL;
    }

    anet_tr_step_config(t, &t->model, o->batch_size, o->update);
    if ((st = anet_tr_build_programs(t)) != ANET_OK) goto fail;

    anet_rng_seed(&t->rng, o->seed);
    t->last_acc = NAN;
    t->best_metric = NAN;
    if ((st = anet_tr_init_state(t)) != ANET_OK) goto fail;
    if (have_ck) {
        if ((st = anet_tr_ckpt_apply(t, &ck, resume, &cv)) != ANET_OK) goto fail;
        const char *line = anet_ckpt_get_meta(&ck, "metrics_epoch");
        if (!mem && line && line[0] && !(t->resume_epoch_line = strdup(line))) {
            st = anet_fail(ANET_E_NOMEM, "out of memory");
            goto fail;
        }
        anet_ckpt_free(&ck);
        have_ck = 0;
    }
    if ((st = anet_tr_state_setup(t)) != ANET_OK) goto fail;
    t->sched.kind = o->schedule;
    t->sched.lr = o->opt.lr;
    t->sched.warmup_steps = o->warmup_steps;
    /* The horizon is fixed by the first run (or --schedule-steps) and stored, so a resume with
     * another --epochs follows the same curve. In memory mode without schedule_steps the batches
     * per epoch are known with the data (set per epoch). */
    if (!mem) {
        int64_t here = (int64_t)o->epochs * anet_batcher_batches_per_epoch(&t->train_b);
        if (o->schedule_steps > 0 && here != o->schedule_steps && o->resume && !o->quiet &&
            (o->schedule == ANET_SCHED_COSINE || o->schedule == ANET_SCHED_WARMUP_COSINE))
            fprintf(stderr, "ane_trainer: warning: the %s schedule's horizon stays at %lld steps (stored in the "
                    "checkpoint, or --schedule-steps), not the %lld steps of --epochs %d\n",
                    anet_sched_kind_name(o->schedule), (long long)o->schedule_steps, (long long)here, o->epochs);
        t->o.schedule_steps = o->schedule_steps > 0 ? o->schedule_steps : here;
    }
    t->sched.total_steps = t->o.schedule_steps;
    if (!mem && (st = open_metrics(t)) != ANET_OK) goto fail;
    if (t->fallback[0]) { /* auto switched to vane before the metrics file was open */
        anet_metrics_record r;
        anet_tr_fallback_record(t, &r);
        if ((st = anet_metrics_write(&t->metrics, &r)) != ANET_OK) goto fail;
    }
    if (!mem && o->tensorboard_dir && o->tensorboard_dir[0] && (st = anet_tb_open(&t->tb, o->tensorboard_dir)) != ANET_OK)
        goto fail;
    if (!mem) {
        anet_run_program rp[2] = {{"train", t->train.sp.graph}, {"eval", t->eval.sp.graph}};
        if ((st = anet_run_write_programs(t->out_dir, t->backend.ops->name, anet_chip_name(t->o.chip), (int)t->o.chip,
                                          update_name(t->o.update), anet_opt_kind_name(t->o.opt.kind), rp, 2)) != ANET_OK)
            goto fail;
    }
    t->tty = isatty(STDERR_FILENO);
    *out = t;
    return ANET_OK;
fail:
    if (have_ck) anet_ckpt_free(&ck);
    anet_trainer_free(t);
    return st;
}

anet_status anet_trainer_create(const anet_train_options *o, anet_trainer **out) { return create(o, 0, NULL, out); }
anet_status anet_trainer_create_mem(const anet_train_options *o, anet_trainer **out) {
    return create(o, 1, NULL, out);
}
anet_status anet_trainer_load_mem(const anet_train_options *o, const char *checkpoint, anet_trainer **out) {
    if (!checkpoint) return anet_fail(ANET_E_INVALID, "trainer: NULL checkpoint path");
    return create(o, 1, checkpoint, out);
}

void anet_trainer_free(anet_trainer *t) {
    if (!t) return;
    anet_step_resident_free(&t->res);
    anet_tr_prog_free(t, &t->train);
    anet_tr_prog_free(t, &t->eval);
    for (int i = 0; i < t->nstate; i++) {
        free(t->state[i].buf[0]);
        free(t->state[i].buf[1]);
    }
    free(t->state);
    for (int i = 0; t->grad32 && i < t->nparams; i++) free(t->grad32[i]);
    free(t->grad32);
    anet_optim_cpu_free(&t->opt);
    free(t->pinfo);
    if (t->backend_open) anet_backend_close(&t->backend);
    anet_batch_free(&t->batch);
    anet_batch_free(&t->test_batch);
    anet_batcher_free(&t->train_b);
    anet_batcher_free(&t->test_b);
    anet_batcher_free(&t->val_b);
    anet_batcher_free(&t->acc_b);
    anet_tb_close(&t->tb);
    anet_dataset_free(&t->ds);
    anet_metrics_close(&t->metrics);
    anet_rundir_unlock(&t->rundir_fd);
    free(t->resume_epoch_line);
    free(t);
}

const char *anet_trainer_checkpoint_path(const anet_trainer *t) { return t->ckpt_path; }
const char *anet_trainer_backend_name(const anet_trainer *t) { return t ? t->backend.ops->name : ""; }
const char *anet_trainer_backend_reason(const anet_trainer *t) { return t ? t->backend_why : ""; }
int anet_trainer_device_form(const anet_trainer *t) { return !t->forms.host_backend; }
const char *anet_trainer_dataset(const anet_trainer *t, uint32_t *ntrain, uint32_t *ntest) {
    if (ntrain) *ntrain = t->ds.train.n;
    if (ntest) *ntest = t->ds.test.n;
    return t->dataset_name;
}
const char *anet_trainer_dataset_dir(const anet_trainer *t) { return t->ds.dir; }
int anet_trainer_epochs_done(const anet_trainer *t) { return t ? t->epochs_done : 0; }
