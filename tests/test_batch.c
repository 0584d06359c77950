/* Mini-batches: same seed -> same batches, every sample once per epoch, the packed layout equals
 * a plain loop written here (float64 reference, fp16 within half an ulp), and resuming from a
 * saved position gives exactly the batches of an uninterrupted run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "data/batch.h"
#include "data/dataset.h"

/* A synthetic split: sample i has pixels (i * 7 + f * 13) & 255 and label i % classes, so every
 * value can be recomputed from the sample index alone. */
#define F 20
#define C 7
static uint8_t images[1000 * F], labels[1000];

static void make_split(uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        labels[i] = (uint8_t)(i % C);
        for (uint32_t f = 0; f < F; f++) images[i * F + f] = (uint8_t)((i * 7 + f * 13) & 255);
    }
}

/* Collects the sample indices of `batches` batches. */
static void run(anet_batcher *b, uint32_t batches, uint32_t *out_idx, uint64_t *out_epoch) {
    anet_batch bt;
    CHECK_EQ_INT(anet_batch_alloc(b, &bt), ANET_OK);
    for (uint32_t k = 0; k < batches; k++) {
        CHECK_EQ_INT(anet_batcher_next(b, &bt), ANET_OK);
        memcpy(out_idx + (size_t)k * b->batch_size, bt.indices, b->batch_size * sizeof(uint32_t));
        if (out_epoch) out_epoch[k] = bt.epoch;
    }
    anet_batch_free(&bt);
}

static void test_determinism(void) {
    make_split(100);
    anet_batcher a, b, c;
    CHECK_EQ_INT(anet_batcher_init(&a, images, labels, 100, F, C, 10, 42, 1, ANET_BATCH_DROP_LAST), ANET_OK);
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 100, F, C, 10, 42, 1, ANET_BATCH_DROP_LAST), ANET_OK);
    CHECK_EQ_INT(anet_batcher_init(&c, images, labels, 100, F, C, 10, 43, 1, ANET_BATCH_DROP_LAST), ANET_OK);
    uint32_t ia[300], ib[300], ic[300];
    run(&a, 30, ia, NULL);
    run(&b, 30, ib, NULL);
    run(&c, 30, ic, NULL);
    CHECK(memcmp(ia, ib, sizeof ia) == 0);
    CHECK(memcmp(ia, ic, sizeof ia) != 0);
    /* Epochs differ from each other, and the order is not the identity. */
    CHECK(memcmp(ia, ia + 100, 100 * sizeof(uint32_t)) != 0);
    int identity = 1;
    for (int i = 0; i < 100; i++) identity &= ia[i] == (uint32_t)i;
    CHECK(!identity);
    anet_batcher_free(&a);
    anet_batcher_free(&b);
    anet_batcher_free(&c);
    /* shuffle = 0: identity order (evaluation). */
    CHECK_EQ_INT(anet_batcher_init(&a, images, labels, 100, F, C, 10, 42, 0, ANET_BATCH_KEEP_LAST), ANET_OK);
    run(&a, 10, ia, NULL);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(ia[i], i);
    anet_batcher_free(&a);
}

static void test_coverage(void) {
    make_split(103);
    for (int keep = 0; keep <= 1; keep++) {
        anet_batcher b;
        CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 103, F, C, 10, 7, 1, keep ? ANET_BATCH_KEEP_LAST : ANET_BATCH_DROP_LAST),
                     ANET_OK);
        uint32_t per = anet_batcher_batches_per_epoch(&b);
        CHECK_EQ_INT(per, keep ? 11 : 10);
        anet_batch bt;
        anet_batch_alloc(&b, &bt);
        for (uint64_t e = 0; e < 3; e++) {
            int seen[103] = {0};
            uint32_t delivered = 0;
            for (uint32_t k = 0; k < per; k++) {
                CHECK_EQ_INT(anet_batcher_next(&b, &bt), ANET_OK);
                CHECK_EQ_INT(bt.epoch, e);
                CHECK_EQ_INT(bt.number, k);
                CHECK_EQ_INT(bt.last_in_epoch, k + 1 == per);
                CHECK_EQ_INT(bt.count, keep && k == 10 ? 3 : 10);
                for (uint32_t j = 0; j < bt.count; j++) {
                    CHECK(bt.indices[j] < 103);
                    if (bt.indices[j] < 103) seen[bt.indices[j]]++;
                }
                for (uint32_t j = bt.count; j < 10; j++) CHECK(bt.indices[j] == UINT32_MAX && bt.labels[j] == -1);
                delivered += bt.count;
            }
            int once = 1, twice = 0;
            for (int i = 0; i < 103; i++) {
                twice |= seen[i] > 1;
                once &= seen[i] == 1;
            }
            CHECK(!twice);
            CHECK_EQ_INT(delivered, keep ? 103 : 100);
            if (keep) CHECK(once);
        }
        anet_batch_free(&bt);
        anet_batcher_free(&b);
    }
}

