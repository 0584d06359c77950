/* Models: a small graph of layers over an input of shape [C,H,W] or [F], and the loss it is
 * trained with. Spec grammar (docs/models.md): "mlp:784-128-10", presets ("lenet5") and
 * comma-separated layer lists ("in:1x28x28,conv:16x3x3:pad1,relu,maxpool:2,flatten,linear:10").
 *
 * Parameters: every layer with weights (linear, conv, batchnorm, layernorm) is a "parameter
 * layer" numbered 0, 1, ... in order; its weight is "wN" and its bias "bN". Weights are stored
 * 2-D as [rows, cols] in PyTorch's element order: linear [out, in], conv [out, in/groups*kh*kw]
 * (PyTorch's [out, in/groups, kh, kw] flattened), norms [features, 1]. BatchNorm's running mean
 * and variance are parameters too ("mN", "vN", not trained), so checkpoints carry them. */
#ifndef ANET_TRAIN_MODEL_H
#define ANET_TRAIN_MODEL_H

#include <stdint.h>

#include "ane_trainer.h"
#include "core/rng.h"

#define ANET_MODEL_MAX_LAYERS 48
#define ANET_MODEL_MAX_PARAMS (4 * ANET_MODEL_MAX_LAYERS)
/* Kept for the mlp: form: at most 16 Linear layers. */
#define ANET_MLP_MAX_LAYERS 16
/* At most 2^28 parameters in all (1 GiB of fp32 weights, 3 GiB with Adam's state): a spec, which
 * may come from a file, never asks for more memory than that. */
#define ANET_MLP_MAX_PARAMS ((int64_t)1 << 28)

typedef enum anet_layer_kind {
    ANET_L_LINEAR = 0,
    ANET_L_CONV,
    ANET_L_MAXPOOL,
    ANET_L_AVGPOOL,
    ANET_L_FLATTEN,
    ANET_L_RELU,
    ANET_L_LEAKYRELU,
    ANET_L_SIGMOID,
    ANET_L_TANH,
    ANET_L_GELU,
    ANET_L_SILU,
    ANET_L_DROPOUT,
    ANET_L_BATCHNORM,
    ANET_L_LAYERNORM,
    ANET_L_ADD
} anet_layer_kind;

typedef enum anet_loss_kind {
    ANET_LOSS_XENT = 0, /* softmax cross-entropy over K >= 2 classes, integer labels */
    ANET_LOSS_MSE,      /* mean over samples and outputs of (z - t)^2, fp32 targets */
    ANET_LOSS_BCE       /* binary cross-entropy with logits, targets in [0, 1] */
} anet_loss_kind;

/* A shape per sample: rank 3 [C,H,W] or rank 1 [F]. */
typedef struct anet_shape {
    int rank;
    int d[3];
} anet_shape;

typedef struct anet_layer {
    anet_layer_kind kind;
    int out;                     /* linear: features; conv: channels */
    int kh, kw, stride, pad;     /* conv and pools */
    int groups;                  /* conv */
    float alpha;                 /* leakyrelu: negative slope; dropout: p */
    int back;                    /* add: adds the input of the layer `back` positions earlier */
    anet_shape in, outs;         /* per-sample shapes before and after the layer */
    int player;                  /* parameter layer number, -1 if none */
    int param0;                  /* index of its first parameter, -1 if none */
    int user_ch;                 /* layernorm, sigmoid and grouped convs in a padded copy
                                    (train/layers_form.h): the user's input channels or features,
                                    the first of in.d[0] */
    int user_out;                /* a grouped conv in a padded copy: the user's output channels */
} anet_layer;

typedef struct anet_model_spec {
    int nl;
    anet_layer layers[ANET_MODEL_MAX_LAYERS];
    anet_shape input;
    anet_loss_kind loss;
    int nparams;
    int is_mlp;                /* written in the mlp: form */
    /* The mlp: form's sizes (dims[0] inputs .. dims[nlayers] outputs); for any model
     * dims[0] = input features and dims[nlayers] = outputs, nlayers = 1 unless is_mlp. */
    int nlayers;
    int dims[ANET_MLP_MAX_LAYERS + 1];
    char text[512];            /* canonical spec string */
} anet_model_spec;

/* Parses a spec (grammar in docs/models.md). Errors are one line naming the token. */
/* Whether s is written as a model spec (mlp:, in:, a preset, or a list starting with a layer
 * name), as opposed to a file path: tools that take either use this. */
int anet_model_spec_like(const char *s);
anet_status anet_model_parse(const char *spec, anet_model_spec *out);

const char *anet_loss_name(anet_loss_kind k); /* "xent", "mse", "bce" */
/* Parses "xent"/"cross-entropy", "mse", "bce"; -1 if unknown. */
int anet_loss_lookup(const char *s);
/* The spec with its loss replaced (text re-canonicalized); refuses a loss the output cannot fit. */
anet_status anet_model_set_loss(anet_model_spec *m, anet_loss_kind loss);

static inline int anet_model_in_features(const anet_model_spec *m) { return m->dims[0]; }
static inline int anet_model_outputs(const anet_model_spec *m) { return m->dims[m->nlayers]; }
/* Whether the model has layers that behave differently in training (dropout, batchnorm). */
int anet_model_has_dropout(const anet_model_spec *m);
int anet_shape_numel(const anet_shape *s);

typedef struct anet_param_info {
    char name[16];   /* "w0", "b0", ... */
    int rows, cols;  /* w: out x in; b: out x 1 */
    int trainable;   /* 0: batchnorm running statistics (updated by the trainer, not the optimizer) */
    int layer;       /* the layer it belongs to */
} anet_param_info;

/* Training options recommended for a model, for the ones its user did not choose: convolutional
 * models (lenet5 and any spec with a conv layer) learn far more per epoch from more, smaller
 * steps (lenet5 on mnist-10k, 5 epochs: 95.5% at the general defaults, batch 128, lr 1e-3
 * constant; 98.35% at these; docs/models.md). 0 when the general defaults stand (mlp: models
 * keep them: the README's numbers depend on them). */
typedef struct anet_model_hints {
    int batch;            /* 16 */
    float lr;             /* 2e-3 (adam / adamw) */
    const char *schedule; /* "cosine" */
} anet_model_hints;
int anet_model_recommend(const anet_model_spec *m, anet_model_hints *out);

int anet_model_nparams(const anet_model_spec *m);
void anet_model_param(const anet_model_spec *m, int i, anet_param_info *out);
int64_t anet_model_param_count(const anet_model_spec *m); /* total scalars */
/* PyTorch's default initialization from the caller's generator (linear and conv:
 * kaiming-uniform a=sqrt(5) and its bias rule, both U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * norms: weight 1, bias 0, running mean 0, running variance 1); params[i] has rows*cols floats. */
void anet_model_init(const anet_model_spec *m, anet_rng *rng, float **params);

#endif
