/* The training loop. The programs are compiled once; each step only moves packed buffers
 * through the backend. Program inputs/outputs are bound by role (step.h), so the loop never
 * depends on the programs' argument order. */
#include "train/trainer.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <stddef.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fp16.h"
#include "core/rng.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/registry.h"
#include "mil/mil.h"
#include "runtime/ane_backend.h"
#include "train/checkpoint.h"
#include "train/dropout.h"
#include "train/loss.h"
#include "train/loss_scale.h"
#include "train/memplan.h"
#include "train/metrics.h"
#include "train/model.h"
#include "train/optim_cpu.h"
#include "train/progress.h"
#include "train/run_files.h"
#include "train/rundir.h"
#include "train/step_forms.h"
#include "train/tensorboard.h"
#include "runtime/ane_probe_report.h"

#define CKPT_FORMAT "ane_trainer-checkpoint-1"
/* Consts at least this large go to weight.bin (BLOBFILE); smaller ones stay inline. */
#define BLOB_MIN_ELEMENTS 64

void anet_train_options_default(anet_train_options *o) {
    memset(o, 0, sizeof *o);
    o->model = "mlp:784-128-10";
    o->epochs = 5;
    o->batch_size = 128;
    anet_opt_config_default(ANET_OPT_ADAM, &o->opt);
    o->schedule = ANET_SCHED_CONSTANT;
    o->seed = 0;
    o->backend = "auto";
    o->chip = ANET_CHIP_M4;
    o->update = ANET_UPDATE_CPU;
    o->numerics = ANET_NUMERICS_FP16;
    o->loss_scale = 32768.0f;
    o->loss_scale_growth = 1000;
}

/* A name the checkpoint gives for an option: one of the known ones, or a FORMAT error. */
static anet_status meta_name(const anet_ckpt *c, const char *path, const char *key, int bad) {
    return bad ? anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %s = \"%.40s\" is not a known value", path, key,
                           anet_ckpt_get_meta(c, key))
               : ANET_OK;
}

static anet_status meta_text(const anet_ckpt *c, const char *path, const char *key, char *buf, size_t len,
                             const char **out) {
    const char *v = anet_ckpt_get_meta(c, key);
    if (!v) return ANET_OK;
    if (strlen(v) >= len)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %s is longer than %zu characters", path, key, len - 1);
    snprintf(buf, len, "%s", v);
    *out = buf;
    return ANET_OK;
}

anet_status anet_train_options_from_ckpt(const anet_ckpt *c, const char *path, anet_train_options *o,
                                         char *model_buf, size_t model_len, char *ds_buf, size_t ds_len) {
    const char *v;
    anet_status st;
    if ((st = meta_text(c, path, "model", model_buf, model_len, &o->model)) != ANET_OK) return st;
    /* "" (in-memory arrays) is no dataset: o->dataset stays as it is. */
    const char *ds = anet_ckpt_get_meta(c, "dataset");
    if (ds && ds[0] && (st = meta_text(c, path, "dataset", ds_buf, ds_len, &o->dataset)) != ANET_OK) return st;
    if ((v = anet_ckpt_get_meta(c, "optimizer")) &&
        (st = meta_name(c, path, "optimizer", anet_opt_kind_lookup(v, &o->opt.kind) != 0)) != ANET_OK)
        return st;
    /* Hyper-parameters: finite and representable as float here; their own ranges are checked
     * by the optimizer (anet_optim_cpu_init). */
    static const struct { const char *key; size_t off; } reals[] = {
        {"lr", offsetof(anet_opt_config, lr)},
        {"momentum", offsetof(anet_opt_config, momentum)},
        {"weight_decay", offsetof(anet_opt_config, weight_decay)},
        {"beta1", offsetof(anet_opt_config, beta1)},
        {"beta2", offsetof(anet_opt_config, beta2)},
        {"eps", offsetof(anet_opt_config, eps)},
    };
    for (size_t k = 0; k < sizeof reals / sizeof reals[0]; k++) {
        float *f = (float *)(void *)((char *)&o->opt + reals[k].off);
        double d = *f;
        if ((st = anet_ckpt_meta_real(c, path, reals[k].key, 0, FLT_MAX, 0, &d)) != ANET_OK) return st;
        *f = (float)d;
    }
    uint64_t u = (uint64_t)o->batch_size;
    if ((st = anet_ckpt_meta_uint(c, path, "batch_size", 1, ANET_MAX_BATCH, 0, &u)) != ANET_OK) return st;
    o->batch_size = (int)u;
    if ((st = anet_ckpt_meta_uint(c, path, "seed", 0, UINT64_MAX, 0, &o->seed)) != ANET_OK) return st;
    if ((v = anet_ckpt_get_meta(c, "schedule")) &&
        (st = meta_name(c, path, "schedule", anet_sched_kind_lookup(v, &o->schedule) != 0)) != ANET_OK)
        return st;
    u = (uint64_t)o->warmup_steps;
    if ((st = anet_ckpt_meta_uint(c, path, "warmup_steps", 0, ANET_CKPT_MAX_COUNTER, 0, &u)) != ANET_OK) return st;
    o->warmup_steps = (int64_t)u;
    if ((v = anet_ckpt_get_meta(c, "update"))) {
        if ((st = meta_name(c, path, "update", strcmp(v, "ane") != 0 && strcmp(v, "cpu") != 0)) != ANET_OK) return st;
        o->update = strcmp(v, "ane") == 0 ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
    }
    if ((v = anet_ckpt_get_meta(c, "numerics"))) {
        if ((st = meta_name(c, path, "numerics", strcmp(v, "fp32") != 0 && strcmp(v, "fp16") != 0)) != ANET_OK)
            return st;
        o->numerics = strcmp(v, "fp32") == 0 ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16;
    }
    u = (uint64_t)o->schedule_steps;
    if ((st = anet_ckpt_meta_uint(c, path, "schedule_steps", 0, ANET_CKPT_MAX_COUNTER, 0, &u)) != ANET_OK) return st;
    o->schedule_steps = (int64_t)u;
    u = (uint64_t)o->loss_scale_growth;
    if ((st = anet_ckpt_meta_uint(c, path, "loss_scale_growth", 1, ANET_LOSS_SCALE_MAX_GROWTH, 0, &u)) != ANET_OK) return st;
    o->loss_scale_growth = (int)u;
    if ((v = anet_ckpt_get_meta(c, "chip")) &&
        (st = meta_name(c, path, "chip", anet_chip_lookup(v, &o->chip) != 0)) != ANET_OK)
        return st;
    if ((st = anet_ckpt_meta_real(c, path, "val_split", 0, 0.999999, 0, &o->val_split)) != ANET_OK) return st;
    return ANET_OK;
}

