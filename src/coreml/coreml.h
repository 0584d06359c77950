/* Core ML model files read for `ane_trainer check`: .mlmodel (protobuf), .mlpackage and
 * .mlmodelc bundles, flattened into one list of layers (NeuralNetwork layers and ML Program
 * ops, nested Pipeline models included) with the shapes and parameters the rules need.
 * Then the analysis: a verdict per layer and the ANE segments.
 *
 * Field numbers are those of apple/coremltools mlmodel/format/ .proto files (cited where read).
 * Every reader is bounded: nesting is depth-limited before descending, every count comes
 * from bytes actually present, malformed input gives ANET_E_FORMAT with one clear line. */
#ifndef ANET_COREML_COREML_H
#define ANET_COREML_COREML_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core/error.h"
#include "graph/ir.h"
#include "plan/constraints.h"
#include "runtime/backend.h"

/* Pipeline -> Model -> Pipeline ... and MIL Operation -> Block -> Operation nesting. */
#define ANET_CM_MAX_DEPTH 16
#define ANET_CM_MAX_DIMS 8
/* Layers (and ops) one report holds: far above any real model (a large language model has tens
 * of thousands of ops), and it keeps a hostile file of millions of empty layers to a few
 * hundred megabytes (about 300 bytes per layer) before it is refused. */
#define ANET_CM_MAX_LAYERS (1 << 20)
/* Files larger than this are refused before reading (a Core ML spec with weights inline
 * can be large, but not this large). */
#define ANET_CM_MAX_FILE ((size_t)1 << 31)

typedef enum anet_cm_placement {
    ANET_CM_ANE = 0, /* likely runs on the Neural Engine */
    ANET_CM_CPU,     /* likely falls back to the CPU (or GPU) */
    ANET_CM_UNKNOWN  /* no rule either way */
} anet_cm_placement;

const char *anet_cm_placement_name(anet_cm_placement p); /* "ane", "cpu", "unknown" */

/* Which rule set judges ML Program ops (`check --rules`): Core ML's placement rules for files
 * Core ML compiles (src/plan/rules_coreml.c, the NeuralNetwork rules applied to the matching
 * MIL ops), or the in-memory compile rules of the private API that this project's trainer
 * uses (src/plan/constraints.c). DEFAULT resolves to PRIVATE for our own programs (.mil,
 * checkpoints, model specs) and to COREML for everything else. NeuralNetwork layers always
 * get the NeuralNetwork rules. */
typedef enum anet_cm_rules {
    ANET_CM_RULES_DEFAULT = 0,
    ANET_CM_RULES_COREML,
    ANET_CM_RULES_PRIVATE
} anet_cm_rules;

const char *anet_cm_rules_name(anet_cm_rules r); /* "coreml", "private" */

typedef struct anet_cm_shape {
    int rank;                        /* -1 = not known */
    int64_t dims[ANET_CM_MAX_DIMS];  /* -1 (or <= 0) = unknown dimension */
    char dtype[16];                  /* "fp32", "fp16", "image", ... ("" = not known) */
} anet_cm_shape;

typedef struct anet_cm_tensor {
    char *name;
    anet_cm_shape shape;
} anet_cm_tensor;

typedef struct anet_cm_layer {
    char *name;
    char *type;       /* NN: proto field name ("convolution"); MIL: op type ("conv") */
    char *subtype;    /* activation kind, custom class name, ... (may be NULL) */
    char *model_path; /* "" for the top model, "models[1]" inside a pipeline, ... */
    int field;        /* NN: NeuralNetworkLayer oneof field number; 0 otherwise */
    int is_mil;       /* ML Program op */
    int graph;        /* ML Program: index into model->graphs, -1 if none */
    int op;           /* ML Program: op id in that graph, -1 if none */
    char **inputs;
    int ninputs;
    char **outputs;
    int noutputs;
    anet_cm_shape *in_shapes; /* parallel to inputs/outputs */
    anet_cm_shape *out_shapes;
    /* Parameters read from the file (NeuralNetwork layers). */
    uint64_t kernel[3], stride[3], dilation[3], scale[3];
    int nkernel, nstride, ndilation, nscale;
    float fscale[3];
    int nfscale;
    int global_pooling, deconv;
    /* ML Program ops the graph IR could not take (op == -2): the private rules' verdict. */
    anet_cm_placement ir_verdict;
    const anet_rule *ir_rule;
    char *ir_detail;
    /* The verdict. */
    anet_cm_placement verdict;
    const anet_rule *rule;
    char *detail; /* the specifics (anet_cm_set_detail; NULL = none): allocated to size, so a
                   * file of millions of layers costs what its layers say, not 256 bytes each */
    /* `check --on-device` (anet_cm_merge_plan): the OS's preferred device for this layer, an
     * anet_cp_device of coreml/compute_plan.h (0 = not reported), the devices it supports
     * (bit 1 << device each) and whether it contradicts `verdict`. */
    int os_device;
    unsigned os_supported;
    int os_mismatch;
} anet_cm_layer;

