/* Automatic backend selection, above the registry (backend.h): `auto` tries the ANE candidate
 * (probe, then a self-check against vane) and otherwise opens vane. The registry itself knows
 * only concrete backends. */
#ifndef ANET_RUNTIME_BACKEND_AUTO_H
#define ANET_RUNTIME_BACKEND_AUTO_H

#include <stddef.h>

#include "runtime/backend.h"

/* Opens "auto": `candidate` ("ane" normally) when it probes fine and a self-check (compile
 * and run a tiny program, compare with vane) passes, else vane. chosen gets the name,
 * reason one sentence saying why. The environment variable ANE_TRAINER_AUTO_CANDIDATE=ane-sim
 * replaces the candidate "ane" (for tests of auto on machines without an ANE). */
anet_status anet_ane_select_auto(const char *candidate, const anet_backend_config *cfg,
                                 anet_backend *out, char *chosen, size_t chosen_len,
                                 char *reason, size_t reason_len);

/* The self-check program (also used by selftest): y = relu(a - b) * 2 on [1,4,1,8] fp16.
 * Runs it on b and compares with a float64 reference; ANET_OK when within fp16 tolerance. */
anet_status anet_ane_self_check(anet_backend *b);

/* anet_backend_open, with "auto" resolved by anet_ane_select_auto (candidate "ane"). */
anet_status anet_backend_open_auto(const char *name, const anet_backend_config *cfg, anet_backend *out);

#endif
