/* libFuzzer target for predict's image readers (PNG through libpng, PGM, IDX): any file must
 * be read or refused cleanly; what is read is n >= 1 samples of 28x28 values in [0, 1]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_image_%ld", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    float *x = NULL;
    size_t n = 0;
    anet_status st = anet_image_load(path, 28, 28, size & 1, 4, &x, &n);
    if (st == ANET_OK) {
        if (n < 1 || n > 4 || !x) abort();
        for (size_t i = 0; i < n * 28 * 28; i++)
            if (!(x[i] >= 0.0f && x[i] <= 1.0f)) abort();
    } else if (x || n) {
        abort();
    }
    free(x);
    unlink(path);
    return 0;
}