/* A program-level rule that fails for a whole ML Program (its inputs' ranks, axes, dtypes;
 * the BLOBFILE count): reported beside the per-op verdicts. */
typedef struct anet_cm_issue {
    int graph;                /* index into model->graphs */
    char program[64];         /* "main", "train", "eval" */
    anet_cm_placement verdict; /* cpu, or unknown for a private-path rule on a Core ML file */
    const anet_rule *rule;
    char detail[256];
} anet_cm_issue;

typedef struct anet_cm_segment {
    int first, last; /* layer indices, inclusive */
    anet_cm_tensor *inputs, *outputs;
    int ninputs, noutputs;
    int inputs_more, outputs_more; /* crossing tensors beyond the listed ones */
} anet_cm_segment;

typedef struct anet_cm_model {
    char *path;
    const char *format;   /* "mlmodel", "mlpackage", "mlmodelc", "mil" */
    const char *kind;     /* "neuralNetwork", "neuralNetworkClassifier", "pipeline", "mlProgram", ... */
    int64_t spec_version; /* 0 when not known (bundles without a readable spec) */
    anet_cm_tensor *inputs, *outputs; /* the top model's features */
    int ninputs, noutputs;
    anet_cm_tensor *known; /* every tensor whose shape the file states (features, layer tensors, MIL types) */
    int nknown, cap_known;
    anet_cm_layer *layers;
    int nlayers, cap_layers;
    char **notes; /* one-line remarks for the report ("classifier labels are computed on the CPU") */
    int nnotes;
    anet_graph **graphs; /* ML Programs as IR, for the constraint table */
    int ngraphs;
    /* Programs for the private-API path (our .mil, checkpoints, model specs): the rules
     * reported for that path give `cpu` (for Core ML files they give `unknown`), and each
     * graph is a separate program (segments and switches do not cross them). */
    int private_path;
    /* The chip to judge for when the user names none (checkpoints: the one they trained for). */
    int has_chip_hint;
    anet_chip chip_hint;
    /* The rule set for ML Program ops: set before anet_coreml_analyze (DEFAULT: see
     * anet_cm_rules); after it, the one that applied. */
    anet_cm_rules rules;
    /* Private rules on a bundle: why the strict MIL parser could not build the program ("" if
     * it could, or if it was not needed). */
    char ir_error[256];
    /* Analysis results (anet_coreml_analyze). */
    int analyzed;
    anet_chip chip;
    int n_ane, n_cpu, n_unknown, switches;
    anet_cm_segment *segments;
    int nsegments;
    anet_cm_issue *issues; /* program-level rules that fail */
    int nissues;
    /* `check --on-device` results (anet_cm_merge_plan). */
    int on_device;
    int os_ane, os_cpu, os_gpu, os_unreported; /* our layers by the OS's preferred device */
    int os_mismatches;                         /* layers where the OS contradicts our verdict */
    int os_extra;                              /* OS entries matching none of our layers */
    char os_source[16];                        /* the seam's name: "darwin", "replay", ... */
} anet_cm_model;

/* Reads PATH: a .mlmodel file, a .mlpackage or .mlmodelc directory, or MIL text (.mil).
 * ANET_E_IO: cannot be read; ANET_E_FORMAT: malformed; ANET_E_UNSUPPORTED: valid but of a
 * kind this reader does not analyze (the message says which). */
anet_status anet_coreml_load(const char *path, anet_cm_model **out);
/* The same, for rule set `rules` (bundles: the private rules also need the graph IR). */
anet_status anet_coreml_load_with(const char *path, anet_cm_rules rules, anet_cm_model **out);
/* The training and evaluation programs of an ane_trainer checkpoint (.safetensors: its
 * "model", "batch_size", "update", "optimizer" and "chip" metadata) or of a model spec
 * ("mlp:784-128-10", batch 128, update cpu, adam), built by train/step.c as `ane_trainer
 * compile --model` builds them; layers are their ops with model_path "train" / "eval". */
anet_status anet_coreml_load_training(const char *path, anet_cm_model **out);
/* Parses a .mlmodel protobuf image; `name` is used in messages. weights: unused (NULL);
 * wlen: the size of the package's weight.bin (0 if none): BLOBFILE weights are not read, but
 * ML Program consts are modeled as zero-filled stand-ins of their declared type, and those
 * are bounded by 2 * len + wlen bytes in total. */
anet_status anet_coreml_parse_mlmodel(const uint8_t *buf, size_t len, const uint8_t *weights,
                                      size_t wlen, const char *name, anet_cm_model **out);
void anet_coreml_free(anet_cm_model *m);

/* Gives every layer a verdict for `chip`, then the segments and the switch count. */
anet_status anet_coreml_analyze(anet_cm_model *m, anet_chip chip);
/* Exit-style summary: 0 every layer ane and no program-level rule failing, 2 no layer ane
 * (and at least one cpu), 1 otherwise (a mix, or layers of unknown placement). After
 * --on-device the OS's placement replaces ours for every layer it reported. */
