/* ane_trainer check PATH: will this Core ML model (likely) run on the Neural Engine?
 * Exit status: 0 every layer likely on the ANE, 1 partly, 2 not at all; 3 the file cannot
 * be read, 4 unsupported or malformed format, 5 usage error, 6 --on-device cannot ask the
 * OS here (not macOS 14.4+) or the OS failed to plan the model (docs/check.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "coreml/compute_plan.h"
#include "coreml/coreml.h"
#include "coreml/deps.h"

enum {
    CHECK_FULL = 0,
    CHECK_PARTIAL = 1,
    CHECK_NONE = 2,
    CHECK_IO = 3,
    CHECK_FORMAT = 4,
    CHECK_USAGE = 5,
    CHECK_ON_DEVICE = 6
};

static const char *const chip_names[ANET_CHIP_COUNT_] = {"m1", "m2", "m3", "m4", "strict"};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer check PATH [--chip m1|m2|m3|m4|strict] [--rules coreml|private] [--json] [--on-device]\n"
            "       ane_trainer check --explain RULE\n"
            "\n"
            "Static check of a Core ML model (.mlmodel, .mlpackage, .mlmodelc with model.mil), of MIL\n"
            "text (.mil), of an ane_trainer checkpoint (.safetensors) or of a model spec (mlp:784-128-10;\n"
            "these two: the training and eval step programs): for every layer or op, whether it likely\n"
            "runs on the Neural Engine, with the rule, its reason and its source. A static check says\n"
            "\"likely\"; the OS decides at load time.\n"
            "\n"
            "options:\n"
            "  --chip C        chip profile for ML Program rules (default strict: every chip's rules;\n"
            "                  checkpoints: the chip they were trained for, else m4; specs: m4)\n"
            "  --rules R       rule set for ML Program ops: coreml (Core ML's placement rules; the\n"
            "                  default for .mlmodel, .mlpackage, .mlmodelc) or private (the in-memory\n"
            "                  compile rules of the private API; the default for .mil, checkpoints, specs)\n"
            "  --json          machine-readable report on stdout (an error object for exit 3 and 4)\n"
            "  --on-device     also ask the OS (Core ML's MLComputePlan, macOS 14.4+) where it places\n"
            "                  each layer, shown beside our verdict; the exit status then follows the OS\n"
            "  --explain RULE  print a rule's statement, reason and source\n"
            "\n"
            "exit status: 0 every layer likely on the ANE, 1 partly, 2 none; 3 unreadable file,\n"
            "4 unsupported or malformed format, 5 usage error, 6 --on-device unavailable or failed\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "ane_trainer check: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see `ane_trainer check --help`)\n");
    return CHECK_USAGE;
}

static const anet_rule *find_rule(const char *id) {
    const anet_rule *r = anet_rule_nn_find(id);
    if (!r) r = anet_rule_coreml_find(id);
#if ANET_CM_HAVE_PLAN_CHECK
    if (!r) r = anet_rule_find(id);
#endif
    return r;
}

static void chips_str(unsigned mask, char *buf, size_t len) {
    buf[0] = '\0';
    for (int c = 0; c < ANET_CHIP_STRICT; c++)
        if (mask & ANET_CHIP_BIT(c)) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, "%s%s", n ? ", " : "", chip_names[c]);
        }
    if (!buf[0]) snprintf(buf, len, "strict only");
}

static int explain(const char *id) {
    const anet_rule *r = find_rule(id);
    if (!r) return usage_error("unknown rule '%s'", id);
    char chips[64];
    chips_str(r->chips, chips, sizeof chips);
    printf("%s: %s\n  reason: %s\n  source: %s\n  chips:  %s\n", r->id, r->title, r->reason, r->source, chips);
    return CHECK_FULL;
}

static void shape_str(const anet_cm_shape *s, char *buf, size_t len) {
    if (s->rank < 0) {
        snprintf(buf, len, "?");
        return;
    }
    size_t n = (size_t)snprintf(buf, len, "%s%s[", s->dtype, s->dtype[0] ? " " : "");
    for (int i = 0; i < s->rank && n < len; i++) {
        if (i >= ANET_CM_MAX_DIMS) {
            n += (size_t)snprintf(buf + n, len - n, ", ...");
            break;
        }
        if (s->dims[i] > 0) n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)s->dims[i]);
        else n += (size_t)snprintf(buf + n, len - n, "%s?", i ? ", " : "");
    }
    if (n < len) snprintf(buf + n, len - n, "]");
}


static void print_text(const anet_cm_model *m) {
    printf("%s: %s, %s", m->path, m->format, m->kind);
    if (m->spec_version) printf(", specification version %lld", (long long)m->spec_version);
    printf("; chip profile %s; rules %s\n\n", chip_names[m->chip],
           m->rules == ANET_CM_RULES_PRIVATE ? "private (the private API's in-memory compile rules)"
                                             : "coreml (Core ML placement rules)");
    if (m->on_device)
        printf("  %-4s %-28s %-22s %-8s %-8s %s\n", "#", "layer", "type", "verdict", "os", "reason");
    else
        printf("  %-4s %-28s %-22s %-8s %s\n", "#", "layer", "type", "verdict", "reason");
    for (int i = 0; i < m->nlayers; i++) {
        const anet_cm_layer *l = &m->layers[i];
        char name[256], type[128];
        snprintf(name, sizeof name, "%s%s%s", l->model_path, l->model_path[0] ? "/" : "", l->name);
        snprintf(type, sizeof type, "%s%s%s%s", l->type, l->subtype ? "(" : "", l->subtype ? l->subtype : "",
                 l->subtype ? ")" : "");
        if (m->on_device) {
            char os[16];
            snprintf(os, sizeof os, "%s%s", anet_cp_device_name(l->os_device), l->os_mismatch ? "!" : "");
            printf("  %-4d %-28s %-22s %-8s %-8s %s [%s]\n", i + 1, name, type, anet_cm_placement_name(l->verdict), os,
                   anet_cm_detail(l), l->rule ? l->rule->id : "-");
        } else {
            printf("  %-4d %-28s %-22s %-8s %s [%s]\n", i + 1, name, type, anet_cm_placement_name(l->verdict),
                   anet_cm_detail(l), l->rule ? l->rule->id : "-");
        }
    }
    if (m->nissues) {
        printf("\nprogram rules (whole programs):\n");
        for (int i = 0; i < m->nissues; i++) {
            const anet_cm_issue *is = &m->issues[i];
            printf("  %-10s %-8s %s [%s]\n", is->program, anet_cm_placement_name(is->verdict), is->detail,
                   is->rule ? is->rule->id : "-");
        }
    }
    /* Each rule that decided something, once, with its reason and source. */
    printf("\nrules:\n");
    for (int i = 0; i < m->nlayers; i++) {
        const anet_rule *r = m->layers[i].rule;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = m->layers[j].rule == r;
        if (r && !seen) printf("  %s: %s\n      source: %s\n", r->id, r->reason, r->source);
    }
    for (int i = 0; i < m->nissues; i++) {
        const anet_rule *r = m->issues[i].rule;
        int seen = 0;
        for (int j = 0; j < m->nlayers && !seen; j++) seen = m->layers[j].rule == r;
        for (int j = 0; j < i && !seen; j++) seen = m->issues[j].rule == r;
        if (r && !seen) printf("  %s: %s\n      source: %s\n", r->id, r->reason, r->source);
    }
    printf("\nsegments (runs of consecutive layers likely on the ANE):\n");
    if (!m->nsegments) printf("  none\n");
    for (int i = 0; i < m->nsegments; i++) {
        const anet_cm_segment *s = &m->segments[i];
        char sh[160];
        printf("  %d: layers %d-%d (%s .. %s)\n", i + 1, s->first + 1, s->last + 1, m->layers[s->first].name,
               m->layers[s->last].name);
        for (int k = 0; k < 2; k++) {
            const anet_cm_tensor *t = k ? s->outputs : s->inputs;
            int n = k ? s->noutputs : s->ninputs, more = k ? s->outputs_more : s->inputs_more;
            printf("     %s:", k ? "out" : "in ");
            for (int j = 0; j < n; j++) {
                shape_str(&t[j].shape, sh, sizeof sh);
                printf("%s %s %s", j ? "," : "", t[j].name, sh);
            }
            if (more) printf(", and %d more", more);
            printf("%s\n", n || more ? "" : " none");
        }
    }
    if (m->nnotes) printf("\nnotes:\n");
    for (int i = 0; i < m->nnotes; i++) printf("  %s\n", m->notes[i]);
    int c = anet_coreml_compat(m);
    char prog[64] = "";
    if (m->nissues) snprintf(prog, sizeof prog, "%d program rule%s failing; ", m->nissues, m->nissues == 1 ? "" : "s");
    if (m->on_device) {
        if (prog[0]) prog[strlen(prog) - 2] = '\0'; /* no trailing "; " */
        printf("\nsummary: %d layers: %d likely on the ANE, %d likely on the CPU, %d unknown; %d ANE<->CPU switch%s%s%s\n",
               m->nlayers, m->n_ane, m->n_cpu, m->n_unknown, m->switches, m->switches == 1 ? "" : "es",
               prog[0] ? "; " : "", prog);
        printf("on device (%s): %d on the ANE, %d on the CPU, %d on the GPU, %d not reported; %d "
               "disagree%s with the static check (marked !)%s; %s\n",
               strcmp(m->os_source, "darwin") == 0 ? "MLComputePlan" : "a replayed plan", m->os_ane, m->os_cpu,
               m->os_gpu, m->os_unreported, m->os_mismatches, m->os_mismatches == 1 ? "s" : "",
               m->os_extra ? ", and the OS listed layers not in our report" : "",
               c == 0 ? "fully on the ANE" : c == 2 ? "not on the ANE at all" : "partly on the ANE");
    } else {
        printf("\nsummary: %d layers: %d likely on the ANE, %d likely on the CPU, %d unknown; %d ANE<->CPU "
               "switch%s; %s%s (a static check: the OS decides at load time)\n",
               m->nlayers, m->n_ane, m->n_cpu, m->n_unknown, m->switches, m->switches == 1 ? "" : "es", prog,
               anet_coreml_compat_statement(c));
    }
}

