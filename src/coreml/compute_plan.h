/* `check --on-device`: ask the OS where it would run each layer (Core ML's MLComputePlan,
 * macOS 14.4+) and put its answer beside our static verdicts.
 *
 * The seam is one function pointer: everything macOS-specific (compiling the model, the
 * Objective-C runtime, the completion handler) lives behind it in compute_plan_darwin.c,
 * which is built only on macOS and syntax-checked elsewhere (scripts/check_darwin.sh). The
 * portable side (compute_plan.c) turns the OS's per-layer answer into columns of our report
 * and counts the disagreements; tests drive it with a fake seam. */
#ifndef ANET_COREML_COMPUTE_PLAN_H
#define ANET_COREML_COMPUTE_PLAN_H

#include "coreml/coreml.h"

/* A compute device as MLComputePlan names it (MLComputeDeviceProtocol classes). */
typedef enum anet_cp_device {
    ANET_CP_NONE = 0, /* not reported (no device usage for this layer) */
    ANET_CP_ANE,      /* MLNeuralEngineComputeDevice */
    ANET_CP_CPU,      /* MLCPUComputeDevice */
    ANET_CP_GPU,      /* MLGPUComputeDevice */
    ANET_CP_OTHER     /* a device class this build does not know */
} anet_cp_device;

const char *anet_cp_device_name(int d); /* "ane", "cpu", "gpu", "other", "-" */

/* One layer (NeuralNetwork) or op (ML Program) of the OS's plan, in the OS's order. */
typedef struct anet_cp_entry {
    char *model_path; /* "" for the top model, "models[1]" inside a pipeline (as ours) */
    char *name;       /* NN: the layer name; ML Program: the op's first output name */
    char *type;       /* NN: layer type ("convolution"); ML Program: operator name ("conv") */
    int preferred;    /* anet_cp_device */
    unsigned supported; /* bit (1u << device) per supported device */
} anet_cp_entry;

typedef struct anet_cp_plan {
    anet_cp_entry *entries;
    int n, cap;
} anet_cp_plan;

/* Appends an entry (strings copied); ANET_E_NOMEM on failure. */
anet_status anet_cp_plan_add(anet_cp_plan *p, const char *model_path, const char *name, const char *type,
                             int preferred, unsigned supported);
void anet_cp_plan_free(anet_cp_plan *p);

typedef struct anet_cp_seam {
    const char *name; /* "darwin", or a test's fake */
    /* The OS's plan for the Core ML model at path (.mlmodel, .mlpackage or .mlmodelc):
     * ANET_OK with *out filled; ANET_E_UNSUPPORTED when the OS cannot answer (not macOS
     * 14.4+), another status (message set) when it failed for this model. */
    anet_status (*query)(void *ctx, const char *path, anet_cp_plan *out);
    void *ctx;
} anet_cp_seam;

/* The OS's seam: on macOS the MLComputePlan one; elsewhere ANET_E_UNSUPPORTED with a
 * message saying --on-device needs macOS 14.4+. */
anet_status anet_cp_seam_os(anet_cp_seam *out);

/* A seam that replays a plan recorded as JSON instead of asking the OS (tests; comparing
 * with a plan recorded on a Mac): {"layers": [{"model_path": "", "name": "conv1", "type":
 * "convolution", "preferred": "ane"|"cpu"|"gpu"|"other", "supported": ["ane", "cpu"]}, ...]}
 * (model_path, type and supported optional; "preferred" null or absent: not reported). file
 * is borrowed and must outlive the seam. `ane_trainer check --on-device` uses it when
 * ANE_TRAINER_COMPUTE_PLAN names such a file. */
void anet_cp_seam_replay(const char *file, anet_cp_seam *out);

/* Puts the plan beside an analyzed model: each of our layers gets the OS's device of the
 * entry with the same model path and name (ML Program ops: first output name; when an op
 * has no output, its name); a mismatch is ours `ane` where the OS prefers another device,
 * or ours `cpu` where the OS prefers the ANE (`unknown` never mismatches). Sets
 * m->on_device and the os_* counts; entries matching none of our layers count in os_extra. */
anet_status anet_cm_merge_plan(anet_cm_model *m, const anet_cp_plan *p);

/* The whole of `check --on-device` after loading and analyzing m: refuses inputs the OS
 * cannot plan (our .mil programs, checkpoints, model specs: ANET_E_INVALID), queries the
 * seam (NULL: the OS's, anet_cp_seam_os) for m->path, merges. */
anet_status anet_cm_on_device(anet_cm_model *m, const anet_cp_seam *seam);

#endif
