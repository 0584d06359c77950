/* ane_trainer — train small networks on the Apple Neural Engine (or its emulator, vane).
 *
 * The one public header. Every symbol carries the anet_ prefix; handles are opaque.
 * Calls return an anet_status; on failure a one-line message is kept per thread and
 * read with anet_last_error(). Nothing here exits or aborts on bad input.
 */
#ifndef ANE_TRAINER_H
#define ANE_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum anet_status {
    ANET_OK = 0,
    ANET_E_INVALID = 1,     /* a bad argument or option */
    ANET_E_IO = 2,          /* a file or directory could not be read or written */
    ANET_E_FORMAT = 3,      /* a file is malformed, truncated or of the wrong kind */
    ANET_E_NOMEM = 4,       /* an allocation failed or a size is beyond the limits */
    ANET_E_UNSUPPORTED = 5, /* valid, but not supported (op, dtype, platform, backend) */
    ANET_E_NOTFOUND = 6,    /* a dataset, file or name was not found */
    ANET_E_NETWORK = 7,     /* a download failed */
    ANET_E_VERIFY = 8,      /* a checksum or a numerical check did not match */
    ANET_E_BACKEND = 9,     /* a backend failed to compile, load or evaluate a program */
    ANET_E_MISMATCH = 10,   /* shapes, types or models that do not fit together */
    ANET_E_INTERNAL = 11    /* a bug: please report it */
} anet_status;

/* The message of the last failed call on this thread ("" if none). */
const char *anet_last_error(void);
/* A short name for a status code ("invalid argument", ...). */
const char *anet_status_str(anet_status s);
/* The library version, "MAJOR.MINOR.PATCH". */
const char *anet_version(void);

/* ==== The C API for programs and language bindings ====
 * Designed for ctypes-style callers: opaque handles, plain pointers, sizes and C strings; no
 * struct crosses the boundary by value. Every call checks its arguments (NULL handles, sizes,
 * shapes, NaN data) and fails with a status and a message instead of crashing. Strings
 * returned as `const char *` belong to the handle (valid until it is freed or changed);
 * strings returned through `char **` are malloc'd: release them with anet_free(). Handles are
 * independent: two trainers in one process share nothing (one handle per thread at a time). */

/* Incremented when a function's signature or meaning changes (bindings check it). */
#define ANET_API_VERSION 1
int anet_api_version(void);
/* Releases memory the library returned through a `char **` argument (NULL is fine). */
void anet_free(void *p);

/* Sample data types of the array calls. */
typedef enum anet_data_type {
    ANET_DATA_U8 = 0, /* bytes, e.g. pixels: used as x / 255 (as datasets are) */
    ANET_DATA_F32 = 1 /* float features used as given; finite and |x| <= 65504 (fp16 range) */
} anet_data_type;

/* ---- models: an MLP spec ("mlp:784-128-10": Linear layers, relu between) with fp32 weights.
 * Parameters are i = 0 .. n-1: "w0" [out, in], "b0" [out], "w1", ... (torch.nn.Linear's
 * layout and order: w_l is parameter 2l, b_l is 2l+1). */
typedef struct anet_model anet_model;
/* A new model with PyTorch's default Linear init drawn from seed (the same weights as
 * `ane_trainer train --seed S`). */
anet_status anet_model_new(const char *spec, uint64_t seed, anet_model **out);
/* A model with the weights of a checkpoint (its "model" metadata names the spec). */
anet_status anet_model_load(const char *checkpoint, anet_model **out);
void anet_model_free(anet_model *m);
/* The canonical spec ("mlp:784-128-10"); "" for NULL. */
const char *anet_model_spec_text(const anet_model *m);
/* Number of parameter tensors (2 per layer); 0 for NULL. */
int anet_model_num_params(const anet_model *m);
/* Layer sizes: dims[0] = inputs, ..., dims[*ndims - 1] = classes (cap: room in dims); for a
 * model that is not in the mlp: form, [inputs, outputs]. */
anet_status anet_model_dims(const anet_model *m, int64_t *dims, size_t cap, size_t *ndims);
/* The model's layers as JSON (malloc'd, release with anet_free): {"input": [C,H,W] or [F],
 * "loss": "xent"|"mse"|"bce", "layers": [{"kind", "in", "out_shape", "param0", and per kind
 * "out", "kh", "kw", "stride", "pad", "groups", "alpha", "back"}]} (docs/models.md). */
anet_status anet_model_layers_json(const anet_model *m, char **json);
/* Name ("w0", "b0", ...) and shape of parameter i; a bias has cols = 1. */
anet_status anet_model_param_info(const anet_model *m, int i, char *name, size_t name_len, int64_t *rows,
                                  int64_t *cols);
