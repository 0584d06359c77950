/* The training loop: dataset -> shuffled batches in ANE layout -> step programs on a backend
 * -> (update=cpu) CPU optimizer / (update=ane) ping-pong device state -> loss scaling ->
 * per-epoch evaluation, metrics and an atomic checkpoint. Every piece of state lives in the
 * anet_trainer struct, so two trainers in a process never interfere. */
#ifndef ANET_TRAIN_TRAINER_H
#define ANET_TRAIN_TRAINER_H

#include <stdint.h>

#include "ane_trainer.h"
#include "runtime/backend.h"
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
    uint64_t seed;
    const char *backend;      /* "auto", "vane", "ane", "ane-sim" */
    anet_chip chip;
    anet_update_mode update;
    anet_numerics numerics;
    const char *out_dir;      /* checkpoints (and metrics by default) go here; created if needed */
    const char *resume;       /* checkpoint to continue from, or NULL */
    const char *metrics_path; /* NULL: <out_dir>/metrics.jsonl */
    int quiet;                /* no progress on stderr */
    float loss_scale;         /* initial dynamic loss scale (default 2^15) */
    int loss_scale_growth;    /* clean steps before the scale doubles (default 1000) */
    int log_steps;            /* write a "step" metrics line every N steps (0: never) */
    int64_t max_steps;        /* stop (without a checkpoint) after this many steps in total; 0: off.
                               * For tests of interrupted runs. */
} anet_train_options;

void anet_train_options_default(anet_train_options *o);

typedef struct anet_trainer anet_trainer;

/* Loads the dataset, checks it against the model, opens the backend, builds and compiles the
 * programs (once), initialises or restores (resume) every piece of state. */
anet_status anet_trainer_create(const anet_train_options *o, anet_trainer **out);
/* Trains until o->epochs epochs are complete, writing metrics and a checkpoint per epoch. */
anet_status anet_trainer_run(anet_trainer *t);
/* Accuracy on the test split with the eval program and the current weights. */
anet_status anet_trainer_evaluate(anet_trainer *t, double *accuracy);
/* Writes the full training state to path (atomically). */
anet_status anet_trainer_save(anet_trainer *t, const char *path);
/* Where the per-epoch checkpoint goes ("<out_dir>/checkpoint.safetensors"). */
const char *anet_trainer_checkpoint_path(const anet_trainer *t);
/* The backend in use and why it was chosen ("auto: ..."). */
const char *anet_trainer_backend_name(const anet_trainer *t);
const char *anet_trainer_backend_reason(const anet_trainer *t);
/* The dataset in use (name or directory) and its split sizes. */
const char *anet_trainer_dataset(const anet_trainer *t, uint32_t *ntrain, uint32_t *ntest);
/* Epochs already complete (after a resume: the checkpoint's). */
int anet_trainer_epochs_done(const anet_trainer *t);
void anet_trainer_free(anet_trainer *t);

/* Test accuracy of a checkpoint on a dataset (eval CLI): model read from the checkpoint. */
typedef struct anet_eval_options {
    const char *checkpoint;
    const char *dataset;  /* NULL: the checkpoint's dataset, else mnist/fashion-mnist */
    const char *data_dir;
    const char *backend;
    anet_chip chip;
    anet_numerics numerics;
    int batch_size;       /* 0: the checkpoint's */
} anet_eval_options;

typedef struct anet_eval_result {
    double accuracy;
    uint32_t samples;
    char model[256];
    char dataset[4096];
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
