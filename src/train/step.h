/* The training step as MIL programs: forward, loss, backward and (with update=ane) the
 * optimizer, built as IR graphs that the planner/emitter turn into MIL text for a backend.
 * Every tensor that changes between steps (weights, optimizer state, hyper-parameters such as
 * the learning rate and the loss scale) is a runtime INPUT, never a baked const, so a whole
 * run compiles each program once. The trainer binds buffers to inputs/outputs by role. */
#ifndef ANET_TRAIN_STEP_H
#define ANET_TRAIN_STEP_H

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
    ANET_ROLE_OPT_STATE,  /* optimizer state `slot` (0 = m/momentum, 1 = v) of parameter `index` */
    ANET_ROLE_HYPER,      /* per-step scalars packed in one tensor: see step.c for the layout */
    ANET_ROLE_LOSS,       /* output: mean loss of the batch (unscaled), fp16 [1,1,1,1] or fp32 */
    ANET_ROLE_GRAD,       /* output (update=cpu): gradient of parameter `index`, loss-scaled */
    ANET_ROLE_LOGITS,     /* output: logits [1, K, 1, B] */
    ANET_ROLE_CORRECT,    /* output: number of correct predictions in the batch */
    ANET_ROLE_FINITE      /* output: 1 if every gradient was finite, else 0 */
} anet_io_role;

typedef struct anet_io_desc {
    anet_io_role role;
    int index; /* parameter index for PARAM/PARAM_LO/OPT_STATE/GRAD */
    int slot;  /* OPT_STATE slot */
    int value; /* the value id in the program graph */
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
} anet_step_config;

/* The training program (update=cpu: loss + grads; update=ane: loss + new params/state). */
anet_status anet_step_build_train(const anet_step_config *cfg, anet_step_program *out);
/* The evaluation program: X + params -> logits (+ CORRECT when labels given). */
anet_status anet_step_build_eval(const anet_step_config *cfg, anet_step_program *out);
void anet_step_program_free(anet_step_program *p);

#endif
