/* Automatic backend selection ("auto"), above the registry: the candidate when it probes fine
 * and passes the self-check, else vane. */
#include "runtime/backend_auto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_selftest.h"

anet_status anet_ane_self_check(anet_backend *b) {
    if (!b || !b->ops) return anet_fail(ANET_E_INVALID, "self-check: no backend");
    anet_backend_config vc = {ANET_CHIP_M1, ANET_NUMERICS_FP16, 0};
    anet_backend vane;
    anet_status st = anet_backend_open("vane", &vc, &vane);
    if (st) return anet_fail_ctx(st, "self-check: opening vane");
    /* "sub" with inputs declared out of name order: catches wrong surface ordering too. */
    int idx = 1;
    anet_ane_case_result r;
    st = anet_ane_selftest_run(idx, b, &vane, 7, &r);
    anet_backend_close(&vane);
    if (st) return st;
    if (!r.ok)
        return anet_fail(ANET_E_VERIFY, "self-check on %s failed: %s", b->ops->name, r.error);
    return ANET_OK;
}

static const anet_backend_ops *ops_by_name(const char *name) {
    if (strcmp(name, "ane") == 0) return anet_ane_backend_ops();
    if (strcmp(name, "ane-sim") == 0) return anet_ane_sim_backend_ops();
    return NULL;
}

anet_status anet_ane_select_auto(const char *candidate, const anet_backend_config *cfg,
                                 anet_backend *out, char *chosen, size_t chosen_len, char *reason,
                                 size_t reason_len) {
    char why[600] = "";
    out->ops = NULL;
    out->state = NULL;
    if (!candidate) candidate = "ane";
    /* Lets CLI tests on machines without an ANE drive auto's logic through the simulator. */
    const char *env = getenv("ANE_TRAINER_AUTO_CANDIDATE");
    if (env && *env && strcmp(candidate, "ane") == 0) {
        if (strcmp(env, "ane") && strcmp(env, "ane-sim"))
            return anet_fail(ANET_E_INVALID, "ANE_TRAINER_AUTO_CANDIDATE='%s': expected ane or ane-sim", env);
        candidate = env;
    }
    const anet_backend_ops *ops = ops_by_name(candidate);
    if (!ops) return anet_fail(ANET_E_INVALID, "auto: '%s' is not an ANE backend", candidate);
    anet_status st = ops->probe(why, sizeof why);
    if (st == ANET_OK) {
        void *state = NULL;
        st = ops->create(cfg, &state);
        if (st == ANET_OK) {
            anet_backend b = {ops, state};
            st = anet_ane_self_check(&b);
            if (st == ANET_OK) {
                *out = b;
                snprintf(chosen, chosen_len, "%s", candidate);
                snprintf(reason, reason_len,
                         "%s: the framework and its classes loaded and the self-check (compile and "
                         "run a small program, compare with vane) passed", candidate);
                return ANET_OK;
            }
            snprintf(why, sizeof why, "%s", anet_last_error());
            ops->destroy(state);
        } else {
            snprintf(why, sizeof why, "%s", anet_last_error());
        }
    }
    st = anet_backend_open("vane", cfg, out);
    if (st) return anet_fail_ctx(st, "auto: %s could not run (%s), and vane did not open", candidate, why);
    snprintf(chosen, chosen_len, "vane");
    snprintf(reason, reason_len, "vane: %s is not usable here: %s", candidate, why);
    return ANET_OK;
}

anet_status anet_backend_open_auto(const char *name, const anet_backend_config *cfg, anet_backend *out) {
    if (name && strcmp(name, "auto") == 0) {
        anet_status st = anet_backend_open_check(name, cfg, out);
        if (st != ANET_OK) return st;
        /* ane when it loads and passes its self-check, else vane (the reason is available
         * from anet_ane_select_auto directly). */
        char chosen[16], reason[512];
        return anet_ane_select_auto("ane", cfg, out, chosen, sizeof chosen, reason, sizeof reason);
    }
    return anet_backend_open(name, cfg, out);
}