static int print_json(const anet_cm_model *m) {
    /* Streamed: a model of a million layers never becomes one JSON tree in memory. */
    if (anet_coreml_report_write(m, stdout) != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "ane_trainer check: out of memory or write error writing JSON\n");
        return CHECK_FORMAT;
    }
    return anet_coreml_compat(m);
}

static int status_exit(anet_status st) {
    return st == ANET_E_IO || st == ANET_E_NOTFOUND ? CHECK_IO : CHECK_FORMAT;
}

/* One error line on stderr; with --json also an error object on stdout, so a script reading
 * stdout always gets JSON. */
static int fail_report(int json, const char *path, int code) {
    const char *msg = anet_last_error();
    fprintf(stderr, "ane_trainer check: %s\n", msg);
    if (json) {
        cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "path", path);
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "kind", code == CHECK_IO ? "io" : code == CHECK_FORMAT ? "format" : "on_device");
        cJSON_AddNumberToObject(root, "exit_status", code);
        char *s = cJSON_Print(root);
        if (s) puts(s);
        free(s);
        cJSON_Delete(root);
    }
    return code;
}

int cli_check(int argc, char **argv) {
    const char *path = NULL, *rule = NULL;
    int json = 0, on_device = 0, chip_given = 0;
    anet_cm_rules rules = ANET_CM_RULES_DEFAULT;
    anet_chip chip = ANET_CHIP_STRICT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage(stdout);
            return CHECK_FULL;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--on-device") == 0) {
            on_device = 1;
        } else if (strcmp(a, "--rules") == 0) {
            if (i + 1 >= argc) return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(v, "coreml") == 0) rules = ANET_CM_RULES_COREML;
            else if (strcmp(v, "private") == 0) rules = ANET_CM_RULES_PRIVATE;
            else return usage_error("unknown rule set '%s' (coreml or private)", v);
        } else if (strcmp(a, "--chip") == 0 || strcmp(a, "--explain") == 0) {
            if (i + 1 >= argc) return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (a[2] == 'e') {
                rule = v;
                continue;
            }
            int found = 0;
            for (int c = 0; c < ANET_CHIP_COUNT_; c++)
                if (strcmp(v, chip_names[c]) == 0) chip = (anet_chip)c, found = 1, chip_given = 1;
            if (!found) return usage_error("unknown chip '%s' (m1, m2, m3, m4 or strict)", v);
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (path) {
            return usage_error("more than one PATH ('%s')", a);
        } else {
            path = a;
        }
    }
    if (rule) return explain(rule);
    if (!path) return usage_error("%s", "missing PATH");
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_load_with(path, rules, &m);
    if (st == ANET_OK && !chip_given && m->has_chip_hint) chip = m->chip_hint;
    if (st == ANET_OK) {
        m->rules = rules;
        st = anet_coreml_analyze(m, chip);
    }
    if (st != ANET_OK) {
        anet_coreml_free(m);
        return fail_report(json, path, status_exit(st));
    }
    /* ANE_TRAINER_COMPUTE_PLAN: replay a recorded plan instead of asking the OS. */
    const char *replay = getenv("ANE_TRAINER_COMPUTE_PLAN");
    anet_cp_seam rs;
    if (replay && replay[0]) anet_cp_seam_replay(replay, &rs);
    if (on_device && (st = anet_cm_on_device(m, replay && replay[0] ? &rs : NULL)) != ANET_OK) {
        anet_coreml_free(m);
        if (st == ANET_E_INVALID) {
            fprintf(stderr, "ane_trainer check: %s\n", anet_last_error());
            return CHECK_USAGE;
        }
        return fail_report(json, path, CHECK_ON_DEVICE);
    }
    int rc;
    if (json) rc = print_json(m);
    else {
        print_text(m);
        rc = anet_coreml_compat(m);
    }
    anet_coreml_free(m);
    return rc;
}