static void test_packing(void) {
    make_split(50);
    anet_batcher b;
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 50, F, C, 16, 3, 1, ANET_BATCH_KEEP_LAST), ANET_OK);
    anet_batch bt;
    anet_batch_alloc(&b, &bt);
    int bad_x = 0, bad_y = 0, bad_pad = 0;
    for (int k = 0; k < 4; k++) { /* the 4th batch has 2 samples and 14 padding columns */
        CHECK_EQ_INT(anet_batcher_next(&b, &bt), ANET_OK);
        const uint32_t B = 16;
        for (uint32_t j = 0; j < B; j++) {
            int real = j < bt.count;
            uint32_t i = bt.indices[j];
            for (uint32_t f = 0; f < F; f++) {
                double want = real ? (double)((i * 7 + f * 13) & 255) / 255.0 : 0.0;
                double got = anet_f16_to_f32(bt.x[f * B + j]);
                /* fp16 has 11 significant bits: in [0, 1] half an ulp is at most 2^-12. */
                if (!(got >= want - 1.0 / 4096 && got <= want + 1.0 / 4096)) bad_x++;
                if (!real && bt.x[f * B + j] != 0) bad_pad++;
            }
            for (uint32_t c = 0; c < C; c++) {
                double want = real && (i % C) == c ? 1.0 : 0.0;
                if (anet_f16_to_f32(bt.y_onehot[c * B + j]) != want) bad_y++;
            }
            if (real) CHECK_EQ_INT(bt.labels[j], (int)(i % C));
        }
    }
    CHECK_EQ_INT(bt.count, 2);
    CHECK_EQ_INT(bad_x, 0);
    CHECK_EQ_INT(bad_y, 0);
    CHECK_EQ_INT(bad_pad, 0);
    anet_batch_free(&bt);
    anet_batcher_free(&b);
}

static void test_resume(void) {
    make_split(97);
    for (int keep = 0; keep <= 1; keep++) {
        anet_batch_tail tail = keep ? ANET_BATCH_KEEP_LAST : ANET_BATCH_DROP_LAST;
        anet_batcher ref;
        anet_batcher_init(&ref, images, labels, 97, F, C, 8, 1234, 1, tail);
        uint32_t per = anet_batcher_batches_per_epoch(&ref), total = per * 3 + 5;
        uint32_t *all = malloc((size_t)total * 8 * sizeof(uint32_t));
        uint64_t *ep = malloc(total * sizeof(uint64_t));
        run(&ref, total, all, ep);
        /* Stop after `cut` batches, save the position, restore it in a fresh batcher. */
        uint32_t cuts[] = {0, 1, per - 1, per, per + 3, 2 * per};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            anet_batcher a, r;
            anet_batcher_init(&a, images, labels, 97, F, C, 8, 1234, 1, tail);
            uint32_t *tmp = malloc((size_t)total * 8 * sizeof(uint32_t));
            if (cuts[c]) run(&a, cuts[c], tmp, NULL);
            anet_batch_pos pos = anet_batcher_tell(&a);
            anet_batcher_init(&r, images, labels, 97, F, C, 8, 1234, 1, tail);
            CHECK_EQ_INT(anet_batcher_seek(&r, pos), ANET_OK);
            uint32_t rest = total - cuts[c];
            uint64_t *rep = malloc(rest * sizeof(uint64_t));
            run(&r, rest, tmp, rep);
            CHECK_MSG(memcmp(tmp, all + (size_t)cuts[c] * 8, (size_t)rest * 8 * sizeof(uint32_t)) == 0,
                      "resume after %u batches (keep=%d) differs", cuts[c], keep);
            CHECK(memcmp(rep, ep + cuts[c], rest * sizeof(uint64_t)) == 0);
            free(rep);
            free(tmp);
            anet_batcher_free(&a);
            anet_batcher_free(&r);
        }
        free(all);
        free(ep);
        anet_batcher_free(&ref);
    }
    /* Positions off a batch boundary or past the end are refused. */
    anet_batcher b;
    anet_batcher_init(&b, images, labels, 97, F, C, 8, 1, 1, ANET_BATCH_DROP_LAST);
    anet_batch_pos p = {2, 5};
    CHECK_EQ_INT(anet_batcher_seek(&b, p), ANET_E_MISMATCH);
    p.index = 98;
    CHECK_EQ_INT(anet_batcher_seek(&b, p), ANET_E_INVALID);
    anet_batcher_free(&b);
}

