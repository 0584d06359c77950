/* Memory estimate of a training plan. Measured on vane with mlp:784-4096-4096-10 (20.0 M
 * parameters, peak RSS of one step, /usr/bin/time): update=cpu 686 MB at batch 128 and 864 MB
 * at batch 1024 (fp16 and fp32 numerics alike), update=ane 2995 MB. Per parameter that is
 * ~33 B (cpu) and ~148 B (ane); per activation element ~22 B. The constants below round these
 * up, so the estimate bounds what a run really takes (tests/cli/harden_data.sh checks this). */
#include "train/memplan.h"

#include <stdio.h>
#include <unistd.h>

#include "core/error.h"

enum {
    BASE_BYTES = 64 << 20,   /* the program, libraries, a small dataset */
    PER_PARAM_CPU = 40,      /* fp32 master + Adam moments + gradients + program constants */
    PER_PARAM_ANE = 168,     /* device state in ping-pong pairs, inside and outside the program */
    PER_ACTIVATION = 28,
};

uint64_t anet_memplan_train_bytes(const anet_model_spec *m, int batch, anet_update_mode update) {
    uint64_t params = 0, width = 0;
    for (int i = 0; i < anet_model_nparams(m); i++) {
        anet_param_info p;
        anet_model_param(m, i, &p);
        params += (uint64_t)p.rows * (uint64_t)p.cols;
    }
    for (int l = 0; l <= m->nlayers; l++) width += (uint64_t)m->dims[l];
    uint64_t per = update == ANET_UPDATE_ANE ? PER_PARAM_ANE : PER_PARAM_CPU;
    return BASE_BYTES + params * per + (uint64_t)(batch > 0 ? batch : 1) * width * PER_ACTIVATION;
}

uint64_t anet_memplan_default_budget(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return 0;
    return (uint64_t)pages * (uint64_t)size / 2;
}

void anet_memplan_human(uint64_t bytes, char *buf, unsigned len) {
    double b = (double)bytes;
    if (b >= 1e9) snprintf(buf, len, "%.1f GB", b / 1e9);
    else snprintf(buf, len, "%.1f MB", b / 1e6);
}

anet_status anet_memplan_check(const anet_model_spec *m, int batch, anet_update_mode update, uint64_t budget) {
    int dflt = budget == 0;
    if (dflt) budget = anet_memplan_default_budget();
    if (budget == 0) return ANET_OK;
    uint64_t need = anet_memplan_train_bytes(m, batch, update);
    if (need <= budget) return ANET_OK;
    char n[32], b[32];
    anet_memplan_human(need, n, sizeof n);
    anet_memplan_human(budget, b, sizeof b);
    return anet_fail(ANET_E_NOMEM, "model %s with batch %d and --update %s needs about %s, over the memory budget "
                     "of %s (%s); a smaller model or batch fits, or raise --max-memory", m->text, batch,
                     update == ANET_UPDATE_ANE ? "ane" : "cpu", n, b,
                     dflt ? "the default, half of the physical memory" : "--max-memory");
}
