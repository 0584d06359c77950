/* Which compiled programs stay loaded on the Neural Engine. About 15 live program instances
 * per process are reported before loads fail with status 0x50004 (tmc/apple x/ane compile.go;
 * ANE_FACTS.md "Runtime hygiene"), and unloading reclaims them. A caller keeps at most
 * `capacity` programs loaded: before loading one more it unloads the one used least
 * recently, and it loads an unloaded program again when it is next used. This file is only
 * the bookkeeping (portable, unit-tested); the seam that owns the loads acts on its answers. */
#ifndef ANET_RUNTIME_ANE_RESIDENCY_H
#define ANET_RUNTIME_ANE_RESIDENCY_H

#include <stdint.h>

#include "runtime/backend.h"

/* Default bound: a margin under the ~15 live programs reported before 0x50004. */
#define ANET_ANE_RESIDENT_DEFAULT 12
#define ANET_ANE_RESIDENT_MAX 64

typedef struct anet_ane_residency {
    int capacity; /* 1..ANET_ANE_RESIDENT_MAX */
    int n;        /* programs currently loaded */
    const void *prog[ANET_ANE_RESIDENT_MAX];
    uint64_t last_use[ANET_ANE_RESIDENT_MAX];
    uint64_t clock;
    long evictions; /* unloads the policy asked for (for reports and tests) */
} anet_ane_residency;

/* capacity < 1 or > ANET_ANE_RESIDENT_MAX is clamped. */
void anet_ane_residency_init(anet_ane_residency *r, int capacity);
/* Reads ANE_TRAINER_MAX_LOADED (1..64); unset leaves *capacity alone. A malformed value is
 * an error naming the variable. */
anet_status anet_ane_residency_env(int *capacity);

/* p is about to be used (loaded or evaluated). Returns 1 when p is not loaded and must be
 * loaded first, 0 when it is resident. When a load is needed and the set is full, *evict is
 * the least recently used program, which the caller must unload first (else NULL). The
 * answer is already recorded: p counts as resident, *evict does not. */
int anet_ane_residency_use(anet_ane_residency *r, const void *p, const void **evict);
/* p was unloaded or freed by its owner: it leaves the set (no-op when absent). */
void anet_ane_residency_drop(anet_ane_residency *r, const void *p);
int anet_ane_residency_has(const anet_ane_residency *r, const void *p);

#endif
