/* The CPU side of the precision policy (--update cpu): fp32 master weights and optimizer
 * state on the CPU, updated with PyTorch's exact formulas, and the fp16 copies of the weights
 * that the step program reads each step. */
#ifndef ANET_TRAIN_OPTIM_CPU_H
#define ANET_TRAIN_OPTIM_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "core/fp16.h"
#include "train/step.h"

/* Defaults as in torch.optim (betas 0.9/0.999, eps 1e-8; AdamW weight_decay 0.01). */
void anet_opt_config_default(anet_opt_kind kind, anet_opt_config *out);
const char *anet_opt_kind_name(anet_opt_kind k);           /* "sgd", "adam", "adamw" */
int anet_opt_kind_lookup(const char *s, anet_opt_kind *out); /* 0 on success */

typedef struct anet_optim_cpu {
    anet_opt_config cfg;
    int nparams;
    size_t *sizes;   /* scalars per parameter */
    float **w;       /* fp32 master weights */
    float **m;       /* sgd: momentum buffer; adam: first moment */
    float **v;       /* adam: second moment (NULL for sgd) */
    anet_f16 **w16;  /* fp16 copies of w, refreshed by anet_optim_cpu_sync_f16 */
    int64_t t;       /* updates applied so far (Adam's bias correction uses t+1 next) */
    int first;       /* the update under way is the first (sgd's momentum buffer starts there) */
    float lr_now;    /* its learning rate */
} anet_optim_cpu;

/* Allocates zeroed weights/state for nparams tensors of sizes[i] scalars. */
anet_status anet_optim_cpu_init(anet_optim_cpu *o, const anet_opt_config *cfg, int nparams,
                                const size_t *sizes);
void anet_optim_cpu_free(anet_optim_cpu *o);

/* One update at learning rate lr with fp32 gradients (already unscaled); a NULL gradient
 * leaves its parameter alone (batchnorm's running statistics). torch semantics:
 *  sgd:   g += wd*w; buf = momentum*buf + g (buf = g on the first step); w -= lr*buf
 *  adam:  g += wd*w; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *         w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *  adamw: w *= 1 - lr*wd; then adam without the L2 term. */
void anet_optim_cpu_step(anet_optim_cpu *o, float lr, const float *const *grads);
/* The same from the program's fp16 gradients, multiplied by inv_scale (1/loss scale) first,
 * in one pass that also refreshes w16 (as anet_optim_cpu_sync_f16 would; same bits as
 * converting, unscaling, stepping and syncing one after the other). */
void anet_optim_cpu_step_f16(anet_optim_cpu *o, float lr, const anet_f16 *const *grads,
                             float inv_scale);
/* anet_optim_cpu_step_f16 one parameter at a time: begin the update, then apply each
 * parameter's fp16 gradient exactly once. */
void anet_optim_cpu_begin(anet_optim_cpu *o, float lr);
void anet_optim_cpu_apply_f16(anet_optim_cpu *o, int i, const anet_f16 *grad, float inv_scale);
/* Per-step constants of one update (internal; exposed for the per-path tests). */
typedef struct anet_upd_consts {
    int first, l2, decoupled;
    float lr, wd, mom, b1, b2, c1, c2, eps, step_size, bc2_sqrt, decay;
} anet_upd_consts;
typedef void (*anet_adam_fn)(const anet_upd_consts *c, float *w, float *m, float *v, const float *g, size_t n);
/* Adam's inner loop for each instruction set this CPU runs, the baseline first (every path
 * gives the same bits; the last is the one used); returns how many (<= max). */
int anet_adam_paths(anet_adam_fn *out, const char **names, int max);
#define ANET_ADAM_MAX_PATHS 4
/* Refreshes w16 from w (round to nearest even). */
void anet_optim_cpu_sync_f16(anet_optim_cpu *o);

/* 1 if all n fp16 values are finite. */
int anet_f16_all_finite(const anet_f16 *x, size_t n);

#endif
