/* The probe ladder against the simulator's program-form quirks (plan/forms.h, switched with
 * ANE_TRAINER_FORMS): switching one quirk on changes only the probes that name its rule (and
 * at least one of them, for every rule the simulator can show through the backend); with a
 * chip's defaults the ladder's implied settings are the simulator's switches; and a report
 * written and read back yields switches that reproduce them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "plan/forms.h"
#include "runtime/ane_probe_report.h"
#include "runtime/ane_probes.h"

/* Rules the simulator cannot show through the backend: the backend gives every surface one
 * size (io-size-order) and follows the model's row strides (io-width-mult32, whose failures
 * on a device come from the row layout, probed by row-layout). */
static int sim_silent(const char *rule) { return !strcmp(rule, "io-size-order") || !strcmp(rule, "io-width-mult32"); }

static void ladder(const char *forms, anet_chip chip, anet_probe_result *res) {
    setenv("ANE_TRAINER_FORMS", forms, 1);
    /* In process (the simulator's "hang" is a timeout error, not a hang): fast under ASan. */
    anet_probe_ladder_config c = {"ane-sim", {chip, ANET_NUMERICS_FP16, 0}, 3, 20000, 0};
    anet_mil_dialect d;
    anet_probe_ladder(&c, res, &d, NULL, NULL);
    unsetenv("ANE_TRAINER_FORMS");
}

static void test_flips(anet_chip chip) {
    int n = anet_probes_count();
    anet_probe_result *base = calloc((size_t)n, sizeof *base), *res = calloc((size_t)n, sizeof *res);
    ladder("none", chip, base);
    int nr = 0;
    const anet_form_rule *rules = anet_form_rules(&nr);
    int covered = 0;
    for (int r = 0; r < nr; r++) {
        const char *id = rules[r].id;
        int named = 0;
        for (int i = 0; i < n; i++) named += !strcmp(anet_probe_get(i)->rule, id);
        if (!named) continue; /* surface-size-strided: no probe (the backend sizes surfaces) */
        covered++;
        char spec[96];
        if (!strcmp(id, "max-inputs")) snprintf(spec, sizeof spec, "none,max-inputs=3");
        else if (!strcmp(id, "row-layout")) snprintf(spec, sizeof spec, "none,row-layout=strided64");
        else snprintf(spec, sizeof spec, "none,%s=on", id);
        ladder(spec, chip, res);
        int flipped = 0, risky_ran = 0;
        for (int i = 0; i < n; i++) {
            if (!strcmp(anet_probe_get(i)->rule, id) && anet_probe_get(i)->trigger)
                risky_ran += base[i].outcome == ANET_PROBE_PASSED;
            if (res[i].outcome == base[i].outcome) continue;
            flipped++;
            CHECK_MSG(!strcmp(anet_probe_get(i)->rule, id), "%s (chip %s): probe %s (rule %s) changed %s -> %s: %s",
                      spec, anet_chip_name(chip), anet_probe_get(i)->id, anet_probe_get(i)->rule,
                      anet_probe_outcome_name(base[i].outcome), anet_probe_outcome_name(res[i].outcome), res[i].error);
        }
        if (!strcmp(id, "dialect-ios16") && chip == ANET_CHIP_M4) continue; /* M4 runs ios18 either way */
        /* Something must change, unless the chip's constraint table already rejects every risky
         * form (M1-M3 compile no matmul whose contraction is not a multiple of 32). */
        if (!sim_silent(id) && risky_ran) CHECK_MSG(flipped > 0, "%s (chip %s): no probe changed", spec, anet_chip_name(chip));
        if (!strcmp(id, "max-inputs")) { /* exactly the programs of more than 3 inputs */
            for (int k = 1; k <= 8; k++) {
                char pid[16];
                snprintf(pid, sizeof pid, "inputs_%d", k);
                int i = anet_probe_find(pid);
                CHECK_MSG((res[i].outcome == ANET_PROBE_PASSED) == (k <= 3), "%s: %s", pid, anet_probe_outcome_name(res[i].outcome));
            }
        }
    }
    CHECK(covered >= 14);
    free(base);
    free(res);
}

