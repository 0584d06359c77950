/* Learning-rate schedules, as a pure function of the step index (so a resumed run gets the
 * same rates without any saved schedule state).
 *   constant:       lr(t) = lr
 *   cosine:         lr(t) = lr * 0.5 * (1 + cos(pi * min(t, T) / T))
 *   warmup:         lr(t) = lr * min(1, (t + 1) / W)
 *   warmup-cosine:  lr(t) = lr * (t + 1) / W                              for t < W
 *                   lr(t) = lr * 0.5 * (1 + cos(pi * min(t - W, T - W) / (T - W)))  otherwise
 * t counts optimizer steps from 0, T is the total number of steps of the run, W the warmup. */
#ifndef ANET_TRAIN_SCHEDULE_H
#define ANET_TRAIN_SCHEDULE_H

#include <stdint.h>

typedef enum anet_sched_kind {
    ANET_SCHED_CONSTANT = 0,
    ANET_SCHED_COSINE,
    ANET_SCHED_WARMUP,
    ANET_SCHED_WARMUP_COSINE
} anet_sched_kind;

typedef struct anet_schedule {
    anet_sched_kind kind;
    double lr;            /* peak rate */
    int64_t total_steps;  /* T */
    int64_t warmup_steps; /* W */
} anet_schedule;

double anet_schedule_lr(const anet_schedule *s, int64_t t);
const char *anet_sched_kind_name(anet_sched_kind k);             /* "constant", ... */
int anet_sched_kind_lookup(const char *s, anet_sched_kind *out); /* 0 on success */

#endif