/* Copies parameter i out of / into the model; count must be rows * cols. Set refuses
 * non-finite values (and then changes nothing). */
anet_status anet_model_get_param(const anet_model *m, int i, float *out, size_t count);
anet_status anet_model_set_param(anet_model *m, int i, const float *in, size_t count);

/* ---- training from arrays. The trainer compiles its programs once for its batch size. */
typedef struct anet_trainer anet_trainer;
/* A trainer starting from model's weights (copied). options: space-separated key=value, each
 * optional: optimizer=adam|adamw|sgd lr= momentum= weight_decay= beta1= beta2= eps=
 * schedule=constant|cosine|warmup|warmup-cosine warmup_steps= schedule_steps= (the span of cosine
 * schedules; default epochs= x batches)
 * seed= (shuffling) batch_size= backend=auto|vane|ane|ane-sim
 * chip=m1|m2|m3|m4|strict update=cpu|ane numerics=fp16|fp32 program_form=auto|device (auto: vane
 * runs the plain form, device: the chip's device form, as ane-sim) loss_scale= loss_scale_growth=
 * max_memory= (bytes: the plan's memory budget, default half of physical memory; over it the
 * trainer is refused before allocating, ANET_E_NOMEM) quiet=0|1 (progress on stderr; default 1). Defaults are the CLI's (docs/training.md).
 * Unknown keys and bad values fail with ANET_E_INVALID naming them. */
anet_status anet_trainer_new(const anet_model *model, const char *options, anet_trainer **out);
/* A trainer continuing a checkpoint (of the CLI or of anet_trainer_save): model, weights,
 * optimizer state, step, loss scale, RNG and options from the file; options override keys
 * that may change (backend, chip, numerics, lr, ...). */
anet_status anet_trainer_load(const char *checkpoint, const char *options, anet_trainer **out);
void anet_trainer_free(anet_trainer *t);
/* One epoch over x [n, features] (anet_data_type x_type) and labels y [n] (0..classes-1):
 * shuffled by (seed, epoch) and batched exactly as `ane_trainer train` does on a dataset with
 * these samples (last partial batch dropped). *loss (optional): the epoch's mean batch loss. */
anet_status anet_trainer_fit_epoch(anet_trainer *t, const void *x, int x_type, const int64_t *y, size_t n,
                                   size_t features, double *loss);
/* Asks the running anet_trainer_fit_epoch (or the CLI's run) to stop after its current step
 * (stop = 1), or withdraws the request (0). Safe from a signal handler and from another
 * thread; the request belongs to this trainer only. A stopped fit_epoch returns ANET_OK with
 * *loss NaN and the epoch unfinished (anet_trainer_epochs_done unchanged): the state is that
 * after the last whole step, anet_trainer_save keeps it, and the next fit_epoch goes on with
 * the same epoch's remaining batches. t NULL: ANET_E_INVALID without a message (this call
 * never formats text, so that a signal handler may make it). */
anet_status anet_trainer_request_stop(anet_trainer *t, int stop);
/* 1 when the last fit_epoch (or run) ended early on a stop request, else 0. */
int anet_trainer_interrupted(const anet_trainer *t);
/* Accuracy (argmax) and mean softmax cross-entropy (from the fp16 logits, in double) on
 * arrays; either output may be NULL. */
anet_status anet_trainer_evaluate(anet_trainer *t, const void *x, int x_type, const int64_t *y, size_t n,
                                  size_t features, double *accuracy, double *loss);
/* The same with regression targets for models trained with mse or bce: targets[n * outputs]
 * fp32, row-major [sample][output]. evaluate_targets gives the mean loss (accuracy has no
 * meaning there). */
anet_status anet_trainer_fit_epoch_targets(anet_trainer *t, const void *x, int x_type, const float *targets,
                                           size_t n, size_t features, double *loss);
anet_status anet_trainer_evaluate_targets(anet_trainer *t, const void *x, int x_type, const float *targets,
                                          size_t n, size_t features, double *loss);
/* Logits of the eval program: logits[n * classes], row-major [sample][class]. */
anet_status anet_trainer_predict(anet_trainer *t, const void *x, int x_type, size_t n, size_t features,
                                 float *logits);
/* The full training state as a safetensors checkpoint (atomic write; same format as the CLI). */
anet_status anet_trainer_save(anet_trainer *t, const char *path);
/* Replaces the training state with a checkpoint's; ANET_E_MISMATCH for another model, update
 * mode, optimizer or batch size. The trainer is unchanged when it fails. */
anet_status anet_trainer_restore(anet_trainer *t, const char *path);
/* The trainer's current weights into model (same spec), or model's weights into the trainer
 * (optimizer state kept). */
