/* libFuzzer target: Core ML directories, the way `check` opens them. The input's first byte
 * picks a layout and the rest is split at "@@@@\n" into the files of that layout, written
 * into one scratch directory per process (reused, so runs stay fast):
 *   0  .mlpackage: Manifest.json, Data/com.apple.CoreML/model.mlmodel, .../weights/weight.bin
 *   1  .mlmodelc:  model.mil, weights/weight.bin
 *   2  .mlmodelc:  model.espresso.net, model.espresso.shape
 *   3  pipeline .mlmodelc: model0/model.mil, model1/model.espresso.net
 * The second byte's low bit picks the rule set (coreml or private: the strict MIL parser). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coreml/coreml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void put(const char *rel, const uint8_t *d, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root[0]) snprintf(root, sizeof root, "/tmp/anet_fuzz_bundle_%d", (int)getpid());
    if (size < 2) return 0;
    mkdir(root, 0755);
    static const char *const files[4][3] = {
        {"Manifest.json", "Data/com.apple.CoreML/model.mlmodel", "Data/com.apple.CoreML/weights/weight.bin"},
        {"model.mil", "weights/weight.bin", NULL},
        {"model.espresso.net", "model.espresso.shape", NULL},
        {"model0/model.mil", "model1/model.espresso.net", NULL}};
    static const char *const dirs[] = {"Data", "Data/com.apple.CoreML", "Data/com.apple.CoreML/weights", "weights",
                                       "model0", "model1"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        mkdir(p, 0755);
    }
    /* Only these files are ever written: removing them resets the directory (no shell). */
    for (int a = 0; a < 4; a++)
        for (int k = 0; k < 3 && files[a][k]; k++) {
            char p[256];
            snprintf(p, sizeof p, "%s/%s", root, files[a][k]);
            unlink(p);
        }
    int layout = data[0] % 4;
    anet_cm_rules rules = (data[1] & 1) ? ANET_CM_RULES_PRIVATE : ANET_CM_RULES_COREML;
    const uint8_t *p = data + 2, *end = data + size;
    for (int k = 0; k < 3 && files[layout][k]; k++) {
        const uint8_t *q = p;
        while (q + 5 <= end && memcmp(q, "@@@@\n", 5) != 0) q++;
        if (q + 5 > end) q = end;
        put(files[layout][k], p, (size_t)(q - p));
        p = q + 5 <= end ? q + 5 : end;
    }
    anet_cm_model *m = NULL;
    if (anet_coreml_load_with(root, rules, &m) == ANET_OK) {
        m->rules = rules;
        if (anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK) (void)anet_coreml_compat(m);
    }
    anet_coreml_free(m);
    return 0;
}
