/* Private to the trainer's files (src/train/): the anet_trainer struct, its program runtime and
 * state buffers, and the functions one trainer file calls in another. Not an API. */
#ifndef ANET_TRAIN_TRAINER_INTERNAL_H
#define ANET_TRAIN_TRAINER_INTERNAL_H

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/fp16.h"
#include "core/rng.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "train/checkpoint.h"
#include "train/loss_scale.h"
#include "train/metrics.h"
#include "train/optim_cpu.h"
#include "train/step_forms.h"
#include "train/step_resident.h"
#include "train/tensorboard.h"
#include "train/trainer.h"

#define CKPT_FORMAT "ane_trainer-checkpoint-1"

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
    double backend_s;         /* CPU seconds of this thread inside the backend's evaluation */
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
     * then followed by a switch to vane (anet_tr_fall_back) instead of an error. */
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
    /* update=ane: the state lives in the train program's ping-pong surfaces (t->res, where it
     * can); state[].buf[cur] is a host copy, current when state_host_ok. */
    anet_step_resident res;
    int state_host_ok;
    uint64_t state_bytes;      /* state bytes copied to/from the backend inside steps */
    uint64_t state_bytes_step; /* per step on the copy path */
    uint64_t batch_bytes;      /* bytes of the batch's features copied after packing (place_x) */
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

/* What a checkpoint restores besides tensors, parsed and checked by anet_tr_ckpt_check. */
typedef struct ckpt_vals {
    uint64_t step, epoch, de, di, clean, skipped, ot;
    double scale;
    unsigned long long s4[4];
} ckpt_vals;

/* ---- small helpers ---- */

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the calling thread: host work measured so is not inflated by other processes
 * sharing the machine (host_us_per_step). */
static inline double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline float read_scalar(const void *buf, anet_dtype dt, size_t i) {
    if (dt == ANET_DT_FP16) return anet_f16_to_f32(((const anet_f16 *)buf)[i]);
    if (dt == ANET_DT_FP32) return ((const float *)buf)[i];
    if (dt == ANET_DT_INT32) return (float)((const int32_t *)buf)[i];
    return NAN;
}

static inline void write_scalar(void *buf, anet_dtype dt, size_t i, float v) {
    if (dt == ANET_DT_FP16) ((anet_f16 *)buf)[i] = anet_f32_to_f16(v);
    else if (dt == ANET_DT_FP32) ((float *)buf)[i] = v;
    else if (dt == ANET_DT_INT32) ((int32_t *)buf)[i] = (int32_t)v;
}

static inline const char *update_name(anet_update_mode u) { return u == ANET_UPDATE_ANE ? "ane" : "cpu"; }
static inline const char *numerics_name(anet_numerics n) { return n == ANET_NUMERICS_FP32 ? "fp32" : "fp16"; }

static inline int is_state_role(anet_io_role r) {
    return r == ANET_ROLE_PARAM || r == ANET_ROLE_PARAM_LO || r == ANET_ROLE_OPT_STATE;
}

/* ---- between the trainer's files ---- */

/* programs.c: the program runtime */
void anet_tr_prog_free(anet_trainer *t, prog_rt *p);
state_buf *anet_tr_find_state(anet_trainer *t, anet_io_role role, int index, int slot);
anet_status anet_tr_prog_compile(anet_trainer *t, prog_rt *p);
anet_status anet_tr_io_types(prog_rt *p);
anet_status anet_tr_prog_alloc(anet_trainer *t, prog_rt *p);
anet_status anet_tr_check_prog_shapes(anet_trainer *t, const prog_rt *p);
void anet_tr_bind(anet_trainer *t, prog_rt *p, anet_batch *b, float lr);
void anet_tr_step_config(anet_trainer *t, const anet_model_spec *m, int batch, anet_update_mode update);
anet_status anet_tr_prog_lower(anet_trainer *t, prog_rt *p, const anet_model_spec *m, int batch);
anet_status anet_tr_prog_eval(anet_trainer *t, prog_rt *p);
int anet_tr_find_out(const prog_rt *p, anet_io_role role);
anet_status anet_tr_build_programs(anet_trainer *t);

/* backend_choice.c: the backend and auto's fallback to vane */
anet_status anet_tr_open_backend(anet_trainer *t, const char *requested);
void anet_tr_backend_stats(const anet_trainer *t, anet_backend_stats *out);
int anet_tr_can_fall_back(const anet_trainer *t);
anet_status anet_tr_fall_back(anet_trainer *t, const char *where);
void anet_tr_fallback_record(anet_trainer *t, anet_metrics_record *r);

/* train_state.c, resume.c: state and checkpoints */
anet_status anet_tr_init_state(anet_trainer *t);
anet_status anet_tr_state_setup(anet_trainer *t);
anet_status anet_tr_state_pull(anet_trainer *t); /* the host copy from the backend, if older */
anet_status anet_tr_state_push(anet_trainer *t); /* the host copy into the backend */
const char *anet_tr_state_prefix(const state_buf *s);
anet_status anet_tr_ckpt_check(anet_trainer *t, const anet_ckpt *c, const char *path, ckpt_vals *r);
anet_status anet_tr_ckpt_apply(anet_trainer *t, const anet_ckpt *c, const char *path, const ckpt_vals *r);

/* loop.c, evaluate.c */
void anet_tr_fill_record(anet_trainer *t, anet_metrics_record *r, const char *event, int epoch);
anet_status anet_tr_run_epoch(anet_trainer *t, int epoch, anet_metrics_record *r, int *stopped);
anet_status anet_tr_eval_loop(anet_trainer *t, anet_batcher *b, anet_batch *batch, uint32_t *correct_out,
                              uint32_t *seen_out, double *loss_sum, float *logits_out);
anet_status anet_tr_evaluate_epoch(anet_trainer *t, int epoch, anet_metrics_record *r);

#endif
