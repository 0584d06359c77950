/* The selftest probe ladder: one tiny program per risky construct of the ANE program forms
 * (I/O shapes, widths, broadcasts, contraction lengths, input counts, ops, dialects, sizes),
 * each naming the program-form rule it decides (the ids of src/plan's rule table and of
 * /work/notes/form_rules.md). A probe's outputs are compared with a float64 reference
 * computed on the CPU from the same fp16 inputs; the ladder runs from the least to the most
 * risky probe, each in its own process with a timeout, so a hang or crash is one result
 * and never the end of the ladder. `ane_trainer selftest` reports the results and the rule
 * settings they imply (ane_probe_run.c). */
#ifndef ANET_RUNTIME_ANE_PROBES_H
#define ANET_RUNTIME_ANE_PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"
#include "runtime/backend.h"

typedef struct anet_probe_info {
    const char *id;   /* "matmul_k784" */
    const char *rule; /* the rule it decides: "matmul-contraction-32" */
    const char *what; /* the program, in a few words */
    /* 1: the risky form, whose failure means the rule applies on this chip; 0: the form the
     * rule's workaround uses (a control: it should pass wherever the rule holds). */
    int trigger;
    int fixed_dialect; /* -1: runs in the ladder's dialect; else an anet_mil_dialect */
} anet_probe_info;

int anet_probes_count(void);
const anet_probe_info *anet_probe_get(int i); /* ladder order; NULL out of range */
int anet_probe_find(const char *id);          /* index, -1 if unknown */

/* Builds probe i's MIL text (+ weight image, possibly NULL) in `dialect` (unless the probe
 * fixes its own). Both malloc'd. */
anet_status anet_probe_program(int i, anet_mil_dialect dialect, char **mil, size_t *mil_len, uint8_t **w,
                               size_t *wlen);

typedef enum anet_probe_outcome {
    ANET_PROBE_PASSED = 0,
    ANET_PROBE_WRONG,   /* ran, but the values differ from the float64 reference */
    ANET_PROBE_COMPILE, /* compile failed */
    ANET_PROBE_LOAD,    /* load failed */
    ANET_PROBE_EVAL,    /* evaluation failed */
    ANET_PROBE_TIMEOUT, /* did not finish in time (the reported hang) */
    ANET_PROBE_CRASH,   /* the probe's process died */
    ANET_PROBE_ERROR,   /* anything else: backend could not open, out of memory, ... */
    ANET_PROBE_OUTCOMES_
} anet_probe_outcome;
const char *anet_probe_outcome_name(anet_probe_outcome o); /* "passed", "wrong_values", ... */
int anet_probe_outcome_lookup(const char *s);              /* -1 if unknown */

typedef struct anet_probe_result {
    int probe;                 /* index */
    anet_probe_outcome outcome;
    int status;                /* framework status (0x1d, ...) when the failure carried one */
    double max_err;            /* max |test - ref| / max(1, max|ref|); -1 when it did not run */
    double tolerance;
    int all_zero;              /* every output element was 0 while the reference is not */
    double ms;                 /* wall time of the probe */
    char error[480];           /* the failure's text ("" when passed) */
} anet_probe_result;

/* Runs probe i on b in this process, with fp16 inputs from `seed`. Never fails: r says how
 * it went. */
void anet_probe_run(int i, anet_backend *b, anet_mil_dialect dialect, uint64_t seed, anet_probe_result *r);


/* ---- The ladder (ane_probe_run.c) ---- */

/* Runs fn(arg, r) in a child process (fork) and copies its result back; a child that has
 * not answered after timeout_ms is killed (ANET_PROBE_TIMEOUT), one that dies is
 * ANET_PROBE_CRASH. r->probe is kept from the caller. */
typedef void (*anet_probe_fn)(void *arg, anet_probe_result *r);
void anet_probe_isolate(anet_probe_fn fn, void *arg, int timeout_ms, anet_probe_result *r);

typedef struct anet_probe_ladder_config {
    const char *backend;     /* "ane", "ane-sim", "vane" */
    anet_backend_config cfg; /* chip and numerics the backend is opened with */
    uint64_t seed;
    int timeout_ms;          /* per probe (isolated runs only) */
    int isolate;             /* 1: each probe in its own process (a hang or crash is one result) */
} anet_probe_ladder_config;

typedef void (*anet_probe_progress)(void *ctx, const anet_probe_result *r);

/* Runs every probe in ladder order into results[anet_probes_count()]. Probes that do not fix
 * a dialect run in ios18 when dialect_ios18 passed, else in ios16 when dialect_ios16
 * passed, else in the chip's own dialect; *dialect gets the one used. progress (may be
 * NULL) is called after each probe. */
void anet_probe_ladder(const anet_probe_ladder_config *c, anet_probe_result *results, anet_mil_dialect *dialect,
                       anet_probe_progress progress, void *ctx);

/* What the results say about each rule the ladder tests. value: "on" (the rule applies on
 * this chip: a risky form failed while its workaround passed), "off" (every risky form
 * passed), "unknown" (a workaround failed too, or a probe of the rule did not run: an
 * ANET_PROBE_ERROR is never the device's answer); for max-inputs the largest
 * input count that passed with all smaller ones ("0" if none); for conv1x1-runtime-weights
 * (an optional faster form) "on" when its probe passed, i.e. the form may be used; for
 * row-layout "packed" or "strided64", whichever way of writing rows read back right. */
typedef struct anet_probe_setting {
    const char *rule;
    char value[16];
    char evidence[240]; /* which probes decided it */
} anet_probe_setting;
#define ANET_PROBE_MAX_RULES 32
/* Fills out[] (one entry per distinct rule, ladder order); returns how many. */
int anet_probe_implied(const anet_probe_result *results, int n, anet_probe_setting *out, int max);

#endif
