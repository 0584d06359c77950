/* The ANE backend's error mapping (ane_backend.h): framework statuses and seam return codes
 * become sentences a user can act on. */
#include "runtime/ane_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int anet_ane_parse_status(const char *text) {
    if (!text) return 0;
    const char *p = strstr(text, "status=");
    size_t skip = 7;
    if (!p) { p = strstr(text, "status "); skip = 7; }
    if (!p) return 0;
    p += skip;
    while (*p == ' ') p++;
    char *end = NULL;
    long v = strtol(p, &end, 0);
    if (end == p || v <= 0 || v > 0x7fffffff) return 0;
    return (int)v;
}

void anet_ane_describe(anet_ane_stage stage, int rc, const char *fw, int compiles, char *buf,
                       size_t len) {
    const char *what;
    char tmp[512];
    if (!fw) fw = "";
    if (rc > 0 && rc == ANET_ANE_STATUS_PROGRAM_INFERENCE) {
        what = "the Neural Engine refused the evaluation (status 0x1d, 'Program Inference "
               "error'): its I/O surfaces are not what it expects - usually a surface below the "
               "minimum size (raise ANE_TRAINER_MIN_SURFACE, e.g. to 49152) or inputs/outputs "
               "of unequal allocation sizes";
    } else if (rc == ANET_ANE_RC_UNAVAILABLE) {
        what = "AppleNeuralEngine.framework or its private classes could not be loaded (this "
               "needs macOS on Apple Silicon; the classes change between macOS versions); use "
               "--backend vane";
    } else if (rc == ANET_ANE_RC_NOMEM) {
        what = "the framework could not create an object or an I/O surface (out of memory, or "
               "a size it refuses)";
    } else if (stage == ANET_ANE_STAGE_COMPILE || rc == ANET_ANE_RC_COMPILE) {
        if (compiles >= ANET_ANE_REPORTED_COMPILE_LIMIT - 5) {
            snprintf(tmp, sizeof tmp,
                     "the ANE compiler failed after %d compiles in this process: it is reported "
                     "to stop working after ~%d compiles per process (maderix; Orion #5) - "
                     "restart the process (save a checkpoint, then --resume) and keep weights as "
                     "program inputs so each program compiles once",
                     compiles, ANET_ANE_REPORTED_COMPILE_LIMIT);
            what = tmp;
        } else {
            what = "the ANE compiler rejected the program: an op, dtype or shape it does not "
                   "support on this chip (run `ane_trainer check` on the program, or use "
                   "--backend vane)";
        }
    } else if (stage == ANET_ANE_STAGE_LOAD || rc == ANET_ANE_RC_LOAD) {
        what = "the compiled program could not be loaded onto the Neural Engine (another process "
               "may hold it, or the program is too large); retry, or use --backend vane";
    } else if (stage == ANET_ANE_STAGE_EVAL) {
        if (rc > 0) {
            snprintf(tmp, sizeof tmp,
                     "the Neural Engine failed the evaluation with status 0x%x; please report it "
                     "with the output of `ane_trainer selftest --json report.json`", rc);
            what = tmp;
        } else {
            what = "the Neural Engine evaluation failed; please report it with the output of "
                   "`ane_trainer selftest --json report.json`";
        }
    } else if (stage == ANET_ANE_STAGE_UNLOAD) {
        what = "the program could not be unloaded from the Neural Engine";
    } else if (rc == ANET_ANE_RC_INVALID) {
        what = "internal error in the ANE backend (the seam was called wrongly); please report it";
    } else {
        what = "the ANE private API failed";
    }
    if (fw[0])
        snprintf(buf, len, "%s [framework: %s]", what, fw);
    else
        snprintf(buf, len, "%s", what);
}