/* ---- small helpers ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float read_scalar(const void *buf, anet_dtype dt, size_t i) {
    if (dt == ANET_DT_FP16) return anet_f16_to_f32(((const anet_f16 *)buf)[i]);
    if (dt == ANET_DT_FP32) return ((const float *)buf)[i];
    if (dt == ANET_DT_INT32) return (float)((const int32_t *)buf)[i];
    return NAN;
}

static void write_scalar(void *buf, anet_dtype dt, size_t i, float v) {
    if (dt == ANET_DT_FP16) ((anet_f16 *)buf)[i] = anet_f32_to_f16(v);
    else if (dt == ANET_DT_FP32) ((float *)buf)[i] = v;
    else if (dt == ANET_DT_INT32) ((int32_t *)buf)[i] = (int32_t)v;
}

static const char *update_name(anet_update_mode u) { return u == ANET_UPDATE_ANE ? "ane" : "cpu"; }
static const char *numerics_name(anet_numerics n) { return n == ANET_NUMERICS_FP32 ? "fp32" : "fp16"; }

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

/* ---- backend and dataset choice ---- */

anet_status anet_backend_choose(const char *requested, const anet_backend_config *cfg,
                                anet_backend *out, char *why, size_t why_len) {
    if (!requested || strcmp(requested, "auto") == 0) {
        /* The probe + self-check selection (ANE_TRAINER_AUTO_CANDIDATE=ane-sim lets it try the
         * simulator, so auto's fallbacks can be exercised without an ANE). */
        char chosen[16], reason[700];
        anet_status st = anet_ane_select_auto("ane", cfg, out, chosen, sizeof chosen, reason, sizeof reason);
        if (st != ANET_OK) return st;
        snprintf(why, why_len, "auto: %s", reason);
        return ANET_OK;
    }
    anet_status st = anet_backend_open(requested, cfg, out);
    if (st != ANET_OK) return st;
    snprintf(why, why_len, "requested with --backend %s", requested);
    return ANET_OK;
}

anet_status anet_dataset_resolve(const char *dataset, const char *data_dir, anet_dataset *ds,
                                 char *chosen, size_t chosen_len) {
    if (dataset && dataset[0]) {
        /* A directory is recorded absolute, so a checkpoint's dataset is found from anywhere
         * (eval, --resume from another working directory). */
        char cwd[ANET_PATH_MAX];
        struct stat sb;
        if (!anet_registry_find(dataset) && dataset[0] != '/' && stat(dataset, &sb) == 0 && S_ISDIR(sb.st_mode) &&
            getcwd(cwd, sizeof cwd))
            snprintf(chosen, chosen_len, "%s/%s", cwd, dataset);
        else
            snprintf(chosen, chosen_len, "%s", dataset);
        return anet_dataset_open(dataset, data_dir, ds);
    }
    char dir[ANET_PATH_MAX];
    if (anet_registry_locate("mnist", data_dir, dir, NULL) == ANET_OK) {
        snprintf(chosen, chosen_len, "mnist");
        return anet_dataset_load_dir(dir, 10, ds);
    }
    if (anet_registry_locate("fashion-mnist", data_dir, dir, NULL) == ANET_OK) {
        snprintf(chosen, chosen_len, "fashion-mnist");
        return anet_dataset_load_dir(dir, 10, ds);
    }
    return anet_fail(ANET_E_NOTFOUND,
                     "no dataset given and neither mnist nor fashion-mnist was found (install the "
                     "Debian package dataset-fashion-mnist, run `ane_trainer data fetch mnist`, or "
                     "pass --dataset DIR)");
}

/* ---- programs bound by role ---- */

/* Device-side state of update=ane: two buffers per tensor; inputs read buf[cur], outputs
 * write buf[1 - cur]; a clean step flips cur (ping-pong), a skipped one keeps it. */
typedef struct state_buf {
    anet_io_role role;
    int index, slot;
    anet_dtype dtype;
    size_t count, nbytes;
    void *buf[2];
} state_buf;

typedef struct prog_rt {
    const char *name; /* "train" / "eval" */
    anet_step_program sp;
    anet_program *exe;
    anet_io *in, *out;
    anet_type *in_type, *out_type;
    void **in_own, **out_own; /* buffers the trainer allocated for this program */
    anet_step_forms form;     /* the chip's program form */
    double backend_s;         /* seconds spent inside the backend's eval */
} prog_rt;

