/* Training metrics as JSON Lines: one object per line, flushed as written, keys of DESIGN.md
 * (event, epoch, step, train_loss, test_acc, epoch_seconds, samples_per_s, backend, compiles,
 * dispatches) plus dispatches_per_step, bytes_per_step, host_us_per_step,
 * state_bytes_copied_per_step, loss_scale, skipped_steps, lr,
 * update, chip, numerics (and fallback, after auto switched to vane). Non-finite numbers are written as null (JSON has no NaN). */
#ifndef ANET_TRAIN_METRICS_H
#define ANET_TRAIN_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "ane_trainer.h"

typedef struct anet_metrics_record {
    const char *event;        /* "step", "epoch" or "fallback" (auto switched to vane) */
    int epoch;                /* 1-based epoch the record belongs to */
    int64_t step;             /* optimizer steps taken so far in the run (global) */
    double train_loss;        /* step: the batch's loss; epoch: mean over the epoch */
    double test_acc;          /* epoch: accuracy on the test set in [0,1]; NaN: none (null) */
    double train_acc;         /* epoch (--train-acc): accuracy on the training samples after the
                               * epoch; NaN: the key is left out */
    double val_acc, val_loss; /* epoch with a validation split; NaN: the keys are left out */
    double epoch_seconds;     /* epoch: wall time of the training part of the epoch */
    double samples_per_s;
    const char *backend;
    uint64_t compiles, dispatches; /* runtime counters, cumulative */
    double dispatches_per_step;
    double bytes_per_step;    /* bytes moved to and from the backend per training step */
    double host_us_per_step;  /* epoch: microseconds of host work per step (outside the backend's
                               * evaluation itself: copies into and out of it count as host work) */
    double state_bytes_per_step; /* epoch: bytes of training state (weights, update=ane's low parts
                                  * and optimizer moments) copied to or from the backend per step */
    double batch_bytes_per_step; /* epoch: bytes of the batch's features copied per step after
                                  * packing (0: packed straight into what the backend reads) */
    double loss_scale;
    int64_t skipped_steps;    /* cumulative steps skipped for non-finite gradients */
    double lr;                /* learning rate of the last step */
    const char *update;       /* "cpu" or "ane" */
    const char *chip;
    const char *numerics;     /* "fp16" or "fp32" */
    /* Set once `auto` left its chosen backend for vane (why, one line); NULL: no such switch,
     * and the key is left out, so lines of runs without a fallback are unchanged. */
    const char *fallback;
} anet_metrics_record;

typedef struct anet_metrics {
    FILE *f; /* NULL: records are dropped */
} anet_metrics;

/* Opens path for writing (append = 1 keeps earlier lines, for resumed runs). path NULL: off. */
anet_status anet_metrics_open(anet_metrics *m, const char *path, int append);
/* One line; returns ANET_E_IO when the write fails. */
anet_status anet_metrics_write(anet_metrics *m, const anet_metrics_record *r);
/* One line already formatted (no newline), written and flushed. */
anet_status anet_metrics_write_line(anet_metrics *m, const char *line);
void anet_metrics_close(anet_metrics *m);
/* The shortest decimal that reads back as the same float: a learning rate of 0.01 (a float)
 * prints as 0.01, not 0.00999999977648258. */
double anet_float_as_typed(double v);
/* The JSON object of r, malloc'd, without a newline (NULL when out of memory). */
char *anet_metrics_format(const anet_metrics_record *r);

#endif
