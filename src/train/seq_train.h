/* Training a character transformer on a text dataset: random windows of ctx+1 characters from
 * the train split, the forward + loss + backward as one program on a backend (compiled once),
 * AdamW with clipping of the gradients' global norm on the CPU (fp32 master weights), the mean
 * validation loss in nats per character every eval_every steps and at the end. */
#ifndef ANET_TRAIN_SEQ_TRAIN_H
#define ANET_TRAIN_SEQ_TRAIN_H

#include <stdint.h>

#include "ane_trainer.h"
#include "graph/ir.h"
#include "runtime/backend.h"
#include "train/transformer.h"

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
    const char *checkpoint; /* written at the end when not NULL (safetensors, see below) */
} anet_seq_options;

/* Trains; at the end writes the checkpoint: each parameter as F32 [rows, cols] named as
 * anet_tfm_param names it; metadata "model" (the canonical spec), "vocab" (the vocabulary's
 * bytes in id order, as hex), "dataset", "steps", "val_loss". */
anet_status anet_seq_train(const anet_seq_options *o);

/* The programs, compiled once per run: */
typedef enum anet_seq_kind {
    ANET_SEQ_TRAIN = 0, /* a_scale, b_x, c_y, pNN -> loss (fp32), gradients of scale*loss (fp16) */
    ANET_SEQ_LOSS,      /* b_x, c_y, pNN -> loss (fp32) */
    ANET_SEQ_LOGITS     /* b_x, pNN -> logits [B,1,S,V] (fp32) */
} anet_seq_kind;

typedef struct anet_seq_program {
    anet_graph *g;
    anet_program *p;
    int nin, nout;
} anet_seq_program;

anet_status anet_seq_build(const anet_tfm_config *c, int batch, anet_seq_kind kind, anet_seq_program *sp);
anet_status anet_seq_compile(anet_backend *be, anet_seq_program *sp);
void anet_seq_program_free(anet_backend *be, anet_seq_program *sp);
/* "transformer:layers=L,dim=D,heads=H,ctx=S" */
void anet_seq_spec_text(const anet_tfm_config *c, char *buf, size_t cap);

#endif
