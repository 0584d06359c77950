/* Shuffled mini-batches in the ANE layout. Each epoch's order is a permutation drawn from
 * (seed, epoch) alone, so a saved position (epoch, index) restores the exact stream of batches
 * an uninterrupted run would have produced. */
#ifndef ANET_DATA_BATCH_H
#define ANET_DATA_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "core/fp16.h"
#include "core/rng.h"

typedef enum anet_batch_tail {
    ANET_BATCH_DROP_LAST = 0, /* an epoch ends at its last full batch */
    ANET_BATCH_KEEP_LAST = 1  /* the last, partial batch is delivered, zero-padded */
} anet_batch_tail;

/* Where the batcher stands: the next sample is perm(epoch)[index]. */
typedef struct anet_batch_pos {
    uint64_t epoch;
    uint32_t index;
} anet_batch_pos;

typedef struct anet_batcher {
    const uint8_t *images; /* n * features bytes (borrowed; must outlive the batcher) */
    const float *images_f32; /* or n * features fp32 values used as they are (anet_batcher_init_f32) */
    const uint8_t *labels; /* n bytes (borrowed) */
    const float *targets;  /* NULL, or n x classes fp32 targets (borrowed): y_onehot carries them
                            * instead of the labels' one-hot rows (regression losses) */
    uint32_t n, features, classes, batch_size;
    anet_batch_tail tail;
    int shuffle;           /* 0: identity order every epoch (evaluation) */
    uint64_t seed;
    anet_batch_pos pos;
    uint32_t *perm;        /* the current epoch's order */
    uint64_t perm_epoch;   /* the epoch perm was drawn for (valid when have_perm) */
    int have_perm;         /* a flag, not a sentinel epoch: every uint64 is a possible epoch */
    anet_rng rng;          /* generator state: reseeded from (seed, epoch) for each epoch */
    uint8_t *stage;        /* fp32 batcher: batch_size x features floats, the samples gathered
                            * before packing; byte batcher: one zero sample (padding columns) */
    const uint8_t **rows;  /* byte batcher: batch_size pointers, each batch's samples where they lie */
} anet_batcher;

/* One batch, packed for a program compiled for batch_size columns. Columns >= count are zero
 * (images and one-hot) and have label -1, index UINT32_MAX. */
typedef struct anet_batch {
    uint32_t count;      /* real samples in this batch (== batch_size except a kept tail) */
    uint32_t batch_size; /* B: the column count of the layouts below */
    uint32_t features, classes;
    uint64_t epoch;      /* the epoch this batch belongs to */
    uint32_t number;     /* index of this batch within its epoch */
    int last_in_epoch;   /* 1 when the epoch ends after this batch */
    anet_f16 *x;         /* [1, features, 1, B]: x[f * x_ld + j] = fp16(pixel f of sample j * (1/255)) */
    size_t x_ld;         /* elements between x's feature rows: B, or a placed buffer's row (anet_batch_place_x) */
    anet_f16 *x_own;     /* the buffer anet_batch_alloc made (x unless placed) */
    anet_f16 *y_onehot;  /* [1, classes, 1, B]: y_onehot[k * B + j] = (label_j == k), or
                          * fp16(target k of sample j) when the batcher has targets */
    int32_t *labels;     /* [B] */
    uint32_t *indices;   /* [B]: the sample index in the split */
} anet_batch;

/* n > 0 samples of `features` bytes each; labels < classes (checked, ANET_E_FORMAT otherwise);
 * 1 <= batch_size; with DROP_LAST batch_size <= n. */
anet_status anet_batcher_init(anet_batcher *b, const uint8_t *images, const uint8_t *labels, uint32_t n,
                              uint32_t features, uint32_t classes, uint32_t batch_size, uint64_t seed,
                              int shuffle, anet_batch_tail tail);
/* The same over fp32 features (in-memory data of the C API): packed as fp16(x), no scaling.
 * Every value must be finite and within fp16's range (|x| <= 65504), checked here. */
anet_status anet_batcher_init_f32(anet_batcher *b, const float *x, const uint8_t *labels, uint32_t n,
                                  uint32_t features, uint32_t classes, uint32_t batch_size, uint64_t seed,
                                  int shuffle, anet_batch_tail tail);
void anet_batcher_free(anet_batcher *b);

/* Batches in one epoch under the batcher's tail policy. */
uint32_t anet_batcher_batches_per_epoch(const anet_batcher *b);

/* Allocates the buffers of a batch for this batcher; anet_batch_free releases them. */
anet_status anet_batch_alloc(const anet_batcher *b, anet_batch *out);
void anet_batch_free(anet_batch *batch);
/* Has the next batches' x written straight into x (features rows of ld >= B elements, e.g. the
 * program's device tensor), so nothing copies it there; elements b >= B of a row are never
 * written. x NULL: back to the batch's own buffer. */
void anet_batch_place_x(anet_batch *batch, anet_f16 *x, size_t ld);

/* Fills the next batch and advances. At the end of an epoch it moves on to the next one (batch
 * ->epoch and ->last_in_epoch tell where the boundaries are). */
anet_status anet_batcher_next(anet_batcher *b, anet_batch *out);

/* The position to save in a checkpoint, and its exact restoration (index <= n). */
anet_batch_pos anet_batcher_tell(const anet_batcher *b);
anet_status anet_batcher_seek(anet_batcher *b, anet_batch_pos pos);

/* The order of samples in an epoch (n entries), as the batcher draws it. */
anet_status anet_batcher_epoch_order(anet_batcher *b, uint64_t epoch, const uint32_t **order);

#endif
