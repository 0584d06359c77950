/* `ane_trainer selftest`: compiles and runs small programs (each op of the training step, then
 * one MLP training step) on an ANE backend and on vane, and prints a JSON report of agreement,
 * timings, compile counts and failures - the file a user attaches to a bug report. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cli/cli.h"
#include "core/error.h"
#include "runtime/ane_backend.h"
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
            "                            [--json FILE] [--seed N]\n"
            "\n"
            "Compiles and runs one small program per op of the training step (matmul, add, sub,\n"
            "mul, relu, exp, log, reduce_max, reduce_sum, greater/select, a matmul with a constant\n"
            "weight), a hand-written MLP training step, and the trainer's own step programs\n"
            "(update cpu and ane) and eval program for a small MLP, on the chosen backend and\n"
            "on vane, and prints a JSON report: agreement (max normalized\n"
            "error), timings, compile counts, failures with their error text.\n"
            "\n"
            "  --backend B   ane (the Neural Engine, macOS only) or ane-sim (the ane backend's\n"
            "                logic on a simulator of the private API); default: ane on macOS,\n"
            "                ane-sim elsewhere\n"
            "  --chip C      constraint profile for both backends (default m4)\n"
            "  --json FILE   also write the report to FILE (attach it to a bug report)\n"
            "  --seed N      input data seed (default 1)\n"
            "\n"
            "ANE_TRAINER_SIM_FAULTS (e.g. \"eval@5,compile\") injects faults into ane-sim.\n"
            "Exit status: 0 when every case agreed, 1 otherwise.\n");
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

int cli_selftest(int argc, char **argv) {
#if defined(__APPLE__)
    const char *backend = "ane";
#else
    const char *backend = "ane-sim";
#endif
    const char *json_path = NULL;
    anet_chip chip = ANET_CHIP_M4;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help(stdout);
            return CLI_OK;
        }
        if (i + 1 >= argc && (!strcmp(a, "--backend") || !strcmp(a, "--json") || !strcmp(a, "--chip") ||
                              !strcmp(a, "--seed")))
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
        } else {
            return cli_usage_error("selftest ", "unknown option '%s'", a);
        }
    }

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "ane_trainer selftest");
    cJSON_AddStringToObject(root, "version", anet_version());
    cJSON_AddStringToObject(root, "backend", backend);
    cJSON_AddStringToObject(root, "reference", "vane");
    cJSON_AddStringToObject(root, "chip", anet_chip_name(chip));
    cJSON_AddNumberToObject(root, "seed", (double)seed);
    cJSON_AddStringToObject(root, "executed_on",
                            strcmp(backend, "ane-sim") == 0
                                ? "simulator of the ANE private API running on vane (no Neural Engine involved)"
                                : "AppleNeuralEngine.framework (the Neural Engine)");
    struct utsname u;
    if (uname(&u) == 0) {
        cJSON *pl = cJSON_AddObjectToObject(root, "platform");
        cJSON_AddStringToObject(pl, "os", u.sysname);
        cJSON_AddStringToObject(pl, "release", u.release);
        cJSON_AddStringToObject(pl, "machine", u.machine);
    }
    const char *faults = getenv("ANE_TRAINER_SIM_FAULTS");
    if (faults && *faults) cJSON_AddStringToObject(root, "sim_faults", faults);
    anet_ane_info info;
    if (anet_ane_info_get(backend, &info) == ANET_OK) {
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

    int failed = 0, passed = 0;
    anet_backend_config cfg = {chip, ANET_NUMERICS_FP16};
    anet_backend test = {0}, ref = {0};
    anet_status st = anet_backend_open(backend, &cfg, &test);
    if (st) {
        cJSON_AddStringToObject(root, "backend_error", anet_last_error());
        failed = 1;
    } else if ((st = anet_backend_open("vane", &cfg, &ref))) {
        cJSON_AddStringToObject(root, "backend_error", anet_last_error());
        failed = 1;
    } else {
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
                r.ok = 0;
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
            if (r.ok) passed++;
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
    }
    anet_backend_close(&test);
    anet_backend_close(&ref);
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "passed", passed);
    cJSON_AddNumberToObject(sum, "failed", failed);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "ane_trainer: selftest: out of memory printing the report\n");
        return CLI_FAIL;
    }
    printf("%s\n", text);
    int rc = failed ? CLI_FAIL : CLI_OK;
    if (json_path) {
        /* Written beside and renamed, so an existing report is never left half-written. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", json_path);
        FILE *f = fopen(tmp, "w");
        int bad = !f || fprintf(f, "%s\n", text) < 0;
        if (f && fclose(f) != 0) bad = 1;
        if (bad || rename(tmp, json_path) != 0) {
            remove(tmp);
            fprintf(stderr, "ane_trainer: selftest: could not write the report to '%s'\n", json_path);
            rc = CLI_FAIL;
        }
    }
    free(text);
    if (failed)
        fprintf(stderr, "ane_trainer: selftest: %d case(s) failed on %s (see the report)\n", failed, backend);
    return rc;
}
