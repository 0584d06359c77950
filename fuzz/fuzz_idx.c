/* libFuzzer target: the IDX reader (raw and gzip) on arbitrary bytes, read from memory
 * (anet_idx_parse_*: the same reader as for files, over fmemopen). */
#include <stdint.h>
#include <stdlib.h>

#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *pixels = NULL, *labels = NULL;
    uint32_t n = 0, rows = 0, cols = 0;
    if (anet_idx_parse_images(data, size, "fuzz", &pixels, &n, &rows, &cols) == ANET_OK) {
        /* Touch every byte the reader claims to have returned. */
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < (uint64_t)n * rows * cols; i++) sink ^= pixels[i];
        (void)sink;
    } else if (pixels) {
        abort(); /* a refusal returns nothing */
    }
    free(pixels);
    if (anet_idx_parse_labels(data, size, "fuzz", 10, &labels, &n) == ANET_OK) {
        for (uint32_t i = 0; i < n; i++)
            if (labels[i] >= 10) abort(); /* the range check must have held */
    }
    free(labels);
    return 0;
}