struct anet_trainer {
    anet_train_options o;
    char out_dir[4096];
    char ckpt_path[4200];
    char metrics_path[4200];
    char dataset_name[4096];
    anet_model_spec model;
    anet_dataset ds;
    anet_batcher train_b, test_b;
    anet_batch batch, test_batch;
    anet_backend backend;
    int backend_open;
    char backend_why[1200];
    /* Chosen by `auto` (not named by the user): a failure of a backend other than vane is
     * then followed by a switch to vane (fall_back) instead of an error. */
    int auto_pick;
    char fallback[1088];          /* why auto ended on vane ("" while it has not) */
    anet_backend_stats stats_base; /* counters of the backend left behind (metrics stay cumulative) */
    anet_step_config scfg;
    anet_forms forms; /* the chip's program-form rules (ANE_TRAINER_FORMS applied) */
    prog_rt train, eval;
    int nparams;
    anet_param_info *pinfo;
    float **grad32;       /* update=cpu: unscaled fp32 gradients */
    anet_optim_cpu opt;   /* update=cpu: master weights + state; update=ane: fp32 init only */
    state_buf *state;     /* update=ane */
    int nstate, cur;
    anet_loss_scaler scaler;
    anet_schedule sched;
    anet_rng rng;
    int epochs_done;      /* complete epochs */
    int64_t step;         /* optimizer steps taken (skipped ones included) */
    double last_lr;
    double last_acc;      /* test accuracy after the last epoch (NaN before the first) */
    anet_metrics metrics;
    int tty;
    /* In-memory mode (anet_trainer_create_mem): no dataset, no output directory, no metrics
     * file; each call brings its arrays and the batchers live only for that call. */
    int mem;
    int rundir_fd;                  /* holds the run directory's lock (-1: none) */
    char *resume_epoch_line;        /* the checkpoint's own epoch metrics line (resume) */
    char *epoch_line;               /* the epoch line the next save records (run) */
    anet_batch_pos mem_pos;         /* the train batcher's position after the last epoch */
    anet_metrics_record last_epoch; /* the record of the last epoch trained (event NULL: none) */
    /* anet_trainer_request_stop: set from a signal handler or another thread, read before each
     * step (lock-free, so async-signal-safe); one per trainer, never shared. */
    atomic_int stop;
    int interrupted; /* the last run / epoch call ended early on a stop request */
    int no_shuffle;  /* in-memory epochs in the arrays' order (anet_trainer_set_shuffle) */
    /* --val-split: the last nval training samples are the validation set (val_b); acc_b walks
     * the training part in order for the training accuracy. */
    uint32_t nval;
    anet_batcher val_b, acc_b;
    double best_metric; /* --save-best: the best val_acc (test_acc) so far; NaN: none yet */
    anet_tb tb;         /* --tensorboard: the event file */
};

static void prog_free(anet_trainer *t, prog_rt *p) {
    if (p->exe && t->backend_open) t->backend.ops->release(t->backend.state, p->exe);
    for (int i = 0; p->in_own && i < p->sp.ninputs; i++) free(p->in_own[i]);
    for (int i = 0; p->out_own && i < p->sp.noutputs; i++) free(p->out_own[i]);
    free(p->in_own);
    free(p->out_own);
    free(p->in);
    free(p->out);
    free(p->in_type);
    free(p->out_type);
    anet_step_forms_free(&p->form);
    anet_step_program_free(&p->sp);
    memset(p, 0, sizeof *p);
}

static state_buf *find_state(anet_trainer *t, anet_io_role role, int index, int slot) {
    for (int i = 0; i < t->nstate; i++)
        if (t->state[i].role == role && t->state[i].index == index &&
            (role != ANET_ROLE_OPT_STATE || t->state[i].slot == slot))
            return &t->state[i];
    return NULL;
}

static int is_state_role(anet_io_role r) {
    return r == ANET_ROLE_PARAM || r == ANET_ROLE_PARAM_LO || r == ANET_ROLE_OPT_STATE;
}

static anet_status fall_back(anet_trainer *t, const char *where);
static anet_status note_fallback(anet_trainer *t, const char *why);
static void fallback_record(anet_trainer *t, anet_metrics_record *r);

int anet_auto_candidate_expected_on(int apple_arm64, const char *candidate_env) {
    return apple_arm64 || (candidate_env && strcmp(candidate_env, "ane-sim") == 0);
}

/* Under auto, vane is the expected outcome where no Neural Engine can exist (Linux, Intel
 * Macs); a candidate that should run here (Apple silicon macOS, or the simulator named by
 * ANE_TRAINER_AUTO_CANDIDATE) and did not is a fallback like one in the middle of a run. */
static int auto_candidate_expected(void) {
#if defined(__APPLE__) && (defined(__aarch64__) || defined(__arm64__))
    int apple_arm64 = 1;
#else
    int apple_arm64 = 0;
#endif
    return anet_auto_candidate_expected_on(apple_arm64, getenv("ANE_TRAINER_AUTO_CANDIDATE"));
}

/* Opens the backend for --backend `requested` and notes whether auto picked it. */
static anet_status open_backend(anet_trainer *t, const char *requested) {
    anet_backend_config bc = {t->o.chip, t->o.numerics};
    anet_forms_default(t->o.chip, &t->forms);
    anet_status st = anet_forms_env(&t->forms);
    if (st != ANET_OK) return st;
    st = anet_backend_choose(requested, &bc, &t->backend, t->backend_why, sizeof t->backend_why);
    if (st != ANET_OK) return st;
    t->backend_open = 1;
    t->forms.host_backend = strcmp(t->backend.ops->name, "vane") == 0;
    t->auto_pick = !requested || strcmp(requested, "auto") == 0;
    if (t->auto_pick && strcmp(t->backend.ops->name, "vane") != 0) {
        /* What `ane_trainer selftest` measured on this chip and OS decides the program forms. */
        char note[1400];
        if ((st = anet_probe_report_apply_auto(t->backend.ops->name, t->o.chip, &t->forms, note, sizeof note)))
            return st;
        size_t n = strlen(t->backend_why);
        if (note[0]) snprintf(t->backend_why + n, sizeof t->backend_why - n, "; %s", note);
    }
    if (t->auto_pick && strcmp(t->backend.ops->name, "vane") == 0 && auto_candidate_expected()) {
        const char *w = t->backend_why, *pfx = "auto: vane: ";
        if (strncmp(w, pfx, strlen(pfx)) == 0) w += strlen(pfx);
        char why[900];
        snprintf(why, sizeof why, "%.890s", w);
        return note_fallback(t, why);
    }
    return ANET_OK;
}

/* The backend's counters plus those of a backend left behind by a fallback. */
static void backend_stats(const anet_trainer *t, anet_backend_stats *out) {
    memset(out, 0, sizeof *out);
    if (t->backend_open && t->backend.ops->stats) t->backend.ops->stats(t->backend.state, out);
    out->compiles += t->stats_base.compiles;
    out->dispatches += t->stats_base.dispatches;
    out->bytes_in += t->stats_base.bytes_in;
    out->bytes_out += t->stats_base.bytes_out;
}

