/* Mini-batches: per-epoch permutations from (seed, epoch), packed channel-first for the ANE. */
#include "data/batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"

/* Derives the generator seed of one epoch, so any epoch can be drawn without replaying the ones
 * before it (exact resume). A splitmix64 finaliser decorrelates neighbouring epochs. */
static uint64_t epoch_seed(uint64_t seed, uint64_t epoch) {
    uint64_t z = seed ^ (epoch + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static anet_status batcher_init(anet_batcher *b, const void *images, int f32, const uint8_t *labels, uint32_t n,
                                uint32_t features, uint32_t classes, uint32_t batch_size, uint64_t seed, int shuffle,
                                anet_batch_tail tail) {
    if (!b) return anet_fail(ANET_E_INVALID, "batcher: NULL");
    memset(b, 0, sizeof *b);
    if (!images || !labels || n == 0 || features == 0 || classes == 0)
        return anet_fail(ANET_E_INVALID, "batcher: empty split (n=%u, features=%u, classes=%u)", n, features, classes);
    if (batch_size == 0) return anet_fail(ANET_E_INVALID, "batcher: batch size must be at least 1");
    if (tail != ANET_BATCH_DROP_LAST && tail != ANET_BATCH_KEEP_LAST)
        return anet_fail(ANET_E_INVALID, "batcher: unknown last-batch policy %d", (int)tail);
    if (tail == ANET_BATCH_DROP_LAST && batch_size > n)
        return anet_fail(ANET_E_INVALID, "batcher: batch size %u is larger than the %u samples (and the last partial batch is dropped)",
                         batch_size, n);
    for (uint32_t i = 0; i < n; i++)
        if (labels[i] >= classes)
            return anet_fail(ANET_E_FORMAT, "batcher: label %u of sample %u is out of range (%u classes)", labels[i], i, classes);
    if (batch_size > INT32_MAX / features || features > INT32_MAX)
        return anet_fail(ANET_E_NOMEM, "batcher: batch of %u x %u values is too large", batch_size, features);
    b->perm = malloc((size_t)n * sizeof *b->perm);
    b->stage = f32 ? malloc((size_t)batch_size * features * sizeof(float)) : calloc(features, 1);
    b->rows = f32 ? NULL : malloc((size_t)batch_size * sizeof *b->rows);
    if (!b->perm || !b->stage || (!f32 && !b->rows)) {
        anet_batcher_free(b);
        return anet_fail(ANET_E_NOMEM, "batcher: cannot allocate the order of %u samples", n);
    }
    if (f32) b->images_f32 = images;
    else b->images = images;
    b->labels = labels;
    b->n = n;
    b->features = features;
    b->classes = classes;
    b->batch_size = batch_size;
    b->tail = tail;
    b->shuffle = shuffle != 0;
    b->seed = seed;
    b->have_perm = 0;
    return ANET_OK;
}

anet_status anet_batcher_init(anet_batcher *b, const uint8_t *images, const uint8_t *labels, uint32_t n,
                              uint32_t features, uint32_t classes, uint32_t batch_size, uint64_t seed, int shuffle,
                              anet_batch_tail tail) {
    return batcher_init(b, images, 0, labels, n, features, classes, batch_size, seed, shuffle, tail);
}

anet_status anet_batcher_init_f32(anet_batcher *b, const float *x, const uint8_t *labels, uint32_t n,
                                  uint32_t features, uint32_t classes, uint32_t batch_size, uint64_t seed,
                                  int shuffle, anet_batch_tail tail) {
    /* A NaN or an out-of-range value would only show up later as a NaN loss: refuse it here,
     * naming the sample. */
    if (x && features > 0) {
        size_t total = (size_t)n * features;
        for (size_t i = 0; i < total; i++) {
            float v = x[i];
            if (!(v >= -65504.0f && v <= 65504.0f)) { /* false for NaN too */
                if (b) memset(b, 0, sizeof *b);
                return anet_fail(ANET_E_INVALID, "x[%zu, %zu] is %s: features must be finite and within fp16's "
                                 "range (|x| <= 65504)", i / features, i % features,
                                 isnan(v) ? "NaN" : v > 0 ? "too large (or +inf)" : "too small (or -inf)");
            }
        }
    }
    return batcher_init(b, x, 1, labels, n, features, classes, batch_size, seed, shuffle, tail);
}

void anet_batcher_free(anet_batcher *b) {
    if (!b) return;
    free(b->perm);
    free(b->stage);
    free(b->rows);
    b->perm = NULL;
    b->stage = NULL;
    b->rows = NULL;
}

uint32_t anet_batcher_batches_per_epoch(const anet_batcher *b) {
    if (b->batch_size == 0) return 0;
    return b->tail == ANET_BATCH_KEEP_LAST ? (b->n + b->batch_size - 1) / b->batch_size : b->n / b->batch_size;
}

/* Samples of an epoch that are delivered (the dropped tail excluded). */
static uint32_t epoch_end(const anet_batcher *b) {
    return b->tail == ANET_BATCH_KEEP_LAST ? b->n : b->n / b->batch_size * b->batch_size;
}

static void draw_order(anet_batcher *b, uint64_t epoch) {
    if (b->have_perm && b->perm_epoch == epoch) return;
    for (uint32_t i = 0; i < b->n; i++) b->perm[i] = i;
    if (b->shuffle) {
        anet_rng_seed(&b->rng, epoch_seed(b->seed, epoch));
        anet_rng_shuffle(&b->rng, b->perm, b->n);
    }
    b->perm_epoch = epoch;
    b->have_perm = 1;
}

anet_status anet_batcher_epoch_order(anet_batcher *b, uint64_t epoch, const uint32_t **order) {
    if (!b || !b->perm) return anet_fail(ANET_E_INVALID, "batcher: not initialised");
    draw_order(b, epoch);
    *order = b->perm;
    return ANET_OK;
}

anet_status anet_batch_alloc(const anet_batcher *b, anet_batch *out) {
    memset(out, 0, sizeof *out);
    size_t B = b->batch_size;
    out->batch_size = b->batch_size;
    out->features = b->features;
    out->classes = b->classes;
    if ((size_t)b->features > SIZE_MAX / sizeof(anet_f16) / B || (size_t)b->classes > SIZE_MAX / sizeof(anet_f16) / B)
        return anet_fail(ANET_E_NOMEM, "batch: %u x %zu is too large", b->features, B);
    out->x = out->x_own = malloc((size_t)b->features * B * sizeof *out->x);
    out->x_ld = B;
    out->y_onehot = malloc((size_t)b->classes * B * sizeof *out->y_onehot);
    out->labels = malloc(B * sizeof *out->labels);
    out->indices = malloc(B * sizeof *out->indices);
    if (!out->x || !out->y_onehot || !out->labels || !out->indices) {
        anet_batch_free(out);
        return anet_fail(ANET_E_NOMEM, "batch: cannot allocate %u x %zu fp16 values", b->features, B);
    }
    return ANET_OK;
}

void anet_batch_free(anet_batch *batch) {
    if (!batch) return;
    free(batch->x_own);
    free(batch->y_onehot);
    free(batch->labels);
    free(batch->indices);
    memset(batch, 0, sizeof *batch);
}

void anet_batch_place_x(anet_batch *batch, anet_f16 *x, size_t ld) {
    batch->x = x ? x : batch->x_own;
    batch->x_ld = x ? ld : batch->batch_size;
}

anet_status anet_batcher_next(anet_batcher *b, anet_batch *out) {
    if (!b || !b->perm || !out || !out->x || out->batch_size != b->batch_size || out->features != b->features ||
        out->classes != b->classes || out->x_ld < out->batch_size)
        return anet_fail(ANET_E_INVALID, "batcher: batch buffers do not belong to this batcher (use anet_batch_alloc)");
    uint32_t end = epoch_end(b);
    if (b->pos.index >= end) { /* the previous call finished the epoch */
        b->pos.epoch++;
        b->pos.index = 0;
    }
    draw_order(b, b->pos.epoch);
    uint32_t B = b->batch_size, start = b->pos.index;
    uint32_t count = end - start < B ? end - start : B;
    for (uint32_t j = 0; j < count; j++) out->indices[j] = b->perm[start + j];
    for (uint32_t j = count; j < B; j++) {
        out->indices[j] = UINT32_MAX;
        out->labels[j] = -1;
    }
    /* Core's blocked transpose packs the samples as [1, F, 1, B] fp16 (zero samples for padding
     * columns): fp32 ones gathered first, bytes read where they lie. */
    if (b->images_f32) {
        float *st = (float *)(void *)b->stage;
        size_t row = (size_t)b->features * sizeof(float);
        for (uint32_t j = 0; j < count; j++)
            memcpy(st + (size_t)j * b->features, b->images_f32 + (size_t)out->indices[j] * b->features, row);
        if (count < B) memset(st + (size_t)count * b->features, 0, (size_t)(B - count) * row);
        anet_pack_batch_f32(st, (int)B, (int)b->features, out->x, out->x_ld);
    } else {
        for (uint32_t j = 0; j < B; j++)
            b->rows[j] = j < count ? b->images + (size_t)out->indices[j] * b->features : b->stage;
        anet_pack_batch_u8(b->rows, (int)B, (int)b->features, 1.0f / 255.0f, out->x, out->x_ld);
    }
    memset(out->y_onehot, 0, (size_t)b->classes * B * sizeof *out->y_onehot);
    const anet_f16 one = 0x3C00; /* binary16 1.0 */
    for (uint32_t j = 0; j < count; j++) {
        uint8_t l = b->labels[out->indices[j]];
        out->labels[j] = l;
        if (b->targets) {
            for (uint32_t k = 0; k < b->classes; k++)
                out->y_onehot[(size_t)k * B + j] = anet_f32_to_f16(b->targets[(size_t)out->indices[j] * b->classes + k]);
        } else {
            out->y_onehot[(size_t)l * B + j] = one;
        }
    }
    out->count = count;
    out->epoch = b->pos.epoch;
    out->number = start / B;
    b->pos.index = start + count;
    out->last_in_epoch = b->pos.index >= end;
    return ANET_OK;
}

anet_batch_pos anet_batcher_tell(const anet_batcher *b) { return b->pos; }

anet_status anet_batcher_seek(anet_batcher *b, anet_batch_pos pos) {
    if (!b || !b->perm) return anet_fail(ANET_E_INVALID, "batcher: not initialised");
    if (pos.index > b->n)
        return anet_fail(ANET_E_INVALID, "batcher: position %u is past the %u samples of an epoch", pos.index, b->n);
    if (pos.index % b->batch_size != 0 && pos.index != epoch_end(b))
        return anet_fail(ANET_E_MISMATCH, "batcher: position %u is not on a batch boundary (batch size %u)", pos.index,
                         b->batch_size);
    b->pos = pos;
    return ANET_OK;
}