/* With a chip's own defaults, what the ladder implies is what the simulator was set to. */
static void test_defaults_decided(anet_chip chip) {
    int n = anet_probes_count();
    anet_probe_result *res = calloc((size_t)n, sizeof *res);
    setenv("ANE_TRAINER_FORMS", "", 1); /* the chip's defaults */
    anet_probe_ladder_config c = {"ane-sim", {chip, ANET_NUMERICS_FP16, 0}, 5, 20000, 0};
    anet_mil_dialect d;
    anet_probe_ladder(&c, res, &d, NULL, NULL);
    unsetenv("ANE_TRAINER_FORMS");
    anet_forms f;
    anet_forms_default(chip, &f);
    CHECK_EQ_INT(d, f.on[ANET_FORM_DIALECT_IOS16] && chip != ANET_CHIP_M4 ? ANET_MIL_IOS16 : ANET_MIL_IOS18);
    anet_probe_setting s[ANET_PROBE_MAX_RULES];
    int ns = anet_probe_implied(res, n, s, ANET_PROBE_MAX_RULES);
    for (int i = 0; i < ns; i++) {
        int r = anet_form_find(s[i].rule);
        if (r < 0 || sim_silent(s[i].rule)) continue;
        char want[16];
        if (r == ANET_FORM_MAX_INPUTS) snprintf(want, sizeof want, "%d", f.on[r] ? f.max_inputs : 8);
        else if (r == ANET_FORM_ROW_LAYOUT) snprintf(want, sizeof want, "%s", f.on[r] ? "strided64" : "packed");
        else snprintf(want, sizeof want, "%s", f.on[r] ? "on" : "off");
        if (r == ANET_FORM_DIALECT_IOS16 && chip == ANET_CHIP_M4) snprintf(want, sizeof want, "off");
        CHECK_MSG(!strcmp(s[i].value, want), "chip %s: %s implied %s, the simulator has %s (%s)", anet_chip_name(chip),
                  s[i].rule, s[i].value, want, s[i].evidence);
    }

    /* The report written, read back and turned into switches reproduces the simulator's. */
    anet_host h;
    anet_host_get(&h);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "ane_trainer selftest");
    cJSON_AddStringToObject(root, "backend", "ane-sim");
    anet_probe_report_add(root, &h, res, n, d);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char path[] = "/tmp/anet_probe_forms_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK(anet_probe_report_store(path, text) == ANET_OK);
    free(text);
    anet_probe_report rep;
    CHECK(anet_probe_report_read(path, &rep) == ANET_OK);
    remove(path);
    char why[200];
    CHECK(anet_probe_report_matches(&rep, &h, "ane-sim", why, sizeof why));
    char spec[512];
    int items = anet_probe_forms_spec(rep.settings, rep.nsettings, spec, sizeof spec);
    CHECK(items >= 10);
    anet_forms g;
    anet_forms_default(chip, &g);
    char full[600];
    snprintf(full, sizeof full, "none,%s", spec); /* from nothing: only what the report says */
    CHECK_MSG(anet_forms_parse(full, &g) == ANET_OK, "%s: %s", full, anet_last_error());
    for (int r = 0; r < ANET_FORM_COUNT_; r++) {
        const char *id = anet_form_rules(NULL)[r].id;
        if (sim_silent(id) || anet_probe_report_value(&rep, id) == NULL) continue;
        if (r == ANET_FORM_DIALECT_IOS16 && chip == ANET_CHIP_M4) continue;
        if (r == ANET_FORM_MAX_INPUTS && !f.on[r]) { /* 8 inputs ran: a limit of 8 */
            CHECK(g.on[r] && g.max_inputs == 8);
            continue;
        }
        CHECK_MSG(g.on[r] == f.on[r], "chip %s: report -> '%s' sets %s=%d, the simulator had %d", anet_chip_name(chip),
                  spec, id, g.on[r], f.on[r]);
        if (r == ANET_FORM_MAX_INPUTS) CHECK_EQ_INT(g.max_inputs, f.max_inputs);
    }
    free(res);
}

static void test_spec(void) {
    anet_probe_setting s[5] = {{"broadcast-channel", "on", ""}, {"max-inputs", "3", ""}, {"row-layout", "strided64", ""},
                               {"log-epsilon", "unknown", ""}, {"op-greater-select", "off", ""}};
    char buf[256];
    CHECK_EQ_INT(anet_probe_forms_spec(s, 5, buf, sizeof buf), 3);
    CHECK(!strcmp(buf, "broadcast-channel=on,max-inputs=3,row-layout=strided64"));
    CHECK_EQ_INT(anet_probe_forms_spec(s, 5, buf, 10), 0); /* too small: nothing half-written */
    CHECK(buf[0] == '\0');
}

int main(void) {
    test_spec();
    test_flips(ANET_CHIP_M3); /* M3: the dialect rule bites too (M4 runs ios18 either way) */
    test_defaults_decided(ANET_CHIP_M4);
    test_defaults_decided(ANET_CHIP_M1);
    TEST_MAIN_END();
}