static int can_fall_back(const anet_trainer *t) {
    return t->auto_pick && t->backend_open && strcmp(t->backend.ops->name, "vane") != 0;
}

/* Emits MIL + weight image for a program and compiles it once. */
static anet_status prog_compile(anet_trainer *t, prog_rt *p) {
    uint8_t *wimg = NULL;
    size_t wlen = 0;
    char *mil = NULL;
    size_t mlen = 0;
    anet_status st = anet_weights_build(p->sp.graph, BLOB_MIN_ELEMENTS, &wimg, &wlen);
    if (st == ANET_OK) st = anet_mil_emit(p->sp.graph, &mil, &mlen);
    int backend_failed = 0;
    if (st == ANET_OK) {
        st = t->backend.ops->compile(t->backend.state, mil, mlen, wimg, wlen, &p->exe);
        backend_failed = st != ANET_OK;
    }
    free(mil);
    free(wimg);
    if (backend_failed && can_fall_back(t)) {
        char where[64];
        snprintf(where, sizeof where, "compiling the %s program", p->name);
        return fall_back(t, where); /* compiles every built program on vane, this one included */
    }
    if (st != ANET_OK) return anet_fail_ctx(st, "compiling the %s program", p->name);
    return ANET_OK;
}

static anet_status io_types(prog_rt *p) {
    const anet_graph *g = p->sp.graph;
    int ni = p->sp.ninputs, no = p->sp.noutputs;
    p->in = calloc((size_t)ni + 1, sizeof *p->in);
    p->out = calloc((size_t)no + 1, sizeof *p->out);
    p->in_type = calloc((size_t)ni + 1, sizeof *p->in_type);
    p->out_type = calloc((size_t)no + 1, sizeof *p->out_type);
    p->in_own = calloc((size_t)ni + 1, sizeof *p->in_own);
    p->out_own = calloc((size_t)no + 1, sizeof *p->out_own);
    if (!p->in || !p->out || !p->in_type || !p->out_type || !p->in_own || !p->out_own)
        return anet_fail(ANET_E_NOMEM, "%s program: out of memory", p->name);
    for (int k = 0; k < 2; k++) {
        int n = k ? no : ni;
        for (int i = 0; i < n; i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            if (d->value < 0 || d->value >= g->nvalues)
                return anet_fail(ANET_E_INTERNAL, "%s program: io %d names value %d", p->name, i, d->value);
            anet_type ty = p->form.lowered ? anet_step_forms_user_type(&p->form, k, i) : g->values[d->value].type;
            int64_t e = anet_type_elements(&ty);
            size_t es = anet_dtype_size(ty.dtype);
            if (e < 1 || es == 0)
                return anet_fail(ANET_E_INTERNAL, "%s program: io %d has no usable type", p->name, i);
            (k ? p->out_type : p->in_type)[i] = ty;
            (k ? p->out : p->in)[i].nbytes = (size_t)e * es;
        }
    }
    return ANET_OK;
}

/* Allocates the buffers that no other structure provides. */
static anet_status prog_alloc(anet_trainer *t, prog_rt *p) {
    for (int k = 0; k < 2; k++) {
        int n = k ? p->sp.noutputs : p->sp.ninputs;
        for (int i = 0; i < n; i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            anet_io *io = k ? &p->out[i] : &p->in[i];
            int external = d->role == ANET_ROLE_X || d->role == ANET_ROLE_Y_ONEHOT ||
                           (t->o.update == ANET_UPDATE_ANE && is_state_role(d->role)) ||
                           (!k && d->role == ANET_ROLE_PARAM);
            if (external) continue;
            void **own = k ? &p->out_own[i] : &p->in_own[i];
            *own = calloc(1, io->nbytes);
            if (!*own) return anet_fail(ANET_E_NOMEM, "%s program: out of memory", p->name);
            io->data = *own;
        }
    }
    return ANET_OK;
}

/* Checks that a role's buffer has the size the trainer expects. */
static anet_status expect_count(const prog_rt *p, int is_out, int i, size_t count) {
    const anet_type *ty = is_out ? &p->out_type[i] : &p->in_type[i];
    int64_t e = anet_type_elements(ty);
    if ((size_t)e != count)
        return anet_fail(ANET_E_INTERNAL, "%s program: %s %d has %lld elements, expected %zu", p->name,
                         is_out ? "output" : "input", i, (long long)e, count);
    return ANET_OK;
}

static anet_status check_prog_shapes(anet_trainer *t, const prog_rt *p) {
    size_t B = (size_t)t->o.batch_size;
    for (int k = 0; k < 2; k++) {
        int n = k ? p->sp.noutputs : p->sp.ninputs;
        for (int i = 0; i < n; i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            const anet_type *ty = k ? &p->out_type[i] : &p->in_type[i];
            anet_status st = ANET_OK;
            switch (d->role) {
            case ANET_ROLE_X:
                st = expect_count(p, k, i, (size_t)t->model.dims[0] * B);
                if (st == ANET_OK && ty->dtype != ANET_DT_FP16)
                    st = anet_fail(ANET_E_UNSUPPORTED, "%s program: X must be fp16", p->name);
                break;
            case ANET_ROLE_Y_ONEHOT:
                st = expect_count(p, k, i, (size_t)t->model.dims[t->model.nlayers] * B);
                if (st == ANET_OK && ty->dtype != ANET_DT_FP16)
                    st = anet_fail(ANET_E_UNSUPPORTED, "%s program: Y must be fp16", p->name);
                break;
            case ANET_ROLE_PARAM:
            case ANET_ROLE_PARAM_LO:
            case ANET_ROLE_OPT_STATE:
            case ANET_ROLE_GRAD:
                if (d->index < 0 || d->index >= t->nparams)
                    return anet_fail(ANET_E_INTERNAL, "%s program: parameter index %d", p->name, d->index);
                st = expect_count(p, k, i, (size_t)t->pinfo[d->index].rows * (size_t)t->pinfo[d->index].cols);
                if (st == ANET_OK && ty->dtype != ANET_DT_FP16 && ty->dtype != ANET_DT_FP32)
                    st = anet_fail(ANET_E_UNSUPPORTED, "%s program: parameter tensors must be fp16/fp32", p->name);
                break;
            case ANET_ROLE_LOGITS:
                st = expect_count(p, k, i, (size_t)t->model.dims[t->model.nlayers] * B);
                break;
            default: break;
            }
            if (st != ANET_OK) return st;
        }
    }
    return ANET_OK;
}

