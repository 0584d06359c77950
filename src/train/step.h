/* The training step as MIL programs: forward, loss, backward and (with update=ane) the
 * optimizer, built as IR graphs that the planner/emitter turn into MIL text for a backend.
 * Every tensor that changes between steps (weights, optimizer state, hyper-parameters such as
 * the learning rate and the loss scale) is a runtime INPUT, never a baked const, so a whole
 * run compiles each program once. The trainer binds buffers to inputs/outputs by role. */
#ifndef ANET_TRAIN_STEP_H
#define ANET_TRAIN_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"
#include "train/model.h"

typedef enum anet_update_mode { ANET_UPDATE_CPU = 0, ANET_UPDATE_ANE = 1 } anet_update_mode;
typedef enum anet_opt_kind { ANET_OPT_SGD = 0, ANET_OPT_ADAM = 1, ANET_OPT_ADAMW = 2 } anet_opt_kind;

typedef struct anet_opt_config {
    anet_opt_kind kind;
    float lr;           /* peak learning rate; the schedule scales it per step */
    float momentum;     /* sgd */
    float beta1, beta2; /* adam */
    float eps;
    float weight_decay; /* adamw: decoupled; sgd: L2 */
} anet_opt_config;

/* What a program input or output carries. */
typedef enum anet_io_role {
    ANET_ROLE_X = 0,      /* batch features, fp16 [1, F, 1, B] */
    ANET_ROLE_Y_ONEHOT,   /* one-hot labels, fp16 [1, K, 1, B] */
    ANET_ROLE_PARAM,      /* parameter `index` (fp16; with update=ane its hi part) */
    ANET_ROLE_PARAM_LO,   /* update=ane: low part of the compensated parameter */
    ANET_ROLE_OPT_STATE,  /* optimizer state `slot` (0 = m/momentum, 1 = sqrt(v)) of parameter `index`,
                             scaled by ANET_OPT_STATE_SCALE */
    ANET_ROLE_HYPER,      /* per-step scalars packed in one tensor: the ANET_HYPER_* slots below */
    ANET_ROLE_LOSS,       /* output: mean loss of the batch (unscaled), fp16 [1,1,1,1] or fp32 */
    ANET_ROLE_GRAD,       /* output (update=cpu): gradient of parameter `index`, loss-scaled */
    ANET_ROLE_LOGITS,     /* output: logits [1, K, 1, B] */
    ANET_ROLE_CORRECT,    /* output: number of correct predictions in the batch */
    ANET_ROLE_FINITE,     /* output (update=ane only): 1 if the loss and every gradient in
                             optimizer-state units were finite, else 0 (update=cpu: the host checks) */
    ANET_ROLE_MASK,       /* input (training): dropout mask of layer `index`, fp16 [1, numel, 1, B]
                             holding 0 or 1/(1-p) */
    ANET_ROLE_BN_STAT     /* output (training): batchnorm's batch mean (for parameter `index`, the
                             running mean) or biased variance (`index`: the running variance),
                             one per channel, over `slot` values each */
} anet_io_role;

typedef struct anet_io_desc {
    anet_io_role role;
    int index; /* parameter index for PARAM/PARAM_LO/OPT_STATE/GRAD */
    int slot;  /* OPT_STATE slot */
    int value; /* the value id in the program graph */
    /* Outputs reuse the input roles: PARAM/PARAM_LO/OPT_STATE outputs are the updated values. */
} anet_io_desc;

typedef struct anet_step_program {
    anet_graph *graph;       /* owns it */
    anet_io_desc *inputs;    /* one per graph input, same order */
    int ninputs;
    anet_io_desc *outputs;   /* one per graph output, same order */
    int noutputs;
} anet_step_program;

typedef struct anet_step_config {
    anet_model_spec model;
    int batch;
    anet_opt_config opt;
    anet_update_mode update;
    anet_mil_dialect dialect;
    /* Program forms (plan/forms_lower.h; 0 = the plain form): bias_cols 32 gives biases as
     * [out,32] (column 0 is the bias) added by a matmul with a ones block instead of a
     * broadcast; log_eps > 0 takes the loss's log as log(x + log_eps). */
    int bias_cols;
    float log_eps;
    /* > 1: every parameter of a layer graph (not the mlp: form, whose sizes are padded) is a
     * program input of its columns rounded up to a multiple of this (the I/O width rule),
     * sliced back inside; the padding columns get zero gradients. */
    int param_col_mult;
    /* row_scalars: the HYPER input is [1,SLOTS,1,W] (slot k replicated in row k; W = B, or with
     * update=ane the widest parameter's columns if wider), the loss is seeded by a row, LOSS /
     * CORRECT are per-sample rows to be summed, update=ane's optimizer multiplies by rows as
     * wide as each parameter and FINITE is a [1,1,1,32] row of flags that must all be 1: no
     * [1,1,1,1] scalar is broadcast anywhere. */
    int row_scalars;
    /* conv_matmul: convs as baked patch extraction + a matmul with the weight read at its full
     * padded width (train/lower_conv.h); their biases take the bias_cols form like Linear's.
     * Set with a padded layer graph (train/layers_form.h). */
    int conv_matmul;
    /* > 0: the model's own outputs when the program pads them (mse and bce average over these). */
    int loss_outputs;
} anet_step_config;

