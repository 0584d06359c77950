/* anet_generate_text: `ane_trainer generate` into a string. */
#include <stdio.h>
#include <stdlib.h>

#include "ane_trainer.h"
#include "core/error.h"
#include "train/generate.h"

anet_status anet_generate_text(const char *checkpoint, const char *prompt, int64_t tokens, double temperature,
                               uint64_t seed, const char *backend, char **text) {
    if (!text) return anet_fail(ANET_E_INVALID, "anet_generate_text: text is NULL");
    *text = NULL;
    if (!checkpoint) return anet_fail(ANET_E_INVALID, "anet_generate_text: checkpoint is NULL");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return anet_fail(ANET_E_NOMEM, "anet_generate_text: cannot open a memory stream");
    anet_gen_options o = {checkpoint, prompt ? prompt : "", tokens, temperature, seed, backend, ANET_CHIP_M4,
                          ANET_NUMERICS_FP16, ANET_GEN_FORM_CHECKPOINT};
    anet_status st = anet_generate(&o, f);
    if (fclose(f) != 0 && st == ANET_OK) st = anet_fail(ANET_E_NOMEM, "anet_generate_text: out of memory");
    if (st != ANET_OK) {
        free(buf);
        return st;
    }
    /* generate ends the text with a newline for terminals; the string has none */
    if (len && buf[len - 1] == '\n') buf[len - 1] = 0;
    *text = buf;
    return ANET_OK;
}
