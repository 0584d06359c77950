/* libFuzzer target: the IDX reader (raw and gzip) on arbitrary bytes. The reader works on
 * paths, so each input goes through one temporary file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/anet_fuzz_idx_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(path);
        return 0;
    }
    fwrite(data, 1, size, f);
    fclose(f);

    uint8_t *pixels = NULL, *labels = NULL;
    uint32_t n = 0, rows = 0, cols = 0;
    if (anet_idx_read_images(path, &pixels, &n, &rows, &cols) == ANET_OK) {
        /* Touch every byte the reader claims to have returned. */
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < (uint64_t)n * rows * cols; i++) sink ^= pixels[i];
        (void)sink;
    }
    free(pixels);
    if (anet_idx_read_labels(path, 10, &labels, &n) == ANET_OK) {
        for (uint32_t i = 0; i < n; i++)
            if (labels[i] >= 10) abort(); /* the range check must have held */
    }
    free(labels);
    unlink(path);
    return 0;
}
