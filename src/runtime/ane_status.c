/* The status table of ane_status.h. */
#include "runtime/ane_status.h"

#include <stddef.h>

static const anet_ane_status_info table[] = {
    {0x1d,
     "'Program Inference error': the Neural Engine refused the request's I/O surfaces (too "
     "small, unequal allocation sizes, or more inputs than the chip accepts)",
     "raise ANE_TRAINER_MIN_SURFACE (e.g. to 49152), and run `ane_trainer selftest --json "
     "report.json` to learn this chip's input limit and surface rules",
     "Orion docs/ane_constraints.md #2, #4, #12; maderix/ANE README"},
    {0x50004,
     "the process holds too many live programs on the Neural Engine (about 15 are reported) "
     "or leaked program instances",
     "lower ANE_TRAINER_MAX_LOADED (programs kept loaded, default 12) so idle programs are "
     "unloaded sooner, or restart the process (save a checkpoint, then --resume)",
     "tmc/apple x/ane compile.go (16th compile without an autorelease pool fails)"},
};

const anet_ane_status_info *anet_ane_status_table(int *n) {
    *n = (int)(sizeof table / sizeof table[0]);
    return table;
}

const anet_ane_status_info *anet_ane_status_lookup(int status) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].status == status) return &table[i];
    return NULL;
}
