/* What `ane_trainer info` reports about the ANE backend: framework, classes, chip, budget. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "runtime/ane_backend.h"
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
