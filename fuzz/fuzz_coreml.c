/* libFuzzer target: the .mlmodel protobuf reader (NeuralNetwork, pipelines, ML Program ->
 * graph IR) and the whole analysis (rules, constraint table, segments) on arbitrary bytes.
 * Build and run by hand (docs/check.md has the exact command); not part of the CMake build. */
#include <stddef.h>
#include <stdint.h>

#include "coreml/coreml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anet_cm_model *m = NULL;
    if (anet_coreml_parse_mlmodel(data, size, NULL, 0, "fuzz.mlmodel", &m) != ANET_OK) return 0;
    /* Two profiles: rules differ per chip, and re-analysis must not leak or double-free. */
    if (anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK) (void)anet_coreml_compat(m);
    (void)anet_coreml_analyze(m, ANET_CHIP_M1);
    anet_coreml_free(m);
    return 0;
}
