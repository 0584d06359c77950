/* `ane_trainer selftest`: first the probe ladder (ane_probes.h: one tiny program per risky
 * construct, each in its own process with a timeout, compared with a float64 reference, each
 * naming the program-form rule it decides), then small programs for each op of the training
 * step and the trainer's own step programs compared with vane. One JSON report (the file a
 * Mac user sends us), a short summary on a terminal, and a stored copy that
 * `train --backend auto` reads for this chip and OS. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_host.h"
#include "runtime/ane_probe_report.h"
#include "runtime/ane_probes.h"
#include "runtime/ane_selftest.h"
#include "core/fp16.h"
#include "mil/mil.h"
#include "train/optim_cpu.h"
#include "train/step.h"

/* The trainer's own step program for a small MLP (mlp:64-32-10, batch 32, adam), with inputs
 * filled by role: a realistic hyper tensor for step 1, one-hot labels, small weights and
 * zero optimizer state. Returns ANET_OK with r filled, or an error when it cannot be built. */
static anet_status trainer_case(anet_update_mode update, int eval_prog, anet_backend *test,
                                anet_backend *ref, uint64_t seed, anet_ane_case_result *r) {
    anet_step_config cfg;
    memset(&cfg, 0, sizeof cfg);
    anet_status st = anet_model_parse("mlp:64-32-10", &cfg.model);
    if (st) return st;
    cfg.batch = 32;
    anet_opt_config_default(ANET_OPT_ADAM, &cfg.opt); /* lr 1e-3, betas 0.9/0.999, eps 1e-8 */
    cfg.update = update;
    cfg.dialect = ANET_MIL_IOS18;
    anet_step_program prog;
    memset(&prog, 0, sizeof prog);
    st = eval_prog ? anet_step_build_eval(&cfg, &prog) : anet_step_build_train(&cfg, &prog);
    if (st) return st;
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    void *ins[256] = {0};
    st = anet_weights_build(prog.graph, 64, &w, &wl);
    if (!st) st = anet_mil_emit(prog.graph, &mil, &ml);
    if (!st && prog.ninputs > 256) st = anet_fail(ANET_E_INTERNAL, "selftest: too many inputs");
    float hyper[ANET_HYPER_SLOTS];
    anet_step_hyper(&cfg, 1, cfg.opt.lr, 1024.0f, cfg.batch, hyper);
    uint64_t s = seed * 2654435761u + 17;
    for (int k = 0; !st && k < prog.ninputs; k++) {
        const anet_type *t = &prog.graph->values[prog.graph->inputs[k]].type;
        int64_t n = anet_type_elements(t);
        uint16_t *d = calloc((size_t)(n > 0 ? n : 1), sizeof *d);
        if (!d || n < 1) {
            free(d);
            st = anet_fail(ANET_E_NOMEM, "selftest: out of memory");
            break;
        }
        ins[k] = d;
        anet_io_role role = prog.inputs[k].role;
        for (int64_t j = 0; j < n; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            float u = (float)((double)(s >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
            float v = 0;
            if (role == ANET_ROLE_X) v = u;
            else if (role == ANET_ROLE_PARAM) v = 0.2f * u;
            else if (role == ANET_ROLE_HYPER) v = j < ANET_HYPER_SLOTS ? hyper[j] : 0;
            d[j] = anet_f32_to_f16(v); /* labels, low parts and optimizer state stay 0 */
        }
        if (role == ANET_ROLE_Y_ONEHOT) { /* [1, K, 1, B]: one 1 per sample */
            int64_t K = t->dims[1], B = t->dims[3];
            for (int64_t b = 0; b < B; b++) d[((int64_t)(s >> 33) + b * 7) % K * B + b] = anet_f32_to_f16(1.0f);
        }
    }
    if (!st)
        st = anet_ane_selftest_run_mil(eval_prog ? "trainer_eval" : update == ANET_UPDATE_ANE ? "trainer_step_update_ane"
                                                                                     : "trainer_step_update_cpu",
                                       test, ref, mil, ml, w, wl, (const void *const *)ins, r);
    for (int k = 0; k < 256; k++) free(ins[k]);
    free(mil);
    free(w);
    anet_step_program_free(&prog);
    return st;
}

static void help(FILE *f) {
    fprintf(f,
            "usage: ane_trainer selftest [--backend ane|ane-sim] [--chip m1|m2|m3|m4|strict]\n"
            "                            [--json FILE] [--seed N] [--probe-timeout SEC]\n"
            "                            [--no-isolate] [--store | --no-store]\n"
            "\n"
            "1. The probe ladder: %d tiny programs, one per risky construct of the ANE program\n"
            "   forms (I/O shapes, widths S = 1/16/32/784/800, bias broadcasts, contraction 784 vs\n"
            "   800, 1-8 inputs, identity outputs, log with/without epsilon, reductions, select,\n"
            "   both dialects, 1x1 conv with runtime weights, elementwise sizes around 16384),\n"
            "   least risky first, each in its own process with a timeout, each compared with a\n"
            "   float64 reference and naming the rule it decides (docs/selftest.md). The report\n"
            "   says which rule settings the results imply for this chip.\n"
            "2. One small program per op of the training step, a hand-written MLP step and the\n"
            "   trainer's own programs, each compared with vane.\n"
            "\n"
            "On a terminal a short summary is printed, otherwise the JSON report. On a Mac,\n"
            "`ane_trainer selftest --json report.json` writes the one file to send us.\n"
            "\n"
            "  --backend B          ane (the Neural Engine, macOS only) or ane-sim (the ane\n"
            "                       backend's logic on a simulator of the private API); default:\n"
            "                       ane on macOS, ane-sim elsewhere\n"
            "  --chip C             constraint profile for both backends (default m4)\n"
            "  --json FILE          also write the report to FILE (attach it to a bug report)\n"
            "  --seed N             input data seed (default 1)\n"
            "  --probe-timeout SEC  stop a probe after SEC seconds (a hang; default 30)\n"
            "  --no-isolate         run the probes in this process (no timeout; for debugging)\n"
            "  --store / --no-store keep a copy of the report in the cache directory, which\n"
            "                       `train --backend auto` reads for this chip and OS (default:\n"
            "                       store for ane, not for ane-sim); the directory is\n"
            "                       $ANE_TRAINER_CACHE_DIR, else $XDG_CACHE_HOME/ane_trainer,\n"
            "                       else ~/Library/Caches/ane_trainer (macOS) or ~/.cache/ane_trainer\n"
            "\n"
            "ANE_TRAINER_SIM_FAULTS (e.g. \"eval@5,compile\") injects faults into ane-sim.\n"
            "Exit status: 0 when every case agreed and every workaround-form probe passed (a risky\n"
            "form failing is a finding, not an error), 1 otherwise.\n",
            anet_probes_count());
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

typedef struct progress_ctx {
    int tty, n;
} progress_ctx;

static void on_probe(void *ctx, const anet_probe_result *r) {
    progress_ctx *pc = ctx;
    if (!pc->tty) return;
    const anet_probe_info *pi = anet_probe_get(r->probe);
    char extra[64] = "";
    if (r->outcome == ANET_PROBE_WRONG) snprintf(extra, sizeof extra, " (error %.3g%s)", r->max_err, r->all_zero ? ", all zeros" : "");
    else if (r->status > 0) snprintf(extra, sizeof extra, " (status 0x%x)", (unsigned)r->status);
    printf("  [%2d/%d] %-20s %-25s %s%s\n", r->probe + 1, pc->n, pi->id, pi->rule, anet_probe_outcome_name(r->outcome), extra);
    fflush(stdout);
}

/* The older comparison cases (ops, MLP step, the trainer's programs) against vane. */
static int run_cases(cJSON *root, const char *backend, anet_chip chip, uint64_t seed, int *passed) {
    int failed = 0;
    anet_backend_config cfg = {chip, ANET_NUMERICS_FP16, 0};
    anet_backend test = {0}, ref = {0};
    anet_status st = anet_backend_open(backend, &cfg, &test);
    if (!st) st = anet_backend_open("vane", &cfg, &ref);
    if (st) {
        cJSON_AddStringToObject(root, "backend_error", anet_last_error());
        anet_backend_close(&test);
        return 1;
    }
    cJSON *cases = cJSON_AddArrayToObject(root, "cases");
    int nbasic = anet_ane_selftest_ncases();
    for (int i = 0; i < nbasic + 3; i++) {
        anet_ane_case_result r;
        anet_status cs;
        if (i < nbasic) cs = anet_ane_selftest_run(i, &test, &ref, seed, &r);
        else if (i == nbasic) cs = trainer_case(ANET_UPDATE_CPU, 0, &test, &ref, seed, &r);
        else if (i == nbasic + 1) cs = trainer_case(ANET_UPDATE_ANE, 0, &test, &ref, seed, &r);
        else cs = trainer_case(ANET_UPDATE_CPU, 1, &test, &ref, seed, &r);
        if (cs) {
            memset(&r, 0, sizeof r);
            snprintf(r.name, sizeof r.name, "%s", i < nbasic ? anet_ane_selftest_case_name(i) : "trainer");
            snprintf(r.error, sizeof r.error, "%s", anet_last_error());
        }
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", r.name);
        cJSON_AddBoolToObject(c, "ok", r.ok);
        cJSON_AddItemToObject(c, "max_norm_err", r.ran_test && r.ran_ref ? num_or_null(r.max_norm_err) : cJSON_CreateNull());
        cJSON_AddNumberToObject(c, "tolerance", r.tolerance);
        cJSON_AddNumberToObject(c, "ref_nonfinite", (double)r.ref_nonfinite);
        cJSON_AddNumberToObject(c, "compile_ms", r.test_compile_ms);
        cJSON_AddNumberToObject(c, "eval_ms", r.test_eval_ms);
        cJSON_AddNumberToObject(c, "ref_compile_ms", r.ref_compile_ms);
        cJSON_AddNumberToObject(c, "ref_eval_ms", r.ref_eval_ms);
        if (r.error[0]) cJSON_AddStringToObject(c, "error", r.error);
        cJSON_AddItemToArray(cases, c);
        if (r.ok) (*passed)++;
        else failed++;
    }
    cJSON_AddStringToObject(root, "training_step",
                            "mlp_step is a hand-written MLP training step (forward, softmax "
                            "cross-entropy, backward) with weights as inputs; trainer_step_update_cpu, "
                            "trainer_step_update_ane and trainer_eval are the trainer's own programs "
                            "(src/train/step.c) for mlp:64-32-10, batch 32, adam, step 1");
    anet_backend_stats ts, rs;
    test.ops->stats(test.state, &ts);
    ref.ops->stats(ref.state, &rs);
    anet_ane_counts ac;
    anet_ane_backend_counts(test.state, &ac);
    cJSON *cc = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(cc, "compiles", (double)ts.compiles);
    cJSON_AddNumberToObject(cc, "cache_hits", ac.cache_hits);
    cJSON_AddNumberToObject(cc, "compile_budget", ac.budget);
    cJSON_AddNumberToObject(cc, "dispatches", (double)ts.dispatches);
    cJSON_AddNumberToObject(cc, "bytes_in", (double)ts.bytes_in);
    cJSON_AddNumberToObject(cc, "bytes_out", (double)ts.bytes_out);
    cJSON_AddNumberToObject(cc, "ref_compiles", (double)rs.compiles);
    cJSON_AddNumberToObject(cc, "ref_dispatches", (double)rs.dispatches);
    anet_backend_close(&test);
    anet_backend_close(&ref);
    return failed;
}

static void add_info(cJSON *root, const char *backend) {
    anet_ane_info info;
    if (anet_ane_info_get(backend, &info) != ANET_OK) return;
    cJSON *in = cJSON_AddObjectToObject(root, "ane_info");
    cJSON_AddBoolToObject(in, "framework_present", info.framework_present);
    cJSON_AddNumberToObject(in, "classes_found", info.classes_found);
    cJSON_AddNumberToObject(in, "classes_total", info.classes_total);
    cJSON_AddStringToObject(in, "chip", info.chip);
    cJSON_AddNumberToObject(in, "compile_budget", info.compile_budget);
    cJSON_AddNumberToObject(in, "reported_compile_limit", info.reported_limit);
    cJSON_AddNumberToObject(in, "min_surface_bytes", (double)info.min_surface_bytes);
    cJSON_AddStringToObject(in, "why_unavailable", info.why);
}

static void print_summary(const anet_probe_setting *set, int ns, int probes_passed, int nprobes, int cases_passed,
                          int cases_failed, const char *dialect) {
    printf("\nprobes: %d of %d passed (programs in %s)\nrule settings the results imply for this chip:\n",
           probes_passed, nprobes, dialect);
    for (int i = 0; i < ns; i++) printf("  %-25s %-8s %s\n", set[i].rule, set[i].value, set[i].evidence);
    printf("cases against vane: %d passed, %d failed\n", cases_passed, cases_failed);
}

int cli_selftest(int argc, char **argv) {
#if defined(__APPLE__)
    const char *backend = "ane";
#else
    const char *backend = "ane-sim";
#endif
    const char *json_path = NULL;
    anet_chip chip = ANET_CHIP_M4;
    unsigned long long seed = 1;
    double timeout_s = 30;
    int isolate = 1, store = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help(stdout);
            return CLI_OK;
        }
        if (i + 1 >= argc && (!strcmp(a, "--backend") || !strcmp(a, "--json") || !strcmp(a, "--chip") ||
                              !strcmp(a, "--seed") || !strcmp(a, "--probe-timeout")))
            return cli_usage_error("selftest ", "%s needs a value", a);
        if (!strcmp(a, "--backend")) {
            backend = argv[++i];
            if (strcmp(backend, "ane") && strcmp(backend, "ane-sim"))
                return cli_usage_error("selftest ", "--backend '%s': expected ane or ane-sim", backend);
        } else if (!strcmp(a, "--json")) {
            json_path = argv[++i];
        } else if (!strcmp(a, "--chip")) {
            if (anet_chip_lookup(argv[++i], &chip))
                return cli_usage_error("selftest ", "--chip '%s': expected m1, m2, m3, m4 or strict", argv[i]);
        } else if (!strcmp(a, "--seed")) {
            char *end = NULL;
            seed = strtoull(argv[++i], &end, 10);
            if (!end || *end) return cli_usage_error("selftest ", "--seed '%s': expected an integer", argv[i]);
        } else if (!strcmp(a, "--probe-timeout")) {
            char *end = NULL;
            timeout_s = strtod(argv[++i], &end);
            if (!end || *end || !(timeout_s >= 0.1 && timeout_s <= 3600))
                return cli_usage_error("selftest ", "--probe-timeout '%s': expected seconds in 0.1..3600", argv[i]);
        } else if (!strcmp(a, "--no-isolate")) {
            isolate = 0;
        } else if (!strcmp(a, "--store")) {
            store = 1;
        } else if (!strcmp(a, "--no-store")) {
            store = 0;
        } else {
            return cli_usage_error("selftest ", "unknown option '%s'", a);
        }
    }
    if (store < 0) store = !strcmp(backend, "ane");
    int tty = isatty(STDOUT_FILENO);

    /* The ladder first: on macOS each probe forks, and a child is only safe while this
     * process has not yet loaded the framework (the info and cases below do). */
    anet_host host;
    anet_host_get(&host);
    int nprobes = anet_probes_count();
    anet_probe_result *res = calloc((size_t)nprobes, sizeof *res);
    if (!res) {
        fprintf(stderr, "ane_trainer: selftest: out of memory\n");
        return CLI_FAIL;
    }
    if (tty)
        printf("selftest on %s (constraint profile %s%s%s): %d probes, least risky first\n", backend,
               anet_chip_name(chip), host.chip[0] ? ", " : "", host.chip, nprobes);
    anet_probe_ladder_config lc = {backend, {chip, ANET_NUMERICS_FP16, 0}, seed, (int)(timeout_s * 1000), isolate};
    anet_mil_dialect dialect;
    progress_ctx pc = {tty, nprobes};
    anet_probe_ladder(&lc, res, &dialect, on_probe, &pc);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "ane_trainer selftest");
    cJSON_AddStringToObject(root, "version", anet_version());
    cJSON_AddStringToObject(root, "backend", backend);
    cJSON_AddStringToObject(root, "reference", "vane");
    cJSON_AddStringToObject(root, "probe_reference", "float64 on the CPU");
    cJSON_AddStringToObject(root, "chip", anet_chip_name(chip));
    cJSON_AddNumberToObject(root, "seed", (double)seed);
    cJSON_AddStringToObject(root, "executed_on",
                            strcmp(backend, "ane-sim") == 0
                                ? "simulator of the ANE private API running on vane (no Neural Engine involved)"
                                : "AppleNeuralEngine.framework (the Neural Engine)");
    cJSON *pl = cJSON_AddObjectToObject(root, "platform");
    cJSON_AddStringToObject(pl, "os", host.os);
    cJSON_AddStringToObject(pl, "release", host.os_version);
    cJSON_AddStringToObject(pl, "machine", host.machine);
    const char *faults = getenv("ANE_TRAINER_SIM_FAULTS");
    if (faults && *faults) cJSON_AddStringToObject(root, "sim_faults", faults);
    cJSON_AddStringToObject(root, "probe_isolation", isolate ? "one process per probe" : "in process");
    cJSON_AddNumberToObject(root, "probe_timeout_s", timeout_s);
    anet_probe_report_add(root, &host, res, nprobes, dialect);
    add_info(root, backend);

    /* The cases check the backend's own logic (packing, ordering, surfaces) against vane with
     * programs in the plain form; the probes above check the program forms. So on the
     * simulator the cases run with its form quirks off unless ANE_TRAINER_FORMS says
     * otherwise (this process's environment, set only here, for the simulator it creates). */
    const char *user_forms = getenv("ANE_TRAINER_FORMS");
    int plain = !strcmp(backend, "ane-sim") && !(user_forms && *user_forms);
    if (plain) setenv("ANE_TRAINER_FORMS", "none", 1);
    cJSON_AddStringToObject(root, "cases_forms", plain ? "none" : user_forms && *user_forms ? user_forms : "the device's");
    int passed = 0;
    int failed = run_cases(root, backend, chip, seed, &passed);
    if (plain) unsetenv("ANE_TRAINER_FORMS");
    int probes_passed = 0, controls_failed = 0;
    for (int i = 0; i < nprobes; i++) {
        if (res[i].outcome == ANET_PROBE_PASSED) probes_passed++;
        else if (!anet_probe_get(i)->trigger) controls_failed++;
    }
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "passed", passed);
    cJSON_AddNumberToObject(sum, "failed", failed);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        free(res);
        fprintf(stderr, "ane_trainer: selftest: out of memory printing the report\n");
        return CLI_FAIL;
    }
    if (tty) {
        anet_probe_setting set[ANET_PROBE_MAX_RULES];
        int ns = anet_probe_implied(res, nprobes, set, ANET_PROBE_MAX_RULES);
        print_summary(set, ns, probes_passed, nprobes, passed, failed, dialect == ANET_MIL_IOS16 ? "ios16" : "ios18");
    } else {
        printf("%s\n", text);
    }
    free(res);
    int rc = failed || controls_failed ? CLI_FAIL : CLI_OK;
    if (json_path) {
        if (anet_probe_report_store(json_path, text)) {
            fprintf(stderr, "ane_trainer: selftest: %s\n", anet_last_error());
            rc = CLI_FAIL;
        } else if (tty) {
            printf("report: %s (send this file)\n", json_path);
        }
    }
    if (store) {
        char path[4096];
        if (anet_probe_report_path(backend, path, sizeof path) || anet_probe_report_store(path, text))
            fprintf(stderr, "ane_trainer: selftest: not stored for train --backend auto: %s\n", anet_last_error());
        else if (tty)
            printf("stored for `train --backend auto`: %s\n", path);
    }
    free(text);
    if (failed)
        fprintf(stderr, "ane_trainer: selftest: %d case(s) failed on %s (see the report)\n", failed, backend);
    if (controls_failed)
        fprintf(stderr, "ane_trainer: selftest: %d workaround-form probe(s) failed on %s (see the report)\n",
                controls_failed, backend);
    return rc;
}
