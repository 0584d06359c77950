/* Training a character transformer on a text dataset: random windows of ctx+1 characters from
 * the train split, the forward + loss + backward as one program on a backend (compiled once),
 * AdamW with clipping of the gradients' global norm on the CPU (fp32 master weights), the mean
 * validation loss in nats per character every eval_every steps and at the end. */
#ifndef ANET_TRAIN_SEQ_TRAIN_H
#define ANET_TRAIN_SEQ_TRAIN_H

#include <stdint.h>

#include "ane_trainer.h"
#include "runtime/backend.h"

typedef struct anet_seq_options {
    const char *dataset;   /* text dataset name or file */
    const char *data_dir;  /* --data, may be NULL */
    const char *model;     /* "transformer:..." */
    const char *backend;   /* NULL: vane */
    anet_chip chip;
    anet_numerics numerics;
    int batch;
    int64_t max_steps;     /* total steps */
    int64_t eval_every;    /* validation every N steps (0: only at the end) */
    int64_t val_windows;   /* validation windows per evaluation (0: all) */
    float lr, beta1, beta2, eps, weight_decay, clip; /* clip <= 0: none */
    uint64_t seed;
    const char *metrics;   /* JSON lines file, may be NULL */
    int quiet;
    double *final_val;     /* optional: receives the last validation loss */
} anet_seq_options;

anet_status anet_seq_train(const anet_seq_options *o);

#endif