/* Program I/O names sort alphabetically in declaration order (the ANE matches surfaces by
 * name order): inputs "a_hyper", "b_x", "c_y", the dropout masks "dLL_mask" (layer LL, training only), then per parameter i (2 digits) "pII_w0" (update=cpu and
 * eval) or "pII_w0_hi", "pII_w0_lo", "pII_w0_s0", "pII_w0_s1" (update=ane); outputs
 * "b_loss" then "gII_w0" (gradients; update=cpu) or "a_finite", "b_loss", "uII_w0_hi", "uII_w0_lo", "uII_w0_s0",
 * "uII_w0_s1" (updated values); eval outputs "a_correct", "b_logits". Shapes: x [1,F,1,B],
 * y [1,K,1,B], w_l [1,1,out,in] and b_l [1,1,out,1] (PyTorch's element order), state like its
 * parameter, scalars [1,1,1,1]; all fp16.
 *
 * The HYPER input is fp16 [1,1,1,ANET_HYPER_SLOTS]; anet_step_hyper() fills it. Slots: */
enum {
    ANET_HYPER_LOSS_SCALE = 0,    /* S: gradients are computed on S * loss */
    ANET_HYPER_INV_BATCH = 1,     /* 1 / (real samples in the batch); padded samples have y = 0 */
    ANET_HYPER_INV_SCALE = 2,     /* 1 / S */
    ANET_HYPER_LR = 3,            /* sgd: lr(t); adam: lr(t) * sqrt(1 - b2^t) / (1 - b1^t) */
    ANET_HYPER_EPS = 4,           /* adam: K * eps * sqrt(1 - b2^t) */
    ANET_HYPER_GRAD_TO_STATE = 5, /* K / S: loss-scaled gradient -> optimizer-state units */
    ANET_HYPER_WD_STATE = 6,      /* sgd/adam L2 decay: K * weight_decay */
    ANET_HYPER_LR_WD = 7,         /* adamw: lr(t) * weight_decay */
    ANET_HYPER_SLOTS = 16         /* the rest are zero, reserved */
};
/* K: optimizer state is stored scaled by this fixed power of two so that it sits in fp16's
 * normal range: slot 0 = K * m (adam) or K * momentum buffer (sgd, PyTorch's convention),
 * slot 1 = K * sqrt(v) (adam; sqrt(v), not v, which would underflow in fp16). */
#define ANET_OPT_STATE_SCALE 1024.0f

/* The largest batch: the batch is the ANE's W axis, which holds at most 16384 (ANE_FACTS.md).
 * Every parser of a batch size (CLI, C API, checkpoints) and its message use this. */
#define ANET_MAX_BATCH 16384

/* Fills hyper[] for optimizer step t (1-based; bias correction), the learning rate after the
 * schedule, the loss scale S and the number of real samples in the batch. Adam's bias
 * corrections use the fp16-rounded betas that the program uses (anet_step_betas). */
void anet_step_hyper(const anet_step_config *cfg, int64_t t, float lr, float loss_scale, int nvalid,
                     float hyper[ANET_HYPER_SLOTS]);
/* The optimizer constants as the update=ane program applies them (rounded to fp16):
 * adam: beta1, beta2; sgd: *beta1 = momentum, *beta2 = 0. */
void anet_step_betas(const anet_opt_config *opt, float *beta1, float *beta2);
/* update=ane weights: w = hi + lo with hi = fp16(w), lo = fp16(w - hi); and back. */
void anet_step_split_param(const float *w, size_t n, uint16_t *hi, uint16_t *lo);
void anet_step_join_param(const uint16_t *hi, const uint16_t *lo, size_t n, float *w);

/* The update=ane optimizer as ops on g, shared by every program that updates in the program
 * (the layer graphs here, the transformer's seq_train.c): from the weight parts hi/lo, the
 * state s0/s1 (-1 where the optimizer keeps none) and the gradient gk in optimizer-state units
 * (ANET_OPT_STATE_SCALE * dL/dw), the new values named BASE_hi, BASE_lo, BASE_s0, BASE_s1.
 * hyper(hctx, slot, like) returns the value of an ANET_HYPER_* scalar (LR, EPS, WD_STATE, LR_WD)
 * to be combined with the value `like` (a [1,1,1,1] scalar, or a row as wide as like's last
 * axis where scalar broadcasts are avoided). */
typedef int (*anet_step_hyper_fn)(void *hctx, int slot, int like);
typedef struct anet_step_update_out {
    int hi, lo, s0, s1; /* -1 for state the optimizer keeps none of */
    int gk;             /* the gradient in state units after L2 decay (what FINITE checks) */
} anet_step_update_out;
anet_status anet_step_update_ops(anet_graph *g, const anet_opt_config *o, const char *base, int hi, int lo, int s0,
                                 int s1, int gk, anet_step_hyper_fn hyper, void *hctx, anet_step_update_out *out);

/* The training program (update=cpu: loss + grads; update=ane: loss + new params/state). */
anet_status anet_step_build_train(const anet_step_config *cfg, anet_step_program *out);
/* The evaluation program: X + params -> logits (+ CORRECT when labels given). */
anet_status anet_step_build_eval(const anet_step_config *cfg, anet_step_program *out);
void anet_step_program_free(anet_step_program *p);

#endif
