/* Core ML export: a trained model as an ML Program .mlpackage (Manifest.json,
 * Data/com.apple.CoreML/model.mlmodel, Data/com.apple.CoreML/weights/weight.bin), and the way
 * back (an exported package read into a graph that vane runs, for `predict` and the tests).
 *
 * The program is the model's eval program (train/step.c) at batch 1, rewritten: the
 * parameters become consts holding the trained weights, the batch input becomes `image`
 * [1,28,28] or `features` [1,F], the label input and the accuracy count are dropped, and a
 * softmax (classifier) or nothing (regression) follows the logits. Every op of the eval
 * program is kept as it is, so a new layer exports once its ops map to MIL (spec.c). */
#ifndef ANET_EXPORT_EXPORT_H
#define ANET_EXPORT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"
#include "runtime/backend.h"
#include "train/model.h"

typedef struct anet_export_options {
    int fp32;         /* weights and compute in fp32 (default 0: fp16, what the ANE runs) */
    int target;       /* minimum deployment target: 16, 17 or 18 (iOS; macOS 13, 14, 15) */
    int regression;   /* plain `output` (the logits) instead of a classifier */
    int image_input;  /* `image` as a Core ML image (grayscale 28x28, 8-bit pixels; for Vision):
                         the program takes fp32 [1,1,28,28] pixels and divides by 255 itself */
    const char *author, *version, *license, *description; /* Metadata; NULL = default */
    const char *dataset; /* names the class labels and the input (NULL: class indices) */
} anet_export_options;

void anet_export_options_default(anet_export_options *o);

/* Names in the exported program. */
#define ANET_EXPORT_PROBS "probabilities" /* softmax output the classifier reads */
#define ANET_EXPORT_OUTPUT "output"       /* regression output */
#define ANET_EXPORT_LABEL "classLabel"
#define ANET_EXPORT_PROBDICT "classProbabilities"

typedef struct anet_deploy {
    anet_graph *g;      /* the program without the classifier tail; output: head */
    int input, head;    /* value ids */
    int classes;        /* size of the head */
    char **labels;      /* classes labels (classifier) */
} anet_deploy;

/* The deployment program of a model with weights params[i] (anet_model_param order). */
anet_status anet_deploy_build(const anet_model_spec *spec, const float *const *params, const anet_export_options *o,
                              anet_deploy *out);
void anet_deploy_free(anet_deploy *d);

/* The Core ML Model message (specification) of d. Moves d's large consts into a weight image
 * (*weights, for weights/weight.bin). */
anet_status anet_export_spec(anet_deploy *d, const anet_export_options *o, const char *model_text, uint8_t **spec,
                             size_t *spec_len, uint8_t **weights, size_t *weights_len);

/* The whole package at path (a directory; written beside it and renamed into place, so a
 * failure leaves no partial package and an existing one is replaced only when complete). */
anet_status anet_export_package(const anet_model_spec *spec, const float *const *params, const anet_export_options *o,
                                const char *path);

/* A checkpoint as the export's input (export/source.c). */
typedef struct anet_export_source {
    struct anet_model *model;      /* owns the weights */
    const anet_model_spec *spec;
    const float *const *params;
    char dataset[64];              /* the checkpoint's "dataset" metadata ("" if none) */
} anet_export_source;
anet_status anet_export_source_load(const char *ckpt, anet_export_source *s);
void anet_export_source_free(anet_export_source *s);

/* ---- reading back (export/package_read.c) ---- */
typedef struct anet_exported {
    anet_graph *g;      /* the program as read from the package, weights included; output: head */
    int input, head;    /* value ids */
    int classes;
    char **labels;      /* NULL for a regression model */
    int64_t spec_version;
    char opset[16];
} anet_exported;

/* Reads an exported .mlpackage (or a .mlmodel plus weight image) into a runnable graph. */
anet_status anet_exported_load(const char *path, anet_exported *out);
void anet_exported_free(anet_exported *e);

/* Runs a program (input -> head) on vane for each of n samples (x: n * input elements, fp32,
 * already normalised); out: n * classes fp32 values of the head; logits (NULL: not wanted):
 * the softmax's input, which ranks classes whose fp16 probabilities tie (as the eval
 * program's argmax does). Sets g's outputs to what it reads. */
anet_status anet_export_run(anet_graph *g, int input, int head, anet_chip chip, const float *x, size_t n, float *out,
                            float *logits);
/* The program in the form vane runs: vane applies the private API's compile rules, which
 * refuse a conv bias (Core ML's form, which the export writes); a conv with a bias becomes
 * conv + add, as in the eval program (and rounding as it does). Replaces *g (and updates the
 * value ids) only when there is such a conv. */
anet_status anet_export_vane_form(anet_graph **g, int *input, int *head);
/* The value the softmax before head reads (the logits), or -1. */
int anet_export_logits(const anet_graph *g, int head);

#endif
