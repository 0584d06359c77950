#include "train/schedule.h"

#include <math.h>
#include <string.h>

#define PI_ 3.14159265358979323846

static const char *const names[] = {"constant", "cosine", "warmup", "warmup-cosine"};

const char *anet_sched_kind_name(anet_sched_kind k) {
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

int anet_sched_kind_lookup(const char *s, anet_sched_kind *out) {
    for (unsigned i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (anet_sched_kind)i;
            return 0;
        }
    return -1;
}

static double cosine(double lr, int64_t t, int64_t T) {
    if (T <= 0) return lr;
    if (t > T) t = T;
    if (t < 0) t = 0;
    return lr * 0.5 * (1.0 + cos(PI_ * (double)t / (double)T));
}

double anet_schedule_lr(const anet_schedule *s, int64_t t) {
    int64_t W = s->warmup_steps > 0 ? s->warmup_steps : 0;
    switch (s->kind) {
    case ANET_SCHED_CONSTANT: return s->lr;
    case ANET_SCHED_COSINE: return cosine(s->lr, t, s->total_steps);
    case ANET_SCHED_WARMUP:
        if (W > 0 && t < W) return s->lr * (double)(t + 1) / (double)W;
        return s->lr;
    case ANET_SCHED_WARMUP_COSINE:
        if (W > 0 && t < W) return s->lr * (double)(t + 1) / (double)W;
        return cosine(s->lr, t - W, s->total_steps - W);
    }
    return s->lr;
}
