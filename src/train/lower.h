/* Lowering a model's layers to forward IR ops (the step programs' forward pass).
 *
 * Layouts inside the program: flat activations are [1,1,F,B] (features on axis 2, samples on
 * the last axis, so a Linear layer is one matmul W[1,1,out,in] x h); [C,H,W] activations are
 * [B,C,H,W] as conv and pools take them. The batch arrives as x [1,F,1,B]; the logits leave
 * as [1,1,K,B]. Flatten and an image input change layout with one transpose. */
#ifndef ANET_TRAIN_LOWER_H
#define ANET_TRAIN_LOWER_H

#include "graph/ir.h"
#include "train/model.h"

typedef struct anet_lower_io {
    int x;              /* the X input, fp16 [1,F,1,B] */
    const int *params;  /* value per parameter, fp16 [1,1,rows,cols] */
    const int *masks;   /* per layer: dropout mask input [1,numel,1,B] (training), else -1; NULL: none */
    int train;          /* 1: dropout masks applied, batchnorm uses batch statistics */
    int *bn_stats;      /* training with batchnorm: receives per layer the batch mean and the
                           biased variance values ([1,C,1,1] / [1,1,F,1]), 2 per layer; may be NULL */
    int bias_cols;      /* > 1 (program forms, plan/forms_lower.h): Linear biases are [out,bias_cols]
                           (column 0 the bias, the rest zero), added as a matmul with a block of
                           ones instead of a broadcast; needs >= bias_cols input features */
    int conv_matmul;    /* 1 (program forms): convs as baked patch extraction + a matmul with the
                           weight [O, np] read at its full padded width (lower_conv.h); conv
                           biases then take the bias form too when bias_cols > 1 */
    int *stops;         /* receives values autodiff must treat as constants, *nstops of them */
    int *nstops;        /* NULL: no room (conv_matmul then fails) */
    int max_stops;
} anet_lower_io;

/* Appends the forward ops; returns the logits value [1,1,K,B] or -1 (anet_last_error set). */
int anet_lower_forward(anet_graph *g, const anet_model_spec *m, int batch, const anet_lower_io *io);

/* Converts a [1,numel,1,B] program input into the layout of an activation of per-sample
 * shape s (used for X and dropout masks). */
int anet_lower_to_layout(anet_graph *g, int v, const anet_shape *s, int batch);

/* Batchnorm's and layernorm's epsilon (PyTorch's default). */
#define ANET_NORM_EPS 1e-5f

#endif
