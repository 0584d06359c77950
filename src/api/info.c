/* What this machine and this build can do (`ane_trainer info --json`, anet_info_json). */
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "api/api.h"
#include "core/error.h"
#include "core/fp16.h"
#include "runtime/ane_backend.h"

#define ANE_FRAMEWORK "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine"

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

cJSON *anet_info_object(void) {
    struct utsname u;
    if (uname(&u) != 0) memset(&u, 0, sizeof u);
    /* Loads the framework and looks up its classes where it exists (macOS); elsewhere it
     * only reports that it is absent. */
    anet_ane_info ai;
    memset(&ai, 0, sizeof ai);
    anet_ane_info_get("ane", &ai);
    int framework = ai.framework_present;

    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
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
    cJSON_AddNumberToObject(ane, "classes_found", ai.classes_found);
    cJSON_AddNumberToObject(ane, "classes_total", ai.classes_total);
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
    return root;
}

anet_status anet_info_json(char **json) {
    if (!json) return anet_fail(ANET_E_INVALID, "info: NULL output pointer");
    *json = NULL;
    return anet_api_json_out(anet_info_object(), json);
}