/* The per-step scalars (layout and formulas: anet_step_hyper in step.c). */
static void fill_hyper(anet_trainer *t, const anet_type *ty, void *buf, float lr, int nvalid) {
    int64_t n = anet_type_elements(ty);
    float h[ANET_HYPER_SLOTS];
    anet_step_hyper(&t->scfg, t->opt.t + 1, lr, t->scaler.scale, nvalid, h);
    for (int64_t i = 0; i < n; i++) write_scalar(buf, ty->dtype, (size_t)i, i < ANET_HYPER_SLOTS ? h[i] : 0.0f);
}

/* Points every input at its current buffer (state buffers move with the ping-pong). */
static void bind(anet_trainer *t, prog_rt *p, anet_batch *b, float lr) {
    for (int i = 0; i < p->sp.ninputs; i++) {
        const anet_io_desc *d = &p->sp.inputs[i];
        anet_io *io = &p->in[i];
        switch (d->role) {
        case ANET_ROLE_X: io->data = b->x; break;
        case ANET_ROLE_Y_ONEHOT: io->data = b->y_onehot; break;
        case ANET_ROLE_PARAM:
        case ANET_ROLE_PARAM_LO:
        case ANET_ROLE_OPT_STATE:
            if (t->o.update == ANET_UPDATE_ANE) {
                state_buf *s = find_state(t, d->role, d->index, d->slot);
                io->data = s ? s->buf[t->cur] : NULL;
            } else if (d->role == ANET_ROLE_PARAM) {
                io->data = p->in_type[i].dtype == ANET_DT_FP32 ? (void *)t->opt.w[d->index]
                                                               : (void *)t->opt.w16[d->index];
            }
            break;
        case ANET_ROLE_HYPER: fill_hyper(t, &p->in_type[i], io->data, lr, (int)b->count); break;
        case ANET_ROLE_MASK:
            anet_dropout_mask(t->o.seed, t->step + 1, d->index, t->model.layers[d->index].alpha, io->data,
                              (size_t)anet_type_elements(&p->in_type[i]));
            break;
        default: break;
        }
    }
    for (int i = 0; i < p->sp.noutputs && t->o.update == ANET_UPDATE_ANE; i++) {
        const anet_io_desc *d = &p->sp.outputs[i];
        if (!is_state_role(d->role)) continue;
        state_buf *s = find_state(t, d->role, d->index, d->slot);
        p->out[i].data = s ? s->buf[1 - t->cur] : NULL;
    }
}

/* One evaluation on the current backend, through the program's form when it was lowered. */
static anet_status prog_run(anet_trainer *t, prog_rt *p) {
    const anet_io *in = p->in;
    anet_io *out = p->out;
    int ni = p->sp.ninputs, no = p->sp.noutputs;
    if (p->form.lowered) {
        anet_step_forms_pack(&p->form, p->in);
        in = p->form.din;
        out = p->form.dout;
        ni = p->form.map.ndev_in;
    }
    double t0 = now_s();
    anet_status st = t->backend.ops->eval(t->backend.state, p->exe, in, ni, out, no);
    p->backend_s += now_s() - t0; /* the rest of a step is host work (host_us_per_step) */
    if (st == ANET_OK && p->form.lowered) anet_step_forms_unpack(&p->form, p->out);
    return st;
}

/* The programs of the ANE backends take their chip's form (plan/forms.h); vane runs them as
 * built (and runs the lowered ones too after a fallback). */
static int wants_forms(const anet_trainer *t) { (void)t; return 1; }

/* The step configuration for the chip's form: padded sizes when the programs are lowered. */
static void step_config(anet_trainer *t, const anet_model_spec *m, int batch, anet_update_mode update) {
    memset(&t->scfg, 0, sizeof t->scfg);
    t->scfg.model = *m;
    t->scfg.batch = batch;
    t->scfg.opt = t->o.opt;
    t->scfg.update = update;
    t->scfg.dialect = ANET_MIL_IOS18;
    if (wants_forms(t)) anet_step_forms_config(&t->forms, &t->scfg);
}

static anet_status prog_lower(anet_trainer *t, prog_rt *p, const anet_model_spec *m, int batch) {
    if (!wants_forms(t)) return ANET_OK;
    anet_status st = anet_step_forms_lower(&p->form, &p->sp, &t->forms, m, batch);
    /* A form that still breaks a rule would fail (or compute wrong) on the device: refused on
     * the ANE backends; vane runs any form. */
    if (st == ANET_OK && strncmp(t->backend.ops->name, "ane", 3) == 0)
        st = anet_step_forms_require(&p->form, &t->forms, p->name);
    return st;
}

static anet_status prog_eval(anet_trainer *t, prog_rt *p) {
    for (int i = 0; i < p->sp.ninputs; i++)
        if (!p->in[i].data)
            return anet_fail(ANET_E_INTERNAL, "%s program: input %d (role %d) is not bound", p->name, i,
                             (int)p->sp.inputs[i].role);
    for (int i = 0; i < p->sp.noutputs; i++)
        if (!p->out[i].data)
            return anet_fail(ANET_E_INTERNAL, "%s program: output %d (role %d) is not bound", p->name, i,
                             (int)p->sp.outputs[i].role);
    anet_status st = prog_run(t, p);
    if (st != ANET_OK) st = anet_fail_ctx(st, "running the %s program", p->name);
    if (st != ANET_OK && can_fall_back(t)) {
        /* The inputs are host buffers a failed run does not touch (outputs are rewritten), so
         * the same call on vane is exactly the step that failed. */
        char where[96];
        if (p == &t->train) snprintf(where, sizeof where, "at step %lld", (long long)t->step + 1);
        else snprintf(where, sizeof where, "in the evaluation after step %lld", (long long)t->step);
        if ((st = fall_back(t, where)) != ANET_OK) return st;
        st = prog_run(t, p);
        if (st != ANET_OK) return anet_fail_ctx(st, "running the %s program on vane", p->name);
    }
    return st;
}

