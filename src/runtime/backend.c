/* Backend registry: names to ops tables, and chip profile names. */
#include "runtime/backend.h"

#include <string.h>

#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/vane/vane.h"

static const char *const chip_names[ANET_CHIP_COUNT_] = {"m1", "m2", "m3", "m4", "strict"};

const char *anet_chip_name(anet_chip c) {
    if ((int)c < 0 || c >= ANET_CHIP_COUNT_) return "?";
    return chip_names[c];
}

int anet_chip_lookup(const char *s, anet_chip *out) {
    if (!s) return -1;
    for (int i = 0; i < ANET_CHIP_COUNT_; i++)
        if (strcmp(s, chip_names[i]) == 0) {
            if (out) *out = (anet_chip)i;
            return 0;
        }
    return -1;
}

anet_status anet_backend_open_check(const char *name, const anet_backend_config *cfg, anet_backend *out) {
    if (!name || !cfg || !out) return anet_fail(ANET_E_INVALID, "backend open: missing argument");
    out->ops = NULL;
    out->state = NULL;
    if ((int)cfg->chip < 0 || cfg->chip >= ANET_CHIP_COUNT_)
        return anet_fail(ANET_E_INVALID, "backend open: chip profile %d is not m1..m4 or strict",
                         (int)cfg->chip);
    if (cfg->numerics != ANET_NUMERICS_FP16 && cfg->numerics != ANET_NUMERICS_FP32)
        return anet_fail(ANET_E_INVALID, "backend open: numerics mode %d is not fp16 or fp32",
                         (int)cfg->numerics);
    return ANET_OK;
}

anet_status anet_backend_open(const char *name, const anet_backend_config *cfg, anet_backend *out) {
    anet_status st = anet_backend_open_check(name, cfg, out);
    if (st != ANET_OK) return st;
    const anet_backend_ops *ops = NULL;
    if (strcmp(name, "vane") == 0) ops = &anet_vane_ops;
    else if (strcmp(name, "ane") == 0) ops = anet_ane_backend_ops();
    else if (strcmp(name, "ane-sim") == 0) ops = anet_ane_sim_backend_ops();
    else
        return anet_fail(ANET_E_NOTFOUND, "backend '%s' is unknown (known: auto, vane, ane, ane-sim)", name);
    char why[256] = "";
    st = ops->probe(why, sizeof why);
    if (st != ANET_OK)
        return anet_fail(ANET_E_UNSUPPORTED, "backend '%s' cannot run here: %s", name, why);
    void *state = NULL;
    st = ops->create(cfg, &state);
    if (st != ANET_OK) return st;
    out->ops = ops;
    out->state = state;
    return ANET_OK;
}

void anet_backend_close(anet_backend *b) {
    if (!b) return;
    if (b->ops && b->state) b->ops->destroy(b->state);
    b->ops = NULL;
    b->state = NULL;
}
