/* The loaded-program bound (ane_residency.c) and the framework status table (ane_status.c):
 * programs beyond the bound evict the least recently used one, which loads again when used;
 * 0x50004 and 0x1d have actionable entries; ANE_TRAINER_MAX_LOADED is validated. */
#include <stdlib.h>

#include "check.h"
#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_residency.h"
#include "runtime/ane_status.h"

/* A device that counts what is loaded: the invariant the policy must keep. */
typedef struct device {
    int loaded[40];
    int live, peak, loads;
} device;

static void use(anet_ane_residency *r, device *d, int prog, int *progs) {
    const void *ev = NULL;
    if (anet_ane_residency_use(r, &progs[prog], &ev)) {
        if (ev) {
            int k = (int)((const int *)ev - progs);
            CHECK(d->loaded[k]);
            d->loaded[k] = 0;
            d->live--;
        }
        CHECK(!d->loaded[prog]);
        d->loaded[prog] = 1;
        d->live++;
        d->loads++;
        if (d->live > d->peak) d->peak = d->live;
    } else {
        CHECK(d->loaded[prog]);
    }
}

static void test_lru(void) {
    int progs[40];
    anet_ane_residency r;
    anet_ane_residency_init(&r, 3);
    device d = {0};
    for (int p = 0; p < 3; p++) use(&r, &d, p, progs); /* 0 1 2 */
    CHECK_EQ_INT(d.loads, 3);
    use(&r, &d, 0, progs);                             /* 0 is now the most recent */
    CHECK_EQ_INT(d.loads, 3);
    use(&r, &d, 3, progs);                             /* evicts 1, the least recent */
    CHECK(!d.loaded[1] && d.loaded[0] && d.loaded[2] && d.loaded[3]);
    CHECK_EQ_INT(r.evictions, 1);
    use(&r, &d, 1, progs);                             /* reloads 1, evicts 2 */
    CHECK(d.loaded[1] && !d.loaded[2]);
    CHECK_EQ_INT(d.loads, 5);
    anet_ane_residency_drop(&r, &progs[1]);            /* the owner unloaded it */
    d.loaded[1] = 0;
    d.live--;
    CHECK(!anet_ane_residency_has(&r, &progs[1]));
    use(&r, &d, 4, progs);                             /* room again: no eviction */
    CHECK_EQ_INT(r.evictions, 2);
    CHECK_EQ_INT(r.n, 3);
    anet_ane_residency_drop(&r, &progs[30]);           /* absent: no-op */
    CHECK_EQ_INT(r.n, 3);
}

/* The selftest's pattern: 30 programs used round-robin never exceed the default bound. */
static void test_many_programs(void) {
    int progs[40];
    anet_ane_residency r;
    anet_ane_residency_init(&r, ANET_ANE_RESIDENT_DEFAULT);
    device d = {0};
    for (int round = 0; round < 3; round++)
        for (int p = 0; p < 30; p++) use(&r, &d, p, progs);
    CHECK_EQ_INT(d.peak, ANET_ANE_RESIDENT_DEFAULT);
    CHECK(ANET_ANE_RESIDENT_DEFAULT < 15); /* under the ~15 live programs reported before 0x50004 */
    CHECK_EQ_INT(d.loads, 90);
    anet_ane_residency_init(&r, 0);
    CHECK_EQ_INT(r.capacity, 1);
    anet_ane_residency_init(&r, 1000);
    CHECK_EQ_INT(r.capacity, ANET_ANE_RESIDENT_MAX);
}

static void test_env(void) {
    int cap = 7;
    unsetenv("ANE_TRAINER_MAX_LOADED");
    CHECK(anet_ane_residency_env(&cap) == ANET_OK && cap == 7);
    setenv("ANE_TRAINER_MAX_LOADED", "4", 1);
    CHECK(anet_ane_residency_env(&cap) == ANET_OK && cap == 4);
    const char *bad[] = {"0", "65", "4x", "-1", "99999999999999999999"};
    for (int i = 0; i < 5; i++) {
        setenv("ANE_TRAINER_MAX_LOADED", bad[i], 1);
        CHECK(anet_ane_residency_env(&cap) != ANET_OK);
        CHECK_STR_CONTAINS(anet_last_error(), "ANE_TRAINER_MAX_LOADED");
        CHECK_EQ_INT(cap, 4);
    }
    unsetenv("ANE_TRAINER_MAX_LOADED");
}

static void test_status(void) {
    const anet_ane_status_info *s = anet_ane_status_lookup(0x50004);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR_CONTAINS(s->action, "ANE_TRAINER_MAX_LOADED");
        CHECK_STR_CONTAINS(s->meaning, "live programs");
    }
    s = anet_ane_status_lookup(0x1d);
    CHECK(s && strstr(s->action, "ANE_TRAINER_MIN_SURFACE"));
    CHECK(anet_ane_status_lookup(0x1234) == NULL);
    int n = 0;
    const anet_ane_status_info *t = anet_ane_status_table(&n);
    CHECK(n >= 2);
    for (int i = 0; i < n; i++) CHECK(t[i].meaning[0] && t[i].action[0] && t[i].source[0]);
    /* The status the darwin seam reads out of the framework's text. */
    CHECK_EQ_INT(anet_ane_parse_status("loadWithQoS failed: status=0x50004"), 0x50004);
}

int main(void) {
    test_lru();
    test_many_programs();
    test_env();
    test_status();
    TEST_MAIN_END();
}