anet_status anet_trainer_get_model(const anet_trainer *t, anet_model *model);
anet_status anet_trainer_set_model(anet_trainer *t, const anet_model *model);
/* The spec of the trainer's model ("" for NULL). */
const char *anet_trainer_model_spec(const anet_trainer *t);
/* Sets the total epoch count that cosine schedules span (counting epochs already done). */
anet_status anet_trainer_set_total_epochs(anet_trainer *t, int epochs);
/* The peak learning rate of the schedule from the next step on (lr= of the options). */
anet_status anet_trainer_set_lr(anet_trainer *t, double lr);
/* fit_epoch's order: shuffled by (seed, epoch) (shuffle = 1, the default) or the arrays' own
 * order (0; the last partial batch is still dropped). */
anet_status anet_trainer_set_shuffle(anet_trainer *t, int shuffle);
/* The backend in use ("vane", "ane", "ane-sim") and why it was chosen. */
const char *anet_trainer_backend_name(const anet_trainer *t);
const char *anet_trainer_backend_reason(const anet_trainer *t);
/* Epochs completed (a loaded checkpoint's included). */
int anet_trainer_epochs_done(const anet_trainer *t);
/* JSON object: options (optimizer, lr, batch_size, update, ...), counters (step, epochs_done,
 * loss_scale, skipped_steps, compiles, dispatches) and "last_epoch" (the epoch metrics line's
 * fields, docs/training.md; null before the first epoch). */
anet_status anet_trainer_stats_json(const anet_trainer *t, char **json);

/* ---- datasets (IDX image-classification sets: mnist, fashion-mnist, kmnist or a directory) */
typedef struct anet_dataset anet_dataset;
/* name_or_dir: a known name (searched as `ane_trainer data list` says, data_dir first) or a
 * directory with the four IDX files; NULL: mnist if found, else fashion-mnist. */
anet_status anet_dataset_load(const char *name_or_dir, const char *data_dir, anet_dataset **out);
void anet_dataset_release(anet_dataset *ds);
/* Sizes: samples per split, image rows and cols (features = rows * cols), classes. */
anet_status anet_dataset_shape(const anet_dataset *ds, uint32_t *ntrain, uint32_t *ntest, uint32_t *rows,
                               uint32_t *cols, uint32_t *classes);
/* Copies a split (0 train, 1 test): images [n, rows * cols] bytes, labels [n]; the lengths
 * must be exactly those sizes. */
anet_status anet_dataset_copy_split(const anet_dataset *ds, int split, uint8_t *images, size_t images_len,
                                    uint8_t *labels, size_t labels_len);
/* The directory the files were read from ("" for NULL). */
const char *anet_dataset_dir(const anet_dataset *ds);

/* ---- information and the ANE compatibility check ---- */
/* `ane_trainer info --json` as a string. */
anet_status anet_info_json(char **json);
/* `ane_trainer check PATH --chip CHIP --json` as a string (chip NULL: as the CLI without
 * --chip: a checkpoint's recorded chip, m4 for a model spec, else "strict"): layers with
 * verdict/rule/reason/source, segments, notes, summary (compatibility full|partial|none,
 * exit_status 0|1|2). A file that cannot be read or parsed fails (ANET_E_IO, ANET_E_FORMAT,
 * ANET_E_UNSUPPORTED). */
anet_status anet_check_json(const char *path, const char *chip, char **json);

/* ---- Core ML export (docs/deploy.md) ----
 * Writes the model as a Core ML ML Program package (a directory, e.g. "Digits.mlpackage"; an
 * existing package there is replaced, any other existing path is refused). options: NULL or a
 * JSON object with any of "precision" ("fp16" default, "fp32"), "minimum_deployment_target"
 * ("iOS16" default, "iOS17", "iOS18"), "input" ("array" default: a 1x28x28 multi-array of
 * pixel / 255; "image": a Core ML grayscale image, for Vision), "dataset" (its class labels),
 * "regression" (true: a plain `output` instead of a classifier), "author", "version",
 * "license", "description" (strings). */
anet_status anet_model_export_coreml(const anet_model *m, const char *path, const char *options);

/* ---- character transformers ---- */
/* Samples `tokens` characters (0..1000000) after `prompt` from a transformer checkpoint
 * (`ane_trainer train --model transformer:... --out DIR` writes DIR/checkpoint.safetensors),
 * as `ane_trainer generate` does: temperature in [0, 100] (0: argmax), the same seed gives the
 * same text; backend NULL: vane. *text (malloc'd, release with anet_free) receives the prompt
 * followed by the sampled characters. A prompt character outside the checkpoint's vocabulary
 * is ANET_E_INVALID. */
anet_status anet_generate_text(const char *checkpoint, const char *prompt, int64_t tokens, double temperature,
                               uint64_t seed, const char *backend, char **text);

#ifdef __cplusplus
}
#endif
#endif
