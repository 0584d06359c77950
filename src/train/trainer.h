/* The training loop: dataset -> shuffled batches in ANE layout -> step programs on a backend
 * -> (update=cpu) CPU optimizer / (update=ane) ping-pong device state -> loss scaling ->
 * per-epoch evaluation, metrics and an atomic checkpoint. Every piece of state lives in the
 * anet_trainer struct, so two trainers in a process never interfere. */
#ifndef ANET_TRAIN_TRAINER_H
#define ANET_TRAIN_TRAINER_H

#include <stdint.h>

#include "ane_trainer.h"
#include "runtime/backend.h"
#include "train/metrics.h"
#include "train/model.h"
#include "train/schedule.h"
#include "train/step.h"

typedef struct anet_train_options {
    const char *dataset;      /* name or directory; NULL: mnist if found, else fashion-mnist */
    const char *data_dir;     /* --data: where to look first */
    const char *model;        /* "mlp:784-128-10" */
    int epochs;               /* train until this many epochs are complete (resume included) */
    int batch_size;
    anet_opt_config opt;
    anet_sched_kind schedule;
    int64_t warmup_steps;
    int64_t schedule_steps;   /* T, the horizon of cosine schedules. 0: epochs x batches per epoch
                               * of the first run; a checkpoint stores T and a resume keeps it
                               * (the C API's in-memory trainers derive it per epoch unless set). */
    uint64_t seed;
    const char *backend;      /* "auto", "vane", "ane", "ane-sim" */
    anet_chip chip;
    anet_update_mode update;
    anet_numerics numerics;
    int device_form;          /* 1: vane too runs the chip's device form (the programs a Neural Engine
                               * gets, the same bits as ane-sim); 0: vane runs the plain form
                               * (the model's own sizes: faster on a CPU). Device backends always
                               * run the device form; transformers take it on every backend. */
    const char *out_dir;      /* checkpoints (and metrics by default) go here; created if needed */
    const char *resume;       /* checkpoint to continue from, or NULL */
    const char *metrics_path; /* NULL: <out_dir>/metrics.jsonl */
    int quiet;                /* no progress on stderr */
    float loss_scale;         /* initial dynamic loss scale (default 2^15) */
    int loss_scale_growth;    /* clean steps before the scale doubles (default 1000) */
    int log_steps;            /* write a "step" metrics line every N steps (0: never) */
    int64_t max_steps;        /* stop (without a checkpoint) after this many steps in total; 0: off.
                               * For tests of interrupted runs. */
    uint64_t max_memory;      /* memory budget in bytes of the plan (train/memplan.h); 0: half of
                               * the physical memory */
    double val_split;         /* hold out this fraction (the last samples) of the train split for
                               * validation (val_acc, val_loss); 0: none */
    int save_best;            /* keep <out_dir>/best.safetensors: the epoch with the best val_acc
                               * (test_acc without a validation split) */
    const char *tensorboard_dir; /* TensorBoard event file (scalars) here too; NULL: none */
    int train_acc;            /* measure the accuracy on the training samples after each epoch (a
                               * forward pass over them: opt-in) */
} anet_train_options;

void anet_train_options_default(anet_train_options *o);

/* Takes the training options a checkpoint records (model, dataset, optimizer and its
 * constants, batch size, seed, schedule, warmup, loss-scale growth, update, numerics, chip, program form) into o; the model and
 * dataset strings are copied to model_buf / ds_buf. Options the checkpoint lacks stay as they
 * are. (--resume: "options not given are taken from it".) A value that is malformed, out of
 * range or unknown is ANET_E_FORMAT naming the key (path names the file); o may then be
 * partly changed. */
struct anet_ckpt;
anet_status anet_train_options_from_ckpt(const struct anet_ckpt *c, const char *path, anet_train_options *o,
                                         char *model_buf, size_t model_len, char *ds_buf, size_t ds_len);

/* The trainer handle; public (opaque) in ane_trainer.h. */
typedef struct anet_trainer anet_trainer;

/* Loads the dataset, checks it against the model, opens the backend, builds and compiles the
 * programs (once), initialises or restores (resume) every piece of state. */
anet_status anet_trainer_create(const anet_train_options *o, anet_trainer **out);
/* Trains until o->epochs epochs are complete, writing metrics and a checkpoint per epoch. */
anet_status anet_trainer_run(anet_trainer *t);
/* Accuracy on the test split with the eval program and the current weights. */
anet_status anet_trainer_evaluate_test(anet_trainer *t, double *accuracy);
/* anet_trainer_save (the full training state, atomically) and anet_trainer_restore (the same
 * checks as --resume; validated completely before anything changes) are in ane_trainer.h. */
/* Where the per-epoch checkpoint goes ("<out_dir>/checkpoint.safetensors"). */
const char *anet_trainer_checkpoint_path(const anet_trainer *t);
/* The dataset in use (name or directory) and its split sizes. */
const char *anet_trainer_dataset(const anet_trainer *t, uint32_t *ntrain, uint32_t *ntest);
/* The directory the dataset was read from (a name given with --data DIR may resolve to DIR
 * itself: printing it shows which files were used). */
