/* `ane_trainer info`: what this machine and this build can do, as text or JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/fp16.h"
#include "runtime/ane_backend.h"

#define ANE_FRAMEWORK "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer info [--json]\n"
            "\n"
            "Prints the platform, CPU features used by the fp16 converters, whether\n"
            "AppleNeuralEngine.framework is present, and which backends this build has.\n"
            "\n"
            "  --json     machine-readable output\n");
}

static void cpu_features(cJSON *arr) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) cJSON_AddItemToArray(arr, cJSON_CreateString("sse4.2"));
    if (__builtin_cpu_supports("avx")) cJSON_AddItemToArray(arr, cJSON_CreateString("avx"));
    if (__builtin_cpu_supports("avx2")) cJSON_AddItemToArray(arr, cJSON_CreateString("avx2"));
    if (__builtin_cpu_supports("fma")) cJSON_AddItemToArray(arr, cJSON_CreateString("fma"));
    if (__builtin_cpu_supports("avx512f")) cJSON_AddItemToArray(arr, cJSON_CreateString("avx512f"));
    /* f16c has no __builtin_cpu_supports name on every compiler: fp16.c reports its path. */
#elif defined(__aarch64__)
    cJSON_AddItemToArray(arr, cJSON_CreateString("neon"));
#endif
}

int cli_info(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            return cli_usage_error("info ", "info: unknown option '%s'", argv[i]);
        }
    }
    struct utsname u;
    if (uname(&u) != 0) memset(&u, 0, sizeof u);
    /* Loads the framework and looks up its classes where it exists (macOS); elsewhere it
     * only reports that it is absent. */
    anet_ane_info ai;
    memset(&ai, 0, sizeof ai);
    anet_ane_info_get("ane", &ai);
    int framework = ai.framework_present;

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", anet_version());
    cJSON_AddStringToObject(root, "os", u.sysname);
    cJSON_AddStringToObject(root, "os_release", u.release);
    cJSON_AddStringToObject(root, "machine", u.machine);
    cJSON_AddNumberToObject(root, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON *feat = cJSON_AddArrayToObject(root, "cpu_features");
    cpu_features(feat);
    cJSON_AddStringToObject(root, "fp16_path", anet_f16_path());
    cJSON *ane = cJSON_AddObjectToObject(root, "neural_engine");
    cJSON_AddBoolToObject(ane, "framework_present", framework);
    cJSON_AddStringToObject(ane, "framework_path", ANE_FRAMEWORK);
    cJSON *classes = cJSON_AddObjectToObject(ane, "classes");
    for (int i = 0; i < ai.classes_total && i < 4; i++)
        cJSON_AddBoolToObject(classes, ai.classes[i], ai.class_ok[i]);
    cJSON_AddStringToObject(ane, "chip", ai.chip);
    cJSON_AddNumberToObject(ane, "compile_budget", ai.compile_budget);
    cJSON_AddNumberToObject(ane, "reported_compile_limit", ai.reported_limit);
    cJSON_AddNumberToObject(ane, "min_surface_bytes", (double)ai.min_surface_bytes);
    cJSON_AddStringToObject(ane, "unavailable_because", ai.why);
    cJSON *backends = cJSON_AddArrayToObject(root, "backends");
    cJSON_AddItemToArray(backends, cJSON_CreateString("vane"));
    cJSON_AddItemToArray(backends, cJSON_CreateString("ane-sim"));
    if (framework && ai.why[0] == '\0') cJSON_AddItemToArray(backends, cJSON_CreateString("ane"));
#if defined(ANET_WITH_CURL)
    cJSON_AddBoolToObject(root, "data_fetch", 1);
#else
    cJSON_AddBoolToObject(root, "data_fetch", 0);
#endif

    if (json) {
        char *s = cJSON_Print(root);
        if (!s) {
            cJSON_Delete(root);
            return cli_error("info: out of memory");
        }
        printf("%s\n", s);
        cJSON_free(s);
    } else {
        printf("ane_trainer %s\n", anet_version());
        printf("platform:      %s %s (%s), %ld CPUs\n", u.sysname, u.release, u.machine,
               sysconf(_SC_NPROCESSORS_ONLN));
        printf("cpu features:  ");
        cJSON *it;
        int first = 1;
        cJSON_ArrayForEach(it, feat) {
            printf("%s%s", first ? "" : " ", it->valuestring);
            first = 0;
        }
        printf("%s\n", first ? "(none detected)" : "");
        printf("fp16 path:     %s\n", anet_f16_path());
        if (framework) {
            printf("neural engine: AppleNeuralEngine.framework present, %d of %d classes found%s%s\n",
                   ai.classes_found, ai.classes_total, ai.chip[0] ? ", chip " : "", ai.chip);
        } else {
            printf("neural engine: AppleNeuralEngine.framework not found (not macOS on Apple Silicon?)\n");
        }
        if (ai.why[0]) printf("ane backend:   unavailable: %s\n", ai.why);
        printf("compile budget: %d per process (refused before the ~%d reported limit)\n",
               ai.compile_budget, ai.reported_limit);
        printf("backends:      vane (virtual ANE, runs everywhere), ane-sim (the ane backend's logic\n"
               "               against a simulator of the private API)%s\n",
               framework && !ai.why[0] ? ", ane" : "");
#if defined(ANET_WITH_CURL)
        printf("data fetch:    yes (libcurl)\n");
#else
        printf("data fetch:    no (built without libcurl)\n");
#endif
    }
    cJSON_Delete(root);
    return CLI_OK;
}
