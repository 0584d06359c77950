/* libFuzzer target: model.mil as Apple's compiler writes it, read by `check`'s reader for it
 * (src/coreml/miltext.c, from memory: no files), then the whole analysis under both rule
 * sets and the streamed JSON report. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coreml/coreml.h"
#include "coreml/mlprogram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anet_cm_model *m = anet_cm_model_new("fuzz.mlmodelc", "mlmodelc");
    if (!m) return 0;
    if (anet_cm_read_miltext(m, "fuzz/model.mil", (const char *)data, size, "") == ANET_OK && m->nlayers > 0) {
        m->rules = ANET_CM_RULES_COREML;
        if (anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK) {
            FILE *f = fopen("/dev/null", "w");
            if (f) {
                (void)anet_coreml_report_write(m, f);
                fclose(f);
            }
        }
        m->rules = ANET_CM_RULES_PRIVATE; /* no IR here: every op is unmodeled, said so */
        (void)anet_coreml_analyze(m, ANET_CHIP_M1);
    }
    anet_coreml_free(m);
    return 0;
}
