/* Model specs ("mlp:784-128-10") and their parameters. Parameters are named w0, b0, w1, b1, ...
 * (w_l is [out, in], b_l is [out], as torch.nn.Linear stores them, so weights move to and from
 * PyTorch without transposes). */
#ifndef ANET_TRAIN_MODEL_H
#define ANET_TRAIN_MODEL_H

#include <stdint.h>

#include "ane_trainer.h"
#include "core/rng.h"

#define ANET_MLP_MAX_LAYERS 16
/* At most 2^28 parameters in all (1 GiB of fp32 weights, 3 GiB with Adam's state): a spec, which
 * may come from a file, never asks for more memory than that. */
#define ANET_MLP_MAX_PARAMS ((int64_t)1 << 28)

typedef struct anet_model_spec {
    int nlayers;                          /* number of Linear layers; relu between them */
    int dims[ANET_MLP_MAX_LAYERS + 1];    /* dims[0] = inputs, dims[nlayers] = classes */
    char text[256];                       /* canonical spec string, "mlp:784-128-10" */
} anet_model_spec;

/* Parses "mlp:A-B-...-Z" (2..ANET_MLP_MAX_LAYERS+1 sizes, each 1..65536; at most
 * ANET_MLP_MAX_PARAMS weights and biases in all). */
anet_status anet_model_parse(const char *spec, anet_model_spec *out);

typedef struct anet_param_info {
    char name[16];   /* "w0", "b0", ... */
    int rows, cols;  /* w: out x in; b: out x 1 */
} anet_param_info;

int anet_model_nparams(const anet_model_spec *m); /* 2 * nlayers */
void anet_model_param(const anet_model_spec *m, int i, anet_param_info *out);
int64_t anet_model_param_count(const anet_model_spec *m); /* total scalars */
/* PyTorch's default Linear init (kaiming-uniform a=sqrt(5): U(-1/sqrt(in), 1/sqrt(in)) for w
 * and b), from the caller's generator; params[i] has rows*cols floats. */
void anet_model_init(const anet_model_spec *m, anet_rng *rng, float **params);

#endif
