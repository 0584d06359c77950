/* Least-recently-used bookkeeping of loaded programs (see ane_residency.h). */
#include "runtime/ane_residency.h"

#include <errno.h>
#include <stdlib.h>

#include "core/error.h"

void anet_ane_residency_init(anet_ane_residency *r, int capacity) {
    if (capacity < 1) capacity = 1;
    if (capacity > ANET_ANE_RESIDENT_MAX) capacity = ANET_ANE_RESIDENT_MAX;
    *r = (anet_ane_residency){.capacity = capacity};
}

anet_status anet_ane_residency_env(int *capacity) {
    const char *v = getenv("ANE_TRAINER_MAX_LOADED");
    if (!v || !*v) return ANET_OK;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || !end || *end || n < 1 || n > ANET_ANE_RESIDENT_MAX)
        return anet_fail(ANET_E_INVALID, "ANE_TRAINER_MAX_LOADED='%s': expected an integer in 1..%d", v,
                         ANET_ANE_RESIDENT_MAX);
    *capacity = (int)n;
    return ANET_OK;
}

static int find(const anet_ane_residency *r, const void *p) {
    for (int i = 0; i < r->n; i++)
        if (r->prog[i] == p) return i;
    return -1;
}

int anet_ane_residency_has(const anet_ane_residency *r, const void *p) { return find(r, p) >= 0; }

void anet_ane_residency_drop(anet_ane_residency *r, const void *p) {
    int i = find(r, p);
    if (i < 0) return;
    r->n--;
    r->prog[i] = r->prog[r->n];
    r->last_use[i] = r->last_use[r->n];
}

int anet_ane_residency_use(anet_ane_residency *r, const void *p, const void **evict) {
    *evict = NULL;
    r->clock++;
    int i = find(r, p);
    if (i >= 0) {
        r->last_use[i] = r->clock;
        return 0;
    }
    if (r->n >= r->capacity) {
        int lru = 0;
        for (int k = 1; k < r->n; k++)
            if (r->last_use[k] < r->last_use[lru]) lru = k;
        *evict = r->prog[lru];
        anet_ane_residency_drop(r, *evict);
        r->evictions++;
    }
    r->prog[r->n] = p;
    r->last_use[r->n] = r->clock;
    r->n++;
    return 1;
}
