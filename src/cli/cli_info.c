/* `ane_trainer info`: what this machine and this build can do, as text or JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer info [--json]\n"
            "\n"
            "Prints the platform, CPU features used by the fp16 converters, whether\n"
            "AppleNeuralEngine.framework is present, and which backends this build has.\n"
            "\n"
            "  --json     machine-readable output\n");
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
    /* The object is built by the library (anet_info_json uses the same); text reads it back. */
    cJSON *root = anet_info_object();
    if (!root) return cli_error("info: out of memory");
    cJSON *feat = cJSON_GetObjectItem(root, "cpu_features");
    cJSON *ane = cJSON_GetObjectItem(root, "neural_engine");
#define STR(o, k) (cJSON_GetStringValue(cJSON_GetObjectItem((o), (k))) ? cJSON_GetStringValue(cJSON_GetObjectItem((o), (k))) : "")
#define NUM(o, k) ((int)cJSON_GetNumberValue(cJSON_GetObjectItem((o), (k))))
    int framework = cJSON_IsTrue(cJSON_GetObjectItem(ane, "framework_present"));
    const char *why = STR(ane, "unavailable_because"), *chip = STR(ane, "chip");
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
        printf("platform:      %s %s (%s), %d CPUs\n", STR(root, "os"), STR(root, "os_release"),
               STR(root, "machine"), NUM(root, "cpus"));
        printf("cpu features:  ");
        cJSON *it;
        int first = 1;
        cJSON_ArrayForEach(it, feat) {
            printf("%s%s", first ? "" : " ", it->valuestring);
            first = 0;
        }
        printf("%s\n", first ? "(none detected)" : "");
        printf("fp16 path:     %s\n", STR(root, "fp16_path"));
        if (framework) {
            printf("neural engine: AppleNeuralEngine.framework present, %d of %d classes found%s%s\n",
                   NUM(ane, "classes_found"), NUM(ane, "classes_total"), chip[0] ? ", chip " : "", chip);
        } else {
            printf("neural engine: AppleNeuralEngine.framework not found (not macOS on Apple Silicon?)\n");
        }
        if (why[0]) printf("ane backend:   unavailable: %s\n", why);
        printf("compile budget: %d per process (refused before the ~%d reported limit)\n",
               NUM(ane, "compile_budget"), NUM(ane, "reported_compile_limit"));
        printf("backends:      vane (virtual ANE, runs everywhere), ane-sim (the ane backend's logic\n"
               "               against a simulator of the private API)%s\n",
               framework && !why[0] ? ", ane" : "");
        if (cJSON_IsTrue(cJSON_GetObjectItem(root, "data_fetch"))) printf("data fetch:    yes (libcurl)\n");
        else printf("data fetch:    no (built without libcurl)\n");
    }
#undef STR
#undef NUM
    cJSON_Delete(root);
    return CLI_OK;
}
