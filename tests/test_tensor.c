/* Tensors and layout: create/free/limits, element access, dtype copy, stride arithmetic worked
 * out by hand, and batch pack/unpack against plain loops using tests/fp16_ref.h. */
#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp16_ref.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint32_t rand32(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 32);
}

static anet_f16 oracle_h(float f) { return ref_f32_to_f16(f); }

static void test_create(void) {
    anet_tensor t;
    CHECK(anet_tensor_create(&t, ANET_DT_FP32, 2, 3, 4, 5) == ANET_OK);
    CHECK_EQ_INT(anet_tensor_numel(&t), 120);
    CHECK_EQ_INT(anet_tensor_nbytes(&t), 480);
    int zero = 1;
    for (int i = 0; i < 120; i++) if (((float *)t.data)[i] != 0.0f) zero = 0;
    CHECK(zero);
    /* NCHW, w fastest. */
    CHECK_EQ_INT(anet_tensor_index(&t, 1, 2, 3, 4), 119);
    CHECK_EQ_INT(anet_tensor_index(&t, 0, 1, 0, 0), 20);
    CHECK_EQ_INT(anet_tensor_index(&t, 1, 0, 0, 1), 61);
    anet_tensor_set(&t, 1, 0, 2, 3, 0.1f);
    CHECK(anet_tensor_get(&t, 1, 0, 2, 3) == 0.1f);
    CHECK(((float *)t.data)[60 + 10 + 3] == 0.1f);

    anet_tensor h;
    CHECK(anet_tensor_create(&h, ANET_DT_FP16, 2, 3, 4, 5) == ANET_OK);
    CHECK_EQ_INT(anet_tensor_nbytes(&h), 240);
    anet_tensor_set(&h, 0, 2, 1, 0, 0.1f);
    CHECK(anet_tensor_get(&h, 0, 2, 1, 0) == ref_round(0.1f));
    CHECK(((anet_f16 *)h.data)[45] == oracle_h(0.1f));

    /* Copy fp32 -> fp16 -> fp32 against per-element rounding. */
    for (int i = 0; i < 120; i++) ((float *)t.data)[i] = (float)((int32_t)rand32()) * 0x1p-28f;
    CHECK(anet_tensor_copy(&h, &t) == ANET_OK);
    anet_tensor back;
    CHECK(anet_tensor_create(&back, ANET_DT_FP32, 2, 3, 4, 5) == ANET_OK);
    CHECK(anet_tensor_copy(&back, &h) == ANET_OK);
    int bad = 0;
    for (int i = 0; i < 120; i++) {
        float v = ((float *)t.data)[i];
        if (((anet_f16 *)h.data)[i] != oracle_h(v)) bad++;
        if (((float *)back.data)[i] != ref_round(v)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    anet_tensor other;
    CHECK(anet_tensor_create(&other, ANET_DT_FP32, 2, 3, 5, 4) == ANET_OK);
    CHECK(anet_tensor_copy(&other, &t) == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "shape");
    anet_tensor_free(&other);
    anet_tensor_free(&back);
    anet_tensor_free(&h);
    anet_tensor_free(&t);
    CHECK(t.data == NULL);
    anet_tensor_free(&t); /* twice is fine */
    anet_tensor_free(NULL);

    /* Bad inputs fail cleanly. */
    CHECK(anet_tensor_create(&t, ANET_DT_INT32, 1, 1, 1, 1) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "dtype");
    CHECK(t.data == NULL);
    CHECK(anet_tensor_create(&t, ANET_DT_FP16, 1, 0, 1, 1) == ANET_E_INVALID);
    CHECK(anet_tensor_create(&t, ANET_DT_FP16, 1, -5, 1, 1) == ANET_E_INVALID);
    CHECK(anet_tensor_create(&t, ANET_DT_FP16, 65536, 65536, 65536, 65536) == ANET_E_NOMEM);
    CHECK_STR_CONTAINS(anet_last_error(), "exceeds");
    CHECK(anet_tensor_create(&t, ANET_DT_FP32, INT64_MAX, INT64_MAX, 2, 2) == ANET_E_NOMEM);
    CHECK(anet_tensor_create(&t, ANET_DT_FP32, 1, 1, 1, ((int64_t)1 << 31) + 1) == ANET_E_NOMEM);
    CHECK(t.data == NULL);
    anet_tensor_free(&t);
    CHECK_EQ_INT(anet_tensor_elem_size(ANET_DT_FP16), 2);
    CHECK_EQ_INT(anet_tensor_elem_size(ANET_DT_FP32), 4);
    CHECK_EQ_INT(anet_tensor_elem_size(ANET_DT_INT8), 0);
}

static void test_layout(void) {
    CHECK_EQ_INT(anet_layout_round_up(0, 64), 0);
    CHECK_EQ_INT(anet_layout_round_up(1, 64), 64);
    CHECK_EQ_INT(anet_layout_round_up(64, 64), 64);
    CHECK_EQ_INT(anet_layout_round_up(65, 64), 128);
    CHECK_EQ_INT(anet_layout_round_up(65, 48), 0); /* not a power of two */
    CHECK_EQ_INT(anet_layout_round_up(SIZE_MAX - 3, 64), 0);
    CHECK_EQ_INT(anet_layout_row_stride(1, 2), 64);
    CHECK_EQ_INT(anet_layout_row_stride(32, 2), 64);   /* exactly one 64-byte line */
    CHECK_EQ_INT(anet_layout_row_stride(33, 2), 128);
    CHECK_EQ_INT(anet_layout_row_stride(100, 4), 448); /* 400 -> 448 */
    CHECK_EQ_INT(anet_layout_row_stride(784, 2), 1600); /* 1568 -> 1600 */
    CHECK_EQ_INT(anet_layout_row_stride(0, 2), 0);
    CHECK_EQ_INT(anet_layout_row_stride(SIZE_MAX / 2, 4), 0);
    CHECK_EQ_INT(anet_layout_packed_bytes(64, 32, 2), 4096);
    CHECK_EQ_INT(anet_layout_packed_bytes(784, 100, 2), 156800);
    CHECK_EQ_INT(anet_layout_packed_bytes(SIZE_MAX / 2, 3, 2), 0);
    CHECK_EQ_INT(anet_layout_strided_bytes(1, 3, 5, 33, 2), 1920); /* 15 rows x 128 */
    CHECK_EQ_INT(anet_layout_strided_bytes(2, 1, 1, 10, 4), 128);
    CHECK_EQ_INT(anet_layout_strided_bytes(SIZE_MAX / 8, 16, 1, 1, 2), 0);
}

static void test_pack(void) {
    const int shapes[][2] = {{1, 1}, {1, 7}, {3, 5}, {64, 32}, {65, 33}, {63, 31}, {100, 784},
                             {257, 10}, {7, 1000}, {128, 3},
                             {128, 784}, {24, 48}, {13, 40}, {8, 16}, {300, 70}, {256, 130}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int B = shapes[s][0], F = shapes[s][1];
        size_t n = (size_t)B * F;
        float *x = malloc(n * sizeof *x), *y = malloc((n + 8) * sizeof *y);
        uint8_t *u = malloc(n);
        anet_f16 *p = malloc((n + 8) * sizeof *p);
        CHECK(x && y && u && p);
        if (!x || !y || !u || !p) { free(x); free(y); free(u); free(p); return; }
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)((double)(int32_t)rand32() * 0x1p-27);
            u[i] = (uint8_t)rand32();
        }
        for (size_t i = 0; i < n + 8; i++) { p[i] = 0xBEEF; y[i] = 42.0f; }
        anet_pack_batch_f32(x, B, F, p, (size_t)B);
        int bad = 0, bad_un = 0;
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++)
                if (p[(size_t)f * B + b] != oracle_h(x[(size_t)b * F + f])) bad++;
        for (size_t i = n; i < n + 8; i++) if (p[i] != 0xBEEF) bad++;
        anet_unpack_batch(p, B, F, y);
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++)
                if (y[(size_t)b * F + f] != ref_round(x[(size_t)b * F + f])) bad_un++;
        for (size_t i = n; i < n + 8; i++) if (y[i] != 42.0f) bad_un++;
        CHECK_MSG(bad == 0, "pack_f32 B=%d F=%d: %d wrong", B, F, bad);
        CHECK_MSG(bad_un == 0, "unpack B=%d F=%d: %d wrong", B, F, bad_un);

        const float scale = 1.0f / 255.0f;
        /* Samples read where they lie (reversed order here), rows ld = B (one block copy per 64
         * features) or B + 3 apart (row by row: the 3 elements after each row are left alone). */
        const uint8_t **rows = malloc((size_t)B * sizeof *rows);
        anet_f16 *q = malloc(((size_t)F * (B + 3) + 8) * sizeof *q);
        CHECK(rows && q);
        if (!rows || !q) { free(rows); free(q); free(x); free(y); free(u); free(p); return; }
        for (int b = 0; b < B; b++) rows[b] = u + (size_t)(B - 1 - b) * F;
        for (size_t ld = (size_t)B; ld <= (size_t)B + 3; ld += 3) {
            for (size_t i = 0; i < (size_t)F * ld + 8; i++) q[i] = 0xBEEF;
            anet_pack_batch_u8(rows, B, F, scale, q, ld);
            bad = 0;
            for (int b = 0; b < B; b++)
                for (int f = 0; f < F; f++) {
                    float v = (float)u[(size_t)(B - 1 - b) * F + f] * scale;
                    if (q[(size_t)f * ld + b] != oracle_h(v)) bad++;
                }
            for (int f = 0; f < F; f++)
                for (size_t b = (size_t)B; b < ld; b++) if (q[(size_t)f * ld + b] != 0xBEEF) bad++;
            for (size_t i = (size_t)F * ld; i < (size_t)F * ld + 8; i++) if (q[i] != 0xBEEF) bad++;
            CHECK_MSG(bad == 0, "pack_u8 B=%d F=%d ld=%zu: %d wrong", B, F, ld, bad);
        }
        free(rows); free(q); free(x); free(y); free(u); free(p);
    }
    /* Degenerate sizes touch nothing. */
    anet_f16 guard = 0x1234;
    float gf = 5.0f;
    anet_pack_batch_f32(NULL, 0, 5, &guard, 1);
    anet_pack_batch_u8(NULL, 3, 0, 1.0f, &guard, 3);
    anet_unpack_batch(NULL, -1, 4, &gf);
    CHECK(guard == 0x1234 && gf == 5.0f);
}

int main(void) {
    test_create();
    test_layout();
    test_pack();
    TEST_MAIN_END();
}
