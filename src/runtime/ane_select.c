/* Backend selection ("auto"), the short self-check, and what `ane_trainer info` reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_selftest.h"
#include "runtime/sim/ane_sim.h"

static const char *const ane_classes[4] = {
    "_ANEInMemoryModelDescriptor", "_ANEInMemoryModel", "_ANERequest", "_ANEIOSurfaceObject",
};

/* Does text name class c as a whole word ("_ANEInMemoryModel" is a prefix of another)? */
static int names_class(const char *text, const char *c) {
    size_t n = strlen(c);
    for (const char *p = text ? strstr(text, c) : NULL; p; p = strstr(p + 1, c)) {
        char next = p[n];
        if (!((next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z') || next == '_')) return 1;
    }
    return 0;
}

anet_status anet_ane_self_check(anet_backend *b) {
    if (!b || !b->ops) return anet_fail(ANET_E_INVALID, "self-check: no backend");
    anet_backend_config vc = {ANET_CHIP_M1, ANET_NUMERICS_FP16};
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

anet_status anet_ane_info_get(const char *backend, anet_ane_info *out) {
    memset(out, 0, sizeof *out);
    out->classes_total = 4;
    for (int k = 0; k < 4; k++) snprintf(out->classes[k], sizeof out->classes[k], "%s", ane_classes[k]);
    anet_ane_options o;
    anet_ane_options_default(&o);
    anet_status st = anet_ane_options_env(&o);
    if (st) return st;
    out->compile_budget = o.compile_budget;
    out->reported_limit = ANET_ANE_REPORTED_COMPILE_LIMIT;
    out->min_surface_bytes = o.min_surface_bytes;
    if (!backend) backend = "ane";
    anet_ane_seam seam;
    if (strcmp(backend, "ane-sim") == 0) {
        anet_ane_sim_config sc;
        anet_ane_sim_config_default(ANET_CHIP_M4, &sc); /* the trainer's default profile */
        if ((st = anet_ane_sim_config_env(&sc))) return st;
        snprintf(out->chip, sizeof out->chip, "simulated (profile %s)", anet_chip_name(sc.chip));
        st = anet_ane_sim_seam_create(&sc, &seam);
    } else if (strcmp(backend, "ane") == 0) {
        st = anet_ane_darwin_seam_create(&seam);
    } else {
        return anet_fail(ANET_E_INVALID, "ane info: '%s' is not an ANE backend", backend);
    }
    if (st) {
        snprintf(out->why, sizeof out->why, "%s", anet_last_error());
        anet_clear_error();
        return ANET_OK;
    }
    int rc = seam.ops->open(seam.ctx);
    if (rc == 0) {
        out->framework_present = 1;
        out->classes_found = 4;
        for (int k = 0; k < 4; k++) out->class_ok[k] = 1;
    } else {
        const char *t = seam.ops->error(seam.ctx);
        /* The seam's text says which step failed: the framework, or a class. */
        out->framework_present = t && strstr(t, "dlopen") == NULL;
        for (int k = 0; k < 4; k++) {
            out->class_ok[k] = out->framework_present && !names_class(t, ane_classes[k]);
            out->classes_found += out->class_ok[k];
        }
        snprintf(out->why, sizeof out->why, "%s", t ? t : "");
    }
    if (strcmp(backend, "ane") == 0) anet_ane_darwin_chip(out->chip, sizeof out->chip);
    seam.ops->destroy(seam.ctx);
    return ANET_OK;
}
