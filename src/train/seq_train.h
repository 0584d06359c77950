/* Training a character transformer on a text dataset: random windows of ctx+1 characters from
 * the train split, one training program per step on a backend (compiled once): forward, loss,
 * backward and (update=ane, the default) the gradients' global norm, clipping and AdamW, with
 * the weights (fp16 hi + lo parts) and the optimizer state as program inputs and outputs;
 * update=cpu returns the gradients and clips and steps AdamW on the CPU (fp32 master weights).
 * The mean validation loss in nats per character every eval_every steps and at the end. */
#ifndef ANET_TRAIN_SEQ_TRAIN_H
#define ANET_TRAIN_SEQ_TRAIN_H

#include <stdint.h>

#include "ane_trainer.h"
#include "runtime/backend.h"
#include "train/checkpoint.h"
#include "train/seq_program.h"
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
    anet_update_mode update; /* ane: clipping and AdamW in the training program; cpu: on the host */
    uint64_t seed;
    const char *metrics;   /* JSON lines file, may be NULL */
    int quiet;
    double *final_val;     /* optional: receives the last validation loss */
    const char *checkpoint; /* written at every evaluation and at the end when not NULL (see below) */
    const char *resume;    /* a checkpoint of this loop to continue (same model, data, update mode) */
    int device_form;       /* 1: vane too runs the chip's device form (--program-form device); 0: vane
                              runs the plain form (anet_seq_plain); the device backends always the device form */
} anet_seq_options;

/* Trains; writes the checkpoint at every evaluation and at the end: each parameter as F32
 * [rows, cols] named as anet_tfm_param names it; metadata "model" (the canonical spec), "vocab"
 * (the vocabulary's bytes in id order, as hex), "dataset", "steps", "val_loss", the settings
 * (batch, lr, beta1, beta2, eps, weight_decay, clip, update, program_form: "auto" or "device" as
 * device_form says) and the training state for
 * --resume: update=ane the program's fp16 I/O per parameter "ane.hi|lo|m|s.NAME" (program
 * form), update=cpu "opt.w|m|v.NAME" (F32), "opt_t", "loss_scale", "good_steps", "data_rng",
 * "form". A resumed run gives the losses the uninterrupted run would have given. */
anet_status anet_seq_train(const anet_seq_options *o);

/* Whether the run that wrote checkpoint ck took the device form on vane (its "program_form";
 * absent: device, as every run before it was stored). */
int anet_seq_ckpt_device_form(const anet_ckpt *ck);

/* "transformer:layers=L,dim=D,heads=H,ctx=S" */
void anet_seq_spec_text(const anet_tfm_config *c, char *buf, size_t cap);

#endif
