/* Checkpoints as safetensors files: u64 little-endian header length, a JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}} padded with spaces to 8 bytes, then the data.
 * Writes are atomic (temp file in the same directory, fsync, rename, fsync of the directory),
 * so a crash leaves either the old file or the new one, never a mix. Reads validate every
 * field before trusting it. */
#ifndef ANET_TRAIN_CHECKPOINT_H
#define ANET_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "graph/ir.h"
#include "train/model.h"

#define ANET_CKPT_MAX_RANK 4
#define ANET_CKPT_MAX_TENSORS 4096
#define ANET_CKPT_MAX_HEADER ((uint64_t)100 << 20) /* as the safetensors reference reader */
#define ANET_CKPT_MAX_FILE ((uint64_t)4 << 30)
/* Metadata "checksum.<tensor>" = "crc32:<8 hex>" of the tensor's bytes: written for every
 * tensor, verified on every read when present (older files have none). */
#define ANET_CKPT_CHECKSUM_PREFIX "checksum."

typedef struct anet_ckpt_tensor {
    char name[64];
    anet_dtype dtype; /* ANET_DT_FP32 ("F32") or ANET_DT_FP16 ("F16") */
    int rank;         /* 0..ANET_CKPT_MAX_RANK */
    int64_t dims[ANET_CKPT_MAX_RANK];
    void *data;       /* writing: borrowed; reading: owned by the anet_ckpt */
    size_t nbytes;
} anet_ckpt_tensor;

typedef struct anet_ckpt_meta {
    char *key, *value;
} anet_ckpt_meta;

typedef struct anet_ckpt {
    anet_ckpt_tensor *tensors;
    int ntensors;
    anet_ckpt_meta *meta;
    int nmeta;
} anet_ckpt;

/* Writes tensors t[0..n) and metadata atomically to path. An existing file at path stays
 * intact when anything fails. */
anet_status anet_ckpt_write(const char *path, const anet_ckpt_tensor *t, int n,
                            const anet_ckpt_meta *meta, int nmeta);
/* Reads and validates a checkpoint (header bounds, JSON, dtypes, shapes, offsets in bounds,
 * no overlap and no gap, exact total size; each tensor's checksum; every value finite, second
 * moments "opt.v.*" / "ane.v.*" not negative: the message names the tensor). */
anet_status anet_ckpt_read(const char *path, anet_ckpt *out);
/* The same from a whole file's bytes in memory (name is used in messages). */
anet_status anet_ckpt_parse(const uint8_t *buf, size_t len, const char *name, anet_ckpt *out);
void anet_ckpt_free(anet_ckpt *c);

const anet_ckpt_tensor *anet_ckpt_find(const anet_ckpt *c, const char *name);
const char *anet_ckpt_get_meta(const anet_ckpt *c, const char *key); /* NULL if absent */

/* Counters (steps, skipped steps, optimizer steps) stay exact as doubles and far from int64
 * overflow: a checkpoint's counters are at most this. */
#define ANET_CKPT_MAX_COUNTER ((uint64_t)1 << 53)

/* Strict metadata values, the one parser of numbers in checkpoint metadata: a decimal integer
 * (digits only) in [lo, hi], or a finite number in [lo, hi] (the whole value parsed). A key
 * that is absent leaves *out as it is and returns ANET_OK unless required; anything else
 * wrong is ANET_E_FORMAT naming path, the key and the value. */
anet_status anet_ckpt_meta_uint(const anet_ckpt *c, const char *path, const char *key, uint64_t lo, uint64_t hi,
                                int required, uint64_t *out);
anet_status anet_ckpt_meta_real(const anet_ckpt *c, const char *path, const char *key, double lo, double hi,
                                int required, double *out);

/* Checks that the checkpoint holds model m: its "model" metadata equals m->text and every
 * parameter (w0, b0, ...) is present as F32 with the model's shape ([rows, cols] for w,
 * [rows] for b). what_model names m for the message (e.g. "--model"). */
anet_status anet_ckpt_check_model(const anet_ckpt *c, const char *path, const anet_model_spec *m,
                                  const char *what_model);

#endif