static int find_out(const prog_rt *p, anet_io_role role) {
    for (int i = 0; i < p->sp.noutputs; i++)
        if (p->sp.outputs[i].role == role) return i;
    return -1;
}

/* ---- state creation and restoration ---- */

static anet_status init_state(anet_trainer *t) {
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
        if (!is_state_role(d->role) || find_state(t, d->role, d->index, d->slot)) continue;
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

static const char *state_prefix(const state_buf *s) {
    if (s->role == ANET_ROLE_PARAM) return "ane.hi";
    if (s->role == ANET_ROLE_PARAM_LO) return "ane.lo";
    return s->slot == 0 ? "ane.m" : s->slot == 1 ? "ane.v" : "ane.s";
}

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

/* What a checkpoint restores besides tensors, parsed and checked by ckpt_check. */
typedef struct ckpt_vals {
    uint64_t step, epoch, de, di, clean, skipped, ot;
    double scale;
    unsigned long long s4[4];
} ckpt_vals;

/* Everything about a checkpoint that needs no built programs or state: the model and its
 * weights, the metadata (ranges, this run's update mode, optimizer and batch size, the data
 * position), the optimizer state's shapes. Runs before the programs are built, so a checkpoint
 * that cannot be resumed costs nothing (no model init, no compile). Changes nothing. */
static anet_status ckpt_check(anet_trainer *t, const anet_ckpt *c, const char *path, ckpt_vals *r) {
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

/* Applies a checkpoint ckpt_check accepted, once the state exists. The device state
 * (update=ane) is checked first, so a failure still leaves the trainer as it was. */
static anet_status ckpt_apply(anet_trainer *t, const anet_ckpt *c, const char *path, const ckpt_vals *r) {
    anet_status st = ANET_OK;
    for (int i = 0; st == ANET_OK && i < t->nstate; i++) {
        state_buf *s = &t->state[i];
        char name[64];
        snprintf(name, sizeof name, "%s.%s", state_prefix(s), t->pinfo[s->index].name);
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
        snprintf(name, sizeof name, "%s.%s", state_prefix(s), t->pinfo[s->index].name);
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
    return ANET_OK;
}

/* Validates the whole checkpoint first and only then changes the trainer, so a failed restore
 * (another model, a missing tensor) leaves the trainer as it was. */
static anet_status restore(anet_trainer *t, const char *path) {
    anet_ckpt c;
    anet_status st = anet_ckpt_read(path, &c);
    if (st != ANET_OK) return st;
    ckpt_vals r;
    st = ckpt_check(t, &c, path, &r);
    if (st == ANET_OK) st = ckpt_apply(t, &c, path, &r);
    anet_ckpt_free(&c);
    return st;
}

anet_status anet_trainer_restore(anet_trainer *t, const char *path) {
    if (!t || !path) return anet_fail(ANET_E_INVALID, "restore: NULL trainer or path");
    return restore(t, path);
}

anet_status anet_trainer_save(anet_trainer *t, const char *path) {
    if (!t || !path || !path[0]) return anet_fail(ANET_E_INVALID, "save: NULL trainer or empty path");
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
            state_buf *hi = find_state(t, ANET_ROLE_PARAM, i, 0), *lo = find_state(t, ANET_ROLE_PARAM_LO, i, 0);
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
        snprintf(ct->name, sizeof ct->name, "%s.%s", state_prefix(s), t->pinfo[s->index].name);
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

/* ---- creation ---- */

static anet_status build_programs(anet_trainer *t) {
    anet_status st;
    t->train.name = "train";
    t->eval.name = "eval";
    st = anet_step_build_train(&t->scfg, &t->train.sp);
    if (st != ANET_OK) return anet_fail_ctx(st, "building the training step");
    st = anet_step_build_eval(&t->scfg, &t->eval.sp);
    if (st != ANET_OK) return anet_fail_ctx(st, "building the evaluation program");
    prog_rt *ps[2] = {&t->train, &t->eval};
    for (int k = 0; k < 2; k++) {
        if ((st = prog_lower(t, ps[k], &t->model, t->o.batch_size)) != ANET_OK) return st;
        if ((st = io_types(ps[k])) != ANET_OK) return st;
        if ((st = check_prog_shapes(t, ps[k])) != ANET_OK) return st;
        if ((st = prog_alloc(t, ps[k])) != ANET_OK) return st;
    }
    /* Compiled after both are built: a fallback during a compile recompiles both on vane. */
    for (int k = 0; k < 2; k++)
        if (!ps[k]->exe && (st = prog_compile(t, ps[k])) != ANET_OK) return st;
    if (find_out(&t->eval, ANET_ROLE_LOGITS) < 0 && find_out(&t->eval, ANET_ROLE_CORRECT) < 0)
        return anet_fail(ANET_E_INTERNAL, "eval program has neither LOGITS nor CORRECT");
    if (find_out(&t->train, ANET_ROLE_LOSS) < 0)
        return anet_fail(ANET_E_INTERNAL, "train program has no LOSS output");
    return ANET_OK;
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
        if ((st = ckpt_check(t, &ck, resume, &cv)) != ANET_OK) goto fail;
    }
    if ((st = open_backend(t, o->backend)) != ANET_OK) goto fail;
    /* A library caller's strings need not outlive this call: keep none of them. */
    if (mem) {
        t->o.model = t->model.text;
        t->o.backend = NULL;
    }

    step_config(t, &t->model, o->batch_size, o->update);
    if ((st = build_programs(t)) != ANET_OK) goto fail;

    anet_rng_seed(&t->rng, o->seed);
    t->last_acc = NAN;
    t->best_metric = NAN;
    if ((st = init_state(t)) != ANET_OK) goto fail;
    if (have_ck) {
        if ((st = ckpt_apply(t, &ck, resume, &cv)) != ANET_OK) goto fail;
        const char *line = anet_ckpt_get_meta(&ck, "metrics_epoch");
        if (!mem && line && line[0] && !(t->resume_epoch_line = strdup(line))) {
            st = anet_fail(ANET_E_NOMEM, "out of memory");
            goto fail;
        }
        anet_ckpt_free(&ck);
        have_ck = 0;
    }
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
        fallback_record(t, &r);
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
    prog_free(t, &t->train);
    prog_free(t, &t->eval);
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
const char *anet_trainer_dataset(const anet_trainer *t, uint32_t *ntrain, uint32_t *ntest) {
    if (ntrain) *ntrain = t->ds.train.n;
    if (ntest) *ntest = t->ds.test.n;
    return t->dataset_name;
}
const char *anet_trainer_dataset_dir(const anet_trainer *t) { return t->ds.dir; }
int anet_trainer_epochs_done(const anet_trainer *t) { return t ? t->epochs_done : 0; }

/* ---- evaluation ---- */

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
static anet_status eval_loop(anet_trainer *t, anet_batcher *b, anet_batch *batch, uint32_t *correct_out,
                             uint32_t *seen_out, double *loss_sum, float *logits_out) {
    anet_batch_pos start = {0, 0};
    anet_status st = anet_batcher_seek(b, start);
    if (st != ANET_OK) return st;
    uint32_t nb = anet_batcher_batches_per_epoch(b), correct = 0, seen = 0;
    int lo = find_out(&t->eval, ANET_ROLE_LOGITS), co = find_out(&t->eval, ANET_ROLE_CORRECT);
    int K = t->model.dims[t->model.nlayers];
    if ((loss_sum || logits_out) && lo < 0)
        return anet_fail(ANET_E_UNSUPPORTED, "the eval program has no logits output");
    if (loss_sum) *loss_sum = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if ((st = anet_batcher_next(b, batch)) != ANET_OK) return st;
        bind(t, &t->eval, batch, 0.0f);
        if ((st = prog_eval(t, &t->eval)) != ANET_OK) return st;
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
    anet_status st = eval_loop(t, &t->test_b, &t->test_batch, &correct, &seen, NULL, NULL);
    if (st != ANET_OK) return st;
    *accuracy = seen ? (double)correct / (double)seen : 0.0;
    return ANET_OK;
}

/* ---- the loop ---- */

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

static anet_status train_step(anet_trainer *t, float *loss_out, int *applied) {
    anet_status st = anet_batcher_next(&t->train_b, &t->batch);
    if (st != ANET_OK) return st;
    float lr = (float)anet_schedule_lr(&t->sched, t->step);
    t->last_lr = lr;
    prog_rt *p = &t->train;
    bind(t, p, &t->batch, lr);
    if ((st = prog_eval(t, p)) != ANET_OK) return st;
    int li = find_out(p, ANET_ROLE_LOSS), fi = find_out(p, ANET_ROLE_FINITE);
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
        if (*applied) {
            t->cur = 1 - t->cur;
            t->opt.t++; /* device-side update count: drives the bias-correction hyper inputs */
        }
    }
    t->step++;
    *loss_out = loss;
    return ANET_OK;
}

static void fill_record(anet_trainer *t, anet_metrics_record *r, const char *event, int epoch) {
    anet_backend_stats bs;
    backend_stats(t, &bs);
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

/* The "fallback" metrics line: the counters at the switch, no per-epoch figures (null). */
static void fallback_record(anet_trainer *t, anet_metrics_record *r) {
    fill_record(t, r, "fallback", t->epochs_done + 1);
    r->train_loss = r->epoch_seconds = r->samples_per_s = NAN;
    r->dispatches_per_step = r->bytes_per_step = r->host_us_per_step = NAN;
}

/* Records that auto ended on vane: one warning line on stderr (also with --quiet: it is not
 * progress) and a "fallback" metrics line (written later by create when metrics are not open
 * yet); every later metrics line carries the reason too. */
static anet_status note_fallback(anet_trainer *t, const char *why) {
    snprintf(t->fallback, sizeof t->fallback, "%.1000s", why);
    snprintf(t->backend_why, sizeof t->backend_why, "auto: continuing on vane: %.1000s", why);
    fprintf(stderr, "ane_trainer: warning: %s; continuing on vane\n", why);
    anet_metrics_record r;
    fallback_record(t, &r);
    return anet_metrics_write(&t->metrics, &r);
}

/* auto's backend failed `where` (compile, load or eval; its message is the current error):
 * continue on vane with the same chip and numerics, the built programs compiled there once.
 * Nothing of the training state lives in the failed backend: the fp32 master weights
 * (update=cpu) and update=ane's ping-pong buffers are host memory, and a failed run writes
 * only outputs, so the caller retries the failed call with identical inputs. */
static anet_status fall_back(anet_trainer *t, const char *where) {
    char msg[700], why[900];
    snprintf(msg, sizeof msg, "%s", anet_last_error());
    const char *from = t->backend.ops->name;
    anet_backend_config bc = {t->o.chip, t->o.numerics};
    anet_backend v;
    anet_status st = anet_backend_open("vane", &bc, &v);
    if (st != ANET_OK) {
        char verr[300];
        snprintf(verr, sizeof verr, "%s", anet_last_error());
        return anet_fail(st, "%s failed %s (%s), and vane did not open to continue on: %s", from, where, msg, verr);
    }
    snprintf(why, sizeof why, "%s failed %s (%s)", from, where, msg);
    anet_backend_stats old;
    backend_stats(t, &old);
    prog_rt *ps[2] = {&t->train, &t->eval};
    for (int k = 0; k < 2; k++)
        if (ps[k]->exe) {
            t->backend.ops->release(t->backend.state, ps[k]->exe);
            ps[k]->exe = NULL;
        }
    anet_backend_close(&t->backend);
    t->backend = v;
    t->stats_base = old;
    /* Only programs that were built (anet_eval_checkpoint builds no train program). */
    for (int k = 0; k < 2; k++)
        if (ps[k]->sp.graph && (st = prog_compile(t, ps[k])) != ANET_OK)
            return anet_fail_ctx(st, "continuing on vane after %s", why);
    return note_fallback(t, why);
}

/* Trains the remaining batches of epoch `epoch` (1-based) from t->train_b and fills r with the
 * epoch's record (test_acc NaN). *stopped = 1 when --max-steps ended it early. */
static anet_status run_epoch(anet_trainer *t, int epoch, anet_metrics_record *r, int *stopped) {
    anet_status st = ANET_OK;
    uint32_t nb = anet_batcher_batches_per_epoch(&t->train_b);
    *stopped = 0;
    anet_backend_stats s0, s1;
    backend_stats(t, &s0);
    double t0 = now_s(), loss_sum = 0, backend0 = t->train.backend_s;
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
            fill_record(t, &sr, "step", epoch);
            sr.train_loss = loss;
            /* Figures a single step does not measure are null, not 0. */
            sr.epoch_seconds = sr.samples_per_s = sr.dispatches_per_step = sr.bytes_per_step = sr.host_us_per_step = NAN;
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
    backend_stats(t, &s1);
    int64_t steps = t->step - steps0;
    fill_record(t, r, "epoch", epoch);
    r->train_loss = nloss ? loss_sum / nloss : NAN;
    r->epoch_seconds = secs;
    r->samples_per_s = secs > 0 ? (double)steps * t->o.batch_size / secs : 0;
    r->dispatches_per_step = steps ? (double)(s1.dispatches - s0.dispatches) / (double)steps : 0;
    r->bytes_per_step =
        steps ? (double)((s1.bytes_in - s0.bytes_in) + (s1.bytes_out - s0.bytes_out)) / (double)steps : 0;
    /* Host work per step: the epoch's training time outside the backend's eval (batching,
     * packing into the program's form, the CPU optimizer, progress). */
    double host = secs - (t->train.backend_s - backend0);
    r->host_us_per_step = steps ? (host > 0 ? host : 0) * 1e6 / (double)steps : 0;
    return ANET_OK;
}

/* The end-of-epoch evaluations: test accuracy (its labels and predictions to eval.json for
 * `report`), accuracy on the training samples, and the validation split's accuracy and loss. */
static anet_status evaluate_epoch(anet_trainer *t, int epoch, anet_metrics_record *r) {
    uint32_t correct = 0, seen = 0, n = t->ds.test.n;
    int K = t->model.dims[t->model.nlayers];
    int have_logits = find_out(&t->eval, ANET_ROLE_LOGITS) >= 0;
    float *logits = have_logits ? malloc((size_t)n * (size_t)K * sizeof *logits) : NULL;
    if (have_logits && !logits) return anet_fail(ANET_E_NOMEM, "out of memory for %u x %d test logits", n, K);
    anet_status st = eval_loop(t, &t->test_b, &t->test_batch, &correct, &seen, NULL, logits);
    if (st == ANET_OK) r->test_acc = seen ? (double)correct / (double)seen : 0.0;
    if (st == ANET_OK && logits)
        st = anet_run_write_eval(t->out_dir, epoch, t->step, K, n, t->ds.test.labels, logits, t->ds.test.images,
                                 t->ds.rows, t->ds.cols);
    free(logits);
    if (st == ANET_OK && t->o.train_acc) st = eval_loop(t, &t->acc_b, &t->test_batch, &correct, &seen, NULL, NULL);
    if (st == ANET_OK && t->o.train_acc) r->train_acc = seen ? (double)correct / (double)seen : 0.0;
    if (st == ANET_OK && t->nval) {
        double lsum = 0;
        st = eval_loop(t, &t->val_b, &t->test_batch, &correct, &seen, have_logits ? &lsum : NULL, NULL);
        if (st == ANET_OK) {
            r->val_acc = seen ? (double)correct / (double)seen : 0.0;
            r->val_loss = have_logits && seen ? lsum / (double)seen : NAN;
        }
    }
    return st;
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
        if ((st = run_epoch(t, epoch, &r, &stopped)) != ANET_OK) return st;
        /* A stop request: the state after the last whole step, mid-epoch position included,
         * goes to the checkpoint (a --resume continues the epoch from there). */
        if (stopped) return t->interrupted ? anet_trainer_save(t, t->ckpt_path) : ANET_OK;
        double acc;
        if ((st = evaluate_epoch(t, epoch, &r)) != ANET_OK) return st;
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

/* ---- in-memory data (the C API) ---- */

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
        st = run_epoch(t, t->epochs_done + 1, &r, &stopped);
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
    if (st == ANET_OK) st = eval_loop(t, &b, &batch, &correct, &seen, loss ? &lsum : NULL, logits);
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
    fill_record((anet_trainer *)t, r, "state", t->epochs_done);
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
    state_buf *hi = find_state((anet_trainer *)t, ANET_ROLE_PARAM, i, 0);
    state_buf *lo = find_state((anet_trainer *)t, ANET_ROLE_PARAM_LO, i, 0);
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
    return ANET_OK;
}

/* ---- eval of a checkpoint ---- */

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
    if (st == ANET_OK) st = open_backend(t, o->backend);
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
        step_config(t, &m, batch, ANET_UPDATE_CPU);
        t->eval.name = "eval";
        st = anet_step_build_eval(&t->scfg, &t->eval.sp);
        if (st == ANET_OK) st = prog_lower(t, &t->eval, &m, batch);
        if (st == ANET_OK) st = io_types(&t->eval);
        if (st == ANET_OK) st = check_prog_shapes(t, &t->eval);
        if (st == ANET_OK) st = prog_alloc(t, &t->eval);
        if (st == ANET_OK) st = prog_compile(t, &t->eval);
        if (st == ANET_OK && find_out(&t->eval, ANET_ROLE_LOGITS) < 0 && find_out(&t->eval, ANET_ROLE_CORRECT) < 0)
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