const char *anet_trainer_dataset_dir(const anet_trainer *t);
/* 1 if the backend runs the chip's device form, 0 for the plain form (vane's default). */
int anet_trainer_device_form(const anet_trainer *t);
/* anet_trainer_backend_name, anet_trainer_backend_reason, anet_trainer_epochs_done and
 * anet_trainer_free are declared in ane_trainer.h. */

/* ---- in-memory data (the C API's path) ----
 * A trainer made with anet_trainer_create_mem has no dataset, output directory or metrics
 * file (options dataset, data_dir, out_dir, resume, metrics_path, max_steps and log_steps are
 * ignored): each call brings its arrays. Epoch e (1-based) draws the same shuffled order of
 * (seed, e - 1) and the same batches as anet_trainer_run on a dataset with those samples, so
 * both paths give identical metrics. */
typedef struct anet_arrays {
    const void *x;      /* n x features: uint8 (ANET_DATA_U8, scaled by 1/255 as the datasets) or
                         * float (ANET_DATA_F32, used as given; finite, |x| <= 65504) */
    int x_type;         /* anet_data_type */
    const int64_t *y;   /* n labels in 0..classes-1 (NULL where not needed) */
    const float *targets; /* or n x outputs fp32 targets (mse, bce; finite, |t| <= 65504) */
    size_t n, features;
} anet_arrays;

anet_status anet_trainer_create_mem(const anet_train_options *o, anet_trainer **out);
/* Whether auto ending on vane is a fallback (warned about, recorded): on Apple silicon macOS
 * (apple_arm64), or when ANE_TRAINER_AUTO_CANDIDATE (candidate_env) names ane-sim. Not on
 * Linux or Intel Macs, where no Neural Engine exists. The platform is a parameter for tests. */
int anet_auto_candidate_expected_on(int apple_arm64, const char *candidate_env);
/* anet_trainer_create_mem that starts from a checkpoint (as anet_trainer_restore would), the
 * checkpoint checked against the model and options before the programs are built. */
anet_status anet_trainer_load_mem(const anet_train_options *o, const char *checkpoint, anet_trainer **out);
/* Trains one epoch (every full batch; the last partial one is dropped); *loss gets the mean
 * batch loss, as the epoch metrics line's train_loss. */
anet_status anet_trainer_train_epoch(anet_trainer *t, const anet_arrays *a, double *loss);
/* The eval program over the arrays in order: accuracy and the mean loss of the model's loss
 * (labels or targets needed; each optional; accuracy is NaN with targets) and logits
 * [n][classes] (optional). */
anet_status anet_trainer_eval_arrays(anet_trainer *t, const anet_arrays *a, double *accuracy, double *loss,
                                     float *logits);
/* The epoch count the learning-rate schedule spans (cosine schedules); memory mode. */
void anet_trainer_set_epochs(anet_trainer *t, int epochs);
/* The peak learning rate of the schedule from the next step on (checked by the caller). */
void anet_trainer_set_peak_lr(anet_trainer *t, float lr);
/* In-memory epochs shuffled by (seed, epoch) (1, the default) or in the arrays' order (0). */
void anet_trainer_set_shuffle_mode(anet_trainer *t, int shuffle);
/* Current weights of parameter i (fp32, [out, in] / [out]); set keeps the optimizer state. */
anet_status anet_trainer_get_weights(const anet_trainer *t, int i, float *out);
anet_status anet_trainer_set_weights(anet_trainer *t, int i, const float *in);
/* The last epoch's metrics record (NULL before the first epoch) and the current counters
 * (event "state", test_acc = the last epoch's when known). */
const anet_metrics_record *anet_trainer_last_epoch(const anet_trainer *t);
anet_status anet_trainer_stats(const anet_trainer *t, anet_metrics_record *r);
const anet_model_spec *anet_trainer_model(const anet_trainer *t);
const anet_train_options *anet_trainer_options(const anet_trainer *t);
int64_t anet_trainer_steps(const anet_trainer *t);

/* Test accuracy of a checkpoint on a dataset (eval CLI): model read from the checkpoint. */
typedef struct anet_eval_options {
    const char *checkpoint;
    const char *dataset;  /* NULL: the checkpoint's dataset (an error when it records none) */
    const char *data_dir;
    const char *backend;
    anet_chip chip;
    anet_numerics numerics;
    int device_form;      /* as anet_train_options.device_form */
    int batch_size;       /* 0: the checkpoint's */
} anet_eval_options;

typedef struct anet_eval_result {
    double accuracy;
    uint32_t samples;
    char model[512];
    char dataset[4096];
    char dataset_dir[4096]; /* the directory read */
    char backend[32];
} anet_eval_result;

anet_status anet_eval_checkpoint(const anet_eval_options *o, anet_eval_result *r);

/* Picks the backend for a --backend value: "auto" takes ane where it can run, else vane, and
 * why[] says which and why. */
anet_status anet_backend_choose(const char *requested, const anet_backend_config *cfg,
                                anet_backend *out, char *why, size_t why_len);

/* Resolves --dataset (NULL: mnist if found, else fashion-mnist) to a loaded dataset;
 * `chosen` receives the name or directory used. */
struct anet_dataset;
anet_status anet_dataset_resolve(const char *dataset, const char *data_dir, struct anet_dataset *ds,
                                 char *chosen, size_t chosen_len);

#endif
