/* Text datasets: tinyshakespeare found and verified in the shared directory (65 characters,
 * 90/10 split), training windows that are real substrings of the train split and never reach
 * into validation, reproducible from the seed, validation windows that tile the split, the
 * vocabulary's round trip and its errors, and bad files refused with one message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "data/text.h"

static void write_file(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_shared(void) {
    anet_text_dataset td;
    anet_status st = anet_text_open("tinyshakespeare", ANET_SHARED_DIR "/datasets", &td);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (st != ANET_OK) return;
    CHECK_EQ_INT(td.n, 1115394);
    CHECK_EQ_INT(td.n_train, 1115394 - 111539);
    CHECK_EQ_INT(td.vocab.size, 65);
    CHECK(td.verified);
    CHECK_EQ_INT(td.vocab.chars[0], '\n');
    CHECK_EQ_INT(td.vocab.chars[1], ' ');
    /* The text starts "First Citizen:". */
    const char *head = "First Citizen:";
    for (size_t i = 0; i < strlen(head); i++) CHECK_EQ_INT(td.vocab.chars[td.ids[i]], head[i]);
    uint32_t ids[4];
    CHECK_EQ_INT(anet_vocab_encode(&td.vocab, "ROMEO:", 4, ids), ANET_OK);
    CHECK_EQ_INT(td.vocab.chars[ids[0]], 'R');
    CHECK_EQ_INT(anet_vocab_encode(&td.vocab, "caf\xc3", 4, ids), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "0xc3");
    anet_text_free(&td);
}

/* A window is valid when it equals the text at some start s with s + ctx < n_train. */
static int find_in_train(const anet_text_dataset *td, const uint32_t *w, uint32_t ctx) {
    for (size_t s = 0; s + ctx < td->n_train; s++) {
        uint32_t t = 0;
        while (t <= ctx && td->ids[s + t] == w[t]) t++;
        if (t > ctx) return 1;
    }
    return 0;
}

static void test_windows(void) {
    enum { N = 3000, CTX = 12, B = 40 };
    static uint8_t text[N];
    anet_rng g;
    anet_rng_seed(&g, 5);
    for (int i = 0; i < N; i++) text[i] = (uint8_t)(anet_rng_u64(&g) & 255);
    const char *path = "test_text_random.txt";
    write_file(path, text, N);
    anet_text_dataset td;
    CHECK_EQ_INT(anet_text_open(path, NULL, &td), ANET_OK);
    CHECK(!td.verified);
    CHECK_EQ_INT(td.n_train, 2700);
    /* Ids map back to the bytes. */
    int same = 1;
    for (int i = 0; i < N; i++) same &= td.vocab.chars[td.ids[i]] == text[i];
    CHECK(same);
    uint32_t a[B * (CTX + 1)], b[B * (CTX + 1)];
    anet_rng r1, r2;
    anet_rng_seed(&r1, 9);
    anet_rng_seed(&r2, 9);
    CHECK_EQ_INT(anet_text_train_windows(&td, &r1, B, CTX, a), ANET_OK);
    CHECK_EQ_INT(anet_text_train_windows(&td, &r2, B, CTX, b), ANET_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int all_found = 1;
    for (int k = 0; k < B; k++) all_found &= find_in_train(&td, a + k * (CTX + 1), CTX);
    CHECK(all_found);
    CHECK(memcmp(a, a + CTX + 1, (CTX + 1) * sizeof(uint32_t)) != 0);
    /* Validation windows tile the split: window k starts at k*ctx. */
    size_t nv = anet_text_val_count(&td, CTX);
    CHECK_EQ_INT(nv, (300 - 1) / CTX);
    int tiles = 1;
    for (size_t k = 0; k < nv; k++) {
        uint32_t w[CTX + 1];
        anet_text_val_window(&td, CTX, k, w);
        for (int t = 0; t <= CTX; t++) tiles &= w[t] == td.ids[td.n_train + k * CTX + t];
    }
    CHECK(tiles);
    /* A window longer than the train split is refused. */
    CHECK_EQ_INT(anet_text_train_windows(&td, &r1, 1, 2700, a), ANET_E_INVALID);
    CHECK_EQ_INT(anet_text_val_count(&td, 300), 0);
    anet_text_free(&td);
    unlink(path);
}

static void test_errors(void) {
    anet_text_dataset td;
    CHECK_EQ_INT(anet_text_open("no_such_file.txt", NULL, &td), ANET_E_NOTFOUND);
    CHECK_EQ_INT(anet_text_open(".", NULL, &td), ANET_E_IO);
    CHECK_STR_CONTAINS(anet_last_error(), "not a regular file");
    write_file("test_text_short.txt", (const uint8_t *)"abc", 3);
    CHECK_EQ_INT(anet_text_open("test_text_short.txt", NULL, &td), ANET_E_FORMAT);
    unlink("test_text_short.txt");
    /* A registry dataset nowhere on the search path names where it looked and the URL (run from
     * "/", where ../shared/datasets does not exist). */
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir("/") == 0) {
        setenv("ANE_TRAINER_DATA", "/nonexistent-anet", 1);
        CHECK_EQ_INT(anet_text_open("tinyshakespeare", "/nonexistent-anet2", &td), ANET_E_NOTFOUND);
        CHECK_STR_CONTAINS(anet_last_error(), "/nonexistent-anet/tinyshakespeare");
        CHECK_STR_CONTAINS(anet_last_error(), "https://");
        unsetenv("ANE_TRAINER_DATA");
        CHECK(chdir(cwd) == 0);
    }
    anet_vocab v;
    CHECK_EQ_INT(anet_vocab_from_chars((const uint8_t *)"abca", 4, &v), ANET_E_FORMAT);
    CHECK_EQ_INT(anet_vocab_from_chars((const uint8_t *)"", 0, &v), ANET_E_FORMAT);
    CHECK_EQ_INT(anet_vocab_from_chars((const uint8_t *)"ba", 2, &v), ANET_OK);
    CHECK_EQ_INT(v.id['a'], 1);
    CHECK_EQ_INT(v.id['c'], -1);
}

int main(void) {
    test_shared();
    test_windows();
    test_errors();
    TEST_MAIN_END();
}