/* The last representable epoch is an epoch like any other (no sentinel value): its order is a
 * permutation of the split. */
static void test_last_epoch(void) {
    make_split(40);
    anet_batcher b;
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 40, F, C, 8, 7, 1, ANET_BATCH_DROP_LAST), ANET_OK);
    anet_batch_pos p = {UINT64_MAX, 0};
    CHECK_EQ_INT(anet_batcher_seek(&b, p), ANET_OK);
    anet_batch bt;
    CHECK_EQ_INT(anet_batch_alloc(&b, &bt), ANET_OK);
    int seen[40] = {0}, bad = 0;
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_INT(anet_batcher_next(&b, &bt), ANET_OK);
        CHECK(bt.epoch == UINT64_MAX);
        for (uint32_t j = 0; j < bt.count; j++) {
            if (bt.indices[j] >= 40) bad++;
            else seen[bt.indices[j]]++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    for (int i = 0; i < 40; i++) CHECK_MSG(seen[i] == 1, "sample %d delivered %d times", i, seen[i]);
    anet_batch_free(&bt);
    anet_batcher_free(&b);
}

static void test_bad_args(void) {
    make_split(10);
    anet_batcher b;
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 10, F, C, 0, 1, 1, ANET_BATCH_DROP_LAST), ANET_E_INVALID);
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 10, F, C, 11, 1, 1, ANET_BATCH_DROP_LAST), ANET_E_INVALID);
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 10, F, C, 11, 1, 1, ANET_BATCH_KEEP_LAST), ANET_OK);
    anet_batcher_free(&b);
    labels[3] = C; /* out of range */
    CHECK_EQ_INT(anet_batcher_init(&b, images, labels, 10, F, C, 2, 1, 1, ANET_BATCH_DROP_LAST), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "sample 3");
}

/* The real data: one epoch of the shared MNIST subset covers every training image once. */
static void test_mnist(void) {
    anet_dataset ds;
    if (anet_dataset_load_dir(ANET_SHARED_DIR "/datasets/mnist-10k", 10, &ds) != ANET_OK) {
        CHECK_MSG(0, "%s", anet_last_error());
        return;
    }
    anet_batcher b;
    CHECK_EQ_INT(anet_batcher_init(&b, ds.train.images, ds.train.labels, ds.train.n, ds.features, 10, 128, 0, 1,
                                   ANET_BATCH_KEEP_LAST), ANET_OK);
    anet_batch bt;
    anet_batch_alloc(&b, &bt);
    uint8_t *seen = calloc(ds.train.n, 1);
    int bad = 0;
    uint32_t batches = anet_batcher_batches_per_epoch(&b);
    CHECK_EQ_INT(batches, 79);
    for (uint32_t k = 0; k < batches; k++) {
        anet_batcher_next(&b, &bt);
        for (uint32_t j = 0; j < bt.count; j++) {
            seen[bt.indices[j]]++;
            const uint8_t *img = ds.train.images + (size_t)bt.indices[j] * 784;
            for (int f = 0; f < 784; f += 97)
                bad += fabs(anet_f16_to_f32(bt.x[f * 128 + j]) - img[f] / 255.0) > 1.0 / 4096;
        }
    }
    int once = 1;
    for (uint32_t i = 0; i < ds.train.n; i++) once &= seen[i] == 1;
    CHECK(once);
    CHECK_EQ_INT(bad, 0);
    free(seen);
    anet_batch_free(&bt);
    anet_batcher_free(&b);
    anet_dataset_free(&ds);
}

int main(void) {
    test_determinism();
    test_coverage();
    test_packing();
    test_resume();
    test_last_epoch();
    test_bad_args();
    test_mnist();
    TEST_MAIN_END();
}