int anet_coreml_compat(const anet_cm_model *m);

/* "likely fully compatible", ... for an anet_coreml_compat value. */
const char *anet_coreml_compat_statement(int compat);
/* The report of an analyzed model as a JSON tree (the `check --json` output); NULL: no memory. */
struct cJSON;
struct cJSON *anet_coreml_report_json(const anet_cm_model *m);
/* The same report written to f as it is built, one layer at a time (memory stays that of one
 * layer's JSON, whatever the model's size); -1 when out of memory or a write failed. */
int anet_coreml_report_write(const anet_cm_model *m, FILE *f);

/* NeuralNetwork-layer rules (src/plan/rules_nn.c): same struct as the MIL rules. */
const anet_rule *anet_rules_nn(int *n);
const anet_rule *anet_rule_nn_find(const char *id);
/* The placement of one NeuralNetwork layer on chip: fills verdict/rule/detail. */
void anet_rules_nn_check(anet_cm_layer *l, anet_chip chip);
/* The same, judging l as the NeuralNetwork layer kind `field` (ML Program ops under the Core
 * ML rules: conv as convolution, max_pool as pooling, ...). */
void anet_rules_nn_judge(anet_cm_layer *l, anet_chip chip, int field);
/* Is Model oneof field `field` one of the neural models Core ML ships (visionFeaturePrint,
 * soundAnalysisPreprocessing, audioFeaturePrint, ...)? Its name: anet_cm_model_kind_name. */
int anet_cm_model_kind_neural(int field);
const char *anet_cm_model_kind_name(int field); /* NULL if unknown */
/* Core ML placement rules (src/plan/rules_coreml.c) for one ML Program op: fills
 * verdict/rule/detail from its type, parameters (kernel, stride, dilation, scale) and shapes. */
void anet_rules_coreml_check(anet_cm_layer *l, anet_chip chip);
const anet_rule *anet_rules_coreml(int *n);
const anet_rule *anet_rule_coreml_find(const char *id);
/* The public MIL opset modelled by the Core ML rules, one row per op (iOS15..iOS18 opsets of
 * apple/coremltools coremltools/converters/mil/mil/ops/defs/). */
typedef struct anet_mil_op_info {
    const char *name;
    const char *opset; /* the first opset that has it: "iOS15", ... */
    int nn_field;      /* the NeuralNetwork layer kind it is judged as; 0: rule below */
    const char *rule;  /* the rule id that decides it when nn_field is 0 */
} anet_mil_op_info;
const anet_mil_op_info *anet_mil_opset(int *n);
const anet_mil_op_info *anet_mil_op_find(const char *name);
/* The proto field name of a NeuralNetworkLayer oneof field ("convolution"); NULL if unknown. */
const char *anet_nn_layer_name(int field);

/* Internal helpers shared by the readers (src/coreml/model.c). */
anet_cm_model *anet_cm_model_new(const char *path, const char *format);
anet_cm_layer *anet_cm_add_layer(anet_cm_model *m); /* zeroed, graph/op = -1; NULL: see below */
/* Why anet_cm_add_layer gave NULL: more than ANET_CM_MAX_LAYERS layers (ANET_E_FORMAT), or
 * out of memory. `name` names the file in the message. */
anet_status anet_cm_no_layer(const anet_cm_model *m, const char *name);
int anet_cm_add_known(anet_cm_model *m, const char *name, size_t nlen, const anet_cm_shape *s);
/* in_shapes / out_shapes of nin / nout entries (NULL when 0: most of a hostile file's empty
 * layers cost nothing here); -1 when out of memory. Entries start zeroed. */
int anet_cm_alloc_shapes(anet_cm_layer *l, int nin, int nout);
const anet_cm_shape *anet_cm_find_shape(const anet_cm_model *m, const char *name);
char *anet_cm_strndup(const void *s, size_t n); /* NUL-terminated copy */
int anet_cm_add_note(anet_cm_model *m, const char *fmt, ...);
/* A layer's detail line (replaces it; at most 255 characters), appended text, and the line
 * ("" when none). */
void anet_cm_set_detail(anet_cm_layer *l, const char *fmt, ...) ANET_PRINTF(2, 3);
void anet_cm_append_detail(anet_cm_layer *l, const char *s);
const char *anet_cm_detail(const anet_cm_layer *l);
/* An ML Program op's constant argument `key` (v[0..n)) into the layer parameters the rules
 * read: kernel_sizes, strides, dilations, scale_factor_height / _width; others are ignored. */
void anet_cm_set_param(anet_cm_layer *l, const char *key, size_t klen, const double *v, int n);
/* Is this the text of a Git LFS pointer file (a placeholder committed instead of the data)? */
int anet_cm_is_lfs_pointer(const uint8_t *buf, size_t len);

#endif
