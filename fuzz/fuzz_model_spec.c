/* libFuzzer target for the model spec grammar (specs come from the command line and from
 * checkpoints' metadata): any input is accepted or refused with one line; an accepted spec's
 * canonical text parses to itself, and its shapes and parameters are in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    anet_model_spec *m = malloc(sizeof *m), *m2 = malloc(sizeof *m2);
    if (m && m2) {
        if (anet_model_parse(s, m) != ANET_OK) {
            if (strchr(anet_last_error(), '\n')) abort(); /* one line */
        } else {
            if (anet_model_parse(m->text, m2) != ANET_OK || strcmp(m->text, m2->text) != 0) abort();
            if (m->nparams < 1 || m->nparams > ANET_MODEL_MAX_PARAMS || anet_model_param_count(m) > ANET_MLP_MAX_PARAMS)
                abort();
            for (int i = 0; i < m->nl; i++)
                if (anet_shape_numel(&m->layers[i].outs) < 1) abort();
        }
    }
    free(m);
    free(m2);
    free(s);
    return 0;
}
